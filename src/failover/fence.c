/*-------------------------------------------------------------------------
 *
 * fence.c
 *	  Write fencing for failback (runbook 3.2 "stop writes in DR, wait for
 *	  final sync"): while a node is fenced, no transaction that wrote commits
 *	  on it, whatever door the write came through, and every statement of a
 *	  client runs as in a read-only transaction.  Once dr_fence() has
 *	  returned, the node's WAL holds its last commit: the flush position
 *	  FENCED records lies past every other commit that will ever happen
 *	  here (until dr_unfence()), so a standby that has replayed it holds
 *	  every write the fenced node acknowledged.
 *
 * Two layers:
 *	- The barrier (what makes the fence complete): an XactCallback refuses
 *	  PRE_COMMIT and PRE_PREPARE (SQLSTATE 25006) of every transaction that
 *	  has a top-level xid -- any write, through the executor, libpq's
 *	  fast-path large-object calls, a replication=database connection, COPY,
 *	  DDL, a background worker (pg_cron, a subscription's apply worker) --
 *	  and the utility hook refuses COMMIT PREPARED, whose own transaction
 *	  has no xid (it is given one here so dr_fence() waits for it: below;
 *	  the price, fenced or not, is an xid and an empty commit record per
 *	  COMMIT PREPARED).
 *	  Not refused: autovacuum (PostgreSQL's maintenance, no client data;
 *	  its ANALYZE may commit statistics after the fence), and the one
 *	  transaction that set the fence (dr_fence()'s, which records FENCED:
 *	  the last commit).  A transaction that wrote only temporary or
 *	  unlogged tables, or took an xid without writing (txid_current(),
 *	  SELECT ... FOR UPDATE), has an xid too and is refused as well: one
 *	  rule, no exceptions to reason about.
 *	- Early refusal: the executor and utility hooks set XactReadOnly before
 *	  PostgreSQL's own read-only checks run, which then refuse
 *	  INSERT/UPDATE/DELETE/DDL/COPY FROM/nextval() exactly as in a READ ONLY
 *	  transaction, in client backends, walsenders (replication=database) and
 *	  background workers.  It also makes dr_can_write() false, so events
 *	  recorded on a fenced node go to the journal.  Our own worker and
 *	  notifier treat a fenced node as one that cannot write: no journal
 *	  flush, no lag history, deliveries from the journal (worker.c,
 *	  notifier.c); their heartbeat is a non-transactional WAL message and
 *	  goes on, so standbys keep hearing from the node.
 *
 * The flag lives in shared memory (DrShared->fenced) and in the file
 * pg_tensafe_dr/fenced, so a fence survives a restart (shared_state.c reads
 * the file when shared memory is set up).  The file holds the data
 * directory's identity, so a copy of it (pg_basebackup, rsync, pg_rewind)
 * does not fence the node it was copied to (dr_fence_file_is_ours()).
 * dr_unfence() lifts it for its own transaction too.
 *
 * Locking and ordering:
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
 *	- Commits in flight: a transaction that passed its PRE_COMMIT check
 *	  just before the flag was published may still commit after it.  So
 *	  each committing backend first publishes its xid in its slot of
 *	  committing[] (one per PGPROC, written only by its owner, atomics),
 *	  then (full barrier) reads the flag; dr_set_fence() publishes the flag,
 *	  then (full barrier) reads every slot and waits for each xid found to
 *	  end (wait_for_commit).  One of the two sees the other's store: a
 *	  committer either is refused or is waited for.  A slot is cleared at
 *	  COMMIT, ABORT and PREPARE; one left behind by a backend that died is
 *	  harmless (waiting for an ended xid returns at once).  Only
 *	  transactions between PRE_COMMIT and their end are waited for, so a
 *	  writer idle in its transaction does not hold dr_fence() up (its COMMIT
 *	  will be refused).  A commit waiting for a synchronous standby is not
 *	  waited for either: its commit record is already flushed here, so its
 *	  position is final, and the standby may be gone (wait_for_commit).
 *	  Only then does dr_set_fence() flush the WAL up to its insert
 *	  position, so pg_current_wal_flush_lsn() is past every commit.
 *	- The flag is read without DrShared->lock (the hooks, the commit check,
 *	  dr_status()): a bool is read atomically; a statement racing dr_fence()
 *	  may start either way, its commit is decided by the rule above.
 *	Why that is crash-safe: the flag never shows a state the disk does not
 *	hold yet, so once dr_fence() or dr_unfence() has returned, a crash or
 *	restart finds the same state.  A crash between the two steps leaves the
 *	disk in the state the caller asked for and had not yet been told of: a
 *	fence being set comes back fenced (no write was let through meanwhile),
 *	a fence being lifted comes back unfenced (the lift was wanted).  An
 *	error in the file step leaves the flag as it was (a fence file created
 *	but not made durable may still fence the node at its next start: the
 *	safe side).  A dr_fence() cancelled while it waits for commits in
 *	flight leaves the node fenced (the safe side) without a FENCED event;
 *	dr_status().fenced shows it.
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
#include "port/atomics.h"
#include "pgstat.h"
#include "replication/syncrep.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
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

/* local transaction that set the fence (dr_fence()'s): not fenced itself */
static LocalTransactionId setter_lxid = InvalidLocalTransactionId;

/*
 * committing[pgprocno]: the xid of the transaction that backend is
 * committing (between its commit check and its end), else invalid.  See the
 * header for the protocol.  NULL when the library was not preloaded.
 */
static pg_atomic_uint32 *committing = NULL;
static int	n_committing = 0;

bool
dr_is_fenced(void)
{
	return DrShared != NULL && DrShared->fenced;
}

/*
 * dr_fence_shmem_size / dr_fence_shmem_init
 *		The committing[] slots, one per backend PGPROC (MaxBackends:
 *		auxiliary processes and prepared transactions never run a commit
 *		check).  Init from shmem_startup_hook, holding AddinShmemInitLock.
 */
Size
dr_fence_shmem_size(void)
{
	return MAXALIGN(mul_size(MaxBackends, sizeof(pg_atomic_uint32)));
}

void
dr_fence_shmem_init(void)
{
	bool		found;
	int			i;

	committing = ShmemInitStruct("tensafe_dr fence", dr_fence_shmem_size(), &found);
	n_committing = MaxBackends;
	if (!found)
		for (i = 0; i < n_committing; i++)
			pg_atomic_init_u32(&committing[i], InvalidTransactionId);
}

/* Whether this process and transaction are subject to the fence at all. */
static bool
fence_applies(void)
{
	if (DrShared == NULL || MyProc == NULL)
		return false;
	/* autovacuum: PostgreSQL's own maintenance, no client data (header) */
	if (MyBackendType == B_AUTOVAC_WORKER || MyBackendType == B_AUTOVAC_LAUNCHER)
		return false;
	return setter_lxid != MyProc->lxid;
}

static void
apply_fence(void)
{
	if ((MyBackendType == B_BACKEND || MyBackendType == B_WAL_SENDER ||
		 MyBackendType == B_BG_WORKER) &&
		dr_is_fenced() && !XactReadOnly && fence_applies())
	{
		XactReadOnly = true;
		forced_in_lxid = MyProc->lxid;
	}
}

/*
 * announce_commit
 *		Publish that this backend is about to commit 'xid', then read the
 *		flag (the order matters: see the header).  Returns whether fenced.
 */
static bool
announce_commit(TransactionId xid)
{
	if (committing == NULL || MyProc->pgprocno >= n_committing)
		elog(ERROR, "tensafe_dr: no commit slot for this process");
	pg_atomic_write_u32(&committing[MyProc->pgprocno], xid);
	pg_memory_barrier();
	return dr_is_fenced();
}

static void
withdraw_commit(void)
{
	if (committing != NULL && MyProc != NULL && MyProc->pgprocno < n_committing &&
		pg_atomic_read_u32(&committing[MyProc->pgprocno]) != InvalidTransactionId)
		pg_atomic_write_u32(&committing[MyProc->pgprocno], InvalidTransactionId);
}

/*
 * fence_xact_callback
 *		The barrier: refuse to commit or prepare a transaction that has an
 *		xid while fenced.  PARALLEL_PRE_COMMIT is a parallel worker's end,
 *		not a commit (its leader's PRE_COMMIT decides), so it is let by.
 */
static void
fence_xact_callback(XactEvent event, void *arg)
{
	TransactionId xid;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			xid = GetTopTransactionIdIfAny();
			if (!TransactionIdIsValid(xid) || !fence_applies())
				return;
			if (announce_commit(xid))
				ereport(ERROR,
						(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
						 event == XACT_EVENT_PRE_COMMIT ?
						 errmsg("cannot commit a transaction that wrote while this node is fenced") :
						 errmsg("cannot prepare a transaction that wrote while this node is fenced"),
						 errdetail("The node was fenced with dr_fence(): no transaction that wrote commits on it, and this one has been rolled back."),
						 errhint("Write on the node that is to take over, or lift the fence with dr_unfence().")));
			/* test builds: hold a commit here, past its check (020_fence_barrier) */
			DR_TEST_PAUSE_POINT("fence_commit");
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			withdraw_commit();
			break;
		default:
			break;
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

/*
 * refuse_commit_prepared
 *		COMMIT PREPARED writes the prepared transaction's commit record
 *		during the statement, from a transaction that has no xid of its own,
 *		so the commit check cannot see it: check here, after taking an xid
 *		and announcing it, so that a dr_fence() racing us waits for our end.
 */
static void
refuse_commit_prepared(TransactionStmt *stmt)
{
	if (stmt->kind != TRANS_STMT_COMMIT_PREPARED || !fence_applies() ||
		RecoveryInProgress())
		return;
	if (announce_commit(GetTopTransactionId()))
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot commit prepared transaction \"%s\" while this node is fenced",
						stmt->gid),
				 errdetail("The node was fenced with dr_fence(): no transaction that wrote commits on it."),
				 errhint("Use ROLLBACK PREPARED, or lift the fence with dr_unfence().")));
}

static void
fence_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	/* transaction control must keep working, or nobody could ROLLBACK */
	if (nodeTag(pstmt->utilityStmt) != T_TransactionStmt)
		apply_fence();
	else
		refuse_commit_prepared((TransactionStmt *) pstmt->utilityStmt);
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
	RegisterXactCallback(fence_xact_callback, NULL);
}

/*
 * wait_for_commit
 *		Wait until 'proc's transaction 'xid' has ended, or its commit record
 *		is flushed and it only waits for a synchronous standby: then its
 *		position is final here (RecordTransactionCommit flushes before
 *		SyncRepWaitForLSN), and waiting for the standby would hang
 *		dr_fence() for as long as the standby is gone (issue 20).  Polls
 *		(10 ms): neither state has a lock or latch to wait on.
 */
static void
wait_for_commit(PGPROC *proc, TransactionId xid)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!TransactionIdIsInProgress(xid))
			return;
		pg_read_barrier();
		if (proc->syncRepState == SYNC_REP_WAITING)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * wait_for_commits_in_flight
 *		After the flag was published: wait until every transaction that
 *		passed its commit check before it has ended (see the header).
 *		Interruptible.  The caller holds the fence lock, which no committer
 *		waits for, so this cannot deadlock.
 */
static void
wait_for_commits_in_flight(void)
{
	int			i;

	if (committing == NULL)
		return;
	pg_memory_barrier();
	for (i = 0; i < n_committing; i++)
	{
		TransactionId xid = pg_atomic_read_u32(&committing[i]);

		if (i == MyProc->pgprocno || !TransactionIdIsValid(xid))
			continue;
		wait_for_commit(&ProcGlobal->allProcs[i], xid);
	}
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
 *		end of the calling transaction.  Setting it also waits for the
 *		commits in flight and flushes the WAL, and leaves the calling
 *		transaction unfenced, so that dr_fence() can insert FENCED as the
 *		node's last commit.
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
		/* the setter's own transaction records FENCED: the last commit */
		if (on)
			setter_lxid = MyProc->lxid;
		LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
		DrShared->fenced = on;
		LWLockRelease(DrShared->lock);
		if (on)
		{
			wait_for_commits_in_flight();
			/* every commit is in the WAL now: make it all durable */
			if (!RecoveryInProgress())
				XLogFlush(GetXLogInsertEndRecPtr());
		}
	}

	if (!on && forced_in_lxid == MyProc->lxid && !DefaultXactReadOnly &&
		!RecoveryInProgress())
	{
		XactReadOnly = false;
		forced_in_lxid = InvalidLocalTransactionId;
	}
	PG_RETURN_BOOL(was);
}
