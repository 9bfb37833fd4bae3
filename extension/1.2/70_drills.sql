-------------------------------------------------------------------------------
-- DR drills (amends extension/1.0/70_drills.sql).
--
-- A criterion judged 'measured' uses only events the system recorded: the
-- promotion types are reserved (25_event_validation.sql), entries set aside
-- by the flush are left out, and a promotion counts only if it moved the
-- node past the timeline the drill started on.  An operator's PROMOTED with
-- {"possible_loss_s": 0} recorded under 1.1's rules no longer passes a drill
-- that had no failover.  Audit-log continuity counts entries set aside.
-------------------------------------------------------------------------------

-- The 6.3 criteria of a drill, judged over [started_at, until].
CREATE OR REPLACE FUNCTION dr_drill_judge(drill bigint, until timestamptz,
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
    start_timeline integer;
    set_aside bigint;
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
                           WHERE c.event_type = 'PROMOTE_CHECK' AND c.set_aside_reason IS NULL
                             AND jsonb_typeof(c.details->'promotable') = 'boolean'
                             AND jsonb_typeof(c.details->'loss_s') = 'number'
                             AND (c.details->>'promotable')::boolean
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

