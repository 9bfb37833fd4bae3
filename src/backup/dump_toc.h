/*-------------------------------------------------------------------------
 *
 * dump_toc.h
 *	  Reader of a custom-format pg_dump archive (pg_dump -Fc): its header,
 *	  its table of contents and the framing of its data blocks
 *	  (dump_toc.c), without shelling out to pg_restore.
 *
 * The reader is frontend-safe and allocates nothing: it streams the archive
 * through a fixed buffer from a caller's read callback, so its memory is
 * bounded whatever the input, and it never raises an error itself: every
 * problem comes back as a code and a message, so the backend can turn it
 * into an SQLSTATE (dump_archive.c) and the fuzz harness (test/fuzz/) can
 * link dump_toc.c alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_DUMP_TOC_H
#define TENSAFE_DR_DUMP_TOC_H

#include <sys/types.h>

/* Archive versions read: 1.12 (PostgreSQL 9.6) to 1.16 (PostgreSQL 17) */
#define DR_DUMP_MIN_MINOR	12
#define DR_DUMP_MAX_MINOR	16

/* Longest string field kept (database name, server versions), with NUL */
#define DR_DUMP_NAME_MAX	64

/*
 * The read callback: fill buf with up to len bytes of the archive, in
 * order; return the number given, 0 at the end of the file.  It may raise
 * (the backend's does, for a read error or a cancel); it never returns a
 * negative number.
 */
typedef size_t (*DrDumpReadFn) (void *arg, unsigned char *buf, size_t len);

typedef enum DrDumpResult
{
	DR_DUMP_OK,
	DR_DUMP_NOT_ARCHIVE,		/* not a custom-format pg_dump archive */
	DR_DUMP_UNSUPPORTED,		/* an archive version not read here */
	DR_DUMP_CORRUPT,			/* a field out of range, a short file, ... */
	DR_DUMP_TOO_LARGE			/* the TOC passes max_toc_bytes */
} DrDumpResult;

typedef struct DrDumpInfo
{
	int			vmaj,
				vmin,
				vrev;
	int			int_size;
	int			off_size;
	int			compression;	/* level (< 1.15) or algorithm (>= 1.15) */
	/* creation time as pg_dump wrote it: struct tm fields, local time */
	int			tm_sec,
				tm_min,
				tm_hour,
				tm_mday,
				tm_mon,			/* 0..11 */
				tm_year,		/* years since 1900 */
				tm_isdst;
	char		dbname[DR_DUMP_NAME_MAX];
	char		server_version[DR_DUMP_NAME_MAX];
	char		pg_dump_version[DR_DUMP_NAME_MAX];
	long long	toc_entries;
	long long	max_dump_id;
	long long	data_entries;	/* TOC entries with a data block */
	long long	data_blocks;	/* blocks found after the TOC */
	long long	large_objects;
	unsigned long long toc_end; /* offset of the first byte after the TOC */
	unsigned long long total_bytes; /* bytes read: the whole file when OK */
	/* what is wrong (DR_DUMP_OK: empty), and at which offset */
	unsigned long long error_offset;
	char		message[256];
} DrDumpInfo;

extern DrDumpResult dr_dump_read(DrDumpReadFn readfn, void *arg,
								 unsigned long long max_toc_bytes, DrDumpInfo *info);

#endif							/* TENSAFE_DR_DUMP_TOC_H */
