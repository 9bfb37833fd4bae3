/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The tensafe_dr background worker: one per cluster, on the primary and
 *	  on every standby (it starts once the node is consistent).
 *
 * Each pass of the loop:
 *	- on a standby, every DR_CONTACT_SCAN_MS (and before every sample): the
 *	  primary's heartbeats received since read from the WAL (contact.c: the
 *	  last contact, made durable before it is published);
 *	- every tensafe_dr.sample_interval: a sample of WAL positions and replication state into the shared ring (sampler.c;
 *	  shared memory only),
 *	  and, once the extension exists, an RPO_WARNING / RPO_BREACH /
 *	  RPO_RECOVERED / RPO_UNKNOWN event into the journal when the node's
 *	  rpo_state changed; on a primary, before that, the standby registry
 *	  (standbys.c: a transaction only when a standby's position changed),
 *	  and after it the backends waiting for a
 *	  synchronous standby, and SYNC_STALL / SYNC_RESUMED into the journal
 *	  when a write stall begins or ends (sync_stall.c); on every node
 *	  pg_stat_archiver into shared memory (archiver.c) and, once the
 *	  extension exists, ARCHIVE_FAILING / ARCHIVE_RECOVERED and the
 *	  replication slots' SLOT_* events (slots.c);
 *	- on a primary where the extension exists, every
 *	  tensafe_dr.heartbeat_interval: a heartbeat record in the WAL
 *	  (heartbeat.c);
 *	- where the extension exists, the catalog work (catalog_pass) when
 *	  there is some, each step in a short transaction of its own: on a
 *	  primary that is not fenced (a fenced node commits no write, ours
 *	  included: fence.c), journal entries to flush into dr_event_log (looked at every sample) or lag
 *	  history due (every tensafe_dr.history_interval: sample and prune), or
 *	  housekeeping due (every tensafe_dr.history_interval, sooner while
 *	  retention has a backlog: the event counters folded, at most
 *	  DR_PRUNE_BATCH old events and delivered notifications pruned); on
 *	  every node, dr_status()'s summary (open incident, last event, newest
 *	  verified backup) to refresh: on a primary at once when woken by a
 *	  commit that changed it (wakeup.c), and every DR_SUMMARY_LOOK_MS in
 *	  case (a database still at version 1.0 has no wake-up triggers); on a
 *	  standby, where the catalog changes by replay and no trigger fires,
 *	  every DR_SUMMARY_REFRESH_MS while replay has applied a transaction
 *	  since the last refresh (heartbeats are not transactions), and when
 *	  woken by a journal append -- at most every DR_SUMMARY_MIN_GAP_MS:
 *	  appenders on a standby would otherwise cost a catalog transaction
 *	  each, CPU taken from dr_status() (bench/status_under_journal_load.sh); at start
 *	  and every DR_POSITIONS_RELOAD_MS, the newest dr_wal_positions rows into
 *	  shared memory, to date WAL older than the ring (lag.c); on a
 *	  writable primary every tensafe_dr.due_check_interval (0: never),
 *	  dr_due_events_record(): DRILL_OVERDUE and POSTMORTEM_DUE, once per
 *	  occurrence;
 *	- then sleep on the latch until the next of those is due.
 *
 * An idle node thus opens no transaction at all for minutes: the catalog
 * work was most of the worker's CPU time.
 *
 * The catalog transactions run with synchronous_commit = local and
 * lock_timeout = 1s (bgw.c), so neither a dead synchronous standby nor a
 * user's lock can stall the sampling.  The flush, the history sample, the
 * positions reload and the summary are transactions of their own
 * (catalog_step): an error in one is
 * logged and that transaction rolled back, the others still run, and the
 * failed step is retried DR_CATALOG_RETRY_MS later.  A journal entry the
 * flush cannot take is set aside by dr_journal_flush() itself, so it never
 * holds up the entries after it.
 *
 * The loop, the session and the transactions are bgw.c's (the shape of
 * worker_spi: SIGHUP re-reads the configuration, SIGTERM ends the worker,
 * which the postmaster starts again a second later, postmaster death ends
 * it at once).
 * Catalog access (is the extension there?) is one short transaction, without
 * an xid, when DDL on the extension committed (wakeup.c), after each SIGHUP,
 * and every DR_EXTENSION_RECHECK_MS in case -- on a standby only if replay
 * applied a transaction since; until CREATE EXTENSION has run the worker
 * only samples.  Memory used by a pass lives in a context
 * reset at the end of the pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "archiver.h"
#include "bgw.h"
#include "clock.h"
#include "contact.h"
#include "events.h"
#include "fence.h"
#include "guc.h"
#include "heartbeat.h"
#include "journal.h"
#include "lag.h"
#include "node_state.h"
#include "sampler.h"
#include "slots.h"
#include "standbys.h"
#include "shared_state.h"
#include "sync_stall.h"
#include "wakeup.h"
#include "worker.h"

/*
 * How often to look again for the extension on our own: CREATE, ALTER and
 * DROP EXTENSION wake the worker at commit (wakeup.c), so this only catches
 * what no hook sees (DROP OWNED, a database still without the hook's library
 * version); on a standby, only after replay applied a transaction.
 */
#define DR_EXTENSION_RECHECK_MS			10000
#define DR_SUMMARY_REFRESH_MS			5000
#define DR_SUMMARY_LOOK_MS				60000
#define DR_CATALOG_RETRY_MS				10000
#define DR_SUMMARY_MIN_GAP_MS			100
/*
 * How often a standby looks for new heartbeats in its WAL (at most; at every
 * sample anyway): the contact shown is at most this much older than the
 * newest heartbeat received.
 */
#define DR_CONTACT_SCAN_MS				200
/* How often to re-read dr_wal_positions as dating points older than the ring */
#define DR_POSITIONS_RELOAD_MS			300000
/*
 * Housekeeping (dr_housekeep(): fold the event counters, prune past
 * tensafe_dr.event_retention / outbox_retention): every
 * tensafe_dr.history_interval, and while a step pruned a full batch, again
 * after DR_PRUNE_BACKLOG_MS; each step deletes at most DR_PRUNE_BATCH rows
 * of each table, so no step holds locks for long.
 */
#define DR_PRUNE_BACKLOG_MS				500
#define DR_PRUNE_BATCH					1000

/*
 * dr_register_worker
 *		Register the worker with the postmaster; from _PG_init only.
 */
void
dr_register_worker(void)
{
	dr_bgw_register("dr_worker_main", "tensafe_dr worker", "tensafe_dr");
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

	dr_bgw_begin("tensafe_dr: looking for the extension");
	exists = OidIsValid(get_extension_oid("tensafe_dr", true));
	dr_bgw_commit();
	return exists;
}

/*
 * remember_standby_sample
 *		Keep the figures of this sample, taken as a standby, in shared memory
 *		for note_promotion().
 */
static void
remember_standby_sample(const DrNodeState *st, const DrLagFigures *fig, TimeOffset loss)
{
	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->standby_seen = true;
	DrShared->standby_timeline = st->timeline;
	DrShared->standby_seen_at = st->now;
	DrShared->standby_loss = loss;
	DrShared->standby_rpo_lag = fig->rpo_lag;
	DrShared->standby_replay_lag = fig->replay_lag;
	LWLockRelease(DrShared->lock);
}

/*
 * note_promotion
 *		This node was a standby at the previous sample and is a primary now:
 *		journal PROMOTION_DETECTED, whoever promoted it (dr_promote(),
 *		Patroni, pg_ctl promote), with the figures of the last sample taken
 *		as a standby.  The record of a promotion then never depends on the
 *		tool that did it.  The last standby sample is kept in shared memory,
 *		so a worker restarted between that sample and this one (an error, a
 *		SIGTERM) still records the promotion, once.
 */
static void
note_promotion(const DrNodeState *st)
{
	StringInfoData details;
	TimeLineID	timeline;
	TimestampTz seen_at;
	TimeOffset	loss,
				rpo_lag,
				replay_lag;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	timeline = DrShared->standby_timeline;
	seen_at = DrShared->standby_seen_at;
	loss = DrShared->standby_loss;
	rpo_lag = DrShared->standby_rpo_lag;
	replay_lag = DrShared->standby_replay_lag;
	LWLockRelease(DrShared->lock);

	initStringInfo(&details);
	appendStringInfo(&details, "{\"timeline_before\":%u,\"timeline_after\":%u,\"last_standby_sample\":",
					 timeline, st->timeline);
	escape_json(&details, timestamptz_to_str(seen_at));
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "possible_loss_s", loss, true);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "rpo_lag_s", rpo_lag, true);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "replay_lag_s", replay_lag, true);
	appendStringInfoString(&details, ",\"detected_by\":\"tensafe_dr worker\"}");
	(void) dr_journal_event("PROMOTION_DETECTED", 0, true, "tensafe_dr worker", details.data);

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->standby_seen = false;
	LWLockRelease(DrShared->lock);
}

/*
 * track_rpo_state
 *		Journal an event when this node's rpo_state changed since the last
 *		one recorded (and PROMOTION_DETECTED when it stopped being a standby).  The recorded state lives in shared memory so that a
 *		worker restarted after SIGTERM does not repeat itself.
 */
static void
track_rpo_state(void)
{
	DrNodeState st;
	DrLagFigures fig;
	TimestampTz contact;
	int			prev;
	bool		is_standby;
	bool		was_standby;
	const char *event = NULL;
	StringInfoData details;

	dr_read_node_state(&st, true);
	is_standby = dr_node_figures(&st, &fig, &contact);
	if (is_standby)
		remember_standby_sample(&st, &fig, dr_loss_at_contact(&st, contact, &fig));

	LWLockAcquire(DrShared->lock, LW_SHARED);
	prev = DrShared->recorded_rpo_state;
	was_standby = DrShared->standby_seen;
	LWLockRelease(DrShared->lock);

	if (!is_standby && was_standby)
		note_promotion(&st);

	if (fig.state == (DrRpoState) prev)
		return;
	switch (fig.state)
	{
		case DR_RPO_WARNING:
			event = "RPO_WARNING";
			break;
		case DR_RPO_BREACH:
			event = "RPO_BREACH";
			break;
		case DR_RPO_OK:
			if (prev >= 0)
				event = "RPO_RECOVERED";
			break;
		case DR_RPO_UNKNOWN:
			if (prev < 0)
				return;			/* not known yet: nothing to report */
			event = "RPO_UNKNOWN";
			break;
	}

	if (event)
	{
		initStringInfo(&details);
		appendStringInfoString(&details, "{\"state\":");
		escape_json(&details, dr_rpo_state_name(fig.state));
		appendStringInfoString(&details, ",\"previous\":");
		if (prev >= 0)
			escape_json(&details, dr_rpo_state_name((DrRpoState) prev));
		else
			appendStringInfoString(&details, "null");
		appendStringInfoString(&details, ",\"reason\":");
		escape_json(&details, fig.reason);
		appendStringInfoChar(&details, ',');
		dr_json_add_interval_s(&details, "rpo_lag_s", fig.rpo_lag, true);
		appendStringInfoChar(&details, ',');
		dr_json_add_interval_s(&details, "replay_lag_s", fig.replay_lag, true);
		appendStringInfo(&details, ",\"lag_bytes\":%lld,\"rpo_target_s\":%d,\"rpo_max_s\":%d,\"standbys\":%d}",
						 (long long) fig.lag_bytes, dr_rpo_target_s, dr_rpo_max_s,
						 st.n_standbys);
		(void) dr_journal_event(event, 0, fig.state == DR_RPO_OK, "tensafe_dr worker",
								details.data);
	}

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->recorded_rpo_state = (int) fig.state;
	LWLockRelease(DrShared->lock);
}

/* Run one query through SPI; returns the first column of the first row. */
static char *
spi_value(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "tensafe_dr worker: query failed: %s", sql);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * load_positions
 *		The newest DR_DATES_SIZE rows of dr_wal_positions (the primary's, or
 *		replicated to this standby) into shared memory, to date WAL older
 *		than the ring, which starts empty at every start (lag.c).
 */
static void
load_positions(const char *schema)
{
	DrDate	   *dates;
	uint64		i,
				n;

	pgstat_report_activity(STATE_RUNNING, "tensafe_dr: reading dr_wal_positions");
	if (SPI_execute(psprintf("SELECT lsn, sampled_at FROM %s.dr_wal_positions"
							 " ORDER BY sampled_at DESC LIMIT %d", schema, DR_DATES_SIZE),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensafe_dr worker: could not read dr_wal_positions");
	n = SPI_processed;
	dates = palloc(sizeof(DrDate) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull1,
					isnull2;
		HeapTuple	tup = SPI_tuptable->vals[n - 1 - i];	/* ascending */
		Datum		lsn = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull1);
		Datum		at = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull2);

		dates[i].lsn = isnull1 ? InvalidXLogRecPtr : DatumGetLSN(lsn);
		dates[i].at = isnull2 ? 0 : DatumGetTimestampTz(at);
	}
	dr_dates_set_positions(dates, (int) n);
}

/*
 * The catalog steps of a pass, each in a transaction of its own
 * (catalog_step), so that one failing -- a journal entry the flush cannot
 * take, a fenced primary refusing the history's writes, a lock timeout --
 * neither rolls back nor stops the others.
 */
#define DR_STEP_FLUSH		0x01	/* the journal into dr_event_log (primary) */
#define DR_STEP_HISTORY		0x02	/* lag history sample and prune (primary) */
#define DR_STEP_SUMMARY		0x04	/* dr_status()'s catalog summary */
#define DR_STEP_POSITIONS	0x08	/* dr_wal_positions into shared memory (lag.c) */
#define DR_STEP_DUE			0x10	/* overdue drills, post-mortems due (primary) */
#define DR_STEP_PRUNE		0x20	/* counters folded, retention pruned (primary) */

/* set by the last prune step: it pruned a full batch, more may be due */
static bool prune_backlog = false;

/*
 * flush_journal
 *		Flush the journal's pending entries into dr_event_log, inside the
 *		step's transaction.  Returns the journal sequence flushed up to (0 if
 *		none).  An entry that cannot be flushed is set aside by
 *		dr_journal_flush() and counts as flushed.
 */
static uint64
flush_journal(const char *schema)
{
	char	   *value;

	value = spi_value(psprintf("SELECT flushed_upto FROM %s.dr_journal_flush()", schema));
	return value ? strtoull(value, NULL, 10) : 0;
}

/* Sample the standbys' lag and the WAL positions, inside the step's transaction. */
static void
sample_history(const char *schema)
{
	(void) spi_value(psprintf("SELECT %s.dr_history_sample(make_interval(secs => %d))",
							  schema, dr_history_retention_s));
	(void) spi_value(psprintf("SELECT %s.dr_positions_sample(make_interval(secs => %d))",
							  schema, dr_position_retention_s));
	dr_standbys_persist(schema);	/* standbys.c: the registry's positions */
}

/*
 * housekeep
 *		Fold the event counters and prune what retention allows, at most
 *		DR_PRUNE_BATCH rows of each table, inside the step's transaction
 *		(dr_housekeep(), extension/1.2/93_counters.sql; absent before the
 *		update to 1.2: nothing to do).
 */
static void
housekeep(const char *schema)
{
	int			ret;

	prune_backlog = false;
	if (spi_value(psprintf("SELECT to_regprocedure('%s.dr_housekeep(interval, interval, integer)')",
						   schema)) == NULL)
		return;
	ret = SPI_execute(psprintf("SELECT events_pruned, outbox_pruned FROM %s.dr_housekeep("
							   "make_interval(secs => %d), make_interval(secs => %d), %d)",
							   schema, dr_event_retention_s, dr_outbox_retention_s,
							   DR_PRUNE_BATCH), false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "tensafe_dr worker: dr_housekeep() failed");
	{
		char	   *events = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *outbox = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		prune_backlog = (events && atoi(events) >= DR_PRUNE_BATCH) ||
			(outbox && atoi(outbox) >= DR_PRUNE_BATCH);
	}
}

/*
 * record_due_events
 *		DRILL_OVERDUE and POSTMORTEM_DUE (dr_due_events_record()).  A
 *		database still at 1.1 under this library has no such function: no
 *		error (which would retry every DR_CATALOG_RETRY_MS), nothing to do
 *		until ALTER EXTENSION UPDATE.
 */
static void
record_due_events(const char *schema)
{
	if (spi_value(psprintf("SELECT to_regprocedure('%s.dr_due_events_record()')", schema)) == NULL)
		return;
	(void) spi_value(psprintf("SELECT %s.dr_due_events_record()", schema));
}

/*
 * refresh_summary
 *		dr_status()'s catalog summary (open incident, last event, newest
 *		verified backup) into shared memory, inside the step's transaction.
 */
static void
refresh_summary(const char *schema)
{
	char	   *value;
	int64		open_incident = 0;
	char	   *last_event;

	value = spi_value(psprintf("SELECT max(id) FROM %s.dr_incidents WHERE resolved_at IS NULL",
							   schema));
	if (value)
		open_incident = strtoll(value, NULL, 10);
	/*
	 * The last event: the table's newest (by its index), or the last one
	 * journalled since start if newer -- not the dr_events view, which would
	 * read a standby's whole journal every second.
	 */
	last_event = spi_value(psprintf("SELECT ((extract(epoch FROM occurred_at) - 946684800) * 1000000)::bigint"
									" || ' ' || event_type || ' at ' || occurred_at::text"
									" FROM %s.dr_event_log ORDER BY occurred_at DESC LIMIT 1",
									schema));
	{
		char		journalled[96];
		TimestampTz journalled_at = dr_journal_last_event(journalled, sizeof(journalled));
		char	   *rest = last_event ? strchr(last_event, ' ') : NULL;
		TimestampTz table_at = last_event ? strtoll(last_event, NULL, 10) : 0;

		if (journalled_at != 0 && journalled_at > table_at)
			last_event = pstrdup(journalled);
		else
			last_event = rest ? rest + 1 : NULL;
	}
	/* the notifier's housekeeping runs only while an incident is open */
	if (dr_set_catalog_summary(open_incident, last_event))
		dr_wake(DR_WAKE_INCIDENTS);

	/* the newest verified backup, for dr_status()'s backup_state */
	value = spi_value(psprintf("SELECT ((extract(epoch FROM max(coalesce(stop_time, start_time)))"
							   " - 946684800) * 1000000)::bigint"
							   " FROM %s.dr_backups WHERE verification_ok", schema));
	dr_set_backup_summary(value ? (TimestampTz) strtoll(value, NULL, 10) : 0);
}

/*
 * catalog_step
 *		One catalog step (DR_STEP_*) in one short transaction; an error is
 *		logged and the transaction rolled back.  Returns false if it failed.
 *		Called with no transaction open, in the pass's memory context.
 */
static bool
catalog_step(int step)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile uint64 flushed = 0;
	volatile TransactionId flush_xid = InvalidTransactionId;

	PG_TRY();
	{
		const char *schema;

		dr_bgw_begin(step == DR_STEP_FLUSH ? "tensafe_dr: flushing the journal" :
					 step == DR_STEP_HISTORY ? "tensafe_dr: sampling lag history" :
					 step == DR_STEP_POSITIONS ? "tensafe_dr: reading dr_wal_positions" :
					 step == DR_STEP_DUE ? "tensafe_dr: looking for overdue drills and post-mortems" :
					 step == DR_STEP_PRUNE ? "tensafe_dr: housekeeping" :
					 "tensafe_dr: refreshing the status summary");
		/* NULL: dropped since we last looked */
		schema = dr_bgw_extension_schema();
		if (schema != NULL)
		{
			if (step == DR_STEP_FLUSH)
				flushed = flush_journal(schema);
			else if (step == DR_STEP_HISTORY)
				sample_history(schema);
			else if (step == DR_STEP_POSITIONS)
				load_positions(schema);
			else if (step == DR_STEP_DUE)
				record_due_events(schema);
			else if (step == DR_STEP_PRUNE)
				housekeep(schema);
			else
				refresh_summary(schema);
		}
		if (flushed)
		{
			/* the transaction that inserted the events, for the mark */
			flush_xid = GetTopTransactionIdIfAny();
			DR_TEST_CRASH_POINT("flush_before_commit");
		}
		dr_bgw_commit();
	}
	PG_CATCH();
	{
		dr_bgw_abort(cxt);
		return false;
	}
	PG_END_TRY();

	if (flushed)
	{
		/* only now, after the commit, may the events count as flushed */
		DR_TEST_CRASH_POINT("flush_after_commit");
		dr_journal_mark_flushed(flushed, flush_xid);
		/* the notifier may now drop these events' delivered keys */
		dr_wake(DR_WAKE_JOURNAL);
	}
	return true;
}

/*
 * catalog_pass
 *		The catalog steps due now, each in its own transaction: on a
 *		writable node (a primary, not fenced) the due check, the flush
 *		(when entries are pending) and the history (when due); on every
 *		node the persisted WAL positions (when due) and the summary.  Returns the DR_STEP_* bits of
 *		the steps that failed (0: all done).  Called with no transaction
 *		open, in the pass's memory context.
 */
static int
catalog_pass(bool writable, bool history_due, bool positions_due, bool due_check,
			 bool prune_due)
{
	int			failed = 0;

	if (writable && due_check && !catalog_step(DR_STEP_DUE))
		failed |= DR_STEP_DUE;

	if (writable && dr_journal_pending_count() > 0 && !catalog_step(DR_STEP_FLUSH))
		failed |= DR_STEP_FLUSH;
	if (writable && history_due && !catalog_step(DR_STEP_HISTORY))
		failed |= DR_STEP_HISTORY;
	if (writable && prune_due && !catalog_step(DR_STEP_PRUNE))
		failed |= DR_STEP_PRUNE;
	if (positions_due && !catalog_step(DR_STEP_POSITIONS))
		failed |= DR_STEP_POSITIONS;
	if (!catalog_step(DR_STEP_SUMMARY))
		failed |= DR_STEP_SUMMARY;
	return failed;
}

/*
 * catalog_work_due
 *		Whether a catalog pass has something to do now.  Clears a pending
 *		summary wake-up: the pass about to run covers it; on a standby
 *		leaves it pending until summary_gap_end.  *replayed_xact
 *		tracks, on a standby, the last replayed transaction seen by a pass.
 */
static bool
catalog_work_due(bool primary, bool history_due, bool positions_due, bool prune_due,
				 TimestampTz now,
				 TimestampTz next_summary, TimestampTz *replayed_xact,
				 TimestampTz summary_gap_end)
{
	/* on a standby, journal appends: at most one pass per min gap */
	if (!primary && now < summary_gap_end && dr_peek_wake_reasons(DR_WAKE_SUMMARY) != 0)
		return false;
	if (dr_take_wake_reasons(DR_WAKE_SUMMARY) != 0 || positions_due)
		return true;
	if (primary)
		return history_due || prune_due || now >= next_summary ||
			(!dr_is_fenced() && dr_journal_pending_count() > 0);
	if (now < next_summary)
		return false;
	/* standby: only what replay changed can have changed the summary */
	if (GetLatestXTime() == *replayed_xact)
		return false;
	*replayed_xact = GetLatestXTime();
	return true;
}

void
dr_worker_main(Datum main_arg)
{
	MemoryContext pass_cxt;
	TimestampTz next_sample = 0;
	TimestampTz next_heartbeat = 0;
	TimestampTz next_extension_check = 0;
	TimestampTz next_summary = 0;
	TimestampTz next_history = 0;
	TimestampTz next_positions = 0;
	TimestampTz next_due_check = 0;
	TimestampTz next_prune = 0;
	TimestampTz next_contact_scan = 0;
	TimestampTz catalog_retry_at = 0;
	TimestampTz summary_gap_end = 0;
	TimestampTz replayed_xact = -1;
	TimestampTz extension_checked_xact = -1;
	bool		have_extension = false;

	pass_cxt = dr_bgw_startup("tensafe_dr worker");
	dr_worker_set_pid(MyProcPid, GetCurrentTimestamp());
	on_shmem_exit(withdraw_pid, (Datum) 0);

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake;
		MemoryContext old;

		if (dr_bgw_pass_start())
		{
			/* intervals may have shrunk: act on the new ones now */
			next_sample = next_heartbeat = next_extension_check = 0;
			next_summary = next_history = next_prune = catalog_retry_at = 0;
			next_due_check = 0;
		}

		old = MemoryContextSwitchTo(pass_cxt);
		now = GetCurrentTimestamp();

		if (now >= next_sample || now >= next_contact_scan)
		{
			/* the primary's heartbeats received since: the last contact */
			dr_contact_scan();
			next_contact_scan = TimestampTzPlusMilliseconds(now, DR_CONTACT_SCAN_MS);
		}
		if (now >= next_sample)
		{
			dr_take_sample(NULL);
			dr_archive_sample();	/* pg_stat_archiver (archiver.c) */
			if (have_extension)
			{
				dr_standbys_pass();	/* primary: the standby registry */
				track_rpo_state();
				dr_clock_track();	/* CLOCK_SKEW events (clock.c) */
				dr_archive_track(); /* ARCHIVE_FAILING / _RECOVERED */
				dr_slots_track();	/* SLOT_* events (slots.c) */
			}
			dr_sync_stall_sample(!RecoveryInProgress(), have_extension, now);
			next_sample = TimestampTzPlusMilliseconds(now, dr_sample_interval_ms);
		}

		if (dr_take_wake_reasons(DR_WAKE_EXTENSION) != 0)
			next_extension_check = 0;
		if (now >= next_extension_check)
		{
			/* a standby's catalog changes only when replay applies a transaction */
			if (next_extension_check == 0 || !RecoveryInProgress() ||
				GetLatestXTime() != extension_checked_xact)
			{
				extension_checked_xact = RecoveryInProgress() ? GetLatestXTime() : -1;
				have_extension = extension_exists();
			}
			next_extension_check = TimestampTzPlusMilliseconds(now, DR_EXTENSION_RECHECK_MS);
		}

		if (have_extension && !RecoveryInProgress() && now >= next_heartbeat)
		{
			XLogRecPtr	lsn = dr_write_heartbeat(now);

			dr_note_heartbeat(now, lsn);
			next_heartbeat = TimestampTzPlusMilliseconds(now, dr_heartbeat_interval_ms);
		}

		if (have_extension && now >= catalog_retry_at)
		{
			bool		primary = !RecoveryInProgress();
			bool		writable = primary && !dr_is_fenced();
			bool		history_due = writable && now >= next_history;
			bool		positions_due = now >= next_positions;
			bool		due_check = writable && dr_due_check_interval_s > 0 &&
				now >= next_due_check;
			bool		prune_due = writable && now >= next_prune;

			if (catalog_work_due(primary, history_due || due_check, positions_due, prune_due, now,
								 next_summary, &replayed_xact, summary_gap_end))
			{
				int			failed;

				summary_gap_end = TimestampTzPlusMilliseconds(now, DR_SUMMARY_MIN_GAP_MS);
				failed = catalog_pass(writable, history_due, positions_due, due_check, prune_due);
				if (due_check && !(failed & DR_STEP_DUE))
					next_due_check = TimestampTzPlusMilliseconds(now, dr_due_check_interval_s * 1000);

				/* what succeeded is done; what failed is retried later */
				if (!(failed & DR_STEP_SUMMARY))
					next_summary = TimestampTzPlusMilliseconds(now, primary ? DR_SUMMARY_LOOK_MS
															   : DR_SUMMARY_REFRESH_MS);
				else
					replayed_xact = -1;
				if (history_due && !(failed & DR_STEP_HISTORY))
					next_history = TimestampTzPlusMilliseconds(now, dr_history_interval_s * 1000);
				if (prune_due && !(failed & DR_STEP_PRUNE))
					next_prune = TimestampTzPlusMilliseconds(now, prune_backlog ? DR_PRUNE_BACKLOG_MS
															 : dr_history_interval_s * 1000);
				if (positions_due && !(failed & DR_STEP_POSITIONS))
					next_positions = TimestampTzPlusMilliseconds(now, DR_POSITIONS_RELOAD_MS);
				if (failed)
					catalog_retry_at = TimestampTzPlusMilliseconds(now, DR_CATALOG_RETRY_MS);
			}
			else if (now >= next_summary)
				next_summary = TimestampTzPlusMilliseconds(now, DR_SUMMARY_REFRESH_MS);
		}

		MemoryContextSwitchTo(old);
		MemoryContextReset(pass_cxt);

		/*
		 * Journal entries to flush are noticed at the next sample; a commit
		 * that changed the summary sets the latch.
		 */
		wake = next_sample;
		if (RecoveryInProgress())
			wake = Min(wake, next_contact_scan);
		if (have_extension)
		{
			bool		primary = !RecoveryInProgress();
			/* a fenced primary samples no history (catalog_pass) */
			TimestampTz catalog_due = primary && !dr_is_fenced() ?
				Min(next_summary, Min(next_history, next_prune)) : next_summary;

			if (primary && !dr_is_fenced() && dr_due_check_interval_s > 0)
				catalog_due = Min(catalog_due, next_due_check);

			catalog_due = Min(catalog_due, next_positions);

			wake = Min(wake, Max(catalog_due, catalog_retry_at));
			if (primary)
				wake = Min(wake, next_heartbeat);
			else if (dr_peek_wake_reasons(DR_WAKE_SUMMARY) != 0)
				wake = Min(wake, Max(summary_gap_end, catalog_retry_at));
		}
		dr_bgw_sleep_until(wake);
	}
}
