-------------------------------------------------------------------------------
-- DR drills (runbook 6): a ledger with the runbook's schedule, each finished
-- drill judged on the 6.3 success criteria -- from measured data where the
-- database can measure it, from the operator where it cannot.
-------------------------------------------------------------------------------
CREATE TABLE dr_drill_kinds (
    kind        text PRIMARY KEY,
    frequency   interval NOT NULL,
    duration    interval NOT NULL,
    impact      text NOT NULL,
    needs_failover boolean NOT NULL
);
INSERT INTO dr_drill_kinds VALUES
    ('tabletop',           '1 month',  '2 hours',  'None', false),
    ('component_failover', '7 days',   '30 min',   'None', false),
    ('database_failover',  '1 month',  '1 hour',   'Degraded', true),
    ('full_dr',            '3 months', '4 hours',  'Planned maintenance', true);
COMMENT ON TABLE dr_drill_kinds IS
'Drill kinds and frequencies of runbook 6.1; editable (the schedule follows).';

CREATE TABLE dr_drills (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL REFERENCES dr_drill_kinds (kind),
    notes         text,
    started_by    text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    passed        boolean,
    results       jsonb
);
COMMENT ON TABLE dr_drills IS
'DR drills run: kind, when, by whom, and the judged 6.3 criteria (results).';

SELECT pg_catalog.pg_extension_config_dump('dr_drill_kinds', '');
SELECT pg_catalog.pg_extension_config_dump('dr_drills', '');
SELECT pg_catalog.pg_extension_config_dump('dr_drills_id_seq', '');

CREATE VIEW dr_drill_schedule AS
    SELECT k.kind, k.frequency, k.duration, k.impact,
           last.finished_at AS last_run, last.passed AS last_passed,
           coalesce(last.finished_at + k.frequency, now()) AS next_due,
           coalesce(last.finished_at + k.frequency < now(), true) AS overdue
      FROM dr_drill_kinds k
      LEFT JOIN LATERAL (SELECT d.finished_at, d.passed FROM dr_drills d
                          WHERE d.kind = k.kind AND d.finished_at IS NOT NULL
                          ORDER BY d.finished_at DESC LIMIT 1) last ON true;
COMMENT ON VIEW dr_drill_schedule IS
'Per drill kind: last run, next due, overdue (never run counts as overdue).';

CREATE FUNCTION dr_drill_start(kind text, notes text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    d bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.dr_drill_kinds k WHERE k.kind = dr_drill_start.kind) THEN
        RAISE EXCEPTION 'unknown drill kind: %', coalesce(quote_literal(kind), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Kinds are listed in dr_drill_kinds: tabletop, component_failover, database_failover, full_dr.';
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        RAISE EXCEPTION 'a drill is started on a writable primary'
            USING ERRCODE = 'read_only_sql_transaction';
    END IF;
    INSERT INTO @extschema@.dr_drills (kind, notes, started_by, started_at)
    VALUES (kind, notes, @extschema@.dr_caller(), clock_timestamp())
    RETURNING id INTO d;
    PERFORM @extschema@.dr_log_event('DRILL_STARTED',
        jsonb_build_object('drill', d, 'kind', kind, 'notes', notes), NULL, true);
    RETURN d;
END
$fn$;
COMMENT ON FUNCTION dr_drill_start(text, text) IS
'Start a DR drill of a runbook 6.1 kind; records DRILL_STARTED and returns the drill id.';

-- The 6.3 criteria of a drill, judged over [started_at, until].
CREATE FUNCTION dr_drill_judge(drill bigint, until timestamptz,
    endpoints_ok boolean, error_rate numeric, corruption_found boolean)
RETURNS TABLE (criterion text, measured text, target text, passed boolean, source text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    d record;
    k record;
    promo record;
    rto_target interval := @extschema@.dr_objective('rto_target');
    rpo_target interval := @extschema@.dr_objective('rpo_target');
    loss numeric;
    holes bigint;
    pending bigint;
    newest record;
    max_age interval;
BEGIN
    SELECT * INTO d FROM @extschema@.dr_drills WHERE id = drill;
    SELECT * INTO k FROM @extschema@.dr_drill_kinds WHERE dr_drill_kinds.kind = d.kind;

    -- first promotion of the drill, whoever did it
    SELECT e.occurred_at, e.details INTO promo FROM @extschema@.dr_events e
     WHERE e.event_type IN ('PROMOTED', 'PROMOTION_DETECTED')
       AND e.occurred_at BETWEEN d.started_at AND until
     ORDER BY e.occurred_at LIMIT 1;

    -- 1. Failover completed within RTO
    criterion := 'failover completed within RTO'; target := rto_target::text; source := 'measured';
    IF promo.occurred_at IS NOT NULL THEN
        measured := (promo.occurred_at - d.started_at)::text;
        passed := promo.occurred_at - d.started_at <= rto_target;
    ELSIF k.needs_failover THEN
        measured := 'no promotion recorded during the drill'; passed := false;
    ELSE
        measured := 'not applicable to ' || d.kind; passed := NULL;
    END IF;
    RETURN NEXT;

    -- 2. Data loss within RPO: exposure at promotion, from the gate's figures
    --    (heartbeat-backed rpo_lag / loss at last contact)
    criterion := 'data loss within RPO'; target := rpo_target::text; source := 'measured';
    IF promo.occurred_at IS NOT NULL THEN
        loss := coalesce((promo.details->>'possible_loss_s')::numeric,
                         (SELECT (c.details->>'loss_s')::numeric FROM @extschema@.dr_events c
                           WHERE c.event_type = 'PROMOTE_CHECK' AND (c.details->>'promotable')::boolean
                             AND c.occurred_at BETWEEN d.started_at AND promo.occurred_at
                           ORDER BY c.occurred_at DESC LIMIT 1),
                         (promo.details->>'rpo_lag_s')::numeric);
        measured := coalesce(loss || ' s at promotion', 'no figure recorded at promotion');
        passed := loss IS NOT NULL AND make_interval(secs => loss) <= rpo_target;
    ELSIF k.needs_failover THEN
        measured := 'no promotion recorded during the drill'; passed := false;
    ELSE
        measured := 'not applicable to ' || d.kind; passed := NULL;
    END IF;
    RETURN NEXT;

    -- 3, 4, 5: what only the operator can see
    criterion := 'all critical endpoints responding'; target := 'yes'; source := 'operator';
    measured := coalesce(endpoints_ok::text, 'not reported'); passed := endpoints_ok;
    RETURN NEXT;
    criterion := 'error rate < 1% after stabilization'; target := '< 1%'; source := 'operator';
    measured := coalesce(error_rate || '%', 'not reported'); passed := error_rate < 1;
    RETURN NEXT;
    criterion := 'no data corruption detected'; target := 'none'; source := 'operator';
    measured := coalesce(CASE WHEN corruption_found THEN 'corruption found' ELSE 'none found' END, 'not reported');
    passed := NOT corruption_found;
    RETURN NEXT;

    -- 6. Audit logs continuous: no journal entry missing from the log (the
    --    sequences of every journal are gapless) and nothing left pending here
    SELECT coalesce(sum(gaps), 0) INTO holes FROM (
        SELECT max(origin_seq) - min(origin_seq) + 1 - count(DISTINCT origin_seq) AS gaps
          FROM @extschema@.dr_event_log WHERE origin_journal IS NOT NULL
         GROUP BY system_identifier, origin_journal) g;
    SELECT count(*) INTO pending FROM @extschema@.dr_events e WHERE e.pending;
    criterion := 'audit logs continuous'; target := 'no gap, nothing pending'; source := 'measured';
    measured := format('%s missing journal entries, %s pending', holes, pending);
    passed := holes = 0 AND pending = 0;
    RETURN NEXT;

    -- 7. Latest backup verification ok (runbook 4.2): the newest verified backup
    criterion := 'latest backup verification ok'; source := 'measured';
    max_age := coalesce((SELECT make_interval(secs => setting::double precision) FROM pg_settings
                          WHERE name = 'tensafe_dr.backup_max_age'), '1 day');
    target := 'verified ok, newer than ' || max_age;
    IF to_regclass(quote_ident(@extschema@.dr_schema()) || '.dr_backups') IS NULL THEN
        measured := 'no backup catalog'; passed := false;
    ELSE
        EXECUTE format('SELECT verified_at, verification_ok, stop_time FROM %I.dr_backups
                         WHERE verified_at IS NOT NULL ORDER BY verified_at DESC LIMIT 1',
                       @extschema@.dr_schema()) INTO newest;
        IF newest.verified_at IS NULL THEN
            measured := 'no verified backup'; passed := false;
        ELSE
            measured := format('verified %s at %s, backup from %s',
                               CASE WHEN newest.verification_ok THEN 'ok' ELSE 'with problems' END,
                               newest.verified_at, coalesce(newest.stop_time::text, 'unknown time'));
            passed := newest.verification_ok AND coalesce(newest.stop_time, newest.verified_at) > until - max_age;
        END IF;
    END IF;
    RETURN NEXT;
END
$fn$;

CREATE FUNCTION dr_schema()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT '@extschema@'::text $fn$;

CREATE FUNCTION dr_drill_finish(drill bigint, endpoints_ok boolean DEFAULT NULL,
    error_rate numeric DEFAULT NULL, corruption_found boolean DEFAULT NULL,
    notes text DEFAULT NULL)
RETURNS TABLE (criterion text, measured text, target text, passed boolean, source text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    d @extschema@.dr_drills;
    at timestamptz := clock_timestamp();
    res jsonb;
    ok boolean;
BEGIN
    SELECT * INTO d FROM @extschema@.dr_drills WHERE id = drill;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drill % does not exist', coalesce(drill::text, 'NULL') USING ERRCODE = 'undefined_object';
    END IF;
    IF d.finished_at IS NOT NULL THEN
        RAISE EXCEPTION 'drill % is already finished', drill USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF error_rate IS NOT NULL AND (error_rate < 0 OR error_rate > 100) THEN
        RAISE EXCEPTION 'error_rate is a percentage between 0 and 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT jsonb_agg(to_jsonb(j)), bool_and(coalesce(j.passed, true)) AND bool_and(j.passed IS NOT NULL OR j.source = 'measured')
      INTO res, ok
      FROM @extschema@.dr_drill_judge(drill, at, endpoints_ok, error_rate, corruption_found) j;
    UPDATE @extschema@.dr_drills
       SET finished_at = at, passed = ok, results = res,
           notes = coalesce(dr_drill_finish.notes, dr_drills.notes)
     WHERE id = drill;
    PERFORM @extschema@.dr_log_event('DRILL_FINISHED',
        jsonb_build_object('drill', drill, 'kind', d.kind, 'passed', ok, 'criteria', res), NULL, ok);
    RETURN QUERY SELECT r.criterion, r.measured, r.target, r.passed, r.source
                   FROM jsonb_to_recordset(res) AS r(criterion text, measured text, target text, passed boolean, source text);
END
$fn$;
COMMENT ON FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text) IS
'Finish a drill and judge it on runbook 6.3: failover time vs RTO and data loss vs RPO from the event log, audit-log continuity from the journal sequences, the latest backup verification, and the operator''s endpoints / error rate / corruption results. A criterion the operator did not report fails the drill.';

CREATE FUNCTION dr_drill_report(drill bigint)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    d @extschema@.dr_drills;
    r record;
    doc text;
BEGIN
    SELECT * INTO d FROM @extschema@.dr_drills WHERE id = drill;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drill % does not exist', coalesce(drill::text, 'NULL') USING ERRCODE = 'undefined_object';
    END IF;
    doc := format(E'# DR drill %s: %s\n\nStarted %s by %s; %s.\n\n## Success criteria (runbook 6.3)\n',
                  d.id, d.kind, d.started_at, d.started_by,
                  CASE WHEN d.finished_at IS NULL THEN 'not finished'
                       ELSE format('finished %s, %s', d.finished_at,
                                   CASE WHEN d.passed THEN 'PASSED' ELSE 'FAILED' END) END);
    FOR r IN SELECT * FROM jsonb_to_recordset(coalesce(d.results, '[]'))
                 AS x(criterion text, measured text, target text, passed boolean, source text) LOOP
        doc := doc || format(E'- [%s] %s: %s (target %s, %s)\n',
                             CASE WHEN r.passed THEN 'x' WHEN r.passed IS NULL THEN '-' ELSE ' ' END,
                             r.criterion, r.measured, r.target, r.source);
    END LOOP;
    doc := doc || E'\n## Events\n';
    FOR r IN SELECT e.occurred_at, e.event_type, e.node_name FROM @extschema@.dr_events e
              WHERE e.occurred_at BETWEEN d.started_at AND coalesce(d.finished_at, 'infinity')
              ORDER BY e.occurred_at LOOP
        doc := doc || format(E'- %s %s on %s\n', to_char(r.occurred_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
                             r.event_type, coalesce(r.node_name, '?'));
    END LOOP;
    RETURN doc;
END
$fn$;
COMMENT ON FUNCTION dr_drill_report(bigint) IS 'Markdown report of a drill: its judged criteria and the events during it.';

REVOKE ALL ON dr_drill_kinds, dr_drills, dr_drill_schedule FROM PUBLIC;
GRANT SELECT ON dr_drill_kinds, dr_drills, dr_drill_schedule TO dr_monitor;
GRANT INSERT, UPDATE, DELETE ON dr_drill_kinds TO dr_admin;
REVOKE ALL ON FUNCTION dr_drill_start(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_drill_judge(bigint, timestamptz, boolean, numeric, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_schema() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_drill_report(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_drill_start(text, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_drill_report(bigint) TO dr_monitor;
