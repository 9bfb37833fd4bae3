-- Events, incidents, fencing and the promotion gate on a lone primary.
\set SHOW_CONTEXT never

-- dr_record_event inserts on a writable node and returns the id.
SELECT dr_record_event('DRILL_NOTE', '{"note": "hello"}', 2) IS NOT NULL AS inserted;
SELECT event_type, level, successful, details, pending, actor = current_user AS actor_ok,
       system_identifier = (SELECT system_identifier FROM pg_control_system()) AS sysid_ok,
       timeline > 0 AS has_timeline, node_name IS NOT NULL AS has_node
  FROM dr_events WHERE event_type = 'DRILL_NOTE';

-- Bad input.
SELECT dr_record_event('', '{}');
\echo :SQLSTATE
SELECT dr_record_event('bad type with spaces', '{}');
\echo :SQLSTATE
SELECT dr_record_event(repeat('X', 65), '{}');
\echo :SQLSTATE
SELECT dr_record_event('OK_TYPE', '[1,2]');
\echo :SQLSTATE
SELECT dr_record_event('OK_TYPE', '{}', 5);
\echo :SQLSTATE
SELECT dr_record_event('OK_TYPE', jsonb_build_object('blob', repeat('x', 70000)));
\echo :SQLSTATE
SELECT dr_record_event(NULL, '{}');
\echo :SQLSTATE
-- A hostile string is data, not SQL.
SELECT dr_record_event('X''; DROP TABLE dr_event_log; --', '{}');
\echo :SQLSTATE
SELECT count(*) > 0 AS log_intact FROM dr_event_log;

-- Incidents: declare, acknowledge, resolve; RTO measured and judged.
SELECT dr_declare(3, 'us-east-1 unreachable') AS incident \gset
SELECT level, summary, declared_by = current_user AS by_me, resolved_at IS NULL AS open
  FROM dr_incidents WHERE id = :incident;
SELECT event_type, level, incident_id = :incident AS linked
  FROM dr_events WHERE event_type = 'DR_INITIATED';
SELECT dr_acknowledge(:incident, 'alice') IS NOT NULL AS acknowledged;
SELECT acknowledged_by FROM dr_incidents WHERE id = :incident;
SELECT dr_record_event('FAILOVER_STEP', '{"step": 3}') IS NOT NULL AS step_recorded;
SELECT incident_id = :incident AS step_linked FROM dr_events WHERE event_type = 'FAILOVER_STEP';
SELECT incident_id = :incident AS same, rto < '1 min' AS quick, rto_state FROM dr_resolve(:incident, 'failed over to us-west-2');
SELECT rto_state, rto_target, rto_max, resolution FROM dr_incidents WHERE id = :incident;
SELECT event_type, successful, details->>'rto_state' AS rto_state
  FROM dr_events WHERE event_type = 'DR_COMPLETE';
SELECT event_type FROM dr_incident_timeline(:incident);
SELECT since_declared >= '0' AS ordered FROM dr_incident_timeline(:incident) LIMIT 1;
SELECT dr_postmortem(:incident) ~ '^# Incident Post-Mortem: us-east-1 unreachable' AS title,
       dr_postmortem(:incident) ~ '## Timeline\n- \d\d:\d\d:\d\d UTC \(\+00:00:\d\d\) - DR_INITIATED' AS timeline,
       dr_postmortem(:incident) ~ 'RTO target met' AS judged,
       dr_postmortem(:incident) ~ '## Action Items' AS template;

-- Incident errors (terse: the detail carries the resolution time).
\set VERBOSITY terse
SELECT dr_resolve(:incident);
\set VERBOSITY default
\echo :SQLSTATE
SELECT dr_acknowledge(:incident);
\echo :SQLSTATE
SELECT dr_acknowledge(999999);
\echo :SQLSTATE
SELECT dr_declare(0, 'nope');
\echo :SQLSTATE
SELECT dr_declare(2, '   ');
\echo :SQLSTATE

-- A resolved incident past its RTO maximum is judged a breach.
SELECT dr_declare(1, 'slow one') AS slow \gset
UPDATE dr_incidents SET declared_at = declared_at - interval '5 hours' WHERE id = :slow;
SELECT rto > '5 hours' AS long, rto_state FROM dr_resolve(:slow);

-- The promotion gate on a primary: not promotable, dr_promote refuses.
SELECT promotable, reason, role FROM dr_promote_check();
SELECT dr_promote();
\echo :SQLSTATE
SELECT dr_promote(wait_seconds => 0);
\echo :SQLSTATE

-- The check's verdict was journalled and the worker flushes it into the table.
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM dr_event_log WHERE event_type = 'PROMOTE_CHECK');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT event_type, successful, details->>'promotable' AS promotable,
       origin_journal IS NOT NULL AS from_journal, actor
  FROM dr_event_log WHERE event_type = 'PROMOTE_CHECK' ORDER BY id LIMIT 1;

-- Waits: bad arguments, and a primary without standbys never meets a lag bound.
SELECT dr_wait_for_lag('-1 s', '1 s');
\echo :SQLSTATE
SELECT dr_wait_for_lag('1 s', '2 days');
\echo :SQLSTATE
SELECT dr_wait_for_lag('1 s', '0.2 s') AS met_without_standby;
SELECT dr_wait_for_lsn('0/1', '0.2 s') AS met_without_standby;

-- Fencing: writes refused with 25006, reads fine, lifted again; both recorded.
CREATE TABLE fence_probe (x int);
SELECT dr_fence('failback: stop writes in DR');
INSERT INTO fence_probe VALUES (1);
\echo :SQLSTATE
CREATE TABLE fence_probe2 (x int);
\echo :SQLSTATE
SELECT count(*) AS reads_work FROM fence_probe;
SELECT fenced FROM dr_status();
SELECT dr_fence('again') AS fenced_twice;
-- events recorded while fenced go to the journal
SELECT dr_record_event('WHILE_FENCED', '{}') IS NULL AS journalled;
-- visible at once, exactly once: pending in the journal or already flushed
-- by the worker (which a journal append wakes)
SELECT count(*) AS seen_once FROM dr_events WHERE event_type = 'WHILE_FENCED';
SELECT dr_unfence();
INSERT INTO fence_probe VALUES (1);
SELECT fenced FROM dr_status();
SELECT dr_unfence() AS unfenced_twice;
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM dr_event_log WHERE event_type = 'WHILE_FENCED');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT event_type, pending FROM dr_events
 WHERE event_type IN ('FENCED', 'UNFENCED', 'WHILE_FENCED') ORDER BY occurred_at;
DROP TABLE fence_probe;

-- Privileges: dr_monitor reads events, cannot record or promote.
CREATE ROLE regress_dr_watch2 IN ROLE dr_monitor;
CREATE ROLE regress_dr_op IN ROLE dr_operator;
SET ROLE regress_dr_watch2;
SELECT count(*) > 0 AS reads_events FROM dr_events;
SELECT dr_record_event('NOPE', '{}');
\echo :SQLSTATE
SELECT dr_declare(1, 'nope');
\echo :SQLSTATE
SELECT * FROM dr_promote();
\echo :SQLSTATE
SELECT dr_fence();
\echo :SQLSTATE
SELECT dr_journal_append('{}');
\echo :SQLSTATE
INSERT INTO dr_event_log (event_type) VALUES ('FORGED');
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_dr_op;
SELECT dr_record_event('OPERATOR_NOTE', '{}') IS NOT NULL AS operator_records;
SELECT actor FROM dr_events WHERE event_type = 'OPERATOR_NOTE';
SELECT dr_journal_flush();
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_dr_watch2, regress_dr_op;
