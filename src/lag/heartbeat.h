/*-------------------------------------------------------------------------
 *
 * heartbeat.h
 *	  The primary's WAL heartbeat.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_HEARTBEAT_H
#define TENSAFE_DR_HEARTBEAT_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#define DR_HEARTBEAT_PREFIX "tensafe_dr.heartbeat"

extern XLogRecPtr dr_write_heartbeat(TimestampTz now);

#endif							/* TENSAFE_DR_HEARTBEAT_H */
