/*-------------------------------------------------------------------------
 *
 * contact.c
 *	  A standby's last contact with the primary: the newest primary
 *	  heartbeat in the WAL this node holds, kept across restarts.
 *
 * Why the WAL and not the WAL receiver's timestamps: the receiver's
 * lastMsgReceiptTime is contact with the upstream, which on a cascaded
 * standby (primary -> s1 -> s2) is s1, still sending keepalives after the
 * primary died; and it lives in shared memory, so a standby restarted during
 * an outage forgot the primary and could not be promoted ("the data loss
 * cannot be bounded").  The heartbeat (heartbeat.c) is a record the primary
 * writes into its WAL; it passes unchanged through every cascade and stays
 * in the WAL the node holds across its restarts.  So the contact is: the
 * primary's time in the newest heartbeat this node has received (flushed by
 * its WAL receiver, replayed or not), and when it arrived on this node's
 * clock.  Every age is measured from the latter (now minus arrival, both
 * local), so clocks that disagree neither inflate nor hide it; the
 * primary's time only orders heartbeats.  The arrival is dated as the
 * heartbeat's time moved onto this node's clock by the estimated offset
 * (clock.c), kept between the previous look at the WAL (it was not there
 * yet) and this one (it is): wrong by at most one look (DR_CONTACT_SCAN_MS)
 * whatever the offset estimate.  Without an estimate it is this look.
 *
 * The worker, on a standby, reads every sample the WAL received since the
 * previous read (an XLogReader over pg_wal, up to the receiver's flush
 * position or the replay position, never waiting) and picks out the
 * heartbeats.  Each one found is also a dating point (the primary was past
 * its end at its time) for WAL older than the ring (shared_state.c).
 *
 * One owner: the contact dr_status() shows is DrShared->primary_contact,
 * which the worker publishes only after writing it durably to
 * $PGDATA/pg_tensafe_dr/contact (created by a durable rename, then rewritten
 * in place with one fdatasync: persist()): a contact that was shown is never
 * forgotten, a restart or crash included.  At most one such write per sample, and only when the contact
 * advanced.  The postmaster loads the file when it sets up shared memory,
 * so the contact is there before the worker runs; the worker then resumes
 * reading the WAL from the older of the replay position and that contact's
 * position (never before the last restartpoint's redo position, whose WAL
 * the node is sure to hold), so heartbeats received but not yet read before
 * the restart are found again.
 *
 * Locking: only the worker calls dr_contact_scan(); DrShared->lock is taken
 * by shared_state.c's functions for a copy, never across the file or WAL
 * I/O here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/rmgr.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "replication/message.h"
#include "replication/walreceiver.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "contact.h"
#include "heartbeat.h"
#include "journal.h"
#include "shared_state.h"

#define DR_CONTACT_FILE		DR_JOURNAL_DIR "/contact"
#define DR_CONTACT_TMP		DR_JOURNAL_DIR "/contact.tmp"
#define DR_CONTACT_MAGIC	0x54445243	/* "TDRC" */

/* Most WAL read in one sample, so that a backlog never delays sampling long */
#define DR_CONTACT_READ_MAX	((uint64) 256 * 1024 * 1024)

/*
 * Version 2 adds local_at and the clock offset; a version 1 file (1.2
 * development builds) is read with local_at = at and no offset.
 */
typedef struct DrContactFileV1
{
	uint32		magic;
	uint32		version;
	TimestampTz at;
	XLogRecPtr	lsn;
	pg_crc32c	crc;
} DrContactFileV1;

typedef struct DrContactFile
{
	uint32		magic;
	uint32		version;
	TimestampTz at;				/* the primary's clock */
	XLogRecPtr	lsn;
	TimestampTz local_at;		/* this node's clock when it arrived */
	TimeOffset	clock_offset;	/* estimate when written */
	uint32		clock_offset_known;
	pg_crc32c	crc;			/* of the fields above */
} DrContactFile;

/*
 * The worker's reader and where it resumes (the end of the last record).
 * The reader and everything it allocates, lazily too (its decode and record
 * buffers), live in reader_cxt: the worker's passes run in a context reset
 * after each.
 */
static MemoryContext reader_cxt = NULL;
static XLogReaderState *reader = NULL;
static XLogRecPtr resume_at = InvalidXLogRecPtr;
static bool positioned = false;
static TimestampTz last_look = 0;	/* local time the previous scan began */
static bool last_capped = false;	/* it stopped at DR_CONTACT_READ_MAX */
static bool skip_to_end = false;	/* after an error: start at what is readable */

static pg_crc32c
contact_crc(const DrContactFile *f)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, f, offsetof(DrContactFile, crc));
	FIN_CRC32C(crc);
	return crc;
}

/*
 * dr_contact_load
 *		Read pg_tensafe_dr/contact (all 0 when absent or not valid).  Called
 *		by the postmaster when shared memory is set up (the working directory
 *		is the data directory), so plain system calls and no ERROR.
 */
void
dr_contact_load(TimestampTz *at, XLogRecPtr *lsn, TimestampTz *local_at,
				bool *offset_known, TimeOffset *offset)
{
	DrContactFile f;
	int			fd = open(DR_CONTACT_FILE, O_RDONLY | PG_BINARY, 0);
	ssize_t		n;
	bool		valid;

	*at = 0;
	*lsn = InvalidXLogRecPtr;
	*local_at = 0;
	*offset_known = false;
	*offset = 0;
	if (fd < 0)
		return;
	memset(&f, 0, sizeof(f));
	n = read(fd, &f, sizeof(f));
	close(fd);
	if (n == sizeof(DrContactFileV1) && f.version == 1)
	{
		DrContactFileV1 v1;
		pg_crc32c	crc;

		memcpy(&v1, &f, sizeof(v1));
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, &v1, offsetof(DrContactFileV1, crc));
		FIN_CRC32C(crc);
		valid = v1.magic == DR_CONTACT_MAGIC && EQ_CRC32C(v1.crc, crc);
		f.local_at = f.at;
		f.clock_offset_known = 0;
	}
	else
		valid = n == sizeof(f) && f.magic == DR_CONTACT_MAGIC && f.version == 2 &&
			EQ_CRC32C(f.crc, contact_crc(&f));
	if (!valid)
	{
		ereport(LOG,
				(errmsg("tensafe_dr: ignoring \"%s\": not a valid contact file", DR_CONTACT_FILE)));
		return;
	}
	*at = f.at;
	*lsn = f.lsn;
	*local_at = f.local_at;
	*offset_known = f.clock_offset_known != 0;
	*offset = *offset_known ? f.clock_offset : 0;
}

/*
 * create_contact_file
 *		The first write on this node: a new file, made durable whole (write a
 *		temporary file, fsync, durable rename), then kept open for the
 *		rewrites.  -1 (and a LOG) on failure.
 */
static int
create_contact_file(const DrContactFile *f)
{
	int			fd;

	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("tensafe_dr: could not create directory \"%s\": %m", DR_JOURNAL_DIR)));
		return -1;
	}
	fd = BasicOpenFile(DR_CONTACT_TMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("tensafe_dr: could not create \"%s\": %m", DR_CONTACT_TMP)));
		return -1;
	}
	errno = 0;
	if (write(fd, f, sizeof(*f)) != sizeof(*f) || pg_fsync(fd) != 0)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("tensafe_dr: could not write \"%s\": %m", DR_CONTACT_TMP)));
		close(fd);
		return -1;
	}
	close(fd);
	if (durable_rename(DR_CONTACT_TMP, DR_CONTACT_FILE, LOG) != 0)
		return -1;
	fd = BasicOpenFile(DR_CONTACT_FILE, O_RDWR | PG_BINARY);
	if (fd < 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("tensafe_dr: could not open \"%s\": %m", DR_CONTACT_FILE)));
	return fd;
}

/*
 * persist
 *		Make the contact durable; false (and a LOG) on failure, in which case
 *		it must not be published.  The contact advances at every heartbeat,
 *		so the cost matters (a rename and three fsyncs each time were half
 *		a standby worker's CPU: bench/standbys_scale.sh): once the file
 *		exists on this node, it stays open and is rewritten in place -- one
 *		pwrite of 48 bytes at offset 0 and one fdatasync.  That is
 *		PostgreSQL's own bet for pg_control (PG_CONTROL_MAX_SAFE_SIZE): a
 *		write of less than a 512-byte sector is atomic, so the file holds the
 *		old contact or the new one, never a torn one; the CRC would tell.
 *		The descriptor is a BasicOpenFile's: it outlives the worker's
 *		transactions.
 */
static bool
persist(TimestampTz at, XLogRecPtr lsn, TimestampTz local_at)
{
	static int	contact_fd = -1;
	DrContactFile f;
	TimeOffset	offset;

	StaticAssertStmt(sizeof(DrContactFile) <= 512,
					 "the contact file must fit in one sector to be rewritten in place");
	memset(&f, 0, sizeof(f));
	f.magic = DR_CONTACT_MAGIC;
	f.version = 2;
	f.at = at;
	f.lsn = lsn;
	f.local_at = local_at;
	f.clock_offset_known = dr_clock_offset_get(&offset) ? 1 : 0;
	f.clock_offset = offset;
	f.crc = contact_crc(&f);

	if (contact_fd < 0)
	{
		/* the file as a previous run left it, or a new one */
		contact_fd = BasicOpenFile(DR_CONTACT_FILE, O_RDWR | PG_BINARY);
		if (contact_fd < 0)
		{
			contact_fd = create_contact_file(&f);
			return contact_fd >= 0;
		}
	}
	errno = 0;
	if (pg_pwrite(contact_fd, &f, sizeof(f), 0) != sizeof(f) ||
		pg_fdatasync(contact_fd) != 0)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("tensafe_dr: could not write \"%s\": %m", DR_CONTACT_FILE)));
		close(contact_fd);
		contact_fd = -1;
		return false;
	}
	return true;
}

/*
 * readable_upto
 *		How far this standby's WAL can be read now, and on which timeline:
 *		what the WAL receiver flushed, or what was replayed if further (WAL
 *		restored from the archive, a receiver not started since a restart),
 *		or the end of the last contact's heartbeat if further still: it was
 *		flushed to pg_wal before it was published, and after a restart the
 *		receiver does not run until replay has used up the WAL in pg_wal.
 */
static XLogRecPtr
readable_upto(TimeLineID *tli)
{
	TimeLineID	replay_tli = 0;
	TimeLineID	rcv_tli = 0;
	XLogRecPtr	replayed = GetXLogReplayRecPtr(&replay_tli);
	XLogRecPtr	received = GetWalRcvFlushRecPtr(NULL, &rcv_tli);
	XLogRecPtr	contact_lsn = InvalidXLogRecPtr;

	(void) dr_contact_get(&contact_lsn);
	if (received > replayed && rcv_tli != 0)
	{
		*tli = rcv_tli;
		return Max(received, contact_lsn);
	}
	*tli = replay_tli;
	return Max(replayed, contact_lsn);
}

/*
 * contact_page_read
 *		XLogReaderRoutine->page_read over local pg_wal: as PostgreSQL's
 *		read_local_xlog_page_no_wait, but up to readable_upto(), which
 *		includes WAL received and not replayed yet.
 */
static int
contact_page_read(XLogReaderState *state, XLogRecPtr page, int req_len,
				  XLogRecPtr target, char *cur_page)
{
	TimeLineID	tli;
	XLogRecPtr	upto = readable_upto(&tli);
	WALReadError errinfo;
	int			count;

	if (tli == 0)
		return -1;
	XLogReadDetermineTimeline(state, page, req_len, tli);
	if (state->currTLI != tli)
	{
		/* a historical timeline: readable up to its switch point */
		upto = state->currTLIValidUntil;
		tli = state->currTLI;
	}
	if (page + req_len > upto)
		return -1;
	count = (int) Min((uint64) XLOG_BLCKSZ, upto - page);
	if (!WALRead(state, cur_page, page, count, tli, &errinfo))
		WALReadRaiseError(&errinfo);
	return count;
}

/*
 * heartbeat_time
 *		The primary's time in a heartbeat's payload (not NUL-terminated),
 *		0 if it has none: "at_us" (microseconds since 2000-01-01), or for
 *		heartbeats written by older versions the text "at".
 */
static TimestampTz
heartbeat_time(const char *payload, Size len)
{
	char	   *text = pnstrdup(payload, Min(len, 1024));
	char	   *p;
	TimestampTz at = 0;

	if ((p = strstr(text, "\"at_us\":")) != NULL)
		at = (TimestampTz) strtoll(p + strlen("\"at_us\":"), NULL, 10);
	else if ((p = strstr(text, "\"at\":\"")) != NULL)
	{
		char	   *start = p + strlen("\"at\":\"");
		char	   *end = strchr(start, '"');
		MemoryContext cxt = CurrentMemoryContext;

		if (end)
		{
			*end = '\0';
			PG_TRY();
			{
				at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
															 CStringGetDatum(start),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
			}
			PG_CATCH();
			{
				MemoryContextSwitchTo(cxt);
				FlushErrorState();
				at = 0;
			}
			PG_END_TRY();
		}
	}
	pfree(text);
	return at;
}

/*
 * start_position
 *		Where a worker (re)starting reads the WAL from: the older of the replay
 *		position and the known contact's, but not before the last
 *		restartpoint's redo position (whose WAL the node holds); with no
 *		contact known, from that redo position.  Each is the start of a
 *		record.  After an error: the replay position.
 */
static XLogRecPtr
start_position(void)
{
	XLogRecPtr	contact_lsn;
	TimeLineID	tli;
	XLogRecPtr	replayed = GetXLogReplayRecPtr(&tli);
	XLogRecPtr	redo = GetRedoRecPtr();

	if (skip_to_end)
	{
		skip_to_end = false;
		return replayed;
	}
	if (dr_contact_get(&contact_lsn) == 0 || XLogRecPtrIsInvalid(contact_lsn))
		return redo;
	return Max(Min(replayed, contact_lsn), redo);
}

/*
 * dr_contact_forget_reader
 *		Drop the reader (after an error, or when this node is no standby).
 */
void
dr_contact_forget_reader(void)
{
	if (reader != NULL && reader->seg.ws_file >= 0)
		wal_segment_close(reader);
	reader = NULL;
	if (reader_cxt != NULL)
		MemoryContextReset(reader_cxt);	/* the reader and its buffers */
	positioned = false;
	resume_at = InvalidXLogRecPtr;
}

/*
 * scan
 *		Read the WAL from resume_at as far as it is readable now (at most
 *		DR_CONTACT_READ_MAX); return the newest heartbeat's time and end.
 */
static TimestampTz
scan(XLogRecPtr *hb_end)
{
	TimestampTz newest = 0;
	XLogRecPtr	from = resume_at;
	char	   *errormsg;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (reader_cxt == NULL)
		reader_cxt = AllocSetContextCreate(TopMemoryContext, "tensafe_dr WAL reader",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(reader_cxt);
	if (reader == NULL)
	{
		reader = XLogReaderAllocate(wal_segment_size, NULL,
									XL_ROUTINE(.page_read = contact_page_read,
											   .segment_open = wal_segment_open,
											   .segment_close = wal_segment_close),
									NULL);
		if (reader == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Failed while allocating a WAL reading processor.")));
	}
	if (!positioned)
	{
		resume_at = from = start_position();
		positioned = true;
	}

	/* nothing received since the last look: do not touch the WAL at all */
	{
		TimeLineID	tli;

		if (readable_upto(&tli) <= resume_at)
		{
			last_capped = false;
			MemoryContextSwitchTo(caller_cxt);
			return 0;
		}
	}
	XLogBeginRead(reader, resume_at);
	last_capped = true;
	while (reader->EndRecPtr - from < DR_CONTACT_READ_MAX)
	{
		if (XLogReadRecord(reader, &errormsg) == NULL)
		{
			TimeLineID	tli;

			/*
			 * The end of what is readable now -- or, before the replay
			 * position, WAL that cannot be decoded (a contact file from
			 * another history): start again from the replay position.
			 */
			if (errormsg != NULL && resume_at < GetXLogReplayRecPtr(&tli))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid WAL record at %X/%X: %s",
								LSN_FORMAT_ARGS(resume_at), errormsg)));
			last_capped = false;
			break;
		}
		resume_at = reader->EndRecPtr;
		if (XLogRecGetRmid(reader) == RM_LOGICALMSG_ID &&
			(XLogRecGetInfo(reader) & ~XLR_INFO_MASK) == XLOG_LOGICAL_MESSAGE)
		{
			xl_logical_message *msg = (xl_logical_message *) XLogRecGetData(reader);
			TimestampTz at;

			if (msg->prefix_size != sizeof(DR_HEARTBEAT_PREFIX) ||
				strncmp(msg->message, DR_HEARTBEAT_PREFIX, msg->prefix_size) != 0)
				continue;
			MemoryContextSwitchTo(caller_cxt);
			at = heartbeat_time(msg->message + msg->prefix_size, msg->message_size);
			MemoryContextSwitchTo(reader_cxt);
			if (at == 0)
				continue;
			dr_dates_push_heartbeat(reader->EndRecPtr, at);
			if (at > newest)
			{
				newest = at;
				*hb_end = reader->EndRecPtr;
			}
		}
	}
	MemoryContextSwitchTo(caller_cxt);
	return newest;
}

/*
 * dr_contact_scan
 *		Worker, every sample: on a standby, find the heartbeats received
 *		since the last call; if the contact advanced, make it durable, then
 *		publish it.  Errors (a WAL segment no longer in pg_wal, say) are
 *		logged and the reading restarts from the current position.
 */
void
dr_contact_scan(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz found = 0;
	XLogRecPtr	found_lsn = InvalidXLogRecPtr;
	TimestampTz look = GetCurrentTimestamp();
	TimestampTz prev_look = last_look;
	bool		prev_capped = last_capped;
	TimestampTz local_at;

	if (!RecoveryInProgress())
	{
		TimeOffset	offset;

		if (reader != NULL)
			dr_contact_forget_reader();
		last_look = 0;
		/* a primary is its own clock's reference */
		if (dr_clock_offset_get(&offset))
			dr_clock_offset_set(false, 0);
		return;
	}

	last_look = look;

	PG_TRY();
	{
		found = scan(&found_lsn);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("tensafe_dr: could not read the WAL for the primary's heartbeats: %s",
						edata->message),
				 errdetail("Reading resumes at the end of the WAL received now.")));
		FreeErrorData(edata);
		dr_contact_forget_reader();
		skip_to_end = true;
		last_capped = true;		/* what is found next may be older than this look */
		return;
	}
	PG_END_TRY();

	if (found == 0 || found <= dr_contact_get(NULL))
		return;
	/* found fresh (arrived since the previous look): measure the offset */
	if (prev_look != 0 && !prev_capped)
		dr_clock_note(found, look);

	/*
	 * When it arrived, on this node's clock: its time moved by the offset,
	 * but after the previous look (it was not readable then; unless the
	 * previous look stopped at DR_CONTACT_READ_MAX) and not after this one.
	 */
	{
		TimeOffset	offset;

		local_at = look;
		if (dr_clock_offset_get(&offset))
		{
			local_at = Min(found + offset, look);
			if (prev_look != 0 && !prev_capped)
				local_at = Max(local_at, prev_look);
		}
	}
	if (persist(found, found_lsn, local_at))
		dr_contact_publish(found, found_lsn, local_at);
}
