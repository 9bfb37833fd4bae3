/*-------------------------------------------------------------------------
 *
 * backup_paths.h
 *	  Where tensafe_dr may read backup files: tensafe_dr.backup_root and
 *	  tensafe_dr.wal_archive_dir, and the one opener every file-reading
 *	  function goes through (backup_paths.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_PATHS_H
#define TENSAFE_DR_BACKUP_PATHS_H

#include <dirent.h>
#include <sys/stat.h>

extern char *dr_backup_root;
extern char *dr_wal_archive_dir_setting;
extern int	dr_backup_max_age_s;
extern int	dr_max_manifest_size_kb;

/* tensafe_dr.max_manifest_size's upper limit: the JSON parser takes an int length */
#define DR_MAX_MANIFEST_SIZE_LIMIT_KB	(2 * 1024 * 1024 - 1)

typedef enum DrOpenResult
{
	DR_OPEN_OK,
	DR_OPEN_OUTSIDE,			/* not under a root, or through a symbolic link */
	DR_OPEN_FAILED				/* errno says why */
} DrOpenResult;

extern void dr_define_backup_gucs(void);

extern int	dr_backup_open(const char *path, struct stat *st);
extern int	dr_backup_open_quiet(const char *path, struct stat *st, DrOpenResult *res);
extern int	dr_backup_openat(int dirfd, const char *rel, struct stat *st, DrOpenResult *res);
extern int	dr_backup_open_config_dir(const char *path);
extern void dr_backup_close(int fd);
extern DIR *dr_backup_fdopendir(int fd);
extern void dr_backup_closedir(DIR *d);
extern char *dr_backup_canonical_path(const char *path);

#endif							/* TENSAFE_DR_BACKUP_PATHS_H */
