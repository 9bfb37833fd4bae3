/*-------------------------------------------------------------------------
 *
 * dump_archive.c
 *	  dr_dump_inspect(path): a custom-format pg_dump archive (pg_dump -Fc)
 *	  under tensafe_dr.backup_root, read once from start to end: its
 *	  header, table of contents and data-block framing checked by
 *	  dump_toc.c, its SHA-256 computed on the same pass.  Runbook 4.1 and
 *	  4.2 restore from such archives; dr_verify_dump() (extension/1.2/
 *	  55_pg_dump.sql) records what this finds in dr_backups.
 *
 * The file is opened by backup_paths.c's walk (dr_backup_open(): under the
 * roots, no symbolic link followed; its errors are raised here: 42501
 * outside, 58P01 missing).  What is wrong with the archive itself is not
 * raised but returned (problem, its detail, hint and SQLSTATE), so the SQL
 * wrapper can either refuse with that SQLSTATE or record the failed
 * verification: 22023 not a custom-format archive, 0A000 an archive
 * version not read, XX001 corrupt (a field out of range, a short file,
 * blocks not where the TOC says), 54000 a TOC larger than
 * tensafe_dr.max_dump_toc_size (found before it is read on).
 *
 * Memory: dump_toc.c streams through a 32 kB buffer on the stack and
 * keeps counts only; nothing here grows with the archive.  Reads are in
 * chunks, each followed by CHECK_FOR_INTERRUPTS().  No locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "backup_paths.h"
#include "dump_archive.h"
#include "dump_toc.h"

PG_FUNCTION_INFO_V1(dr_dump_inspect);

int			dr_max_dump_toc_size_kb = 256 * 1024;

/*
 * dr_define_dump_gucs
 *		tensafe_dr.max_dump_toc_size; called from dr_define_gucs().
 */
void
dr_define_dump_gucs(void)
{
	DefineCustomIntVariable("tensafe_dr.max_dump_toc_size",
							"Largest table of contents (with the header) dr_verify_dump() reads in a pg_dump archive; a larger one is refused when the limit is reached.",
							"The archive is streamed, not held in memory: the limit bounds the time spent on a hostile or damaged archive's table of contents.",
							&dr_max_dump_toc_size_kb, 256 * 1024, 64, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
}

typedef struct DumpFile
{
	int			fd;
	const char *shown;
	pg_cryptohash_ctx *sha;
} DumpFile;

/* dump_toc.c's read callback: the next chunk of the file, hashed. */
static size_t
dump_file_read(void *arg, unsigned char *buf, size_t len)
{
	DumpFile   *f = arg;
	ssize_t		n;

	CHECK_FOR_INTERRUPTS();
	n = read(f->fd, buf, len);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", f->shown)));
	if (n > 0 && pg_cryptohash_update(f->sha, buf, n) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(f->sha));
	return (size_t) n;
}

/* The creation time pg_dump wrote (its local time) in log_timezone. */
static bool
dump_time(const DrDumpInfo *info, TimestampTz *out)
{
	struct pg_tm tm;
	int			tz;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = info->tm_year + 1900;
	tm.tm_mon = info->tm_mon + 1;
	tm.tm_mday = info->tm_mday;
	tm.tm_hour = info->tm_hour;
	tm.tm_min = info->tm_min;
	tm.tm_sec = Min(info->tm_sec, 59);
	if (tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1])
		return false;
	tz = DetermineTimeZoneOffset(&tm, log_timezone);
	return tm2timestamp(&tm, 0, &tz, out) == 0;
}

static char *
compression_text(const DrDumpInfo *info)
{
	static const char *const algorithms[] = {"none", "gzip", "lz4", "zstd"};

	if (info->vmin >= 15)
		return pstrdup(algorithms[info->compression]);
	if (info->compression == 0)
		return pstrdup("none");
	if (info->compression < 0)
		return pstrdup("gzip");
	return psprintf("gzip level %d", info->compression);
}

/*
 * dr_dump_inspect(path) -> dr_dump_verification
 *
 * Read the archive at path (under tensafe_dr.backup_root) once: header,
 * TOC, every data block's framing, SHA-256.  Access errors are raised;
 * what is wrong with the archive comes back in problem / problem_detail /
 * problem_hint / problem_sqlstate (NULL when it is whole).
 */
Datum
dr_dump_inspect(PG_FUNCTION_ARGS)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc	tupdesc;
	Datum		values[18];
	bool		nulls[18];
	struct stat st;
	DumpFile	f;
	DrDumpInfo	info;
	DrDumpResult res;
	instr_time	start,
				elapsed;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_STRING_LENGTH];
	const char *sqlstate = NULL;
	const char *hint = NULL;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (tupdesc->natts != lengthof(values))
		elog(ERROR, "dr_dump_verification has %d attributes, expected %d",
			 tupdesc->natts, (int) lengthof(values));

	INSTR_TIME_SET_CURRENT(start);
	/* opened once, by the walk; what is read is what was checked */
	f.fd = dr_backup_open(given, &st);
	f.shown = given;
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a regular file", given),
				 errhint("dr_verify_dump() reads custom-format archives (pg_dump -Fc); a directory-format one is not read.")));
	f.sha = pg_cryptohash_create(PG_SHA256);
	if (f.sha == NULL || pg_cryptohash_init(f.sha) < 0)
		elog(ERROR, "could not initialize SHA-256");

	res = dr_dump_read(dump_file_read, &f,
					   (unsigned long long) dr_max_dump_toc_size_kb * 1024, &info);
	dr_backup_close(f.fd);
	if (res == DR_DUMP_OK &&
		pg_cryptohash_final(f.sha, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(f.sha));
	pg_cryptohash_free(f.sha);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);

	memset(nulls, true, sizeof(nulls));
	values[0] = CStringGetTextDatum(dr_backup_canonical_path(given));
	nulls[0] = false;
	values[11] = Int64GetDatum((int64) st.st_size);
	nulls[11] = false;
	values[13] = Float8GetDatum(INSTR_TIME_GET_DOUBLE(elapsed));
	nulls[13] = false;

	if (res == DR_DUMP_OK)
	{
		TimestampTz ts;

		values[1] = CStringGetTextDatum(info.dbname);
		if (dump_time(&info, &ts))
		{
			values[2] = TimestampTzGetDatum(ts);
			nulls[2] = false;
		}
		else
		{
			res = DR_DUMP_CORRUPT;
			snprintf(info.message, sizeof(info.message), "the creation time is not a valid date");
			info.error_offset = 0;
		}
		values[3] = CStringGetTextDatum(psprintf("%04d-%02d-%02d %02d:%02d:%02d",
												 info.tm_year + 1900, info.tm_mon + 1,
												 info.tm_mday, info.tm_hour,
												 info.tm_min, info.tm_sec));
		values[4] = CStringGetTextDatum(psprintf("%d.%d-%d", info.vmaj, info.vmin, info.vrev));
		values[5] = CStringGetTextDatum(compression_text(&info));
		values[6] = CStringGetTextDatum(info.server_version);
		values[7] = CStringGetTextDatum(info.pg_dump_version);
		values[8] = Int64GetDatum(info.toc_entries);
		values[9] = Int64GetDatum(info.data_blocks);
		values[10] = Int64GetDatum(info.large_objects);
		for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
		values[12] = CStringGetTextDatum(hex);
		for (i = 1; i <= 12; i++)
			nulls[i] = i == 2 ? nulls[2] : false;
	}

	switch (res)
	{
		case DR_DUMP_OK:
			break;
		case DR_DUMP_NOT_ARCHIVE:
			sqlstate = "22023";
			hint = "dr_verify_dump() reads custom-format archives, written by pg_dump -Fc.";
			break;
		case DR_DUMP_UNSUPPORTED:
			sqlstate = "0A000";
			hint = "Check the archive with pg_restore --list of the PostgreSQL version that wrote it.";
			break;
		case DR_DUMP_CORRUPT:
			sqlstate = "XX001";
			hint = "This archive cannot be restored as it is: take a new pg_dump -Fc, or restore the file from a copy whose SHA-256 is the registered one.";
			break;
		case DR_DUMP_TOO_LARGE:
			sqlstate = "54000";
			hint = "A superuser can raise tensafe_dr.max_dump_toc_size if the archive is genuine.";
			break;
	}
	if (sqlstate)
	{
		values[14] = CStringGetTextDatum(info.message);
		values[15] = CStringGetTextDatum(psprintf("At byte %llu of %lld.",
												  info.error_offset, (long long) st.st_size));
		values[16] = CStringGetTextDatum(hint);
		values[17] = CStringGetTextDatum(sqlstate);
		nulls[14] = nulls[15] = nulls[16] = nulls[17] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
