-------------------------------------------------------------------------------
-- Comments (amends every part of 1.0 and 1.1).
--
-- Every object of the extension carries a COMMENT ON, so that \df+, \d+ and
-- pg_description say what it is for.  1.0 and 1.1 left 38 functions and the
-- six id sequences without one; they are described here.  A new object gets
-- its comment in the part that creates it; sql/16_comments.sql fails naming
-- any member object without one.
-------------------------------------------------------------------------------

-- Events and the journal (extension/1.0/20_events.sql)
COMMENT ON FUNCTION dr_node_facts() IS
'Internal: the facts about this node that every event carries (node name, region, system identifier, timeline).';
COMMENT ON FUNCTION dr_incident_at(timestamptz) IS
'Internal: the incident open at a given moment (the newest declared at or before it and not yet resolved then), or NULL.';
COMMENT ON FUNCTION dr_can_write() IS
'Internal: true when this node can write the catalog now (not in recovery, transaction not read-only: a fenced node cannot).';
COMMENT ON FUNCTION dr_log_event(text, jsonb, integer, boolean, bigint) IS
'Internal: record an event, in dr_event_log when this node can write (returns the id), else in the local journal (returns NULL).';
COMMENT ON FUNCTION dr_journal_flush() IS
'Internal (worker): move journalled events into dr_event_log exactly once (idempotent on the journal origin) and give journalled DR_INITIATED events their incident.';
COMMENT ON FUNCTION dr_history_sample(interval) IS
'Internal (worker, primary): sample every attached standby''s lag into dr_lag_samples and delete samples older than retention.';

-- Incidents (extension/1.0/30_incidents.sql)
COMMENT ON FUNCTION dr_require_incident(bigint) IS
'Internal: the incident with this id, or an error (42704) naming it when there is none.';
COMMENT ON FUNCTION dr_objective(text) IS
'Internal: a tensafe_dr duration setting stored in seconds (rpo_target, rto_max, ...) as an interval.';

-- Promotion and fencing (extension/1.0/40_promotion.sql)
COMMENT ON FUNCTION dr_set_fence(boolean) IS
'Internal (behind dr_fence() and dr_unfence()): set or lift the write fence durably ($PGDATA/pg_tensafe_dr/fenced); setting it waits for the commits in flight and flushes the WAL, and leaves the calling transaction able to commit; returns whether the node was fenced before.';

-- Backups and artifacts (extension/1.0/50_backups.sql)
COMMENT ON FUNCTION dr_backup_problems_json(dr_backup_verification) IS
'Internal: the first 100 problems of a verification as a JSON array of {"file", "problem"}, for dr_backups.details.';
COMMENT ON FUNCTION dr_record_backup_verification(dr_backup_verification, integer) IS
'Internal (SECURITY DEFINER): record one backup verification in dr_backups and as a BACKUP_VERIFIED event; returns the catalog id, or NULL where the node cannot write.';
COMMENT ON FUNCTION dr_record_artifact_verification(bigint, text) IS
'Internal (SECURITY DEFINER): record one artifact verification (match or mismatch) in dr_artifacts and as an ARTIFACT_VERIFIED event; returns whether it matched.';

-- Point-in-time recovery (extension/1.0/60_pitr.sql, extension/1.2/60_pitr.sql)
COMMENT ON FUNCTION dr_current_lsn() IS
'Internal: where this node''s WAL is now: the insert position on a primary, the replay position on a standby.';
COMMENT ON FUNCTION dr_wal_segment_name(pg_lsn, integer) IS
'The name of the WAL segment file holding an LSN on a timeline (as pg_walfile_name(), but for any timeline and on a standby too).';
COMMENT ON FUNCTION dr_conf_quote(text) IS
'A value quoted for postgresql.conf: enclosed in single quotes, quotes and backslashes doubled.';
COMMENT ON FUNCTION dr_pitr_plan_internal(text, timestamptz, pg_lsn, text) IS
'Internal: the recovery plan for one resolved target (kind time, lsn or name); never raises for a refusal but returns feasible = false with the reason, detail, hint and SQLSTATE.';
COMMENT ON FUNCTION dr_pitr_plan_finish(dr_pitr_plan_row, boolean) IS
'Internal: raise the plan''s refusal as an error with its SQLSTATE unless refuse is false; returns the plan.';

-- Drills (extension/1.0/70_drills.sql)
COMMENT ON FUNCTION dr_drill_judge(bigint, timestamptz, boolean, numeric, boolean, interval) IS
'Internal: the runbook 6.3 criteria of a drill judged over its run up to until, one row per criterion (measured, reported by the operator, or, for data_lost, measured by the operator); the failover time from the outage start (an incident''s started_at) when one was declared during the drill.';
COMMENT ON FUNCTION dr_schema() IS
'Internal: the schema the extension is installed in.';

-- Notifications (extension/1.0/80_notify.sql, extension/1.1/10_views.sql)
COMMENT ON FUNCTION dr_render(text, jsonb) IS
'Internal: a notification template with each {{placeholder}} filled once from ctx (a value containing a placeholder stays text); unknown placeholders are left empty.';
COMMENT ON FUNCTION dr_notification_body(jsonb, text, text) IS
'Internal: the JSON body posted for an event (from the table or the journal) on a channel under an idempotency key, subject and text rendered from its template.';
COMMENT ON FUNCTION dr_delivery_key(jsonb, text) IS
'Internal: the idempotency key of an event on a channel: from the journal origin when the event came through a journal (the key a standby delivered it under), else from the row id and (1.2) the timeline: the two sides of a split can reuse row ids (82_notify_standby.sql).';
COMMENT ON FUNCTION dr_channels_for(jsonb) IS
'Internal: the enabled webhook channels an event goes to (its event type in their list, or all events; ESCALATED only to the channel it names).';
COMMENT ON FUNCTION dr_enqueue_notifications() IS
'Internal (trigger on dr_event_log): queue one delivery per matching channel for an event recorded by this transaction; one a standby already delivered enters as delivered.';
COMMENT ON FUNCTION dr_delivered_locally(text) IS
'Internal: true when this node delivered the notification with this idempotency key while it was a standby ($PGDATA/pg_tensafe_dr/delivered).';
COMMENT ON FUNCTION dr_outbox_due(integer) IS
'Internal (notifier): the deliveries due now, at most max_rows and one per channel; deliveries of channels removed or disabled are failed here.';
COMMENT ON FUNCTION dr_setting_ms(text) IS
'Internal: a tensafe_dr duration setting stored in milliseconds (webhook timeouts, backoff) as an interval.';
COMMENT ON FUNCTION dr_outbox_result(bigint, boolean, boolean, integer, text) IS
'Internal (notifier): record the outcome of one delivery attempt: delivered, retried with exponential backoff and jitter, or failed after webhook_max_attempts or webhook_max_age; returns the new status.';
COMMENT ON FUNCTION dr_journal_deliveries() IS
'Internal (notifier, standby): the deliveries of this node''s journalled events, keyed as the primary will key them after the flush, not yet delivered here.';
COMMENT ON FUNCTION dr_notify_housekeeping() IS
'Internal (notifier): INCIDENT_UPDATE events every incident_update_interval for open incidents, and ESCALATED events along dr_escalation_policy; returns the events recorded. On a node that cannot write (standby, fenced) they are journalled, also for the declarations pending in its journal (82_notify_standby.sql).';
COMMENT ON FUNCTION dr_webhook_check(text, text, text[]) IS
'Internal: validate a channel name, webhook URL (http or https with a host, no control characters, at most 2048 bytes) and event type list; 22023 naming what is wrong.';
COMMENT ON FUNCTION dr_webhook_require(text) IS
'Internal: an error (42704) unless a webhook channel of this name exists.';
COMMENT ON FUNCTION dr_webhook_add(text, text, text, text[]) IS
'Add a webhook channel: an http or https URL, a secret of at least 16 characters that signs every body, and the event types it receives (NULL: all).';
COMMENT ON FUNCTION dr_webhook_alter(text, text, text, text[], boolean, boolean) IS
'Change a webhook channel; NULL arguments keep the value, all_events => true clears the event type filter.';
COMMENT ON FUNCTION dr_webhook_disable(text) IS
'Stop deliveries to a webhook channel (its pending deliveries fail); the channel is kept.';
COMMENT ON FUNCTION dr_webhook_enable(text) IS
'Resume deliveries to a disabled webhook channel.';
COMMENT ON FUNCTION dr_webhook_remove(text) IS
'Remove a webhook channel and its secret; its delivery history stays in the outbox.';
COMMENT ON FUNCTION dr_webhook_test_enqueue(text) IS
'Internal (SECURITY DEFINER, behind the procedure dr_webhook_test): queue a test delivery to a channel; returns its outbox id.';

-- The id sequences of the history tables: dumped by pg_dump, readable by
-- dr_monitor (their position), usable by nobody.
COMMENT ON SEQUENCE dr_event_log_id_seq IS
'Ids of dr_event_log; dumped, so events recorded after a restore continue after the restored ids.';
COMMENT ON SEQUENCE dr_incidents_id_seq IS
'Ids of dr_incidents; dumped, so incidents declared after a restore continue after the restored ids.';
COMMENT ON SEQUENCE dr_backups_id_seq IS
'Ids of dr_backups; dumped, so backups catalogued after a restore continue after the restored ids.';
COMMENT ON SEQUENCE dr_artifacts_id_seq IS
'Ids of dr_artifacts; dumped, so artifacts registered after a restore continue after the restored ids.';
COMMENT ON SEQUENCE dr_drills_id_seq IS
'Ids of dr_drills; dumped, so drills started after a restore continue after the restored ids.';
COMMENT ON SEQUENCE dr_outbox_id_seq IS
'Ids of dr_outbox; dumped, so deliveries queued after a restore continue after the restored ids.';
