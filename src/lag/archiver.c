/*-------------------------------------------------------------------------
 *
 * archiver.c
 *	  The WAL archive's exposure: what a loss of every node (runbook Level
 *	  4, restore from backup and archive) would cost, and whether archiving
 *	  fails.
 *
 * The worker reads pg_stat_archiver every sample (dr_archive_sample(): the
 * statistics are in shared memory, so this is no transaction and no I/O)
 * and keeps what it saw in DrShared->archive.  archived_upto is the end of
 * the newest WAL segment this node's archiver has archived, as seen by the
 * worker; it never goes back, so a .history or .backup file archived last,
 * or a statistics reset, does not lose it.  While archiving fails, the start
 * of the segment that fails is archived_upto too: the archiver archives in
 * order, so everything before it is in the archive.
 *
 * archive_lag is the age of the oldest WAL not archived, dated like every
 * other figure (dr_wal_age(), lag.c: the ring of samples and the persisted
 * dating points), against the primary's position as this node knows it;
 * it is judged against rpo_target and rpo_max as a figure of its own and
 * is never mixed into rpo_state, which judges the copies.  The segment
 * being written is archived only when it is full or archive_timeout forces
 * a switch, so without archive_timeout the figure grows on a quiet primary:
 * that WAL (heartbeats included) is truly not in the archive, and the
 * reason says to set archive_timeout.
 *
 * What a node does not know is NULL with a reason, never a guess: a
 * standby archives only with archive_mode = always; with archive_mode = on
 * the primary archives and only its dr_status() can tell.
 *
 * Events (dr_archive_track(), the worker, once the extension exists):
 * ARCHIVE_FAILING when the archiver's newest attempt failed (or archiving is
 * on but not configured), ARCHIVE_RECOVERED when a segment was archived
 * after that.  What was recorded is kept in shared memory
 * (recorded_failing), so a restarted worker does not record it again.
 *
 * Locking: DrShared->lock (shared_state.h), taken here for a copy of
 * DrShared->archive only; written by the worker alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/pgarch.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "archiver.h"
#include "events.h"
#include "guc.h"
#include "lag.h"
#include "node_state.h"
#include "shared_state.h"

/* The end (segment end) or start of a WAL segment file name; invalid if not one. */
static XLogRecPtr
segment_bound(const char *name, bool end)
{
	TimeLineID	tli;
	XLogSegNo	segno;
	XLogRecPtr	lsn;

	if (name == NULL || !IsXLogFileName(name))
		return InvalidXLogRecPtr;
	XLogFromFileName(name, &tli, &segno, wal_segment_size);
	XLogSegNoOffsetToRecPtr(segno + (end ? 1 : 0), 0, wal_segment_size, lsn);
	return lsn;
}

/* Whether this node's archiver runs (it archives on this node). */
static bool
archiving_here(void)
{
	if (XLogArchiveMode == ARCHIVE_MODE_OFF)
		return false;
	return !RecoveryInProgress() || XLogArchiveMode == ARCHIVE_MODE_ALWAYS;
}

/* Whether archiving is on but has nothing to archive with. */
static bool
archiving_unconfigured(void)
{
	return (XLogArchiveCommand == NULL || XLogArchiveCommand[0] == '\0') &&
		(XLogArchiveLibrary == NULL || XLogArchiveLibrary[0] == '\0');
}

/*
 * dr_archive_sample
 *		Read pg_stat_archiver into DrShared->archive.  The worker's, every
 *		sample; no transaction needed.  Drops this process's statistics
 *		snapshot first, which would otherwise be served again.
 */
void
dr_archive_sample(void)
{
	PgStat_ArchiverStats *as;
	XLogRecPtr	end;

	pgstat_clear_snapshot();
	as = pgstat_fetch_stat_archiver();
	end = segment_bound(as->last_archived_wal, true);

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->archive.sampled_at = GetCurrentTimestamp();
	if (end > DrShared->archive.archived_upto)
		DrShared->archive.archived_upto = end;
	strlcpy(DrShared->archive.last_archived_wal, as->last_archived_wal, DR_WAL_NAME_LEN);
	DrShared->archive.last_archived_at = as->last_archived_timestamp;
	DrShared->archive.failed_count = as->failed_count;
	strlcpy(DrShared->archive.last_failed_wal, as->last_failed_wal, DR_WAL_NAME_LEN);
	DrShared->archive.last_failed_at = as->last_failed_timestamp;
	LWLockRelease(DrShared->lock);

	pgstat_clear_snapshot();
}

/*
 * dr_archive_figures
 *		archive_lag, archive_state and the reason for this node, from the
 *		worker's last reading and st (read by the caller).  No lock held by
 *		the caller.
 */
void
dr_archive_figures(const DrNodeState *st, DrArchiveFigures *out)
{
	XLogRecPtr	have;
	XLogRecPtr	failing_start;
	char		lagbuf[32];

	memset(out, 0, sizeof(*out));
	out->lag = DR_LAG_UNKNOWN;
	LWLockAcquire(DrShared->lock, LW_SHARED);
	out->seen = DrShared->archive;
	LWLockRelease(DrShared->lock);

	out->archiving = archiving_here();
	if (!out->archiving)
	{
		if (XLogArchiveMode == ARCHIVE_MODE_OFF && st->role == DR_ROLE_PRIMARY)
		{
			out->state = DR_ARCHIVE_OFF;
			snprintf(out->reason, sizeof(out->reason),
					 "archive_mode is off: no WAL archive, a loss of every node loses everything since the newest backup");
		}
		else
		{
			out->state = DR_ARCHIVE_UNKNOWN;
			snprintf(out->reason, sizeof(out->reason),
					 "this standby does not archive (archive_mode = %s): the primary's dr_status() shows the archive",
					 XLogArchiveMode == ARCHIVE_MODE_OFF ? "off" : "on");
		}
		return;
	}
	if (out->seen.sampled_at == 0)
	{
		out->state = DR_ARCHIVE_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason),
				 "the worker has not read pg_stat_archiver yet");
		return;
	}

	/* failing: the newest attempt failed, none succeeded since */
	out->failing = out->seen.failed_count > 0 && out->seen.last_failed_at != 0 &&
		out->seen.last_failed_at > out->seen.last_archived_at;
	if (archiving_unconfigured())
		out->failing = true;

	have = out->seen.archived_upto;
	failing_start = out->failing ? segment_bound(out->seen.last_failed_wal, false)
		: InvalidXLogRecPtr;
	if (failing_start > have)
		have = failing_start;
	if (!XLogRecPtrIsInvalid(have))
		out->lag = dr_wal_age(have, dr_primary_position(st), st->now);

	if (out->lag != DR_LAG_UNKNOWN)
		snprintf(lagbuf, sizeof(lagbuf), "%.1f s", (double) out->lag / USECS_PER_SEC);
	if (out->failing)
	{
		out->state = DR_ARCHIVE_FAILING;
		if (archiving_unconfigured())
			snprintf(out->reason, sizeof(out->reason),
					 "archive_mode is on but neither archive_command nor archive_library is set: nothing is archived");
		else
			snprintf(out->reason, sizeof(out->reason),
					 "archiving fails: %lld failures, the last for %s at %s",
					 (long long) out->seen.failed_count,
					 out->seen.last_failed_wal[0] ? out->seen.last_failed_wal : "?",
					 timestamptz_to_str(out->seen.last_failed_at));
		return;
	}
	if (out->lag == DR_LAG_UNKNOWN)
	{
		out->state = DR_ARCHIVE_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason), XLogRecPtrIsInvalid(have) ?
				 "no WAL segment seen archived yet (since the worker started or the statistics were reset)" :
				 "no sample yet to date the archived position");
		return;
	}
	switch (dr_rpo_judge(out->lag))
	{
		case DR_RPO_OK:
			out->state = DR_ARCHIVE_OK;
			snprintf(out->reason, sizeof(out->reason), "within rpo_target");
			return;
		case DR_RPO_WARNING:
			out->state = DR_ARCHIVE_WARNING;
			break;
		case DR_RPO_BREACH:
			out->state = DR_ARCHIVE_BREACH;
			break;
		case DR_RPO_UNKNOWN:
			out->state = DR_ARCHIVE_UNKNOWN;
			break;
	}
	snprintf(out->reason, sizeof(out->reason), "archive_lag %s at or above %s%s", lagbuf,
			 out->state == DR_ARCHIVE_BREACH ? "rpo_max" : "rpo_target",
			 XLogArchiveTimeout == 0 ?
			 "; archive_timeout is 0: the segment being written is archived only once full" : "");
}

const char *
dr_archive_state_name(DrArchiveStateKind state)
{
	switch (state)
	{
		case DR_ARCHIVE_OFF:
			return "off";
		case DR_ARCHIVE_UNKNOWN:
			return "unknown";
		case DR_ARCHIVE_OK:
			return "ok";
		case DR_ARCHIVE_WARNING:
			return "warning";
		case DR_ARCHIVE_BREACH:
			return "breach";
		case DR_ARCHIVE_FAILING:
			return "failing";
	}
	return "unknown";
}

static void
json_text(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ",\"%s\":", key);
	if (value && value[0])
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

static void
json_time(StringInfo buf, const char *key, TimestampTz t)
{
	json_text(buf, key, t != 0 ? timestamptz_to_str(t) : NULL);
}

/*
 * dr_archive_track
 *		Journal ARCHIVE_FAILING when archiving started failing and
 *		ARCHIVE_RECOVERED when it archived again.  The worker's, after
 *		dr_archive_sample(), once the extension exists.  Nothing while this
 *		node does not archive.
 */
void
dr_archive_track(void)
{
	DrNodeState st;
	DrArchiveFigures fig;
	StringInfoData details;
	int			recorded;

	dr_read_node_state(&st, false);
	dr_archive_figures(&st, &fig);
	if (!fig.archiving || fig.seen.sampled_at == 0)
		return;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	recorded = DrShared->archive.recorded_failing;
	LWLockRelease(DrShared->lock);

	if (fig.failing == (recorded == 1))
		;						/* nothing changed */
	else if (fig.failing || recorded == 1)
	{
		initStringInfo(&details);
		appendStringInfo(&details, "{\"failed_count\":%lld", (long long) fig.seen.failed_count);
		json_text(&details, "last_failed_wal", fig.seen.last_failed_wal);
		json_time(&details, "last_failed_at", fig.seen.last_failed_at);
		json_text(&details, "last_archived_wal", fig.seen.last_archived_wal);
		json_time(&details, "last_archived_at", fig.seen.last_archived_at);
		appendStringInfoChar(&details, ',');
		dr_json_add_interval_s(&details, "archive_lag_s", fig.lag, true);
		json_text(&details, "reason", fig.reason);
		appendStringInfoChar(&details, '}');
		(void) dr_journal_event(fig.failing ? "ARCHIVE_FAILING" : "ARCHIVE_RECOVERED", 0,
								!fig.failing, "tensafe_dr worker", details.data);
	}

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->archive.recorded_failing = fig.failing ? 1 : 0;
	LWLockRelease(DrShared->lock);
}
