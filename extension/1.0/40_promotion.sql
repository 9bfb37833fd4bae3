-------------------------------------------------------------------------------
-- Promotion (runbook 3.1 steps 2-3)
-------------------------------------------------------------------------------
CREATE FUNCTION dr_promote_check(
    OUT promotable boolean,
    OUT reason text,
    OUT role text,
    OUT receiver_streaming boolean,
    OUT last_primary_contact timestamptz,
    OUT exposure interval,
    OUT rpo_lag interval,
    OUT replay_lag interval,
    OUT gate interval,
    OUT replay_paused boolean,
    OUT unreplayed_bytes bigint,
    OUT estimated_catchup interval,
    OUT timeline integer,
    OUT possible_loss interval)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_promote_check'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_promote_check() IS
'Read-only promotion verdict (safe in Patroni pre_promote): may this standby be promoted now; exposure = the larger of possible_loss (rpo_lag while in contact; what was missing at the last contact once cut off) and replay_lag, judged against the gate tensafe_dr.promote_max_lag (default rpo_max). The verdict is journalled as PROMOTE_CHECK.';

CREATE FUNCTION dr_promote(force boolean DEFAULT false, wait_seconds integer DEFAULT 60,
    OUT promoted boolean, OUT forced boolean, OUT timeline_before integer,
    OUT timeline_after integer, OUT exposure interval, OUT elapsed interval)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    chk record;
    t0 timestamptz := clock_timestamp();
    details jsonb;
BEGIN
    IF wait_seconds IS NULL OR wait_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'wait_seconds must be between 1 and 3600' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO chk FROM @extschema@.dr_promote_check();
    IF chk.role <> 'standby' THEN
        RAISE EXCEPTION 'this node is not a standby'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'dr_promote() promotes a standby; this node is already a primary.';
    END IF;
    details := jsonb_build_object(
        'forced', coalesce(force, false), 'reason', chk.reason,
        'exposure_s', extract(epoch FROM chk.exposure), 'possible_loss_s', extract(epoch FROM chk.possible_loss), 'rpo_lag_s', extract(epoch FROM chk.rpo_lag),
        'replay_lag_s', extract(epoch FROM chk.replay_lag), 'gate_s', extract(epoch FROM chk.gate),
        'unreplayed_bytes', chk.unreplayed_bytes, 'replay_paused', chk.replay_paused,
        'receiver_streaming', chk.receiver_streaming,
        'last_primary_contact', chk.last_primary_contact, 'timeline_before', chk.timeline);
    IF NOT chk.promotable AND NOT coalesce(force, false) THEN
        PERFORM @extschema@.dr_log_event('PROMOTE_REFUSED', details, NULL, false);
        RAISE EXCEPTION 'promotion refused: %', chk.reason
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('exposure %s, gate %s (tensafe_dr.promote_max_lag), possible loss %s, rpo_lag %s, replay_lag %s, WAL receiver %s, last contact with the primary %s, %s bytes not replayed.',
                                  coalesce(chk.exposure::text, 'unknown'), chk.gate, coalesce(chk.possible_loss::text, 'unknown'),
                                  coalesce(chk.rpo_lag::text, 'unknown'), coalesce(chk.replay_lag::text, 'unknown'),
                                  CASE WHEN chk.receiver_streaming THEN 'streaming' ELSE 'not streaming' END,
                                  coalesce(chk.last_primary_contact::text, 'never'), chk.unreplayed_bytes),
                  HINT = 'Wait until the standby catches up (SELECT dr_wait_for_lag(...)), or accept the loss with dr_promote(force => true).';
    END IF;

    IF NOT pg_promote(true, wait_seconds) OR pg_is_in_recovery() THEN
        PERFORM @extschema@.dr_log_event('PROMOTE_FAILED',
            details || jsonb_build_object('elapsed_s', round(extract(epoch FROM clock_timestamp() - t0), 3)),
            NULL, false);
        RAISE EXCEPTION 'promotion did not complete within % s', wait_seconds
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The node is still in recovery: see the server log; pg_promote() may still complete.';
    END IF;

    promoted := true;
    forced := coalesce(force, false);
    timeline_before := chk.timeline;
    timeline_after := (SELECT s.timeline FROM @extschema@.dr_status() s);
    exposure := chk.exposure;
    elapsed := clock_timestamp() - t0;
    -- this transaction began in recovery, so it is read-only: the journal
    -- carries the record to dr_events, flushed by the worker within a second
    PERFORM @extschema@.dr_log_event('PROMOTED',
        details || jsonb_build_object('timeline_after', timeline_after,
                                      'elapsed_s', round(extract(epoch FROM elapsed), 3)),
        NULL, true);
END
$fn$;
COMMENT ON FUNCTION dr_promote(boolean, integer) IS
'Promote this standby through pg_promote() if dr_promote_check() allows it (or force => true); verifies the node left recovery and records PROMOTED (or PROMOTE_REFUSED / PROMOTE_FAILED) with the figures.';

-------------------------------------------------------------------------------
-- Failback helpers (runbook 3.2)
-------------------------------------------------------------------------------
CREATE FUNCTION dr_wait_for_lag(max_lag interval, timeout interval DEFAULT '5 min')
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_wait_for_lag'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_wait_for_lag(interval, interval) IS
'Wait until rpo_lag and replay_lag (on a primary: of every attached standby) are at most max_lag; true if met, false on timeout.';

CREATE FUNCTION dr_wait_for_lsn(target pg_lsn, timeout interval DEFAULT '5 min')
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_wait_for_lsn'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_wait_for_lsn(pg_lsn, interval) IS
'Wait until this standby (on a primary: every attached standby) has replayed target; true if met, false on timeout.';

CREATE FUNCTION dr_set_fence(on_ boolean)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_set_fence'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION dr_fence(reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF (SELECT fenced FROM @extschema@.dr_status()) THEN
        RETURN false;
    END IF;
    -- record first: once fenced, this transaction cannot write any more
    PERFORM @extschema@.dr_log_event('FENCED',
        jsonb_build_object('reason', reason, 'flush_lsn',
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() END),
        NULL, true);
    PERFORM @extschema@.dr_set_fence(true);
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION dr_fence(text) IS
'Stop new writes on this node (runbook 3.2 "stop writes"): every client statement runs read-only (SQLSTATE 25006 on writes) until dr_unfence(); survives restarts; recorded as FENCED.';

CREATE FUNCTION dr_unfence()
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT @extschema@.dr_set_fence(false) THEN
        RETURN false;
    END IF;
    PERFORM @extschema@.dr_log_event('UNFENCED', '{}', NULL, true);
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION dr_unfence() IS 'Lift the write fence set by dr_fence(); recorded as UNFENCED.';

