/*-------------------------------------------------------------------------
 *
 * backup_verify.c
 *	  dr_verify_backup_internal(): verify a plain-format pg_basebackup
 *	  directory against its backup_manifest, as pg_verifybackup -n does,
 *	  from SQL.  This file drives the verification, keeps the problem list
 *	  and builds the result row; the checks are in backup_verify_files.c
 *	  and backup_verify_wal.c (see backup_verify.h).
 *
 * What is checked, in this order:
 *	1. the manifest parses (manifest_parse.c) and its own SHA-256 checksum
 *	   holds (manifest_checksum.c);
 *	2. the system identifier in a version 2 manifest matches the backup's
 *	   global/pg_control;
 *	3. every file on disk is in the manifest and has its size, and every
 *	   file of the manifest is on disk (backup_verify_files.c);
 *	4. every file's checksum (backup_verify_files.c; by background workers,
 *	   verify_parallel.c, if tensafe_dr.verify_workers asks for them);
 *	5. every WAL segment the manifest's WAL ranges need is in the backup's
 *	   pg_wal or in tensafe_dr.wal_archive_dir (backup_verify_wal.c, by
 *	   wal_archive.c's rule).
 * Each problem becomes one (file, problem) pair; the SQL wrapper
 * dr_verify_backup() returns them and records the verdict in dr_backups.
 *
 * Resources: files and directories are opened by backup_paths.c's walk,
 * which tracks the descriptors so that an error or a cancel closes them;
 * files are read in DR_READ_CHUNK pieces with CHECK_FOR_INTERRUPTS()
 * between them; no LWLock is held at any point (progress goes to a shared
 * slot, see backup_progress.c, which PG_ENSURE_ERROR_CLEANUP gives back on
 * error or exit).  Memory: the manifest text, at most
 * tensafe_dr.max_manifest_size (checked with fstat() before reading;
 * PostgreSQL 15's JSON parser is not incremental), plus one entry per file,
 * at most DR_VERIFY_MAX_PROBLEMS problems (the rest are counted), and the
 * WAL segments found in pg_wal and the archive within the manifest's WAL
 * ranges; in a context freed at the end.  Nothing grows with the length
 * of a WAL range (backup_verify_wal.c).
 *
 * File reading helpers and dr_file_sha256() are in backup_files.c.
 *
 * Security: see backup_paths.c.  Every file is opened once, by its walk
 * from the backup directory's descriptor, following no symbolic link;
 * symbolic links inside the backup (pg_tblspc/<oid>, pg_wal) are followed
 * only by opening their absolute target through the same walk from a root
 * (dr_verify_follow_link()), so never out of tensafe_dr.backup_root.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "backup_files.h"
#include "backup_paths.h"
#include "backup_progress.h"
#include "backup_verify.h"
#include "manifest.h"

PG_FUNCTION_INFO_V1(dr_verify_backup_internal);

#define DR_VERIFY_COLS	12


/* A path as shown: itself if valid in the server encoding, else hex-escaped. */
static char *
shown_path(const char *path)
{
	size_t		len = strlen(path);
	StringInfoData s;
	size_t		i;

	if (pg_verifymbstr(path, (int) len, true))
		return pstrdup(path);
	initStringInfo(&s);
	appendStringInfoString(&s, "(encoded) ");
	for (i = 0; i < len; i++)
		appendStringInfo(&s, "%02x", (unsigned char) path[i]);
	return s.data;
}

/*
 * dr_verify_add_problem
 *		Record one problem: the file it is about (shown hex-escaped if its
 *		name is not valid in the server encoding) and a message formatted
 *		from fmt.
 */
void
dr_verify_add_problem(DrVerifyState *vs, const char *file, const char *fmt,...)
{
	StringInfoData msg;

	vs->nproblems_total++;
	if (vs->nproblems >= DR_VERIFY_MAX_PROBLEMS)
		return;					/* counted, not listed: nothing allocated */
	initStringInfo(&msg);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	if (vs->problems == NULL)
		vs->problems = palloc(sizeof(DrVerifyProblem) * (DR_VERIFY_MAX_PROBLEMS + 1));
	vs->problems[vs->nproblems].file = shown_path(file);
	vs->problems[vs->nproblems].problem = msg.data;
	vs->nproblems++;
}

/* dr_verify_list_full: whether a further problem would only be counted. */
bool
dr_verify_list_full(DrVerifyState *vs)
{
	return vs->nproblems >= DR_VERIFY_MAX_PROBLEMS;
}

/* dr_verify_count_problems: n problems counted but not listed. */
void
dr_verify_count_problems(DrVerifyState *vs, int64 n)
{
	vs->nproblems_total += n;
}

static int
problem_cmp(const void *a, const void *b)
{
	const DrVerifyProblem *pa = a;
	const DrVerifyProblem *pb = b;
	int			c = strcmp(pa->file, pb->file);

	return c != 0 ? c : strcmp(pa->problem, pb->problem);
}

static void
end_progress(int code, Datum arg)
{
	dr_progress_end(DatumGetInt32(arg));
}

/*
 * Open the backup directory (backup_paths.c's walk; its errors) and refuse
 * what is not a plain-format backup directory, with 22023.  Returns the
 * tracked directory descriptor.
 */
static int
open_backup_dir(const char *given)
{
	struct stat st;
	int			fd;
	static const char *const tar_names[] = {
		"base.tar", "base.tar.gz", "base.tar.lz4", "base.tar.zst"
	};
	int			i;

	fd = dr_backup_open(given, &st);
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a directory", given),
				 errhint("Give the directory a plain-format pg_basebackup wrote.")));
	/* pg_basebackup -Ft writes backup_manifest next to base.tar: look first */
	for (i = 0; i < lengthof(tar_names); i++)
	{
		if (fstatat(fd, tar_names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is a tar-format backup", given),
					 errdetail("It holds %s; dr_verify_backup() verifies plain-format backups only.", tar_names[i]),
					 errhint("Extract base.tar into an empty directory, pg_wal.tar into its pg_wal, copy backup_manifest next to them and verify that directory; or take the backup with pg_basebackup -Fp.")));
	}
	if (fstatat(fd, "backup_manifest", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		return fd;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not a backup directory", given),
			 errdetail("It has no backup_manifest."),
			 errhint("Give the directory pg_basebackup -Fp wrote (PostgreSQL 13 or later, without --no-manifest).")));
	return -1;					/* keep compiler quiet */
}

/*
 * Read the backup's manifest, its size checked against
 * tensafe_dr.max_manifest_size on the open descriptor before a byte is
 * read.  NULL with *err set if it is refused.
 */
static char *
read_manifest(DrVerifyState *vs, const char *given, size_t *len, char **err)
{
	struct stat st;
	DrOpenResult res;
	int			fd = dr_backup_openat(vs->dirfd, "backup_manifest", &st, &res);
	char	   *data;
	uint64		limit = (uint64) dr_max_manifest_size_kb * 1024;

	*err = NULL;
	if (fd < 0 && res == DR_OPEN_OUTSIDE)
	{
		*err = pstrdup("backup_manifest is a symbolic link (not followed)");
		return NULL;
	}
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the backup_manifest of \"%s\": %m", given)));
	vs->manifest_mtime = st.st_mtime;
	if (!S_ISREG(st.st_mode))
		*err = pstrdup("backup_manifest is not a regular file");
	else if ((uint64) st.st_size > limit)
		*err = psprintf("the manifest is %lld bytes, more than tensafe_dr.max_manifest_size (%llu bytes); not read",
						(long long) st.st_size, (unsigned long long) limit);
	if (*err)
	{
		dr_backup_close(fd);
		return NULL;
	}
	data = dr_read_fd(fd, &st, "backup_manifest", len);
	dr_backup_close(fd);
	return data;
}

static Datum
text_array(DrVerifyState *vs, bool files)
{
	ArrayBuildState *astate = NULL;
	int			i;

	astate = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	for (i = 0; i < vs->nproblems; i++)
		astate = accumArrayResult(astate,
								  CStringGetTextDatum(files ? vs->problems[i].file : vs->problems[i].problem),
								  false, TEXTOID, CurrentMemoryContext);
	return makeArrayResult(astate, CurrentMemoryContext);
}

/* The details column: what the verification saw, as JSON text. */
static char *
details_json(DrVerifyState *vs, const DrManifestInfo *mi, const char *stop_source,
			 TimestampTz started)
{
	StringInfoData s;
	int			i;
	bool		first = true;
	long		secs;
	int			usecs;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"manifest_version\": %d, \"files\": %d, \"checksum_algorithms\": [",
					 mi->version, vs->nfiles);
	for (i = 0; i <= CHECKSUM_TYPE_SHA512; i++)
	{
		if (!vs->algorithms[i])
			continue;
		if (!first)
			appendStringInfoString(&s, ", ");
		escape_json(&s, pg_checksum_type_name((pg_checksum_type) i));
		first = false;
	}
	appendStringInfoString(&s, "], \"wal_ranges\": [");
	for (i = 0; i < vs->nranges; i++)
		appendStringInfo(&s, "%s{\"timeline\": %u, \"start_lsn\": \"%X/%X\", \"end_lsn\": \"%X/%X\"}",
						 i ? ", " : "", vs->ranges[i].tli,
						 LSN_FORMAT_ARGS(vs->ranges[i].start_lsn),
						 LSN_FORMAT_ARGS(vs->ranges[i].end_lsn));
	appendStringInfo(&s, "], \"wal_segments_needed\": %lld, \"wal_segments_missing\": %lld, \"wal_checked\": %s, \"bytes_checksummed\": %lld",
					 (long long) vs->wal_needed, (long long) vs->wal_missing,
					 vs->wal_checked ? "true" : "false", (long long) vs->bytes_checksummed);
	appendStringInfo(&s, ", \"workers\": %d, \"workers_requested\": %d",
					 vs->workers_used, vs->workers_requested);
	appendStringInfo(&s, ", \"problems\": %lld, \"problems_listed\": %d",
					 (long long) vs->nproblems_total,
					 (int) Min(vs->nproblems_total, DR_VERIFY_MAX_PROBLEMS));
	if (mi->have_system_identifier)
		appendStringInfo(&s, ", \"manifest_system_identifier\": \"" UINT64_FORMAT "\"",
						 mi->system_identifier);
	if (vs->have_control)
		appendStringInfo(&s, ", \"same_cluster\": %s",
						 vs->control_sysid == GetSystemIdentifier() ? "true" : "false");
	if (vs->backup_method)
	{
		appendStringInfoString(&s, ", \"backup_method\": ");
		escape_json(&s, vs->backup_method);
	}
	if (stop_source)
		appendStringInfo(&s, ", \"stop_time_source\": \"%s\"", stop_source);
	TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
	appendStringInfo(&s, ", \"elapsed_s\": %ld.%03d}", secs, usecs / 1000);
	return s.data;
}

/*
 * dr_verify_backup_internal(path) - verify the backup; one row with what
 * the catalog records and the problems as two parallel arrays (file,
 * problem), sorted by file.  No problems = a valid backup.
 */
Datum
dr_verify_backup_internal(PG_FUNCTION_ARGS)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc	tupdesc;
	Datum		values[DR_VERIFY_COLS];
	bool		nulls[DR_VERIFY_COLS];
	DrVerifyState vs;
	DrManifestInfo mi;
	DrManifestCallbacks cb;
	MemoryContext cxt,
				old;
	char	   *manifest;
	size_t		mlen;
	char	   *err;
	TimestampTz started = GetCurrentTimestamp();
	const char *stop_source = NULL;
	char	   *stop;
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE ||
		tupdesc->natts != DR_VERIFY_COLS)
		elog(ERROR, "tensafe_dr library and SQL definitions do not match");
	tupdesc = BlessTupleDesc(tupdesc);

	memset(&vs, 0, sizeof(vs));
	vs.dirfd = open_backup_dir(given);
	vs.dir = dr_backup_canonical_path(given);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "tensafe_dr backup verification",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	dr_verify_files_begin(&vs, &cb);
	vs.buf = palloc(DR_READ_CHUNK);
	vs.progress_slot = dr_progress_begin(vs.dir);

	PG_ENSURE_ERROR_CLEANUP(end_progress, Int32GetDatum(vs.progress_slot));
	{
		manifest = read_manifest(&vs, given, &mlen, &err);
		if (manifest)
			err = dr_manifest_parse(manifest, mlen, &cb, &mi);
		else
			memset(&mi, 0, sizeof(mi));
		dr_verify_read_control(&vs);
		dr_verify_read_backup_label(&vs);
		if (err)
			dr_verify_add_problem(&vs, "backup_manifest", "%s", err);
		else
		{
			if ((err = dr_manifest_check_checksum(manifest, mlen, &mi)) != NULL)
				dr_verify_add_problem(&vs, "backup_manifest", "%s", err);
			pfree(manifest);
			manifest = NULL;

			if (mi.have_system_identifier && vs.have_control &&
				mi.system_identifier != vs.control_sysid)
				dr_verify_add_problem(&vs, "global/pg_control",
									  "system identifier " UINT64_FORMAT ", manifest says " UINT64_FORMAT,
									  vs.control_sysid, mi.system_identifier);

			dr_verify_files(&vs);

			dr_progress_phase(vs.progress_slot, "checking WAL", 0, 0);
			dr_verify_wal(&vs);
		}
		stop = dr_verify_stop_time(&vs, &stop_source);
	}
	PG_END_ENSURE_ERROR_CLEANUP(end_progress, Int32GetDatum(vs.progress_slot));
	dr_progress_end(vs.progress_slot);

	if (vs.nproblems > 1)
		qsort(vs.problems, vs.nproblems, sizeof(DrVerifyProblem), problem_cmp);
	if (vs.nproblems_total > vs.nproblems)
	{
		/* the last row sums up the rest (the array has room for it) */
		if (vs.problems == NULL)
			vs.problems = palloc(sizeof(DrVerifyProblem) * (DR_VERIFY_MAX_PROBLEMS + 1));
		vs.problems[vs.nproblems].file = pstrdup("(not listed)");
		vs.problems[vs.nproblems].problem =
			psprintf(INT64_FORMAT " more problems not listed", vs.nproblems_total - vs.nproblems);
		vs.nproblems++;
	}
	dr_backup_close(vs.dirfd);

	MemoryContextSwitchTo(old);
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(vs.dir);
	if (vs.label)
		values[1] = CStringGetTextDatum(vs.label);
	else
		nulls[1] = true;
	if (vs.have_control)
		values[2] = Int64GetDatum((int64) vs.control_sysid);
	else if (mi.have_system_identifier)
		values[2] = Int64GetDatum((int64) mi.system_identifier);
	else
		nulls[2] = true;
	if (vs.label_tli != 0)
		values[3] = Int32GetDatum((int32) vs.label_tli);
	else if (vs.nranges > 0)
		values[3] = Int32GetDatum((int32) vs.ranges[vs.nranges - 1].tli);
	else
		nulls[3] = true;
	if (vs.label_start_lsn != InvalidXLogRecPtr)
		values[4] = LSNGetDatum(vs.label_start_lsn);
	else if (vs.nranges > 0)
		values[4] = LSNGetDatum(vs.ranges[0].start_lsn);
	else
		nulls[4] = true;
	if (vs.nranges > 0)
		values[5] = LSNGetDatum(vs.ranges[vs.nranges - 1].end_lsn);
	else
		nulls[5] = true;
	if (vs.start_time)
		values[6] = CStringGetTextDatum(vs.start_time);
	else
		nulls[6] = true;
	if (stop)
		values[7] = CStringGetTextDatum(stop);
	else
		nulls[7] = true;
	values[8] = Int64GetDatum((int64) vs.total_bytes);
	values[9] = DirectFunctionCall1(jsonb_in,
									CStringGetDatum(details_json(&vs, &mi, stop_source,
																 started)));
	values[10] = text_array(&vs, true);
	values[11] = text_array(&vs, false);
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
