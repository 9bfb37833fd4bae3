/*-------------------------------------------------------------------------
 *
 * retry_policy.c
 *	  The webhook retry policy, written once: after a failed attempt, a
 *	  delivery is given up if the failure is not retryable, if it has had
 *	  tensafe_dr.webhook_max_attempts attempts, or if it is older than
 *	  tensafe_dr.webhook_max_age; otherwise it is tried again after an
 *	  exponential backoff with jitter:
 *
 *		min(webhook_backoff_max, webhook_backoff_base * 2^(attempts - 1))
 *			* (0.5 + a uniform random number in [0, 1))
 *
 * Two callers: on a primary, dr_outbox_result() (SQL,
 * extension/1.2/80_notify.sql) calls dr_webhook_retry() here for each
 * outbox row; on a standby, which cannot write an outbox, the notifier
 * (notifier.c) calls dr_webhook_retry_decide() for its in-memory retries
 * (a delivery's age counts from its first attempt on that node there).
 *
 * The settings are the GUC variables the notifier defines (notifier.h).
 * No locks, no I/O.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "notifier.h"
#include "retry_policy.h"

PG_FUNCTION_INFO_V1(dr_webhook_retry);

/*
 * dr_webhook_retry_decide
 *		The verdict on a delivery that has just failed its attempts'th
 *		attempt (1 for the first), age_ms after it was created, with a
 *		failure that is or is not worth retrying.  With DR_RETRY_AGAIN,
 *		*delay_ms is how long to wait before the next attempt.
 */
DrRetryVerdict
dr_webhook_retry_decide(int attempts, int64 age_ms, bool retryable, int64 *delay_ms)
{
	double		base_ms = dr_webhook_backoff_base_ms;
	double		cap_ms = dr_webhook_backoff_max_ms;
	double		backoff;

	*delay_ms = 0;
	if (!retryable)
		return DR_RETRY_NOT_RETRYABLE;
	if (attempts >= dr_webhook_max_attempts)
		return DR_RETRY_MAX_ATTEMPTS;
	if (age_ms >= (int64) dr_webhook_max_age_s * 1000)
		return DR_RETRY_MAX_AGE;
	backoff = Min(cap_ms, base_ms * pow(2.0, Max(attempts - 1, 0)));
	*delay_ms = (int64) (backoff * (0.5 + pg_prng_double(&pg_global_prng_state)));
	return DR_RETRY_AGAIN;
}

/*
 * dr_webhook_retry(attempts integer, age interval, retryable boolean,
 *					OUT give_up text, OUT retry_in interval)
 *		The policy for SQL (dr_outbox_result()): either why the delivery is
 *		given up ('not retryable', 'gave up after 8 attempts', 'gave up
 *		after 01:00:00') and a NULL retry_in, or a NULL give_up and the
 *		delay before the next attempt.  Internal: not granted to anybody.
 */
Datum
dr_webhook_retry(PG_FUNCTION_ARGS)
{
	int32		attempts = PG_GETARG_INT32(0);
	Interval   *age = PG_GETARG_INTERVAL_P(1);
	bool		retryable = PG_GETARG_BOOL(2);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		age_ms;
	int64		delay_ms;
	Interval   *iv;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* months and days as PostgreSQL's interval arithmetic counts them */
	age_ms = (age->time + ((int64) age->month * DAYS_PER_MONTH + age->day) * USECS_PER_DAY) / 1000;

	switch (dr_webhook_retry_decide(attempts, age_ms, retryable, &delay_ms))
	{
		case DR_RETRY_AGAIN:
			nulls[0] = true;
			iv = palloc0(sizeof(Interval));
			iv->time = delay_ms * 1000;
			values[1] = IntervalPGetDatum(iv);
			break;
		case DR_RETRY_NOT_RETRYABLE:
			values[0] = CStringGetTextDatum("not retryable");
			nulls[1] = true;
			break;
		case DR_RETRY_MAX_ATTEMPTS:
			values[0] = CStringGetTextDatum(psprintf("gave up after %d attempts", attempts));
			nulls[1] = true;
			break;
		case DR_RETRY_MAX_AGE:
			iv = palloc0(sizeof(Interval));
			iv->time = (int64) dr_webhook_max_age_s * USECS_PER_SEC;
			values[0] = CStringGetTextDatum(psprintf("gave up after %s",
													 DatumGetCString(DirectFunctionCall1(interval_out,
																						 IntervalPGetDatum(iv)))));
			nulls[1] = true;
			break;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
