
-------------------------------------------------------------------------------
-- 1.1: wake the worker and the notifier on commit instead of polling
--   (src/wakeup.c).  A statement trigger notes the reason; the process is
--   woken only if the transaction commits, so it finds the rows.
-------------------------------------------------------------------------------
CREATE FUNCTION dr_wake_on_commit()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dr_wake_on_commit'
LANGUAGE C;
COMMENT ON FUNCTION dr_wake_on_commit() IS
'Internal statement trigger: wake the worker (''summary'': dr_status() shows the open incident, last event and newest verified backup at once) or the notifier (''outbox'': a delivery was queued) when the transaction commits.';
REVOKE ALL ON FUNCTION dr_wake_on_commit() FROM PUBLIC;

CREATE TRIGGER dr_event_log_wake AFTER INSERT OR UPDATE OR DELETE ON dr_event_log
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit('summary');
CREATE TRIGGER dr_incidents_wake AFTER INSERT OR UPDATE OR DELETE ON dr_incidents
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit('summary');
CREATE TRIGGER dr_backups_wake AFTER INSERT OR UPDATE OR DELETE ON dr_backups
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit('summary');
CREATE TRIGGER dr_outbox_wake AFTER INSERT ON dr_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit('outbox');
