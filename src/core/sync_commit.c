/*-------------------------------------------------------------------------
 *
 * sync_commit.c
 *	  A transaction that writes a DR record commits with
 *	  synchronous_commit = local: durable on this node, visible at once,
 *	  and never waiting for a synchronous standby (issue 20).
 *
 * Why: with synchronous_standby_names set and the synchronous standby
 * gone, every commit waits in SyncRepWaitForLSN() until a standby confirms
 * it -- forever, under Patroni's synchronous_mode_strict or a hand-set
 * synchronous_standby_names.  A transaction waiting there has flushed its
 * commit record but is not yet visible to anybody else.  dr_declare(),
 * dr_record_event() and the rest then hang, and the incident the runbook's
 * step 1 asks for is invisible exactly when it is needed.
 *
 * How: the statement trigger dr_commit_locally_trigger() on the tables DR
 * calls write (dr_event_log, dr_incidents, dr_drills; extension/1.2/
 * 90_sync.sql) sets synchronous_commit = local for the current transaction
 * (as SET LOCAL does).  Every DR write path reaches one of those tables in
 * the same transaction: dr_log_event() inserts into dr_event_log, and
 * dr_declare/acknowledge/resolve and the drill functions write their own
 * row and then log an event.  A trigger, not a call in each SQL function,
 * so that a function replaced later keeps the rule.  The worker and the
 * notifier commit with synchronous_commit = local already (bgw.c); on a
 * standby or a fenced node DR calls write nothing transactional (the
 * journal, fsync'd before the call returns: journal.c), so no commit waits.
 *
 * What it means for durability, the same on every node: a DR record is
 * durable on the node that recorded it when its commit returns (the commit
 * record is flushed to this node's disk), a journalled one when the call
 * returns (the entry is fsync'd), and
 * reaches the standbys asynchronously, like any WAL, as soon as one is
 * streaming.  It is not confirmed by a synchronous standby even when one
 * is healthy.  The rule covers the caller's whole transaction: writes of
 * the application made in the same transaction as a DR call commit the
 * same way.  A value of 'local' also raises 'off' to a local flush.
 *
 * The setting is transaction-local (GUC_ACTION_LOCAL): set inside a
 * function that has a SET clause for another parameter (search_path), it
 * outlives the function and lasts until the transaction ends; in a
 * subtransaction that aborts, it is undone together with the writes.
 *
 * Locking: none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "sync_commit.h"

PG_FUNCTION_INFO_V1(dr_commit_locally_trigger);

/*
 * dr_commit_locally
 *		Make the current transaction commit with synchronous_commit = local.
 *		Requires a transaction; raises no error in a normal one.
 */
void
dr_commit_locally(void)
{
	if (synchronous_commit == SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
		return;
	(void) set_config_option("synchronous_commit", "local",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * dr_commit_locally_trigger() - statement trigger: the transaction that
 * writes this table commits with synchronous_commit = local.
 */
Datum
dr_commit_locally_trigger(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dr_commit_locally_trigger() can only be called as a trigger")));
	dr_commit_locally();
	return PointerGetDatum(NULL);
}
