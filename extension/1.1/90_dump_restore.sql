-------------------------------------------------------------------------------
-- pg_dump / pg_restore of the extension's own data (1.1 fixes to 1.0).
--
-- pg_dump writes the rows of every table registered with
-- pg_extension_config_dump, and pg_restore loads them after CREATE EXTENSION
-- has run the install script.  1.0 had three problems there, all found by
-- test/t/014_upgrade_dump.pl:
--
-- 1. dr_drill_kinds, dr_notification_templates and dr_escalation_policy are
--    seeded by the install script and dumped whole, so their COPY hit the
--    seeded keys (duplicate key), failed as a whole, and the restored
--    database kept the defaults: a changed escalation channel, drill
--    frequency or template was lost.  Now an INSERT whose key exists
--    replaces that row (trigger dr_config_replace), which is what a restore
--    needs.  A seeded row the user had deleted comes back after a restore.
-- 2. Every restored event went through the outbox trigger again: restoring
--    a database queued a webhook for each historical event.  The trigger
--    now fires only for events recorded by the inserting transaction
--    (recorded_at = now(), its default); restored rows keep their own
--    recorded_at.
-- 3. The notification history (dr_outbox) was not dumped.  Delivered and
--    failed deliveries are now, with the id sequence; pending ones are not
--    (a restored copy must not send anything on its own).
--
-- Who can dump: a superuser or a dr_admin login dumps everything, secrets
-- included (webhook secrets are configuration); so dr_admin reads dr_outbox
-- (message bodies, no secret in them).  A dr_monitor login can dump the
-- history without the secrets, so it reads the id sequences:
--   pg_dump --exclude-table-data=dr_webhooks --exclude-table-data=dr_outbox
-- A plain pg_dump as dr_monitor fails on dr_webhooks (permission denied).
-------------------------------------------------------------------------------

-- BEFORE INSERT on a seeded configuration table: when a row with the same
-- key (TG_ARGV[0]) exists, update it to the inserted values and skip the
-- insert.  Runs as the inserting role, which needs UPDATE on the table.
CREATE FUNCTION dr_config_replace()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    key_col text := TG_ARGV[0];
    cols text;
    n bigint;
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('UPDATE %I.%I t SET (%s) = (SELECT %s FROM (SELECT ($1).*) n) WHERE t.%I = ($1).%I',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME, cols, cols, key_col, key_col)
      USING NEW;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION dr_config_replace() IS
'Trigger: an INSERT into a seeded configuration table whose key exists replaces that row (so pg_restore can put back changed defaults).';
REVOKE ALL ON FUNCTION dr_config_replace() FROM PUBLIC;

CREATE TRIGGER dr_drill_kinds_replace BEFORE INSERT ON dr_drill_kinds
    FOR EACH ROW EXECUTE FUNCTION dr_config_replace('kind');
CREATE TRIGGER dr_notification_templates_replace BEFORE INSERT ON dr_notification_templates
    FOR EACH ROW EXECUTE FUNCTION dr_config_replace('event_type');
CREATE TRIGGER dr_escalation_policy_replace BEFORE INSERT ON dr_escalation_policy
    FOR EACH ROW EXECUTE FUNCTION dr_config_replace('level');
COMMENT ON TRIGGER dr_drill_kinds_replace ON dr_drill_kinds IS
'An inserted drill kind that exists replaces it (restore of changed defaults).';
COMMENT ON TRIGGER dr_notification_templates_replace ON dr_notification_templates IS
'An inserted template whose event type exists replaces it (restore of changed defaults).';
COMMENT ON TRIGGER dr_escalation_policy_replace ON dr_escalation_policy IS
'An inserted escalation level that exists replaces it (restore of changed defaults).';

-- Only events recorded now reach the outbox, not rows restored by pg_restore.
CREATE OR REPLACE TRIGGER dr_event_log_notify AFTER INSERT ON dr_event_log
    FOR EACH ROW WHEN (NEW.recorded_at = now())
    EXECUTE FUNCTION dr_enqueue_notifications();
COMMENT ON TRIGGER dr_event_log_notify ON dr_event_log IS
'Queues the notifications of an event recorded by this transaction (restored history is not notified again).';

-- The notification history is dumped; pending deliveries are not.
SELECT pg_catalog.pg_extension_config_dump('dr_outbox', 'WHERE status <> ''pending''');
SELECT pg_catalog.pg_extension_config_dump('dr_outbox_id_seq', '');

GRANT SELECT ON SEQUENCE dr_event_log_id_seq, dr_incidents_id_seq, dr_backups_id_seq,
    dr_artifacts_id_seq, dr_drills_id_seq, dr_outbox_id_seq TO dr_monitor;
GRANT SELECT ON dr_outbox TO dr_admin;
