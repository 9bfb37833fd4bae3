/*-------------------------------------------------------------------------
 *
 * lag.c
 *	  The figures that answer "what would a failover lose, and how long
 *	  would it take", and their judgment against the RPO objectives.
 *
 * Two figures, never confused:
 *	rpo_lag     how long ago the primary first wrote WAL that this copy does
 *	            not hold durably (received and flushed); on a standby that
 *	            also covers the time since it last heard from the primary,
 *	            because whatever the primary wrote since is not here either.
 *	replay_lag  how long ago the primary first wrote WAL that this copy has
 *	            not replayed yet: what a promotion must catch up on, and
 *	            what readers of the standby do not see.
 *
 * Both come from the ring of time-stamped WAL positions (shared_state.c):
 * "the first sample in which the primary was past LSN X" dates X.  Samples
 * are taken every tensafe_dr.sample_interval, so a figure is exact to one
 * interval; where the answer lies after the newest sample, the age of the
 * newest sample is used (an upper bound), so that a figure never reads 0
 * while something is missing.
 *
 * Judgment (rpo_state): the larger of the two figures against rpo_target
 * (warning) and rpo_max (breach).  Replay lag counts because WAL that is
 * received but not replayed is not yet a usable copy: promotion must wait
 * for it, and a standby whose replay was paused and forgotten is the classic
 * way a DR copy silently goes stale.  state_reason says which figure drove
 * the state.  A standby that is not streaming, or has not heard from its
 * primary for longer than heartbeats allow, is never 'ok': 'unknown' until
 * the time since contact reaches the objectives, then warning and breach.
 * "Contact" is the newest primary heartbeat this node holds in its WAL
 * (contact.c), not contact with its upstream: a cascaded standby judges its
 * distance from the primary, and a restarted one still knows it.
 *
 * One clock: every age is this node's clock now minus a time on this
 * node's clock -- a sample's, the contact's arrival (contact.c), or a
 * persisted dating point moved onto it by the estimated clock offset
 * (clock.c, shared_state.c).  Clocks that disagree between the nodes
 * therefore neither inflate an age (a false breach) nor hide one.  A standby
 * that has not reported a position to its upstream is 'unknown' there, its
 * figures NULL (dr_replica_figures).
 *
 * Dating older than the ring: the ring starts empty at every start, so WAL
 * older than its oldest sample is dated by persisted points as well
 * (dr_wal_positions, heartbeats in the WAL held: dr_ring_first_past()).
 *
 * No locks are held by callers; the ring functions lock for themselves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "replication/walreceiver.h"
#include "utils/timestamp.h"

#include "contact.h"
#include "guc.h"
#include "lag.h"
#include "shared_state.h"

#define USECS(s) ((TimeOffset) (s) * USECS_PER_SEC)

/*
 * age_of_missing
 *		How long ago the primary first got past 'have', given that it is now
 *		at 'primary_pos'.  0 when nothing is missing; DR_LAG_UNKNOWN when no
 *		sample exists yet to date it.
 */
static TimeOffset
age_of_missing(XLogRecPtr have, XLogRecPtr primary_pos, TimestampTz now)
{
	bool		found;
	TimestampTz oldest_at;
	TimestampTz first_past;
	DrSample	latest;

	if (have >= primary_pos)
		return 0;

	first_past = dr_ring_first_past(have, &found, &oldest_at);
	if (found)
		return Max(now - first_past, 0);
	if (dr_ring_latest(&latest))
		return Max(now - latest.at, 0);
	return DR_LAG_UNKNOWN;
}

static DrRpoState
judge(TimeOffset lag)
{
	int			target_s = Min(dr_rpo_target_s, dr_rpo_max_s);

	if (lag == DR_LAG_UNKNOWN)
		return DR_RPO_UNKNOWN;
	if (lag >= USECS(dr_rpo_max_s))
		return DR_RPO_BREACH;
	if (lag >= USECS(target_s))
		return DR_RPO_WARNING;
	return DR_RPO_OK;
}

static void
format_lag(char *buf, size_t len, TimeOffset lag)
{
	snprintf(buf, len, "%.1f s", (double) lag / USECS_PER_SEC);
}

/* Fill out->state and out->reason from the two figures of a live copy. */
static void
judge_figures(DrLagFigures *out)
{
	bool		replay_worse = out->replay_lag != DR_LAG_UNKNOWN &&
		(out->rpo_lag == DR_LAG_UNKNOWN || out->replay_lag > out->rpo_lag);
	TimeOffset	worst = replay_worse ? out->replay_lag : out->rpo_lag;
	char		lagbuf[32];

	out->state = judge(worst);
	format_lag(lagbuf, sizeof(lagbuf), worst);
	if (out->state == DR_RPO_UNKNOWN)
		snprintf(out->reason, sizeof(out->reason), "no sample yet to date the WAL positions");
	else if (out->state == DR_RPO_OK)
		snprintf(out->reason, sizeof(out->reason), "within rpo_target");
	else
		snprintf(out->reason, sizeof(out->reason), "%s %s at or above %s",
				 replay_worse ? "replay_lag" : "rpo_lag", lagbuf,
				 out->state == DR_RPO_BREACH ? "rpo_max" : "rpo_target");
}

/*
 * dr_replica_figures
 *		Figures for one standby as seen from its upstream, from the flush and
 *		replay positions the standby reported.  The one owner of the rule that
 *		a standby which has not reported a position (InvalidXLogRecPtr, NULL
 *		in pg_stat_replication) is 'unknown', with NULL figures for what it
 *		did not report: dr_replicas and the primary's dr_status() both come
 *		here.
 */
void
dr_replica_figures(XLogRecPtr primary_pos, XLogRecPtr flush_lsn,
				   XLogRecPtr replay_lsn, TimestampTz now, DrLagFigures *out)
{
	memset(out, 0, sizeof(*out));
	if (XLogRecPtrIsInvalid(flush_lsn) || XLogRecPtrIsInvalid(replay_lsn))
	{
		/*
		 * Not reported yet (pg_stat_replication shows NULL): nothing is known
		 * about this copy, which is not the same as it missing all the WAL.
		 */
		out->rpo_lag = XLogRecPtrIsInvalid(flush_lsn) ? DR_LAG_UNKNOWN :
			age_of_missing(flush_lsn, primary_pos, now);
		out->replay_lag = XLogRecPtrIsInvalid(replay_lsn) ? DR_LAG_UNKNOWN :
			age_of_missing(replay_lsn, primary_pos, now);
		out->lag_bytes = XLogRecPtrIsInvalid(replay_lsn) ? -1 :
			(primary_pos > replay_lsn ? (int64) (primary_pos - replay_lsn) : 0);
		out->state = DR_RPO_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason),
				 "the standby has not reported its %s position yet",
				 XLogRecPtrIsInvalid(flush_lsn) ? "flush" : "replay");
		return;
	}
	out->rpo_lag = age_of_missing(flush_lsn, primary_pos, now);
	out->replay_lag = age_of_missing(replay_lsn, primary_pos, now);
	out->lag_bytes = primary_pos > replay_lsn ? (int64) (primary_pos - replay_lsn) : 0;
	judge_figures(out);
}

/*
 * dr_disconnected_figures
 *		Figures for a standby the primary remembers (dr_standbys) and that is
 *		not connected, from the positions it held when last seen.  rpo_lag
 *		is the age of the oldest primary WAL it does not hold, and at least
 *		the time since it was last seen when the primary has written since
 *		(whatever was written after it left is missing; this also dates its
 *		positions when neither the ring nor the persisted points reach back
 *		to them, as after a restart of the primary): it grows with time and
 *		is judged like any copy's, warning and then breach -- never
 *		'unknown' once the standby was seen.  One declared and never seen
 *		(no positions) is 'unknown'.
 */
void
dr_disconnected_figures(XLogRecPtr primary_pos, XLogRecPtr flush_lsn,
						XLogRecPtr replay_lsn, TimestampTz last_seen,
						TimestampTz now, DrLagFigures *out)
{
	TimeOffset	gone = last_seen != 0 ? Max(now - last_seen, 0) : 0;
	char		agebuf[32];
	char		judged[160];

	memset(out, 0, sizeof(*out));
	if (XLogRecPtrIsInvalid(flush_lsn))
	{
		out->rpo_lag = DR_LAG_UNKNOWN;
		out->replay_lag = DR_LAG_UNKNOWN;
		out->lag_bytes = -1;
		out->state = DR_RPO_UNKNOWN;
		snprintf(out->reason, sizeof(out->reason),
				 "declared but never seen streaming: not a DR copy yet");
		return;
	}
	if (XLogRecPtrIsInvalid(replay_lsn) || replay_lsn > flush_lsn)
		replay_lsn = flush_lsn;

	out->rpo_lag = age_of_missing(flush_lsn, primary_pos, now);
	if (flush_lsn < primary_pos)
		out->rpo_lag = out->rpo_lag == DR_LAG_UNKNOWN ? gone : Max(out->rpo_lag, gone);
	out->replay_lag = age_of_missing(replay_lsn, primary_pos, now);
	if (replay_lsn < primary_pos)
		out->replay_lag = out->replay_lag == DR_LAG_UNKNOWN ? gone : Max(out->replay_lag, gone);
	out->lag_bytes = primary_pos > replay_lsn ? (int64) (primary_pos - replay_lsn) : 0;
	judge_figures(out);

	strlcpy(judged, out->reason, sizeof(judged));
	format_lag(agebuf, sizeof(agebuf), gone);
	snprintf(out->reason, sizeof(out->reason), "disconnected %s ago: %s", agebuf, judged);
}

/* Whether pid is one of the walsenders read into st */
static bool
is_attached(const DrNodeState *st, pid_t pid)
{
	int			i;

	if (pid == 0)
		return false;
	for (i = 0; i < st->n_standbys; i++)
		if (st->standbys[i].pid == pid)
			return true;
	return false;
}

/*
 * dr_primary_node_figures
 *		A primary's own figures.  While standbys stream: the worst over them,
 *		the reason naming remembered standbys that are not connected.  When
 *		none streams but standbys were seen before (dr_standbys, mirrored in
 *		shared memory by the worker: standbys.c): the best of the copies
 *		that remain, each dated from what it held when it left
 *		(dr_disconnected_figures) -- a breach once past rpo_max, never
 *		'unknown'.  A primary that never had a standby and has none declared
 *		is 'unknown': there is no DR copy.
 */
void
dr_primary_node_figures(const DrNodeState *st, DrLagFigures *out)
{
	DrRemembered *mem = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	int			n_mem = dr_remembered_copy(mem, NULL);
	int			n_lost = 0;
	int			n_declared = 0;
	int			best = -1;
	DrLagFigures best_fig;
	int			i;

	memset(out, 0, sizeof(*out));
	out->rpo_lag = DR_LAG_UNKNOWN;
	out->replay_lag = DR_LAG_UNKNOWN;
	out->lag_bytes = -1;
	out->state = DR_RPO_UNKNOWN;

	/* the remembered standbys not connected: how many, the best copy */
	memset(&best_fig, 0, sizeof(best_fig));
	for (i = 0; i < n_mem; i++)
	{
		DrLagFigures one;

		if (is_attached(st, mem[i].pid))
			continue;
		if (XLogRecPtrIsInvalid(mem[i].flush_lsn))
		{
			n_declared++;
			continue;
		}
		dr_disconnected_figures(st->flush_lsn, mem[i].flush_lsn, mem[i].replay_lsn,
								mem[i].last_seen, st->now, &one);
		if (best < 0 || one.rpo_lag < best_fig.rpo_lag)
		{
			best = i;
			best_fig = one;
		}
		n_lost++;
	}

	if (st->n_standbys == 0)
	{
		if (best >= 0)
		{
			*out = best_fig;
			snprintf(out->reason, sizeof(out->reason),
					 "no standby streaming; best remaining copy \"%s\" %s",
					 mem[best].name, best_fig.reason);
		}
		else if (n_declared > 0)
			snprintf(out->reason, sizeof(out->reason),
					 "no standby streaming; %d declared, never seen: no DR copy yet",
					 n_declared);
		else
			snprintf(out->reason, sizeof(out->reason),
					 "no DR copy configured: no standby attached, remembered or declared");
		return;
	}

	for (i = 0; i < st->n_standbys; i++)
	{
		DrLagFigures one;

		dr_replica_figures(st->flush_lsn, st->standbys[i].flush_lsn,
						   st->standbys[i].replay_lsn, st->now, &one);
		if (i == 0 || one.state > out->state ||
			(one.state == out->state && Max(one.rpo_lag, one.replay_lag) >
			 Max(out->rpo_lag, out->replay_lag)))
			strlcpy(out->reason, one.reason, sizeof(out->reason));
		out->state = (i == 0) ? one.state : Max(out->state, one.state);
		out->rpo_lag = Max(out->rpo_lag, one.rpo_lag);
		out->replay_lag = Max(out->replay_lag, one.replay_lag);
		out->lag_bytes = Max(out->lag_bytes, one.lag_bytes);
	}
	if (st->n_standbys > 1 && out->state != DR_RPO_OK)
	{
		char		worst[160];

		strlcpy(worst, out->reason, sizeof(worst));
		snprintf(out->reason, sizeof(out->reason), "worst of %d standbys: %s",
				 st->n_standbys, worst);
	}
	if (n_lost > 0)
	{
		char		live[160];
		int			first = -1;

		/* name the copy lost most recently */
		for (i = 0; i < n_mem; i++)
			if (!is_attached(st, mem[i].pid) && !XLogRecPtrIsInvalid(mem[i].flush_lsn) &&
				(first < 0 || mem[i].last_seen > mem[first].last_seen))
				first = i;
		strlcpy(live, out->reason, sizeof(live));
		if (n_lost == 1)
			snprintf(out->reason, sizeof(out->reason), "%s; standby \"%s\" disconnected",
					 live, mem[first].name);
		else
			snprintf(out->reason, sizeof(out->reason), "%s; %d standbys disconnected, \"%s\" last",
					 live, n_lost, mem[first].name);
	}
}

/*
 * dr_standby_node_figures
 *		A standby's own figures.  The contact is the newest primary heartbeat
 *		in the WAL this node holds (contact.c), the same on every node of a
 *		cascade and across restarts, dated by when it arrived here (this
 *		node's clock); stored_contact (a sample's copy of it, 0 if none) can
 *		only be older.  *contact receives the contact time used (0 if never).
 */
void
dr_standby_node_figures(const DrNodeState *st, TimestampTz stored_contact,
						TimestampTz *contact, DrLagFigures *out)
{
	XLogRecPtr	primary_pos = dr_primary_position(st);
	TimeOffset	contact_age = DR_LAG_UNKNOWN;
	TimeOffset	unreceived;
	bool		stale;
	char		agebuf[32];

	memset(out, 0, sizeof(*out));
	*contact = Max(stored_contact, dr_contact_get_local());
	if (*contact != 0)
		contact_age = Max(st->now - *contact, 0);

	unreceived = age_of_missing(st->receive_lsn, primary_pos, st->now);
	out->rpo_lag = (contact_age == DR_LAG_UNKNOWN || unreceived == DR_LAG_UNKNOWN)
		? contact_age : Max(contact_age, unreceived);
	out->replay_lag = age_of_missing(st->replay_lsn, primary_pos, st->now);
	out->lag_bytes = primary_pos > st->replay_lsn ? (int64) (primary_pos - st->replay_lsn) : 0;

	stale = contact_age == DR_LAG_UNKNOWN ||
		contact_age > (TimeOffset) dr_contact_stale_ms() * 1000;
	if (st->receiver_connected && !stale)
	{
		judge_figures(out);
		return;
	}

	/* Cut off from the primary: never 'ok', whatever the positions say. */
	out->state = judge(out->rpo_lag);
	if (out->state == DR_RPO_OK)
		out->state = DR_RPO_UNKNOWN;
	if (contact_age == DR_LAG_UNKNOWN)
		snprintf(out->reason, sizeof(out->reason),
				 "no heartbeat from the primary in this node's WAL yet");
	else
	{
		format_lag(agebuf, sizeof(agebuf), contact_age);
		snprintf(out->reason, sizeof(out->reason), "%s; last contact with the primary %s ago",
				 st->receiver_connected ? "no message from the primary" :
				 "WAL receiver not streaming", agebuf);
	}
}

const char *
dr_rpo_state_name(DrRpoState state)
{
	switch (state)
	{
		case DR_RPO_OK:
			return "ok";
		case DR_RPO_UNKNOWN:
			return "unknown";
		case DR_RPO_WARNING:
			return "warning";
		case DR_RPO_BREACH:
			return "breach";
	}
	return "unknown";
}

/*
 * dr_loss_at_contact
 *		What promoting this standby now could lose, for the promotion gate.
 *		While in contact this is rpo_lag.  Once cut off, rpo_lag keeps
 *		growing with the time since the last contact (rightly, for
 *		dashboards: nobody knows what the primary wrote since), which would
 *		make every standby of a dead primary unpromotable after the gate;
 *		what a promotion can lose is what was missing at the last contact
 *		plus one heartbeat, provided the old primary stopped writing when
 *		contact was lost -- which Patroni guarantees (a leader that cannot
 *		renew its lock demotes itself within ttl) and dr_fence() provides.
 *		DR_LAG_UNKNOWN if there never was contact.
 */
TimeOffset
dr_loss_at_contact(const DrNodeState *st, TimestampTz contact, const DrLagFigures *fig)
{
	XLogRecPtr	primary_pos = dr_primary_position(st);
	bool		found;
	TimestampTz oldest_at;
	TimestampTz first_past;
	TimeOffset	missing = 0;

	if (contact == 0)
		return DR_LAG_UNKNOWN;
	if (st->receiver_connected &&
		st->now - contact <= (TimeOffset) dr_contact_stale_ms() * 1000)
		return fig->rpo_lag;

	if (st->receive_lsn < primary_pos)
	{
		first_past = dr_ring_first_past(st->receive_lsn, &found, &oldest_at);
		if (found && first_past < contact)
			missing = contact - first_past;
	}
	return missing + (TimeOffset) dr_heartbeat_interval_ms * 1000;
}

/*
 * dr_node_figures
 *		This node's figures, whatever its role (as in dr_status()).  Returns
 *		true on a standby.  *contact gets the last primary contact (standby).
 */
bool
dr_node_figures(const DrNodeState *st, DrLagFigures *fig, TimestampTz *contact)
{
	DrSample	latest;

	*contact = 0;
	if (st->role == DR_ROLE_STANDBY)
	{
		dr_standby_node_figures(st, dr_ring_latest(&latest) ? latest.last_contact : 0,
								contact, fig);
		return true;
	}
	dr_primary_node_figures(st, fig);
	return false;
}

/*
 * dr_wal_age
 *		How long ago the primary first got past 'have' (0 if it has not;
 *		DR_LAG_UNKNOWN if no sample dates it): the one dating of WAL that
 *		every figure uses, exported for figures judged apart from the
 *		copies' (the WAL archive's exposure, archiver.c).
 */
TimeOffset
dr_wal_age(XLogRecPtr have, XLogRecPtr primary_pos, TimestampTz now)
{
	return age_of_missing(have, primary_pos, now);
}

/* The judgment of one figure against rpo_target and rpo_max. */
DrRpoState
dr_rpo_judge(TimeOffset lag)
{
	return judge(lag);
}
