/*-------------------------------------------------------------------------
 *
 * slots.c
 *	  Replication slots on this node that endanger it: a slot nobody
 *	  consumes keeps WAL until the disk fills (the usual way a replica takes
 *	  its primary down with it), and a slot whose WAL was removed belongs to
 *	  a standby that can no longer catch up.
 *
 * A slot's state (the one owner of the rule; dr_status(), dr_slots and the
 * events all come here):
 *	lost        wal_status 'lost': its WAL is gone (invalidated by
 *	            max_slot_wal_keep_size);
 *	unreserved  wal_status 'unreserved': past max_slot_wal_keep_size, lost
 *	            at the next checkpoint unless its consumer catches up;
 *	retaining   inactive and holding back at least tensafe_dr.slot_wal_warning
 *	            of WAL, or safe_wal_size below a quarter of
 *	            max_slot_wal_keep_size;
 *	ok          otherwise (an active slot that lags is a lagging standby,
 *	            which the lag figures already show).
 * wal_status and safe_wal_size are computed as pg_replication_slots does
 * (GetWALAvailability()); retained_bytes is this node's WAL position (write
 * position on a primary, replay position on a standby) minus restart_lsn.
 *
 * Events (dr_slots_track(), the worker every sample once the extension
 * exists): SLOT_RETAINING when a slot becomes retaining or unreserved (and
 * again when it gets worse), SLOT_LOST when it is lost, SLOT_RECOVERED when
 * a slot in trouble is ok again or dropped.  The state recorded per slot is
 * kept in shared memory (DrShared->slot_records, DR_SLOTS_TRACKED slots at
 * most), so a restarted worker does not record it again; after a server
 * restart a slot still in trouble is recorded once more.
 *
 * Locking: ReplicationSlotControlLock shared and each slot's spinlock for a
 * copy of the slots (as pg_replication_slots); DrShared->lock for the
 * recorded states, written by the worker only.  Never both at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/pg_lsn.h"

#include "events.h"
#include "guc.h"
#include "shared_state.h"
#include "slots.h"

PG_FUNCTION_INFO_V1(dr_slots_internal);

#define DR_SLOTS_COLS 8

static const char *
wal_status_name(WALAvailability a)
{
	switch (a)
	{
		case WALAVAIL_INVALID_LSN:
			return NULL;
		case WALAVAIL_RESERVED:
			return "reserved";
		case WALAVAIL_EXTENDED:
			return "extended";
		case WALAVAIL_UNRESERVED:
			return "unreserved";
		case WALAVAIL_REMOVED:
			return "lost";
	}
	return NULL;
}

/*
 * dr_slots_read
 *		Every replication slot of this node with its state, in *slots
 *		(palloc'd in CurrentMemoryContext); returns how many.  No lock held by
 *		the caller.
 */
int
dr_slots_read(DrSlotInfo **slots)
{
	DrSlotInfo *out;
	XLogRecPtr *invalidated;
	pid_t	   *pids;
	XLogRecPtr	currpos;
	XLogRecPtr	writepos;
	int			n = 0;
	int			i;

	*slots = NULL;
	if (max_replication_slots <= 0 || ReplicationSlotCtl == NULL)
		return 0;
	out = palloc0(sizeof(DrSlotInfo) * max_replication_slots);
	invalidated = palloc0(sizeof(XLogRecPtr) * max_replication_slots);
	pids = palloc0(sizeof(pid_t) * max_replication_slots);
	*slots = out;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (i = 0; i < max_replication_slots; i++)
	{
		ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];

		if (!s->in_use)
			continue;
		SpinLockAcquire(&s->mutex);
		strlcpy(out[n].name, NameStr(s->data.name), sizeof(out[n].name));
		out[n].physical = SlotIsPhysical(s);
		out[n].restart_lsn = s->data.restart_lsn;
		invalidated[n] = s->data.invalidated_at;
		pids[n] = s->active_pid;
		SpinLockRelease(&s->mutex);
		n++;
	}
	LWLockRelease(ReplicationSlotControlLock);

	writepos = GetXLogWriteRecPtr();
	currpos = RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : writepos;
	for (i = 0; i < n; i++)
	{
		DrSlotInfo *sl = &out[i];
		WALAvailability avail;

		sl->active = pids[i] != 0;
		sl->retained_bytes = -1;
		if (XLogRecPtrIsInvalid(sl->restart_lsn))
			avail = XLogRecPtrIsInvalid(invalidated[i]) ? WALAVAIL_INVALID_LSN : WALAVAIL_REMOVED;
		else
		{
			avail = GetWALAvailability(sl->restart_lsn);
			/* as pg_replication_slots: an active slot may yet catch up */
			if (avail == WALAVAIL_REMOVED && sl->active)
				avail = WALAVAIL_UNRESERVED;
			sl->retained_bytes = currpos > sl->restart_lsn ? (int64) (currpos - sl->restart_lsn) : 0;
		}
		sl->wal_status = wal_status_name(avail);

		/* safe_wal_size exactly as pg_replication_slots computes it */
		if (max_slot_wal_keep_size_mb >= 0 && avail != WALAVAIL_INVALID_LSN &&
			avail != WALAVAIL_REMOVED)
		{
			XLogSegNo	targetSeg;
			uint64		slotKeepSegs;
			uint64		keepSegs;
			XLogSegNo	failSeg;
			XLogRecPtr	failLSN;

			XLByteToSeg(sl->restart_lsn, targetSeg, wal_segment_size);
			slotKeepSegs = XLogMBVarToSegs(max_slot_wal_keep_size_mb, wal_segment_size);
			keepSegs = XLogMBVarToSegs(wal_keep_size_mb, wal_segment_size);
			failSeg = targetSeg + Max(slotKeepSegs, keepSegs) + 1;
			XLogSegNoOffsetToRecPtr(failSeg, 0, wal_segment_size, failLSN);
			sl->has_safe_wal_size = true;
			sl->safe_wal_size = (int64) failLSN - (int64) writepos;
		}

		if (avail == WALAVAIL_REMOVED)
			sl->state = DR_SLOT_LOST;
		else if (avail == WALAVAIL_UNRESERVED)
			sl->state = DR_SLOT_UNRESERVED;
		else if ((!sl->active && sl->retained_bytes >= (int64) dr_slot_wal_warning_mb * 1024 * 1024) ||
				 (sl->has_safe_wal_size &&
				  sl->safe_wal_size < (int64) max_slot_wal_keep_size_mb * 1024 * 1024 / 4))
			sl->state = DR_SLOT_RETAINING;
		else
			sl->state = DR_SLOT_OK;
	}
	return n;
}

const char *
dr_slot_state_name(DrSlotState state)
{
	switch (state)
	{
		case DR_SLOT_OK:
			return "ok";
		case DR_SLOT_RETAINING:
			return "retaining";
		case DR_SLOT_UNRESERVED:
			return "unreserved";
		case DR_SLOT_LOST:
			return "lost";
	}
	return "ok";
}

/*
 * dr_slots_worst
 *		Index of the slot in the worst state (of those, the one retaining the
 *		most WAL), -1 if there are none.
 */
int
dr_slots_worst(const DrSlotInfo *slots, int n)
{
	int			worst = -1;
	int			i;

	for (i = 0; i < n; i++)
		if (worst < 0 || slots[i].state > slots[worst].state ||
			(slots[i].state == slots[worst].state &&
			 slots[i].retained_bytes > slots[worst].retained_bytes))
			worst = i;
	return worst;
}

static void
record_slot_event(const char *event, const DrSlotInfo *sl, const char *name,
				  int previous, bool dropped)
{
	StringInfoData details;

	initStringInfo(&details);
	appendStringInfoString(&details, "{\"slot\":");
	escape_json(&details, name);
	if (sl)
	{
		appendStringInfo(&details, ",\"slot_type\":\"%s\",\"active\":%s,\"state\":\"%s\"",
						 sl->physical ? "physical" : "logical",
						 sl->active ? "true" : "false", dr_slot_state_name(sl->state));
		appendStringInfoString(&details, ",\"wal_status\":");
		if (sl->wal_status)
			escape_json(&details, sl->wal_status);
		else
			appendStringInfoString(&details, "null");
		if (XLogRecPtrIsInvalid(sl->restart_lsn))
			appendStringInfoString(&details, ",\"restart_lsn\":null");
		else
			appendStringInfo(&details, ",\"restart_lsn\":\"%X/%X\"",
							 LSN_FORMAT_ARGS(sl->restart_lsn));
		if (sl->retained_bytes >= 0)
			appendStringInfo(&details, ",\"retained_bytes\":%lld", (long long) sl->retained_bytes);
		else
			appendStringInfoString(&details, ",\"retained_bytes\":null");
		if (sl->has_safe_wal_size)
			appendStringInfo(&details, ",\"safe_wal_size\":%lld", (long long) sl->safe_wal_size);
		else
			appendStringInfoString(&details, ",\"safe_wal_size\":null");
	}
	appendStringInfo(&details, ",\"previous\":%s%s%s,\"dropped\":%s,\"slot_wal_warning_mb\":%d}",
					 previous >= 0 ? "\"" : "",
					 previous >= 0 ? dr_slot_state_name((DrSlotState) previous) : "null",
					 previous >= 0 ? "\"" : "",
					 dropped ? "true" : "false", dr_slot_wal_warning_mb);
	(void) dr_journal_event(event, 0, strcmp(event, "SLOT_RECOVERED") == 0,
							"tensafe_dr worker", details.data);
}

/*
 * dr_slots_track
 *		Journal the slots' state changes (see the file header).  The
 *		worker's, every sample, once the extension exists.
 */
void
dr_slots_track(void)
{
	DrSlotInfo *slots;
	int			n = dr_slots_read(&slots);
	DrSlotRecord *rec = palloc(sizeof(DrSlotRecord) * DR_SLOTS_TRACKED);
	int			nrec;
	int			i,
				j;
	int			kept;

	LWLockAcquire(DrShared->lock, LW_SHARED);
	nrec = DrShared->n_slot_records;
	memcpy(rec, DrShared->slot_records, sizeof(DrSlotRecord) * nrec);
	LWLockRelease(DrShared->lock);

	for (j = 0; j < nrec; j++)
		rec[j].seen = false;
	for (i = 0; i < n; i++)
	{
		DrSlotInfo *sl = &slots[i];
		int			prev = -1;
		const char *event = NULL;

		for (j = 0; j < nrec; j++)
			if (strcmp(rec[j].name, sl->name) == 0)
				break;
		if (j < nrec)
			prev = rec[j].state;
		else if (nrec < DR_SLOTS_TRACKED)
		{
			strlcpy(rec[j].name, sl->name, sizeof(rec[j].name));
			nrec++;
		}
		else
			continue;			/* more slots than tracked */
		rec[j].seen = true;

		if ((int) sl->state == prev)
			continue;
		if (sl->state == DR_SLOT_LOST)
			event = "SLOT_LOST";
		else if (sl->state != DR_SLOT_OK && (int) sl->state > prev)
			event = "SLOT_RETAINING";
		else if (sl->state == DR_SLOT_OK && prev > DR_SLOT_OK)
			event = "SLOT_RECOVERED";
		if (event)
			record_slot_event(event, sl, sl->name, prev, false);
		rec[j].state = (int) sl->state;
	}

	/* dropped slots: one in trouble is recovered, the others forgotten */
	kept = 0;
	for (j = 0; j < nrec; j++)
	{
		if (!rec[j].seen)
		{
			if (rec[j].state > DR_SLOT_OK)
				record_slot_event("SLOT_RECOVERED", NULL, rec[j].name, rec[j].state, true);
			continue;
		}
		rec[kept++] = rec[j];
	}

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->n_slot_records = kept;
	memcpy(DrShared->slot_records, rec, sizeof(DrSlotRecord) * kept);
	LWLockRelease(DrShared->lock);
}

/*
 * dr_slots_internal() - every replication slot of this node with its state
 * (behind the dr_slots view).
 */
Datum
dr_slots_internal(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DrSlotInfo *slots;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	n = dr_slots_read(&slots);
	for (i = 0; i < n; i++)
	{
		const DrSlotInfo *sl = &slots[i];
		Datum		values[DR_SLOTS_COLS];
		bool		nulls[DR_SLOTS_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(sl->name);
		values[1] = CStringGetTextDatum(sl->physical ? "physical" : "logical");
		values[2] = BoolGetDatum(sl->active);
		if (sl->wal_status)
			values[3] = CStringGetTextDatum(sl->wal_status);
		else
			nulls[3] = true;
		if (XLogRecPtrIsInvalid(sl->restart_lsn))
			nulls[4] = true;
		else
			values[4] = LSNGetDatum(sl->restart_lsn);
		if (sl->retained_bytes < 0)
			nulls[5] = true;
		else
			values[5] = Int64GetDatum(sl->retained_bytes);
		if (sl->has_safe_wal_size)
			values[6] = Int64GetDatum(sl->safe_wal_size);
		else
			nulls[6] = true;
		values[7] = CStringGetTextDatum(dr_slot_state_name(sl->state));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
