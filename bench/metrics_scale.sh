#!/usr/bin/env bash
# bench/metrics_scale.sh — what a dashboard read costs as the event log grows
# (issue 21): every read at 0, 1M and 10M events in dr_event_log, in one run.
#
# Run as root:   bash bench/metrics_scale.sh            (~20 min)
#                QUICK=1 bash bench/metrics_scale.sh    (sizes 0, 100k, 1M; 1 round)
#
# One primary with tensafe_dr preloaded (sample and heartbeat interval 1 s),
# the extension created.  At each size, each read below runs under
# pgbench -n -T $SECONDS_PER_READ (one client), $ROUNDS rounds of all the
# reads in turn; its ms per call is 1000 / calls per second, the best of
# the rounds (the machine is shared: the best round is the one least
# disturbed by others, and what a read costs is what it costs undisturbed;
# the median is printed per size too):
#
#   dr_metrics()                     the Prometheus scrape
#   dr_metrics_rows('<family>')      each family (the exporter's queries,
#                                    monitoring/postgres_exporter_queries.yaml)
#   dr_events newest 20              ORDER BY occurred_at DESC LIMIT 20
#   each dashboard view              dr_node_status, dr_replicas,
#                                    dr_incident_status, dr_backup_status,
#                                    dr_drill_history, dr_drill_schedule,
#                                    dr_notification_status, dr_notifications
#                                    (newest 20), dr_event_totals,
#                                    dr_lag_history (last hour), dr_lag_chart
#                                    (last hour), dr_status()
#
# The history is made by INSERT ... SELECT generate_series straight into
# dr_event_log as the superuser (dr_record_event() would take hours for 10M):
# events one every 3 s back from a day ago, eight types among them RPO_BREACH
# and DR_COMPLETE with an RTO breach, each recorded when it occurred
# (recorded_at = occurred_at: the per-row outbox trigger and the counting
# trigger skip them as they skip restored rows), then their counts added to
# dr_event_counters in one statement, as the trigger would have when they
# were recorded; then VACUUM ANALYZE and CHECKPOINT.
# The table printed at the end gives each read's ms per call at each size
# and the ratio to the empty log; target: at most 2 at 10M.
#
# Environment (defaults in brackets): SIZES ["0 1000000 10000000"],
# SECONDS_PER_READ [1], ROUNDS [3], QUICK [0].  BENCH_SKIP_BUILD=1 skips the package
# check and the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    SIZES=${SIZES:-0 100000 1000000}; ROUNDS=${ROUNDS:-1}
fi
SIZES=${SIZES:-0 1000000 10000000}
SECONDS_PER_READ=${SECONDS_PER_READ:-1}
ROUNDS=${ROUNDS:-3}

bench_init

bench_log "setup: one primary, tensafe_dr preloaded"
bench_node_init primary
bench_node_arm primary tensafe_dr
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
bench_poll primary "SELECT last_sample_at IS NOT NULL FROM dr_status()" t 60

# ---------------------------------------------------------------------------
# The reads: name -> SQL file.
declare -a READS=()
add_read() {
    local name=$1 sql=$2 f
    f="$BENCH_TMP/read_${#READS[@]}.sql"
    printf '%s\n' "$sql" > "$f"
    chown postgres:postgres "$f"
    READS+=("$name|$f")
}
add_read "dr_metrics()" "SELECT dr_metrics();"
while read -r fam; do
    add_read "rows: ${fam#tensafe_dr_}" "SELECT * FROM dr_metrics_rows('$fam');"
done < <(bench_psql primary "SELECT metric FROM dr_metric_families ORDER BY metric")
add_read "dr_events newest 20" "SELECT * FROM dr_events ORDER BY occurred_at DESC LIMIT 20;"
add_read "dr_status()" "SELECT * FROM dr_status();"
for v in dr_node_status dr_replicas dr_incident_status dr_backup_status dr_drill_history \
         dr_drill_schedule dr_notification_status dr_event_totals; do
    add_read "$v" "SELECT * FROM $v;"
done
add_read "dr_notifications newest 20" "SELECT * FROM dr_notifications ORDER BY id DESC LIMIT 20;"
add_read "dr_lag_history last hour" \
    "SELECT * FROM dr_lag_history WHERE sampled_at > now() - interval '1 hour';"
add_read "dr_lag_chart last hour" "SELECT dr_lag_chart(now() - interval '1 hour', now());"

# every read works before anything is timed
for r in "${READS[@]}"; do
    bench_as_pg "$DR_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" \
        -p "${BENCH_PORT[primary]}" -U postgres -d postgres -f "${r#*|}" >/dev/null \
        || bench_die "read failed: ${r%%|*}"
done

# grow_to N: add events until dr_event_log holds N (generated history)
grow_to() {
    local want=$1 have
    have=$(bench_psql primary "SELECT count(*) FROM dr_event_log")
    have_id=$(bench_psql primary "SELECT coalesce(max(id), 0) FROM dr_event_log")
    [ "$want" -gt "$have" ] || return 0
    bench_log "growing dr_event_log from $have to $want events"
    bench_psql primary "
        INSERT INTO dr_event_log (occurred_at, recorded_at, event_type, level, node_name, region,
                                  system_identifier, timeline, actor, successful, details)
        SELECT now() - interval '1 day' - make_interval(secs => 3 * g),
               now() - interval '1 day' - make_interval(secs => 3 * g),
               (ARRAY['RPO_WARNING', 'RPO_RECOVERED', 'RPO_BREACH', 'PROMOTE_CHECK',
                      'OPS_NOTE', 'BACKUP_VERIFIED', 'STANDBY_LAGGING', 'DR_COMPLETE'])[1 + g % 8],
               CASE WHEN g % 8 = 7 THEN 2 END, 'bench', 'bench-region',
               (SELECT system_identifier FROM pg_control_system()), 1, 'postgres', true,
               CASE WHEN g % 8 = 7 THEN jsonb_build_object('rto_state', CASE WHEN g % 16 = 7 THEN 'breach' ELSE 'met' END)
                    ELSE jsonb_build_object('n', g) END
          FROM generate_series($have + 1, $want) g;
        -- as the trigger counted them when they were recorded
        INSERT INTO dr_event_counters (event_type, events, rto_breaches)
        SELECT event_type, count(*),
               count(*) FILTER (WHERE event_type = 'DR_COMPLETE' AND details->>'rto_state' = 'breach')
          FROM dr_event_log WHERE node_name = 'bench' AND id > $have_id GROUP BY 1;" >/dev/null
    bench_psql primary "VACUUM ANALYZE dr_event_log" >/dev/null
    bench_psql primary "VACUUM ANALYZE dr_event_counters" >/dev/null
    bench_psql primary "CHECKPOINT" >/dev/null
}

printf '\n    %s s per read, %s rounds, sizes: %s\n' "$SECONDS_PER_READ" "$ROUNDS" "$SIZES"
bench_source_note
bench_machine_note

declare -A MS=()      # "size|name" -> ms per call (best round)
declare -A ALL=()     # "size|name" -> ms per call of every round
for size in $SIZES; do
    grow_to "$size"
    n=$(bench_psql primary "SELECT count(*) FROM dr_event_log")
    bench_log "timing at $n events ($(bench_psql primary "SELECT pg_size_pretty(pg_total_relation_size('dr_event_log'))"))"
    for round in $(seq 1 "$ROUNDS"); do
        for r in "${READS[@]}"; do
            name=${r%%|*}
            tps=$(bench_pgbench primary -n -c 1 -T "$SECONDS_PER_READ" -f "${r#*|}")
            ALL["$size|$name"]="${ALL["$size|$name"]:-} $(bench_calc "1000 / $tps")"
        done
    done
    for r in "${READS[@]}"; do
        name=${r%%|*}
        # shellcheck disable=SC2086
        MS["$size|$name"]=$(printf '%s\n' ${ALL["$size|$name"]} | sort -g | head -n1)
        # shellcheck disable=SC2086
        printf '    %-45s best %9.2f ms  median %9.2f ms\n' "$name" "${MS["$size|$name"]}" \
            "$(bench_median ${ALL["$size|$name"]})"
    done
done

bench_log "results: ms per call (best of $ROUNDS rounds); ratio = the size's figure / the empty log's (target <= 2)"
sizes=($SIZES)
first=${sizes[0]}
printf '    %-45s' read
for s in "${sizes[@]}"; do printf ' %10s' "$s"; done
for s in "${sizes[@]:1}"; do printf ' %8s' "x$s"; done
printf '\n'
worst=0
for r in "${READS[@]}"; do
    name=${r%%|*}
    printf '    %-45s' "$name"
    for s in "${sizes[@]}"; do printf ' %10.2f' "${MS["$s|$name"]}"; done
    for s in "${sizes[@]:1}"; do
        ratio=$(bench_calc "${MS["$s|$name"]} / ${MS["$first|$name"]}")
        printf ' %8.2f' "$ratio"
        worst=$(awk -v a="$worst" -v b="$ratio" 'BEGIN { print (b > a) ? b : a }')
    done
    printf '\n'
done
printf '\n    worst ratio: %s (target <= 2)\n' "$worst"
bench_check_lib_unchanged
bench_machine_note
