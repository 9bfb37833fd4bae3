-- Notifications: channels, secrets, templates, outbox, and every refusal.
\set SHOW_CONTEXT never

SELECT dr_webhook_add('pager', 'https://user:hunter2@127.0.0.1:9/hook', 'secret-0123456789abcdef', ARRAY['DR_INITIATED', 'DR_COMPLETE']);
SELECT dr_webhook_add('all', 'http://127.0.0.1:9/none', 'secret-0123456789abcdef');
SELECT name, url, event_types, enabled FROM dr_webhook_channels ORDER BY name;

-- Bad input.
SELECT dr_webhook_add('bad', 'ftp://example.com/x', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT dr_webhook_add('bad', 'not a url', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT dr_webhook_add('bad', 'http://', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT dr_webhook_add('bad', 'javascript:alert(1)', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT dr_webhook_add('bad name', 'http://x.example/', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT dr_webhook_add('bad', 'http://x.example/', 'short');
\echo :SQLSTATE
SELECT dr_webhook_add('bad', 'http://x.example/', 'secret-0123456789abcdef', ARRAY[]::text[]);
\echo :SQLSTATE
SELECT dr_webhook_add('pager', 'http://x.example/', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT dr_webhook_alter('nosuch', url => 'http://x.example/');
\echo :SQLSTATE
SELECT dr_webhook_remove('nosuch');
\echo :SQLSTATE
SELECT dr_webhook_disable('nosuch');
\echo :SQLSTATE
CALL dr_webhook_test('nosuch');
\echo :SQLSTATE

-- An event enqueues one delivery per matching enabled channel, in its transaction.
BEGIN;
SELECT dr_declare(2, 'regress incident') AS inc \gset
SELECT channel, event_type, status, attempts FROM dr_notifications WHERE event_type = 'DR_INITIATED' ORDER BY channel;
ROLLBACK;
SELECT count(*) AS none_after_rollback FROM dr_notifications WHERE event_type = 'DR_INITIATED';
SELECT dr_declare(2, 'regress incident') AS inc \gset
SELECT channel, status, body->>'subject' AS subject,
       body->'incident'->>'summary' AS impact, body ? 'idempotency_key' AS keyed
  FROM dr_outbox WHERE event_type = 'DR_INITIATED' ORDER BY channel;
SELECT dr_record_event('OTHER_EVENT', '{}') IS NOT NULL AS recorded;
SELECT channel FROM dr_notifications WHERE event_type = 'OTHER_EVENT';
SELECT dr_webhook_disable('all');
SELECT dr_record_event('WHILE_DISABLED', '{}') IS NOT NULL AS recorded;
SELECT count(*) AS enqueued_while_disabled FROM dr_notifications WHERE event_type = 'WHILE_DISABLED';
SELECT dr_webhook_alter('all', enabled => true, event_types => ARRAY['X_ONLY']);
SELECT name, event_types, enabled FROM dr_webhook_channels WHERE name = 'all';
SELECT dr_webhook_alter('all', all_events => true);
SELECT event_types IS NULL AS all_events FROM dr_webhook_channels WHERE name = 'all';

-- Templates render the runbook's messages.
SELECT dr_render('Status: {{status}} / {{missing}} / {{node}}', '{"status": "Operational", "node": "n1"}');

-- Secrets: dr_admin only; monitoring sees channels without them.
CREATE ROLE regress_dr_mon IN ROLE dr_monitor;
CREATE ROLE regress_dr_adm IN ROLE dr_admin;
SET ROLE regress_dr_mon;
SELECT secret FROM dr_webhooks;
\echo :SQLSTATE
SELECT count(*) AS channels_visible FROM dr_webhook_channels;
SELECT count(*) > 0 AS deliveries_visible FROM dr_notifications;
SELECT dr_webhook_add('x', 'http://x.example/', 'secret-0123456789abcdef');
\echo :SQLSTATE
SELECT body FROM dr_outbox LIMIT 1;
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_dr_adm;
SELECT count(*) AS admin_reads_secrets FROM dr_webhooks WHERE secret IS NOT NULL;
SELECT dr_webhook_remove('pager');
RESET ROLE;
SELECT name FROM dr_webhook_channels ORDER BY name;
DROP ROLE regress_dr_mon, regress_dr_adm;
SELECT dr_webhook_remove('all');

-- The retry policy (src/notify/retry_policy.c, shared by the primary's
-- outbox and a standby's in-memory retries): give up when not retryable,
-- after webhook_max_attempts (8), past webhook_max_age (1 h); else back off
-- webhook_backoff_base (1 s) * 2^(attempts - 1), capped at 5 min, times a
-- jitter in [0.5, 1.5).
SELECT attempts, age, retryable, give_up,
       retry_in BETWEEN expected * 0.5 AND expected * 1.5 AS backoff_in_range
  FROM (VALUES (1, interval '0', true, interval '1 s'), (4, '10 min', true, '8 s'),
               (20, '0', true, NULL), (1, '0', false, NULL), (8, '0', true, NULL),
               (7, '59 min', true, '64 s'), (2, '1 hour', true, NULL)) v(attempts, age, retryable, expected),
       LATERAL dr_webhook_retry(attempts, age, retryable)
 ORDER BY attempts, age;
