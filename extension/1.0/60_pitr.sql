-------------------------------------------------------------------------------
-- Point-in-time recovery (runbook 4.1, 4.2): the LSN <-> time map, named
-- restore points, the recovery plan, and pgBackRest's backups in the catalog.
--
--   dr_wal_positions    the primary's WAL insert position, sampled by the
--                       worker every tensafe_dr.history_interval, kept for
--                       tensafe_dr.position_retention
--   dr_lsn_at(t) / dr_time_at(lsn)   interpolated between those samples
--   dr_restore_points   restore points made with dr_create_restore_point()
--   dr_pitr_plan(target)  which verified backup (dr_backups), which WAL, what
--                       is missing, and the settings for postgresql.auto.conf
--   dr_import_pgbackrest(info)  pgbackrest info --output=json -> dr_backups
--
-- Refusals are errors (dr_pitr_plan(..., refuse => false) returns them as a
-- row with feasible = false instead):
--   22023  target in the future, or before the oldest verified backup
--   42704  unknown restore point (or a text target that is neither an LSN,
--          a timestamp nor a restore point name)
--   55000  no verified backup; no WAL archive configured
--   58P01  WAL needed by the recovery is missing from the archive
--   0A000  no usable backup on the target's timeline or one it descends from
-------------------------------------------------------------------------------

CREATE TABLE dr_wal_positions (
    sampled_at  timestamptz NOT NULL,
    lsn         pg_lsn NOT NULL,
    timeline    integer NOT NULL
);
CREATE INDEX dr_wal_positions_sampled_at ON dr_wal_positions (sampled_at);
CREATE INDEX dr_wal_positions_lsn ON dr_wal_positions (lsn);
COMMENT ON TABLE dr_wal_positions IS
'The primary''s WAL insert position sampled by the worker every tensafe_dr.history_interval, pruned past tensafe_dr.position_retention: the map between times and LSNs that dr_lsn_at(), dr_time_at() and dr_pitr_plan() interpolate in.';

CREATE TABLE dr_restore_points (
    name        text PRIMARY KEY,
    lsn         pg_lsn NOT NULL,
    created_at  timestamptz NOT NULL,
    timeline    integer NOT NULL,
    created_by  text NOT NULL
);
COMMENT ON TABLE dr_restore_points IS
'Named recovery targets created with dr_create_restore_point(): the restore point''s WAL record LSN, when, on which timeline and by whom.';

SELECT pg_catalog.pg_extension_config_dump('dr_wal_positions', '');
SELECT pg_catalog.pg_extension_config_dump('dr_restore_points', '');

-- Worker only (primary): one WAL-position sample, then prune.
CREATE FUNCTION dr_positions_sample(retention interval)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF pg_is_in_recovery() THEN
        RETURN 0;
    END IF;
    INSERT INTO @extschema@.dr_wal_positions (sampled_at, lsn, timeline)
    SELECT clock_timestamp(), pg_current_wal_insert_lsn(), s.timeline
      FROM @extschema@.dr_status() s;
    DELETE FROM @extschema@.dr_wal_positions WHERE sampled_at < now() - retention;
    RETURN 1;
END
$fn$;
COMMENT ON FUNCTION dr_positions_sample(interval) IS
'Internal (worker): record the WAL insert position now into dr_wal_positions and delete samples older than retention.';

-- Where this node's WAL is now: the insert position on a primary, the replay
-- position on a standby.
CREATE FUNCTION dr_current_lsn()
RETURNS pg_lsn
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_insert_lsn() END
$fn$;

CREATE FUNCTION dr_lsn_at(at timestamptz)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    lo record;
    hi record;
    oldest timestamptz;
BEGIN
    IF at > clock_timestamp() THEN
        RAISE EXCEPTION 'time % is in the future', at
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The WAL position at a time can only be known once that time has passed.';
    END IF;
    SELECT sampled_at, lsn INTO lo FROM @extschema@.dr_wal_positions
     WHERE sampled_at <= at ORDER BY sampled_at DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT min(sampled_at) INTO oldest FROM @extschema@.dr_wal_positions;
        RAISE EXCEPTION 'no WAL position is known before %', at
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN oldest IS NULL THEN 'dr_wal_positions is empty: the worker has not sampled yet.'
                                ELSE pg_catalog.format('The oldest sample in dr_wal_positions is from %s.', oldest) END,
                  HINT = 'Samples are taken every tensafe_dr.history_interval and kept for tensafe_dr.position_retention.';
    END IF;
    SELECT sampled_at, lsn INTO hi FROM @extschema@.dr_wal_positions
     WHERE sampled_at >= at ORDER BY sampled_at LIMIT 1;
    IF NOT FOUND THEN
        SELECT clock_timestamp() AS sampled_at, @extschema@.dr_current_lsn() AS lsn INTO hi;
    END IF;
    IF hi.sampled_at <= lo.sampled_at OR hi.lsn <= lo.lsn THEN
        RETURN lo.lsn;
    END IF;
    RETURN lo.lsn + round((hi.lsn - lo.lsn)
                          * extract(epoch FROM at - lo.sampled_at)
                          / extract(epoch FROM hi.sampled_at - lo.sampled_at));
END
$fn$;
COMMENT ON FUNCTION dr_lsn_at(timestamptz) IS
'The WAL position this cluster had reached at the given time, interpolated between the surrounding dr_wal_positions samples (after the newest sample: between it and the current position). 22023 for a future time or one before the oldest sample.';

CREATE FUNCTION dr_time_at(lsn pg_lsn)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    lo record;
    hi record;
    cur pg_lsn := @extschema@.dr_current_lsn();
BEGIN
    IF lsn > cur THEN
        RAISE EXCEPTION 'WAL position % has not been reached yet', lsn
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('This node''s WAL is at %s.', cur);
    END IF;
    SELECT p.sampled_at, p.lsn INTO lo FROM @extschema@.dr_wal_positions p
     WHERE p.lsn < dr_time_at.lsn ORDER BY p.sampled_at DESC LIMIT 1;
    SELECT p.sampled_at, p.lsn INTO hi FROM @extschema@.dr_wal_positions p
     WHERE p.lsn >= dr_time_at.lsn ORDER BY p.sampled_at LIMIT 1;
    IF hi.sampled_at IS NULL THEN
        SELECT clock_timestamp() AS sampled_at, cur AS lsn INTO hi;
    END IF;
    -- exactly the oldest sample's position: that sample dates it
    IF lo.sampled_at IS NULL AND hi.lsn = lsn THEN
        RETURN hi.sampled_at;
    END IF;
    IF lo.sampled_at IS NULL THEN
        RAISE EXCEPTION 'WAL position % is older than the oldest WAL-position sample', lsn
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN hi.lsn IS NULL THEN 'dr_wal_positions is empty: the worker has not sampled yet.'
                                ELSE pg_catalog.format('The oldest sample in dr_wal_positions is %s at %s.',
                                                       (SELECT p.lsn FROM @extschema@.dr_wal_positions p ORDER BY p.sampled_at LIMIT 1),
                                                       (SELECT min(p.sampled_at) FROM @extschema@.dr_wal_positions p)) END,
                  HINT = 'Samples are taken every tensafe_dr.history_interval and kept for tensafe_dr.position_retention.';
    END IF;
    IF hi.lsn <= lo.lsn OR hi.sampled_at <= lo.sampled_at THEN
        RETURN hi.sampled_at;
    END IF;
    RETURN lo.sampled_at + (hi.sampled_at - lo.sampled_at)
                           * ((lsn - lo.lsn) / (hi.lsn - lo.lsn))::double precision;
END
$fn$;
COMMENT ON FUNCTION dr_time_at(pg_lsn) IS
'When this cluster''s WAL reached the given position, interpolated between the surrounding dr_wal_positions samples. 22023 for a position not yet reached or older than the oldest sample.';

CREATE FUNCTION dr_create_restore_point(name text)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    rp_name ALIAS FOR $1;
    prior record;
    rp_lsn pg_lsn;
    tli integer;
BEGIN
    IF rp_name IS NULL OR octet_length(rp_name) NOT BETWEEN 1 AND 63
       OR rp_name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid restore point name: %', coalesce(quote_literal(rp_name), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A restore point name is 1 to 63 bytes without control characters.';
    END IF;
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot create a restore point on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = 'A restore point is a WAL record, and only the primary writes WAL.',
                  HINT = 'Create it on the primary; it reaches the standbys and the archive with the WAL.';
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        RAISE EXCEPTION 'cannot create a restore point on a read-only node'
            USING ERRCODE = 'read_only_sql_transaction',
                  DETAIL = 'The transaction is read-only (the node may be fenced with dr_fence()).',
                  HINT = 'Lift the fence with dr_unfence(), or create the restore point on the writable primary.';
    END IF;
    -- one creator at a time, so that a name is checked and taken atomically
    LOCK TABLE @extschema@.dr_restore_points IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO prior FROM @extschema@.dr_restore_points r WHERE r.name = rp_name;
    IF FOUND THEN
        RAISE EXCEPTION 'restore point "%" already exists', rp_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = pg_catalog.format('It was created at %s by %s at LSN %s on timeline %s.',
                                             prior.created_at, prior.created_by, prior.lsn, prior.timeline),
                  HINT = 'Recovery stops at the first restore point of a name, so names are not reused; choose another name.';
    END IF;
    rp_lsn := pg_create_restore_point(rp_name);
    SELECT s.timeline INTO tli FROM @extschema@.dr_status() s;
    INSERT INTO @extschema@.dr_restore_points (name, lsn, created_at, timeline, created_by)
    VALUES (rp_name, rp_lsn, clock_timestamp(), tli, @extschema@.dr_caller());
    PERFORM @extschema@.dr_log_event('RESTORE_POINT',
        jsonb_build_object('name', rp_name, 'lsn', rp_lsn::text, 'timeline', tli), NULL, true);
    RETURN rp_lsn;
END
$fn$;
COMMENT ON FUNCTION dr_create_restore_point(text) IS
'Create a named recovery target (pg_create_restore_point) on the primary, record it in dr_restore_points and as a RESTORE_POINT event; returns its LSN. Standby or read-only node 25006, name taken 42710, bad name 22023.';

-- The name of the WAL segment holding an LSN on a timeline (pg_walfile_name
-- only works on a primary and for its current timeline).
CREATE FUNCTION dr_wal_segment_name(lsn pg_lsn, timeline integer)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT upper(lpad(to_hex(timeline), 8, '0')
                 || lpad(to_hex(floor((lsn - '0/0'::pg_lsn) / 4294967296)::bigint), 8, '0')
                 || lpad(to_hex(floor(((lsn - '0/0'::pg_lsn) % 4294967296) / seg)::bigint), 8, '0'))
      FROM (SELECT pg_size_bytes(current_setting('wal_segment_size')) AS seg) s
$fn$;

CREATE FUNCTION dr_wal_archive_check(
    start_lsn pg_lsn,
    end_lsn pg_lsn,
    timeline integer,
    OUT archive_dir text,
    OUT segments_needed integer,
    OUT first_segment text,
    OUT last_segment text,
    OUT missing text[],
    OUT missing_count integer)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_wal_archive_check'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_wal_archive_check(pg_lsn, pg_lsn, integer) IS
'Internal: the WAL segments from start_lsn to end_lsn on a timeline, and those not in tensafe_dr.wal_archive_dir as complete files.';

-- A value quoted for postgresql.conf: single quotes doubled, backslashes
-- doubled (the configuration file parser reads backslash escapes).
CREATE FUNCTION dr_conf_quote(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT '''' || replace(replace(value, E'\\', E'\\\\'), '''', '''''') || ''''
$fn$;

CREATE FUNCTION dr_wal_archive_history(
    target_timeline integer,
    OUT timeline integer,
    OUT begin_lsn pg_lsn,
    OUT end_lsn pg_lsn)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_wal_archive_history'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_wal_archive_history(integer) IS
'Internal: the timelines a recovery to the given timeline passes through, from its history file in tensafe_dr.wal_archive_dir: each one''s begin and end LSN (end NULL for the given one).';

CREATE TYPE dr_pitr_plan_row AS (
    feasible              boolean,
    reason                text,
    detail                text,
    hint                  text,
    sqlstate              text,
    target_type           text,
    target                text,
    backup_id             bigint,
    backup_source         text,
    backup_path           text,
    backup_label          text,
    backup_stop_time      timestamptz,
    start_lsn             pg_lsn,
    target_lsn            pg_lsn,
    target_time           timestamptz,
    timeline              integer,
    wal_segments_needed   integer,
    first_segment         text,
    last_segment          text,
    wal_segments_missing  text[],
    replay_bytes          numeric,
    recovery_conf         text
);
COMMENT ON TYPE dr_pitr_plan_row IS 'The row dr_pitr_plan() returns.';

-- Internal: the plan for one resolved target (kind 'time', 'lsn' or 'name').
-- Never raises for a refusal: returns feasible = false with the reason,
-- detail, hint and the SQLSTATE the public functions raise.
CREATE FUNCTION dr_pitr_plan_internal(p_kind text, p_time timestamptz, p_lsn pg_lsn, p_name text)
RETURNS dr_pitr_plan_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_pitr_plan_row;
    upper_lsn pg_lsn;           -- WAL is needed up to here (>= the target)
    lo record;
    hi record;
    rp record;
    b record;
    oldest record;
    chk record;
    sysid bigint := (pg_control_system()).system_identifier;
    cur pg_lsn := @extschema@.dr_current_lsn();
    cur_tli integer := (SELECT s.timeline FROM @extschema@.dr_status() s);
    tli integer;
    have_backup boolean;
    c_tli integer[];            -- the target timeline's history: timelines,
    c_begin pg_lsn[];           -- where each begins,
    c_end pg_lsn[];             -- and where each ends (NULL: the target's)
    rng_tli integer[];          -- WAL ranges to check, one per timeline
    rng_start pg_lsn[];
    rng_end pg_lsn[];
    i integer;
    archive_dir text;
    missing text[] := '{}';
    needed integer := 0;
    seg numeric := pg_size_bytes(current_setting('wal_segment_size'));
    stanza text;
    arch_min text;
    arch_max text;
    conf text;
    q text;
BEGIN
    r.feasible := false;
    r.target_type := p_kind;
    SELECT NULL::timestamptz AS sampled_at, NULL::pg_lsn AS lsn, NULL::integer AS timeline INTO lo;

    ---------------------------------------------------------------- target
    IF p_kind = 'time' THEN
        r.target := p_time::text;
        r.target_time := p_time;
        IF p_time > clock_timestamp() THEN
            r.reason := pg_catalog.format('recovery target time %s is in the future', p_time);
            r.detail := 'A recovery can only replay WAL that has been written.';
            r.hint := 'Choose a time before now.';
            r.sqlstate := '22023';
            RETURN r;
        END IF;
        SELECT p.sampled_at, p.lsn, p.timeline INTO lo FROM @extschema@.dr_wal_positions p
         WHERE p.sampled_at <= p_time ORDER BY p.sampled_at DESC LIMIT 1;
        SELECT p.sampled_at, p.lsn, p.timeline INTO hi FROM @extschema@.dr_wal_positions p
         WHERE p.sampled_at >= p_time ORDER BY p.sampled_at LIMIT 1;
        IF hi.sampled_at IS NULL THEN
            SELECT clock_timestamp() AS sampled_at, cur AS lsn, cur_tli AS timeline INTO hi;
        END IF;
        upper_lsn := hi.lsn;
        r.timeline := coalesce(lo.timeline, hi.timeline);
        IF lo.sampled_at IS NULL THEN
            r.target_lsn := NULL;   -- older than the map: only the upper bound is known
        ELSE
            r.target_lsn := @extschema@.dr_lsn_at(p_time);
        END IF;
    ELSIF p_kind = 'lsn' THEN
        r.target := p_lsn::text;
        r.target_lsn := p_lsn;
        IF p_lsn > cur THEN
            r.reason := pg_catalog.format('recovery target LSN %s is in the future', p_lsn);
            r.detail := pg_catalog.format('This node''s WAL is at %s.', cur);
            r.hint := 'Choose a WAL position that has been written.';
            r.sqlstate := '22023';
            RETURN r;
        END IF;
        upper_lsn := p_lsn;
        SELECT p.timeline INTO tli FROM @extschema@.dr_wal_positions p
         WHERE p.lsn >= p_lsn ORDER BY p.sampled_at LIMIT 1;
        r.timeline := coalesce(tli, cur_tli);
        BEGIN
            r.target_time := @extschema@.dr_time_at(p_lsn);
        EXCEPTION WHEN invalid_parameter_value THEN
            r.target_time := NULL;
        END;
    ELSE
        r.target := p_name;
        SELECT * INTO rp FROM @extschema@.dr_restore_points x WHERE x.name = p_name;
        IF NOT FOUND THEN
            r.reason := pg_catalog.format('restore point "%s" does not exist', p_name);
            r.detail := 'The target is not an LSN (X/Y), not a timestamp, and not the name of a restore point in dr_restore_points.';
            r.hint := 'SELECT name FROM dr_restore_points lists the known restore points; dr_create_restore_point() makes new ones.';
            r.sqlstate := '42704';
            RETURN r;
        END IF;
        r.target_lsn := rp.lsn;
        r.target_time := rp.created_at;
        r.timeline := rp.timeline;
        upper_lsn := rp.lsn;
    END IF;

    ---------------------------------------------------------------- backup
    -- A time target must be after the backup's end: known when the WAL had
    -- passed stop_lsn at a sample taken at or before the target, or from
    -- stop_time, which backup labels and pgBackRest give to the second.
    IF NOT EXISTS (SELECT 1 FROM @extschema@.dr_backups x
                    WHERE x.verification_ok
                      AND (x.system_identifier IS NULL OR x.system_identifier = sysid)) THEN
        r.reason := 'no verified backup of this cluster is recorded';
        r.detail := 'A point-in-time recovery starts from a base backup whose verification succeeded (dr_backups.verification_ok).';
        r.hint := 'Verify a pg_basebackup with dr_verify_backup(path), or import pgBackRest''s backups with dr_import_pgbackrest().';
        r.sqlstate := '55000';
        RETURN r;
    END IF;

    SELECT * INTO b FROM @extschema@.dr_backups x
     WHERE x.verification_ok
       AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
       AND x.timeline = r.timeline
       AND x.start_lsn IS NOT NULL
       AND CASE WHEN p_kind = 'time'
                THEN (coalesce(x.stop_lsn <= lo.lsn, false)
                      OR coalesce(x.stop_time + interval '1 second' <= p_time, false))
                ELSE x.stop_lsn <= r.target_lsn END
     ORDER BY x.stop_lsn DESC NULLS LAST, x.stop_time DESC NULLS LAST, x.id DESC
     LIMIT 1;
    have_backup := FOUND;

    -- None on the target's timeline: one on a timeline it descends from
    -- (a promotion happened between the backup and the target), taken
    -- before that timeline ended.  The timeline history comes from the
    -- archive; pgBackRest backups are not planned across timelines.
    IF NOT have_backup AND r.timeline > 1 AND EXISTS (
           SELECT 1 FROM @extschema@.dr_backups x
            WHERE x.verification_ok AND x.source <> 'pgbackrest'
              AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
              AND x.timeline < r.timeline AND x.start_lsn IS NOT NULL
              AND CASE WHEN p_kind = 'time'
                THEN (coalesce(x.stop_lsn <= lo.lsn, false)
                      OR coalesce(x.stop_time + interval '1 second' <= p_time, false))
                ELSE x.stop_lsn <= r.target_lsn END) THEN
        BEGIN
            SELECT array_agg(h.timeline ORDER BY h.timeline), array_agg(h.begin_lsn ORDER BY h.timeline),
                   array_agg(h.end_lsn ORDER BY h.timeline)
              INTO c_tli, c_begin, c_end
              FROM @extschema@.dr_wal_archive_history(r.timeline) h;
        EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file OR data_corrupted THEN
            GET STACKED DIAGNOSTICS r.reason = MESSAGE_TEXT, r.detail = PG_EXCEPTION_DETAIL,
                                    r.hint = PG_EXCEPTION_HINT, r.sqlstate = RETURNED_SQLSTATE;
            RETURN r;
        END;
        SELECT * INTO b FROM @extschema@.dr_backups x
         WHERE x.verification_ok AND x.source <> 'pgbackrest'
           AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
           AND x.start_lsn IS NOT NULL
           AND array_position(c_tli, x.timeline) < cardinality(c_tli)
           AND x.stop_lsn <= c_end[array_position(c_tli, x.timeline)]
           AND CASE WHEN p_kind = 'time'
                THEN (coalesce(x.stop_lsn <= lo.lsn, false)
                      OR coalesce(x.stop_time + interval '1 second' <= p_time, false))
                ELSE x.stop_lsn <= r.target_lsn END
         ORDER BY x.stop_lsn DESC NULLS LAST, x.stop_time DESC NULLS LAST, x.id DESC
         LIMIT 1;
        have_backup := FOUND;
    END IF;

    IF NOT have_backup THEN
        SELECT * INTO oldest FROM @extschema@.dr_backups x
         WHERE x.verification_ok
           AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
           AND CASE WHEN p_kind = 'time'
                    THEN (coalesce(x.stop_lsn <= lo.lsn, false)
                      OR coalesce(x.stop_time + interval '1 second' <= p_time, false))
                    ELSE x.stop_lsn <= r.target_lsn END
         ORDER BY x.stop_lsn DESC NULLS LAST LIMIT 1;
        IF FOUND THEN
            r.reason := pg_catalog.format('recovery target is on timeline %s, but the newest verified backup before it is on timeline %s',
                                          r.timeline, oldest.timeline);
            r.detail := 'That backup''s timeline is not one the target''s timeline descends from (per the timeline history in the archive), or the backup is pgBackRest''s, which is not planned across timelines.';
            r.hint := pg_catalog.format('Take and verify a base backup on timeline %s.', r.timeline);
            r.sqlstate := '0A000';
            RETURN r;
        END IF;
        SELECT * INTO oldest FROM @extschema@.dr_backups x
         WHERE x.verification_ok
           AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
         ORDER BY x.stop_lsn NULLS LAST, x.stop_time NULLS LAST LIMIT 1;
        r.reason := 'recovery target is before the end of the oldest verified backup';
        r.detail := pg_catalog.format('The oldest verified backup (id %s, label %s) ends at %s, LSN %s; a recovery cannot stop before its backup''s end.',
                                      oldest.id, coalesce(oldest.label, '-'), coalesce(oldest.stop_time::text, 'unknown'),
                                      coalesce(oldest.stop_lsn::text, 'unknown'));
        r.hint := 'Choose a later target, or record an older verified backup.';
        r.sqlstate := '22023';
        RETURN r;
    END IF;

    r.backup_id := b.id;
    r.backup_source := b.source;
    r.backup_path := b.path;
    r.backup_label := b.label;
    r.backup_stop_time := b.stop_time;
    r.start_lsn := b.start_lsn;
    upper_lsn := greatest(upper_lsn, b.stop_lsn);
    r.replay_bytes := coalesce(r.target_lsn, upper_lsn) - b.start_lsn;

    ---------------------------------------------------------------- WAL
    r.first_segment := @extschema@.dr_wal_segment_name(b.start_lsn, b.timeline);
    r.last_segment := @extschema@.dr_wal_segment_name(upper_lsn, r.timeline);
    IF b.source = 'pgbackrest' THEN
        stanza := coalesce(b.details->>'stanza', b.path);
        arch_min := b.details->>'archive_min';
        arch_max := b.details->>'archive_max';
        r.wal_segments_needed := (floor((upper_lsn - '0/0'::pg_lsn) / seg)
                                  - floor((b.start_lsn - '0/0'::pg_lsn) / seg))::integer + 1;
        IF arch_max IS NOT NULL AND (arch_max < r.last_segment OR arch_min > r.first_segment) THEN
            r.wal_segments_missing := ARRAY(SELECT s FROM unnest(ARRAY[r.first_segment, r.last_segment]) s
                                             WHERE s < arch_min OR s > arch_max);
            r.reason := 'WAL needed by the recovery is not in the pgBackRest archive';
            r.detail := pg_catalog.format('Stanza %s archives segments %s to %s; the recovery needs %s to %s.',
                                          stanza, arch_min, arch_max, r.first_segment, r.last_segment);
            r.hint := 'Check archive-push on the primary (pgbackrest check), then import pgbackrest info again.';
            r.sqlstate := '58P01';
            RETURN r;
        END IF;
        r.wal_segments_missing := '{}';
        q := pg_catalog.format('pgbackrest --stanza=%s archive-get %%f "%%p"', stanza);
    ELSE
        IF b.timeline = r.timeline THEN
            rng_tli := ARRAY[b.timeline];
            rng_start := ARRAY[b.start_lsn];
            rng_end := ARRAY[upper_lsn];
        ELSE
            -- Across timeline switches: each timeline's segments up to the
            -- one before its switch point (recovery reads the switch
            -- segment from the next timeline, which holds a copy of the
            -- old timeline's WAL up to the switch), then the target's.
            rng_tli := '{}'; rng_start := '{}'; rng_end := '{}';
            FOR i IN array_position(c_tli, b.timeline) .. cardinality(c_tli) LOOP
                rng_tli := rng_tli || c_tli[i];
                rng_start := rng_start || greatest(c_begin[i], b.start_lsn);
                IF i = cardinality(c_tli) THEN
                    rng_end := rng_end || upper_lsn;
                ELSE
                    rng_end := rng_end || ('0/0'::pg_lsn + (floor((c_end[i] - '0/0'::pg_lsn) / seg) * seg - 1));
                END IF;
            END LOOP;
        END IF;
        BEGIN
            FOR i IN 1 .. cardinality(rng_tli) LOOP
                CONTINUE WHEN rng_end[i] < rng_start[i];   -- switched within the backup's first segment
                chk := @extschema@.dr_wal_archive_check(rng_start[i], rng_end[i], rng_tli[i]);
                archive_dir := chk.archive_dir;
                needed := needed + chk.segments_needed;
                missing := missing || chk.missing;
            END LOOP;
        EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file THEN
            GET STACKED DIAGNOSTICS r.reason = MESSAGE_TEXT, r.detail = PG_EXCEPTION_DETAIL,
                                    r.hint = PG_EXCEPTION_HINT, r.sqlstate = RETURNED_SQLSTATE;
            RETURN r;
        END;
        r.wal_segments_needed := needed;
        r.wal_segments_missing := missing;
        IF cardinality(missing) > 0 THEN
            r.reason := pg_catalog.format('%s of the %s WAL segments needed are missing from the archive',
                                          cardinality(missing), needed);
            r.detail := pg_catalog.format('Missing from %s: %s%s.', archive_dir,
                                          array_to_string(missing[1:10], ', '),
                                          CASE WHEN cardinality(missing) > 10
                                               THEN pg_catalog.format(' and %s more', cardinality(missing) - 10) ELSE '' END);
            IF @extschema@.dr_wal_segment_name(cur, cur_tli) = ANY (missing) THEN
                r.hint := pg_catalog.format('Segment %s is still being written: it is archived at the next WAL switch (archive_timeout, or SELECT pg_switch_wal() on the primary).',
                                            @extschema@.dr_wal_segment_name(cur, cur_tli));
            ELSE
                r.hint := 'Recovery stops at the first missing segment: restore them into the archive, or choose a target before the gap.';
            END IF;
            r.sqlstate := '58P01';
            RETURN r;
        END IF;
        -- %f and %p are restore_command's; a % in the path must be doubled,
        -- and the path is inside shell double quotes
        q := pg_catalog.format('cp "%s/%%f" "%%p"',
                               replace(regexp_replace(archive_dir, '(["\\$`])', '\\\1', 'g'), '%', '%%'));
    END IF;

    ---------------------------------------------------------------- settings
    conf := pg_catalog.format(E'# tensafe_dr PITR plan: restore backup %s (%s, label %s), then recover to %s %s\n',
                              b.id, b.source, regexp_replace(coalesce(b.label, '-'), '[[:cntrl:]]', ' ', 'g'),
                              p_kind, regexp_replace(r.target, '[[:cntrl:]]', ' ', 'g'));
    IF b.source = 'pgbackrest' THEN
        conf := conf || pg_catalog.format(E'# restore the files first: pgbackrest --stanza=%s --set=%s restore\n',
                                          stanza, b.label);
    END IF;
    conf := conf || pg_catalog.format(E'restore_command = %s\n', @extschema@.dr_conf_quote(q));
    IF p_kind = 'time' THEN
        conf := conf || pg_catalog.format(E'recovery_target_time = %s\n', @extschema@.dr_conf_quote(
                    to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'));
        conf := conf || E'recovery_target_inclusive = ''true''\n';
    ELSIF p_kind = 'lsn' THEN
        conf := conf || pg_catalog.format(E'recovery_target_lsn = %s\n', @extschema@.dr_conf_quote(p_lsn::text));
        conf := conf || E'recovery_target_inclusive = ''true''\n';
    ELSE
        conf := conf || pg_catalog.format(E'recovery_target_name = %s\n', @extschema@.dr_conf_quote(p_name));
    END IF;
    conf := conf || pg_catalog.format(E'recovery_target_timeline = %s\n', @extschema@.dr_conf_quote(r.timeline::text));
    conf := conf || E'recovery_target_action = ''promote''\n';
    r.recovery_conf := conf;
    r.feasible := true;
    r.reason := pg_catalog.format('restore backup %s, then replay %s segments of WAL to the target',
                                  b.id, r.wal_segments_needed);
    RETURN r;
END
$fn$;

-- Internal: raise the plan's refusal unless asked not to.
CREATE FUNCTION dr_pitr_plan_finish(plan dr_pitr_plan_row, refuse boolean)
RETURNS dr_pitr_plan_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF refuse AND NOT plan.feasible THEN
        RAISE EXCEPTION USING MESSAGE = plan.reason, ERRCODE = plan.sqlstate,
                              DETAIL = coalesce(plan.detail, ''), HINT = coalesce(plan.hint, '');
    END IF;
    RETURN plan;
END
$fn$;

CREATE FUNCTION dr_pitr_plan(target timestamptz, refuse boolean DEFAULT true)
RETURNS dr_pitr_plan_row
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'recovery target must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN @extschema@.dr_pitr_plan_finish(
        @extschema@.dr_pitr_plan_internal('time', target, NULL, NULL), coalesce(refuse, true));
END
$fn$;

CREATE FUNCTION dr_pitr_plan(target pg_lsn, refuse boolean DEFAULT true)
RETURNS dr_pitr_plan_row
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'recovery target must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN @extschema@.dr_pitr_plan_finish(
        @extschema@.dr_pitr_plan_internal('lsn', NULL, target, NULL), coalesce(refuse, true));
END
$fn$;

-- The DBA's form: an LSN 'X/Y', else a restore point's name, else a timestamp.
CREATE FUNCTION dr_pitr_plan(target text, refuse boolean DEFAULT true)
RETURNS dr_pitr_plan_row
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t text := btrim(target);
    ts timestamptz;
BEGIN
    IF t IS NULL OR t = '' THEN
        RAISE EXCEPTION 'recovery target must not be null or empty' USING ERRCODE = 'null_value_not_allowed',
              HINT = 'Give a time (''2026-02-03 12:00:00+00''), an LSN (''0/3000060'') or a restore point name.';
    END IF;
    IF t ~ '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$' THEN
        RETURN @extschema@.dr_pitr_plan_finish(
            @extschema@.dr_pitr_plan_internal('lsn', NULL, t::pg_lsn, NULL), coalesce(refuse, true));
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.dr_restore_points WHERE name = target) THEN
        RETURN @extschema@.dr_pitr_plan_finish(
            @extschema@.dr_pitr_plan_internal('name', NULL, NULL, target), coalesce(refuse, true));
    END IF;
    BEGIN
        ts := t::timestamptz;
    EXCEPTION WHEN data_exception THEN
        -- neither an LSN nor a time: an unknown restore point
        RETURN @extschema@.dr_pitr_plan_finish(
            @extschema@.dr_pitr_plan_internal('name', NULL, NULL, target), coalesce(refuse, true));
    END;
    RETURN @extschema@.dr_pitr_plan_finish(
        @extschema@.dr_pitr_plan_internal('time', ts, NULL, NULL), coalesce(refuse, true));
END
$fn$;

COMMENT ON FUNCTION dr_pitr_plan(timestamptz, boolean) IS
'Point-in-time recovery plan to a time: newest verified backup ending before it, WAL segments needed and missing, replay bytes, recovery settings. Refusals raise (refuse => false returns them as feasible = false).';
COMMENT ON FUNCTION dr_pitr_plan(pg_lsn, boolean) IS
'Point-in-time recovery plan to an LSN; see dr_pitr_plan(timestamptz, boolean).';
COMMENT ON FUNCTION dr_pitr_plan(text, boolean) IS
'Point-in-time recovery plan to an LSN (X/Y), a restore point name, or a timestamp, tried in that order; see dr_pitr_plan(timestamptz, boolean).';

-------------------------------------------------------------------------------
-- pgBackRest: `pgbackrest info --output=json` into dr_backups.  path is the
-- stanza; verification_ok is pgBackRest's own verdict (its "error" flag:
-- false when the backup completed without checksum errors); the stanza's WAL
-- archive range goes into details so that dr_pitr_plan() can check it.
-------------------------------------------------------------------------------
CREATE FUNCTION dr_import_pgbackrest(info jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    st jsonb;
    bk jsonb;
    stanza text;
    arch jsonb;
    n integer := 0;
    stanzas integer := 0;
BEGIN
    IF info IS NULL OR jsonb_typeof(info) <> 'array' THEN
        RAISE EXCEPTION 'pgBackRest info must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Got %s.', coalesce(jsonb_typeof(info), 'NULL')),
                  HINT = 'Pass the output of pgbackrest info --output=json.';
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        RAISE EXCEPTION 'cannot import backups on a read-only node'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Import on the primary; the catalog replicates to the standbys.';
    END IF;
    FOR st IN SELECT * FROM jsonb_array_elements(info) LOOP
        stanza := st->>'name';
        IF jsonb_typeof(st) <> 'object' OR stanza IS NULL THEN
            RAISE EXCEPTION 'pgBackRest info entry without a stanza name'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Every element of the array must be an object with "name", "db", "archive" and "backup".';
        END IF;
        stanzas := stanzas + 1;
        FOR bk IN SELECT * FROM jsonb_array_elements(coalesce(st->'backup', '[]')) LOOP
            BEGIN
                SELECT a INTO arch FROM jsonb_array_elements(coalesce(st->'archive', '[]')) a
                 WHERE a->'database'->>'id' = bk->'database'->>'id' LIMIT 1;
                INSERT INTO @extschema@.dr_backups AS d
                       (source, path, label, system_identifier, timeline, start_lsn, stop_lsn,
                        start_time, stop_time, size_bytes, verified_at, verification_ok, problems, details)
                SELECT 'pgbackrest', stanza, bk->>'label',
                       (SELECT (db->>'system-id')::bigint FROM jsonb_array_elements(coalesce(st->'db', '[]')) db
                         WHERE db->>'id' = bk->'database'->>'id' LIMIT 1),
                       ('x' || substr(bk->'archive'->>'start', 1, 8))::bit(32)::integer,
                       (bk->'lsn'->>'start')::pg_lsn, (bk->'lsn'->>'stop')::pg_lsn,
                       to_timestamp((bk->'timestamp'->>'start')::double precision),
                       to_timestamp((bk->'timestamp'->>'stop')::double precision),
                       (bk->'info'->>'size')::bigint,
                       clock_timestamp(),
                       NOT coalesce((bk->>'error')::boolean, false),
                       CASE WHEN coalesce((bk->>'error')::boolean, false) THEN 1 ELSE 0 END,
                       jsonb_strip_nulls(jsonb_build_object(
                           'stanza', stanza, 'type', bk->>'type', 'prior', bk->>'prior',
                           'archive_start', bk->'archive'->>'start', 'archive_stop', bk->'archive'->>'stop',
                           'archive_min', arch->>'min', 'archive_max', arch->>'max',
                           'repo_size', bk->'info'->'repository'->'size',
                           'pgbackrest_version', bk->'backrest'->>'version',
                           'verified_by', 'pgbackrest info (backup error flag)'))
                ON CONFLICT (source, path, label) DO UPDATE
                   SET system_identifier = EXCLUDED.system_identifier, timeline = EXCLUDED.timeline,
                       start_lsn = EXCLUDED.start_lsn, stop_lsn = EXCLUDED.stop_lsn,
                       start_time = EXCLUDED.start_time, stop_time = EXCLUDED.stop_time,
                       size_bytes = EXCLUDED.size_bytes, verified_at = EXCLUDED.verified_at,
                       verification_ok = EXCLUDED.verification_ok, problems = EXCLUDED.problems,
                       details = d.details || EXCLUDED.details;
            EXCEPTION WHEN data_exception OR not_null_violation OR check_violation THEN
                RAISE EXCEPTION 'malformed pgBackRest backup entry in stanza "%": %', stanza, SQLERRM
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = pg_catalog.format('Entry: %s', left(bk::text, 500));
            END;
            n := n + 1;
        END LOOP;
    END LOOP;
    PERFORM @extschema@.dr_log_event('BACKUPS_IMPORTED',
        jsonb_build_object('source', 'pgbackrest', 'stanzas', stanzas, 'backups', n), NULL, true);
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION dr_import_pgbackrest(jsonb) IS
'Upsert every backup in `pgbackrest info --output=json` into dr_backups (source pgbackrest, path = stanza, label); returns how many. Not an array or malformed entries 22023, read-only node 25006.';

-------------------------------------------------------------------------------
-- Privileges of the PITR objects
-------------------------------------------------------------------------------
REVOKE ALL ON dr_wal_positions, dr_restore_points FROM PUBLIC;
GRANT SELECT ON dr_wal_positions, dr_restore_points TO dr_monitor;

REVOKE ALL ON FUNCTION dr_positions_sample(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_current_lsn() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lsn_at(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_time_at(pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_create_restore_point(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wal_segment_name(pg_lsn, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_conf_quote(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wal_archive_check(pg_lsn, pg_lsn, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_wal_archive_history(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_plan_internal(text, timestamptz, pg_lsn, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_plan_finish(dr_pitr_plan_row, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_plan(timestamptz, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_plan(pg_lsn, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_plan(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_import_pgbackrest(jsonb) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION dr_current_lsn() TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_lsn_at(timestamptz) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_time_at(pg_lsn) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_wal_segment_name(pg_lsn, integer) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_conf_quote(text) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_pitr_plan(timestamptz, boolean) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_pitr_plan(pg_lsn, boolean) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_pitr_plan(text, boolean) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_create_restore_point(text) TO dr_operator;
GRANT EXECUTE ON FUNCTION dr_import_pgbackrest(jsonb) TO dr_admin;
