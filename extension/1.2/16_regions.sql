-------------------------------------------------------------------------------
-- Regions (1.2, issue 14): the copies of this node's data grouped by the
-- region declared for each standby (dr_standby_set(), 15_standbys.sql).
-- One row per region of dr_replicas (NULL: standbys with no declared
-- region).  The state of a region is that of its best copy, judged as any
-- copy is (the larger of rpo_lag and replay_lag; 'unknown' ranks last):
-- a region can take over as well as its best copy can.  The same rule
-- picks the copy dr_status() judges on a primary (src/lag/lag.c).
-------------------------------------------------------------------------------
CREATE VIEW dr_regions AS
    WITH copies AS (
        SELECT r.region, r.standby_name, r.purpose,
               r.state IS DISTINCT FROM 'disconnected' AS streaming,
               r.rpo_lag, r.replay_lag, r.rpo_state,
               CASE r.rpo_state WHEN 'ok' THEN 0 WHEN 'warning' THEN 1
                                WHEN 'breach' THEN 2 ELSE 3 END AS state_rank,
               greatest(r.rpo_lag, r.replay_lag) AS judged_lag
          FROM @extschema@.dr_replicas r
    )
    SELECT c.region,
           coalesce(c.region = nullif(pg_catalog.current_setting('tensafe_dr.region', true), ''),
                    false) AS local_region,
           pg_catalog.array_agg(coalesce(c.standby_name, '') ORDER BY c.standby_name) AS standbys,
           (pg_catalog.count(*) FILTER (WHERE c.purpose = 'ha'))::integer AS ha_standbys,
           (pg_catalog.count(*) FILTER (WHERE c.purpose = 'dr'))::integer AS dr_standbys,
           (pg_catalog.count(*) FILTER (WHERE c.streaming))::integer AS streaming,
           pg_catalog.min(c.rpo_lag) AS best_rpo_lag,
           pg_catalog.max(c.rpo_lag) AS worst_rpo_lag,
           pg_catalog.min(c.replay_lag) AS best_replay_lag,
           pg_catalog.max(c.replay_lag) AS worst_replay_lag,
           (pg_catalog.array_agg(c.rpo_state ORDER BY c.state_rank, c.judged_lag NULLS LAST))[1]
               AS rpo_state,
           (pg_catalog.array_agg(c.standby_name ORDER BY c.state_rank, c.judged_lag NULLS LAST))[1]
               AS best_standby
      FROM copies c
     GROUP BY c.region;
COMMENT ON VIEW dr_regions IS
'One row per region of the standbys in dr_replicas (region as declared with dr_standby_set(); NULL for standbys with none): local_region (the region of this node, tensafe_dr.region), the standbys (ha and dr counts, how many stream), the best and worst rpo_lag and replay_lag, and rpo_state, the state of its best copy (best_standby), judged as any copy is.';
REVOKE ALL ON dr_regions FROM PUBLIC;
GRANT SELECT ON dr_regions TO dr_monitor;
