/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  A local, append-only, CRC-checked journal of DR events, for nodes that
 *	  cannot write tables (standbys, fenced or read-only primaries) and for
 *	  the worker, so that an event is durable before the call that records
 *	  it returns, whatever the node's role.
 *
 * Layout: $PGDATA/pg_tensafe_dr/journal is a sequence of records, each a
 * DrJournalRecord header followed by its payload, with a CRC-32C over both.
 *	HEADER   first record: the journal's random 64-bit id (in seq)
 *	EVENT    one event; seq is its sequence number, payload its JSON
 *	FLUSHED  every EVENT with seq <= this record's seq is in dr_event_log
 * Appends are fsync'd before returning.  At first use after a start (or a
 * crash reset) the file is scanned; the first record that is short, has a
 * bad magic, length or CRC ends the journal, and the file is truncated there
 * (a torn tail after a crash), which is logged.
 *
 * Exactly once: an event reaches dr_event_log under the unique key
 * (system identifier, journal id, seq) with ON CONFLICT DO NOTHING, and
 * FLUSHED is appended only after that transaction committed.  A crash
 * before the commit leaves the events pending; a crash between the commit
 * and FLUSHED makes the next flush find them already there.
 *
 * Growth: once every event is flushed and the file passed
 * DR_JOURNAL_COMPACT_SIZE, it is replaced (durable rename) by a journal with
 * the same id holding only HEADER and FLUSHED, so sequence numbers go on
 * where they were: a restarted sequence would collide with the rows already
 * flushed under the same key.  A standby's journal only grows with the
 * events it records, until it can write.
 *
 * Clones: a copy of the data directory (pg_basebackup, rsync, pg_rewind)
 * must not replay the entries of the node it was copied from.  The owner
 * file records which directory the journal belongs to (journal id, host
 * name, inode of the data directory), and its name starts with "pgsql_tmp",
 * which pg_basebackup never copies.  A journal whose owner file is missing
 * or describes another directory is renamed aside (journal.inherited.<id>),
 * logged, and a new journal with a new id is started.
 *
 * Locking: the journal's LWLock (shared for reads, exclusive for the first
 * open, appends and flush marks) is held across the file I/O of one append
 * or one read; appends are small.  Callers must not hold it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "journal.h"
#include "wakeup.h"

#define DR_JOURNAL_FILE		DR_JOURNAL_DIR "/journal"
#define DR_JOURNAL_OWNER	DR_JOURNAL_DIR "/" PG_TEMP_FILE_PREFIX "_tensafe_dr_owner"
#define DR_JOURNAL_MAGIC	0x54444A31	/* "TDJ1" */
#define DR_JOURNAL_MAX_PAYLOAD	(1024 * 1024)
/* once everything is flushed, a journal larger than this is started afresh */
#define DR_JOURNAL_COMPACT_SIZE	(1024 * 1024)

typedef enum DrJournalKind
{
	DR_JOURNAL_HEADER = 1,
	DR_JOURNAL_EVENT = 2,
	DR_JOURNAL_FLUSHED = 3
} DrJournalKind;

typedef struct DrJournalRecord
{
	uint32		magic;
	uint16		kind;
	uint16		reserved;
	uint32		payload_len;
	pg_crc32c	crc;			/* over this header with crc = 0, then payload */
	uint64		seq;
	TimestampTz at;
} DrJournalRecord;

typedef struct DrJournalShared
{
	LWLock	   *lock;
	bool		opened;			/* scanned since the last (re)start */
	uint64		journal_id;
	uint64		next_seq;
	uint64		flushed_upto;
	off_t		end;			/* append position */
	/* the last event appended since start, for dr_status() (0: none) */
	TimestampTz last_event_at;
	char		last_event[96];
} DrJournalShared;

static DrJournalShared *Journal = NULL;

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
	}
}

static pg_crc32c
record_crc(const DrJournalRecord *rec, const char *payload)
{
	DrJournalRecord copy = *rec;
	pg_crc32c	crc;

	copy.crc = 0;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &copy, sizeof(copy));
	if (rec->payload_len > 0)
		COMP_CRC32C(crc, payload, rec->payload_len);
	FIN_CRC32C(crc);
	return crc;
}

/* Write one record at 'offset' and fsync; ERROR on failure. */
static void
write_record(int fd, off_t offset, DrJournalKind kind, uint64 seq,
			 const char *payload, int len)
{
	DrJournalRecord rec;
	char	   *buf;
	Size		total = sizeof(rec) + len;

	memset(&rec, 0, sizeof(rec));
	rec.magic = DR_JOURNAL_MAGIC;
	rec.kind = (uint16) kind;
	rec.payload_len = (uint32) len;
	rec.seq = seq;
	rec.at = GetCurrentTimestamp();
	rec.crc = record_crc(&rec, payload);

	buf = palloc(total);
	memcpy(buf, &rec, sizeof(rec));
	if (len > 0)
		memcpy(buf + sizeof(rec), payload, len);

	errno = 0;
	if (pg_pwrite(fd, buf, total, offset) != (ssize_t) total)
	{
		int			save_errno = errno ? errno : ENOSPC;

		/* leave no partial record behind for the next append to follow */
		if (ftruncate(fd, offset) != 0)
			elog(LOG, "could not truncate tensafe_dr journal after a failed write: %m");
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	pfree(buf);
}

/* What identifies this data directory, for the owner file. */
static char *
owner_text(uint64 journal_id)
{
	struct stat st;
	char		host[256];

	if (stat(".", &st) != 0)
		st.st_ino = 0;
	if (gethostname(host, sizeof(host) - 1) != 0)
		strlcpy(host, "unknown", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	return psprintf("journal_id=%016llx\nhost=%s\ndata_directory_inode=%llu\n",
					(unsigned long long) journal_id, host,
					(unsigned long long) st.st_ino);
}

static bool
owner_matches(uint64 journal_id)
{
	char	   *want = owner_text(journal_id);
	char		have[1024];
	int			fd;
	int			n;

	fd = OpenTransientFile(DR_JOURNAL_OWNER, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	n = read(fd, have, sizeof(have) - 1);
	CloseTransientFile(fd);
	if (n < 0)
		return false;
	have[n] = '\0';
	return strcmp(have, want) == 0;
}

static void
write_owner(uint64 journal_id)
{
	char	   *text = owner_text(journal_id);
	int			fd;
	int			len = strlen(text);

	fd = OpenTransientFile(DR_JOURNAL_OWNER, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0 || write(fd, text, len) != len || pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write \"%s\": %m", DR_JOURNAL_OWNER)));
	CloseTransientFile(fd);
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
	fd = OpenTransientFile(DR_JOURNAL_FILE, O_RDWR | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	write_record(fd, 0, DR_JOURNAL_HEADER, id, NULL, 0);
	CloseTransientFile(fd);
	write_owner(id);
	fsync_fname(DR_JOURNAL_DIR, true);

	Journal->journal_id = id;
	Journal->next_seq = 1;
	Journal->flushed_upto = 0;
	Journal->end = sizeof(DrJournalRecord);
}

/*
 * read_file
 *		Read the whole journal into memory.  Returns NULL if there is none.
 */
static char *
read_file(off_t *size)
{
	int			fd;
	struct stat st;
	char	   *data;

	fd = OpenTransientFile(DR_JOURNAL_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	data = palloc(st.st_size + 1);
	if (st.st_size > 0 && pg_pread(fd, data, st.st_size, 0) != st.st_size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	CloseTransientFile(fd);
	*size = st.st_size;
	return data;
}

/*
 * next_record
 *		The valid record at 'offset' of data[0..size), or NULL where the
 *		journal ends (end of data, or a torn / corrupt record).
 */
static const DrJournalRecord *
next_record(const char *data, off_t size, off_t offset, const char **payload)
{
	DrJournalRecord rec;

	if (offset + (off_t) sizeof(rec) > size)
		return NULL;
	memcpy(&rec, data + offset, sizeof(rec));
	if (rec.magic != DR_JOURNAL_MAGIC || rec.payload_len > DR_JOURNAL_MAX_PAYLOAD ||
		offset + (off_t) sizeof(rec) + rec.payload_len > size)
		return NULL;
	*payload = data + offset + sizeof(rec);
	if (!EQ_CRC32C(rec.crc, record_crc(&rec, *payload)))
		return NULL;
	return (const DrJournalRecord *) (data + offset);
}

/* Set an inherited journal aside; lock held exclusively. */
static void
set_aside(uint64 journal_id)
{
	char	   *aside = psprintf("%s.inherited.%016llx", DR_JOURNAL_FILE,
								 (unsigned long long) journal_id);

	(void) durable_rename(DR_JOURNAL_FILE, aside, ERROR);
	ereport(LOG,
			(errmsg("tensafe_dr journal %016llx belongs to another data directory; set aside as \"%s\"",
					(unsigned long long) journal_id, aside),
			 errdetail("This data directory is a copy (pg_basebackup, pg_rewind or a file copy); the entries of the node it was copied from are not replayed here.")));
}

/*
 * open_journal
 *		Scan the journal, truncate a torn tail, set aside an inherited one,
 *		create one if needed.  Lock held exclusively.
 */
static void
open_journal(void)
{
	off_t		size = 0;
	off_t		offset = 0;
	char	   *data;
	const char *payload;
	const DrJournalRecord *rec;

	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DR_JOURNAL_DIR)));

	data = read_file(&size);
	rec = data ? next_record(data, size, 0, &payload) : NULL;
	if (rec == NULL || rec->kind != DR_JOURNAL_HEADER)
	{
		if (data != NULL && size > 0)
			ereport(LOG,
					(errmsg("tensafe_dr journal has no valid header; starting a new one")));
		create_journal();
		Journal->opened = true;
		return;
	}
	if (!owner_matches(rec->seq))
	{
		set_aside(rec->seq);
		create_journal();
		Journal->opened = true;
		return;
	}

	Journal->journal_id = rec->seq;
	Journal->next_seq = 1;
	Journal->flushed_upto = 0;
	offset = sizeof(DrJournalRecord);
	while ((rec = next_record(data, size, offset, &payload)) != NULL)
	{
		if (rec->kind == DR_JOURNAL_EVENT)
			Journal->next_seq = Max(Journal->next_seq, rec->seq + 1);
		else if (rec->kind == DR_JOURNAL_FLUSHED)
			Journal->flushed_upto = Max(Journal->flushed_upto, rec->seq);
		offset += sizeof(DrJournalRecord) + rec->payload_len;
	}
	/* a compacted journal holds no events: go on after the flushed mark */
	Journal->next_seq = Max(Journal->next_seq, Journal->flushed_upto + 1);
	if (offset < size)
	{
		int			fd = OpenTransientFile(DR_JOURNAL_FILE, O_RDWR | PG_BINARY);

		if (fd < 0 || ftruncate(fd, offset) != 0 || pg_fsync(fd) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not truncate the torn tail of tensafe_dr journal \"%s\": %m",
							DR_JOURNAL_FILE)));
		CloseTransientFile(fd);
		ereport(LOG,
				(errmsg("tensafe_dr journal: ignored a torn or corrupt tail of %lld bytes at offset %lld",
						(long long) (size - offset), (long long) offset)));
	}
	Journal->end = offset;
	Journal->opened = true;
	pfree(data);
}

/* Take the lock in 'mode', opening the journal first if needed. */
static void
lock_journal(LWLockMode mode)
{
	LWLockAcquire(Journal->lock, mode);
	if (Journal->opened)
		return;
	if (mode != LW_EXCLUSIVE)
	{
		LWLockRelease(Journal->lock);
		LWLockAcquire(Journal->lock, LW_EXCLUSIVE);
	}
	if (!Journal->opened)
		open_journal();			/* on ERROR the lock is released by abort */
	if (mode != LW_EXCLUSIVE)
	{
		LWLockRelease(Journal->lock);
		LWLockAcquire(Journal->lock, mode);
	}
}

static int
open_for_append(void)
{
	int			fd = OpenTransientFile(DR_JOURNAL_FILE, O_RDWR | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	return fd;
}

/*
 * dr_journal_append
 *		Append one event (JSON text) and fsync; returns its sequence number.
 */
uint64
dr_journal_append(const char *payload, int len, const char *event_type)
{
	uint64		seq;
	int			fd;

	if (len > DR_JOURNAL_MAX_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event is too large for the tensafe_dr journal"),
				 errdetail("The event takes %d bytes; the limit is %d.", len, DR_JOURNAL_MAX_PAYLOAD)));

	lock_journal(LW_EXCLUSIVE);
	fd = open_for_append();
	seq = Journal->next_seq;
	write_record(fd, Journal->end, DR_JOURNAL_EVENT, seq, payload, len);
	CloseTransientFile(fd);
	Journal->next_seq = seq + 1;
	Journal->end += sizeof(DrJournalRecord) + len;
	Journal->last_event_at = GetCurrentTimestamp();
	snprintf(Journal->last_event, sizeof(Journal->last_event), "%s at %s",
			 event_type, timestamptz_to_str(Journal->last_event_at));
	LWLockRelease(Journal->lock);
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

	fd = OpenTransientFile(tmp, O_RDWR | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create \"%s\": %m", tmp)));
	write_record(fd, 0, DR_JOURNAL_HEADER, Journal->journal_id, NULL, 0);
	write_record(fd, sizeof(DrJournalRecord), DR_JOURNAL_FLUSHED, upto, NULL, 0);
	CloseTransientFile(fd);
	(void) durable_rename(tmp, DR_JOURNAL_FILE, ERROR);
	Journal->end = 2 * sizeof(DrJournalRecord);
}

/*
 * dr_journal_mark_flushed
 *		Record that every event up to 'upto' is in dr_event_log.  Call only
 *		after the transaction that inserted them has committed.
 */
void
dr_journal_mark_flushed(uint64 upto)
{
	int			fd;

	lock_journal(LW_EXCLUSIVE);
	if (upto > Journal->flushed_upto)
	{
		fd = open_for_append();
		write_record(fd, Journal->end, DR_JOURNAL_FLUSHED, upto, NULL, 0);
		CloseTransientFile(fd);
		Journal->end += sizeof(DrJournalRecord);
		Journal->flushed_upto = upto;
		if (Journal->end > DR_JOURNAL_COMPACT_SIZE && Journal->next_seq - 1 == upto)
			compact_journal(upto);
	}
	LWLockRelease(Journal->lock);
}

/*
 * dr_journal_read
 *		The journal's events, oldest first, as a List of DrJournalEntry
 *		palloc'd in CurrentMemoryContext; only unflushed ones if asked.
 */
List *
dr_journal_read(bool unflushed_only)
{
	List	   *entries = NIL;
	off_t		size = 0;
	off_t		offset = sizeof(DrJournalRecord);
	char	   *data;
	const char *payload;
	const DrJournalRecord *rec;
	uint64		flushed;

	lock_journal(LW_SHARED);
	flushed = Journal->flushed_upto;
	if (unflushed_only && Journal->next_seq - 1 <= flushed)
	{
		LWLockRelease(Journal->lock);
		return NIL;
	}
	data = read_file(&size);
	size = Min(size, Journal->end);
	LWLockRelease(Journal->lock);

	while (data && (rec = next_record(data, size, offset, &payload)) != NULL)
	{
		offset += sizeof(DrJournalRecord) + rec->payload_len;
		if (rec->kind != DR_JOURNAL_EVENT)
			continue;
		if (unflushed_only && rec->seq <= flushed)
			continue;
		{
			DrJournalEntry *e = palloc(sizeof(DrJournalEntry));

			e->seq = rec->seq;
			e->written_at = rec->at;
			e->flushed = rec->seq <= flushed;
			e->payload = pnstrdup(payload, rec->payload_len);
			entries = lappend(entries, e);
		}
	}
	return entries;
}

/* The journal's id as 16 hex digits (palloc'd). */
const char *
dr_journal_id(void)
{
	uint64		id;

	lock_journal(LW_SHARED);
	id = Journal->journal_id;
	LWLockRelease(Journal->lock);
	return psprintf("%016llx", (unsigned long long) id);
}

/* How many events are not yet flushed. */
uint64
dr_journal_pending_count(void)
{
	uint64		n;

	lock_journal(LW_SHARED);
	n = Journal->next_seq - 1 - Journal->flushed_upto;
	LWLockRelease(Journal->lock);
	return n;
}

/*
 * dr_journal_test_crash_point
 *		Test hook for crash-safety tests: if the file
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
 * dr_journal_last_event
 *		The last event appended since the server started ("TYPE at time" into
 *		summary) and when; 0 if none.  Cheap: no file access, so the worker
 *		can show it in dr_status() without reading a standby's whole journal.
 */
TimestampTz
dr_journal_last_event(char *summary, Size len)
{
	TimestampTz at;

	LWLockAcquire(Journal->lock, LW_SHARED);
	at = Journal->last_event_at;
	strlcpy(summary, Journal->last_event, len);
	LWLockRelease(Journal->lock);
	return at;
}
