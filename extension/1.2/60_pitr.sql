
-------------------------------------------------------------------------------
-- Point-in-time recovery planning (amends extension/1.0/60_pitr.sql).
--
-- dr_pitr_plan_internal() was one 311-line function that wrote the rule
-- "this backup ends before the target" four times.  It is now a short
-- driver over one function per step, and the rule has one owner:
--
--   dr_pitr_resolve_target()     the target as an LSN, a time, a timeline
--   dr_pitr_backup_ends_before() THE rule: may a recovery to the target start
--                                from this backup?
--   dr_pitr_choose_backup()      the newest such verified backup, or a refusal
--   dr_pitr_backup_end_window()  when a backup's end is known to lie (used
--                                to explain a refusal)
--   dr_pitr_check_wal()          the WAL segments from the backup to the target
--   dr_pitr_recovery_conf()      the settings for postgresql.auto.conf
--
-- A time target that falls close to a backup's end (issue 12): the end's
-- LSN is exact, but its time is known only to the second from STOP TIME, or
-- to the sample interval from the WAL-position samples, whichever is finer.
-- A recovery that stops before its backup's end fails ("requested recovery
-- stop point is before consistent recovery point"), so a time the backup
-- cannot be shown to have ended by is still refused; the refusal now says
-- so, and names the earliest time that can be planned from that backup.
-------------------------------------------------------------------------------

-- May a recovery to the target start from backup b?  For an LSN or a
-- restore point: the backup's WAL ends at or before it.  For a time: the WAL
-- had passed the backup's stop_lsn by a position sample taken at or before
-- the target (lsn_by_target: that sample's LSN), or the backup's STOP TIME,
-- which backup history files and pgBackRest give to the second, is a whole
-- second before the target.
CREATE FUNCTION dr_pitr_backup_ends_before(b @extschema@.dr_backups, p_kind text, p_time timestamptz,
                                           target_lsn pg_lsn, lsn_by_target pg_lsn)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN p_kind = 'time'
                THEN coalesce(b.stop_lsn <= lsn_by_target, false)
                     OR coalesce(b.stop_time + interval '1 second' <= p_time, false)
                ELSE coalesce(b.stop_lsn <= target_lsn, false) END
$fn$;
COMMENT ON FUNCTION dr_pitr_backup_ends_before(dr_backups, text, timestamptz, pg_lsn, pg_lsn) IS
'Internal: whether a recovery to the target (kind ''time'', ''lsn'' or ''name'') may start from the backup: its WAL ends at or before the target, as known from its stop LSN, the WAL-position samples and its stop time (to the second).';

-- When backup b's end is known to lie: after ended_after, at or before
-- ended_by.  From STOP TIME (given to the second: the end is in
-- [stop_time, stop_time + 1 s)) and from the WAL-position samples either
-- side of stop_lsn.  Either bound is NULL when nothing dates it.
CREATE FUNCTION dr_pitr_backup_end_window(b @extschema@.dr_backups,
                                          OUT ended_after timestamptz, OUT ended_by timestamptz)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT greatest(b.stop_time,
                    (SELECT max(p.sampled_at) FROM @extschema@.dr_wal_positions p WHERE p.lsn < b.stop_lsn)),
           least(b.stop_time + interval '1 second',
                 (SELECT min(p.sampled_at) FROM @extschema@.dr_wal_positions p WHERE p.lsn >= b.stop_lsn))
$fn$;
COMMENT ON FUNCTION dr_pitr_backup_end_window(dr_backups) IS
'Internal: the interval a backup''s end is known to lie in (after ended_after, by ended_by), from its stop time (to the second) and the WAL-position samples around its stop LSN.';

-- The target: its LSN and time (one of them estimated from the map), its
-- timeline, and a refusal for a target in the future or an unknown restore
-- point.  lsn_by_target: the LSN of the newest sample at or before a time
-- target; upper_lsn: WAL is needed up to here (>= the target).
CREATE FUNCTION dr_pitr_resolve_target(p_kind text, p_time timestamptz, p_lsn pg_lsn, p_name text,
                                       OUT r @extschema@.dr_pitr_plan_row,
                                       OUT lsn_by_target pg_lsn, OUT upper_lsn pg_lsn)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    lo record;
    hi record;
    rp record;
    cur pg_lsn := @extschema@.dr_current_lsn();
    cur_tli integer := (SELECT s.timeline FROM @extschema@.dr_status() s);
BEGIN
    r.feasible := false;
    r.target_type := p_kind;
    IF p_kind = 'time' THEN
        r.target := p_time::text;
        r.target_time := p_time;
        IF p_time > clock_timestamp() THEN
            r.reason := pg_catalog.format('recovery target time %s is in the future', p_time);
            r.detail := 'A recovery can only replay WAL that has been written.';
            r.hint := 'Choose a time before now.';
            r.sqlstate := '22023';
            RETURN;
        END IF;
        SELECT p.sampled_at, p.lsn, p.timeline INTO lo FROM @extschema@.dr_wal_positions p
         WHERE p.sampled_at <= p_time ORDER BY p.sampled_at DESC LIMIT 1;
        SELECT p.sampled_at, p.lsn, p.timeline INTO hi FROM @extschema@.dr_wal_positions p
         WHERE p.sampled_at >= p_time ORDER BY p.sampled_at LIMIT 1;
        IF hi.sampled_at IS NULL THEN
            SELECT clock_timestamp() AS sampled_at, cur AS lsn, cur_tli AS timeline INTO hi;
        END IF;
        lsn_by_target := lo.lsn;
        upper_lsn := hi.lsn;
        r.timeline := coalesce(lo.timeline, hi.timeline);
        -- older than the map: only the upper bound is known
        r.target_lsn := CASE WHEN lo.sampled_at IS NOT NULL THEN @extschema@.dr_lsn_at(p_time) END;
    ELSIF p_kind = 'lsn' THEN
        r.target := p_lsn::text;
        r.target_lsn := p_lsn;
        IF p_lsn > cur THEN
            r.reason := pg_catalog.format('recovery target LSN %s is in the future', p_lsn);
            r.detail := pg_catalog.format('This node''s WAL is at %s.', cur);
            r.hint := 'Choose a WAL position that has been written.';
            r.sqlstate := '22023';
            RETURN;
        END IF;
        upper_lsn := p_lsn;
        r.timeline := coalesce((SELECT p.timeline FROM @extschema@.dr_wal_positions p
                                 WHERE p.lsn >= p_lsn ORDER BY p.sampled_at LIMIT 1), cur_tli);
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
            RETURN;
        END IF;
        r.target_lsn := rp.lsn;
        r.target_time := rp.created_at;
        r.timeline := rp.timeline;
        upper_lsn := rp.lsn;
    END IF;
END
$fn$;
COMMENT ON FUNCTION dr_pitr_resolve_target(text, timestamptz, pg_lsn, text) IS
'Internal: a PITR target resolved to its LSN, time and timeline (r), the LSN of the newest sample at or before a time target, and how far WAL is needed; a refusal in r for a future target or an unknown restore point.';

-- The refusal when no backup may serve the target: on another timeline
-- (0A000), or before (or not known to be after) the end of the oldest one.
CREATE FUNCTION dr_pitr_refuse_no_backup(r @extschema@.dr_pitr_plan_row, p_kind text, p_time timestamptz,
                                         lsn_by_target pg_lsn)
RETURNS @extschema@.dr_pitr_plan_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    sysid bigint := (pg_control_system()).system_identifier;
    x @extschema@.dr_backups;
    w record;
BEGIN
    SELECT * INTO x FROM @extschema@.dr_backups b
     WHERE b.verification_ok AND (b.system_identifier IS NULL OR b.system_identifier = sysid)
       AND b.source <> 'pg_dump'
       AND @extschema@.dr_pitr_backup_ends_before(b, p_kind, p_time, r.target_lsn, lsn_by_target)
     ORDER BY b.stop_lsn DESC NULLS LAST LIMIT 1;
    IF FOUND THEN
        r.reason := pg_catalog.format('recovery target is on timeline %s, but the newest verified backup before it is on timeline %s',
                                      r.timeline, x.timeline);
        r.detail := 'That backup''s timeline is not one the target''s timeline descends from (per the timeline history in the archive), or the backup is pgBackRest''s, which is not planned across timelines.';
        r.hint := pg_catalog.format('Take and verify a base backup on timeline %s.', r.timeline);
        r.sqlstate := '0A000';
        RETURN r;
    END IF;

    SELECT * INTO x FROM @extschema@.dr_backups b
     WHERE b.verification_ok AND (b.system_identifier IS NULL OR b.system_identifier = sysid)
       AND b.source <> 'pg_dump'
     ORDER BY b.stop_lsn NULLS LAST, b.stop_time NULLS LAST LIMIT 1;
    w := @extschema@.dr_pitr_backup_end_window(x);
    r.sqlstate := '22023';
    IF p_kind = 'time' AND p_time >= w.ended_after THEN
        r.reason := 'recovery target time is not known to be after the end of the oldest verified backup';
        r.detail := pg_catalog.format('The oldest verified backup (id %s, label %s) ended at LSN %s, after %s and by %s: its stop time is given to the second, and the WAL-position samples date its LSN to the sample interval. A recovery cannot stop before its backup''s end.',
                                      x.id, coalesce(x.label, '-'), coalesce(x.stop_lsn::text, 'unknown'),
                                      w.ended_after, coalesce(w.ended_by::text, 'an unknown time'));
        r.hint := pg_catalog.format('Choose a target time at or after %s, or give the target as an LSN or a restore point.',
                                    coalesce(w.ended_by::text, 'the backup''s end'));
    ELSE
        r.reason := 'recovery target is before the end of the oldest verified backup';
        r.detail := pg_catalog.format('The oldest verified backup (id %s, label %s) ended after %s, at LSN %s; a recovery cannot stop before its backup''s end.',
                                      x.id, coalesce(x.label, '-'), coalesce(w.ended_after::text, 'an unknown time'),
                                      coalesce(x.stop_lsn::text, 'unknown'));
        r.hint := 'Choose a later target, or record an older verified backup.';
    END IF;
    RETURN r;
END
$fn$;
COMMENT ON FUNCTION dr_pitr_refuse_no_backup(dr_pitr_plan_row, text, timestamptz, pg_lsn) IS
'Internal: the refusal of a PITR plan for which no verified backup may serve: 0A000 (only on an unrelated timeline) or 22023 (before, or not known to be after, the end of the oldest backup, with the earliest time that can be planned).';

-- The newest verified backup of this cluster that may serve the target:
-- on the target's timeline, or (not pgBackRest's) on a timeline the
-- target's descends from, taken before that timeline ended.  Sets the
-- backup fields of r, or a refusal.
CREATE FUNCTION dr_pitr_choose_backup(r @extschema@.dr_pitr_plan_row, p_kind text, p_time timestamptz,
                                      lsn_by_target pg_lsn)
RETURNS @extschema@.dr_pitr_plan_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    sysid bigint := (pg_control_system()).system_identifier;
    b @extschema@.dr_backups;
    d @extschema@.dr_pitr_plan_row;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.dr_backups x
                    WHERE x.verification_ok AND x.source <> 'pg_dump'
                      AND (x.system_identifier IS NULL OR x.system_identifier = sysid)) THEN
        -- only logical dumps (55_pg_dump.sql): they restore to their own time only
        d := @extschema@.dr_pitr_refuse_logical_dump(r, p_kind, p_time, false);
        IF d.sqlstate IS NOT NULL THEN
            RETURN d;
        END IF;
        r.reason := 'no verified backup of this cluster is recorded';
        r.detail := 'A point-in-time recovery starts from a base backup whose verification succeeded (dr_backups.verification_ok).';
        r.hint := 'Verify a pg_basebackup with dr_verify_backup(path), or import pgBackRest''s backups with dr_import_pgbackrest().';
        r.sqlstate := '55000';
        RETURN r;
    END IF;

    SELECT * INTO b FROM @extschema@.dr_backups x
     WHERE x.verification_ok AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
       AND x.timeline = r.timeline AND x.start_lsn IS NOT NULL
       AND @extschema@.dr_pitr_backup_ends_before(x, p_kind, p_time, r.target_lsn, lsn_by_target)
     ORDER BY x.stop_lsn DESC NULLS LAST, x.stop_time DESC NULLS LAST, x.id DESC
     LIMIT 1;

    IF NOT FOUND AND r.timeline > 1 AND EXISTS (
           SELECT 1 FROM @extschema@.dr_backups x
            WHERE x.verification_ok AND x.source <> 'pgbackrest'
              AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
              AND x.timeline < r.timeline AND x.start_lsn IS NOT NULL
              AND @extschema@.dr_pitr_backup_ends_before(x, p_kind, p_time, r.target_lsn, lsn_by_target)) THEN
        BEGIN
            SELECT x.* INTO b
              FROM @extschema@.dr_backups x
              JOIN @extschema@.dr_wal_archive_history(r.timeline) h ON h.timeline = x.timeline
             WHERE x.verification_ok AND x.source <> 'pgbackrest'
               AND (x.system_identifier IS NULL OR x.system_identifier = sysid)
               AND x.start_lsn IS NOT NULL
               AND h.end_lsn IS NOT NULL          -- not the target's own timeline
               AND x.stop_lsn <= h.end_lsn        -- taken before its timeline ended
               AND @extschema@.dr_pitr_backup_ends_before(x, p_kind, p_time, r.target_lsn, lsn_by_target)
             ORDER BY x.stop_lsn DESC NULLS LAST, x.stop_time DESC NULLS LAST, x.id DESC
             LIMIT 1;
        EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file OR data_corrupted THEN
            GET STACKED DIAGNOSTICS r.reason = MESSAGE_TEXT, r.detail = PG_EXCEPTION_DETAIL,
                                    r.hint = PG_EXCEPTION_HINT, r.sqlstate = RETURNED_SQLSTATE;
            RETURN r;
        END;
    END IF;

    IF b.id IS NULL THEN
        -- a target after a logical dump but before any base backup's end
        d := @extschema@.dr_pitr_refuse_logical_dump(r, p_kind, p_time, true);
        IF d.sqlstate IS NOT NULL THEN
            RETURN d;
        END IF;
        RETURN @extschema@.dr_pitr_refuse_no_backup(r, p_kind, p_time, lsn_by_target);
    END IF;
    r.backup_id := b.id;
    r.backup_source := b.source;
    r.backup_path := b.path;
    r.backup_label := b.label;
    r.backup_stop_time := b.stop_time;
    r.start_lsn := b.start_lsn;
    RETURN r;
END
$fn$;
COMMENT ON FUNCTION dr_pitr_choose_backup(dr_pitr_plan_row, text, timestamptz, pg_lsn) IS
'Internal: the newest verified backup a PITR plan may start from (its timeline or one the target''s descends from, ending before the target), set in the plan row, or the refusal.';

-- The WAL from backup b to upper_lsn: the segments needed, those missing
-- (a refusal), and the restore_command that fetches them.
CREATE FUNCTION dr_pitr_check_wal(INOUT r @extschema@.dr_pitr_plan_row, b @extschema@.dr_backups,
                                  upper_lsn pg_lsn, OUT restore_command text)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg numeric := pg_size_bytes(current_setting('wal_segment_size'));
    cur_seg text := @extschema@.dr_wal_segment_name(@extschema@.dr_current_lsn(),
                                                     (SELECT s.timeline FROM @extschema@.dr_status() s));
    stanza text := coalesce(b.details->>'stanza', b.path);
    arch_min text := b.details->>'archive_min';
    arch_max text := b.details->>'archive_max';
    rng record;
    chk record;
    archive_dir text;
BEGIN
    r.first_segment := @extschema@.dr_wal_segment_name(b.start_lsn, b.timeline);
    r.last_segment := @extschema@.dr_wal_segment_name(upper_lsn, r.timeline);
    IF b.source = 'pgbackrest' THEN
        r.wal_segments_needed := (floor((upper_lsn - '0/0'::pg_lsn) / seg)
                                  - floor((b.start_lsn - '0/0'::pg_lsn) / seg))::integer + 1;
        r.wal_segments_missing := ARRAY(SELECT s FROM unnest(ARRAY[r.first_segment, r.last_segment]) s
                                         WHERE s < arch_min OR s > arch_max);
        IF cardinality(r.wal_segments_missing) > 0 THEN
            r.reason := 'WAL needed by the recovery is not in the pgBackRest archive';
            r.detail := pg_catalog.format('Stanza %s archives segments %s to %s; the recovery needs %s to %s.',
                                          stanza, arch_min, arch_max, r.first_segment, r.last_segment);
            r.hint := 'Check archive-push on the primary (pgbackrest check), then import pgbackrest info again.';
            r.sqlstate := '58P01';
            RETURN;
        END IF;
        restore_command := pg_catalog.format('pgbackrest --stanza=%s archive-get %%f "%%p"', stanza);
        RETURN;
    END IF;

    r.wal_segments_needed := 0;
    r.wal_segments_missing := '{}';
    BEGIN
        FOR rng IN SELECT * FROM @extschema@.dr_pitr_wal_ranges(b, r.timeline, upper_lsn) LOOP
            CONTINUE WHEN rng.end_lsn < rng.start_lsn;   -- switched within the backup's first segment
            chk := @extschema@.dr_wal_archive_check(rng.start_lsn, rng.end_lsn, rng.timeline);
            archive_dir := chk.archive_dir;
            r.wal_segments_needed := r.wal_segments_needed + chk.segments_needed;
            r.wal_segments_missing := r.wal_segments_missing || chk.missing;
        END LOOP;
    EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file OR data_corrupted THEN
        GET STACKED DIAGNOSTICS r.reason = MESSAGE_TEXT, r.detail = PG_EXCEPTION_DETAIL,
                                r.hint = PG_EXCEPTION_HINT, r.sqlstate = RETURNED_SQLSTATE;
        RETURN;
    END;
    IF cardinality(r.wal_segments_missing) > 0 THEN
        r.reason := pg_catalog.format('%s of the %s WAL segments needed are missing from the archive',
                                      cardinality(r.wal_segments_missing), r.wal_segments_needed);
        r.detail := pg_catalog.format('Missing from %s: %s%s.', archive_dir,
                                      array_to_string(r.wal_segments_missing[1:10], ', '),
                                      CASE WHEN cardinality(r.wal_segments_missing) > 10
                                           THEN pg_catalog.format(' and %s more', cardinality(r.wal_segments_missing) - 10)
                                           ELSE '' END);
        r.hint := CASE WHEN cur_seg = ANY (r.wal_segments_missing)
                       THEN pg_catalog.format('Segment %s is still being written: it is archived at the next WAL switch (archive_timeout, or SELECT pg_switch_wal() on the primary).', cur_seg)
                       ELSE 'Recovery stops at the first missing segment: restore them into the archive, or choose a target before the gap.' END;
        r.sqlstate := '58P01';
        RETURN;
    END IF;
    -- %f and %p are restore_command's; a % in the path must be doubled,
    -- and the path is inside shell double quotes
    restore_command := pg_catalog.format('cp "%s/%%f" "%%p"',
                           replace(regexp_replace(archive_dir, '(["\\$`])', '\\\1', 'g'), '%', '%%'));
END
$fn$;
COMMENT ON FUNCTION dr_pitr_check_wal(dr_pitr_plan_row, dr_backups, pg_lsn) IS
'Internal: the WAL segments a PITR plan needs from its backup to the target, those missing from the archive (a refusal), and the restore_command that fetches them.';

-- The WAL ranges to check, one per timeline from the backup's to the
-- target's.  Across a timeline switch: each timeline's segments up to the
-- one before its switch point (recovery reads the switch segment from the
-- next timeline, which holds a copy of the old timeline's WAL up to the
-- switch), then the target timeline's up to upper_lsn.
CREATE FUNCTION dr_pitr_wal_ranges(b @extschema@.dr_backups, target_timeline integer, upper_lsn pg_lsn,
                                   OUT timeline integer, OUT start_lsn pg_lsn, OUT end_lsn pg_lsn)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    seg numeric := pg_size_bytes(current_setting('wal_segment_size'));
    h record;
BEGIN
    IF b.timeline = target_timeline THEN
        RETURN QUERY SELECT b.timeline, b.start_lsn, upper_lsn;
        RETURN;
    END IF;
    FOR h IN SELECT * FROM @extschema@.dr_wal_archive_history(target_timeline) x
              WHERE x.timeline >= b.timeline ORDER BY x.timeline LOOP
        timeline := h.timeline;
        start_lsn := greatest(h.begin_lsn, b.start_lsn);
        end_lsn := CASE WHEN h.end_lsn IS NULL THEN upper_lsn
                        ELSE '0/0'::pg_lsn + (floor((h.end_lsn - '0/0'::pg_lsn) / seg) * seg - 1) END;
        RETURN NEXT;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION dr_pitr_wal_ranges(dr_backups, integer, pg_lsn) IS
'Internal: the WAL ranges, one per timeline, a recovery from the backup to upper_lsn on the target timeline reads.';

-- The settings for postgresql.auto.conf.
CREATE FUNCTION dr_pitr_recovery_conf(r @extschema@.dr_pitr_plan_row, b @extschema@.dr_backups,
                                      p_kind text, p_time timestamptz, p_lsn pg_lsn, p_name text,
                                      restore_command text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    conf text;
BEGIN
    conf := pg_catalog.format(E'# tensafe_dr PITR plan: restore backup %s (%s, label %s), then recover to %s %s\n',
                              b.id, b.source, regexp_replace(coalesce(b.label, '-'), '[[:cntrl:]]', ' ', 'g'),
                              p_kind, regexp_replace(r.target, '[[:cntrl:]]', ' ', 'g'));
    IF b.source = 'pgbackrest' THEN
        conf := conf || pg_catalog.format(E'# restore the files first: pgbackrest --stanza=%s --set=%s restore\n',
                                          coalesce(b.details->>'stanza', b.path), b.label);
    END IF;
    conf := conf || pg_catalog.format(E'restore_command = %s\n', @extschema@.dr_conf_quote(restore_command));
    conf := conf || CASE p_kind
        WHEN 'time' THEN pg_catalog.format(E'recovery_target_time = %s\nrecovery_target_inclusive = ''true''\n',
                             @extschema@.dr_conf_quote(to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'))
        WHEN 'lsn' THEN pg_catalog.format(E'recovery_target_lsn = %s\nrecovery_target_inclusive = ''true''\n',
                             @extschema@.dr_conf_quote(p_lsn::text))
        ELSE pg_catalog.format(E'recovery_target_name = %s\n', @extschema@.dr_conf_quote(p_name)) END;
    conf := conf || pg_catalog.format(E'recovery_target_timeline = %s\n', @extschema@.dr_conf_quote(r.timeline::text));
    RETURN conf || E'recovery_target_action = ''promote''\n';
END
$fn$;
COMMENT ON FUNCTION dr_pitr_recovery_conf(dr_pitr_plan_row, dr_backups, text, timestamptz, pg_lsn, text, text) IS
'Internal: the recovery settings of a PITR plan, quoted for postgresql.auto.conf.';

-- The plan for one resolved target (kind 'time', 'lsn' or 'name').  Never
-- raises for a refusal: returns feasible = false with the reason, detail,
-- hint and the SQLSTATE the public functions raise.  The target is checked
-- first, then the backup, then the WAL; the first failure is the answer.
CREATE OR REPLACE FUNCTION dr_pitr_plan_internal(p_kind text, p_time timestamptz, p_lsn pg_lsn, p_name text)
RETURNS dr_pitr_plan_row
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t record;
    w record;
    r @extschema@.dr_pitr_plan_row;
    b @extschema@.dr_backups;
BEGIN
    t := @extschema@.dr_pitr_resolve_target(p_kind, p_time, p_lsn, p_name);
    r := t.r;
    IF r.sqlstate IS NOT NULL THEN
        RETURN r;
    END IF;

    r := @extschema@.dr_pitr_choose_backup(r, p_kind, p_time, t.lsn_by_target);
    IF r.sqlstate IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT * INTO b FROM @extschema@.dr_backups x WHERE x.id = r.backup_id;
    r.replay_bytes := coalesce(r.target_lsn, greatest(t.upper_lsn, b.stop_lsn)) - b.start_lsn;

    w := @extschema@.dr_pitr_check_wal(r, b, greatest(t.upper_lsn, b.stop_lsn));
    r := w.r;
    IF r.sqlstate IS NOT NULL THEN
        RETURN r;
    END IF;

    r.recovery_conf := @extschema@.dr_pitr_recovery_conf(r, b, p_kind, p_time, p_lsn, p_name, w.restore_command);
    r.feasible := true;
    r.reason := pg_catalog.format('restore backup %s, then replay %s segments of WAL to the target',
                                  b.id, r.wal_segments_needed);
    RETURN r;
END
$fn$;

REVOKE ALL ON FUNCTION dr_pitr_backup_ends_before(dr_backups, text, timestamptz, pg_lsn, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_backup_end_window(dr_backups) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_resolve_target(text, timestamptz, pg_lsn, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_refuse_no_backup(dr_pitr_plan_row, text, timestamptz, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_choose_backup(dr_pitr_plan_row, text, timestamptz, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_check_wal(dr_pitr_plan_row, dr_backups, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_wal_ranges(dr_backups, integer, pg_lsn) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_recovery_conf(dr_pitr_plan_row, dr_backups, text, timestamptz, pg_lsn, text, text) FROM PUBLIC;
