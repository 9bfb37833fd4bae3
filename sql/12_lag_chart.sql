-- dr_lag_chart(): bad input, an empty range, escaping of hostile text,
-- the bounds on output size, privileges, and dr_postmortem's chart.
\set SHOW_CONTEXT never

-- Bad input: 22023 each, with what is allowed.
SELECT dr_lag_chart(NULL, '2024-01-01 00:00+00');
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', NULL);
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', '2024-01-01 00:00+00');
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-02 00:00+00', '2024-01-01 00:00+00');
\echo :SQLSTATE
SELECT dr_lag_chart('-infinity', '2024-01-01 00:00+00');
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', 'infinity');
\echo :SQLSTATE
SELECT dr_lag_chart('2000-01-01 00:00+00', '2024-01-01 00:00+00');
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00:00.5+00', '2024-01-01 00:00:01+00');
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', '2024-01-02 00:00+00', width => 100);
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', '2024-01-02 00:00+00', height => NULL);
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', '2024-01-02 00:00+00', max_points => 5);
\echo :SQLSTATE
SELECT dr_lag_chart('2024-01-01 00:00+00', '2024-01-02 00:00+00', max_points => 100000);
\echo :SQLSTATE

-- An empty range is a well-formed SVG that says so, with the objective lines.
SELECT xml_is_well_formed_document(c) AS well_formed,
       c LIKE '%No lag samples in this range%' AS says_no_data,
       c LIKE '%class="rpo-target"%' AND c LIKE '%class="rpo-max"%' AS objective_lines,
       c NOT LIKE '%<path%' AS no_series,
       c LIKE '%width="960" height="480"%' AS default_size
  FROM dr_lag_chart('2024-01-01 00:00+00', '2024-01-01 06:00+00') c;

-- Lag history: two standbys over an hour, 30 hours ago (within retention,
-- clear of the other tests' incidents); one with a hostile name.
SELECT date_trunc('hour', now()) - interval '30 hours' AS t0 \gset
INSERT INTO dr_lag_samples (sampled_at, node_name, standby_name, client_addr, rpo_lag, replay_lag, lag_bytes, rpo_state)
SELECT :'t0'::timestamptz + g * interval '1 s', 'regress-primary', s.name, s.addr,
       make_interval(secs => 0.5), make_interval(secs => 1 + (g % 600) / 100.0), 0, 'ok'
  FROM generate_series(0, 3599) g,
       (VALUES ('standby_a', inet '10.0.0.1'), ('"><script>alert(1)</script>', inet '10.0.0.2')) s(name, addr);

-- An incident whose summary tries every way out of XML text and attributes.
SELECT dr_declare(2, E'<script>alert("pwn")</script> & ]]> <![CDATA[x]]> \'q\' caf\u00e9 \x01 end') AS hostile \gset
UPDATE dr_incidents SET declared_at = :'t0'::timestamptz + interval '10 min',
                        resolved_at = :'t0'::timestamptz + interval '20 min'
 WHERE id = :hostile;

SELECT dr_lag_chart(:'t0', :'t0'::timestamptz + interval '1 hour', 800, 400, 60) AS chart \gset
SELECT xml_is_well_formed_document(:'chart') AS well_formed,
       :'chart' LIKE '%width="800" height="400"%' AS requested_size,
       position('<script' IN :'chart') = 0 AS no_raw_script,
       position(']]>' IN :'chart') = 0 AS no_raw_cdata_end,
       position('<![CDATA[' IN :'chart') = 0 AS no_raw_cdata,
       :'chart' ~ '^[\x01-\x7e]*$' AS pure_ascii;
-- What the document says, read back by an XML parser.
SELECT count(*) AS elements_named_script
  FROM unnest(xpath('//*[local-name()="script"]', :'chart'::xml));
SELECT (xpath('count(//*[local-name()="path"])', :'chart'::xml))[1]::text AS series,
       (xpath('count(//*[local-name()="path"][contains(@class,"rpo-lag")])', :'chart'::xml))[1]::text AS rpo_series,
       (xpath('count(//*[local-name()="path"][contains(@class,"replay-lag")])', :'chart'::xml))[1]::text AS replay_series,
       (xpath('count(//*[local-name()="rect"][@class="incident"])', :'chart'::xml))[1]::text AS incident_bands;
-- The hostile summary, as the parser reads it back (xpath re-escapes text).
SELECT regexp_replace((xpath('//*[local-name()="text"][@class="incident-label"]/text()', :'chart'::xml))[1]::text,
                      '^#\d+', '#N') AS label;
SELECT regexp_replace(regexp_replace((xpath('//*[local-name()="rect"][@class="incident"]/*[local-name()="title"]/text()', :'chart'::xml))[1]::text,
                                     '^Incident \d+', 'Incident N'), ' Declared .*$', '') AS band_title;
-- The hostile standby name is an attribute value and legend text, not markup.
SELECT unnest(xpath('//*[local-name()="path"]/@data-standby', :'chart'::xml))::text AS standby ORDER BY 1;
-- Downsampled: 3600 samples per series, at most 60 points each.
SELECT max(array_length(regexp_split_to_array(d::text, '[ML]'), 1) - 1) <= 60 AS bounded,
       min(array_length(regexp_split_to_array(d::text, '[ML]'), 1) - 1) >= 50 AS dense
  FROM unnest(xpath('//*[local-name()="path"]/@d', :'chart'::xml)) d;
-- The objective lines sit where the y scale puts them (regress defaults: 5 min and 15 min).
SELECT (xpath('//*[@id="plot-area"]/@data-y-max-seconds', :'chart'::xml))[1]::text::numeric AS y_max,
       (xpath('//*[@class="rpo-target"]/@y1', :'chart'::xml))[1]::text::numeric AS target_y,
       (xpath('//*[@class="rpo-max"]/@y1', :'chart'::xml))[1]::text::numeric AS max_y,
       (xpath('//*[@id="plot-area"]/@y', :'chart'::xml))[1]::text AS plot_y,
       (xpath('//*[@id="plot-area"]/@height', :'chart'::xml))[1]::text AS plot_h;

-- More standbys than the legend holds: 8 drawn, the rest counted.
INSERT INTO dr_lag_samples (sampled_at, node_name, standby_name, client_addr, rpo_lag, replay_lag, lag_bytes, rpo_state)
SELECT :'t0'::timestamptz - interval '2 hours' + g * interval '1 min', 'regress-primary', 'sb' || lpad(n::text, 2, '0'),
       NULL, make_interval(secs => n), make_interval(secs => n + 1), 0, 'ok'
  FROM generate_series(0, 59) g, generate_series(1, 11) n;
SELECT xml_is_well_formed_document(c) AS well_formed,
       (xpath('count(//*[local-name()="path"])', c::xml))[1]::text AS series,
       c LIKE '%3 more standbys not drawn%' AS counted
  FROM dr_lag_chart(:'t0'::timestamptz - interval '2 hours', :'t0'::timestamptz - interval '1 hour') c;

-- dr_monitor may draw it; PUBLIC may not.
CREATE ROLE regress_chart_nobody;
CREATE ROLE regress_chart_watcher IN ROLE dr_monitor;
SET ROLE regress_chart_watcher;
SELECT xml_is_well_formed_document(dr_lag_chart(:'t0', :'t0'::timestamptz + interval '1 hour')) AS monitor_can;
SELECT dr_postmortem(:hostile, true) LIKE '%data:image/svg+xml;base64,%' AS monitor_postmortem;
RESET ROLE;
SET ROLE regress_chart_nobody;
SELECT dr_lag_chart(:'t0', :'t0'::timestamptz + interval '1 hour');
\echo :SQLSTATE
SELECT dr_postmortem(:hostile, true);
\echo :SQLSTATE
RESET ROLE;
DROP ROLE regress_chart_nobody, regress_chart_watcher;

-- dr_postmortem: the 1.0 call is unchanged; with the chart, a data URI
-- holding a well-formed SVG over the incident.
SELECT dr_postmortem(:hostile) = dr_postmortem(:hostile, false) AS same_as_1_0,
       dr_postmortem(:hostile) NOT LIKE '%## Replication Lag%' AS no_chart_by_default,
       dr_postmortem(:hostile, true) LIKE '%## Replication Lag%' AS chart_section;
SELECT xml_is_well_formed_document(convert_from(decode(substring(dr_postmortem(:hostile, true)
           FROM 'data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)'), 'base64'), 'UTF8')) AS embedded_well_formed;
SELECT dr_postmortem(:hostile, NULL);
\echo :SQLSTATE
SELECT dr_postmortem(999999, true);
\echo :SQLSTATE

DELETE FROM dr_lag_samples WHERE node_name = 'regress-primary';

-- The update from 1.0: dr_postmortem(incident) still resolves to the 1.0
-- signature (no ambiguity with the new overload) and keeps its grant.
CREATE DATABASE regress_chart_update;
\c regress_chart_update
SET client_min_messages = warning;
CREATE EXTENSION tensafe_dr VERSION '1.0';
SELECT dr_declare(1, 'before the update') AS inc \gset
SELECT dr_postmortem(:inc) AS before \gset
ALTER EXTENSION tensafe_dr UPDATE TO '1.1';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'tensafe_dr';
SELECT dr_postmortem(:inc) = :'before' AS same_text_after_update,
       dr_postmortem(:inc, true) LIKE '%## Replication Lag%' AS chart_after_update;
SELECT p.oid::regprocedure AS function, has_function_privilege('dr_monitor', p.oid, 'EXECUTE') AS monitor,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p WHERE p.proname IN ('dr_postmortem', 'dr_lag_chart', 'dr_svg_text', 'dr_svg_seconds')
 ORDER BY p.oid::regprocedure::text;
\c contrib_regression
DROP DATABASE regress_chart_update;
