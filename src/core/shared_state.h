/*-------------------------------------------------------------------------
 *
 * shared_state.h
 *	  tensafe_dr's shared memory: the worker's bookkeeping and the ring of
 *	  time-stamped WAL-position samples that every lag figure is read from.
 *
 * Locking.  The "tensafe_dr" LWLock tranche has three locks, each
 * documented where it is used; the rules below are the ones the code obeys.
 *
 *	DrShared->lock (tranche lock 0) protects every field of DrSharedState
 *	but two:
 *	- wake_reasons, an atomic that anybody may OR bits into and the worker
 *	  and the notifier clear (wakeup.c);
 *	- fenced, written under the lock (by dr_set_fence() only, after the
 *	  fence file is durable: fence.c) but read without it by the executor
 *	  hooks, the commit check and dr_status(): a bool is read atomically;
 *	  fence.c orders it against its committing[] slots (atomics in a
 *	  segment of their own, each written by its backend) with full
 *	  memory barriers.
 *	Writers take it exclusively: the worker (samples, heartbeat, recorded
 *	RPO state, catalog and backup summaries, the standby registry,
 *	synchronous replication state, its pid and latch, the last contact --
 *	after its file is durable, never while writing it -- the clock offset
 *	and the CLOCK_SKEW state journalled, the dating points, its reading of
 *	pg_stat_archiver and the archive and slot states journalled), the
 *	notifier (its latch), dr_set_fence() (the flag).  Readers take it
 *	shared.  Either holds it only to copy: a few fields, one sample, a
 *	binary search of the ring and of the dating points, at most the whole ring (dr_samples(),
 *	~600 kB, what a dashboard asks for rarely).  Nobody does file or
 *	network I/O, waits, or raises an error while holding it, so dr_status()
 *	never waits on I/O behind it.  shared_state.c's functions take and
 *	release it themselves; callers must not hold it.
 *
 *	The journal's lock (tranche lock 1, journal.c) serializes appends and
 *	flush marks and is held across their fsync; its counters are atomics
 *	read without it (dr_status()'s pending_events).  See journal.c.
 *
 *	The backup progress lock (tranche lock 2, backup_progress.c) protects
 *	the verification progress slots.
 *
 *	The fence lock is a heavyweight lock (fence.c), taken by dr_set_fence()
 *	until its transaction ends; it is the only lock held while another is
 *	taken (DrShared->lock, to publish the flag).  No code path holds two of
 *	the LWLocks at once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_SHARED_STATE_H
#define TENSAFE_DR_SHARED_STATE_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "compat.h"

/* 8192 samples: 2 h 16 min at the default 1 s interval, 13 min at 100 ms */
#define DR_RING_SIZE 8192

typedef enum DrRole
{
	DR_ROLE_PRIMARY = 0,
	DR_ROLE_STANDBY = 1
} DrRole;

/* WAL receiver state as seen by a sample; DR_RECEIVER_NONE on a primary */
#define DR_RECEIVER_NONE	(-1)

/*
 * One sample.  primary_lsn is "how far the primary's WAL had got, as far as
 * this node knew at 'at'": on a primary its own flush position, on a standby
 * the sender's end of WAL last reported to the WAL receiver.  It never goes
 * backwards on one system, across a promotion included, which is what lets
 * the lag code binary-search the ring for "when did the primary pass X".
 */
typedef struct DrSample
{
	TimestampTz at;				/* local clock when taken */
	XLogRecPtr	primary_lsn;
	XLogRecPtr	insert_lsn;		/* primary: WAL insert position */
	XLogRecPtr	receive_lsn;	/* standby: held durably (flushed by the WAL
								 * receiver, replayed, or read as a heartbeat) */
	XLogRecPtr	replay_lsn;		/* standby: replayed by the startup process */
	TimestampTz last_contact;	/* standby: the last contact with the
								 * primary when taken, on this node's clock
								 * (primary_contact_local below) */
	XLogRecPtr	standby_min_flush;	/* primary: worst attached standby */
	XLogRecPtr	standby_min_replay;
	TimeLineID	timeline;
	int16		n_standbys;		/* primary: standbys attached */
	int8		role;			/* DrRole */
	int8		receiver_state; /* WalRcvState or DR_RECEIVER_NONE */
} DrSample;

/*
 * A persisted dating point: the primary was past 'lsn' at 'at' (its clock;
 * dr_ring_first_past() moves it onto this node's by the clock offset).
 * Two sources outlive a restart and date WAL older than the ring: the
 * primary's dr_wal_positions (read by the worker, they replicate), and the
 * heartbeats found in the WAL this node holds (contact.c).
 */
#define DR_DATES_SIZE 4096

typedef struct DrDate
{
	XLogRecPtr	lsn;
	TimestampTz at;
} DrDate;

/*
 * Synchronous replication as the primary's worker last saw it (sync_stall.c).
 * Written by the worker only, read by dr_status() and dr_sync_status(),
 * both under DrShared->lock.
 */
#define DR_SYNC_MISSING_LEN 128
typedef struct DrSyncState
{
	TimestampTz sampled_at;		/* 0: not sampled (a standby, or no worker) */
	int			waiting;		/* backends waiting for a synchronous standby */
	TimestampTz waiting_since;	/* sample that first saw the current wait */
	XLogRecPtr	released[3];	/* WalSndCtl->lsn[] at the last sample */
	int			required;		/* standbys the configuration needs, 0: none */
	int			available;		/* of them, streaming now */
	char		missing[DR_SYNC_MISSING_LEN];	/* named ones not streaming */
	char		sync_names[DR_SYNC_MISSING_LEN];	/* the sync standbys now,
													 * "\n"-separated */
	char		sync_dropped[DR_SYNC_MISSING_LEN];	/* left the sync set at
													 * this sample: SYNC_LOST
													 * if still out at the
													 * next */
	bool		stall_recorded; /* SYNC_STALL journalled, SYNC_RESUMED not yet */
	TimestampTz stall_since;	/* waiting_since of the recorded stall */
} DrSyncState;

/*
 * A standby the primary remembers (dr_standbys, mirrored by the worker:
 * standbys.c), for dr_status(), which reads no catalog.  pid is the
 * walsender that streamed to it at the worker's last look, 0 if none: a
 * remembered standby whose pid is not among the live walsenders is not
 * connected.  flush_lsn is InvalidXLogRecPtr for one declared and never
 * seen streaming.
 */
#define DR_REMEMBERED_MAX 64

typedef struct DrRemembered
{
	char		name[64];		/* application_name */
	pid_t		pid;
	bool		declared;
	TimestampTz last_seen;		/* 0: never seen */
	XLogRecPtr	flush_lsn;
	XLogRecPtr	replay_lsn;
	char		region[64];		/* declared, empty if not */
	char		purpose[4];		/* "ha", "dr", empty if not declared */
	int8		recorded_state; /* DrRpoState of its last STANDBY_LAGGING or
								 * STANDBY_CAUGHT_UP, -1 none: kept across
								 * publishes by name (standbys.c) */
} DrRemembered;

/*
 * The archiver of this node as the worker last read it (pg_stat_archiver;
 * archiver.c).  Written by the worker only, read by dr_status(), both
 * under DrShared->lock.
 */
#define DR_WAL_NAME_LEN 64
typedef struct DrArchiveState
{
	TimestampTz sampled_at;		/* 0: not read yet */
	XLogRecPtr	archived_upto;	/* end of the newest WAL segment seen
								 * archived (never goes back), or invalid */
	char		last_archived_wal[DR_WAL_NAME_LEN];
	TimestampTz last_archived_at;
	int64		failed_count;
	char		last_failed_wal[DR_WAL_NAME_LEN];
	TimestampTz last_failed_at;
	int			recorded_failing;	/* ARCHIVE_FAILING journalled: -1 not
									 * looked yet, 0 no, 1 yes */
} DrArchiveState;

/*
 * The state of each replication slot last recorded as an event by the
 * worker (slots.c), so that a restarted worker does not repeat itself.
 * Written and read by the worker only, under DrShared->lock.
 */
#define DR_SLOTS_TRACKED 64
typedef struct DrSlotRecord
{
	char		name[64];		/* NAMEDATALEN */
	int			state;			/* DrSlotState recorded */
	bool		seen;			/* scratch: seen at the current look */
} DrSlotRecord;

typedef struct DrSharedState
{
	LWLock	   *lock;
	pid_t		worker_pid;		/* 0 while no worker runs */
	TimestampTz worker_started_at;
	Latch	   *worker_latch;	/* NULL while no worker runs */
	Latch	   *notifier_latch; /* NULL while no notifier runs */
	pg_atomic_uint32 wake_reasons;	/* DR_WAKE_* bits not yet acted on */
	uint64		samples_taken;	/* next slot is samples_taken % DR_RING_SIZE */

	/* Primary: the last heartbeat written */
	TimestampTz last_heartbeat_at;
	XLogRecPtr	last_heartbeat_lsn;

	/* RPO state last recorded as an event by the worker (-1: none yet) */
	int			recorded_rpo_state;

	/*
	 * The worker's last sample taken while this node was a standby, for
	 * PROMOTION_DETECTED.  In shared memory, not in the worker, so that a
	 * worker restarted around the promotion still records it (and records
	 * it once).  Written and read by the worker only, under the lock.
	 */
	bool		standby_seen;	/* cleared once the promotion is recorded */
	TimeLineID	standby_timeline;
	TimestampTz standby_seen_at;
	TimeOffset	standby_loss;	/* possible loss at the last contact */
	TimeOffset	standby_rpo_lag;
	TimeOffset	standby_replay_lag;

	/*
	 * Fence: while set, regular backends run every statement read-only.
	 * Read without the lock by the executor hooks (a bool is read atomically
	 * and a statement racing dr_fence() may go either way); written under
	 * the lock by dr_set_fence() once pg_tensafe_dr/fenced, which makes it
	 * survive restarts, is durable (fence.c).
	 */
	bool		fenced;

	/* Refreshed by the worker from the catalog (see worker.c) */
	int64		open_incident;	/* 0 if none */
	char		last_event[96];	/* "EVENT_TYPE at <time>", empty if none */
	TimestampTz newest_backup_at;	/* stop time of the newest verified
									 * backup in dr_backups, 0 if none */

	/*
	 * Standby: the last contact with the primary, i.e. the newest primary
	 * heartbeat found in the WAL this node holds (contact.c): its time
	 * (primary clock, never later than when it was found) and end position.
	 * Written by the worker only after the same values are durable in
	 * pg_tensafe_dr/contact, so whatever dr_status() shows survives a
	 * restart; loaded from that file when shared memory is set up.
	 */
	TimestampTz primary_contact;	/* 0: none known */
	XLogRecPtr	primary_contact_lsn;
	TimestampTz primary_contact_local;	/* this node's clock when it arrived
										 * (contact.c): what ages are
										 * measured from */

	/*
	 * Standby: the estimated offset of this node's clock from the primary's
	 * (this node minus the primary; clock.c), by which times carried in the WAL
	 * (heartbeats, dr_wal_positions) are moved onto this node's clock.
	 * Written by the worker; persisted with the contact.
	 */
	bool		clock_offset_known;
	TimeOffset	clock_offset;
	int			recorded_clock_skew;	/* CLOCK_SKEW state journalled: -1
										 * none yet, 0 within, 1 skewed */

	/* Dating points older than the ring (see DrDate), ascending */
	int			n_positions;	/* from dr_wal_positions */
	DrDate		positions[DR_DATES_SIZE];
	uint64		heartbeats_found;	/* ring: next slot is % DR_DATES_SIZE */
	DrDate		heartbeats[DR_DATES_SIZE];

	DrSyncState sync;			/* synchronous replication (sync_stall.c) */

	DrArchiveState archive;		/* this node's archiver (archiver.c) */
	int			n_slot_records; /* replication slots (slots.c) */
	DrSlotRecord slot_records[DR_SLOTS_TRACKED];

	/* Primary: the standby registry (written by the worker only) */
	bool		remembered_loaded;	/* false until the worker's first look */
	int			n_remembered;
	DrRemembered remembered[DR_REMEMBERED_MAX];

	DrSample	ring[DR_RING_SIZE];
} DrSharedState;

extern DrSharedState *DrShared;

extern void dr_shmem_request(void);
extern void dr_shmem_startup(void);
extern void dr_ring_push(const DrSample *sample);
extern bool dr_ring_latest(DrSample *out);
extern TimestampTz dr_ring_first_past(XLogRecPtr lsn, bool *found,
									  TimestampTz *oldest_at);
extern int	dr_ring_copy(DrSample *out, int max);
extern void dr_worker_set_pid(pid_t pid, TimestampTz started_at);
extern void dr_notifier_set_latch(Latch *latch);
extern void dr_note_heartbeat(TimestampTz at, XLogRecPtr lsn);
extern TimestampTz dr_contact_get(XLogRecPtr *lsn);
extern TimestampTz dr_contact_get_local(void);
extern void dr_contact_publish(TimestampTz at, XLogRecPtr lsn, TimestampTz local_at);
extern bool dr_clock_offset_get(TimeOffset *offset);
extern void dr_clock_offset_set(bool known, TimeOffset offset);
extern void dr_dates_set_positions(const DrDate *dates, int n);
extern void dr_dates_push_heartbeat(XLogRecPtr lsn, TimestampTz at);
extern void dr_remembered_publish(const DrRemembered *standbys, int n);
extern void dr_remembered_set_recorded(const char *name, int8 state);
extern int	dr_remembered_copy(DrRemembered *out, bool *loaded);
extern void dr_remembered_note_positions(const pid_t *pids, const XLogRecPtr *flush,
										 const XLogRecPtr *replay, int n, TimestampTz at);

/* A consistent copy of the scalar fields, for dr_status() */
typedef struct DrWorkerInfo
{
	pid_t		worker_pid;
	TimestampTz worker_started_at;
	uint64		samples_taken;
	TimestampTz last_heartbeat_at;
	XLogRecPtr	last_heartbeat_lsn;
} DrWorkerInfo;

extern void dr_worker_info(DrWorkerInfo *out);
extern bool dr_set_catalog_summary(int64 open_incident, const char *last_event);
extern void dr_get_catalog_summary(int64 *open_incident, char *last_event, Size len);
extern void dr_set_backup_summary(TimestampTz newest_backup_at);
extern TimestampTz dr_get_backup_summary(void);

#endif							/* TENSAFE_DR_SHARED_STATE_H */
