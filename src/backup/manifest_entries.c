/*-------------------------------------------------------------------------
 *
 * manifest_entries.c
 *	  The semantic checks of a backup_manifest's entries: a "Files" entry
 *	  (exactly one of Path and Encoded-Path, a Size, a known
 *	  Checksum-Algorithm with a hexadecimal Checksum, or neither) and a
 *	  "WAL-Ranges" entry (a timeline, two LSNs in order), turned from the
 *	  fields' text into a DrManifestFile or DrManifestWalRange and handed to
 *	  the caller's callback.  The JSON side is manifest_parse.c.
 *
 * Frontend-safe (see manifest.h): nothing here raises an error; a problem
 * comes back as a constant message.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "manifest_entries.h"

const char *const dr_manifest_file_fields[FF_COUNT] = {
	"Path", "Encoded-Path", "Size", "Last-Modified", "Checksum-Algorithm", "Checksum"
};
const char *const dr_manifest_wal_fields[WF_COUNT] = {
	"Timeline", "Start-LSN", "End-LSN"
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode hex into a palloc'd buffer (NUL-terminated for convenience);
 * returns NULL if the text is not an even number of hex digits.
 */
static uint8 *
hex_decode_alloc(const char *hex, int *len)
{
	size_t		n = strlen(hex);
	uint8	   *out;
	size_t		i;

	if (n % 2 != 0)
		return NULL;
	out = palloc(n / 2 + 1);
	for (i = 0; i < n / 2; i++)
	{
		int			hi = hexval(hex[2 * i]);
		int			lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			pfree(out);
			return NULL;
		}
		out[i] = (uint8) (hi << 4 | lo);
	}
	out[n / 2] = '\0';
	*len = (int) (n / 2);
	return out;
}

/*
 * dr_manifest_parse_uint64
 *		Strict unsigned decimal; false on anything else or overflow.
 */
bool
dr_manifest_parse_uint64(const char *s, uint64 *out)
{
	uint64		v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		if (v > (PG_UINT64_MAX - (uint64) (*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64) (*s - '0');
	}
	*out = v;
	return true;
}

/* "X/X" in hex, as PostgreSQL prints an LSN; false otherwise. */
static bool
parse_lsn(const char *s, XLogRecPtr *out)
{
	uint64		parts[2] = {0, 0};
	int			part = 0;
	int			digits = 0;

	for (; *s; s++)
	{
		int			h = hexval(*s);

		if (*s == '/' && part == 0 && digits > 0)
		{
			part = 1;
			digits = 0;
			continue;
		}
		if (h < 0 || ++digits > 8)
			return false;
		parts[part] = parts[part] << 4 | (uint64) h;
	}
	if (part != 1 || digits == 0)
		return false;
	*out = parts[0] << 32 | parts[1];
	return true;
}

/*
 * dr_manifest_finish_file
 *		A complete "Files" entry (values[FF_*]: the fields' text, NULL when
 *		absent): validate it and hand it to cb->file_cb.  Returns NULL, or
 *		what is wrong with the entry (a constant string).  The values stay
 *		the caller's.
 */
const char *
dr_manifest_finish_file(char **v, const DrManifestCallbacks *cb, DrManifestInfo *info)
{
	const char *error = NULL;
	DrManifestFile f;
	uint8	   *decoded_path = NULL;
	uint8	   *checksum = NULL;
	int			len = 0;

	memset(&f, 0, sizeof(f));
	if ((v[FF_PATH] == NULL) == (v[FF_ENCODED_PATH] == NULL))
		return "a file entry must have exactly one of Path and Encoded-Path";
	if (v[FF_PATH])
		f.path = v[FF_PATH];
	else
	{
		decoded_path = hex_decode_alloc(v[FF_ENCODED_PATH], &len);
		if (decoded_path == NULL || len == 0 || memchr(decoded_path, '\0', len) != NULL)
		{
			error = "a file entry has an invalid Encoded-Path";
			goto out;
		}
		f.path = (const char *) decoded_path;
	}
	if (f.path[0] == '\0')
	{
		error = "a file entry has an empty path";
		goto out;
	}
	if (v[FF_SIZE] == NULL || !dr_manifest_parse_uint64(v[FF_SIZE], &f.size))
	{
		error = "a file entry has a missing or invalid Size";
		goto out;
	}
	f.algorithm = CHECKSUM_TYPE_NONE;
	if (v[FF_ALGORITHM] && !pg_checksum_parse_type(v[FF_ALGORITHM], &f.algorithm))
	{
		error = "a file entry has an unknown Checksum-Algorithm";
		goto out;
	}
	if ((v[FF_CHECKSUM] != NULL) != (f.algorithm != CHECKSUM_TYPE_NONE))
	{
		error = "a file entry must have both Checksum-Algorithm and Checksum, or neither";
		goto out;
	}
	if (v[FF_CHECKSUM])
	{
		checksum = hex_decode_alloc(v[FF_CHECKSUM], &f.checksum_len);
		if (checksum == NULL)
		{
			error = "a file entry has a Checksum that is not hexadecimal";
			goto out;
		}
		f.checksum = checksum;
	}
	info->files++;
	if (cb && cb->file_cb)
		cb->file_cb(cb->private_data, &f);

out:
	if (decoded_path)
		pfree(decoded_path);
	if (checksum)
		pfree(checksum);
	return error;
}

/*
 * dr_manifest_finish_wal_range
 *		A complete "WAL-Ranges" entry (values[WF_*]): validate it and hand it
 *		to cb->wal_range_cb.  Returns NULL or what is wrong (a constant
 *		string).
 */
const char *
dr_manifest_finish_wal_range(char **v, const DrManifestCallbacks *cb, DrManifestInfo *info)
{
	DrManifestWalRange r;
	uint64		tli;

	if (v[WF_TIMELINE] == NULL || !dr_manifest_parse_uint64(v[WF_TIMELINE], &tli) ||
		tli == 0 || tli > PG_UINT32_MAX)
		return "a WAL range has a missing or invalid Timeline";
	if (v[WF_START] == NULL || !parse_lsn(v[WF_START], &r.start_lsn))
		return "a WAL range has a missing or invalid Start-LSN";
	if (v[WF_END] == NULL || !parse_lsn(v[WF_END], &r.end_lsn))
		return "a WAL range has a missing or invalid End-LSN";
	if (r.end_lsn < r.start_lsn)
		return "a WAL range ends before it starts";
	r.tli = (TimeLineID) tli;
	info->wal_ranges++;
	if (cb && cb->wal_range_cb)
		cb->wal_range_cb(cb->private_data, &r);
	return NULL;
}
