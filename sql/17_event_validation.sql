-- Event validation on a lone primary: reserved event types refused (42501)
-- for every role that may record events, bad details refused when recorded
-- (22023), a journal entry the flush cannot take set aside without holding
-- up the entries after it, a sequence number reused with another payload set
-- aside, and a drill not passed by a forged promotion.
\set SHOW_CONTEXT never
CREATE ROLE regress_ev_op IN ROLE dr_operator;
CREATE ROLE regress_ev_admin IN ROLE dr_admin;
CREATE ROLE regress_ev_watch IN ROLE dr_monitor;

-- Every type the extension's SQL records through dr_log_event(), and the
-- ones its C code journals, are reserved.
SELECT t AS not_reserved
  FROM (SELECT DISTINCT m[1] AS t
          FROM pg_proc p
          JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'tensafe_dr',
               regexp_matches(p.prosrc, 'dr_log_event\(\s*''([A-Za-z_.:-]+)''', 'g') m
        UNION
        SELECT unnest(ARRAY['PROMOTE_CHECK', 'PROMOTION_DETECTED', 'RPO_WARNING', 'RPO_BREACH',
                            'RPO_RECOVERED', 'RPO_UNKNOWN', 'JOURNAL_CORRUPT', 'WEBHOOK_TEST',
                            'ARCHIVE_FAILING', 'ARCHIVE_RECOVERED', 'SLOT_RETAINING',
                            'SLOT_LOST', 'SLOT_RECOVERED'])) s
 WHERE NOT dr_event_type_is_reserved(t);
SELECT count(DISTINCT m[1]) >= 15 AS found_the_sql_writers
  FROM pg_proc p, regexp_matches(p.prosrc, 'dr_log_event\(\s*''([A-Za-z_.:-]+)''', 'g') m;
SELECT t, dr_event_type_is_reserved(t) AS reserved
  FROM unnest(ARRAY['DR_INITIATED', 'promoted', 'Promotion_Detected', 'RPO_BREACH', 'ESCALATED',
                    'JOURNAL_CORRUPT', 'DRILL_FINISHED', 'DRILL_VERIFIED', 'OPS_NOTE',
                    'patroni.on_role_change', 'DRX', 'RPOX']) t;

-- Reserved types refused with 42501, for every role that may record events.
SET ROLE regress_ev_op;
SELECT dr_record_event('DR_INITIATED', '{"level": "x"}');
\echo :SQLSTATE
SELECT dr_record_event('PROMOTED', '{"possible_loss_s": 0}');
\echo :SQLSTATE
SELECT dr_record_event('promotion_detected', '{}');
\echo :SQLSTATE
SELECT dr_record_event('RPO_BREACH', '{"rpo_lag_s": 0}');
\echo :SQLSTATE
SELECT dr_record_event('ESCALATED', '{}');
\echo :SQLSTATE
SELECT dr_record_event('JOURNAL_CORRUPT', '{}');
\echo :SQLSTATE
SELECT dr_record_event('OPS_NOTE', '{"level": "x"}') IS NOT NULL AS own_type_recorded;
SELECT dr_record_event('OPS_NOTE', '{}', 9);
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_ev_admin;
SELECT dr_record_event('DR_INITIATED', '{"level": 9}');
\echo :SQLSTATE
SELECT dr_record_event('PROMOTED', '{}');
\echo :SQLSTATE
SELECT dr_record_event('DRILL_VERIFIED', '{"drill": 1}') IS NOT NULL AS own_type_recorded;
RESET ROLE;
-- the superuser through dr_record_event too
SELECT dr_record_event('DR_COMPLETE', '{}');
\echo :SQLSTATE
-- dr_monitor may not record at all
SET ROLE regress_ev_watch;
SELECT dr_record_event('OPS_NOTE', '{}');
\echo :SQLSTATE
SELECT dr_event_type_is_reserved('PROMOTED') AS monitor_may_ask;
RESET ROLE;
-- the lower-level writers are nobody's but the owner's
SET ROLE regress_ev_op;
SELECT dr_log_event('PROMOTED', '{}', NULL, true);
\echo :SQLSTATE
SELECT dr_journal_record(now(), 'PROMOTED', NULL, true, 'me', '{}', NULL);
\echo :SQLSTATE
SELECT dr_journal_append('{"event_type": "PROMOTED"}');
\echo :SQLSTATE
SELECT dr_journal_flush();
\echo :SQLSTATE
SELECT count(*) FROM dr_event_rejects;
RESET ROLE;
SELECT count(*) AS reserved_recorded FROM dr_event_log
 WHERE actor LIKE 'regress_ev_%' AND dr_event_type_is_reserved(event_type);

-- Details are checked when the event is recorded, by every path of the
-- system too (dr_log_event), on a writable node and into the journal.
SELECT dr_log_event('DR_INITIATED', '{"level": "x"}', NULL, true);
\echo :SQLSTATE
SELECT dr_log_event('DR_INITIATED', '{"level": 9}', NULL, true);
\echo :SQLSTATE
SELECT dr_log_event('DR_INITIATED', '{"level": 2.5}', NULL, true);
\echo :SQLSTATE
SELECT dr_log_event('DR_INITIATED', '{"summary": 5}', NULL, true);
\echo :SQLSTATE
SELECT dr_log_event('DR_INITIATED', jsonb_build_object('summary', repeat('s', 2001)), NULL, true);
\echo :SQLSTATE
SELECT dr_log_event('OPS_NOTE', '{}', 0, true);
\echo :SQLSTATE
SELECT dr_log_event('OPS_NOTE', '[1]', NULL, true);
\echo :SQLSTATE
SELECT max(seq) AS seq_before FROM dr_journal_entries() \gset
BEGIN READ ONLY;
SELECT dr_log_event('DR_INITIATED', '{"level": "x"}', NULL, true);
\echo :SQLSTATE
ROLLBACK;
SELECT count(*) AS journalled_anyway FROM dr_journal_entries() WHERE seq > :seq_before;
SELECT dr_event_details_problem('DR_INITIATED', '{"level": 3, "summary": "ok"}', 3) IS NULL AS good_declaration;

-- A journal entry written by older rules (1.1's dr_log_event built the
-- payload in SQL and journalled it with dr_journal_append; nothing
-- checked the details) is set aside by the flush, with the reason; the
-- entry after it reaches the table.
SELECT dr_journal_append(jsonb_build_object(
         'occurred_at', clock_timestamp(), 'event_type', 'DR_INITIATED', 'level', NULL,
         'node_name', 'regress', 'region', NULL,
         'system_identifier', (SELECT system_identifier FROM pg_control_system()),
         'timeline', 1, 'actor', 'regress_ev_op', 'successful', true,
         'details', '{"level": "x", "summary": "forged under 1.1"}'::jsonb, 'incident_id', NULL)) AS bad_seq \gset
SELECT dr_journal_append(jsonb_build_object(
         'occurred_at', 'not a time', 'event_type', 'OPS_BROKEN',
         'system_identifier', (SELECT system_identifier FROM pg_control_system()),
         'timeline', 'one', 'level', 7, 'details', '{}'::jsonb)) AS broken_seq \gset
SELECT dr_record_event('AFTER_BAD', '{}') IS NOT NULL AS recorded_in_table;
BEGIN READ ONLY;
SELECT dr_record_event('AFTER_BAD_JOURNALLED', '{"n": 1}') IS NULL AS journalled;
COMMIT;
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM dr_event_log WHERE event_type = 'AFTER_BAD_JOURNALLED');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT event_type, pending, set_aside_reason FROM dr_events
 WHERE event_type IN ('DR_INITIATED', 'AFTER_BAD_JOURNALLED', 'OPS_BROKEN')
   AND (set_aside_reason IS NOT NULL OR event_type <> 'DR_INITIATED')
 ORDER BY event_type;
SELECT origin_seq = :bad_seq AS bad, event_type, level, details->>'summary' AS summary, payload IS NOT NULL AS kept
  FROM dr_event_rejects WHERE origin_seq = :bad_seq;
SELECT occurred_at, event_type, level, timeline, system_identifier IS NOT NULL AS sysid
  FROM dr_event_rejects WHERE origin_seq = :broken_seq;
SELECT count(*) AS incidents_from_forged FROM dr_incidents WHERE summary = 'forged under 1.1';
SELECT count(*) AS still_pending FROM dr_events WHERE pending;
SELECT labels ? 'node' AS labelled, value FROM dr_metrics_rows('tensafe_dr_set_aside_events');
SELECT dr_metrics() ~ '\ntensafe_dr_set_aside_events\{[^}]*\} 2\n' AS exposed;
SELECT count(*) AS set_aside_not_counted_as_events FROM dr_metrics_rows('tensafe_dr_events_total')
 WHERE labels->>'type' = 'OPS_BROKEN';
-- a second flush does not set them aside twice
SELECT inserted FROM dr_journal_flush();
SELECT count(*) FROM dr_event_rejects;

-- A sequence number reused with a different payload: the row already in the
-- table stays, the entry is set aside (and a WARNING logged), not skipped.
BEGIN;
SELECT (SELECT max(seq) + 1 FROM dr_journal_entries()) AS reused_seq,
       (SELECT DISTINCT journal_id FROM dr_journal_entries()) AS journal_id \gset
INSERT INTO dr_event_log (event_type, system_identifier, origin_journal, origin_seq, details)
VALUES ('OPS_FIRST', (SELECT system_identifier FROM pg_control_system()), :'journal_id', :reused_seq,
        '{"first": true}');
SELECT dr_journal_append(jsonb_build_object(
         'occurred_at', clock_timestamp(), 'event_type', 'OPS_SECOND',
         'system_identifier', (SELECT system_identifier FROM pg_control_system()),
         'timeline', 1, 'successful', true, 'details', '{"second": true}'::jsonb)) = :reused_seq AS same_seq;
COMMIT;
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM dr_event_rejects WHERE event_type = 'OPS_SECOND');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT event_type, details, pending, set_aside_reason FROM dr_events
 WHERE event_type IN ('OPS_FIRST', 'OPS_SECOND') ORDER BY event_type;

-- A drill with no failover is not passed by a promotion recorded by hand:
-- the operator cannot record one, and one forged before 1.2 (on the
-- drill's own timeline) is not taken for a failover.
SET ROLE regress_ev_op;
SELECT dr_drill_start('database_failover') AS drill \gset
SELECT dr_record_event('PROMOTED', '{"possible_loss_s": 0}');
\echo :SQLSTATE
RESET ROLE;
INSERT INTO dr_event_log (event_type, actor, details, timeline, system_identifier)
SELECT 'PROMOTED', 'regress_ev_op', '{"possible_loss_s": 0, "timeline_after": 1}', s.timeline, s.system_identifier
  FROM dr_node_facts() s;
SET ROLE regress_ev_op;
SELECT criterion, measured, passed FROM dr_drill_finish(:drill, true, 0, false)
 WHERE criterion IN ('failover completed within RTO', 'data loss within RPO', 'audit logs continuous');
RESET ROLE;

DROP ROLE regress_ev_op, regress_ev_admin, regress_ev_watch;
