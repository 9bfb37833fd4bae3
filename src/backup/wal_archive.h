/*-------------------------------------------------------------------------
 *
 * wal_archive.h
 *	  The one owner of "is this WAL segment in the archive": where the
 *	  archive is (tensafe_dr.wal_archive_dir) and what state a segment is
 *	  in there.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_WAL_ARCHIVE_H
#define TENSAFE_DR_WAL_ARCHIVE_H

#include "access/xlogdefs.h"

/*
 * What a directory holds of one WAL segment.  Each caller says which
 * states it accepts:
 *	- dr_pitr_plan() (dr_wal_archive_check(), pitr.c): only
 *	  DR_WAL_SEGMENT_PLAIN, since the restore_command the plan generates is a
 *	  plain cp;
 *	- dr_verify_backup() (backup_verify_wal.c): DR_WAL_SEGMENT_PLAIN in the
 *	  backup's own pg_wal (the server reads it as it is), PLAIN or
 *	  COMPRESSED in the archive (the WAL is preserved; a restore_command
 *	  that decompresses can use it).
 */
typedef enum DrWalSegmentState
{
	DR_WAL_SEGMENT_ABSENT,		/* no file, or a plain file that is not
								 * seg_size bytes (a partial copy) */
	DR_WAL_SEGMENT_PLAIN,		/* a regular file of exactly seg_size bytes */
	DR_WAL_SEGMENT_COMPRESSED	/* no complete plain file, but one under a
								 * compression suffix (size not checked) */
} DrWalSegmentState;

extern const char *dr_wal_archive_dir(void);
extern DrWalSegmentState dr_wal_segment_state(const char *dir, const char *name,
											  uint32 seg_size);
extern DrWalSegmentState dr_wal_dirent_state(int dirfd, const char *name, uint32 seg_size,
											 TimeLineID *tli, XLogSegNo *segno);

#endif							/* TENSAFE_DR_WAL_ARCHIVE_H */
