/*-------------------------------------------------------------------------
 *
 * backup_files.c
 *	  File helpers of the backup functions: reading small files whole and in
 *	  chunks (backup_label, pg_control, history files, the manifest), the
 *	  backup_label format, and dr_file_sha256() for artifacts.  (Whether a
 *	  WAL segment is present is wal_archive.c's.)
 *
 * Every function here is given paths already checked against
 * tensafe_dr.backup_root (backup_paths.c) or built from such a path, except
 * dr_file_sha256(), which checks its argument itself.  Files are opened with
 * OpenTransientFile, so an error closes them; reads are chunked and
 * interruptible.  No locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checksum_helper.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "backup_files.h"
#include "backup_paths.h"

PG_FUNCTION_INFO_V1(dr_file_sha256);

/*
 * Read a whole small-to-large file into a palloc'd, NUL-terminated buffer,
 * in chunks.  Returns NULL (errno set) if it cannot be opened; read errors
 * raise an ERROR.
 */
char *
dr_read_whole_file(const char *path, size_t *len_out, size_t limit)
{
	int			fd;
	struct stat st;
	char	   *data;
	size_t		len = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if ((size_t) st.st_size > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" is too large (%lld bytes)", path, (long long) st.st_size)));
	data = palloc_extended((size_t) st.st_size + 1, MCXT_ALLOC_HUGE);
	while (len < (size_t) st.st_size)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = read(fd, data + len, Min((size_t) st.st_size - len, (size_t) DR_READ_CHUNK));
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if (n == 0)
			break;
		len += n;
	}
	CloseTransientFile(fd);
	data[len] = '\0';
	*len_out = len;
	return data;
}

/*
 * The value of a "KEY: value" line of a backup_label or backup history
 * file (key given with its ": "), palloc'd; NULL if there is none.
 */
char *
dr_label_value(char *data, const char *key)
{
	char	   *p = data;
	size_t		n = strlen(key);

	while (p && *p)
	{
		if (strncmp(p, key, n) == 0)
		{
			char	   *v = p + n;
			char	   *end = strchr(v, '\n');

			return end ? pnstrdup(v, end - v) : pstrdup(v);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* An LSN as PostgreSQL prints it ("16/B374D848"); false if it is not one. */
bool
dr_parse_lsn_text(const char *s, XLogRecPtr *out)
{
	uint32		hi,
				lo;
	char		c;

	if (s == NULL || sscanf(s, "%X/%X%c", &hi, &lo, &c) < 2)
		return false;
	*out = ((uint64) hi << 32) | lo;
	return true;
}

/*
 * dr_file_sha256(path) - SHA-256 (hex) of a file under
 * tensafe_dr.backup_root, read in chunks.
 */
Datum
dr_file_sha256(PG_FUNCTION_ARGS)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *path = dr_resolve_backup_path(given);
	pg_checksum_context ctx;
	uint8		digest[PG_CHECKSUM_MAX_LENGTH];
	char		hex[PG_SHA256_DIGEST_STRING_LENGTH];
	char	   *buf;
	struct stat st;
	int			fd;
	int			i;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a regular file", given)));
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", given)));
	buf = palloc(DR_READ_CHUNK);
	if (pg_checksum_init(&ctx, CHECKSUM_TYPE_SHA256) < 0)
		elog(ERROR, "could not initialize SHA-256");
	for (;;)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = read(fd, buf, DR_READ_CHUNK);
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", given)));
		if (n == 0)
			break;
		if (pg_checksum_update(&ctx, (uint8 *) buf, n) < 0)
			elog(ERROR, "could not compute SHA-256");
	}
	CloseTransientFile(fd);
	if (pg_checksum_final(&ctx, digest) != PG_SHA256_DIGEST_LENGTH)
		elog(ERROR, "could not compute SHA-256");
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
