/*-------------------------------------------------------------------------
 *
 * node_state.c
 *	  Read this node's replication state from PostgreSQL's shared memory.
 *
 * Nothing here touches catalogs, opens a transaction or sleeps, so it is
 * safe in the worker's loop and cheap enough for dr_status().  The server's
 * own spinlocks are taken for the instant of a copy, as pg_stat_replication
 * and pg_stat_wal_receiver do.  The fields of one reading are not taken
 * atomically together; each is at most a few microseconds apart, which is
 * far below the sample interval that every figure is judged at.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "replication/syncrep.h"
#include "replication/walreceiver.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "node_state.h"

/*
 * Logical walsenders (subscriptions, CDC) are connected to a database;
 * physical ones, which feed standbys, are not.  Only physical ones are DR
 * copies.
 */
static bool
is_physical_walsender(pid_t pid)
{
	PGPROC	   *proc = BackendPidGetProc(pid);

	return proc != NULL && proc->databaseId == InvalidOid;
}

static void
read_standbys(DrNodeState *st)
{
	int			i;

	st->standbys = palloc0(sizeof(DrStandbyPos) * Max(max_wal_senders, 1));
	st->n_standbys = 0;
	if (WalSndCtl == NULL)
		return;

	for (i = 0; i < max_wal_senders; i++)
	{
		WalSnd	   *walsnd = &WalSndCtl->walsnds[i];
		DrStandbyPos pos;
		WalSndState state;

		SpinLockAcquire(&walsnd->mutex);
		pos.pid = walsnd->pid;
		state = walsnd->state;
		pos.write_lsn = walsnd->write;
		pos.flush_lsn = walsnd->flush;
		pos.replay_lsn = walsnd->apply;
		SpinLockRelease(&walsnd->mutex);

		if (pos.pid == 0 ||
			(state != WALSNDSTATE_STREAMING && state != WALSNDSTATE_CATCHUP))
			continue;
		if (!is_physical_walsender(pos.pid))
			continue;
		pos.sync = false;
		st->standbys[st->n_standbys++] = pos;
	}
}

/*
 * read_sync
 *		Which of the walsenders read are synchronous standbys now, as
 *		pg_stat_replication's sync_state says ('sync' or 'quorum'):
 *		SyncRepGetCandidateStandbys() returns the sync set (priority: the
 *		num_sync highest, quorum: every candidate).  SyncRepConfig is this
 *		process's parse of synchronous_standby_names (NULL when empty).
 *		commits_wait judges the default synchronous_commit (the reset value:
 *		postgresql.conf, role and database settings), not a session's SET.
 */
static void
read_sync(DrNodeState *st)
{
	SyncRepStandbyData *sync_standbys;
	int			n;
	int			i;
	int			j;
	const char *commit;

	memset(&st->sync, 0, sizeof(st->sync));
	if (SyncRepConfig == NULL || SyncRepConfig->num_sync <= 0 || WalSndCtl == NULL)
		return;
	st->sync.required = SyncRepConfig->num_sync;
	st->sync.quorum = SyncRepConfig->syncrep_method == SYNC_REP_QUORUM;
	commit = GetConfigOptionResetString("synchronous_commit");
	st->sync.commits_wait = commit != NULL &&
		(strcmp(commit, "on") == 0 || strcmp(commit, "remote_apply") == 0);

	n = SyncRepGetCandidateStandbys(&sync_standbys);
	for (i = 0; i < n; i++)
		for (j = 0; j < st->n_standbys; j++)
			if (st->standbys[j].pid == sync_standbys[i].pid && !st->standbys[j].sync)
			{
				st->standbys[j].sync = true;
				st->sync.n_sync++;
			}
	pfree(sync_standbys);
}

static void
read_receiver(DrNodeState *st)
{
	WalRcvData *walrcv = WalRcv;

	SpinLockAcquire(&walrcv->mutex);
	st->receiver_state = (int) walrcv->walRcvState;
	st->receiver_connected = walrcv->pid != 0 &&
		walrcv->walRcvState == WALRCV_STREAMING &&
		walrcv->ready_to_display;
	st->receiver_last_msg = walrcv->lastMsgReceiptTime;
	st->primary_end_lsn = walrcv->latestWalEnd;
	st->receive_lsn = walrcv->flushedUpto;
	SpinLockRelease(&walrcv->mutex);

	if (walrcv->pid == 0 && st->receiver_state != WALRCV_STOPPED &&
		st->receiver_state != WALRCV_WAITING)
		st->receiver_state = WALRCV_STOPPED;
}

/*
 * dr_read_node_state
 *		Fill *st with the state of this node now.  with_standbys also reads
 *		the walsenders (an allocation of max_wal_senders entries).
 */
void
dr_read_node_state(DrNodeState *st, bool with_standbys)
{
	memset(st, 0, sizeof(*st));
	st->now = GetCurrentTimestamp();
	st->receiver_state = DR_RECEIVER_NONE;

	if (RecoveryInProgress())
	{
		XLogRecPtr	contact_lsn = InvalidXLogRecPtr;

		st->role = DR_ROLE_STANDBY;
		st->replay_lsn = GetXLogReplayRecPtr(&st->timeline);
		st->replay_paused = GetRecoveryPauseState() != RECOVERY_NOT_PAUSED;
		read_receiver(st);

		/*
		 * What this node holds durably: what the receiver flushed, but also
		 * what was replayed and the last heartbeat read from pg_wal
		 * (contact.c, flushed before it was published) -- after a restart
		 * the receiver reports a segment start, or nothing, until it has
		 * streamed again, and the WAL in pg_wal is held all the same.
		 */
		(void) dr_contact_get(&contact_lsn);
		st->receive_lsn = Max(Max(st->receive_lsn, st->replay_lsn), contact_lsn);
	}
	else
	{
		st->role = DR_ROLE_PRIMARY;
		st->timeline = GetWALInsertionTimeLine();
		st->insert_lsn = GetXLogInsertRecPtr();
		st->flush_lsn = GetFlushRecPtr(NULL);
	}

	if (with_standbys)
	{
		read_standbys(st);
		if (st->role == DR_ROLE_PRIMARY)
			read_sync(st);
	}
}

/*
 * dr_primary_position
 *		How far the primary's WAL has got, as far as this node knows: its own
 *		flush position on a primary; on a standby the sender's reported end of
 *		WAL, or what this node holds if that is further (a restarted receiver
 *		has not heard the sender's end yet; see dr_read_node_state).
 */
XLogRecPtr
dr_primary_position(const DrNodeState *st)
{
	if (st->role == DR_ROLE_PRIMARY)
		return st->flush_lsn;
	return Max(st->primary_end_lsn, st->receive_lsn);
}

/* Same names as pg_stat_wal_receiver.status */
const char *
dr_receiver_state_name(int state)
{
	switch (state)
	{
		case WALRCV_STOPPED:
			return "stopped";
		case WALRCV_STARTING:
			return "starting";
		case WALRCV_STREAMING:
			return "streaming";
		case WALRCV_WAITING:
			return "waiting";
		case WALRCV_RESTARTING:
			return "restarting";
		case WALRCV_STOPPING:
			return "stopping";
	}
	return NULL;
}
