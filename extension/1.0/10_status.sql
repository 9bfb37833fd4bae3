-------------------------------------------------------------------------------
-- Status
-------------------------------------------------------------------------------
CREATE FUNCTION dr_status(
    OUT node_name text,
    OUT region text,
    OUT role text,
    OUT timeline integer,
    OUT in_recovery boolean,
    OUT receiver_status text,
    OUT last_primary_contact timestamptz,
    OUT replay_lag interval,
    OUT rpo_lag interval,
    OUT lag_bytes bigint,
    OUT rpo_target interval,
    OUT rpo_max interval,
    OUT rpo_state text,
    OUT state_reason text,
    OUT standbys integer,
    OUT replay_paused boolean,
    OUT last_sample_at timestamptz,
    OUT worker_pid integer,
    OUT open_incident bigint,
    OUT last_event text,
    OUT fenced boolean,
    OUT pending_events bigint,
    OUT newest_backup_at timestamptz,
    OUT backup_state text)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_status() IS
'One row: can this node fail over now and what would it lose. rpo_lag = age of the oldest primary WAL not held durably here; replay_lag = age of the oldest WAL not replayed; rpo_state judges the larger against tensafe_dr.rpo_target/rpo_max.';

CREATE FUNCTION dr_standby_lag(
    flush_lsn pg_lsn,
    replay_lsn pg_lsn,
    OUT rpo_lag interval,
    OUT replay_lag interval,
    OUT lag_bytes bigint,
    OUT rpo_state text)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_standby_lag'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn) IS
'Figures for a standby that reported the given flush and replay positions, dated from this node''s WAL-position ring.';

CREATE FUNCTION dr_samples(
    max_samples integer DEFAULT 60,
    OUT sampled_at timestamptz,
    OUT role text,
    OUT timeline integer,
    OUT primary_lsn pg_lsn,
    OUT insert_lsn pg_lsn,
    OUT receive_lsn pg_lsn,
    OUT replay_lsn pg_lsn,
    OUT receiver_status text,
    OUT last_primary_contact timestamptz,
    OUT standbys integer,
    OUT standby_min_flush_lsn pg_lsn,
    OUT standby_min_replay_lsn pg_lsn)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_samples'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_samples(integer) IS
'The newest samples of the worker''s shared-memory ring of WAL positions, oldest first.';

-- pg_stat_replication hides positions from callers without pg_read_all_stats;
-- this definer function shows dr_monitor the DR-relevant columns of physical
-- standbys only (logical walsenders are connected to a database).
CREATE FUNCTION dr_replicas_internal(
    OUT pid integer,
    OUT standby_name text,
    OUT client_addr inet,
    OUT state text,
    OUT sync_state text,
    OUT sent_lsn pg_lsn,
    OUT write_lsn pg_lsn,
    OUT flush_lsn pg_lsn,
    OUT replay_lsn pg_lsn,
    OUT write_lag_bytes numeric,
    OUT flush_lag_bytes numeric,
    OUT replay_lag_bytes numeric,
    OUT rpo_lag interval,
    OUT replay_lag interval,
    OUT rpo_state text,
    OUT reply_time timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT r.pid, r.application_name, r.client_addr, r.state, r.sync_state,
           r.sent_lsn, r.write_lsn, r.flush_lsn, r.replay_lsn,
           pg_wal_lsn_diff(cur.lsn, r.write_lsn),
           pg_wal_lsn_diff(cur.lsn, r.flush_lsn),
           pg_wal_lsn_diff(cur.lsn, r.replay_lsn),
           lag.rpo_lag, lag.replay_lag,
           coalesce(lag.rpo_state, 'unknown'),
           r.reply_time
      FROM pg_stat_replication r
      JOIN pg_stat_activity a ON a.pid = r.pid AND a.datid IS NULL
     CROSS JOIN LATERAL (SELECT CASE WHEN pg_is_in_recovery()
                                     THEN pg_last_wal_receive_lsn()
                                     ELSE pg_current_wal_flush_lsn() END AS lsn) cur
      LEFT JOIN LATERAL @extschema@.dr_standby_lag(r.flush_lsn, r.replay_lsn) lag ON true
$fn$;

COMMENT ON FUNCTION dr_replicas_internal() IS
'Backs the dr_replicas view; not meant to be called directly.';

CREATE VIEW dr_replicas AS
    SELECT * FROM dr_replicas_internal();

COMMENT ON VIEW dr_replicas IS
'One row per physical standby attached to this node: positions, byte lags, and rpo_lag/replay_lag dated from the WAL-position ring (0 when caught up, NULL only before a standby reports).';

-------------------------------------------------------------------------------
-- Privileges: nothing is PUBLIC
-------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION dr_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_samples(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_replicas_internal() FROM PUBLIC;
REVOKE ALL ON dr_replicas FROM PUBLIC;

GRANT EXECUTE ON FUNCTION dr_status() TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_samples(integer) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_replicas_internal() TO dr_monitor;
GRANT SELECT ON dr_replicas TO dr_monitor;

