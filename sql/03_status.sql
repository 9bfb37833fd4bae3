-- dr_status() on a lone primary: no standby, so no DR copy: 'unknown'.

-- Wait (bounded) for the worker's first sample.
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT last_sample_at IS NOT NULL FROM dr_status());
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;

SELECT role, in_recovery, timeline > 0 AS has_timeline, receiver_status,
       last_primary_contact, rpo_lag, replay_lag, lag_bytes,
       rpo_target, rpo_max, rpo_state, state_reason, standbys, replay_paused,
       last_sample_at IS NOT NULL AS sampled, worker_pid > 0 AS worker_running,
       node_name IS NOT NULL AS has_node_name, region
  FROM dr_status();

-- The worker is a real process of type tensafe_dr.
SELECT count(*) AS workers FROM pg_stat_activity
 WHERE backend_type = 'tensafe_dr'
   AND pid = (SELECT worker_pid FROM dr_status());

-- The ring fills: samples are time-ordered and the primary's LSN never goes back.
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT count(*) >= 3 FROM dr_samples(10));
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT count(*) >= 3 AS enough_samples,
       bool_and(role = 'primary') AS all_primary,
       bool_and(receive_lsn IS NULL AND replay_lsn IS NULL) AS no_standby_positions,
       bool_and(insert_lsn >= primary_lsn) AS insert_at_or_past_flush
  FROM dr_samples(10);
SELECT bool_and(sampled_at > prev_at AND primary_lsn >= prev_lsn) AS monotonic
  FROM (SELECT sampled_at, primary_lsn,
               lag(sampled_at) OVER w AS prev_at, lag(primary_lsn) OVER w AS prev_lsn
          FROM dr_samples(10) WINDOW w AS (ORDER BY sampled_at)) s
 WHERE prev_at IS NOT NULL;

-- No standby attached: the view is empty.
SELECT count(*) AS replicas FROM dr_replicas;

-- dr_standby_lag on positions the primary already passed: something missing
-- is never 0; positions at the current flush are 0 and ok.
SELECT rpo_lag > '0' AS old_position_has_age, rpo_state IN ('ok', 'warning', 'breach') AS judged
  FROM dr_standby_lag('0/1', '0/1');
SELECT rpo_lag, replay_lag, lag_bytes, rpo_state
  FROM dr_standby_lag(pg_current_wal_flush_lsn(), pg_current_wal_flush_lsn());

-- Bad input.
SELECT * FROM dr_samples(0);
\echo :SQLSTATE
SELECT * FROM dr_samples(100000);
\echo :SQLSTATE
SELECT * FROM dr_standby_lag(NULL, '0/1');
