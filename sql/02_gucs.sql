-- GUCs: visible, with units, reserved prefix, bad values refused with a reason.
SELECT name, setting, unit, context, vartype
  FROM pg_settings WHERE name LIKE 'tensafe_dr.%' ORDER BY name;

SHOW tensafe_dr.rpo_target;
SHOW tensafe_dr.rpo_max;

-- Server-wide settings: not settable per session.
SET tensafe_dr.rpo_target = '1min';
\echo :SQLSTATE

-- The prefix is reserved: a typo is an error, not a silent placeholder.
SET tensafe_dr.rpo_taget = '1min';
\echo :SQLSTATE

-- ALTER SYSTEM runs the check hooks.
ALTER SYSTEM SET tensafe_dr.rpo_target = '1h';          -- above rpo_max (15min)
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.rpo_max = '1min';           -- below rpo_target (5min)
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.rto_target = '5h';          -- above rto_max (4h)
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.rpo_target = '0';           -- below the minimum
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.rpo_max = 'soon';           -- not a duration
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.rpo_max = '30 parsecs';     -- unknown unit
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.sample_interval = '10ms';   -- below 100ms
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.heartbeat_interval = '2h';  -- above 1min
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.node_name = 'bad"name';     -- quote in a label
\echo :SQLSTATE
ALTER SYSTEM SET tensafe_dr.region = 'a-region-name-that-is-far-too-long-to-be-a-label-in-anybodys-dashboard';
\echo :SQLSTATE

-- Nothing refused reached postgresql.auto.conf.
SELECT count(*) AS refused_values_written
  FROM pg_file_settings
 WHERE name LIKE 'tensafe_dr.%' AND sourcefile LIKE '%postgresql.auto.conf';

-- Pairs are checked against the value in force: a raised maximum must be
-- reloaded before the target can follow it (the hint says so).
ALTER SYSTEM SET tensafe_dr.rpo_max = '2h';
ALTER SYSTEM SET tensafe_dr.rpo_target = '1h';
\echo :SQLSTATE
SELECT name, setting FROM pg_file_settings
 WHERE name LIKE 'tensafe_dr.%' AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno;
ALTER SYSTEM RESET tensafe_dr.rpo_max;
SELECT count(*) AS left_behind FROM pg_file_settings
 WHERE name LIKE 'tensafe_dr.%' AND sourcefile LIKE '%postgresql.auto.conf';

-- tensafe_dr.verify_workers: per session; -1 (one per core) .. 64.
SHOW tensafe_dr.verify_workers;
SET tensafe_dr.verify_workers = 2;
SHOW tensafe_dr.verify_workers;
SET tensafe_dr.verify_workers = -2;
\echo :SQLSTATE
SET tensafe_dr.verify_workers = 65;
\echo :SQLSTATE
SET tensafe_dr.verify_workers = 'many';
\echo :SQLSTATE
RESET tensafe_dr.verify_workers;
