/*-------------------------------------------------------------------------
 *
 * journal.h
 *	  The local, durable event journal under $PGDATA/pg_tensafe_dr/.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_JOURNAL_H
#define TENSAFE_DR_JOURNAL_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "storage/lwlock.h"

#define DR_JOURNAL_DIR "pg_tensafe_dr"

/* One event as read back from the journal. */
typedef struct DrJournalEntry
{
	uint64		journal_id;		/* its journal (an older one if carried over
								 * after a corruption) */
	uint64		seq;
	TimestampTz written_at;
	bool		flushed;		/* at or below the flushed-up-to mark */
	const char *payload;		/* JSON text, not NUL-terminated */
	int			payload_len;
} DrJournalEntry;

typedef void (*DrJournalScanCallback) (const DrJournalEntry *entry, void *arg);

extern Size dr_journal_shmem_size(void);
extern void dr_journal_shmem_init(LWLock *lock);
extern uint64 dr_journal_append(const char *payload, int len, const char *event_type);
extern TimestampTz dr_journal_last_event(char *summary, Size len);
extern void dr_journal_scan(bool unflushed_only, DrJournalScanCallback cb, void *arg);
extern void dr_journal_mark_flushed(uint64 upto, TransactionId xid);
extern const char *dr_journal_id(void);
extern uint64 dr_journal_pending_count(void);
extern uint64 dr_journal_flushed_upto(void);
extern bool dr_journal_try_open(char **reason);
extern bool dr_journal_pending_count_try(uint64 *count, char **reason);
/*
 * Crash points for the crash-safety tests (004_journal) and pause points
 * (020_fence_barrier): compiled only into
 * test builds (make TEST_HOOKS=1, which test/run-tests.sh uses), never into
 * a build made with a plain `make`.
 */
#ifdef TENSAFE_DR_TEST_HOOKS
extern void dr_journal_test_crash_point(const char *point);
extern void dr_test_pause_point(const char *point);
#define DR_TEST_CRASH_POINT(point) dr_journal_test_crash_point(point)
#define DR_TEST_PAUSE_POINT(point) dr_test_pause_point(point)
#else
#define DR_TEST_CRASH_POINT(point) ((void) 0)
#define DR_TEST_PAUSE_POINT(point) ((void) 0)
#endif

#endif							/* TENSAFE_DR_JOURNAL_H */
