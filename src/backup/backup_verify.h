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
 *	  verify_parallel.c		the checksums computed by background workers
 *							(tensafe_dr.verify_workers)
 *
 * Everything here runs in the verification's own memory context, in one
 * backend, with no lock held; only dr_verify_checksum_file() also runs in
 * the verification workers (verify_parallel.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_VERIFY_H
#define TENSAFE_DR_BACKUP_VERIFY_H

#include <time.h>

#include "access/xlogdefs.h"
#include "nodes/pg_list.h"

#include "manifest.h"

/*
 * At most this many problems are listed (the first found, then sorted by
 * file); the rest are counted (nproblems_total) and summed up in one last
 * row "N more problems not listed".  A listing is for a person to read;
 * past a hundred the count says what matters, and the list stays bounded
 * whatever a hostile manifest claims.
 */
#define DR_VERIFY_MAX_PROBLEMS	100

/* One problem found: the file it is about, and what is wrong. */
typedef struct DrVerifyProblem
{
	char	   *file;
	char	   *problem;
} DrVerifyProblem;

/* The manifest's files by path (backup_verify_files.c). */
struct mfhash_hash;

/*
 * A symbolic link inside the backup (pg_tblspc/<oid>) whose absolute target
 * opened under tensafe_dr.backup_root: files below 'rel' are opened as
 * target + the rest, by backup_paths.c's walk.
 */
typedef struct DrVerifyLink
{
	char	   *rel;
	char	   *target;
} DrVerifyLink;

typedef struct DrVerifyState
{
	char	   *dir;			/* backup directory, canonical */
	int			dirfd;			/* ... opened by dr_backup_open() */
	time_t		manifest_mtime;
	List	   *links;			/* DrVerifyLink */
	struct mfhash_hash *files;
	int			nfiles;
	uint64		total_bytes;	/* sum of the manifest's sizes */
	DrManifestWalRange *ranges;
	int			nranges;
	int			maxranges;
	bool		algorithms[CHECKSUM_TYPE_SHA512 + 1];

	DrVerifyProblem *problems;	/* DR_VERIFY_MAX_PROBLEMS of them */
	int			nproblems;		/* listed */
	int64		nproblems_total;	/* listed and not */

	/* from global/pg_control, if readable */
	bool		have_control;
	uint64		control_sysid;
	uint32		seg_size;
	XLogRecPtr	control_checkpoint; /* the latest checkpoint it records */

	/* from backup_label */
	char	   *label;
	char	   *start_time;
	char	   *backup_method;
	XLogRecPtr	label_start_lsn;
	TimeLineID	label_tli;

	int			progress_slot;
	char	   *buf;			/* DR_READ_CHUNK */
	int64		bytes_checksummed;
	int64		wal_needed;
	int64		wal_missing;
	bool		wal_checked;	/* false: the ranges did not match the backup */
	int			workers_requested;	/* tensafe_dr.verify_workers, resolved */
	int			workers_used;	/* workers that checksummed; 0 = serial */
} DrVerifyState;

/*
 * What checksumming one file found (dr_verify_checksum_file()): plain
 * values, so that a verification worker can hand it back through shared
 * memory, and dr_verify_report_file() alone turns it into a problem.
 */
typedef enum DrFileVerdict
{
	DR_FILE_OK,
	DR_FILE_BAD_CHECKSUM_LENGTH,	/* the manifest's checksum has the wrong length */
	DR_FILE_OUTSIDE,			/* became a symbolic link */
	DR_FILE_OPEN_FAILED,		/* err */
	DR_FILE_NOT_REGULAR,
	DR_FILE_READ_FAILED,		/* err */
	DR_FILE_SIZE_CHANGED,		/* bytes_read differs from the manifest */
	DR_FILE_MISMATCH
} DrFileVerdict;

typedef struct DrFileResult
{
	int32		verdict;		/* DrFileVerdict */
	int32		err;			/* errno, for OPEN_FAILED and READ_FAILED */
	uint64		bytes_read;
} DrFileResult;

/* One file to checksum: what the manifest says of it, and the result. */
typedef struct DrVerifyItem
{
	const char *path;
	uint64		size;
	pg_checksum_type algorithm;
	int			checksum_len;
	const uint8 *checksum;
	DrFileResult result;
} DrVerifyItem;

/* Called after each chunk read with the chunk's length. */
typedef void (*DrVerifyAdvance) (void *arg, int64 bytes);

/* backup_verify.c */
extern void dr_verify_add_problem(DrVerifyState *vs, const char *file, const char *fmt,...) pg_attribute_printf(3, 4);
extern bool dr_verify_list_full(DrVerifyState *vs);
extern void dr_verify_count_problems(DrVerifyState *vs, int64 n);

/* backup_verify_files.c */
extern void dr_verify_files_begin(DrVerifyState *vs, DrManifestCallbacks *cb);
extern void dr_verify_files(DrVerifyState *vs);
extern int	dr_verify_follow_link(DrVerifyState *vs, int dirfd, const char *name,
								  const char *rel, char **target_out);
extern void dr_verify_checksum_file(int dirfd, List *links, DrVerifyItem *item,
									char *buf, DrVerifyAdvance advance, void *arg);
extern void dr_verify_report_file(DrVerifyState *vs, const DrVerifyItem *item);

/* verify_parallel.c */
extern int	dr_verify_workers_wanted(void);
extern bool dr_verify_parallel(DrVerifyState *vs, DrVerifyItem *items, int nitems,
							   int nworkers);

/* backup_verify_wal.c */
extern void dr_verify_read_control(DrVerifyState *vs);
extern void dr_verify_read_backup_label(DrVerifyState *vs);
extern void dr_verify_wal(DrVerifyState *vs);
extern char *dr_verify_stop_time(DrVerifyState *vs, const char **source);

#endif							/* TENSAFE_DR_BACKUP_VERIFY_H */
