/*-------------------------------------------------------------------------
 *
 * delivered_log.h
 *	  Idempotency keys this node delivered while it could not write tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_DELIVERED_LOG_H
#define TENSAFE_DR_DELIVERED_LOG_H

/* longest idempotency key kept, with its terminating NUL */
#define DR_DELIVERED_KEY_MAX	256

extern void dr_delivered_append(const char *key);
extern bool dr_delivered_contains(const char *key);
extern bool dr_delivered_key_live(const char *key, const char *journal_id, uint64 flushed);
extern int	dr_delivered_compact(void);

#endif							/* TENSAFE_DR_DELIVERED_LOG_H */
