/*-------------------------------------------------------------------------
 *
 * sync_stall.c
 *	  A write stall on synchronous replication is a DR state (issue 20).
 *
 * With synchronous_standby_names set, every commit that asks for it waits
 * in SyncRepWaitForLSN() until enough synchronous standbys confirm it.
 * When they are gone (or stuck), application commits hang: the emergency
 * is the stall, not the copy's age.  On a primary the worker calls
 * dr_sync_stall_sample() at every sample; it
 *	- counts the backends waiting for a synchronous standby (PGPROC's
 *	  syncRepState == SYNC_REP_WAITING) and reads the positions the
 *	  standbys have confirmed (WalSndCtl->lsn[]), both under SyncRepLock
 *	  held shared for that copy: the walsender releases waiters under it
 *	  held exclusively, so the count and the positions are one state;
 *	- keeps "waiting since": the sample that first saw the current wait.
 *	  A wait continues while backends wait and no confirmed position has
 *	  advanced since the previous sample; any advance (a standby confirmed
 *	  something, so commits are moving, however slowly) starts a new one.
 *	  So a busy primary whose standby keeps up, where some backend waits a
 *	  few milliseconds at every sample, is never a stall, and a waiter
 *	  cancelled while the standby is gone does not restart the clock.
 *	  "Since" is late by up to one sample interval;
 *	- judges a stall: backends wait and the wait is at least
 *	  tensafe_dr.sync_stall_threshold old.  It journals SYNC_STALL once
 *	  when a stall begins and SYNC_RESUMED once when it ends (no backend
 *	  waits, or a confirmed position advanced); whether SYNC_STALL was
 *	  recorded lives in shared memory, so a restarted worker neither
 *	  repeats nor loses it (a server restart ends the waits and the state:
 *	  no SYNC_RESUMED is recorded for a stall a restart ended);
 *	- when synchronous replication is configured, how many standbys it
 *	  needs (num_sync), how many candidates stream now
 *	  (SyncRepGetCandidateStandbys()), and which of the names it lists have
 *	  no streaming walsender (application_name from the backend status
 *	  table; '*' is never "missing").
 *	- the synchronous standbys now (by application_name): one that left
 *	  the sync set and is still out at the next sample is SYNC_LOST
 *	  (journal_sync_lost()).
 * All of it goes into DrShared->sync; dr_status() adds it to state_reason
 * (dr_sync_stall_reason()), dr_sync_status() shows it as a row, and
 * dr_metrics() reads that.
 *
 * Locking: SyncRepLock shared for the count (see above); DrShared->lock
 * for DrShared->sync (written by the worker only, exclusively, for a
 * copy); never both at once.  The backend status snapshot is taken and
 * released within dr_sync_stall_sample().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "events.h"
#include "guc.h"
#include "shared_state.h"
#include "sync_stall.h"

PG_FUNCTION_INFO_V1(dr_sync_status);

#define DR_SYNC_STATUS_COLS 8

/*
 * count_waiters
 *		Backends waiting for a synchronous standby now, and the positions
 *		the synchronous standbys have confirmed, read together.
 */
static int
count_waiters(XLogRecPtr released[NUM_SYNC_REP_WAIT_MODE])
{
	int			n = 0;
	uint32		i;
	int			m;

	LWLockAcquire(SyncRepLock, LW_SHARED);
	for (i = 0; i < ProcGlobal->allProcCount; i++)
	{
		if (ProcGlobal->allProcs[i].syncRepState == SYNC_REP_WAITING)
			n++;
	}
	for (m = 0; m < NUM_SYNC_REP_WAIT_MODE; m++)
		released[m] = WalSndCtl->lsn[m];
	LWLockRelease(SyncRepLock);
	return n;
}

/*
 * streaming_names
 *		application_name of every streaming walsender, as a list of palloc'd
 *		strings.  Takes and releases a backend status snapshot.
 */
static List *
streaming_names(void)
{
	List	   *names = NIL;
	int			nbackends;
	int			i,
				w;

	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (w = 0; w < max_wal_senders; w++)
	{
		WalSnd	   *walsnd = &WalSndCtl->walsnds[w];
		pid_t		pid;
		WalSndState state;

		SpinLockAcquire(&walsnd->mutex);
		pid = walsnd->pid;
		state = walsnd->state;
		SpinLockRelease(&walsnd->mutex);
		if (pid == 0 || state != WALSNDSTATE_STREAMING)
			continue;
		for (i = 1; i <= nbackends; i++)
		{
			LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);

			if (local && local->backendStatus.st_procpid == pid)
			{
				names = lappend(names, pstrdup(local->backendStatus.st_appname));
				break;
			}
		}
	}
	pgstat_clear_backend_activity_snapshot();
	return names;
}

/*
 * missing_names
 *		The names synchronous_standby_names lists that no streaming
 *		walsender has, "\n"-separated into buf (truncated with "...").
 */
static void
missing_names(char *buf, Size len)
{
	List	   *present = streaming_names();
	const char *name = SyncRepConfig->member_names;
	StringInfoData out;
	int			i;

	initStringInfo(&out);
	for (i = 0; i < SyncRepConfig->nmembers; i++, name += strlen(name) + 1)
	{
		ListCell   *lc;
		bool		found = false;

		if (strcmp(name, "*") == 0)
			continue;
		foreach(lc, present)
		{
			if (pg_strcasecmp((char *) lfirst(lc), name) == 0)
				found = true;
		}
		if (found)
			continue;
		if (out.len + strlen(name) + 5 >= len)
		{
			appendStringInfoString(&out, out.len ? "\n..." : "...");
			break;
		}
		if (out.len)
			appendStringInfoChar(&out, '\n');
		appendStringInfoString(&out, name);
	}
	strlcpy(buf, out.data, len);
}

static void append_names_json(StringInfo buf, const char *names);

/*
 * sync_names
 *		application_name of every walsender in the sync set now (what
 *		pg_stat_replication shows as 'sync' or 'quorum'), "\n"-separated
 *		into buf.  Takes and releases a backend status snapshot.
 */
static void
sync_names(char *buf, Size len)
{
	SyncRepStandbyData *standbys;
	int			n = SyncRepGetCandidateStandbys(&standbys);
	int			nbackends;
	int			i,
				b;
	StringInfoData out;

	initStringInfo(&out);
	pgstat_clear_backend_activity_snapshot();
	nbackends = pgstat_fetch_stat_numbackends();
	for (i = 0; i < n; i++)
		for (b = 1; b <= nbackends; b++)
		{
			LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(b);
			const char *name;

			if (local == NULL || local->backendStatus.st_procpid != standbys[i].pid)
				continue;
			name = local->backendStatus.st_appname;
			if (out.len + strlen(name) + 2 < len)
			{
				if (out.len)
					appendStringInfoChar(&out, '\n');
				appendStringInfoString(&out, name);
			}
			break;
		}
	pgstat_clear_backend_activity_snapshot();
	pfree(standbys);
	strlcpy(buf, out.data, len);
}

/* Whether the "\n"-separated list holds name */
static bool
names_contain(const char *names, const char *name)
{
	const char *p = names;
	size_t		len = strlen(name);

	while (*p)
	{
		const char *end = strchr(p, '\n');
		size_t		n = end ? (size_t) (end - p) : strlen(p);

		if (n == len && strncmp(p, name, n) == 0)
			return true;
		p += n;
		if (*p == '\n')
			p++;
	}
	return false;
}

/* Append name to a "\n"-separated list in buf (dropped if it does not fit) */
static void
names_add(char *buf, Size len, const char *name)
{
	size_t		used = strlen(buf);

	if (used + strlen(name) + 2 > len)
		return;
	if (used > 0)
		buf[used++] = '\n';
	strcpy(buf + used, name);
}

/*
 * record_sync_lost
 *		SYNC_LOST for one standby, with why it is out of the sync set:
 *		synchronous replication turned off (synchronous_standby_names
 *		emptied, as Patroni does when it falls back to asynchronous), it is
 *		not streaming, or it streams but is no longer synchronous (a
 *		higher-priority standby took its place).
 */
static void
record_sync_lost(const char *name, const DrSyncState *cur)
{
	const char *why;
	StringInfoData details;

	if (SyncRepConfig == NULL || SyncRepConfig->num_sync <= 0)
		why = "synchronous replication turned off";
	else
	{
		List	   *present = streaming_names();
		ListCell   *lc;
		bool		streaming = false;

		foreach(lc, present)
			if (strcmp((char *) lfirst(lc), name) == 0)
				streaming = true;
		why = streaming ? "streaming, no longer synchronous" : "not streaming";
	}
	initStringInfo(&details);
	appendStringInfoString(&details, "{\"standby\":");
	escape_json(&details, name);
	appendStringInfoString(&details, ",\"reason\":");
	escape_json(&details, why);
	appendStringInfo(&details, ",\"required_standbys\":%d,\"available_standbys\":%d,"
					 "\"synchronous_standbys\":", cur->required, cur->available);
	append_names_json(&details, cur->sync_names);
	appendStringInfoString(&details, ",\"synchronous_standby_names\":");
	escape_json(&details, SyncRepStandbyNames ? SyncRepStandbyNames : "");
	appendStringInfoChar(&details, '}');
	(void) dr_journal_event("SYNC_LOST", 0, false, "tensafe_dr worker", details.data);
}

/*
 * journal_sync_lost
 *		A standby that was synchronous and is not now is SYNC_LOST: from then
 *		on an acknowledged commit may exist on no other node (node_loss_lag
 *		is no longer 0 by construction).  A drop is confirmed at the next
 *		sample, so that a reload of synchronous_standby_names, which the
 *		walsenders and this worker each read when they get to it, is judged
 *		once everyone has (the right reason), and a blip records nothing.
 *		Its return shows in dr_replicas.sync_state.
 */
static void
journal_sync_lost(const DrSyncState *prev, DrSyncState *cur)
{
	const char *p;

	/* left at the previous sample and still out: confirmed */
	for (p = prev->sync_dropped; *p;)
	{
		const char *end = strchr(p, '\n');
		int			n = end ? end - p : strlen(p);
		char	   *name = pnstrdup(p, n);

		p += n;
		if (*p == '\n')
			p++;
		if (!names_contain(cur->sync_names, name))
			record_sync_lost(name, cur);
	}
	/* left now: judged at the next sample */
	for (p = prev->sync_names; *p;)
	{
		const char *end = strchr(p, '\n');
		int			n = end ? end - p : strlen(p);
		char	   *name = pnstrdup(p, n);

		p += n;
		if (*p == '\n')
			p++;
		if (!names_contain(cur->sync_names, name))
			names_add(cur->sync_dropped, sizeof(cur->sync_dropped), name);
	}
}

/* Append the "\n"-separated names as a JSON array. */
static void
append_names_json(StringInfo buf, const char *names)
{
	const char *p = names;

	appendStringInfoChar(buf, '[');
	while (*p)
	{
		const char *end = strchr(p, '\n');
		int			n = end ? end - p : strlen(p);

		if (p != names)
			appendStringInfoChar(buf, ',');
		escape_json(buf, pnstrdup(p, n));
		p += n;
		if (*p == '\n')
			p++;
	}
	appendStringInfoChar(buf, ']');
}

static bool
is_stalled(const DrSyncState *s)
{
	return s->sampled_at != 0 && s->waiting > 0 && s->waiting_since != 0 &&
		s->sampled_at - s->waiting_since >=
		(TimeOffset) dr_sync_stall_threshold_ms * 1000;
}

/*
 * dr_sync_stall_sample
 *		The worker's sample of synchronous replication (see the file
 *		header).  primary: this node is not in recovery; record: the
 *		extension exists, so events may be journalled.  No transaction is
 *		needed.
 */
void
dr_sync_stall_sample(bool primary, bool record, TimestampTz now)
{
	DrSyncState prev;
	DrSyncState cur;
	int			m;
	bool		advanced = false;
	const char *event = NULL;
	StringInfoData details;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	prev = DrShared->sync;
	LWLockRelease(DrShared->lock);

	memset(&cur, 0, sizeof(cur));
	cur.stall_recorded = prev.stall_recorded;
	cur.stall_since = prev.stall_since;
	if (primary)
	{
		cur.sampled_at = now;
		/*
		 * Nobody waits while synchronous_standby_names is empty (our copy
		 * of it may be a reload behind: then one sample later).
		 */
		if (SyncRepConfig != NULL || prev.waiting > 0)
			cur.waiting = count_waiters(cur.released);
		for (m = 0; m < NUM_SYNC_REP_WAIT_MODE; m++)
			if (cur.released[m] > prev.released[m])
				advanced = true;
		if (cur.waiting == 0)
			cur.waiting_since = 0;
		else if (prev.waiting == 0 || prev.waiting_since == 0 || advanced)
			cur.waiting_since = now;
		else
			cur.waiting_since = prev.waiting_since;

		if (SyncRepConfig != NULL && SyncRepConfig->num_sync > 0)
		{
			SyncRepStandbyData *standbys;

			cur.required = SyncRepConfig->num_sync;
			cur.available = SyncRepGetCandidateStandbys(&standbys);
			pfree(standbys);
			if (cur.available < cur.required || cur.waiting > 0)
				missing_names(cur.missing, sizeof(cur.missing));
			if (cur.available > 0)
				sync_names(cur.sync_names, sizeof(cur.sync_names));
		}
		/* a worker's first sample after a server start knows no "before" */
		if (record && prev.sampled_at != 0)
			journal_sync_lost(&prev, &cur);
	}

	if (is_stalled(&cur) && !cur.stall_recorded)
	{
		event = "SYNC_STALL";
		cur.stall_recorded = true;
		cur.stall_since = cur.waiting_since;
	}
	else if (!is_stalled(&cur) && cur.stall_recorded)
	{
		event = "SYNC_RESUMED";
		cur.stall_recorded = false;
	}

	if (event && record)
	{
		initStringInfo(&details);
		appendStringInfo(&details, "{\"waiting_backends\":%d,", cur.waiting);
		if (strcmp(event, "SYNC_STALL") == 0)
		{
			appendStringInfoString(&details, "\"since\":");
			escape_json(&details, timestamptz_to_str(cur.waiting_since));
			appendStringInfo(&details, ",\"threshold_s\":%.3f,", dr_sync_stall_threshold_ms / 1000.0);
		}
		else
		{
			appendStringInfoString(&details, "\"stalled_since\":");
			escape_json(&details, timestamptz_to_str(cur.stall_since));
			appendStringInfoChar(&details, ',');
			dr_json_add_interval_s(&details, "stall_s", now - cur.stall_since, true);
			appendStringInfo(&details, ",\"primary\":%s,", primary ? "true" : "false");
		}
		appendStringInfo(&details, "\"required_standbys\":%d,\"available_standbys\":%d,\"missing_standbys\":",
						 cur.required, cur.available);
		append_names_json(&details, cur.missing);
		appendStringInfoString(&details, ",\"synchronous_standby_names\":");
		escape_json(&details, SyncRepStandbyNames ? SyncRepStandbyNames : "");
		appendStringInfoChar(&details, '}');
		(void) dr_journal_event(event, 0, strcmp(event, "SYNC_RESUMED") == 0,
								"tensafe_dr worker", details.data);
	}
	else if (event)
	{
		/* nothing recorded without the extension: keep the old state */
		cur.stall_recorded = prev.stall_recorded;
		cur.stall_since = prev.stall_since;
	}

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->sync = cur;
	LWLockRelease(DrShared->lock);
}

static void
read_sync_state(DrSyncState *out)
{
	LWLockAcquire(DrShared->lock, LW_SHARED);
	*out = DrShared->sync;
	LWLockRelease(DrShared->lock);
}

/* "a, b" from "a\nb" */
static char *
names_text(const char *names)
{
	char	   *s = pstrdup(names);
	StringInfoData out;
	char	   *p;

	initStringInfo(&out);
	for (p = s; *p; p++)
	{
		if (*p == '\n')
			appendStringInfoString(&out, ", ");
		else
			appendStringInfoChar(&out, *p);
	}
	return out.data;
}

/*
 * dr_sync_stall_reason
 *		state_reason of dr_status(): the synchronous replication problem as
 *		the worker last saw it, before the lag reason; the lag reason alone
 *		when there is none.  palloc'd.
 */
char *
dr_sync_stall_reason(const char *lag_reason)
{
	DrSyncState s;
	StringInfoData out;

	read_sync_state(&s);
	if (s.sampled_at == 0)
		return pstrdup(lag_reason);

	initStringInfo(&out);
	if (is_stalled(&s))
	{
		appendStringInfo(&out, "synchronous replication stalled: %d backend%s waiting for a synchronous standby since %s",
						 s.waiting, s.waiting == 1 ? "" : "s",
						 timestamptz_to_str(s.waiting_since));
		if (s.missing[0])
			appendStringInfo(&out, ", missing: %s", names_text(s.missing));
		if (s.required > s.available)
			appendStringInfo(&out, " (%d of %d needed streaming)", s.available, s.required);
	}
	else if (s.required > s.available)
	{
		appendStringInfo(&out, "no synchronous standby available: %d of %d needed streaming",
						 s.available, s.required);
		if (s.missing[0])
			appendStringInfo(&out, ", missing: %s", names_text(s.missing));
		appendStringInfoString(&out, "; commits that wait for one will stall");
	}
	else
		return pstrdup(lag_reason);
	if (lag_reason && lag_reason[0])
		appendStringInfo(&out, "; %s", lag_reason);
	return out.data;
}

/*
 * dr_sync_status() - synchronous replication as the worker last saw it.
 */
Datum
dr_sync_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[DR_SYNC_STATUS_COLS];
	bool		nulls[DR_SYNC_STATUS_COLS];
	DrSyncState s;
	Interval   *threshold = palloc0(sizeof(Interval));
	ArrayBuildState *astate = NULL;
	const char *p;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != DR_SYNC_STATUS_COLS)
		elog(ERROR, "tensafe_dr library and SQL definitions do not match (%d columns, expected %d)",
			 tupdesc->natts, DR_SYNC_STATUS_COLS);
	tupdesc = BlessTupleDesc(tupdesc);

	read_sync_state(&s);
	memset(nulls, 0, sizeof(nulls));
	threshold->time = (TimeOffset) dr_sync_stall_threshold_ms * 1000;

	if (s.sampled_at == 0)
	{
		/* a standby, or no sample yet: nothing is known */
		memset(nulls, true, sizeof(nulls));
		values[3] = IntervalPGetDatum(threshold);
		nulls[3] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}

	values[0] = Int32GetDatum(s.waiting);
	if (s.waiting_since != 0)
		values[1] = TimestampTzGetDatum(s.waiting_since);
	else
		nulls[1] = true;
	values[2] = BoolGetDatum(is_stalled(&s));
	values[3] = IntervalPGetDatum(threshold);
	values[4] = Int32GetDatum(s.required);
	values[5] = Int32GetDatum(s.available);
	for (p = s.missing; *p;)
	{
		const char *end = strchr(p, '\n');
		int			n = end ? end - p : strlen(p);

		astate = accumArrayResult(astate, CStringGetTextDatum(pnstrdup(p, n)), false,
								  TEXTOID, CurrentMemoryContext);
		p += n;
		if (*p == '\n')
			p++;
	}
	if (astate)
		values[6] = makeArrayResult(astate, CurrentMemoryContext);
	else
		values[6] = PointerGetDatum(construct_empty_array(TEXTOID));
	values[7] = TimestampTzGetDatum(s.sampled_at);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
