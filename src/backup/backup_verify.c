/*-------------------------------------------------------------------------
 *
 * backup_verify.c
 *	  dr_verify_backup_internal(): verify a plain-format pg_basebackup
 *	  directory against its backup_manifest, as pg_verifybackup -n does,
 *	  from SQL.
 *
 * What is checked, in this order:
 *	1. the manifest parses (manifest.c) and its own SHA-256 checksum holds;
 *	2. the system identifier in a version 2 manifest matches the backup's
 *	   global/pg_control;
 *	3. every file on disk is in the manifest and has its size, and every
 *	   file of the manifest is on disk (ignoring what pg_verifybackup
 *	   ignores: backup_manifest, postgresql.auto.conf, standby.signal,
 *	   recovery.signal, pg_wal/);
 *	4. every file's checksum (CRC-32C or SHA-224/256/384/512);
 *	5. every WAL segment the manifest's WAL ranges need is in the backup's
 *	   pg_wal or in tensafe_dr.wal_archive_dir (present and, when not
 *	   compressed, of full size; the records themselves are not decoded).
 * Each problem becomes one (file, problem) pair; the SQL wrapper
 * dr_verify_backup() returns them and records the verdict in dr_backups.
 *
 * Resources: files and directories are opened with OpenTransientFile /
 * AllocateDir, so an error or a cancel closes them; files are read in
 * DR_READ_CHUNK pieces with CHECK_FOR_INTERRUPTS() between them; no LWLock
 * is held at any point (progress goes to a spinlock-protected slot, see
 * backup_progress.c, which PG_ENSURE_ERROR_CLEANUP gives back on error or
 * exit).  Memory: the manifest text (PostgreSQL 15's JSON parser is not
 * incremental) plus one entry per file, in a context freed at the end.
 *
 * File reading helpers and dr_file_sha256() are in backup_files.c.
 *
 * Security: see backup_paths.c.  Symbolic links inside the backup (the
 * pg_tblspc entries) are followed only if they resolve under
 * tensafe_dr.backup_root; files are opened with O_NOFOLLOW.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "backup_paths.h"
#include "backup_progress.h"
#include "backup_verify.h"
#include "manifest.h"

PG_FUNCTION_INFO_V1(dr_verify_backup_internal);

#define DR_VERIFY_COLS	12

/* One file of the manifest. */
typedef struct ManifestEntry
{
	uint32		status;			/* simplehash */
	char	   *path;
	uint64		size;
	pg_checksum_type algorithm;
	int			checksum_len;
	uint8	   *checksum;
	bool		matched;		/* seen on disk */
	bool		bad;			/* already reported: skip the checksum */
} ManifestEntry;

#define SH_PREFIX		mfhash
#define SH_ELEMENT_TYPE	ManifestEntry
#define SH_KEY_TYPE		char *
#define SH_KEY			path
#define SH_HASH_KEY(tb, key)	hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b)		(strcmp(a, b) == 0)
#define SH_SCOPE		static inline
#define SH_RAW_ALLOCATOR	palloc0
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct Problem
{
	char	   *file;
	char	   *problem;
} Problem;

typedef struct VerifyState
{
	char	   *dir;			/* resolved backup directory */
	mfhash_hash *files;
	int			nfiles;
	uint64		total_bytes;	/* sum of the manifest's sizes */
	DrManifestWalRange *ranges;
	int			nranges;
	int			maxranges;
	bool		algorithms[CHECKSUM_TYPE_SHA512 + 1];

	Problem    *problems;
	int			nproblems;
	int			maxproblems;

	/* from global/pg_control, if readable */
	bool		have_control;
	uint64		control_sysid;
	uint32		seg_size;

	/* from backup_label */
	char	   *label;
	char	   *start_time;
	char	   *backup_method;
	XLogRecPtr	label_start_lsn;
	TimeLineID	label_tli;

	int			progress_slot;
	char	   *buf;			/* DR_READ_CHUNK */
	int			wal_needed;
	int			wal_missing;
} VerifyState;

static void
add_problem(VerifyState *vs, const char *file, const char *fmt,...) pg_attribute_printf(3, 4);

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

static void
add_problem(VerifyState *vs, const char *file, const char *fmt,...)
{
	StringInfoData msg;

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
	if (vs->nproblems == vs->maxproblems)
	{
		vs->maxproblems = Max(16, vs->maxproblems * 2);
		vs->problems = vs->problems
			? repalloc_huge(vs->problems, sizeof(Problem) * vs->maxproblems)
			: palloc(sizeof(Problem) * vs->maxproblems);
	}
	vs->problems[vs->nproblems].file = shown_path(file);
	vs->problems[vs->nproblems].problem = msg.data;
	vs->nproblems++;
}

/* Manifest callbacks */
static void
on_file(void *private_data, const DrManifestFile *f)
{
	VerifyState *vs = private_data;
	ManifestEntry *e;
	bool		found;
	char	   *path = pstrdup(f->path);

	e = mfhash_insert(vs->files, path, &found);
	if (found)
	{
		add_problem(vs, path, "listed more than once in the manifest");
		pfree(path);
		return;
	}
	e->path = path;
	e->size = f->size;
	e->algorithm = f->algorithm;
	e->checksum_len = f->checksum_len;
	e->checksum = NULL;
	if (f->checksum_len > 0)
	{
		e->checksum = palloc(f->checksum_len);
		memcpy(e->checksum, f->checksum, f->checksum_len);
	}
	e->matched = false;
	e->bad = false;
	vs->nfiles++;
	vs->total_bytes += f->size;
	vs->algorithms[f->algorithm] = true;
}

static void
on_wal_range(void *private_data, const DrManifestWalRange *r)
{
	VerifyState *vs = private_data;

	if (vs->nranges == vs->maxranges)
	{
		vs->maxranges = Max(4, vs->maxranges * 2);
		vs->ranges = vs->ranges
			? repalloc(vs->ranges, sizeof(DrManifestWalRange) * vs->maxranges)
			: palloc(sizeof(DrManifestWalRange) * vs->maxranges);
	}
	vs->ranges[vs->nranges++] = *r;
}

/* pg_verifybackup's ignore list: these paths (and anything under them). */
static bool
ignored_path(const char *rel)
{
	static const char *const ignore[] = {
		"backup_manifest", "postgresql.auto.conf", "standby.signal",
		"recovery.signal", "pg_wal"
	};
	int			i;

	for (i = 0; i < lengthof(ignore); i++)
	{
		size_t		n = strlen(ignore[i]);

		if (strncmp(rel, ignore[i], n) == 0 && (rel[n] == '\0' || rel[n] == '/'))
			return true;
	}
	return false;
}

/* global/pg_control of the backup: system identifier, WAL segment size. */
static void
read_control(VerifyState *vs)
{
	char	   *path = psprintf("%s/global/pg_control", vs->dir);
	size_t		len;
	char	   *data = dr_read_whole_file(path, &len, 65536);
	ControlFileData cf;
	pg_crc32c	crc;

	vs->seg_size = wal_segment_size;
	if (data == NULL || len < sizeof(ControlFileData))
		return;					/* a missing pg_control is reported as missing */
	memcpy(&cf, data, sizeof(cf));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &cf, offsetof(ControlFileData, crc));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, cf.crc) || cf.pg_control_version != PG_CONTROL_VERSION ||
		!IsValidWalSegSize(cf.xlog_seg_size))
		return;					/* its checksum in the manifest will say more */
	vs->have_control = true;
	vs->control_sysid = cf.system_identifier;
	vs->seg_size = cf.xlog_seg_size;
}

/* backup_label: LABEL, START WAL LOCATION, START TIME, START TIMELINE. */
static void
read_backup_label(VerifyState *vs)
{
	char	   *path = psprintf("%s/backup_label", vs->dir);
	size_t		len;
	char	   *data = dr_read_whole_file(path, &len, 1024 * 1024);
	char	   *v;

	if (data == NULL || !pg_verifymbstr(data, (int) len, true))
		return;
	vs->label = dr_label_value(data, "LABEL: ");
	vs->start_time = dr_label_value(data, "START TIME: ");
	vs->backup_method = dr_label_value(data, "BACKUP METHOD: ");
	(void) dr_parse_lsn_text(dr_label_value(data, "START WAL LOCATION: "), &vs->label_start_lsn);
	v = dr_label_value(data, "START TIMELINE: ");
	if (v)
		vs->label_tli = (TimeLineID) strtoul(v, NULL, 10);
}

/*
 * Walk the backup directory: report files not in the manifest and size
 * differences, mark the manifest's files seen.  'rel' is relative to the
 * backup directory ("" for the top).
 */
static void
walk(VerifyState *vs, const char *rel)
{
	char	   *full = rel[0] ? psprintf("%s/%s", vs->dir, rel) : pstrdup(vs->dir);
	DIR		   *d;
	struct dirent *de;

	check_stack_depth();
	d = AllocateDir(full);
	if (d == NULL)
	{
		add_problem(vs, rel[0] ? rel : ".", "could not open directory: %m");
		return;
	}
	while ((de = ReadDir(d, full)) != NULL)
	{
		char	   *crel;
		char	   *cfull;
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		crel = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		if (ignored_path(crel))
			continue;
		cfull = psprintf("%s/%s", full, de->d_name);
		if (lstat(cfull, &st) < 0)
		{
			add_problem(vs, crel, "could not stat: %m");
			continue;
		}
		if (S_ISLNK(st.st_mode))
		{
			char		target[PATH_MAX];

			if (realpath(cfull, target) == NULL)
			{
				add_problem(vs, crel, "symbolic link that does not resolve");
				continue;
			}
			if (!dr_path_under_backup_root(target))
			{
				add_problem(vs, crel, "symbolic link points outside tensafe_dr.backup_root (not followed)");
				continue;
			}
			if (stat(cfull, &st) < 0)
			{
				add_problem(vs, crel, "could not stat: %m");
				continue;
			}
		}
		if (S_ISDIR(st.st_mode))
			walk(vs, crel);
		else if (S_ISREG(st.st_mode))
		{
			ManifestEntry *e = mfhash_lookup(vs->files, crel);

			if (e == NULL)
				add_problem(vs, crel, "not in manifest");
			else
			{
				e->matched = true;
				if ((uint64) st.st_size != e->size)
				{
					add_problem(vs, crel, "size %lld, manifest says %llu",
								(long long) st.st_size, (unsigned long long) e->size);
					e->bad = true;
				}
			}
		}
		else
			add_problem(vs, crel, "not a regular file or directory");
		pfree(cfull);
		pfree(crel);
	}
	FreeDir(d);
	pfree(full);
}

/* Checksum one file against its entry; reports what is wrong. */
static void
checksum_file(VerifyState *vs, ManifestEntry *e, int64 *bytes_done, int64 files_done)
{
	char	   *full = psprintf("%s/%s", vs->dir, e->path);
	pg_checksum_context ctx;
	uint8		digest[PG_CHECKSUM_MAX_LENGTH];
	int			fd;
	uint64		total = 0;
	int			len;
	int			expected = dr_checksum_length(e->algorithm);

	if (e->checksum_len != expected)
	{
		add_problem(vs, e->path, "manifest checksum has %d bytes, %s needs %d",
					e->checksum_len, pg_checksum_type_name(e->algorithm), expected);
		return;
	}
	fd = OpenTransientFile(full, O_RDONLY | PG_BINARY | O_NOFOLLOW);
	if (fd < 0)
	{
		add_problem(vs, e->path, "could not open: %m");
		return;
	}
	if (pg_checksum_init(&ctx, e->algorithm) < 0)
		elog(ERROR, "could not initialize checksum of file \"%s\"", full);
	for (;;)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = read(fd, vs->buf, DR_READ_CHUNK);
		if (n < 0)
		{
			add_problem(vs, e->path, "could not read: %m");
			CloseTransientFile(fd);
			return;
		}
		if (n == 0)
			break;
		if (pg_checksum_update(&ctx, (uint8 *) vs->buf, n) < 0)
			elog(ERROR, "could not update checksum of file \"%s\"", full);
		total += n;
		*bytes_done += n;
		dr_progress_advance(vs->progress_slot, files_done, *bytes_done);
	}
	CloseTransientFile(fd);
	len = pg_checksum_final(&ctx, digest);
	if (len < 0)
		elog(ERROR, "could not finalize checksum of file \"%s\"", full);
	if (total != e->size)
		add_problem(vs, e->path, "read %llu bytes, manifest says %llu (changed during verification?)",
					(unsigned long long) total, (unsigned long long) e->size);
	else if (len != e->checksum_len || memcmp(digest, e->checksum, len) != 0)
		add_problem(vs, e->path, "checksum mismatch");
	pfree(full);
}

/* Every segment of every WAL range, in pg_wal or the archive. */
static void
check_wal(VerifyState *vs)
{
	char	   *pg_wal = psprintf("%s/pg_wal", vs->dir);
	int			i;

	for (i = 0; i < vs->nranges; i++)
	{
		DrManifestWalRange *r = &vs->ranges[i];
		XLogSegNo	seg,
					first,
					last;

		XLByteToSeg(r->start_lsn, first, vs->seg_size);
		XLByteToPrevSeg(r->end_lsn, last, vs->seg_size);
		last = Max(first, last);
		for (seg = first; seg <= last; seg++)
		{
			char		name[MAXFNAMELEN];

			CHECK_FOR_INTERRUPTS();
			XLogFileName(name, r->tli, seg, vs->seg_size);
			vs->wal_needed++;
			if (dr_wal_segment_present(pg_wal, name, vs->seg_size, false) ||
				dr_wal_segment_present(dr_wal_archive_dir_setting, name, vs->seg_size, true))
				continue;
			vs->wal_missing++;
			add_problem(vs, name, "WAL segment %s missing (timeline %u, needed for %X/%X..%X/%X; not in pg_wal%s)",
						name, r->tli, LSN_FORMAT_ARGS(r->start_lsn), LSN_FORMAT_ARGS(r->end_lsn),
						dr_wal_archive_dir_setting && dr_wal_archive_dir_setting[0] ? " nor tensafe_dr.wal_archive_dir" : ", no tensafe_dr.wal_archive_dir set");
		}
	}
}

/*
 * Stop time: from the backup history file (<segment>.<offset>.backup) in
 * pg_wal or the archive if there is one, else the manifest's mtime (it is
 * written when the backup ends).
 */
static char *
stop_time(VerifyState *vs, const char **source)
{
	if (vs->label_start_lsn != InvalidXLogRecPtr && vs->label_tli != 0)
	{
		XLogSegNo	seg;
		char		name[MAXFNAMELEN];
		const char *dirs[2];
		int			i;

		XLByteToSeg(vs->label_start_lsn, seg, vs->seg_size);
		BackupHistoryFileName(name, vs->label_tli, seg, vs->label_start_lsn, vs->seg_size);
		dirs[0] = psprintf("%s/pg_wal", vs->dir);
		dirs[1] = dr_wal_archive_dir_setting;
		for (i = 0; i < 2; i++)
		{
			size_t		len;
			char	   *data;
			char	   *v;

			if (dirs[i] == NULL || dirs[i][0] == '\0')
				continue;
			data = dr_read_whole_file(psprintf("%s/%s", dirs[i], name), &len, 1024 * 1024);
			if (data && pg_verifymbstr(data, (int) len, true) &&
				(v = dr_label_value(data, "STOP TIME: ")) != NULL)
			{
				*source = "backup history file";
				return v;
			}
		}
	}
	{
		struct stat st;
		char	   *m = psprintf("%s/backup_manifest", vs->dir);

		if (stat(m, &st) == 0)
		{
			*source = "backup_manifest mtime";
			return pstrdup(timestamptz_to_str(time_t_to_timestamptz(st.st_mtime)));
		}
	}
	*source = NULL;
	return NULL;
}

static int
problem_cmp(const void *a, const void *b)
{
	const Problem *pa = a;
	const Problem *pb = b;
	int			c = strcmp(pa->file, pb->file);

	return c != 0 ? c : strcmp(pa->problem, pb->problem);
}

static void
end_progress(int code, Datum arg)
{
	dr_progress_end(DatumGetInt32(arg));
}

/* Refuse what is not a plain-format backup directory, with 22023. */
static void
require_backup_dir(const char *dir, const char *given)
{
	struct stat st;
	char	   *p;
	static const char *const tar_names[] = {
		"base.tar", "base.tar.gz", "base.tar.lz4", "base.tar.zst"
	};
	int			i;

	if (stat(dir, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat \"%s\": %m", given)));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a directory", given),
				 errhint("Give the directory a plain-format pg_basebackup wrote.")));
	/* pg_basebackup -Ft writes backup_manifest next to base.tar: look first */
	for (i = 0; i < lengthof(tar_names); i++)
	{
		if (stat(psprintf("%s/%s", dir, tar_names[i]), &st) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is a tar-format backup", given),
					 errdetail("It holds %s; dr_verify_backup() verifies plain-format backups only.", tar_names[i]),
					 errhint("Extract base.tar into an empty directory, pg_wal.tar into its pg_wal, copy backup_manifest next to them and verify that directory; or take the backup with pg_basebackup -Fp.")));
	}
	p = psprintf("%s/backup_manifest", dir);
	if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not a backup directory", given),
			 errdetail("It has no backup_manifest."),
			 errhint("Give the directory pg_basebackup -Fp wrote (PostgreSQL 13 or later, without --no-manifest).")));
}

static Datum
text_array(VerifyState *vs, bool files)
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
details_json(VerifyState *vs, const DrManifestInfo *mi, const char *stop_source,
			 int64 checksummed, TimestampTz started)
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
	appendStringInfo(&s, "], \"wal_segments_needed\": %d, \"wal_segments_missing\": %d, \"bytes_checksummed\": %lld",
					 vs->wal_needed, vs->wal_missing, (long long) checksummed);
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
	VerifyState vs;
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
	int64		checksummed = 0;
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE ||
		tupdesc->natts != DR_VERIFY_COLS)
		elog(ERROR, "tensafe_dr library and SQL definitions do not match");
	tupdesc = BlessTupleDesc(tupdesc);

	memset(&vs, 0, sizeof(vs));
	vs.dir = dr_resolve_backup_path(given);
	require_backup_dir(vs.dir, given);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "tensafe_dr backup verification",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	vs.files = mfhash_create(1024, NULL);
	vs.buf = palloc(DR_READ_CHUNK);
	vs.progress_slot = dr_progress_begin(vs.dir);

	PG_ENSURE_ERROR_CLEANUP(end_progress, Int32GetDatum(vs.progress_slot));
	{
		manifest = dr_read_whole_file(psprintf("%s/backup_manifest", vs.dir), &mlen, MaxAllocHugeSize - 1);
		if (manifest == NULL)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open the backup_manifest of \"%s\": %m", given)));
		memset(&cb, 0, sizeof(cb));
		cb.private_data = &vs;
		cb.file_cb = on_file;
		cb.wal_range_cb = on_wal_range;
		err = dr_manifest_parse(manifest, mlen, &cb, &mi);
		read_control(&vs);
		read_backup_label(&vs);
		if (err)
			add_problem(&vs, "backup_manifest", "%s", err);
		else
		{
			ManifestEntry *e;
			mfhash_iterator it;
			int64		files_total = 0,
						bytes_total = 0,
						files_done = 0;

			if ((err = dr_manifest_check_checksum(manifest, mlen, &mi)) != NULL)
				add_problem(&vs, "backup_manifest", "%s", err);
			pfree(manifest);
			manifest = NULL;

			if (mi.have_system_identifier && vs.have_control &&
				mi.system_identifier != vs.control_sysid)
				add_problem(&vs, "global/pg_control",
							"system identifier " UINT64_FORMAT ", manifest says " UINT64_FORMAT,
							vs.control_sysid, mi.system_identifier);

			dr_progress_phase(vs.progress_slot, "checking files", vs.nfiles, 0);
			walk(&vs, "");
			mfhash_start_iterate(vs.files, &it);
			while ((e = mfhash_iterate(vs.files, &it)) != NULL)
			{
				if (!e->matched && !ignored_path(e->path))
				{
					add_problem(&vs, e->path, "missing");
					e->bad = true;
				}
				else if (e->matched && !e->bad && e->algorithm != CHECKSUM_TYPE_NONE)
				{
					files_total++;
					bytes_total += e->size;
				}
			}

			dr_progress_phase(vs.progress_slot, "checksumming files", files_total, bytes_total);
			mfhash_start_iterate(vs.files, &it);
			while ((e = mfhash_iterate(vs.files, &it)) != NULL)
			{
				if (!e->matched || e->bad || e->algorithm == CHECKSUM_TYPE_NONE)
					continue;
				checksum_file(&vs, e, &checksummed, files_done);
				files_done++;
				dr_progress_advance(vs.progress_slot, files_done, checksummed);
			}

			dr_progress_phase(vs.progress_slot, "checking WAL", 0, 0);
			check_wal(&vs);
		}
		stop = stop_time(&vs, &stop_source);
	}
	PG_END_ENSURE_ERROR_CLEANUP(end_progress, Int32GetDatum(vs.progress_slot));
	dr_progress_end(vs.progress_slot);

	if (vs.nproblems > 1)
		qsort(vs.problems, vs.nproblems, sizeof(Problem), problem_cmp);

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
																 checksummed, started)));
	values[10] = text_array(&vs, true);
	values[11] = text_array(&vs, false);
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
