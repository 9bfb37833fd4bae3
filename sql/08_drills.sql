-- Drills ledger: schedule, judging on a lone primary (no failover), errors.
\set SHOW_CONTEXT never
SELECT kind, frequency, overdue, last_run FROM dr_drill_schedule ORDER BY kind;

-- A tabletop drill: no failover expected; operator reports everything.
SELECT dr_drill_start('tabletop', 'monthly tabletop') AS drill \gset
SELECT criterion, passed, source FROM dr_drill_finish(:drill, endpoints_ok => true,
       error_rate => 0.3, corruption_found => false);
SELECT kind, passed IS NOT NULL AS judged, finished_at IS NOT NULL AS finished FROM dr_drills WHERE id = :drill;
SELECT kind, overdue, last_run IS NOT NULL AS has_last_run, next_due > now() AS due_later
  FROM dr_drill_schedule WHERE kind = 'tabletop';
SELECT dr_drill_report(:drill) ~ '^# DR drill \d+: tabletop' AS title,
       dr_drill_report(:drill) ~ '- \[x\] error rate < 1% after stabilization: 0.3%' AS error_rate_line,
       dr_drill_report(:drill) ~ 'DRILL_STARTED' AS events;
SELECT event_type FROM dr_events WHERE event_type IN ('DRILL_STARTED', 'DRILL_FINISHED') ORDER BY occurred_at;

-- A database failover drill without a failover fails the RTO/RPO criteria,
-- and unreported operator results fail the drill.
SELECT dr_drill_start('database_failover') AS drill2 \gset
SELECT criterion, measured, passed FROM dr_drill_finish(:drill2)
 WHERE criterion IN ('failover completed within RTO', 'data loss within RPO', 'all critical endpoints responding');
SELECT passed FROM dr_drills WHERE id = :drill2;

-- Errors.
SELECT dr_drill_start('fire_drill');
\echo :SQLSTATE
SELECT dr_drill_start(NULL);
\echo :SQLSTATE
SELECT * FROM dr_drill_finish(:drill);
\echo :SQLSTATE
SELECT * FROM dr_drill_finish(987654);
\echo :SQLSTATE
SELECT dr_drill_start('tabletop') AS drill3 \gset
SELECT * FROM dr_drill_finish(:drill3, error_rate => 150);
\echo :SQLSTATE
SELECT * FROM dr_drill_finish(:drill3, error_rate => -1);
\echo :SQLSTATE
SELECT dr_drill_report(987654);
\echo :SQLSTATE
