/*-------------------------------------------------------------------------
 *
 * wal_archive.c
 *	  The one owner of "is this WAL segment in the archive"
 *	  (tensafe_dr.wal_archive_dir, or a backup's pg_wal): both
 *	  dr_verify_backup() and dr_pitr_plan() ask here, and each states which
 *	  of the answers it accepts (see wal_archive.h).
 *
 * A segment is looked up by a name the caller built with XLogFileName(),
 * in a directory the administrator configured or one under
 * tensafe_dr.backup_root; nothing is opened, one stat() per candidate
 * name.  No locks, no shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "backup_paths.h"
#include "wal_archive.h"

/*
 * Suffixes an archive_command may have added when it compressed a
 * segment (gzip, lz4, zstd, bzip2, xz).
 */
static const char *const compressed_suffixes[] = {".gz", ".lz4", ".zst", ".bz2", ".xz"};

/*
 * dr_wal_archive_dir
 *		The configured WAL archive directory, or NULL when none is set.
 *		Points into GUC storage; do not free.
 */
const char *
dr_wal_archive_dir(void)
{
	if (dr_wal_archive_dir_setting == NULL || dr_wal_archive_dir_setting[0] == '\0')
		return NULL;
	return dr_wal_archive_dir_setting;
}

/*
 * dr_wal_segment_state
 *		What 'dir' holds of WAL segment 'name' (dir NULL or empty: nothing):
 *		a complete plain file of seg_size bytes, else a file under a
 *		compression suffix, else nothing usable.
 */
DrWalSegmentState
dr_wal_segment_state(const char *dir, const char *name, uint32 seg_size)
{
	struct stat st;
	char	   *path;
	bool		plain;
	int			i;

	if (dir == NULL || dir[0] == '\0')
		return DR_WAL_SEGMENT_ABSENT;

	path = psprintf("%s/%s", dir, name);
	plain = stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == (off_t) seg_size;
	pfree(path);
	if (plain)
		return DR_WAL_SEGMENT_PLAIN;

	for (i = 0; i < lengthof(compressed_suffixes); i++)
	{
		bool		found;

		path = psprintf("%s/%s%s", dir, name, compressed_suffixes[i]);
		found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		pfree(path);
		if (found)
			return DR_WAL_SEGMENT_COMPRESSED;
	}
	return DR_WAL_SEGMENT_ABSENT;
}
