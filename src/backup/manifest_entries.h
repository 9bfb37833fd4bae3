/*-------------------------------------------------------------------------
 *
 * manifest_entries.h
 *	  Internal to the backup_manifest parser: the fields of a "Files" entry
 *	  and of a "WAL-Ranges" entry, and the checks that turn their text into
 *	  a DrManifestFile or DrManifestWalRange (manifest_entries.c), used by
 *	  the JSON side (manifest_parse.c).  Frontend-safe, like manifest.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_MANIFEST_ENTRIES_H
#define TENSAFE_DR_MANIFEST_ENTRIES_H

#include "manifest.h"

typedef enum
{
	FF_PATH,
	FF_ENCODED_PATH,
	FF_SIZE,
	FF_LAST_MODIFIED,
	FF_ALGORITHM,
	FF_CHECKSUM,
	FF_COUNT
} DrManifestFileField;

typedef enum
{
	WF_TIMELINE,
	WF_START,
	WF_END,
	WF_COUNT
} DrManifestWalField;

extern const char *const dr_manifest_file_fields[FF_COUNT];
extern const char *const dr_manifest_wal_fields[WF_COUNT];

extern bool dr_manifest_parse_uint64(const char *s, uint64 *out);
extern const char *dr_manifest_finish_file(char **values, const DrManifestCallbacks *cb,
										   DrManifestInfo *info);
extern const char *dr_manifest_finish_wal_range(char **values, const DrManifestCallbacks *cb,
												DrManifestInfo *info);

#endif							/* TENSAFE_DR_MANIFEST_ENTRIES_H */
