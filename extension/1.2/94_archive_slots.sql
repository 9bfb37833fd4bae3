-------------------------------------------------------------------------------
-- Level 4 and what must not be forgotten (issue 17; amends
-- extension/1.1/10_views.sql's dr_backup_status):
--   - the WAL archive's exposure and failures are in dr_status()
--     (12_clock.sql; src/lag/archiver.c) and in dr_backup_status;
--   - dr_slots: every replication slot of this node and its state
--     (src/lag/slots.c: ok, retaining, unreserved, lost), the worst in
--     dr_status();
--   - post-mortems (runbook 8.1: within 48 hours of resolution):
--     dr_postmortem_written() records one, dr_postmortem_status says which
--     are written, pending or overdue;
--   - dr_due_events_record(), run by the primary's worker every
--     tensafe_dr.due_check_interval: DRILL_OVERDUE for each drill kind
--     overdue (runbook 6.1) and POSTMORTEM_DUE for each post-mortem overdue,
--     once per occurrence (details.occurrence), so webhooks carry them.
-- The event types are reserved (25_event_validation.sql).
-------------------------------------------------------------------------------

-- Replication slots -----------------------------------------------------------

CREATE FUNCTION dr_slots_internal(
    OUT slot_name text,
    OUT slot_type text,
    OUT active boolean,
    OUT wal_status text,
    OUT restart_lsn pg_lsn,
    OUT retained_bytes bigint,
    OUT safe_wal_size bigint,
    OUT state text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_slots_internal'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dr_slots_internal() IS
'Internal: the rows of dr_slots, read from the replication slots'' shared memory.';
REVOKE ALL ON FUNCTION dr_slots_internal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_slots_internal() TO dr_monitor;

CREATE VIEW dr_slots AS
    SELECT * FROM dr_slots_internal();
COMMENT ON VIEW dr_slots IS
'Every replication slot of this node: wal_status and safe_wal_size as in pg_replication_slots, retained_bytes (WAL held back: this node''s position minus restart_lsn), and state: lost (its WAL is gone), unreserved (past max_slot_wal_keep_size), retaining (inactive and holding at least tensafe_dr.slot_wal_warning, or safe_wal_size under a quarter of max_slot_wal_keep_size), ok. dr_status().slot_state shows the worst; SLOT_RETAINING, SLOT_LOST and SLOT_RECOVERED are recorded on changes.';
REVOKE ALL ON dr_slots FROM PUBLIC;
GRANT SELECT ON dr_slots TO dr_monitor;

-- Post-mortems (runbook 8.1) ---------------------------------------------------

-- Finds the occurrences already recorded (dr_due_events_record) and the
-- post-mortems written without scanning the log.
CREATE INDEX dr_event_log_occurrence ON dr_event_log (event_type, (details->>'occurrence'))
    WHERE event_type IN ('DRILL_OVERDUE', 'POSTMORTEM_DUE', 'POSTMORTEM_WRITTEN');

CREATE VIEW dr_postmortem_status AS
    SELECT i.id AS incident_id, i.level, i.summary, i.resolved_at,
           i.resolved_at + interval '48 hours' AS due_at,
           w.occurred_at AS written_at,
           w.details->>'document' AS document,
           CASE WHEN w.occurred_at IS NOT NULL THEN 'written'
                WHEN now() >= i.resolved_at + interval '48 hours' THEN 'overdue'
                ELSE 'pending' END AS state
      FROM dr_incidents i
      LEFT JOIN LATERAL (
            SELECT e.occurred_at, e.details FROM dr_event_log e
             WHERE e.event_type = 'POSTMORTEM_WRITTEN'
               AND e.details->>'occurrence' = 'postmortem:' || i.id
             ORDER BY e.occurred_at DESC LIMIT 1) w ON true
     WHERE i.resolved_at IS NOT NULL;
COMMENT ON VIEW dr_postmortem_status IS
'Per resolved incident (runbook 8.1): the post-mortem due 48 hours after resolution, when it was recorded written (dr_postmortem_written()) and where, and its state: written, pending (not yet due) or overdue.';
REVOKE ALL ON dr_postmortem_status FROM PUBLIC;
GRANT SELECT ON dr_postmortem_status TO dr_monitor;

CREATE FUNCTION dr_postmortem_written(incident bigint, document text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
BEGIN
    IF r.resolved_at IS NULL THEN
        RAISE EXCEPTION 'incident % is not resolved', incident
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A post-mortem (runbook 8.1) follows the resolution of the incident.',
                  HINT = 'Resolve it first with dr_resolve().';
    END IF;
    IF length(document) > 2000 THEN
        RAISE EXCEPTION 'document reference is longer than 2000 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the post-mortem''s location (a URL or a path), not its text.';
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        RAISE EXCEPTION 'a post-mortem is recorded on a writable primary'
            USING ERRCODE = 'read_only_sql_transaction';
    END IF;
    RETURN @extschema@.dr_log_event('POSTMORTEM_WRITTEN',
        jsonb_build_object('occurrence', 'postmortem:' || r.id, 'incident', r.id,
                           'document', document, 'resolved_at', r.resolved_at,
                           'late', clock_timestamp() > r.resolved_at + interval '48 hours'),
        NULL, true, r.id);
END
$fn$;
COMMENT ON FUNCTION dr_postmortem_written(bigint, text) IS
'Record that the post-mortem of a resolved incident is written (runbook 8.1), optionally where (a URL or path, at most 2000 characters): a POSTMORTEM_WRITTEN event; dr_postmortem_status then shows it written and no POSTMORTEM_DUE follows. Returns the event id.';
REVOKE ALL ON FUNCTION dr_postmortem_written(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_postmortem_written(bigint, text) TO dr_operator;

-- Overdue drills and post-mortems due, as events ------------------------------

CREATE FUNCTION dr_due_events_record()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    occ text;
    n integer := 0;
BEGIN
    IF NOT @extschema@.dr_can_write() THEN
        RETURN 0;
    END IF;
    -- a drill kind overdue (runbook 6.1; never run counts as overdue): one
    -- occurrence per kind and last run
    FOR r IN SELECT s.* FROM @extschema@.dr_drill_schedule s WHERE s.overdue ORDER BY s.kind LOOP
        occ := format('drill:%s:%s', r.kind,
                      coalesce(extract(epoch FROM r.last_run)::text, 'never'));
        CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.dr_event_log e
                               WHERE e.event_type = 'DRILL_OVERDUE' AND e.details->>'occurrence' = occ);
        PERFORM @extschema@.dr_log_event('DRILL_OVERDUE',
            jsonb_build_object('occurrence', occ, 'kind', r.kind, 'frequency', r.frequency::text,
                               'last_run', r.last_run, 'last_passed', r.last_passed,
                               'due_since', r.last_run + r.frequency),
            NULL, false);
        n := n + 1;
    END LOOP;
    -- a post-mortem overdue (runbook 8.1), for incidents resolved in the
    -- last 30 days: older ones are history, not a reminder
    FOR r IN SELECT p.* FROM @extschema@.dr_postmortem_status p
              WHERE p.state = 'overdue' AND p.resolved_at > now() - interval '30 days'
              ORDER BY p.incident_id LOOP
        occ := 'postmortem:' || r.incident_id;
        CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.dr_event_log e
                               WHERE e.event_type = 'POSTMORTEM_DUE' AND e.details->>'occurrence' = occ);
        PERFORM @extschema@.dr_log_event('POSTMORTEM_DUE',
            jsonb_build_object('occurrence', occ, 'incident', r.incident_id, 'level', r.level,
                               'summary', r.summary, 'resolved_at', r.resolved_at, 'due_at', r.due_at),
            NULL, false, r.incident_id);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION dr_due_events_record() IS
'Internal (the primary''s worker, every tensafe_dr.due_check_interval): record DRILL_OVERDUE for each drill kind overdue in dr_drill_schedule and POSTMORTEM_DUE for each post-mortem overdue in dr_postmortem_status (incidents resolved in the last 30 days), each once per occurrence (details.occurrence); returns how many were recorded. Does nothing where the node cannot write.';
REVOKE ALL ON FUNCTION dr_due_events_record() FROM PUBLIC;

-- dr_backup_status: the archive's state beside the backups --------------------

CREATE OR REPLACE VIEW dr_backup_status AS
    WITH a AS MATERIALIZED (
        SELECT s.archive_state, s.archive_lag, s.archive_reason FROM dr_status() s)
    SELECT b.id, b.source, b.label, b.path, b.system_identifier, b.timeline,
           b.start_lsn, b.stop_lsn, b.start_time, b.stop_time, b.size_bytes,
           now() - coalesce(b.stop_time, b.start_time) AS age,
           b.verified_at, b.verification_ok, b.problems,
           CASE WHEN b.verified_at IS NULL THEN 'unverified'
                WHEN b.verification_ok THEN 'ok'
                ELSE 'problems' END AS verification_state,
           b.id = (SELECT n.id FROM dr_backups n WHERE n.verification_ok
                    ORDER BY coalesce(n.stop_time, n.start_time) DESC NULLS LAST, n.id DESC
                    LIMIT 1) AS newest_verified,
           a.archive_state, a.archive_lag, a.archive_reason
      FROM dr_backups b CROSS JOIN a;
COMMENT ON VIEW dr_backup_status IS
'The backup catalog with each backup''s age and latest verification verdict (ok / problems / unverified); newest_verified marks the newest backup verified ok, the one dr_status() judges. (1.2) archive_state, archive_lag, archive_reason: this node''s WAL archive as in dr_status(), what a restore from these backups can replay up to (runbook Level 4).';
