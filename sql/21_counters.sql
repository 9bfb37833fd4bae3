-- Event counters and retention (issue 21): the counters count what is
-- recorded (dr_record_event, direct inserts) and not rows put back by a
-- restore (recorded_at not now()); dr_housekeep() folds them and prunes past
-- the retention, keeping events of open incidents, events within a drill's
-- window and journal entries after a kept one; the counters do not go down
-- with the pruned events; bad retention values are refused.
\set SHOW_CONTEXT never

-- Nothing of these types yet.
SELECT count(*) AS none FROM dr_event_totals WHERE event_type LIKE 'OPS_CT_%';

SELECT dr_record_event('OPS_CT_A') IS NOT NULL AS recorded;
SELECT dr_record_event('OPS_CT_A') IS NOT NULL AS recorded;
SELECT dr_record_event('OPS_CT_B') IS NOT NULL AS recorded;
-- one statement, three events
INSERT INTO dr_event_log (event_type, occurred_at)
SELECT 'OPS_CT_A', now() - make_interval(days => 10 + g) FROM generate_series(1, 3) g;
-- a restored row (recorded_at of another transaction): not counted again
INSERT INTO dr_event_log (event_type, occurred_at, recorded_at)
VALUES ('OPS_CT_A', now() - interval '10 days', now() - interval '10 days');
-- an RTO breach
INSERT INTO dr_event_log (event_type, occurred_at, details)
VALUES ('DR_COMPLETE', now() - interval '20 days', '{"rto_state": "breach"}');

SELECT event_type, events FROM dr_event_totals WHERE event_type LIKE 'OPS_CT_%' ORDER BY 1;
-- the metric reads the counters
SELECT labels->>'type' AS type, value FROM dr_metrics_rows('tensafe_dr_events_total')
 WHERE labels->>'type' LIKE 'OPS_CT_%' ORDER BY 1;
SELECT value >= 1 AS rto_breach_counted FROM dr_metrics_rows('tensafe_dr_breaches_total')
 WHERE labels->>'objective' = 'rto';

-- What retention must keep: an old event of an open incident, one within
-- a drill's window, a journal entry after that one.
INSERT INTO dr_incidents (level, summary, declared_by, declared_at)
VALUES (1, 'regress open incident', 'regress', now());
INSERT INTO dr_event_log (event_type, occurred_at, incident_id)
SELECT 'OPS_CT_INCIDENT', now() - interval '30 days', max(id) FROM dr_incidents;
INSERT INTO dr_drills (kind, started_by, started_at, finished_at)
VALUES ('tabletop', 'regress', now() - interval '40 days', now() - interval '39 days');
INSERT INTO dr_event_log (event_type, occurred_at, system_identifier, origin_journal, origin_seq)
VALUES ('OPS_CT_DRILL', now() - interval '39 days 12 hours', 1, 'regress-journal', 1),
       ('OPS_CT_AFTER', now() - interval '35 days', 1, 'regress-journal', 2),
       ('OPS_CT_OTHER', now() - interval '35 days', 1, 'regress-journal-2', 1);

CREATE TEMP TABLE before AS
SELECT labels->>'type' AS type, value FROM dr_metrics_rows('tensafe_dr_events_total')
UNION ALL
SELECT 'breaches:' || (labels->>'objective'), value FROM dr_metrics_rows('tensafe_dr_breaches_total');

-- Retention off: nothing pruned, counters folded to one row per type.
SELECT events_pruned, outbox_pruned FROM dr_housekeep(interval '0', NULL);
SELECT count(*) AS rows_per_type FROM dr_event_counters WHERE event_type = 'OPS_CT_A';

-- Retention 7 days, in batches of 2: the old events go, two per call.
SELECT events_pruned FROM dr_housekeep(interval '7 days', NULL, 2);
-- (the earlier tests' old events go too: call until a batch is not full)
DO $$
BEGIN
    FOR i IN 1 .. 1000 LOOP
        EXIT WHEN (SELECT events_pruned FROM dr_housekeep(interval '7 days', NULL, 2)) < 2;
    END LOOP;
END
$$;
SELECT events_pruned AS nothing_more FROM dr_housekeep(interval '7 days', NULL, 2);
SELECT event_type, origin_seq FROM dr_event_log
 WHERE event_type LIKE 'OPS_CT_%' OR (event_type = 'DR_COMPLETE' AND occurred_at < now() - interval '7 days')
 ORDER BY 1;
-- the counters did not go down
SELECT m.type, m.value AS after, b.value AS before
  FROM (SELECT labels->>'type' AS type, value FROM dr_metrics_rows('tensafe_dr_events_total')
        UNION ALL
        SELECT 'breaches:' || (labels->>'objective'), value FROM dr_metrics_rows('tensafe_dr_breaches_total')) m
  RIGHT JOIN before b USING (type)
 WHERE m.value IS NULL OR m.value < b.value;
SELECT event_type, events FROM dr_event_totals WHERE event_type LIKE 'OPS_CT_%' ORDER BY 1;

-- Once the incident is resolved and the drill forgotten, they go too.
UPDATE dr_incidents SET resolved_at = now() WHERE summary = 'regress open incident';
DELETE FROM dr_drills WHERE started_by = 'regress';
SELECT events_pruned FROM dr_housekeep(interval '7 days', NULL);
SELECT count(*) AS left_over FROM dr_event_log WHERE event_type LIKE 'OPS_CT_%';

-- The outbox: delivered rows past the retention go, pending and failed stay.
INSERT INTO dr_outbox (channel, event_type, idempotency_key, body, status, delivered_at, created_at)
VALUES ('regress-ch', 'OPS_CT_A', 'regress-k1', '{}', 'delivered', now() - interval '9 days', now() - interval '9 days'),
       ('regress-ch', 'OPS_CT_A', 'regress-k2', '{}', 'delivered', now() - interval '1 day', now() - interval '1 day'),
       ('regress-ch', 'OPS_CT_A', 'regress-k3', '{}', 'failed', NULL, now() - interval '9 days');
SELECT outbox_pruned FROM dr_housekeep(NULL, interval '7 days');
SELECT idempotency_key, status FROM dr_outbox WHERE channel = 'regress-ch' ORDER BY 1;
DELETE FROM dr_outbox WHERE channel = 'regress-ch';

-- The GUCs: off by default, durations, refused below an hour or negative.
SHOW tensafe_dr.event_retention;
SHOW tensafe_dr.outbox_retention;
ALTER SYSTEM SET tensafe_dr.event_retention = '10min';
ALTER SYSTEM SET tensafe_dr.event_retention = '-1';
ALTER SYSTEM SET tensafe_dr.outbox_retention = 'forever';
ALTER SYSTEM SET tensafe_dr.outbox_retention = '3 fortnights';
SET tensafe_dr.event_retention = '90d';
ALTER SYSTEM SET tensafe_dr.event_retention = '90d';
ALTER SYSTEM RESET tensafe_dr.event_retention;

-- A reader needs nothing more than dr_monitor.
CREATE ROLE regress_ct_watch IN ROLE dr_monitor;
SET ROLE regress_ct_watch;
SELECT count(*) > 0 AS reads_totals FROM dr_event_totals;
SELECT count(*) > 0 AS reads_metric FROM dr_metrics_rows('tensafe_dr_events_total');
SELECT dr_housekeep(NULL, NULL);
RESET ROLE;
DROP ROLE regress_ct_watch;
