/*-------------------------------------------------------------------------
 *
 * backup_progress.c
 *	  A small array of progress slots in shared memory: a backend running
 *	  dr_verify_backup() takes one, updates it as it goes, and gives it
 *	  back when done (also on error or exit); dr_verify_progress() shows
 *	  them to other sessions.
 *
 * PostgreSQL 15 has no progress command type an extension may use
 * (pgstat_progress_start_command takes a fixed enum), hence this.
 *
 * Locking: one LWLock (the third of the tensafe_dr tranche) protects the
 * whole array: a backend updating its own slot takes it exclusively for a
 * few stores; dr_verify_progress() takes it shared to copy the array
 * (~17 kB: too long for a spinlock).  Nothing does I/O, allocates or
 * raises an error while holding it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "backup_progress.h"

typedef struct DrProgressSlot
{
	pid_t		pid;			/* 0 = free */
	TimestampTz started_at;
	char		path[MAXPGPATH];
	char		phase[32];
	int64		files_total;
	int64		files_done;
	int64		bytes_total;
	int64		bytes_done;
} DrProgressSlot;

typedef struct DrProgressShared
{
	LWLock	   *lock;
	DrProgressSlot slots[DR_PROGRESS_SLOTS];
} DrProgressShared;

static DrProgressShared *DrProgress = NULL;

PG_FUNCTION_INFO_V1(dr_verify_progress);

Size
dr_progress_shmem_size(void)
{
	return MAXALIGN(sizeof(DrProgressShared));
}

/*
 * dr_progress_shmem_init
 *		Attach to (and on first use initialize) the slots, protected by
 *		'lock'; called from the shmem_startup_hook with AddinShmemInitLock
 *		held.
 */
void
dr_progress_shmem_init(LWLock *lock)
{
	bool		found;

	DrProgress = ShmemInitStruct("tensafe_dr verify progress",
								 sizeof(DrProgressShared), &found);
	if (!found)
	{
		memset(DrProgress, 0, sizeof(DrProgressShared));
		DrProgress->lock = lock;
	}
}

/*
 * dr_progress_begin
 *		Take a free slot for this backend; returns its index, or -1 if all
 *		are taken (the verification then runs unobserved).
 */
int
dr_progress_begin(const char *path)
{
	int			i;
	int			slot = -1;
	TimestampTz now = GetCurrentTimestamp();

	if (DrProgress == NULL)
		return -1;
	LWLockAcquire(DrProgress->lock, LW_EXCLUSIVE);
	for (i = 0; i < DR_PROGRESS_SLOTS; i++)
	{
		DrProgressSlot *s = &DrProgress->slots[i];

		if (s->pid == 0)
		{
			memset(s, 0, sizeof(DrProgressSlot));
			s->pid = MyProcPid;
			s->started_at = now;
			strlcpy(s->path, path, sizeof(s->path));
			strlcpy(s->phase, "reading manifest", sizeof(s->phase));
			slot = i;
			break;
		}
	}
	LWLockRelease(DrProgress->lock);
	return slot;
}

void
dr_progress_phase(int slot, const char *phase, int64 files_total, int64 bytes_total)
{
	DrProgressSlot *s;

	if (slot < 0)
		return;
	s = &DrProgress->slots[slot];
	LWLockAcquire(DrProgress->lock, LW_EXCLUSIVE);
	strlcpy(s->phase, phase, sizeof(s->phase));
	s->files_total = files_total;
	s->bytes_total = bytes_total;
	s->files_done = 0;
	s->bytes_done = 0;
	LWLockRelease(DrProgress->lock);
}

void
dr_progress_advance(int slot, int64 files_done, int64 bytes_done)
{
	DrProgressSlot *s;

	if (slot < 0)
		return;
	s = &DrProgress->slots[slot];
	LWLockAcquire(DrProgress->lock, LW_EXCLUSIVE);
	s->files_done = files_done;
	s->bytes_done = bytes_done;
	LWLockRelease(DrProgress->lock);
}

/*
 * Give the slot back; safe to call twice and from error cleanup or process
 * exit (taking the lock there is safe: no error is ever raised while this
 * backend holds it, and interrupts are held off while it does).
 */
void
dr_progress_end(int slot)
{
	if (slot < 0 || DrProgress == NULL)
		return;
	LWLockAcquire(DrProgress->lock, LW_EXCLUSIVE);
	if (DrProgress->slots[slot].pid == MyProcPid)
		DrProgress->slots[slot].pid = 0;
	LWLockRelease(DrProgress->lock);
}

/*
 * dr_verify_progress() - one row per running verification.
 */
Datum
dr_verify_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DrProgressSlot copy[DR_PROGRESS_SLOTS];
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (DrProgress == NULL)
		return (Datum) 0;
	LWLockAcquire(DrProgress->lock, LW_SHARED);
	memcpy(copy, DrProgress->slots, sizeof(copy));
	LWLockRelease(DrProgress->lock);

	for (i = 0; i < DR_PROGRESS_SLOTS; i++)
	{
		Datum		values[8];
		bool		nulls[8];
		DrProgressSlot *s = &copy[i];

		if (s->pid == 0)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(s->pid);
		values[1] = CStringGetTextDatum(s->path);
		values[2] = CStringGetTextDatum(s->phase);
		values[3] = TimestampTzGetDatum(s->started_at);
		values[4] = Int64GetDatum(s->files_done);
		values[5] = Int64GetDatum(s->files_total);
		values[6] = Int64GetDatum(s->bytes_done);
		values[7] = Int64GetDatum(s->bytes_total);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
