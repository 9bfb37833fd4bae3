-- The standby registry (dr_standbys): declaring and forgetting standbys,
-- bad input refused with a SQLSTATE, and what dr_replicas shows for a
-- standby declared and never seen streaming.
\set SHOW_CONTEXT never
CREATE ROLE regress_dr_std_admin LOGIN IN ROLE dr_admin;
CREATE ROLE regress_dr_std_watcher LOGIN IN ROLE dr_monitor;

SET ROLE regress_dr_std_admin;
SELECT dr_standby_set('node_b', 'eu-west', 'dr');
SELECT dr_standby_set('node_c', 'eu-central', 'ha');
-- declaring again changes region and purpose, keeps the first declaration time
SELECT declared_at AS first_declared FROM dr_standbys WHERE standby_name = 'node_c' \gset
SELECT dr_standby_set('node_c', 'eu-west', 'dr');
SELECT standby_name, region, purpose, declared,
       CASE standby_name WHEN 'node_c' THEN declared_at = :'first_declared' END AS kept,
       first_seen, last_seen, last_flush_lsn
  FROM dr_standbys ORDER BY standby_name;

-- bad input: NULLs (22004), unknown purpose, empty or over-long names (22023)
SELECT dr_standby_set(NULL, 'eu-west', 'dr');
\echo :SQLSTATE
SELECT dr_standby_set('node_d', NULL, 'dr');
\echo :SQLSTATE
SELECT dr_standby_set('node_d', 'eu-west', NULL);
\echo :SQLSTATE
SELECT dr_standby_set('node_d', 'eu-west', 'backup');
\echo :SQLSTATE
SELECT dr_standby_set('node_d', 'eu-west', 'DR');
\echo :SQLSTATE
SELECT dr_standby_set('', 'eu-west', 'dr');
\echo :SQLSTATE
SELECT dr_standby_set(repeat('x', 64), 'eu-west', 'dr');
\echo :SQLSTATE
SELECT dr_standby_set('node_d', repeat('r', 64), 'dr');
\echo :SQLSTATE
SELECT dr_standby_forget(NULL);
\echo :SQLSTATE
SELECT count(*) AS standbys FROM dr_standbys;
-- the table is written through the functions only
INSERT INTO dr_standbys (standby_name) VALUES ('sneaky');
\echo :SQLSTATE
RESET ROLE;

-- a monitor reads, but declares nothing
SET ROLE regress_dr_std_watcher;
SELECT count(*) AS standbys FROM dr_standbys;
SELECT dr_standby_set('node_e', 'eu-west', 'dr');
\echo :SQLSTATE
SELECT dr_standby_forget('node_b');
\echo :SQLSTATE
-- declared, never seen streaming: listed, disconnected, figures unknown
SELECT standby_name, state, region, purpose, last_seen, flush_lsn, rpo_lag, rpo_state
  FROM dr_replicas ORDER BY standby_name;
SELECT * FROM dr_standby_lag(NULL, NULL, NULL);
-- regions: one row per declared region, state unknown (no copy seen yet)
SELECT region, local_region, standbys, ha_standbys, dr_standbys, streaming,
       best_rpo_lag, worst_rpo_lag, rpo_state, best_standby
  FROM dr_regions ORDER BY region;
-- a primary with declared standbys never seen: no copy, no exposure figure
SELECT rpo_state, node_loss_lag, region_loss_lag FROM dr_status();
RESET ROLE;
-- dr_regions is for monitors, not PUBLIC
CREATE ROLE regress_dr_std_nobody LOGIN;
SET ROLE regress_dr_std_nobody;
SELECT count(*) FROM dr_regions;
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_dr_std_nobody;

-- a standby that left: rpo_lag at least the time since it was last seen
SELECT rpo_lag >= interval '1 hour' AS at_least_since_seen, rpo_state
  FROM dr_standby_lag('0/1', '0/1', now() - interval '1 hour');

SET ROLE regress_dr_std_admin;
SELECT dr_standby_forget('node_b') AS forgotten;
SELECT dr_standby_forget('node_b') AS forgotten_again;
SELECT dr_standby_forget('node_c') AS forgotten;
SELECT count(*) AS replicas FROM dr_replicas;
RESET ROLE;

-- pg_dump keeps the declared ones only
SELECT c.relname, x.extcondition
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(cfg, extcondition)
  JOIN pg_class c ON c.oid = x.cfg
 WHERE e.extname = 'tensafe_dr' AND c.relname = 'dr_standbys';

DROP ROLE regress_dr_std_admin;
DROP ROLE regress_dr_std_watcher;
