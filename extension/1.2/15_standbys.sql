-------------------------------------------------------------------------------
-- The primary's standbys (issue 19, and the registry part of issue 14):
-- amends extension/1.0/10_status.sql (dr_replicas).
--
-- dr_standbys is the primary's memory of its standbys, keyed by
-- application_name (Patroni's member name): those declared with
-- dr_standby_set() (region, purpose) and those seen streaming.  The worker
-- on the primary keeps each one's last flushed and replayed positions and
-- when it last saw them (src/lag/standbys.c: in shared memory every sample,
-- in the table when a standby appears or leaves and with the lag history),
-- so that a standby which stops streaming keeps
-- its row in dr_replicas ('disconnected', rpo_lag growing) and keeps
-- counting in dr_status() -- across restarts of the primary: it is a
-- table.  dr_standby_forget() forgets one on purpose (decommissioned).
-------------------------------------------------------------------------------

CREATE TABLE dr_standbys (
    standby_name    text PRIMARY KEY
                    CHECK (octet_length(standby_name) BETWEEN 1 AND 63),
    region          text CHECK (octet_length(region) BETWEEN 1 AND 63),
    purpose         text CHECK (purpose IN ('ha', 'dr')),
    declared        boolean NOT NULL DEFAULT false,
    declared_at     timestamptz,
    first_seen      timestamptz,
    last_seen       timestamptz,
    last_flush_lsn  pg_lsn,
    last_replay_lsn pg_lsn
) WITH (fillfactor = 50);		-- the worker's position updates stay HOT
COMMENT ON TABLE dr_standbys IS
'The primary''s standbys, by application_name: declared (dr_standby_set: region, purpose) or seen streaming; the last flushed and replayed positions and when they were last seen, kept by the worker. Replicates; pg_dump keeps the declared ones.';
-- declarations are configuration; what was seen belongs to this cluster only
SELECT pg_catalog.pg_extension_config_dump('dr_standbys', 'WHERE declared');

-- dr_standby_set() and dr_standby_forget() wake the worker, which mirrors
-- the registry into shared memory for dr_status().
CREATE TRIGGER dr_standbys_wake AFTER INSERT OR UPDATE OR DELETE ON dr_standbys
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit('standbys');

CREATE FUNCTION dr_standby_set(standby_name text, region text, purpose text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
    IF standby_name IS NULL OR region IS NULL OR purpose IS NULL THEN
        RAISE EXCEPTION 'standby_name, region and purpose must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF octet_length(standby_name) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'invalid standby_name: %', quote_literal(left(standby_name, 80))
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A standby is named by its application_name: 1 to 63 bytes.';
    END IF;
    IF octet_length(region) NOT BETWEEN 1 AND 63 THEN
        RAISE EXCEPTION 'invalid region: %', quote_literal(left(region, 80))
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A region name is 1 to 63 bytes.';
    END IF;
    IF purpose NOT IN ('ha', 'dr') THEN
        RAISE EXCEPTION 'invalid purpose: %', quote_literal(left(purpose, 80))
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''ha'' (a copy for failover within the region) or ''dr'' (a disaster-recovery copy).';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'standbys are declared on the primary'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Run dr_standby_set() on the primary; the declaration replicates.';
    END IF;
    INSERT INTO @extschema@.dr_standbys AS s (standby_name, region, purpose, declared, declared_at)
    VALUES (standby_name, region, purpose, true, now())
    ON CONFLICT ON CONSTRAINT dr_standbys_pkey DO UPDATE
       SET region = excluded.region, purpose = excluded.purpose, declared = true,
           declared_at = coalesce(s.declared_at, excluded.declared_at);
END
$fn$;
COMMENT ON FUNCTION dr_standby_set(text, text, text) IS
'Declare a standby (by application_name) on the primary: its region and purpose (''ha'' or ''dr''). A declared standby is remembered, and judged, even before it first streams.';

CREATE FUNCTION dr_standby_forget(standby_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
BEGIN
    IF standby_name IS NULL THEN
        RAISE EXCEPTION 'standby_name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'standbys are forgotten on the primary'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Run dr_standby_forget() on the primary; it replicates.';
    END IF;
    DELETE FROM @extschema@.dr_standbys s WHERE s.standby_name = standby_name;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION dr_standby_forget(text) IS
'Forget a standby on purpose (decommissioned): its row leaves dr_standbys and dr_replicas, and it no longer counts in dr_status(). Returns whether it was known. A standby that streams again is remembered again.';

-- The standbys streaming from this node, by application_name (the best
-- positions where several share a name): physical walsenders (logical ones
-- are connected to a database) whose client reports a replay position --
-- a standby does; pg_basebackup and pg_receivewal, which keep WAL but are
-- no standby, report none (they may report a flush position: with a slot).
CREATE FUNCTION dr_streaming_standbys(OUT pid integer, OUT standby_name text,
                                      OUT flush_lsn pg_lsn, OUT replay_lsn pg_lsn)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT DISTINCT ON (r.application_name) r.pid, r.application_name, r.flush_lsn, r.replay_lsn
      FROM pg_stat_replication r
      JOIN pg_stat_activity a ON a.pid = r.pid AND a.datid IS NULL
     WHERE r.state IN ('streaming', 'catchup')
       AND r.flush_lsn IS NOT NULL
       AND r.replay_lsn IS NOT NULL
       AND octet_length(r.application_name) BETWEEN 1 AND 63
     ORDER BY r.application_name, r.flush_lsn DESC, r.replay_lsn DESC NULLS LAST
$fn$;
COMMENT ON FUNCTION dr_streaming_standbys() IS
'Internal: the standbys streaming from this node now (physical walsenders reporting a replay position: not pg_basebackup or pg_receivewal), one row per application_name (the furthest where several share one).';

-- The names this node itself may have been remembered by, as a standby of
-- the primary before it was promoted (the registry replicates): its
-- tensafe_dr.node_name, cluster_name, and the application_name of its
-- primary_conninfo.  Their rows are not its standbys.
CREATE FUNCTION dr_self_names()
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT array_remove(ARRAY[
        nullif(current_setting('tensafe_dr.node_name', true), ''),
        nullif(current_setting('cluster_name', true), ''),
        substring(coalesce(current_setting('primary_conninfo', true), '')
                  FROM $re$application_name\s*=\s*'?([^'\s]+)$re$)], NULL)
$fn$;
COMMENT ON FUNCTION dr_self_names() IS
'Internal: the names this node may be known by in dr_standbys (tensafe_dr.node_name, cluster_name, the application_name of primary_conninfo): rows that are not its standbys.';

-- Worker, on the primary: note new standbys, and the positions the worker
-- keeps in shared memory (refreshed every sample from the walsenders, the
-- arrays) -- of a standby that has just stopped streaming at once (its last
-- positions), of the others only when persist (with the lag history, every
-- tensafe_dr.history_interval, in the same transaction): a commit every
-- heartbeat would make an idle primary look busy (a standby's
-- pg_last_xact_replay_timestamp() would keep moving).  Then return the
-- registry for shared memory, without the rows of this node itself (a
-- promoted standby finds its own name in the replicated registry); newest
-- first, the worker keeps the first 64.
CREATE FUNCTION dr_standbys_sync(node_name text, names text[], flush_lsns pg_lsn[],
                                 replay_lsns pg_lsn[], seen timestamptz[], persist boolean,
                                 OUT standby_name text, OUT declared boolean,
                                 OUT last_seen timestamptz, OUT last_flush_lsn pg_lsn,
                                 OUT last_replay_lsn pg_lsn, OUT pid integer,
                                 OUT region text, OUT purpose text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    self text[] := array_remove(@extschema@.dr_self_names() || dr_standbys_sync.node_name, NULL);
BEGIN
    IF NOT pg_is_in_recovery() THEN
        INSERT INTO @extschema@.dr_standbys AS s
               (standby_name, first_seen, last_seen, last_flush_lsn, last_replay_lsn)
        SELECT w.standby_name, now(), now(), w.flush_lsn, w.replay_lsn
          FROM @extschema@.dr_streaming_standbys() w
         WHERE w.standby_name <> ALL (self)
           -- not the ones already seen: ON CONFLICT would lock their rows
           -- (an xid, a commit) only to find nothing to do
           AND NOT EXISTS (SELECT 1 FROM @extschema@.dr_standbys d
                            WHERE d.standby_name = w.standby_name
                              AND d.last_flush_lsn IS NOT NULL)
        ON CONFLICT ON CONSTRAINT dr_standbys_pkey DO UPDATE
           SET first_seen = excluded.first_seen, last_seen = excluded.last_seen,
               last_flush_lsn = excluded.last_flush_lsn,
               last_replay_lsn = excluded.last_replay_lsn
         WHERE s.last_flush_lsn IS NULL;		-- declared, first seen now
        UPDATE @extschema@.dr_standbys s
           SET last_seen = m.seen, last_flush_lsn = m.flush_lsn, last_replay_lsn = m.replay_lsn
          FROM unnest(dr_standbys_sync.names, dr_standbys_sync.flush_lsns,
                      dr_standbys_sync.replay_lsns, dr_standbys_sync.seen)
               AS m (name, flush_lsn, replay_lsn, seen)
         WHERE s.standby_name = m.name
           AND (dr_standbys_sync.persist
                OR NOT EXISTS (SELECT 1 FROM @extschema@.dr_streaming_standbys() w
                                WHERE w.standby_name = m.name))
           AND (s.last_seen IS NULL OR m.seen > s.last_seen)
           AND (s.last_flush_lsn, s.last_replay_lsn) IS DISTINCT FROM (m.flush_lsn, m.replay_lsn);
    END IF;
    RETURN QUERY
        SELECT d.standby_name, d.declared, d.last_seen, d.last_flush_lsn, d.last_replay_lsn, w.pid,
               d.region, d.purpose
          FROM @extschema@.dr_standbys d
          LEFT JOIN @extschema@.dr_streaming_standbys() w ON w.standby_name = d.standby_name
         WHERE d.standby_name <> ALL (self)
         ORDER BY d.last_seen DESC NULLS LAST, d.standby_name
         LIMIT 64;
END
$fn$;
COMMENT ON FUNCTION dr_standbys_sync(text, text[], pg_lsn[], pg_lsn[], timestamptz[], boolean) IS
'Internal (worker, primary): remember new streaming standbys, note the positions kept in shared memory (of a standby that stopped streaming at once, of all when persist), and return the registry (without this node) for shared memory.';

-- Figures of a standby that is not connected, from what it held when last seen.
CREATE FUNCTION dr_standby_lag(flush_lsn pg_lsn, replay_lsn pg_lsn, last_seen timestamptz,
                               OUT rpo_lag interval, OUT replay_lag interval,
                               OUT lag_bytes bigint, OUT rpo_state text)
AS 'MODULE_PATHNAME', 'dr_standby_lag_disconnected'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn, timestamptz) IS
'Figures of a remembered standby that is not connected, from the positions it held when last seen: rpo_lag is the age of the oldest primary WAL it does not hold (at least the time since last_seen), growing with time.';

-- The worker's copy of the registry in shared memory: the positions of a
-- standby as of the last sample it streamed in, newer than the table's
-- (written when it leaves and with the lag history) until the worker has
-- looked again.
CREATE FUNCTION dr_remembered_standbys(OUT standby_name text, OUT pid integer,
                                       OUT last_seen timestamptz, OUT flush_lsn pg_lsn,
                                       OUT replay_lsn pg_lsn)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_remembered_standbys'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dr_remembered_standbys() IS
'The primary''s remembered standbys as the worker keeps them in shared memory (what dr_status() counts): walsender pid at its last look (NULL if none), last seen, flushed and replayed positions as of the last sample it streamed in.';

-- dr_replicas gains region, purpose and last_seen, and the rows of the
-- remembered standbys that are not connected (state 'disconnected').
DROP VIEW dr_replicas;
DROP FUNCTION dr_replicas_internal();
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
    OUT reply_time timestamptz,
    OUT region text,
    OUT purpose text,
    OUT last_seen timestamptz)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
-- PL/pgSQL for its plan cache: planning this query (two views over the
-- statistics functions, a union, lateral joins) took 20 ms a call as a SQL
-- function; executing it takes about 1 (bench/standbys_scale.sh).
BEGIN
    RETURN QUERY
    WITH cur AS (
        SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                    ELSE pg_current_wal_flush_lsn() END AS lsn
    ), live AS MATERIALIZED (
        SELECT r.* FROM pg_stat_replication r
          JOIN pg_stat_activity a ON a.pid = r.pid AND a.datid IS NULL
    )
    SELECT r.pid, r.application_name, r.client_addr, r.state, r.sync_state,
           r.sent_lsn, r.write_lsn, r.flush_lsn, r.replay_lsn,
           pg_wal_lsn_diff(cur.lsn, r.write_lsn),
           pg_wal_lsn_diff(cur.lsn, r.flush_lsn),
           pg_wal_lsn_diff(cur.lsn, r.replay_lsn),
           lag.rpo_lag, lag.replay_lag,
           coalesce(lag.rpo_state, 'unknown'),
           r.reply_time, d.region, d.purpose, coalesce(r.reply_time, now())
      FROM live r
     CROSS JOIN cur
      LEFT JOIN @extschema@.dr_standbys d ON d.standby_name = r.application_name
      LEFT JOIN LATERAL @extschema@.dr_standby_lag(r.flush_lsn, r.replay_lsn) lag ON true
    UNION ALL
    SELECT NULL, d.standby_name, NULL, 'disconnected', NULL,
           NULL, NULL, p.flush_lsn, p.replay_lsn,
           NULL,
           pg_wal_lsn_diff(cur.lsn, p.flush_lsn),
           pg_wal_lsn_diff(cur.lsn, p.replay_lsn),
           lag.rpo_lag, lag.replay_lag,
           coalesce(lag.rpo_state, 'unknown'),
           NULL, d.region, d.purpose, p.last_seen
      FROM @extschema@.dr_standbys d
     CROSS JOIN cur
      -- the newer of the table and shared memory (until the worker has
      -- written the positions a standby held when it left)
      LEFT JOIN @extschema@.dr_remembered_standbys() m ON m.standby_name = d.standby_name
     CROSS JOIN LATERAL (
        SELECT CASE WHEN m.last_seen > coalesce(d.last_seen, '-infinity') THEN m.last_seen ELSE d.last_seen END AS last_seen,
               CASE WHEN m.last_seen > coalesce(d.last_seen, '-infinity') THEN m.flush_lsn ELSE d.last_flush_lsn END AS flush_lsn,
               CASE WHEN m.last_seen > coalesce(d.last_seen, '-infinity') THEN m.replay_lsn ELSE d.last_replay_lsn END AS replay_lsn) p
      LEFT JOIN LATERAL @extschema@.dr_standby_lag(p.flush_lsn, p.replay_lsn, p.last_seen) lag ON true
     WHERE NOT pg_is_in_recovery()
       AND d.standby_name IS DISTINCT FROM (SELECT s.node_name FROM @extschema@.dr_status() s)
       AND d.standby_name <> ALL (@extschema@.dr_self_names())
       AND NOT EXISTS (SELECT 1 FROM live r WHERE r.application_name = d.standby_name);
END
$fn$;
COMMENT ON FUNCTION dr_replicas_internal() IS
'Backs the dr_replicas view; not meant to be called directly.';

CREATE VIEW dr_replicas AS
    SELECT * FROM dr_replicas_internal();
COMMENT ON VIEW dr_replicas IS
'One row per physical standby attached to this node (positions, byte lags, rpo_lag/replay_lag dated from the WAL-position ring, 0 when caught up, NULL only before a standby reports), and, on a primary, one per remembered standby not connected (state ''disconnected'', last_seen, rpo_lag growing); region and purpose as declared.';

REVOKE ALL ON TABLE dr_standbys FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_standby_set(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_standby_forget(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_streaming_standbys() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_standbys_sync(text, text[], pg_lsn[], pg_lsn[], timestamptz[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_self_names() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_remembered_standbys() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_replicas_internal() FROM PUBLIC;
REVOKE ALL ON dr_replicas FROM PUBLIC;

GRANT SELECT ON TABLE dr_standbys TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_standby_set(text, text, text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_standby_forget(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn, timestamptz) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_remembered_standbys() TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_replicas_internal() TO dr_monitor;
GRANT SELECT ON dr_replicas TO dr_monitor;

-- Metrics: tensafe_dr_standby_connected is defined with the other 1.2
-- families in 92_metrics.sql.
