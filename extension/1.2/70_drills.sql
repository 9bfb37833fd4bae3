-------------------------------------------------------------------------------
-- DR drills (amends extension/1.0/70_drills.sql).
--
-- A criterion judged 'measured' uses only events the system recorded: the
-- promotion types are reserved (25_event_validation.sql), entries set aside
-- by the flush are left out, and a promotion counts only if it moved the
-- node past the timeline the drill started on.  An operator's PROMOTED with
-- {"possible_loss_s": 0} recorded under 1.1's rules no longer passes a drill
-- that had no failover.  Audit-log continuity counts entries set aside.
--
-- (Issue 15, the 6.3 criteria of a regional drill.)  The failover time is
-- measured from the outage start: the earliest started_at of the incidents
-- declared during the drill (dr_declare's start; on a standby its last
-- contact with the primary), else the drill's start; the 'measured' text
-- says which.  Data loss measured, not estimated: dr_drill_finish() takes
-- data_lost, the loss the operator measured (acknowledged commits the new
-- primary lacks); criterion 2 then judges it (source 'measured by the
-- operator') and shows the gate's estimate next to it.  Without it,
-- criterion 2 judges the gate's estimate, as before.  Both functions get a
-- sixth argument: the five-argument forms are dropped.
-------------------------------------------------------------------------------

DROP FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text);
DROP FUNCTION dr_drill_judge(bigint, timestamptz, boolean, numeric, boolean);

-- The 6.3 criteria of a drill, judged over [started_at, until].
CREATE FUNCTION dr_drill_judge(drill bigint, until timestamptz,
    endpoints_ok boolean, error_rate numeric, corruption_found boolean,
    data_lost interval DEFAULT NULL)
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
    start_timeline integer;
    set_aside bigint;
    outage_start timestamptz;
    t0 timestamptz;
    t0_what text;
    estimate text;
BEGIN
    SELECT * INTO d FROM @extschema@.dr_drills WHERE id = drill;
    SELECT * INTO k FROM @extschema@.dr_drill_kinds WHERE dr_drill_kinds.kind = d.kind;

    -- the timeline the drill started on (its DRILL_STARTED event)
    SELECT e.timeline INTO start_timeline FROM @extschema@.dr_event_log e
     WHERE e.event_type = 'DRILL_STARTED' AND e.details->>'drill' = drill::text
     ORDER BY e.id LIMIT 1;

    -- first promotion of the drill, whoever did it: only events the system
    -- recorded (the types are reserved, dr_event_type_is_reserved(); none
    -- set aside), and a promotion moves the node to a new timeline, which
    -- the system, not the caller, writes into every event: an event of the
    -- drill's own timeline (one recorded by hand before 1.2) is no failover
    SELECT e.occurred_at, e.details INTO promo FROM @extschema@.dr_events e
     WHERE e.event_type IN ('PROMOTED', 'PROMOTION_DETECTED')
       AND @extschema@.dr_event_type_is_reserved(e.event_type)
       AND e.set_aside_reason IS NULL
       AND (start_timeline IS NULL OR e.timeline > start_timeline)
       AND e.occurred_at BETWEEN d.started_at AND until
     ORDER BY e.occurred_at LIMIT 1;

    -- the outage start: the earliest real start of an incident declared
    -- during the drill (NULL started_at: it started when declared, which
    -- says nothing about the outage; a start before the drill's is not the
    -- drill's outage, a standby's contact with the primary long gone), if
    -- the promotion came after it
    SELECT min(i.started_at) INTO outage_start FROM @extschema@.dr_incidents i
     WHERE i.declared_at BETWEEN d.started_at AND until AND i.started_at >= d.started_at;
    IF outage_start IS NOT NULL AND promo.occurred_at >= outage_start THEN
        t0 := outage_start; t0_what := 'from the outage start (the incident''s started_at)';
    ELSE
        t0 := d.started_at; t0_what := 'from the drill start';
    END IF;

    -- 1. Failover completed within RTO
    criterion := 'failover completed within RTO'; target := rto_target::text; source := 'measured';
    IF promo.occurred_at IS NOT NULL THEN
        measured := (promo.occurred_at - t0)::text || ' ' || t0_what;
        passed := promo.occurred_at - t0 <= rto_target;
    ELSIF k.needs_failover THEN
        measured := 'no promotion recorded during the drill'; passed := false;
    ELSE
        measured := 'not applicable to ' || d.kind; passed := NULL;
    END IF;
    RETURN NEXT;

    -- 2. Data loss within RPO: the loss the operator measured when given,
    --    else the exposure at promotion from the gate's figures
    --    (heartbeat-backed rpo_lag / loss at last contact)
    criterion := 'data loss within RPO'; target := rpo_target::text; source := 'measured';
    IF promo.occurred_at IS NOT NULL THEN
        loss := coalesce((promo.details->>'possible_loss_s')::numeric,
                         (SELECT (c.details->>'loss_s')::numeric FROM @extschema@.dr_events c
                           WHERE c.event_type = 'PROMOTE_CHECK' AND c.set_aside_reason IS NULL
                             AND jsonb_typeof(c.details->'promotable') = 'boolean'
                             AND jsonb_typeof(c.details->'loss_s') = 'number'
                             AND (c.details->>'promotable')::boolean
                             AND c.occurred_at BETWEEN d.started_at AND promo.occurred_at
                           ORDER BY c.occurred_at DESC LIMIT 1),
                         (promo.details->>'rpo_lag_s')::numeric);
    END IF;
    IF data_lost IS NOT NULL THEN
        estimate := CASE WHEN promo.occurred_at IS NULL THEN 'no promotion recorded'
                         ELSE coalesce(loss || ' s at promotion', 'none recorded at promotion') END;
        measured := format('%s s measured (gate estimate: %s)', extract(epoch FROM data_lost), estimate);
        passed := data_lost <= rpo_target; source := 'measured by the operator';
    ELSIF promo.occurred_at IS NOT NULL THEN
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
    --    sequences of every journal are gapless; an entry set aside is not
    --    missing, it is counted apart), nothing left pending here, and no
    --    entry set aside during the drill
    SELECT coalesce(sum(gaps), 0) INTO holes FROM (
        SELECT max(origin_seq) - min(origin_seq) + 1 - count(DISTINCT origin_seq) AS gaps
          FROM (SELECT l.origin_journal, l.origin_seq FROM @extschema@.dr_event_log l
                 WHERE l.origin_journal IS NOT NULL
                UNION ALL
                SELECT r.origin_journal, r.origin_seq FROM @extschema@.dr_event_rejects r) o
         GROUP BY origin_journal) g;
    SELECT count(*) INTO pending FROM @extschema@.dr_events e WHERE e.pending;
    SELECT count(*) INTO set_aside FROM @extschema@.dr_event_rejects r
     WHERE r.set_aside_at BETWEEN d.started_at AND until;
    criterion := 'audit logs continuous'; target := 'no gap, nothing pending, nothing set aside'; source := 'measured';
    measured := format('%s missing journal entries, %s pending, %s set aside', holes, pending, set_aside);
    passed := holes = 0 AND pending = 0 AND set_aside = 0;
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

REVOKE ALL ON FUNCTION dr_drill_judge(bigint, timestamptz, boolean, numeric, boolean, interval) FROM PUBLIC;

-- Finish a drill: as in 1.0, plus data_lost, the data loss the operator
-- measured (NULL: criterion 2 judges the gate's estimate).
CREATE FUNCTION dr_drill_finish(drill bigint, endpoints_ok boolean DEFAULT NULL,
    error_rate numeric DEFAULT NULL, corruption_found boolean DEFAULT NULL,
    notes text DEFAULT NULL, data_lost interval DEFAULT NULL)
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
    IF data_lost < interval '0' THEN
        RAISE EXCEPTION 'data_lost cannot be negative: %', data_lost
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the span of acknowledged commits the new primary lacks, 0 if none.';
    END IF;
    SELECT jsonb_agg(to_jsonb(j)), bool_and(coalesce(j.passed, true)) AND bool_and(j.passed IS NOT NULL OR j.source = 'measured')
      INTO res, ok
      FROM @extschema@.dr_drill_judge(drill, at, endpoints_ok, error_rate, corruption_found, data_lost) j;
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
COMMENT ON FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text, interval) IS
'Finish a drill and judge it on runbook 6.3: failover time vs RTO (1.2: from the outage start, the started_at of an incident declared during the drill, else from the drill start) and data loss vs RPO (1.2: data_lost, the loss the operator measured, with the gate''s estimate beside it; else the gate''s estimate) from the event log, audit-log continuity from the journal sequences, the latest backup verification, and the operator''s endpoints / error rate / corruption results. A criterion the operator did not report fails the drill.';
REVOKE ALL ON FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_drill_finish(bigint, boolean, numeric, boolean, text, interval) TO dr_operator;
