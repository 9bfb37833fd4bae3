/*-------------------------------------------------------------------------
 *
 * node_state.h
 *	  A consistent-enough reading of this node's replication state, taken
 *	  straight from PostgreSQL's shared memory (xlog, WAL receiver,
 *	  walsenders).  Used by the worker to take samples and by dr_status()
 *	  to answer live.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_NODE_STATE_H
#define TENSAFE_DR_NODE_STATE_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#include "shared_state.h"

/* One physical standby attached to this node's walsenders. */
typedef struct DrStandbyPos
{
	pid_t		pid;
	XLogRecPtr	write_lsn;
	XLogRecPtr	flush_lsn;
	XLogRecPtr	replay_lsn;
	bool		sync;			/* one of the synchronous standbys now
								 * (pg_stat_replication.sync_state 'sync' or
								 * 'quorum') */
} DrStandbyPos;

/*
 * Synchronous replication as configured on this primary, read with the
 * walsenders.  Every commit acknowledged under it is flushed on the
 * synchronous standbys: with 'required' of them streaming (priority: each
 * one in the sync set holds it; quorum: at least 'required' of the
 * candidates do), provided commits ask for it (synchronous_commit on or
 * remote_apply by default: commits_wait).
 */
typedef struct DrSyncConfig
{
	int			required;		/* num_sync; 0: synchronous replication off */
	bool		quorum;			/* ANY k (quorum) rather than FIRST k */
	int			n_sync;			/* walsenders marked sync */
	bool		commits_wait;	/* synchronous_commit defaults to on or
								 * remote_apply */
} DrSyncConfig;

typedef struct DrNodeState
{
	TimestampTz now;
	DrRole		role;
	TimeLineID	timeline;

	/* primary */
	XLogRecPtr	insert_lsn;
	XLogRecPtr	flush_lsn;

	/* standby */
	XLogRecPtr	receive_lsn;	/* held durably: flushed by the receiver,
								 * replayed, or read as a heartbeat */
	XLogRecPtr	replay_lsn;
	XLogRecPtr	primary_end_lsn;	/* sender's end of WAL, last reported */
	int			receiver_state; /* WalRcvState, DR_RECEIVER_NONE if none */
	bool		receiver_connected; /* streaming and past connection setup */
	TimestampTz receiver_last_msg;	/* only meaningful if connected */
	bool		replay_paused;

	/* physical standbys attached to this node (cascading ones on a standby) */
	int			n_standbys;
	DrStandbyPos *standbys;		/* palloc'd in CurrentMemoryContext */
	DrSyncConfig sync;			/* primary, with the standbys */
} DrNodeState;

extern void dr_read_node_state(DrNodeState *st, bool with_standbys);
extern XLogRecPtr dr_primary_position(const DrNodeState *st);
extern const char *dr_receiver_state_name(int state);

#endif							/* TENSAFE_DR_NODE_STATE_H */
