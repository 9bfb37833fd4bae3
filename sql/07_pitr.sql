-- Point-in-time recovery: the LSN/time map, restore points, dr_pitr_plan()
-- refusals and the pgBackRest import, on a lone primary without a WAL
-- archive.  (The end-to-end restore is test/t/007_pitr.pl.)  Messages that
-- carry times or LSNs of this run are shown terse or as SQLSTATE only.
\set SHOW_CONTEXT never

-- The worker samples every history_interval (1min here); take one now.
SELECT dr_positions_sample('1 hour') AS sampled_now;
SELECT count(*) > 0 AS sampled, bool_and(timeline = 1) AS timeline_1 FROM dr_wal_positions;

-- The map: a sample maps to itself; out-of-range times and positions are refused.
SELECT dr_lsn_at(sampled_at) = lsn AS lsn_at_sample, dr_time_at(lsn) <= sampled_at AS time_at_sample
  FROM dr_wal_positions ORDER BY sampled_at DESC LIMIT 1;
SELECT dr_lsn_at(now()) <= pg_current_wal_insert_lsn() AS lsn_at_now;
\set VERBOSITY sqlstate
SELECT dr_lsn_at(now() + interval '1 hour');
\echo :SQLSTATE
SELECT dr_lsn_at('2000-01-01 00:00:00+00');
\echo :SQLSTATE
\set VERBOSITY terse
SELECT dr_time_at('FFFFFFFF/0');
\echo :SQLSTATE
SELECT dr_time_at('0/1');
\echo :SQLSTATE
SELECT dr_lsn_at(NULL) IS NULL AS strict_null;
SELECT dr_wal_segment_name('1/FF000000', 2), dr_wal_segment_name('0/1000028', 1);

-- The retention parameter: units, a minimum, and at least two history intervals.
ALTER SYSTEM SET tensafe_dr.position_retention = '10s';
\echo :SQLSTATE
\set VERBOSITY default
ALTER SYSTEM SET tensafe_dr.position_retention = '1min';
\echo :SQLSTATE
\set VERBOSITY terse

-- Restore points.
SELECT dr_create_restore_point('regress_rp') IS NOT NULL AS created;
SELECT name, timeline, created_by = current_user AS by_me, lsn <= pg_current_wal_insert_lsn() AS lsn_ok
  FROM dr_restore_points;
SELECT event_type, details->>'name' AS name, details->>'lsn' = (SELECT lsn::text FROM dr_restore_points) AS lsn_ok
  FROM dr_events WHERE event_type = 'RESTORE_POINT';
SELECT dr_create_restore_point('regress_rp');
\echo :SQLSTATE
SELECT dr_create_restore_point('');
\echo :SQLSTATE
SELECT dr_create_restore_point(NULL);
\echo :SQLSTATE
SELECT dr_create_restore_point(repeat('x', 64));
\echo :SQLSTATE
SELECT dr_create_restore_point(E'bad\nname');
\echo :SQLSTATE
-- fenced: 25006 with the way out
SELECT dr_fence('regress pitr');
\set VERBOSITY default
SELECT dr_create_restore_point('while_fenced');
\echo :SQLSTATE
\set VERBOSITY terse
SELECT dr_unfence();
SELECT count(*) AS restore_points FROM dr_restore_points;

-- Plans: nothing to restore from yet.
\set VERBOSITY default
SELECT * FROM dr_pitr_plan(pg_current_wal_insert_lsn());
\echo :SQLSTATE
\set VERBOSITY terse
SELECT * FROM dr_pitr_plan('no_such_point');
\echo :SQLSTATE
SELECT * FROM dr_pitr_plan('2026-13-45 99:00');
\echo :SQLSTATE
SELECT * FROM dr_pitr_plan(NULL::text);
\echo :SQLSTATE
SELECT * FROM dr_pitr_plan('   ');
\echo :SQLSTATE
SELECT * FROM dr_pitr_plan(NULL::pg_lsn);
\echo :SQLSTATE
\set VERBOSITY sqlstate
SELECT * FROM dr_pitr_plan(now() + interval '1 day');
\echo :SQLSTATE
SELECT * FROM dr_pitr_plan('FFFFFFFF/0');
\echo :SQLSTATE
\set VERBOSITY terse
-- refuse => false: the same refusals as a row
SELECT feasible, sqlstate, reason, target_type
  FROM dr_pitr_plan('no_such_point', refuse => false);
SELECT feasible, sqlstate, reason FROM dr_pitr_plan('regress_rp', refuse => false);
SELECT feasible, sqlstate, target_type FROM dr_pitr_plan(now() + interval '1 day', refuse => false);

-- A verified backup on another timeline only: not planned across timelines.
INSERT INTO dr_backups (source, path, label, timeline, start_lsn, stop_lsn, start_time, stop_time,
                        verified_at, verification_ok, problems)
VALUES ('pg_basebackup', '/backups/tl2', 'tl2', 2, '0/1000028', '0/1000100',
        now() - interval '1 hour', now() - interval '1 hour', now(), true, 0);
SELECT * FROM dr_pitr_plan('regress_rp');
\echo :SQLSTATE
-- Unverified and other clusters' backups do not count.
INSERT INTO dr_backups (source, path, label, system_identifier, timeline, start_lsn, stop_lsn,
                        verified_at, verification_ok, problems)
VALUES ('pg_basebackup', '/backups/bad', 'bad', NULL, 1, '0/1000028', '0/1000100', now(), false, 3),
       ('pg_basebackup', '/backups/other', 'other', 42, 1, '0/1000028', '0/1000100', now(), true, 0);
SELECT * FROM dr_pitr_plan('regress_rp');
\echo :SQLSTATE
-- A usable backup: the plan gets as far as the WAL archive.
INSERT INTO dr_backups (source, path, label, timeline, start_lsn, stop_lsn, start_time, stop_time,
                        verified_at, verification_ok, problems)
VALUES ('pg_basebackup', '/backups/tl1', 'tl1', 1, '0/1000028', '0/1000100',
        now() - interval '1 hour', now() - interval '1 hour', now(), true, 0);
\set VERBOSITY default
SELECT * FROM dr_pitr_plan('regress_rp');
\echo :SQLSTATE
\set VERBOSITY terse
SELECT * FROM dr_pitr_plan('0/10');
\echo :SQLSTATE
SET tensafe_dr.wal_archive_dir = '/nonexistent/wal_archive';
SELECT * FROM dr_pitr_plan('regress_rp');
\echo :SQLSTATE
-- an archive holding none of the segments: all named as missing
SET tensafe_dr.wal_archive_dir = '/';
SELECT feasible, sqlstate, backup_label, start_lsn, first_segment,
       wal_segments_missing[1] AS first_missing,
       cardinality(wal_segments_missing) = wal_segments_needed AS all_missing,
       reason ~ '^\d+ of the \d+ WAL segments needed are missing from the archive$' AS reason_ok,
       detail ~ '^Missing from /: 000000010000000000000001' AS detail_ok
  FROM dr_pitr_plan('regress_rp', refuse => false);
\set VERBOSITY sqlstate
SELECT * FROM dr_pitr_plan('regress_rp');
\echo :SQLSTATE
\set VERBOSITY terse
-- a feasible plan: this instance's own pg_wal as the "archive", a backup
-- that starts in the current segment, a restore point after it
SELECT set_config('tensafe_dr.wal_archive_dir', current_setting('data_directory') || '/pg_wal', false) IS NOT NULL AS set;
INSERT INTO dr_backups (source, path, label, timeline, start_lsn, stop_lsn, start_time, stop_time,
                        verified_at, verification_ok, problems)
SELECT 'pg_basebackup', '/backups/current', 'it''s current', 1, pg_current_wal_insert_lsn(),
       pg_current_wal_insert_lsn(), now(), now(), now(), true, 0;
SELECT dr_create_restore_point('after_current') IS NOT NULL AS created;
SELECT feasible, sqlstate, target_type, backup_label, wal_segments_needed >= 1 AS needs_wal,
       wal_segments_missing, replay_bytes > 0 AS replays, reason ~ '^restore backup \d+, then replay \d+ segments of WAL to the target$' AS reason_ok
  FROM dr_pitr_plan('after_current');
SELECT regexp_replace(regexp_replace(recovery_conf, 'backup \d+', 'backup N'),
                      'cp "[^"]*/pg_wal/', 'cp "$PGDATA/pg_wal/') AS recovery_conf
  FROM dr_pitr_plan('after_current');
RESET tensafe_dr.wal_archive_dir;
SELECT dr_conf_quote($$it's a C:\path$$) AS quoted;

-- pgBackRest import: bad input, then a document in the shape of
-- `pgbackrest info --output=json` (2.45).
SELECT dr_import_pgbackrest('{}');
\echo :SQLSTATE
SELECT dr_import_pgbackrest(NULL);
\echo :SQLSTATE
SELECT dr_import_pgbackrest('[{"backup": []}]');
\echo :SQLSTATE
SELECT dr_import_pgbackrest('[{"name": "s", "backup": [{"label": "x", "lsn": {"start": "zz"}}]}]');
\echo :SQLSTATE
SELECT dr_import_pgbackrest('[]') AS none;
SELECT dr_import_pgbackrest($json$[{
  "archive": [{"database": {"id": 1, "repo-key": 1}, "id": "15-1",
               "max": "000000010000000000000003", "min": "000000010000000000000001"}],
  "backup": [{"archive": {"start": "000000010000000000000002", "stop": "000000010000000000000002"},
              "backrest": {"format": 5, "version": "2.45"},
              "database": {"id": 1, "repo-key": 1}, "error": false,
              "info": {"delta": 23000000, "repository": {"delta": 3000000, "size": 3000000}, "size": 23000000},
              "label": "20260203-120000F",
              "lsn": {"start": "0/2000028", "stop": "0/2000100"},
              "prior": null, "reference": null,
              "timestamp": {"start": 1770120000, "stop": 1770120003}, "type": "full"}],
  "cipher": "none",
  "db": [{"id": 1, "repo-key": 1, "system-id": 7300000000000000001, "version": "15"}],
  "name": "regress", "repo": [{"cipher": "none", "key": 1, "status": {"code": 0, "message": "ok"}}],
  "status": {"code": 0, "lock": {"backup": {"held": false}}, "message": "ok"}}]$json$) AS imported;
SELECT source, path, label, system_identifier, timeline, start_lsn, stop_lsn,
       start_time AT TIME ZONE 'UTC' AS start_utc, stop_time AT TIME ZONE 'UTC' AS stop_utc,
       size_bytes, verification_ok, problems, details->>'archive_max' AS archive_max
  FROM dr_backups WHERE source = 'pgbackrest';
SELECT event_type, details FROM dr_events WHERE event_type = 'BACKUPS_IMPORTED' ORDER BY occurred_at DESC LIMIT 1;

-- Privileges: dr_monitor plans and reads, dr_operator creates restore
-- points, dr_admin imports; PUBLIC nothing.
CREATE ROLE regress_pitr_nobody LOGIN;
CREATE ROLE regress_pitr_watcher LOGIN IN ROLE dr_monitor;
CREATE ROLE regress_pitr_operator LOGIN IN ROLE dr_operator;
SET ROLE regress_pitr_nobody;
SELECT * FROM dr_pitr_plan('regress_rp');
\echo :SQLSTATE
SELECT dr_lsn_at(now());
\echo :SQLSTATE
SELECT count(*) FROM dr_restore_points;
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_pitr_watcher;
SELECT feasible, sqlstate FROM dr_pitr_plan('regress_rp', refuse => false);
SELECT dr_lsn_at(now()) IS NOT NULL AS lsn_at, count(*) > 0 AS positions FROM dr_wal_positions;
SELECT count(*) AS restore_points FROM dr_restore_points;
SELECT dr_create_restore_point('watcher_rp');
\echo :SQLSTATE
SELECT * FROM dr_wal_archive_check('0/0', '0/1', 1);
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_pitr_operator;
SELECT dr_create_restore_point('operator_rp') IS NOT NULL AS created;
SELECT dr_import_pgbackrest('[]');
\echo :SQLSTATE
RESET ROLE;
SELECT name, created_by = current_user AS by_me FROM dr_restore_points ORDER BY name;

DELETE FROM dr_backups;
DROP ROLE regress_pitr_nobody, regress_pitr_watcher, regress_pitr_operator;
