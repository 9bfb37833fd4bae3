#!/usr/bin/env bash
# bench/metrics_scale.sh — what a dashboard read costs as the event log grows
# (issue 21): every read at 0, 1M and 10M events in dr_event_log, in one run.
#
# Run as root:   bash bench/metrics_scale.sh            (~25 min)
#                QUICK=1 bash bench/metrics_scale.sh    (sizes 0, 100k, 1M; 1 round)
#
# One primary with tensafe_dr preloaded (sample and heartbeat interval 1 s)
# and one database per size (e0, e1000000, e10000000), the extension created
# in each; they differ only in the number of events in dr_event_log (the
# worker runs in database postgres, so none of them gets lag samples or
# worker events).  The reads below run interleaved: each round takes each
# read in turn and runs it against every size back to back, under
# pgbench -n -c 1 -T $SECONDS_PER_READ; ms per call = 1000 / calls per
# second.  On a shared machine the other load then falls on all sizes
# alike; the figure kept is the best of the $ROUNDS rounds (the least
# disturbed), the median is printed too.
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
# were recorded; then VACUUM ANALYZE and CHECKPOINT.  The table printed at
# the end gives each read's ms per call at each size and the ratio to the
# empty log; target: at most 2 at 10M.
#
# Environment (defaults in brackets): SIZES ["0 1000000 10000000"] (the
# first is the baseline), SECONDS_PER_READ [1], ROUNDS [3], QUICK [0].
# BENCH_SKIP_BUILD=1 skips the package check and the build.

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


# fill DB N: N generated events in database e<N>
fill() {
    local db=$1 n=$2
    bench_log "database $db: $n events"
    bench_psql primary "CREATE DATABASE $db" >/dev/null
    psql_db "$db" "CREATE EXTENSION tensafe_dr" >/dev/null
    # (e0 too: every database analyzed alike, or their plans differ)
    [ "$n" -gt 0 ] && psql_db "$db" "
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
          FROM generate_series(1, $n) g;
        -- as the trigger counted them when they were recorded
        INSERT INTO dr_event_counters (event_type, events, rto_breaches)
        SELECT event_type, count(*),
               count(*) FILTER (WHERE event_type = 'DR_COMPLETE' AND details->>'rto_state' = 'breach')
          FROM dr_event_log GROUP BY 1;" >/dev/null
    psql_db "$db" "VACUUM ANALYZE" >/dev/null
    bench_psql primary "CHECKPOINT" >/dev/null
    printf '    %s\n' "$(psql_db "$db" "SELECT count(*) || ' events, ' || pg_size_pretty(pg_total_relation_size('dr_event_log')) FROM dr_event_log")"
}

psql_db() {
    bench_as_pg "$DR_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
        -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" -U postgres -d "$1" -c "$2"
}

# calls/s of SQL file $2 in database $1
pgbench_db() {
    local out tps
    out=$(bench_as_pg pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" -U postgres \
        -n -c 1 -T "$SECONDS_PER_READ" -f "$2" "$1" 2>&1) || { printf '%s\n' "$out" >&2; bench_die "pgbench failed on $1"; }
    tps=$(printf '%s\n' "$out" | awk '/^tps = / { print $3; exit }')
    [ -n "$tps" ] || { printf '%s\n' "$out" >&2; bench_die "no tps in pgbench output"; }
    printf '%s\n' "$tps"
}

for size in $SIZES; do
    fill "e$size" "$size"
done

# every read works in every database before anything is timed
for size in $SIZES; do
    for r in "${READS[@]}"; do
        bench_as_pg "$DR_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" \
            -p "${BENCH_PORT[primary]}" -U postgres -d "e$size" -f "${r#*|}" >/dev/null \
            || bench_die "read failed in e$size: ${r%%|*}"
    done
done

printf '\n    %s s per read, %s rounds, sizes: %s\n' "$SECONDS_PER_READ" "$ROUNDS" "$SIZES"
bench_source_note
bench_machine_note

declare -A MS=()      # "size|name" -> ms per call (best round)
declare -A ALL=()     # "size|name" -> ms per call of every round
for round in $(seq 1 "$ROUNDS"); do
    bench_log "round $round of $ROUNDS (ms per call at each size)"
    for r in "${READS[@]}"; do
        name=${r%%|*}
        line=""
        for size in $SIZES; do
            ms=$(bench_calc "1000 / $(pgbench_db "e$size" "${r#*|}")")
            ALL["$size|$name"]="${ALL["$size|$name"]:-} $ms"
            line+=$(printf ' %10.2f' "$ms")
        done
        printf '    %-45s%s\n' "$name" "$line"
    done
done
for size in $SIZES; do
    for r in "${READS[@]}"; do
        name=${r%%|*}
        # shellcheck disable=SC2086
        MS["$size|$name"]=$(printf '%s\n' ${ALL["$size|$name"]} | sort -g | head -n1)
    done
done

bench_log "medians of the rounds (ms per call)"
sizes=($SIZES)
printf '    %-45s' read
for s in "${sizes[@]}"; do printf ' %10s' "$s"; done
printf '\n'
for r in "${READS[@]}"; do
    name=${r%%|*}
    printf '    %-45s' "$name"
    # shellcheck disable=SC2086
    for s in "${sizes[@]}"; do printf ' %10.2f' "$(bench_median ${ALL["$s|$name"]})"; done
    printf '\n'
done

bench_log "results: ms per call, best of $ROUNDS rounds; ratio = the size's figure / the first size's (target <= 2)"
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
