-------------------------------------------------------------------------------
-- Incident updates and escalation from a node that cannot write (issue 15;
-- amends extension/1.0/80_notify.sql).
--
-- In a regional failover the incident is declared on the DR side while no
-- node anywhere is writable (runbook 3.1 step 1): the declaration is
-- journalled on the standby and its DR_INITIATED is delivered from there
-- (dr_journal_deliveries()), but dr_notify_housekeeping() -- updates every
-- tensafe_dr.incident_update_interval, escalation while unacknowledged --
-- ran only on a writable primary, and only over dr_incidents, where a
-- journalled declaration is not until the flush.  So nobody heard about
-- the incident again until region B was promoted.
--
-- Now the notifier runs housekeeping on a standby (or fenced primary) too,
-- while its journal holds events (src/notify/notifier.c), and there this
-- function keeps every declaration pending in the node's journal -- not the
-- incidents of the table, replicated from the primary, which the primary
-- keeps (two senders would double every update; an incident declared on
-- the primary before it was lost is kept again once a node is promoted).
-- What it records is journalled (so
-- delivered from this node, and remembered in its delivered log); an update
-- or escalation of a journalled declaration carries the declaration's time
-- in details.journalled_declaration, by which the next pass finds it.  At
-- the flush after a promotion they land in the incident the declaration
-- becomes (dr_incident_at()), so the primary's housekeeping continues the
-- cadence and does not escalate again, and the outbox does not send again
-- what this node delivered (delivered log).  Escalation of a journalled
-- declaration runs until it is flushed: it cannot be acknowledged before it
-- has an id.
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION dr_notify_housekeeping()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    every interval := @extschema@.dr_objective('incident_update_interval');
    writable boolean := @extschema@.dr_can_write();
    inc record;
    p record;
    n integer := 0;
    last_update timestamptz;
    escalated integer;
    reached integer;
    tag jsonb;
BEGIN
    FOR inc IN
        SELECT i.id, NULL::timestamptz AS journalled, i.level, i.declared_at, i.acknowledged_at
          FROM @extschema@.dr_incidents i
         WHERE writable AND i.resolved_at IS NULL
        UNION ALL
        -- declared in this node's journal, not flushed yet (the flush makes
        -- the incident on a writable node: it is housekept from the table)
        SELECT NULL, e.occurred_at, coalesce(e.level, 3), e.occurred_at, NULL
          FROM @extschema@.dr_events e
         WHERE NOT writable AND e.pending AND e.event_type = 'DR_INITIATED'
    LOOP
        tag := CASE WHEN inc.id IS NULL
                    THEN jsonb_build_object('journalled_declaration', inc.journalled) ELSE '{}' END;
        -- this incident's updates and escalations so far, flushed or journalled
        SELECT max(e.occurred_at) FILTER (WHERE e.event_type IN ('INCIDENT_UPDATE', 'DR_INITIATED')),
               max(CASE WHEN e.event_type = 'ESCALATED' AND jsonb_typeof(e.details->'to_level') = 'number'
                        THEN (e.details->>'to_level')::numeric::integer END)
          INTO last_update, escalated
          FROM @extschema@.dr_events e
         WHERE CASE WHEN inc.id IS NOT NULL THEN e.incident_id = inc.id
                    ELSE e.pending AND e.incident_id IS NULL
                         AND ((e.event_type = 'DR_INITIATED' AND e.occurred_at = inc.journalled)
                              OR e.details->'journalled_declaration' = to_jsonb(inc.journalled)) END;
        IF coalesce(last_update, inc.declared_at) + every <= now() THEN
            PERFORM @extschema@.dr_log_event('INCIDENT_UPDATE',
                jsonb_build_object('duration_s', round(extract(epoch FROM now() - inc.declared_at)),
                                   'acknowledged', inc.acknowledged_at IS NOT NULL) || tag,
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
                    AND level > coalesce(escalated, 0) LOOP
            PERFORM @extschema@.dr_log_event('ESCALATED',
                jsonb_build_object('to_level', p.level, 'channel', p.channel, 'description', p.description,
                                   'unacknowledged_for_s', round(extract(epoch FROM now() - inc.declared_at))) || tag,
                inc.level, true, inc.id);
            n := n + 1;
        END LOOP;
    END LOOP;
    RETURN n;
END
$fn$;

-------------------------------------------------------------------------------
-- Notification bodies: {{start_time}} and {{duration}} from the incident's
-- real start (72_incident_start.sql), also for a declaration still in a
-- journal (its details.started_at), so the 5.1 notice sent from the DR side
-- says when the outage began.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_notification_body(ev jsonb, channel text, key text)
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
    started timestamptz;
BEGIN
    SELECT * INTO inc FROM @extschema@.dr_incidents WHERE id = (ev->>'incident_id')::bigint;
    -- when the incident started: its started_at, or, for a declaration still
    -- in a journal (no incident yet), the start the declaration carries
    started := inc.started_at;
    IF started IS NULL AND inc.id IS NULL AND ev->>'event_type' = 'DR_INITIATED' THEN
        BEGIN
            started := (ev->'details'->>'started_at')::timestamptz;
        EXCEPTION WHEN data_exception THEN
            started := NULL;
        END;
    END IF;
    started := coalesce(started, inc.declared_at);
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
        'start_time', to_char(coalesce(started, at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
        'resolution_time', to_char(coalesce(inc.resolved_at, at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
        'duration', CASE WHEN inc.id IS NULL THEN NULL
                         ELSE justify_interval(date_trunc('second', coalesce(inc.resolved_at, at) - started))::text END,
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

-------------------------------------------------------------------------------
-- Idempotency keys across a split (issue 15).  An event of the table was
-- keyed by system identifier and row id.  After a regional failover both
-- sides share the system identifier, and their dr_event_log_id_seq can hand
-- out the same ids: the old primary, cut off, took ids whose sequence WAL
-- never reached the DR side, which then took them again after its
-- promotion (032_two_region saw the old primary's OPS_NOTE_AFTER_SPLIT and
-- the new primary's patroni.on_role_change both sent as ...-e1-ok: a
-- receiver that honours the key would have dropped the second).  A
-- promotion always moves to a new timeline, so the timeline goes into the
-- key.  Keys of journalled events (their journal origin) are unchanged.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_delivery_key(ev jsonb, channel text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN ev->>'origin_journal' IS NOT NULL
                THEN format('tdr-%s-%s-%s-%s', ev->>'system_identifier', ev->>'origin_journal', ev->>'origin_seq', channel)
                ELSE format('tdr-%s-t%s-e%s-%s', ev->>'system_identifier', coalesce(ev->>'timeline', '0'), ev->>'id', channel) END
$fn$;
