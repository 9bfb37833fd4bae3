/*-------------------------------------------------------------------------
 *
 * backup_files.h
 *	  File helpers of the backup functions (backup_files.c): reading small
 *	  files whole, the backup_label format, LSN text, dr_file_sha256().
 *
 * Files are opened by backup_paths.c's walk (dr_backup_open*()).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_FILES_H
#define TENSAFE_DR_BACKUP_FILES_H

#include <sys/stat.h>

#include "access/xlogdefs.h"

/* Files are read and hashed in chunks of this size. */
#define DR_READ_CHUNK	(128 * 1024)

extern char *dr_read_fd(int fd, const struct stat *st, const char *shown, size_t *len_out);
extern char *dr_read_small_at(int dirfd, const char *rel, size_t limit, size_t *len_out);
extern char *dr_label_value(char *data, const char *key);
extern bool dr_parse_lsn_text(const char *s, XLogRecPtr *out);

#endif							/* TENSAFE_DR_BACKUP_FILES_H */
