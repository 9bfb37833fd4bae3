-------------------------------------------------------------------------------
-- Event log.  dr_event_log holds the events; dr_events adds the entries still
-- pending in this node's journal (recorded while it could not write tables).
-- (system_identifier, origin_journal, origin_seq) makes the journal flush
-- idempotent: an entry reaches the table exactly once.
-------------------------------------------------------------------------------
CREATE TABLE dr_event_log (
    id                bigserial PRIMARY KEY,
    occurred_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    event_type        text NOT NULL,
    level             integer CHECK (level BETWEEN 1 AND 4),
    node_name         text,
    region            text,
    system_identifier bigint,
    timeline          integer,
    actor             text,
    successful        boolean NOT NULL DEFAULT true,
    details           jsonb NOT NULL DEFAULT '{}',
    incident_id       bigint,
    origin_journal    text,
    origin_seq        bigint,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (system_identifier, origin_journal, origin_seq)
);
CREATE INDEX dr_event_log_occurred_at ON dr_event_log (occurred_at);
CREATE INDEX dr_event_log_incident ON dr_event_log (incident_id) WHERE incident_id IS NOT NULL;
COMMENT ON TABLE dr_event_log IS
'DR events recorded on this cluster; journalled ones arrive once their node can write (origin_journal, origin_seq).';

CREATE TABLE dr_incidents (
    id               bigserial PRIMARY KEY,
    level            integer NOT NULL CHECK (level BETWEEN 1 AND 4),
    summary          text NOT NULL,
    declared_by      text NOT NULL,
    declared_at      timestamptz NOT NULL,
    node_name        text,
    region           text,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    resolved_by      text,
    resolved_at      timestamptz,
    resolution       text,
    rto              interval,
    rto_target       interval,
    rto_max          interval,
    rto_state        text CHECK (rto_state IN ('met', 'target_missed', 'breach'))
);
COMMENT ON TABLE dr_incidents IS
'DR incidents (runbook section 2 levels 1-4): declared, acknowledged, resolved; RTO measured from declaration to resolution and judged against rto_target/rto_max.';

CREATE TABLE dr_lag_samples (
    sampled_at    timestamptz NOT NULL,
    node_name     text,
    standby_name  text,
    client_addr   inet,
    rpo_lag       interval,
    replay_lag    interval,
    lag_bytes     numeric,
    rpo_state     text
);
CREATE INDEX dr_lag_samples_sampled_at ON dr_lag_samples (sampled_at);
COMMENT ON TABLE dr_lag_samples IS
'Per-standby lag sampled by the primary''s worker every tensafe_dr.history_interval, pruned past tensafe_dr.history_retention.';

SELECT pg_catalog.pg_extension_config_dump('dr_event_log', '');
SELECT pg_catalog.pg_extension_config_dump('dr_event_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dr_incidents', '');
SELECT pg_catalog.pg_extension_config_dump('dr_incidents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dr_lag_samples', '');

CREATE VIEW dr_lag_history AS
    SELECT sampled_at, node_name, standby_name, client_addr, rpo_lag, replay_lag,
           lag_bytes, rpo_state
      FROM dr_lag_samples;
COMMENT ON VIEW dr_lag_history IS
'Sampled per-standby lag on the primary, bounded by tensafe_dr.history_retention.';

-- The journal, as SQL (internal).
CREATE FUNCTION dr_journal_append(payload jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'dr_journal_append_sql'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_journal_append(jsonb) IS 'Internal: journal an event payload (fsync''d).';

CREATE FUNCTION dr_journal_entries(
    unflushed_only boolean DEFAULT false,
    OUT journal_id text,
    OUT seq bigint,
    OUT written_at timestamptz,
    OUT flushed boolean,
    OUT payload jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_journal_entries'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_journal_entries(boolean) IS
'The events in this node''s local journal ($PGDATA/pg_tensafe_dr/journal).';

CREATE VIEW dr_events AS
    SELECT e.id, e.occurred_at, e.event_type, e.level, e.node_name, e.region,
           e.system_identifier, e.timeline, e.actor, e.successful, e.details,
           e.incident_id, false AS pending
      FROM dr_event_log e
    UNION ALL
    SELECT NULL::bigint, (j.payload->>'occurred_at')::timestamptz, j.payload->>'event_type',
           (j.payload->>'level')::integer, j.payload->>'node_name', j.payload->>'region',
           (j.payload->>'system_identifier')::bigint, (j.payload->>'timeline')::integer,
           j.payload->>'actor', (j.payload->>'successful')::boolean,
           coalesce(j.payload->'details', '{}'), (j.payload->>'incident_id')::bigint, true
      FROM dr_journal_entries(true) j
     WHERE NOT EXISTS (SELECT 1 FROM dr_event_log x
                        WHERE x.system_identifier = (j.payload->>'system_identifier')::bigint
                          AND x.origin_journal = j.journal_id AND x.origin_seq = j.seq);
COMMENT ON VIEW dr_events IS
'Every DR event: the table, plus this node''s journalled entries not yet flushed (pending = true, id NULL).';

CREATE FUNCTION dr_caller()
RETURNS text
AS 'MODULE_PATHNAME', 'dr_caller'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION dr_caller() IS
'The role the caller acts as (SET ROLE included), even inside SECURITY DEFINER functions: the actor of events.';

-- Facts about this node that every event carries.
CREATE FUNCTION dr_node_facts(
    OUT node_name text, OUT region text, OUT system_identifier bigint, OUT timeline integer)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT s.node_name, s.region, (pg_control_system()).system_identifier, s.timeline
      FROM @extschema@.dr_status() s
$fn$;

-- The incident open at a given moment (newest declared before it, not yet resolved then).
CREATE FUNCTION dr_incident_at(at timestamptz)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT id FROM @extschema@.dr_incidents
     WHERE declared_at <= at AND (resolved_at IS NULL OR resolved_at >= at)
     ORDER BY declared_at DESC LIMIT 1
$fn$;

CREATE FUNCTION dr_can_write()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'
$fn$;

-- Internal: record an event, in the table when this node can write, else in
-- the journal.  Returns the id, or NULL when journalled.
CREATE FUNCTION dr_log_event(
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
BEGIN
    SELECT * INTO f FROM @extschema@.dr_node_facts();
    p_incident_id := coalesce(p_incident_id, @extschema@.dr_incident_at(now_ts));
    IF @extschema@.dr_can_write() THEN
        INSERT INTO @extschema@.dr_event_log
               (occurred_at, event_type, level, node_name, region, system_identifier,
                timeline, actor, successful, details, incident_id)
        VALUES (now_ts, p_event_type, p_level, f.node_name, f.region, f.system_identifier,
                f.timeline, @extschema@.dr_caller(), p_successful, coalesce(p_details, '{}'), p_incident_id)
        RETURNING id INTO new_id;
        RETURN new_id;
    END IF;
    PERFORM @extschema@.dr_journal_append(jsonb_build_object(
        'occurred_at', now_ts, 'event_type', p_event_type, 'level', p_level,
        'node_name', f.node_name, 'region', f.region,
        'system_identifier', f.system_identifier, 'timeline', f.timeline,
        'actor', @extschema@.dr_caller(), 'successful', p_successful,
        'details', coalesce(p_details, '{}'), 'incident_id', p_incident_id));
    RETURN NULL;
END
$fn$;

CREATE FUNCTION dr_record_event(event_type text, details jsonb DEFAULT '{}', level integer DEFAULT NULL)
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
'Record a DR event: inserted on a writable node (returns its id), journalled durably on a standby or fenced node (returns NULL; appears in dr_events as pending and is flushed exactly once when the node can write).';

-- Worker only: move journalled events into dr_event_log (idempotent) and
-- give journalled DR_INITIATED events their incident.
CREATE FUNCTION dr_journal_flush(OUT flushed_upto bigint, OUT inserted integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    inc bigint;
BEGIN
    inserted := 0;
    SELECT max(seq) INTO flushed_upto FROM @extschema@.dr_journal_entries(true);
    FOR r IN
        WITH ins AS (
            INSERT INTO @extschema@.dr_event_log
                   (occurred_at, event_type, level, node_name, region, system_identifier,
                    timeline, actor, successful, details, incident_id, origin_journal, origin_seq)
            SELECT (p->>'occurred_at')::timestamptz, p->>'event_type', (p->>'level')::integer,
                   p->>'node_name', p->>'region', (p->>'system_identifier')::bigint,
                   (p->>'timeline')::integer, p->>'actor', coalesce((p->>'successful')::boolean, true),
                   coalesce(p->'details', '{}'),
                   coalesce((p->>'incident_id')::bigint,
                            @extschema@.dr_incident_at((p->>'occurred_at')::timestamptz)),
                   j.journal_id, j.seq
              FROM @extschema@.dr_journal_entries(true) j, LATERAL (SELECT j.payload AS p) x
             WHERE j.seq <= flushed_upto
             ORDER BY j.seq
            ON CONFLICT (system_identifier, origin_journal, origin_seq) DO NOTHING
            RETURNING id, event_type, level, details, actor, occurred_at, node_name, region
        )
        SELECT * FROM ins ORDER BY id
    LOOP
        inserted := inserted + 1;
        IF r.event_type = 'DR_INITIATED' THEN
            -- declared on a node that could not write: the incident starts now
            INSERT INTO @extschema@.dr_incidents (level, summary, declared_by, declared_at, node_name, region)
            VALUES (coalesce(r.level, (r.details->>'level')::integer, 3),
                    coalesce(r.details->>'summary', 'declared while read-only'),
                    r.actor, r.occurred_at, r.node_name, r.region)
            RETURNING id INTO inc;
            UPDATE @extschema@.dr_event_log SET incident_id = inc WHERE id = r.id;
        END IF;
    END LOOP;
END
$fn$;

-- Worker only: sample every standby's lag into dr_lag_samples and prune.
CREATE FUNCTION dr_history_sample(retention interval)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n integer;
BEGIN
    INSERT INTO @extschema@.dr_lag_samples
           (sampled_at, node_name, standby_name, client_addr, rpo_lag, replay_lag, lag_bytes, rpo_state)
    SELECT now(), (SELECT node_name FROM @extschema@.dr_status()), r.standby_name, r.client_addr,
           r.rpo_lag, r.replay_lag, r.replay_lag_bytes, r.rpo_state
      FROM @extschema@.dr_replicas r;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM @extschema@.dr_lag_samples WHERE sampled_at < now() - retention;
    RETURN n;
END
$fn$;

