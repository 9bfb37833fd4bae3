-------------------------------------------------------------------------------
-- Event log (amends extension/1.0/20_events.sql).
--
-- An event's journal payload was built twice: in C for the events the
-- worker and dr_promote_check() record, and with jsonb_build_object here
-- for those recorded from SQL on a node that cannot write.  It now has one
-- builder, in C (build_payload() in src/events/events.c): dr_log_event()
-- journals through dr_journal_record(), which takes the event's own facts
-- and adds this node's (name, region, system identifier, timeline) as the
-- C path does.
-------------------------------------------------------------------------------

CREATE FUNCTION dr_journal_record(occurred_at timestamptz, event_type text, level integer,
                                  successful boolean, actor text, details jsonb,
                                  incident_id bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'dr_journal_record'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION dr_journal_record(timestamptz, text, integer, boolean, text, jsonb, bigint) IS
'Internal: journal an event (fsync''d) with the payload the C side builds; returns its sequence number.';
REVOKE ALL ON FUNCTION dr_journal_record(timestamptz, text, integer, boolean, text, jsonb, bigint) FROM PUBLIC;

-- Internal: record an event, in the table when this node can write, else in
-- the journal.  Returns the id, or NULL when journalled.
CREATE OR REPLACE FUNCTION dr_log_event(
    p_event_type text, p_details jsonb, p_level integer, p_successful boolean,
    p_incident_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f record;
    now_ts timestamptz := clock_timestamp();
    new_id bigint;
BEGIN
    p_incident_id := coalesce(p_incident_id, @extschema@.dr_incident_at(now_ts));
    IF @extschema@.dr_can_write() THEN
        SELECT * INTO f FROM @extschema@.dr_node_facts();
        INSERT INTO @extschema@.dr_event_log
               (occurred_at, event_type, level, node_name, region, system_identifier,
                timeline, actor, successful, details, incident_id)
        VALUES (now_ts, p_event_type, p_level, f.node_name, f.region, f.system_identifier,
                f.timeline, @extschema@.dr_caller(), p_successful, coalesce(p_details, '{}'), p_incident_id)
        RETURNING id INTO new_id;
        RETURN new_id;
    END IF;
    PERFORM @extschema@.dr_journal_record(now_ts, p_event_type, p_level, p_successful,
                                          @extschema@.dr_caller(), coalesce(p_details, '{}'),
                                          p_incident_id);
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION dr_log_event(text, jsonb, integer, boolean, bigint) IS
'Internal: record an event, in dr_event_log when this node can write, else in the journal (dr_journal_record()); returns the id, or NULL when journalled.';
