
-------------------------------------------------------------------------------
-- Lag chart (amends extension/1.1/30_lag_chart.sql).
--
-- dr_lag_chart() was one 317-line function, which wrote the range condition
-- on dr_lag_samples four times, the incident condition twice, and the
-- legend's line-and-label and grey notes over and over.  It is now a short
-- driver over one function per part of the picture; its output is the same,
-- byte for byte:
--
--   dr_lag_chart_frame           the plot area and the scales (a type)
--   dr_lag_chart_check()         the arguments, or a 22023 refusal
--   dr_lag_chart_samples()       THE range condition: the samples charted
--   dr_lag_chart_y_scale()       the top of the lag axis and its step
--   dr_lag_chart_y_axis()        the lag grid lines and tick labels
--   dr_lag_chart_x_axis()        the time grid lines and tick labels
--   dr_lag_chart_incidents()     the incident bands and their labels
--   dr_lag_chart_objective_line() the RPO target or max line
--   dr_lag_chart_series()        one rpo_lag and replay_lag path per standby,
--                                with their legend entries
--   dr_lag_chart_paths()         the two paths of one standby
--   dr_lag_chart_legend_entry()  a line and its label in the legend
--   dr_lag_chart_legend_notes()  the incident swatch and the grey notes
--   dr_lag_chart_svg()           the document around the parts
-------------------------------------------------------------------------------

-- The plot area (pixels) and the scales: t0 and t1 are the range in epoch
-- seconds, span = t1 - t0, ymax the top of the lag axis in seconds.
CREATE TYPE dr_lag_chart_frame AS (
    from_time timestamptz,
    to_time   timestamptz,
    px        integer,
    py        integer,
    pw        integer,
    ph        integer,
    t0        numeric,
    t1        numeric,
    span      numeric,
    ymax      numeric
);
COMMENT ON TYPE dr_lag_chart_frame IS
'Internal: the plot area of a lag chart (pixels) and its scales (the time range in epoch seconds, the top of the lag axis in seconds).';

-- The arguments of dr_lag_chart(): every refusal is 22023 with what is
-- allowed.
CREATE FUNCTION dr_lag_chart_check(from_time timestamptz, to_time timestamptz,
                                   width integer, height integer, max_points integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    span numeric;
BEGIN
    IF from_time IS NULL OR to_time IS NULL THEN
        RAISE EXCEPTION 'the chart needs a range: from_time and to_time must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(from_time) OR NOT isfinite(to_time) THEN
        RAISE EXCEPTION 'the chart range must be finite'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF from_time >= to_time THEN
        RAISE EXCEPTION 'the chart range is empty: from_time % is not before to_time %', from_time, to_time
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    span := extract(epoch FROM to_time) - extract(epoch FROM from_time);
    IF span < 1 OR span > 366 * 86400 THEN
        RAISE EXCEPTION 'the chart range must be between 1 second and 366 days, not %', to_time - from_time
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'dr_lag_history keeps at most tensafe_dr.history_retention (366 days at most).';
    END IF;
    IF width IS NULL OR width NOT BETWEEN 480 AND 4000 THEN
        RAISE EXCEPTION 'chart width must be 480 to 4000 pixels, not %', coalesce(width::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF height IS NULL OR height NOT BETWEEN 240 AND 4000 THEN
        RAISE EXCEPTION 'chart height must be 240 to 4000 pixels, not %', coalesce(height::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_points IS NULL OR max_points NOT BETWEEN 10 AND 2000 THEN
        RAISE EXCEPTION 'max_points must be 10 to 2000, not %', coalesce(max_points::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each series is drawn with at most max_points points: the worst lag of each of max_points equal time buckets.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_check(timestamptz, timestamptz, integer, integer, integer) IS
'Internal: refuses (22023) the arguments of dr_lag_chart() it cannot draw: a missing, infinite, empty or over-long range, a size or a max_points out of bounds.';

-- The samples a chart of [from_time, to_time] draws.  Without a SET
-- clause, so that the planner inlines it into each query (the range scan on
-- dr_lag_samples_sampled_at then filters by standby; with a SET it would
-- materialize the whole range for every standby drawn).  Only its owner
-- calls it, from functions that pin search_path, and it names its table
-- with the extension's schema.
CREATE FUNCTION dr_lag_chart_samples(from_time timestamptz, to_time timestamptz)
RETURNS SETOF @extschema@.dr_lag_samples
LANGUAGE sql STABLE
AS $fn$
    SELECT * FROM @extschema@.dr_lag_samples s
     WHERE s.sampled_at >= from_time AND s.sampled_at <= to_time
$fn$;
COMMENT ON FUNCTION dr_lag_chart_samples(timestamptz, timestamptz) IS
'Internal: the lag samples a chart of the range draws (both ends included).';

-- The top of the lag axis (the worst lag of the range, or the RPO max and
-- some room above it, at least 1 s) rounded up to a whole step, and the
-- step: the smallest of the usual durations that makes at most 6 steps.
CREATE FUNCTION dr_lag_chart_y_scale(from_time timestamptz, to_time timestamptz, maximum numeric,
                                     OUT ymax numeric, OUT ystep numeric)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    ystep_choices constant numeric[] := ARRAY[0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300,
        600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000,
        1728000, 4320000, 8640000, 17280000, 43200000, 86400000];
BEGIN
    SELECT max(greatest(extract(epoch FROM s.rpo_lag), extract(epoch FROM s.replay_lag))) INTO ymax
      FROM @extschema@.dr_lag_chart_samples(from_time, to_time) s;
    ymax := greatest(coalesce(ymax, 0), coalesce(maximum * 1.15, 0), 1);
    ystep := (SELECT min(c) FROM unnest(ystep_choices) c WHERE ymax / c <= 6);
    ystep := coalesce(ystep, ystep_choices[array_length(ystep_choices, 1)]);
    ymax := ceil(ymax / ystep) * ystep;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_y_scale(timestamptz, timestamptz, numeric) IS
'Internal: the top of a lag chart''s lag axis and its step, in seconds, from the worst lag of the range and the RPO max.';

-- The lag axis: a grid line and a label per step.
CREATE FUNCTION dr_lag_chart_y_axis(f @extschema@.dr_lag_chart_frame, ystep numeric, grid_color text,
                                    OUT grid text, OUT axes text)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    y numeric;
BEGIN
    grid := '';
    axes := '';
    FOR i IN 0 .. floor(f.ymax / ystep)::integer LOOP
        y := round(f.py + f.ph * (1 - i * ystep / f.ymax), 1);
        grid := grid || format(E'<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>\n',
                               f.px, y, f.px + f.pw, y, grid_color);
        axes := axes || format(E'<text x="%s" y="%s" text-anchor="end" class="y-tick">%s</text>\n',
                               f.px - 6, y + 4, @extschema@.dr_svg_seconds(i * ystep));
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_y_axis(dr_lag_chart_frame, numeric, text) IS
'Internal: the grid lines and tick labels of a lag chart''s lag axis.';

-- The time axis: the smallest step whose labels fit, aligned on UTC
-- multiples; a grid line, a tick and a label per step.
CREATE FUNCTION dr_lag_chart_x_axis(f @extschema@.dr_lag_chart_frame, grid_color text,
                                    OUT grid text, OUT axes text)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    xstep_choices constant numeric[] := ARRAY[1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
        1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000,
        7776000, 15552000];
    fmt text := CASE WHEN f.span <= 600 THEN 'HH24:MI:SS' ELSE 'HH24:MI' END;
    label_chars integer;
    xstep numeric;
    first_tick numeric;
    x numeric;
BEGIN
    grid := '';
    axes := '';
    IF to_char(f.from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') <> to_char(f.to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') THEN
        fmt := 'MM-DD ' || fmt;
    END IF;
    label_chars := length(fmt) + 1;
    xstep := (SELECT min(s) FROM unnest(xstep_choices) s
               WHERE floor(f.span / s) + 1 <= greatest(2, f.pw / (label_chars * 7 + 16))
                 AND (s >= 60 OR fmt LIKE '%SS'));
    xstep := coalesce(xstep, xstep_choices[array_length(xstep_choices, 1)]);
    IF xstep >= 86400 THEN
        fmt := 'YYYY-MM-DD';
    END IF;
    first_tick := ceil(f.t0 / xstep) * xstep;
    FOR i IN 0 .. floor((f.t1 - first_tick) / xstep)::integer LOOP
        x := round(f.px + f.pw * (first_tick + i * xstep - f.t0) / f.span, 1);
        grid := grid || format(E'<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>\n',
                               x, f.py, x, f.py + f.ph, grid_color);
        axes := axes || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>',
                               x, f.py + f.ph, x, f.py + f.ph + 5)
                     || format(E'<text x="%s" y="%s" text-anchor="middle" class="x-tick">%s</text>\n',
                               x, f.py + f.ph + 18,
                               to_char(to_timestamp(first_tick + i * xstep) AT TIME ZONE 'UTC', fmt));
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_x_axis(dr_lag_chart_frame, text) IS
'Internal: the grid lines, ticks and labels of a lag chart''s time axis (UTC).';

-- The incidents of the range, the first max_incidents of them drawn: a band
-- from declaration to resolution (or now) and a label; n_incidents counts
-- them all.
CREATE FUNCTION dr_lag_chart_incidents(f @extschema@.dr_lag_chart_frame, max_incidents integer, band_color text,
                                       OUT bands text, OUT labels text, OUT n_incidents integer)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    inc record;
    x numeric;
    x1 numeric;
    k integer := 0;
BEGIN
    bands := '';
    labels := '';
    n_incidents := 0;
    FOR inc IN
        SELECT i.id, i.level, i.summary, i.declared_at, i.resolved_at, count(*) OVER () AS n
          FROM @extschema@.dr_incidents i
         WHERE i.declared_at <= f.to_time AND coalesce(i.resolved_at, now()) >= f.from_time
         ORDER BY i.declared_at, i.id LIMIT max_incidents
    LOOP
        n_incidents := inc.n;
        x := round(f.px + f.pw * greatest(extract(epoch FROM inc.declared_at) - f.t0, 0) / f.span, 1);
        x1 := round(f.px + f.pw * least(extract(epoch FROM coalesce(inc.resolved_at, now())) - f.t0, f.span) / f.span, 1);
        x1 := greatest(x1, x + 2);
        bands := bands || format(E'<rect class="incident" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>\n',
            x, f.py, x1 - x, f.ph, band_color,
            @extschema@.dr_svg_text(format('Incident %s (level %s): %s. Declared %s UTC, %s', inc.id, inc.level,
                left(inc.summary, 300),
                to_char(inc.declared_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                coalesce('resolved ' || to_char(inc.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC.',
                         'still open.')), 400));
        labels := labels || format(E'<text class="incident-label" x="%s" y="%s" fill="#9b1c1c">%s</text>\n',
            x + 3, f.py + 13 + 13 * (k % 3),
            @extschema@.dr_svg_text(format('#%s L%s %s', inc.id, inc.level, inc.summary), 60));
        k := k + 1;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_incidents(dr_lag_chart_frame, integer, text) IS
'Internal: the incident bands and labels of a lag chart (at most max_incidents), and how many incidents the range holds.';

-- A horizontal objective line (the RPO target or max) at secs seconds, on
-- whole pixels (2 px wide) so that it is crisp; nothing when secs is
-- unknown or above the axis.
CREATE FUNCTION dr_lag_chart_objective_line(f @extschema@.dr_lag_chart_frame, class text, secs numeric, color text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN secs <= (f).ymax
                THEN format(E'<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" shape-rendering="crispEdges"/>\n',
                            class, (f).px, round((f).py + (f).ph * (1 - secs / (f).ymax)),
                            (f).px + (f).pw, round((f).py + (f).ph * (1 - secs / (f).ymax)), color)
                ELSE '' END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_objective_line(dr_lag_chart_frame, text, numeric, text) IS
'Internal: a lag chart''s line for an RPO objective (class rpo-target or rpo-max), or nothing when it is unknown or off the axis.';

-- A legend entry: a 20 px line (dashed or not) and its label (SVG text).
CREATE FUNCTION dr_lag_chart_legend_entry(lx integer, ly integer, color text, dashed boolean, label text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>',
                  lx, ly, lx + 20, ly, color, CASE WHEN dashed THEN ' stroke-dasharray="6 3"' ELSE '' END)
        || format(E'<text x="%s" y="%s">%s</text>\n', lx + 26, ly + 4, label)
$fn$;
COMMENT ON FUNCTION dr_lag_chart_legend_entry(integer, integer, text, boolean, text) IS
'Internal: one entry of a lag chart''s legend, a line (dashed or solid) and its label.';

-- The end of the legend from (lx, ly): the incident swatch, then grey
-- notes on where the RPO lines come from and on what was not drawn.
CREATE FUNCTION dr_lag_chart_legend_notes(lx integer, ly integer, row_h integer, band_color text,
                                          rpo_known boolean, more_standbys integer, more_incidents integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    note constant text := E'<text x="%s" y="%s" fill="#555555" font-size="10">%s</text>\n';
    legend text;
BEGIN
    legend := format('<rect x="%s" y="%s" width="20" height="10" fill="%s"/>', lx, ly - 5, band_color)
           || format(E'<text x="%s" y="%s">incident</text>\n', lx + 26, ly + 4);
    ly := ly + row_h + 4;
    legend := legend || format(note, lx, ly, CASE WHEN rpo_known THEN 'RPO lines: settings in force now'
                                                  ELSE 'RPO settings unknown' END);
    ly := ly + row_h;
    IF more_standbys > 0 THEN
        legend := legend || format(note, lx, ly, more_standbys || ' more standbys not drawn');
        ly := ly + row_h;
    END IF;
    IF more_incidents > 0 THEN
        legend := legend || format(note, lx, ly, more_incidents || ' more incidents not drawn');
    END IF;
    RETURN legend;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_legend_notes(integer, integer, integer, text, boolean, integer, integer) IS
'Internal: the end of a lag chart''s legend: the incident swatch and notes on the RPO lines and on the standbys and incidents not drawn.';

-- The rpo_lag and replay_lag paths of one standby (as seen from one
-- primary): the worst lag of each time bucket, a new subpath (M) where
-- samples are missing for longer than gap seconds.  replay_lag first, so
-- that rpo_lag is drawn on top.
CREATE FUNCTION dr_lag_chart_paths(f @extschema@.dr_lag_chart_frame, node text, standby text, addr inet,
                                   bucket numeric, gap numeric)
RETURNS TABLE (metric text, d text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH b AS (
        SELECT avg(extract(epoch FROM s.sampled_at)) AS t,
               max(extract(epoch FROM s.rpo_lag)) AS rpo,
               max(extract(epoch FROM s.replay_lag)) AS replay
          FROM @extschema@.dr_lag_chart_samples((f).from_time, (f).to_time) s
         WHERE s.node_name IS NOT DISTINCT FROM node
           AND s.standby_name IS NOT DISTINCT FROM standby
           AND s.client_addr IS NOT DISTINCT FROM addr
         GROUP BY floor((extract(epoch FROM s.sampled_at) - (f).t0) / bucket)
    ), pts AS (
        SELECT m.metric, b.t, m.v,
               coalesce(b.t - lag(b.t) OVER (PARTITION BY m.metric ORDER BY b.t) > gap, true) AS starts
          FROM b, LATERAL (VALUES ('rpo_lag', b.rpo), ('replay_lag', b.replay)) m(metric, v)
         WHERE m.v IS NOT NULL
    )
    SELECT p.metric,
           string_agg(CASE WHEN p.starts THEN 'M' ELSE 'L' END
                      || round((f).px + (f).pw * (p.t - (f).t0) / (f).span, 1) || ','
                      || round((f).py + (f).ph * (1 - p.v / (f).ymax), 1)
                      || CASE WHEN p.starts THEN 'h0' ELSE '' END, '' ORDER BY p.t)
      FROM pts p GROUP BY p.metric ORDER BY p.metric
$fn$;
COMMENT ON FUNCTION dr_lag_chart_paths(dr_lag_chart_frame, text, text, inet, numeric, numeric) IS
'Internal: the SVG path data of one standby''s replay_lag and rpo_lag on a lag chart, the worst lag of each time bucket, broken where samples are missing.';

-- The series: the first n_drawn standbys (by name), each a solid rpo_lag
-- and a dashed replay_lag path in its own colours, and their legend
-- entries from (lx, ly) down (ly returns below them).  A standby name seen
-- from two places is told apart by address or node.  No standby: a note
-- across the plot.
CREATE FUNCTION dr_lag_chart_series(f @extschema@.dr_lag_chart_frame, n_drawn integer, bucket numeric, gap numeric,
                                    rpo_colors text[], replay_colors text[], row_h integer, lx integer,
                                    INOUT ly integer, OUT plot text, OUT legend text)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keys record;
    r record;
    name text;
    k integer := 0;
BEGIN
    plot := '';
    legend := '';
    FOR keys IN
        SELECT s.node_name, s.standby_name, s.client_addr,
               count(*) OVER (PARTITION BY s.standby_name) AS same_name
          FROM @extschema@.dr_lag_chart_samples(f.from_time, f.to_time) s
         GROUP BY s.node_name, s.standby_name, s.client_addr
         ORDER BY s.standby_name NULLS LAST, s.node_name NULLS LAST, s.client_addr NULLS LAST
         LIMIT n_drawn
    LOOP
        k := k + 1;
        name := coalesce(nullif(keys.standby_name, ''), '?');
        IF keys.same_name > 1 THEN
            name := name || ' ' || coalesce(host(keys.client_addr), keys.node_name, '');
        END IF;
        FOR r IN SELECT * FROM @extschema@.dr_lag_chart_paths(f, keys.node_name, keys.standby_name,
                                                              keys.client_addr, bucket, gap) LOOP
            plot := plot || format(E'<path class="series %s" data-standby="%s" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"%s/>\n',
                replace(r.metric, '_', '-'), @extschema@.dr_svg_text(name, 64), r.d,
                CASE r.metric WHEN 'rpo_lag' THEN rpo_colors[k] ELSE replay_colors[k] END,
                CASE r.metric WHEN 'rpo_lag' THEN '' ELSE ' stroke-dasharray="6 3"' END);
        END LOOP;
        legend := legend
            || @extschema@.dr_lag_chart_legend_entry(lx, ly, rpo_colors[k], false,
                                                     @extschema@.dr_svg_text(name, 16) || ' rpo_lag')
            || @extschema@.dr_lag_chart_legend_entry(lx, ly + row_h, replay_colors[k], true,
                                                     @extschema@.dr_svg_text(name, 16) || ' replay_lag');
        ly := ly + 2 * row_h;
    END LOOP;
    IF k = 0 THEN
        plot := format(E'<text class="no-data" x="%s" y="%s" text-anchor="middle" font-size="14">No lag samples in this range</text>\n',
                       f.px + f.pw / 2, f.py + f.ph / 2)
             || format(E'<text x="%s" y="%s" text-anchor="middle" fill="#555555">dr_lag_history is written by the primary''s worker every tensafe_dr.history_interval</text>\n',
                       f.px + f.pw / 2, f.py + f.ph / 2 + 18);
    END IF;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart_series(dr_lag_chart_frame, integer, numeric, numeric, text[], text[], integer, integer, integer) IS
'Internal: the rpo_lag and replay_lag paths of the first n_drawn standbys of a lag chart and their legend entries, or a no-data note.';

-- The document: the parts in drawing order (incident bands, grid, lines and
-- series, frame, incident labels, axes, legend), each layer of the plot
-- clipped to the plot area.
CREATE FUNCTION dr_lag_chart_svg(f @extschema@.dr_lag_chart_frame, width integer, height integer, description text,
                                 bands text, grid text, plot text, labels text, axes text, legend text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format(E'<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%s" height="%s" viewBox="0 0 %s %s" '
        'font-family="DejaVu Sans, Verdana, Arial, sans-serif" font-size="11" fill="#222222">\n'
        '<title>Replication lag, %s</title>\n'
        '<desc>%s</desc>\n'
        '<defs><clipPath id="plot-clip"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath></defs>\n'
        '<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>\n'
        '<text class="title" x="%s" y="22" font-size="14" font-weight="bold">Replication lag, %s</text>\n'
        '<rect id="plot-area" x="%s" y="%s" width="%s" height="%s" fill="#ffffff" data-from-epoch="%s" data-to-epoch="%s" data-y-max-seconds="%s"/>\n'
        '%s'
        '<g clip-path="url(#plot-clip)">\n%s</g>\n'
        '<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#333333"/>\n'
        '<g clip-path="url(#plot-clip)">\n%s</g>\n'
        '<g clip-path="url(#plot-clip)" font-size="10">\n%s</g>\n'
        '%s'
        '<text x="%s" y="%s" text-anchor="middle">time (UTC)</text>\n'
        '<text x="14" y="%s" text-anchor="middle" transform="rotate(-90 14 %s)">lag</text>\n'
        '<g class="legend">\n%s</g>\n'
        '</svg>\n',
        width, height, width, height,
        r.range_text,
        description,
        (f).px, (f).py - 3, (f).pw, (f).ph + 6,
        width, height,
        (f).px, r.range_text,
        (f).px, (f).py, (f).pw, (f).ph, (f).t0, (f).t1, (f).ymax,
        bands,
        grid,
        (f).px, (f).py, (f).pw, (f).ph,
        plot,
        labels,
        axes,
        (f).px + (f).pw / 2, height - 8,
        (f).py + (f).ph / 2, (f).py + (f).ph / 2,
        legend)
      FROM (SELECT to_char((f).from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' to '
                   || to_char((f).to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS range_text) r
$fn$;
COMMENT ON FUNCTION dr_lag_chart_svg(dr_lag_chart_frame, integer, integer, text, text, text, text, text, text, text) IS
'Internal: a lag chart''s SVG document (title, description, plot area, clipped layers, axes titles, legend) around its drawn parts.';

CREATE OR REPLACE FUNCTION dr_lag_chart(from_time timestamptz, to_time timestamptz,
                                        width integer DEFAULT 960, height integer DEFAULT 480,
                                        max_points integer DEFAULT 300)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- layout: margins around the plot area, legend column on its right
    left_m constant integer := 64;
    top_m constant integer := 36;
    bottom_m constant integer := 44;
    legend_w constant integer := 200;
    row_h constant integer := 16;
    max_standbys constant integer := 8;
    max_incidents constant integer := 20;
    rpo_colors constant text[] := ARRAY['#1f77b4', '#2ca02c', '#9467bd', '#8c564b',
                                        '#17becf', '#7f7f7f', '#bcbd22', '#e377c2'];
    replay_colors constant text[] := ARRAY['#6baed6', '#98df8a', '#c5b0d5', '#c49c94',
                                           '#9edae5', '#c7c7c7', '#dbdb8d', '#f7b6d2'];
    target_color constant text := '#e69f00';
    max_color constant text := '#d62728';
    band_color constant text := '#fde2e2';
    grid_color constant text := '#e5e5e5';
    f @extschema@.dr_lag_chart_frame;
    bucket numeric; gap numeric; target numeric; maximum numeric;
    n_keys integer; n_drawn integer; n_samples bigint;
    ys record; xa record; ya record; inc record; ser record;
    legend text := '';
    ly integer;
BEGIN
    PERFORM @extschema@.dr_lag_chart_check(from_time, to_time, width, height, max_points);
    f := ROW(from_time, to_time, left_m, top_m, width - left_m - legend_w - 16, height - top_m - bottom_m,
             extract(epoch FROM from_time), extract(epoch FROM to_time),
             extract(epoch FROM to_time) - extract(epoch FROM from_time), NULL);
    bucket := f.span / max_points;
    -- NULL when the library is not loaded: then no objective lines
    target := extract(epoch FROM @extschema@.dr_objective('rpo_target'));
    maximum := extract(epoch FROM @extschema@.dr_objective('rpo_max'));
    -- a line breaks where samples are missing for longer than this
    gap := greatest(2.5 * coalesce(extract(epoch FROM @extschema@.dr_objective('history_interval')), 60), 2.5 * bucket);

    -- The series: one standby (as seen from one primary) each; as many as
    -- the legend column has room for, at most max_standbys.
    SELECT count(*), coalesce(sum(n), 0) INTO n_keys, n_samples FROM (
        SELECT count(*) AS n FROM @extschema@.dr_lag_chart_samples(from_time, to_time) s
         GROUP BY s.node_name, s.standby_name, s.client_addr) s;
    n_drawn := least(n_keys, max_standbys, greatest(1, (f.ph / row_h - 5) / 2));

    ys := @extschema@.dr_lag_chart_y_scale(from_time, to_time, maximum);
    f.ymax := ys.ymax;
    ya := @extschema@.dr_lag_chart_y_axis(f, ys.ystep, grid_color);
    xa := @extschema@.dr_lag_chart_x_axis(f, grid_color);
    inc := @extschema@.dr_lag_chart_incidents(f, max_incidents, band_color);
    ser := @extschema@.dr_lag_chart_series(f, n_drawn, bucket, gap, rpo_colors, replay_colors,
                                           row_h, f.px + f.pw + 16, f.py + 6);

    -- The legend: the series, the objectives, then the notes
    legend := ser.legend;
    ly := ser.ly;
    IF target IS NOT NULL THEN
        legend := legend || @extschema@.dr_lag_chart_legend_entry(f.px + f.pw + 16, ly, target_color, false,
                                                                  'RPO target ' || @extschema@.dr_svg_seconds(target));
        ly := ly + row_h;
    END IF;
    IF maximum IS NOT NULL THEN
        legend := legend || @extschema@.dr_lag_chart_legend_entry(f.px + f.pw + 16, ly, max_color, false,
                                                                  'RPO max ' || @extschema@.dr_svg_seconds(maximum));
        ly := ly + row_h;
    END IF;
    legend := legend || @extschema@.dr_lag_chart_legend_notes(f.px + f.pw + 16, ly, row_h, band_color,
        target IS NOT NULL OR maximum IS NOT NULL, n_keys - n_drawn, inc.n_incidents - max_incidents);

    RETURN @extschema@.dr_lag_chart_svg(f, width, height,
        format('rpo_lag and replay_lag from dr_lag_history: %s samples of %s standbys (%s drawn, at most %s points per series, the worst lag of each time bucket); %s incidents; RPO target %s and max %s as set now.',
               n_samples, n_keys, n_drawn, max_points, inc.n_incidents,
               coalesce(@extschema@.dr_svg_seconds(target), 'unknown'), coalesce(@extschema@.dr_svg_seconds(maximum), 'unknown')),
        inc.bands, ya.grid || xa.grid,
        @extschema@.dr_lag_chart_objective_line(f, 'rpo-target', target, target_color)
            || @extschema@.dr_lag_chart_objective_line(f, 'rpo-max', maximum, max_color) || ser.plot,
        inc.labels, ya.axes || xa.axes, legend);
END
$fn$;

REVOKE ALL ON FUNCTION dr_lag_chart_check(timestamptz, timestamptz, integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_samples(timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_y_scale(timestamptz, timestamptz, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_y_axis(dr_lag_chart_frame, numeric, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_x_axis(dr_lag_chart_frame, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_incidents(dr_lag_chart_frame, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_objective_line(dr_lag_chart_frame, text, numeric, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_legend_entry(integer, integer, text, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_legend_notes(integer, integer, integer, text, boolean, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_paths(dr_lag_chart_frame, text, text, inet, numeric, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_series(dr_lag_chart_frame, integer, numeric, numeric, text[], text[], integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart_svg(dr_lag_chart_frame, integer, integer, text, text, text, text, text, text, text) FROM PUBLIC;
