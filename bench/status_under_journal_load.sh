#!/usr/bin/env bash
# bench/status_under_journal_load.sh — does dr_status() wait behind the
# event journal's I/O?  (issue 13, "Measure")
#
# Run as root:   bash bench/status_under_journal_load.sh          (~3 min)
#                QUICK=1 bash bench/status_under_journal_load.sh  (~1 min)
#
# A primary and a streaming standby with tensafe_dr.  On the standby, events
# go to the local journal (an fsync'ed append each).  One pgbench client
# calls SELECT * FROM dr_status() on the standby and logs every call's
# latency, in two arms that take turns ($ROUNDS of each, interleaved):
#
#   idle     nothing else runs on the standby
#   append   $APPENDERS more clients call dr_record_event() on the standby
#            for the whole round (each call appends to the journal and
#            fsyncs it)
#   select1  control: $APPENDERS clients run SELECT 1 on the standby as
#            fast as they can -- CPU contention, no journal at all
#   fsync    control: $APPENDERS shell loops append a line to a plain file
#            and fsync it (dd conv=fsync), no PostgreSQL -- I/O and fork
#            load without the journal
#
# It prints the p50 and p99 latency of dr_status() in each arm (over all
# rounds) and the ratios append/idle.  Target (issue 13): p99 ratio <= 1.5.
# On a 2-core machine the appenders also take CPU from the measuring client:
# the figure bounds lock waits and CPU contention together.
#
# A standby's journal is flushed only once it can write, so it grows for the
# whole run: by the append rate times ROUNDS * SECONDS_PER_RUN (the figure
# printed at the end).
#
# If append/idle is above the target but select1/idle is as high, what
# dr_status() waits on is the CPU, not the journal.
#
# Environment: ROUNDS [3], SECONDS_PER_RUN [10], APPENDERS [4], QUICK [0],
# ARMS ["idle append select1 fsync"]
# (1 = 1 round of 5 s).  BENCH_SKIP_BUILD=1 skips the package check and the
# build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
fi
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
APPENDERS=${APPENDERS:-4}
ARMS=${ARMS:-idle append select1 fsync}

bench_init
bench_machine_note
bench_source_note

bench_node_init p
bench_node_arm p tensafe_dr
bench_node_start p
bench_psql p 'CREATE EXTENSION tensafe_dr'
bench_node_standby s p
bench_node_arm s tensafe_dr
bench_node_start s
bench_wait_caught_up p
bench_poll s "SELECT rpo_state FROM dr_status()" ok 60

echo 'SELECT * FROM dr_status();' > "$BENCH_TMP/status.sql"
echo "SELECT dr_record_event('BENCH_APPEND', '{\"bench\": true}');" > "$BENCH_TMP/append.sql"
echo "SELECT 1;" > "$BENCH_TMP/select1.sql"
chown postgres:postgres "$BENCH_TMP"/*.sql

# run_arm ARM ROUND: one measured round; latencies (us) appended to
# $BENCH_TMP/ARM.lat
run_arm() {
    local arm=$1 round=$2 lp="" logdir
    logdir="$BENCH_TMP/log-$arm-$round"    # after local: its words expand first
    mkdir -p "$logdir"; chown postgres:postgres "$logdir"
    if [ "$arm" = append ] || [ "$arm" = select1 ]; then
        bench_as_pg pgbench -n -h "$BENCH_TMP" -p "${BENCH_PORT[s]}" -U postgres \
            -c "$APPENDERS" -j "$APPENDERS" -T $((SECONDS_PER_RUN + 2)) -f "$BENCH_TMP/$arm.sql" \
            postgres > "$logdir/append.out" 2>&1 &
        lp=$!
        sleep 1    # appenders connected and running before the measure starts
    elif [ "$arm" = fsync ]; then
        (
            for i in $(seq 1 "$APPENDERS"); do
                ( end=$((SECONDS + SECONDS_PER_RUN + 2)); n=0
                  while [ $SECONDS -lt $end ]; do
                      echo "bench line $n" | dd of="$logdir/plain.$i" oflag=append conv=notrunc,fsync status=none
                      n=$((n + 1))
                  done; echo "$n" > "$logdir/plain.$i.count" ) &
            done
            wait
        ) &
        lp=$!
        sleep 1
    fi
    (cd "$logdir" && bench_as_pg pgbench -n -h "$BENCH_TMP" -p "${BENCH_PORT[s]}" -U postgres \
        -c 1 -T "$SECONDS_PER_RUN" -l --log-prefix=status -f "$BENCH_TMP/status.sql" \
        postgres > "$logdir/status.out" 2>&1) || bench_die "pgbench status failed: $(cat "$logdir/status.out")"
    if [ -n "$lp" ]; then
        wait "$lp" || bench_die "load failed: $(cat "$logdir/append.out" 2>/dev/null)"
        if [ "$arm" = fsync ]; then
            echo "    $arm round $round: $(cat "$logdir"/plain.*.count | paste -sd+ | bc) fsync'd appends to plain files"
        else
            grep -E '^(tps|number of transactions actually processed)' "$logdir/append.out" |
                sed "s/^/    $arm round $round load: /"
        fi
    fi
    # per-transaction log: client_id transaction_no time(us) script_no time_epoch time_us
    # (status.out, pgbench's own output, is not one of them)
    cat "$logdir"/status.[0-9]* | awk '$3 ~ /^[0-9]+$/ { print $3 }' >> "$BENCH_TMP/$arm.lat"
}

for arm in $ARMS; do : > "$BENCH_TMP/$arm.lat"; done
for r in $(seq 1 "$ROUNDS"); do
    for arm in $ARMS; do
        bench_log "round $r: $arm"
        run_arm "$arm" "$r"
    done
done
pending=$(bench_psql s 'SELECT pending_events FROM dr_status()')
# BENCH_LAT_DIR=DIR: keep the latencies and the per-round logs
if [ -n "${BENCH_LAT_DIR:-}" ]; then
    mkdir -p "$BENCH_LAT_DIR" && cp -r "$BENCH_TMP"/*.lat "$BENCH_TMP"/log-* "$BENCH_LAT_DIR"/
fi

pct() {  # pct FILE P -> the P-th percentile (nearest rank) of the numbers in FILE
    sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }'
}
# pgbench logs a latency of 0 for a transaction that completed while its
# client was descheduled (the start and end times are one cached clock
# reading): common under CPU contention, so a 0 stands for an unknown, often
# long, latency.  The figures are given over every call, and over the calls
# with a measured latency (> 0) with the count of zeros left out.
for arm in $ARMS; do awk '$1 > 0' "$BENCH_TMP/$arm.lat" > "$BENCH_TMP/$arm.nz"; done
bench_log "dr_status() on the standby, latency in microseconds ($ROUNDS x ${SECONDS_PER_RUN}s per arm)"
printf '%-8s %10s %10s %10s %10s %10s %10s\n' arm calls p50 p99 zeros p50_nz p99_nz
for arm in $ARMS; do
    printf '%-8s %10s %10s %10s %10s %10s %10s\n' "$arm" "$(wc -l < "$BENCH_TMP/$arm.lat")" \
        "$(pct "$BENCH_TMP/$arm.lat" 50)" "$(pct "$BENCH_TMP/$arm.lat" 99)" \
        "$(awk '$1 == 0' "$BENCH_TMP/$arm.lat" | wc -l)" \
        "$(pct "$BENCH_TMP/$arm.nz" 50)" "$(pct "$BENCH_TMP/$arm.nz" 99)"
done
for arm in $ARMS; do
    [ "$arm" = idle ] && continue
    p99r=$(bench_calc "$(pct "$BENCH_TMP/$arm.lat" 99) / $(pct "$BENCH_TMP/idle.lat" 99)")
    p99nz=$(bench_calc "$(pct "$BENCH_TMP/$arm.nz" 99) / $(pct "$BENCH_TMP/idle.nz" 99)")
    p50nz=$(bench_calc "$(pct "$BENCH_TMP/$arm.nz" 50) / $(pct "$BENCH_TMP/idle.nz" 50)")
    echo "ratio $arm/idle: p99 $p99r (all calls); p50 $p50nz, p99 $p99nz (calls with a measured latency)"
done
echo "(target: append/idle p99 <= 1.5); journal entries pending on the standby: $pending"
