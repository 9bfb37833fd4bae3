/*-------------------------------------------------------------------------
 *
 * bgw.h
 *	  Scaffolding shared by tensafe_dr's background workers (worker.c and
 *	  notifier.c): registration, session set-up, the loop's top and its
 *	  sleep, the short transaction around one unit of work, and the
 *	  extension's schema.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_BGW_H
#define TENSAFE_DR_BGW_H

#include "datatype/timestamp.h"

extern void dr_bgw_register(const char *function_name, const char *name,
							const char *type);
extern MemoryContext dr_bgw_startup(const char *appname);
extern bool dr_bgw_pass_start(void);
extern void dr_bgw_sleep_until(TimestampTz wake);

extern void dr_bgw_begin(const char *activity);
extern void dr_bgw_commit(void);
extern void dr_bgw_abort(MemoryContext cxt);
extern char *dr_bgw_extension_schema(void);

#endif							/* TENSAFE_DR_BGW_H */
