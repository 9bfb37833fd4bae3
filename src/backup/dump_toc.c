/*-------------------------------------------------------------------------
 *
 * dump_toc.c
 *	  Read a custom-format pg_dump archive (pg_dump -Fc) end to end: the
 *	  header, the table of contents and the framing of every data block,
 *	  as pg_restore would (PostgreSQL's src/bin/pg_dump/pg_backup_archiver.c
 *	  ReadHead/ReadToc/ReadInt/ReadStr/ReadOffset and pg_backup_custom.c
 *	  _ReadExtraToc/_readBlockHeader/_PrintData/_LoadLOs), without keeping
 *	  anything of it but counts and three short strings.
 *
 * The layout, archive versions 1.12 to 1.16:
 *
 *   header   "PGDMP", major, minor, revision bytes, int size, offset size,
 *            format (1 = custom); compression: an int (< 1.15) or a byte
 *            (>= 1.15); creation time as seven ints (struct tm, local
 *            time); database name, server version, pg_dump version (strs)
 *   TOC      an int count, then per entry: dump id, had-dumper (ints);
 *            table oid, oid, tag, desc (strs); section (int); defn, drop,
 *            copy, namespace, tablespace, table AM (strs); relkind (int,
 *            >= 1.16); owner, "with oids" (strs); dependencies (strs up to
 *            a NULL one); the data offset: a flag byte (1 not set, 2 set,
 *            3 no data) and offset-size bytes
 *   data     blocks to the end of the file: a type byte (1 data, 3 large
 *            objects), the dump id (int); data: chunks (int length, bytes)
 *            up to a zero length; large objects: (oid int, chunks)... up to
 *            a zero oid
 *
 * An int is a sign byte (0 or 1) and int-size bytes, least significant
 * first; a str is an int length (-1 = NULL) and that many bytes.
 *
 * Beyond what pg_restore checks, the data section must account for the
 * TOC: every block's dump id is in the TOC, the file ends exactly after a
 * whole block, and the blocks are the ones the TOC lists -- as a multiset
 * of (dump id, offset) for an archive written to a file, of dump ids for
 * one written to a pipe (no offsets) -- so a file cut at a block boundary
 * is found too.  The comparison is by two order-independent 64-bit sums of
 * a mixing function, so it needs no memory per entry.
 *
 * Frontend-safe, allocates nothing, never raises (dump_toc.h).  No locks.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <stdarg.h>

#include "dump_toc.h"

#define DR_DUMP_BUF			(32 * 1024)
#define FORMAT_CUSTOM		1
#define FORMAT_TAR			3	/* what a directory-format toc.dat holds too */
#define FORMAT_DIRECTORY	5
#define OFFSET_POS_NOT_SET	1
#define OFFSET_POS_SET		2
#define OFFSET_NO_DATA		3
#define BLK_DATA			1
#define BLK_BLOBS			3
/* the longest string pg_dump could have written (its malloc limit) */
#define DR_DUMP_MAX_STR		(0x3fffffff)

typedef struct Reader
{
	DrDumpReadFn readfn;
	void	   *arg;
	unsigned char buf[DR_DUMP_BUF];
	size_t		len;			/* bytes in buf */
	size_t		next;			/* next unread byte in buf */
	unsigned long long pos;		/* file offset of buf[next] */
	bool		eof;
	int			version_minor;
	int			int_size;
	int			off_size;
	unsigned long long limit;	/* TOC: reading past this is DR_DUMP_TOO_LARGE */
	DrDumpInfo *info;
	DrDumpResult result;
} Reader;

static bool fail(Reader *r, DrDumpResult code, const char *fmt,...) pg_attribute_printf(3, 4);

static bool
fail(Reader *r, DrDumpResult code, const char *fmt,...)
{
	va_list		ap;

	if (r->result != DR_DUMP_OK)
		return false;
	r->result = code;
	r->info->error_offset = r->pos;
	va_start(ap, fmt);
	vsnprintf(r->info->message, sizeof(r->info->message), fmt, ap);
	va_end(ap);
	return false;
}

/* Make at least one byte available; false at the end of the file. */
static bool
fill(Reader *r)
{
	if (r->next < r->len)
		return true;
	if (r->eof)
		return false;
	r->len = r->readfn(r->arg, r->buf, DR_DUMP_BUF);
	r->next = 0;
	if (r->len == 0)
		r->eof = true;
	return r->len > 0;
}

/* Consume n bytes into out (NULL: skip them); false on a short file. */
static bool
take(Reader *r, void *out, unsigned long long n, const char *what)
{
	unsigned char *dst = out;

	if (r->limit && r->pos + n > r->limit)
		return fail(r, DR_DUMP_TOO_LARGE,
					"the table of contents is larger than the limit of %llu bytes (at %s)",
					r->limit, what);
	while (n > 0)
	{
		size_t		k;

		if (!fill(r))
			return fail(r, DR_DUMP_CORRUPT, "unexpected end of file in %s", what);
		k = Min((unsigned long long) (r->len - r->next), n);
		if (dst)
		{
			memcpy(dst, r->buf + r->next, k);
			dst += k;
		}
		r->next += k;
		r->pos += k;
		n -= k;
	}
	return true;
}

static bool
read_byte(Reader *r, int *out, const char *what)
{
	unsigned char b;

	if (!take(r, &b, 1, what))
		return false;
	*out = b;
	return true;
}

/* ReadInt: a sign byte, then int_size bytes, least significant first. */
static bool
read_int(Reader *r, long long *out, const char *what)
{
	unsigned char b[8];
	unsigned long long v = 0;
	int			sign;
	int			i;

	if (!read_byte(r, &sign, what) || !take(r, b, r->int_size, what))
		return false;
	if (sign > 1)
		return fail(r, DR_DUMP_CORRUPT, "bad sign byte %d in %s", sign, what);
	for (i = 0; i < r->int_size; i++)
		v |= (unsigned long long) b[i] << (8 * i);
	/* pg_dump writes C ints (INT_MIN as sign 1, 2^31); pg_restore reads them into one */
	if (v > (sign ? 0x80000000ULL : 0x7fffffffULL))
		return fail(r, DR_DUMP_CORRUPT, "integer out of range in %s", what);
	*out = sign ? -(long long) v : (long long) v;
	return true;
}

/* An int that must lie in [lo, hi]. */
static bool
read_int_range(Reader *r, long long *out, long long lo, long long hi, const char *what)
{
	if (!read_int(r, out, what))
		return false;
	if (*out < lo || *out > hi)
		return fail(r, DR_DUMP_CORRUPT, "%s %lld out of range", what, *out);
	return true;
}

/*
 * ReadStr: its length (-1 = NULL, *isnull set).  The first keep - 1 bytes
 * go to keep_buf (if given; NUL-terminated); a longer string is corrupt
 * when keep_buf is given (the fields kept are short by nature).  With
 * digits, every byte must be a decimal digit (an oid, a dependency).
 */
static bool
read_str(Reader *r, char *keep_buf, size_t keep, bool digits, bool *isnull,
		 const char *what)
{
	long long	len;

	if (isnull)
		*isnull = false;
	if (!read_int(r, &len, what))
		return false;
	if (len == -1)
	{
		if (isnull)
			*isnull = true;
		if (keep_buf)
			keep_buf[0] = '\0';
		return true;
	}
	if (len < 0 || len > DR_DUMP_MAX_STR)
		return fail(r, DR_DUMP_CORRUPT, "bad string length %lld in %s", len, what);
	if (keep_buf || digits)
	{
		char		tmp[DR_DUMP_NAME_MAX];
		long long	i;

		if (len >= (long long) (keep_buf ? keep : sizeof(tmp)))
			return fail(r, DR_DUMP_CORRUPT, "%s is too long (%lld bytes)", what, len);
		if (!take(r, tmp, len, what))
			return false;
		tmp[len] = '\0';
		for (i = 0; i < len; i++)
		{
			if (digits ? (tmp[i] < '0' || tmp[i] > '9') : tmp[i] == '\0')
				return fail(r, DR_DUMP_CORRUPT, "bad character in %s", what);
		}
		if (keep_buf)
			memcpy(keep_buf, tmp, len + 1);
		return true;
	}
	return take(r, NULL, len, what);
}

/* ReadOffset: a flag byte and off_size bytes. */
static bool
read_offset(Reader *r, int *flag, unsigned long long *off)
{
	unsigned char b[8];
	int			i;

	if (!read_byte(r, flag, "a data offset flag") ||
		!take(r, b, r->off_size, "a data offset"))
		return false;
	if (*flag != OFFSET_POS_NOT_SET && *flag != OFFSET_POS_SET && *flag != OFFSET_NO_DATA)
		return fail(r, DR_DUMP_CORRUPT, "unexpected data offset flag %d", *flag);
	*off = 0;
	for (i = 0; i < r->off_size; i++)
		*off |= (unsigned long long) b[i] << (8 * i);
	if (*off > 0x7fffffffffffffffULL)
		return fail(r, DR_DUMP_CORRUPT, "data offset out of range");
	return true;
}

/* splitmix64's finalizer: a block or entry, for the multiset sums */
static unsigned long long
mix(long long id, unsigned long long off)
{
	unsigned long long z = (unsigned long long) id * 0x9e3779b97f4a7c15ULL ^ (off + 0x632be59bd9b4e019ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

typedef struct Tally
{
	unsigned long long sum;
	unsigned long long xor;
} Tally;

static void
tally(Tally *t, unsigned long long v)
{
	t->sum += v;
	t->xor ^= v;
}

static bool
read_header(Reader *r, DrDumpInfo *info)
{
	char		magic[5];
	int			b;
	long long	v;

	if (!fill(r))
		return fail(r, DR_DUMP_NOT_ARCHIVE, "the file is empty");
	if (r->len - r->next < 5 || memcmp(r->buf + r->next, "PGDMP", 5) != 0)
		return fail(r, DR_DUMP_NOT_ARCHIVE, "no pg_dump archive header (\"PGDMP\") at the start of the file");
	if (!take(r, magic, 5, "the header"))
		return false;
	if (!read_byte(r, &info->vmaj, "the header") ||
		!read_byte(r, &info->vmin, "the header") ||
		!read_byte(r, &info->vrev, "the header"))
		return false;
	if (info->vmaj != 1 || info->vmin < DR_DUMP_MIN_MINOR || info->vmin > DR_DUMP_MAX_MINOR)
		return fail(r, DR_DUMP_UNSUPPORTED, "archive version %d.%d is not supported (1.%d to 1.%d are)",
					info->vmaj, info->vmin, DR_DUMP_MIN_MINOR, DR_DUMP_MAX_MINOR);
	r->version_minor = info->vmin;
	if (!read_byte(r, &info->int_size, "the header") ||
		!read_byte(r, &info->off_size, "the header"))
		return false;
	if (info->int_size < 4 || info->int_size > 8)
		return fail(r, DR_DUMP_CORRUPT, "integer size %d out of range (4 to 8)", info->int_size);
	if (info->off_size < 4 || info->off_size > 8)
		return fail(r, DR_DUMP_CORRUPT, "offset size %d out of range (4 to 8)", info->off_size);
	r->int_size = info->int_size;
	r->off_size = info->off_size;
	if (!read_byte(r, &b, "the header"))
		return false;
	if (b == FORMAT_TAR || b == FORMAT_DIRECTORY)
		return fail(r, DR_DUMP_NOT_ARCHIVE, "this is the toc.dat of a directory-format or tar-format archive (format %d), not a custom-format one", b);
	if (b != FORMAT_CUSTOM)
		return fail(r, DR_DUMP_CORRUPT, "archive format %d is not the custom format (1)", b);
	if (r->version_minor >= 15)
	{
		if (!read_byte(r, &info->compression, "the compression algorithm"))
			return false;
		if (info->compression > 3)
			return fail(r, DR_DUMP_CORRUPT, "unknown compression algorithm %d", info->compression);
	}
	else
	{
		if (!read_int_range(r, &v, -1, 9, "the compression level"))
			return false;
		info->compression = (int) v;
	}
#define TMFIELD(f, lo, hi, what) \
	do { if (!read_int_range(r, &v, lo, hi, what)) return false; info->f = (int) v; } while (0)
	TMFIELD(tm_sec, 0, 60, "the creation time's seconds");
	TMFIELD(tm_min, 0, 59, "the creation time's minutes");
	TMFIELD(tm_hour, 0, 23, "the creation time's hour");
	TMFIELD(tm_mday, 1, 31, "the creation time's day");
	TMFIELD(tm_mon, 0, 11, "the creation time's month");
	TMFIELD(tm_year, 70, 8099, "the creation time's year");
	TMFIELD(tm_isdst, -1, 1, "the creation time's DST flag");
#undef TMFIELD
	if (!read_str(r, info->dbname, sizeof(info->dbname), false, NULL, "the database name") ||
		!read_str(r, info->server_version, sizeof(info->server_version), false, NULL, "the server version") ||
		!read_str(r, info->pg_dump_version, sizeof(info->pg_dump_version), false, NULL, "the pg_dump version"))
		return false;
	if (info->dbname[0] == '\0')
		return fail(r, DR_DUMP_CORRUPT, "the archive names no database");
	return true;
}

static bool
read_toc(Reader *r, DrDumpInfo *info, Tally *set, Tally *notset, long long *n_set, long long *n_notset)
{
	long long	count;
	long long	i;

	if (!read_int_range(r, &count, 0, 0x7fffffff, "the TOC entry count"))
		return false;
	for (i = 0; i < count; i++)
	{
		long long	dump_id;
		long long	v;
		bool		isnull;
		int			flag;
		unsigned long long off;

		if (!read_int_range(r, &dump_id, 1, 0x7fffffff, "a TOC entry's dump id") ||
			!read_int_range(r, &v, 0, 1, "a TOC entry's had-dumper flag") ||
			!read_str(r, NULL, 0, true, NULL, "a TOC entry's table oid") ||
			!read_str(r, NULL, 0, true, NULL, "a TOC entry's oid") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's tag") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's description") ||
			!read_int_range(r, &v, 1, 4, "a TOC entry's section") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's definition") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's drop statement") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's copy statement") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's namespace") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's tablespace"))
			return false;
		if (r->version_minor >= 14 &&
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's table access method"))
			return false;
		if (r->version_minor >= 16 &&
			!read_int(r, &v, "a TOC entry's relkind"))
			return false;
		if (!read_str(r, NULL, 0, false, NULL, "a TOC entry's owner") ||
			!read_str(r, NULL, 0, false, NULL, "a TOC entry's WITH OIDS flag"))
			return false;
		/* dependencies, up to a NULL */
		for (;;)
		{
			if (!read_str(r, NULL, 0, true, &isnull, "a TOC entry's dependency"))
				return false;
			if (isnull)
				break;
		}
		if (!read_offset(r, &flag, &off))
			return false;
		if (flag == OFFSET_POS_SET)
		{
			tally(set, mix(dump_id, off));
			(*n_set)++;
		}
		else if (flag == OFFSET_POS_NOT_SET)
		{
			tally(notset, mix(dump_id, 0));
			(*n_notset)++;
		}
		if (dump_id > info->max_dump_id)
			info->max_dump_id = dump_id;
		info->toc_entries++;
	}
	return true;
}

/* The chunks of one data block or large object, up to a zero length. */
static bool
read_chunks(Reader *r)
{
	for (;;)
	{
		long long	len;

		if (!read_int_range(r, &len, 0, 0x7fffffff, "a data chunk's length"))
			return false;
		if (len == 0)
			return true;
		if (!take(r, NULL, len, "a data chunk"))
			return false;
	}
}

static bool
read_data(Reader *r, DrDumpInfo *info, Tally *set, Tally *notset)
{
	for (;;)
	{
		unsigned long long start = r->pos;
		int			type;
		long long	dump_id;

		if (!fill(r))
			return true;		/* the end of the file, after a whole block */
		if (!read_byte(r, &type, "a data block header"))
			return false;
		if (type != BLK_DATA && type != BLK_BLOBS)
		{
			r->pos = start;
			return fail(r, DR_DUMP_CORRUPT, "unknown data block type %d", type);
		}
		if (!read_int_range(r, &dump_id, 1, info->max_dump_id, "a data block's dump id"))
			return false;
		tally(set, mix(dump_id, start));
		tally(notset, mix(dump_id, 0));
		if (type == BLK_DATA)
		{
			if (!read_chunks(r))
				return false;
		}
		else
		{
			for (;;)
			{
				long long	oid;

				if (!read_int(r, &oid, "a large object's oid"))
					return false;
				if (oid == 0)
					break;
				info->large_objects++;
				if (!read_chunks(r))
					return false;
			}
		}
		info->data_blocks++;
	}
}

/*
 * dr_dump_read
 *		Read the archive readfn gives, to its end.  DR_DUMP_OK and *info
 *		filled if it is a whole, well-formed custom-format archive;
 *		otherwise the code, and info->message and info->error_offset say
 *		what and where.  A TOC (header included) passing max_toc_bytes
 *		(0: no limit) is DR_DUMP_TOO_LARGE, found before it is read on.
 */
DrDumpResult
dr_dump_read(DrDumpReadFn readfn, void *arg, unsigned long long max_toc_bytes,
			 DrDumpInfo *info)
{
	Reader	   *r;
	Reader		reader;
	Tally		toc_set = {0, 0},
				toc_notset = {0, 0},
				blk_set = {0, 0},
				blk_notset = {0, 0};
	long long	n_set = 0,
				n_notset = 0;

	memset(info, 0, sizeof(*info));
	r = &reader;
	r->len = r->next = 0;
	r->pos = 0;
	r->eof = false;
	r->version_minor = 0;
	r->off_size = 8;
	r->readfn = readfn;
	r->arg = arg;
	r->info = info;
	r->limit = max_toc_bytes;
	r->result = DR_DUMP_OK;
	r->int_size = 4;

	if (!read_header(r, info) ||
		!read_toc(r, info, &toc_set, &toc_notset, &n_set, &n_notset))
		return r->result;
	info->toc_end = r->pos;
	info->data_entries = n_set + n_notset;
	r->limit = 0;
	if (!read_data(r, info, &blk_set, &blk_notset))
		return r->result;
	info->total_bytes = r->pos;

	if (n_notset == 0)
	{
		/* written to a file: the blocks are exactly those the TOC places */
		if (info->data_blocks != n_set)
			fail(r, DR_DUMP_CORRUPT, "the TOC lists %lld data blocks, the file holds %lld",
				 n_set, info->data_blocks);
		else if (blk_set.sum != toc_set.sum || blk_set.xor != toc_set.xor)
			fail(r, DR_DUMP_CORRUPT, "the data blocks are not at the offsets the TOC gives");
	}
	else if (n_set == 0)
	{
		/* written to a pipe: no offsets, but the same dump ids */
		if (info->data_blocks != n_notset)
			fail(r, DR_DUMP_CORRUPT, "the TOC lists %lld data blocks, the file holds %lld",
				 n_notset, info->data_blocks);
		else if (blk_notset.sum != toc_notset.sum || blk_notset.xor != toc_notset.xor)
			fail(r, DR_DUMP_CORRUPT, "the data blocks are not those the TOC lists");
	}
	else if (info->data_blocks < n_set || info->data_blocks > n_set + n_notset)
		fail(r, DR_DUMP_CORRUPT, "the TOC lists %lld to %lld data blocks, the file holds %lld",
			 n_set, n_set + n_notset, info->data_blocks);
	return r->result;
}
