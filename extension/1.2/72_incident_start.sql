-------------------------------------------------------------------------------
-- An incident's real start (issue 15; amends extension/1.0/30_incidents.sql).
--
-- A regional failover is decided long after the outage began (runbook 3.1:
-- "primary region unreachable for > 10 minutes"), so the RTO of such an
-- incident counted from its declaration hides the first ten minutes.
-- dr_declare(level, summary, started_at) records when it really started;
-- the two-argument dr_declare() takes the default start: on a primary the
-- declaration (started_at stays NULL), and on a standby its
-- last_primary_contact (the outage began when the primary was last heard
-- from; now if it never was).  dr_resolve() judges
-- the RTO from the start (25_event_validation.sql).  A declaration
-- journalled on a standby carries started_at in its details, and the flush
-- (dr_journal_flush(), 25_event_validation.sql) creates the incident with it.
-- started_at NULL: the incident started when declared (declared_at).
-------------------------------------------------------------------------------

ALTER TABLE dr_incidents ADD COLUMN started_at timestamptz;
COMMENT ON COLUMN dr_incidents.started_at IS
'(1.2) When the incident really started (dr_declare''s started_at; on a standby, by default, its last contact with the primary); the RTO is measured from it. NULL: it started when declared (declared_at).';

-- Declare an incident that started at started_at (NULL: when declared).
CREATE FUNCTION dr_declare_internal(level integer, summary text, started_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f record;
    inc bigint;
    at timestamptz := clock_timestamp();
    details jsonb;
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
    IF NOT isfinite(started_at) THEN
        RAISE EXCEPTION 'an incident start time must be finite, not %', started_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF started_at > at THEN
        RAISE EXCEPTION 'an incident start time cannot be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The start given is %s; it is %s on this node.', started_at, at);
    END IF;
    details := jsonb_build_object('summary', summary, 'level', level);
    IF started_at IS NOT NULL THEN
        details := details || jsonb_build_object('started_at', started_at);
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        PERFORM @extschema@.dr_log_event('DR_INITIATED', details, level, true);
        RAISE NOTICE 'incident declared in this node''s journal; it gets its id when the node can write (dr_events shows it as pending)';
        RETURN NULL;
    END IF;
    SELECT * INTO f FROM @extschema@.dr_node_facts();
    INSERT INTO @extschema@.dr_incidents (level, summary, declared_by, declared_at, node_name, region, started_at)
    VALUES (level, summary, @extschema@.dr_caller(), at, f.node_name, f.region, started_at)
    RETURNING id INTO inc;
    PERFORM @extschema@.dr_log_event('DR_INITIATED', details, level, true, inc);
    RETURN inc;
END
$fn$;
COMMENT ON FUNCTION dr_declare_internal(integer, text, timestamptz) IS
'Internal: what both dr_declare() forms do; started_at NULL means the incident started when declared.';
REVOKE ALL ON FUNCTION dr_declare_internal(integer, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION dr_declare(level integer, summary text, started_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF started_at IS NULL THEN
        RAISE EXCEPTION 'an incident needs a start time'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Call dr_declare(level, summary) for the default start: now on a primary, the last contact with the primary on a standby.';
    END IF;
    RETURN @extschema@.dr_declare_internal(level, summary, started_at);
END
$fn$;
COMMENT ON FUNCTION dr_declare(integer, text, timestamptz) IS
'(1.2) Declare a DR incident that started at started_at (finite, not in the future; 22004 for NULL, 22023 otherwise): returns its id (NULL when journalled on a node that cannot write) and records DR_INITIATED; dr_resolve() measures the RTO from started_at.';
REVOKE ALL ON FUNCTION dr_declare(integer, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_declare(integer, text, timestamptz) TO dr_operator;

-- On a standby: since the last contact with the primary (when the primary
-- was last heard from; if never, since now).  On a primary: since now.
CREATE OR REPLACE FUNCTION dr_declare(level integer, summary text)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT @extschema@.dr_declare_internal(level, summary,
        CASE WHEN pg_is_in_recovery()
             THEN coalesce((SELECT s.last_primary_contact FROM @extschema@.dr_status() s), clock_timestamp()) END)
$fn$;
COMMENT ON FUNCTION dr_declare(integer, text) IS
'Declare a DR incident (runbook 3.1 step 1): returns its id and records DR_INITIATED. (1.2) It started now on a primary, and on a standby at its last contact with the primary (dr_declare(level, summary, started_at) to say when); the RTO is measured from that start.';

COMMENT ON FUNCTION dr_resolve(bigint, text) IS
'Resolve an incident (runbook 3.1 step 7): records DR_COMPLETE with the RTO measured from the incident''s start (started_at, 1.2; else its declaration), judged met / target_missed / breach against tensafe_dr.rto_target and rto_max.';
