-- pg_dump archives (issue 17): dr_verify_dump()'s refusals of bad input,
-- the catalog's new source, privileges, and dr_pitr_plan() refusing when
-- only dumps are recorded.  (Real archives: test/t/030_pg_dump_backups.pl.)
\set SHOW_CONTEXT never
-- messages only: details give file sizes of this machine's /etc/passwd
\set VERBOSITY terse

-- tensafe_dr.backup_root is empty: nothing may be read.
SELECT * FROM dr_verify_dump('/etc/passwd');
\echo :SQLSTATE

-- The limit on the TOC: a superuser setting, in kB, refused out of range.
SHOW tensafe_dr.max_dump_toc_size;
SET tensafe_dr.max_dump_toc_size = '1kB';
\echo :SQLSTATE
SET tensafe_dr.max_dump_toc_size = '64MB';
SHOW tensafe_dr.max_dump_toc_size;
RESET tensafe_dr.max_dump_toc_size;

-- Bad arguments and paths; files that are not custom-format archives.
SET tensafe_dr.backup_root = '/etc, /nonexistent_dr_root';
SELECT * FROM dr_verify_dump(NULL);
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/etc/passwd', refuse => NULL);
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/etc/passwd', 'abc');
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/etc/passwd', repeat('g', 64));
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('etc/passwd');
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/var/lib/postgresql/x.dump');
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/etc/../var/x.dump');
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/nonexistent_dr_root/x.dump');
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/etc');
\echo :SQLSTATE
SELECT * FROM dr_verify_dump('/etc/passwd');
\echo :SQLSTATE
-- refused: nothing recorded
SELECT count(*) AS recorded FROM dr_backups WHERE source = 'pg_dump';
-- refuse => false: the failure is a row, and recorded
SELECT backup_id IS NOT NULL AS recorded, database_name, ok, problem, problem_sqlstate
  FROM dr_verify_dump('/etc/passwd', refuse => false);
SELECT source, path, label, verification_ok, problems, details->>'sqlstate' AS sqlstate
  FROM dr_backups WHERE source = 'pg_dump';
SELECT event_type, successful, details->>'source' AS source, details->>'sqlstate' AS sqlstate
  FROM dr_events WHERE event_type = 'BACKUP_VERIFIED';
DELETE FROM dr_backups;
RESET tensafe_dr.backup_root;

-- The catalog takes pg_dump as a source, and nothing else new.
INSERT INTO dr_backups (source, path) VALUES ('pg_dumpall', '/x');
\echo :SQLSTATE

-- dr_pitr_plan() with only pg_dump archives recorded: 55000, the reason.
INSERT INTO dr_backups (source, path, label, start_time, stop_time, verified_at, verification_ok, problems, details)
VALUES ('pg_dump', '/b/mon.dump', 'app 2026-01-05', now() - interval '3 days', now() - interval '3 days', now(), true, 0, '{"database": "app"}'),
       ('pg_dump', '/b/tue.dump', 'app 2026-01-06', now() - interval '2 days', now() - interval '2 days', now(), true, 0, '{"database": "app"}');
SELECT * FROM dr_pitr_plan(now() - interval '60 hours');
\echo :SQLSTATE
SELECT * FROM dr_pitr_plan(pg_current_wal_insert_lsn());
\echo :SQLSTATE
SELECT feasible, sqlstate, backup_id, reason,
       detail ~ 'the newest at or before the target is id \d+ \(database app\) taken at .*; the next is id \d+ \(database app\)' AS names_both_dumps,
       detail ~ 'a recovery to a time in between needs a verified base backup taken before the target plus the WAL archived from it to the target' AS explains,
       hint ~ '^To get the database as of .*, restore dump \d+ with pg_restore' AS hint_restore
  FROM dr_pitr_plan(now() - interval '60 hours', refuse => false);
-- a time before every dump: still the dump reason, naming the next one only
SELECT sqlstate, detail ~ 'the newest at or before' AS names_before, detail ~ 'the next is id' AS names_next
  FROM dr_pitr_plan(now() - interval '5 days', refuse => false);
-- a verified base backup that ends a day ago: a target 60 hours ago, after a
-- dump, is refused with the dump's reason; one before every dump with the
-- base backup's own refusal (22023, before the oldest backup)
INSERT INTO dr_backups (source, path, label, timeline, start_lsn, stop_lsn, start_time, stop_time,
                        verified_at, verification_ok, problems)
VALUES ('pg_basebackup', '/b/base', 'base', 1, '0/1000028', '0/1000100', now() - interval '25 hours',
        now() - interval '24 hours', now(), true, 0);
SELECT sqlstate, reason, detail ~ 'the next is id' AS names_next
  FROM dr_pitr_plan(now() - interval '60 hours', refuse => false);
SELECT sqlstate, reason FROM dr_pitr_plan(now() - interval '80 hours', refuse => false);
DELETE FROM dr_backups WHERE source = 'pg_basebackup';
-- failed dumps are not counted: the old refusal
UPDATE dr_backups SET verification_ok = false;
SELECT sqlstate, reason FROM dr_pitr_plan(now() - interval '60 hours', refuse => false);
DELETE FROM dr_backups;

-- Who may do what: dr_admin only; PUBLIC, dr_monitor and dr_operator not.
SELECT r AS role,
       has_function_privilege(r, 'dr_verify_dump(text,text,boolean)', 'EXECUTE') AS verify,
       has_function_privilege(r, 'dr_dump_inspect(text)', 'EXECUTE') AS inspect,
       has_function_privilege(r, 'dr_record_dump_verification(dr_dump_verification,text)', 'EXECUTE') AS record,
       has_function_privilege(r, 'dr_pitr_refuse_logical_dump(dr_pitr_plan_row,text,timestamptz,boolean)', 'EXECUTE') AS pitr_helper
  FROM unnest(ARRAY['public', 'dr_monitor', 'dr_operator', 'dr_admin']) r;
CREATE ROLE regress_dr_dump_operator LOGIN IN ROLE dr_operator;
SET ROLE regress_dr_dump_operator;
SELECT * FROM dr_verify_dump('/etc/passwd');
\echo :SQLSTATE
SELECT * FROM dr_dump_inspect('/etc/passwd');
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_dr_dump_operator;
