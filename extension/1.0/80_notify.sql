-------------------------------------------------------------------------------
-- Notifications (runbook 5 and 7): webhook channels, templates, an outbox
-- filled in the same transaction as each event, incident updates and
-- escalation.  Delivery is the notifier worker's job (src/notifier.c), never
-- a user backend's.
-------------------------------------------------------------------------------
CREATE TABLE dr_webhooks (
    name        text PRIMARY KEY,
    url         text NOT NULL,
    secret      text NOT NULL,
    event_types text[],
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dr_webhooks IS
'Webhook channels. The secret signs each body (HMAC-SHA256); only dr_admin reads this table; monitoring uses dr_webhook_channels.';

CREATE VIEW dr_webhook_channels AS
    SELECT name, regexp_replace(url, '^(https?://)[^/@]*@', '\1***@') AS url,
           event_types, enabled, created_at, updated_at
      FROM dr_webhooks;
COMMENT ON VIEW dr_webhook_channels IS 'Webhook channels without their secrets (credentials in URLs masked).';

CREATE TABLE dr_notification_templates (
    event_type text PRIMARY KEY,
    subject    text NOT NULL,
    body       text NOT NULL
);
COMMENT ON TABLE dr_notification_templates IS
'Message templates per event type (''*'' = any other); {{placeholders}}: event_type, node, region, status, impact, start_time, duration, resolution_time, level, summary, incident, occurred_at, details, escalation_level.';

INSERT INTO dr_notification_templates VALUES
('DR_INITIATED', '[INCIDENT] TenSafe Service Disruption - Investigation in Progress',
E'TenSafe is currently experiencing service disruption.\n\nStatus: {{status}}\nImpact: {{impact}}\nStart Time: {{start_time}}\n\nWe are actively working to resolve this issue. Updates will be provided every 15 minutes.\n\nFor urgent matters, contact: incidents@tensafe.io'),
('PROMOTED', '[DR ACTIVATED] TenSafe Failover to DR Region',
E'We have activated our disaster recovery procedures.\n\nStatus: {{status}}\nPrimary Region: Unavailable\nDR Region: {{region}} ({{node}}) active\nExpected Recovery: within the RTO target\n\nServices may be degraded during failover. We will notify when services are restored.'),
('PROMOTION_DETECTED', '[DR ACTIVATED] TenSafe Failover to DR Region',
E'We have activated our disaster recovery procedures.\n\nStatus: {{status}}\nPrimary Region: Unavailable\nDR Region: {{region}} ({{node}}) active\nExpected Recovery: within the RTO target\n\nServices may be degraded during failover. We will notify when services are restored.'),
('DR_COMPLETE', '[RESOLVED] TenSafe Service Restored',
E'TenSafe services have been fully restored.\n\nStatus: {{status}}\nResolution Time: {{resolution_time}}\nDuration: {{duration}}\n\nRoot cause analysis will be shared within 48 hours.\n\nWe apologize for any inconvenience caused.'),
('INCIDENT_UPDATE', '[UPDATE] TenSafe Service Disruption - {{status}}',
E'Update on the ongoing incident: {{impact}}\n\nStatus: {{status}}\nStart Time: {{start_time}}\nDuration so far: {{duration}}\n\nNext update in 15 minutes.'),
('ESCALATED', '[ESCALATION L{{escalation_level}}] Unacknowledged incident: {{impact}}',
E'Incident {{incident}} (level {{level}}) declared at {{start_time}} has not been acknowledged.\n\nDuration so far: {{duration}}\nEscalated to L{{escalation_level}}.\n\nAcknowledge with: SELECT dr_acknowledge({{incident}});'),
('*', '[DR EVENT] {{event_type}} on {{node}}',
E'{{event_type}} on {{node}} ({{region}}) at {{occurred_at}}.\n\nDetails: {{details}}');

CREATE TABLE dr_escalation_policy (
    level          integer PRIMARY KEY CHECK (level BETWEEN 1 AND 4),
    response_time  interval NOT NULL CHECK (response_time > '0'),
    channel        text REFERENCES dr_webhooks (name) ON DELETE SET NULL ON UPDATE CASCADE,
    description    text
);
INSERT INTO dr_escalation_policy (level, response_time, description) VALUES
    (1, '5 min',  'On-Call Engineer'),
    (2, '15 min', 'Team Lead'),
    (3, '30 min', 'Engineering Director'),
    (4, '1 hour', 'CTO');
COMMENT ON TABLE dr_escalation_policy IS
'Runbook 7: an incident not acknowledged within the response times of levels 1..N is escalated to level N+1''s channel.';

CREATE TABLE dr_outbox (
    id               bigserial PRIMARY KEY,
    channel          text NOT NULL,
    event_id         bigint,
    event_type       text NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    body             jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    last_http_status integer,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dr_outbox_due ON dr_outbox (next_attempt_at) WHERE status = 'pending';
COMMENT ON TABLE dr_outbox IS 'One delivery per event and matching channel; the notifier worker delivers and retries.';

SELECT pg_catalog.pg_extension_config_dump('dr_webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('dr_notification_templates', '');
SELECT pg_catalog.pg_extension_config_dump('dr_escalation_policy', '');

CREATE VIEW dr_notifications AS
    SELECT id, channel, event_id, event_type, idempotency_key, status, attempts,
           next_attempt_at, last_error, last_http_status, delivered_at, created_at,
           body->>'subject' AS subject
      FROM dr_outbox;
COMMENT ON VIEW dr_notifications IS 'Deliveries: status, attempts, next attempt, last error, delivered at.';

-- {{key}} placeholders of a template filled from ctx (missing keys: empty)
CREATE FUNCTION dr_render(template text, ctx jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    kv record;
BEGIN
    FOR kv IN SELECT key, value FROM jsonb_each_text(ctx) LOOP
        template := replace(template, '{{' || kv.key || '}}', coalesce(kv.value, ''));
    END LOOP;
    RETURN regexp_replace(template, '\{\{[a-z_]+\}\}', '', 'g');
END
$fn$;

-- The body sent for an event (ev: an event as jsonb, from the table or the
-- journal) on a channel.
CREATE FUNCTION dr_notification_body(ev jsonb, channel text, key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    inc @extschema@.dr_incidents;
    tpl @extschema@.dr_notification_templates;
    ctx jsonb;
    status text;
    at timestamptz := (ev->>'occurred_at')::timestamptz;
BEGIN
    SELECT * INTO inc FROM @extschema@.dr_incidents WHERE id = (ev->>'incident_id')::bigint;
    SELECT * INTO tpl FROM @extschema@.dr_notification_templates t
     WHERE t.event_type IN (ev->>'event_type', '*') ORDER BY t.event_type = '*' LIMIT 1;
    status := CASE ev->>'event_type'
                WHEN 'DR_INITIATED' THEN 'Investigating'
                WHEN 'PROMOTED' THEN 'Failover in Progress'
                WHEN 'PROMOTION_DETECTED' THEN 'Failover in Progress'
                WHEN 'DR_COMPLETE' THEN 'Operational'
                WHEN 'INCIDENT_UPDATE' THEN 'Investigating'
                ELSE coalesce(ev->>'event_type', '') END;
    ctx := jsonb_build_object(
        'event_type', ev->>'event_type', 'node', ev->>'node_name', 'region', coalesce(ev->>'region', 'unknown region'),
        'status', status, 'level', coalesce(ev->>'level', inc.level::text),
        'impact', coalesce(inc.summary, ev->'details'->>'summary', ev->>'event_type'),
        'summary', inc.summary, 'incident', inc.id,
        'start_time', to_char(coalesce(inc.declared_at, at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
        'resolution_time', to_char(coalesce(inc.resolved_at, at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
        'duration', CASE WHEN inc.id IS NULL THEN NULL
                         ELSE justify_interval(date_trunc('second', coalesce(inc.resolved_at, at) - inc.declared_at))::text END,
        'occurred_at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
        'details', (ev->'details')::text,
        'escalation_level', ev->'details'->>'to_level');
    RETURN jsonb_build_object(
        'idempotency_key', key,
        'channel', channel,
        'event', jsonb_build_object('id', ev->'id', 'type', ev->>'event_type', 'occurred_at', ev->>'occurred_at',
                                    'level', ev->'level', 'actor', ev->>'actor', 'successful', ev->'successful',
                                    'details', ev->'details'),
        'incident', CASE WHEN inc.id IS NULL THEN NULL ELSE to_jsonb(inc) END,
        'node', ev->>'node_name', 'region', ev->>'region',
        'subject', @extschema@.dr_render(tpl.subject, ctx),
        'text', @extschema@.dr_render(tpl.body, ctx));
END
$fn$;

-- The idempotency key of an event on a channel: the journal origin when the
-- event came through a journal (the same key the standby delivered it
-- under), else the row id.
CREATE FUNCTION dr_delivery_key(ev jsonb, channel text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN ev->>'origin_journal' IS NOT NULL
                THEN format('tdr-%s-%s-%s-%s', ev->>'system_identifier', ev->>'origin_journal', ev->>'origin_seq', channel)
                ELSE format('tdr-%s-e%s-%s', ev->>'system_identifier', ev->>'id', channel) END
$fn$;

CREATE FUNCTION dr_channels_for(ev jsonb)
RETURNS SETOF @extschema@.dr_webhooks
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT w.* FROM @extschema@.dr_webhooks w
     WHERE w.enabled
       AND CASE WHEN ev->>'event_type' = 'ESCALATED'
                THEN w.name = ev->'details'->>'channel'
                ELSE w.event_types IS NULL OR ev->>'event_type' = ANY (w.event_types) END
$fn$;

CREATE FUNCTION dr_enqueue_notifications()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    ev jsonb := to_jsonb(NEW);
    w record;
    key text;
BEGIN
    FOR w IN SELECT * FROM @extschema@.dr_channels_for(ev) LOOP
        key := @extschema@.dr_delivery_key(ev, w.name);
        INSERT INTO @extschema@.dr_outbox (channel, event_id, event_type, idempotency_key, body,
                                           status, delivered_at, last_error)
        SELECT w.name, NEW.id, NEW.event_type, key, @extschema@.dr_notification_body(ev, w.name, key),
               CASE WHEN d THEN 'delivered' ELSE 'pending' END,
               CASE WHEN d THEN now() END,
               CASE WHEN d THEN 'delivered by this node while it was a standby' END
          FROM (SELECT @extschema@.dr_delivered_locally(key) AS d) x
        ON CONFLICT (idempotency_key) DO NOTHING;
    END LOOP;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER dr_event_log_notify AFTER INSERT ON dr_event_log
    FOR EACH ROW EXECUTE FUNCTION dr_enqueue_notifications();

CREATE FUNCTION dr_delivered_locally(key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_delivered_locally'
LANGUAGE C STRICT VOLATILE;

-- Notifier worker: due deliveries, one per channel (channels gone or
-- disabled fail here).
CREATE FUNCTION dr_outbox_due(max_rows integer)
RETURNS TABLE (id bigint, url text, secret text, body text, idempotency_key text, event_type text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    UPDATE @extschema@.dr_outbox o
       SET status = 'failed', last_error = 'channel removed or disabled', attempts = o.attempts
     WHERE o.status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM @extschema@.dr_webhooks w WHERE w.name = o.channel AND w.enabled);
    -- the oldest due delivery of each channel: a hung endpoint costs the
    -- other channels at most one timeout per pass, not a whole batch
    RETURN QUERY
    SELECT d.id, d.url, d.secret, d.body, d.idempotency_key, d.event_type
      FROM (SELECT DISTINCT ON (o.channel) o.id, w.url, w.secret, o.body::text AS body,
                   o.idempotency_key, o.event_type
              FROM @extschema@.dr_outbox o JOIN @extschema@.dr_webhooks w ON w.name = o.channel
             WHERE o.status = 'pending' AND o.next_attempt_at <= now()
             ORDER BY o.channel, o.id) d
     ORDER BY d.id LIMIT max_rows;
END
$fn$;

-- A millisecond GUC as an interval (current_setting() would add a unit).
CREATE FUNCTION dr_setting_ms(name text)
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT make_interval(secs => setting::double precision / 1000)
      FROM pg_settings WHERE pg_settings.name = 'tensafe_dr.' || dr_setting_ms.name
$fn$;

-- Notifier worker: the outcome of one attempt; exponential backoff with
-- jitter, given up after tensafe_dr.webhook_max_attempts or _max_age.
CREATE FUNCTION dr_outbox_result(outbox_id bigint, delivered boolean, retryable boolean,
                                 http_status integer, error text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    o @extschema@.dr_outbox;
    max_attempts integer := current_setting('tensafe_dr.webhook_max_attempts')::integer;
    max_age interval := @extschema@.dr_objective('webhook_max_age');
    base_s double precision := extract(epoch FROM @extschema@.dr_setting_ms('webhook_backoff_base'));
    cap_s double precision := extract(epoch FROM @extschema@.dr_setting_ms('webhook_backoff_max'));
    new_status text;
BEGIN
    SELECT * INTO o FROM @extschema@.dr_outbox WHERE id = outbox_id;
    IF delivered THEN
        new_status := 'delivered';
    ELSIF NOT retryable THEN
        new_status := 'failed';
        error := error || ' (not retryable)';
    ELSIF o.attempts + 1 >= max_attempts THEN
        new_status := 'failed';
        error := format('%s (gave up after %s attempts)', error, o.attempts + 1);
    ELSIF now() - o.created_at >= max_age THEN
        new_status := 'failed';
        error := format('%s (gave up after %s)', error, max_age);
    ELSE
        new_status := 'pending';
    END IF;
    UPDATE @extschema@.dr_outbox
       SET status = new_status, attempts = attempts + 1,
           last_error = CASE WHEN delivered THEN NULL ELSE error END,
           last_http_status = nullif(http_status, 0),
           delivered_at = CASE WHEN delivered THEN now() END,
           next_attempt_at = CASE WHEN new_status = 'pending'
               THEN now() + make_interval(secs => least(cap_s, base_s * 2 ^ o.attempts) * (0.5 + random()))
               ELSE next_attempt_at END
     WHERE id = outbox_id;
    RETURN new_status;
END
$fn$;

-- Notifier worker on a standby: what to deliver from this node's journal
-- (it cannot write an outbox), keyed as the primary would after the flush.
CREATE FUNCTION dr_journal_deliveries()
RETURNS TABLE (idempotency_key text, url text, secret text, body text, event_type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    j record;
    ev jsonb;
    w record;
    key text;
BEGIN
    FOR j IN SELECT * FROM @extschema@.dr_journal_entries(true) LOOP
        ev := j.payload || jsonb_build_object('origin_journal', j.journal_id, 'origin_seq', j.seq);
        FOR w IN SELECT * FROM @extschema@.dr_channels_for(ev) LOOP
            key := @extschema@.dr_delivery_key(ev, w.name);
            CONTINUE WHEN @extschema@.dr_delivered_locally(key);
            idempotency_key := key; url := w.url; secret := w.secret;
            body := @extschema@.dr_notification_body(ev, w.name, key)::text;
            event_type := ev->>'event_type';
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$fn$;

-- Notifier worker on a primary: incident updates every
-- tensafe_dr.incident_update_interval, and escalation of unacknowledged
-- incidents along dr_escalation_policy.  Returns the events recorded.
CREATE FUNCTION dr_notify_housekeeping()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    every interval := @extschema@.dr_objective('incident_update_interval');
    inc record;
    p record;
    n integer := 0;
    last_update timestamptz;
    reached integer;
BEGIN
    FOR inc IN SELECT * FROM @extschema@.dr_incidents WHERE resolved_at IS NULL LOOP
        SELECT max(occurred_at) INTO last_update FROM @extschema@.dr_event_log
         WHERE incident_id = inc.id AND event_type IN ('INCIDENT_UPDATE', 'DR_INITIATED');
        IF coalesce(last_update, inc.declared_at) + every <= now() THEN
            PERFORM @extschema@.dr_log_event('INCIDENT_UPDATE',
                jsonb_build_object('duration_s', round(extract(epoch FROM now() - inc.declared_at)),
                                   'acknowledged', inc.acknowledged_at IS NOT NULL),
                inc.level, true, inc.id);
            n := n + 1;
        END IF;
        CONTINUE WHEN inc.acknowledged_at IS NOT NULL;
        -- levels whose cumulative response time has passed
        SELECT max(level) INTO reached FROM (
            SELECT level, sum(response_time) OVER (ORDER BY level) AS cumulative
              FROM @extschema@.dr_escalation_policy) x
         WHERE inc.declared_at + cumulative <= now();
        FOR p IN SELECT * FROM @extschema@.dr_escalation_policy
                  WHERE level = reached + 1 AND channel IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM @extschema@.dr_event_log e
                                     WHERE e.incident_id = inc.id AND e.event_type = 'ESCALATED'
                                       AND (e.details->>'to_level')::integer >= dr_escalation_policy.level) LOOP
            PERFORM @extschema@.dr_log_event('ESCALATED',
                jsonb_build_object('to_level', p.level, 'channel', p.channel, 'description', p.description,
                                   'unacknowledged_for_s', round(extract(epoch FROM now() - inc.declared_at))),
                inc.level, true, inc.id);
            n := n + 1;
        END LOOP;
    END LOOP;
    RETURN n;
END
$fn$;

-- Administration (dr_admin)
CREATE FUNCTION dr_webhook_check(name text, url text, event_types text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid channel name: %', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A channel name is 1 to 63 characters: a letter, then letters, digits, "_", "." or "-".';
    END IF;
    IF url IS NOT NULL AND url !~* '^https?://[^\s/?#]+(/[^\s]*)?$' THEN
        RAISE EXCEPTION 'invalid webhook URL: %', quote_literal(url)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Only http:// and https:// URLs with a host are accepted.';
    END IF;
    IF event_types IS NOT NULL AND (cardinality(event_types) = 0 OR EXISTS (
            SELECT 1 FROM unnest(event_types) t WHERE t IS NULL OR t !~ '^[A-Za-z][A-Za-z0-9_.:-]{0,63}$')) THEN
        RAISE EXCEPTION 'invalid event type list'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use NULL for all events, or a non-empty list of event types.';
    END IF;
END
$fn$;

CREATE FUNCTION dr_webhook_add(name text, url text, secret text, event_types text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.dr_webhook_check(name, url, event_types);
    IF url IS NULL THEN
        RAISE EXCEPTION 'a webhook needs a URL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF secret IS NULL OR length(secret) < 16 THEN
        RAISE EXCEPTION 'a webhook secret must be at least 16 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.dr_webhooks w WHERE w.name = dr_webhook_add.name) THEN
        RAISE EXCEPTION 'webhook channel % already exists', quote_literal(name) USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO @extschema@.dr_webhooks (name, url, secret, event_types) VALUES (name, url, secret, event_types);
END
$fn$;

CREATE FUNCTION dr_webhook_require(name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.dr_webhooks w WHERE w.name = dr_webhook_require.name) THEN
        RAISE EXCEPTION 'webhook channel % does not exist', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'undefined_object', HINT = 'See the dr_webhook_channels view.';
    END IF;
END
$fn$;

CREATE FUNCTION dr_webhook_alter(name text, url text DEFAULT NULL, secret text DEFAULT NULL,
                                 event_types text[] DEFAULT NULL, enabled boolean DEFAULT NULL,
                                 all_events boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.dr_webhook_require(name);
    PERFORM @extschema@.dr_webhook_check(name, url, event_types);
    IF secret IS NOT NULL AND length(secret) < 16 THEN
        RAISE EXCEPTION 'a webhook secret must be at least 16 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE @extschema@.dr_webhooks w
       SET url = coalesce(dr_webhook_alter.url, w.url),
           secret = coalesce(dr_webhook_alter.secret, w.secret),
           event_types = CASE WHEN all_events THEN NULL ELSE coalesce(dr_webhook_alter.event_types, w.event_types) END,
           enabled = coalesce(dr_webhook_alter.enabled, w.enabled),
           updated_at = now()
     WHERE w.name = dr_webhook_alter.name;
END
$fn$;

CREATE FUNCTION dr_webhook_disable(name text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT @extschema@.dr_webhook_alter(name, enabled => false) $fn$;

CREATE FUNCTION dr_webhook_enable(name text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT @extschema@.dr_webhook_alter(name, enabled => true) $fn$;

CREATE FUNCTION dr_webhook_remove(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM @extschema@.dr_webhook_require(name);
    DELETE FROM @extschema@.dr_webhooks w WHERE w.name = dr_webhook_remove.name;
END
$fn$;

-- Send a test message through the notifier worker and report the HTTP
-- result.  A procedure, because it must commit the test delivery for the
-- worker to see it, and wait for the outcome; PostgreSQL allows that only in
-- a SECURITY INVOKER procedure without SET clauses, so the privileged part
-- is the definer function dr_webhook_test_enqueue() and every name here is
-- schema-qualified.
CREATE FUNCTION dr_webhook_test_enqueue(name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    key text := format('tdr-test-%s-%s', name, md5(random()::text || clock_timestamp()::text));
    ev jsonb;
    new_id bigint;
BEGIN
    PERFORM @extschema@.dr_webhook_require(name);
    IF NOT @extschema@.dr_can_write() THEN
        RAISE EXCEPTION 'dr_webhook_test() runs on a writable primary' USING ERRCODE = 'read_only_sql_transaction';
    END IF;
    ev := jsonb_build_object('event_type', 'WEBHOOK_TEST', 'occurred_at', clock_timestamp(),
                             'node_name', (SELECT s.node_name FROM @extschema@.dr_status() s),
                             'region', (SELECT s.region FROM @extschema@.dr_status() s),
                             'details', jsonb_build_object('test', true, 'by', @extschema@.dr_caller()));
    INSERT INTO @extschema@.dr_outbox (channel, event_type, idempotency_key, body)
    VALUES (name, 'WEBHOOK_TEST', key, @extschema@.dr_notification_body(ev, name, key))
    RETURNING id INTO new_id;
    RETURN new_id;
END
$fn$;

CREATE PROCEDURE dr_webhook_test(name text, timeout interval DEFAULT '30 s',
                                 INOUT status text DEFAULT NULL, INOUT http_status integer DEFAULT NULL,
                                 INOUT error text DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    outbox_id bigint := @extschema@.dr_webhook_test_enqueue(name);
    deadline timestamptz := pg_catalog.clock_timestamp() + timeout;
BEGIN
    COMMIT;
    LOOP
        SELECT n.status, n.last_http_status, n.last_error INTO status, http_status, error
          FROM @extschema@.dr_notifications n WHERE n.id = outbox_id;
        EXIT WHEN status <> 'pending' OR error IS NOT NULL OR pg_catalog.clock_timestamp() >= deadline;
        PERFORM pg_catalog.pg_sleep(0.05);
        COMMIT;
    END LOOP;
    IF status = 'pending' AND error IS NULL THEN
        error := 'no answer from the notifier worker within ' || timeout;
    END IF;
END
$fn$;
COMMENT ON PROCEDURE dr_webhook_test(text, interval, text, integer, text) IS
'CALL dr_webhook_test(''name''): a test message through the notifier worker; returns status, HTTP status and error of the first attempt.';

REVOKE ALL ON dr_webhooks, dr_notification_templates, dr_escalation_policy, dr_outbox FROM PUBLIC;
REVOKE ALL ON dr_webhook_channels, dr_notifications FROM PUBLIC;
GRANT SELECT ON dr_webhooks TO dr_admin;
GRANT SELECT ON dr_webhook_channels, dr_notifications, dr_notification_templates, dr_escalation_policy TO dr_monitor;
GRANT INSERT, UPDATE, DELETE ON dr_notification_templates, dr_escalation_policy TO dr_admin;
REVOKE ALL ON FUNCTION dr_render(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_notification_body(jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_delivery_key(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_channels_for(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_enqueue_notifications() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_delivered_locally(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_outbox_due(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_outbox_result(bigint, boolean, boolean, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_setting_ms(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_journal_deliveries() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_notify_housekeeping() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_check(text, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_add(text, text, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_require(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_alter(text, text, text, text[], boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_disable(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_enable(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_remove(text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE dr_webhook_test(text, interval, text, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_webhook_test_enqueue(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_webhook_test_enqueue(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_webhook_add(text, text, text, text[]) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_webhook_alter(text, text, text, text[], boolean, boolean) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_webhook_disable(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_webhook_enable(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_webhook_remove(text) TO dr_admin;
GRANT EXECUTE ON PROCEDURE dr_webhook_test(text, interval, text, integer, text) TO dr_admin;
