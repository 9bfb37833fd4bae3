/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The tensafe_dr.* configuration parameters.
 *
 * All durations are kept in the unit the GUC declares (seconds for the
 * RPO/RTO figures, milliseconds for the worker's intervals), exactly as the
 * GUC machinery stores them; callers convert.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENSAFE_DR_GUC_H
#define TENSAFE_DR_GUC_H

extern char *dr_database;
extern char *dr_node_name;
extern char *dr_region;
extern int	dr_rpo_target_s;
extern int	dr_rpo_max_s;
extern int	dr_rto_target_s;
extern int	dr_rto_max_s;
extern int	dr_sample_interval_ms;
extern int	dr_heartbeat_interval_ms;
extern int	dr_history_interval_s;
extern int	dr_history_retention_s;
extern int	dr_promote_max_lag_s;
extern int	dr_position_retention_s;
extern int	dr_sync_stall_threshold_ms;
extern int	dr_journal_max_size_mb;
extern int	dr_clock_skew_threshold_ms;
extern int	dr_slot_wal_warning_mb;
extern int	dr_due_check_interval_s;
extern int	dr_event_retention_s;
extern int	dr_outbox_retention_s;
extern int	dr_verify_workers;	/* -1: one per core (verify_parallel.c) */

extern void dr_define_gucs(void);
extern const char *dr_effective_node_name(void);
extern int	dr_contact_stale_ms(void);

#endif							/* TENSAFE_DR_GUC_H */
