-------------------------------------------------------------------------------
-- Metrics (amends extension/1.1/20_metrics.sql; the one 1.2 definition of
-- dr_metric_families and dr_metrics_rows):
--   - tensafe_dr_set_aside_events counts the journal entries the flush set
--     aside (25_event_validation.sql); the other event families count only
--     events that are in the log or pending;
--   - tensafe_dr_standby_connected: 1 for a standby streaming from this
--     node, 0 for one the primary remembers that is not connected
--     (15_standbys.sql);
--   - tensafe_dr_clock_offset_seconds, from dr_status().clock_offset
--     (12_clock.sql);
--   - tensafe_dr_node_loss_lag_seconds and tensafe_dr_region_loss_lag_seconds,
--     from dr_status() on a primary (12_clock.sql, src/lag/lag.c);
--   - the four tensafe_dr_sync_* families, from dr_sync_status() (absent on
--     a standby; 90_sync.sql);
--   - (issue 17) the WAL archive (tensafe_dr_archive_*, from dr_status()),
--     replication slots (tensafe_dr_slot_*, from dr_slots), overdue drills
--     and post-mortems due (primary), and tensafe_dr.backup_max_age, for
--     the shipped alert rules (94_archive_slots.sql, monitoring/alerts.yml).
--   - tensafe_dr_events_total and tensafe_dr_breaches_total read the
--     counters (dr_event_totals, 93_counters.sql) plus this node's pending
--     journal entries, not the whole log: a scrape costs the same whatever
--     the history (bench/metrics_scale.sh).
-------------------------------------------------------------------------------
CREATE OR REPLACE VIEW dr_metric_families (metric, metric_type, help) AS
VALUES
    ('tensafe_dr_in_recovery', 'gauge',
     '1 if this node is a standby (in recovery), 0 if it is a primary.'),
    ('tensafe_dr_rpo_lag_seconds', 'gauge',
     'Data a failover to this copy would lose: age of the oldest primary WAL not held durably here (on a primary, the judged copy: the best in another region when one exists, else the best anywhere).'),
    ('tensafe_dr_replay_lag_seconds', 'gauge',
     'Age of the oldest primary WAL not replayed here (on a primary, the judged copy, as for tensafe_dr_rpo_lag_seconds).'),
    ('tensafe_dr_node_loss_lag_seconds', 'gauge',
     'Primary: what losing this node would cost, the rpo_lag of the best copy anywhere (0 while a synchronous standby holds every acknowledged commit); absent on a standby and with no copy.'),
    ('tensafe_dr_region_loss_lag_seconds', 'gauge',
     'Primary: what losing this node''s whole region would cost, the rpo_lag of the best copy in another region; absent when there is none.'),
    ('tensafe_dr_rpo_target_seconds', 'gauge',
     'tensafe_dr.rpo_target: exposure at or above it is a warning.'),
    ('tensafe_dr_rpo_max_seconds', 'gauge',
     'tensafe_dr.rpo_max: exposure at or above it is a breach.'),
    ('tensafe_dr_rpo_state', 'gauge',
     'RPO state of this node, one series per state (ok, warning, breach, unknown): 1 for the current state, 0 for the others.'),
    ('tensafe_dr_clock_offset_seconds', 'gauge',
     'This standby''s clock minus the primary''s, estimated from the heartbeats (absent on a primary and while unknown); figures are corrected for it.'),
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
    ('tensafe_dr_set_aside_events', 'gauge',
     'Journal entries the flush could not put into the event log and set aside (dr_events shows them with set_aside_reason).'),
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
     'Webhook deliveries waiting to be delivered or retried, by channel.'),
    ('tensafe_dr_sync_waiting_backends', 'gauge',
     'Primary: backends waiting for a synchronous standby to confirm their commit, at the worker''s last sample.'),
    ('tensafe_dr_sync_stall_seconds', 'gauge',
     'Primary: how long the current wait for a synchronous standby has lasted (backends waiting and no standby confirming anything), 0 when none waits.'),
    ('tensafe_dr_sync_stalled', 'gauge',
     'Primary: 1 while commits are stalled on synchronous replication (a wait at least tensafe_dr.sync_stall_threshold old), else 0.'),
    ('tensafe_dr_sync_standbys_missing', 'gauge',
     'Primary: standbys named in synchronous_standby_names that are not streaming (counted while a wait is on or too few candidates stream).'),
    ('tensafe_dr_archive_lag_seconds', 'gauge',
     'Age of the oldest WAL this node''s archiver has not archived: what a loss of every node would cost (runbook Level 4); absent where unknown or there is no archive.'),
    ('tensafe_dr_archive_failing', 'gauge',
     '1 while this node''s WAL archiving fails (its newest attempt failed, or archiving is on but not configured), else 0; absent where this node does not archive.'),
    ('tensafe_dr_archive_failures_total', 'counter',
     'Failed WAL archive attempts on this node (pg_stat_archiver.failed_count); absent where this node does not archive.'),
    ('tensafe_dr_slot_retained_bytes', 'gauge',
     'WAL each replication slot of this node holds back, by slot (absent for a slot that reserves none).'),
    ('tensafe_dr_slot_status', 'gauge',
     'State of each replication slot of this node, one series per state (ok, retaining, unreserved, lost): 1 for the current state, 0 for the others.'),
    ('tensafe_dr_drill_overdue', 'gauge',
     'Primary: 1 for a drill kind that is overdue (runbook 6.1; never run counts as overdue), else 0, by kind.'),
    ('tensafe_dr_postmortems_due', 'gauge',
     'Primary: post-mortems not recorded written within 48 hours of their incident''s resolution (runbook 8.1; incidents resolved in the last 30 days).'),
    ('tensafe_dr_backup_max_age_seconds', 'gauge',
     'tensafe_dr.backup_max_age: a newest verified backup older than this is a warning.');
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
    -- only this node's journalled entries: the log's events are counted in
    -- dr_event_totals (93_counters.sql), not read on every scrape
    SELECT e.event_type, e.level, e.details, e.pending
      FROM @extschema@.dr_events e
     WHERE e.pending AND e.set_aside_reason IS NULL
), tot AS (
    SELECT coalesce(t.event_type, p.event_type) AS event_type,
           coalesce(t.events, 0) + coalesce(p.events, 0) AS events,
           coalesce(t.rto_breaches, 0) + coalesce(p.rto_breaches, 0) AS rto_breaches
      FROM @extschema@.dr_event_totals t
      FULL JOIN (SELECT ev.event_type, count(*) AS events,
                        count(*) FILTER (WHERE ev.event_type = 'DR_COMPLETE'
                                           AND ev.details->>'rto_state' = 'breach') AS rto_breaches
                   FROM ev GROUP BY ev.event_type) p ON p.event_type = t.event_type
), sb AS (
    SELECT coalesce(r.standby_name, '') AS standby,
           max(extract(epoch FROM r.rpo_lag)) AS rpo_lag,
           max(extract(epoch FROM r.replay_lag)) AS replay_lag,
           max(r.replay_lag_bytes) AS lag_bytes,
           max(CASE WHEN r.state = 'disconnected' THEN 0 ELSE 1 END) AS connected
      FROM @extschema@.dr_replicas r
     GROUP BY 1
), sy AS MATERIALIZED (
    SELECT * FROM @extschema@.dr_sync_status() WHERE sampled_at IS NOT NULL
), sl AS MATERIALIZED (
    SELECT * FROM @extschema@.dr_slots
), ch AS (
    SELECT c.name AS channel FROM @extschema@.dr_webhook_channels c
    UNION
    -- the outbox's channels by its (channel, status) index, one probe each
    SELECT n.channel FROM (
        WITH RECURSIVE oc (channel) AS (
            SELECT min(n1.channel) FROM @extschema@.dr_notifications n1
            UNION ALL
            SELECT (SELECT min(n2.channel) FROM @extschema@.dr_notifications n2
                     WHERE n2.channel > oc.channel)
              FROM oc WHERE oc.channel IS NOT NULL)
        SELECT oc.channel FROM oc WHERE oc.channel IS NOT NULL) n
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
    SELECT 'tensafe_dr_node_loss_lag_seconds', id.l, extract(epoch FROM s.node_loss_lag) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_region_loss_lag_seconds', id.l, extract(epoch FROM s.region_loss_lag) FROM s, id
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
    SELECT 'tensafe_dr_clock_offset_seconds', id.l, extract(epoch FROM s.clock_offset) FROM s, id
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
    SELECT 'tensafe_dr_events_total', id.l || jsonb_build_object('type', coalesce(tot.event_type, '')),
           tot.events
      FROM tot, id
    UNION ALL
    SELECT 'tensafe_dr_pending_events', id.l, s.pending_events FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_set_aside_events', id.l,
           (SELECT count(*) FROM @extschema@.dr_event_rejects) FROM id
    UNION ALL
    SELECT 'tensafe_dr_breaches_total', id.l || jsonb_build_object('objective', o.objective),
           coalesce((SELECT sum(CASE o.objective WHEN 'rpo' THEN tot.events ELSE tot.rto_breaches END)
                       FROM tot
                      WHERE o.objective = 'rto' OR tot.event_type = 'RPO_BREACH'), 0)
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
    UNION ALL
    SELECT 'tensafe_dr_sync_waiting_backends', id.l, sy.waiting_backends FROM sy, id
    UNION ALL
    SELECT 'tensafe_dr_sync_stall_seconds', id.l,
           coalesce(extract(epoch FROM clock_timestamp() - sy.waiting_since), 0) FROM sy, id
    UNION ALL
    SELECT 'tensafe_dr_sync_stalled', id.l, CASE WHEN sy.stalled THEN 1 ELSE 0 END FROM sy, id
    UNION ALL
    SELECT 'tensafe_dr_sync_standbys_missing', id.l, cardinality(sy.missing_standbys) FROM sy, id
    UNION ALL
    SELECT 'tensafe_dr_archive_lag_seconds', id.l, extract(epoch FROM s.archive_lag) FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_archive_failing', id.l,
           CASE WHEN s.archive_failed_count IS NULL THEN NULL
                WHEN s.archive_state = 'failing' THEN 1 ELSE 0 END
      FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_archive_failures_total', id.l, s.archive_failed_count FROM s, id
    UNION ALL
    SELECT 'tensafe_dr_slot_retained_bytes', id.l || jsonb_build_object('slot', sl.slot_name),
           sl.retained_bytes FROM sl, id
    UNION ALL
    SELECT 'tensafe_dr_slot_status', id.l || jsonb_build_object('slot', sl.slot_name, 'state', st),
           CASE WHEN sl.state = st THEN 1 ELSE 0 END
      FROM sl, id, unnest(ARRAY['ok', 'retaining', 'unreserved', 'lost']) st
    UNION ALL
    SELECT 'tensafe_dr_drill_overdue', id.l || jsonb_build_object('kind', d.kind),
           CASE WHEN d.overdue THEN 1 ELSE 0 END
      FROM @extschema@.dr_drill_schedule d, id, s
     WHERE NOT s.in_recovery
    UNION ALL
    SELECT 'tensafe_dr_postmortems_due', id.l,
           (SELECT count(*) FROM @extschema@.dr_postmortem_status p
             WHERE p.state = 'overdue' AND p.resolved_at > now() - interval '30 days')
      FROM s, id
     WHERE NOT s.in_recovery
    UNION ALL
    SELECT 'tensafe_dr_backup_max_age_seconds', id.l,
           (SELECT g.setting::double precision FROM pg_settings g
             WHERE g.name = 'tensafe_dr.backup_max_age')
      FROM id
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
