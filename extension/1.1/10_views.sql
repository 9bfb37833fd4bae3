
-------------------------------------------------------------------------------
-- Dashboard views (1.1).  One view per thing the extension keeps, each with
-- stable, documented columns (README "Dashboard views"), all readable by
-- dr_monitor; none shows a webhook secret or credentials held in a URL.
--
--   dr_node_status          one row: dr_status()
--   dr_incident_status      incidents with their state and RTO judgement
--   dr_backup_status        the backup catalog with each backup's verdict
--   dr_drill_history        drills run, with their criteria counts
--   dr_notification_status  delivery state per webhook channel
--
-- Hardening of 1.0 objects, from the privilege and hostile-string audit:
--   dr_mask_url()           credentials and query strings out of URLs, also
--                           for HTTPS:// in capitals and passwords with "@"
--                           (dr_webhook_channels masked neither; it now
--                           shows only scheme://host[:port], since a
--                           webhook path is often itself the token)
--   dr_render()             one pass: a value that contains "{{details}}" is
--                           text, not a placeholder filled by a later key
--   dr_webhook_check()      control characters refused in webhook URLs
--   dr_register_artifact()  URIs carrying credentials refused (dr_artifacts
--                           and the ARTIFACT_REGISTERED event are dr_monitor's)
--   dr_import_pgbackrest()  stanza names and labels checked: they are
--                           written into restore_command (a shell command)
--                           and recovery settings by dr_pitr_plan()
-------------------------------------------------------------------------------

-- A URL fit for monitoring: user information (up to the last "@" of the
-- authority) replaced by ***, the query string by ***.
CREATE FUNCTION dr_mask_url(url text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT regexp_replace(
             regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@', '\1***@'),
             '\?[^#]*', '?***')
$fn$;
COMMENT ON FUNCTION dr_mask_url(text) IS
'A URL with its user information (user:password@) and query string replaced by ***: what monitoring may see of a webhook URL.';

-- scheme://host[:port] of a URL, without user information, path or query.
CREATE FUNCTION dr_url_endpoint(url text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN url ~ '^[A-Za-z][A-Za-z0-9+.-]*://'
                THEN regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://)(?:[^/?#]*@)?([^/?#]*).*$', '\1\2')
                ELSE '***' END
$fn$;
COMMENT ON FUNCTION dr_url_endpoint(text) IS
'scheme://host[:port] of a URL: no credentials, path or query (a webhook path is often itself a token).';

-- Monitoring sees where a channel points, not its path: a Slack, Teams or
-- Discord webhook path is itself the credential.  dr_admin reads dr_webhooks.
CREATE OR REPLACE VIEW dr_webhook_channels AS
    SELECT name, @extschema@.dr_url_endpoint(url) AS url,
           event_types, enabled, created_at, updated_at
      FROM dr_webhooks;

-------------------------------------------------------------------------------
-- dr_node_status: dr_status() as a relation, for tools that only read views.
-------------------------------------------------------------------------------
CREATE VIEW dr_node_status AS
    SELECT * FROM dr_status();
COMMENT ON VIEW dr_node_status IS
'One row: this node''s DR status, the columns of dr_status().';

-------------------------------------------------------------------------------
-- dr_incident_status
-------------------------------------------------------------------------------
CREATE VIEW dr_incident_status AS
    SELECT i.id, i.level, i.summary,
           CASE WHEN i.resolved_at IS NOT NULL THEN 'resolved'
                WHEN i.acknowledged_at IS NOT NULL THEN 'acknowledged'
                ELSE 'open' END AS state,
           i.declared_at, i.declared_by, i.node_name, i.region,
           i.acknowledged_at, i.acknowledged_by,
           i.acknowledged_at - i.declared_at AS response_time,
           i.resolved_at, i.resolved_by, i.resolution,
           coalesce(i.rto, now() - i.declared_at) AS elapsed,
           coalesce(i.rto_target, o.rto_target) AS rto_target,
           coalesce(i.rto_max, o.rto_max) AS rto_max,
           coalesce(i.rto_state,
                    CASE WHEN now() - i.declared_at <= o.rto_target THEN 'within_target'
                         WHEN now() - i.declared_at <= o.rto_max THEN 'target_missed'
                         ELSE 'breach' END) AS rto_state,
           coalesce(ev.events, 0) AS events,
           ev.last_event_at
      FROM dr_incidents i
     CROSS JOIN (SELECT max(make_interval(secs => setting::double precision))
                            FILTER (WHERE name = 'tensafe_dr.rto_target') AS rto_target,
                        max(make_interval(secs => setting::double precision))
                            FILTER (WHERE name = 'tensafe_dr.rto_max') AS rto_max
                   FROM pg_settings
                  WHERE name IN ('tensafe_dr.rto_target', 'tensafe_dr.rto_max')) o
      LEFT JOIN LATERAL (SELECT count(*) AS events, max(e.occurred_at) AS last_event_at
                           FROM dr_event_log e WHERE e.incident_id = i.id) ev ON true;
COMMENT ON VIEW dr_incident_status IS
'Incidents with their state (open / acknowledged / resolved), response time, elapsed time (the RTO once resolved) and RTO judgement: met / target_missed / breach once resolved, within_target / target_missed / breach so far while open.';

-------------------------------------------------------------------------------
-- dr_backup_status
-------------------------------------------------------------------------------
CREATE VIEW dr_backup_status AS
    SELECT b.id, b.source, b.label, b.path, b.system_identifier, b.timeline,
           b.start_lsn, b.stop_lsn, b.start_time, b.stop_time, b.size_bytes,
           now() - coalesce(b.stop_time, b.start_time) AS age,
           b.verified_at, b.verification_ok, b.problems,
           CASE WHEN b.verified_at IS NULL THEN 'unverified'
                WHEN b.verification_ok THEN 'ok'
                ELSE 'problems' END AS verification_state,
           b.id = (SELECT n.id FROM dr_backups n WHERE n.verification_ok
                    ORDER BY coalesce(n.stop_time, n.start_time) DESC NULLS LAST, n.id DESC
                    LIMIT 1) AS newest_verified
      FROM dr_backups b;
COMMENT ON VIEW dr_backup_status IS
'The backup catalog with each backup''s age and latest verification verdict (ok / problems / unverified); newest_verified marks the newest backup verified ok, the one dr_status() judges.';

-------------------------------------------------------------------------------
-- dr_drill_history
-------------------------------------------------------------------------------
CREATE VIEW dr_drill_history AS
    SELECT d.id, d.kind,
           CASE WHEN d.finished_at IS NULL THEN 'running'
                WHEN d.passed THEN 'passed'
                ELSE 'failed' END AS state,
           d.started_at, d.started_by, d.finished_at,
           coalesce(d.finished_at, now()) - d.started_at AS duration,
           d.passed,
           coalesce(c.criteria_passed, 0) AS criteria_passed,
           coalesce(c.criteria_failed, 0) AS criteria_failed,
           coalesce(c.criteria_unjudged, 0) AS criteria_unjudged,
           coalesce(c.failed_criteria, '{}') AS failed_criteria,
           d.notes
      FROM dr_drills d
      LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE (r->>'passed')::boolean) AS criteria_passed,
                   count(*) FILTER (WHERE NOT (r->>'passed')::boolean) AS criteria_failed,
                   count(*) FILTER (WHERE r->>'passed' IS NULL) AS criteria_unjudged,
                   array_agg(r->>'criterion' ORDER BY n)
                       FILTER (WHERE NOT (r->>'passed')::boolean) AS failed_criteria
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.results) = 'array'
                                             THEN d.results ELSE '[]' END)
                   WITH ORDINALITY AS x(r, n)) c ON true;
COMMENT ON VIEW dr_drill_history IS
'Every drill run: state (running / passed / failed), who, when, how long, and how many runbook 6.3 criteria passed, failed or were not judged (the failed ones by name).';

-------------------------------------------------------------------------------
-- dr_notification_status: per channel (configured, or still named by
-- deliveries after its removal).  Shows only scheme://host[:port] of the URL.
-------------------------------------------------------------------------------
CREATE VIEW dr_notification_status AS
    SELECT c.channel,
           w.name IS NOT NULL AS configured,
           @extschema@.dr_url_endpoint(w.url) AS endpoint,
           coalesce(w.enabled, false) AS enabled,
           w.event_types,
           coalesce(o.pending, 0) AS pending,
           coalesce(o.delivered, 0) AS delivered,
           coalesce(o.failed, 0) AS failed,
           o.oldest_pending_at, o.last_delivered_at, o.last_failed_at,
           l.last_error, l.last_http_status, l.last_attempt_status
      FROM (SELECT name AS channel FROM dr_webhooks
            UNION
            SELECT channel FROM dr_outbox) c
      LEFT JOIN dr_webhooks w ON w.name = c.channel
      LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE x.status = 'pending') AS pending,
                   count(*) FILTER (WHERE x.status = 'delivered') AS delivered,
                   count(*) FILTER (WHERE x.status = 'failed') AS failed,
                   min(x.created_at) FILTER (WHERE x.status = 'pending') AS oldest_pending_at,
                   max(x.delivered_at) AS last_delivered_at,
                   max(x.created_at) FILTER (WHERE x.status = 'failed') AS last_failed_at
              FROM dr_outbox x WHERE x.channel = c.channel) o ON true
      LEFT JOIN LATERAL (
            SELECT x.last_error, x.last_http_status, x.status AS last_attempt_status
              FROM dr_outbox x
             WHERE x.channel = c.channel AND x.attempts > 0
             ORDER BY x.id DESC LIMIT 1) l ON true;
COMMENT ON VIEW dr_notification_status IS
'Per webhook channel: endpoint (scheme://host:port only), enabled, deliveries pending / delivered / failed, the oldest pending, the last delivery and failure, and the outcome of the newest attempted delivery.';

-------------------------------------------------------------------------------
-- dr_render: one pass over the template.  1.0 replaced key after key, so a
-- value containing "{{details}}" (an incident summary, say) was filled in
-- by a later key: text became template.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_render(template text, ctx jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT string_agg(p.piece || coalesce(ctx->>(m.k[1]), ''), '' ORDER BY p.n)
      FROM regexp_split_to_table(template, '\{\{[a-z_]+\}\}') WITH ORDINALITY AS p(piece, n)
      LEFT JOIN regexp_matches(template, '\{\{([a-z_]+)\}\}', 'g') WITH ORDINALITY AS m(k, n)
             ON m.n = p.n
$fn$;

-------------------------------------------------------------------------------
-- dr_webhook_check: as 1.0, and no control characters in a URL.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_webhook_check(name text, url text, event_types text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF name IS NULL OR name !~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid channel name: %', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A channel name is 1 to 63 characters: a letter, then letters, digits, "_", "." or "-".';
    END IF;
    IF url IS NOT NULL AND url !~* '^https?://[^\s/?#]+(/[^\s]*)?$' THEN
        RAISE EXCEPTION 'invalid webhook URL: %', quote_literal(@extschema@.dr_mask_url(left(url, 200)))
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Only http:// and https:// URLs with a host are accepted.';
    END IF;
    IF url ~ '[[:cntrl:]]' OR octet_length(url) > 2048 THEN
        RAISE EXCEPTION 'invalid webhook URL: %', quote_literal(@extschema@.dr_mask_url(left(url, 200)))
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A webhook URL has no control characters and is at most 2048 bytes.';
    END IF;
    IF event_types IS NOT NULL AND (cardinality(event_types) = 0 OR EXISTS (
            SELECT 1 FROM unnest(event_types) t WHERE t IS NULL OR t !~ '^[A-Za-z][A-Za-z0-9_.:-]{0,63}$')) THEN
        RAISE EXCEPTION 'invalid event type list'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use NULL for all events, or a non-empty list of event types.';
    END IF;
END
$fn$;

-------------------------------------------------------------------------------
-- dr_register_artifact: as 1.0, and no credentials in a URI (dr_artifacts
-- and the ARTIFACT_REGISTERED event are readable by dr_monitor).
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_register_artifact(path_or_uri text, sha256 text, details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    digest text := lower(btrim(sha256));
    new_id bigint;
BEGIN
    IF path_or_uri IS NULL OR btrim(path_or_uri) = '' THEN
        RAISE EXCEPTION 'artifact path or URI must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF path_or_uri ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@' THEN
        RAISE EXCEPTION 'artifact URI must not carry credentials: %',
                        quote_literal(@extschema@.dr_mask_url(path_or_uri))
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'dr_artifacts and the event log are readable by dr_monitor.',
                  HINT = 'Register the URI without user:password@; keep credentials in the tool that fetches it.';
    END IF;
    IF digest IS NULL OR digest !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'invalid SHA-256: %', coalesce(quote_literal(sha256), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A SHA-256 is 64 hexadecimal digits.',
                  HINT = 'Use the output of sha256sum.';
    END IF;
    IF details IS NULL OR jsonb_typeof(details) <> 'object' THEN
        RAISE EXCEPTION 'artifact details must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO @extschema@.dr_artifacts AS a (path_or_uri, sha256, details, registered_by)
    VALUES (dr_register_artifact.path_or_uri, digest, dr_register_artifact.details,
            @extschema@.dr_caller())
    ON CONFLICT ON CONSTRAINT dr_artifacts_path_or_uri_key DO UPDATE
       SET sha256 = excluded.sha256, details = excluded.details,
           registered_at = now(), registered_by = excluded.registered_by,
           last_verified_at = NULL, last_result = NULL, last_sha256 = NULL
    RETURNING a.id INTO new_id;
    PERFORM @extschema@.dr_log_event('ARTIFACT_REGISTERED',
        jsonb_build_object('artifact_id', new_id, 'path_or_uri', dr_register_artifact.path_or_uri,
                           'sha256', digest),
        NULL, true);
    RETURN new_id;
END
$fn$;

-------------------------------------------------------------------------------
-- dr_import_pgbackrest: as 1.0, and stanza names and labels checked.
-- dr_pitr_plan() writes the stanza into restore_command (run by a shell) and
-- both into the generated settings, so they must be plain words.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION dr_import_pgbackrest(info jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    st jsonb;
    bk jsonb;
    stanza text;
    arch jsonb;
    n integer := 0;
    stanzas integer := 0;
BEGIN
    IF info IS NULL OR jsonb_typeof(info) <> 'array' THEN
        RAISE EXCEPTION 'pgBackRest info must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Got %s.', coalesce(jsonb_typeof(info), 'NULL')),
                  HINT = 'Pass the output of pgbackrest info --output=json.';
    END IF;
    IF NOT @extschema@.dr_can_write() THEN
        RAISE EXCEPTION 'cannot import backups on a read-only node'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Import on the primary; the catalog replicates to the standbys.';
    END IF;
    FOR st IN SELECT * FROM jsonb_array_elements(info) LOOP
        stanza := CASE WHEN jsonb_typeof(st) = 'object' THEN st->>'name' END;
        IF stanza IS NULL THEN
            RAISE EXCEPTION 'pgBackRest info entry without a stanza name'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Every element of the array must be an object with "name", "db", "archive" and "backup".';
        END IF;
        IF stanza !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' THEN
            RAISE EXCEPTION 'invalid pgBackRest stanza name: %', quote_literal(left(stanza, 100))
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A stanza name is 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit: dr_pitr_plan() writes it into restore_command.';
        END IF;
        stanzas := stanzas + 1;
        FOR bk IN SELECT * FROM jsonb_array_elements(coalesce(st->'backup', '[]')) LOOP
            IF bk->>'label' IS NULL OR bk->>'label' !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' THEN
                RAISE EXCEPTION 'invalid pgBackRest backup label in stanza "%": %', stanza,
                                coalesce(quote_literal(left(bk->>'label', 100)), 'NULL')
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'A label is letters, digits, "_", "." or "-" (pgBackRest writes 20240101-120000F or 20240101-120000F_20240101-130000I).';
            END IF;
            BEGIN
                SELECT a INTO arch FROM jsonb_array_elements(coalesce(st->'archive', '[]')) a
                 WHERE a->'database'->>'id' = bk->'database'->>'id' LIMIT 1;
                INSERT INTO @extschema@.dr_backups AS d
                       (source, path, label, system_identifier, timeline, start_lsn, stop_lsn,
                        start_time, stop_time, size_bytes, verified_at, verification_ok, problems, details)
                SELECT 'pgbackrest', stanza, bk->>'label',
                       (SELECT (db->>'system-id')::bigint FROM jsonb_array_elements(coalesce(st->'db', '[]')) db
                         WHERE db->>'id' = bk->'database'->>'id' LIMIT 1),
                       ('x' || substr(bk->'archive'->>'start', 1, 8))::bit(32)::integer,
                       (bk->'lsn'->>'start')::pg_lsn, (bk->'lsn'->>'stop')::pg_lsn,
                       to_timestamp((bk->'timestamp'->>'start')::double precision),
                       to_timestamp((bk->'timestamp'->>'stop')::double precision),
                       (bk->'info'->>'size')::bigint,
                       clock_timestamp(),
                       NOT coalesce((bk->>'error')::boolean, false),
                       CASE WHEN coalesce((bk->>'error')::boolean, false) THEN 1 ELSE 0 END,
                       jsonb_strip_nulls(jsonb_build_object(
                           'stanza', stanza, 'type', bk->>'type', 'prior', bk->>'prior',
                           'archive_start', bk->'archive'->>'start', 'archive_stop', bk->'archive'->>'stop',
                           'archive_min', arch->>'min', 'archive_max', arch->>'max',
                           'repo_size', bk->'info'->'repository'->'size',
                           'pgbackrest_version', bk->'backrest'->>'version',
                           'verified_by', 'pgbackrest info (backup error flag)'))
                ON CONFLICT (source, path, label) DO UPDATE
                   SET system_identifier = EXCLUDED.system_identifier, timeline = EXCLUDED.timeline,
                       start_lsn = EXCLUDED.start_lsn, stop_lsn = EXCLUDED.stop_lsn,
                       start_time = EXCLUDED.start_time, stop_time = EXCLUDED.stop_time,
                       size_bytes = EXCLUDED.size_bytes, verified_at = EXCLUDED.verified_at,
                       verification_ok = EXCLUDED.verification_ok, problems = EXCLUDED.problems,
                       details = d.details || EXCLUDED.details;
            EXCEPTION WHEN data_exception OR not_null_violation OR check_violation THEN
                RAISE EXCEPTION 'malformed pgBackRest backup entry in stanza "%": %', stanza, SQLERRM
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = pg_catalog.format('Entry: %s', left(bk::text, 500));
            END;
            n := n + 1;
        END LOOP;
    END LOOP;
    PERFORM @extschema@.dr_log_event('BACKUPS_IMPORTED',
        jsonb_build_object('source', 'pgbackrest', 'stanzas', stanzas, 'backups', n), NULL, true);
    RETURN n;
END
$fn$;

-------------------------------------------------------------------------------
-- Privileges of the views: dr_monitor reads them all.
-------------------------------------------------------------------------------
REVOKE ALL ON dr_node_status, dr_incident_status, dr_backup_status,
              dr_drill_history, dr_notification_status FROM PUBLIC;
GRANT SELECT ON dr_node_status, dr_incident_status, dr_backup_status,
                dr_drill_history, dr_notification_status TO dr_monitor;
REVOKE ALL ON FUNCTION dr_mask_url(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dr_url_endpoint(text) FROM PUBLIC;
-- called by dr_webhook_channels and dr_notification_status, so by their readers
GRANT EXECUTE ON FUNCTION dr_mask_url(text) TO dr_monitor;
GRANT EXECUTE ON FUNCTION dr_url_endpoint(text) TO dr_monitor;
