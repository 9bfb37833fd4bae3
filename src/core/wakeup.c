/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Wake the worker and the notifier when there is work for them.
 *
 * Before 1.1 both processes polled the catalog (the worker every second for
 * dr_status()'s summary, the notifier every 250 ms for the outbox): a
 * transaction each time, whether anything had changed or not.  Now the
 * things that create work say so:
 *	- statement triggers on dr_event_log, dr_incidents and dr_backups
 *	  (DR_WAKE_SUMMARY) and on dr_outbox (DR_WAKE_OUTBOX) call
 *	  dr_wake_on_commit(), which remembers the reason in this backend and
 *	  wakes the process when -- and only if -- the transaction commits, so
 *	  the woken process sees the rows;
 *	- the journal wakes a standby's notifier right after an append
 *	  (DR_WAKE_JOURNAL; the journal is not transactional);
 *	- the worker wakes the notifier when the open incident changes
 *	  (DR_WAKE_INCIDENTS): housekeeping runs only while one is open;
 *	- a statement trigger on dr_standbys (DR_WAKE_STANDBYS, except for the
 *	  worker's own updates): the worker reloads the standby registry;
 *	- CREATE, ALTER and DROP EXTENSION tensafe_dr wake the worker at commit
 *	  (DR_WAKE_EXTENSION, a ProcessUtility hook), so it need not open a
 *	  transaction every few seconds to see whether the extension is there.
 * The processes still look on their own now and then (a standby's catalog
 * changes by WAL replay, where no trigger fires; a database still at
 * version 1.0 has no triggers), so a missed wake-up only delays.
 *
 * Locking: wake_reasons is an atomic, OR-ed into by anybody, cleared with
 * dr_take_wake_reasons() by the process that acts on it; the latch pointers
 * are read under DrShared->lock (shared), which is never held across I/O.
 * dr_wake() raises no error, so it may run in a commit callback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/builtins.h"

#include "shared_state.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(dr_wake_on_commit);

/* Reasons noted by this backend's current transaction */
static uint32 reasons_at_commit = 0;
static bool callback_registered = false;

/*
 * dr_wake
 *		Note the reasons and set the latch of whichever process acts on them.
 */
void
dr_wake(uint32 reasons)
{
	Latch	   *worker_latch;
	Latch	   *notifier_latch;

	if (DrShared == NULL || reasons == 0)
		return;
	pg_atomic_fetch_or_u32(&DrShared->wake_reasons, reasons);

	LWLockAcquire(DrShared->lock, LW_SHARED);
	worker_latch = DrShared->worker_latch;
	notifier_latch = DrShared->notifier_latch;
	LWLockRelease(DrShared->lock);

	if ((reasons & (DR_WAKE_SUMMARY | DR_WAKE_EXTENSION | DR_WAKE_STANDBYS)) && worker_latch)
		SetLatch(worker_latch);
	if ((reasons & (DR_WAKE_OUTBOX | DR_WAKE_JOURNAL | DR_WAKE_INCIDENTS)) && notifier_latch)
		SetLatch(notifier_latch);
}

/*
 * dr_take_wake_reasons
 *		Clear and return the pending reasons among 'mask'.
 */
uint32
dr_take_wake_reasons(uint32 mask)
{
	if (DrShared == NULL)
		return 0;
	return pg_atomic_fetch_and_u32(&DrShared->wake_reasons, ~mask) & mask;
}

/*
 * dr_peek_wake_reasons
 *		The pending reasons among 'mask', left pending.
 */
uint32
dr_peek_wake_reasons(uint32 mask)
{
	if (DrShared == NULL)
		return 0;
	return pg_atomic_read_u32(&DrShared->wake_reasons) & mask;
}

static void
wake_at_end_of_xact(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			dr_wake(reasons_at_commit);
			reasons_at_commit = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's rows are found by the next look */
			reasons_at_commit = 0;
			break;
		default:
			break;
	}
}

/* Note 'reasons' for the end of the current transaction (commit only). */
static void
wake_at_commit(uint32 reasons)
{
	reasons_at_commit |= reasons;
	if (!callback_registered)
	{
		RegisterXactCallback(wake_at_end_of_xact, NULL);
		callback_registered = true;
	}
}

/* Whether a utility statement creates, alters or drops tensafe_dr. */
static bool
is_our_extension_ddl(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_CreateExtensionStmt:
			return strcmp(((CreateExtensionStmt *) stmt)->extname, "tensafe_dr") == 0;
		case T_AlterExtensionStmt:
			return strcmp(((AlterExtensionStmt *) stmt)->extname, "tensafe_dr") == 0;
		case T_DropStmt:
			if (((DropStmt *) stmt)->removeType == OBJECT_SCHEMA)
				return true;	/* CASCADE may take the extension along */
			if (((DropStmt *) stmt)->removeType != OBJECT_EXTENSION)
				return false;
			foreach(lc, ((DropStmt *) stmt)->objects)
				if (strcmp(strVal(lfirst(lc)), "tensafe_dr") == 0)
					return true;
			return false;
		default:
			return false;
	}
}

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void
wakeup_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (is_our_extension_ddl(pstmt->utilityStmt))
		wake_at_commit(DR_WAKE_EXTENSION);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * dr_install_wakeup_hooks
 *		From _PG_init: watch for DDL on the extension itself.
 */
void
dr_install_wakeup_hooks(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = wakeup_ProcessUtility;
}

/*
 * dr_wake_on_commit() - statement trigger: wake the process named by the
 * trigger's argument ('summary' or 'outbox') when this transaction commits.
 */
Datum
dr_wake_on_commit(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *reason;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dr_wake_on_commit() can only be called as a trigger")));
	if (trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dr_wake_on_commit() needs one argument: 'summary', 'outbox' or 'standbys'")));

	reason = trigdata->tg_trigger->tgargs[0];
	if (strcmp(reason, "summary") == 0)
		wake_at_commit(DR_WAKE_SUMMARY);
	else if (strcmp(reason, "outbox") == 0)
		wake_at_commit(DR_WAKE_OUTBOX);
	else if (strcmp(reason, "standbys") == 0)
	{
		/*
		 * The worker's own position updates are no news to it (worker_pid
		 * read without the lock: a pid_t is read atomically).
		 */
		if (DrShared != NULL && MyProcPid != DrShared->worker_pid)
			wake_at_commit(DR_WAKE_STANDBYS);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown wake-up reason \"%s\"", reason),
				 errhint("Use 'summary', 'outbox' or 'standbys'.")));
	return PointerGetDatum(NULL);
}
