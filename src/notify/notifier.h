/*-------------------------------------------------------------------------
 *
 * notifier.h
 *	  The notifier worker: delivers DR notifications to webhooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_NOTIFIER_H
#define TENSAFE_DR_NOTIFIER_H

/* tensafe_dr.webhook_* settings of the retry policy (retry_policy.c) */
extern int	dr_webhook_max_attempts;
extern int	dr_webhook_max_age_s;
extern int	dr_webhook_backoff_base_ms;
extern int	dr_webhook_backoff_max_ms;

extern void dr_define_notifier_gucs(void);
extern void dr_register_notifier(void);
extern PGDLLEXPORT void dr_notifier_main(Datum main_arg);

#endif							/* TENSAFE_DR_NOTIFIER_H */
