/*-------------------------------------------------------------------------
 *
 * heartbeat.c
 *	  The primary's heartbeat: a small WAL record every
 *	  tensafe_dr.heartbeat_interval, flushed promptly (by the WAL writer, as
 *	  an asynchronous commit is, see dr_write_heartbeat), so that an idle primary
 *	  still streams something and a standby can tell "caught up with an idle
 *	  primary" (it keeps hearing from it) from "behind" or "cut off".
 *
 * Why a WAL message and not a row in a table: a row update needs an xid, a
 * commit record and vacuum, would wait on a synchronous standby that is down
 * (stalling the worker that samples lag), and its commit timestamp would make
 * pg_last_xact_replay_timestamp() look fresh to every other tool, hiding the
 * very failure they get wrong.  The record is a non-transactional logical
 * message (the rmgr behind pg_logical_emit_message), so every PostgreSQL can
 * replay it with no library loaded; it is marked XLOG_MARK_UNIMPORTANT so an
 * idle cluster still skips checkpoints and archive_timeout segment switches,
 * exactly as PostgreSQL's own standby snapshots do.  That flag is why we
 * assemble the record here instead of calling LogLogicalMessage(), which
 * takes no flags.  Logical decoding sees it as a message with prefix
 * "tensafe_dr.heartbeat"; pgoutput ignores messages unless asked for them.
 *
 * Payload (text, for pg_waldump and decoding consumers):
 *	  {"at":"<primary clock>","at_us":N,"lsn":"<insert position>","timeline":N,"node":"..."}
 * at_us is the same time as an integer (microseconds since 2000-01-01), which
 * standbys read back from their WAL without depending on DateStyle
 * (contact.c: the newest heartbeat a node holds is its last contact).
 *
 * Caller: the worker, on a primary, outside any transaction; no locks held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/walwriter.h"
#include "replication/message.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "heartbeat.h"

/*
 * dr_write_heartbeat
 *		Write one heartbeat record and have it flushed; returns its end position.
 */
XLogRecPtr
dr_write_heartbeat(TimestampTz now)
{
	xl_logical_message xlrec;
	StringInfoData payload;
	XLogRecPtr	end;

	initStringInfo(&payload);
	appendStringInfo(&payload,
					 "{\"at\":\"%s\",\"at_us\":" INT64_FORMAT ",\"lsn\":\"%X/%X\",\"timeline\":%u,\"node\":",
					 timestamptz_to_str(now), (int64) now,
					 LSN_FORMAT_ARGS(GetXLogInsertRecPtr()),
					 GetWALInsertionTimeLine());
	escape_json(&payload, dr_effective_node_name());
	appendStringInfoChar(&payload, '}');

	xlrec.dbId = MyDatabaseId;
	xlrec.transactional = false;
	xlrec.prefix_size = strlen(DR_HEARTBEAT_PREFIX) + 1;
	xlrec.message_size = payload.len;

	XLogBeginInsert();
	XLogSetRecordFlags(XLOG_MARK_UNIMPORTANT);
	XLogRegisterData((char *) &xlrec, SizeOfLogicalMessage);
	XLogRegisterData(DR_HEARTBEAT_PREFIX, xlrec.prefix_size);
	XLogRegisterData(payload.data, payload.len);
	end = XLogInsert(RM_LOGICALMSG_ID, XLOG_LOGICAL_MESSAGE);

	/*
	 * Walsenders only send flushed WAL.  Hand the flush to the WAL writer,
	 * as an asynchronous commit does: it comes out of hibernation for it and
	 * flushes within wal_writer_delay, and on a busy primary the record rides
	 * along with the flushes the commits do anyway instead of costing an
	 * fsync of its own every heartbeat.  If the WAL writer is set to wait
	 * longer than half a heartbeat, flush here, or standbys would hear from
	 * the primary in bursts and judge it silent in between.
	 */
	if (WalWriterDelay * 2 <= dr_heartbeat_interval_ms)
		XLogSetAsyncXactLSN(end);
	else
		XLogFlush(end);

	pfree(payload.data);
	return end;
}
