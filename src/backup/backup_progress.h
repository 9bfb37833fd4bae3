/*-------------------------------------------------------------------------
 *
 * backup_progress.h
 *	  Progress of running backup verifications, in shared memory, for
 *	  dr_verify_progress().
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BACKUP_PROGRESS_H
#define TENSAFE_DR_BACKUP_PROGRESS_H

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

/* Verifications that can be watched at the same time; more still run. */
#define DR_PROGRESS_SLOTS	16

extern Size dr_progress_shmem_size(void);
extern void dr_progress_shmem_init(LWLock *lock);
extern int	dr_progress_begin(const char *path);
extern void dr_progress_phase(int slot, const char *phase, int64 files_total,
							  int64 bytes_total);
extern void dr_progress_advance(int slot, int64 files_done, int64 bytes_done);
extern void dr_progress_end(int slot);

#endif							/* TENSAFE_DR_BACKUP_PROGRESS_H */
