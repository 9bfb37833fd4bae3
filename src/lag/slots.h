/*-------------------------------------------------------------------------
 *
 * slots.h
 *	  Replication slots that endanger the node (WAL held back, about to be
 *	  or already lost).  See slots.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_SLOTS_H
#define TENSAFE_DR_SLOTS_H

#include "access/xlogdefs.h"

/* Ordered by severity: the worst slot is the one with the highest state */
typedef enum DrSlotState
{
	DR_SLOT_OK = 0,
	DR_SLOT_RETAINING,			/* inactive and holding back WAL, or
								 * safe_wal_size running low */
	DR_SLOT_UNRESERVED,			/* its WAL is past max_slot_wal_keep_size */
	DR_SLOT_LOST				/* its WAL is gone: the slot is useless */
} DrSlotState;

typedef struct DrSlotInfo
{
	char		name[64];
	bool		physical;
	bool		active;
	XLogRecPtr	restart_lsn;
	const char *wal_status;		/* as pg_replication_slots, NULL if none */
	int64		retained_bytes; /* -1 if unknown */
	bool		has_safe_wal_size;
	int64		safe_wal_size;
	DrSlotState state;
} DrSlotInfo;

extern int	dr_slots_read(DrSlotInfo **slots);
extern const char *dr_slot_state_name(DrSlotState state);
extern int	dr_slots_worst(const DrSlotInfo *slots, int n);
extern void dr_slots_track(void);

#endif							/* TENSAFE_DR_SLOTS_H */
