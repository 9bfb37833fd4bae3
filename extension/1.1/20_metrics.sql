-------------------------------------------------------------------------------
-- Metrics (issue 7): Prometheus text exposition of the DR figures.
--
-- One source of truth, two ways out:
--   dr_metric_families   the families: name, type, HELP text (a view)
--   dr_metrics_rows()    every sample (or one family's) as a row: metric,
--                        type, help, labels (jsonb), value -- what
--                        prometheus-postgres-exporter reads through
--                        monitoring/postgres_exporter_queries.yaml
--   dr_metrics()         the same rows as text exposition format 0.0.4
--
-- Every sample carries node and region (this node's, from dr_status()); the
-- per-standby families add standby, the others state / level / objective /
-- type / channel.  Label values are escaped per the format (backslash,
-- double quote, newline) in dr_metrics(); the exporter escapes its own.
-- Counters are counts over the event log (and the outbox) as this node sees
-- it: they go down if rows are deleted, which Prometheus takes for a reset.
--
-- Everything runs as the caller (no SECURITY DEFINER): what it reads --
-- dr_status(), dr_replicas, dr_events, dr_incidents, dr_backups,
-- dr_notifications, dr_webhook_channels -- is all readable by dr_monitor,
-- and none of it holds a webhook URL or secret.  Works on a standby: it only
-- reads, and dr_events adds the journal's unflushed entries.
-------------------------------------------------------------------------------
CREATE VIEW dr_metric_families (metric, metric_type, help) AS
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
COMMENT ON VIEW dr_metric_families IS
'The metric families of dr_metrics() and dr_metrics_rows(): name, Prometheus type and HELP text.';

CREATE FUNCTION dr_metrics_rows(
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
           max(r.replay_lag_bytes) AS lag_bytes
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
COMMENT ON FUNCTION dr_metrics_rows(text) IS
'Every sample of dr_metrics() as a row (metric, metric_type, help, labels jsonb, value), or those of one family: the source of both dr_metrics() and the prometheus-postgres-exporter queries.';

CREATE FUNCTION dr_metrics()
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH r AS MATERIALIZED (
    SELECT m.*, row_number() OVER (ORDER BY m.metric, m.labels) AS n
      FROM @extschema@.dr_metrics_rows() m
), lines AS (
    -- HELP and TYPE once per family, before its first sample
    SELECT r.n, 0 AS part,
           format(E'# HELP %s %s\n# TYPE %s %s\n', r.metric,
                  replace(replace(r.help, E'\\', E'\\\\'), E'\n', E'\\n'),
                  r.metric, r.metric_type) AS line
      FROM r
     WHERE r.n = (SELECT min(r2.n) FROM r r2 WHERE r2.metric = r.metric)
    UNION ALL
    SELECT r.n, 1,
           r.metric
           || coalesce('{' || (
                  SELECT string_agg(format('%s="%s"', l.key,
                             replace(replace(replace(l.value, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')),
                         ',' ORDER BY CASE l.key WHEN 'node' THEN 0 WHEN 'region' THEN 1 ELSE 2 END, l.key)
                    FROM jsonb_each_text(r.labels) l) || '}', '')
           || ' '
           || CASE r.value::text WHEN 'Infinity' THEN '+Inf' WHEN '-Infinity' THEN '-Inf'
                                 ELSE r.value::text END
           || E'\n'
      FROM r
)
SELECT coalesce(string_agg(line, '' ORDER BY n, part), '') FROM lines
$fn$;
COMMENT ON FUNCTION dr_metrics() IS
'This node''s DR metrics in Prometheus text exposition format 0.0.4 (serve it as text/plain; version=0.0.4): the rows of dr_metrics_rows() with HELP and TYPE per family and label values escaped.';

REVOKE ALL ON dr_metric_families FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_metrics_rows(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_metrics() FROM PUBLIC;
GRANT SELECT ON dr_metric_families TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_metrics_rows(text) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_metrics() TO dr_monitor;
