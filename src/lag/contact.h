/*-------------------------------------------------------------------------
 *
 * contact.h
 *	  A standby's knowledge of its primary, read from the heartbeats in the
 *	  WAL it holds and kept across restarts.  See contact.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_CONTACT_H
#define TENSAFE_DR_CONTACT_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

extern void dr_contact_load(TimestampTz *at, XLogRecPtr *lsn, TimestampTz *local_at,
							bool *offset_known, TimeOffset *offset);
extern void dr_contact_scan(void);
extern void dr_contact_forget_reader(void);

#endif							/* TENSAFE_DR_CONTACT_H */
