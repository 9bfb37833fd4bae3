/*-------------------------------------------------------------------------
 *
 * backup_verify.h
 *	  Verification of a plain-format pg_basebackup directory against its
 *	  backup_manifest, and SHA-256 of artifacts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_VERIFY_H
#define TENSAFE_DR_BACKUP_VERIFY_H

#include "access/xlogdefs.h"

/* Files are read and hashed in chunks of this size. */
#define DR_READ_CHUNK	(128 * 1024)

/* backup_files.c */
extern char *dr_read_whole_file(const char *path, size_t *len_out, size_t limit);
extern char *dr_label_value(char *data, const char *key);
extern bool dr_parse_lsn_text(const char *s, XLogRecPtr *out);
extern bool dr_wal_segment_present(const char *dir, const char *name, uint32 seg_size,
								   bool allow_compressed);

#endif							/* TENSAFE_DR_BACKUP_VERIFY_H */
