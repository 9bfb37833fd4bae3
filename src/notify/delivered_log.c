/*-------------------------------------------------------------------------
 *
 * delivered_log.c
 *	  $PGDATA/pg_tensafe_dr/delivered: one idempotency key per line, each
 *	  appended and fsync'd by the notifier after a standby delivered it.
 *	  When the journal is flushed after a promotion, the outbox trigger asks
 *	  dr_delivered_locally(key) so the event is not sent again; a standby's
 *	  notifier asks it too (dr_journal_deliveries()), for every pending
 *	  journal entry and channel on each pass.
 *
 *	  It belongs to the data directory like the journal; a clone may copy
 *	  it, which is harmless: keys name the journal they came from.
 *
 * Lookups: each process keeps the keys in a hash table (its own memory
 * context), filled from the file once and then only from the lines
 * appended since it last looked (the file's identity and the offset read
 * up to are remembered; a compaction, which replaces the file, makes it
 * read the new file afresh: each compaction starts the file with its own
 * "# compacted at <time> by <pid>" line, so a reused inode number is not
 * taken for the old file).  A lookup is thus an open, an fstat and a read
 * of the first bytes plus a hash probe, not a scan of the file: O(1), not
 * O(file) per event and channel.  Only complete lines count: a line torn by a crash mid-append
 * is never a key.
 *
 * Bound: a key is needed only while its journal entry may still be
 * flushed into dr_event_log.  Keys are
 * tdr-<system id>-<journal id>-<seq>-<channel> (dr_delivery_key());
 * once this node's journal is flushed up to <seq> -- FLUSHED is written
 * after the flushing transaction committed, so the outbox row exists --
 * or when <journal id> is not this node's journal (an inherited journal
 * set aside, never flushed here), the key is dead.  The notifier
 * compacts the file (dr_delivered_compact()): at its first pass, after
 * the journal's flushed mark moved, and when the file doubled since the
 * last compaction; the live keys are written to delivered.compact,
 * fsync'd, and renamed over the file with durable_rename(), as the
 * journal's compaction does (a crash leaves the old or the new file,
 * both correct).  The file thus holds at most the keys of this node's
 * pending journal entries (times the channels), plus what was appended
 * since the last compaction: bounded by the journal itself, and empty on
 * a primary once its journal is flushed.  Keys of another format are
 * kept.
 *
 * Locking: none.  Only the notifier (one process) appends and compacts,
 * never at the same time; readers open the file by name and read through
 * that descriptor, so a rename while they read leaves them the old file,
 * whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "delivered_log.h"
#include "journal.h"

#define DR_DELIVERED_FILE		DR_JOURNAL_DIR "/delivered"
#define DR_DELIVERED_COMPACT	DR_DELIVERED_FILE ".compact"
/* below this, growth alone does not start a compaction */
#define DR_DELIVERED_MIN_COMPACT	4096

PG_FUNCTION_INFO_V1(dr_delivered_locally);

typedef struct DeliveredKey
{
	char		key[DR_DELIVERED_KEY_MAX];
} DeliveredKey;

/* This process's copy of the file (see the file header). */
static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static dev_t cache_dev;
static ino_t cache_ino;
/* the file's first bytes when read: a compaction's header line differs */
#define DR_DELIVERED_HEAD	64
static char cache_head[DR_DELIVERED_HEAD];
static int	cache_head_len = 0;
static off_t cache_offset;		/* read up to here: the end of a complete line */

/* The notifier's compaction state */
static bool compacted_once = false;
static off_t size_after_compaction = 0;
static int	kept_at_compaction = 0;
static uint64 flushed_at_compaction = 0;

static void
cache_reset(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "tensafe_dr delivered keys",
										  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cache_cxt);
	ctl.keysize = DR_DELIVERED_KEY_MAX;
	ctl.entrysize = sizeof(DeliveredKey);
	ctl.hcxt = cache_cxt;
	cache = hash_create("tensafe_dr delivered keys", 256, &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cache_offset = 0;
}

/*
 * read_bytes
 *		Read [from, to) of the open file into a palloc'd buffer; ERROR on a
 *		short read (the file only grows while open, or is replaced whole).
 */
static char *
read_bytes(int fd, off_t from, off_t to)
{
	char	   *buf = palloc(to - from + 1);
	off_t		done = 0;

	while (done < to - from)
	{
		ssize_t		r = pread(fd, buf + done, to - from - done, from + done);

		if (r <= 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read \"%s\": %m", DR_DELIVERED_FILE)));
		done += r;
	}
	buf[done] = '\0';
	return buf;
}

/*
 * for_each_line
 *		Call fn for each complete line of buf[0, len); returns the length of
 *		the complete lines (a torn last line is left out).
 */
static off_t
for_each_line(char *buf, off_t len, void (*fn) (const char *key, void *arg), void *arg)
{
	off_t		start = 0;
	off_t		i;

	for (i = 0; i < len; i++)
	{
		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		if (i > start && i - start < DR_DELIVERED_KEY_MAX)
			fn(buf + start, arg);
		buf[i] = '\n';
		start = i + 1;
	}
	return start;
}

static void
cache_add(const char *key, void *arg)
{
	if (key[0] != '#')			/* a compaction's header line */
		(void) hash_search(cache, key, HASH_ENTER, NULL);
}

/*
 * cache_refresh
 *		Bring this process's copy up to date with the file: read what was
 *		appended since, or the whole file if it was replaced.  False if
 *		there is no file.
 */
static bool
cache_refresh(void)
{
	int			fd;
	struct stat st;
	char		head[DR_DELIVERED_HEAD];
	int			head_len;

	fd = OpenTransientFile(DR_DELIVERED_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open \"%s\": %m", DR_DELIVERED_FILE)));
		if (cache != NULL)
			cache_reset();
		return false;
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat \"%s\": %m", DR_DELIVERED_FILE)));
	head_len = (int) Min(st.st_size, DR_DELIVERED_HEAD);
	if (head_len > 0 && pread(fd, head, head_len, 0) != head_len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read \"%s\": %m", DR_DELIVERED_FILE)));
	/*
	 * Another file than the one read (a compaction replaced it): read it
	 * afresh.  The inode number alone could be the old file's, reused; the
	 * header line of each compaction is unique.
	 */
	if (cache == NULL || st.st_dev != cache_dev || st.st_ino != cache_ino ||
		st.st_size < cache_offset || head_len < cache_head_len ||
		memcmp(head, cache_head, cache_head_len) != 0)
	{
		cache_reset();
		cache_dev = st.st_dev;
		cache_ino = st.st_ino;
		cache_head_len = 0;
	}
	if (st.st_size > cache_offset)
	{
		char	   *buf = read_bytes(fd, cache_offset, st.st_size);

		cache_offset += for_each_line(buf, st.st_size - cache_offset, cache_add, NULL);
		pfree(buf);
	}
	cache_head_len = (int) Min(cache_offset, head_len);
	memcpy(cache_head, head, cache_head_len);
	CloseTransientFile(fd);
	return true;
}

void
dr_delivered_append(const char *key)
{
	char	   *line;
	int			len;
	int			fd;
	struct stat st;
	char		last = '\n';

	if (strlen(key) >= DR_DELIVERED_KEY_MAX || strchr(key, '\n') != NULL)
		elog(ERROR, "tensafe_dr: idempotency key too long or not one line: \"%s\"", key);
	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DR_JOURNAL_DIR)));
	fd = OpenTransientFile(DR_DELIVERED_FILE, O_RDWR | O_CREAT | O_APPEND | PG_BINARY);
	if (fd < 0 || fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\": %m", DR_DELIVERED_FILE)));
	/*
	 * A line torn by a crash mid-append (the first compaction normally cut
	 * it already): end it, or it would swallow this key.
	 */
	if (st.st_size > 0 && (pread(fd, &last, 1, st.st_size - 1) != 1 || last != '\n'))
		line = psprintf("\n%s\n", key);
	else
		line = psprintf("%s\n", key);
	len = strlen(line);
	if (write(fd, line, len) != len || pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not append to \"%s\": %m", DR_DELIVERED_FILE)));
	CloseTransientFile(fd);
	pfree(line);
}

bool
dr_delivered_contains(const char *key)
{
	if (strlen(key) >= DR_DELIVERED_KEY_MAX || !cache_refresh())
		return false;
	return hash_search(cache, key, HASH_FIND, NULL) != NULL;
}

/*
 * dr_delivered_key_live
 *		Whether 'key' may still be looked up: not a key of this node's
 *		journal 'journal_id' at or below its flushed mark 'flushed', nor of
 *		another journal.  Keys not of the form tdr-<sysid>-<16 hex>-<seq>-
 *		are kept.
 */
bool
dr_delivered_key_live(const char *key, const char *journal_id, uint64 flushed)
{
	char		jid[17];
	unsigned long long seq;
	int			consumed = -1;

	if (sscanf(key, "tdr-%*[0-9]-%16[0-9a-f]-%llu-%n", jid, &seq, &consumed) != 2 ||
		consumed <= 0 || strlen(jid) != 16)
		return true;
	if (strcmp(jid, journal_id) != 0)
		return false;
	return seq > flushed;
}

typedef struct CompactState
{
	StringInfoData keep;
	const char *journal_id;
	uint64		flushed;
	int			kept;
	int			dropped;
} CompactState;

static void
compact_line(const char *key, void *arg)
{
	CompactState *cs = (CompactState *) arg;

	if (key[0] == '#')
		return;					/* the previous compaction's header */
	if (dr_delivered_key_live(key, cs->journal_id, cs->flushed))
	{
		appendStringInfo(&cs->keep, "%s\n", key);
		cs->kept++;
	}
	else
		cs->dropped++;
}

/*
 * dr_delivered_compact
 *		The notifier, once per pass: rewrite the file with only its live
 *		keys when it is due (see the file header).  Returns how many keys
 *		were dropped (-1: not due).
 */
int
dr_delivered_compact(void)
{
	struct stat st;
	uint64		flushed;
	int			fd;
	char	   *buf;
	CompactState cs;

	if (stat(DR_DELIVERED_FILE, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", DR_DELIVERED_FILE)));
		compacted_once = true;
		size_after_compaction = 0;
		return -1;
	}
	flushed = dr_journal_flushed_upto();
	/* due: first pass; flushed further with keys in the file; doubled */
	if (compacted_once &&
		!(flushed != flushed_at_compaction &&
		  (kept_at_compaction > 0 || st.st_size > size_after_compaction)) &&
		!(st.st_size >= DR_DELIVERED_MIN_COMPACT && st.st_size >= 2 * size_after_compaction))
		return -1;

	/* not due again on failure before the next trigger: deliveries go on */
	compacted_once = true;
	flushed_at_compaction = flushed;
	size_after_compaction = st.st_size;

	fd = OpenTransientFile(DR_DELIVERED_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0 || fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\": %m", DR_DELIVERED_FILE)));
	buf = read_bytes(fd, 0, st.st_size);
	CloseTransientFile(fd);

	initStringInfo(&cs.keep);
	/* unique to this compaction: tells readers the file was replaced */
	appendStringInfo(&cs.keep, "# compacted at " INT64_FORMAT " by %d\n",
					 (int64) GetCurrentTimestamp(), MyProcPid);
	cs.journal_id = dr_journal_id();
	cs.flushed = flushed;
	cs.kept = cs.dropped = 0;
	/* a torn last line is dropped too: it was never a delivered key */
	(void) for_each_line(buf, st.st_size, compact_line, &cs);
	pfree(buf);

	fd = OpenTransientFile(DR_DELIVERED_COMPACT, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0 || write(fd, cs.keep.data, cs.keep.len) != cs.keep.len || pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write \"%s\": %m", DR_DELIVERED_COMPACT)));
	CloseTransientFile(fd);
	(void) durable_rename(DR_DELIVERED_COMPACT, DR_DELIVERED_FILE, ERROR);

	size_after_compaction = cs.keep.len;
	kept_at_compaction = cs.kept;
	if (cs.dropped > 0)
		ereport(DEBUG1,
				(errmsg_internal("tensafe_dr notifier: delivered log compacted: %d keys kept, %d dropped",
								 cs.kept, cs.dropped)));
	pfree(cs.keep.data);
	return cs.dropped;
}

/* dr_delivered_locally(key text) returns bool */
Datum
dr_delivered_locally(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(dr_delivered_contains(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
