/*-------------------------------------------------------------------------
 *
 * lag.h
 *	  RPO exposure and replay lag, and their judgment against the
 *	  objectives.  See lag.c for the definitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_LAG_H
#define TENSAFE_DR_LAG_H

#include "node_state.h"

typedef enum DrRpoState
{
	DR_RPO_OK = 0,
	DR_RPO_UNKNOWN,				/* ranks between ok and warning */
	DR_RPO_WARNING,
	DR_RPO_BREACH
} DrRpoState;

#define DR_LAG_UNKNOWN	((TimeOffset) -1)

typedef struct DrLagFigures
{
	TimeOffset	rpo_lag;		/* microseconds, DR_LAG_UNKNOWN if unknown */
	TimeOffset	replay_lag;		/* microseconds, DR_LAG_UNKNOWN if unknown */
	int64		lag_bytes;		/* -1 if unknown */
	DrRpoState	state;
	char		reason[320];
	/* a primary's exposures (dr_primary_node_figures), else DR_LAG_UNKNOWN */
	TimeOffset	node_loss_lag;	/* losing this node: the best copy anywhere */
	TimeOffset	region_loss_lag;	/* losing its region: the best copy in
									 * another region */
} DrLagFigures;

extern void dr_standby_node_figures(const DrNodeState *st,
									TimestampTz stored_contact,
									TimestampTz *contact,
									DrLagFigures *out);
extern void dr_replica_figures(XLogRecPtr primary_pos, XLogRecPtr flush_lsn,
							   XLogRecPtr replay_lsn, TimestampTz now,
							   DrLagFigures *out);
extern void dr_disconnected_figures(XLogRecPtr primary_pos, XLogRecPtr flush_lsn,
									XLogRecPtr replay_lsn, TimestampTz last_seen,
									TimestampTz now, DrLagFigures *out);
extern void dr_primary_node_figures(const DrNodeState *st, DrLagFigures *out);
extern const char *dr_rpo_state_name(DrRpoState state);
extern TimeOffset dr_loss_at_contact(const DrNodeState *st, TimestampTz contact,
									 const DrLagFigures *fig);
extern TimeOffset dr_wal_age(XLogRecPtr have, XLogRecPtr primary_pos, TimestampTz now);
extern DrRpoState dr_rpo_judge(TimeOffset lag);
extern bool dr_node_figures(const DrNodeState *st, DrLagFigures *fig,
							TimestampTz *contact);

#endif							/* TENSAFE_DR_LAG_H */
