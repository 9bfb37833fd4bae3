-------------------------------------------------------------------------------
-- Synchronous replication (issue 20): DR calls never hang on it, and a write
-- stall is a DR state.
--
-- 1. DR records commit locally.  A statement trigger on every table a DR
--    call writes (dr_event_log, dr_incidents, dr_drills) makes the writing
--    transaction commit with synchronous_commit = local
--    (src/core/sync_commit.c): dr_declare(), dr_record_event(),
--    dr_acknowledge(), dr_resolve(), the drill functions, dr_fence() and the
--    Patroni scripts' calls return while no synchronous standby confirms
--    anything, and what they record is visible at once and durable on this
--    node.  It reaches standbys asynchronously.  A trigger rather than a
--    call in each function, so that functions replaced later keep the rule.
-- 2. The stall itself: the primary's worker counts the backends waiting for
--    a synchronous standby (src/lag/sync_stall.c), dr_status() says so in
--    state_reason, SYNC_STALL / SYNC_RESUMED are journalled, and
--    dr_sync_status() and four metric families show it.
-------------------------------------------------------------------------------

CREATE FUNCTION dr_commit_locally_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'dr_commit_locally_trigger'
LANGUAGE C;
COMMENT ON FUNCTION dr_commit_locally_trigger() IS
'Internal statement trigger: the transaction that writes a DR record commits with synchronous_commit = local (durable on this node, visible at once, never waiting for a synchronous standby).';
REVOKE ALL ON FUNCTION dr_commit_locally_trigger() FROM PUBLIC;

CREATE TRIGGER dr_event_log_commit_locally BEFORE INSERT OR UPDATE OR DELETE ON dr_event_log
    FOR EACH STATEMENT EXECUTE FUNCTION dr_commit_locally_trigger();
CREATE TRIGGER dr_incidents_commit_locally BEFORE INSERT OR UPDATE OR DELETE ON dr_incidents
    FOR EACH STATEMENT EXECUTE FUNCTION dr_commit_locally_trigger();
CREATE TRIGGER dr_drills_commit_locally BEFORE INSERT OR UPDATE OR DELETE ON dr_drills
    FOR EACH STATEMENT EXECUTE FUNCTION dr_commit_locally_trigger();

CREATE FUNCTION dr_sync_status(
    OUT waiting_backends integer,
    OUT waiting_since timestamptz,
    OUT stalled boolean,
    OUT stall_threshold interval,
    OUT required_standbys integer,
    OUT available_standbys integer,
    OUT missing_standbys text[],
    OUT sampled_at timestamptz)
AS 'MODULE_PATHNAME', 'dr_sync_status'
LANGUAGE C STABLE;
COMMENT ON FUNCTION dr_sync_status() IS
'Primary: synchronous replication as the worker last saw it: backends waiting for a synchronous standby and since when, whether that is a stall (tensafe_dr.sync_stall_threshold), standbys needed and streaming, names in synchronous_standby_names not streaming.  NULLs on a standby.';
REVOKE ALL ON FUNCTION dr_sync_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_sync_status() TO dr_monitor;
