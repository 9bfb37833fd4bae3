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

/*
 * One copy of the primary's data, as dr_primary_node_figures() weighs it:
 * a standby streaming now, or one remembered (dr_standbys) that is not.
 */
typedef struct DrCopy
{
	const char *name;			/* "" for a walsender not remembered yet */
	const char *region;			/* "" if not declared */
	bool		connected;
	bool		sync;			/* a synchronous standby now */
	TimestampTz last_seen;		/* disconnected ones */
	DrLagFigures fig;
} DrCopy;

/* The remembered standby a walsender streams to, or NULL */
static const DrRemembered *
remembered_for(const DrRemembered *mem, int n_mem, pid_t pid)
{
	int			i;

	for (i = 0; pid != 0 && i < n_mem; i++)
		if (mem[i].pid == pid)
			return &mem[i];
	return NULL;
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
 * collect_copies
 *		Every copy: the walsenders streaming now, then the remembered
 *		standbys not connected that were seen (those declared and never seen
 *		are only counted, in *n_declared: no copy yet).
 */
static int
collect_copies(const DrNodeState *st, const DrRemembered *mem, int n_mem,
			   DrCopy *copies, int *n_declared)
{
	int			n = 0;
	int			i;

	*n_declared = 0;
	for (i = 0; i < st->n_standbys; i++)
	{
		const DrRemembered *r = remembered_for(mem, n_mem, st->standbys[i].pid);
		DrCopy	   *c = &copies[n++];

		c->name = r ? r->name : "";
		c->region = r ? r->region : "";
		c->connected = true;
		c->sync = st->standbys[i].sync;
		c->last_seen = st->now;
		dr_replica_figures(st->flush_lsn, st->standbys[i].flush_lsn,
						   st->standbys[i].replay_lsn, st->now, &c->fig);
	}
	for (i = 0; i < n_mem; i++)
	{
		DrCopy	   *c;

		if (is_attached(st, mem[i].pid))
			continue;
		if (XLogRecPtrIsInvalid(mem[i].flush_lsn))
		{
			(*n_declared)++;
			continue;
		}
		c = &copies[n++];
		c->name = mem[i].name;
		c->region = mem[i].region;
		c->connected = false;
		c->sync = false;
		c->last_seen = mem[i].last_seen;
		dr_disconnected_figures(st->flush_lsn, mem[i].flush_lsn, mem[i].replay_lsn,
								mem[i].last_seen, st->now, &c->fig);
	}
	return n;
}

/* Whether a copy is in a region other than this node's (both declared) */
static bool
in_other_region(const DrCopy *c)
{
	return dr_region != NULL && dr_region[0] != '\0' &&
		c->region[0] != '\0' && strcmp(c->region, dr_region) != 0;
}

/* Rank for "the best copy": ok, warning, breach, then unknown (no figures) */
static int
state_rank(DrRpoState state)
{
	switch (state)
	{
		case DR_RPO_OK:
			return 0;
		case DR_RPO_WARNING:
			return 1;
		case DR_RPO_BREACH:
			return 2;
		case DR_RPO_UNKNOWN:
			break;
	}
	return 3;
}

static TimeOffset
judged_lag(const DrLagFigures *f)
{
	if (f->rpo_lag == DR_LAG_UNKNOWN || f->replay_lag == DR_LAG_UNKNOWN)
		return PG_INT64_MAX;
	return Max(f->rpo_lag, f->replay_lag);
}

static bool
better_copy(const DrCopy *a, const DrCopy *b)
{
	int			ra = state_rank(a->fig.state);
	int			rb = state_rank(b->fig.state);

	if (ra != rb)
		return ra < rb;
	return judged_lag(&a->fig) < judged_lag(&b->fig);
}

/*
 * loss_exposure
 *		What losing the copies outside 'region_scope' would cost: the lowest
 *		rpo_lag among the copies in scope (all, or those in another region),
 *		DR_LAG_UNKNOWN if none has figures.  0 by construction while
 *		synchronous replication holds every acknowledged commit on a copy in
 *		scope: priority (FIRST k), a sync standby in scope; quorum (ANY k),
 *		fewer than k of the sync candidates outside scope, so that every
 *		acknowledging set includes one in scope.  Only while commits wait
 *		(synchronous_commit on or remote_apply) and k standbys are sync.
 */
static TimeOffset
loss_exposure(const DrNodeState *st, const DrCopy *copies, int n, bool other_region_only)
{
	TimeOffset	best = DR_LAG_UNKNOWN;
	int			sync_in = 0;
	int			sync_out = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		bool		in_scope = !other_region_only || in_other_region(&copies[i]);

		if (copies[i].sync)
		{
			if (in_scope)
				sync_in++;
			else
				sync_out++;
		}
		if (!in_scope || copies[i].fig.rpo_lag == DR_LAG_UNKNOWN)
			continue;
		if (best == DR_LAG_UNKNOWN || copies[i].fig.rpo_lag < best)
			best = copies[i].fig.rpo_lag;
	}
	if (st->sync.required > 0 && st->sync.commits_wait &&
		st->sync.n_sync >= st->sync.required && sync_in > 0 &&
		(!st->sync.quorum || sync_out < st->sync.required))
		return 0;
	return best;
}

/*
 * name_others
 *		Append to out->reason what the judged copy does not show: the worst
 *		streaming copy in warning or breach (it also raises its own
 *		STANDBY_LAGGING: standbys.c), and the disconnected copies.
 */
static void
name_others(DrLagFigures *out, const DrCopy *copies, int n, int best)
{
	int			lagging = -1;
	int			lost = -1;
	int			n_lost = 0;
	int			i;
	char		buf[sizeof(out->reason)];

	for (i = 0; i < n; i++)
	{
		if (i == best)
			continue;
		if (!copies[i].connected)
		{
			n_lost++;
			if (lost < 0 || copies[i].last_seen > copies[lost].last_seen)
				lost = i;
			continue;
		}
		if ((copies[i].fig.state == DR_RPO_WARNING || copies[i].fig.state == DR_RPO_BREACH) &&
			(lagging < 0 || judged_lag(&copies[i].fig) > judged_lag(&copies[lagging].fig)))
			lagging = i;
	}
	if (lagging >= 0)
	{
		strlcpy(buf, out->reason, sizeof(buf));
		snprintf(out->reason, sizeof(out->reason), "%s; standby \"%s\" lagging (%s)",
				 buf, copies[lagging].name, copies[lagging].fig.reason);
	}
	if (n_lost > 0)
	{
		strlcpy(buf, out->reason, sizeof(buf));
		if (n_lost == 1)
			snprintf(out->reason, sizeof(out->reason), "%s; standby \"%s\" disconnected",
					 buf, copies[lost].name);
		else
			snprintf(out->reason, sizeof(out->reason), "%s; %d standbys disconnected, \"%s\" last",
					 buf, n_lost, copies[lost].name);
	}
}

/*
 * dr_primary_node_figures
 *		A primary's own figures: what a disaster would cost it now.
 *		node_loss_lag: losing this node, the best copy anywhere;
 *		region_loss_lag: losing its whole region, the best copy in another
 *		region (needs tensafe_dr.region here and the standbys' regions
 *		declared with dr_standby_set(); DR_LAG_UNKNOWN when no such copy).
 *		The state is that of the best copy in another region when one exists
 *		-- the runbook's RPO is a disaster objective -- else of the best copy
 *		anywhere, judged as any copy is (the larger of its rpo_lag and
 *		replay_lag); rpo_lag, replay_lag and lag_bytes are that copy's.  (1.1
 *		judged the worst standby: one lagging HA standby put the whole node
 *		in breach.)  A lagging or disconnected copy is named in the reason
 *		and keeps its own figures in dr_replicas.  Disconnected copies count
 *		from what they held when they left (dr_disconnected_figures): a
 *		breach once past rpo_max, never 'unknown'.  A primary that never had
 *		a standby and has none declared is 'unknown': there is no DR copy.
 */
void
dr_primary_node_figures(const DrNodeState *st, DrLagFigures *out)
{
	DrRemembered *mem = palloc(sizeof(DrRemembered) * DR_REMEMBERED_MAX);
	int			n_mem = dr_remembered_copy(mem, NULL);
	DrCopy	   *copies = palloc0(sizeof(DrCopy) * (st->n_standbys + n_mem + 1));
	int			n_declared;
	int			n = collect_copies(st, mem, n_mem, copies, &n_declared);
	bool		any_other_region = false;
	int			best = -1;
	int			i;
	char		buf[sizeof(out->reason)];

	memset(out, 0, sizeof(*out));
	out->rpo_lag = DR_LAG_UNKNOWN;
	out->replay_lag = DR_LAG_UNKNOWN;
	out->lag_bytes = -1;
	out->state = DR_RPO_UNKNOWN;
	out->node_loss_lag = loss_exposure(st, copies, n, false);
	out->region_loss_lag = loss_exposure(st, copies, n, true);

	if (n == 0)
	{
		if (n_declared > 0)
			snprintf(out->reason, sizeof(out->reason),
					 "no standby streaming; %d declared, never seen: no DR copy yet",
					 n_declared);
		else
			snprintf(out->reason, sizeof(out->reason),
					 "no DR copy configured: no standby attached, remembered or declared");
		return;
	}

	for (i = 0; i < n; i++)
		any_other_region |= in_other_region(&copies[i]);
	for (i = 0; i < n; i++)
		if ((!any_other_region || in_other_region(&copies[i])) &&
			(best < 0 || better_copy(&copies[i], &copies[best])))
			best = i;

	{
		TimeOffset	node_loss = out->node_loss_lag;
		TimeOffset	region_loss = out->region_loss_lag;

		*out = copies[best].fig;
		out->node_loss_lag = node_loss;
		out->region_loss_lag = region_loss;
	}
	strlcpy(buf, out->reason, sizeof(buf));
	if (st->n_standbys == 0)
		snprintf(out->reason, sizeof(out->reason),
				 "no standby streaming; best remaining copy \"%s\" %s", copies[best].name, buf);
	else if (any_other_region)
		snprintf(out->reason, sizeof(out->reason), "best copy in another region \"%s\" (%s): %s",
				 copies[best].name, copies[best].region, buf);
	else if (n > 1)
		snprintf(out->reason, sizeof(out->reason), "best of %d copies \"%s\": %s",
				 n, copies[best].name, buf);
	name_others(out, copies, n, best);
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
