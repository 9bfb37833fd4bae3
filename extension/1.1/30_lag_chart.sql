
-------------------------------------------------------------------------------
-- Lag chart (1.1): dr_lag_chart() draws dr_lag_history -- rpo_lag and
-- replay_lag per standby over time -- as one self-contained SVG document,
-- with the RPO target and maximum and the incidents of the range; and
-- dr_postmortem(incident, include_chart) embeds it in the post-mortem.
--
-- Presentation only, in plpgsql: every figure comes from dr_lag_samples,
-- dr_incidents and the tensafe_dr.* settings; every text taken from the data
-- (incident summaries, standby and node names) goes through dr_svg_text(),
-- which escapes it and keeps the document pure ASCII.  Output is bounded:
-- at most max_points points per series (the worst lag of each time bucket),
-- at most 8 standbys, at most 20 incidents, labels truncated.
-------------------------------------------------------------------------------

-- Internal: s as SVG character data or attribute value.  & < > " ' become
-- entities (so markup, CDATA ends and quotes in the data stay text), control
-- characters XML forbids become '?', tabs and newlines spaces, non-ASCII
-- characters numeric references; truncated to max_chars characters ('...').
CREATE FUNCTION dr_svg_text(s text, max_chars integer DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    src text := coalesce(s, '');
    res text;
    c text;
    code integer;
    utf8 boolean := current_setting('server_encoding') = 'UTF8';
BEGIN
    IF max_chars IS NOT NULL AND length(src) > max_chars THEN
        src := left(src, greatest(max_chars - 3, 1)) || '...';
    END IF;
    res := replace(src, '&', '&amp;');
    res := replace(res, '<', '&lt;');
    res := replace(res, '>', '&gt;');
    res := replace(res, '"', '&quot;');
    res := replace(res, '''', '&apos;');
    res := translate(res, E'\t\n\r', '   ');
    res := regexp_replace(res, '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]', '?', 'g');
    IF res ~ '[^\x01-\x7e]' THEN
        src := res;
        res := '';
        FOREACH c IN ARRAY regexp_split_to_array(src, '') LOOP
            code := ascii(c);
            IF code < 127 THEN
                res := res || c;
            ELSIF utf8 AND code NOT IN (65534, 65535) THEN
                res := res || '&#' || code || ';';
            ELSE
                res := res || '?';
            END IF;
        END LOOP;
    END IF;
    RETURN res;
END
$fn$;
COMMENT ON FUNCTION dr_svg_text(text, integer) IS
'Internal: text escaped for SVG (entities for & < > " '', numeric references for non-ASCII, forbidden control characters replaced), truncated to max_chars.';

-- Internal: a number of seconds as a short label: 0.5s, 45s, 5m, 1h30m, 2d.
CREATE FUNCTION dr_svg_seconds(secs numeric)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s bigint;
    res text := '';
BEGIN
    IF secs IS NULL THEN
        RETURN NULL;
    END IF;
    IF secs < 60 THEN
        RETURN trim_scale(round(secs, 1))::text || 's';
    END IF;
    s := round(secs);
    IF s >= 86400 THEN res := res || (s / 86400) || 'd'; END IF;
    IF s % 86400 >= 3600 THEN res := res || (s % 86400 / 3600) || 'h'; END IF;
    IF s % 3600 >= 60 THEN res := res || (s % 3600 / 60) || 'm'; END IF;
    IF s % 60 > 0 THEN res := res || (s % 60) || 's'; END IF;
    RETURN res;
END
$fn$;
COMMENT ON FUNCTION dr_svg_seconds(numeric) IS
'Internal: seconds as a short duration label for charts (45s, 5m, 1h30m).';

CREATE FUNCTION dr_lag_chart(from_time timestamptz, to_time timestamptz,
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
    ystep_choices constant numeric[] := ARRAY[0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300,
        600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000,
        1728000, 4320000, 8640000, 17280000, 43200000, 86400000];
    xstep_choices constant numeric[] := ARRAY[1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
        1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000,
        7776000, 15552000];
    px integer; py integer; pw integer; ph integer;
    t0 numeric; t1 numeric; span numeric;
    bucket numeric; gap numeric; hist_s numeric;
    target numeric; maximum numeric;
    ymax numeric; ystep numeric; xstep numeric;
    fmt text; label_chars integer;
    keys record; r record; inc record;
    n_keys integer; n_drawn integer; n_samples bigint; n_incidents integer;
    shown_names text[] := '{}';
    name text;
    k integer := 0;
    x numeric; y numeric; x1 numeric; first_tick numeric;
    lx integer; ly integer;
    svg text; grid text := ''; axes text := ''; plot text := ''; legend text := ''; bands text := ''; labels text := '';
    range_text text;
BEGIN
    -- Arguments: every refusal is 22023 with what is allowed.
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
    t0 := extract(epoch FROM from_time);
    t1 := extract(epoch FROM to_time);
    span := t1 - t0;
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

    px := left_m;
    py := top_m;
    pw := width - left_m - legend_w - 16;
    ph := height - top_m - bottom_m;
    bucket := span / max_points;
    -- NULL when the library is not loaded: then no objective lines
    target := extract(epoch FROM @extschema@.dr_objective('rpo_target'));
    maximum := extract(epoch FROM @extschema@.dr_objective('rpo_max'));
    hist_s := extract(epoch FROM @extschema@.dr_objective('history_interval'));
    -- a line breaks where samples are missing for longer than this
    gap := greatest(2.5 * coalesce(hist_s, 60), 2.5 * bucket);
    range_text := to_char(from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' to '
        || to_char(to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC';

    -- The series: one standby (as seen from one primary) each; as many as
    -- the legend column has room for, at most max_standbys.
    SELECT count(*), coalesce(sum(n), 0) INTO n_keys, n_samples FROM (
        SELECT count(*) AS n FROM @extschema@.dr_lag_samples
         WHERE sampled_at >= from_time AND sampled_at <= to_time
         GROUP BY node_name, standby_name, client_addr) s;
    n_drawn := least(n_keys, max_standbys, greatest(1, (ph / row_h - 5) / 2));

    SELECT max(greatest(extract(epoch FROM rpo_lag), extract(epoch FROM replay_lag))) INTO ymax
      FROM @extschema@.dr_lag_samples
     WHERE sampled_at >= from_time AND sampled_at <= to_time;
    ymax := greatest(coalesce(ymax, 0), coalesce(maximum * 1.15, 0), 1);
    ystep := (SELECT min(s) FROM unnest(ystep_choices) s WHERE ymax / s <= 6);
    ystep := coalesce(ystep, ystep_choices[array_length(ystep_choices, 1)]);
    ymax := ceil(ymax / ystep) * ystep;

    -- Y grid and labels
    FOR i IN 0 .. floor(ymax / ystep)::integer LOOP
        y := round(py + ph * (1 - i * ystep / ymax), 1);
        grid := grid || format(E'<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>\n',
                               px, y, px + pw, y, grid_color);
        axes := axes || format(E'<text x="%s" y="%s" text-anchor="end" class="y-tick">%s</text>\n',
                               px - 6, y + 4, @extschema@.dr_svg_seconds(i * ystep));
    END LOOP;

    -- X ticks: the smallest step whose labels fit, aligned on UTC multiples
    fmt := CASE WHEN span <= 600 THEN 'HH24:MI:SS' ELSE 'HH24:MI' END;
    IF to_char(from_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') <> to_char(to_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') THEN
        fmt := 'MM-DD ' || fmt;
    END IF;
    label_chars := length(fmt) + 1;
    xstep := (SELECT min(s) FROM unnest(xstep_choices) s
               WHERE floor(span / s) + 1 <= greatest(2, pw / (label_chars * 7 + 16))
                 AND (s >= 60 OR fmt LIKE '%SS'));
    xstep := coalesce(xstep, xstep_choices[array_length(xstep_choices, 1)]);
    IF xstep >= 86400 THEN
        fmt := 'YYYY-MM-DD';
    END IF;
    first_tick := ceil(t0 / xstep) * xstep;
    FOR i IN 0 .. floor((t1 - first_tick) / xstep)::integer LOOP
        x := round(px + pw * (first_tick + i * xstep - t0) / span, 1);
        grid := grid || format(E'<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>\n',
                               x, py, x, py + ph, grid_color);
        axes := axes || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>',
                               x, py + ph, x, py + ph + 5)
                     || format(E'<text x="%s" y="%s" text-anchor="middle" class="x-tick">%s</text>\n',
                               x, py + ph + 18,
                               to_char(to_timestamp(first_tick + i * xstep) AT TIME ZONE 'UTC', fmt));
    END LOOP;

    -- Incidents in the range: a band from declaration to resolution (or now)
    SELECT count(*) INTO n_incidents FROM @extschema@.dr_incidents
     WHERE declared_at <= to_time AND coalesce(resolved_at, now()) >= from_time;
    FOR inc IN
        SELECT id, level, summary, declared_at, resolved_at FROM @extschema@.dr_incidents
         WHERE declared_at <= to_time AND coalesce(resolved_at, now()) >= from_time
         ORDER BY declared_at, id LIMIT max_incidents
    LOOP
        x := round(px + pw * greatest(extract(epoch FROM inc.declared_at) - t0, 0) / span, 1);
        x1 := round(px + pw * least(extract(epoch FROM coalesce(inc.resolved_at, now())) - t0, span) / span, 1);
        x1 := greatest(x1, x + 2);
        bands := bands || format(E'<rect class="incident" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>\n',
            x, py, x1 - x, ph, band_color,
            @extschema@.dr_svg_text(format('Incident %s (level %s): %s. Declared %s UTC, %s', inc.id, inc.level,
                left(inc.summary, 300),
                to_char(inc.declared_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                coalesce('resolved ' || to_char(inc.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC.',
                         'still open.')), 400));
        labels := labels || format(E'<text class="incident-label" x="%s" y="%s" fill="#9b1c1c">%s</text>\n',
            x + 3, py + 13 + 13 * (k % 3),
            @extschema@.dr_svg_text(format('#%s L%s %s', inc.id, inc.level, inc.summary), 60));
        k := k + 1;
    END LOOP;

    -- Objective lines, on whole pixels (2 px wide) so that they are crisp
    IF target IS NOT NULL AND target <= ymax THEN
        y := round(py + ph * (1 - target / ymax));
        plot := plot || format(E'<line class="rpo-target" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" shape-rendering="crispEdges"/>\n',
                               px, y, px + pw, y, target_color);
    END IF;
    IF maximum IS NOT NULL AND maximum <= ymax THEN
        y := round(py + ph * (1 - maximum / ymax));
        plot := plot || format(E'<line class="rpo-max" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" shape-rendering="crispEdges"/>\n',
                               px, y, px + pw, y, max_color);
    END IF;

    -- The series and their legend entries
    lx := px + pw + 16;
    ly := py + 6;
    k := 0;
    FOR keys IN
        SELECT node_name, standby_name, client_addr,
               count(*) OVER (PARTITION BY standby_name) AS same_name
          FROM @extschema@.dr_lag_samples
         WHERE sampled_at >= from_time AND sampled_at <= to_time
         GROUP BY node_name, standby_name, client_addr
         ORDER BY standby_name NULLS LAST, node_name NULLS LAST, client_addr NULLS LAST
         LIMIT n_drawn
    LOOP
        k := k + 1;
        name := coalesce(nullif(keys.standby_name, ''), '?');
        IF keys.same_name > 1 THEN
            name := name || ' ' || coalesce(host(keys.client_addr), keys.node_name, '');
        END IF;
        FOR r IN
            WITH b AS (
                SELECT avg(extract(epoch FROM sampled_at)) AS t,
                       max(extract(epoch FROM rpo_lag)) AS rpo,
                       max(extract(epoch FROM replay_lag)) AS replay
                  FROM @extschema@.dr_lag_samples
                 WHERE sampled_at >= from_time AND sampled_at <= to_time
                   AND node_name IS NOT DISTINCT FROM keys.node_name
                   AND standby_name IS NOT DISTINCT FROM keys.standby_name
                   AND client_addr IS NOT DISTINCT FROM keys.client_addr
                 GROUP BY floor((extract(epoch FROM sampled_at) - t0) / bucket)
            ), pts AS (
                SELECT m.metric, b.t, m.v,
                       coalesce(b.t - lag(b.t) OVER (PARTITION BY m.metric ORDER BY b.t) > gap, true) AS starts
                  FROM b, LATERAL (VALUES ('rpo_lag', b.rpo), ('replay_lag', b.replay)) m(metric, v)
                 WHERE m.v IS NOT NULL
            )
            SELECT metric,
                   string_agg(CASE WHEN starts THEN 'M' ELSE 'L' END
                              || round(px + pw * (t - t0) / span, 1) || ','
                              || round(py + ph * (1 - v / ymax), 1)
                              || CASE WHEN starts THEN 'h0' ELSE '' END, '' ORDER BY t) AS d
              FROM pts GROUP BY metric ORDER BY metric  -- replay_lag first: rpo_lag on top
        LOOP
            plot := plot || format(E'<path class="series %s" data-standby="%s" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"%s/>\n',
                replace(r.metric, '_', '-'), @extschema@.dr_svg_text(name, 64), r.d,
                CASE r.metric WHEN 'rpo_lag' THEN rpo_colors[k] ELSE replay_colors[k] END,
                CASE r.metric WHEN 'rpo_lag' THEN '' ELSE ' stroke-dasharray="6 3"' END);
        END LOOP;
        legend := legend
            || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>',
                      lx, ly, lx + 20, ly, rpo_colors[k])
            || format(E'<text x="%s" y="%s">%s rpo_lag</text>\n', lx + 26, ly + 4, @extschema@.dr_svg_text(name, 16))
            || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2" stroke-dasharray="6 3"/>',
                      lx, ly + row_h, lx + 20, ly + row_h, replay_colors[k])
            || format(E'<text x="%s" y="%s">%s replay_lag</text>\n', lx + 26, ly + row_h + 4, @extschema@.dr_svg_text(name, 16));
        ly := ly + 2 * row_h;
    END LOOP;

    IF n_keys = 0 THEN
        plot := plot || format(E'<text class="no-data" x="%s" y="%s" text-anchor="middle" font-size="14">No lag samples in this range</text>\n',
                               px + pw / 2, py + ph / 2)
                     || format(E'<text x="%s" y="%s" text-anchor="middle" fill="#555555">dr_lag_history is written by the primary''s worker every tensafe_dr.history_interval</text>\n',
                               px + pw / 2, py + ph / 2 + 18);
    END IF;

    IF target IS NOT NULL THEN
        legend := legend
            || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>', lx, ly, lx + 20, ly, target_color)
            || format(E'<text x="%s" y="%s">RPO target %s</text>\n', lx + 26, ly + 4, @extschema@.dr_svg_seconds(target));
        ly := ly + row_h;
    END IF;
    IF maximum IS NOT NULL THEN
        legend := legend
            || format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>', lx, ly, lx + 20, ly, max_color)
            || format(E'<text x="%s" y="%s">RPO max %s</text>\n', lx + 26, ly + 4, @extschema@.dr_svg_seconds(maximum));
        ly := ly + row_h;
    END IF;
    legend := legend
        || format('<rect x="%s" y="%s" width="20" height="10" fill="%s"/>', lx, ly - 5, band_color)
        || format(E'<text x="%s" y="%s">incident</text>\n', lx + 26, ly + 4);
    ly := ly + row_h + 4;
    IF target IS NOT NULL OR maximum IS NOT NULL THEN
        legend := legend || format(E'<text x="%s" y="%s" fill="#555555" font-size="10">RPO lines: settings in force now</text>\n', lx, ly);
        ly := ly + row_h;
    ELSE
        legend := legend || format(E'<text x="%s" y="%s" fill="#555555" font-size="10">RPO settings unknown</text>\n', lx, ly);
        ly := ly + row_h;
    END IF;
    IF n_keys > n_drawn THEN
        legend := legend || format(E'<text x="%s" y="%s" fill="#555555" font-size="10">%s more standbys not drawn</text>\n',
                                   lx, ly, n_keys - n_drawn);
        ly := ly + row_h;
    END IF;
    IF n_incidents > max_incidents THEN
        legend := legend || format(E'<text x="%s" y="%s" fill="#555555" font-size="10">%s more incidents not drawn</text>\n',
                                   lx, ly, n_incidents - max_incidents);
    END IF;

    svg := format(E'<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%s" height="%s" viewBox="0 0 %s %s" '
        'font-family="DejaVu Sans, Verdana, Arial, sans-serif" font-size="11" fill="#222222">\n'
        '<title>Replication lag, %s</title>\n'
        '<desc>rpo_lag and replay_lag from dr_lag_history: %s samples of %s standbys (%s drawn, at most %s points per series, the worst lag of each time bucket); %s incidents; RPO target %s and max %s as set now.</desc>\n'
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
        range_text,
        n_samples, n_keys, n_drawn, max_points, n_incidents,
        coalesce(@extschema@.dr_svg_seconds(target), 'unknown'), coalesce(@extschema@.dr_svg_seconds(maximum), 'unknown'),
        px, py - 3, pw, ph + 6,
        width, height,
        px, range_text,
        px, py, pw, ph, t0, t1, ymax,
        bands,
        grid,
        px, py, pw, ph,
        plot,
        labels,
        axes,
        px + pw / 2, height - 8,
        py + ph / 2, py + ph / 2,
        legend);
    RETURN svg;
END
$fn$;
COMMENT ON FUNCTION dr_lag_chart(timestamptz, timestamptz, integer, integer, integer) IS
'SVG chart of dr_lag_history between from_time and to_time: rpo_lag (solid) and replay_lag (dashed) per standby, the RPO target and max lines (settings in force now), incidents shaded; at most max_points points per series.';

-------------------------------------------------------------------------------
-- dr_postmortem(incident, include_chart): the 1.0 post-mortem, with a
-- "Replication Lag" section embedding dr_lag_chart() over the incident (and
-- half its length, at least a minute, either side) when include_chart.
-- A new overload without defaults, so that dr_postmortem(incident) still
-- resolves to the 1.0 signature (which now delegates here with false and
-- returns the same text as in 1.0) and keeps its grants.
-------------------------------------------------------------------------------
CREATE FUNCTION dr_postmortem(incident bigint, include_chart boolean)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r @extschema@.dr_incidents := @extschema@.dr_require_incident(incident);
    t record;
    doc text;
    dur interval;
    promoted jsonb;
    worst_rpo numeric;
    margin interval;
    chart_from timestamptz;
    chart_to timestamptz;
BEGIN
    IF include_chart IS NULL THEN
        RAISE EXCEPTION 'include_chart must be true or false, not NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    dur := coalesce(r.rto, clock_timestamp() - r.declared_at);
    doc := format(E'# Incident Post-Mortem: %s\n\n', r.summary);
    doc := doc || E'## Summary\n'
        || format(E'Level %s incident declared by %s at %s UTC on %s%s; ',
                  r.level, r.declared_by, to_char(r.declared_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                  coalesce(r.node_name, 'unknown node'),
                  coalesce(' (' || r.region || ')', ''))
        || CASE WHEN r.resolved_at IS NULL THEN E'still open.\n\n'
                ELSE format(E'resolved by %s at %s UTC.\n\n', r.resolved_by,
                            to_char(r.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) END;

    doc := doc || E'## Timeline\n';
    FOR t IN SELECT * FROM @extschema@.dr_incident_timeline(incident) LOOP
        doc := doc || format(E'- %s UTC (+%s) - %s%s%s\n',
            to_char(t.occurred_at AT TIME ZONE 'UTC', 'HH24:MI:SS'),
            to_char(t.since_declared, 'HH24:MI:SS'),
            t.event_type,
            CASE WHEN t.node_name IS NOT NULL THEN ' on ' || t.node_name ELSE '' END,
            CASE WHEN NOT t.successful THEN ' (failed)' ELSE '' END);
    END LOOP;

    SELECT e.details INTO promoted FROM @extschema@.dr_events e
     WHERE e.event_type = 'PROMOTED' AND e.occurred_at BETWEEN r.declared_at AND coalesce(r.resolved_at, 'infinity')
     ORDER BY e.occurred_at LIMIT 1;
    SELECT max((e.details->>'rpo_lag_s')::numeric) INTO worst_rpo FROM @extschema@.dr_events e
     WHERE e.event_type IN ('RPO_WARNING', 'RPO_BREACH')
       AND e.occurred_at BETWEEN r.declared_at AND coalesce(r.resolved_at, 'infinity');

    doc := doc || E'\n## Root Cause\n[Description of root cause]\n\n## Impact\n'
        || format(E'- Duration: %s hours %s minutes (%s)\n',
                  floor(extract(epoch FROM dur) / 3600)::int,
                  floor(mod(extract(epoch FROM dur)::numeric, 3600) / 60)::int,
                  CASE r.rto_state WHEN 'met' THEN 'RTO target met'
                                   WHEN 'target_missed' THEN 'RTO target missed, within RTO max'
                                   WHEN 'breach' THEN 'RTO max breached'
                                   ELSE 'still open' END)
        || CASE WHEN promoted IS NOT NULL
                THEN format(E'- Exposure at promotion: %s s of rpo_lag, %s s of replay_lag (gate %s s)%s\n',
                            coalesce(promoted->>'rpo_lag_s', '?'), coalesce(promoted->>'replay_lag_s', '?'), coalesce(promoted->>'gate_s', '?'),
                            CASE WHEN (promoted->>'forced')::boolean THEN ', promotion forced' ELSE '' END)
                ELSE '' END
        || CASE WHEN worst_rpo IS NOT NULL
                THEN format(E'- Worst RPO exposure recorded: %s s\n', worst_rpo) ELSE '' END
        || E'- Users affected: N\n- Revenue impact: $X\n\n';

    IF include_chart THEN
        -- the incident, and half its length (at least a minute) either side,
        -- never past now and never longer than the chart allows
        chart_to := coalesce(r.resolved_at, now());
        margin := greatest((chart_to - r.declared_at) / 2, interval '1 minute');
        chart_from := r.declared_at - margin;
        chart_to := least(chart_to + margin, greatest(now(), r.declared_at + interval '1 second'));
        chart_from := greatest(chart_from, chart_to - interval '366 days');
        doc := doc || E'## Replication Lag\n'
            || format(E'![rpo_lag and replay_lag from %s to %s UTC](data:image/svg+xml;base64,%s)\n\n',
                      to_char(chart_from AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                      to_char(chart_to AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                      translate(encode(convert_to(@extschema@.dr_lag_chart(chart_from, chart_to), 'UTF8'), 'base64'), E'\n', ''))
            || format(E'Sampled lag per standby from dr_lag_history (`SELECT dr_lag_chart(%L, %L)`); '
                      'the RPO target and max lines are the settings in force when this was written.\n\n',
                      chart_from, chart_to);
    END IF;

    doc := doc
        || E'## Resolution\n' || coalesce(r.resolution, '[How the incident was resolved]') || E'\n\n'
        || E'## Action Items\n- [ ] [Action item 1] - Owner: @person - Due: YYYY-MM-DD\n\n'
        || E'## Lessons Learned\n[Key takeaways]\n';
    RETURN doc;
END
$fn$;
COMMENT ON FUNCTION dr_postmortem(bigint, boolean) IS
'Markdown post-mortem (runbook 8.2) as dr_postmortem(incident); with include_chart, a Replication Lag section embeds dr_lag_chart() over the incident as an SVG data URI.';

CREATE OR REPLACE FUNCTION dr_postmortem(incident bigint)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT @extschema@.dr_postmortem(incident, false)
$fn$;

REVOKE ALL ON FUNCTION dr_svg_text(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_svg_seconds(numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_lag_chart(timestamptz, timestamptz, integer, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_postmortem(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dr_lag_chart(timestamptz, timestamptz, integer, integer, integer) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_postmortem(bigint, boolean) TO dr_monitor;
