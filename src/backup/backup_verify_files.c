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
 *	- every file's checksum (CRC-32C or SHA-224/256/384/512).
 * Each problem becomes one (file, problem) pair (dr_verify_add_problem()).
 *
 * Resources: directories and files are opened with AllocateDir /
 * OpenTransientFile (O_NOFOLLOW), so an error or a cancel closes them;
 * files are read in DR_READ_CHUNK pieces with CHECK_FOR_INTERRUPTS()
 * between them; progress goes to the caller's slot (backup_progress.c).
 * No LWLock is held.  Symbolic links inside the backup (the pg_tblspc
 * entries) are followed only if they resolve under tensafe_dr.backup_root.
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
 * Walk the backup directory: report files not in the manifest and size
 * differences, mark the manifest's files seen.  'rel' is relative to the
 * backup directory ("" for the top).
 */
static void
walk(DrVerifyState *vs, const char *rel)
{
	char	   *full = rel[0] ? psprintf("%s/%s", vs->dir, rel) : pstrdup(vs->dir);
	DIR		   *d;
	struct dirent *de;

	check_stack_depth();
	d = AllocateDir(full);
	if (d == NULL)
	{
		dr_verify_add_problem(vs, rel[0] ? rel : ".", "could not open directory: %m");
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
			dr_verify_add_problem(vs, crel, "could not stat: %m");
			continue;
		}
		if (S_ISLNK(st.st_mode))
		{
			char		target[PATH_MAX];

			if (realpath(cfull, target) == NULL)
			{
				dr_verify_add_problem(vs, crel, "symbolic link that does not resolve");
				continue;
			}
			if (!dr_path_under_backup_root(target))
			{
				dr_verify_add_problem(vs, crel, "symbolic link points outside tensafe_dr.backup_root (not followed)");
				continue;
			}
			if (stat(cfull, &st) < 0)
			{
				dr_verify_add_problem(vs, crel, "could not stat: %m");
				continue;
			}
		}
		if (S_ISDIR(st.st_mode))
			walk(vs, crel);
		else if (S_ISREG(st.st_mode))
		{
			ManifestEntry *e = mfhash_lookup(vs->files, crel);

			if (e == NULL)
				dr_verify_add_problem(vs, crel, "not in manifest");
			else
			{
				e->matched = true;
				if ((uint64) st.st_size != e->size)
				{
					dr_verify_add_problem(vs, crel, "size %lld, manifest says %llu",
										  (long long) st.st_size, (unsigned long long) e->size);
					e->bad = true;
				}
			}
		}
		else
			dr_verify_add_problem(vs, crel, "not a regular file or directory");
		pfree(cfull);
		pfree(crel);
	}
	FreeDir(d);
	pfree(full);
}

/* Checksum one file against its entry; reports what is wrong. */
static void
checksum_file(DrVerifyState *vs, ManifestEntry *e, int64 files_done)
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
		dr_verify_add_problem(vs, e->path, "manifest checksum has %d bytes, %s needs %d",
							  e->checksum_len, pg_checksum_type_name(e->algorithm), expected);
		return;
	}
	fd = OpenTransientFile(full, O_RDONLY | PG_BINARY | O_NOFOLLOW);
	if (fd < 0)
	{
		dr_verify_add_problem(vs, e->path, "could not open: %m");
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
			dr_verify_add_problem(vs, e->path, "could not read: %m");
			CloseTransientFile(fd);
			return;
		}
		if (n == 0)
			break;
		if (pg_checksum_update(&ctx, (uint8 *) vs->buf, n) < 0)
			elog(ERROR, "could not update checksum of file \"%s\"", full);
		total += n;
		vs->bytes_checksummed += n;
		dr_progress_advance(vs->progress_slot, files_done, vs->bytes_checksummed);
	}
	CloseTransientFile(fd);
	len = pg_checksum_final(&ctx, digest);
	if (len < 0)
		elog(ERROR, "could not finalize checksum of file \"%s\"", full);
	if (total != e->size)
		dr_verify_add_problem(vs, e->path, "read %llu bytes, manifest says %llu (changed during verification?)",
							  (unsigned long long) total, (unsigned long long) e->size);
	else if (len != e->checksum_len || memcmp(digest, e->checksum, len) != 0)
		dr_verify_add_problem(vs, e->path, "checksum mismatch");
	pfree(full);
}

/*
 * dr_verify_files
 *		Once the manifest has parsed: walk the backup directory against the
 *		manifest's files (progress phase "checking files"), report the
 *		files missing from disk, then checksum every file that is there
 *		with its size (phase "checksumming files"; vs->bytes_checksummed).
 */
void
dr_verify_files(DrVerifyState *vs)
{
	ManifestEntry *e;
	mfhash_iterator it;
	int64		files_total = 0,
				bytes_total = 0,
				files_done = 0;

	dr_progress_phase(vs->progress_slot, "checking files", vs->nfiles, 0);
	walk(vs, "");
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
			files_total++;
			bytes_total += e->size;
		}
	}

	dr_progress_phase(vs->progress_slot, "checksumming files", files_total, bytes_total);
	mfhash_start_iterate(vs->files, &it);
	while ((e = mfhash_iterate(vs->files, &it)) != NULL)
	{
		if (!e->matched || e->bad || e->algorithm == CHECKSUM_TYPE_NONE)
			continue;
		checksum_file(vs, e, files_done);
		files_done++;
		dr_progress_advance(vs->progress_slot, files_done, vs->bytes_checksummed);
	}
}
