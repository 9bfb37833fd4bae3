/*-------------------------------------------------------------------------
 *
 * notifier.h
 *	  The notifier worker: delivers DR notifications to webhooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_NOTIFIER_H
#define TENSAFE_DR_NOTIFIER_H

extern void dr_define_notifier_gucs(void);
extern void dr_register_notifier(void);
extern PGDLLEXPORT void dr_notifier_main(Datum main_arg);

#endif							/* TENSAFE_DR_NOTIFIER_H */
