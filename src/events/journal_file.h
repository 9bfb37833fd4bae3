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

/* Where the events of a range of sequence numbers come from (ORIGIN) */
typedef struct DrOrigin
{
	uint64		id;				/* their journal id */
	uint64		from;
	uint64		upto;
} DrOrigin;

/*
 * A pass over the journal, record by record (a chunk of the file in memory
 * at a time), skipping over corrupt stretches to the next valid record, and
 * noting them.
 */
typedef struct DrJIter
{
	DrJReader	r;
	off_t		offset;			/* of the next record */
	uint64		header_id;		/* the HEADER's id; 0 if unreadable */
	DrOrigin   *origins;		/* the ORIGIN records seen so far */
	int			n_origins;
	int			bad_regions;	/* corrupt stretches followed by valid records */
	off_t		bad_bytes;
	off_t		first_bad;		/* offset of the first; -1 if none */
	bool		after_gap;
	uint64		last_event_seq;
	uint64		lost_estimate;	/* events missing across the stretches */
} DrJIter;

extern void dr_jiter_init(DrJIter *it, int fd, off_t size);
extern void dr_jiter_free(DrJIter *it);
extern const DrJournalRecord *dr_jiter_next(DrJIter *it, const char **payload);
extern uint64 dr_jiter_origin(const DrJIter *it, uint64 seq, uint64 own_id);
extern char *dr_data_directory_identity(void);
extern bool dr_jfile_owner_matches(uint64 journal_id);
extern void dr_jfile_write_owner(uint64 journal_id);
extern void dr_jfile_set_aside(uint64 journal_id);
extern bool dr_jfile_owner_journal_id(uint64 *journal_id);

#endif							/* TENSAFE_DR_JOURNAL_FILE_H */
