-- Wake-ups on commit (1.1): a commit that changes what dr_status() summarises
-- wakes the worker, one that queues a delivery wakes the notifier.  Without
-- the triggers they would only look on their own every 60 s, so each wait
-- below (5 s) fails if the wake-up is broken.
CREATE FUNCTION pg_temp.wait_for(cond text, seconds float8) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
    ok boolean;
BEGIN
    LOOP
        EXECUTE cond INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$fn$;

-- The wake-up triggers exist on the tables they watch.
SELECT tgrelid::regclass AS on_table, tgname
  FROM pg_trigger
 WHERE tgfoid = 'dr_wake_on_commit()'::regprocedure
 ORDER BY 1, 2;

-- dr_status() shows a declared incident, and its resolution, at once.
SELECT dr_declare(2, 'wake-up probe') AS probe_incident \gset
SELECT pg_temp.wait_for(format('SELECT open_incident = %s FROM dr_status()', :probe_incident), 5)
       AS summary_shows_declared;
SELECT dr_resolve(:probe_incident, 'probe done') IS NOT NULL AS resolved;
SELECT pg_temp.wait_for(format('SELECT open_incident IS DISTINCT FROM %s FROM dr_status()', :probe_incident), 5)
       AS summary_shows_resolved;

-- A rolled-back declaration wakes nobody and shows nothing.
BEGIN;
SELECT dr_declare(1, 'rolled back') IS NOT NULL AS declared_in_transaction;
ROLLBACK;
SELECT count(*) AS rolled_back_incidents FROM dr_incidents WHERE summary = 'rolled back';

-- A queued delivery is attempted at once (the receiver's port is closed:
-- the attempt fails fast and is recorded with its error).
SELECT dr_webhook_add('wake-probe', 'http://127.0.0.1:9/probe', 'secret-0123456789abcdef', ARRAY['WAKE_PROBE']);
SELECT dr_record_event('WAKE_PROBE', '{}') IS NOT NULL AS recorded;
SELECT pg_temp.wait_for($$SELECT coalesce(max(attempts), 0) >= 1 FROM dr_notifications WHERE channel = 'wake-probe'$$, 5)
       AS notifier_attempted;
SELECT status, last_error IS NOT NULL AS error_kept
  FROM dr_notifications WHERE channel = 'wake-probe';
SELECT dr_webhook_remove('wake-probe');

-- Called directly, the trigger function refuses; as a trigger it needs one
-- argument it knows.
SELECT dr_wake_on_commit();
\echo :SQLSTATE
CREATE TEMP TABLE wake_misuse (x int);
CREATE TRIGGER wake_no_arg AFTER INSERT ON wake_misuse
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit();
INSERT INTO wake_misuse VALUES (1);
\echo :SQLSTATE
DROP TRIGGER wake_no_arg ON wake_misuse;
CREATE TRIGGER wake_bad_arg AFTER INSERT ON wake_misuse
    FOR EACH STATEMENT EXECUTE FUNCTION dr_wake_on_commit('everything');
INSERT INTO wake_misuse VALUES (1);
\echo :SQLSTATE
DROP TABLE wake_misuse;
