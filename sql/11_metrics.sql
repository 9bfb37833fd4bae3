-- Metrics: families, exposition format, escaping, privileges.  The figures
-- themselves (and promtool, and the exporter) are checked on real primary
-- and standby servers by test/t/011_metrics.pl.
\set SHOW_CONTEXT never

-- The families: names with units, counters (only they) ending in _total.
SELECT metric, metric_type FROM dr_metric_families ORDER BY metric;
SELECT metric FROM dr_metric_families
 WHERE metric !~ '^tensafe_dr_[a-z_]+$'
    OR (metric_type = 'counter') <> (metric ~ '_total$')
    OR metric_type NOT IN ('gauge', 'counter')
    OR help IS NULL OR help = '';

-- Every row has a family, node and region labels, and a value.
SELECT count(*) AS bad_rows FROM dr_metrics_rows() r
 WHERE NOT EXISTS (SELECT 1 FROM dr_metric_families f
                    WHERE f.metric = r.metric AND f.metric_type = r.metric_type AND f.help = r.help)
    OR NOT (r.labels ? 'node' AND r.labels ? 'region')
    OR r.value IS NULL;

-- One family's rows: the same as in the whole set.
SELECT (SELECT array_agg(labels ORDER BY labels) FROM dr_metrics_rows('tensafe_dr_rpo_state'))
     = (SELECT array_agg(labels ORDER BY labels) FROM dr_metrics_rows() WHERE metric = 'tensafe_dr_rpo_state') AS same_rows,
       (SELECT count(*) FROM dr_metrics_rows('tensafe_dr_rpo_state')) AS rpo_states;
-- A family that does not exist is refused, not answered with nothing.
SELECT count(*) FROM dr_metrics_rows('no_such_family');
\echo :SQLSTATE

-- Hostile label values are escaped: backslash, double quote, newline.
INSERT INTO dr_event_log (event_type) VALUES (E'regress"evil\\type\nline2');
SELECT regexp_replace(line, 'node="[^"]*"', 'node="N"') AS line
  FROM regexp_split_to_table(dr_metrics(), E'\n') line
 WHERE line LIKE 'tensafe_dr_events_total%regress%';
SELECT labels->>'type' = E'regress"evil\\type\nline2' AS raw_in_rows
  FROM dr_metrics_rows() WHERE metric = 'tensafe_dr_events_total' AND labels->>'type' LIKE 'regress%';
DELETE FROM dr_event_log WHERE event_type LIKE 'regress"evil%';

-- Shape: HELP then TYPE once per family, before its samples; one sample per
-- line; text ends with a newline.
WITH lines AS (
    SELECT line, n FROM regexp_split_to_table(dr_metrics(), E'\n') WITH ORDINALITY AS t (line, n)
)
SELECT (SELECT count(*) FROM lines WHERE line LIKE '# HELP %')
         = (SELECT count(DISTINCT metric) FROM dr_metrics_rows()) AS one_help_per_family,
       (SELECT count(*) FROM lines WHERE line LIKE '# TYPE %')
         = (SELECT count(DISTINCT metric) FROM dr_metrics_rows()) AS one_type_per_family,
       (SELECT count(*) FROM lines WHERE line NOT LIKE '#%' AND line <> '')
         = (SELECT count(*) FROM dr_metrics_rows()) AS one_line_per_sample,
       (SELECT bool_and(line ~ '^tensafe_dr_[a-z_]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$')
          FROM lines WHERE line NOT LIKE '#%' AND line <> '') AS samples_well_formed,
       right(dr_metrics(), 1) = E'\n' AS ends_with_newline;

-- No webhook URL or secret, whatever the channels hold.
SELECT dr_webhook_add('regress_metrics', 'https://user:pa55word@hooks.example/x', 'regress-metrics-secret-123');
SELECT position('pa55word' IN dr_metrics()) = 0 AND position('regress-metrics-secret' IN dr_metrics()) = 0
       AND position('hooks.example' IN dr_metrics()) = 0 AS no_secrets,
       position('channel="regress_metrics"' IN dr_metrics()) > 0 AS channel_listed;
SELECT dr_webhook_remove('regress_metrics');

-- Privileges: dr_monitor (and pg_monitor through it) reads; others do not.
CREATE ROLE regress_dr_metrics_nobody LOGIN;
CREATE ROLE regress_dr_metrics_pgmon LOGIN IN ROLE pg_monitor;
SET ROLE regress_dr_metrics_nobody;
SELECT dr_metrics();
\echo :SQLSTATE
SELECT * FROM dr_metrics_rows();
\echo :SQLSTATE
SELECT * FROM dr_metric_families;
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_dr_metrics_pgmon;
SELECT dr_metrics() LIKE '# HELP tensafe_dr_%' AS readable;
SELECT count(*) > 0 AS rows_readable FROM dr_metrics_rows();
RESET ROLE;
DROP ROLE regress_dr_metrics_nobody, regress_dr_metrics_pgmon;
