/*-------------------------------------------------------------------------
 *
 * backup_verify_files.c
 *	  The files part of dr_verify_backup_internal() (backup_verify.c):
 *	  collect the manifest's files and WAL ranges as the manifest parser
 *	  hands them over, then check the backup directory against them.
 *
 * What is checked:
 *	- every file on disk is in the manifest and has its size, and every
 *	  file of the manifest is on disk (ignoring what pg_verifybackup
 *	  ignores: backup_manifest, postgresql.auto.conf, standby.signal,
 *	  recovery.signal, pg_wal/);
 *	- every file's checksum (CRC-32C or SHA-224/256/384/512), here or by
 *	  the verification workers (verify_parallel.c), with the one per-file
 *	  function dr_verify_checksum_file().
 * Each problem becomes one (file, problem) pair (dr_verify_add_problem()).
 *
 * Resources: directories and files are opened by backup_paths.c's walk
 * (openat(O_NOFOLLOW) from the backup directory's descriptor; directories
 * listed with fdopendir() on such a descriptor), which tracks them so that
 * an error or a cancel closes them; files are read in DR_READ_CHUNK pieces
 * with CHECK_FOR_INTERRUPTS() between them; progress goes to the caller's
 * slot (backup_progress.c).  No LWLock is held.  A symbolic link inside the
 * backup (the pg_tblspc entries) is followed only by opening its absolute
 * target through the same walk from a root (dr_verify_follow_link()): a
 * target outside tensafe_dr.backup_root, or through another link, is
 * reported and not followed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "backup_files.h"
#include "backup_paths.h"
#include "backup_progress.h"
#include "backup_verify.h"

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

/* Manifest callbacks */
static void
on_file(void *private_data, const DrManifestFile *f)
{
	DrVerifyState *vs = private_data;
	ManifestEntry *e;
	bool		found;
	char	   *path = pstrdup(f->path);

	e = mfhash_insert(vs->files, path, &found);
	if (found)
	{
		dr_verify_add_problem(vs, path, "listed more than once in the manifest");
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
	DrVerifyState *vs = private_data;

	if (vs->nranges == vs->maxranges)
	{
		vs->maxranges = Max(4, vs->maxranges * 2);
		vs->ranges = vs->ranges
			? repalloc(vs->ranges, sizeof(DrManifestWalRange) * vs->maxranges)
			: palloc(sizeof(DrManifestWalRange) * vs->maxranges);
	}
	vs->ranges[vs->nranges++] = *r;
}

/*
 * dr_verify_files_begin
 *		Set up the table of the manifest's files and the callbacks that fill
 *		it (and vs->ranges) for dr_manifest_parse().  In the verification's
 *		memory context.
 */
void
dr_verify_files_begin(DrVerifyState *vs, DrManifestCallbacks *cb)
{
	vs->files = mfhash_create(1024, NULL);
	memset(cb, 0, sizeof(*cb));
	cb->private_data = vs;
	cb->file_cb = on_file;
	cb->wal_range_cb = on_wal_range;
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

/*
 * dr_verify_follow_link
 *		'name' in directory descriptor dirfd is a symbolic link ('rel' is its
 *		path in the backup, for problems): open its target, which must be an
 *		absolute path, through backup_paths.c's walk from a root.  Returns
 *		the tracked descriptor (a directory or a file; *target_out set), or
 *		-1 after recording why it is not followed: one message for every
 *		target not opened under tensafe_dr.backup_root, whether it exists or
 *		not.
 */
int
dr_verify_follow_link(DrVerifyState *vs, int dirfd, const char *name,
					  const char *rel, char **target_out)
{
	char		target[MAXPGPATH];
	ssize_t		n;
	struct stat st;
	DrOpenResult res;
	int			fd;

	n = readlinkat(dirfd, name, target, sizeof(target) - 1);
	if (n < 0)
	{
		dr_verify_add_problem(vs, rel, "could not read symbolic link: %m");
		return -1;
	}
	target[n] = '\0';
	fd = dr_backup_open_quiet(target, &st, &res);
	if (fd < 0)
	{
		if (res == DR_OPEN_FAILED && errno == ENOENT)
			dr_verify_add_problem(vs, rel, "symbolic link that does not resolve");
		else
			dr_verify_add_problem(vs, rel, "symbolic link points outside tensafe_dr.backup_root (not followed)");
		return -1;
	}
	*target_out = dr_backup_canonical_path(target);
	return fd;
}

static void walk_fd(DrVerifyState *vs, int fd, const char *rel);

/* One directory entry (or a followed link's target) against the manifest. */
static void
check_entry(DrVerifyState *vs, const char *crel, const struct stat *st, int parentfd,
			const char *name)
{
	if (S_ISDIR(st->st_mode))
	{
		struct stat cst;
		DrOpenResult res;
		int			cfd = dr_backup_openat(parentfd, name, &cst, &res);

		if (cfd < 0 || !S_ISDIR(cst.st_mode))
		{
			if (cfd >= 0)
				dr_backup_close(cfd);
			dr_verify_add_problem(vs, crel, "could not open directory: %s",
								  cfd < 0 && res == DR_OPEN_FAILED ? strerror(errno) : "it changed during verification");
			return;
		}
		walk_fd(vs, cfd, crel);
	}
	else if (S_ISREG(st->st_mode))
	{
		ManifestEntry *e = mfhash_lookup(vs->files, (char *) crel);

		if (e == NULL)
			dr_verify_add_problem(vs, crel, "not in manifest");
		else
		{
			e->matched = true;
			if ((uint64) st->st_size != e->size)
			{
				dr_verify_add_problem(vs, crel, "size %lld, manifest says %llu",
									  (long long) st->st_size, (unsigned long long) e->size);
				e->bad = true;
			}
		}
	}
	else
		dr_verify_add_problem(vs, crel, "not a regular file or directory");
}

/*
 * Walk the directory open on fd (tracked; closed here): report files not in
 * the manifest and size differences, mark the manifest's files seen.  'rel'
 * is relative to the backup directory ("" for the top).  Entries are
 * looked at with fstatat(AT_SYMLINK_NOFOLLOW) and directories opened with
 * the walk's openat(O_NOFOLLOW); a symbolic link is followed only through
 * dr_verify_follow_link().
 */
static void
walk_fd(DrVerifyState *vs, int fd, const char *rel)
{
	DIR		   *d;
	struct dirent *de;

	check_stack_depth();
	d = dr_backup_fdopendir(fd);
	if (d == NULL)
	{
		dr_verify_add_problem(vs, rel[0] ? rel : ".", "could not open directory: %m");
		return;
	}
	for (;;)
	{
		char	   *crel;
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		errno = 0;
		de = readdir(d);
		if (de == NULL)
		{
			if (errno != 0)
				dr_verify_add_problem(vs, rel[0] ? rel : ".", "could not read directory: %m");
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		crel = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		if (ignored_path(crel))
		{
			pfree(crel);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			dr_verify_add_problem(vs, crel, "could not stat: %m");
		else if (S_ISLNK(st.st_mode))
		{
			char	   *target;
			int			lfd = dr_verify_follow_link(vs, dirfd(d), de->d_name, crel, &target);

			if (lfd >= 0)
			{
				struct stat lst;

				if (fstat(lfd, &lst) == 0 && S_ISDIR(lst.st_mode))
				{
					DrVerifyLink *l = palloc(sizeof(DrVerifyLink));

					l->rel = pstrdup(crel);
					l->target = target;
					vs->links = lappend(vs->links, l);
					walk_fd(vs, lfd, crel);
				}
				else
				{
					dr_backup_close(lfd);
					dr_verify_add_problem(vs, crel, "symbolic link to something other than a directory (not followed)");
				}
			}
		}
		else
			check_entry(vs, crel, &st, dirfd(d), de->d_name);
		pfree(crel);
	}
	dr_backup_closedir(d);
}

/*
 * Open a file of the backup for checksumming: below a followed link by its
 * target, else by the walk from the backup directory.  -1 with *res as
 * dr_backup_openat() says.
 */
static int
open_backup_file(int dirfd, List *links, const char *rel, struct stat *st,
				 DrOpenResult *res)
{
	ListCell   *lc;

	foreach(lc, links)
	{
		DrVerifyLink *l = lfirst(lc);
		size_t		n = strlen(l->rel);

		if (strncmp(rel, l->rel, n) == 0 && rel[n] == '/')
		{
			char	   *p = psprintf("%s/%s", l->target, rel + n + 1);
			int			fd = dr_backup_open_quiet(p, st, res);

			pfree(p);
			return fd;
		}
	}
	return dr_backup_openat(dirfd, rel, st, res);
}

/*
 * dr_verify_checksum_file
 *		Checksum one file of the backup against what the manifest says of it
 *		(item), leaving what was found in item->result.  The file is opened
 *		through backup_paths.c's walk from dirfd (or from a root, below one
 *		of 'links'), read in DR_READ_CHUNK pieces into buf with
 *		CHECK_FOR_INTERRUPTS() between them, and advance(arg, n) is called
 *		after each.  The one per-file check of the verification: the serial
 *		path (dr_verify_files()) and the workers (verify_parallel.c) both
 *		call it, and dr_verify_report_file() turns its result into the
 *		problem.  Raises an error only if the checksum code fails.
 */
void
dr_verify_checksum_file(int dirfd, List *links, DrVerifyItem *item,
						char *buf, DrVerifyAdvance advance, void *arg)
{
	DrFileResult *r = &item->result;
	pg_checksum_context ctx;
	uint8		digest[PG_CHECKSUM_MAX_LENGTH];
	int			fd;
	int			len;
	struct stat st;
	DrOpenResult res;

	memset(r, 0, sizeof(*r));
	if (item->checksum_len != dr_checksum_length(item->algorithm))
	{
		r->verdict = DR_FILE_BAD_CHECKSUM_LENGTH;
		return;
	}
	fd = open_backup_file(dirfd, links, item->path, &st, &res);
	if (fd < 0)
	{
		r->err = errno;
		r->verdict = res == DR_OPEN_OUTSIDE ? DR_FILE_OUTSIDE : DR_FILE_OPEN_FAILED;
		return;
	}
	if (!S_ISREG(st.st_mode))
	{
		dr_backup_close(fd);
		r->verdict = DR_FILE_NOT_REGULAR;
		return;
	}
	if (pg_checksum_init(&ctx, item->algorithm) < 0)
		elog(ERROR, "could not initialize checksum of file \"%s\"", item->path);
	for (;;)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = read(fd, buf, DR_READ_CHUNK);
		if (n < 0)
		{
			r->err = errno;
			r->verdict = DR_FILE_READ_FAILED;
			dr_backup_close(fd);
			return;
		}
		if (n == 0)
			break;
		if (pg_checksum_update(&ctx, (uint8 *) buf, n) < 0)
			elog(ERROR, "could not update checksum of file \"%s\"", item->path);
		r->bytes_read += n;
		advance(arg, n);
	}
	dr_backup_close(fd);
	len = pg_checksum_final(&ctx, digest);
	if (len < 0)
		elog(ERROR, "could not finalize checksum of file \"%s\"", item->path);
	if (r->bytes_read != item->size)
		r->verdict = DR_FILE_SIZE_CHANGED;
	else if (len != item->checksum_len || memcmp(digest, item->checksum, len) != 0)
		r->verdict = DR_FILE_MISMATCH;
	else
		r->verdict = DR_FILE_OK;
}

/*
 * dr_verify_report_file
 *		The problem (if any) dr_verify_checksum_file() found in a file.
 */
void
dr_verify_report_file(DrVerifyState *vs, const DrVerifyItem *item)
{
	const DrFileResult *r = &item->result;

	switch ((DrFileVerdict) r->verdict)
	{
		case DR_FILE_OK:
			break;
		case DR_FILE_BAD_CHECKSUM_LENGTH:
			dr_verify_add_problem(vs, item->path, "manifest checksum has %d bytes, %s needs %d",
								  item->checksum_len, pg_checksum_type_name(item->algorithm),
								  dr_checksum_length(item->algorithm));
			break;
		case DR_FILE_OUTSIDE:
			dr_verify_add_problem(vs, item->path, "became a symbolic link during verification (not read)");
			break;
		case DR_FILE_OPEN_FAILED:
			errno = r->err;
			dr_verify_add_problem(vs, item->path, "could not open: %m");
			break;
		case DR_FILE_NOT_REGULAR:
			dr_verify_add_problem(vs, item->path, "not a regular file");
			break;
		case DR_FILE_READ_FAILED:
			errno = r->err;
			dr_verify_add_problem(vs, item->path, "could not read: %m");
			break;
		case DR_FILE_SIZE_CHANGED:
			dr_verify_add_problem(vs, item->path, "read %llu bytes, manifest says %llu (changed during verification?)",
								  (unsigned long long) r->bytes_read, (unsigned long long) item->size);
			break;
		case DR_FILE_MISMATCH:
			dr_verify_add_problem(vs, item->path, "checksum mismatch");
			break;
	}
}

/* The serial path's progress: bytes and files so far, to the slot. */
typedef struct SerialProgress
{
	DrVerifyState *vs;
	int64		files_done;
} SerialProgress;

static void
serial_advance(void *arg, int64 bytes)
{
	SerialProgress *sp = arg;

	sp->vs->bytes_checksummed += bytes;
	dr_progress_advance(sp->vs->progress_slot, sp->files_done, sp->vs->bytes_checksummed);
}

/*
 * dr_verify_files
 *		Once the manifest has parsed: walk the backup directory against the
 *		manifest's files (progress phase "checking files"), report the
 *		files missing from disk, then checksum every file that is there
 *		with its size (phase "checksumming files"; vs->bytes_checksummed):
 *		by tensafe_dr.verify_workers background workers (verify_parallel.c)
 *		if more than one is wanted, there are at least two files, and a
 *		worker could start; else in this backend.  Either way the problems
 *		are reported afterwards in the table's order, so that serial and
 *		parallel verifications list the same rows.
 */
void
dr_verify_files(DrVerifyState *vs)
{
	ManifestEntry *e;
	mfhash_iterator it;
	int64		bytes_total = 0;
	DrVerifyItem *items;
	int			nitems = 0;
	int			i;

	dr_progress_phase(vs->progress_slot, "checking files", vs->nfiles, 0);
	{
		struct stat st;
		DrOpenResult res;
		int			top = dr_backup_openat(vs->dirfd, "", &st, &res);

		if (top < 0)
			dr_verify_add_problem(vs, ".", "could not open directory: %m");
		else
			walk_fd(vs, top, "");
	}
	/* ~56 bytes a file: past MaxAllocSize only near 19 million files */
	items = MemoryContextAllocHuge(CurrentMemoryContext,
								   sizeof(DrVerifyItem) * (Size) Max(vs->nfiles, 1));
	mfhash_start_iterate(vs->files, &it);
	while ((e = mfhash_iterate(vs->files, &it)) != NULL)
	{
		if (!e->matched && !ignored_path(e->path))
		{
			dr_verify_add_problem(vs, e->path, "missing");
			e->bad = true;
		}
		else if (e->matched && !e->bad && e->algorithm != CHECKSUM_TYPE_NONE)
		{
			DrVerifyItem *item = &items[nitems++];

			item->path = e->path;
			item->size = e->size;
			item->algorithm = e->algorithm;
			item->checksum_len = e->checksum_len;
			item->checksum = e->checksum;
			memset(&item->result, 0, sizeof(item->result));
			bytes_total += e->size;
		}
	}

	dr_progress_phase(vs->progress_slot, "checksumming files", nitems, bytes_total);
	vs->workers_requested = dr_verify_workers_wanted();
	vs->workers_used = 0;
	if (vs->workers_requested <= 1 || nitems < 2 ||
		!dr_verify_parallel(vs, items, nitems, Min(vs->workers_requested, nitems)))
	{
		SerialProgress sp = {vs, 0};

		for (i = 0; i < nitems; i++)
		{
			dr_verify_checksum_file(vs->dirfd, vs->links, &items[i], vs->buf,
									serial_advance, &sp);
			sp.files_done++;
			dr_progress_advance(vs->progress_slot, sp.files_done, vs->bytes_checksummed);
		}
	}
	for (i = 0; i < nitems; i++)
		dr_verify_report_file(vs, &items[i]);
	pfree(items);
}
