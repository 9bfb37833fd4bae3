-------------------------------------------------------------------------------
-- The end of a failback (runbook 3.2 step 4; issue 15 item 7).
--
-- A regional incident is resolved when service is back in the DR region
-- (runbook 3.1 step 7: dr_resolve() sends DR_COMPLETE with the RTO).  The
-- failback comes later, planned, with the service up all along, so it must
-- not move the incident's RTO.  It has its own announcements: the
-- MAINTENANCE_NOTICE before it (84_failback_notice.sql) and, once the
-- primary region writes again, DR_FAILBACK_COMPLETE from
-- dr_failback_complete(), run on that new primary.
--
-- DR_FAILBACK_COMPLETE is reserved (the DR_ prefix, 25_event_validation.sql):
-- only this function records it, after its checks, with the figures it
-- measured from the log that came across from the DR primary:
--   - fenced_node, fenced_at: the DR primary's last FENCED (runbook 3.2:
--     "stop writes in DR") before this node's promotion;
--   - promoted_at: this node's PROMOTION_DETECTED (or PROMOTED) after it;
--   - write_pause_seconds: promoted_at - fenced_at, how long no node wrote;
--   - maintenance_notice_at: the MAINTENANCE_NOTICE before the fence;
--   - incident, incident_rto_seconds: the regional incident this failback
--     ends, left as dr_resolve() judged it.
-- A figure the log cannot give (the promotion not yet recorded by the
-- worker, no fence found) is null, never guessed.
-------------------------------------------------------------------------------

CREATE FUNCTION dr_failback_complete(summary text DEFAULT NULL, incident bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    me text := (SELECT f.node_name FROM @extschema@.dr_node_facts() f);
    inc @extschema@.dr_incidents;
    since timestamptz;
    promoted_at timestamptz;
    fence record;
    notice_at timestamptz;
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'a failback completes on the new primary, and this node is in recovery'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run dr_failback_complete() on the primary-region node once it is writable again (after the switch back, runbook 3.2 step 4).';
    END IF;
    IF (SELECT s.fenced FROM @extschema@.dr_status() s) THEN
        RAISE EXCEPTION 'this node is fenced: a failback is complete when it writes again'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'dr_unfence() first, if this node is the one that should write.';
    END IF;
    IF summary IS NOT NULL AND (btrim(summary) = '' OR length(summary) > 2000) THEN
        RAISE EXCEPTION 'a summary is 1 to 2000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One failback at a time: of two calls the second waits here for the
    -- first, then sees its event below.  SHARE UPDATE EXCLUSIVE conflicts
    -- with itself only, not with the inserts and updates of dr_declare()
    -- or the worker's journal flush, so a caller's open transaction holds
    -- up nobody but another failback.
    LOCK TABLE @extschema@.dr_incidents IN SHARE UPDATE EXCLUSIVE MODE;

    -- The regional incident this failback ends: the one named, or the newest
    -- resolved one of level 3 or more if its failback is not recorded yet
    -- (else none: a planned switchover, never an older incident).
    IF incident IS NOT NULL THEN
        inc := @extschema@.dr_require_incident(incident);
        IF inc.resolved_at IS NULL THEN
            RAISE EXCEPTION 'incident % is not resolved', inc.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'The failover is resolved when service is back in the DR region (dr_resolve() measures its RTO then); the failback comes after.',
                      HINT = 'Call dr_resolve() first.';
        END IF;
    ELSE
        SELECT * INTO inc FROM @extschema@.dr_incidents i
         WHERE i.level >= 3 AND i.resolved_at IS NOT NULL
         ORDER BY i.resolved_at DESC, i.id DESC LIMIT 1;
    END IF;
    IF inc.id IS NOT NULL AND EXISTS (SELECT 1 FROM @extschema@.dr_event_log e
                                       WHERE e.event_type = 'DR_FAILBACK_COMPLETE'
                                         AND e.details->>'incident' = inc.id::text) THEN
        IF incident IS NOT NULL THEN
            RAISE EXCEPTION 'the failback of incident % is already recorded', inc.id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        inc := NULL;
    END IF;

    -- What the log says, after the incident's resolution and after the last
    -- failback recorded (a fence or notice of an earlier failback is not
    -- this one's).
    SELECT greatest(inc.resolved_at, max(e.occurred_at)) INTO since FROM @extschema@.dr_event_log e
     WHERE e.event_type = 'DR_FAILBACK_COMPLETE';
    since := coalesce(since, '-infinity');
    SELECT max(e.occurred_at) INTO promoted_at FROM @extschema@.dr_event_log e
     WHERE e.event_type IN ('PROMOTION_DETECTED', 'PROMOTED') AND e.node_name = me;
    IF EXISTS (SELECT 1 FROM @extschema@.dr_event_log e
                WHERE e.event_type = 'DR_FAILBACK_COMPLETE' AND e.node_name = me
                  AND e.occurred_at >= promoted_at) THEN
        RAISE EXCEPTION 'the failback of this node''s last promotion is already recorded'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('This node was last promoted at %s, and a DR_FAILBACK_COMPLETE followed.', promoted_at);
    END IF;
    IF promoted_at < since THEN
        promoted_at := NULL;
    END IF;
    -- without an incident, a failback is this node's promotion: none
    -- recorded since the last failback, nothing to record (yet)
    IF inc.id IS NULL AND promoted_at IS NULL THEN
        RAISE EXCEPTION 'no promotion of this node is recorded since the last failback'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Without a regional incident to end, a failback is recorded for a promotion of this node (PROMOTION_DETECTED or PROMOTED in dr_events).',
                  HINT = 'The worker records PROMOTION_DETECTED within a sample of the promotion: call again then.';
    END IF;
    SELECT e.node_name, e.occurred_at INTO fence FROM @extschema@.dr_event_log e
     WHERE e.event_type = 'FENCED' AND e.node_name IS DISTINCT FROM me
       AND e.occurred_at > since AND e.occurred_at <= promoted_at
     ORDER BY e.occurred_at DESC LIMIT 1;
    SELECT max(e.occurred_at) INTO notice_at FROM @extschema@.dr_event_log e
     WHERE upper(e.event_type) = 'MAINTENANCE_NOTICE'
       AND e.occurred_at > since AND e.occurred_at <= coalesce(fence.occurred_at, clock_timestamp());

    RETURN @extschema@.dr_log_event('DR_FAILBACK_COMPLETE',
        jsonb_build_object(
            'summary', coalesce(summary, 'Failback to the primary region complete.'),
            'fenced_node', fence.node_name, 'fenced_at', fence.occurred_at,
            'promoted_at', promoted_at,
            'write_pause_seconds', round(extract(epoch FROM promoted_at - fence.occurred_at), 3),
            'maintenance_notice_at', notice_at,
            'incident', inc.id,
            'incident_rto_seconds', round(extract(epoch FROM inc.rto), 3)),
        inc.level, true, inc.id);
END
$fn$;
COMMENT ON FUNCTION dr_failback_complete(text, bigint) IS
'(1.2) Runbook 3.2 step 4 done: on the primary-region node writable again after a failback, record DR_FAILBACK_COMPLETE (notified with its own template) for the regional incident (default: the newest resolved one of level >= 3, unless its failback is recorded; else none, a planned switchover), with the DR primary''s fence, this node''s promotion, the write pause between them and the maintenance notice, as the log shows them since the resolution and the last failback (null when it does not).  The incident''s RTO is left as dr_resolve() judged it.  Refused (55000) in recovery, on a fenced node, for an unresolved incident, a second time for one incident or one promotion of this node, and without an incident when no promotion of this node is recorded since the last failback; 42704 for an unknown incident, 22023 for an empty or over-long summary.';
REVOKE ALL ON FUNCTION dr_failback_complete(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_failback_complete(text, bigint) TO dr_operator;

INSERT INTO dr_notification_templates VALUES
('DR_FAILBACK_COMPLETE', '[COMPLETE] TenSafe Failback to Primary Region',
 E'Failback complete: writes are served from {{region}} ({{node}}) again.\n\nCompleted: {{occurred_at}}\n\n{{details}}');
