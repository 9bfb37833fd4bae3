/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The tensafe_dr background worker: one per cluster, on the primary and
 *	  on every standby (it starts once the node is consistent).
 *
 * Each pass of the loop:
 *	- every tensafe_dr.sample_interval: a sample of WAL positions and
 *	  replication state into the shared ring (sampler.c; shared memory only);
 *	- on a primary where the extension exists, every
 *	  tensafe_dr.heartbeat_interval: a heartbeat record in the WAL
 *	  (heartbeat.c);
 *	- then sleep on the latch until the next of those is due.
 *
 * The loop has the shape of worker_spi: SIGHUP re-reads the configuration,
 * SIGTERM ends the worker (the postmaster starts it again after
 * DR_RESTART_SECONDS, as after a crash), postmaster death ends it at once.
 * Catalog access (is the extension there?) is one short transaction, without
 * an xid, every second while the extension is missing and every ten seconds
 * once it is there (to notice DROP EXTENSION), and after each SIGHUP; until
 * CREATE EXTENSION has run the worker only samples.  Memory used by a pass lives in a context
 * reset at the end of the pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "heartbeat.h"
#include "sampler.h"
#include "shared_state.h"
#include "worker.h"

#define DR_RESTART_SECONDS			1
/* how often to look again for the extension: soon while absent, rarely once there */
#define DR_EXTENSION_ABSENT_RECHECK_MS	1000
#define DR_EXTENSION_PRESENT_RECHECK_MS	10000

/*
 * dr_register_worker
 *		Register the worker with the postmaster; from _PG_init only.
 */
void
dr_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* ConsistentState, not RecoveryFinished: it must run on standbys too */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = DR_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "tensafe_dr", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "dr_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "tensafe_dr worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "tensafe_dr", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

static void
withdraw_pid(int code, Datum arg)
{
	dr_worker_set_pid(0, 0);
}

/*
 * extension_exists
 *		Whether CREATE EXTENSION tensafe_dr has been committed in our
 *		database.  Opens and closes its own transaction.
 */
static bool
extension_exists(void)
{
	bool		exists;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "tensafe_dr: looking for the extension");
	exists = OidIsValid(get_extension_oid("tensafe_dr", true));
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return exists;
}

static long
ms_until(TimestampTz when, TimestampTz now)
{
	long		ms = (long) ((when - now + 999) / 1000);

	return Max(ms, 0);
}

void
dr_worker_main(Datum main_arg)
{
	MemoryContext pass_cxt;
	TimestampTz next_sample = 0;
	TimestampTz next_heartbeat = 0;
	TimestampTz next_extension_check = 0;
	bool		have_extension = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dr_database, NULL, 0);
	pgstat_report_appname("tensafe_dr worker");

	dr_worker_set_pid(MyProcPid, GetCurrentTimestamp());
	on_shmem_exit(withdraw_pid, (Datum) 0);

	pass_cxt = AllocSetContextCreate(TopMemoryContext, "tensafe_dr worker pass",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* intervals may have shrunk: act on the new ones now */
			next_sample = next_heartbeat = next_extension_check = 0;
		}

		old = MemoryContextSwitchTo(pass_cxt);
		now = GetCurrentTimestamp();

		if (now >= next_sample)
		{
			dr_take_sample(NULL);
			next_sample = TimestampTzPlusMilliseconds(now, dr_sample_interval_ms);
		}

		if (!RecoveryInProgress())
		{
			if (now >= next_extension_check)
			{
				have_extension = extension_exists();
				next_extension_check = TimestampTzPlusMilliseconds(now,
																   have_extension ? DR_EXTENSION_PRESENT_RECHECK_MS
																   : DR_EXTENSION_ABSENT_RECHECK_MS);
			}
			if (have_extension && now >= next_heartbeat)
			{
				XLogRecPtr	lsn = dr_write_heartbeat(now);

				dr_note_heartbeat(now, lsn);
				next_heartbeat = TimestampTzPlusMilliseconds(now, dr_heartbeat_interval_ms);
			}
		}

		MemoryContextSwitchTo(old);
		MemoryContextReset(pass_cxt);

		wake = next_sample;
		if (have_extension && !RecoveryInProgress())
			wake = Min(wake, next_heartbeat);
		now = GetCurrentTimestamp();
		if (wake > now)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 ms_until(wake, now), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
