/*-------------------------------------------------------------------------
 *
 * backup_verify_wal.c
 *	  The WAL part of dr_verify_backup_internal() (backup_verify.c): what
 *	  the backup says about itself (global/pg_control: system identifier,
 *	  WAL segment size, latest checkpoint; backup_label: label, start LSN,
 *	  timeline, start time), whether the manifest's WAL ranges agree with
 *	  it, whether every WAL segment those ranges need is there, and when
 *	  the backup stopped.
 *
 * A segment counts as there when it is a complete plain file in the
 * backup's pg_wal (the server replays pg_wal as it finds it), or is in
 * tensafe_dr.wal_archive_dir plain or compressed (the WAL is preserved; a
 * restore_command that decompresses can use it).  wal_archive.c owns the
 * rule; dr_pitr_plan() accepts only plain files, since its restore_command
 * is a plain cp.  The records themselves are not decoded.
 *
 * Bounds.  The manifest's WAL ranges are only believed as far as the
 * backup itself confirms them: they must be contiguous, start where
 * backup_label's START WAL LOCATION says on its START TIMELINE, and end no
 * earlier than the checkpoint the backup's pg_control records (pg_control
 * is copied before the backup ends).  A manifest that disagrees is one
 * problem and its WAL is not checked.  Nothing in the backup bounds where
 * the range ends, so the check never walks the range segment by segment:
 * it lists the backup's pg_wal and the archive once, keeps the segments
 * inside the ranges (sorted), counts the needed ones arithmetically, and
 * names missing ones only until the problem list is full
 * (DR_VERIFY_MAX_PROBLEMS); the rest are counted.  Time and memory follow
 * what is on disk, never the length a manifest claims (a range ending at
 * FFFFF/0 is 268 million segments).
 *
 * Files are opened by backup_paths.c's walk (no symbolic link followed)
 * and are small and bounded (dr_read_small_at()'s limit, checked with
 * fstat() before reading).  A pg_wal that is a symbolic link (pg_basebackup
 * --waldir) is followed only to a target under tensafe_dr.backup_root
 * (dr_verify_follow_link()); otherwise it is reported and counts as empty.
 * No locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "backup_files.h"
#include "backup_paths.h"
#include "backup_verify.h"
#include "wal_archive.h"

/* One WAL segment found in pg_wal or the archive. */
typedef struct SegKey
{
	TimeLineID	tli;
	XLogSegNo	segno;
} SegKey;

/*
 * dr_verify_read_control
 *		global/pg_control of the backup: system identifier, WAL segment
 *		size (the server's when pg_control is unreadable), latest
 *		checkpoint.
 */
void
dr_verify_read_control(DrVerifyState *vs)
{
	size_t		len;
	char	   *data = dr_read_small_at(vs->dirfd, "global/pg_control", 65536, &len);
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
	vs->control_checkpoint = cf.checkPoint;
}

/*
 * dr_verify_read_backup_label
 *		backup_label: LABEL, START WAL LOCATION, START TIME, START TIMELINE,
 *		BACKUP METHOD (what is missing or unreadable stays unset).
 */
void
dr_verify_read_backup_label(DrVerifyState *vs)
{
	size_t		len;
	char	   *data = dr_read_small_at(vs->dirfd, "backup_label", 1024 * 1024, &len);
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

static int
range_start_cmp(const void *a, const void *b)
{
	const DrManifestWalRange *ra = a;
	const DrManifestWalRange *rb = b;

	return ra->start_lsn < rb->start_lsn ? -1 : ra->start_lsn > rb->start_lsn ? 1 : 0;
}

/*
 * Whether the manifest's WAL ranges agree with what the backup says about
 * itself; if not, one problem saying why.
 */
static bool
ranges_match_backup(DrVerifyState *vs)
{
	DrManifestWalRange *r = palloc(sizeof(DrManifestWalRange) * vs->nranges);
	int			i;
	bool		ok = true;

	memcpy(r, vs->ranges, sizeof(DrManifestWalRange) * vs->nranges);
	qsort(r, vs->nranges, sizeof(DrManifestWalRange), range_start_cmp);
	for (i = 1; i < vs->nranges && ok; i++)
	{
		if (r[i].start_lsn != r[i - 1].end_lsn || r[i].tli == r[i - 1].tli)
		{
			dr_verify_add_problem(vs, "backup_manifest",
								  "WAL-Ranges are not contiguous: timeline %u ends at %X/%X, timeline %u starts at %X/%X; WAL not checked",
								  r[i - 1].tli, LSN_FORMAT_ARGS(r[i - 1].end_lsn),
								  r[i].tli, LSN_FORMAT_ARGS(r[i].start_lsn));
			ok = false;
		}
	}
	if (ok && vs->label_start_lsn != InvalidXLogRecPtr &&
		(r[0].start_lsn != vs->label_start_lsn ||
		 (vs->label_tli != 0 && r[0].tli != vs->label_tli)))
	{
		dr_verify_add_problem(vs, "backup_manifest",
							  "WAL-Ranges start at %X/%X on timeline %u, backup_label says %X/%X on timeline %u; WAL not checked",
							  LSN_FORMAT_ARGS(r[0].start_lsn), r[0].tli,
							  LSN_FORMAT_ARGS(vs->label_start_lsn), vs->label_tli);
		ok = false;
	}
	if (ok && vs->have_control && r[vs->nranges - 1].end_lsn < vs->control_checkpoint)
	{
		dr_verify_add_problem(vs, "backup_manifest",
							  "WAL-Ranges end at %X/%X, before the checkpoint at %X/%X the backup's pg_control records; WAL not checked",
							  LSN_FORMAT_ARGS(r[vs->nranges - 1].end_lsn),
							  LSN_FORMAT_ARGS(vs->control_checkpoint));
		ok = false;
	}
	pfree(r);
	return ok;
}

/*
 * The backup's pg_wal directory, opened by the walk; a symbolic link is
 * followed only under tensafe_dr.backup_root.  -1 if there is none usable
 * (then a problem says why, unless it is simply absent).
 */
static int
open_pg_wal(DrVerifyState *vs)
{
	struct stat st;
	DrOpenResult res;
	char	   *target;
	int			fd = dr_backup_openat(vs->dirfd, "pg_wal", &st, &res);

	if (fd < 0 && res == DR_OPEN_OUTSIDE)
	{
		fd = dr_verify_follow_link(vs, vs->dirfd, "pg_wal", "pg_wal", &target);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) < 0)
			st.st_mode = 0;
	}
	else if (fd < 0)
	{
		if (errno != ENOENT)
			dr_verify_add_problem(vs, "pg_wal", "could not open directory: %m");
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
	{
		dr_backup_close(fd);
		dr_verify_add_problem(vs, "pg_wal", "not a directory");
		return -1;
	}
	return fd;
}

typedef struct SegList
{
	SegKey	   *keys;
	int64		n;
	int64		max;
} SegList;

/*
 * Add the segments the directory open on fd (tracked; closed here) holds
 * within [lo, hi] to *list; compressed ones only if allowed.
 */
static void
collect_segments(DrVerifyState *vs, int fd, bool allow_compressed,
				 XLogSegNo lo, XLogSegNo hi, SegList *list)
{
	DIR		   *d = dr_backup_fdopendir(fd);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		TimeLineID	tli;
		XLogSegNo	segno;
		DrWalSegmentState state;

		CHECK_FOR_INTERRUPTS();
		state = dr_wal_dirent_state(dirfd(d), de->d_name, vs->seg_size, &tli, &segno);
		if (state == DR_WAL_SEGMENT_ABSENT ||
			(state == DR_WAL_SEGMENT_COMPRESSED && !allow_compressed) ||
			segno < lo || segno > hi)
			continue;
		if (list->n == list->max)
		{
			list->max = Max(64, list->max * 2);
			list->keys = list->keys
				? repalloc_huge(list->keys, sizeof(SegKey) * list->max)
				: palloc(sizeof(SegKey) * list->max);
		}
		list->keys[list->n].tli = tli;
		list->keys[list->n].segno = segno;
		list->n++;
	}
	dr_backup_closedir(d);
}

static int
segkey_cmp(const void *a, const void *b)
{
	const SegKey *ka = a;
	const SegKey *kb = b;

	if (ka->tli != kb->tli)
		return ka->tli < kb->tli ? -1 : 1;
	return ka->segno < kb->segno ? -1 : ka->segno > kb->segno ? 1 : 0;
}

/* The first index whose key is >= (tli, segno). */
static int64
lower_bound(const SegList *list, TimeLineID tli, XLogSegNo segno)
{
	int64		lo = 0,
				hi = list->n;
	SegKey		k = {tli, segno};

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (segkey_cmp(&list->keys[mid], &k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * dr_verify_wal
 *		Every segment of every WAL range of the manifest, in the backup's
 *		pg_wal (plain) or the archive (plain or compressed): missing ones
 *		are named until the problem list is full, the rest counted.  Sets
 *		vs->wal_needed, vs->wal_missing, vs->wal_checked.
 */
void
dr_verify_wal(DrVerifyState *vs)
{
	const char *archive = dr_wal_archive_dir();
	SegList		present = {NULL, 0, 0};
	XLogSegNo	lo = PG_UINT64_MAX,
				hi = 0;
	int			walfd;
	int64		i;
	int64		j;
	int			k;

	if (vs->nranges == 0)
	{
		vs->wal_checked = true;
		return;
	}
	if (!ranges_match_backup(vs))
		return;
	vs->wal_checked = true;

	for (k = 0; k < vs->nranges; k++)
	{
		XLogSegNo	first,
					last;

		XLByteToSeg(vs->ranges[k].start_lsn, first, vs->seg_size);
		XLByteToPrevSeg(vs->ranges[k].end_lsn, last, vs->seg_size);
		lo = Min(lo, first);
		hi = Max(hi, Max(first, last));
	}

	/* what is there: one listing of each directory */
	walfd = open_pg_wal(vs);
	if (walfd >= 0)
		collect_segments(vs, walfd, false, lo, hi, &present);
	if (archive)
	{
		int			afd = dr_backup_open_config_dir(archive);

		if (afd >= 0)
			collect_segments(vs, afd, true, lo, hi, &present);
	}
	if (present.n > 1)
	{
		qsort(present.keys, present.n, sizeof(SegKey), segkey_cmp);
		for (i = 1, j = 0; i < present.n; i++)
			if (segkey_cmp(&present.keys[i], &present.keys[j]) != 0)
				present.keys[++j] = present.keys[i];
		present.n = j + 1;
	}

	for (k = 0; k < vs->nranges; k++)
	{
		DrManifestWalRange *r = &vs->ranges[k];
		XLogSegNo	first,
					last,
					seg;
		int64		needed,
					found,
					missing,
					listed = 0;
		int64		idx;

		XLByteToSeg(r->start_lsn, first, vs->seg_size);
		XLByteToPrevSeg(r->end_lsn, last, vs->seg_size);
		last = Max(first, last);
		needed = (int64) (last - first + 1);
		idx = lower_bound(&present, r->tli, first);
		found = lower_bound(&present, r->tli, last + 1) - idx;
		missing = needed - found;
		vs->wal_needed += needed;
		vs->wal_missing += missing;

		/* name the first missing ones: at most found + the list's room steps */
		for (seg = first; listed < missing && !dr_verify_list_full(vs); seg++)
		{
			char		name[MAXFNAMELEN];

			CHECK_FOR_INTERRUPTS();
			if (idx < present.n && present.keys[idx].tli == r->tli &&
				present.keys[idx].segno == seg)
			{
				idx++;
				continue;
			}
			XLogFileName(name, r->tli, seg, vs->seg_size);
			dr_verify_add_problem(vs, name, "WAL segment %s missing (timeline %u, needed for %X/%X..%X/%X; not in pg_wal%s)",
								  name, r->tli, LSN_FORMAT_ARGS(r->start_lsn), LSN_FORMAT_ARGS(r->end_lsn),
								  archive ? " nor tensafe_dr.wal_archive_dir" : ", no tensafe_dr.wal_archive_dir set");
			listed++;
		}
		dr_verify_count_problems(vs, missing - listed);
	}
	if (present.keys)
		pfree(present.keys);
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
		const char *archive = dr_wal_archive_dir();
		int			i;

		XLByteToSeg(vs->label_start_lsn, seg, vs->seg_size);
		BackupHistoryFileName(name, vs->label_tli, seg, vs->label_start_lsn, vs->seg_size);
		for (i = 0; i < 2; i++)
		{
			size_t		len;
			char	   *data;
			char	   *v;
			int			dfd;
			struct stat st;
			DrOpenResult res;

			if (i == 0)
				dfd = dr_backup_openat(vs->dirfd, "pg_wal", &st, &res);
			else
				dfd = archive ? dr_backup_open_config_dir(archive) : -1;
			if (dfd < 0)
				continue;
			data = dr_read_small_at(dfd, name, 1024 * 1024, &len);
			dr_backup_close(dfd);
			if (data && pg_verifymbstr(data, (int) len, true) &&
				(v = dr_label_value(data, "STOP TIME: ")) != NULL)
			{
				*source = "backup history file";
				return v;
			}
		}
	}
	if (vs->manifest_mtime != 0)
	{
		*source = "backup_manifest mtime";
		return pstrdup(timestamptz_to_str(time_t_to_timestamptz(vs->manifest_mtime)));
	}
	*source = NULL;
	return NULL;
}
