-------------------------------------------------------------------------------
-- Notifications (amends extension/1.0/80_notify.sql).
--
-- The webhook retry policy (give up when not retryable, after
-- tensafe_dr.webhook_max_attempts, or past tensafe_dr.webhook_max_age; else
-- back off exponentially with jitter) was written twice: in SQL here for
-- the primary's outbox, and again in C for a standby's in-memory retries,
-- and the two had drifted (the standby retried permanent failures, had no
-- maximum age and no jitter).  It now has one owner, in C
-- (src/notify/retry_policy.c): the standby's notifier calls it directly,
-- and dr_outbox_result() calls it through dr_webhook_retry().
-------------------------------------------------------------------------------

CREATE FUNCTION dr_webhook_retry(attempts integer, age interval, retryable boolean,
                                 OUT give_up text, OUT retry_in interval)
AS 'MODULE_PATHNAME', 'dr_webhook_retry'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION dr_webhook_retry(integer, interval, boolean) IS
'Internal: the webhook retry policy (src/notify/retry_policy.c) after a failed attempt number attempts of a delivery of the given age: why it is given up, or how long to wait before the next attempt.';
REVOKE ALL ON FUNCTION dr_webhook_retry(integer, interval, boolean) FROM PUBLIC;

-- Notifier worker: the outcome of one attempt, under the retry policy.
CREATE OR REPLACE FUNCTION dr_outbox_result(outbox_id bigint, delivered boolean, retryable boolean,
                                            http_status integer, error text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    o @extschema@.dr_outbox;
    give_up text;
    retry_in interval;
    new_status text;
BEGIN
    -- FOR UPDATE: decide from the row as it is once ours.  Read without the
    -- lock, a second outcome recorded at once would decide from the
    -- attempts before the first's (one attempt short), and overwrite its
    -- 'delivered' with 'pending' or 'failed'.
    SELECT * INTO o FROM @extschema@.dr_outbox WHERE id = outbox_id FOR UPDATE;
    IF delivered THEN
        new_status := 'delivered';
    ELSIF o.status = 'delivered' THEN
        -- delivered meanwhile: a late failure only counts as an attempt
        UPDATE @extschema@.dr_outbox SET attempts = attempts + 1 WHERE id = outbox_id;
        RETURN 'delivered';
    ELSE
        SELECT p.give_up, p.retry_in INTO give_up, retry_in
          FROM @extschema@.dr_webhook_retry(o.attempts + 1, now() - o.created_at, retryable) p;
        IF give_up IS NULL THEN
            new_status := 'pending';
        ELSE
            new_status := 'failed';
            error := format('%s (%s)', error, give_up);
        END IF;
    END IF;
    UPDATE @extschema@.dr_outbox
       SET status = new_status, attempts = attempts + 1,
           last_error = CASE WHEN delivered THEN NULL ELSE error END,
           last_http_status = nullif(http_status, 0),
           delivered_at = CASE WHEN delivered THEN now() END,
           next_attempt_at = CASE WHEN new_status = 'pending'
               THEN now() + retry_in
               ELSE next_attempt_at END
     WHERE id = outbox_id;
    RETURN new_status;
END
$fn$;
COMMENT ON FUNCTION dr_outbox_result(bigint, boolean, boolean, integer, text) IS
'Internal (notifier worker): record the outcome of one delivery attempt; a failure is retried or given up as dr_webhook_retry() decides.';
