/*-------------------------------------------------------------------------
 *
 * wakeup.h
 *	  Waking the worker and the notifier when there is work for them,
 *	  instead of having them poll the catalog.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_WAKEUP_H
#define TENSAFE_DR_WAKEUP_H

#include "c.h"

/* Why a process was woken: bits of DrShared->wake_reasons */
#define DR_WAKE_SUMMARY		0x01	/* incidents, events or backups changed:
									 * the worker refreshes dr_status()'s
									 * catalog summary */
#define DR_WAKE_OUTBOX		0x02	/* a delivery was queued: the notifier
									 * reads the outbox */
#define DR_WAKE_JOURNAL		0x04	/* an event was journalled: a standby's
									 * notifier delivers it */
#define DR_WAKE_INCIDENTS	0x08	/* the open incident changed: the notifier
									 * starts or stops its housekeeping */
#define DR_WAKE_EXTENSION	0x10	/* CREATE, ALTER or DROP EXTENSION
									 * tensafe_dr committed: the worker looks
									 * for the extension again */
#define DR_WAKE_STANDBYS	0x20	/* dr_standbys changed (dr_standby_set,
									 * dr_standby_forget): the worker reloads
									 * the registry (standbys.c) */

extern void dr_install_wakeup_hooks(void);
extern void dr_wake(uint32 reasons);
extern uint32 dr_take_wake_reasons(uint32 mask);
extern uint32 dr_peek_wake_reasons(uint32 mask);

#endif							/* TENSAFE_DR_WAKEUP_H */
