-- Dashboard views: their columns, what they show, readable by dr_monitor,
-- and no webhook secret or URL credential in anything dr_monitor can read.
\set SHOW_CONTEXT never
CREATE ROLE regress_views_watcher LOGIN IN ROLE dr_monitor;

-- The documented columns, in order (docs/02-sql-reference.md, "Dashboard views").
SELECT c.relname AS view, a.attnum AS n, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relname IN ('dr_incident_status', 'dr_backup_status', 'dr_drill_history',
                     'dr_notification_status')
 ORDER BY 1, 2;
-- dr_node_status has dr_status()'s columns, in its order.
SELECT array_agg(a.attname::text ORDER BY a.attnum) =
       (SELECT array_agg(n ORDER BY o) FROM unnest(p.proargnames) WITH ORDINALITY AS x(n, o)) AS same_columns
  FROM pg_attribute a, pg_proc p
 WHERE a.attrelid = 'dr_node_status'::regclass AND a.attnum > 0
   AND p.oid = 'dr_status()'::regprocedure
 GROUP BY p.proargnames;

-- dr_node_status: one row, this node.
SET ROLE regress_views_watcher;
SELECT count(*) AS rows, bool_and(role = 'primary') AS primary_node,
       bool_and(node_name = (SELECT node_name FROM dr_status())) AS same_node
  FROM dr_node_status;
RESET ROLE;

-- dr_incident_status: open -> acknowledged -> resolved, with the RTO judged.
SELECT dr_declare(2, 'views: database unreachable') AS inc \gset
SELECT state, rto_state, rto_target, rto_max, response_time IS NULL AS no_response_yet,
       events, last_event_at IS NOT NULL AS has_events
  FROM dr_incident_status WHERE id = :inc;
SELECT dr_acknowledge(:inc) IS NOT NULL AS acknowledged;
SELECT state, acknowledged_by = current_user AS by_me, response_time >= '0' AS response_measured
  FROM dr_incident_status WHERE id = :inc;
SELECT rto_state FROM dr_resolve(:inc, 'restarted');
SET ROLE regress_views_watcher;
SELECT s.state, s.rto_state, s.elapsed = i.rto AS elapsed_is_rto, s.resolution, s.events
  FROM dr_incident_status s JOIN dr_incidents i USING (id) WHERE s.id = :inc;
RESET ROLE;
-- an open incident judged so far: past rto_target, then past rto_max
SELECT dr_declare(3, 'views: region down') AS inc2 \gset
UPDATE dr_incidents SET declared_at = now() - interval '2 hours' WHERE id = :inc2;
SELECT state, rto_state, elapsed >= interval '2 hours' AS elapsed_so_far FROM dr_incident_status WHERE id = :inc2;
UPDATE dr_incidents SET declared_at = now() - interval '5 hours' WHERE id = :inc2;
SELECT state, rto_state FROM dr_incident_status WHERE id = :inc2;
SELECT rto_state FROM dr_resolve(:inc2);
SELECT state, rto_state FROM dr_incident_status WHERE id = :inc2;

-- dr_backup_status: verdicts, and the newest backup verified ok.
INSERT INTO dr_backups (source, path, label, timeline, start_time, stop_time, verified_at, verification_ok, problems)
VALUES ('pg_basebackup', '/views/a', 'views-unverified', 1, now() - interval '3 h', now() - interval '3 h', NULL, NULL, NULL),
       ('pg_basebackup', '/views/b', 'views-bad', 1, now() - interval '2 h', now() - interval '2 h', now(), false, 3),
       ('pg_basebackup', '/views/c', 'views-old-ok', 1, now() - interval '1 day', now() - interval '1 day', now(), true, 0),
       ('pg_basebackup', '/views/d', 'views-new-ok', 1, now() - interval '70 min', now() - interval '1 h', now(), true, 0);
SET ROLE regress_views_watcher;
SELECT label, verification_state, problems, newest_verified, age >= interval '1 h' AS aged
  FROM dr_backup_status WHERE label LIKE 'views-%' ORDER BY label;
RESET ROLE;

-- dr_drill_history: running, then failed with the failed criterion named.
SELECT dr_drill_start('tabletop', 'views: notes with ''quotes''') AS drill \gset
SELECT state, finished_at IS NULL AS unfinished, criteria_passed + criteria_failed + criteria_unjudged AS criteria,
       notes FROM dr_drill_history WHERE id = :drill;
SELECT count(*) AS criteria FROM dr_drill_finish(:drill, endpoints_ok => true, error_rate => 5, corruption_found => false);
SET ROLE regress_views_watcher;
SELECT kind, state, passed, criteria_unjudged,
       criteria_passed + criteria_failed + criteria_unjudged AS criteria,
       'error rate < 1% after stabilization' = ANY (failed_criteria) AS error_rate_failed,
       duration = finished_at - started_at AS duration_ok
  FROM dr_drill_history WHERE id = :drill;
RESET ROLE;

-- URL masking: credentials (even with "@" in the password, even in capitals)
-- and query strings never shown; the endpoint is scheme://host[:port].
SELECT u AS url, dr_mask_url(u) AS masked, dr_url_endpoint(u) AS endpoint
  FROM unnest(ARRAY['https://user:hunter2@hooks.example.com/x',
                    'HTTPS://user:p@ss@hooks.example.com:8443/services/T0/B0/tok?token=abc',
                    'http://127.0.0.1:9/none',
                    'http://hooks.example.com/a@b/c?x=1#frag',
                    'https://hooks.example.com']) AS u;

-- dr_notification_status: per channel, counts from the outbox.  The
-- deliveries are made here, not due for a day: the notifier leaves them.
SELECT dr_webhook_add('views-hook', 'HTTPS://v1ewsuser:p@ss-w0rd@127.0.0.1:9/services/T0/B0/tok3n?token=q7s3cret',
                      'hmac-views-0123456789-SECRET', ARRAY['VIEWS_ONLY']);
INSERT INTO dr_outbox (channel, event_type, idempotency_key, body, status, attempts, next_attempt_at,
                       last_error, last_http_status, delivered_at, created_at)
VALUES ('views-hook', 'VIEWS_ONLY', 'views-1', '{}', 'delivered', 1, now(), NULL, 200, now() - interval '1 h', now() - interval '2 h'),
       ('views-hook', 'VIEWS_ONLY', 'views-2', '{}', 'delivered', 2, now(), NULL, 200, now() - interval '30 min', now() - interval '1 h'),
       ('views-hook', 'VIEWS_ONLY', 'views-3', '{}', 'failed', 5, now(), 'HTTP 410 (not retryable)', 410, NULL, now() - interval '20 min'),
       ('views-hook', 'VIEWS_ONLY', 'views-4', '{}', 'pending', 1, now() + interval '1 day', 'HTTP 503', 503, NULL, now() - interval '10 min');
SET ROLE regress_views_watcher;
SELECT channel, configured, endpoint, enabled, event_types, pending, delivered, failed,
       oldest_pending_at IS NOT NULL AS has_pending, last_delivered_at < now() - interval '29 min' AS last_delivery,
       last_failed_at IS NOT NULL AS has_failed, last_error, last_http_status, last_attempt_status
  FROM dr_notification_status WHERE channel = 'views-hook';
SELECT name, url FROM dr_webhook_channels WHERE name = 'views-hook';
RESET ROLE;

-- Nothing dr_monitor can read holds the secret, the password or the
-- query token: every readable relation of the extension, every row, as text.
SET ROLE regress_views_watcher;
DO $$
DECLARE
    r record;
    hits bigint;
    checked integer := 0;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel
               FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
              WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
                AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensafe_dr')
                AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                AND has_table_privilege(c.oid, 'SELECT')
              ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM %s t WHERE t::text ~ $1', r.rel)
           INTO hits USING 'hmac-views|p@ss-w0rd|ss-w0rd|q7s3cret|v1ewsuser|hunter2';
        IF hits > 0 THEN
            RAISE EXCEPTION '% shows a webhook secret or URL credential to dr_monitor (% rows)', r.rel, hits;
        END IF;
        checked := checked + 1;
    END LOOP;
    IF checked < 15 THEN
        RAISE EXCEPTION 'only % relations readable by dr_monitor: the walk is broken', checked;
    END IF;
    RAISE NOTICE 'no secret in any relation dr_monitor reads';
END
$$;
-- and no column readable by dr_monitor is named like a secret
SELECT c.relname, a.attname
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensafe_dr')
   AND has_column_privilege(c.oid, a.attnum, 'SELECT')
   AND a.attname ~* 'secret|password|credential|token';
-- the secret itself stays readable by dr_admin's table only
SELECT count(*) FROM dr_webhooks;
\echo :SQLSTATE
RESET ROLE;
SELECT secret = 'hmac-views-0123456789-SECRET' AS secret_kept FROM dr_webhooks WHERE name = 'views-hook';
-- (the pattern does find them where they are: the walk can fail)
SELECT count(*) AS found_in_dr_webhooks FROM dr_webhooks t
 WHERE t::text ~ 'hmac-views|p@ss-w0rd|ss-w0rd|q7s3cret|v1ewsuser|hunter2' AND name = 'views-hook';

-- A channel removed with deliveries left still shows, unconfigured.
SELECT dr_webhook_remove('views-hook');
SELECT channel, configured, endpoint, enabled, delivered, failed
  FROM dr_notification_status WHERE channel = 'views-hook';
DELETE FROM dr_outbox WHERE channel = 'views-hook';
DELETE FROM dr_backups WHERE label LIKE 'views-%';

-- PUBLIC reads none of the new views.
CREATE ROLE regress_views_nobody LOGIN;
SET ROLE regress_views_nobody;
SELECT * FROM dr_node_status;
\echo :SQLSTATE
SELECT * FROM dr_incident_status;
\echo :SQLSTATE
SELECT * FROM dr_backup_status;
\echo :SQLSTATE
SELECT * FROM dr_drill_history;
\echo :SQLSTATE
SELECT * FROM dr_notification_status;
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_views_watcher, regress_views_nobody;
