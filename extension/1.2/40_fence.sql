-------------------------------------------------------------------------------
-- The write fence (amends extension/1.0/40_promotion.sql).
--
-- The fence is a barrier now (src/failover/fence.c): no transaction that
-- wrote commits on a fenced node, whatever door it came through, and
-- dr_set_fence(true) returns only once every commit in flight has ended and
-- the WAL is flushed.  So dr_fence() fences first and records FENCED after,
-- from the one transaction the fence lets commit: FENCED is the node's last
-- commit, and the flush_lsn it records lies past every other commit (1.0
-- recorded FENCED before fencing, with a flush position that commits in
-- flight could still pass).
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION dr_fence(reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF (SELECT fenced FROM @extschema@.dr_status()) THEN
        RETURN false;
    END IF;
    -- fenced already when we got the fence lock: somebody else recorded it
    IF @extschema@.dr_set_fence(true) THEN
        RETURN false;
    END IF;
    -- every commit but ours is in the WAL, flushed up to here
    PERFORM @extschema@.dr_log_event('FENCED',
        jsonb_build_object('reason', reason, 'flush_lsn',
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() END),
        NULL, true);
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION dr_fence(text) IS
'Stop writes on this node (runbook 3.2 "stop writes, wait for final sync"): no transaction that wrote commits here until dr_unfence() (25006), client statements run read-only, reads go on; waits for commits in flight; survives restarts; recorded as FENCED, whose details->>''flush_lsn'' lies past every other commit.';
