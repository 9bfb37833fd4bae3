/*-------------------------------------------------------------------------
 *
 * verify_parallel.c
 *	  The checksums of dr_verify_backup() computed by several dynamic
 *	  background workers (tensafe_dr.verify_workers), a file each at a time.
 *
 * The verifying backend (the leader) has walked the backup and knows which
 * files to checksum (backup_verify_files.c).  It puts them in a dynamic
 * shared memory segment (shm_toc): per file its path relative to the backup
 * directory, size, algorithm and expected checksum, and room for the
 * result; plus the backup directory, tensafe_dr.backup_root as the leader
 * sees it, and the followed tablespace links.  It then registers up to
 * tensafe_dr.verify_workers workers (RegisterDynamicBackgroundWorker, type
 * "tensafe_dr verify", notifying the leader) and waits on its latch,
 * with CHECK_FOR_INTERRUPTS(), updating its progress slot
 * (backup_progress.c) from two shared counters every 100 ms.
 *
 * Each worker opens the backup directory by the same walk under
 * tensafe_dr.backup_root (backup_paths.c; it must be the directory the
 * leader opened: same device and inode), then claims files with an atomic
 * counter, largest first, and checksums each with
 * dr_verify_checksum_file(), the function the serial path uses, reading
 * DR_READ_CHUNK at a time into its own buffer.  The leader reports the
 * problems afterwards in the manifest table's order (dr_verify_report_file()),
 * so a parallel verification lists exactly what a serial one lists.
 *
 * Failure and cancellation:
 *	- no worker slot free (max_worker_processes) or no DSM segment: a NOTICE,
 *	  and the caller verifies serially; details->'workers' says 0;
 *	- a worker registered but never started: once every worker has stopped,
 *	  the leader checksums the files nobody claimed itself;
 *	- a worker that raises an error copies its message and SQLSTATE into
 *	  its status slot before it exits; the leader raises it as its own;
 *	  a worker that exits otherwise before finishing (terminated) is an
 *	  error too, raised as soon as the leader sees it stopped;
 *	- an error or cancel in the leader (or its exit) sets the stop flag and
 *	  terminates every worker (PG_ENSURE_ERROR_CLEANUP); a worker dies at
 *	  its next chunk (SIGTERM -> die()).
 *
 * Memory: the segment holds ~100 bytes plus the path per file (what the
 * manifest table already holds in the leader), and each worker one
 * DR_READ_CHUNK buffer.
 *
 * Locking: none.  Work is handed out with pg_atomic_fetch_add_u32(); each
 * result slot is written only by the process that claimed the file and
 * read by the leader only after every worker has stopped (write barrier
 * before a worker's final state, read barrier in the leader).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/wait_event.h"

#include "backup_files.h"
#include "backup_paths.h"
#include "backup_progress.h"
#include "backup_verify.h"
#include "guc.h"

PGDLLEXPORT void dr_verify_worker_main(Datum main_arg);

#define DR_VERIFY_SHM_MAGIC		0x74647276
#define KEY_SHARED				1
#define KEY_ITEMS				2
#define KEY_STRINGS				3

/* tensafe_dr.verify_workers' upper limit */
#define DR_VERIFY_MAX_WORKERS	64

typedef enum WorkerState
{
	WS_NOT_STARTED = 0,
	WS_RUNNING,
	WS_DONE,
	WS_FAILED
} WorkerState;

typedef struct WorkerStatus
{
	volatile int state;			/* WorkerState */
	int			pid;
	int			sqlerrcode;
	char		message[256];
} WorkerStatus;

typedef struct SharedItem
{
	uint32		index;			/* in the leader's DrVerifyItem array */
	uint32		path_off;		/* in the strings */
	uint64		size;
	int32		algorithm;
	int32		checksum_len;
	uint8		checksum[PG_CHECKSUM_MAX_LENGTH];
	DrFileResult result;
} SharedItem;

typedef struct VerifyShared
{
	pg_atomic_uint32 next;		/* next SharedItem to claim */
	pg_atomic_uint32 stop;		/* the leader gave up: claim nothing more */
	pg_atomic_uint64 files_done;
	pg_atomic_uint64 bytes_done;
	int			leader_pgprocno;
	dev_t		dir_dev;
	ino_t		dir_ino;
	uint32		nitems;
	uint32		nlinks;			/* pairs rel\0target\0 at links_off */
	uint32		dir_off;
	uint32		root_off;
	uint32		links_off;
	int			nworkers;
	WorkerStatus workers[FLEXIBLE_ARRAY_MEMBER];
} VerifyShared;

/* What the leader's error cleanup needs. */
typedef struct LeaderState
{
	VerifyShared *sh;
	BackgroundWorkerHandle **handles;
	int			nhandles;
} LeaderState;

/*
 * dr_verify_workers_wanted
 *		tensafe_dr.verify_workers resolved: -1 is one per online CPU core.
 */
int
dr_verify_workers_wanted(void)
{
	long		n;

	if (dr_verify_workers >= 0)
		return dr_verify_workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return (int) Min(n, DR_VERIFY_MAX_WORKERS);
}

static void
shared_advance(void *arg, int64 bytes)
{
	VerifyShared *sh = arg;

	pg_atomic_fetch_add_u64(&sh->bytes_done, (uint64) bytes);
}

/*
 * Claim files until none is left (or the leader says stop) and checksum
 * each: in a worker, and in the leader for what no worker claimed.
 */
static void
checksum_claimed(VerifyShared *sh, SharedItem *sitems, const char *strings,
				 int dirfd, List *links, char *buf, bool in_worker)
{
	for (;;)
	{
		uint32		k;
		SharedItem *si;
		DrVerifyItem item;

		if (pg_atomic_read_u32(&sh->stop) != 0)
			break;
		k = pg_atomic_fetch_add_u32(&sh->next, 1);
		if (k >= sh->nitems)
			break;
		si = &sitems[k];
		item.path = strings + si->path_off;
		item.size = si->size;
		item.algorithm = (pg_checksum_type) si->algorithm;
		item.checksum_len = si->checksum_len;
		item.checksum = si->checksum;
#ifdef TENSAFE_DR_TEST_HOOKS
		/* a file of this name makes the worker that claims it fail */
		if (in_worker && strcmp(last_dir_separator(item.path) ? last_dir_separator(item.path) + 1 : item.path,
								"tensafe_dr_test_worker_error") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("tensafe_dr: test error in a verification worker at \"%s\"", item.path)));
#endif
		dr_verify_checksum_file(dirfd, links, &item, buf, shared_advance, sh);
		si->result = item.result;
		pg_atomic_fetch_add_u64(&sh->files_done, 1);
	}
}

/* Largest first: the last file claimed is a small one. */
static int
size_desc_cmp(const void *a, const void *b)
{
	const SharedItem *x = a;
	const SharedItem *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
}

static void
stop_workers(int code, Datum arg)
{
	LeaderState *ls = (LeaderState *) DatumGetPointer(arg);
	int			i;

	pg_atomic_write_u32(&ls->sh->stop, 1);
	for (i = 0; i < ls->nhandles; i++)
		TerminateBackgroundWorker(ls->handles[i]);
}

static void
fallback_notice(const char *why)
{
	ereport(NOTICE,
			(errmsg("backup verification runs serially: %s", why),
			 errhint("Each verification worker takes a background worker slot (max_worker_processes is %d); tensafe_dr.verify_workers = 0 verifies serially without trying.",
					 max_worker_processes)));
}

/* Copy s into the strings at *off; returns where it went. */
static uint32
put_string(char *strings, Size *off, const char *s)
{
	uint32		at = (uint32) *off;
	Size		n = strlen(s) + 1;

	memcpy(strings + at, s, n);
	*off += n;
	return at;
}

/*
 * dr_verify_parallel
 *		Checksum items[0..nitems) with up to nworkers background workers
 *		(see the file header), leaving each result in items[i].result and
 *		the bytes read in vs->bytes_checksummed; vs->workers_used says how
 *		many workers took part.  Returns false, having done nothing, if no
 *		worker could be registered or no segment created: the caller then
 *		verifies serially.  Raises a worker's error as its own.
 */
bool
dr_verify_parallel(DrVerifyState *vs, DrVerifyItem *items, int nitems, int nworkers)
{
	shm_toc_estimator est;
	Size		shared_size,
				items_size,
				strings_size,
				off;
	Size		size;
	dsm_segment *seg;
	shm_toc    *toc;
	VerifyShared *sh;
	SharedItem *sitems;
	char	   *strings;
	struct stat st;
	ListCell   *lc;
	LeaderState ls;
	BackgroundWorker w;
	int			i;
	int			started = 0;

	Assert(nworkers > 1 && nitems > 1);
	if (fstat(vs->dirfd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat \"%s\": %m", vs->dir)));

	strings_size = strlen(vs->dir) + 1 + strlen(dr_backup_root ? dr_backup_root : "") + 1;
	for (i = 0; i < nitems; i++)
		strings_size += strlen(items[i].path) + 1;
	foreach(lc, vs->links)
	{
		DrVerifyLink *l = lfirst(lc);

		strings_size += strlen(l->rel) + 1 + strlen(l->target) + 1;
	}
	if (strings_size > PG_UINT32_MAX)
	{
		fallback_notice("the file list is too large for one shared memory segment");
		return false;
	}
	shared_size = add_size(offsetof(VerifyShared, workers),
						   mul_size(nworkers, sizeof(WorkerStatus)));
	items_size = mul_size(nitems, sizeof(SharedItem));
	shm_toc_initialize_estimator(&est);
	shm_toc_estimate_chunk(&est, shared_size);
	shm_toc_estimate_chunk(&est, items_size);
	shm_toc_estimate_chunk(&est, strings_size);
	shm_toc_estimate_keys(&est, 3);
	size = shm_toc_estimate(&est);

	seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
	{
		fallback_notice("no dynamic shared memory segment is free");
		return false;
	}
	toc = shm_toc_create(DR_VERIFY_SHM_MAGIC, dsm_segment_address(seg), size);
	sh = shm_toc_allocate(toc, shared_size);
	sitems = shm_toc_allocate(toc, items_size);
	strings = shm_toc_allocate(toc, strings_size);
	shm_toc_insert(toc, KEY_SHARED, sh);
	shm_toc_insert(toc, KEY_ITEMS, sitems);
	shm_toc_insert(toc, KEY_STRINGS, strings);

	memset(sh, 0, shared_size);
	pg_atomic_init_u32(&sh->next, 0);
	pg_atomic_init_u32(&sh->stop, 0);
	pg_atomic_init_u64(&sh->files_done, 0);
	pg_atomic_init_u64(&sh->bytes_done, 0);
	sh->leader_pgprocno = MyProc->pgprocno;
	sh->dir_dev = st.st_dev;
	sh->dir_ino = st.st_ino;
	sh->nitems = (uint32) nitems;
	sh->nworkers = nworkers;
	off = 0;
	sh->dir_off = put_string(strings, &off, vs->dir);
	sh->root_off = put_string(strings, &off, dr_backup_root ? dr_backup_root : "");
	sh->links_off = (uint32) off;
	foreach(lc, vs->links)
	{
		DrVerifyLink *l = lfirst(lc);

		put_string(strings, &off, l->rel);
		put_string(strings, &off, l->target);
		sh->nlinks++;
	}
	for (i = 0; i < nitems; i++)
	{
		SharedItem *si = &sitems[i];

		memset(si, 0, sizeof(SharedItem));
		si->index = (uint32) i;
		si->path_off = put_string(strings, &off, items[i].path);
		si->size = items[i].size;
		si->algorithm = (int32) items[i].algorithm;
		/* a longer one is the wrong length for every algorithm: never compared */
		si->checksum_len = items[i].checksum_len;
		if (items[i].checksum_len > 0)
			memcpy(si->checksum, items[i].checksum,
				   Min(items[i].checksum_len, PG_CHECKSUM_MAX_LENGTH));
	}
	qsort(sitems, nitems, sizeof(SharedItem), size_desc_cmp);

	ls.sh = sh;
	ls.handles = palloc0(sizeof(BackgroundWorkerHandle *) * nworkers);
	ls.nhandles = 0;
	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_ConsistentState;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "tensafe_dr", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "dr_verify_worker_main", BGW_MAXLEN);
	strlcpy(w.bgw_type, "tensafe_dr verify", BGW_MAXLEN);
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;

	PG_ENSURE_ERROR_CLEANUP(stop_workers, PointerGetDatum(&ls));
	{
		for (i = 0; i < nworkers; i++)
		{
			snprintf(w.bgw_name, BGW_MAXLEN, "tensafe_dr verify worker %d for PID %d",
					 i + 1, MyProcPid);
			memcpy(w.bgw_extra, &i, sizeof(int));
			if (!RegisterDynamicBackgroundWorker(&w, &ls.handles[i]))
				break;
			ls.nhandles++;
		}
		if (ls.nhandles > 0)
		{
			for (;;)
			{
				bool		running = false;

				for (i = 0; i < ls.nhandles; i++)
				{
					pid_t		pid;
					BgwHandleStatus status = GetBackgroundWorkerPid(ls.handles[i], &pid);
					WorkerStatus *ws = &sh->workers[i];

					if (status == BGWH_POSTMASTER_DIED)
						ereport(FATAL,
								(errcode(ERRCODE_ADMIN_SHUTDOWN),
								 errmsg("postmaster exited during a parallel backup verification")));
					pg_read_barrier();
					if (ws->state == WS_FAILED)
						ereport(ERROR,
								(errcode(ws->sqlerrcode),
								 errmsg("%s", ws->message),
								 errdetail("Raised by backup verification worker %d (PID %d).",
										   i + 1, ws->pid)));
					if (status != BGWH_STOPPED)
						running = true;
					else if (ws->state == WS_RUNNING)
						ereport(ERROR,
								(errcode(ERRCODE_INTERNAL_ERROR),
								 errmsg("backup verification worker %d (PID %d) exited before finishing its files",
										i + 1, ws->pid),
								 errhint("Its files were not all checksummed; verify again.")));
				}
				dr_progress_advance(vs->progress_slot,
									(int64) pg_atomic_read_u64(&sh->files_done),
									(int64) pg_atomic_read_u64(&sh->bytes_done));
				if (!running)
					break;
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 100, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}

			/* every worker has stopped: each finished, or never ran */
			pg_read_barrier();
			for (i = 0; i < ls.nhandles; i++)
				if (sh->workers[i].state == WS_DONE)
					started++;
			/* what no worker claimed (those that never started) */
			checksum_claimed(sh, sitems, strings, vs->dirfd, vs->links, vs->buf, false);
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(stop_workers, PointerGetDatum(&ls));

	if (ls.nhandles == 0)
	{
		dsm_detach(seg);
		pfree(ls.handles);
		fallback_notice("no background worker slot is free");
		return false;
	}
	if (started == 0)
		ereport(NOTICE,
				(errmsg("no backup verification worker started; this backend verified the files itself")));

	for (i = 0; i < nitems; i++)
		items[sitems[i].index].result = sitems[i].result;
	vs->bytes_checksummed += (int64) pg_atomic_read_u64(&sh->bytes_done);
	vs->workers_used = started;
	dsm_detach(seg);
	pfree(ls.handles);
	return true;
}

/*
 * dr_verify_worker_main
 *		A verification worker: attach to the leader's segment, open the
 *		backup directory, checksum the files it claims (see the file
 *		header).  An error is copied to the worker's status slot for the
 *		leader before the worker exits.
 */
void
dr_verify_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	shm_toc    *toc;
	VerifyShared *sh;
	SharedItem *sitems;
	char	   *strings;
	WorkerStatus *ws;
	int			idx;
	Latch	   *leader_latch;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	memcpy(&idx, MyBgworkerEntry->bgw_extra, sizeof(int));

	/* no database: but visible in pg_stat_activity, as its type */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "tensafe_dr verify worker");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the backup verification's shared memory segment"),
				 errdetail("The verification has ended.")));
	toc = shm_toc_attach(DR_VERIFY_SHM_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invalid shared memory segment for a backup verification worker")));
	sh = shm_toc_lookup(toc, KEY_SHARED, false);
	sitems = shm_toc_lookup(toc, KEY_ITEMS, false);
	strings = shm_toc_lookup(toc, KEY_STRINGS, false);
	if (idx < 0 || idx >= sh->nworkers)
		elog(ERROR, "backup verification worker number %d out of range", idx);
	ws = &sh->workers[idx];
	leader_latch = &ProcGlobal->allProcs[sh->leader_pgprocno].procLatch;
	ws->pid = MyProcPid;
	pg_write_barrier();
	ws->state = WS_RUNNING;

	PG_TRY();
	{
		struct stat st;
		int			dirfd;
		List	   *links = NIL;
		const char *p = strings + sh->links_off;
		uint32		i;
		char	   *buf;

		/* the leader's setting (a superuser may have SET it) */
		SetConfigOption("tensafe_dr.backup_root", strings + sh->root_off,
						PGC_SUSET, PGC_S_SESSION);
		dirfd = dr_backup_open(strings + sh->dir_off, &st);
		if (!S_ISDIR(st.st_mode) || st.st_dev != sh->dir_dev || st.st_ino != sh->dir_ino)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("backup directory \"%s\" was replaced during verification",
							strings + sh->dir_off)));
		for (i = 0; i < sh->nlinks; i++)
		{
			DrVerifyLink *l = palloc(sizeof(DrVerifyLink));

			l->rel = pstrdup(p);
			p += strlen(p) + 1;
			l->target = pstrdup(p);
			p += strlen(p) + 1;
			links = lappend(links, l);
		}
		buf = palloc(DR_READ_CHUNK);
		checksum_claimed(sh, sitems, strings, dirfd, links, buf, true);
		dr_backup_close(dirfd);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		strlcpy(ws->message, edata->message ? edata->message : "unknown error",
				sizeof(ws->message));
		ws->sqlerrcode = edata->sqlerrcode;
		pg_write_barrier();
		ws->state = WS_FAILED;
		SetLatch(leader_latch);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pg_write_barrier();
	ws->state = WS_DONE;
	SetLatch(leader_latch);
	dsm_detach(seg);
	proc_exit(0);
}
