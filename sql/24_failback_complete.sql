-- The end of a failback (issue 15 item 7): dr_failback_complete() records
-- DR_FAILBACK_COMPLETE with the figures the log gives, leaves the incident's
-- RTO alone, and refuses what would make the record untrue.  (On the real
-- two-region failback, with the fence and the promotion of region A's node:
-- test/t/032_two_region.pl.)
\set SHOW_CONTEXT never
\set VERBOSITY terse

-- Who may call it: dr_operator, not dr_monitor, not PUBLIC.
CREATE ROLE regress_fb_watch IN ROLE dr_monitor;
CREATE ROLE regress_fb_op IN ROLE dr_operator;
CREATE ROLE regress_fb_nobody;
SELECT has_function_privilege('regress_fb_nobody', 'dr_failback_complete(text, bigint)', 'EXECUTE') AS public_may,
       has_function_privilege('regress_fb_watch', 'dr_failback_complete(text, bigint)', 'EXECUTE') AS monitor_may,
       has_function_privilege('regress_fb_op', 'dr_failback_complete(text, bigint)', 'EXECUTE') AS operator_may;
-- the event type is the system's: nobody records it by hand
SELECT dr_record_event('DR_FAILBACK_COMPLETE', '{}');
\echo :SQLSTATE

-- A regional incident not yet resolved: the failover is resolved first.
SELECT dr_declare(3, 'region us-east-1 lost', clock_timestamp() - interval '30 minutes') AS inc \gset
SELECT dr_failback_complete(NULL, :inc);
\echo :SQLSTATE
SELECT rto_state FROM dr_resolve(:inc, 'failed over to us-west-2');
SELECT rto AS rto_before FROM dr_incidents WHERE id = :inc \gset

-- Bad input: an unknown incident, an empty or huge summary.
SELECT dr_failback_complete(NULL, -1);
\echo :SQLSTATE
SELECT dr_failback_complete('   ', :inc);
\echo :SQLSTATE
SELECT dr_failback_complete(repeat('x', 2001), :inc);
\echo :SQLSTATE

-- A fenced node does not write: its failback is not complete.
SELECT dr_fence('regress failback');
SELECT dr_failback_complete(NULL, :inc);
\echo :SQLSTATE
SELECT dr_unfence();

-- The DR primary's log, as it comes across to this node before its
-- promotion: the maintenance notice, the DR primary's fence, then this
-- node's promotion 0.25 s later.  (Rows written as the DR primary and the
-- worker would; only the times are chosen, in the past when the call runs.)
SELECT dr_record_event('MAINTENANCE_NOTICE', '{"summary": "Failback to primary region. Expected duration: 15 minutes."}') IS NOT NULL AS notice;
INSERT INTO dr_event_log (occurred_at, event_type, level, node_name, region, system_identifier, timeline,
                          actor, successful, details)
SELECT clock_timestamp(), 'FENCED', NULL, 'regress_dr_b1', 'us-west-2', f.system_identifier, f.timeline,
       'postgres', true, '{"reason": "failback"}'
  FROM dr_node_facts() f;
INSERT INTO dr_event_log (occurred_at, event_type, level, node_name, region, system_identifier, timeline,
                          actor, successful, details)
SELECT e.occurred_at + interval '0.25 s', 'PROMOTION_DETECTED', NULL, f.node_name, f.region, f.system_identifier,
       f.timeline, 'tensafe_dr worker', true, '{}'
  FROM dr_node_facts() f, dr_event_log e
 WHERE e.event_type = 'FENCED' AND e.node_name = 'regress_dr_b1';
SELECT pg_sleep(0.3);

-- As the operator: the incident by default (the newest resolved one of
-- level >= 3), its figures from the log.
SET ROLE regress_fb_op;
SELECT dr_failback_complete('Failback to us-east-1 complete.') IS NOT NULL AS recorded;
RESET ROLE;
SELECT incident_id = :inc AS for_the_incident, level, successful,
       details->>'summary' AS summary,
       (details->>'incident')::bigint = :inc AS cites_incident,
       details->>'fenced_node' AS fenced_node,
       details->>'write_pause_seconds' AS write_pause_seconds,
       (details->>'maintenance_notice_at')::timestamptz <= (details->>'fenced_at')::timestamptz AS notice_before_fence,
       (details->>'incident_rto_seconds')::numeric = round(extract(epoch FROM :'rto_before'::interval), 3) AS cites_rto
  FROM dr_event_log WHERE event_type = 'DR_FAILBACK_COMPLETE';
SELECT rto = :'rto_before'::interval AS rto_unchanged, rto_state FROM dr_incidents WHERE id = :inc;

-- Its notification has its own template (runbook 3.2: not the 5.3 notice).
SELECT b->>'subject' AS subject, b->>'text' LIKE E'Failback complete: writes are served from % again.\n%' AS body
  FROM dr_event_log e, dr_notification_body(to_jsonb(e), 'regress', 'k') b
 WHERE e.event_type = 'DR_FAILBACK_COMPLETE';

-- Once per incident, and once per promotion of this node.
SELECT dr_failback_complete(NULL, :inc);
\echo :SQLSTATE
SELECT dr_failback_complete();
\echo :SQLSTATE
SELECT count(*) AS failback_events FROM dr_event_log WHERE event_type = 'DR_FAILBACK_COMPLETE';

-- A later planned switchover back to this node (promoted again, no
-- regional incident since): recorded without an incident, and without the
-- earlier failback's fence and notice.
INSERT INTO dr_event_log (occurred_at, event_type, level, node_name, region, system_identifier, timeline,
                          actor, successful, details)
SELECT clock_timestamp(), 'PROMOTION_DETECTED', NULL, f.node_name, f.region, f.system_identifier,
       f.timeline, 'tensafe_dr worker', true, '{}'
  FROM dr_node_facts() f;
SELECT dr_failback_complete('planned switchover back') IS NOT NULL AS recorded_alone;
SELECT details->'incident' AS incident, details->'fenced_node' AS fenced_node,
       details->'write_pause_seconds' AS write_pause, details->'maintenance_notice_at' AS notice,
       details->>'promoted_at' IS NOT NULL AS promotion_cited
  FROM dr_event_log WHERE event_type = 'DR_FAILBACK_COMPLETE' ORDER BY id DESC LIMIT 1;

-- Without an incident and without a promotion of this node in the log
-- (the synthetic ones taken away): nothing to record yet.
DELETE FROM dr_event_log WHERE event_type = 'PROMOTION_DETECTED' AND actor = 'tensafe_dr worker'
   AND details = '{}' AND node_name = (SELECT node_name FROM dr_node_facts());
SELECT dr_failback_complete('nothing promoted');
\echo :SQLSTATE
SELECT count(*) AS failback_events FROM dr_event_log WHERE event_type = 'DR_FAILBACK_COMPLETE';

DROP ROLE regress_fb_watch, regress_fb_op, regress_fb_nobody;
