/*-------------------------------------------------------------------------
 *
 * status_api.c
 *	  SQL functions over shared memory: dr_status(), dr_standby_lag() (behind
 *	  the dr_replicas view; for a disconnected standby too) and dr_samples().
 *
 * These are the hot path that dashboards poll: they read PostgreSQL's and
 * our shared memory only (no catalog scans, no SPI), each lock held for a
 * copy, none of them ever held by anyone across I/O (shared_state.h); the
 * journal's pending count is read from atomics, without the journal's
 * lock, so dr_status() never waits behind an append's fsync (journal.c);
 * if the journal is not open yet, dr_status() opens it only if nobody else
 * is, and an error doing so (an unreadable file) makes pending_events NULL
 * with the reason in state_reason, never an error of dr_status().
 * The figures and their meaning are defined in lag.c.  dr_status() serves
 * the 1.1 definition (24 columns) too, until ALTER EXTENSION UPDATE adds
 * clock_offset, node_loss_lag and region_loss_lag: the tuple is formed with
 * the caller's descriptor, which ignores the values past its last column.
 * (1.2, issue 17) the WAL archive's exposure (archiver.c, from the
 * worker's reading of pg_stat_archiver in shared memory) and the worst
 * replication slot (slots.c, read from the slots' shared memory as
 * pg_replication_slots is).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "archiver.h"
#include "backup_paths.h"
#include "fence.h"
#include "guc.h"
#include "journal.h"
#include "lag.h"
#include "node_state.h"
#include "shared_state.h"
#include "slots.h"
#include "sync_stall.h"

PG_FUNCTION_INFO_V1(dr_status);
PG_FUNCTION_INFO_V1(dr_standby_lag);
PG_FUNCTION_INFO_V1(dr_standby_lag_disconnected);
PG_FUNCTION_INFO_V1(dr_samples);

#define DR_STATUS_COLS 35
#define DR_STATUS_COLS_1_1 24	/* before clock_offset (1.2) */
#define DR_STANDBY_LAG_COLS 4
#define DR_SAMPLES_COLS 12

static Datum
interval_from_usecs(TimeOffset usecs)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = usecs;
	return IntervalPGetDatum(iv);
}

/* Set a lag column, NULL when unknown. */
static void
put_lag(Datum *values, bool *nulls, int col, TimeOffset lag)
{
	if (lag == DR_LAG_UNKNOWN)
		nulls[col] = true;
	else
		values[col] = interval_from_usecs(lag);
}

static void
put_text(Datum *values, bool *nulls, int col, const char *s)
{
	if (s == NULL || s[0] == '\0')
		nulls[col] = true;
	else
		values[col] = CStringGetTextDatum(s);
}

static void
put_timestamp(Datum *values, bool *nulls, int col, TimestampTz ts)
{
	if (ts == 0)
		nulls[col] = true;
	else
		values[col] = TimestampTzGetDatum(ts);
}

/*
 * result_tupdesc
 *		The blessed result descriptor of the calling function, built once per
 *		backend and function: building it (get_call_result_type over 24 OUT
 *		parameters) was most of dr_status()'s own cost.  Keyed by the
 *		function's OID -- a function's OUT parameters cannot change without
 *		dropping it, which gives it a new OID -- so an ALTER EXTENSION UPDATE
 *		or DROP + CREATE is picked up.  One slot per function of this file.
 */
typedef struct CachedTupdesc
{
	Oid			fn_oid;
	TupleDesc	tupdesc;		/* in TopMemoryContext, blessed */
} CachedTupdesc;

static TupleDesc
result_tupdesc(FunctionCallInfo fcinfo, int expected_cols, int older_cols,
			   CachedTupdesc *cache)
{
	TupleDesc	tupdesc;
	MemoryContext old;

	if (cache->tupdesc != NULL && cache->fn_oid == fcinfo->flinfo->fn_oid)
		return cache->tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != expected_cols && tupdesc->natts != older_cols)
		elog(ERROR, "tensafe_dr library and SQL definitions do not match (%d columns, expected %d)",
			 tupdesc->natts, expected_cols);

	old = MemoryContextSwitchTo(TopMemoryContext);
	tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
	MemoryContextSwitchTo(old);
	if (cache->tupdesc != NULL)
		FreeTupleDesc(cache->tupdesc);
	cache->tupdesc = tupdesc;
	cache->fn_oid = fcinfo->flinfo->fn_oid;
	return tupdesc;
}

/*
 * Receiver status as shown: "connecting" while the receiver runs but has
 * not got through connection setup; the server says "streaming" then.
 */
static const char *
receiver_status(const DrNodeState *st)
{
	if (st->receiver_state == WALRCV_STREAMING && !st->receiver_connected)
		return "connecting";
	return dr_receiver_state_name(st->receiver_state);
}

/*
 * dr_status() - one row answering "can I fail over now, what would I lose".
 */
Datum
dr_status(PG_FUNCTION_ARGS)
{
	static CachedTupdesc cache;
	TupleDesc	tupdesc = result_tupdesc(fcinfo, DR_STATUS_COLS, DR_STATUS_COLS_1_1,
										 &cache);
	Datum		values[DR_STATUS_COLS];
	bool		nulls[DR_STATUS_COLS];
	DrNodeState st;
	DrLagFigures fig;
	DrWorkerInfo worker;
	DrSample	latest;
	bool		have_sample;
	TimestampTz contact = 0;

	memset(nulls, 0, sizeof(nulls));
	dr_read_node_state(&st, true);
	dr_worker_info(&worker);
	have_sample = dr_ring_latest(&latest);

	if (st.role == DR_ROLE_STANDBY)
		dr_standby_node_figures(&st, have_sample ? latest.last_contact : 0,
								&contact, &fig);
	else
		dr_primary_node_figures(&st, &fig);

	put_text(values, nulls, 0, dr_effective_node_name());
	put_text(values, nulls, 1, dr_region);
	values[2] = CStringGetTextDatum(st.role == DR_ROLE_PRIMARY ? "primary" : "standby");
	values[3] = Int32GetDatum((int32) st.timeline);
	values[4] = BoolGetDatum(st.role == DR_ROLE_STANDBY);
	put_text(values, nulls, 5, st.role == DR_ROLE_STANDBY ? receiver_status(&st) : NULL);
	put_timestamp(values, nulls, 6, contact);
	put_lag(values, nulls, 7, fig.replay_lag);
	put_lag(values, nulls, 8, fig.rpo_lag);
	if (fig.lag_bytes < 0)
		nulls[9] = true;
	else
		values[9] = Int64GetDatum(fig.lag_bytes);
	values[10] = interval_from_usecs((TimeOffset) Min(dr_rpo_target_s, dr_rpo_max_s) * USECS_PER_SEC);
	values[11] = interval_from_usecs((TimeOffset) dr_rpo_max_s * USECS_PER_SEC);
	values[12] = CStringGetTextDatum(dr_rpo_state_name(fig.state));
	/* a write stall on synchronous replication comes first (sync_stall.c) */
	put_text(values, nulls, 13, dr_sync_stall_reason(fig.reason));
	values[14] = Int32GetDatum(st.n_standbys);
	if (st.role == DR_ROLE_STANDBY)
		values[15] = BoolGetDatum(st.replay_paused);
	else
		nulls[15] = true;
	put_timestamp(values, nulls, 16, have_sample ? latest.at : 0);
	if (worker.worker_pid != 0)
		values[17] = Int32GetDatum(worker.worker_pid);
	else
		nulls[17] = true;
	{
		int64		open_incident;
		char		last_event[96];

		/*
		 * as last read from the catalog by the worker: on a primary at the
		 * commit that changed it, on a standby within DR_SUMMARY_REFRESH_MS
		 */
		dr_get_catalog_summary(&open_incident, last_event, sizeof(last_event));
		if (open_incident > 0)
			values[18] = Int64GetDatum(open_incident);
		else
			nulls[18] = true;
		put_text(values, nulls, 19, last_event);
	}
	values[20] = BoolGetDatum(dr_is_fenced());
	{
		uint64		pending;
		char	   *why;

		/* never fails nor waits because of the journal: NULL and a reason */
		if (dr_journal_pending_count_try(&pending, &why))
			values[21] = Int64GetDatum((int64) pending);
		else
		{
			nulls[21] = true;
			values[13] = CStringGetTextDatum(psprintf("%s%spending_events unknown: %s",
													  nulls[13] ? "" : fig.reason,
													  nulls[13] ? "" : "; ", why));
			nulls[13] = false;
		}
	}
	{
		/* newest verified backup (worker-refreshed) against backup_max_age */
		TimestampTz newest = dr_get_backup_summary();

		put_timestamp(values, nulls, 22, newest);
		if (newest == 0)
			values[23] = CStringGetTextDatum("unknown");
		else if (st.now - newest > (TimeOffset) dr_backup_max_age_s * USECS_PER_SEC)
			values[23] = CStringGetTextDatum("warning");
		else
			values[23] = CStringGetTextDatum("ok");
	}
	{
		/* 1.2: this standby's clock minus the primary's (clock.c) */
		TimeOffset	offset;

		if (st.role == DR_ROLE_STANDBY && dr_clock_offset_get(&offset))
			values[24] = interval_from_usecs(offset);
		else
			nulls[24] = true;
	}
	/* 1.2: a primary's exposures (lag.c); NULL on a standby */
	put_lag(values, nulls, 25, st.role == DR_ROLE_PRIMARY ? fig.node_loss_lag : DR_LAG_UNKNOWN);
	put_lag(values, nulls, 26, st.role == DR_ROLE_PRIMARY ? fig.region_loss_lag : DR_LAG_UNKNOWN);
	{
		/* 1.2: the WAL archive's exposure, judged on its own (archiver.c) */
		DrArchiveFigures arch;

		dr_archive_figures(&st, &arch);
		put_lag(values, nulls, 27, arch.lag);
		values[28] = CStringGetTextDatum(dr_archive_state_name(arch.state));
		put_text(values, nulls, 29, arch.reason);
		if (arch.archiving && arch.seen.sampled_at != 0)
		{
			values[30] = Int64GetDatum(arch.seen.failed_count);
			put_timestamp(values, nulls, 31, arch.seen.last_failed_at);
			put_text(values, nulls, 32, arch.seen.last_failed_wal);
		}
		else
			nulls[30] = nulls[31] = nulls[32] = true;
	}
	{
		/* 1.2: the worst replication slot (slots.c) */
		DrSlotInfo *slots;
		int			n = dr_slots_read(&slots);
		int			worst = dr_slots_worst(slots, n);

		values[33] = CStringGetTextDatum(worst < 0 ? "none" :
										 dr_slot_state_name(slots[worst].state));
		put_text(values, nulls, 34, worst >= 0 && slots[worst].state != DR_SLOT_OK ?
				 slots[worst].name : NULL);
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * dr_standby_lag(flush_lsn, replay_lsn) - figures for a standby attached to
 * this node, from the positions it reported (pg_stat_replication).
 */
Datum
dr_standby_lag(PG_FUNCTION_ARGS)
{
	static CachedTupdesc cache;
	TupleDesc	tupdesc = result_tupdesc(fcinfo, DR_STANDBY_LAG_COLS, DR_STANDBY_LAG_COLS,
										 &cache);
	XLogRecPtr	flush_lsn = PG_GETARG_LSN(0);
	XLogRecPtr	replay_lsn = PG_GETARG_LSN(1);
	Datum		values[DR_STANDBY_LAG_COLS];
	bool		nulls[DR_STANDBY_LAG_COLS];
	DrNodeState st;
	DrLagFigures fig;

	memset(nulls, 0, sizeof(nulls));
	dr_read_node_state(&st, false);
	dr_replica_figures(dr_primary_position(&st), flush_lsn, replay_lsn, st.now, &fig);

	put_lag(values, nulls, 0, fig.rpo_lag);
	put_lag(values, nulls, 1, fig.replay_lag);
	if (fig.lag_bytes < 0)
		nulls[2] = true;		/* not reported yet */
	else
		values[2] = Int64GetDatum(fig.lag_bytes);
	values[3] = CStringGetTextDatum(dr_rpo_state_name(fig.state));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * dr_standby_lag(flush_lsn, replay_lsn, last_seen) - figures for a standby
 * this primary remembers and that is not connected, from the positions it
 * held when last seen (dr_disconnected_figures).  Not STRICT: a standby
 * declared and never seen has no positions ('unknown').
 */
Datum
dr_standby_lag_disconnected(PG_FUNCTION_ARGS)
{
	static CachedTupdesc cache;
	TupleDesc	tupdesc = result_tupdesc(fcinfo, DR_STANDBY_LAG_COLS, DR_STANDBY_LAG_COLS,
										   &cache);
	XLogRecPtr	flush_lsn = PG_ARGISNULL(0) ? InvalidXLogRecPtr : PG_GETARG_LSN(0);
	XLogRecPtr	replay_lsn = PG_ARGISNULL(1) ? InvalidXLogRecPtr : PG_GETARG_LSN(1);
	TimestampTz last_seen = PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2);
	Datum		values[DR_STANDBY_LAG_COLS];
	bool		nulls[DR_STANDBY_LAG_COLS];
	DrNodeState st;
	DrLagFigures fig;

	memset(nulls, 0, sizeof(nulls));
	dr_read_node_state(&st, false);
	dr_disconnected_figures(dr_primary_position(&st), flush_lsn, replay_lsn, last_seen,
							st.now, &fig);

	put_lag(values, nulls, 0, fig.rpo_lag);
	put_lag(values, nulls, 1, fig.replay_lag);
	if (fig.lag_bytes < 0)
		nulls[2] = true;
	else
		values[2] = Int64GetDatum(fig.lag_bytes);
	values[3] = CStringGetTextDatum(dr_rpo_state_name(fig.state));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static void
put_lsn(Datum *values, bool *nulls, int col, XLogRecPtr lsn)
{
	if (XLogRecPtrIsInvalid(lsn))
		nulls[col] = true;
	else
		values[col] = LSNGetDatum(lsn);
}

/*
 * dr_samples(max_samples) - the newest samples of the ring, oldest first.
 */
Datum
dr_samples(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		max_samples = PG_GETARG_INT32(0);
	DrSample   *samples;
	int			n,
				i;

	if (max_samples < 1 || max_samples > DR_RING_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_samples must be between 1 and %d", DR_RING_SIZE),
				 errdetail("The value given was %d.", max_samples)));

	InitMaterializedSRF(fcinfo, 0);
	samples = palloc(sizeof(DrSample) * max_samples);
	n = dr_ring_copy(samples, max_samples);

	for (i = 0; i < n; i++)
	{
		const DrSample *s = &samples[i];
		Datum		values[DR_SAMPLES_COLS];
		bool		nulls[DR_SAMPLES_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = TimestampTzGetDatum(s->at);
		values[1] = CStringGetTextDatum(s->role == DR_ROLE_PRIMARY ? "primary" : "standby");
		values[2] = Int32GetDatum((int32) s->timeline);
		put_lsn(values, nulls, 3, s->primary_lsn);
		put_lsn(values, nulls, 4, s->insert_lsn);
		put_lsn(values, nulls, 5, s->receive_lsn);
		put_lsn(values, nulls, 6, s->replay_lsn);
		put_text(values, nulls, 7, dr_receiver_state_name(s->receiver_state));
		put_timestamp(values, nulls, 8, s->last_contact);
		values[9] = Int32GetDatum(s->n_standbys);
		put_lsn(values, nulls, 10, s->standby_min_flush);
		put_lsn(values, nulls, 11, s->standby_min_replay);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
