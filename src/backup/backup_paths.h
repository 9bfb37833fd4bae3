/*-------------------------------------------------------------------------
 *
 * backup_paths.h
 *	  Where tensafe_dr may read backup files: tensafe_dr.backup_root and
 *	  tensafe_dr.wal_archive_dir, and the path checks every file-reading
 *	  function goes through.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_PATHS_H
#define TENSAFE_DR_BACKUP_PATHS_H

extern char *dr_backup_root;
extern char *dr_wal_archive_dir_setting;
extern int	dr_backup_max_age_s;

extern void dr_define_backup_gucs(void);
extern char *dr_resolve_backup_path(const char *path);
extern bool dr_path_under_backup_root(const char *resolved);

#endif							/* TENSAFE_DR_BACKUP_PATHS_H */
