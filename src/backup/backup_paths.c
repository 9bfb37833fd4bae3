/*-------------------------------------------------------------------------
 *
 * backup_paths.c
 *	  The file-access policy of the backup and artifact functions, and the
 *	  one function that opens a file under tensafe_dr.backup_root.
 *
 * dr_verify_backup() and dr_verify_artifact() read files as the server's
 * operating-system user.  They are plain C functions, not SECURITY DEFINER:
 * who may call them is decided by EXECUTE privileges (dr_admin only), and
 * which files they may read by the rule here: a path given by the caller
 * must lie, lexically after "." and ".." are removed, inside one of the
 * directories listed in tensafe_dr.backup_root, and is then opened by
 * walking its components one by one with openat(..., O_NOFOLLOW) from a
 * descriptor of that root directory.  No symbolic link below the root is
 * followed, so no check-then-open race exists: what is read is what the
 * walk opened, and fstat() on that descriptor gives its type and size
 * before anything is read.  An empty tensafe_dr.backup_root allows
 * nothing.  The parameters are superuser-only (PGC_SUSET), so a dr_admin
 * cannot widen them; the root directories themselves are opened as the
 * superuser wrote them (a symbolic link there is the administrator's).
 *
 * One answer for everything outside: a path lexically outside the roots,
 * a path through a symbolic link (wherever it points, whether what it
 * points to exists or not), or a symbolic link itself all raise the same
 * error, 42501 "path ... is outside tensafe_dr.backup_root", so nothing is
 * told about what exists outside.  Only what is missing inside the roots,
 * on a path without symbolic links, is 58P01.
 *
 * Symbolic links inside a backup (pg_tblspc/<oid>, a pg_wal made by
 * pg_basebackup --waldir) are not part of this rule: the verification
 * follows them only by reading the link and opening its absolute target
 * through this same walk (backup_verify_files.c, backup_verify_wal.c).
 *
 * Descriptors: the walk keeps at most two descriptors open at a time; the
 * one it returns is registered here (dr_backup_close(), and
 * dr_backup_fdopendir() / dr_backup_closedir() for directory listings) and
 * reported to fd.c with ReserveExternalFD().  A transaction or
 * subtransaction abort closes what was opened in it (xact callbacks), so
 * an error or a cancel while reading leaks nothing.
 *
 * No locking: GUC variables and the descriptor list are process-local.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "backup_paths.h"

#ifndef O_PATH
#error "tensafe_dr needs O_PATH (Linux)"
#endif

char	   *dr_backup_root = NULL;
char	   *dr_wal_archive_dir_setting = NULL;
int			dr_backup_max_age_s = 24 * 3600;
int			dr_max_manifest_size_kb = 256 * 1024;

static bool
check_backup_root(char **newval, void **extra, GucSource source)
{
	char	   *raw;
	List	   *dirs;
	ListCell   *lc;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	raw = pstrdup(*newval);
	if (!SplitDirectoriesString(raw, ',', &dirs))
	{
		GUC_check_errdetail("The list syntax is invalid.");
		return false;
	}
	foreach(lc, dirs)
	{
		const char *dir = lfirst(lc);

		if (!is_absolute_path(dir))
		{
			GUC_check_errdetail("\"%s\" is not an absolute path.", dir);
			return false;
		}
		if (strcmp(dir, "/") == 0)
		{
			GUC_check_errdetail("The root directory would allow every file to be read.");
			return false;
		}
	}
	return true;
}

static bool
check_wal_archive_dir(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("The WAL archive directory must be an absolute path.");
		return false;
	}
	return true;
}

/*
 * dr_define_backup_gucs
 *		Define the backup parameters; called from dr_define_gucs() before
 *		the tensafe_dr prefix is reserved.
 */
void
dr_define_backup_gucs(void)
{
	DefineCustomStringVariable("tensafe_dr.backup_root",
							   "Comma-separated list of directories under which tensafe_dr may read backups and artifacts; empty allows none.",
							   "Paths are opened component by component without following symbolic links.",
							   &dr_backup_root, "",
							   PGC_SUSET, GUC_LIST_INPUT,
							   check_backup_root, NULL, NULL);
	DefineCustomStringVariable("tensafe_dr.wal_archive_dir",
							   "Directory holding archived WAL segments, searched by dr_verify_backup() after the backup's own pg_wal; empty means none.",
							   NULL, &dr_wal_archive_dir_setting, "",
							   PGC_SUSET, 0,
							   check_wal_archive_dir, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.backup_max_age",
							"A newest verified backup older than this makes dr_status() report backup_state 'warning'.",
							NULL, &dr_backup_max_age_s, 24 * 3600, 60, 366 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.max_manifest_size",
							"Largest backup_manifest dr_verify_backup() reads; a larger one is refused before it is read.",
							"The whole manifest is held in memory while it is parsed.",
							&dr_max_manifest_size_kb, 256 * 1024, 1024, DR_MAX_MANIFEST_SIZE_LIMIT_KB,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
}

/*---------------------------------------------------------------------------
 * Descriptors opened here, closed on abort.
 *---------------------------------------------------------------------------
 */
typedef struct TrackedFd
{
	int			fd;
	DIR		   *dir;			/* set once fdopendir() took the fd */
	SubTransactionId subid;
} TrackedFd;

static TrackedFd *tracked = NULL;
static int	ntracked = 0;
static int	maxtracked = 0;
static bool callbacks_registered = false;

static void
close_tracked(int i)
{
	if (tracked[i].dir)
		closedir(tracked[i].dir);
	else
		close(tracked[i].fd);
	ReleaseExternalFD();
	tracked[i] = tracked[--ntracked];
}

static void
xact_callback(XactEvent event, void *arg)
{
	while (ntracked > 0)
	{
		if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE)
			elog(WARNING, "tensafe_dr: backup file descriptor %d not closed", tracked[ntracked - 1].fd);
		close_tracked(ntracked - 1);
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			i;

	for (i = ntracked - 1; i >= 0; i--)
	{
		if (tracked[i].subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			close_tracked(i);
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			tracked[i].subid = parentSubid;
	}
}

/* Register fd (already counted with ReserveExternalFD()). */
static void
track(int fd)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		RegisterSubXactCallback(subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (ntracked == maxtracked)
	{
		int			n = Max(16, maxtracked * 2);

		tracked = tracked
			? repalloc(tracked, sizeof(TrackedFd) * n)
			: MemoryContextAlloc(TopMemoryContext, sizeof(TrackedFd) * n);
		maxtracked = n;
	}
	tracked[ntracked].fd = fd;
	tracked[ntracked].dir = NULL;
	tracked[ntracked].subid = GetCurrentSubTransactionId();
	ntracked++;
}

static int
find_tracked(int fd)
{
	int			i;

	for (i = 0; i < ntracked; i++)
		if (tracked[i].fd == fd)
			return i;
	elog(ERROR, "tensafe_dr: file descriptor %d is not a tracked backup file", fd);
	return -1;					/* keep compiler quiet */
}

/* dr_backup_close: close a descriptor dr_backup_open*() returned. */
void
dr_backup_close(int fd)
{
	if (fd >= 0)
		close_tracked(find_tracked(fd));
}

/*
 * dr_backup_fdopendir
 *		A directory listing of a directory descriptor dr_backup_open*()
 *		returned; the DIR owns the descriptor from then on.  NULL (errno
 *		set) if it cannot be listed; the descriptor is closed then.
 */
DIR *
dr_backup_fdopendir(int fd)
{
	int			i = find_tracked(fd);
	DIR		   *d = fdopendir(fd);

	if (d == NULL)
	{
		int			save_errno = errno;

		close_tracked(i);
		errno = save_errno;
		return NULL;
	}
	tracked[i].dir = d;
	return d;
}

void
dr_backup_closedir(DIR *d)
{
	if (d != NULL)
		dr_backup_close(dirfd(d));
}

/*---------------------------------------------------------------------------
 * The walk.
 *---------------------------------------------------------------------------
 */

/* The roots, each canonicalized as written and, if it exists, resolved. */
static List *
root_candidates(void)
{
	char	   *raw;
	List	   *dirs;
	List	   *out = NIL;
	ListCell   *lc;

	if (dr_backup_root == NULL || dr_backup_root[0] == '\0')
		return NIL;
	raw = pstrdup(dr_backup_root);
	if (!SplitDirectoriesString(raw, ',', &dirs))
		return NIL;
	foreach(lc, dirs)
	{
		char		buf[PATH_MAX];
		char	   *dir = pstrdup(lfirst(lc));

		canonicalize_path(dir);
		out = lappend(out, dir);
		if (realpath(dir, buf) != NULL && strcmp(buf, dir) != 0)
			out = lappend(out, pstrdup(buf));
	}
	return out;
}

/* If 'path' lies under 'root' (lexically), what follows it ("" for root). */
static const char *
under(const char *path, const char *root)
{
	size_t		n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (strncmp(path, root, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return NULL;
	path += n;
	while (*path == '/')
		path++;
	return path;
}

/*
 * Open what 'rel' names relative to directory descriptor 'start' (not
 * closed here), component by component, following no symbolic link.
 * Returns a descriptor opened O_RDONLY for a regular file or directory,
 * an O_PATH one for anything else (readable by nobody; fstat works), with
 * *st filled; or -1 with *res OUTSIDE (a symbolic link, or a "." / ".."
 * component) or FAILED (errno set).  The result is not yet tracked.
 */
static int
walk_open(int start, const char *rel, struct stat *st, DrOpenResult *res)
{
	char	   *copy = pstrdup(rel);
	char	   *comp = copy;
	int			cur = start;
	int			save_errno;

	*res = DR_OPEN_FAILED;
	for (;;)
	{
		char	   *slash;
		bool		last;
		int			pfd;
		int			next;

		while (*comp == '/')
			comp++;
		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		last = slash == NULL || slash[1 + strspn(slash + 1, "/")] == '\0';

		if (comp[0] == '\0' || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
		{
			/* rel "" means start itself; anything else is not a plain path */
			if (comp[0] == '\0' && last && cur == start)
			{
				next = openat(start, ".", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
				if (next < 0 || fstat(next, st) < 0)
					goto failed;
				pfree(copy);
				*res = DR_OPEN_OK;
				return next;
			}
			*res = DR_OPEN_OUTSIDE;
			goto fail_keep_errno;
		}

		/* O_PATH opens nothing (no FIFO blocks, no device acts) */
		pfd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			goto failed;
		if (fstat(pfd, st) < 0)
		{
			save_errno = errno;
			close(pfd);
			errno = save_errno;
			goto failed;
		}
		if (S_ISLNK(st->st_mode))
		{
			close(pfd);
			*res = DR_OPEN_OUTSIDE;
			goto fail_keep_errno;
		}
		if (!last && !S_ISDIR(st->st_mode))
		{
			close(pfd);
			errno = ENOTDIR;
			goto failed;
		}
		if (last && (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)))
		{
			/* reopen for reading; a link swapped in meanwhile fails ELOOP */
			close(pfd);
			pfd = openat(cur, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (pfd < 0)
			{
				if (errno == ELOOP)
				{
					*res = DR_OPEN_OUTSIDE;
					goto fail_keep_errno;
				}
				goto failed;
			}
			if (fstat(pfd, st) < 0)
			{
				save_errno = errno;
				close(pfd);
				errno = save_errno;
				goto failed;
			}
		}
		next = pfd;
		if (cur != start)
			close(cur);
		cur = next;
		if (last)
		{
			pfree(copy);
			*res = DR_OPEN_OK;
			return cur;
		}
		comp = slash + 1;
	}

failed:
	*res = DR_OPEN_FAILED;
fail_keep_errno:
	save_errno = errno;
	if (cur != start)
		close(cur);
	pfree(copy);
	errno = save_errno;
	return -1;
}

/* Open (and track) the result of walk_open(). */
static int
walk_open_tracked(int start, const char *rel, struct stat *st, DrOpenResult *res)
{
	int			fd;

	ReserveExternalFD();
	fd = walk_open(start, rel, st, res);
	if (fd < 0)
	{
		int			save_errno = errno;

		ReleaseExternalFD();
		errno = save_errno;
		return -1;
	}
	track(fd);
	return fd;
}

/*
 * dr_backup_open_quiet
 *		Open absolute 'path' under tensafe_dr.backup_root as described at
 *		the top of this file.  Returns a tracked descriptor with *st filled
 *		(O_RDONLY for a regular file or directory; for anything else a
 *		descriptor nothing can be read from), or -1 with *res saying why:
 *		DR_OPEN_OUTSIDE (not under a root, or through a symbolic link) or
 *		DR_OPEN_FAILED (errno set: missing, permission, ...).
 */
int
dr_backup_open_quiet(const char *path, struct stat *st, DrOpenResult *res)
{
	char	   *canon;
	List	   *roots;
	ListCell   *lc;

	*res = DR_OPEN_OUTSIDE;
	if (path == NULL || !is_absolute_path(path))
		return -1;
	canon = pstrdup(path);
	canonicalize_path(canon);
	roots = root_candidates();
	foreach(lc, roots)
	{
		const char *root = lfirst(lc);
		const char *rel = under(canon, root);
		int			rootfd;
		int			fd;
		int			save_errno;

		if (rel == NULL)
			continue;
		rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
		{
			*res = DR_OPEN_FAILED;
			return -1;
		}
		fd = walk_open_tracked(rootfd, rel, st, res);
		save_errno = errno;
		close(rootfd);
		errno = save_errno;
		return fd;
	}
	return -1;
}

/*
 * dr_backup_openat
 *		Open 'rel' (a relative path) below a directory descriptor that
 *		dr_backup_open*() returned, by the same walk.  As
 *		dr_backup_open_quiet() otherwise.
 */
int
dr_backup_openat(int dirfd, const char *rel, struct stat *st, DrOpenResult *res)
{
	if (rel[0] == '/')
	{
		*res = DR_OPEN_OUTSIDE;
		return -1;
	}
	return walk_open_tracked(dirfd, rel, st, res);
}

/*
 * dr_backup_open_config_dir
 *		Open a directory the superuser configured (tensafe_dr.wal_archive_dir)
 *		for listing and openat(); symbolic links in its path are followed
 *		(it is not a caller's path).  Tracked; -1 with errno if it fails.
 */
int
dr_backup_open_config_dir(const char *path)
{
	int			fd;

	ReserveExternalFD();
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
	{
		int			save_errno = errno;

		ReleaseExternalFD();
		errno = save_errno;
		return -1;
	}
	track(fd);
	return fd;
}

/*
 * dr_backup_open
 *		dr_backup_open_quiet() for a path the caller of a SQL function gave,
 *		raising the error: 22023 not absolute; 42501 no roots; 42501 outside
 *		(one message for every kind of outside); 58P01 / 42501 / 58030 what
 *		the operating system says of a path inside the roots.
 */
int
dr_backup_open(const char *path, struct stat *st)
{
	DrOpenResult res;
	int			fd;

	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path must be absolute: \"%s\"", path)));
	if (dr_backup_root == NULL || dr_backup_root[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("reading backups is not allowed: tensafe_dr.backup_root is empty"),
				 errhint("A superuser can list the backup directories in tensafe_dr.backup_root.")));
	fd = dr_backup_open_quiet(path, st, &res);
	if (fd >= 0)
		return fd;
	if (res == DR_OPEN_OUTSIDE)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("path \"%s\" is outside tensafe_dr.backup_root", path),
				 errhint("Only files under the directories listed in tensafe_dr.backup_root can be read, by paths without symbolic links.")));
	ereport(ERROR,
			(errcode_for_file_access(),
			 errmsg("could not open \"%s\": %m", path)));
	return -1;					/* keep compiler quiet */
}

/* The canonical form of a path dr_backup_open() accepted, palloc'd. */
char *
dr_backup_canonical_path(const char *path)
{
	char	   *canon = pstrdup(path);

	canonicalize_path(canon);
	return canon;
}
