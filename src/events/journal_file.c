/*-------------------------------------------------------------------------
 *
 * journal_file.c
 *	  The journal's on-disk format and file I/O: records, their CRC, and
 *	  the owner file that tells a journal from a copied one.  The journal's
 *	  state, locking and API are in journal.c, its only caller.
 *
 * Layout: $PGDATA/pg_tensafe_dr/journal is a sequence of records, each a
 * DrJournalRecord header followed by its payload, with a CRC-32C over both.
 *	HEADER   first record: the journal's random 64-bit id (in seq)
 *	EVENT    one event; seq is its sequence number, payload its JSON
 *	FLUSHED  every EVENT with seq <= this record's seq is in dr_event_log
 *	ORIGIN   (after a corruption, journal.c) the events with seq in
 *	         [from, upto] (payload: two uint64) were carried over from the
 *	         journal whose id is this record's seq, and keep that identity
 * Every record is fsync'd as it is written.  A record that is short, has a
 * bad magic, length or CRC is not valid (dr_jreader_record() returns NULL
 * there); dr_jreader_resync() finds the next valid one, if any: none is a
 * torn tail after a crash, one is corruption in the middle (journal.c).
 * The file is read through a DrJReader, a chunk at a time (never whole);
 * DrJIter walks it record by record over that, skipping a corrupt stretch
 * to the next valid record (and counting it), and maps each event to its
 * journal id through the ORIGIN records.
 *
 * Clones: a copy of the data directory (pg_basebackup, rsync, pg_rewind)
 * must not replay the entries of the node it was copied from.  The owner
 * file records which directory the journal belongs to (journal id, host
 * name, inode of the data directory), and its name starts with "pgsql_tmp",
 * which pg_basebackup never copies.  A journal whose owner file is missing
 * or describes another directory is renamed aside (journal.inherited.<id>)
 * by journal.c, which then starts a new journal with a new id.
 *
 * Locking: none here; journal.c says which of its locks each caller holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "utils/timestamp.h"

#include "journal_file.h"

#define DR_JOURNAL_OWNER	DR_JOURNAL_DIR "/" PG_TEMP_FILE_PREFIX "_tensafe_dr_owner"

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

/*
 * dr_jrec_write
 *		Write one record at 'offset' of the open journal 'fd' and fsync it;
 *		ERROR on failure, leaving no partial record behind.
 */
void
dr_jrec_write(int fd, off_t offset, DrJournalKind kind, uint64 seq,
			 const char *payload, int len)
{
	dr_jrec_write_ext(fd, offset, kind, seq, payload, len, true);
}

/*
 * dr_jrec_write_ext
 *		dr_jrec_write(), with the fsync only if 'sync': for a file being
 *		rebuilt, fsync'd once whole before it is renamed into place.
 */
void
dr_jrec_write_ext(int fd, off_t offset, DrJournalKind kind, uint64 seq,
				  const char *payload, int len, bool sync)
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
	if (sync && pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
	pfree(buf);
}

/*
 * dr_jfile_open
 *		Open the journal file 'path' with 'flags'; ERROR if that fails, but
 *		with 'missing_ok' return -1 when it does not exist.
 */
int
dr_jfile_open(const char *path, int flags, bool missing_ok)
{
	int			fd = OpenTransientFile(path, flags | PG_BINARY);

	if (fd < 0 && !(missing_ok && errno == ENOENT))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open tensafe_dr journal \"%s\": %m", path)));
	return fd;
}

/*
 * window
 *		Make data[offset, offset + len) of the file available in the reader's
 *		buffer and return a pointer to it, or NULL if the file (as far as
 *		the reader may read) is shorter.  Reads ahead up to the buffer's
 *		size; grows the buffer only for a record larger than it (at most
 *		DR_JOURNAL_MAX_PAYLOAD plus a header).
 */
static const char *
window(DrJReader *r, off_t offset, Size len)
{
	off_t		want;
	Size		done = 0;

	if (offset < 0 || offset + (off_t) len > r->size)
		return NULL;
	if (offset >= r->buf_off && offset + (off_t) len <= r->buf_off + (off_t) r->buf_len)
		return r->buf + (offset - r->buf_off);
	if (len > r->cap)
	{
		r->cap = Max(len, (Size) DR_JREADER_CHUNK);
		r->buf = repalloc(r->buf, r->cap);
	}
	want = Min((off_t) r->cap, r->size - offset);
	while (done < (Size) want)
	{
		ssize_t		n = pg_pread(r->fd, r->buf + done, want - done, offset + done);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
		if (n == 0)
			break;				/* shorter than noted: read what is there */
		done += n;
	}
	r->buf_off = offset;
	r->buf_len = done;
	if (done < len)
	{
		r->size = offset + done;
		return NULL;
	}
	return r->buf;
}

/*
 * dr_jreader_init
 *		A reader over the first 'size' bytes of the open journal 'fd' (the
 *		whole file if size < 0), reading DR_JREADER_CHUNK bytes at a time:
 *		never the whole file into memory.
 */
void
dr_jreader_init(DrJReader *r, int fd, off_t size)
{
	if (size < 0)
	{
		struct stat st;

		if (fstat(fd, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat tensafe_dr journal \"%s\": %m", DR_JOURNAL_FILE)));
		size = st.st_size;
	}
	r->fd = fd;
	r->size = size;
	r->cap = DR_JREADER_CHUNK;
	r->buf = palloc(r->cap);
	r->buf_off = 0;
	r->buf_len = 0;
}

void
dr_jreader_free(DrJReader *r)
{
	if (r->buf)
		pfree(r->buf);
	r->buf = NULL;
}

/*
 * dr_jreader_record
 *		The valid record at 'offset', or NULL where there is none (end of
 *		the file, or a torn / corrupt record).  The record and *payload
 *		point into the reader's buffer: valid until its next call.
 */
const DrJournalRecord *
dr_jreader_record(DrJReader *r, off_t offset, const char **payload)
{
	DrJournalRecord rec;
	const char *p;

	p = window(r, offset, sizeof(rec));
	if (p == NULL)
		return NULL;
	memcpy(&rec, p, sizeof(rec));
	if (rec.magic != DR_JOURNAL_MAGIC || rec.payload_len > DR_JOURNAL_MAX_PAYLOAD)
		return NULL;
	p = window(r, offset, sizeof(rec) + rec.payload_len);
	if (p == NULL)
		return NULL;
	*payload = p + sizeof(rec);
	if (!EQ_CRC32C(rec.crc, record_crc(&rec, *payload)))
		return NULL;
	return (const DrJournalRecord *) p;
}

/*
 * dr_jreader_resync
 *		The offset of the first valid record after 'from' (which holds none),
 *		or -1 if there is none: then what lies from 'from' on is a torn tail.
 *		A valid record needs the magic and a matching CRC, so a payload's
 *		text is not taken for one.
 */
off_t
dr_jreader_resync(DrJReader *r, off_t from)
{
	off_t		p;
	uint32		magic = DR_JOURNAL_MAGIC;

	for (p = from + 1; p + (off_t) sizeof(DrJournalRecord) <= r->size; p++)
	{
		const char *h = window(r, p, sizeof(uint32));
		const char *payload;

		if (h == NULL)
			break;
		if (memcmp(h, &magic, sizeof(magic)) != 0)
			continue;
		if (dr_jreader_record(r, p, &payload) != NULL)
			return p;
		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return -1;
}

void
dr_jiter_init(DrJIter *it, int fd, off_t size)
{
	memset(it, 0, sizeof(DrJIter));
	dr_jreader_init(&it->r, fd, size);
	it->first_bad = -1;
}

void
dr_jiter_free(DrJIter *it)
{
	dr_jreader_free(&it->r);
	if (it->origins)
		pfree(it->origins);
}

/*
 * dr_jiter_next
 *		The next valid record (and its payload), NULL at the end.  The end is
 *		where the data ends or where an invalid record has no valid one
 *		after it (a torn tail: it->offset is then its offset).  An invalid
 *		stretch followed by valid records is skipped and counted.  The
 *		record points into the reader's buffer, valid until the next call.
 */
const DrJournalRecord *
dr_jiter_next(DrJIter *it, const char **payload)
{
	const DrJournalRecord *rec;

	for (;;)
	{
		off_t		next;

		rec = dr_jreader_record(&it->r, it->offset, payload);
		if (rec != NULL)
			break;
		if (it->offset >= it->r.size)
			return NULL;
		next = dr_jreader_resync(&it->r, it->offset);
		if (next < 0)
			return NULL;		/* torn tail */
		it->bad_regions++;
		it->bad_bytes += next - it->offset;
		if (it->first_bad < 0)
			it->first_bad = it->offset;
		it->after_gap = true;
		it->offset = next;
	}
	if (it->offset == 0 && rec->kind == DR_JOURNAL_HEADER)
		it->header_id = rec->seq;
	else if (rec->kind == DR_JOURNAL_ORIGIN && rec->payload_len == 2 * sizeof(uint64))
	{
		DrOrigin   *o;

		it->origins = it->origins
			? repalloc(it->origins, (it->n_origins + 1) * sizeof(DrOrigin))
			: palloc(sizeof(DrOrigin));
		o = &it->origins[it->n_origins++];
		o->id = rec->seq;
		memcpy(&o->from, *payload, sizeof(uint64));
		memcpy(&o->upto, *payload + sizeof(uint64), sizeof(uint64));
	}
	else if (rec->kind == DR_JOURNAL_EVENT)
	{
		if (it->after_gap && it->last_event_seq > 0 && rec->seq > it->last_event_seq + 1)
			it->lost_estimate += rec->seq - it->last_event_seq - 1;
		it->after_gap = false;
		it->last_event_seq = rec->seq;
	}
	it->offset += sizeof(DrJournalRecord) + rec->payload_len;
	return rec;
}

/* The journal an event with sequence number 'seq' belongs to. */
uint64
dr_jiter_origin(const DrJIter *it, uint64 seq, uint64 own_id)
{
	int			i;

	for (i = 0; i < it->n_origins; i++)
		if (seq >= it->origins[i].from && seq <= it->origins[i].upto)
			return it->origins[i].id;
	return own_id;
}

/*
 * dr_data_directory_identity
 *		What tells this data directory from a copy of it (pg_basebackup,
 *		rsync, pg_rewind): the host name and the inode of the data directory
 *		(the working directory of every server process).  The one owner of
 *		that rule: the journal's owner file and the fence file (fence.c) both
 *		use it.  Works in the postmaster too (no catalog, no locks).
 */
char *
dr_data_directory_identity(void)
{
	struct stat st;
	char		host[256];

	if (stat(".", &st) != 0)
		st.st_ino = 0;
	if (gethostname(host, sizeof(host) - 1) != 0)
		strlcpy(host, "unknown", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	return psprintf("host=%s\ndata_directory_inode=%llu\n",
					host, (unsigned long long) st.st_ino);
}

/* What identifies this data directory and journal, for the owner file. */
static char *
owner_text(uint64 journal_id)
{
	return psprintf("journal_id=%016llx\n%s",
					(unsigned long long) journal_id, dr_data_directory_identity());
}

/* Whether the owner file describes this data directory and journal. */
bool
dr_jfile_owner_matches(uint64 journal_id)
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

/* Write (and fsync) the owner file for 'journal_id'. */
void
dr_jfile_write_owner(uint64 journal_id)
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

/* Set an inherited journal aside (durable rename). */
void
dr_jfile_set_aside(uint64 journal_id)
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
 * dr_jfile_owner_journal_id
 *		The journal id the owner file names, if it describes this data
 *		directory: the identity of a journal whose HEADER is unreadable.
 */
bool
dr_jfile_owner_journal_id(uint64 *journal_id)
{
	char		have[1024];
	int			fd;
	int			n;
	unsigned long long id;

	fd = OpenTransientFile(DR_JOURNAL_OWNER, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	n = read(fd, have, sizeof(have) - 1);
	CloseTransientFile(fd);
	if (n <= 0)
		return false;
	have[n] = '\0';
	if (sscanf(have, "journal_id=%llx", &id) != 1)
		return false;
	if (!dr_jfile_owner_matches((uint64) id))
		return false;
	*journal_id = (uint64) id;
	return true;
}
