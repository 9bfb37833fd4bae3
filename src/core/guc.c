/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Definition and validation of the tensafe_dr.* configuration parameters.
 *
 * Every duration has a unit, so '5min', '300s' and 300 all mean the same.
 * Check hooks refuse values that would make the figures meaningless, with a
 * detail saying why; the RPO and RTO pairs are also checked against each
 * other (a target above its maximum is refused).
 *
 * The pair checks compare with the other parameter's value in force.  Two
 * cases need care:
 *	- while _PG_init defines the parameters one after the other, the other
 *	  member of a pair still holds its boot value, so pair checks are off
 *	  until all are defined (dr_gucs_defined); an inconsistent pair read from
 *	  postgresql.conf at start is then reported once with a WARNING;
 *	- a reload that raises both members applies them in file order; ALTER
 *	  SYSTEM refuses the wrong order with a hint, so the documented way is to
 *	  raise the maximum first and lower the target first.
 *
 * No locking: GUC variables are process-local copies.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <unistd.h>

#include "utils/guc.h"

#include "backup_paths.h"
#include "dump_archive.h"
#include "guc.h"
#include "notifier.h"

char	   *dr_database = NULL;
char	   *dr_node_name = NULL;
char	   *dr_region = NULL;
int			dr_rpo_target_s = 300;
int			dr_rpo_max_s = 900;
int			dr_rto_target_s = 3600;
int			dr_rto_max_s = 14400;
int			dr_sample_interval_ms = 1000;
int			dr_heartbeat_interval_ms = 1000;
int			dr_clock_skew_threshold_ms = 1000;
int			dr_history_interval_s = 60;
int			dr_history_retention_s = 7 * 24 * 3600;
int			dr_promote_max_lag_s = -1;
int			dr_position_retention_s = 30 * 24 * 3600;
int			dr_sync_stall_threshold_ms = 5000;
int			dr_journal_max_size_mb = 64;
int			dr_slot_wal_warning_mb = 1024;
int			dr_due_check_interval_s = 300;
int			dr_event_retention_s = 0;
int			dr_outbox_retention_s = 0;
int			dr_verify_workers = -1;

static bool dr_gucs_defined = false;

/* a week: beyond that a figure is a typo, not an objective */
#define DR_MAX_OBJECTIVE_S	(7 * 24 * 3600)

/*
 * Node and region names end up in events, notifications and metric labels:
 * keep them to printable ASCII without quotes or backslashes, and short.
 */
static bool
check_label(char **newval, void **extra, GucSource source)
{
	const char *p;

	if (*newval == NULL)
		return true;
	if (strlen(*newval) > 63)
	{
		GUC_check_errdetail("The name must be at most 63 characters long.");
		return false;
	}
	for (p = *newval; *p; p++)
	{
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\' || *p == '\'')
		{
			GUC_check_errdetail("The name may contain only printable ASCII characters other than quotes and backslashes.");
			return false;
		}
	}
	return true;
}

/*
 * Shared logic of the four objective check hooks: a target must not exceed
 * its maximum.  "what" names the pair for the message.
 */
static bool
check_pair(int target, int max, const char *target_name, const char *max_name)
{
	if (!dr_gucs_defined || target <= max)
		return true;
	GUC_check_errdetail("%s (%d s) must not be greater than %s (%d s).",
						target_name, target, max_name, max);
	GUC_check_errhint("Raise %s and reload the configuration before raising %s; lower %s first when lowering both.",
					  max_name, target_name, target_name);
	return false;
}

static bool
check_rpo_target(int *newval, void **extra, GucSource source)
{
	return check_pair(*newval, dr_rpo_max_s,
					  "tensafe_dr.rpo_target", "tensafe_dr.rpo_max");
}

static bool
check_rpo_max(int *newval, void **extra, GucSource source)
{
	return check_pair(dr_rpo_target_s, *newval,
					  "tensafe_dr.rpo_target", "tensafe_dr.rpo_max");
}

static bool
check_rto_target(int *newval, void **extra, GucSource source)
{
	return check_pair(*newval, dr_rto_max_s,
					  "tensafe_dr.rto_target", "tensafe_dr.rto_max");
}

static bool
check_rto_max(int *newval, void **extra, GucSource source)
{
	return check_pair(dr_rto_target_s, *newval,
					  "tensafe_dr.rto_target", "tensafe_dr.rto_max");
}

/*
 * The LSN/time map needs two samples to interpolate between: keep at least
 * two history intervals of them.
 */
static bool
check_position_retention(int *newval, void **extra, GucSource source)
{
	if (!dr_gucs_defined || *newval >= 2 * dr_history_interval_s)
		return true;
	GUC_check_errdetail("tensafe_dr.position_retention (%d s) must be at least twice tensafe_dr.history_interval (%d s), or fewer than two WAL-position samples are kept.",
						*newval, dr_history_interval_s);
	GUC_check_errhint("Raise tensafe_dr.position_retention or lower tensafe_dr.history_interval.");
	return false;
}

/*
 * Retention of the event log and the outbox (issue 21): 0 keeps forever;
 * anything else at least an hour, so that a bare number taken for days or
 * minutes does not delete the audit log.
 */
#define DR_MIN_RETENTION_S	3600

static bool
check_retention(int *newval, void **extra, GucSource source)
{
	if (*newval == 0 || *newval >= DR_MIN_RETENTION_S)
		return true;
	GUC_check_errdetail("A retention is 0 (keep forever) or at least 1h; %d s would delete the history almost as soon as it is written.",
						*newval);
	GUC_check_errhint("Give a unit, for example '90d'.");
	return false;
}

static void
define_objective(const char *name, const char *desc, int *var, int boot,
				 GucIntCheckHook hook)
{
	DefineCustomIntVariable(name, desc, NULL, var, boot, 1, DR_MAX_OBJECTIVE_S,
							PGC_SIGHUP, GUC_UNIT_S, hook, NULL, NULL);
}

/*
 * dr_define_gucs
 *		Define every tensafe_dr.* parameter.  Called once from _PG_init while
 *		shared_preload_libraries is being processed.
 */
void
dr_define_gucs(void)
{
	DefineCustomStringVariable("tensafe_dr.database",
							   "Database the tensafe_dr worker connects to; create the extension there.",
							   NULL, &dr_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("tensafe_dr.node_name",
							   "Name of this node in DR status, events and notifications; empty means cluster_name, else the host name.",
							   NULL, &dr_node_name, "",
							   PGC_SIGHUP, 0, check_label, NULL, NULL);
	DefineCustomStringVariable("tensafe_dr.region",
							   "Region or site this node runs in, as named in the DR runbook.",
							   NULL, &dr_region, "",
							   PGC_SIGHUP, 0, check_label, NULL, NULL);

	define_objective("tensafe_dr.rpo_target",
					 "Recovery point objective: data-loss exposure at or above this is a warning.",
					 &dr_rpo_target_s, 300, check_rpo_target);
	define_objective("tensafe_dr.rpo_max",
					 "Maximum tolerable data loss: exposure at or above this is a breach.",
					 &dr_rpo_max_s, 900, check_rpo_max);
	define_objective("tensafe_dr.rto_target",
					 "Recovery time objective: an incident resolved later than this missed its target.",
					 &dr_rto_target_s, 3600, check_rto_target);
	define_objective("tensafe_dr.rto_max",
					 "Maximum tolerable downtime: an incident resolved later than this is a breach.",
					 &dr_rto_max_s, 14400, check_rto_max);

	DefineCustomIntVariable("tensafe_dr.sample_interval",
							"How often the worker samples WAL positions and replication state.",
							NULL, &dr_sample_interval_ms, 1000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.heartbeat_interval",
							"How often the primary's worker writes a heartbeat into the WAL so that standbys can tell idle from behind.",
							NULL, &dr_heartbeat_interval_ms, 1000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("tensafe_dr.history_interval",
							"How often the primary's worker records each standby's lag into dr_lag_history.",
							NULL, &dr_history_interval_s, 60, 1, 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.history_retention",
							"How long dr_lag_history keeps samples; older ones are deleted by the worker.",
							NULL, &dr_history_retention_s, 7 * 24 * 3600, 10, 366 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.event_retention",
							"How long dr_event_log keeps events; older ones are deleted by the worker, except those of open incidents and those drill reports cite. 0 keeps them forever.",
							NULL, &dr_event_retention_s, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, check_retention, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.outbox_retention",
							"How long dr_outbox keeps delivered notifications; older ones are deleted by the worker. 0 keeps them forever.",
							NULL, &dr_outbox_retention_s, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, check_retention, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.promote_max_lag",
							"Promotion gate: dr_promote() refuses a standby that could lose more than this; -1 means tensafe_dr.rpo_max.",
							NULL, &dr_promote_max_lag_s, -1, -1, DR_MAX_OBJECTIVE_S,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("tensafe_dr.position_retention",
							"How long dr_wal_positions keeps the primary's WAL-position samples that map times to LSNs for point-in-time recovery.",
							NULL, &dr_position_retention_s, 30 * 24 * 3600, 60, 3660 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, check_position_retention, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.sync_stall_threshold",
							"How long backends must have waited for a synchronous standby before the primary reports a write stall (dr_status(), a SYNC_STALL event).",
							"A wait lasts while commits wait and no synchronous standby confirms anything; the worker looks at every sample.",
							&dr_sync_stall_threshold_ms, 5000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("tensafe_dr.journal_max_size",
							"Largest size of the local event journal; past it, recording an event on a node that cannot write is refused.",
							"Events already journalled are kept; the journal shrinks once they are flushed (the node can write again).",
							&dr_journal_max_size_mb, 64, 1, 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);

	DefineCustomIntVariable("tensafe_dr.clock_skew_threshold",
							"A standby whose clock is off its upstream's by more than this records CLOCK_SKEW (figures are corrected for the offset either way).",
							NULL, &dr_clock_skew_threshold_ms, 1000, 1, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("tensafe_dr.slot_wal_warning",
							"A replication slot that is inactive and holds back at least this much WAL is reported as retaining (dr_status(), dr_slots, a SLOT_RETAINING event).",
							"A slot whose safe_wal_size falls below a quarter of max_slot_wal_keep_size is reported as retaining too.",
							&dr_slot_wal_warning_mb, 1024, 1, 1024 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.due_check_interval",
							"How often the primary's worker looks for overdue drills and post-mortems due, recording DRILL_OVERDUE and POSTMORTEM_DUE once per occurrence; 0 turns the check off.",
							NULL, &dr_due_check_interval_s, 300, 0, 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tensafe_dr.verify_workers",
							"Background workers dr_verify_backup() checksums files with: -1 is one per CPU core; 0 or 1 checksums in the calling backend.",
							"Each worker takes a max_worker_processes slot while it runs; with none free the verification runs serially.",
							&dr_verify_workers, -1, -1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);

	dr_define_backup_gucs();	/* backup_paths.c */
	dr_define_dump_gucs();		/* dump_archive.c */
	dr_define_notifier_gucs();	/* notifier.c */

	/* last: placeholders of tensafe_dr.* left now are typos, and removed */
	MarkGUCPrefixReserved("tensafe_dr");
	dr_gucs_defined = true;

	if (dr_rpo_target_s > dr_rpo_max_s || dr_rto_target_s > dr_rto_max_s)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tensafe_dr objectives are inconsistent"),
				 errdetail("rpo_target %d s, rpo_max %d s, rto_target %d s, rto_max %d s; a target is above its maximum.",
						   dr_rpo_target_s, dr_rpo_max_s, dr_rto_target_s, dr_rto_max_s),
				 errhint("Status is judged against the smaller of each pair until the configuration is fixed.")));
}

/*
 * dr_effective_node_name
 *		tensafe_dr.node_name, else cluster_name, else the host name.
 *		Returns a pointer to static or GUC storage; do not free.
 */
const char *
dr_effective_node_name(void)
{
	static char hostname[256];
	const char *cluster_name = GetConfigOption("cluster_name", true, false);

	if (dr_node_name && dr_node_name[0])
		return dr_node_name;
	if (cluster_name && cluster_name[0])
		return cluster_name;
	if (hostname[0] == '\0' && gethostname(hostname, sizeof(hostname) - 1) != 0)
		strlcpy(hostname, "unknown", sizeof(hostname));
	return hostname;
}

/*
 * dr_contact_stale_ms
 *		How long a standby may go without a message from its primary before
 *		its figures are no longer trusted: three heartbeats plus one sample,
 *		and never less than two seconds (scheduling jitter on a busy host).
 */
int
dr_contact_stale_ms(void)
{
	int			ms = 3 * dr_heartbeat_interval_ms + dr_sample_interval_ms;

	return Max(ms, 2000);
}
