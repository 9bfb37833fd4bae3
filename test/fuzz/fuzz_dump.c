/*-------------------------------------------------------------------------
 *
 * fuzz_dump.c
 *	  libFuzzer harness for tensafe_dr's custom-format pg_dump archive
 *	  reader (src/backup/dump_toc.c), built as a frontend program.
 *
 * Each input is read as an archive through a callback that hands it out in
 * pieces of varying size (the first input byte picks the piece size, so
 * the reader's buffer refills are fuzzed too), under a TOC limit taken
 * from the input length, so DR_DUMP_TOO_LARGE is reached as well.  The
 * reader allocates nothing; AddressSanitizer and UBSan watch its reads,
 * shifts and sums.  With DR_FUZZ_EXPECT_VALID set (run.sh, on the seeds)
 * every input must be a whole archive: it prints what it read and aborts
 * otherwise.
 *
 * Build and run: test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdlib.h>

#include "dump_toc.h"

static volatile unsigned long long sink;

typedef struct MemSource
{
	const uint8_t *data;
	size_t		size;
	size_t		pos;
	size_t		piece;
} MemSource;

static size_t
mem_read(void *arg, unsigned char *buf, size_t len)
{
	MemSource  *m = arg;
	size_t		n = m->size - m->pos;

	if (n > len)
		n = len;
	if (m->piece && n > m->piece)
		n = m->piece;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return n;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemSource	m = {data, size, 0, 0};
	DrDumpInfo	info;
	DrDumpResult res;
	bool		expect_valid = getenv("DR_FUZZ_EXPECT_VALID") != NULL;
	unsigned long long limit = 0;

	/* piece sizes 1..256 or whole reads, and a TOC limit, from the input */
	if (!expect_valid && size > 0)
	{
		m.piece = data[size - 1] < 128 ? 0 : (size_t) (data[size - 1] - 127) * 2 - 1;
		limit = data[size - 1] % 7 == 0 ? size / 2 : 0;
	}
	res = dr_dump_read(mem_read, &m, limit, &info);
	sink += res + info.toc_entries + info.data_blocks + info.large_objects +
		info.total_bytes + info.error_offset + strlen(info.message) +
		strlen(info.dbname) + strlen(info.server_version) + strlen(info.pg_dump_version);
	if (res == DR_DUMP_OK && info.total_bytes != size)
	{
		fprintf(stderr, "archive read as whole but %llu of %zu bytes consumed\n",
				info.total_bytes, size);
		abort();
	}
	if (expect_valid)
	{
		if (res != DR_DUMP_OK)
		{
			fprintf(stderr, "seed is not a valid archive: %s (at byte %llu)\n",
					info.message, info.error_offset);
			abort();
		}
		fprintf(stderr, "seed: version %d.%d-%d, database %s, %lld TOC entries, %lld data blocks, %lld large objects, %llu bytes\n",
				info.vmaj, info.vmin, info.vrev, info.dbname, info.toc_entries,
				info.data_blocks, info.large_objects, info.total_bytes);
	}
	return 0;
}
