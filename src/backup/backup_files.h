/*-------------------------------------------------------------------------
 *
 * backup_files.h
 *	  File helpers of the backup functions (backup_files.c): reading small
 *	  files whole, the backup_label format, LSN text, dr_file_sha256().
 *
 * Callers pass paths already checked against tensafe_dr.backup_root
 * (backup_paths.h) or built from such a path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_FILES_H
#define TENSAFE_DR_BACKUP_FILES_H

#include "access/xlogdefs.h"

/* Files are read and hashed in chunks of this size. */
#define DR_READ_CHUNK	(128 * 1024)

extern char *dr_read_whole_file(const char *path, size_t *len_out, size_t limit);
extern char *dr_label_value(char *data, const char *key);
extern bool dr_parse_lsn_text(const char *s, XLogRecPtr *out);

#endif							/* TENSAFE_DR_BACKUP_FILES_H */
