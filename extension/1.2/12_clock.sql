-------------------------------------------------------------------------------
-- Clocks (1.2): dr_status() shows clock_offset, the estimated offset of this
-- standby's clock from the primary's (positive: this node is ahead; NULL on
-- a primary or before it is known).  Every figure is measured on this node's
-- clock with that offset taken out where a time came from the primary
-- (src/lag/clock.c).
-- Topology (1.2, issue 14): on a primary, node_loss_lag (what losing this
-- node would cost: the best copy anywhere, 0 while a synchronous standby
-- holds every acknowledged commit) and region_loss_lag (losing its whole
-- region: the best copy in another region, NULL when there is none);
-- rpo_state judges the best copy in another region when one exists, else
-- the best copy anywhere -- no longer the worst standby (src/lag/lag.c).
-- A new OUT column means a new function: dr_node_status (SELECT * FROM
-- dr_status()) is recreated with it.  Issue 17 appends the WAL archive's
-- exposure and the worst replication slot (src/lag/archiver.c,
-- src/lag/slots.c).
-------------------------------------------------------------------------------
DROP VIEW dr_node_status;
DROP FUNCTION dr_status();

CREATE FUNCTION dr_status(
    OUT node_name text,
    OUT region text,
    OUT role text,
    OUT timeline integer,
    OUT in_recovery boolean,
    OUT receiver_status text,
    OUT last_primary_contact timestamptz,
    OUT replay_lag interval,
    OUT rpo_lag interval,
    OUT lag_bytes bigint,
    OUT rpo_target interval,
    OUT rpo_max interval,
    OUT rpo_state text,
    OUT state_reason text,
    OUT standbys integer,
    OUT replay_paused boolean,
    OUT last_sample_at timestamptz,
    OUT worker_pid integer,
    OUT open_incident bigint,
    OUT last_event text,
    OUT fenced boolean,
    OUT pending_events bigint,
    OUT newest_backup_at timestamptz,
    OUT backup_state text,
    OUT clock_offset interval,
    OUT node_loss_lag interval,
    OUT region_loss_lag interval,
    OUT archive_lag interval,
    OUT archive_state text,
    OUT archive_reason text,
    OUT archive_failed_count bigint,
    OUT archive_last_failed_at timestamptz,
    OUT archive_last_failed_wal text,
    OUT slot_state text,
    OUT worst_slot text)
RETURNS record
AS 'MODULE_PATHNAME', 'dr_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION dr_status() IS
'One row: can this node fail over now and what would it lose. rpo_lag = age of the oldest primary WAL not held durably here; replay_lag = age of the oldest WAL not replayed; rpo_state judges the larger against tensafe_dr.rpo_target/rpo_max. Every age is on this node''s clock; last_primary_contact is when the primary''s newest heartbeat arrived here. (1.2) clock_offset: this standby''s clock minus the primary''s, estimated from the primary''s heartbeats in the WAL (NULL on a primary or while unknown), taken out of every figure that dates WAL by the primary''s clock. (1.2) The WAL archive (runbook Level 4), judged on its own and never mixed into rpo_state: archive_lag = age of the oldest WAL this node''s archiver has not archived (what a loss of every node would cost), archive_state ok/warning/breach against rpo_target/rpo_max, failing, off (no archive) or unknown (with archive_reason; a standby archives only with archive_mode = always), the failures of pg_stat_archiver; slot_state = the state of the worst replication slot (none, ok, retaining, unreserved, lost; dr_slots), worst_slot its name when not ok. (1.2) On a primary: node_loss_lag, what losing this node would cost (the best copy anywhere; 0 while a synchronous standby holds every acknowledged commit), and region_loss_lag, what losing its whole region would cost (the best copy in another region, by tensafe_dr.region and dr_standby_set(); NULL when none); rpo_state, rpo_lag, replay_lag and lag_bytes are those of the best copy in another region when one exists, else of the best copy anywhere (1.1: the worst standby); a lagging or disconnected standby is named in state_reason; node_loss_lag and region_loss_lag are NULL on a standby.';

REVOKE ALL ON FUNCTION dr_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_status() TO dr_monitor;

CREATE VIEW dr_node_status AS
    SELECT * FROM dr_status();
COMMENT ON VIEW dr_node_status IS
'One row: this node''s DR status, the columns of dr_status().';
REVOKE ALL ON dr_node_status FROM PUBLIC;
GRANT SELECT ON dr_node_status TO dr_monitor;
