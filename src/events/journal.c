/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  A local, append-only, CRC-checked journal of DR events, for nodes that
 *	  cannot write tables (standbys, fenced or read-only primaries) and for
 *	  the worker, so that an event is durable before the call that records
 *	  it returns, whatever the node's role.  This file keeps the journal's
 *	  shared state and its API; the on-disk format, the file I/O and the
 *	  owner file (clones) are in journal_file.c.
 *
 * Opening: at first use after a start (or a crash reset) the file is
 * scanned, streamed a chunk at a time (never read whole); a torn tail (an
 * invalid record with no valid one after it) is truncated (and logged), an
 * inherited journal set aside, a missing one created.  An invalid record
 * followed by valid ones is corruption in the middle: the journal is
 * rebuilt under a new id (rebuild_journal): the events not known flushed
 * are carried over keeping their (journal id, seq) -- ORIGIN records map
 * their ranges -- the old file is kept as journal.corrupt.<id>, and a
 * JOURNAL_CORRUPT event is written with them.  New events get sequence
 * numbers above every kept one under the new id, so no (journal, seq) that
 * may be in dr_event_log is ever reused.
 *
 * Bound: an append that would take the file past tensafe_dr.journal_max_size
 * is refused (53400) before anything is written.
 *
 * Exactly once: an event reaches dr_event_log under the unique key
 * (system identifier, journal id, seq) with ON CONFLICT DO NOTHING, and
 * FLUSHED is appended only after that transaction committed.  A crash
 * before the commit leaves the events pending; a crash between the commit
 * and FLUSHED makes the next flush find them already there.
 *
 * Pending, as a reader's snapshot sees it: FLUSHED is appended after the
 * flushing transaction committed, so a statement whose snapshot predates
 * that commit could find an event neither in dr_event_log (not visible yet)
 * nor among the pending entries (marked flushed), and dr_events would miss
 * it.  So each flush mark remembers the flushing transaction's xid (the
 * last DR_JOURNAL_MARKS of them), and dr_journal_scan() counts a mark only
 * if the caller's snapshot sees that transaction.  (A compaction right
 * after the mark still removes those events from the file: that needs a
 * journal past DR_JOURNAL_COMPACT_SIZE, and a snapshot taken before the
 * flush's commit read after it.)
 *
 * Growth: once every event is flushed and the file passed
 * DR_JOURNAL_COMPACT_SIZE, it is replaced (durable rename) by a journal with
 * the same id holding only HEADER and FLUSHED, so sequence numbers go on
 * where they were: a restarted sequence would collide with the rows already
 * flushed under the same key.  A standby's journal only grows with the
 * events it records, until it can write.
 *
 * Locking:
 *	- Journal->lock (an LWLock) serializes the writers of the file.  It is
 *	  held exclusively across one append or one flush mark -- the write and
 *	  its fsync, and the compaction that may follow a flush mark -- which
 *	  keeps appends in sequence order and each durable before the next; and
 *	  across the first open (a scan of the whole file, once per server
 *	  start).
 *	- Readers of the file (dr_journal_scan) hold it shared only to open the
 *	  file and copy its end, the counters and the flush marks; they read
 *	  (and look up the marks' transactions) after releasing it.
 *	  That is safe because, once open, the file is only written beyond its
 *	  noted end (a failed append truncates back to that end, no further),
 *	  or replaced by a rename (compaction), which leaves a descriptor opened
 *	  before it reading the old file, whole.
 *	- The counters (next_seq, flushed_upto) and 'opened' are atomics,
 *	  written by the holder of the exclusive lock after the record they
 *	  count is durable, and read without any lock:
 *	  dr_journal_pending_count() -- dr_status() -- and dr_journal_id()
 *	  never wait behind another session's fsync.  The one exception is the
 *	  first user after a start, which opens the journal (on a primary the
 *	  worker does, at its first pass once the extension exists); a caller
 *	  that must not wait nor fail (dr_status()) uses dr_journal_try_open(),
 *	  which takes the lock only if it is free, in a subtransaction.
 *	- The last event's summary is behind a spinlock (a copy of ~100 bytes).
 *	Callers must hold none of these when calling in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/json.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "events.h"
#include "guc.h"
#include "journal.h"
#include "journal_file.h"
#include "wakeup.h"

/* once everything is flushed, a journal larger than this is started afresh */
#define DR_JOURNAL_COMPACT_SIZE	(1024 * 1024)

/* A flush mark: events (from, upto] were inserted by transaction xid */
typedef struct DrFlushMark
{
	uint64		from;
	uint64		upto;
	TransactionId xid;			/* Invalid: none (counts as seen) */
} DrFlushMark;

/* how many flush marks are remembered; older ones count as seen by all */
#define DR_JOURNAL_MARKS	16

typedef struct DrJournalShared
{
	LWLock	   *lock;			/* see the file header */
	pg_atomic_uint32 opened;	/* scanned since the last (re)start */
	uint64		journal_id;		/* set before 'opened', constant after */
	pg_atomic_uint64 next_seq;	/* the next event's sequence number */
	pg_atomic_uint64 flushed_upto;	/* every event <= this is in the table */
	off_t		end;			/* append position; under the lock */

	/* the last flush marks, newest at (next_mark - 1); under the lock */
	DrFlushMark marks[DR_JOURNAL_MARKS];
	int			next_mark;

	/* the last event appended since start, for dr_status() (0: none) */
	slock_t		last_event_mutex;
	TimestampTz last_event_at;
	char		last_event[96];
} DrJournalShared;

static DrJournalShared *Journal = NULL;

static off_t dr_journal_max_bytes(void);

Size
dr_journal_shmem_size(void)
{
	return MAXALIGN(sizeof(DrJournalShared));
}

/*
 * dr_journal_shmem_init
 *		Attach to the journal's shared state (from the shmem startup hook).
 *		The file itself is opened lazily by its first user.
 */
void
dr_journal_shmem_init(LWLock *lock)
{
	bool		found;

	Journal = ShmemInitStruct("tensafe_dr journal", dr_journal_shmem_size(), &found);
	if (!found)
	{
		memset(Journal, 0, sizeof(DrJournalShared));
		Journal->lock = lock;
		pg_atomic_init_u32(&Journal->opened, 0);
		pg_atomic_init_u64(&Journal->next_seq, 1);
		pg_atomic_init_u64(&Journal->flushed_upto, 0);
		SpinLockInit(&Journal->last_event_mutex);
	}
}

/* Start a new, empty journal with a fresh id.  Lock held exclusively. */
static void
create_journal(void)
{
	int			fd;
	uint64		id;

	if (!pg_strong_random(&id, sizeof(id)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a tensafe_dr journal id")));
	fd = dr_jfile_open(DR_JOURNAL_FILE, O_RDWR | O_CREAT | O_TRUNC, false);
	dr_jrec_write(fd, 0, DR_JOURNAL_HEADER, id, NULL, 0);
	CloseTransientFile(fd);
	dr_jfile_write_owner(id);
	fsync_fname(DR_JOURNAL_DIR, true);

	Journal->journal_id = id;
	pg_atomic_write_u64(&Journal->next_seq, 1);
	pg_atomic_write_u64(&Journal->flushed_upto, 0);
	Journal->end = sizeof(DrJournalRecord);
}

/*
 * rebuild_journal
 *		Mid-journal corruption: write a new journal, with a new id, holding
 *		what could be read and is not known flushed (events above 'flushed',
 *		each keeping its journal id and sequence number through ORIGIN
 *		records), then a JOURNAL_CORRUPT event; keep the old file as
 *		journal.corrupt.<id>.  A new identity means no (journal, seq) of the
 *		lost stretch can ever be reused; the carried events keep theirs, so
 *		one that was already flushed meets its own row (ON CONFLICT).  Lock
 *		held exclusively; 'fd' is the old journal, 'first' the iterator of
 *		the scan that found the corruption.  Sets the counters.
 */
static void
rebuild_journal(int fd, uint64 old_id, uint64 flushed, uint64 max_seq, DrJIter *first,
				DrOrigin *ranges, int n_ranges)
{
	const char *tmp = DR_JOURNAL_FILE ".rebuild";
	char	   *aside = psprintf("%s.corrupt.%016llx", DR_JOURNAL_FILE, (unsigned long long) old_id);
	DrJIter		it;
	const DrJournalRecord *rec;
	const char *payload;
	int			wfd;
	uint64		new_id;
	uint64		next_seq = Max(max_seq, flushed) + 1;
	off_t		pos = 0;
	int64		kept = 0;
	int64		already = 0;
	int			i;
	StringInfoData details;
	StringInfoData ev;

	if (!pg_strong_random(&new_id, sizeof(new_id)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a tensafe_dr journal id")));
	wfd = dr_jfile_open(tmp, O_RDWR | O_CREAT | O_TRUNC, false);
	dr_jrec_write_ext(wfd, pos, DR_JOURNAL_HEADER, new_id, NULL, 0, false);
	pos += sizeof(DrJournalRecord);
	for (i = 0; i < n_ranges; i++)
	{
		uint64		range[2] = {ranges[i].from, ranges[i].upto};

		dr_jrec_write_ext(wfd, pos, DR_JOURNAL_ORIGIN, ranges[i].id,
						  (const char *) range, sizeof(range), false);
		pos += sizeof(DrJournalRecord) + sizeof(range);
	}
	if (flushed > 0)
	{
		dr_jrec_write_ext(wfd, pos, DR_JOURNAL_FLUSHED, flushed, NULL, 0, false);
		pos += sizeof(DrJournalRecord);
	}

	/* second pass: copy the events not known flushed */
	dr_jiter_init(&it, fd, -1);
	while ((rec = dr_jiter_next(&it, &payload)) != NULL)
	{
		if (rec->kind != DR_JOURNAL_EVENT)
			continue;
		if (rec->seq <= flushed)
		{
			already++;
			continue;
		}
		dr_jrec_write_ext(wfd, pos, DR_JOURNAL_EVENT, rec->seq, payload, rec->payload_len, false);
		pos += sizeof(DrJournalRecord) + rec->payload_len;
		kept++;
	}
	dr_jiter_free(&it);

	/* the event that says so, in the same file: durable with it */
	initStringInfo(&details);
	appendStringInfo(&details,
					 "{\"old_journal_id\":\"%016llx\",\"new_journal_id\":\"%016llx\","
					 "\"offset\":%lld,\"corrupt_stretches\":%d,\"corrupt_bytes\":%lld,"
					 "\"header_lost\":%s,\"records_kept\":%lld,\"records_already_flushed\":%lld,"
					 "\"records_lost_estimate\":%llu,\"set_aside_as\":",
					 (unsigned long long) old_id, (unsigned long long) new_id,
					 (long long) first->first_bad, first->bad_regions,
					 (long long) first->bad_bytes,
					 first->header_id == 0 ? "true" : "false",
					 (long long) kept, (long long) already,
					 (unsigned long long) first->lost_estimate);
	escape_json(&details, aside);
	appendStringInfoChar(&details, '}');
	initStringInfo(&ev);
	dr_event_payload(&ev, "JOURNAL_CORRUPT", 0, false, NULL, details.data);
	dr_jrec_write_ext(wfd, pos, DR_JOURNAL_EVENT, next_seq, ev.data, ev.len, false);
	pos += sizeof(DrJournalRecord) + ev.len;
	if (pg_fsync(wfd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync tensafe_dr journal \"%s\": %m", tmp)));
	CloseTransientFile(wfd);

	/*
	 * Keep the old file under its aside name (a hard link: until the rename
	 * below, a crash leaves the old journal in place and this is redone),
	 * then put the new one in its place.
	 */
	(void) unlink(aside);
	if (link(DR_JOURNAL_FILE, aside) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not link \"%s\" to \"%s\": %m", DR_JOURNAL_FILE, aside)));
	fsync_fname(DR_JOURNAL_DIR, true);
	(void) durable_rename(tmp, DR_JOURNAL_FILE, ERROR);
	dr_jfile_write_owner(new_id);
	fsync_fname(DR_JOURNAL_DIR, true);

	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("tensafe_dr journal %016llx is corrupt at offset %lld; continuing as journal %016llx",
					(unsigned long long) old_id, (long long) first->first_bad,
					(unsigned long long) new_id),
			 errdetail("%d corrupt stretch(es), %lld bytes. %lld pending event(s) kept with their sequence numbers, %lld already flushed, about %llu lost. The old file is kept as \"%s\"; a JOURNAL_CORRUPT event records this.",
					   first->bad_regions, (long long) first->bad_bytes, (long long) kept,
					   (long long) already, (unsigned long long) first->lost_estimate, aside)));

	Journal->journal_id = new_id;
	pg_atomic_write_u64(&Journal->next_seq, next_seq + 1);
	pg_atomic_write_u64(&Journal->flushed_upto, flushed);
	Journal->end = pos;
	SpinLockAcquire(&Journal->last_event_mutex);
	Journal->last_event_at = GetCurrentTimestamp();
	snprintf(Journal->last_event, sizeof(Journal->last_event), "JOURNAL_CORRUPT at %s",
			 timestamptz_to_str(Journal->last_event_at));
	SpinLockRelease(&Journal->last_event_mutex);
}

/*
 * open_journal
 *		Scan the journal (streamed, a chunk at a time); truncate a torn
 *		tail; rebuild it under a new id if it is corrupt before its end;
 *		set aside an inherited one; create one if needed.  Lock held
 *		exclusively; sets the counters, not 'opened'.
 */
static void
open_journal(void)
{
	int			fd;
	DrJIter		it;
	const DrJournalRecord *rec;
	const char *payload;
	uint64		id = 0;
	uint64		max_seq = 0;
	uint64		flushed_upto = 0;
	uint64		next_seq;
	DrOrigin	ranges[32];
	int			n_ranges = 0;
	bool		ranges_overflow = false;
	struct stat st;

	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DR_JOURNAL_DIR)));

	fd = dr_jfile_open(DR_JOURNAL_FILE, O_RDONLY, true);
	if (fd < 0)
	{
		create_journal();
		return;
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	dr_jiter_init(&it, fd, st.st_size);
	rec = dr_jiter_next(&it, &payload);
	if (rec != NULL && it.header_id != 0)
		id = it.header_id;
	else if (rec == NULL || !dr_jfile_owner_journal_id(&id))
	{
		/* nothing readable, or no way to tell whose it is */
		if (st.st_size > 0)
			ereport(LOG,
					(errmsg("tensafe_dr journal has no valid header; starting a new one")));
		dr_jiter_free(&it);
		CloseTransientFile(fd);
		create_journal();
		return;
	}
	if (!dr_jfile_owner_matches(id))
	{
		dr_jiter_free(&it);
		CloseTransientFile(fd);
		dr_jfile_set_aside(id);
		create_journal();
		return;
	}

	for (; rec != NULL; rec = dr_jiter_next(&it, &payload))
	{
		if (rec->kind == DR_JOURNAL_EVENT)
		{
			uint64		oid = dr_jiter_origin(&it, rec->seq, id);
			int			i;

			max_seq = Max(max_seq, rec->seq);
			for (i = 0; i < n_ranges && ranges[i].id != oid; i++)
				;
			if (i == n_ranges && n_ranges < lengthof(ranges))
			{
				ranges[n_ranges].id = oid;
				ranges[n_ranges].from = ranges[n_ranges].upto = rec->seq;
				n_ranges++;
			}
			else if (i < n_ranges)
			{
				ranges[i].from = Min(ranges[i].from, rec->seq);
				ranges[i].upto = Max(ranges[i].upto, rec->seq);
			}
			else
				ranges_overflow = true;
		}
		else if (rec->kind == DR_JOURNAL_FLUSHED)
			flushed_upto = Max(flushed_upto, rec->seq);
	}

	if (it.bad_regions > 0 || it.header_id == 0)
	{
		if (ranges_overflow)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("tensafe_dr journal is corrupt and carries events of too many journals to rebuild")));
		rebuild_journal(fd, id, flushed_upto, max_seq, &it, ranges, n_ranges);
		dr_jiter_free(&it);
		CloseTransientFile(fd);
		return;
	}

	/* a compacted journal holds no events: go on after the flushed mark */
	next_seq = Max(max_seq, flushed_upto) + 1;
	if (it.offset < st.st_size)
	{
		int			wfd = OpenTransientFile(DR_JOURNAL_FILE, O_RDWR | PG_BINARY);

		if (wfd < 0 || ftruncate(wfd, it.offset) != 0 || pg_fsync(wfd) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not truncate the torn tail of tensafe_dr journal \"%s\": %m",
							DR_JOURNAL_FILE)));
		CloseTransientFile(wfd);
		ereport(LOG,
				(errmsg("tensafe_dr journal: ignored a torn or corrupt tail of %lld bytes at offset %lld",
						(long long) (st.st_size - it.offset), (long long) it.offset)));
	}
	Journal->journal_id = id;
	pg_atomic_write_u64(&Journal->next_seq, next_seq);
	pg_atomic_write_u64(&Journal->flushed_upto, flushed_upto);
	Journal->end = it.offset;
	dr_jiter_free(&it);
	CloseTransientFile(fd);
}

/* Open the journal if nobody has since the start.  Lock held exclusively. */
static void
open_locked(void)
{
	if (pg_atomic_read_u32(&Journal->opened) == 0)
	{
		open_journal();
		/* the counters and the id before the flag that publishes them */
		pg_write_barrier();
		pg_atomic_write_u32(&Journal->opened, 1);
	}
}

/*
 * ensure_open
 *		Open the journal if nobody has since the start.  Holds no lock on
 *		return.  After it, journal_id and the counters may be read without
 *		the lock.
 */
static void
ensure_open(void)
{
	if (pg_atomic_read_u32(&Journal->opened) == 0)
	{
		LWLockAcquire(Journal->lock, LW_EXCLUSIVE);
		open_locked();			/* on ERROR the lock is released by abort */
		LWLockRelease(Journal->lock);
	}
	/* read the id and counters only after seeing the flag */
	pg_read_barrier();
}

/*
 * dr_journal_try_open
 *		ensure_open() for callers that must neither fail nor wait because of
 *		the journal (dr_status()): false, with *reason, if it is not open and
 *		another session is opening it, or opening it fails (an unreadable
 *		file, ...).  The attempt runs in a subtransaction, whose abort
 *		releases the lock and closes the file.  Call inside a transaction.
 */
bool
dr_journal_try_open(char **reason)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = false;

	if (pg_atomic_read_u32(&Journal->opened) != 0)
	{
		pg_read_barrier();
		return true;
	}
	if (IsInParallelMode() || !IsTransactionState())
	{
		*reason = pstrdup("the journal is not open yet");
		return false;
	}
	if (!LWLockConditionalAcquire(Journal->lock, LW_EXCLUSIVE))
	{
		*reason = pstrdup("the journal is being opened or written by another session");
		return false;
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		open_locked();
		ReleaseCurrentSubTransaction();
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();	/* releases the lock */
		*reason = edata->message;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (LWLockHeldByMe(Journal->lock))
		LWLockRelease(Journal->lock);
	if (ok)
		pg_read_barrier();
	return ok;
}

/*
 * dr_journal_append
 *		Append one event (JSON text) and fsync; returns its sequence number.
 *		Takes the journal lock exclusively across the write and its fsync.
 */
uint64
dr_journal_append(const char *payload, int len, const char *event_type)
{
	uint64		seq;
	int			fd;
	TimestampTz now;
	char		summary[sizeof(Journal->last_event)];

	if (len > DR_JOURNAL_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event is too large for the tensafe_dr journal"),
				 errdetail("The event takes %d bytes; the limit is %d.", len, DR_JOURNAL_MAX_PAYLOAD)));

	ensure_open();
	LWLockAcquire(Journal->lock, LW_EXCLUSIVE);
	if (Journal->end + (off_t) sizeof(DrJournalRecord) + len > dr_journal_max_bytes())
	{
		off_t		end = Journal->end;

		LWLockRelease(Journal->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("tensafe_dr journal is full"),
				 errdetail("The journal holds %lld bytes; this event (%d bytes) would take it past tensafe_dr.journal_max_size (%d MB). Nothing already journalled is lost.",
						   (long long) end, len, dr_journal_max_size_mb),
				 errhint("Let the node flush its journal (it does once it can write: promotion, or dr_unfence()), or raise tensafe_dr.journal_max_size.")));
	}
	fd = dr_jfile_open(DR_JOURNAL_FILE, O_RDWR, false);
	seq = pg_atomic_read_u64(&Journal->next_seq);
	dr_jrec_write(fd, Journal->end, DR_JOURNAL_EVENT, seq, payload, len);
	CloseTransientFile(fd);
	/* durable: now it counts */
	Journal->end += sizeof(DrJournalRecord) + len;
	pg_atomic_write_u64(&Journal->next_seq, seq + 1);
	LWLockRelease(Journal->lock);

	now = GetCurrentTimestamp();
	snprintf(summary, sizeof(summary), "%s at %s", event_type, timestamptz_to_str(now));
	SpinLockAcquire(&Journal->last_event_mutex);
	if (now >= Journal->last_event_at)
	{
		Journal->last_event_at = now;
		memcpy(Journal->last_event, summary, sizeof(summary));
	}
	SpinLockRelease(&Journal->last_event_mutex);

	/* a standby's notifier delivers it, dr_status() shows it */
	dr_wake(DR_WAKE_JOURNAL | DR_WAKE_SUMMARY);
	return seq;
}

/*
 * compact_journal
 *		Replace a fully flushed journal by HEADER + FLUSHED(upto), same id.
 *		Lock held exclusively.
 */
static void
compact_journal(uint64 upto)
{
	const char *tmp = DR_JOURNAL_FILE ".compact";
	int			fd;

	fd = dr_jfile_open(tmp, O_RDWR | O_CREAT | O_TRUNC, false);
	dr_jrec_write(fd, 0, DR_JOURNAL_HEADER, Journal->journal_id, NULL, 0);
	dr_jrec_write(fd, sizeof(DrJournalRecord), DR_JOURNAL_FLUSHED, upto, NULL, 0);
	CloseTransientFile(fd);
	(void) durable_rename(tmp, DR_JOURNAL_FILE, ERROR);
	Journal->end = 2 * sizeof(DrJournalRecord);
}

/*
 * dr_journal_mark_flushed
 *		Record that every event up to 'upto' is in dr_event_log, inserted
 *		by transaction 'xid' (Invalid if it inserted none).  Call only after
 *		that transaction has committed.  Takes the journal lock exclusively
 *		across the write and its fsync.
 */
void
dr_journal_mark_flushed(uint64 upto, TransactionId xid)
{
	int			fd;
	DrFlushMark *mark;

	ensure_open();
	LWLockAcquire(Journal->lock, LW_EXCLUSIVE);
	if (upto > pg_atomic_read_u64(&Journal->flushed_upto))
	{
		fd = dr_jfile_open(DR_JOURNAL_FILE, O_RDWR, false);
		dr_jrec_write(fd, Journal->end, DR_JOURNAL_FLUSHED, upto, NULL, 0);
		CloseTransientFile(fd);
		Journal->end += sizeof(DrJournalRecord);
		mark = &Journal->marks[Journal->next_mark];
		mark->from = pg_atomic_read_u64(&Journal->flushed_upto);
		mark->upto = upto;
		mark->xid = xid;
		Journal->next_mark = (Journal->next_mark + 1) % DR_JOURNAL_MARKS;
		pg_atomic_write_u64(&Journal->flushed_upto, upto);
		if (Journal->end > DR_JOURNAL_COMPACT_SIZE &&
			pg_atomic_read_u64(&Journal->next_seq) - 1 == upto)
			compact_journal(upto);
	}
	LWLockRelease(Journal->lock);
}

/*
 * flushed_as_seen
 *		'flushed' (the flushed-up-to mark), lowered to what the active
 *		snapshot, if any, sees flushed: the events of a flush mark whose
 *		transaction the snapshot does not see are pending for it.  'marks'
 *		is a copy of Journal->marks; no lock held (XidInMVCCSnapshot may
 *		read pg_subtrans).
 */
static uint64
flushed_as_seen(uint64 flushed, const DrFlushMark *marks)
{
	Snapshot	snap;
	int			i;

	if (!ActiveSnapshotSet())
		return flushed;
	snap = GetActiveSnapshot();
	if (!IsMVCCSnapshot(snap))
		return flushed;
	for (i = 0; i < DR_JOURNAL_MARKS; i++)
	{
		const DrFlushMark *m = &marks[i];

		if (m->upto > 0 && m->from < flushed && TransactionIdIsValid(m->xid) &&
			XidInMVCCSnapshot(m->xid, snap))
			flushed = m->from;
	}
	return flushed;
}

/*
 * dr_journal_scan
 *		Call 'cb' for each of the journal's events, oldest first; only the
 *		unflushed ones if asked.  "Flushed" is as the active snapshot sees
 *		it (see the file header).  The file is streamed, a chunk at a time;
 *		the entry passed to 'cb' (and its payload, not NUL-terminated) is
 *		valid only during the call.  The lock is held (shared) only to open
 *		the file and note its end; the file is read after (see the file
 *		header).
 */
void
dr_journal_scan(bool unflushed_only, DrJournalScanCallback cb, void *arg)
{
	DrJIter		it;
	const char *payload;
	const DrJournalRecord *rec;
	uint64		flushed;
	uint64		last_seq;
	uint64		own_id;
	off_t		size;
	DrFlushMark marks[DR_JOURNAL_MARKS];
	int			fd;

	ensure_open();
	LWLockAcquire(Journal->lock, LW_SHARED);
	flushed = pg_atomic_read_u64(&Journal->flushed_upto);
	last_seq = pg_atomic_read_u64(&Journal->next_seq) - 1;
	memcpy(marks, Journal->marks, sizeof(marks));
	size = Journal->end;
	own_id = Journal->journal_id;
	fd = dr_jfile_open(DR_JOURNAL_FILE, O_RDONLY, true);
	LWLockRelease(Journal->lock);
	if (fd < 0)
		return;

	flushed = flushed_as_seen(flushed, marks);
	if (unflushed_only && last_seq <= flushed)
	{
		/* nothing pending: spare reading the file */
		CloseTransientFile(fd);
		return;
	}
	dr_jiter_init(&it, fd, size);
	while ((rec = dr_jiter_next(&it, &payload)) != NULL)
	{
		DrJournalEntry e;

		if (rec->kind != DR_JOURNAL_EVENT)
			continue;
		if (unflushed_only && rec->seq <= flushed)
			continue;
		e.journal_id = dr_jiter_origin(&it, rec->seq, it.header_id ? it.header_id : own_id);
		e.seq = rec->seq;
		e.written_at = rec->at;
		e.flushed = rec->seq <= flushed;
		e.payload = payload;
		e.payload_len = rec->payload_len;
		cb(&e, arg);
		CHECK_FOR_INTERRUPTS();
	}
	dr_jiter_free(&it);
	CloseTransientFile(fd);
}

/* The journal's id as 16 hex digits (palloc'd).  No lock once open. */
const char *
dr_journal_id(void)
{
	ensure_open();
	return psprintf("%016llx", (unsigned long long) Journal->journal_id);
}

/*
 * dr_journal_pending_count
 *		How many events are not yet flushed.  No lock once open: what
 *		dr_status() reads, never waiting behind an append's fsync.
 */
uint64
dr_journal_pending_count(void)
{
	uint64		flushed;
	uint64		next_seq;

	ensure_open();

	/*
	 * Both only grow, and flushed_upto < next_seq at every instant: reading
	 * flushed_upto first, next_seq after, can only overstate next_seq.
	 */
	flushed = pg_atomic_read_u64(&Journal->flushed_upto);
	pg_read_barrier();
	next_seq = pg_atomic_read_u64(&Journal->next_seq);
	return next_seq - 1 > flushed ? next_seq - 1 - flushed : 0;
}

/*
 * dr_journal_flushed_upto
 *		Every event up to this sequence number is in dr_event_log (and its
 *		flushing transaction committed).  No lock once open.
 */
uint64
dr_journal_flushed_upto(void)
{
	ensure_open();
	return pg_atomic_read_u64(&Journal->flushed_upto);
}

/*
 * dr_journal_pending_count_try
 *		dr_journal_pending_count() that never fails nor waits because of the
 *		journal: false, with *reason, if it cannot be opened now (see
 *		dr_journal_try_open).  What dr_status() calls.
 */
bool
dr_journal_pending_count_try(uint64 *count, char **reason)
{
	if (!dr_journal_try_open(reason))
		return false;
	*count = dr_journal_pending_count();
	return true;
}

/* tensafe_dr.journal_max_size in bytes */
static off_t
dr_journal_max_bytes(void)
{
	return (off_t) dr_journal_max_size_mb * 1024 * 1024;
}

#ifdef TENSAFE_DR_TEST_HOOKS
/*
 * dr_journal_test_crash_point
 *		Test hook for crash-safety tests (test builds only, see journal.h):
 *		if the file
 *		pg_tensafe_dr/crash_at_<point> exists, remove it and PANIC, which
 *		takes the whole server through crash recovery exactly as a power
 *		loss at that point would (minus the page cache).  One-shot, so the
 *		restarted server does not crash again.  Never created by the
 *		extension itself.
 */
void
dr_journal_test_crash_point(const char *point)
{
	char	   *trigger = psprintf("%s/crash_at_%s", DR_JOURNAL_DIR, point);

	if (access(trigger, F_OK) == 0 && unlink(trigger) == 0)
	{
		fsync_fname(DR_JOURNAL_DIR, true);
		elog(PANIC, "tensafe_dr: test crash at %s", point);
	}
	pfree(trigger);
}

/*
 * dr_test_pause_point
 *		Test hook (test builds only): while the file
 *		pg_tensafe_dr/pause_at_<point> exists, sleep (interruptibly, wait
 *		event Extension), so that a test can hold a backend at that point
 *		and look at what others do meanwhile.
 */
void
dr_test_pause_point(const char *point)
{
	char	   *trigger = psprintf("%s/pause_at_%s", DR_JOURNAL_DIR, point);

	while (access(trigger, F_OK) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	pfree(trigger);
}
#endif							/* TENSAFE_DR_TEST_HOOKS */

/*
 * dr_journal_last_event
 *		The last event appended since the server started ("TYPE at time" into
 *		summary) and when; 0 if none.  Cheap: no file access and no wait
 *		behind an append, so the worker can show it in dr_status() without
 *		reading a standby's whole journal.
 */
TimestampTz
dr_journal_last_event(char *summary, Size len)
{
	TimestampTz at;
	char		copy[sizeof(Journal->last_event)];

	SpinLockAcquire(&Journal->last_event_mutex);
	at = Journal->last_event_at;
	memcpy(copy, Journal->last_event, sizeof(copy));
	SpinLockRelease(&Journal->last_event_mutex);
	strlcpy(summary, copy, len);
	return at;
}
