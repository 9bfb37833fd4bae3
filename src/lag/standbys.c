/*-------------------------------------------------------------------------
 *
 * standbys.c
 *	  The primary's memory of its standbys (dr_standbys): the worker's side.
 *
 * On a primary where the extension (1.2 or later) exists, the worker calls
 * dr_standbys_pass() once per sample.  Without a transaction, it copies the
 * walsenders' flush and replay positions into the remembered standbys they
 * stream to (shared memory: dr_remembered_note_positions), so the figures
 * of a standby that stops streaming start from where it really was.  It
 * opens a short transaction (a look) only when
 *	- the set of walsenders changed since the last look (a standby connected
 *	  or left), or one of them first reported its positions;
 *	- dr_standby_set() or dr_standby_forget() committed (DR_WAKE_STANDBYS);
 *	- the registry was never loaded since this server started.
 * A look runs dr_standbys_sync(): it inserts a standby seen for the first
 * time and writes the last positions of one that just stopped streaming,
 * then returns the registry, which is mirrored into shared memory
 * (dr_remembered_publish) for dr_status(), which reads no catalog (lag.c).
 * The positions of the standbys still streaming are written with the lag
 * history (dr_standbys_persist(), from the worker's catalog pass every
 * tensafe_dr.history_interval, in the same transaction): a commit every
 * heartbeat would make an idle primary look busy to its standbys.  After a
 * crash of the primary the positions read back are thus up to one
 * history_interval old: a standby that does not come back reads older,
 * never younger, than it is.  The updates are HOT (fillfactor 50).  An idle
 * primary whose standbys stay connected opens no transaction here.
 *
 * Comparing each look with the previous one gives the events: a
 * remembered standby that was streaming and is no longer is STANDBY_LOST;
 * one that was lost and streams again is STANDBY_RETURNED (both journalled,
 * like the RPO events).  The first look after a start records nothing: a
 * standby that left while the primary was down was not seen leaving.
 * Every sample, each remembered standby is also judged on its own figures:
 * STANDBY_LAGGING and STANDBY_CAUGHT_UP (journal_lagging()).
 *
 * Locking: none held here; shared_state.c's accessors lock for a copy.
 * A failing pass (for instance a database not yet updated to 1.2) is
 * logged and retried DR_STANDBYS_RETRY_MS later.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "bgw.h"
#include "events.h"
#include "guc.h"
#include "lag.h"
#include "node_state.h"
#include "shared_state.h"
#include "standbys.h"
#include "wakeup.h"

#define DR_STANDBYS_RETRY_MS 10000

/* The walsenders (pids) at the last look, and when a failed pass may retry */
static uint32 synced_signature = 0;
static bool synced_once = false;
static TimestampTz retry_at = 0;

static uint32
walsender_signature(const DrNodeState *st)
{
	uint32		h = 0x5eed;
	int			i;

	/* which walsenders, and whether each reports positions yet */
	for (i = 0; i < st->n_standbys; i++)
		h = hash_combine(h, (uint32) st->standbys[i].pid * 4 +
						 (XLogRecPtrIsInvalid(st->standbys[i].flush_lsn) ? 0 : 1) +
						 (XLogRecPtrIsInvalid(st->standbys[i].replay_lsn) ? 0 : 2));
	return hash_combine(h, (uint32) st->n_standbys);
}

/* The walsenders' positions now into the remembered standbys (no I/O) */
static void
note_positions(const DrNodeState *st)
{
	pid_t	   *pids = palloc(sizeof(pid_t) * Max(st->n_standbys, 1));
	XLogRecPtr *flush = palloc(sizeof(XLogRecPtr) * Max(st->n_standbys, 1));
	XLogRecPtr *replay = palloc(sizeof(XLogRecPtr) * Max(st->n_standbys, 1));
	int			i;

	for (i = 0; i < st->n_standbys; i++)
	{
		pids[i] = st->standbys[i].pid;
		flush[i] = st->standbys[i].flush_lsn;
		replay[i] = st->standbys[i].replay_lsn;
	}
	dr_remembered_note_positions(pids, flush, replay, st->n_standbys, st->now);
}

static void
journal_transition(const char *event, const DrRemembered *r, const DrNodeState *st)
{
	StringInfoData details;
	DrLagFigures fig;

	dr_disconnected_figures(st->flush_lsn, r->flush_lsn, r->replay_lsn, r->last_seen,
							st->now, &fig);
	initStringInfo(&details);
	appendStringInfoString(&details, "{\"standby\":");
	escape_json(&details, r->name);
	appendStringInfo(&details, ",\"declared\":%s", r->declared ? "true" : "false");
	if (r->last_seen != 0)
	{
		appendStringInfoString(&details, ",\"last_seen\":");
		escape_json(&details, timestamptz_to_str(r->last_seen));
	}
	appendStringInfo(&details, ",\"last_flush_lsn\":\"%X/%X\"",
					 LSN_FORMAT_ARGS(r->flush_lsn));
	if (strcmp(event, "STANDBY_LOST") == 0)
	{
		appendStringInfoChar(&details, ',');
		dr_json_add_interval_s(&details, "rpo_lag_s", fig.rpo_lag, true);
		appendStringInfoString(&details, ",\"rpo_state\":");
		escape_json(&details, dr_rpo_state_name(fig.state));
	}
	appendStringInfo(&details, ",\"streaming_standbys\":%d}", st->n_standbys);
	(void) dr_journal_event(event, 0, strcmp(event, "STANDBY_RETURNED") == 0,
							"tensafe_dr worker", details.data);
}

/*
 * journal_lagging
 *		Each remembered standby judged on its own figures, every sample: one
 *		that reaches warning or breach (or moves between them) is
 *		STANDBY_LAGGING, one back to ok after that is STANDBY_CAUGHT_UP.
 *		The primary's own state judges the best copy (lag.c), so a lagging
 *		HA standby would otherwise raise nothing.  What was recorded lives in
 *		shared memory (DrRemembered.recorded_state): a restarted worker does
 *		not repeat it; a server restart forgets it, and a standby still
 *		lagging then is recorded again.  'unknown' changes nothing.
 */
static void
journal_lagging(const DrNodeState *st)
{
	DrRemembered *mem = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	int			n = dr_remembered_copy(mem, NULL);
	int			i;

	for (i = 0; i < n; i++)
	{
		DrLagFigures fig;
		bool		connected = false;
		int			j;
		const char *event;
		StringInfoData details;

		if (XLogRecPtrIsInvalid(mem[i].flush_lsn))
			continue;
		for (j = 0; j < st->n_standbys; j++)
			if (mem[i].pid != 0 && st->standbys[j].pid == mem[i].pid)
			{
				dr_replica_figures(st->flush_lsn, st->standbys[j].flush_lsn,
								   st->standbys[j].replay_lsn, st->now, &fig);
				connected = true;
				break;
			}
		if (!connected)
			dr_disconnected_figures(st->flush_lsn, mem[i].flush_lsn, mem[i].replay_lsn,
									mem[i].last_seen, st->now, &fig);

		if ((fig.state == DR_RPO_WARNING || fig.state == DR_RPO_BREACH) &&
			fig.state != mem[i].recorded_state)
			event = "STANDBY_LAGGING";
		else if (fig.state == DR_RPO_OK &&
				 (mem[i].recorded_state == DR_RPO_WARNING ||
				  mem[i].recorded_state == DR_RPO_BREACH))
			event = "STANDBY_CAUGHT_UP";
		else
			continue;

		initStringInfo(&details);
		appendStringInfoString(&details, "{\"standby\":");
		escape_json(&details, mem[i].name);
		if (mem[i].region[0] != '\0')
		{
			appendStringInfoString(&details, ",\"region\":");
			escape_json(&details, mem[i].region);
		}
		if (mem[i].purpose[0] != '\0')
		{
			appendStringInfoString(&details, ",\"purpose\":");
			escape_json(&details, mem[i].purpose);
		}
		appendStringInfo(&details, ",\"connected\":%s,\"rpo_state\":",
						 connected ? "true" : "false");
		escape_json(&details, dr_rpo_state_name(fig.state));
		appendStringInfoChar(&details, ',');
		dr_json_add_interval_s(&details, "rpo_lag_s", fig.rpo_lag, true);
		appendStringInfoChar(&details, ',');
		dr_json_add_interval_s(&details, "replay_lag_s", fig.replay_lag, true);
		appendStringInfoString(&details, ",\"reason\":");
		escape_json(&details, fig.reason);
		appendStringInfoChar(&details, '}');
		(void) dr_journal_event(event, 0, fig.state == DR_RPO_OK, "tensafe_dr worker",
								details.data);
		dr_remembered_set_recorded(mem[i].name, (int8) fig.state);
	}
}

/*
 * look
 *		Inside a transaction: note new standbys and positions
 *		(dr_standbys_sync(); all positions if persist), read the registry,
 *		publish it, journal the transitions against the previous look.
 */
static void
look(const char *schema, bool persist)
{
	DrRemembered *prev = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	DrRemembered *now = palloc0(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	bool		loaded;
	int			n_prev = dr_remembered_copy(prev, &loaded);
	int			n = 0;
	int			n_known = 0;
	uint64		i;
	Oid			argtypes[6] = {TEXTOID, TEXTARRAYOID, PG_LSNARRAYOID, PG_LSNARRAYOID,
	TIMESTAMPTZARRAYOID, BOOLOID};
	Datum		args[6];
	Datum	   *names = palloc(sizeof(Datum) * DR_REMEMBERED_MAX);
	Datum	   *flush = palloc(sizeof(Datum) * DR_REMEMBERED_MAX);
	Datum	   *replay = palloc(sizeof(Datum) * DR_REMEMBERED_MAX);
	Datum	   *seen = palloc(sizeof(Datum) * DR_REMEMBERED_MAX);
	bool		isnull;
	DrNodeState st;

	/* a database not updated to 1.2 yet has no registry: nothing to do */
	if (SPI_execute(psprintf("SELECT pg_catalog.to_regprocedure(%s) IS NOT NULL",
							 quote_literal_cstr(psprintf("%s.dr_standbys_sync(text,text[],pg_lsn[],"
														 "pg_lsn[],timestamptz[],boolean)",
														 schema))),
					true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1 ||
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&isnull)))
	{
		dr_remembered_publish(NULL, 0);
		return;
	}

	/* what shared memory knows of the standbys seen, for the table */
	for (i = 0; i < (uint64) n_prev; i++)
	{
		if (XLogRecPtrIsInvalid(prev[i].flush_lsn) || prev[i].last_seen == 0)
			continue;
		names[n_known] = CStringGetTextDatum(prev[i].name);
		flush[n_known] = LSNGetDatum(prev[i].flush_lsn);
		replay[n_known] = LSNGetDatum(XLogRecPtrIsInvalid(prev[i].replay_lsn) ?
									  prev[i].flush_lsn : prev[i].replay_lsn);
		seen[n_known] = TimestampTzGetDatum(prev[i].last_seen);
		n_known++;
	}
	args[0] = CStringGetTextDatum(dr_effective_node_name());
	args[1] = PointerGetDatum(construct_array(names, n_known, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(flush, n_known, LSNOID, sizeof(XLogRecPtr),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(replay, n_known, LSNOID, sizeof(XLogRecPtr),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = PointerGetDatum(construct_array(seen, n_known, TIMESTAMPTZOID,
											  sizeof(TimestampTz), FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	args[5] = BoolGetDatum(persist);
	if (SPI_execute_with_args(psprintf("SELECT standby_name, declared, last_seen, last_flush_lsn,"
									   " last_replay_lsn, pid, region, purpose"
									   " FROM %s.dr_standbys_sync($1, $2, $3, $4, $5, $6)",
									   schema),
							  6, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensafe_dr worker: dr_standbys_sync() failed");

	n = 0;
	for (i = 0; i < SPI_processed && n < DR_REMEMBERED_MAX; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		DrRemembered *r = &now[n++];
		Datum		d;
		char	   *name = SPI_getvalue(tup, desc, 1);
		int			j;

		strlcpy(r->name, name ? name : "", sizeof(r->name));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		r->declared = !isnull && DatumGetBool(d);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		r->last_seen = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		r->flush_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		r->replay_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		r->pid = isnull ? 0 : (pid_t) DatumGetInt32(d);
		name = SPI_getvalue(tup, desc, 7);
		strlcpy(r->region, name ? name : "", sizeof(r->region));
		name = SPI_getvalue(tup, desc, 8);
		strlcpy(r->purpose, name ? name : "", sizeof(r->purpose));
		r->recorded_state = -1;

		/* shared memory may know newer positions than the table (not persisted) */
		for (j = 0; j < n_prev; j++)
		{
			if (strcmp(prev[j].name, r->name) != 0)
				continue;
			if (prev[j].last_seen > r->last_seen && !XLogRecPtrIsInvalid(prev[j].flush_lsn))
			{
				r->last_seen = prev[j].last_seen;
				r->flush_lsn = prev[j].flush_lsn;
				r->replay_lsn = prev[j].replay_lsn;
			}
			break;
		}
	}
	dr_remembered_publish(now, n);

	if (!loaded)
		return;
	dr_read_node_state(&st, true);
	for (i = 0; i < (uint64) n; i++)
	{
		int			j;

		for (j = 0; j < n_prev; j++)
		{
			if (strcmp(prev[j].name, now[i].name) != 0)
				continue;
			if (prev[j].pid != 0 && now[i].pid == 0)
				journal_transition("STANDBY_LOST", &now[i], &st);
			else if (prev[j].pid == 0 && now[i].pid != 0 &&
					 !XLogRecPtrIsInvalid(prev[j].flush_lsn))
				journal_transition("STANDBY_RETURNED", &now[i], &st);
			break;
		}
	}
}

/*
 * dr_standbys_persist
 *		From the worker's catalog pass on a primary, with the lag history:
 *		write the positions of every remembered standby that changed.
 *		Inside that pass's transaction; 'schema' quoted.
 */
void
dr_standbys_persist(const char *schema)
{
	pgstat_report_activity(STATE_RUNNING, "tensafe_dr: standby positions");
	look(schema, true);
}

/*
 * dr_standbys_pass
 *		The worker's per-sample look at the standby registry (see the file
 *		header).  Primary only; called with no transaction open, in the
 *		pass's memory context.
 */
void
dr_standbys_pass(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	DrNodeState st;
	uint32		signature;
	bool		loaded;
	bool		woken;
	DrRemembered *mem;

	if (RecoveryInProgress())
		return;
	dr_read_node_state(&st, true);
	note_positions(&st);
	journal_lagging(&st);
	signature = walsender_signature(&st);
	woken = dr_take_wake_reasons(DR_WAKE_STANDBYS) != 0;
	mem = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	(void) dr_remembered_copy(mem, &loaded);

	if (!woken && loaded && synced_once && signature == synced_signature)
		return;
	if (!woken && st.now < retry_at)
		return;

	PG_TRY();
	{
		const char *schema;

		dr_bgw_begin("tensafe_dr: standby registry");
		schema = dr_bgw_extension_schema();
		if (schema != NULL)
			look(schema, false);
		dr_bgw_commit();
		synced_signature = signature;
		synced_once = true;
		retry_at = 0;
	}
	PG_CATCH();
	{
		dr_bgw_abort(cxt);
		/* look again once the retry is due, woken or not */
		synced_once = false;
		retry_at = TimestampTzPlusMilliseconds(st.now, DR_STANDBYS_RETRY_MS);
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(dr_remembered_standbys);

/*
 * dr_remembered_standbys() - the registry's copy in shared memory (what
 * dr_status() counts), for dr_replicas: newer positions than the table's
 * for a standby that has just stopped streaming.
 */
Datum
dr_remembered_standbys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DrRemembered *mem = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	int			n = dr_remembered_copy(mem, NULL);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = CStringGetTextDatum(mem[i].name);
		values[1] = Int32GetDatum((int32) mem[i].pid);
		nulls[1] = mem[i].pid == 0;
		values[2] = TimestampTzGetDatum(mem[i].last_seen);
		nulls[2] = mem[i].last_seen == 0;
		values[3] = LSNGetDatum(mem[i].flush_lsn);
		nulls[3] = XLogRecPtrIsInvalid(mem[i].flush_lsn);
		values[4] = LSNGetDatum(mem[i].replay_lsn);
		nulls[4] = XLogRecPtrIsInvalid(mem[i].replay_lsn);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
