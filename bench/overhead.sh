#!/usr/bin/env bash
# bench/overhead.sh — what tensafe_dr costs a busy primary.
#
# Run as root:   bash bench/overhead.sh            (~5.5 min)
#                QUICK=1 bash bench/overhead.sh    (~1.5 min, smoke test)
#
# One primary (pgbench -i -s $SCALE) with one streaming standby.  Rounds
# alternate between two arms, restarting both servers each time:
#   without  shared_preload_libraries = ''
#   with     shared_preload_libraries = 'tensafe_dr',
#            tensafe_dr.sample_interval = 1s, tensafe_dr.heartbeat_interval = 1s
#            (the extension exists in database postgres, so the primary's
#            worker samples and writes heartbeats)
# The standby gets the same shared_preload_libraries as the primary in each
# arm (STANDBY_LIBRARY=same, the default: the library is meant to run on every
# node, and on this machine the standby shares the CPUs), or never gets it
# (STANDBY_LIBRARY=none).  Either way it streams in both arms.
#
# Each round: restart, wait for the standby to catch up, VACUUM branches and
# tellers and TRUNCATE history (what pgbench does without -n, so every round
# starts from the same state), CHECKPOINT, an unmeasured warm-up, then
# pgbench -n -c $CLIENTS -j $JOBS -T $SECONDS_PER_ROUND (builtin tpcb-like).
#
# Then an idle period in the "with" arm (no client, autovacuum off after a
# VACUUM ANALYZE, so that idle means idle).
#
# Printed: TPS of every round, the median of each arm and the ratio
# with/without (target >= 0.99), and each "with" round against the "without"
# rounds next to it; the primary worker's CPU time (utime+stime from
# /proc/PID/stat, and the exact on-CPU time from /proc/PID/schedstat) over the
# measured "with" rounds and over the idle period, as seconds per hour
# (target < 2 s/h); the same for the standby's worker and for all of the
# library's background processes on both nodes (worker, notifier, ...); the
# idle primary's WAL by record type; the idle CPU of all server processes.
#
# Environment (defaults in brackets):
#   ROUNDS [3] rounds per arm, SECONDS_PER_ROUND [30], WARMUP_SECONDS [5],
#   IDLE_SECONDS [60], SCALE [10], CLIENTS [8], JOBS [2],
#   STANDBY_LIBRARY [same|none],
#   ORDER [abab]: the arms of each pair of rounds, a = without, b = with;
#     baba puts "with" first, abba alternates (with an even ROUNDS it cancels
#     any advantage of going first or second),
#   IDLE_BASELINE [0]: 1 = a second idle period without the library, for the
#     CPU of all server processes with and without,
#   QUICK [0]: 1 = 3 rounds of 5 s, 1 s warm-up, 10 s idle.
#   BENCH_SKIP_BUILD=1 skips the package check and the build;
#   BENCH_SAVE_LOGS=DIR keeps the server logs.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=${ROUNDS:-3}; SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-5}
    WARMUP_SECONDS=${WARMUP_SECONDS:-1}; IDLE_SECONDS=${IDLE_SECONDS:-10}
fi
ROUNDS=${ROUNDS:-3}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-30}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
IDLE_SECONDS=${IDLE_SECONDS:-60}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
STANDBY_LIBRARY=${STANDBY_LIBRARY:-same}
IDLE_BASELINE=${IDLE_BASELINE:-0}
ORDER=${ORDER:-abab}

case "$ORDER" in abab|baba|abba) ;; *) bench_die "ORDER must be abab, baba or abba" ;; esac
case "$STANDBY_LIBRARY" in same|none) ;; *) bench_die "STANDBY_LIBRARY must be same or none" ;; esac
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"
[ "$ROUNDS" -ge 3 ] || echo "warning: fewer than 3 rounds per arm; the medians mean little" >&2

bench_init

WORKER_SQL="SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'"
# every background process of the library (the worker, the notifier, ...)
LIBPROCS_SQL="SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'tensafe\\_dr%' ORDER BY pid"

# PIDs of the library's processes on both nodes, one line
lib_pids() {
    { bench_psql primary "$LIBPROCS_SQL"; bench_psql standby "$LIBPROCS_SQL"; } | tr '\n' ' '
}
# on-CPU ns summed over PIDs (0 for a PID without schedstat)
sum_ns() {
    local t=0 p v
    for p in "$@"; do
        v=$(bench_proc_ns "$p"); t=$(( t + ${v:-0} ))
    done
    echo "$t"
}
lib_names() {
    { bench_psql primary "SELECT backend_type FROM pg_stat_activity WHERE backend_type LIKE 'tensafe\\_dr%'"
      bench_psql standby "SELECT backend_type FROM pg_stat_activity WHERE backend_type LIKE 'tensafe\\_dr%'"; } |
        sort | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%s%s x%d", sep, "", substr($0, 2), c; sep = ", " }'
}

# set_arm ARM: write both nodes' settings for ARM (without|with).
set_arm() {
    local libs=''
    [ "$1" = with ] && libs=tensafe_dr
    bench_node_arm primary "$libs"
    if [ "$STANDBY_LIBRARY" = same ]; then
        bench_node_arm standby "$libs"
    else
        bench_node_arm standby ''
    fi
}

# restart_arm ARM: both servers restarted into ARM, standby caught up, and
# the worker present (with) or absent (without) on the primary.
restart_arm() {
    local arm=$1
    set_arm "$arm"
    bench_node_stop standby
    bench_node_stop primary
    bench_node_start primary
    bench_node_start standby
    bench_wait_caught_up primary
    if [ "$arm" = with ]; then
        bench_poll primary "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'" 1 30
        [ "$STANDBY_LIBRARY" = same ] &&
            bench_poll standby "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'" 1 30
    else
        [ "$(bench_psql primary "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'")" = 0 ] ||
            bench_die "tensafe_dr worker running in the 'without' arm"
        [ "$(bench_psql primary "SHOW shared_preload_libraries")" = "" ] ||
            bench_die "shared_preload_libraries not empty in the 'without' arm"
    fi
    return 0
}

# ---------------------------------------------------------------------------
bench_log "setup: primary (scale $SCALE) + streaming standby in $BENCH_TMP"
bench_node_init primary
bench_node_arm primary tensafe_dr
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
t0=$(bench_now)
bench_as_pg pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" -U postgres \
    -i -q -s "$SCALE" postgres > "$BENCH_TMP/pgbench-init.log" 2>&1 ||
    { cat "$BENCH_TMP/pgbench-init.log" >&2; bench_die "pgbench -i failed"; }
printf '    pgbench -i -s %s: %.0f s\n' "$SCALE" "$(bench_calc "$(bench_now) - $t0")"
bench_psql primary "CHECKPOINT"
bench_node_standby standby primary
set_arm with
bench_node_start standby
bench_wait_caught_up primary
printf '    primary port %s, standby port %s, standby library: %s\n' \
    "${BENCH_PORT[primary]}" "${BENCH_PORT[standby]}" \
    "$([ "$STANDBY_LIBRARY" = same ] && echo "same as primary in each arm" || echo "never")"
printf '    %s rounds per arm, %s s each (+%s s warm-up), pgbench -n -c %s -j %s, order %s\n' \
    "$ROUNDS" "$SECONDS_PER_ROUND" "$WARMUP_SECONDS" "$CLIENTS" "$JOBS" "$ORDER"
bench_source_note
bench_machine_note

declare -a TPS_WITHOUT=() TPS_WITH=() SEQ_ARM=() SEQ_TPS=()
W_TICKS=0; W_SYS=0; W_NS=0; W_SECS=0; W_NS_OK=1     # primary worker, "with" rounds
S_TICKS=0; S_NS=0                          # standby worker, "with" rounds
L_NS=0                                     # all library processes, both nodes

bench_log "rounds"
printf '    %-6s %-8s %12s   %s\n' round arm tps "worker cpu (primary)"
for r in $(seq 1 "$ROUNDS"); do
    case "$ORDER" in
        abab) pair="without with" ;;
        baba) pair="with without" ;;
        abba) if [ $(( r % 2 )) = 1 ]; then pair="without with"; else pair="with without"; fi ;;
    esac
    for arm in $pair; do
        restart_arm "$arm"
        for sql in "VACUUM pgbench_branches" "VACUUM pgbench_tellers" \
                   "TRUNCATE pgbench_history" "CHECKPOINT"; do
            bench_psql primary "$sql"
        done
        bench_wait_caught_up primary
        if [ "$WARMUP_SECONDS" -gt 0 ]; then
            bench_pgbench primary -n -c "$CLIENTS" -j "$JOBS" -T "$WARMUP_SECONDS" >/dev/null
        fi

        note=""
        if [ "$arm" = with ]; then
            wpid=$(bench_psql primary "$WORKER_SQL")
            spid=""
            [ "$STANDBY_LIBRARY" = same ] && spid=$(bench_psql standby "$WORKER_SQL")
            t0=$(bench_now); k0=$(bench_proc_ticks "$wpid"); n0=$(bench_proc_ns "$wpid")
            y0=$(bench_proc_ticks "$wpid" sys)
            if [ -n "$spid" ]; then sk0=$(bench_proc_ticks "$spid"); sn0=$(bench_proc_ns "$spid"); fi
            read -r -a lpids <<< "$(lib_pids)"; ln0=$(sum_ns "${lpids[@]}")
        fi

        tps=$(bench_pgbench primary -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER_ROUND")

        if [ "$arm" = with ]; then
            [ "$(bench_psql primary "$WORKER_SQL")" = "$wpid" ] ||
                bench_die "the primary's worker restarted during round $r"
            t1=$(bench_now); k1=$(bench_proc_ticks "$wpid"); n1=$(bench_proc_ns "$wpid")
            y1=$(bench_proc_ticks "$wpid" sys)
            W_TICKS=$(( W_TICKS + k1 - k0 )); W_SYS=$(( W_SYS + y1 - y0 ))
            W_SECS=$(bench_calc "$W_SECS + $t1 - $t0")
            if [ -n "$n0" ] && [ -n "$n1" ]; then W_NS=$(( W_NS + n1 - n0 )); else W_NS_OK=0; fi
            [ "$(lib_pids)" = "${lpids[*]} " ] ||
                bench_die "a tensafe_dr process restarted during round $r"
            ln1=$(sum_ns "${lpids[@]}"); L_NS=$(( L_NS + ln1 - ln0 ))
            if [ -n "$spid" ]; then
                sk1=$(bench_proc_ticks "$spid"); sn1=$(bench_proc_ns "$spid")
                S_TICKS=$(( S_TICKS + sk1 - sk0 ))
                [ -n "$sn0" ] && [ -n "$sn1" ] && S_NS=$(( S_NS + sn1 - sn0 ))
            fi
            note=$(printf '%d ticks, %.1f ms on CPU in %.0f s' "$(( k1 - k0 ))" \
                "$(bench_calc "(${n1:-0} - ${n0:-0}) / 1000000")" "$(bench_calc "$t1 - $t0")")
            TPS_WITH+=("$tps")
            SEQ_ARM+=(with); SEQ_TPS+=("$tps")
        else
            TPS_WITHOUT+=("$tps")
            SEQ_ARM+=(without); SEQ_TPS+=("$tps")
        fi
        printf '    %-6s %-8s %12.1f   %s\n' "$r" "$arm" "$tps" "$note"
    done
done

# ---------------------------------------------------------------------------
# Idle, in the "with" arm (where the last round may not have left it).
bench_log "idle: $IDLE_SECONDS s with the library, no client"
[ "$arm" = with ] || restart_arm with
settle_idle() {
    # idle means idle: no autovacuum catching up on the rounds' dead rows
    # (off for the idle periods only, in both arms alike)
    bench_psql primary "ALTER SYSTEM SET autovacuum = off"
    bench_psql primary "SELECT pg_reload_conf()" >/dev/null
    bench_psql primary "VACUUM ANALYZE"
    bench_psql primary "CHECKPOINT"
    bench_wait_caught_up primary
    sleep 2
}
settle_idle
wpid=$(bench_psql primary "$WORKER_SQL")
spid=""
[ "$STANDBY_LIBRARY" = same ] && spid=$(bench_psql standby "$WORKER_SQL")
mapfile -t IDLE_PIDS < <(bench_node_pids primary; bench_node_pids standby)
lsn0=$(bench_psql primary "SELECT pg_current_wal_lsn()")
t0=$(bench_now); k0=$(bench_proc_ticks "$wpid"); n0=$(bench_proc_ns "$wpid")
y0=$(bench_proc_ticks "$wpid" sys)
c0=$(bench_sum_ticks "${IDLE_PIDS[@]}")
[ -n "$spid" ] && { sk0=$(bench_proc_ticks "$spid"); sn0=$(bench_proc_ns "$spid"); }
read -r -a lpids <<< "$(lib_pids)"; ln0=$(sum_ns "${lpids[@]}")
LIB_NAMES=$(lib_names)
sleep "$IDLE_SECONDS"
t1=$(bench_now); k1=$(bench_proc_ticks "$wpid"); n1=$(bench_proc_ns "$wpid")
y1=$(bench_proc_ticks "$wpid" sys)
c1=$(bench_sum_ticks "${IDLE_PIDS[@]}")
[ -n "$spid" ] && { sk1=$(bench_proc_ticks "$spid"); sn1=$(bench_proc_ns "$spid"); }
ln1=$(sum_ns "${lpids[@]}")
[ "$(lib_pids)" = "${lpids[*]} " ] || bench_die "a tensafe_dr process restarted while idle"
lsn1=$(bench_psql primary "SELECT pg_current_wal_lsn()")
[ "$(bench_psql primary "$WORKER_SQL")" = "$wpid" ] || bench_die "the primary's worker restarted while idle"
IDLE_SECS=$(bench_calc "$t1 - $t0")
IDLE_WAL=$(bench_psql primary "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")
# what that WAL is made of (record types with at least one record)
IDLE_WAL_KINDS=$(bench_as_pg "$DR_PG_BIN/pg_waldump" -p "$BENCH_TMP/primary/pg_wal" \
    -s "$lsn0" -e "$lsn1" --stats=record 2>/dev/null |
    awk '$1 ~ /^[^ ]+\/[^ ]+$/ && $2 > 0 { printf "%s%s x%d", sep, $1, $2; sep = ", " }' || true)
IDLE_CLUSTER_WITH=$(( c1 - c0 ))

if [ "$IDLE_BASELINE" = 1 ]; then
    bench_log "idle baseline: $IDLE_SECONDS s without the library, no client"
    restart_arm without
    settle_idle
    mapfile -t IDLE_PIDS < <(bench_node_pids primary; bench_node_pids standby)
    lsnb0=$(bench_psql primary "SELECT pg_current_wal_lsn()")
    tb0=$(bench_now); cb0=$(bench_sum_ticks "${IDLE_PIDS[@]}")
    sleep "$IDLE_SECONDS"
    tb1=$(bench_now); cb1=$(bench_sum_ticks "${IDLE_PIDS[@]}")
    lsnb1=$(bench_psql primary "SELECT pg_current_wal_lsn()")
    IDLE_BASE_SECS=$(bench_calc "$tb1 - $tb0")
    IDLE_BASE_WAL=$(bench_psql primary "SELECT pg_wal_lsn_diff('$lsnb1', '$lsnb0')")
    IDLE_CLUSTER_WITHOUT=$(( cb1 - cb0 ))
fi

# ---------------------------------------------------------------------------
med_without=$(bench_median "${TPS_WITHOUT[@]}")
med_with=$(bench_median "${TPS_WITH[@]}")
ratio=$(bench_calc "$med_with / $med_without")
spread() {   # (max - min) / median, in %
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
        printf "%.1f", 100 * (a[NR] - a[1]) / m }'
}
per_hour() {  # per_hour CPU_SECONDS ELAPSED_SECONDS
    bench_calc "3600 * $1 / $2"
}

bench_log "results"
printf '    TPS without: %s   (median %.1f, spread %s%%)\n' "${TPS_WITHOUT[*]}" "$med_without" "$(spread "${TPS_WITHOUT[@]}")"
printf '    TPS with:    %s   (median %.1f, spread %s%%)\n' "${TPS_WITH[*]}" "$med_with" "$(spread "${TPS_WITH[@]}")"
printf '    ratio with/without (medians): %.4f   (target >= 0.99)\n' "$ratio"
# Drift-cancelling view: each "with" round against the mean of the nearest
# "without" round before it and the nearest after it (whichever exist).
declare -a SANDWICH=()
for p in "${!SEQ_ARM[@]}"; do
    [ "${SEQ_ARM[$p]}" = with ] || continue
    sum=0; n=0
    for (( q = p - 1; q >= 0; q-- )); do
        if [ "${SEQ_ARM[$q]}" = without ]; then sum=$(bench_calc "$sum + ${SEQ_TPS[$q]}"); n=$(( n + 1 )); break; fi
    done
    for (( q = p + 1; q < ${#SEQ_ARM[@]}; q++ )); do
        if [ "${SEQ_ARM[$q]}" = without ]; then sum=$(bench_calc "$sum + ${SEQ_TPS[$q]}"); n=$(( n + 1 )); break; fi
    done
    if [ "$n" -gt 0 ]; then SANDWICH+=("$(bench_calc "${SEQ_TPS[$p]} * $n / $sum")"); fi
done
printf '    per-round ratios (each with round / mean of the without rounds next to it):'
printf ' %.4f' "${SANDWICH[@]}"
printf '   median %.4f\n' "$(bench_median "${SANDWICH[@]}")"

printf '\n    primary worker CPU, per hour of running (target < 2 s/h):\n'
printf '      under load (%.0f s measured): %.3f s/h from /proc/PID/stat (%d ticks of 1/%d s, %d of them system)' \
    "$W_SECS" "$(per_hour "$W_TICKS / $CLK_TCK" "$W_SECS")" "$W_TICKS" "$CLK_TCK" "$W_SYS"
[ "$W_NS_OK" = 1 ] && printf ', %.3f s/h from schedstat' "$(per_hour "$W_NS / 1e9" "$W_SECS")"
printf '\n'
printf '      idle (%.0f s measured):       %.3f s/h from /proc/PID/stat (%d ticks, %d of them system)' \
    "$IDLE_SECS" "$(per_hour "($k1 - $k0) / $CLK_TCK" "$IDLE_SECS")" "$(( k1 - k0 ))" "$(( y1 - y0 ))"
[ -n "$n0" ] && [ -n "$n1" ] && printf ', %.3f s/h from schedstat' "$(per_hour "($n1 - $n0) / 1e9" "$IDLE_SECS")"
printf '\n'
if [ -n "$spid" ]; then
    printf '    standby worker CPU: under load %.3f s/h, idle %.3f s/h (schedstat; /proc/PID/stat: %d and %d ticks)\n' \
        "$(per_hour "$S_NS / 1e9" "$W_SECS")" "$(per_hour "(${sn1:-0} - ${sn0:-0}) / 1e9" "$IDLE_SECS")" \
        "$S_TICKS" "$(( sk1 - sk0 ))"
fi
printf '    all tensafe_dr processes (%s): under load %.3f s/h, idle %.3f s/h (schedstat)\n' \
    "$LIB_NAMES" "$(per_hour "$L_NS / 1e9" "$W_SECS")" "$(per_hour "($ln1 - $ln0) / 1e9" "$IDLE_SECS")"
printf '\n    idle WAL on the primary with the library: %.0f bytes/s\n' \
    "$(bench_calc "$IDLE_WAL / $IDLE_SECS")"
printf '      records: %s\n' "${IDLE_WAL_KINDS:-(pg_waldump gave nothing)}"
printf '    idle CPU of all server processes (both nodes) with the library: %.1f s/h\n' \
    "$(per_hour "$IDLE_CLUSTER_WITH / $CLK_TCK" "$IDLE_SECS")"
if [ "$IDLE_BASELINE" = 1 ]; then
    printf '    idle CPU of all server processes (both nodes) without:         %.1f s/h, WAL %.0f bytes/s\n' \
        "$(per_hour "$IDLE_CLUSTER_WITHOUT / $CLK_TCK" "$IDLE_BASE_SECS")" \
        "$(bench_calc "$IDLE_BASE_WAL / $IDLE_BASE_SECS")"
fi
bench_machine_note
bench_check_lib_unchanged
