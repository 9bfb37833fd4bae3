-------------------------------------------------------------------------------
-- Event counters and retention (issue 21).
--
-- tensafe_dr_events_total and tensafe_dr_breaches_total were counted from
-- the whole event log on every scrape: dr_metrics() took 31 ms with an
-- empty log and over a second with a million events, and a pruned log
-- would have read as a counter reset.  Now:
--   - dr_event_counters keeps the counts.  A statement trigger on
--     dr_event_log (dr_count_events, the one owner) adds one row per event
--     type an INSERT recorded: dr_log_event(), the journal flush, the C
--     paths alike.  Only rows recorded by the inserting transaction count
--     (recorded_at = now(), as for the outbox trigger): rows put back by
--     pg_restore were counted where they were recorded and come back with
--     the dumped counters.  A standby receives the counters with the rows,
--     by replication.  Deleting events (retention) leaves the counts alone.
--   - the worker folds the rows of each type into one (dr_housekeep(),
--     every tensafe_dr.history_interval), so a reader sums a few rows;
--   - the update from 1.1 seeds the counts from the log as it is, so the
--     values a reader sees do not change.
--   - opt-in retention: tensafe_dr.event_retention and
--     tensafe_dr.outbox_retention (0: keep forever, the default) are pruned
--     by the worker (dr_housekeep()) in batches of at most 1000 rows per
--     step, each step its own short transaction.  Never pruned: events of
--     an open incident (and any event since the oldest open incident was
--     declared), events a drill report cites (those within a drill's
--     window), and, of the events flushed from a journal, any after one
--     that is kept (the journal's sequence stays gapless for the drills'
--     audit-continuity criterion).  Of the outbox only delivered rows go.
-------------------------------------------------------------------------------

CREATE TABLE dr_event_counters (
    event_type    text NOT NULL,
    events        bigint NOT NULL,
    rto_breaches  bigint NOT NULL DEFAULT 0,
    counted_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dr_event_counters IS
'Counts of the events ever recorded in dr_event_log, by type (rto_breaches: DR_COMPLETE events with rto_state breach); several rows of one type add up (the worker folds them). Kept when events are pruned; dumped.';
SELECT pg_catalog.pg_extension_config_dump('dr_event_counters', '');
REVOKE ALL ON dr_event_counters FROM PUBLIC;
GRANT SELECT ON dr_event_counters TO dr_monitor;

-- Seed from the log as it is (the update from 1.1; empty on a new install).
INSERT INTO dr_event_counters (event_type, events, rto_breaches)
SELECT e.event_type, count(*),
       count(*) FILTER (WHERE e.event_type = 'DR_COMPLETE' AND e.details->>'rto_state' = 'breach')
  FROM dr_event_log e
 GROUP BY e.event_type;

CREATE FUNCTION dr_count_events()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO @extschema@.dr_event_counters (event_type, events, rto_breaches)
    SELECT n.event_type, count(*),
           count(*) FILTER (WHERE n.event_type = 'DR_COMPLETE' AND n.details->>'rto_state' = 'breach')
      FROM new_events n
     WHERE n.recorded_at = now()
     GROUP BY n.event_type;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION dr_count_events() IS
'Trigger (statement, after INSERT on dr_event_log): add the events the statement recorded to dr_event_counters, by type; restored rows (recorded_at not now()) are not counted again.';
REVOKE ALL ON FUNCTION dr_count_events() FROM PUBLIC;

CREATE TRIGGER dr_event_log_count AFTER INSERT ON dr_event_log
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION dr_count_events();
COMMENT ON TRIGGER dr_event_log_count ON dr_event_log IS
'Counts the events each INSERT recorded into dr_event_counters (the counters of tensafe_dr_events_total and tensafe_dr_breaches_total).';

-- What the metrics read: one row per event type.
CREATE VIEW dr_event_totals AS
    SELECT c.event_type, sum(c.events)::bigint AS events,
           sum(c.rto_breaches)::bigint AS rto_breaches
      FROM dr_event_counters c
     GROUP BY c.event_type;
COMMENT ON VIEW dr_event_totals IS
'Events ever recorded in dr_event_log on this cluster, by type (rto_breaches: DR_COMPLETE past tensafe_dr.rto_max): counters that pruning does not lower.';
REVOKE ALL ON dr_event_totals FROM PUBLIC;
GRANT SELECT ON dr_event_totals TO dr_monitor;

-- Indexes the dashboards and the pruning read by.
CREATE INDEX dr_event_log_origin ON dr_event_log (origin_journal, origin_seq)
    WHERE origin_journal IS NOT NULL;
CREATE INDEX dr_outbox_channel_status ON dr_outbox (channel, status);
CREATE INDEX dr_outbox_delivered ON dr_outbox ((coalesce(delivered_at, created_at)))
    WHERE status = 'delivered';

-------------------------------------------------------------------------------
-- Worker: fold the counters, prune what retention allows.
-------------------------------------------------------------------------------
CREATE FUNCTION dr_housekeep(event_retention interval, outbox_retention interval,
    batch integer DEFAULT 1000,
    OUT events_pruned integer, OUT outbox_pruned integer, OUT counters_folded integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cutoff timestamptz;
BEGIN
    events_pruned := 0; outbox_pruned := 0; counters_folded := 0;

    -- fold the counters: one row per type
    IF (SELECT count(*) FROM @extschema@.dr_event_counters)
       > (SELECT count(DISTINCT event_type) FROM @extschema@.dr_event_counters) THEN
        WITH d AS (
            DELETE FROM @extschema@.dr_event_counters RETURNING *
        ), f AS (
            INSERT INTO @extschema@.dr_event_counters (event_type, events, rto_breaches, counted_at)
            SELECT d.event_type, sum(d.events), sum(d.rto_breaches), max(d.counted_at)
              FROM d GROUP BY d.event_type
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM d) - (SELECT count(*) FROM f) INTO counters_folded;
    END IF;

    IF event_retention IS NOT NULL AND event_retention > interval '0' THEN
        -- the events of open incidents, and any since the oldest was declared
        cutoff := least(now() - event_retention,
                        (SELECT min(i.declared_at) FROM @extschema@.dr_incidents i
                          WHERE i.resolved_at IS NULL));
        WITH open_inc AS (
            SELECT i.id FROM @extschema@.dr_incidents i WHERE i.resolved_at IS NULL
        ), victims AS (
            SELECT c.id FROM @extschema@.dr_event_log c
             WHERE c.occurred_at < cutoff
               AND (c.incident_id IS NULL OR c.incident_id NOT IN (SELECT id FROM open_inc))
               -- a drill report lists the events within the drill's window
               AND NOT EXISTS (SELECT 1 FROM @extschema@.dr_drills d
                                WHERE c.occurred_at BETWEEN d.started_at
                                                        AND coalesce(d.finished_at, 'infinity'))
               -- a journal's entries go in sequence: none after one that is kept
               AND (c.origin_journal IS NULL OR NOT EXISTS (
                      SELECT 1 FROM @extschema@.dr_event_log k
                       WHERE k.origin_journal = c.origin_journal
                         AND k.origin_seq < c.origin_seq
                         AND k.system_identifier IS NOT DISTINCT FROM c.system_identifier
                         AND (k.occurred_at >= cutoff
                              OR k.incident_id IN (SELECT id FROM open_inc)
                              OR EXISTS (SELECT 1 FROM @extschema@.dr_drills d
                                          WHERE k.occurred_at BETWEEN d.started_at
                                                                  AND coalesce(d.finished_at, 'infinity')))))
             ORDER BY c.occurred_at
             LIMIT batch
               FOR UPDATE OF c SKIP LOCKED
        )
        DELETE FROM @extschema@.dr_event_log e USING victims v WHERE e.id = v.id;
        GET DIAGNOSTICS events_pruned = ROW_COUNT;
    END IF;

    IF outbox_retention IS NOT NULL AND outbox_retention > interval '0' THEN
        WITH victims AS (
            SELECT o.id FROM @extschema@.dr_outbox o
             WHERE o.status = 'delivered'
               AND coalesce(o.delivered_at, o.created_at) < now() - outbox_retention
             ORDER BY coalesce(o.delivered_at, o.created_at)
             LIMIT batch
               FOR UPDATE OF o SKIP LOCKED
        )
        DELETE FROM @extschema@.dr_outbox o USING victims v WHERE o.id = v.id;
        GET DIAGNOSTICS outbox_pruned = ROW_COUNT;
    END IF;
END
$fn$;
COMMENT ON FUNCTION dr_housekeep(interval, interval, integer) IS
'Internal (worker): fold dr_event_counters to one row per type, then delete at most batch events older than event_retention (never those of an open incident or since the oldest open one was declared, those within a drill''s window, nor journal entries after a kept one) and at most batch delivered outbox rows older than outbox_retention; 0 or NULL keeps forever.';
REVOKE ALL ON FUNCTION dr_housekeep(interval, interval, integer) FROM PUBLIC;
