-- Install: the extension, its roles and what it is made of.
CREATE EXTENSION tensafe_dr;

SELECT extname, extversion, extrelocatable
  FROM pg_extension WHERE extname = 'tensafe_dr';

-- The three roles exist, cannot log in, and inherit as documented.
SELECT rolname, rolcanlogin FROM pg_roles
 WHERE rolname IN ('dr_monitor', 'dr_operator', 'dr_admin') ORDER BY rolname;
SELECT pg_has_role('pg_monitor', 'dr_monitor', 'MEMBER') AS pg_monitor_is_dr_monitor,
       pg_has_role('dr_admin', 'dr_operator', 'MEMBER') AS admin_is_operator,
       pg_has_role('dr_operator', 'dr_monitor', 'MEMBER') AS operator_is_monitor,
       pg_has_role('dr_monitor', 'dr_operator', 'MEMBER') AS monitor_is_not_operator;

-- Every object of the extension, by kind.
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensafe_dr')
   AND deptype = 'e'
 ORDER BY 1;

-- A second CREATE EXTENSION (roles already there) is refused cleanly,
-- and DROP + CREATE works with the roles left in place.
CREATE EXTENSION tensafe_dr;
\echo :SQLSTATE
DROP EXTENSION tensafe_dr;
CREATE EXTENSION tensafe_dr;
