/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The offset between this standby's clock and the primary's: measured,
 *	  shown, and journalled when it is large.  See clock.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_CLOCK_H
#define TENSAFE_DR_CLOCK_H

#include "datatype/timestamp.h"

extern void dr_clock_note(TimestampTz at, TimestampTz look);
extern void dr_clock_track(void);
extern bool dr_clock_skewed(TimeOffset *offset);
extern void dr_clock_format(char *buf, size_t len, TimeOffset offset);

#endif							/* TENSAFE_DR_CLOCK_H */
