-- Privileges: nothing is PUBLIC; dr_monitor (and pg_monitor through it) reads.
CREATE ROLE regress_dr_nobody LOGIN;
CREATE ROLE regress_dr_watcher LOGIN IN ROLE dr_monitor;
CREATE ROLE regress_dr_pgmon LOGIN IN ROLE pg_monitor;

SET ROLE regress_dr_nobody;
SELECT rpo_state FROM dr_status();
\echo :SQLSTATE
SELECT * FROM dr_replicas;
\echo :SQLSTATE
SELECT * FROM dr_samples();
\echo :SQLSTATE
SELECT * FROM dr_replicas_internal();
\echo :SQLSTATE
RESET ROLE;

SET ROLE regress_dr_watcher;
SELECT role, rpo_state FROM dr_status();
SELECT count(*) FROM dr_replicas;
SELECT count(*) >= 0 AS readable FROM dr_samples(5);
RESET ROLE;

SET ROLE regress_dr_pgmon;
SELECT role, rpo_state FROM dr_status();
SELECT count(*) FROM dr_replicas;
RESET ROLE;

-- No function of the extension is executable by PUBLIC.
SELECT p.proname
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tensafe_dr'
 WHERE has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

-- SECURITY DEFINER functions pin search_path.
SELECT p.proname, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'tensafe_dr'
 WHERE p.prosecdef
 ORDER BY 1;

DROP ROLE regress_dr_nobody, regress_dr_watcher, regress_dr_pgmon;
