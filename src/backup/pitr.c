/*-------------------------------------------------------------------------
 *
 * pitr.c
 *	  The file-system side of point-in-time recovery planning: which WAL
 *	  segment files a recovery from a base backup to a target needs, and
 *	  which of them are missing from the WAL archive
 *	  (tensafe_dr.wal_archive_dir).
 *
 * The plan itself (choosing the backup, mapping times to LSNs, refusing
 * impossible targets, the recovery settings) is SQL, in
 * extension/1.0/60_pitr.sql (replaced in extension/1.2/60_pitr.sql); it
 * calls dr_wal_archive_check() and, for a target on a later timeline than
 * the backup, dr_wal_archive_history() here for the part SQL cannot do
 * without superuser file access.
 *
 * Whether a segment is in the archive is decided by wal_archive.c, the
 * owner of that rule, which dr_verify_backup() asks too.  Only names this
 * file builds (XLogFileName: 24 hex digits, or a timeline history file
 * name) are looked up, and only in the directory the administrator
 * configured, so the caller cannot make it probe arbitrary paths.
 * Segments are not opened: one stat() per candidate name; a history file
 * (a few lines) is read.  No locks, no shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "wal_archive.h"

PG_FUNCTION_INFO_V1(dr_wal_archive_check);
PG_FUNCTION_INFO_V1(dr_wal_archive_history);

#define DR_ARCHIVE_CHECK_COLS 6

/* The configured archive directory, or an error saying why there is none. */
static const char *
archive_dir_or_error(void)
{
	const char *dir = dr_wal_archive_dir();
	struct stat st;

	if (dir == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no WAL archive directory is configured"),
				 errdetail("tensafe_dr.wal_archive_dir is empty, so the WAL a recovery needs cannot be checked."),
				 errhint("Set tensafe_dr.wal_archive_dir to the directory archive_command copies WAL segments into, and reload.")));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("WAL archive directory \"%s\" does not exist", dir),
				 errdetail("tensafe_dr.wal_archive_dir names a path that is not a directory this server can read."),
				 errhint("Check tensafe_dr.wal_archive_dir and the archive's mount.")));
	return dir;
}

/*
 * dr_wal_archive_history(timeline int)
 *	RETURNS SETOF (timeline int, begin_lsn pg_lsn, end_lsn pg_lsn)
 *
 * The timelines a recovery to the given timeline passes through, oldest
 * first, read from the timeline's history file in the archive (as
 * readTimeLineHistory() does from pg_wal): each timeline's WAL runs from
 * begin_lsn (0/0 for the first) to end_lsn, where the next one branched off
 * (NULL for the given timeline itself).  Timeline 1 has no history file.
 * Errors: as dr_wal_archive_check() for the directory; the history file
 * missing (58P01) or malformed (XX001).
 */
Datum
dr_wal_archive_history(PG_FUNCTION_ARGS)
{
	int32		tli = PG_GETARG_INT32(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *dir;
	char		fname[MAXFNAMELEN];
	char	   *path;
	FILE	   *fd;
	char		line[MAXPGPATH];
	int			lineno = 0;
	TimeLineID	last_tli = 0;
	XLogRecPtr	prev_end = InvalidXLogRecPtr;
	Datum		values[3];
	bool		nulls[3];

	if (tli < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid timeline: %d", tli),
				 errdetail("Timelines start at 1.")));
	InitMaterializedSRF(fcinfo, 0);
	memset(nulls, 0, sizeof(nulls));

	if (tli > 1)
	{
		dir = archive_dir_or_error();
		TLHistoryFileName(fname, (TimeLineID) tli);
		path = psprintf("%s/%s", dir, fname);
		fd = AllocateFile(path, "r");
		if (fd == NULL)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("timeline history file \"%s\" is not in the WAL archive", fname),
					 errdetail("Recovery to timeline %d needs it to follow the timeline switches after the backup (looked for \"%s\": %m).",
							   tli, path),
					 errhint("Check that archive_command archives history files (it is given them like segments).")));
		while (fgets(line, sizeof(line), fd) != NULL)
		{
			char	   *p = line;
			unsigned int parent;
			uint32		hi;
			uint32		lo;
			int			nfields;

			lineno++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0' || *p == '\n' || *p == '#')
				continue;
			nfields = sscanf(p, "%u\t%X/%X", &parent, &hi, &lo);
			if (nfields != 3 || parent < 1 || parent <= last_tli || parent >= (unsigned int) tli)
			{
				FreeFile(fd);
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("malformed timeline history file \"%s\"", fname),
						 errdetail("Line %d is not \"parent timeline, switch point\" with timelines increasing.",
								   lineno)));
			}
			values[0] = Int32GetDatum((int32) parent);
			values[1] = LSNGetDatum(prev_end);
			values[2] = LSNGetDatum(((uint64) hi) << 32 | lo);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			prev_end = ((uint64) hi) << 32 | lo;
			last_tli = parent;
		}
		FreeFile(fd);
		pfree(path);
	}

	values[0] = Int32GetDatum(tli);
	values[1] = LSNGetDatum(prev_end);
	nulls[2] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * dr_wal_archive_check(start_lsn pg_lsn, end_lsn pg_lsn, timeline int)
 *	RETURNS (archive_dir text, segments_needed int, first_segment text,
 *			 last_segment text, missing text[], missing_count int)
 *
 * The segments from the one holding start_lsn to the one holding end_lsn,
 * on the given timeline, and which of them are not in the archive as a
 * complete plain file (dr_wal_segment_state() says DR_WAL_SEGMENT_PLAIN):
 * absent, a partial copy, or only compressed, which the plan's plain-cp
 * restore_command cannot use.  On a timeline after the first, the timeline's
 * history file is needed too (recovery_target_timeline names it) and is
 * listed first among the missing when it is absent.  Errors: no archive directory configured (55000),
 * the directory missing (58P01), bad arguments (22023).
 */
Datum
dr_wal_archive_check(PG_FUNCTION_ARGS)
{
	XLogRecPtr	start_lsn = PG_GETARG_LSN(0);
	XLogRecPtr	end_lsn = PG_GETARG_LSN(1);
	int32		tli = PG_GETARG_INT32(2);
	const char *dir;
	struct stat st;
	XLogSegNo	first_seg;
	XLogSegNo	last_seg;
	XLogSegNo	seg;
	char		fname[MAXFNAMELEN];
	char		first_name[MAXFNAMELEN];
	ArrayBuildState *missing;
	int			n_missing = 0;
	TupleDesc	tupdesc;
	Datum		values[DR_ARCHIVE_CHECK_COLS];
	bool		nulls[DR_ARCHIVE_CHECK_COLS];

	if (tli < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid timeline: %d", tli),
				 errdetail("Timelines start at 1.")));
	if (end_lsn < start_lsn)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end LSN %X/%X is before start LSN %X/%X",
						LSN_FORMAT_ARGS(end_lsn), LSN_FORMAT_ARGS(start_lsn))));
	dir = archive_dir_or_error();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	XLByteToSeg(start_lsn, first_seg, wal_segment_size);
	XLByteToSeg(end_lsn, last_seg, wal_segment_size);

	missing = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	if (tli > 1)
	{
		char	   *path;

		TLHistoryFileName(fname, (TimeLineID) tli);
		path = psprintf("%s/%s", dir, fname);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		{
			accumArrayResult(missing, CStringGetTextDatum(fname), false,
							 TEXTOID, CurrentMemoryContext);
			n_missing++;
		}
		pfree(path);
	}
	for (seg = first_seg; seg <= last_seg; seg++)
	{
		CHECK_FOR_INTERRUPTS();
		XLogFileName(fname, (TimeLineID) tli, seg, wal_segment_size);
		if (seg == first_seg)
			strlcpy(first_name, fname, sizeof(first_name));
		/* the plan's restore_command is a plain cp: only a plain file will do */
		if (dr_wal_segment_state(dir, fname, wal_segment_size) != DR_WAL_SEGMENT_PLAIN)
		{
			accumArrayResult(missing, CStringGetTextDatum(fname), false,
							 TEXTOID, CurrentMemoryContext);
			n_missing++;
		}
	}

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(dir);
	values[1] = Int32GetDatum((int32) (last_seg - first_seg + 1));
	values[2] = CStringGetTextDatum(first_name);
	values[3] = CStringGetTextDatum(fname);
	values[4] = makeArrayResult(missing, CurrentMemoryContext);
	values[5] = Int32GetDatum(n_missing);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
