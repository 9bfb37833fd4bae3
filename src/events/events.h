/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Recording DR events from C (the worker, dr_promote_check()).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_EVENTS_H
#define TENSAFE_DR_EVENTS_H

#include "lib/stringinfo.h"

extern uint64 dr_journal_event(const char *event_type, int level, bool successful,
							   const char *actor, const char *details_json);
extern bool dr_journal_event_try(const char *event_type, int level, bool successful,
								 const char *actor, const char *details_json, char **reason);
extern void dr_event_payload(StringInfo buf, const char *event_type, int level, bool successful,
							 const char *actor, const char *details_json);
extern void dr_json_add_interval_s(StringInfo buf, const char *key, int64 usecs, bool first);

#endif							/* TENSAFE_DR_EVENTS_H */
