/*-------------------------------------------------------------------------
 *
 * sampler.c
 *	  Turn a reading of the node's state into a DrSample and push it into
 *	  the ring.  Called by the worker every tensafe_dr.sample_interval.
 *
 * Shared memory only: no catalog access, no transaction, no I/O, so a
 * sample is never delayed by anything but the CPU.  The ring's lock is
 * taken by dr_ring_push() for the copy alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "node_state.h"
#include "sampler.h"
#include "shared_state.h"

/*
 * dr_take_sample
 *		Sample the node now and append it to the ring; a copy goes to *taken.
 *		Allocates (the walsender list) in CurrentMemoryContext.
 */
void
dr_take_sample(DrSample *taken)
{
	DrNodeState st;
	DrSample	s;
	DrSample	prev;
	int			i;

	dr_read_node_state(&st, true);

	memset(&s, 0, sizeof(s));
	s.at = st.now;
	s.role = (int8) st.role;
	s.timeline = st.timeline;
	s.primary_lsn = dr_primary_position(&st);
	s.insert_lsn = st.insert_lsn;
	s.receive_lsn = st.receive_lsn;
	s.replay_lsn = st.replay_lsn;
	s.receiver_state = (int8) st.receiver_state;

	/*
	 * The last contact with the primary: the durable memo the worker keeps
	 * from the heartbeats in the WAL (contact.c), the very one dr_status()
	 * shows, on this node's clock; carried forward, it never goes backwards.
	 */
	if (dr_ring_latest(&prev))
		s.last_contact = prev.last_contact;
	if (st.role == DR_ROLE_STANDBY)
		s.last_contact = Max(s.last_contact, dr_contact_get_local());

	s.n_standbys = (int16) Min(st.n_standbys, PG_INT16_MAX);
	for (i = 0; i < st.n_standbys; i++)
	{
		if (i == 0 || st.standbys[i].flush_lsn < s.standby_min_flush)
			s.standby_min_flush = st.standbys[i].flush_lsn;
		if (i == 0 || st.standbys[i].replay_lsn < s.standby_min_replay)
			s.standby_min_replay = st.standbys[i].replay_lsn;
	}

	dr_ring_push(&s);
	if (taken)
		*taken = s;
}
