-------------------------------------------------------------------------------
-- Event validation (amends extension/1.0/20_events.sql, 30_incidents.sql and
-- extension/1.1/20_metrics.sql).
--
-- One bad event stopped the event log: an operator's
-- dr_record_event('DR_INITIATED', '{"level":"x"}') on a standby was
-- journalled as given, and after promotion every flush failed on the cast of
-- its level, so nothing reached dr_event_log again, not even the worker's
-- own PROMOTION_DETECTED.  Now:
--   - the event types the system records are reserved
--     (dr_event_type_is_reserved(), their one owner): dr_record_event()
--     refuses them (42501), so an operator cannot forge a DR_INITIATED, a
--     PROMOTED or an RPO_BREACH.  The system records them through
--     dr_log_event() and the C journal functions, which nobody is granted;
--   - an event's details are checked when it is recorded
--     (dr_event_details_problem(), called by dr_log_event()), not when the
--     journal is flushed;
--   - the flush takes the journal entry by entry: an entry that still cannot
--     be flushed (written by older rules, or its sequence number reused with
--     a different payload) is set aside in dr_event_rejects with the reason,
--     shown in dr_events (set_aside_reason) and counted by the metric
--     tensafe_dr_set_aside_events, and the entries after it go on;
--   - dr_resolve() and dr_acknowledge() lock the incident row, so of two
--     concurrent calls on one incident the second sees the first's result.
-------------------------------------------------------------------------------

-- The one owner of the reserved event types: every type that the
-- extension's own code records (the worker, the promotion gate, incidents,
-- escalation, fencing, backups, drills, the journal).  Case-insensitive, so
-- 'promoted' cannot pass for PROMOTED in a report either.
CREATE FUNCTION dr_event_type_is_reserved(event_type text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT upper(event_type) ~ '^(DR_|PROMOT|RPO_|JOURNAL_)'
        OR upper(event_type) IN ('ESCALATED', 'INCIDENT_UPDATE', 'FENCED', 'UNFENCED',
                                 'BACKUP_VERIFIED', 'BACKUPS_IMPORTED', 'ARTIFACT_REGISTERED',
                                 'ARTIFACT_VERIFIED', 'RESTORE_POINT', 'DRILL_STARTED',
                                 'DRILL_FINISHED', 'WEBHOOK_TEST', 'STANDBY_LOST', 'STANDBY_RETURNED',
                                 'STANDBY_LAGGING', 'STANDBY_CAUGHT_UP', 'SYNC_STALL', 'SYNC_RESUMED', 'SYNC_LOST',
                                 'CLOCK_SKEW', 'CLOCK_SKEW_RESOLVED', 'ARCHIVE_FAILING',
                                 'ARCHIVE_RECOVERED', 'SLOT_RETAINING', 'SLOT_LOST', 'SLOT_RECOVERED',
                                 'DRILL_OVERDUE', 'POSTMORTEM_DUE', 'POSTMORTEM_WRITTEN')
$fn$;
COMMENT ON FUNCTION dr_event_type_is_reserved(text) IS
'Whether an event type is reserved for the events the extension records itself (DR_*, PROMOT*, RPO_*, JOURNAL_*, ESCALATED, INCIDENT_UPDATE, FENCED, UNFENCED, BACKUP_VERIFIED, BACKUPS_IMPORTED, ARTIFACT_REGISTERED, ARTIFACT_VERIFIED, RESTORE_POINT, DRILL_STARTED, DRILL_FINISHED, WEBHOOK_TEST, STANDBY_LOST, STANDBY_RETURNED, STANDBY_LAGGING, STANDBY_CAUGHT_UP, SYNC_STALL, SYNC_RESUMED, SYNC_LOST, CLOCK_SKEW, CLOCK_SKEW_RESOLVED, ARCHIVE_FAILING, ARCHIVE_RECOVERED, SLOT_RETAINING, SLOT_LOST, SLOT_RECOVERED, DRILL_OVERDUE, POSTMORTEM_DUE, POSTMORTEM_WRITTEN; case-insensitive): dr_record_event() refuses them.';

-- What is wrong with an event's level and details, or NULL: the rules the
-- flush and the incident it may create rely on, checked when the event is
-- recorded.
CREATE FUNCTION dr_event_details_problem(event_type text, details jsonb, level integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v jsonb;
BEGIN
    IF event_type IS NULL OR event_type = '' THEN
        RETURN 'the event has no type';
    END IF;
    IF level IS NOT NULL AND level NOT BETWEEN 1 AND 4 THEN
        RETURN format('level %s is not a disaster level from 1 to 4', level);
    END IF;
    IF details IS NOT NULL AND jsonb_typeof(details) <> 'object' THEN
        RETURN format('details are a JSON %s, not an object', jsonb_typeof(details));
    END IF;
    IF event_type = 'DR_INITIATED' THEN
        -- the flush declares the incident from these (dr_journal_flush)
        v := details->'level';
        IF v IS NOT NULL AND jsonb_typeof(v) <> 'null'
           AND (jsonb_typeof(v) <> 'number' OR v::text !~ '^[1-4]$') THEN
            RETURN format('details.level of DR_INITIATED is %s, not a disaster level from 1 to 4', v::text);
        END IF;
        v := details->'summary';
        IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('string', 'null') THEN
            RETURN format('details.summary of DR_INITIATED is a JSON %s, not a string', jsonb_typeof(v));
        END IF;
        IF length(details->>'summary') > 2000 THEN
            RETURN 'details.summary of DR_INITIATED is longer than 2000 characters';
        END IF;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION dr_event_details_problem(text, jsonb, integer) IS
'Internal: what is wrong with an event''s level and details (for DR_INITIATED: details.level a disaster level 1-4, details.summary a string of at most 2000 characters), or NULL; checked when an event is recorded (dr_log_event()) and again when a journal entry is flushed.';

-- The fields of a journal payload, each NULL where it is missing or not of
-- its column's type, and what is wrong with the payload (NULL: it can be
-- flushed).  Never raises.
CREATE FUNCTION dr_event_payload_fields(payload jsonb,
    OUT occurred_at timestamptz, OUT event_type text, OUT level integer,
    OUT node_name text, OUT region text, OUT system_identifier bigint,
    OUT timeline integer, OUT actor text, OUT successful boolean, OUT details jsonb,
    OUT incident_id bigint, OUT problem text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    p jsonb := payload;
    k text;
    v jsonb;
    lim numeric;
    bad text[] := '{}';
BEGIN
    IF p IS NULL OR jsonb_typeof(p) <> 'object' THEN
        problem := 'the payload is not a JSON object';
        RETURN;
    END IF;
    -- each field on its own, so that one bad field leaves the others
    -- readable; types are checked on the JSON value (no subtransaction per
    -- field), only the time needs a cast that may fail
    FOREACH k IN ARRAY ARRAY['event_type', 'node_name', 'region', 'actor'] LOOP
        v := p->k;
        IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('string', 'null') THEN
            bad := bad || format('%s %s', k, v::text);
        END IF;
    END LOOP;
    event_type := p->>'event_type';
    node_name := p->>'node_name';
    region := p->>'region';
    actor := p->>'actor';
    FOREACH k IN ARRAY ARRAY['level', 'timeline', 'system_identifier', 'incident_id'] LOOP
        v := p->k;
        CONTINUE WHEN v IS NULL OR jsonb_typeof(v) = 'null';
        lim := CASE WHEN k IN ('level', 'timeline') THEN 2147483647 ELSE 9223372036854775807 END;
        IF jsonb_typeof(v) <> 'number' OR v::text !~ '^-?[0-9]{1,19}$'
           OR abs(v::text::numeric) > lim THEN
            bad := bad || format('%s %s', k, v::text);
            CONTINUE;
        END IF;
        CASE k
        WHEN 'level' THEN level := v::text::integer;
        WHEN 'timeline' THEN timeline := v::text::integer;
        WHEN 'system_identifier' THEN system_identifier := v::text::bigint;
        ELSE incident_id := v::text::bigint;
        END CASE;
    END LOOP;
    v := p->'successful';
    IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('boolean', 'null') THEN
        bad := bad || format('successful %s', v::text);
    ELSE
        successful := (p->>'successful')::boolean;
    END IF;
    v := p->'details';
    IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('object', 'null') THEN
        bad := bad || format('details %s', v::text);
    ELSIF jsonb_typeof(v) = 'object' THEN
        details := v;
    END IF;
    v := p->'occurred_at';
    IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
        BEGIN
            IF jsonb_typeof(v) <> 'string' THEN
                RAISE USING ERRCODE = 'invalid_datetime_format';
            END IF;
            occurred_at := (p->>'occurred_at')::timestamptz;
        EXCEPTION WHEN data_exception THEN
            bad := bad || format('occurred_at %s', v::text);
        END;
    END IF;
    IF cardinality(bad) > 0 THEN
        problem := 'not of its column''s type: ' || array_to_string(bad, ', ');
    ELSIF occurred_at IS NULL THEN
        problem := 'the payload has no occurred_at';
    ELSIF system_identifier IS NULL THEN
        problem := 'the payload has no system_identifier';
    ELSE
        problem := @extschema@.dr_event_details_problem(event_type, details, level);
    END IF;
END
$fn$;
COMMENT ON FUNCTION dr_event_payload_fields(jsonb) IS
'Internal: the fields of a journal payload, each NULL where missing or not of its column''s type, and the problem that keeps it out of dr_event_log (NULL: none); never raises.';

-------------------------------------------------------------------------------
-- Journal entries set aside by the flush.
-------------------------------------------------------------------------------
CREATE TABLE dr_event_rejects (
    origin_journal    text NOT NULL,
    origin_seq        bigint NOT NULL,
    reason            text NOT NULL,
    set_aside_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload           jsonb,
    occurred_at       timestamptz,
    event_type        text,
    level             integer,
    node_name         text,
    region            text,
    system_identifier bigint,
    timeline          integer,
    actor             text,
    successful        boolean,
    details           jsonb,
    incident_id       bigint,
    PRIMARY KEY (origin_journal, origin_seq)
);
COMMENT ON TABLE dr_event_rejects IS
'Journal entries the flush could not put into dr_event_log (a payload written by older rules, a sequence number reused with a different payload): set aside with the reason, the payload and what could be read of it, so that they never hold up the entries after them. dr_events shows them (set_aside_reason); the metric tensafe_dr_set_aside_events counts them.';
SELECT pg_catalog.pg_extension_config_dump('dr_event_rejects', '');
REVOKE ALL ON dr_event_rejects FROM PUBLIC;
GRANT SELECT ON dr_event_rejects TO dr_monitor;

-------------------------------------------------------------------------------
-- Recording: reserved types refused, details checked now.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_log_event(
    p_event_type text, p_details jsonb, p_level integer, p_successful boolean,
    p_incident_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f record;
    now_ts timestamptz := clock_timestamp();
    new_id bigint;
    problem text := @extschema@.dr_event_details_problem(p_event_type, p_details, p_level);
BEGIN
    -- refused now, not when the journal is flushed
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid % event: %', coalesce(p_event_type, 'NULL'), problem
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    p_incident_id := coalesce(p_incident_id, @extschema@.dr_incident_at(now_ts));
    IF @extschema@.dr_can_write() THEN
        SELECT * INTO f FROM @extschema@.dr_node_facts();
        INSERT INTO @extschema@.dr_event_log
               (occurred_at, event_type, level, node_name, region, system_identifier,
                timeline, actor, successful, details, incident_id)
        VALUES (now_ts, p_event_type, p_level, f.node_name, f.region, f.system_identifier,
                f.timeline, @extschema@.dr_caller(), p_successful, coalesce(p_details, '{}'), p_incident_id)
        RETURNING id INTO new_id;
        RETURN new_id;
    END IF;
    PERFORM @extschema@.dr_journal_record(now_ts, p_event_type, p_level, p_successful,
                                          @extschema@.dr_caller(), coalesce(p_details, '{}'),
                                          p_incident_id);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION dr_record_event(event_type text, details jsonb DEFAULT '{}', level integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF event_type IS NULL OR event_type !~ '^[A-Za-z][A-Za-z0-9_.:-]{0,63}$' THEN
        RAISE EXCEPTION 'invalid event type: %', coalesce(quote_literal(event_type), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An event type is 1 to 64 characters: a letter, then letters, digits, "_", ".", ":" or "-".',
                  HINT = 'Use names like FAILOVER_STARTED or patroni.on_role_change.';
    END IF;
    IF @extschema@.dr_event_type_is_reserved(event_type) THEN
        RAISE EXCEPTION 'event type % is reserved for the events tensafe_dr records itself', quote_literal(event_type)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'DR_*, PROMOT*, RPO_*, JOURNAL_* and the other types listed by dr_event_type_is_reserved() are recorded only by the extension (dr_declare(), dr_promote(), the worker, ...), so that reports and drills can trust them.',
                  HINT = 'Record your own type (for example OPS_FAILOVER_NOTE), or call the function that does the step (dr_declare(), dr_resolve(), dr_promote()).';
    END IF;
    IF level IS NOT NULL AND level NOT BETWEEN 1 AND 4 THEN
        RAISE EXCEPTION 'invalid level: %', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Levels are the runbook''s disaster levels 1 (service degradation) to 4 (catastrophic loss), or NULL.';
    END IF;
    IF details IS NOT NULL AND jsonb_typeof(details) <> 'object' THEN
        RAISE EXCEPTION 'event details must be a JSON object, not %', jsonb_typeof(details)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(details::text) > 65536 THEN
        RAISE EXCEPTION 'event details are too large (% bytes)', octet_length(details::text)
            USING ERRCODE = 'program_limit_exceeded', DETAIL = 'The limit is 65536 bytes.';
    END IF;
    RETURN @extschema@.dr_log_event(event_type, details, level, true);
END
$fn$;
COMMENT ON FUNCTION dr_record_event(text, jsonb, integer) IS
'Record an operator''s DR event: inserted on a writable node (returns its id), journalled durably on a standby or fenced node (returns NULL; appears in dr_events as pending and is flushed exactly once when the node can write). The types the extension records itself are refused (42501, see dr_event_type_is_reserved()).';

-------------------------------------------------------------------------------
-- The flush: entry by entry; what cannot be flushed is set aside.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_journal_flush(OUT flushed_upto bigint, OUT inserted integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    j record;
    f record;
    old record;
    new_id bigint;
    inc bigint;
    reason text;
BEGIN
    inserted := 0;
    FOR j IN SELECT e.journal_id, e.seq, e.payload
               FROM @extschema@.dr_journal_entries(true) e ORDER BY e.seq LOOP
        flushed_upto := greatest(flushed_upto, j.seq);
        -- set aside by an earlier flush whose flushed mark a crash prevented
        CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.dr_event_rejects r
                               WHERE r.origin_journal = j.journal_id AND r.origin_seq = j.seq);
        f := @extschema@.dr_event_payload_fields(j.payload);
        reason := f.problem;
        new_id := NULL;
        IF reason IS NULL THEN
            BEGIN
                INSERT INTO @extschema@.dr_event_log
                       (occurred_at, event_type, level, node_name, region, system_identifier,
                        timeline, actor, successful, details, incident_id, origin_journal, origin_seq)
                VALUES (f.occurred_at, f.event_type, f.level, f.node_name, f.region, f.system_identifier,
                        f.timeline, f.actor, coalesce(f.successful, true), coalesce(f.details, '{}'),
                        coalesce(f.incident_id, @extschema@.dr_incident_at(f.occurred_at)),
                        j.journal_id, j.seq)
                ON CONFLICT (system_identifier, origin_journal, origin_seq) DO NOTHING
                RETURNING id INTO new_id;
                IF new_id IS NULL THEN
                    -- already there: flushed before (a crash between the commit and the
                    -- flushed mark, another flusher), or the sequence number was reused
                    SELECT * INTO old FROM @extschema@.dr_event_log x
                     WHERE x.system_identifier = f.system_identifier
                       AND x.origin_journal = j.journal_id AND x.origin_seq = j.seq;
                    IF (old.occurred_at, old.event_type, old.level, old.node_name, old.region,
                        old.timeline, old.actor, old.successful, old.details)
                       IS DISTINCT FROM
                       (f.occurred_at, f.event_type, f.level, f.node_name, f.region,
                        f.timeline, f.actor, coalesce(f.successful, true), coalesce(f.details, '{}'::jsonb)) THEN
                        reason := 'sequence reused with a different payload';
                    END IF;
                ELSIF f.event_type = 'DR_INITIATED' THEN
                    -- declared on a node that could not write: declared when journalled,
                    -- started when it said (72_incident_start.sql; never after its declaration)
                    INSERT INTO @extschema@.dr_incidents (level, summary, declared_by, declared_at, node_name, region,
                                                          started_at)
                    VALUES (coalesce(f.level, (f.details->>'level')::integer, 3),
                            coalesce(f.details->>'summary', 'declared while read-only'),
                            coalesce(f.actor, 'unknown'), f.occurred_at, f.node_name, f.region,
                            least((f.details->>'started_at')::timestamptz, f.occurred_at))
                    RETURNING id INTO inc;
                    UPDATE @extschema@.dr_event_log SET incident_id = inc WHERE id = new_id;
                END IF;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
                -- what the checks above did not foresee: set aside, not retried forever
                reason := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
                new_id := NULL;
            END;
        END IF;
        IF new_id IS NOT NULL THEN
            inserted := inserted + 1;
        ELSIF reason IS NOT NULL THEN
            RAISE WARNING 'tensafe_dr: journal entry %/% set aside: %', j.journal_id, j.seq, reason
                USING DETAIL = format('Payload: %s', left(j.payload::text, 1000)),
                      HINT = 'See dr_events (set_aside_reason) or dr_event_rejects.';
            INSERT INTO @extschema@.dr_event_rejects
                   (origin_journal, origin_seq, reason, payload, occurred_at, event_type, level,
                    node_name, region, system_identifier, timeline, actor, successful, details, incident_id)
            VALUES (j.journal_id, j.seq, reason, j.payload, f.occurred_at, f.event_type, f.level,
                    f.node_name, f.region, f.system_identifier, f.timeline, f.actor, f.successful,
                    f.details, f.incident_id)
            ON CONFLICT (origin_journal, origin_seq) DO NOTHING;
        END IF;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION dr_journal_flush() IS
'Internal (worker): move journalled events into dr_event_log exactly once (idempotent on the journal origin), entry by entry, and give journalled DR_INITIATED events their incident; an entry that cannot be flushed (or whose sequence number was reused with a different payload) is set aside in dr_event_rejects with the reason and counts as flushed. Returns the last sequence number taken and how many events were inserted.';

-------------------------------------------------------------------------------
-- dr_events: also the entries set aside, with the reason (a new last column).
-------------------------------------------------------------------------------
CREATE OR REPLACE VIEW dr_events AS
    SELECT e.id, e.occurred_at, e.event_type, e.level, e.node_name, e.region,
           e.system_identifier, e.timeline, e.actor, e.successful, e.details,
           e.incident_id, false AS pending, NULL::text AS set_aside_reason
      FROM dr_event_log e
    UNION ALL
    SELECT NULL::bigint, (j.payload->>'occurred_at')::timestamptz, j.payload->>'event_type',
           (j.payload->>'level')::integer, j.payload->>'node_name', j.payload->>'region',
           (j.payload->>'system_identifier')::bigint, (j.payload->>'timeline')::integer,
           j.payload->>'actor', (j.payload->>'successful')::boolean,
           coalesce(j.payload->'details', '{}'), (j.payload->>'incident_id')::bigint, true,
           NULL::text
      FROM dr_journal_entries(true) j
     WHERE NOT EXISTS (SELECT 1 FROM dr_event_log x
                        WHERE x.system_identifier = (j.payload->>'system_identifier')::bigint
                          AND x.origin_journal = j.journal_id AND x.origin_seq = j.seq)
       AND NOT EXISTS (SELECT 1 FROM dr_event_rejects r
                        WHERE r.origin_journal = j.journal_id AND r.origin_seq = j.seq)
    UNION ALL
    SELECT NULL::bigint, r.occurred_at, r.event_type, r.level, r.node_name, r.region,
           r.system_identifier, r.timeline, r.actor, r.successful, coalesce(r.details, '{}'),
           r.incident_id, false, r.reason
      FROM dr_event_rejects r;
COMMENT ON VIEW dr_events IS
'Every DR event: the table, this node''s journalled entries not yet flushed (pending = true, id NULL), and the journal entries the flush set aside (id NULL, set_aside_reason says why; what could not be read is NULL).';

-------------------------------------------------------------------------------
-- Incidents: resolving or acknowledging one locks its row first.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_acknowledge(incident bigint, who text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
    at timestamptz;
BEGIN
    -- a concurrent acknowledgement or resolution is seen, not overwritten
    SELECT * INTO r FROM @extschema@.dr_incidents i WHERE i.id = incident FOR UPDATE;
    at := clock_timestamp();
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

CREATE OR REPLACE FUNCTION dr_resolve(incident bigint, resolution text DEFAULT NULL,
    OUT incident_id bigint, OUT rto interval, OUT rto_state text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
    at timestamptz;
    target interval := @extschema@.dr_objective('rto_target');
    maximum interval := @extschema@.dr_objective('rto_max');
BEGIN
    -- of two concurrent resolutions the second waits here, then sees the
    -- first's and is refused
    SELECT * INTO r FROM @extschema@.dr_incidents i WHERE i.id = incident FOR UPDATE;
    at := clock_timestamp();
    IF r.resolved_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident % is already resolved', incident
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was resolved at %s with an RTO of %s.', r.resolved_at, r.rto);
    END IF;
    incident_id := incident;
    -- from the incident's real start (1.2, 72_incident_start.sql)
    rto := at - coalesce(r.started_at, r.declared_at);
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

REVOKE ALL ON FUNCTION dr_event_type_is_reserved(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_event_details_problem(text, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_event_payload_fields(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_event_type_is_reserved(text) TO dr_monitor;
