/* tensafe_dr--1.0.sql — install script */

\echo Use "CREATE EXTENSION tensafe_dr" to load this file. \quit

-------------------------------------------------------------------------------
-- Roles (cluster-wide, so created only if missing; they outlive the extension)
--   dr_monitor   read status and views            (granted to pg_monitor)
--   dr_operator  dr_monitor + record, declare, promote
--   dr_admin     dr_operator + configuration, backups, webhooks and secrets
-------------------------------------------------------------------------------
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['dr_monitor', 'dr_operator', 'dr_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

GRANT dr_monitor TO pg_monitor;
GRANT dr_monitor TO dr_operator;
GRANT dr_operator TO dr_admin;

-------------------------------------------------------------------------------
-- Status
-------------------------------------------------------------------------------
CREATE FUNCTION dr_status(
    OUT node_name text,
    OUT region text,
    OUT role text,
    OUT timeline integer,
    OUT in_recovery boolean,
    OUT receiver_status text,
    OUT last_primary_contact timestamptz,
    OUT replay_lag interval,
    OUT rpo_lag interval,
    OUT lag_bytes bigint,
    OUT rpo_target interval,
    OUT rpo_max interval,
    OUT rpo_state text,
    OUT state_reason text,
    OUT standbys integer,
    OUT replay_paused boolean,
    OUT last_sample_at timestamptz,
    OUT worker_pid integer,
    OUT open_incident bigint,
    OUT last_event text,
    OUT fenced boolean,
    OUT pending_events bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_status() IS
'One row: can this node fail over now and what would it lose. rpo_lag = age of the oldest primary WAL not held durably here; replay_lag = age of the oldest WAL not replayed; rpo_state judges the larger against tensafe_dr.rpo_target/rpo_max.';

CREATE FUNCTION dr_standby_lag(
    flush_lsn pg_lsn,
    replay_lsn pg_lsn,
    OUT rpo_lag interval,
    OUT replay_lag interval,
    OUT lag_bytes bigint,
    OUT rpo_state text)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_standby_lag'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn) IS
'Figures for a standby that reported the given flush and replay positions, dated from this node''s WAL-position ring.';

CREATE FUNCTION dr_samples(
    max_samples integer DEFAULT 60,
    OUT sampled_at timestamptz,
    OUT role text,
    OUT timeline integer,
    OUT primary_lsn pg_lsn,
    OUT insert_lsn pg_lsn,
    OUT receive_lsn pg_lsn,
    OUT replay_lsn pg_lsn,
    OUT receiver_status text,
    OUT last_primary_contact timestamptz,
    OUT standbys integer,
    OUT standby_min_flush_lsn pg_lsn,
    OUT standby_min_replay_lsn pg_lsn)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_samples'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_samples(integer) IS
'The newest samples of the worker''s shared-memory ring of WAL positions, oldest first.';

-- pg_stat_replication hides positions from callers without pg_read_all_stats;
-- this definer function shows dr_monitor the DR-relevant columns of physical
-- standbys only (logical walsenders are connected to a database).
CREATE FUNCTION dr_replicas_internal(
    OUT pid integer,
    OUT standby_name text,
    OUT client_addr inet,
    OUT state text,
    OUT sync_state text,
    OUT sent_lsn pg_lsn,
    OUT write_lsn pg_lsn,
    OUT flush_lsn pg_lsn,
    OUT replay_lsn pg_lsn,
    OUT write_lag_bytes numeric,
    OUT flush_lag_bytes numeric,
    OUT replay_lag_bytes numeric,
    OUT rpo_lag interval,
    OUT replay_lag interval,
    OUT rpo_state text,
    OUT reply_time timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT r.pid, r.application_name, r.client_addr, r.state, r.sync_state,
           r.sent_lsn, r.write_lsn, r.flush_lsn, r.replay_lsn,
           pg_wal_lsn_diff(cur.lsn, r.write_lsn),
           pg_wal_lsn_diff(cur.lsn, r.flush_lsn),
           pg_wal_lsn_diff(cur.lsn, r.replay_lsn),
           lag.rpo_lag, lag.replay_lag,
           coalesce(lag.rpo_state, 'unknown'),
           r.reply_time
      FROM pg_stat_replication r
      JOIN pg_stat_activity a ON a.pid = r.pid AND a.datid IS NULL
     CROSS JOIN LATERAL (SELECT CASE WHEN pg_is_in_recovery()
                                     THEN pg_last_wal_receive_lsn()
                                     ELSE pg_current_wal_flush_lsn() END AS lsn) cur
      LEFT JOIN LATERAL @extschema@.dr_standby_lag(r.flush_lsn, r.replay_lsn) lag ON true
$fn$;

COMMENT ON FUNCTION dr_replicas_internal() IS
'Backs the dr_replicas view; not meant to be called directly.';

CREATE VIEW dr_replicas AS
    SELECT * FROM dr_replicas_internal();

COMMENT ON VIEW dr_replicas IS
'One row per physical standby attached to this node: positions, byte lags, and rpo_lag/replay_lag dated from the WAL-position ring (0 when caught up, NULL only before a standby reports).';

-------------------------------------------------------------------------------
-- Privileges: nothing is PUBLIC
-------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION dr_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_samples(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_replicas_internal() FROM PUBLIC;
REVOKE ALL ON dr_replicas FROM PUBLIC;

GRANT EXECUTE ON FUNCTION dr_status() TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_standby_lag(pg_lsn, pg_lsn) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_samples(integer) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_replicas_internal() TO dr_monitor;
GRANT SELECT ON dr_replicas TO dr_monitor;

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

-------------------------------------------------------------------------------
-- Promotion (runbook 3.1 steps 2-3)
-------------------------------------------------------------------------------
CREATE FUNCTION dr_promote_check(
    OUT promotable boolean,
    OUT reason text,
    OUT role text,
    OUT receiver_streaming boolean,
    OUT last_primary_contact timestamptz,
    OUT exposure interval,
    OUT rpo_lag interval,
    OUT replay_lag interval,
    OUT gate interval,
    OUT replay_paused boolean,
    OUT unreplayed_bytes bigint,
    OUT estimated_catchup interval,
    OUT timeline integer)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_promote_check'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_promote_check() IS
'Read-only promotion verdict (safe in Patroni pre_promote): may this standby be promoted now; exposure = the larger of rpo_lag and replay_lag, judged against the gate tensafe_dr.promote_max_lag (default rpo_max). The verdict is journalled as PROMOTE_CHECK.';

CREATE FUNCTION dr_promote(force boolean DEFAULT false, wait_seconds integer DEFAULT 60,
    OUT promoted boolean, OUT forced boolean, OUT timeline_before integer,
    OUT timeline_after integer, OUT exposure interval, OUT elapsed interval)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    chk record;
    t0 timestamptz := clock_timestamp();
    details jsonb;
BEGIN
    IF wait_seconds IS NULL OR wait_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'wait_seconds must be between 1 and 3600' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO chk FROM @extschema@.dr_promote_check();
    IF chk.role <> 'standby' THEN
        RAISE EXCEPTION 'this node is not a standby'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'dr_promote() promotes a standby; this node is already a primary.';
    END IF;
    details := jsonb_build_object(
        'forced', coalesce(force, false), 'reason', chk.reason,
        'exposure_s', extract(epoch FROM chk.exposure), 'rpo_lag_s', extract(epoch FROM chk.rpo_lag),
        'replay_lag_s', extract(epoch FROM chk.replay_lag), 'gate_s', extract(epoch FROM chk.gate),
        'unreplayed_bytes', chk.unreplayed_bytes, 'replay_paused', chk.replay_paused,
        'receiver_streaming', chk.receiver_streaming,
        'last_primary_contact', chk.last_primary_contact, 'timeline_before', chk.timeline);
    IF NOT chk.promotable AND NOT coalesce(force, false) THEN
        PERFORM @extschema@.dr_log_event('PROMOTE_REFUSED', details, NULL, false);
        RAISE EXCEPTION 'promotion refused: %', chk.reason
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('exposure %s, gate %s (tensafe_dr.promote_max_lag), rpo_lag %s, replay_lag %s, WAL receiver %s, last contact with the primary %s, %s bytes not replayed.',
                                  coalesce(chk.exposure::text, 'unknown'), chk.gate,
                                  coalesce(chk.rpo_lag::text, 'unknown'), coalesce(chk.replay_lag::text, 'unknown'),
                                  CASE WHEN chk.receiver_streaming THEN 'streaming' ELSE 'not streaming' END,
                                  coalesce(chk.last_primary_contact::text, 'never'), chk.unreplayed_bytes),
                  HINT = 'Wait until the standby catches up (SELECT dr_wait_for_lag(...)), or accept the loss with dr_promote(force => true).';
    END IF;

    IF NOT pg_promote(true, wait_seconds) OR pg_is_in_recovery() THEN
        PERFORM @extschema@.dr_log_event('PROMOTE_FAILED',
            details || jsonb_build_object('elapsed_s', round(extract(epoch FROM clock_timestamp() - t0), 3)),
            NULL, false);
        RAISE EXCEPTION 'promotion did not complete within % s', wait_seconds
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The node is still in recovery: see the server log; pg_promote() may still complete.';
    END IF;

    promoted := true;
    forced := coalesce(force, false);
    timeline_before := chk.timeline;
    timeline_after := (SELECT s.timeline FROM @extschema@.dr_status() s);
    exposure := chk.exposure;
    elapsed := clock_timestamp() - t0;
    -- this transaction began in recovery, so it is read-only: the journal
    -- carries the record to dr_events, flushed by the worker within a second
    PERFORM @extschema@.dr_log_event('PROMOTED',
        details || jsonb_build_object('timeline_after', timeline_after,
                                      'elapsed_s', round(extract(epoch FROM elapsed), 3)),
        NULL, true);
END
$fn$;
COMMENT ON FUNCTION dr_promote(boolean, integer) IS
'Promote this standby through pg_promote() if dr_promote_check() allows it (or force => true); verifies the node left recovery and records PROMOTED (or PROMOTE_REFUSED / PROMOTE_FAILED) with the figures.';

-------------------------------------------------------------------------------
-- Failback helpers (runbook 3.2)
-------------------------------------------------------------------------------
CREATE FUNCTION dr_wait_for_lag(max_lag interval, timeout interval DEFAULT '5 min')
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_wait_for_lag'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_wait_for_lag(interval, interval) IS
'Wait until rpo_lag and replay_lag (on a primary: of every attached standby) are at most max_lag; true if met, false on timeout.';

CREATE FUNCTION dr_wait_for_lsn(target pg_lsn, timeout interval DEFAULT '5 min')
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_wait_for_lsn'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_wait_for_lsn(pg_lsn, interval) IS
'Wait until this standby (on a primary: every attached standby) has replayed target; true if met, false on timeout.';

CREATE FUNCTION dr_set_fence(on_ boolean)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dr_set_fence'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION dr_fence(reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF (SELECT fenced FROM @extschema@.dr_status()) THEN
        RETURN false;
    END IF;
    -- record first: once fenced, this transaction cannot write any more
    PERFORM @extschema@.dr_log_event('FENCED',
        jsonb_build_object('reason', reason, 'flush_lsn',
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn() END),
        NULL, true);
    PERFORM @extschema@.dr_set_fence(true);
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION dr_fence(text) IS
'Stop new writes on this node (runbook 3.2 "stop writes"): every client statement runs read-only (SQLSTATE 25006 on writes) until dr_unfence(); survives restarts; recorded as FENCED.';

CREATE FUNCTION dr_unfence()
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT @extschema@.dr_set_fence(false) THEN
        RETURN false;
    END IF;
    PERFORM @extschema@.dr_log_event('UNFENCED', '{}', NULL, true);
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION dr_unfence() IS 'Lift the write fence set by dr_fence(); recorded as UNFENCED.';

-------------------------------------------------------------------------------
-- Privileges of the event, incident and promotion objects
-------------------------------------------------------------------------------
REVOKE ALL ON dr_event_log, dr_incidents, dr_lag_samples FROM PUBLIC;
REVOKE ALL ON dr_events, dr_lag_history FROM PUBLIC;
GRANT SELECT ON dr_event_log, dr_incidents, dr_lag_samples, dr_events, dr_lag_history TO dr_monitor;

REVOKE ALL ON FUNCTION dr_journal_append(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_caller() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_journal_entries(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_node_facts() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_incident_at(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_can_write() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_log_event(text, jsonb, integer, boolean, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_record_event(text, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_journal_flush() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_history_sample(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_declare(integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_require_incident(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_acknowledge(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_objective(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_resolve(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_incident_timeline(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_postmortem(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_promote_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_promote(boolean, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wait_for_lag(interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wait_for_lsn(pg_lsn, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_set_fence(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_fence(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_unfence() FROM PUBLIC;

-- dr_monitor reads: dr_events needs the journal
GRANT EXECUTE ON FUNCTION dr_journal_entries(boolean) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_incident_timeline(bigint) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_postmortem(bigint) TO dr_monitor;

-- dr_operator acts
GRANT EXECUTE ON FUNCTION dr_record_event(text, jsonb, integer) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_promote_check() TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_declare(integer, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_acknowledge(bigint, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_resolve(bigint, text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_promote(boolean, integer) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_wait_for_lag(interval, interval) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_wait_for_lsn(pg_lsn, interval) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_fence(text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_unfence() TO dr_operator;
