/*-------------------------------------------------------------------------
 *
 * tensafe_dr.c
 *	  Entry point of the tensafe_dr library: _PG_init.
 *
 * The library only works preloaded: it needs shared memory, an LWLock and a
 * background worker, all of which exist only if requested while the
 * postmaster starts.  Loaded any other way (CREATE EXTENSION or a function
 * call on a server without it in shared_preload_libraries) it raises an
 * error that says how to fix it, so that neither CREATE EXTENSION nor
 * dr_status() can half-work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "compat.h"				/* the supported server versions */
#include "fence.h"
#include "guc.h"
#include "notifier.h"
#include "shared_state.h"
#include "wakeup.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
request_shmem(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	dr_shmem_request();
}

static void
startup_shmem(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	dr_shmem_startup();
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tensafe_dr must be loaded via shared_preload_libraries"),
				 errdetail("tensafe_dr keeps its lag samples in shared memory and runs a background worker, which can only be set up when the server starts."),
				 errhint("Add tensafe_dr to shared_preload_libraries in postgresql.conf and restart the server.")));

	dr_define_gucs();			/* every tensafe_dr.* parameter */

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shmem;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = startup_shmem;

	dr_install_fence_hooks();
	dr_install_wakeup_hooks();

	/*
	 * pg_upgrade starts both clusters in binary-upgrade mode (postgres -b)
	 * and restores the schema into the new one, dropping and creating
	 * databases: a worker connected to a database makes that fail ("database
	 * is being accessed by other users").  Nothing of ours may run then; the
	 * workers start with the next normal start.
	 */
	if (IsBinaryUpgrade)
		return;
	dr_register_worker();
	dr_register_notifier();
}
