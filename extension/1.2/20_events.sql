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

-- dr_log_event() itself, which journals through dr_journal_record() on a
-- node that cannot write, has one 1.2 definition: 25_event_validation.sql
-- (it also checks the details there).
