-- pg_dump/pg_restore support of 1.1 (extension/1.1/90_dump_restore.sql):
-- seeded configuration tables take an inserted row over an existing key
-- (what pg_restore does after CREATE EXTENSION seeded them), restored
-- events are not notified again, and what pg_dump keeps.
\set SHOW_CONTEXT never
SELECT e.extversion = a.default_version AS at_default_version
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname = 'tensafe_dr';

BEGIN;
INSERT INTO dr_escalation_policy VALUES (1, '2 min', NULL, 'Primary on-call');
SELECT level, response_time, description FROM dr_escalation_policy ORDER BY level;
INSERT INTO dr_drill_kinds VALUES ('tabletop', '14 days', '1 hour', 'None', false),
                                  ('chaos', '1 day', '10 min', 'None', false);
SELECT kind, frequency, duration FROM dr_drill_kinds ORDER BY kind;
INSERT INTO dr_notification_templates VALUES ('*', 'any: {{event_type}}', 'body');
SELECT event_type, subject FROM dr_notification_templates WHERE event_type IN ('*', 'DR_INITIATED') ORDER BY 1;
-- a replacing row is still checked
INSERT INTO dr_escalation_policy VALUES (2, '0', NULL, 'never');
\echo :SQLSTATE
ROLLBACK;

-- dr_admin may replace rows (it has UPDATE); dr_monitor may not insert at all
CREATE ROLE regress_dr_admin14 IN ROLE dr_admin;
CREATE ROLE regress_dr_watcher14 IN ROLE dr_monitor;
BEGIN;
SET LOCAL ROLE regress_dr_admin14;
INSERT INTO dr_drill_kinds VALUES ('full_dr', '6 months', '4 hours', 'Planned maintenance', true);
SELECT kind, frequency FROM dr_drill_kinds WHERE kind = 'full_dr';
ROLLBACK;
SET ROLE regress_dr_watcher14;
INSERT INTO dr_drill_kinds VALUES ('full_dr', '6 months', '4 hours', 'Planned maintenance', true);
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_dr_admin14, regress_dr_watcher14;

-- An event row that was recorded earlier (a restored one) is not queued
-- for the channels; an event recorded now is.
BEGIN;
SELECT dr_webhook_add('regress14', 'http://127.0.0.1:9/x', 'regress-secret-0123456789');
INSERT INTO dr_event_log (occurred_at, event_type, recorded_at)
VALUES (now() - interval '1 day', 'RESTORED_EVENT', now() - interval '1 day');
SELECT count(*) AS queued_restored FROM dr_outbox WHERE event_type = 'RESTORED_EVENT';
SELECT dr_record_event('LIVE_EVENT') IS NOT NULL AS recorded;
SELECT count(*) AS queued_live FROM dr_outbox WHERE event_type = 'LIVE_EVENT';
ROLLBACK;

-- What pg_dump keeps: every table (history and configuration), the
-- outbox without its pending deliveries, and the id sequences.
SELECT x.rel::regclass AS dumped, x.cond AS condition
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(rel, cond)
 WHERE e.extname = 'tensafe_dr'
 ORDER BY x.rel::regclass::text;
SELECT c.relname AS not_dumped
  FROM pg_extension e
  JOIN pg_depend d ON d.refobjid = e.oid AND d.refclassid = 'pg_extension'::regclass
                  AND d.classid = 'pg_class'::regclass AND d.deptype = 'e'
  JOIN pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'S')
 WHERE e.extname = 'tensafe_dr' AND c.oid <> ALL (e.extconfig)
 ORDER BY 1;
