/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  How far this standby's clock is from the primary's, so that no figure
 *	  mixes the two clocks.
 *
 * Every age a node reports is measured on its own clock (lag.c, contact.c):
 * the ring's samples are local, and the last contact is dated by when the
 * heartbeat arrived here.  Two things still carry the primary's clock: the
 * heartbeats' times (which date the arrival of a heartbeat, contact.c) and
 * the persisted dating points (dr_wal_positions, heartbeats in the WAL:
 * shared_state.c).  They are moved onto this node's clock by the offset
 * estimated here; it is shown as dr_status().clock_offset, and the worker
 * journals CLOCK_SKEW when it passes tensafe_dr.clock_skew_threshold and
 * CLOCK_SKEW_RESOLVED when it is back below three quarters of it (so that
 * an estimate at the threshold does not flap).
 *
 * The estimate.  Every heartbeat carries the primary's clock when it was
 * written (heartbeat.c), and the worker sees it in this node's WAL at a
 * look (contact.c, every DR_CONTACT_SCAN_MS) after it arrived.  look - at is
 * the offset plus the delays -- the WAL writer's flush (wal_writer_delay at
 * most), the network, and the wait for the look (DR_CONTACT_SCAN_MS at
 * most) -- which are never negative: an upper bound.  The smallest value
 * over the last DR_CLOCK_WINDOW heartbeats found fresh (arrived since the
 * previous look, not read again after a restart or a backlog) is taken, so
 * the estimate is the offset plus the delays of the fastest heartbeat: a few
 * hundred milliseconds at most, on any network.  Positive: this node is
 * ahead.  A clock stepped backwards shows at once, one stepped forwards
 * after the window (DR_CLOCK_WINDOW heartbeats).
 *
 * Why not the WAL receiver's lastMsgSendTime / lastMsgReceiptTime: on a
 * cascaded standby those are the upstream standby's clock, not the
 * primary's, and the heartbeat passes unchanged through the cascade; the
 * offset wanted is from the clock that dated the WAL, the primary's.
 *
 * Called by the worker only (dr_clock_note from its looks at the WAL,
 * dr_clock_track after every sample); state in shared memory under
 * DrShared->lock, taken by shared_state.c's functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "events.h"
#include "guc.h"
#include "shared_state.h"

#define DR_CLOCK_WINDOW 32

static TimeOffset window[DR_CLOCK_WINDOW];
static int	window_n = 0;
static int	window_next = 0;

/*
 * dr_clock_note
 *		Worker, on a standby: a heartbeat written at 'at' (the primary's
 *		clock) was found fresh at 'look' (this node's): take it into the
 *		estimate, and publish it.
 */
void
dr_clock_note(TimestampTz at, TimestampTz look)
{
	TimeOffset	best;
	int			i;

	window[window_next] = look - at;
	window_next = (window_next + 1) % DR_CLOCK_WINDOW;
	window_n = Min(window_n + 1, DR_CLOCK_WINDOW);
	best = window[0];
	for (i = 1; i < window_n; i++)
		best = Min(best, window[i]);
	dr_clock_offset_set(true, best);
}

/* "+30.012 s" / "-0.250 s" */
void
dr_clock_format(char *buf, size_t len, TimeOffset offset)
{
	snprintf(buf, len, "%+.3f s", (double) offset / USECS_PER_SEC);
}

/*
 * dr_clock_skewed
 *		Whether this node's clock is off the primary's by more than
 *		tensafe_dr.clock_skew_threshold; *offset gets the estimate (0 if
 *		unknown, then false).
 */
bool
dr_clock_skewed(TimeOffset *offset)
{
	if (!RecoveryInProgress() || !dr_clock_offset_get(offset))
	{
		*offset = 0;
		return false;
	}
	return Abs(*offset) > (TimeOffset) dr_clock_skew_threshold_ms * 1000;
}

/*
 * dr_clock_track
 *		Worker, after every sample once the extension exists: journal
 *		CLOCK_SKEW / CLOCK_SKEW_RESOLVED when the state changes.  The state
 *		journalled is in shared memory, so that a restarted worker does not
 *		repeat itself.
 */
void
dr_clock_track(void)
{
	TimeOffset	offset;
	TimeOffset	threshold = (TimeOffset) dr_clock_skew_threshold_ms * 1000;
	bool		known = RecoveryInProgress() && dr_clock_offset_get(&offset);
	int			prev;
	int			now_state;
	StringInfoData details;
	char		buf[32];

	LWLockAcquire(DrShared->lock, LW_SHARED);
	prev = DrShared->recorded_clock_skew;
	LWLockRelease(DrShared->lock);

	if (!known)
		return;					/* unknown: nothing to say either way */
	if (Abs(offset) > threshold)
		now_state = 1;
	else if (Abs(offset) <= threshold * 3 / 4)
		now_state = 0;
	else
		now_state = prev < 0 ? 0 : prev;	/* in the band: keep */
	if (now_state == prev || (prev < 0 && now_state == 0))
	{
		if (prev < 0)
		{
			LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
			DrShared->recorded_clock_skew = now_state;
			LWLockRelease(DrShared->lock);
		}
		return;
	}

	initStringInfo(&details);
	appendStringInfo(&details, "{\"clock_offset_s\":%.3f,\"threshold_s\":%.3f,\"message\":",
					 (double) offset / USECS_PER_SEC, (double) threshold / USECS_PER_SEC);
	dr_clock_format(buf, sizeof(buf), offset);
	escape_json(&details, psprintf(now_state ? "this node's clock is %s off the primary's; figures are corrected by it" :
								   "this node's clock is within %s of the primary's again", buf));
	appendStringInfoChar(&details, '}');
	(void) dr_journal_event(now_state ? "CLOCK_SKEW" : "CLOCK_SKEW_RESOLVED", 0,
							now_state == 0, "tensafe_dr worker", details.data);

	LWLockAcquire(DrShared->lock, LW_EXCLUSIVE);
	DrShared->recorded_clock_skew = now_state;
	LWLockRelease(DrShared->lock);
}
