-------------------------------------------------------------------------------
-- Privileges of the event, incident and promotion objects
-------------------------------------------------------------------------------
REVOKE ALL ON dr_event_log, dr_incidents, dr_lag_samples FROM PUBLIC;
REVOKE ALL ON dr_events, dr_lag_history FROM PUBLIC;
GRANT SELECT ON dr_event_log, dr_incidents, dr_lag_samples, dr_events, dr_lag_history TO dr_monitor;

REVOKE ALL ON FUNCTION dr_journal_append(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_caller() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_journal_entries(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_node_facts() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_incident_at(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_can_write() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_log_event(text, jsonb, integer, boolean, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_record_event(text, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_journal_flush() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_history_sample(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_declare(integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_require_incident(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_acknowledge(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_objective(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_resolve(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_incident_timeline(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_postmortem(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_promote_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_promote(boolean, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wait_for_lag(interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wait_for_lsn(pg_lsn, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_set_fence(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_fence(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_unfence() FROM PUBLIC;

-- dr_monitor reads: dr_events needs the journal
GRANT EXECUTE ON FUNCTION dr_journal_entries(boolean) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_incident_timeline(bigint) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_postmortem(bigint) TO dr_monitor;

-- dr_operator acts
GRANT EXECUTE ON FUNCTION dr_record_event(text, jsonb, integer) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_promote_check() TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_declare(integer, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_acknowledge(bigint, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_resolve(bigint, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_promote(boolean, integer) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_wait_for_lag(interval, interval) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_wait_for_lsn(pg_lsn, interval) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_fence(text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_unfence() TO dr_operator;

