/*-------------------------------------------------------------------------
 *
 * delivered_log.c
 *	  $PGDATA/pg_tensafe_dr/delivered: one idempotency key per line, each
 *	  appended and fsync'd by the notifier after a standby delivered it.
 *	  When the journal is flushed after a promotion, the outbox trigger asks
 *	  dr_delivered_locally(key) so the event is not sent again.  Written
 *	  only by the notifier (one process), read by whoever flushes.
 *
 *	  It belongs to the data directory like the journal; a clone may copy
 *	  it, which is harmless: keys name the journal they came from.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "fmgr.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "delivered_log.h"
#include "journal.h"

#define DR_DELIVERED_FILE DR_JOURNAL_DIR "/delivered"

PG_FUNCTION_INFO_V1(dr_delivered_locally);

void
dr_delivered_append(const char *key)
{
	char	   *line = psprintf("%s\n", key);
	int			len = strlen(line);
	int			fd;

	if (MakePGDirectory(DR_JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DR_JOURNAL_DIR)));
	fd = OpenTransientFile(DR_DELIVERED_FILE, O_WRONLY | O_CREAT | O_APPEND | PG_BINARY);
	if (fd < 0 || write(fd, line, len) != len || pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not append to \"%s\": %m", DR_DELIVERED_FILE)));
	CloseTransientFile(fd);
}

bool
dr_delivered_contains(const char *key)
{
	FILE	   *f = AllocateFile(DR_DELIVERED_FILE, "r");
	char		line[1024];
	bool		found = false;
	size_t		keylen = strlen(key);

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strncmp(line, key, keylen) == 0 && line[keylen] == '\n';
	FreeFile(f);
	return found;
}

/* dr_delivered_locally(key text) returns bool */
Datum
dr_delivered_locally(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(dr_delivered_contains(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
