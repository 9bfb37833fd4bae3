#!/usr/bin/env bash
# bench/status_speed.sh — dr_status() calls/s against the SQL a DBA would
# otherwise run for the same facts.
#
# Run as root:   bash bench/status_speed.sh           (~6.5 min)
#                QUICK=1 bash bench/status_speed.sh   (~1 min, smoke test)
#
# A primary and a streaming standby, both with tensafe_dr preloaded
# (sample and heartbeat interval 1 s) and the extension created.  On each
# node, pgbench -n -T $SECONDS_PER_RUN -c C (C in $CLIENTS) runs one of:
#
#   dr        SELECT * FROM dr_status();
#   hand      the hand-written query for that node's role (below), which
#             reads pg_stat_replication / pg_stat_wal_receiver and calls
#             pg_last_xact_replay_timestamp() and friends; it returns fewer
#             facts than dr_status() (no time-based RPO lag, no judgment),
#             so the comparison flatters it, if anything
#   floor     SELECT 1, the cost of a round trip and of pgbench itself
#             (FLOOR=0 leaves it out); subtracted from the others' time per
#             call it gives each query's own cost, which the ratio of calls/s
#             understates (both pay the same round trip)
#
# interleaved dr, hand, dr, hand, ... ($ROUNDS of each), and prints the median
# calls/s of each and the ratio dr/hand per node and client count (target:
# at least 2).  Idle nodes: what is measured is the call, not a workload.
#
# Environment (defaults in brackets): ROUNDS [3], SECONDS_PER_RUN [10],
# CLIENTS ["1 2"], PROTOCOL [simple] (pgbench -M: simple, extended, prepared),
# FLOOR [1], QUICK [0]: 1 = 3 s runs, 1 client.  BENCH_SKIP_BUILD=1 skips the
# package check and the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}; CLIENTS=${CLIENTS:-1}
fi
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-1 2}
PROTOCOL=${PROTOCOL:-simple}
FLOOR=${FLOOR:-1}
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"

bench_init

# ---------------------------------------------------------------------------
# The scripts.  Hand-written queries: what a DBA writes to learn, in one
# round trip, what dr_status() answers (role, timeline, standbys, how far
# behind, receiver state, last contact, replay paused).

cat > "$BENCH_TMP/dr.sql" <<'EOF'
SELECT * FROM dr_status();
EOF

# Primary: role, timeline, number of standbys and the worst lag among them.
# The timeline of a primary is not in any view; pg_control_checkpoint() is
# the documented way (it reads pg_control).
cat > "$BENCH_TMP/hand_primary.sql" <<'EOF'
SELECT pg_is_in_recovery() AS in_recovery,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
       count(r.pid) AS standbys,
       max(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)) AS lag_bytes,
       max(r.replay_lag) AS replay_lag,
       max(r.flush_lag) AS flush_lag
  FROM pg_stat_replication r;
EOF

# Standby: receiver state and last contact, replay delay, bytes received but
# not replayed, paused or not.  LEFT JOIN: one row even with no receiver.
cat > "$BENCH_TMP/hand_standby.sql" <<'EOF'
SELECT pg_is_in_recovery() AS in_recovery,
       r.received_tli AS timeline,
       r.status AS receiver_status,
       r.last_msg_receipt_time AS last_primary_contact,
       now() - pg_last_xact_replay_timestamp() AS replay_delay,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS lag_bytes,
       pg_is_wal_replay_paused() AS replay_paused,
       r.latest_end_lsn,
       r.latest_end_time
  FROM (SELECT) AS one
  LEFT JOIN pg_stat_wal_receiver r ON true;
EOF

cat > "$BENCH_TMP/floor.sql" <<'EOF'
SELECT 1;
EOF
chown postgres:postgres "$BENCH_TMP"/*.sql

# ---------------------------------------------------------------------------
bench_log "setup: primary + streaming standby, tensafe_dr preloaded on both"
bench_node_init primary
bench_node_arm primary tensafe_dr
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
bench_node_standby standby primary
bench_node_arm standby tensafe_dr
bench_node_start standby
bench_wait_caught_up primary
# both workers up and sampling, the standby hearing heartbeats
bench_poll primary "SELECT last_sample_at IS NOT NULL AND standbys = 1 FROM dr_status()" t 60
bench_poll standby "SELECT last_sample_at IS NOT NULL AND receiver_status = 'streaming' FROM dr_status()" t 60
sleep 2

for node in primary standby; do
    hand="$BENCH_TMP/hand_$node.sql"
    # the scripts must work, and return one row, before they are timed
    for f in "$BENCH_TMP/dr.sql" "$hand" "$BENCH_TMP/floor.sql"; do
        n=$(bench_as_pg "$DR_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" \
            -p "${BENCH_PORT[$node]}" -U postgres -d postgres -f "$f" | wc -l)
        [ "$n" = 1 ] || bench_die "$(basename "$f") returned $n rows on $node"
    done
    printf '\n    %s, dr_status():\n' "$node"
    bench_as_pg "$DR_PG_BIN/psql" -X -q -h "$BENCH_TMP" -p "${BENCH_PORT[$node]}" -U postgres \
        -d postgres -x -c "SELECT * FROM dr_status()" | sed 's/^/      /'
    printf '    %s, hand-written:\n' "$node"
    bench_as_pg "$DR_PG_BIN/psql" -X -q -h "$BENCH_TMP" -p "${BENCH_PORT[$node]}" -U postgres \
        -d postgres -x -f "$hand" | sed 's/^/      /'
done

printf '\n    %s rounds, %s s per run, clients: %s, protocol: %s\n' \
    "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$PROTOCOL"
bench_source_note
bench_machine_note

# ---------------------------------------------------------------------------
variants=(dr hand)
[ "$FLOOR" = 1 ] && variants+=(floor)
declare -A RESULTS=()     # "node clients variant" -> space-separated calls/s

bench_log "runs (calls/s)"
for node in primary standby; do
    for c in $CLIENTS; do
        for r in $(seq 1 "$ROUNDS"); do
            line=""
            for v in "${variants[@]}"; do
                case "$v" in
                    hand) f="$BENCH_TMP/hand_$node.sql" ;;
                    *)    f="$BENCH_TMP/$v.sql" ;;
                esac
                tps=$(bench_pgbench "$node" -n -M "$PROTOCOL" -c "$c" -j "$c" \
                    -T "$SECONDS_PER_RUN" -f "$f")
                RESULTS["$node $c $v"]="${RESULTS["$node $c $v"]:-} $tps"
                line+=$(printf '  %s %9.0f' "$v" "$tps")
            done
            printf '    %-8s -c %s  round %s:%s\n' "$node" "$c" "$r" "$line"
        done
    done
done

bench_log "results: median calls/s, ratio dr_status() / hand-written (target >= 2)"
printf '    %-8s %7s %10s %12s %7s' node clients dr_status hand-written ratio
[ "$FLOOR" = 1 ] && printf ' %10s %24s %7s' "SELECT 1" "us/call above SELECT 1" ratio
printf '\n'
[ "$FLOOR" = 1 ] && printf '    %-8s %7s %10s %12s %7s %10s %12s %11s\n' "" "" "" "" "" "" dr_status hand-written
for node in primary standby; do
    for c in $CLIENTS; do
        # shellcheck disable=SC2086
        md=$(bench_median ${RESULTS["$node $c dr"]})
        # shellcheck disable=SC2086
        mh=$(bench_median ${RESULTS["$node $c hand"]})
        printf '    %-8s %7s %10.0f %12.0f %7.2f' "$node" "$c" "$md" "$mh" "$(bench_calc "$md / $mh")"
        if [ "$FLOOR" = 1 ]; then
            # shellcheck disable=SC2086
            mf=$(bench_median ${RESULTS["$node $c floor"]})
            # time per call (us, per client) minus that of SELECT 1: the query's own cost
            xd=$(bench_calc "1e6 * $c / $md - 1e6 * $c / $mf")
            xh=$(bench_calc "1e6 * $c / $mh - 1e6 * $c / $mf")
            printf ' %10.0f %12.1f %11.1f' "$mf" "$xd" "$xh"
            if awk -v d="$xd" 'BEGIN { exit !(d > 0) }'; then
                printf ' %7.2f' "$(bench_calc "$xh / $xd")"
            else
                printf ' %7s' "n/a"
            fi
        fi
        printf '\n'
    done
done
bench_machine_note
