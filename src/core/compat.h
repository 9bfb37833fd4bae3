/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The PostgreSQL server versions tensafe_dr supports: 15 only.
 *
 * Building against any other major version stops here, rather than later
 * on some API that differs.  What ties the code to 15, for whoever adds a
 * version:
 *	- shmem_request_hook (new in 15; before it, RequestAddinShmemSpace was
 *	  called from _PG_init);
 *	- InitMaterializedSRF for set-returning functions (15; 14 and older
 *	  build the tuplestore by hand);
 *	- the cumulative statistics system's pgstat_report_stat(bool force)
 *	  (15; bgw.c calls it after each commit);
 *	- MyProc->lxid in fence.c (MyProc->vxid.lxid from 17 on);
 *	- the executor and utility hook signatures in fence.c and wakeup.c;
 *	- GetLatestXTime() from access/xlogrecovery.h (moved there in 15).
 *
 * Include it after postgres.h (which defines PG_VERSION_NUM).  It is
 * included by tensafe_dr.c (the module entry) and by shared_state.h, which
 * every file that touches shared memory includes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_COMPAT_H
#define TENSAFE_DR_COMPAT_H

#ifndef PG_VERSION_NUM
#error "include postgres.h before compat.h"
#endif

/* The supported server versions: [DR_PG_VERSION_MIN, DR_PG_VERSION_MAX) */
#define DR_PG_VERSION_MIN	150000
#define DR_PG_VERSION_MAX	160000

#if PG_VERSION_NUM < DR_PG_VERSION_MIN || PG_VERSION_NUM >= DR_PG_VERSION_MAX
#error "tensafe_dr supports PostgreSQL 15 only (see src/core/compat.h)"
#endif

#endif							/* TENSAFE_DR_COMPAT_H */
