/*-------------------------------------------------------------------------
 *
 * manifest_parse.c
 *	  Parser for a pg_basebackup backup_manifest, on PostgreSQL's own JSON
 *	  parser (common/jsonapi.h) driven through its semantic-action
 *	  callbacks: the manifest's structure.  What each entry must hold is
 *	  checked in manifest_entries.c, the manifest's own checksum in
 *	  manifest_checksum.c.
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
 * harness in test/fuzz/ can link the manifest_*.c files alone against
 * libpgcommon.
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

#include "manifest_entries.h"

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

	int			field;			/* the DrManifestFileField or
								 * DrManifestWalField being read */
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

/* An entry has been read: remember its problem, if any, and drop its values. */
static void
finish_entry(ParseState *ps, const char *problem, char **values, int n)
{
	if (problem)
		fail(ps, problem);
	clear_values(values, n);
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
			finish_entry(ps, dr_manifest_finish_file(ps->file_values, ps->cb, ps->info),
						 ps->file_values, FF_COUNT);
			ps->state = MS_FILES_NEXT;
			break;
		case MS_WAL_FIELD:
			finish_entry(ps, dr_manifest_finish_wal_range(ps->wal_values, ps->cb, ps->info),
						 ps->wal_values, WF_COUNT);
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
			ps->field = field_index(dr_manifest_file_fields, FF_COUNT, fname);
			if (ps->field < 0)
				fail(ps, "unexpected field in a file entry");
			else if (ps->file_values[ps->field] != NULL)
				fail(ps, "repeated field in a file entry");
			else
				ps->state = MS_FILE_VALUE;
			break;
		case MS_WAL_FIELD:
			ps->field = field_index(dr_manifest_wal_fields, WF_COUNT, fname);
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
			if (tokentype != JSON_TOKEN_NUMBER || !dr_manifest_parse_uint64(token, &v))
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
