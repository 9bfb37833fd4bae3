-------------------------------------------------------------------------------
-- Backups and artifacts (runbook 4.2, 4.3).
--
-- dr_backups is the backup catalog: dr_verify_backup() records every
-- verification of a pg_basebackup directory here, and the pgBackRest import
-- adds pgBackRest's backups.  dr_artifacts registers files with their
-- SHA-256 (runbook 4.3) and keeps the last verification of each.
--
-- File access: the C functions read files as the server's OS user.  They are
-- not SECURITY DEFINER; EXECUTE is granted to dr_admin only, and every path
-- must resolve (symbolic links and ".." included) under a directory of
-- tensafe_dr.backup_root (superuser-only setting; empty = nothing).  The SQL
-- wrappers run as the caller; only the recording of results goes through
-- SECURITY DEFINER helpers (search_path pinned), executable by dr_admin.
-------------------------------------------------------------------------------
CREATE TABLE dr_backups (
    id                bigserial PRIMARY KEY,
    source            text NOT NULL CHECK (source IN ('pg_basebackup', 'pgbackrest')),
    path              text,
    label             text,
    system_identifier bigint,
    timeline          integer,
    start_lsn         pg_lsn,
    stop_lsn          pg_lsn,
    start_time        timestamptz,
    stop_time         timestamptz,
    size_bytes        bigint,
    verified_at       timestamptz,
    verification_ok   boolean,
    problems          integer,
    details           jsonb NOT NULL DEFAULT '{}',
    UNIQUE (source, path, label)
);
COMMENT ON TABLE dr_backups IS
'Backup catalog: pg_basebackup directories verified by dr_verify_backup() (label, WAL range, times, size, verdict) and imported pgBackRest backups.';

CREATE TABLE dr_artifacts (
    id               bigserial PRIMARY KEY,
    path_or_uri      text NOT NULL UNIQUE,
    sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    details          jsonb NOT NULL DEFAULT '{}',
    registered_at    timestamptz NOT NULL DEFAULT now(),
    registered_by    text,
    last_verified_at timestamptz,
    last_result      text CHECK (last_result IN ('match', 'mismatch')),
    last_sha256      text
);
COMMENT ON TABLE dr_artifacts IS
'Artifacts (runbook 4.3) with their expected SHA-256, and the result of the last dr_verify_artifact().';

SELECT pg_catalog.pg_extension_config_dump('dr_backups', '');
SELECT pg_catalog.pg_extension_config_dump('dr_backups_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dr_artifacts', '');
SELECT pg_catalog.pg_extension_config_dump('dr_artifacts_id_seq', '');

-- What one verification found (dr_verify_backup_internal's result).
CREATE TYPE dr_backup_verification AS (
    path              text,       -- resolved
    label             text,
    system_identifier bigint,
    timeline          integer,
    start_lsn         pg_lsn,
    stop_lsn          pg_lsn,
    start_time        text,       -- as backup_label / the history file give it
    stop_time         text,
    size_bytes        bigint,
    details           jsonb,
    problem_files     text[],
    problem_texts     text[]
);
COMMENT ON TYPE dr_backup_verification IS
'Internal: the result of dr_verify_backup_internal().';

CREATE FUNCTION dr_verify_backup_internal(path text)
RETURNS dr_backup_verification
AS 'MODULE_PATHNAME', 'dr_verify_backup_internal'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_verify_backup_internal(text) IS
'Internal: verify a plain-format pg_basebackup directory (under tensafe_dr.backup_root) against its backup_manifest; the problems as parallel arrays. Use dr_verify_backup().';

CREATE FUNCTION dr_verify_progress(
    OUT pid integer,
    OUT path text,
    OUT phase text,
    OUT started_at timestamptz,
    OUT files_done bigint,
    OUT files_total bigint,
    OUT bytes_done bigint,
    OUT bytes_total bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dr_verify_progress'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_verify_progress() IS
'Backup verifications running now, one row each: backend pid, path, phase, files and bytes done of the total.';

CREATE FUNCTION dr_file_sha256(path text)
RETURNS text
AS 'MODULE_PATHNAME', 'dr_file_sha256'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_file_sha256(text) IS
'SHA-256 (hex) of a file under tensafe_dr.backup_root.';

-- The first 100 problems, as [{"file": ..., "problem": ...}], for details.
CREATE FUNCTION dr_backup_problems_json(v @extschema@.dr_backup_verification)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(jsonb_agg(jsonb_build_object('file', f, 'problem', p) ORDER BY n), '[]')
      FROM unnest(v.problem_files[1:100], v.problem_texts[1:100]) WITH ORDINALITY AS u(f, p, n)
$fn$;

-- Internal, SECURITY DEFINER: record one verification in dr_backups and as a
-- BACKUP_VERIFIED event.  Returns the catalog id, NULL (nothing recorded)
-- where the node cannot write.
CREATE FUNCTION dr_record_backup_verification(v @extschema@.dr_backup_verification, problems integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    start_ts timestamptz;
    stop_ts timestamptz;
    backup_id bigint;
    ok boolean := problems = 0;
BEGIN
    IF NOT @extschema@.dr_can_write() THEN
        RETURN NULL;
    END IF;
    BEGIN
        start_ts := v.start_time::timestamptz;
    EXCEPTION WHEN others THEN
        start_ts := NULL;
    END;
    BEGIN
        stop_ts := v.stop_time::timestamptz;
    EXCEPTION WHEN others THEN
        stop_ts := NULL;
    END;
    UPDATE @extschema@.dr_backups b
       SET system_identifier = v.system_identifier, timeline = v.timeline,
           start_lsn = v.start_lsn, stop_lsn = v.stop_lsn,
           start_time = start_ts, stop_time = stop_ts, size_bytes = v.size_bytes,
           verified_at = clock_timestamp(), verification_ok = ok,
           problems = dr_record_backup_verification.problems,
           details = v.details || jsonb_build_object('first_problems', @extschema@.dr_backup_problems_json(v))
     WHERE b.source = 'pg_basebackup' AND b.path = v.path
       AND b.label IS NOT DISTINCT FROM v.label
    RETURNING b.id INTO backup_id;
    IF backup_id IS NULL THEN
        INSERT INTO @extschema@.dr_backups
               (source, path, label, system_identifier, timeline, start_lsn, stop_lsn,
                start_time, stop_time, size_bytes, verified_at, verification_ok, problems, details)
        VALUES ('pg_basebackup', v.path, v.label, v.system_identifier, v.timeline,
                v.start_lsn, v.stop_lsn, start_ts, stop_ts, v.size_bytes, clock_timestamp(), ok,
                dr_record_backup_verification.problems,
                v.details || jsonb_build_object('first_problems', @extschema@.dr_backup_problems_json(v)))
        RETURNING id INTO backup_id;
    END IF;
    PERFORM @extschema@.dr_log_event('BACKUP_VERIFIED',
        jsonb_build_object('backup_id', backup_id, 'path', v.path, 'label', v.label,
                           'ok', ok, 'problems', problems,
                           'files', v.details->'files', 'size_bytes', v.size_bytes,
                           'start_lsn', v.start_lsn, 'stop_lsn', v.stop_lsn,
                           'elapsed_s', v.details->'elapsed_s'),
        NULL, ok);
    RETURN backup_id;
END
$fn$;


CREATE FUNCTION dr_verify_backup(path text, OUT file text, OUT problem text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v @extschema@.dr_backup_verification;
    n integer;
BEGIN
    IF path IS NULL THEN
        RAISE EXCEPTION 'backup path must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- runs as the caller: EXECUTE on the C function is dr_admin's
    v := @extschema@.dr_verify_backup_internal(path);
    n := coalesce(array_length(v.problem_files, 1), 0);
    -- recorded where the node can write (on a standby: only the rows)
    PERFORM @extschema@.dr_record_backup_verification(v, n);
    RETURN QUERY SELECT u.f, u.p FROM unnest(v.problem_files, v.problem_texts) AS u(f, p);
END
$fn$;
COMMENT ON FUNCTION dr_verify_backup(text) IS
'Verify a plain-format pg_basebackup directory under tensafe_dr.backup_root against its backup_manifest (manifest checksum, every file''s presence, size and checksum, files not in the manifest, system identifier, WAL segments in pg_wal or tensafe_dr.wal_archive_dir). One row per problem; no rows = valid. Recorded in dr_backups and as a BACKUP_VERIFIED event where the node can write.';

-------------------------------------------------------------------------------
-- Artifacts (runbook 4.3)
-------------------------------------------------------------------------------
CREATE FUNCTION dr_register_artifact(path_or_uri text, sha256 text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    digest text := lower(btrim(sha256));
    new_id bigint;
BEGIN
    IF path_or_uri IS NULL OR btrim(path_or_uri) = '' THEN
        RAISE EXCEPTION 'artifact path or URI must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF digest IS NULL OR digest !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'invalid SHA-256: %', coalesce(quote_literal(sha256), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A SHA-256 is 64 hexadecimal digits.',
                  HINT = 'Use the output of sha256sum.';
    END IF;
    IF details IS NULL OR jsonb_typeof(details) <> 'object' THEN
        RAISE EXCEPTION 'artifact details must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO @extschema@.dr_artifacts AS a (path_or_uri, sha256, details, registered_by)
    VALUES (dr_register_artifact.path_or_uri, digest, dr_register_artifact.details,
            @extschema@.dr_caller())
    ON CONFLICT ON CONSTRAINT dr_artifacts_path_or_uri_key DO UPDATE
       SET sha256 = excluded.sha256, details = excluded.details,
           registered_at = now(), registered_by = excluded.registered_by,
           last_verified_at = NULL, last_result = NULL, last_sha256 = NULL
    RETURNING a.id INTO new_id;
    PERFORM @extschema@.dr_log_event('ARTIFACT_REGISTERED',
        jsonb_build_object('artifact_id', new_id, 'path_or_uri', dr_register_artifact.path_or_uri,
                           'sha256', digest),
        NULL, true);
    RETURN new_id;
END
$fn$;
COMMENT ON FUNCTION dr_register_artifact(text, text, jsonb) IS
'Register (or re-register) an artifact with its expected SHA-256 (64 hex digits).';

-- Internal, SECURITY DEFINER: record one artifact verification.
CREATE FUNCTION dr_record_artifact_verification(artifact_id bigint, actual text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    a record;
    ok boolean;
BEGIN
    SELECT * INTO a FROM @extschema@.dr_artifacts WHERE id = artifact_id;
    ok := a.sha256 = actual;
    IF @extschema@.dr_can_write() THEN
        UPDATE @extschema@.dr_artifacts
           SET last_verified_at = clock_timestamp(),
               last_result = CASE WHEN ok THEN 'match' ELSE 'mismatch' END,
               last_sha256 = actual
         WHERE id = artifact_id;
    END IF;
    PERFORM @extschema@.dr_log_event('ARTIFACT_VERIFIED',
        jsonb_build_object('artifact_id', artifact_id, 'path_or_uri', a.path_or_uri,
                           'ok', ok, 'expected_sha256', a.sha256, 'actual_sha256', actual),
        NULL, ok);
    RETURN ok;
END
$fn$;

CREATE FUNCTION dr_verify_artifact(
    path text,
    OUT artifact_id bigint,
    OUT path_or_uri text,
    OUT expected_sha256 text,
    OUT actual_sha256 text,
    OUT ok boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    a record;
BEGIN
    IF path IS NULL THEN
        RAISE EXCEPTION 'artifact path must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- runs as the caller: EXECUTE on dr_file_sha256 is dr_admin's; it
    -- checks the path against tensafe_dr.backup_root
    actual_sha256 := @extschema@.dr_file_sha256(path);
    SELECT * INTO a FROM @extschema@.dr_artifacts x
     WHERE x.path_or_uri IN (path, 'file://' || path)
     ORDER BY x.path_or_uri = path DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'artifact "%" is not registered', path
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it first with dr_register_artifact(path, sha256).';
    END IF;
    artifact_id := a.id;
    path_or_uri := a.path_or_uri;
    expected_sha256 := a.sha256;
    ok := @extschema@.dr_record_artifact_verification(a.id, actual_sha256);
END
$fn$;
COMMENT ON FUNCTION dr_verify_artifact(text) IS
'Compute the SHA-256 of a registered artifact file (under tensafe_dr.backup_root) and compare it with the registered one; the result is kept in dr_artifacts and recorded as an ARTIFACT_VERIFIED event.';

-------------------------------------------------------------------------------
-- Privileges: file-reading functions are dr_admin's; dr_monitor reads.
-------------------------------------------------------------------------------
REVOKE ALL ON dr_backups, dr_artifacts FROM PUBLIC;
GRANT SELECT ON dr_backups, dr_artifacts TO dr_monitor;

REVOKE ALL ON FUNCTION dr_verify_backup_internal(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_verify_backup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_verify_progress() FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_file_sha256(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_backup_problems_json(dr_backup_verification) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_record_backup_verification(dr_backup_verification, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_register_artifact(text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_record_artifact_verification(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_verify_artifact(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION dr_verify_progress() TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_verify_backup_internal(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_verify_backup(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_file_sha256(text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_backup_problems_json(dr_backup_verification) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_record_backup_verification(dr_backup_verification, integer) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_register_artifact(text, text, jsonb) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_record_artifact_verification(bigint, text) TO dr_admin;
GRANT EXECUTE ON FUNCTION dr_verify_artifact(text) TO dr_admin;
