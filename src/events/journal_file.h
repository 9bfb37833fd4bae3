/*-------------------------------------------------------------------------
 *
 * journal_file.h
 *	  The journal's on-disk format and file I/O (journal_file.c), for
 *	  journal.c only: callers elsewhere use journal.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_JOURNAL_FILE_H
#define TENSAFE_DR_JOURNAL_FILE_H

#include "datatype/timestamp.h"
#include "port/pg_crc32c.h"

#include "journal.h"

#define DR_JOURNAL_FILE		DR_JOURNAL_DIR "/journal"
#define DR_JOURNAL_MAGIC	0x54444A31	/* "TDJ1" */
#define DR_JOURNAL_MAX_PAYLOAD	(1024 * 1024)

typedef enum DrJournalKind
{
	DR_JOURNAL_HEADER = 1,
	DR_JOURNAL_EVENT = 2,
	DR_JOURNAL_FLUSHED = 3,
	DR_JOURNAL_ORIGIN = 4
} DrJournalKind;

typedef struct DrJournalRecord
{
	uint32		magic;
	uint16		kind;
	uint16		reserved;
	uint32		payload_len;
	pg_crc32c	crc;			/* over this header with crc = 0, then payload */
	uint64		seq;
	TimestampTz at;
} DrJournalRecord;

extern void dr_jrec_write(int fd, off_t offset, DrJournalKind kind, uint64 seq,
						  const char *payload, int len);
extern void dr_jrec_write_ext(int fd, off_t offset, DrJournalKind kind, uint64 seq,
							  const char *payload, int len, bool sync);
extern int	dr_jfile_open(const char *path, int flags, bool missing_ok);

/* Reads the journal a chunk at a time (journal_file.c) */
#define DR_JREADER_CHUNK	(64 * 1024)
typedef struct DrJReader
{
	int			fd;
	off_t		size;			/* bytes it may read */
	char	   *buf;
	Size		cap;
	off_t		buf_off;		/* file offset of buf[0] */
	Size		buf_len;
} DrJReader;

extern void dr_jreader_init(DrJReader *r, int fd, off_t size);
extern void dr_jreader_free(DrJReader *r);
extern const DrJournalRecord *dr_jreader_record(DrJReader *r, off_t offset,
												const char **payload);
extern off_t dr_jreader_resync(DrJReader *r, off_t from);
extern char *dr_data_directory_identity(void);
extern bool dr_jfile_owner_matches(uint64 journal_id);
extern void dr_jfile_write_owner(uint64 journal_id);
extern void dr_jfile_set_aside(uint64 journal_id);
extern bool dr_jfile_owner_journal_id(uint64 *journal_id);

#endif							/* TENSAFE_DR_JOURNAL_FILE_H */
