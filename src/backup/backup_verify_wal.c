/*-------------------------------------------------------------------------
 *
 * backup_verify_wal.c
 *	  The WAL part of dr_verify_backup_internal() (backup_verify.c): what
 *	  the backup says about itself (global/pg_control: system identifier
 *	  and WAL segment size; backup_label: label, start LSN, timeline, start
 *	  time), whether every WAL segment the manifest's WAL ranges need is
 *	  there, and when the backup stopped.
 *
 * A segment counts as there when it is a complete plain file in the
 * backup's pg_wal (the server replays pg_wal as it finds it), or is in
 * tensafe_dr.wal_archive_dir plain or compressed (the WAL is preserved; a
 * restore_command that decompresses can use it).  wal_archive.c owns the
 * rule; dr_pitr_plan() accepts only plain files, since its restore_command
 * is a plain cp.  The records themselves are not decoded.
 *
 * Files read here are small and bounded (dr_read_whole_file()'s limit);
 * segments are only stat()ed.  No locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "backup_files.h"
#include "backup_verify.h"
#include "wal_archive.h"

/*
 * dr_verify_read_control
 *		global/pg_control of the backup: system identifier, WAL segment
 *		size (the server's when pg_control is unreadable).
 */
void
dr_verify_read_control(DrVerifyState *vs)
{
	char	   *path = psprintf("%s/global/pg_control", vs->dir);
	size_t		len;
	char	   *data = dr_read_whole_file(path, &len, 65536);
	ControlFileData cf;
	pg_crc32c	crc;

	vs->seg_size = wal_segment_size;
	if (data == NULL || len < sizeof(ControlFileData))
		return;					/* a missing pg_control is reported as missing */
	memcpy(&cf, data, sizeof(cf));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &cf, offsetof(ControlFileData, crc));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, cf.crc) || cf.pg_control_version != PG_CONTROL_VERSION ||
		!IsValidWalSegSize(cf.xlog_seg_size))
		return;					/* its checksum in the manifest will say more */
	vs->have_control = true;
	vs->control_sysid = cf.system_identifier;
	vs->seg_size = cf.xlog_seg_size;
}

/*
 * dr_verify_read_backup_label
 *		backup_label: LABEL, START WAL LOCATION, START TIME, START TIMELINE,
 *		BACKUP METHOD (what is missing or unreadable stays unset).
 */
void
dr_verify_read_backup_label(DrVerifyState *vs)
{
	char	   *path = psprintf("%s/backup_label", vs->dir);
	size_t		len;
	char	   *data = dr_read_whole_file(path, &len, 1024 * 1024);
	char	   *v;

	if (data == NULL || !pg_verifymbstr(data, (int) len, true))
		return;
	vs->label = dr_label_value(data, "LABEL: ");
	vs->start_time = dr_label_value(data, "START TIME: ");
	vs->backup_method = dr_label_value(data, "BACKUP METHOD: ");
	(void) dr_parse_lsn_text(dr_label_value(data, "START WAL LOCATION: "), &vs->label_start_lsn);
	v = dr_label_value(data, "START TIMELINE: ");
	if (v)
		vs->label_tli = (TimeLineID) strtoul(v, NULL, 10);
}

/*
 * dr_verify_wal
 *		Every segment of every WAL range of the manifest, in the backup's
 *		pg_wal (plain) or the archive (plain or compressed); one problem per
 *		segment that is in neither.  Counts vs->wal_needed, vs->wal_missing.
 */
void
dr_verify_wal(DrVerifyState *vs)
{
	char	   *pg_wal = psprintf("%s/pg_wal", vs->dir);
	const char *archive = dr_wal_archive_dir();
	int			i;

	for (i = 0; i < vs->nranges; i++)
	{
		DrManifestWalRange *r = &vs->ranges[i];
		XLogSegNo	seg,
					first,
					last;

		XLByteToSeg(r->start_lsn, first, vs->seg_size);
		XLByteToPrevSeg(r->end_lsn, last, vs->seg_size);
		last = Max(first, last);
		for (seg = first; seg <= last; seg++)
		{
			char		name[MAXFNAMELEN];

			CHECK_FOR_INTERRUPTS();
			XLogFileName(name, r->tli, seg, vs->seg_size);
			vs->wal_needed++;
			if (dr_wal_segment_state(pg_wal, name, vs->seg_size) == DR_WAL_SEGMENT_PLAIN ||
				dr_wal_segment_state(archive, name, vs->seg_size) != DR_WAL_SEGMENT_ABSENT)
				continue;
			vs->wal_missing++;
			dr_verify_add_problem(vs, name, "WAL segment %s missing (timeline %u, needed for %X/%X..%X/%X; not in pg_wal%s)",
								  name, r->tli, LSN_FORMAT_ARGS(r->start_lsn), LSN_FORMAT_ARGS(r->end_lsn),
								  archive ? " nor tensafe_dr.wal_archive_dir" : ", no tensafe_dr.wal_archive_dir set");
		}
	}
}

/*
 * dr_verify_stop_time
 *		When the backup stopped: from the backup history file
 *		(<segment>.<offset>.backup) in pg_wal or the archive if there is
 *		one, else the manifest's mtime (it is written when the backup ends).
 *		*source says which; NULL (and *source NULL) if neither is known.
 */
char *
dr_verify_stop_time(DrVerifyState *vs, const char **source)
{
	if (vs->label_start_lsn != InvalidXLogRecPtr && vs->label_tli != 0)
	{
		XLogSegNo	seg;
		char		name[MAXFNAMELEN];
		const char *dirs[2];
		int			i;

		XLByteToSeg(vs->label_start_lsn, seg, vs->seg_size);
		BackupHistoryFileName(name, vs->label_tli, seg, vs->label_start_lsn, vs->seg_size);
		dirs[0] = psprintf("%s/pg_wal", vs->dir);
		dirs[1] = dr_wal_archive_dir();
		for (i = 0; i < 2; i++)
		{
			size_t		len;
			char	   *data;
			char	   *v;

			if (dirs[i] == NULL)
				continue;
			data = dr_read_whole_file(psprintf("%s/%s", dirs[i], name), &len, 1024 * 1024);
			if (data && pg_verifymbstr(data, (int) len, true) &&
				(v = dr_label_value(data, "STOP TIME: ")) != NULL)
			{
				*source = "backup history file";
				return v;
			}
		}
	}
	{
		struct stat st;
		char	   *m = psprintf("%s/backup_manifest", vs->dir);

		if (stat(m, &st) == 0)
		{
			*source = "backup_manifest mtime";
			return pstrdup(timestamptz_to_str(time_t_to_timestamptz(st.st_mtime)));
		}
	}
	*source = NULL;
	return NULL;
}
