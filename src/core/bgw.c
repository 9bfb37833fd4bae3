/*-------------------------------------------------------------------------
 *
 * bgw.c
 *	  What tensafe_dr's two background workers -- the worker (worker.c:
 *	  sampling, heartbeats, catalog upkeep) and the notifier (notifier.c:
 *	  webhook delivery) -- do the same way.  Each keeps only its own work.
 *
 * Both have the shape of PostgreSQL's src/test/modules/worker_spi:
 *
 *		pass_cxt = dr_bgw_startup("tensafe_dr ...");
 *		for (;;)
 *		{
 *			if (dr_bgw_pass_start())		CHECK_FOR_INTERRUPTS, SIGHUP
 *				... the configuration was re-read ...
 *			old = MemoryContextSwitchTo(pass_cxt);
 *			... units of work, each one short transaction:
 *				dr_bgw_begin("what it does");
 *				... SPI, dr_bgw_extension_schema() ...
 *				dr_bgw_commit();
 *			... (on error: dr_bgw_abort(pass_cxt) in a PG_CATCH) ...
 *			MemoryContextSwitchTo(old);
 *			MemoryContextReset(pass_cxt);
 *			dr_bgw_sleep_until(next_due);	the latch only
 *		}
 *
 * SIGHUP re-reads the configuration at the top of the next pass, SIGTERM
 * ends the worker (die: at the next CHECK_FOR_INTERRUPTS; a libcurl
 * transfer in progress gives up first, see webhook_http.c), postmaster
 * death ends it at once (WL_EXIT_ON_PM_DEATH).  The postmaster starts a
 * worker that exited again after DR_BGW_RESTART_SECONDS.  Under pg_upgrade
 * (IsBinaryUpgrade) no worker is registered at all (_PG_init).
 *
 * Session: connected to tensafe_dr.database as the bootstrap superuser,
 * with synchronous_commit = local and lock_timeout = 1s (neither a dead
 * synchronous standby nor a user's lock can stall a worker), and
 * search_path = pg_catalog, pg_temp: every query names the extension's
 * schema explicitly (dr_bgw_extension_schema()), so no name resolves
 * through a schema others can create in.
 *
 * Transactions: dr_bgw_begin() opens one short transaction with an SPI
 * connection and a snapshot and remembers the caller's memory context;
 * dr_bgw_commit() closes it, reports the transaction's statistics
 * (pgstat_report_stat, as worker_spi does after each commit; otherwise a
 * worker that never goes idle through PostgresMain would never report
 * them; what that holds back -- it flushes at most once a second -- is
 * flushed by dr_bgw_sleep_until() within a second, 022_worker_housekeeping)
 * and switches back to the remembered context -- a commit leaves
 * CurrentMemoryContext at TopMemoryContext, where whatever the caller
 * allocated next would live for good.  Not nestable: one at a time.
 *
 * Locking: none here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "bgw.h"
#include "guc.h"

/* A worker that exited (SIGTERM, an ERROR outside a unit of work) restarts after */
#define DR_BGW_RESTART_SECONDS	1

/* The context dr_bgw_begin() was called in; NULL outside a unit of work */
static MemoryContext work_caller_cxt = NULL;

/*
 * Statistics held back by pgstat_report_stat(false) (it flushes at most once
 * a second) since when (0: none); dr_bgw_sleep_until() flushes them.
 */
static TimestampTz stats_pending_since = 0;
#define DR_BGW_STATS_DELAY_MS	1000

/*
 * dr_bgw_register
 *		Register one of our workers with the postmaster; from _PG_init only.
 *		It runs on primaries and standbys alike (BgWorkerStart_ConsistentState,
 *		not RecoveryFinished).
 */
void
dr_bgw_register(const char *function_name, const char *name, const char *type)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = DR_BGW_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "tensafe_dr", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function_name, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * dr_bgw_startup
 *		First thing in a worker's main function: signal handlers, the
 *		database connection, the session settings (see the file header).
 *		Returns the per-pass memory context, for the caller to reset at the
 *		end of each pass.
 */
MemoryContext
dr_bgw_startup(const char *appname)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dr_database, NULL, 0);
	pgstat_report_appname(appname);

	/* never wait for a synchronous standby, never queue behind a user's lock */
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "1000", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * It runs as a superuser: resolve no name through a schema others can
	 * create in (every query names the extension's schema explicitly).
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	return AllocSetContextCreate(TopMemoryContext, "tensafe_dr worker pass",
								 ALLOCSET_DEFAULT_SIZES);
}

/*
 * dr_bgw_pass_start
 *		Top of each pass: act on a pending SIGTERM or query cancel, and on a
 *		SIGHUP re-read the configuration.  Returns true when it did, so that
 *		the caller can act on intervals that may have changed.
 */
bool
dr_bgw_pass_start(void)
{
	CHECK_FOR_INTERRUPTS();
	if (!ConfigReloadPending)
		return false;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	return true;
}

/*
 * dr_bgw_sleep_until
 *		Bottom of each pass: sleep on the latch until 'wake' (no sleep if it
 *		has passed) or until somebody sets the latch (wakeup.c); exits at
 *		once if the postmaster died.
 */
void
dr_bgw_sleep_until(TimestampTz wake)
{
	TimestampTz now = GetCurrentTimestamp();

	/*
	 * Statistics held back at a commit: flush them within a second.  An
	 * idle worker would otherwise keep its last counts from autovacuum
	 * until its next transaction -- for good, if none comes:
	 * pgstat_report_stat(false) measures from the last commit's time, so
	 * only a forced flush ever sends them (PostgresMain does the same when
	 * a session goes idle).
	 */
	if (stats_pending_since != 0)
	{
		TimestampTz flush_at = TimestampTzPlusMilliseconds(stats_pending_since,
														   DR_BGW_STATS_DELAY_MS);

		if (now >= flush_at)
		{
			pgstat_report_stat(true);
			stats_pending_since = 0;
		}
		else
			wake = Min(wake, flush_at);
	}

	if (wake > now)
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ((wake - now + 999) / 1000), PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/*
 * report_stats
 *		After a commit or an abort: report the transaction's statistics, or
 *		note that some are held back (dr_bgw_sleep_until() flushes them).
 */
static void
report_stats(void)
{
	if (pgstat_report_stat(false) == 0)
		stats_pending_since = 0;
	else if (stats_pending_since == 0)
		stats_pending_since = GetCurrentTimestamp();
}

/*
 * dr_bgw_begin
 *		Open the short transaction of one unit of work: transaction, SPI
 *		connection, snapshot, and 'activity' in pg_stat_activity.  Requires
 *		that no transaction is open.  Close it with dr_bgw_commit(), or on
 *		error with dr_bgw_abort().
 */
void
dr_bgw_begin(const char *activity)
{
	work_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "tensafe_dr: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * dr_bgw_commit
 *		Commit the unit of work dr_bgw_begin() opened, report its statistics
 *		and go back to the memory context dr_bgw_begin() was called in.
 *		What SPI returned is gone: copy what must outlive the transaction
 *		into a longer-lived context first.
 */
void
dr_bgw_commit(void)
{
	MemoryContext cxt = work_caller_cxt;

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	report_stats();
	pgstat_report_activity(STATE_IDLE, NULL);
	work_caller_cxt = NULL;
	MemoryContextSwitchTo(cxt);
}

/*
 * dr_bgw_abort
 *		In a PG_CATCH: log the error, roll back the unit of work if one is
 *		open (SPI and the snapshot go with it) and switch to 'cxt', the
 *		caller's context at its PG_TRY (which an error may have left).  The
 *		worker goes on with its next pass.
 */
void
dr_bgw_abort(MemoryContext cxt)
{
	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	report_stats();
	pgstat_report_activity(STATE_IDLE, NULL);
	work_caller_cxt = NULL;
	MemoryContextSwitchTo(cxt);
}

/*
 * dr_bgw_extension_schema
 *		The schema of the tensafe_dr extension, quoted for use in a query,
 *		or NULL if the extension does not exist (yet, or any more).  Inside
 *		a unit of work; the result lives until dr_bgw_commit().
 */
char *
dr_bgw_extension_schema(void)
{
	if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e"
					" JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
					" WHERE e.extname = 'tensafe_dr'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}
