/*-------------------------------------------------------------------------
 *
 * notifier.c
 *	  The notifier worker: a second background worker, separate from the
 *	  sampler so that a slow or hung endpoint never delays a lag sample.
 *
 * On a primary, each pass:
 *	1. a short transaction reads the oldest due delivery of each channel (up
 *	   to DR_BATCH) from the outbox (dr_outbox_due(): the trigger on
 *	   dr_event_log filled it in the event's own transaction) and commits;
 *	2. POSTs each one with libcurl (webhook_http.c) -- outside any
 *	   transaction, holding no lock -- and right after each, a short
 *	   transaction records its outcome (dr_outbox_result(): backoff with
 *	   jitter, give up after webhook_max_attempts / webhook_max_age);
 *	3. every few seconds, dr_notify_housekeeping(): incident updates and
 *	   escalations, which are events and so reach the outbox themselves.
 * On a standby, or a fenced primary (which commits no write: fence.c),
 * which cannot write an outbox, it delivers the journal's
 * pending events (dr_journal_deliveries()) and remembers what it delivered
 * in the delivered log (delivered_log.c), which the outbox trigger consults
 * when the journal is flushed after a promotion: nothing is sent twice under
 * the same Idempotency-Key by this node.  Retries there are kept in memory.
 * While its journal holds events it also runs the housekeeping every few
 * seconds, for the incidents declared in that journal (no node may be
 * writable during a regional outage: updates and escalations go out from
 * the DR side; extension/1.2/82_notify_standby.sql).
 * On every node, each pass compacts the delivered log when it is due
 * (dr_delivered_compact(): keys of flushed entries are dropped).
 *
 * The notifier does not poll: a commit that queues a delivery wakes it
 * (the outbox's statement trigger, wakeup.c), as does a standby's journal
 * append; otherwise it sleeps until the earliest retry is due, looking on
 * its own every DR_SAFETY_LOOK_MS (a database still at version 1.0 has no
 * trigger).  Housekeeping runs only while an incident is open (the worker
 * wakes the notifier when that changes).
 *
 * One channel per delivery and pass: a hung endpoint delays the others by
 * at most webhook_timeout per pass.  Delivery is at least once: a crash
 * between a POST and its recorded outcome sends it again, under the same
 * Idempotency-Key.  The loop, the session and the transactions are bgw.c's
 * (the shape of worker_spi); SIGTERM aborts a transfer in progress.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bgw.h"
#include "delivered_log.h"
#include "fence.h"
#include "guc.h"
#include "journal.h"
#include "notifier.h"
#include "retry_policy.h"
#include "shared_state.h"
#include "wakeup.h"
#include "webhook_http.h"

#define DR_BATCH				20
#define DR_SAFETY_LOOK_MS		60000
#define DR_HOUSEKEEPING_MS		5000
#define DR_JOURNAL_MIN_GAP_MS	100 /* between looks woken by journal appends */

static int	dr_webhook_connect_timeout_ms = 2000;
static int	dr_webhook_timeout_ms = 5000;
/* the retry policy's settings, read by retry_policy.c (notifier.h) */
int			dr_webhook_max_attempts = 8;
int			dr_webhook_max_age_s = 3600;
int			dr_webhook_backoff_base_ms = 1000;
int			dr_webhook_backoff_max_ms = 300000;
static int	dr_incident_update_interval_s = 900;

/* One delivery read from the outbox or the journal. */
typedef struct Delivery
{
	int64		outbox_id;		/* 0 for a standby delivery */
	char	   *key;
	char	   *url;
	char	   *signature;		/* HMAC-SHA256 of body with the channel secret */
	char	   *body;
	char	   *event_type;
} Delivery;

void
dr_define_notifier_gucs(void)
{
	DefineCustomIntVariable("tensafe_dr.webhook_connect_timeout",
							"How long a webhook delivery may take to connect.",
							NULL, &dr_webhook_connect_timeout_ms, 2000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.webhook_timeout",
							"How long one webhook delivery may take in all.",
							NULL, &dr_webhook_timeout_ms, 5000, 100, 300000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.webhook_max_attempts",
							"Attempts before a delivery is given up as failed.",
							NULL, &dr_webhook_max_attempts, 8, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.webhook_max_age",
							"Age after which an undelivered notification is given up as failed.",
							NULL, &dr_webhook_max_age_s, 3600, 1, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.webhook_backoff_base",
							"First retry delay; each further retry doubles it (with jitter).",
							NULL, &dr_webhook_backoff_base_ms, 1000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.webhook_backoff_max",
							"Longest delay between two attempts of a delivery.",
							NULL, &dr_webhook_backoff_max_ms, 300000, 10, 24 * 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.incident_update_interval",
							"How often an open incident sends an update (runbook 5: every 15 minutes).",
							NULL, &dr_incident_update_interval_s, 900, 1, 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

void
dr_register_notifier(void)
{
	dr_bgw_register("dr_notifier_main", "tensafe_dr notifier", "tensafe_dr notifier");
}

static char *
col(int row, int c)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, c);
}

/*
 * outbox_next_due
 *		When the earliest pending delivery is due (0: none pending); inside
 *		fetch()'s transaction, so nothing committed in between is missed.
 */
static TimestampTz
outbox_next_due(const char *schema)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(psprintf("SELECT min(next_attempt_at) FROM %s.dr_outbox WHERE status = 'pending'",
							 schema), true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "tensafe_dr notifier: could not read the outbox");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * fetch
 *		Run 'sql' (returning key/url/secret/body/event_type[/id]) in its own
 *		short transaction and copy the rows into 'cxt'.  Returns the count;
 *		the extension's schema is looked up first (none: 0 rows).  With
 *		'next_due', also when the next outbox delivery is due.
 */
static int
fetch(const char *sql_fmt, bool primary, Delivery **out, MemoryContext cxt,
	  TimestampTz *next_due)
{
	int			n = 0;
	int			i;
	char	   *schema;

	dr_bgw_begin("tensafe_dr notifier: reading deliveries");
	schema = dr_bgw_extension_schema();

	if (schema != NULL)
	{
		if (SPI_execute(psprintf(sql_fmt, schema, schema), !primary, 0) < 0)
			elog(ERROR, "tensafe_dr notifier: query failed");
		n = (int) SPI_processed;
		*out = MemoryContextAllocZero(cxt, sizeof(Delivery) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			Delivery   *d = &(*out)[i];

			d->key = MemoryContextStrdup(cxt, col(i, 1));
			d->url = MemoryContextStrdup(cxt, col(i, 2));
			d->body = MemoryContextStrdup(cxt, col(i, 4));
			/* here, inside the transaction: see dr_hmac_sha256_hex() */
			d->signature = MemoryContextStrdup(cxt, dr_hmac_sha256_hex(col(i, 3), d->body));
			d->event_type = MemoryContextStrdup(cxt, col(i, 5));
			if (primary)
				d->outbox_id = strtoll(col(i, 6), NULL, 10);
		}
		if (next_due != NULL)
			*next_due = outbox_next_due(schema);
	}
	dr_bgw_commit();
	return n;
}

/* Record the outcomes of a batch in one short transaction. */
static void
record_outcomes(Delivery *batch, DrHttpResult *results, int n)
{
	int			i;
	char	   *schema;
	char	   *sql;

	dr_bgw_begin("tensafe_dr notifier: recording outcomes");
	schema = dr_bgw_extension_schema();
	if (schema == NULL)
		elog(ERROR, "tensafe_dr notifier: the extension was dropped during a delivery");
	sql = psprintf("SELECT %s.dr_outbox_result($1, $2, $3, $4, $5)", schema);
	for (i = 0; i < n; i++)
	{
		Oid			types[5] = {INT8OID, BOOLOID, BOOLOID, INT4OID, TEXTOID};
		Datum		values[5];

		values[0] = Int64GetDatum(batch[i].outbox_id);
		values[1] = BoolGetDatum(results[i].delivered);
		values[2] = BoolGetDatum(results[i].retryable);
		values[3] = Int32GetDatum((int32) results[i].http_status);
		values[4] = CStringGetTextDatum(results[i].error);
		if (SPI_execute_with_args(sql,
								  5, types, values, NULL, false, 0) < 0)
			elog(ERROR, "tensafe_dr notifier: could not record a delivery outcome");
	}
	dr_bgw_commit();
}

static void
post(Delivery *d, DrHttpResult *r)
{
	pgstat_report_activity(STATE_RUNNING, "tensafe_dr notifier: delivering");
	dr_http_post(d->url, d->signature, d->body, d->key, d->event_type,
				 dr_webhook_connect_timeout_ms, dr_webhook_timeout_ms, r);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (!r->delivered)
		ereport(LOG,
				(errmsg("tensafe_dr notifier: delivery %s failed: %s", d->key, r->error)));
}

/*
 * Primary: one batch from the outbox.  Returns how many were attempted;
 * *next_due is when the earliest delivery left pending is due (0: none).
 */
static int
deliver_outbox(MemoryContext cxt, TimestampTz *next_due)
{
	Delivery   *batch = NULL;
	DrHttpResult *results;
	int			n;
	int			i;

	n = fetch("SELECT idempotency_key, url, secret, body, event_type, id"
			  " FROM %s.dr_outbox_due(" CppAsString2(DR_BATCH) ")", true, &batch, cxt,
			  next_due);
	if (n == 0)
		return 0;
	results = palloc0(sizeof(DrHttpResult) * n);
	for (i = 0; i < n; i++)
	{
		/* record each outcome at once: visible while the batch goes on */
		post(&batch[i], &results[i]);
		record_outcomes(&batch[i], &results[i], 1);
	}
	return n;
}

/*
 * Standby: deliver the journal's pending events.  Failed keys wait in a
 * small in-memory table until their retry time.
 */
typedef struct StandbyRetry
{
	char		key[DR_DELIVERED_KEY_MAX];
	int			attempts;
	TimestampTz first_at;		/* first attempt: the delivery's age counts from it */
	TimestampTz next_at;
	bool		given_up;		/* by the retry policy (retry_policy.c) */
} StandbyRetry;

static HTAB *standby_retries = NULL;

/* When the earliest standby retry still allowed is due (0: none). */
static TimestampTz
earliest_retry(void)
{
	HASH_SEQ_STATUS scan;
	StandbyRetry *retry;
	TimestampTz earliest = 0;

	hash_seq_init(&scan, standby_retries);
	while ((retry = hash_seq_search(&scan)) != NULL)
		if (!retry->given_up && (earliest == 0 || retry->next_at < earliest))
			earliest = retry->next_at;
	return earliest;
}

static TimestampTz
deliver_journal(MemoryContext cxt)
{
	Delivery   *batch = NULL;
	int			n;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	if (standby_retries == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = DR_DELIVERED_KEY_MAX;
		ctl.entrysize = sizeof(StandbyRetry);
		standby_retries = hash_create("tensafe_dr standby retries", 64, &ctl,
									  HASH_ELEM | HASH_STRINGS);
	}
	n = fetch("SELECT idempotency_key, url, secret, body, event_type"
			  " FROM %s.dr_journal_deliveries()", false, &batch, cxt, NULL);
	for (i = 0; i < n; i++)
	{
		Delivery   *d = &batch[i];
		DrHttpResult r;
		bool		found;
		StandbyRetry *retry;
		char		key[DR_DELIVERED_KEY_MAX];
		int64		delay_ms;

		strlcpy(key, d->key, sizeof(key));
		retry = hash_search(standby_retries, key, HASH_FIND, &found);
		if (found && (retry->given_up || retry->next_at > now))
			continue;
		post(d, &r);
		if (r.delivered)
		{
			dr_delivered_append(d->key);
			if (found)
				hash_search(standby_retries, key, HASH_REMOVE, NULL);
			continue;
		}
		retry = hash_search(standby_retries, key, HASH_ENTER, &found);
		if (!found)
		{
			retry->attempts = 0;
			retry->first_at = now;
			retry->given_up = false;
		}
		retry->attempts++;
		if (dr_webhook_retry_decide(retry->attempts, (now - retry->first_at) / 1000,
									r.retryable, &delay_ms) == DR_RETRY_AGAIN)
			retry->next_at = now + delay_ms * 1000;
		else
			retry->given_up = true;
	}
	return earliest_retry();
}

/*
 * Incident updates and escalations.  On a primary, of the open incidents
 * of dr_incidents.  On a node that cannot write (standby, fenced), of the
 * declarations journalled there (the table's incidents are the primary's
 * to keep: two senders would double every update); what it records is
 * journalled, and so delivered from here.  It looks while the journal holds
 * events; returns whether it did (a standby then looks again every
 * DR_HOUSEKEEPING_MS).
 */
static bool
housekeeping(bool primary)
{
	bool		keep = true;

	dr_bgw_begin("tensafe_dr notifier: incident updates and escalation");
	{
		char	   *schema = dr_bgw_extension_schema();

		if (!primary)
		{
			uint64		pending = 0;
			char	   *reason = NULL;

			keep = dr_journal_pending_count_try(&pending, &reason) && pending > 0;
		}
		if (keep && schema != NULL &&
			SPI_execute(psprintf("SELECT %s.dr_notify_housekeeping()", schema), false, 0) < 0)
			elog(ERROR, "tensafe_dr notifier: housekeeping failed");
	}
	dr_bgw_commit();
	return keep;
}

static void
withdraw_latch(int code, Datum arg)
{
	dr_notifier_set_latch(NULL);
}

/* Whether an incident is open, as the worker last read it. */
static bool
incident_open(void)
{
	int64		open_incident;
	char		last_event[96];

	dr_get_catalog_summary(&open_incident, last_event, sizeof(last_event));
	return open_incident != 0;
}

/* The sooner of 'next' and 'due', where 0 means "not due". */
static TimestampTz
sooner(TimestampTz next, TimestampTz due)
{
	return due != 0 && due < next ? due : next;
}

void
dr_notifier_main(Datum main_arg)
{
	MemoryContext pass_cxt;
	/* volatile: assigned in the PG_TRY below, read after its PG_CATCH */
	volatile TimestampTz next_look = 0; /* outbox or journal */
	volatile TimestampTz next_housekeeping = 0;
	TimestampTz journal_gap_end = 0;	/* standby: no look woken before */
	volatile bool standby_keep = false; /* standby: housekeeping had work */

	pass_cxt = dr_bgw_startup("tensafe_dr notifier");
	dr_http_init();
	dr_notifier_set_latch(MyLatch);
	on_shmem_exit(withdraw_latch, (Datum) 0);

	for (;;)
	{
		MemoryContext old;
		TimestampTz now;
		TimestampTz wake;
		bool		woken;
		/* a fenced primary delivers as a standby does (header) */
		bool		primary = !RecoveryInProgress() && !dr_is_fenced();

		if (dr_bgw_pass_start())
			next_look = next_housekeeping = 0;

		now = GetCurrentTimestamp();
		/*
		 * On a standby, appenders wake it at every append: one look per
		 * DR_JOURNAL_MIN_GAP_MS covers them (the reason stays pending).
		 */
		if (!primary && now < journal_gap_end)
			woken = false;
		else
			woken = dr_take_wake_reasons(primary ? DR_WAKE_OUTBOX : DR_WAKE_JOURNAL) != 0;
		if (woken && !primary)
			journal_gap_end = TimestampTzPlusMilliseconds(now, DR_JOURNAL_MIN_GAP_MS);
		if (dr_take_wake_reasons(DR_WAKE_INCIDENTS) != 0)
			next_housekeeping = 0;
		old = MemoryContextSwitchTo(pass_cxt);
		PG_TRY();
		{
			/*
			 * Drop the delivered keys no flush can ask for any more, when
			 * due; always at the first pass, before anything is appended,
			 * so that a line torn by a crash is cut first.
			 */
			(void) dr_delivered_compact();
			if (woken || now >= next_look)
			{
				TimestampTz due = 0;

				next_look = TimestampTzPlusMilliseconds(now, DR_SAFETY_LOOK_MS);
				if (primary)
				{
					/* something was attempted: there may be more right away */
					if (deliver_outbox(pass_cxt, &due) > 0)
						next_look = now;
				}
				else
					due = deliver_journal(pass_cxt);
				next_look = sooner(next_look, due);
			}
			if (now >= next_housekeeping &&
				(primary ? incident_open() : woken || standby_keep))
			{
				/*
				 * Due again in DR_HOUSEKEEPING_MS whether this one succeeds
				 * or fails: set before it runs, or a failing housekeeping
				 * would leave it due and the loop would never sleep while an
				 * incident is open.
				 */
				next_housekeeping = TimestampTzPlusMilliseconds(now, DR_HOUSEKEEPING_MS);
				standby_keep = housekeeping(primary) && !primary;
			}
		}
		PG_CATCH();
		{
			dr_bgw_abort(pass_cxt);
			next_look = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), DR_HOUSEKEEPING_MS);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		MemoryContextReset(pass_cxt);

		wake = (primary ? incident_open() : standby_keep) ? Min(next_look, next_housekeeping) : next_look;
		if (!primary && dr_peek_wake_reasons(DR_WAKE_JOURNAL) != 0)
			wake = Min(wake, journal_gap_end);
		dr_bgw_sleep_until(wake);
	}
}
