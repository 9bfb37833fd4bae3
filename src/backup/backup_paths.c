/*-------------------------------------------------------------------------
 *
 * backup_paths.c
 *	  The file-access policy of the backup and artifact functions.
 *
 * dr_verify_backup() and dr_verify_artifact() read files as the server's
 * operating-system user.  They are plain C functions, not SECURITY DEFINER:
 * who may call them is decided by EXECUTE privileges (dr_admin only), and
 * which files they may read by the check here: the path, after every
 * symbolic link and ".." is resolved (realpath), must lie inside one of the
 * directories listed in tensafe_dr.backup_root, itself resolved the same
 * way.  An empty tensafe_dr.backup_root allows nothing.  Both parameters
 * are superuser-only (PGC_SUSET), so a dr_admin cannot widen them.
 *
 * A path that does not resolve (missing) is judged lexically, so that the
 * error for a missing file outside the roots is "outside", not "missing":
 * the function does not tell anybody what exists outside the roots.
 *
 * No locking: GUC variables are process-local.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <stdlib.h>

#include "utils/guc.h"
#include "utils/varlena.h"

#include "backup_paths.h"

char	   *dr_backup_root = NULL;
char	   *dr_wal_archive_dir_setting = NULL;
int			dr_backup_max_age_s = 24 * 3600;

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
							   "Paths are compared after resolving symbolic links and \"..\".",
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
}

/* The roots, each resolved if it exists, else canonicalized as written. */
static List *
resolved_roots(void)
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
		char	   *dir = lfirst(lc);

		if (realpath(dir, buf) != NULL)
			out = lappend(out, pstrdup(buf));
		else
			out = lappend(out, dir);
	}
	return out;
}

static bool
under(const char *path, const char *root)
{
	size_t		n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * dr_path_under_backup_root
 *		Whether an already resolved absolute path lies inside one of the
 *		directories of tensafe_dr.backup_root.
 */
bool
dr_path_under_backup_root(const char *resolved)
{
	List	   *roots = resolved_roots();
	ListCell   *lc;

	foreach(lc, roots)
	{
		if (under(resolved, lfirst(lc)))
			return true;
	}
	return false;
}

/*
 * dr_resolve_backup_path
 *		Resolve 'path' (symbolic links, "..") and return it, palloc'd, if it
 *		lies under tensafe_dr.backup_root; otherwise raise the error:
 *		22023 not absolute, 42501 no roots or outside them, 58P01 missing,
 *		42501/58030 others as the operating system says.
 */
char *
dr_resolve_backup_path(const char *path)
{
	char		buf[PATH_MAX];
	char	   *canon;

	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path must be absolute: \"%s\"", path)));
	if (dr_backup_root == NULL || dr_backup_root[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("reading backups is not allowed: tensafe_dr.backup_root is empty"),
				 errhint("A superuser can list the backup directories in tensafe_dr.backup_root.")));

	if (realpath(path, buf) == NULL)
	{
		int			save_errno = errno;

		/* judge the unresolved path first: say nothing about other places */
		canon = pstrdup(path);
		canonicalize_path(canon);
		if (!dr_path_under_backup_root(canon))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("path \"%s\" is outside tensafe_dr.backup_root", path),
					 errhint("Only files under the directories listed in tensafe_dr.backup_root can be read.")));
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve path \"%s\": %m", path)));
	}
	if (!dr_path_under_backup_root(buf))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("path \"%s\" is outside tensafe_dr.backup_root", path),
				 errhint("Only files under the directories listed in tensafe_dr.backup_root can be read.")));
	return pstrdup(buf);
}
