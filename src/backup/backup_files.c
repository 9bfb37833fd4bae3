/*-------------------------------------------------------------------------
 *
 * backup_files.c
 *	  File helpers of the backup functions: reading small files whole and in
 *	  chunks (backup_label, pg_control, history files, the manifest), the
 *	  backup_label format, and dr_file_sha256() for artifacts.  (Whether a
 *	  WAL segment is present is wal_archive.c's.)
 *
 * Every file is opened by backup_paths.c's walk (dr_backup_open*(): under
 * tensafe_dr.backup_root, no symbolic link followed), once; its size comes
 * from fstat() on that descriptor and is checked before anything is read.
 * The descriptors are tracked there, so an error closes them; reads are
 * chunked and interruptible.  No locks.
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
 * dr_read_fd
 *		Read the regular file open on fd (from dr_backup_open*(), whose
 *		fstat() gave *st) into a palloc'd, NUL-terminated buffer, in chunks,
 *		interruptibly.  The caller has checked st->st_size against its
 *		limit before calling: nothing here allocates more than that.  Read
 *		errors raise an ERROR naming 'shown'.
 */
char *
dr_read_fd(int fd, const struct stat *st, const char *shown, size_t *len_out)
{
	char	   *data;
	size_t		len = 0;

	data = palloc_extended((size_t) st->st_size + 1, MCXT_ALLOC_HUGE);
	while (len < (size_t) st->st_size)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = read(fd, data + len, Min((size_t) st->st_size - len, (size_t) DR_READ_CHUNK));
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", shown)));
		if (n == 0)
			break;
		len += n;
	}
	data[len] = '\0';
	*len_out = len;
	return data;
}

/*
 * dr_read_small_at
 *		Read the small regular file 'rel' below directory descriptor dirfd
 *		(a backup directory, its pg_wal, the archive) whole, opened by
 *		backup_paths.c's walk.  NULL if it cannot be opened, is not a
 *		regular file (a symbolic link included) or is larger than 'limit'
 *		bytes; the size is checked before anything is read.
 */
char *
dr_read_small_at(int dirfd, const char *rel, size_t limit, size_t *len_out)
{
	struct stat st;
	DrOpenResult res;
	int			fd = dr_backup_openat(dirfd, rel, &st, &res);
	char	   *data;

	if (fd < 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || (size_t) st.st_size > limit)
	{
		dr_backup_close(fd);
		return NULL;
	}
	data = dr_read_fd(fd, &st, rel, len_out);
	dr_backup_close(fd);
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
	pg_checksum_context ctx;
	uint8		digest[PG_CHECKSUM_MAX_LENGTH];
	char		hex[PG_SHA256_DIGEST_STRING_LENGTH];
	char	   *buf;
	struct stat st;
	int			fd;
	int			i;

	/* opened once, by the walk; what is hashed is what was checked */
	fd = dr_backup_open(given, &st);
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a regular file", given)));
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
	dr_backup_close(fd);
	if (pg_checksum_final(&ctx, digest) != PG_SHA256_DIGEST_LENGTH)
		elog(ERROR, "could not compute SHA-256");
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
