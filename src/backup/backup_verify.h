/*-------------------------------------------------------------------------
 *
 * backup_verify.h
 *	  Verification of a plain-format pg_basebackup directory against its
 *	  backup_manifest (dr_verify_backup_internal()): the state the three
 *	  parts of the verification share.
 *
 *	  backup_verify.c		the SQL entry point, the problem list, the result
 *	  backup_verify_files.c	the manifest's files: on disk, sizes, checksums
 *	  backup_verify_wal.c	pg_control, backup_label, the WAL segments the
 *							manifest needs, the stop time
 *
 * Everything here runs in the verification's own memory context, in one
 * backend, with no lock held.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_VERIFY_H
#define TENSAFE_DR_BACKUP_VERIFY_H

#include "access/xlogdefs.h"

#include "manifest.h"

/* One problem found: the file it is about, and what is wrong. */
typedef struct DrVerifyProblem
{
	char	   *file;
	char	   *problem;
} DrVerifyProblem;

/* The manifest's files by path (backup_verify_files.c). */
struct mfhash_hash;

typedef struct DrVerifyState
{
	char	   *dir;			/* resolved backup directory */
	struct mfhash_hash *files;
	int			nfiles;
	uint64		total_bytes;	/* sum of the manifest's sizes */
	DrManifestWalRange *ranges;
	int			nranges;
	int			maxranges;
	bool		algorithms[CHECKSUM_TYPE_SHA512 + 1];

	DrVerifyProblem *problems;
	int			nproblems;
	int			maxproblems;

	/* from global/pg_control, if readable */
	bool		have_control;
	uint64		control_sysid;
	uint32		seg_size;

	/* from backup_label */
	char	   *label;
	char	   *start_time;
	char	   *backup_method;
	XLogRecPtr	label_start_lsn;
	TimeLineID	label_tli;

	int			progress_slot;
	char	   *buf;			/* DR_READ_CHUNK */
	int64		bytes_checksummed;
	int			wal_needed;
	int			wal_missing;
} DrVerifyState;

/* backup_verify.c */
extern void dr_verify_add_problem(DrVerifyState *vs, const char *file, const char *fmt,...) pg_attribute_printf(3, 4);

/* backup_verify_files.c */
extern void dr_verify_files_begin(DrVerifyState *vs, DrManifestCallbacks *cb);
extern void dr_verify_files(DrVerifyState *vs);

/* backup_verify_wal.c */
extern void dr_verify_read_control(DrVerifyState *vs);
extern void dr_verify_read_backup_label(DrVerifyState *vs);
extern void dr_verify_wal(DrVerifyState *vs);
extern char *dr_verify_stop_time(DrVerifyState *vs, const char **source);

#endif							/* TENSAFE_DR_BACKUP_VERIFY_H */
