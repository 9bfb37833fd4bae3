
-------------------------------------------------------------------------------
-- Journal (amends extension/1.0/80_notify.sql, issue 13).
--
-- dr_journal_deliveries() is what a standby's notifier runs each time an
-- event is journalled: it read every pending entry of the journal even with
-- no webhook channel to deliver to, so each append cost a read of the whole
-- (growing) journal -- quadratic work that took CPU from everything else on
-- the standby (dr_status() under journal load, bench/).  With no enabled
-- channel there is nothing to deliver: it returns before reading.
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION dr_journal_deliveries()
RETURNS TABLE (idempotency_key text, url text, secret text, body text, event_type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    j record;
    ev jsonb;
    w record;
    key text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.dr_webhooks WHERE enabled) THEN
        RETURN;
    END IF;
    FOR j IN SELECT * FROM @extschema@.dr_journal_entries(true) LOOP
        ev := j.payload || jsonb_build_object('origin_journal', j.journal_id, 'origin_seq', j.seq);
        FOR w IN SELECT * FROM @extschema@.dr_channels_for(ev) LOOP
            key := @extschema@.dr_delivery_key(ev, w.name);
            CONTINUE WHEN @extschema@.dr_delivered_locally(key);
            idempotency_key := key; url := w.url; secret := w.secret;
            body := @extschema@.dr_notification_body(ev, w.name, key)::text;
            event_type := ev->>'event_type';
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$fn$;
