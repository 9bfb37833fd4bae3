/*-------------------------------------------------------------------------
 *
 * delivered_log.h
 *	  Idempotency keys this node delivered while it could not write tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_DELIVERED_LOG_H
#define TENSAFE_DR_DELIVERED_LOG_H

extern void dr_delivered_append(const char *key);
extern bool dr_delivered_contains(const char *key);

#endif							/* TENSAFE_DR_DELIVERED_LOG_H */
