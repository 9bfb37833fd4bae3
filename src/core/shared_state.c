/*-------------------------------------------------------------------------
 *
 * shared_state.c
 *	  Allocation of tensafe_dr's shared memory and access to the sample ring.
 *
 * Locking: see shared_state.h.  Every function here takes and releases
 * DrShared->lock itself, for a copy; callers must not hold it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "backup_progress.h"
#include "contact.h"
#include "journal.h"
#include "fence.h"
#include "shared_state.h"

DrSharedState *DrShared = NULL;

#define DR_LWLOCK_TRANCHE "tensafe_dr"
/* The tranche's locks (see shared_state.h for what each protects) */
#define DR_LWLOCK_SHARED	0	/* DrShared->lock */
#define DR_LWLOCK_JOURNAL	1	/* journal.c */
#define DR_LWLOCK_PROGRESS	2	/* backup_progress.c */
#define DR_LWLOCKS			3

/*
 * dr_shmem_request
 *		shmem_request_hook: reserve our segment and one named LWLock.
 */
void
dr_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(DrSharedState)) + dr_journal_shmem_size());
	RequestAddinShmemSpace(dr_progress_shmem_size());	/* backup verification */
	RequestAddinShmemSpace(dr_fence_shmem_size());	/* commits in flight */
	RequestNamedLWLockTranche(DR_LWLOCK_TRANCHE, DR_LWLOCKS);
}

/*
 * dr_shmem_startup
 *		shmem_startup_hook: attach to (and on first use initialize) the
 *		segment.  Runs in the postmaster at start and after a crash reset,
 *		so the ring starts empty after a crash.
 */
void
dr_shmem_startup(void)
{
	bool		found;
	LWLockPadded *locks;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	locks = GetNamedLWLockTranche(DR_LWLOCK_TRANCHE);
	DrShared = ShmemInitStruct("tensafe_dr", sizeof(DrSharedState), &found);
	if (!found)
	{
		memset(DrShared, 0, sizeof(DrSharedState));
		DrShared->lock = &locks[DR_LWLOCK_SHARED].lock;
		DrShared->recorded_rpo_state = -1;
		DrShared->standby_seen = false;
		DrShared->recorded_clock_skew = -1;
		DrShared->archive.recorded_failing = -1;
		pg_atomic_init_u32(&DrShared->wake_reasons, 0);
		/* the postmaster's working directory is the data directory */
		DrShared->fenced = dr_fence_file_is_ours();
		/* what this node knew of its primary before it stopped */
		dr_contact_load(&DrShared->primary_contact, &DrShared->primary_contact_lsn,
						&DrShared->primary_contact_local,
						&DrShared->clock_offset_known, &DrShared->clock_offset);
	}
	dr_journal_shmem_init(&locks[DR_LWLOCK_JOURNAL].lock);
	dr_progress_shmem_init(&locks[DR_LWLOCK_PROGRESS].lock);
	dr_fence_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/* Ring slot of the i-th oldest sample still held (0 = oldest). */
static inline int
ring_slot(uint64 taken, int i)
{
	uint64		held = Min(taken, (uint64) DR_RING_SIZE);

	return (int) ((taken - held + i) % DR_RING_SIZE);
}

static inline int
ring_count(void)
{
	return (int) Min(DrShared->samples_taken, (uint64) DR_RING_SIZE);
}

/*
 * dr_ring_push
 *		Append a sample, overwriting the oldest once the ring is full.
 */
void
dr_ring_push(const DrSample *sample)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->ring[DrShared->samples_taken % DR_RING_SIZE] = *sample;
	DrShared->samples_taken++;
	LWLockRelease(DrShared->lock);
}

/*
 * dr_ring_latest
 *		Copy the newest sample into *out; false if there is none yet.
 */
bool
dr_ring_latest(DrSample *out)
{
	bool		have;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	have = DrShared->samples_taken > 0;
	if (have)
		*out = DrShared->ring[(DrShared->samples_taken - 1) % DR_RING_SIZE];
	LWLockRelease(DrShared->lock);
	return have;
}

/*
 * first_date_past
 *		Binary search of ascending dating points (n of them, the i-th at
 *		slot (start + i) % size) for the first one past 'lsn'.  Caller holds
 *		the lock.
 */
static bool
first_date_past(const DrDate *dates, int size, uint64 start, int n,
				XLogRecPtr lsn, TimestampTz *at)
{
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (dates[(start + mid) % size].lsn > lsn)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo >= n)
		return false;
	*at = dates[(start + lo) % size].at;
	return true;
}

/*
 * dr_ring_first_past
 *		Time of the oldest sample whose primary_lsn is beyond 'lsn': the first
 *		moment this node knew the primary had WAL past that point.  Binary
 *		search, relying on primary_lsn never going backwards.
 *
 *		When the oldest sample held is already past 'lsn' (the WAL is older
 *		than the ring, which starts empty at every start), the persisted
 *		dating points (DrDate: dr_wal_positions, heartbeats in the WAL held)
 *		are searched too, and the earliest answer wins: each says truly that
 *		the primary was past 'lsn' by then.
 *
 *		*found is false when nothing is past 'lsn' (the primary got there
 *		after the newest sample, or never did).  *oldest_at receives the
 *		time of the oldest sample held (0 if none), so that a caller can tell
 *		"older than the ring" from an exact answer.
 */
TimestampTz
dr_ring_first_past(XLogRecPtr lsn, bool *found, TimestampTz *oldest_at)
{
	int			lo,
				hi;
	uint64		taken;
	TimestampTz result = 0;

	*found = false;
	*oldest_at = 0;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	taken = DrShared->samples_taken;
	lo = 0;
	hi = ring_count();
	if (hi > 0)
		*oldest_at = DrShared->ring[ring_slot(taken, 0)].at;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (DrShared->ring[ring_slot(taken, mid)].primary_lsn > lsn)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < ring_count())
	{
		*found = true;
		result = DrShared->ring[ring_slot(taken, lo)].at;
	}
	if (lo == 0)
	{
		TimestampTz at;
		uint64		hb = DrShared->heartbeats_found;
		int			n_hb = (int) Min(hb, (uint64) DR_DATES_SIZE);
		TimeOffset	offset = DrShared->clock_offset_known ? DrShared->clock_offset : 0;

		if (first_date_past(DrShared->positions, DR_DATES_SIZE, 0,
							DrShared->n_positions, lsn, &at) &&
			(!*found || at + offset < result))
		{
			*found = true;
			result = at + offset;
		}
		if (first_date_past(DrShared->heartbeats, DR_DATES_SIZE, hb - n_hb,
							n_hb, lsn, &at) &&
			(!*found || at + offset < result))
		{
			*found = true;
			result = at + offset;
		}
	}
	LWLockRelease(DrShared->lock);
	return result;
}

/*
 * dr_contact_get / dr_contact_get_local / dr_contact_publish
 *		This node's last contact with the primary (0: none): the primary's
 *		time in the newest heartbeat and its end; and when it arrived, on
 *		this node's clock, which every age is measured from.  Only the
 *		worker publishes, and only what is already durable (contact.c).
 */
TimestampTz
dr_contact_get(XLogRecPtr *lsn)
{
	TimestampTz at;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	at = DrShared->primary_contact;
	if (lsn)
		*lsn = DrShared->primary_contact_lsn;
	LWLockRelease(DrShared->lock);
	return at;
}

TimestampTz
dr_contact_get_local(void)
{
	TimestampTz at;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	at = DrShared->primary_contact_local;
	LWLockRelease(DrShared->lock);
	return at;
}

void
dr_contact_publish(TimestampTz at, XLogRecPtr lsn, TimestampTz local_at)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	if (at > DrShared->primary_contact)
	{
		DrShared->primary_contact = at;
		DrShared->primary_contact_lsn = lsn;
		DrShared->primary_contact_local = Max(local_at, DrShared->primary_contact_local);
	}
	LWLockRelease(DrShared->lock);
}

/*
 * dr_clock_offset_get / dr_clock_offset_set
 *		The estimated offset of this node's clock from the primary's
 *		(clock.c); the getter returns false (and *offset 0) when unknown.
 */
bool
dr_clock_offset_get(TimeOffset *offset)
{
	bool		known;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	known = DrShared->clock_offset_known;
	*offset = known ? DrShared->clock_offset : 0;
	LWLockRelease(DrShared->lock);
	return known;
}

void
dr_clock_offset_set(bool known, TimeOffset offset)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->clock_offset_known = known;
	DrShared->clock_offset = known ? offset : 0;
	LWLockRelease(DrShared->lock);
}

/*
 * dr_dates_set_positions
 *		Replace the dating points read from dr_wal_positions (ascending by
 *		time; points that would make the positions go backwards, such as
 *		another timeline's, are dropped).
 */
void
dr_dates_set_positions(const DrDate *dates, int n)
{
	int			i,
				kept = 0;

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n && kept < DR_DATES_SIZE; i++)
	{
		if (kept > 0 && (dates[i].lsn <= DrShared->positions[kept - 1].lsn ||
						 dates[i].at < DrShared->positions[kept - 1].at))
			continue;
		DrShared->positions[kept++] = dates[i];
	}
	DrShared->n_positions = kept;
	LWLockRelease(DrShared->lock);
}

/*
 * dr_dates_push_heartbeat
 *		Remember a heartbeat found in the WAL as a dating point, unless it
 *		would make the points go backwards (WAL read again after a restart).
 */
void
dr_dates_push_heartbeat(XLogRecPtr lsn, TimestampTz at)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	if (DrShared->heartbeats_found == 0 ||
		(lsn > DrShared->heartbeats[(DrShared->heartbeats_found - 1) % DR_DATES_SIZE].lsn &&
		 at >= DrShared->heartbeats[(DrShared->heartbeats_found - 1) % DR_DATES_SIZE].at))
	{
		DrShared->heartbeats[DrShared->heartbeats_found % DR_DATES_SIZE] = (DrDate) {lsn, at};
		DrShared->heartbeats_found++;
	}
	LWLockRelease(DrShared->lock);
}

/*
 * dr_ring_copy
 *		Copy up to 'max' of the newest samples into out[], oldest first.
 *		Returns how many were copied.  The caller allocates out[].
 */
int
dr_ring_copy(DrSample *out, int max)
{
	int			n,
				skip,
				i;
	uint64		taken;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	taken = DrShared->samples_taken;
	n = Min(ring_count(), max);
	skip = ring_count() - n;
	for (i = 0; i < n; i++)
		out[i] = DrShared->ring[ring_slot(taken, skip + i)];
	LWLockRelease(DrShared->lock);
	return n;
}

/*
 * dr_worker_set_pid
 *		Advertise (pid != 0) or withdraw (pid == 0) the running worker.
 */
void
dr_worker_set_pid(pid_t pid, TimestampTz started_at)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->worker_pid = pid;
	DrShared->worker_started_at = started_at;
	DrShared->worker_latch = pid != 0 ? MyLatch : NULL;
	LWLockRelease(DrShared->lock);
}

/*
 * dr_notifier_set_latch
 *		Advertise (latch != NULL) or withdraw the running notifier's latch.
 */
void
dr_notifier_set_latch(Latch *latch)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->notifier_latch = latch;
	LWLockRelease(DrShared->lock);
}

/*
 * dr_note_heartbeat
 *		Record the last heartbeat this (primary) node wrote.
 */
void
dr_note_heartbeat(TimestampTz at, XLogRecPtr lsn)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->last_heartbeat_at = at;
	DrShared->last_heartbeat_lsn = lsn;
	LWLockRelease(DrShared->lock);
}

void
dr_worker_info(DrWorkerInfo *out)
{
	LWLockAcquire(DrShared->lock, LW_SHARED);
	out->worker_pid = DrShared->worker_pid;
	out->worker_started_at = DrShared->worker_started_at;
	out->samples_taken = DrShared->samples_taken;
	out->last_heartbeat_at = DrShared->last_heartbeat_at;
	out->last_heartbeat_lsn = DrShared->last_heartbeat_lsn;
	LWLockRelease(DrShared->lock);
}

/*
 * dr_set_catalog_summary / dr_get_catalog_summary
 *		The open incident and the last event, as last read from the catalog
 *		by the worker, so that dr_status() needs no catalog access.  The
 *		setter returns whether the open incident changed.
 */
bool
dr_set_catalog_summary(int64 open_incident, const char *last_event)
{
	bool		incident_changed;

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	incident_changed = DrShared->open_incident != open_incident;
	DrShared->open_incident = open_incident;
	strlcpy(DrShared->last_event, last_event ? last_event : "", sizeof(DrShared->last_event));
	LWLockRelease(DrShared->lock);
	return incident_changed;
}

void
dr_get_catalog_summary(int64 *open_incident, char *last_event, Size len)
{
	LWLockAcquire(DrShared->lock, LW_SHARED);
	*open_incident = DrShared->open_incident;
	strlcpy(last_event, DrShared->last_event, len);
	LWLockRelease(DrShared->lock);
}

/*
 * dr_set_backup_summary / dr_get_backup_summary
 *		The stop time of the newest successfully verified backup (0: none),
 *		as last read from dr_backups by the worker, for dr_status().
 */
void
dr_set_backup_summary(TimestampTz newest_backup_at)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->newest_backup_at = newest_backup_at;
	LWLockRelease(DrShared->lock);
}

TimestampTz
dr_get_backup_summary(void)
{
	TimestampTz result;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	result = DrShared->newest_backup_at;
	LWLockRelease(DrShared->lock);
	return result;
}

/*
 * dr_remembered_publish / dr_remembered_copy
 *		The standby registry's mirror (see DrRemembered): published by the
 *		worker after each look at dr_standbys, copied whole by readers
 *		(out must hold DR_REMEMBERED_MAX entries).  *loaded tells whether
 *		the worker has looked since this server started.
 */
void
dr_remembered_publish(const DrRemembered *standbys, int n)
{
	DrRemembered *next = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	int			i;
	int			j;

	n = Min(Max(n, 0), DR_REMEMBERED_MAX);
	if (n > 0)
		memcpy(next, standbys, sizeof(DrRemembered) * n);
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	/* what was recorded of each standby outlives the look (by name) */
	for (i = 0; i < n; i++)
	{
		next[i].recorded_state = -1;
		for (j = 0; j < DrShared->n_remembered; j++)
			if (strcmp(DrShared->remembered[j].name, next[i].name) == 0)
			{
				next[i].recorded_state = DrShared->remembered[j].recorded_state;
				break;
			}
	}
	if (n > 0)
		memcpy(DrShared->remembered, next, sizeof(DrRemembered) * n);
	DrShared->n_remembered = n;
	DrShared->remembered_loaded = true;
	LWLockRelease(DrShared->lock);
}

/* The state last journalled for a standby (STANDBY_LAGGING / CAUGHT_UP) */
void
dr_remembered_set_recorded(const char *name, int8 state)
{
	int			i;

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	for (i = 0; i < DrShared->n_remembered; i++)
		if (strcmp(DrShared->remembered[i].name, name) == 0)
			DrShared->remembered[i].recorded_state = state;
	LWLockRelease(DrShared->lock);
}

int
dr_remembered_copy(DrRemembered *out, bool *loaded)
{
	int			n;

	if (DrShared == NULL)
	{
		if (loaded)
			*loaded = false;
		return 0;
	}
	LWLockAcquire(DrShared->lock, LW_SHARED);
	n = DrShared->n_remembered;
	if (n > 0)
		memcpy(out, DrShared->remembered, sizeof(DrRemembered) * n);
	if (loaded)
		*loaded = DrShared->remembered_loaded;
	LWLockRelease(DrShared->lock);
	return n;
}

/*
 * dr_remembered_note_positions
 *		The worker, every sample on a primary: the positions the walsenders
 *		'pids' report now, into the remembered standbys they stream to (by
 *		pid, as mapped at the worker's last look), seen at 'at'.  Invalid
 *		positions (not reported yet) are skipped.
 */
void
dr_remembered_note_positions(const pid_t *pids, const XLogRecPtr *flush,
							 const XLogRecPtr *replay, int n, TimestampTz at)
{
	int			i,
				j;

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	for (i = 0; i < DrShared->n_remembered; i++)
	{
		DrRemembered *r = &DrShared->remembered[i];

		if (r->pid == 0)
			continue;
		for (j = 0; j < n; j++)
		{
			if (pids[j] != r->pid || XLogRecPtrIsInvalid(flush[j]))
				continue;
			r->flush_lsn = flush[j];
			if (!XLogRecPtrIsInvalid(replay[j]))
				r->replay_lsn = replay[j];
			r->last_seen = at;
			break;
		}
	}
	LWLockRelease(DrShared->lock);
}
