-------------------------------------------------------------------------------
-- pg_dump archives in the backup catalog (runbook 4.1, 4.2; issue 17).
--
-- The runbook's own restores use custom-format pg_dump archives.
-- dr_verify_dump(path) reads one under tensafe_dr.backup_root (C:
-- dr_dump_inspect(), src/backup/dump_archive.c and dump_toc.c): its header
-- and table of contents parsed, every data block's framing walked to the
-- end of the file and matched against the TOC, its SHA-256 computed on the
-- same pass; and records it in dr_backups as source 'pg_dump' with the
-- database name, the dump time (start_time = stop_time) and the number of
-- TOC entries.  A verified dump counts for dr_status()'s backup_state and
-- dr_backup_status like any verified backup (both read dr_backups).
--
-- The checksum: a dump is identified by (path, label), the label being its
-- database and creation time; verifying it again compares the SHA-256 with
-- the one recorded then, and with expected_sha256 when given.
--
-- Refusals (SQLSTATE): 22023 not a custom-format archive (plain, tar,
-- directory), 0A000 an archive version not read (1.12 to 1.16 are),
-- XX001 corrupt or truncated, or not the registered / expected SHA-256,
-- 54000 a TOC over tensafe_dr.max_dump_toc_size; 42501 / 58P01 for the
-- path as in dr_verify_backup().  By default a refusal is an error and
-- records nothing; refuse => false records the failed verification
-- (verification_ok false, so it stops counting for freshness) and returns
-- it as a row instead.
--
-- dr_pitr_plan() never starts from a dump: a logical dump restores only to
-- its own time.  dr_pitr_refuse_logical_dump() gives that refusal (55000)
-- when no base backup may serve the target and dumps are recorded
-- (extension/1.2/60_pitr.sql calls it).
-------------------------------------------------------------------------------
ALTER TABLE dr_backups DROP CONSTRAINT dr_backups_source_check;
ALTER TABLE dr_backups ADD CONSTRAINT dr_backups_source_check
    CHECK (source IN ('pg_basebackup', 'pgbackrest', 'pg_dump'));
COMMENT ON TABLE dr_backups IS
'Backup catalog: pg_basebackup directories verified by dr_verify_backup() (label, WAL range, times, size, verdict), imported pgBackRest backups, and custom-format pg_dump archives verified by dr_verify_dump() (label: database and dump time; start_time = stop_time = the dump time; details: database, sha256, toc_entries).';

-- What one reading of an archive found (dr_dump_inspect's result).
CREATE TYPE dr_dump_verification AS (
    path              text,       -- canonical
    database_name     text,
    dumped_at         timestamptz,
    dumped_at_local   text,       -- as pg_dump wrote it (its local time)
    archive_version   text,
    compression       text,
    server_version    text,
    pg_dump_version   text,
    toc_entries       bigint,
    data_blocks       bigint,
    large_objects     bigint,
    size_bytes        bigint,
    sha256            text,
    elapsed_s         double precision,
    problem           text,
    problem_detail    text,
    problem_hint      text,
    problem_sqlstate  text
);
COMMENT ON TYPE dr_dump_verification IS
'Internal: the result of dr_dump_inspect().';

CREATE FUNCTION dr_dump_inspect(path text)
RETURNS dr_dump_verification
AS 'MODULE_PATHNAME', 'dr_dump_inspect'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_dump_inspect(text) IS
'Internal: read a custom-format pg_dump archive under tensafe_dr.backup_root once (header, TOC, data-block framing, SHA-256); what is wrong with it in problem* (NULL when whole). Use dr_verify_dump().';

-- Internal, SECURITY DEFINER: record one verification of an archive in
-- dr_backups and as a BACKUP_VERIFIED event.  A success upserts the row of
-- (path, label) and marks the rows of other labels at that path failed
-- (replaced: a nightly.dump overwritten by the next night's); a failure marks
-- every pg_dump row of that path failed (the file there is no longer what
-- was registered), or adds one.  Returns the
-- catalog id, NULL (nothing recorded) where the node cannot write.
CREATE FUNCTION dr_record_dump_verification(v @extschema@.dr_dump_verification, p_label text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    ok boolean := v.problem IS NULL;
    backup_id bigint;
    d jsonb;
BEGIN
    IF NOT @extschema@.dr_can_write() THEN
        RETURN NULL;
    END IF;
    d := jsonb_strip_nulls(jsonb_build_object(
            'kind', 'pg_dump', 'database', v.database_name, 'sha256', v.sha256,
            'toc_entries', v.toc_entries, 'data_blocks', v.data_blocks,
            'large_objects', v.large_objects, 'archive_version', v.archive_version,
            'compression', v.compression, 'server_version', v.server_version,
            'pg_dump_version', v.pg_dump_version, 'dumped_at_local', v.dumped_at_local,
            'elapsed_s', round(v.elapsed_s::numeric, 3),
            'problem', v.problem, 'problem_detail', v.problem_detail,
            'sqlstate', v.problem_sqlstate));
    IF ok THEN
        UPDATE @extschema@.dr_backups b
           SET start_time = v.dumped_at, stop_time = v.dumped_at, size_bytes = v.size_bytes,
               verified_at = clock_timestamp(), verification_ok = true, problems = 0,
               details = d
         WHERE b.source = 'pg_dump' AND b.path = v.path AND b.label IS NOT DISTINCT FROM p_label
        RETURNING b.id INTO backup_id;
        -- another dump now at this path: the ones recorded there before are gone
        UPDATE @extschema@.dr_backups b
           SET verification_ok = false, verified_at = clock_timestamp(), problems = 1,
               details = b.details || jsonb_build_object('problem', 'replaced by another archive at the same path',
                                                         'replaced_by_label', p_label)
         WHERE b.source = 'pg_dump' AND b.path = v.path AND b.label IS DISTINCT FROM p_label
           AND b.verification_ok;
    ELSE
        UPDATE @extschema@.dr_backups b
           SET verified_at = clock_timestamp(), verification_ok = false, problems = 1,
               details = b.details || jsonb_build_object('problem', v.problem,
                                                         'problem_detail', v.problem_detail,
                                                         'sqlstate', v.problem_sqlstate,
                                                         'found_sha256', v.sha256)
         WHERE b.source = 'pg_dump' AND b.path = v.path;
        SELECT max(b.id) INTO backup_id FROM @extschema@.dr_backups b
         WHERE b.source = 'pg_dump' AND b.path = v.path;
    END IF;
    IF backup_id IS NULL THEN
        INSERT INTO @extschema@.dr_backups
               (source, path, label, start_time, stop_time, size_bytes,
                verified_at, verification_ok, problems, details)
        VALUES ('pg_dump', v.path, p_label, v.dumped_at, v.dumped_at, v.size_bytes,
                clock_timestamp(), ok, CASE WHEN ok THEN 0 ELSE 1 END, d)
        RETURNING id INTO backup_id;
    END IF;
    PERFORM @extschema@.dr_log_event('BACKUP_VERIFIED',
        jsonb_strip_nulls(jsonb_build_object(
            'backup_id', backup_id, 'source', 'pg_dump', 'path', v.path, 'label', p_label,
            'ok', ok, 'problems', CASE WHEN ok THEN 0 ELSE 1 END,
            'database', v.database_name, 'dumped_at', v.dumped_at,
            'toc_entries', v.toc_entries, 'size_bytes', v.size_bytes, 'sha256', v.sha256,
            'problem', v.problem, 'sqlstate', v.problem_sqlstate,
            'elapsed_s', round(v.elapsed_s::numeric, 3))),
        NULL, ok);
    RETURN backup_id;
END
$fn$;
COMMENT ON FUNCTION dr_record_dump_verification(dr_dump_verification, text) IS
'Internal: record one pg_dump archive verification in dr_backups (source pg_dump) and as a BACKUP_VERIFIED event; NULL where the node cannot write.';

CREATE FUNCTION dr_verify_dump(
    path text,
    expected_sha256 text DEFAULT NULL,
    refuse boolean DEFAULT true,
    OUT backup_id bigint,
    OUT database_name text,
    OUT dumped_at timestamptz,
    OUT toc_entries bigint,
    OUT data_blocks bigint,
    OUT size_bytes bigint,
    OUT sha256 text,
    OUT ok boolean,
    OUT problem text,
    OUT problem_sqlstate text)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v @extschema@.dr_dump_verification;
    want text := lower(btrim(expected_sha256));
    dump_label text;
    registered text;
BEGIN
    IF path IS NULL THEN
        RAISE EXCEPTION 'archive path must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF refuse IS NULL THEN
        RAISE EXCEPTION 'refuse must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF want IS NOT NULL AND want !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'invalid SHA-256: %', quote_literal(expected_sha256)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A SHA-256 is 64 hexadecimal digits.',
                  HINT = 'Use the output of sha256sum.';
    END IF;
    -- runs as the caller: EXECUTE on the C function is dr_admin's
    v := @extschema@.dr_dump_inspect(path);
    IF v.problem IS NULL THEN
        dump_label := v.database_name || ' ' || v.dumped_at_local;
        SELECT b.details->>'sha256' INTO registered FROM @extschema@.dr_backups b
         WHERE b.source = 'pg_dump' AND b.path = v.path AND b.label = dump_label
           AND b.verification_ok;
        IF want IS NOT NULL AND v.sha256 <> want THEN
            v.problem := 'the archive''s SHA-256 is not the expected one';
            v.problem_detail := pg_catalog.format('Expected %s, the file''s is %s.', want, v.sha256);
        ELSIF registered IS NOT NULL AND v.sha256 <> registered THEN
            v.problem := 'the archive''s SHA-256 is not the one recorded when it was verified';
            v.problem_detail := pg_catalog.format('Recorded %s, the file''s is %s: the archive changed after it was written.',
                                                  registered, v.sha256);
        END IF;
        IF v.problem IS NOT NULL THEN
            v.problem_sqlstate := 'XX001';
            v.problem_hint := 'Restore the file from a copy whose SHA-256 is the registered one, or take a new pg_dump -Fc.';
        END IF;
    END IF;
    IF v.problem IS NOT NULL AND refuse THEN
        RAISE EXCEPTION 'pg_dump archive "%" refused: %', v.path, v.problem
            USING ERRCODE = v.problem_sqlstate, DETAIL = v.problem_detail, HINT = v.problem_hint;
    END IF;
    -- recorded where the node can write (on a standby: only the row)
    backup_id := @extschema@.dr_record_dump_verification(v, dump_label);
    database_name := v.database_name;
    dumped_at := v.dumped_at;
    toc_entries := v.toc_entries;
    data_blocks := v.data_blocks;
    size_bytes := v.size_bytes;
    sha256 := v.sha256;
    ok := v.problem IS NULL;
    problem := v.problem;
    problem_sqlstate := v.problem_sqlstate;
END
$fn$;
COMMENT ON FUNCTION dr_verify_dump(text, text, boolean) IS
'Verify a custom-format pg_dump archive (pg_dump -Fc) under tensafe_dr.backup_root: header and table of contents parsed, every data block''s framing read to the end of the file and matched with the TOC, SHA-256 against the one recorded before and expected_sha256 if given. Recorded in dr_backups (source pg_dump: database, dump time, TOC entries, checksum) and as a BACKUP_VERIFIED event where the node can write. A bad archive is refused with its SQLSTATE (22023, 0A000, XX001, 54000), or with refuse => false recorded as failed and returned as a row.';

-- The refusal of a PITR plan that no base backup may serve, when pg_dump
-- archives are recorded: a logical dump restores only to its own time.
-- base_backups: verified base backups exist (none ends before the target);
-- then only a target at or after a dump is refused here.  r unchanged
-- (sqlstate NULL) otherwise, and when no verified dump is recorded.
CREATE FUNCTION dr_pitr_refuse_logical_dump(r @extschema@.dr_pitr_plan_row, p_kind text, p_time timestamptz,
                                            base_backups boolean)
RETURNS @extschema@.dr_pitr_plan_row
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t_at timestamptz := coalesce(p_time, r.target_time);
    d_before @extschema@.dr_backups;
    d_after @extschema@.dr_backups;
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM @extschema@.dr_backups b
     WHERE b.source = 'pg_dump' AND b.verification_ok;
    IF n = 0 THEN
        RETURN r;
    END IF;
    IF t_at IS NOT NULL THEN
        SELECT * INTO d_before FROM @extschema@.dr_backups b
         WHERE b.source = 'pg_dump' AND b.verification_ok AND b.stop_time <= t_at
         ORDER BY b.stop_time DESC, b.id DESC LIMIT 1;
        SELECT * INTO d_after FROM @extschema@.dr_backups b
         WHERE b.source = 'pg_dump' AND b.verification_ok AND b.stop_time > t_at
         ORDER BY b.stop_time, b.id LIMIT 1;
    END IF;
    -- base backups exist but end after the target: a dump before the
    -- target is what the caller may be thinking of; otherwise the base
    -- backups' own refusal (dr_pitr_refuse_no_backup) says it better
    IF base_backups AND d_before.id IS NULL THEN
        RETURN r;
    END IF;
    r.sqlstate := '55000';
    r.reason := CASE WHEN base_backups
                     THEN 'no verified base backup ends before the target, and a pg_dump archive restores only to the time it was taken'
                     ELSE 'only pg_dump archives are recorded, and a pg_dump archive restores only to the time it was taken' END;
    r.detail := pg_catalog.format('%s verified pg_dump archive(s) are recorded%s%s. A logical dump holds the database as it was when pg_dump took its snapshot, and no WAL can be replayed on top of it: a recovery to a time in between needs a verified base backup taken before the target plus the WAL archived from it to the target.',
                    n,
                    CASE WHEN d_before.id IS NOT NULL
                         THEN pg_catalog.format('; the newest at or before the target is id %s (database %s) taken at %s',
                                                d_before.id, d_before.details->>'database', d_before.stop_time)
                         ELSE '' END,
                    CASE WHEN d_after.id IS NOT NULL
                         THEN pg_catalog.format('; the next is id %s (database %s) taken at %s',
                                                d_after.id, d_after.details->>'database', d_after.stop_time)
                         ELSE '' END);
    r.hint := CASE WHEN d_before.id IS NOT NULL
                   THEN pg_catalog.format('To get the database as of %s, restore dump %s with pg_restore (runbook 4.2). For later points in time, verify a pg_basebackup with dr_verify_backup() and keep the WAL archive.',
                                          d_before.stop_time, d_before.id)
                   ELSE 'Verify a pg_basebackup with dr_verify_backup() and keep the WAL archive; a dump can only be restored as it is, with pg_restore.' END;
    RETURN r;
END
$fn$;
COMMENT ON FUNCTION dr_pitr_refuse_logical_dump(dr_pitr_plan_row, text, timestamptz, boolean) IS
'Internal: the refusal (55000) of a PITR plan no base backup may serve while pg_dump archives are recorded: a logical dump restores only to its own time; a time in between needs a base backup plus WAL. The plan row unchanged when no verified dump is recorded.';

REVOKE ALL ON FUNCTION dr_dump_inspect(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_record_dump_verification(dr_dump_verification, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_verify_dump(text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_pitr_refuse_logical_dump(dr_pitr_plan_row, text, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_dump_inspect(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_record_dump_verification(dr_dump_verification, text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_verify_dump(text, text, boolean) TO dr_admin;
