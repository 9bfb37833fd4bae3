-------------------------------------------------------------------------------
-- Incidents (runbook 2, 3.1, 8)
-------------------------------------------------------------------------------
CREATE FUNCTION dr_declare(level integer, summary text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f record;
    inc bigint;
BEGIN
    IF level IS NULL OR level NOT BETWEEN 1 AND 4 THEN
        RAISE EXCEPTION 'invalid disaster level: %', coalesce(level::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Levels are 1 service degradation, 2 partial outage, 3 full regional outage, 4 catastrophic loss.';
    END IF;
    IF summary IS NULL OR btrim(summary) = '' OR length(summary) > 2000 THEN
        RAISE EXCEPTION 'an incident needs a summary of 1 to 2000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        PERFORM @extschema@.dr_log_event('DR_INITIATED',
            jsonb_build_object('summary', summary, 'level', level), level, true);
        RAISE NOTICE 'incident declared in this node''s journal; it gets its id when the node can write (dr_events shows it as pending)';
        RETURN NULL;
    END IF;
    SELECT * INTO f FROM @extschema@.dr_node_facts();
    INSERT INTO @extschema@.dr_incidents (level, summary, declared_by, declared_at, node_name, region)
    VALUES (level, summary, @extschema@.dr_caller(), clock_timestamp(), f.node_name, f.region)
    RETURNING id INTO inc;
    PERFORM @extschema@.dr_log_event('DR_INITIATED',
        jsonb_build_object('summary', summary, 'level', level), level, true, inc);
    RETURN inc;
END
$fn$;
COMMENT ON FUNCTION dr_declare(integer, text) IS
'Declare a DR incident (runbook 3.1 step 1): returns its id and records DR_INITIATED; the RTO clock starts now.';

CREATE FUNCTION dr_require_incident(incident bigint)
RETURNS @extschema@.dr_incidents
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents;
BEGIN
    SELECT * INTO r FROM @extschema@.dr_incidents WHERE id = incident;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'incident % does not exist', coalesce(incident::text, 'NULL')
            USING ERRCODE = 'undefined_object', HINT = 'See the dr_incidents table.';
    END IF;
    RETURN r;
END
$fn$;

CREATE FUNCTION dr_acknowledge(incident bigint, who text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
    at timestamptz := clock_timestamp();
BEGIN
    IF r.resolved_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident % is already resolved', incident USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF r.acknowledged_at IS NOT NULL THEN
        RETURN r.acknowledged_at;
    END IF;
    UPDATE @extschema@.dr_incidents
       SET acknowledged_by = coalesce(who, @extschema@.dr_caller()), acknowledged_at = at
     WHERE id = incident;
    PERFORM @extschema@.dr_log_event('DR_ACKNOWLEDGED',
        jsonb_build_object('by', coalesce(who, @extschema@.dr_caller()),
                           'response_seconds', round(extract(epoch FROM at - r.declared_at), 3)),
        r.level, true, incident);
    RETURN at;
END
$fn$;
COMMENT ON FUNCTION dr_acknowledge(bigint, text) IS
'Acknowledge an incident (stops escalation); records DR_ACKNOWLEDGED with the response time.';

-- An objective GUC (stored in seconds) as an interval.
CREATE FUNCTION dr_objective(name text)
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT make_interval(secs => setting::double precision)
      FROM pg_settings WHERE pg_settings.name = 'tensafe_dr.' || dr_objective.name
$fn$;

CREATE FUNCTION dr_resolve(incident bigint, resolution text DEFAULT NULL,
    OUT incident_id bigint, OUT rto interval, OUT rto_state text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
    at timestamptz := clock_timestamp();
    target interval := @extschema@.dr_objective('rto_target');
    maximum interval := @extschema@.dr_objective('rto_max');
BEGIN
    IF r.resolved_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident % is already resolved', incident
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was resolved at %s with an RTO of %s.', r.resolved_at, r.rto);
    END IF;
    incident_id := incident;
    rto := at - r.declared_at;
    rto_state := CASE WHEN rto <= target THEN 'met'
                      WHEN rto <= maximum THEN 'target_missed'
                      ELSE 'breach' END;
    UPDATE @extschema@.dr_incidents
       SET resolved_by = @extschema@.dr_caller(), resolved_at = at, resolution = dr_resolve.resolution,
           rto = dr_resolve.rto, rto_target = target, rto_max = maximum,
           rto_state = dr_resolve.rto_state
     WHERE id = incident;
    PERFORM @extschema@.dr_log_event('DR_COMPLETE',
        jsonb_build_object('rto_seconds', round(extract(epoch FROM rto), 3),
                           'rto_target_seconds', extract(epoch FROM target),
                           'rto_max_seconds', extract(epoch FROM maximum),
                           'rto_state', rto_state, 'resolution', resolution),
        r.level, rto_state <> 'breach', incident);
END
$fn$;
COMMENT ON FUNCTION dr_resolve(bigint, text) IS
'Resolve an incident (runbook 3.1 step 7): records DR_COMPLETE with the RTO measured from declaration, judged met / target_missed / breach against tensafe_dr.rto_target and rto_max.';

CREATE FUNCTION dr_incident_timeline(incident bigint)
RETURNS TABLE (occurred_at timestamptz, since_declared interval, event_type text,
               level integer, node_name text, actor text, successful boolean,
               details jsonb, pending boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
BEGIN
    RETURN QUERY
    SELECT e.occurred_at, e.occurred_at - r.declared_at, e.event_type, e.level,
           e.node_name, e.actor, e.successful, e.details, e.pending
      FROM @extschema@.dr_events e
     WHERE e.incident_id = incident
        OR (e.incident_id IS NULL
            AND e.occurred_at BETWEEN r.declared_at AND coalesce(r.resolved_at, 'infinity'))
     ORDER BY e.occurred_at, e.id;
END
$fn$;
COMMENT ON FUNCTION dr_incident_timeline(bigint) IS
'Every event of an incident, and every unattributed event during it, in order, with the time since declaration.';

CREATE FUNCTION dr_postmortem(incident bigint)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
    t record;
    doc text;
    dur interval;
    promoted jsonb;
    worst_rpo numeric;
BEGIN
    dur := coalesce(r.rto, clock_timestamp() - r.declared_at);
    doc := format(E'# Incident Post-Mortem: %s\n\n', r.summary);
    doc := doc || E'## Summary\n'
        || format(E'Level %s incident declared by %s at %s UTC on %s%s; ',
                  r.level, r.declared_by, to_char(r.declared_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                  coalesce(r.node_name, 'unknown node'),
                  coalesce(' (' || r.region || ')', ''))
        || CASE WHEN r.resolved_at IS NULL THEN E'still open.\n\n'
                ELSE format(E'resolved by %s at %s UTC.\n\n', r.resolved_by,
                            to_char(r.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) END;

    doc := doc || E'## Timeline\n';
    FOR t IN SELECT * FROM @extschema@.dr_incident_timeline(incident) LOOP
        doc := doc || format(E'- %s UTC (+%s) - %s%s%s\n',
            to_char(t.occurred_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
            to_char(t.since_declared, 'HH24:MI:SS'),
            t.event_type,
            CASE WHEN t.node_name IS NOT NULL THEN ' on ' || t.node_name ELSE '' END,
            CASE WHEN NOT t.successful THEN ' (failed)' ELSE '' END);
    END LOOP;

    SELECT e.details INTO promoted FROM @extschema@.dr_events e
     WHERE e.event_type = 'PROMOTED' AND e.occurred_at BETWEEN r.declared_at AND coalesce(r.resolved_at, 'infinity')
     ORDER BY e.occurred_at LIMIT 1;
    SELECT max((e.details->>'rpo_lag_s')::numeric) INTO worst_rpo FROM @extschema@.dr_events e
     WHERE e.event_type IN ('RPO_WARNING', 'RPO_BREACH')
       AND e.occurred_at BETWEEN r.declared_at AND coalesce(r.resolved_at, 'infinity');

    doc := doc || E'\n## Root Cause\n[Description of root cause]\n\n## Impact\n'
        || format(E'- Duration: %s hours %s minutes (%s)\n',
                  floor(extract(epoch FROM dur) / 3600)::int,
                  floor(mod(extract(epoch FROM dur)::numeric, 3600) / 60)::int,
                  CASE r.rto_state WHEN 'met' THEN 'RTO target met'
                                   WHEN 'target_missed' THEN 'RTO target missed, within RTO max'
                                   WHEN 'breach' THEN 'RTO max breached'
                                   ELSE 'still open' END)
        || CASE WHEN promoted IS NOT NULL
                THEN format(E'- Exposure at promotion: %s s of rpo_lag, %s s of replay_lag (gate %s s)%s\n',
                            coalesce(promoted->>'rpo_lag_s', '?'), coalesce(promoted->>'replay_lag_s', '?'), coalesce(promoted->>'gate_s', '?'),
                            CASE WHEN (promoted->>'forced')::boolean THEN ', promotion forced' ELSE '' END)
                ELSE '' END
        || CASE WHEN worst_rpo IS NOT NULL
                THEN format(E'- Worst RPO exposure recorded: %s s\n', worst_rpo) ELSE '' END
        || E'- Users affected: N\n- Revenue impact: $X\n\n'
        || E'## Resolution\n' || coalesce(r.resolution, '[How the incident was resolved]') || E'\n\n'
        || E'## Action Items\n- [ ] [Action item 1] - Owner: @person - Due: YYYY-MM-DD\n\n'
        || E'## Lessons Learned\n[Key takeaways]\n';
    RETURN doc;
END
$fn$;
COMMENT ON FUNCTION dr_postmortem(bigint) IS
'Markdown post-mortem in the shape of runbook 8.2, its timeline, duration and data-loss figures filled from the event log.';

