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
                                 OUT last_replay_lsn pg_lsn, OUT pid integer)
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
        SELECT d.standby_name, d.declared, d.last_seen, d.last_flush_lsn, d.last_replay_lsn, w.pid
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
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
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
       AND NOT EXISTS (SELECT 1 FROM live r WHERE r.application_name = d.standby_name)
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

-- Metrics (amends extension/1.1/20_metrics.sql): the disconnected state.
-- tensafe_dr_standby_connected: 1 for a standby streaming from this node, 0
-- for one the primary remembers and that is not connected.  The rest of
-- dr_metric_families and dr_metrics_rows() is unchanged.
CREATE OR REPLACE VIEW dr_metric_families (metric, metric_type, help) AS
VALUES
    ('tensafe_dr_in_recovery', 'gauge',
     '1 if this node is a standby (in recovery), 0 if it is a primary.'),
    ('tensafe_dr_rpo_lag_seconds', 'gauge',
     'Data a failover to this copy would lose: age of the oldest primary WAL not held durably here (on a primary, the worst standby).'),
    ('tensafe_dr_replay_lag_seconds', 'gauge',
     'Age of the oldest primary WAL not replayed here (on a primary, the worst standby).'),
    ('tensafe_dr_rpo_target_seconds', 'gauge',
     'tensafe_dr.rpo_target: exposure at or above it is a warning.'),
    ('tensafe_dr_rpo_max_seconds', 'gauge',
     'tensafe_dr.rpo_max: exposure at or above it is a breach.'),
    ('tensafe_dr_rpo_state', 'gauge',
     'RPO state of this node, one series per state (ok, warning, breach, unknown): 1 for the current state, 0 for the others.'),
    ('tensafe_dr_attached_standbys', 'gauge',
     'Physical standbys attached to this node.'),
    ('tensafe_dr_standby_rpo_lag_seconds', 'gauge',
     'rpo_lag of each standby attached to this node, by application_name (the worst if several share a name).'),
    ('tensafe_dr_standby_replay_lag_seconds', 'gauge',
     'replay_lag of each standby attached to this node, by application_name (the worst if several share a name).'),
    ('tensafe_dr_standby_lag_bytes', 'gauge',
     'WAL bytes each standby attached to this node has not replayed, by application_name (the worst if several share a name).'),
    ('tensafe_dr_standby_connected', 'gauge',
     'Per standby in dr_replicas, by application_name: 1 while it streams from this node, 0 for one the primary remembers that is not connected (its lag series keep rising).'),
    ('tensafe_dr_worker_up', 'gauge',
     '1 if the tensafe_dr worker is running on this node, else 0.'),
    ('tensafe_dr_worker_last_sample_age_seconds', 'gauge',
     'Seconds since the worker last sampled WAL positions (absent before the first sample).'),
    ('tensafe_dr_events_total', 'counter',
     'DR events in the event log as seen from this node (the table plus its unflushed journal), by event type.'),
    ('tensafe_dr_pending_events', 'gauge',
     'Events journalled on this node and not yet flushed to the event log.'),
    ('tensafe_dr_breaches_total', 'counter',
     'Objective breaches recorded in the event log: objective="rpo" counts RPO_BREACH events, objective="rto" incidents resolved past tensafe_dr.rto_max.'),
    ('tensafe_dr_open_incidents', 'gauge',
     'Incidents declared and not resolved (including declarations still in this node''s journal), by disaster level.'),
    ('tensafe_dr_newest_verified_backup_age_seconds', 'gauge',
     'Age of the newest backup whose last verification passed, from its stop time (absent when there is none).'),
    ('tensafe_dr_notification_failures_total', 'counter',
     'Webhook deliveries given up as failed, by channel.'),
    ('tensafe_dr_notifications_pending', 'gauge',
     'Webhook deliveries waiting to be delivered or retried, by channel.');

CREATE OR REPLACE FUNCTION dr_metrics_rows(
    family text DEFAULT NULL,
    OUT metric text,
    OUT metric_type text,
    OUT help text,
    OUT labels jsonb,
    OUT value double precision)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
    -- a misspelt family is an error, not an empty answer
    IF family IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM @extschema@.dr_metric_families m WHERE m.metric = family) THEN
        RAISE EXCEPTION 'unknown metric family: %', quote_literal(family)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The families are listed in dr_metric_families; NULL returns them all.';
    END IF;
    RETURN QUERY
WITH s AS MATERIALIZED (
    SELECT * FROM @extschema@.dr_status()
), id AS MATERIALIZED (
    SELECT jsonb_build_object('node', coalesce(s.node_name, ''),
                              'region', coalesce(s.region, '')) AS l
      FROM s
), ev AS MATERIALIZED (
    SELECT e.event_type, e.level, e.details, e.pending
      FROM @extschema@.dr_events e
), sb AS (
    SELECT coalesce(r.standby_name, '') AS standby,
           max(extract(epoch FROM r.rpo_lag)) AS rpo_lag,
           max(extract(epoch FROM r.replay_lag)) AS replay_lag,
           max(r.replay_lag_bytes) AS lag_bytes,
           max(CASE WHEN r.state = 'disconnected' THEN 0 ELSE 1 END) AS connected
      FROM @extschema@.dr_replicas r
     GROUP BY 1
), ch AS (
    SELECT c.name AS channel FROM @extschema@.dr_webhook_channels c
    UNION
    SELECT n.channel FROM @extschema@.dr_notifications n
)
SELECT f.metric, f.metric_type, f.help, x.labels, x.value::double precision
  FROM (
    SELECT 'tensafe_dr_in_recovery', id.l, CASE WHEN s.in_recovery THEN 1 ELSE 0 END
      FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_rpo_lag_seconds', id.l, extract(epoch FROM s.rpo_lag) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_replay_lag_seconds', id.l, extract(epoch FROM s.replay_lag) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_rpo_target_seconds', id.l, extract(epoch FROM s.rpo_target) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_rpo_max_seconds', id.l, extract(epoch FROM s.rpo_max) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_rpo_state', id.l || jsonb_build_object('state', st),
           CASE WHEN s.rpo_state = st THEN 1 ELSE 0 END
      FROM s, id, unnest(ARRAY['ok', 'warning', 'breach', 'unknown']) st
    UNION ALL
    SELECT 'tensafe_dr_attached_standbys', id.l, s.standbys FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_standby_rpo_lag_seconds', id.l || jsonb_build_object('standby', sb.standby),
           sb.rpo_lag FROM sb, id
    UNION ALL
    SELECT 'tensafe_dr_standby_replay_lag_seconds', id.l || jsonb_build_object('standby', sb.standby),
           sb.replay_lag FROM sb, id
    UNION ALL
    SELECT 'tensafe_dr_standby_lag_bytes', id.l || jsonb_build_object('standby', sb.standby),
           sb.lag_bytes FROM sb, id
    UNION ALL
    SELECT 'tensafe_dr_standby_connected', id.l || jsonb_build_object('standby', sb.standby),
           sb.connected FROM sb, id
    UNION ALL
    SELECT 'tensafe_dr_worker_up', id.l, CASE WHEN s.worker_pid IS NULL THEN 0 ELSE 1 END FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_worker_last_sample_age_seconds', id.l,
           extract(epoch FROM clock_timestamp() - s.last_sample_at) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_events_total', id.l || jsonb_build_object('type', coalesce(ev.event_type, '')),
           count(*)
      FROM ev, id GROUP BY id.l, ev.event_type
    UNION ALL
    SELECT 'tensafe_dr_pending_events', id.l, s.pending_events FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_breaches_total', id.l || jsonb_build_object('objective', o.objective),
           (SELECT count(*) FROM ev
             WHERE CASE o.objective
                   WHEN 'rpo' THEN ev.event_type = 'RPO_BREACH'
                   ELSE ev.event_type = 'DR_COMPLETE' AND ev.details->>'rto_state' = 'breach' END)
      FROM id, (VALUES ('rpo'), ('rto')) o (objective)
    UNION ALL
    SELECT 'tensafe_dr_open_incidents', id.l || jsonb_build_object('level', lv::text),
           (SELECT count(*) FROM @extschema@.dr_incidents i
             WHERE i.resolved_at IS NULL AND i.level = lv)
           + (SELECT count(*) FROM ev
               WHERE ev.pending AND ev.event_type = 'DR_INITIATED'
                 AND coalesce(ev.level, 3) = lv)
      FROM id, generate_series(1, 4) lv
    UNION ALL
    SELECT 'tensafe_dr_newest_verified_backup_age_seconds', id.l,
           extract(epoch FROM clock_timestamp() - max(coalesce(b.stop_time, b.start_time)))
      FROM id, @extschema@.dr_backups b
     WHERE b.verification_ok
     GROUP BY id.l
    UNION ALL
    SELECT 'tensafe_dr_notification_failures_total', id.l || jsonb_build_object('channel', ch.channel),
           (SELECT count(*) FROM @extschema@.dr_notifications n
             WHERE n.channel = ch.channel AND n.status = 'failed')
      FROM ch, id
    UNION ALL
    SELECT 'tensafe_dr_notifications_pending', id.l || jsonb_build_object('channel', ch.channel),
           (SELECT count(*) FROM @extschema@.dr_notifications n
             WHERE n.channel = ch.channel AND n.status = 'pending')
      FROM ch, id
  ) x (metric, labels, value)
  -- The family filter is pushed down into each branch, where it is a test
  -- of a constant against the argument: the branches of other families are
  -- not run, nor the CTEs only they read (such as the event log scan).
  JOIN @extschema@.dr_metric_families f ON f.metric = x.metric
 WHERE x.value IS NOT NULL
   AND (dr_metrics_rows.family IS NULL OR x.metric = dr_metrics_rows.family)
 ORDER BY f.metric, x.labels;
END
$fn$;
