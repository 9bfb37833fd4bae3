-------------------------------------------------------------------------------
-- The failback maintenance notice (runbook 3.2 step 3; issue 15): a template
-- for the operator's MAINTENANCE_NOTICE event, recorded on the DR primary
-- once the primary region has caught up and before writes are fenced:
--   SELECT dr_record_event('MAINTENANCE_NOTICE',
--       '{"summary": "Failback to primary region. Expected duration: 15 minutes."}');
-- (An INSERT of an existing event type replaces it: 1.1, 90_dump_restore.)
-------------------------------------------------------------------------------
INSERT INTO dr_notification_templates VALUES
('MAINTENANCE_NOTICE', '[MAINTENANCE] TenSafe Failback to Primary Region',
 E'Scheduled maintenance: {{impact}}\n\nFrom: {{occurred_at}}, DR region {{region}} ({{node}}).\n\nWrites pause briefly while they move back to the primary region.');
