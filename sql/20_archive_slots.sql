-- The WAL archive and replication slots in dr_status() and dr_slots on a
-- lone primary without archiving; post-mortems (dr_postmortem_written()'s
-- bad input, each with its SQLSTATE); overdue drills recorded once per
-- occurrence.  The failing archive, lost slots and the worker's events are
-- test/t/029_archive_slots.pl's.
\set SHOW_CONTEXT never
CREATE ROLE regress_pm_op IN ROLE dr_operator;
CREATE ROLE regress_pm_watch IN ROLE dr_monitor;

-- archive_mode = off on a primary: no archive, said so; no slot
SELECT archive_state, archive_lag IS NULL AS no_lag, archive_failed_count IS NULL AS no_count,
       archive_last_failed_at IS NULL AS no_failure, archive_reason,
       slot_state, worst_slot IS NULL AS no_worst_slot
  FROM dr_status();
SELECT count(*) AS archive_series FROM dr_metrics_rows() WHERE metric LIKE 'tensafe_dr_archive%';

-- a physical slot that reserves WAL now, inactive: ok (holds little)
SELECT slot_name FROM pg_create_physical_replication_slot('regress_slot', true);
SELECT slot_name, slot_type, active, wal_status, restart_lsn IS NOT NULL AS has_restart,
       retained_bytes >= 0 AS retained_known, safe_wal_size IS NULL AS no_safe_size, state
  FROM dr_slots;
SELECT slot_state, worst_slot IS NULL AS no_worst_slot FROM dr_status();
SELECT labels->>'slot' AS slot, labels->>'state' AS state, value
  FROM dr_metrics_rows('tensafe_dr_slot_status') ORDER BY 2;
-- dr_monitor reads dr_slots
SET ROLE regress_pm_watch;
SELECT count(*) AS slots_seen FROM dr_slots;
RESET ROLE;
SELECT pg_drop_replication_slot('regress_slot');
SELECT slot_state FROM dr_status();

-- the new event types are the extension's own
SET ROLE regress_pm_op;
SELECT dr_record_event('ARCHIVE_FAILING', '{}');
\echo :SQLSTATE
SELECT dr_record_event('slot_lost', '{}');
\echo :SQLSTATE
SELECT dr_record_event('POSTMORTEM_WRITTEN', '{"incident": 1}');
\echo :SQLSTATE
RESET ROLE;

-- dr_postmortem_written(): bad input
SELECT dr_declare(2, 'regress post-mortem') AS incident \gset
SET ROLE regress_pm_op;
SELECT dr_postmortem_written(NULL);
\echo :SQLSTATE
SELECT dr_postmortem_written(-1);
\echo :SQLSTATE
-- (the message names the incident, whose id depends on the tests before)
\set VERBOSITY sqlstate
SELECT dr_postmortem_written(:incident);
\set VERBOSITY default
\echo :SQLSTATE
RESET ROLE;
SELECT rto_state IS NOT NULL AS resolved FROM dr_resolve(:incident);
SELECT state FROM dr_postmortem_status WHERE incident_id = :incident;
SET ROLE regress_pm_op;
SELECT dr_postmortem_written(:incident, repeat('x', 2001));
\echo :SQLSTATE
SELECT dr_postmortem_written(:incident, 'https://wiki.example/pm') > 0 AS recorded;
RESET ROLE;
SET ROLE regress_pm_watch;
SELECT dr_postmortem_written(:incident);
\echo :SQLSTATE
SELECT state, document, written_at >= resolved_at AS after_resolution
  FROM dr_postmortem_status WHERE incident_id = :incident;
SELECT dr_due_events_record();
\echo :SQLSTATE
RESET ROLE;

-- resolved 49 hours ago and written: not due; another, not written: due once
SELECT dr_declare(3, 'regress late post-mortem') AS late \gset
SELECT rto_state IS NOT NULL AS resolved FROM dr_resolve(:late);
UPDATE dr_incidents SET resolved_at = now() - interval '49 hours' WHERE id IN (:incident, :late);
SELECT incident_id = :late AS is_late, state FROM dr_postmortem_status
 WHERE incident_id IN (:incident, :late) ORDER BY incident_id;
SELECT value AS postmortems_due FROM dr_metrics_rows('tensafe_dr_postmortems_due');

-- every drill kind overdue (here those never run: 08_drills ran the others)
-- gets one DRILL_OVERDUE, the late post-mortem one POSTMORTEM_DUE; a second
-- look records nothing
SELECT count(*) AS kinds FROM dr_drill_schedule WHERE overdue \gset
SELECT dr_due_events_record() = :kinds + 1 AS recorded_each;
SELECT dr_due_events_record() AS recorded_again;
SELECT event_type, count(*) FROM dr_event_log
 WHERE event_type IN ('DRILL_OVERDUE', 'POSTMORTEM_DUE') GROUP BY 1 ORDER BY 1;
SELECT incident_id = :late AS linked, details->>'occurrence' = 'postmortem:' || :late AS occurrence
  FROM dr_event_log WHERE event_type = 'POSTMORTEM_DUE';
SELECT details->>'occurrence' AS occurrence FROM dr_event_log
 WHERE event_type = 'DRILL_OVERDUE' ORDER BY 1;
SELECT labels->>'kind' AS kind, value FROM dr_metrics_rows('tensafe_dr_drill_overdue') ORDER BY 1;

DELETE FROM dr_event_log WHERE event_type IN ('DRILL_OVERDUE', 'POSTMORTEM_DUE', 'POSTMORTEM_WRITTEN');
DROP ROLE regress_pm_op, regress_pm_watch;
