/*-------------------------------------------------------------------------
 *
 * manifest.h
 *	  Parser for a pg_basebackup backup_manifest (versions 1 and 2):
 *	  manifest_parse.c (the JSON), manifest_entries.c (each entry's
 *	  fields), manifest_checksum.c (checksum lengths, the manifest's own).
 *
 * The parser is frontend-safe: it uses only palloc/pfree/psprintf (which
 * libpgcommon provides to frontend programs too), PostgreSQL's JSON parser
 * (common/jsonapi.h) and checksum helpers (common/checksum_helper.h).  It
 * never raises an error itself: every problem with the manifest comes back
 * as a message, so the backend can report it as a row and the fuzz harness
 * (test/fuzz/) can link the manifest_*.c files without the backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_MANIFEST_H
#define TENSAFE_DR_MANIFEST_H

#include "access/xlogdefs.h"
#include "common/checksum_helper.h"
#include "common/sha2.h"

/* One "Files" entry, handed to the file callback and freed after it. */
typedef struct DrManifestFile
{
	const char *path;			/* decoded (Path or Encoded-Path) */
	uint64		size;
	pg_checksum_type algorithm; /* CHECKSUM_TYPE_NONE if none */
	int			checksum_len;	/* bytes in checksum[] */
	const uint8 *checksum;
} DrManifestFile;

/* One "WAL-Ranges" entry. */
typedef struct DrManifestWalRange
{
	TimeLineID	tli;
	XLogRecPtr	start_lsn;
	XLogRecPtr	end_lsn;
} DrManifestWalRange;

typedef struct DrManifestCallbacks
{
	void	   *private_data;
	void		(*file_cb) (void *private_data, const DrManifestFile *file);
	void		(*wal_range_cb) (void *private_data, const DrManifestWalRange *range);
} DrManifestCallbacks;

typedef struct DrManifestInfo
{
	int			version;		/* 1 or 2 */
	bool		have_system_identifier; /* version 2 only */
	uint64		system_identifier;
	int			files;			/* entries seen */
	int			wal_ranges;
	char		manifest_checksum[PG_SHA256_DIGEST_STRING_LENGTH];	/* hex, as given */
} DrManifestInfo;

/* Nesting deeper than this is refused before the JSON parser recurses. */
#define DR_MANIFEST_MAX_DEPTH	16

extern char *dr_manifest_parse(char *buf, size_t len,
							   const DrManifestCallbacks *cb, DrManifestInfo *info);
extern char *dr_manifest_check_checksum(const char *buf, size_t len,
										const DrManifestInfo *info);
extern int	dr_checksum_length(pg_checksum_type type);

#endif							/* TENSAFE_DR_MANIFEST_H */
