/*-------------------------------------------------------------------------
 *
 * sync_stall.h
 *	  Commits stalled on synchronous replication, as a DR state.  See
 *	  sync_stall.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_SYNC_STALL_H
#define TENSAFE_DR_SYNC_STALL_H

#include "datatype/timestamp.h"

extern void dr_sync_stall_sample(bool primary, bool record, TimestampTz now);
extern char *dr_sync_stall_reason(const char *lag_reason);

#endif							/* TENSAFE_DR_SYNC_STALL_H */
