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
 * shared memory (DrShared->fenced) and in the file pg_tensafe_dr/fenced, so
 * a fence survives a restart (shared_state.c reads the file when shared
 * memory is set up).  The file holds the data directory's identity, so a
 * copy of it (pg_basebackup, rsync, pg_rewind) does not fence the node it
 * was copied to (dr_fence_file_is_ours()).  dr_unfence() lifts it for its own transaction too.
 *
 * Locking and ordering:
 *	- The flag is read without any lock (the executor hooks, dr_status()):
 *	  a bool is read atomically, and a statement racing dr_fence() may go
 *	  either way.
 *	- Changes are serialized by the fence lock, a transaction-level
 *	  heavyweight lock of our own (an advisory lock tag in a class no SQL
 *	  advisory function can name, valid on a standby too), held by
 *	  dr_set_fence() from before it reads the flag until its transaction
 *	  ends.  So the file and the flag change together, one change at a
 *	  time, and a dr_fence() waiting for another can be cancelled.
 *	- The file is created or removed, and made durable (file and directory
 *	  fsync), first, holding only the fence lock; only then is the flag
 *	  published, under DrShared->lock held for that one store.  No file I/O
 *	  happens under DrShared->lock.
 *	Why that is crash-safe: the flag never shows a state the disk does not
 *	hold yet, so once dr_fence() or dr_unfence() has returned, a crash or
 *	restart finds the same state.  A crash between the two steps leaves the
 *	disk in the state the caller asked for and had not yet been told of: a
 *	fence being set comes back fenced (no write was let through meanwhile),
 *	a fence being lifted comes back unfenced (the lift was wanted).  An
 *	error in the file step leaves the flag as it was (a fence file created
 *	but not made durable may still fence the node at its next start: the
 *	safe side).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/utility.h"

#include "fence.h"
#include "journal.h"
#include "journal_file.h"
#include "shared_state.h"

PG_FUNCTION_INFO_V1(dr_set_fence);

#define DR_FENCE_FILE DR_JOURNAL_DIR "/fenced"

/*
 * The fence lock's tag: an advisory lock tag whose last field is a class no
 * SQL advisory-lock function uses (they use 1 and 2), so no user's
 * pg_advisory_lock() can take or block it.  Cluster-wide (database 0): the
 * fence file belongs to the data directory.
 */
#define DR_LOCKTAG_CLASS	0x5444	/* "TD" */
#define DR_LOCKTAG_FENCE	1

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
 * dr_fence_file_is_ours
 *		Whether pg_tensafe_dr/fenced fences this node: it exists and was
 *		written here, not copied along with the data directory by
 *		pg_basebackup, rsync or pg_rewind (a fence belongs to the node that
 *		was fenced).  The file holds the data directory's identity
 *		(dr_data_directory_identity()); an empty file is 1.1's format and
 *		still fences (1.1 could not tell), and so does a prefix of ours (a
 *		write torn by a crash: the safe side).  Called by the postmaster when
 *		shared memory is set up, so plain system calls, no fd.c.
 */
bool
dr_fence_file_is_ours(void)
{
	char		have[1024];
	char	   *want;
	ssize_t		n;
	int			fd = open(DR_FENCE_FILE, O_RDONLY | PG_BINARY, 0);

	if (fd < 0)
		return false;
	n = read(fd, have, sizeof(have) - 1);
	close(fd);
	if (n < 0)
		return true;			/* unreadable: the safe side is fenced */
	have[n] = '\0';
	want = dr_data_directory_identity();
	/* ours, 1.1's empty file, or ours torn by a crash while written */
	if (strncmp(want, have, n) == 0)
		return true;
	ereport(LOG,
			(errmsg("tensafe_dr: ignoring fence file \"%s\" copied from another data directory", DR_FENCE_FILE),
			 errdetail("The file says \"%s\"; this data directory is \"%s\".", have, want),
			 errhint("A fence belongs to the node that was fenced; fence this node with dr_fence() if it should be.")));
	return false;
}

/*
 * make_fence_durable
 *		Create (on) or remove (off) the fence file, and fsync it and its
 *		directory; ERROR if that fails.  Holds no LWLock: the caller holds
 *		the fence lock.
 */
static void
make_fence_durable(bool on)
{
	if (on)
	{
		char	   *identity = dr_data_directory_identity();
		int			len = strlen(identity);
		int			fd = OpenTransientFile(DR_FENCE_FILE, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);

		if (fd < 0 || write(fd, identity, len) != len || pg_fsync(fd) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create \"%s\": %m", DR_FENCE_FILE)));
		CloseTransientFile(fd);
	}
	else if (unlink(DR_FENCE_FILE) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove \"%s\": %m", DR_FENCE_FILE)));
	fsync_fname(DR_JOURNAL_DIR, true);
}

/*
 * dr_set_fence(on bool) returns bool
 *		Internal (behind dr_fence()/dr_unfence()): set or lift the fence,
 *		durably (file first, then the flag: see the header); returns
 *		whether the node was fenced before.  Takes the fence lock until the
 *		end of the calling transaction.
 */
Datum
dr_set_fence(PG_FUNCTION_ARGS)
{
	bool		on = PG_GETARG_BOOL(0);
	bool		was;
	LOCKTAG		tag;

	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DR_JOURNAL_DIR)));

	/* one change at a time, until our transaction ends (see the header) */
	SET_LOCKTAG_ADVISORY(tag, InvalidOid, 0, DR_LOCKTAG_FENCE, DR_LOCKTAG_CLASS);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	/* only fence changers write it, and they all hold the fence lock */
	was = dr_is_fenced();
	if (on != was)
	{
		make_fence_durable(on);
		LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
		DrShared->fenced = on;
		LWLockRelease(DrShared->lock);
	}

	if (!on && forced_in_lxid == MyProc->lxid && !DefaultXactReadOnly &&
		!RecoveryInProgress())
	{
		XactReadOnly = false;
		forced_in_lxid = InvalidLocalTransactionId;
	}
	PG_RETURN_BOOL(was);
}
