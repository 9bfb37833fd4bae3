#!/usr/bin/env bash
# bench/status_speed.sh — dr_status() calls/s against the SQL a DBA would
# otherwise run for the same facts.
#
# Run as root:   bash bench/status_speed.sh           (~8.5 min)
#                QUICK=1 bash bench/status_speed.sh   (~1.5 min, smoke test)
#
# A primary and a streaming standby, both with tensafe_dr preloaded
# (sample and heartbeat interval 1 s) and the extension created.  On each
# node, pgbench -n -T $SECONDS_PER_RUN -c C (C in $CLIENTS) runs one of:
#
#   dr        SELECT * FROM dr_status();
#   hand      the hand-written query for the same facts, one query for any
#             node (below): pg_stat_replication, pg_stat_wal_receiver,
#             pg_last_xact_replay_timestamp() and friends, a verdict against
#             fixed RPO figures.  It still returns fewer facts than
#             dr_status() (no time-based RPO lag on a standby, no incident,
#             fence, journal or backup state)
#   min       a second, smaller baseline: a query written for the node's
#             role that drops facts (on a standby: no cascading standbys, so
#             no pg_stat_replication, and no verdict).  Reported next to
#             hand, so that the reader sees what the figure depends on
#   floor     SELECT 1, the cost of a round trip and of pgbench itself
#             (FLOOR=0 leaves it out); subtracted from the others' time per
#             call it gives each query's own cost, which the ratio of calls/s
#             understates (all pay the same round trip)
#
# interleaved dr, hand, min, floor, dr, ... ($ROUNDS of each), and prints the
# median calls/s of each and the ratios dr/hand (target: at least 2) and
# dr/min per node and client count.  Idle nodes: what is measured is the
# call, not a workload.
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
# The scripts.

cat > "$BENCH_TMP/dr.sql" <<'EOF'
SELECT * FROM dr_status();
EOF

# "hand": what a DBA writes to learn, on any node and in one round trip, the
# facts dr_status() answers -- role, timeline, receiver state and last
# contact, replay delay, bytes behind, replay paused, the standbys attached
# to this node and the worst lag among them (a standby can feed cascading
# standbys; dr_status() counts them on every node), and a verdict against the
# runbook's RPO (5 min target, 15 min max).  One query for every node, as a
# dashboard or a Patroni callback runs it without knowing the role first: the
# CASEs keep the functions that fail on the other role from running.  Still
# fewer facts than dr_status() (no time-based RPO lag on a standby, no
# incident, fence, journal or backup state).
cat > "$BENCH_TMP/hand.sql" <<'EOF'
SELECT current_setting('cluster_name') AS node_name,
       CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END AS role,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
       pg_is_in_recovery() AS in_recovery,
       w.status AS receiver_status,
       w.last_msg_receipt_time AS last_primary_contact,
       l.lag AS replay_lag,
       CASE WHEN pg_is_in_recovery()
            THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
            ELSE s.lag_bytes END AS lag_bytes,
       CASE WHEN l.lag IS NULL THEN 'unknown'
            WHEN l.lag >= interval '15 min' THEN 'breach'
            WHEN l.lag >= interval '5 min' THEN 'warning'
            ELSE 'ok' END AS rpo_state,
       s.standbys,
       s.worst_replay_lag,
       s.worst_flush_lag,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused
  FROM (SELECT) AS one
  LEFT JOIN pg_stat_wal_receiver w ON true
  CROSS JOIN (SELECT count(r.pid) AS standbys,
                     max(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery()
                                              THEN pg_last_wal_replay_lsn()
                                              ELSE pg_current_wal_lsn() END,
                                         r.replay_lsn)) AS lag_bytes,
                     max(r.replay_lag) AS worst_replay_lag,
                     max(r.flush_lag) AS worst_flush_lag
                FROM pg_stat_replication r) AS s
  CROSS JOIN LATERAL (SELECT CASE WHEN pg_is_in_recovery()
                                  THEN now() - pg_last_xact_replay_timestamp()
                                  ELSE s.worst_flush_lag END AS lag) AS l;
EOF

# "min": the least a DBA gets away with when the role is known in advance and
# some facts are dropped.  Primary: role, timeline, number of standbys and the
# worst lag among them.  The timeline of a primary is not in any view;
# pg_control_checkpoint() is the documented way (it reads pg_control).
cat > "$BENCH_TMP/min_primary.sql" <<'EOF'
SELECT pg_is_in_recovery() AS in_recovery,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
       count(r.pid) AS standbys,
       max(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)) AS lag_bytes,
       max(r.replay_lag) AS replay_lag,
       max(r.flush_lag) AS flush_lag
  FROM pg_stat_replication r;
EOF

# Standby, "min": receiver state and last contact, replay delay, bytes
# received but not replayed, paused or not -- no count of cascading standbys
# (so no pg_stat_replication) and no verdict.  LEFT JOIN: one row even with no
# receiver.
cat > "$BENCH_TMP/min_standby.sql" <<'EOF'
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

# script of variant $1 on node $2
script_of() {
    case "$1" in
        min) echo "$BENCH_TMP/min_$2.sql" ;;
        *)   echo "$BENCH_TMP/$1.sql" ;;
    esac
}

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

variants=(dr hand min)
[ "$FLOOR" = 1 ] && variants+=(floor)

for node in primary standby; do
    # the scripts must work, and return one row, before they are timed
    for v in "${variants[@]}"; do
        f=$(script_of "$v" "$node")
        n=$(bench_as_pg "$DR_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" \
            -p "${BENCH_PORT[$node]}" -U postgres -d postgres -f "$f" | wc -l)
        [ "$n" = 1 ] || bench_die "$(basename "$f") returned $n rows on $node"
    done
    for v in dr hand min; do
        printf '\n    %s, %s:\n' "$node" "$v"
        bench_as_pg "$DR_PG_BIN/psql" -X -q -h "$BENCH_TMP" -p "${BENCH_PORT[$node]}" -U postgres \
            -d postgres -x -f "$(script_of "$v" "$node")" | sed 's/^/      /'
    done
done

printf '\n    %s rounds, %s s per run, clients: %s, protocol: %s\n' \
    "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$PROTOCOL"
bench_source_note
bench_machine_note

# ---------------------------------------------------------------------------
declare -A RESULTS=()     # "node clients variant" -> space-separated calls/s

bench_log "runs (calls/s)"
for node in primary standby; do
    for c in $CLIENTS; do
        for r in $(seq 1 "$ROUNDS"); do
            line=""
            for v in "${variants[@]}"; do
                tps=$(bench_pgbench "$node" -n -M "$PROTOCOL" -c "$c" -j "$c" \
                    -T "$SECONDS_PER_RUN" -f "$(script_of "$v" "$node")")
                RESULTS["$node $c $v"]="${RESULTS["$node $c $v"]:-} $tps"
                line+=$(printf '  %s %9.0f' "$v" "$tps")
            done
            printf '    %-8s -c %s  round %s:%s\n' "$node" "$c" "$r" "$line"
        done
    done
done

median_of() {
    # shellcheck disable=SC2086
    bench_median ${RESULTS["$1 $2 $3"]}
}

bench_log "results: median calls/s; ratio = dr_status() / the other (target >= 2 against hand)"
printf '    %-8s %7s %10s %10s %7s %10s %7s' node clients dr_status hand ratio min ratio
[ "$FLOOR" = 1 ] && printf ' %10s' "SELECT 1"
printf '\n'
for node in primary standby; do
    for c in $CLIENTS; do
        md=$(median_of "$node" "$c" dr)
        mh=$(median_of "$node" "$c" hand)
        mm=$(median_of "$node" "$c" min)
        printf '    %-8s %7s %10.0f %10.0f %7.2f %10.0f %7.2f' "$node" "$c" \
            "$md" "$mh" "$(bench_calc "$md / $mh")" "$mm" "$(bench_calc "$md / $mm")"
        [ "$FLOOR" = 1 ] && printf ' %10.0f' "$(median_of "$node" "$c" floor)"
        printf '\n'
    done
done

if [ "$FLOOR" = 1 ]; then
    # time per call (us, per client) minus that of SELECT 1: the query's own
    # cost on the server and in the client library, without the round trip
    bench_log "own cost: us per call above SELECT 1 (ratio = other / dr_status)"
    printf '    %-8s %7s %10s %10s %7s %10s %7s\n' node clients dr_status hand ratio min ratio
    for node in primary standby; do
        for c in $CLIENTS; do
            mf=$(median_of "$node" "$c" floor)
            line=""
            xd=""
            for v in dr hand min; do
                x=$(bench_calc "1e6 * $c / $(median_of "$node" "$c" "$v") - 1e6 * $c / $mf")
                line+=$(printf ' %10.1f' "$x")
                if [ "$v" = dr ]; then
                    xd=$x
                elif awk -v d="$xd" 'BEGIN { exit !(d > 0) }'; then
                    line+=$(printf ' %7.2f' "$(bench_calc "$x / $xd")")
                else
                    line+=$(printf ' %7s' "n/a")
                fi
            done
            printf '    %-8s %7s%s\n' "$node" "$c" "$line"
        done
    done
fi
bench_machine_note
