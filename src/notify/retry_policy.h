/*-------------------------------------------------------------------------
 *
 * retry_policy.h
 *	  The webhook retry policy, the one owner of it: when a failed delivery
 *	  is tried again and when it is given up.  The primary's outbox
 *	  (dr_outbox_result() in SQL, through dr_webhook_retry()) and the
 *	  standby's in-memory retries (notifier.c) both ask here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_RETRY_POLICY_H
#define TENSAFE_DR_RETRY_POLICY_H

/* What to do after a failed attempt. */
typedef enum DrRetryVerdict
{
	DR_RETRY_AGAIN,				/* try again after the delay */
	DR_RETRY_NOT_RETRYABLE,		/* the failure is permanent (e.g. HTTP 410) */
	DR_RETRY_MAX_ATTEMPTS,		/* tensafe_dr.webhook_max_attempts used up */
	DR_RETRY_MAX_AGE			/* older than tensafe_dr.webhook_max_age */
} DrRetryVerdict;

extern DrRetryVerdict dr_webhook_retry_decide(int attempts, int64 age_ms, bool retryable,
											  int64 *delay_ms);

#endif							/* TENSAFE_DR_RETRY_POLICY_H */
