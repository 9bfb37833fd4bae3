/*-------------------------------------------------------------------------
 *
 * promote.c
 *	  dr_promote_check(): the read-only verdict "may this standby be
 *	  promoted now, and what would it lose" (safe for Patroni's pre_promote;
 *	  the verdict is journalled), and the failback waits dr_wait_for_lag()
 *	  and dr_wait_for_lsn().
 *
 * The gate judges the exposure of a promotion now: the larger of what it
 * could lose and what it must replay first (replay_lag), against
 * tensafe_dr.promote_max_lag (default rpo_max).  What it could lose is
 * rpo_lag while the standby hears from its primary, and what was missing at
 * the last contact (plus a heartbeat) once it does not (lag.c,
 * dr_loss_at_contact): a standby that held everything when its primary
 * died stays promotable however long the outage, as long as the old primary
 * really stopped writing -- Patroni's leader lock or dr_fence() see to that.
 * rpo_state, for dashboards, keeps counting from the last contact.
 * Every figure is on this node's clock (lag.c): a clock offset from the
 * primary changes no verdict, and when it is above
 * tensafe_dr.clock_skew_threshold the reason says it was taken out.
 *
 * The gate never fails because of the journal: if the verdict cannot be
 * journalled (journal full, unreadable), it is returned anyway, with that
 * said in the reason.
 *
 * dr_promote() itself is SQL (install script): it calls the check, then
 * PostgreSQL's own pg_promote(), then journals the outcome.
 *
 * The waits sleep on the backend's latch with a 100 ms timeout between
 * checks of shared memory: interruptible (statement_timeout, cancel,
 * postmaster death), no busy loop, no lock held while waiting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "clock.h"
#include "events.h"
#include "guc.h"
#include "lag.h"
#include "node_state.h"
#include "promote.h"
#include "shared_state.h"

PG_FUNCTION_INFO_V1(dr_promote_check);
PG_FUNCTION_INFO_V1(dr_wait_for_lag);
PG_FUNCTION_INFO_V1(dr_wait_for_lsn);

#define DR_PROMOTE_CHECK_COLS 14
#define DR_WAIT_POLL_MS 100
#define DR_WAIT_MAX_S	(24 * 3600)

/* The gate in seconds: tensafe_dr.promote_max_lag, or rpo_max if unset. */
int
dr_promote_gate_s(void)
{
	return dr_promote_max_lag_s >= 0 ? dr_promote_max_lag_s : dr_rpo_max_s;
}

static Datum
usecs_interval(TimeOffset usecs)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = usecs;
	return IntervalPGetDatum(iv);
}

/*
 * Replay speed over the newest samples, in bytes per second; 0 if replay
 * did not move (paused, or nothing to do).
 */
static double
replay_rate(void)
{
	DrSample	samples[30];
	int			n = dr_ring_copy(samples, lengthof(samples));
	int			first = -1;
	int			i;

	for (i = 0; i < n; i++)
		if (samples[i].role == DR_ROLE_STANDBY && first < 0)
			first = i;
	if (first < 0 || n - 1 <= first || samples[n - 1].at <= samples[first].at ||
		samples[n - 1].replay_lsn <= samples[first].replay_lsn)
		return 0;
	return (double) (samples[n - 1].replay_lsn - samples[first].replay_lsn) /
		((double) (samples[n - 1].at - samples[first].at) / USECS_PER_SEC);
}

static void
format_s(StringInfo buf, TimeOffset usecs)
{
	appendStringInfo(buf, "%.1f s", (double) usecs / USECS_PER_SEC);
}

/*
 * dr_promote_check() - read-only verdict, journalled as PROMOTE_CHECK.
 */
Datum
dr_promote_check(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[DR_PROMOTE_CHECK_COLS];
	bool		nulls[DR_PROMOTE_CHECK_COLS];
	DrNodeState st;
	DrLagFigures fig;
	TimestampTz contact;
	TimeOffset	exposure;
	TimeOffset	loss;
	bool		replay_worse;
	TimeOffset	gate = (TimeOffset) dr_promote_gate_s() * USECS_PER_SEC;
	bool		standby;
	bool		promotable;
	int64		unreplayed = 0;
	TimeOffset	catchup = DR_LAG_UNKNOWN;
	TimeOffset	offset;
	StringInfoData reason;
	StringInfoData details;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	memset(nulls, 0, sizeof(nulls));

	dr_read_node_state(&st, false);
	standby = dr_node_figures(&st, &fig, &contact);
	loss = standby ? dr_loss_at_contact(&st, contact, &fig) : DR_LAG_UNKNOWN;
	replay_worse = fig.replay_lag > loss;
	exposure = loss == DR_LAG_UNKNOWN ? DR_LAG_UNKNOWN : Max(loss, fig.replay_lag);
	if (standby && st.receive_lsn > st.replay_lsn)
		unreplayed = (int64) (st.receive_lsn - st.replay_lsn);
	if (standby)
	{
		double		rate = replay_rate();

		if (unreplayed == 0)
			catchup = 0;
		else if (rate > 0 && !st.replay_paused)
			catchup = (TimeOffset) ((double) unreplayed / rate * USECS_PER_SEC);
	}

	initStringInfo(&reason);
	if (!standby)
	{
		promotable = false;
		appendStringInfoString(&reason, "this node is not a standby");
	}
	else if (exposure == DR_LAG_UNKNOWN)
	{
		promotable = false;
		appendStringInfoString(&reason, "no heartbeat from the primary in this node's WAL: the data loss cannot be bounded");
	}
	else
	{
		promotable = exposure <= gate;
		appendStringInfoString(&reason, replay_worse ? "replay_lag " : "possible data loss ");
		format_s(&reason, exposure);
		appendStringInfoString(&reason, promotable ? " within the gate " : " exceeds the gate ");
		format_s(&reason, gate);
	}
	if (standby && !st.receiver_connected)
		appendStringInfoString(&reason, "; WAL receiver not streaming");
	if (standby && st.replay_paused)
		appendStringInfoString(&reason, "; replay is paused (promotion replays the received WAL first)");
	if (standby && dr_clock_skewed(&offset))
	{
		char		buf[32];

		dr_clock_format(buf, sizeof(buf), offset);
		appendStringInfo(&reason, "; this node's clock is %s off the primary's, taken out of the figures", buf);
	}

	/* journal the verdict: Patroni's pre_promote runs on a read-only standby */
	initStringInfo(&details);
	appendStringInfo(&details, "{\"promotable\":%s,\"reason\":", promotable ? "true" : "false");
	escape_json(&details, reason.data);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "exposure_s", exposure, true);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "loss_s", loss, true);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "rpo_lag_s", fig.rpo_lag, true);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "replay_lag_s", fig.replay_lag, true);
	appendStringInfoChar(&details, ',');
	dr_json_add_interval_s(&details, "gate_s", gate, true);
	appendStringInfo(&details, ",\"unreplayed_bytes\":%lld,\"timeline\":%u,\"receiver_streaming\":%s,\"replay_paused\":%s}",
					 (long long) unreplayed, st.timeline,
					 st.receiver_connected ? "true" : "false",
					 st.replay_paused ? "true" : "false");
	{
		char	   *why;

		/* the verdict stands even if the journal cannot take it */
		if (!dr_journal_event_try("PROMOTE_CHECK", 0, promotable,
								  GetUserNameFromId(GetOuterUserId(), false), details.data, &why))
		{
			ereport(WARNING,
					(errmsg("tensafe_dr: the promotion verdict could not be journalled: %s", why)));
			appendStringInfo(&reason, "; verdict not journalled: %s", why);
		}
	}

	values[0] = BoolGetDatum(promotable);
	values[1] = CStringGetTextDatum(reason.data);
	values[2] = CStringGetTextDatum(standby ? "standby" : "primary");
	if (standby)
		values[3] = BoolGetDatum(st.receiver_connected);
	else
		nulls[3] = true;
	if (contact != 0)
		values[4] = TimestampTzGetDatum(contact);
	else
		nulls[4] = true;
#define PUT_LAG(col, v) do { if ((v) == DR_LAG_UNKNOWN) nulls[col] = true; else values[col] = usecs_interval(v); } while (0)
	PUT_LAG(5, exposure);
	PUT_LAG(6, fig.rpo_lag);
	PUT_LAG(7, fig.replay_lag);
	values[8] = usecs_interval(gate);
	if (standby)
		values[9] = BoolGetDatum(st.replay_paused);
	else
		nulls[9] = true;
	values[10] = Int64GetDatum(unreplayed);
	PUT_LAG(11, catchup);
	values[12] = Int32GetDatum((int32) st.timeline);
	PUT_LAG(13, loss);
#undef PUT_LAG

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* An interval argument as microseconds, refusing negatives and > 1 day. */
static TimeOffset
interval_arg(Interval *iv, const char *name)
{
	TimeOffset	usecs = iv->time + (TimeOffset) iv->day * USECS_PER_DAY +
		(TimeOffset) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;

	if (usecs < 0 || usecs > (TimeOffset) DR_WAIT_MAX_S * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1 day", name)));
	return usecs;
}

/*
 * The memory of one look of a wait, reset before the next: the node state
 * and the figures allocate, and a wait of minutes looks every
 * DR_WAIT_POLL_MS (an error frees it with the caller's context).
 */
static MemoryContext
look_context(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "tensafe_dr wait look",
								 ALLOCSET_SMALL_SIZES);
}

/* Sleep on the latch until the next check; false once 'deadline' passed. */
static bool
wait_a_little(TimestampTz deadline)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms;

	if (now >= deadline)
		return false;
	ms = Min((long) ((deadline - now) / 1000) + 1, DR_WAIT_POLL_MS);
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return true;
}

/*
 * dr_wait_for_lag(max_lag interval, timeout interval) returns bool
 *		Wait until this node's figures (on a primary: every attached
 *		standby's) are at or below max_lag: both rpo_lag and replay_lag.
 *		True if met, false on timeout.
 */
Datum
dr_wait_for_lag(PG_FUNCTION_ARGS)
{
	TimeOffset	max_lag = interval_arg(PG_GETARG_INTERVAL_P(0), "max_lag");
	TimeOffset	timeout = interval_arg(PG_GETARG_INTERVAL_P(1), "timeout");
	TimestampTz deadline = GetCurrentTimestamp() + timeout;
	MemoryContext look_cxt = look_context();
	MemoryContext old = MemoryContextSwitchTo(look_cxt);
	bool		met;

	do
	{
		DrNodeState st;
		DrLagFigures fig;
		TimestampTz contact;

		MemoryContextReset(look_cxt);
		dr_read_node_state(&st, true);
		(void) dr_node_figures(&st, &fig, &contact);
		met = fig.rpo_lag != DR_LAG_UNKNOWN && fig.replay_lag != DR_LAG_UNKNOWN &&
			fig.rpo_lag <= max_lag && fig.replay_lag <= max_lag &&
			(st.role == DR_ROLE_STANDBY ? st.receiver_connected : st.n_standbys > 0);
	} while (!met && wait_a_little(deadline));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(look_cxt);
	PG_RETURN_BOOL(met);
}

/*
 * dr_wait_for_lsn(target pg_lsn, timeout interval) returns bool
 *		On a standby: wait until it has replayed 'target'.  On a primary:
 *		until every attached standby (at least one) has replayed it.
 */
Datum
dr_wait_for_lsn(PG_FUNCTION_ARGS)
{
	XLogRecPtr	target = PG_GETARG_LSN(0);
	TimeOffset	timeout = interval_arg(PG_GETARG_INTERVAL_P(1), "timeout");
	TimestampTz deadline = GetCurrentTimestamp() + timeout;
	MemoryContext look_cxt = look_context();
	MemoryContext old = MemoryContextSwitchTo(look_cxt);
	bool		met;

	do
	{
		DrNodeState st;
		int			i;

		MemoryContextReset(look_cxt);
		dr_read_node_state(&st, true);
		if (st.role == DR_ROLE_STANDBY)
			met = st.replay_lsn >= target;
		else
		{
			met = st.n_standbys > 0;
			for (i = 0; i < st.n_standbys; i++)
				met = met && st.standbys[i].replay_lsn >= target;
		}
	} while (!met && wait_a_little(deadline));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(look_cxt);
	PG_RETURN_BOOL(met);
}
