/*-------------------------------------------------------------------------
 *
 * fuzz_manifest.c
 *	  libFuzzer harness for tensafe_dr's backup_manifest parser
 *	  (src/backup/manifest_*.c), built as a frontend program against
 *	  libpgcommon and libpgport: the same JSON parser and checksum code the
 *	  server uses.
 *
 * Each input is parsed as a manifest; when it parses, its manifest checksum
 * is checked too.  The callbacks read every field they are given, so that
 * AddressSanitizer sees any use of freed or out-of-bounds memory.
 *
 * Build and run: test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stddef.h>
#include <stdlib.h>

#include "manifest.h"

static volatile uint64 sink;

/*
 * Memory: in the server the parser allocates in a memory context that is
 * deleted after the verification, which also reclaims what PostgreSQL 15's
 * JSON parser drops on its error paths (a field name pstrdup'd before a
 * syntax error).  The harness gives the frontend palloc family the same
 * semantics: every palloc'd block is linked into an arena freed after each
 * input (the link options --wrap=palloc etc. in run.sh route the calls of
 * jsonapi.o, stringinfo.o, psprintf.o and manifest_*.c here).  pfree() and
 * repalloc() really free, so AddressSanitizer still sees any use after free.
 */
typedef union ArenaChunk
{
	struct
	{
		union ArenaChunk *prev;
		union ArenaChunk *next;
	}			l;
	max_align_t align;
} ArenaChunk;

static ArenaChunk arena = {{&arena, &arena}};

static void *
arena_link(ArenaChunk *c)
{
	if (c == NULL)
		abort();
	c->l.prev = arena.l.prev;
	c->l.next = &arena;
	arena.l.prev->l.next = c;
	arena.l.prev = c;
	return c + 1;
}

static ArenaChunk *
arena_unlink(void *p)
{
	ArenaChunk *c = (ArenaChunk *) p - 1;

	c->l.prev->l.next = c->l.next;
	c->l.next->l.prev = c->l.prev;
	return c;
}

static void
arena_reset(void)
{
	while (arena.l.next != &arena)
		free(arena_unlink(arena.l.next + 1));
}

void	   *__wrap_palloc(Size size);
void	   *__wrap_palloc0(Size size);
void	   *__wrap_palloc_extended(Size size, int flags);
void		__wrap_pfree(void *pointer);
void	   *__wrap_repalloc(void *pointer, Size size);
char	   *__wrap_pstrdup(const char *in);
char	   *__wrap_pnstrdup(const char *in, Size len);

void *
__wrap_palloc(Size size)
{
	return arena_link(malloc(sizeof(ArenaChunk) + size));
}

void *
__wrap_palloc0(Size size)
{
	return arena_link(calloc(1, sizeof(ArenaChunk) + size));
}

void *
__wrap_palloc_extended(Size size, int flags)
{
	return (flags & MCXT_ALLOC_ZERO) ? __wrap_palloc0(size) : __wrap_palloc(size);
}

void
__wrap_pfree(void *pointer)
{
	free(arena_unlink(pointer));
}

void *
__wrap_repalloc(void *pointer, Size size)
{
	return arena_link(realloc(arena_unlink(pointer), sizeof(ArenaChunk) + size));
}

char *
__wrap_pstrdup(const char *in)
{
	size_t		n = strlen(in);
	char	   *out = __wrap_palloc(n + 1);

	memcpy(out, in, n + 1);
	return out;
}

char *
__wrap_pnstrdup(const char *in, Size len)
{
	size_t		n = strnlen(in, len);
	char	   *out = __wrap_palloc(n + 1);

	memcpy(out, in, n);
	out[n] = '\0';
	return out;
}

static void
on_file(void *private_data, const DrManifestFile *f)
{
	int			i;

	sink += strlen(f->path) + f->size + (uint64) f->algorithm;
	for (i = 0; i < f->checksum_len; i++)
		sink += f->checksum[i];
}

static void
on_wal_range(void *private_data, const DrManifestWalRange *r)
{
	sink += r->tli + r->start_lsn + r->end_lsn;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *buf = malloc(size + 1);
	DrManifestCallbacks cb = {NULL, on_file, on_wal_range};
	DrManifestInfo info;
	char	   *err;

	memcpy(buf, data, size);
	buf[size] = '\0';
	err = dr_manifest_parse(buf, size, &cb, &info);
	if (err == NULL)
		err = dr_manifest_check_checksum(buf, size, &info);
	if (err)
	{
		/* run.sh checks that the seeds themselves are valid manifests */
		if (getenv("DR_FUZZ_EXPECT_VALID"))
		{
			fprintf(stderr, "seed is not a valid manifest: %s\n", err);
			abort();
		}
		pfree(err);
	}
	arena_reset();
	free(buf);
	return 0;
}
