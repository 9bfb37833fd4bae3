#!/usr/bin/env bash
# bench/standbys_scale.sh — what many standbys cost tensafe_dr (issue 14).
#
# Run as root:   bash bench/standbys_scale.sh            (~6 min)
#                QUICK=1 bash bench/standbys_scale.sh    (~3 min, smoke test)
#
# One primary with tensafe_dr preloaded (sample and heartbeat interval 1 s,
# tensafe_dr.region 'A') and real streaming standbys cloned by
# pg_basebackup, each with tensafe_dr preloaded too, half of them declared in
# region B (dr_standby_set).  Small shared_buffers, so that 20 fit on the
# machine.  Three phases in one run:
#
#   1     one standby
#   N     $STANDBYS standbys (default 20)
#   1'    back to one: the others stopped and forgotten (dr_standby_forget),
#         so that drift of the machine over the run shows
#
# In each phase, over $WINDOW seconds of an idle primary (the workers' own
# cost: sampling, heartbeats, the registry), the on-CPU time of
#   - the primary's worker,
#   - each standby's worker (median over the standbys): a standby's worker
#     reads the heartbeats in the WAL it received every 200 ms,
# scaled to seconds per hour; then the latency of dr_status() and of
# dr_replicas on the primary, in the server ($CALLS calls in one statement,
# best of 3: the function's own cost, which a round trip hides) and per round
# trip (pgbench -M prepared, 1 client, $SECONDS_PER_RUN s; SELECT 1 shown).
#
# Targets (issue 14): worker CPU < 2 s/h per node; dr_status() latency with
# N standbys at most 1.5 times the latency with one.  Prints the table and
# the ratios N/1 and N/1'.
#
# Environment: STANDBYS [20], WINDOW [60], SECONDS_PER_RUN [10], QUICK [0]
# (1: 6 standbys, 20 s windows, 5 s runs).  BENCH_SKIP_BUILD=1 skips the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    STANDBYS=${STANDBYS:-6}; WINDOW=${WINDOW:-20}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
fi
STANDBYS=${STANDBYS:-20}
WINDOW=${WINDOW:-60}
CALLS=${CALLS:-20000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
[ "$STANDBYS" -ge 2 ] || bench_die "STANDBYS must be at least 2"

export BENCH_SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-16MB}
# wal_keep_size: each clone's checkpoint lets the primary recycle WAL that the
# clones made before it have not streamed yet
export BENCH_EXTRA_CONF="max_wal_senders = $((STANDBYS + 5))
wal_keep_size = '2GB'
max_connections = $((STANDBYS + 30))
tensafe_dr.database = 'postgres'
${BENCH_EXTRA_CONF:-}"

bench_init

echo 'SELECT * FROM dr_status();' > "$BENCH_TMP/status.sql"
echo 'SELECT * FROM dr_replicas;' > "$BENCH_TMP/replicas.sql"
echo 'SELECT 1;' > "$BENCH_TMP/floor.sql"
chown postgres:postgres "$BENCH_TMP"/*.sql

standby_name() { printf 's%02d' "$1"; }

worker_pid_of() {
    bench_psql "$1" "SELECT worker_pid FROM dr_status()"
}

# add_standby I: clone, declare (odd: region A/ha, even: region B/dr), start
add_standby() {
    local name
    name=$(standby_name "$1")
    if [ $(( $1 % 2 )) = 1 ]; then
        bench_psql primary "SELECT dr_standby_set('$name', 'A', 'ha')" >/dev/null
    else
        bench_psql primary "SELECT dr_standby_set('$name', 'B', 'dr')" >/dev/null
    fi
    bench_node_standby "$name" primary
    bench_node_arm "$name" tensafe_dr
    printf "tensafe_dr.region = '%s'\n" "$([ $(( $1 % 2 )) = 1 ] && echo A || echo B)" \
        >> "$BENCH_TMP/$name/arm.conf"
    bench_node_start "$name"
}

# ns_of PID: on-CPU ns (schedstat), or ticks * 10^7 where schedstat is absent
ns_of() {
    local ns
    ns=$(bench_proc_ns "$1")
    if [ -z "$ns" ]; then
        ns=$(( $(bench_proc_ticks "$1") * 1000000000 / $(getconf CLK_TCK) ))
    fi
    echo "$ns"
}

# server_us FUNCTION_SQL: microseconds per call inside the server (no round
# trip): $CALLS calls in one statement, best of 3
server_us() {
    local best="" t i
    for i in 1 2 3; do
        t=$(bench_psql primary "SELECT extract(epoch FROM clock_timestamp() - now()) * 1e6 / $CALLS
                                  FROM (SELECT count($1) FROM generate_series(1, $CALLS) g) x")
        best=$(awk -v a="$t" -v b="$best" 'BEGIN { if (b == "" || a < b) print a; else print b }')
    done
    printf '%.2f' "$best"
}

# latency_ms SCRIPT: ms per call, from one pgbench run on the primary
latency_ms() {
    local tps
    tps=$(bench_pgbench primary -n -M prepared -c 1 -j 1 -T "$SECONDS_PER_RUN" -f "$BENCH_TMP/$1.sql")
    awk -v t="$tps" 'BEGIN { printf "%.4f", 1000 / t }'
}

declare -A R=()   # "phase key" -> value

# measure PHASE N: worker CPU over WINDOW s, then latencies
measure() {
    local phase=$1 n=$2 i name p0 s0=() s1=() pids=() p1 ns med floor
    bench_poll primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" "$n" 300
    bench_poll primary "SELECT rpo_state FROM dr_status()" ok 120
    sleep 5
    p0=$(worker_pid_of primary)
    for i in $(seq 1 "$n"); do
        pids+=("$(worker_pid_of "$(standby_name "$i")")")
    done
    local before_p before_s=()
    before_p=$(ns_of "$p0")
    for p in "${pids[@]}"; do before_s+=("$(ns_of "$p")"); done
    sleep "$WINDOW"
    p1=$(ns_of "$p0")
    R["$phase primary_cpu"]=$(awk -v a="$before_p" -v b="$p1" -v w="$WINDOW" \
        'BEGIN { printf "%.3f", (b - a) / 1e9 * 3600 / w }')
    local per=()
    for i in "${!pids[@]}"; do
        ns=$(ns_of "${pids[$i]}")
        per+=("$(awk -v a="${before_s[$i]}" -v b="$ns" -v w="$WINDOW" \
            'BEGIN { printf "%.3f", (b - a) / 1e9 * 3600 / w }')")
    done
    R["$phase standby_cpu"]=$(bench_median "${per[@]}")
    R["$phase status_us"]=$(server_us '(dr_status()).rpo_state')
    # dr_replicas has no in-server figure: a set-returning function rescanned
    # with no changed parameter replays its first result, so a loop of calls
    # in one statement would measure nothing
    R["$phase replicas_us"]=n/a
    R["$phase status_ms"]=$(latency_ms status)
    R["$phase replicas_ms"]=$(latency_ms replicas)
    R["$phase floor_ms"]=$(latency_ms floor)
    R["$phase standbys"]=$n
    printf '    phase %-3s %2s standbys: primary worker %s s/h, standby worker (median) %s s/h, dr_status %s us in server / %s ms per round trip, dr_replicas %s us / %s ms (SELECT 1: %s ms)\n' \
        "$phase" "$n" "${R["$phase primary_cpu"]}" "${R["$phase standby_cpu"]}" \
        "${R["$phase status_us"]}" "${R["$phase status_ms"]}" \
        "${R["$phase replicas_us"]}" "${R["$phase replicas_ms"]}" "${R["$phase floor_ms"]}"
}

# ---------------------------------------------------------------------------
bench_log "setup: primary (region A), tensafe_dr preloaded, shared_buffers $BENCH_SHARED_BUFFERS"
bench_node_init primary
bench_node_arm primary tensafe_dr
printf "tensafe_dr.region = 'A'\n" >> "$BENCH_TMP/primary/arm.conf"
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
bench_source_note
bench_machine_note

bench_log "phase 1: one standby"
add_standby 1
measure 1 1

bench_log "phase N: $STANDBYS standbys"
for i in $(seq 2 "$STANDBYS"); do add_standby "$i"; done
measure N "$STANDBYS"
bench_psql primary "SELECT rpo_state, node_loss_lag, region_loss_lag, state_reason FROM dr_status()" | sed 's/^/    primary: /'
bench_psql primary "SELECT region, array_length(standbys, 1), rpo_state FROM dr_regions ORDER BY region" | sed 's/^/    dr_regions: /'

bench_log "phase 1': back to one standby"
for i in $(seq 2 "$STANDBYS"); do
    bench_node_stop "$(standby_name "$i")"
    bench_psql primary "SELECT dr_standby_forget('$(standby_name "$i")')" >/dev/null
done
measure "1'" 1

# ---------------------------------------------------------------------------
bench_log "results (worker CPU in s/h; latency in the server in us per call, and per round trip in ms)"
printf '    %-6s %8s %15s %15s %13s %13s %15s %15s\n' phase standbys "primary worker" "standby worker" \
    "dr_status us" "dr_status ms" "dr_replicas us" "dr_replicas ms"
for ph in 1 N "1'"; do
    printf '    %-6s %8s %15s %15s %13s %13s %15s %15s\n' "$ph" "${R["$ph standbys"]}" "${R["$ph primary_cpu"]}" \
        "${R["$ph standby_cpu"]}" "${R["$ph status_us"]}" "${R["$ph status_ms"]}" \
        "${R["$ph replicas_us"]}" "${R["$ph replicas_ms"]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (a + b) / 2 }'; }
printf '\n    ratios, %s standbys / 1 (1 = mean of phases 1 and 1'"'"'):\n' "$STANDBYS"
printf '      dr_status()  in the server %s, per round trip %s   (target <= 1.5)\n' \
    "$(ratio "${R["N status_us"]}" "$(mean "${R["1 status_us"]}" "${R["1' status_us"]}")")" \
    "$(ratio "${R["N status_ms"]}" "$(mean "${R["1 status_ms"]}" "${R["1' status_ms"]}")")"
printf '      dr_replicas  per round trip %s\n' \
    "$(ratio "${R["N replicas_ms"]}" "$(mean "${R["1 replicas_ms"]}" "${R["1' replicas_ms"]}")")"
printf '    primary worker CPU: %s s/h with %s standbys, %s and %s with 1   (target < 2 s/h)\n' \
    "${R["N primary_cpu"]}" "$STANDBYS" "${R["1 primary_cpu"]}" "${R["1' primary_cpu"]}"
printf '    standby worker CPU (median over the standbys): %s s/h with %s, %s and %s with 1   (target < 2 s/h)\n' \
    "${R["N standby_cpu"]}" "$STANDBYS" "${R["1 standby_cpu"]}" "${R["1' standby_cpu"]}"
