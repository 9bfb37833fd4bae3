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

-- (1.2) data_lost: the loss the operator measured judges criterion 2, the
-- gate's estimate beside it; NULL keeps the estimate; negative is 22023.
SELECT dr_drill_start('database_failover') AS drill4 \gset
SELECT criterion, measured, passed, source FROM dr_drill_finish(:drill4, true, 0, false, NULL, interval '2.5 s')
 WHERE criterion IN ('failover completed within RTO', 'data loss within RPO');
SELECT dr_drill_report(:drill4) ~ '- \[x\] data loss within RPO: 2.500000 s measured \(gate estimate: no promotion recorded\) \(target [^,]+, measured by the operator\)' AS report_line;
SELECT dr_drill_start('database_failover') AS drill5 \gset
SELECT criterion, measured, passed, source FROM dr_drill_finish(:drill5, true, 0, false, NULL, interval '2 hours')
 WHERE criterion = 'data loss within RPO';
SELECT dr_drill_start('tabletop') AS drill6 \gset
SELECT criterion, measured, passed, source FROM dr_drill_finish(:drill6, true, 0, false, data_lost => NULL)
 WHERE criterion = 'data loss within RPO';
SELECT * FROM dr_drill_finish(:drill3, data_lost => interval '-1 s');
\echo :SQLSTATE
SELECT finished_at IS NULL AS still_open FROM dr_drills WHERE id = :drill3;
-- the five-argument form is gone; positional calls still resolve
SELECT to_regprocedure('dr_drill_finish(bigint,boolean,numeric,boolean,text)') IS NULL AS old_form_dropped,
       has_function_privilege('dr_operator', 'dr_drill_finish(bigint,boolean,numeric,boolean,text,interval)', 'EXECUTE') AS operator_may,
       has_function_privilege('public', 'dr_drill_judge(bigint,timestamptz,boolean,numeric,boolean,interval)', 'EXECUTE') AS public_may_judge;
