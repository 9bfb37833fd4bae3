/*-------------------------------------------------------------------------
 *
 * manifest_checksum.c
 *	  Checksums of a backup_manifest: the length of each algorithm's
 *	  checksum, and the check of the manifest's own SHA-256
 *	  ("Manifest-Checksum", over every byte before its line).
 *
 * Frontend-safe (see manifest.h): a problem comes back as a palloc'd
 * message, never as an error.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include "manifest.h"

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
