-- Backup verification and artifacts: the error paths, on a lone primary.
-- (Real backups are verified by test/t/006_backup_verify.pl.)
\set SHOW_CONTEXT never

-- No verified backup yet: dr_status() says so.
SELECT newest_backup_at, backup_state FROM dr_status();
SELECT count(*) AS running FROM dr_verify_progress();

-- tensafe_dr.backup_root is empty: nothing may be read.
SHOW tensafe_dr.backup_root;
SELECT * FROM dr_verify_backup('/var/lib/postgresql');
\echo :SQLSTATE
SELECT dr_file_sha256('/etc/passwd');
\echo :SQLSTATE

-- The parameters refuse nonsense.
SET tensafe_dr.backup_root = '/';
\echo :SQLSTATE
SET tensafe_dr.backup_root = 'relative/dir';
\echo :SQLSTATE
SET tensafe_dr.wal_archive_dir = 'relative/dir';
\echo :SQLSTATE
SET tensafe_dr.backup_max_age = '1h';
\echo :SQLSTATE

-- Paths outside the roots, resolved first; missing; relative; NULL.
SET tensafe_dr.backup_root = '/nonexistent_dr_root, /nonexistent_dr_root2';
SELECT * FROM dr_verify_backup('/etc');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('/nonexistent_dr_root/../etc');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('/nonexistent_dr_root_not');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('/etc/no_such_file');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('/nonexistent_dr_root2/backup');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('nonexistent_dr_root/backup');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup(NULL);
\echo :SQLSTATE

-- Not a backup directory; not a directory at all.
SET tensafe_dr.backup_root = '/etc';
SELECT * FROM dr_verify_backup('/etc');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('/etc/passwd');
\echo :SQLSTATE
SELECT length(dr_file_sha256('/etc/passwd')) AS sha256_hex_digits;
SELECT dr_file_sha256('/etc');
\echo :SQLSTATE
SELECT dr_file_sha256('/etc/no_such_file');
\echo :SQLSTATE

-- Nothing was recorded by the refusals.
SELECT count(*) AS catalog_rows FROM dr_backups;
SELECT count(*) AS verified_events FROM dr_events WHERE event_type = 'BACKUP_VERIFIED';

-- Artifacts: bad input.
SELECT dr_register_artifact('/etc/passwd', 'abc');
\echo :SQLSTATE
SELECT dr_register_artifact('/etc/passwd', repeat('z', 64));
\echo :SQLSTATE
SELECT dr_register_artifact('/etc/passwd', NULL);
\echo :SQLSTATE
SELECT dr_register_artifact('', repeat('a', 64));
\echo :SQLSTATE
SELECT dr_register_artifact('/etc/passwd', repeat('a', 64), '[1]');
\echo :SQLSTATE
SELECT * FROM dr_verify_artifact('/etc/group');
\echo :SQLSTATE
SELECT * FROM dr_verify_artifact(NULL);
\echo :SQLSTATE

-- Register (upper-case hex is stored in lower case), verify: a mismatch, kept.
SELECT dr_register_artifact('/etc/passwd', repeat('A', 64), '{"note": "wrong on purpose"}') IS NOT NULL AS registered;
SELECT sha256 = repeat('a', 64) AS lowered, registered_by = current_user AS by_me FROM dr_artifacts;
SELECT ok, expected_sha256 = repeat('a', 64) AS expected, length(actual_sha256) AS actual_len
  FROM dr_verify_artifact('/etc/passwd');
SELECT last_result, last_verified_at IS NOT NULL AS verified FROM dr_artifacts;
SELECT event_type, successful FROM dr_events
 WHERE event_type LIKE 'ARTIFACT_%' ORDER BY occurred_at;
-- Registered again with the right digest: a match.
SELECT dr_register_artifact('/etc/passwd', dr_file_sha256('/etc/passwd')) IS NOT NULL AS re_registered;
SELECT ok FROM dr_verify_artifact('/etc/passwd');
SELECT count(*) AS artifacts, min(last_result) AS last_result FROM dr_artifacts;
RESET tensafe_dr.backup_root;

-- Who may do what.
CREATE ROLE regress_dr_backup_admin LOGIN IN ROLE dr_admin;
CREATE ROLE regress_dr_backup_watcher LOGIN IN ROLE dr_monitor;
CREATE ROLE regress_dr_backup_nobody LOGIN;
SET ROLE regress_dr_backup_nobody;
SELECT * FROM dr_verify_backup('/etc');
\echo :SQLSTATE
SELECT count(*) FROM dr_backups;
\echo :SQLSTATE
SELECT * FROM dr_verify_progress();
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_dr_backup_watcher;
SELECT * FROM dr_verify_backup('/etc');
\echo :SQLSTATE
SELECT * FROM dr_verify_backup_internal('/etc');
\echo :SQLSTATE
SELECT dr_file_sha256('/etc/passwd');
\echo :SQLSTATE
SELECT dr_register_artifact('/etc/passwd', repeat('a', 64));
\echo :SQLSTATE
SELECT * FROM dr_verify_artifact('/etc/passwd');
\echo :SQLSTATE
SELECT count(*) AS readable_backups FROM dr_backups;
SELECT count(*) AS readable_artifacts FROM dr_artifacts;
SELECT count(*) AS running FROM dr_verify_progress();
SELECT backup_state FROM dr_status();
RESET ROLE;
SET ROLE regress_dr_backup_admin;
-- a dr_admin cannot widen the roots; with them empty it reads nothing
SET tensafe_dr.backup_root = '/';
\echo :SQLSTATE
SET tensafe_dr.wal_archive_dir = '/etc';
\echo :SQLSTATE
SELECT * FROM dr_verify_backup('/etc');
\echo :SQLSTATE
RESET ROLE;
DELETE FROM dr_artifacts;
DROP ROLE regress_dr_backup_admin, regress_dr_backup_watcher, regress_dr_backup_nobody;
