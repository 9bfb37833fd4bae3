/*-------------------------------------------------------------------------
 *
 * wal_archive.c
 *	  The one owner of "is this WAL segment in the archive"
 *	  (tensafe_dr.wal_archive_dir, or a backup's pg_wal): both
 *	  dr_verify_backup() and dr_pitr_plan() ask here, and each states which
 *	  of the answers it accepts (see wal_archive.h).
 *
 * Two ways to ask, one rule: dr_wal_segment_state() looks up a name the
 * caller built with XLogFileName() in the directory the administrator
 * configured (one stat() per candidate name; dr_pitr_plan()), and
 * dr_wal_dirent_state() judges one entry of a directory being listed
 * (dr_verify_backup(), which lists the backup's pg_wal and the archive
 * rather than probing every segment of a WAL range, since a manifest can
 * claim a range of any length).  Nothing is opened: stat() / fstatat()
 * without following a symbolic link in the directory.  No locks, no shared
 * memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "access/xlog_internal.h"

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

/*
 * dr_wal_dirent_state
 *		What entry 'name' of the directory open on dirfd holds: a WAL
 *		segment name of seg_size bytes as a plain regular file (PLAIN), a
 *		segment name with a compression suffix on a regular file
 *		(COMPRESSED), else ABSENT (not a segment name, not a regular file, a
 *		symbolic link, a partial plain copy).  *tli and *segno are set when
 *		it is not ABSENT.
 */
DrWalSegmentState
dr_wal_dirent_state(int dirfd, const char *name, uint32 seg_size,
					TimeLineID *tli, XLogSegNo *segno)
{
	struct stat st;
	char		base[XLOG_FNAME_LEN + 1];
	const char *suffix = name + XLOG_FNAME_LEN;
	bool		compressed = false;
	int			i;

	if (strlen(name) < XLOG_FNAME_LEN || strspn(name, "0123456789ABCDEF") < XLOG_FNAME_LEN)
		return DR_WAL_SEGMENT_ABSENT;
	memcpy(base, name, XLOG_FNAME_LEN);
	base[XLOG_FNAME_LEN] = '\0';
	if (!IsXLogFileName(base))
		return DR_WAL_SEGMENT_ABSENT;
	if (*suffix != '\0')
	{
		for (i = 0; i < lengthof(compressed_suffixes); i++)
			if (strcmp(suffix, compressed_suffixes[i]) == 0)
				compressed = true;
		if (!compressed)
			return DR_WAL_SEGMENT_ABSENT;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return DR_WAL_SEGMENT_ABSENT;
	if (!compressed && st.st_size != (off_t) seg_size)
		return DR_WAL_SEGMENT_ABSENT;
	XLogFromFileName(base, tli, segno, seg_size);
	return compressed ? DR_WAL_SEGMENT_COMPRESSED : DR_WAL_SEGMENT_PLAIN;
}
