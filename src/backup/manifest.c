/*-------------------------------------------------------------------------
 *
 * manifest.c
 *	  Parser for a pg_basebackup backup_manifest, on PostgreSQL's own JSON
 *	  parser (common/jsonapi.h) driven through its semantic-action
 *	  callbacks, and the check of the manifest's own checksum.
 *
 * The manifest is one JSON object:
 *	 { "PostgreSQL-Backup-Manifest-Version": 1,		(2 from PostgreSQL 17)
 *	   "System-Identifier": n,						(version 2 only)
 *	   "Files": [ { "Path" | "Encoded-Path", "Size", "Last-Modified",
 *				    "Checksum-Algorithm"?, "Checksum"? }, ... ],
 *	   "WAL-Ranges": [ { "Timeline", "Start-LSN", "End-LSN" }, ... ],
 *	   "Manifest-Checksum": "<sha-256 hex of every byte before this line>" }
 *
 * Memory: the callbacks see one file (or WAL range) at a time; its fields
 * are freed once the callback returns, so the parser itself holds one entry,
 * whatever the size of the manifest.  (PostgreSQL 15's JSON parser is not
 * incremental: the caller passes the manifest text in one buffer.)
 *
 * Errors: nothing here raises an error or exits.  PostgreSQL 15's semantic
 * actions cannot stop the parse, so the first problem is remembered, every
 * later callback does nothing, and dr_manifest_parse() returns the message
 * (palloc'd) once the JSON parser is done.  Frontend-safe, so that the fuzz
 * harness in test/fuzz/ can link this file alone against libpgcommon.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "manifest.h"

typedef enum
{
	MS_TOP_START,
	MS_TOP_FIELD,
	MS_VERSION_VALUE,
	MS_SYSID_VALUE,
	MS_FILES_START,
	MS_FILES_NEXT,
	MS_FILE_FIELD,
	MS_FILE_VALUE,
	MS_WAL_START,
	MS_WAL_NEXT,
	MS_WAL_FIELD,
	MS_WAL_VALUE,
	MS_CHECKSUM_VALUE,
	MS_DONE
} ManifestState;

typedef enum
{
	FF_PATH,
	FF_ENCODED_PATH,
	FF_SIZE,
	FF_LAST_MODIFIED,
	FF_ALGORITHM,
	FF_CHECKSUM,
	FF_COUNT
} FileField;

typedef enum
{
	WF_TIMELINE,
	WF_START,
	WF_END,
	WF_COUNT
} WalField;

static const char *const file_field_names[FF_COUNT] = {
	"Path", "Encoded-Path", "Size", "Last-Modified", "Checksum-Algorithm", "Checksum"
};
static const char *const wal_field_names[WF_COUNT] = {
	"Timeline", "Start-LSN", "End-LSN"
};

typedef struct ParseState
{
	ManifestState state;
	const DrManifestCallbacks *cb;
	DrManifestInfo *info;
	char	   *error;			/* first problem, palloc'd */

	bool		saw_sysid;
	bool		saw_files;
	bool		saw_wal;
	bool		saw_checksum;

	int			field;			/* FileField or WalField being read */
	char	   *file_values[FF_COUNT];
	char	   *wal_values[WF_COUNT];
} ParseState;

static void
fail(ParseState *ps, const char *msg)
{
	if (ps->error == NULL)
		ps->error = pstrdup(msg);
}

static void
clear_values(char **values, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (values[i])
			pfree(values[i]);
		values[i] = NULL;
	}
}

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

/* Strict unsigned decimal; false on anything else or overflow. */
static bool
parse_uint64(const char *s, uint64 *out)
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
 * dr_checksum_length
 *		Bytes of a checksum of the given type (0 for none).
 */
int
dr_checksum_length(pg_checksum_type type)
{
	switch (type)
	{
		case CHECKSUM_TYPE_NONE:
			return 0;
		case CHECKSUM_TYPE_CRC32C:
			return sizeof(pg_crc32c);
		case CHECKSUM_TYPE_SHA224:
			return PG_SHA224_DIGEST_LENGTH;
		case CHECKSUM_TYPE_SHA256:
			return PG_SHA256_DIGEST_LENGTH;
		case CHECKSUM_TYPE_SHA384:
			return PG_SHA384_DIGEST_LENGTH;
		case CHECKSUM_TYPE_SHA512:
			return PG_SHA512_DIGEST_LENGTH;
	}
	return -1;
}

/* A complete "Files" entry: validate it and hand it to the callback. */
static void
finish_file(ParseState *ps)
{
	char	  **v = ps->file_values;
	DrManifestFile f;
	uint8	   *decoded_path = NULL;
	uint8	   *checksum = NULL;
	int			len = 0;

	memset(&f, 0, sizeof(f));
	if ((v[FF_PATH] == NULL) == (v[FF_ENCODED_PATH] == NULL))
	{
		fail(ps, "a file entry must have exactly one of Path and Encoded-Path");
		return;
	}
	if (v[FF_PATH])
		f.path = v[FF_PATH];
	else
	{
		decoded_path = hex_decode_alloc(v[FF_ENCODED_PATH], &len);
		if (decoded_path == NULL || len == 0 || memchr(decoded_path, '\0', len) != NULL)
		{
			fail(ps, "a file entry has an invalid Encoded-Path");
			goto out;
		}
		f.path = (const char *) decoded_path;
	}
	if (f.path[0] == '\0')
	{
		fail(ps, "a file entry has an empty path");
		goto out;
	}
	if (v[FF_SIZE] == NULL || !parse_uint64(v[FF_SIZE], &f.size))
	{
		fail(ps, "a file entry has a missing or invalid Size");
		goto out;
	}
	f.algorithm = CHECKSUM_TYPE_NONE;
	if (v[FF_ALGORITHM] && !pg_checksum_parse_type(v[FF_ALGORITHM], &f.algorithm))
	{
		fail(ps, "a file entry has an unknown Checksum-Algorithm");
		goto out;
	}
	if ((v[FF_CHECKSUM] != NULL) != (f.algorithm != CHECKSUM_TYPE_NONE))
	{
		fail(ps, "a file entry must have both Checksum-Algorithm and Checksum, or neither");
		goto out;
	}
	if (v[FF_CHECKSUM])
	{
		checksum = hex_decode_alloc(v[FF_CHECKSUM], &f.checksum_len);
		if (checksum == NULL)
		{
			fail(ps, "a file entry has a Checksum that is not hexadecimal");
			goto out;
		}
		f.checksum = checksum;
	}
	ps->info->files++;
	if (ps->cb && ps->cb->file_cb)
		ps->cb->file_cb(ps->cb->private_data, &f);

out:
	if (decoded_path)
		pfree(decoded_path);
	if (checksum)
		pfree(checksum);
	clear_values(ps->file_values, FF_COUNT);
}

/* A complete "WAL-Ranges" entry. */
static void
finish_wal_range(ParseState *ps)
{
	char	  **v = ps->wal_values;
	DrManifestWalRange r;
	uint64		tli;

	if (v[WF_TIMELINE] == NULL || !parse_uint64(v[WF_TIMELINE], &tli) ||
		tli == 0 || tli > PG_UINT32_MAX)
		fail(ps, "a WAL range has a missing or invalid Timeline");
	else if (v[WF_START] == NULL || !parse_lsn(v[WF_START], &r.start_lsn))
		fail(ps, "a WAL range has a missing or invalid Start-LSN");
	else if (v[WF_END] == NULL || !parse_lsn(v[WF_END], &r.end_lsn))
		fail(ps, "a WAL range has a missing or invalid End-LSN");
	else if (r.end_lsn < r.start_lsn)
		fail(ps, "a WAL range ends before it starts");
	else
	{
		r.tli = (TimeLineID) tli;
		ps->info->wal_ranges++;
		if (ps->cb && ps->cb->wal_range_cb)
			ps->cb->wal_range_cb(ps->cb->private_data, &r);
	}
	clear_values(ps->wal_values, WF_COUNT);
}

static void
sem_object_start(void *state)
{
	ParseState *ps = state;

	if (ps->error)
		return;
	switch (ps->state)
	{
		case MS_TOP_START:
			ps->state = MS_TOP_FIELD;
			break;
		case MS_FILES_NEXT:
			ps->state = MS_FILE_FIELD;
			break;
		case MS_WAL_NEXT:
			ps->state = MS_WAL_FIELD;
			break;
		default:
			fail(ps, "unexpected object start");
	}
}

static void
sem_object_end(void *state)
{
	ParseState *ps = state;

	if (ps->error)
		return;
	switch (ps->state)
	{
		case MS_TOP_FIELD:
			ps->state = MS_DONE;
			break;
		case MS_FILE_FIELD:
			finish_file(ps);
			ps->state = MS_FILES_NEXT;
			break;
		case MS_WAL_FIELD:
			finish_wal_range(ps);
			ps->state = MS_WAL_NEXT;
			break;
		default:
			fail(ps, "unexpected object end");
	}
}

static void
sem_array_start(void *state)
{
	ParseState *ps = state;

	if (ps->error)
		return;
	if (ps->state == MS_FILES_START)
		ps->state = MS_FILES_NEXT;
	else if (ps->state == MS_WAL_START)
		ps->state = MS_WAL_NEXT;
	else
		fail(ps, "unexpected array start");
}

static void
sem_array_end(void *state)
{
	ParseState *ps = state;

	if (ps->error)
		return;
	if (ps->state == MS_FILES_NEXT || ps->state == MS_WAL_NEXT)
		ps->state = MS_TOP_FIELD;
	else
		fail(ps, "unexpected array end");
}

static int
field_index(const char *const *names, int n, const char *fname)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], fname) == 0)
			return i;
	return -1;
}

static void
sem_object_field_start(void *state, char *fname, bool isnull)
{
	ParseState *ps = state;

	if (ps->error)
		goto out;
	switch (ps->state)
	{
		case MS_TOP_FIELD:
			if (ps->info->version == 0)
			{
				if (strcmp(fname, "PostgreSQL-Backup-Manifest-Version") != 0)
					fail(ps, "the manifest does not start with PostgreSQL-Backup-Manifest-Version");
				else
					ps->state = MS_VERSION_VALUE;
			}
			else if (strcmp(fname, "System-Identifier") == 0 && !ps->saw_sysid)
			{
				ps->saw_sysid = true;
				ps->state = MS_SYSID_VALUE;
			}
			else if (strcmp(fname, "Files") == 0 && !ps->saw_files)
			{
				ps->saw_files = true;
				ps->state = MS_FILES_START;
			}
			else if (strcmp(fname, "WAL-Ranges") == 0 && !ps->saw_wal)
			{
				ps->saw_wal = true;
				ps->state = MS_WAL_START;
			}
			else if (strcmp(fname, "Manifest-Checksum") == 0 && !ps->saw_checksum)
			{
				ps->saw_checksum = true;
				ps->state = MS_CHECKSUM_VALUE;
			}
			else
				fail(ps, "unexpected or repeated top-level field");
			break;
		case MS_FILE_FIELD:
			ps->field = field_index(file_field_names, FF_COUNT, fname);
			if (ps->field < 0)
				fail(ps, "unexpected field in a file entry");
			else if (ps->file_values[ps->field] != NULL)
				fail(ps, "repeated field in a file entry");
			else
				ps->state = MS_FILE_VALUE;
			break;
		case MS_WAL_FIELD:
			ps->field = field_index(wal_field_names, WF_COUNT, fname);
			if (ps->field < 0)
				fail(ps, "unexpected field in a WAL range");
			else if (ps->wal_values[ps->field] != NULL)
				fail(ps, "repeated field in a WAL range");
			else
				ps->state = MS_WAL_VALUE;
			break;
		default:
			fail(ps, "unexpected object field");
	}
out:
	pfree(fname);
}

static void
sem_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ParseState *ps = state;
	uint64		v;

	if (ps->error)
		goto out;
	switch (ps->state)
	{
		case MS_VERSION_VALUE:
			if (strcmp(token, "1") == 0)
				ps->info->version = 1;
			else if (strcmp(token, "2") == 0)
				ps->info->version = 2;
			else
				fail(ps, "unsupported manifest version (this reads versions 1 and 2)");
			ps->state = MS_TOP_FIELD;
			break;
		case MS_SYSID_VALUE:
			if (tokentype != JSON_TOKEN_NUMBER || !parse_uint64(token, &v))
				fail(ps, "System-Identifier is not an unsigned integer");
			else
			{
				ps->info->have_system_identifier = true;
				ps->info->system_identifier = v;
			}
			ps->state = MS_TOP_FIELD;
			break;
		case MS_CHECKSUM_VALUE:
			if (tokentype != JSON_TOKEN_STRING ||
				strlen(token) != PG_SHA256_DIGEST_STRING_LENGTH - 1)
				fail(ps, "Manifest-Checksum is not a SHA-256 hex string");
			else
				strlcpy(ps->info->manifest_checksum, token,
						sizeof(ps->info->manifest_checksum));
			ps->state = MS_TOP_FIELD;
			break;
		case MS_FILE_VALUE:
			if (tokentype != JSON_TOKEN_STRING && tokentype != JSON_TOKEN_NUMBER)
				fail(ps, "a file entry has a value that is neither a string nor a number");
			else
			{
				ps->file_values[ps->field] = token;
				token = NULL;
			}
			ps->state = MS_FILE_FIELD;
			break;
		case MS_WAL_VALUE:
			if (tokentype != JSON_TOKEN_STRING && tokentype != JSON_TOKEN_NUMBER)
				fail(ps, "a WAL range has a value that is neither a string nor a number");
			else
			{
				ps->wal_values[ps->field] = token;
				token = NULL;
			}
			ps->state = MS_WAL_FIELD;
			break;
		default:
			fail(ps, "unexpected scalar");
	}
out:
	if (token)
		pfree(token);
}

/*
 * Refuse nesting deeper than DR_MANIFEST_MAX_DEPTH before the recursive
 * descent parser sees it (a manifest nests three deep).  Brackets inside
 * strings do not count.
 */
static bool
nesting_ok(const char *buf, size_t len)
{
	int			depth = 0;
	bool		in_string = false;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		char		c = buf[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > DR_MANIFEST_MAX_DEPTH)
				return false;
		}
		else if (c == '}' || c == ']')
			depth--;
	}
	return true;
}

/*
 * What a JSON parse error means.  (json_errdetail() would quote the token,
 * but the frontend libpgcommon of PostgreSQL 15 does not export it.)
 */
static const char *
json_error_text(JsonParseErrorType rc)
{
	switch (rc)
	{
		case JSON_EXPECTED_ARRAY_FIRST:
		case JSON_EXPECTED_ARRAY_NEXT:
			return "expected an array element or \"]\"";
		case JSON_EXPECTED_COLON:
			return "expected \":\"";
		case JSON_EXPECTED_END:
			return "expected end of input";
		case JSON_EXPECTED_JSON:
			return "expected a JSON value";
		case JSON_EXPECTED_MORE:
			return "the input ended unexpectedly";
		case JSON_EXPECTED_OBJECT_FIRST:
		case JSON_EXPECTED_OBJECT_NEXT:
			return "expected a string or \"}\"";
		case JSON_EXPECTED_STRING:
			return "expected a string";
		case JSON_INVALID_TOKEN:
			return "invalid token";
		case JSON_ESCAPING_INVALID:
		case JSON_ESCAPING_REQUIRED:
		case JSON_UNICODE_CODE_POINT_ZERO:
		case JSON_UNICODE_ESCAPE_FORMAT:
		case JSON_UNICODE_HIGH_ESCAPE:
		case JSON_UNICODE_HIGH_SURROGATE:
		case JSON_UNICODE_LOW_SURROGATE:
			return "invalid escape or Unicode sequence in a string";
		case JSON_SUCCESS:
			break;
	}
	return "syntax error";
}

/* PostgreSQL 15 has no freeJsonLexContext(). */
static void
free_lexer(JsonLexContext *lex)
{
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}

/*
 * dr_manifest_parse
 *		Parse the manifest text buf[0..len); calls cb->file_cb for each file
 *		entry and cb->wal_range_cb for each WAL range, and fills *info.
 *		Returns NULL if the manifest is well-formed, else a palloc'd message
 *		saying what is wrong with it (callbacks may have run for the entries
 *		before the problem).  buf must be NUL-terminated at buf[len].
 */
char *
dr_manifest_parse(char *buf, size_t len, const DrManifestCallbacks *cb,
				  DrManifestInfo *info)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonParseErrorType rc;
	ParseState	ps;

	memset(info, 0, sizeof(DrManifestInfo));
	if (len > (size_t) PG_INT32_MAX)
		return pstrdup("the manifest is larger than 2 GB");
	if (!nesting_ok(buf, len))
		return psprintf("the manifest nests more than %d levels deep", DR_MANIFEST_MAX_DEPTH);

	memset(&ps, 0, sizeof(ps));
	ps.state = MS_TOP_START;
	ps.cb = cb;
	ps.info = info;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &ps;
	sem.object_start = sem_object_start;
	sem.object_end = sem_object_end;
	sem.array_start = sem_array_start;
	sem.array_end = sem_array_end;
	sem.object_field_start = sem_object_field_start;
	sem.scalar = sem_scalar;

	lex = makeJsonLexContextCstringLen(buf, (int) len, PG_UTF8, true);
	rc = pg_parse_json(lex, &sem);
	clear_values(ps.file_values, FF_COUNT);
	clear_values(ps.wal_values, WF_COUNT);

	if (rc != JSON_SUCCESS)
	{
		char	   *msg = psprintf("the manifest is not valid JSON (line %d): %s",
								   lex->line_number, json_error_text(rc));

		free_lexer(lex);
		if (ps.error)
			pfree(ps.error);
		return msg;
	}
	free_lexer(lex);
	if (ps.error)
		return ps.error;
	if (ps.state != MS_DONE)
		return pstrdup("the manifest is not a JSON object");
	if (info->version == 0)
		return pstrdup("the manifest has no PostgreSQL-Backup-Manifest-Version");
	if (info->version >= 2 && !info->have_system_identifier)
		return pstrdup("a version 2 manifest must have a System-Identifier");
	if (!ps.saw_files)
		return pstrdup("the manifest has no Files list");
	if (!ps.saw_wal)
		return pstrdup("the manifest has no WAL-Ranges list");
	if (!ps.saw_checksum)
		return pstrdup("the manifest has no Manifest-Checksum");
	return NULL;
}

/*
 * dr_manifest_check_checksum
 *		Compare the SHA-256 of every byte before the manifest's last line
 *		(the "Manifest-Checksum" line) with the checksum that line gives.
 *		Returns NULL if they agree, else a palloc'd message.
 */
char *
dr_manifest_check_checksum(const char *buf, size_t len, const DrManifestInfo *info)
{
	size_t		i;
	ssize_t		last_nl = -1,
				prev_nl = -1;
	int			newlines = 0;
	pg_checksum_context ctx;
	uint8		digest[PG_CHECKSUM_MAX_LENGTH];
	char		hex[PG_SHA256_DIGEST_STRING_LENGTH];
	int			n;
	static const char digits[] = "0123456789abcdef";

	for (i = 0; i < len; i++)
	{
		if (buf[i] == '\n')
		{
			newlines++;
			prev_nl = last_nl;
			last_nl = (ssize_t) i;
		}
	}
	if (newlines < 2)
		return pstrdup("the manifest has fewer than two lines");
	if (last_nl != (ssize_t) len - 1)
		return pstrdup("the manifest's last line is not newline-terminated");

	if (pg_checksum_init(&ctx, CHECKSUM_TYPE_SHA256) < 0 ||
		pg_checksum_update(&ctx, (const uint8 *) buf, (size_t) prev_nl + 1) < 0 ||
		(n = pg_checksum_final(&ctx, digest)) != PG_SHA256_DIGEST_LENGTH)
		return pstrdup("could not compute the manifest checksum");

	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 0x0f];
	}
	hex[PG_SHA256_DIGEST_STRING_LENGTH - 1] = '\0';
	if (pg_strcasecmp(hex, info->manifest_checksum) != 0)
		return psprintf("manifest checksum mismatch: computed %s, manifest says %s",
						hex, info->manifest_checksum);
	return NULL;
}
