-------------------------------------------------------------------------------
-- Backup verification (amends extension/1.0/50_backups.sql), issue 13 items
-- 7 and 8.
--
-- dr_verify_backup_internal() now lists at most 100 problems (the first
-- found, sorted by file) and sums up the rest in one last row
-- "N more problems not listed"; details->'problems' is the true count.  A
-- hostile manifest (a WAL range ending at FFFFF/0 claims 268 million
-- segments) can no longer make the list, or the backend, grow without
-- bound.  dr_verify_backup() records that true count in dr_backups.problems
-- (clamped to integer) instead of the number of rows.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_verify_backup(path text, OUT file text, OUT problem text)
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
    -- the true count (the rows stop at 100 and a summing-up row)
    n := least(coalesce((v.details->>'problems')::bigint,
                        array_length(v.problem_files, 1), 0), 2147483647)::integer;
    -- recorded where the node can write (on a standby: only the rows)
    PERFORM @extschema@.dr_record_backup_verification(v, n);
    RETURN QUERY SELECT u.f, u.p FROM unnest(v.problem_files, v.problem_texts) AS u(f, p);
END
$fn$;
COMMENT ON FUNCTION dr_verify_backup(text) IS
'Verify a plain-format pg_basebackup directory under tensafe_dr.backup_root against its backup_manifest (manifest checksum and size, every file''s presence, size and checksum, files not in the manifest, system identifier, WAL ranges against backup_label and pg_control, WAL segments in pg_wal or tensafe_dr.wal_archive_dir). One row per problem, at most 100 and then one row "N more problems not listed"; no rows = valid. Recorded in dr_backups (with the true count) and as a BACKUP_VERIFIED event where the node can write.';
