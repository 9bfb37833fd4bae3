#!/usr/bin/env bash
# bench/overhead_paired.sh — pgbench TPS with and without tensafe_dr, from two
# live primary + standby pairs measured in quick alternation.
#
# Run as root:   bash bench/overhead_paired.sh            (~10 min)
#                QUICK=1 bash bench/overhead_paired.sh    (~3 min, smoke test)
#
# Why a second TPS benchmark: overhead.sh restarts one pair of servers into
# each arm and measures 30 s rounds one after the other.  On a shared virtual
# machine the TPS of two rounds of the same arm, a minute apart, differ by
# 20-40 % (the disk's fsync latency and the neighbours drift), which buries a
# 1 % effect.  Here the two arms run side by side for the whole measurement
# and take turns every SECONDS_PER_RUN (10 s), so each "with" run is compared
# with a "without" run of the seconds next to it:
#
#   pair a (a_primary + a_standby) and pair b (b_primary + b_standby), built
#   the same way (pgbench -i -s $SCALE, pg_basebackup -R -X stream), the
#   extension created on both primaries; block 1 preloads tensafe_dr on pair
#   a (both nodes, sample and heartbeat interval 1 s) and nothing on pair b,
#   block 2 the other way round (all four restarted), so that whatever
#   differs between the two pairs' files cancels;
#   in each block, PAIRS pairs of runs of pgbench -n -c $CLIENTS -j $JOBS
#   -T $SECONDS_PER_RUN (builtin tpcb-like), alternating with/without,
#   without/with, ... (abba: a steady drift cancels too);
#   while one pair runs, the other is frozen (SIGSTOP to its postmasters and
#   all their children, SIGCONT before its own turn): nothing of it -- not
#   its autovacuum, nor the library's worker and heartbeat in the idle pair
#   -- runs during the other's measurement.  FREEZE=0 leaves both running.
#
# Printed: each pair's TPS and ratio with/without, then over all pairs the
# geometric mean of the ratios with a 95 % confidence interval (Student t on
# the log ratios), their median, each block's geometric mean, and the ratio of
# the mean TPS of each arm.  Target: ratio >= 0.99.  The interval is what the
# machine can resolve in this many pairs: if it straddles 0.99, run more
# (PAIRS=20) rather than read the point estimate.
#
# Environment (defaults in brackets): PAIRS [10] pairs of runs per block,
# BLOCKS [2] (the arms swap pairs every block; keep it even), SECONDS_PER_RUN
# [10], WARMUP_SECONDS [5] per pair after each (re)start, SCALE [10],
# CLIENTS [8], JOBS [2], FREEZE [1], QUICK [0] (PAIRS=3, 5 s runs).
# BENCH_EXTRA_CONF, DR_SAMPLE_INTERVAL, DR_HEARTBEAT_INTERVAL and
# BENCH_SKIP_BUILD as in lib.sh.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    PAIRS=${PAIRS:-3}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
fi
PAIRS=${PAIRS:-10}
BLOCKS=${BLOCKS:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
FREEZE=${FREEZE:-1}
[ "$PAIRS" -ge 2 ] || bench_die "PAIRS must be at least 2"
[ "$BLOCKS" -ge 1 ] || bench_die "BLOCKS must be at least 1"
[ $(( BLOCKS % 2 )) = 0 ] || echo "warning: an odd BLOCKS does not cancel the difference between the pairs" >&2

bench_init

# A frozen pair must be thawed before the EXIT trap stops it: a stopped
# process keeps pg_ctl's SIGQUIT pending.
declare -A FROZEN=()      # pair -> PIDs stopped
thaw() {
    local c=$1
    [ -n "${FROZEN[$c]:-}" ] || return 0
    # shellcheck disable=SC2086
    kill -CONT ${FROZEN[$c]} 2>/dev/null || true
    FROZEN[$c]=""
}
freeze() {
    local c=$1 postmasters children p
    [ "$FREEZE" = 1 ] || return 0
    # postmasters first, so that no new child appears while the rest stop
    postmasters="$(head -n1 "$BENCH_TMP/${c}_primary/postmaster.pid") $(head -n1 "$BENCH_TMP/${c}_standby/postmaster.pid")"
    FROZEN[$c]=$postmasters
    # shellcheck disable=SC2086
    kill -STOP $postmasters
    children="$(bench_node_pids "${c}_primary" | tail -n +2) $(bench_node_pids "${c}_standby" | tail -n +2)"
    for p in $children; do
        # a child that was already exiting (a backend of the run that just
        # ended, an autovacuum worker) is gone by now: nothing to stop
        kill -STOP "$p" 2>/dev/null && FROZEN[$c]+=" $p"
    done
    return 0
}
# shellcheck disable=SC2154  # rc is assigned inside the trap string
trap 'rc=$?; thaw a; thaw b; (exit $rc); bench_cleanup' EXIT

WORKER_COUNT_SQL="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'"

# start_block BLOCK: every node restarted with tensafe_dr on the pair whose
# turn it is, nothing on the other; both caught up and checked.
WITH_PAIR=""
start_block() {
    local b=$1 c libs
    if [ $(( b % 2 )) = 1 ]; then WITH_PAIR=a; else WITH_PAIR=b; fi
    thaw a; thaw b
    for c in a b; do
        libs=''
        [ "$c" = "$WITH_PAIR" ] && libs=tensafe_dr
        bench_node_arm "${c}_primary" "$libs"
        bench_node_arm "${c}_standby" "$libs"
        if [ -f "$BENCH_TMP/${c}_standby/postmaster.pid" ]; then
            bench_node_stop "${c}_standby"
            bench_node_stop "${c}_primary"
        fi
        bench_node_start "${c}_primary"
        bench_node_start "${c}_standby"
        bench_wait_caught_up "${c}_primary"
        if [ -n "$libs" ]; then
            bench_poll "${c}_primary" "$WORKER_COUNT_SQL" 1 30
            bench_poll "${c}_standby" "$WORKER_COUNT_SQL" 1 30
        else
            [ "$(bench_psql "${c}_primary" "$WORKER_COUNT_SQL")" = 0 ] ||
                bench_die "tensafe_dr worker running on pair $c, which is 'without'"
            [ "$(bench_psql "${c}_primary" "SHOW shared_preload_libraries")" = "" ] ||
                bench_die "shared_preload_libraries not empty on pair $c"
        fi
        bench_psql "${c}_primary" "CHECKPOINT"
        if [ "$WARMUP_SECONDS" -gt 0 ]; then
            bench_pgbench "${c}_primary" -n -c "$CLIENTS" -j "$JOBS" -T "$WARMUP_SECONDS" >/dev/null
        fi
    done
    freeze a; freeze b
}

# run_arm ARM: thaw the pair in ARM, run pgbench on it, freeze it; its TPS in
# RUN_TPS (not printed: a $(...) subshell would lose what freeze records)
RUN_TPS=""
run_arm() {
    local arm=$1 c
    if [ "$arm" = with ]; then c=$WITH_PAIR; elif [ "$WITH_PAIR" = a ]; then c=b; else c=a; fi
    thaw "$c"
    RUN_TPS=$(bench_pgbench "${c}_primary" -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER_RUN")
    freeze "$c"
}

# ---------------------------------------------------------------------------
bench_log "setup: two primary (scale $SCALE) + streaming standby pairs in $BENCH_TMP"
for c in a b; do
    bench_node_init "${c}_primary"
    # CREATE EXTENSION needs the library preloaded; start_block sets the arms
    bench_node_arm "${c}_primary" tensafe_dr
    bench_node_start "${c}_primary"
    bench_psql "${c}_primary" "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
    bench_as_pg pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[${c}_primary]}" -U postgres \
        -i -q -s "$SCALE" postgres > "$BENCH_TMP/pgbench-init-$c.log" 2>&1 ||
        { cat "$BENCH_TMP/pgbench-init-$c.log" >&2; bench_die "pgbench -i failed on pair $c"; }
    bench_psql "${c}_primary" "CHECKPOINT"
    bench_node_standby "${c}_standby" "${c}_primary"
    bench_node_arm "${c}_standby" ''
    bench_node_start "${c}_standby"
    bench_wait_caught_up "${c}_primary"
done
printf '    %s blocks of %s pairs of %s s runs, pgbench -n -c %s -j %s, idle pair frozen: %s\n' \
    "$BLOCKS" "$PAIRS" "$SECONDS_PER_RUN" "$CLIENTS" "$JOBS" "$([ "$FREEZE" = 1 ] && echo yes || echo no)"
bench_source_note
bench_machine_note

declare -a RATIOS=() TPS_WITH=() TPS_WITHOUT=() BLOCK_OF=()
bench_log "runs"
printf '    %-5s %-4s %-6s %12s %12s %8s\n' block pair with-on "with" without ratio
for b in $(seq 1 "$BLOCKS"); do
    start_block "$b"
    for p in $(seq 1 "$PAIRS"); do
        if [ $(( p % 2 )) = 1 ]; then
            run_arm with; tw=$RUN_TPS; run_arm without; two=$RUN_TPS
        else
            run_arm without; two=$RUN_TPS; run_arm with; tw=$RUN_TPS
        fi
        r=$(bench_calc "$tw / $two")
        RATIOS+=("$r"); TPS_WITH+=("$tw"); TPS_WITHOUT+=("$two"); BLOCK_OF+=("$b")
        printf '    %-5s %-4s %-6s %12.1f %12.1f %8.4f\n' "$b" "$p" "$WITH_PAIR" "$tw" "$two" "$r"
    done
done
thaw a; thaw b

# ---------------------------------------------------------------------------
# geo_ci R...: geometric mean of R and its 95 % interval (t on the logs)
geo_ci() {
    printf '%s\n' "$@" | awk '
        BEGIN { split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 " \
                      "2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086 " \
                      "2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042", t, " ") }
        { x[NR] = log($1); s += x[NR] }
        END {
            n = NR; m = s / n
            for (i = 1; i <= n; i++) v += (x[i] - m) ^ 2
            sd = sqrt(v / (n - 1)); df = n - 1
            q = (df <= 30) ? t[df] : (df <= 60 ? 2.02 : 1.98)
            h = q * sd / sqrt(n)
            printf "%.4f [%.4f, %.4f] (n = %d, sd of one pair %.1f %%)", exp(m), exp(m - h), exp(m + h), n, 100 * sd
        }'
}
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }

bench_log "results"
printf '    ratio with/without, geometric mean of the pairs: %s   (target >= 0.99)\n' "$(geo_ci "${RATIOS[@]}")"
printf '    median of the pair ratios: %.4f\n' "$(bench_median "${RATIOS[@]}")"
for b in $(seq 1 "$BLOCKS"); do
    sel=()
    for i in "${!RATIOS[@]}"; do [ "${BLOCK_OF[$i]}" = "$b" ] && sel+=("${RATIOS[$i]}"); done
    printf '    block %s (tensafe_dr on pair %s): %s\n' "$b" \
        "$([ $(( b % 2 )) = 1 ] && echo a || echo b)" "$(geo_ci "${sel[@]}")"
done
mw=$(mean "${TPS_WITH[@]}"); mo=$(mean "${TPS_WITHOUT[@]}")
printf '    mean TPS with %s, without %s: ratio %.4f\n' "$mw" "$mo" "$(bench_calc "$mw / $mo")"
bench_machine_note
bench_check_lib_unchanged
