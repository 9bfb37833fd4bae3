/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The event payload and the SQL-callable journal functions.
 *
 * An event's journal payload is one JSON object with the columns of
 * dr_event_log (occurred_at, event_type, level, node_name, region,
 * system_identifier, timeline, actor, successful, details, incident_id).
 * build_payload() here is its one builder: events recorded from C
 * (dr_journal_event()) and from SQL (dr_log_event() calls
 * dr_journal_record(), extension/1.2/20_events.sql) both go through it, and
 * dr_journal_flush() turns the object back into a row (an entry it cannot
 * turn into one is set aside in dr_event_rejects, never holding up the
 * rest).  Events from C are always journalled and reach the table through
 * the worker's flush, on a primary within a second.  Nothing here checks
 * the event type: the types the extension records are reserved in the
 * operator's path only (dr_record_event(), dr_event_type_is_reserved(),
 * extension/1.2/25_event_validation.sql); these functions are granted to
 * nobody, so an operator cannot reach them to forge one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "events.h"
#include "guc.h"
#include "journal.h"

PG_FUNCTION_INFO_V1(dr_journal_append_sql);
PG_FUNCTION_INFO_V1(dr_journal_record);
PG_FUNCTION_INFO_V1(dr_journal_entries);

static void
json_key(StringInfo buf, const char *key, bool first)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

/* Append "key": seconds (with microseconds) to a JSON object being built. */
void
dr_json_add_interval_s(StringInfo buf, const char *key, int64 usecs, bool first)
{
	json_key(buf, key, first);
	if (usecs < 0)
		appendStringInfoString(buf, "null");
	else
		appendStringInfo(buf, "%.3f", (double) usecs / USECS_PER_SEC);
}

static TimeLineID
current_timeline(void)
{
	TimeLineID	tli;

	if (RecoveryInProgress())
		(void) GetXLogReplayRecPtr(&tli);
	else
		tli = GetWALInsertionTimeLine();
	return tli;
}

/*
 * build_payload
 *		The journal payload of an event, as JSON text in buf: this node's
 *		facts (node name, region, system identifier, timeline) and the
 *		event's.  level <= 0, a NULL actor and incident_id 0 are JSON nulls;
 *		details_json must be a JSON object (or NULL for {}).
 */
static void
build_payload(StringInfo buf, TimestampTz occurred_at, const char *event_type, int level,
			  bool successful, const char *actor, const char *details_json, int64 incident_id)
{
	appendStringInfoChar(buf, '{');
	json_key(buf, "occurred_at", true);
	/* as jsonb writes a timestamptz, so that every payload reads alike */
	escape_json(buf, JsonEncodeDateTime(NULL, TimestampTzGetDatum(occurred_at),
										TIMESTAMPTZOID, NULL));
	json_key(buf, "event_type", false);
	escape_json(buf, event_type);
	json_key(buf, "level", false);
	if (level > 0)
		appendStringInfo(buf, "%d", level);
	else
		appendStringInfoString(buf, "null");
	json_key(buf, "node_name", false);
	escape_json(buf, dr_effective_node_name());
	json_key(buf, "region", false);
	if (dr_region && dr_region[0])
		escape_json(buf, dr_region);
	else
		appendStringInfoString(buf, "null");
	json_key(buf, "system_identifier", false);
	appendStringInfo(buf, "%lld", (long long) (int64) GetSystemIdentifier());
	json_key(buf, "timeline", false);
	appendStringInfo(buf, "%u", current_timeline());
	json_key(buf, "actor", false);
	if (actor)
		escape_json(buf, actor);
	else
		appendStringInfoString(buf, "null");
	json_key(buf, "successful", false);
	appendStringInfoString(buf, successful ? "true" : "false");
	json_key(buf, "details", false);
	appendStringInfoString(buf, details_json ? details_json : "{}");
	json_key(buf, "incident_id", false);
	if (incident_id != 0)
		appendStringInfo(buf, INT64_FORMAT, incident_id);
	else
		appendStringInfoString(buf, "null");
	appendStringInfoChar(buf, '}');
}

/*
 * dr_event_payload
 *		The payload of a system event occurring now, into buf: what
 *		dr_journal_event() appends, for journal.c to write itself (the
 *		JOURNAL_CORRUPT event of a rebuilt journal).
 */
void
dr_event_payload(StringInfo buf, const char *event_type, int level, bool successful,
				 const char *actor, const char *details_json)
{
	build_payload(buf, GetCurrentTimestamp(), event_type, level, successful, actor,
				  details_json, 0);
}

/*
 * dr_journal_event_try
 *		dr_journal_event() for callers that must not fail because of the
 *		journal (dr_promote_check()): false, with *reason, if the event could
 *		not be journalled (journal full, unreadable, ...).  Runs in a
 *		subtransaction, whose abort releases the journal's lock and file.
 *		Call inside a transaction, not in parallel mode.
 */
bool
dr_journal_event_try(const char *event_type, int level, bool successful,
					 const char *actor, const char *details_json, char **reason)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = false;

	if (IsInParallelMode())
	{
		*reason = pstrdup("cannot journal during a parallel operation");
		return false;
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		(void) dr_journal_event(event_type, level, successful, actor, details_json);
		ReleaseCurrentSubTransaction();
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		*reason = edata->message;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * dr_journal_event
 *		Journal one event now (fsync'd); returns its sequence number.
 *		details_json must be a JSON object (or NULL for {}).  The flush
 *		gives it the incident open when it occurred.
 */
uint64
dr_journal_event(const char *event_type, int level, bool successful,
				 const char *actor, const char *details_json)
{
	StringInfoData buf;
	uint64		seq;

	initStringInfo(&buf);
	build_payload(&buf, GetCurrentTimestamp(), event_type, level, successful, actor,
				  details_json, 0);
	seq = dr_journal_append(buf.data, buf.len, event_type);
	pfree(buf.data);
	return seq;
}

/*
 * dr_journal_record(occurred_at timestamptz, event_type text, level integer,
 *					 successful boolean, actor text, details jsonb,
 *					 incident_id bigint) returns bigint
 *		Internal: journal an event recorded from SQL (dr_log_event() on a
 *		node that cannot write), with the same payload as dr_journal_event();
 *		returns its sequence number.  level, actor, details and incident_id
 *		may be NULL.  Not granted to anybody.
 */
Datum
dr_journal_record(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	char	   *event_type;
	char	   *details = NULL;
	uint64		seq;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an event needs a time, a type and a success flag")));
	event_type = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(5))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(5);

		if (!JB_ROOT_IS_OBJECT(jb))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event details must be a JSON object")));
		details = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	initStringInfo(&buf);
	build_payload(&buf, PG_GETARG_TIMESTAMPTZ(0), event_type,
				  PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
				  PG_GETARG_BOOL(3),
				  PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)),
				  details,
				  PG_ARGISNULL(6) ? 0 : PG_GETARG_INT64(6));
	seq = dr_journal_append(buf.data, buf.len, event_type);
	pfree(buf.data);
	PG_RETURN_INT64((int64) seq);
}

/*
 * dr_journal_append(payload jsonb) returns bigint
 *		Internal: journal a payload given whole; returns its sequence
 *		number.  Not granted to anybody.  The 1.0 and 1.1 dr_log_event()
 *		built the payload in SQL and called this; from 1.2 the payload is
 *		built here (dr_journal_record()), and this stays for them.
 */
Datum
dr_journal_append_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *payload = PG_GETARG_JSONB_P(0);
	char	   *text;
	JsonbValue *type;
	char	   *event_type = "EVENT";

	if (!JB_ROOT_IS_OBJECT(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("journal payload must be a JSON object")));
	type = getKeyJsonValueFromContainer(&payload->root, "event_type", strlen("event_type"), NULL);
	if (type != NULL && type->type == jbvString)
		event_type = pnstrdup(type->val.string.val, type->val.string.len);
	text = JsonbToCString(NULL, &payload->root, VARSIZE(payload));
	PG_RETURN_INT64((int64) dr_journal_append(text, strlen(text), event_type));
}

/* State of dr_journal_entries() while the journal streams by */
typedef struct EntriesState
{
	ReturnSetInfo *rsinfo;
	MemoryContext row_cxt;		/* reset after each row */
} EntriesState;

static void
put_entry(const DrJournalEntry *e, void *arg)
{
	EntriesState *state = arg;
	MemoryContext old = MemoryContextSwitchTo(state->row_cxt);
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	values[0] = CStringGetTextDatum(psprintf("%016llx", (unsigned long long) e->journal_id));
	values[1] = Int64GetDatum((int64) e->seq);
	values[2] = TimestampTzGetDatum(e->written_at);
	values[3] = BoolGetDatum(e->flushed);
	values[4] = DirectFunctionCall1(jsonb_in,
									CStringGetDatum(pnstrdup(e->payload, e->payload_len)));
	tuplestore_putvalues(state->rsinfo->setResult, state->rsinfo->setDesc, values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->row_cxt);
}

/*
 * dr_journal_entries(unflushed_only bool) returns setof record
 *		The journal's events: journal_id, seq, written_at, flushed, payload.
 *		Streamed from the file into the tuplestore (which spills to disk
 *		past work_mem): memory does not grow with the journal.
 */
Datum
dr_journal_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		unflushed_only = PG_GETARG_BOOL(0);
	EntriesState state;

	InitMaterializedSRF(fcinfo, 0);
	state.rsinfo = rsinfo;
	state.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tensafe_dr journal row",
										  ALLOCSET_DEFAULT_SIZES);
	dr_journal_scan(unflushed_only, put_entry, &state);
	MemoryContextDelete(state.row_cxt);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(dr_caller);

/*
 * dr_caller() returns text
 *		The role the caller acts as (SET ROLE included), also from inside a
 *		SECURITY DEFINER function, where current_user is the owner: the
 *		actor recorded in events and incidents.
 */
Datum
dr_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(GetUserNameFromId(GetOuterUserId(), false)));
}
