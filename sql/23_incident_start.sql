-- An incident's real start (issue 15): dr_declare(level, summary, started_at),
-- the two-argument form's default on a primary, and dr_resolve() judging
-- the RTO from the start.  (On a standby the default is last_primary_contact
-- and a journalled declaration keeps its start through the flush:
-- test/t/032_two_region.pl.)
\set SHOW_CONTEXT never

-- Bad start times: NULL, in the future, not finite.
SELECT dr_declare(3, 'start NULL', NULL);
\echo :SQLSTATE
\set VERBOSITY terse
SELECT dr_declare(3, 'start in the future', clock_timestamp() + interval '1 minute');
\echo :SQLSTATE
\set VERBOSITY default
SELECT dr_declare(3, 'start infinity', 'infinity');
\echo :SQLSTATE
SELECT dr_declare(3, 'start -infinity', '-infinity');
\echo :SQLSTATE
-- the level and summary are still checked first
SELECT dr_declare(9, 'bad level', clock_timestamp() - interval '1 hour');
\echo :SQLSTATE
SELECT count(*) AS incidents_from_bad_input FROM dr_incidents WHERE summary LIKE 'start %' OR summary = 'bad level';

-- The two-argument form on a primary: it started when declared (no start
-- of its own: a declared_at moved back moves the start with it).
SELECT dr_declare(2, 'started now') AS now_inc \gset
SELECT started_at IS NULL AS starts_at_declaration FROM dr_incidents WHERE id = :now_inc;
SELECT details ? 'started_at' AS initiated_has_start FROM dr_event_log
 WHERE incident_id = :now_inc AND event_type = 'DR_INITIATED';
SELECT rto_state FROM dr_resolve(:now_inc, 'quick');

-- An outage that began 2 h before it was declared: the RTO counts from then
-- (rto_target 1 h and rto_max 4 h by default: target missed, not met).
SELECT dr_declare(3, 'region lost 2 h ago', clock_timestamp() - interval '2 hours') AS old_inc \gset
SELECT declared_at - started_at BETWEEN interval '2 hours' AND interval '2 hours 1 minute' AS started_2h_before
  FROM dr_incidents WHERE id = :old_inc;
SELECT rto >= interval '2 hours' AS rto_from_start, rto_state FROM dr_resolve(:old_inc, 'failed over');
SELECT (details->>'rto_seconds')::numeric >= 7200 AS complete_says_so
  FROM dr_event_log WHERE incident_id = :old_inc AND event_type = 'DR_COMPLETE';
-- one that began 5 h before: past rto_max
SELECT dr_declare(3, 'region lost 5 h ago', clock_timestamp() - interval '5 hours') AS older_inc \gset
SELECT rto_state FROM dr_resolve(:older_inc);
