-- DR records commit with synchronous_commit = local (issue 20): the
-- statement triggers on dr_event_log, dr_incidents and dr_drills set it for
-- the writing transaction only, whatever the session had, and through
-- SECURITY DEFINER functions with their own SET clauses.
\set SHOW_CONTEXT never

-- the triggers are there
SELECT tgname, tgrelid::regclass AS on_table, tgenabled
  FROM pg_trigger WHERE tgfoid = 'dr_commit_locally_trigger()'::regprocedure
 ORDER BY 1;

-- dr_record_event: 'on' becomes 'local' for this transaction, then back
SET synchronous_commit = on;
BEGIN;
SHOW synchronous_commit;
SELECT dr_record_event('SYNC_COMMIT_TEST', '{}') IS NOT NULL AS inserted;
SHOW synchronous_commit;
COMMIT;
SHOW synchronous_commit;

-- dr_declare / dr_acknowledge / dr_resolve from 'remote_apply'
SET synchronous_commit = remote_apply;
BEGIN;
SELECT dr_declare(1, 'sync commit test') AS inc \gset
SHOW synchronous_commit;
COMMIT;
BEGIN;
SELECT dr_acknowledge(:inc) IS NOT NULL AS acknowledged;
SHOW synchronous_commit;
ROLLBACK;
SHOW synchronous_commit;
BEGIN;
SELECT rto_state IS NOT NULL AS resolved FROM dr_resolve(:inc);
SHOW synchronous_commit;
COMMIT;

-- 'off' is raised to 'local': a DR record is flushed before the call returns
SET synchronous_commit = off;
BEGIN;
SELECT dr_drill_start('tabletop', 'sync commit test') IS NOT NULL AS started;
SHOW synchronous_commit;
COMMIT;
SHOW synchronous_commit;

-- a subtransaction that rolls back takes its write and the setting with it
SET synchronous_commit = on;
BEGIN;
SAVEPOINT s;
SELECT dr_record_event('SYNC_COMMIT_TEST', '{}') IS NOT NULL AS inserted;
ROLLBACK TO SAVEPOINT s;
SHOW synchronous_commit;
COMMIT;
RESET synchronous_commit;

-- reading does not change it
BEGIN;
SELECT count(*) >= 1 AS seen FROM dr_events WHERE event_type = 'SYNC_COMMIT_TEST';
SHOW synchronous_commit;
COMMIT;

-- the trigger function is a trigger function only, and nobody's to call
SELECT dr_commit_locally_trigger();
\echo :SQLSTATE
SELECT has_function_privilege('public', 'dr_commit_locally_trigger()', 'EXECUTE') AS public_may_execute;

-- dr_sync_status(): one row, readable by dr_monitor; on this lone primary
-- nothing waits and no synchronous standby is configured
SELECT has_function_privilege('dr_monitor', 'dr_sync_status()', 'EXECUTE') AS monitor_may_read,
       has_function_privilege('public', 'dr_sync_status()', 'EXECUTE') AS public_may_read;
SELECT coalesce(waiting_backends, 0) AS waiting_backends, coalesce(stalled, false) AS stalled,
       stall_threshold, coalesce(required_standbys, 0) AS required_standbys,
       coalesce(missing_standbys, '{}') AS missing_standbys
  FROM dr_sync_status();
SELECT state_reason !~ 'synchronous' AS no_sync_in_reason FROM dr_status();

