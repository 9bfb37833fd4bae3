/*-------------------------------------------------------------------------
 *
 * fence.c
 *	  Write fencing for failback (runbook 3.2 "stop writes in DR"): while a
 *	  node is fenced, every statement of every client backend runs as in a
 *	  read-only transaction, so writes fail with SQLSTATE 25006 and reads go
 *	  on.  Background processes (autovacuum, our worker) are not fenced.
 *
 * How: the executor and utility hooks set XactReadOnly before PostgreSQL's
 * own read-only checks run, which then refuse INSERT/UPDATE/DELETE/DDL/COPY
 * FROM/nextval() exactly as in a READ ONLY transaction.  The flag lives in
 * shared memory (read without the lock: a statement racing dr_fence() may
 * go either way) and in the file pg_tensafe_dr/fenced, so a fence survives
 * a restart.  dr_unfence() lifts it for its own transaction too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "tcop/utility.h"

#include "fence.h"
#include "journal.h"
#include "shared_state.h"

PG_FUNCTION_INFO_V1(dr_set_fence);

#define DR_FENCE_FILE DR_JOURNAL_DIR "/fenced"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* local transaction in which this backend forced read-only, if any */
static LocalTransactionId forced_in_lxid = InvalidLocalTransactionId;

bool
dr_is_fenced(void)
{
	return DrShared != NULL && DrShared->fenced;
}

static void
apply_fence(void)
{
	if (MyBackendType == B_BACKEND && dr_is_fenced() && !XactReadOnly)
	{
		XactReadOnly = true;
		forced_in_lxid = MyProc->lxid;
	}
}

static void
fence_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	apply_fence();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
fence_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	/* transaction control must keep working, or nobody could COMMIT */
	if (nodeTag(pstmt->utilityStmt) != T_TransactionStmt)
		apply_fence();
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

void
dr_install_fence_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = fence_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = fence_ProcessUtility;
}

/*
 * dr_set_fence(on bool) returns bool
 *		Internal (behind dr_fence()/dr_unfence()): set or lift the fence,
 *		durably; returns whether the node was fenced before.
 */
Datum
dr_set_fence(PG_FUNCTION_ARGS)
{
	bool		on = PG_GETARG_BOOL(0);
	bool		was;

	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DR_JOURNAL_DIR)));

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	was = DrShared->fenced;
	if (on && !was)
	{
		int			fd = OpenTransientFile(DR_FENCE_FILE, O_WRONLY | O_CREAT | PG_BINARY);

		if (fd < 0 || pg_fsync(fd) != 0)
		{
			LWLockRelease(DrShared->lock);
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create \"%s\": %m", DR_FENCE_FILE)));
		}
		CloseTransientFile(fd);
		fsync_fname(DR_JOURNAL_DIR, true);
	}
	else if (!on && was)
	{
		if (unlink(DR_FENCE_FILE) != 0 && errno != ENOENT)
		{
			LWLockRelease(DrShared->lock);
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove \"%s\": %m", DR_FENCE_FILE)));
		}
		fsync_fname(DR_JOURNAL_DIR, true);
	}
	DrShared->fenced = on;
	LWLockRelease(DrShared->lock);

	if (!on && forced_in_lxid == MyProc->lxid && !DefaultXactReadOnly &&
		!RecoveryInProgress())
	{
		XactReadOnly = false;
		forced_in_lxid = InvalidLocalTransactionId;
	}
	PG_RETURN_BOOL(was);
}
