#!/usr/bin/env bash
# bench/record_event_rate.sh — events/s of dr_record_event(), on a primary
# (a row in dr_event_log) against a plain INSERT of the same row, and on a
# standby (an fsync'd append to the local journal).
#
# Run as root:   bash bench/record_event_rate.sh          (~5 min)
#                QUICK=1 bash bench/record_event_rate.sh  (~1.5 min, smoke test)
#
# A primary and a streaming (asynchronous) standby, both with tensafe_dr
# preloaded (sample and heartbeat interval 1 s), the extension created in
# database postgres.  pgbench -n -T $SECONDS_PER_RUN -c C -j min(C, 2), one
# event per transaction (autocommit), C in $CLIENTS, runs one of:
#
#   dr      SELECT dr_record_event('BENCH_EVENT', '{"k": 1}');
#   plain   INSERT INTO bench_plain(event_type, details)
#               VALUES ('BENCH_EVENT', '{"k": 1}'::jsonb);
#
# bench_plain is CREATE TABLE ... (LIKE dr_event_log INCLUDING ALL) with its
# own bigserial sequence: the same columns, defaults (timestamptz
# clock_timestamp() and now()), primary key, unique key and indexes as an
# event row, so that the ratio is the cost of the function (validation,
# node facts via dr_status(), incident lookup, actor, the extra columns it
# fills), not of a different table.
#
# On the primary, rounds interleave dr, plain, dr, plain, ... ($ROUNDS of
# each); before each run the table it writes is truncated and a CHECKPOINT
# taken, so every run starts from the same state.  Each run's rows are
# counted against pgbench's transactions.
#
# On the standby (STANDBY=1, the default), dr_record_event() cannot write a
# table and appends the event to $PGDATA/pg_tensafe_dr/journal, fsync'd
# before it returns, under the journal's exclusive lock: journalled events/s,
# $ROUNDS rounds of each client count (interleaved).  Each run gets a fresh
# standby (a new pg_basebackup clone, whose journal starts empty), because a
# standby never flushes its journal and its worker reads all of it every
# second (the dr_events view): with JOURNAL_GROWTH=1 all runs use the same
# standby and the journal grows from run to run, which shows that cost (the
# worker's CPU time during each run is printed either way).  Each run's
# events are counted in dr_status().pending_events.  For scale, right after each standby run, the
# same number of seconds of what the journal does at the file level, without
# PostgreSQL: open, append one record of the same size, fsync, close, in a
# loop (perl, one process, a file in the same file system): the ceiling of
# the journal on this disk ("append+fsync").  With FSYNC_TEST=1,
# pg_test_fsync's figures for one 8 kB write (an overwrite, no file growth:
# what WAL flushes cost) are printed too.
#
# Commits are synchronous on the primary (a WAL flush per event, as
# configured by default) unless BENCH_EXTRA_CONF="synchronous_commit = off".
#
# Environment (defaults in brackets): ROUNDS [3], SECONDS_PER_RUN [10] (not
# SECONDS, which bash reserves), CLIENTS ["1 4"], STANDBY [1],
# JOURNAL_GROWTH [0], FSYNC_TEST [1],
# QUICK [0]: 1 = 3 s runs, 1 round.  BENCH_SKIP_BUILD=1 skips the package
# check and the build; DR_BUILD_DIR [/var/tmp/tensafe_dr-bench2-build].

export DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-bench2-build}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
fi
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-1 4}
STANDBY=${STANDBY:-1}
JOURNAL_GROWTH=${JOURNAL_GROWTH:-0}
FSYNC_TEST=${FSYNC_TEST:-1}
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"

bench_init

cat > "$BENCH_TMP/dr.sql" <<'EOF'
SELECT dr_record_event('BENCH_EVENT', '{"k": 1}');
EOF
cat > "$BENCH_TMP/plain.sql" <<'EOF'
INSERT INTO bench_plain(event_type, details) VALUES ('BENCH_EVENT', '{"k": 1}'::jsonb);
EOF
chown postgres:postgres "$BENCH_TMP"/*.sql

# run_pgbench NODE SCRIPT CLIENTS: sets PGB_TPS (excluding connection time)
# and PGB_XACTS (transactions processed).
run_pgbench() {
    local name=$1 script=$2 c=$3 j out
    j=$(( c < 2 ? c : 2 ))
    out=$(bench_as_pg pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[$name]}" -U postgres \
        -n -c "$c" -j "$j" -T "$SECONDS_PER_RUN" -f "$script" postgres 2>&1) ||
        { printf '%s\n' "$out" >&2; bench_die "pgbench failed on $name"; }
    PGB_TPS=$(printf '%s\n' "$out" | awk '/^tps = / { print $3; exit }')
    PGB_XACTS=$(printf '%s\n' "$out" | awk -F': ' '/^number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }')
    if [ -z "$PGB_TPS" ] || [ -z "$PGB_XACTS" ]; then
        printf '%s\n' "$out" >&2
        bench_die "no tps in pgbench output"
    fi
    if printf '%s\n' "$out" | grep -q '^number of failed transactions: [1-9]'; then
        printf '%s\n' "$out" >&2
        bench_die "pgbench reported failed transactions"
    fi
}

# The journal's file-level work without PostgreSQL: open, append BYTES,
# fsync, close, over and over for SECS; prints appends/s.
cat > "$BENCH_TMP/append_fsync.pl" <<'PERL'
use strict; use warnings; use Fcntl; use IO::Handle; use Time::HiRes qw(time);
my ($file, $secs, $bytes) = @ARGV;
my $rec = 'x' x $bytes;
my ($n, $t0) = (0, time);
while (time - $t0 < $secs) {
    sysopen(my $fh, $file, O_WRONLY | O_APPEND | O_CREAT, 0600) or die "$file: $!";
    syswrite($fh, $rec) == length($rec) or die "write: $!";
    $fh->sync or die "fsync: $!";
    close($fh) or die "close: $!";
    $n++;
}
printf "%.1f\n", $n / (time - $t0);
unlink $file;
PERL
chown postgres:postgres "$BENCH_TMP/append_fsync.pl"

# ---------------------------------------------------------------------------
bench_log "setup: primary + streaming standby, tensafe_dr preloaded on both"
bench_node_init primary
bench_node_arm primary tensafe_dr
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
bench_psql primary "CREATE TABLE bench_plain (LIKE dr_event_log INCLUDING ALL);
                    CREATE SEQUENCE bench_plain_id_seq OWNED BY bench_plain.id;
                    ALTER TABLE bench_plain ALTER id SET DEFAULT nextval('bench_plain_id_seq')"
bench_node_standby standby primary >/dev/null
bench_node_arm standby tensafe_dr
bench_node_start standby
bench_wait_caught_up primary
bench_poll primary "SELECT last_sample_at IS NOT NULL FROM dr_status()" t 60
bench_poll standby "SELECT rpo_state FROM dr_status()" ok 60

# both scripts must work before they are timed: an id on the primary, NULL
# (journalled) on the standby
[ -n "$(bench_psql primary "$(cat "$BENCH_TMP/dr.sql")")" ] ||
    bench_die "dr_record_event() returned no id on the primary"
bench_psql primary "$(cat "$BENCH_TMP/plain.sql")"
[ "$(bench_psql primary "SELECT count(*) FROM bench_plain")" = 1 ] ||
    bench_die "the plain INSERT did not insert"
if [ "$STANDBY" = 1 ]; then
    [ -z "$(bench_psql standby "$(cat "$BENCH_TMP/dr.sql")")" ] ||
        bench_die "dr_record_event() on the standby returned an id (not journalled?)"
fi
printf '    bench_plain columns: %s\n' \
    "$(bench_psql primary "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
                           WHERE attrelid = 'bench_plain'::regclass AND attnum > 0 AND NOT attisdropped")"
printf '    bench_plain indexes: %s (dr_event_log: %s)\n' \
    "$(bench_psql primary "SELECT count(*) FROM pg_index WHERE indrelid = 'bench_plain'::regclass")" \
    "$(bench_psql primary "SELECT count(*) FROM pg_index WHERE indrelid = 'dr_event_log'::regclass")"
printf '    %s rounds, %s s per run, clients: %s, synchronous_commit = %s\n' \
    "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$(bench_psql primary "SHOW synchronous_commit")"
bench_source_note
bench_machine_note

declare -A RESULTS=()     # "node clients arm" -> space-separated events/s

# ---------------------------------------------------------------------------
bench_log "primary (events/s)"
for c in $CLIENTS; do
    for r in $(seq 1 "$ROUNDS"); do
        line=""
        for arm in dr plain; do
            if [ "$arm" = dr ]; then
                table=dr_event_log; cond="WHERE event_type = 'BENCH_EVENT'"
            else
                table=bench_plain; cond=""
            fi
            bench_psql primary "TRUNCATE $table"
            bench_psql primary "CHECKPOINT"
            bench_wait_caught_up primary
            run_pgbench primary "$BENCH_TMP/$arm.sql" "$c"
            n=$(bench_psql primary "SELECT count(*) FROM $table $cond")
            [ "$n" = "$PGB_XACTS" ] ||
                bench_die "$arm: $n rows for $PGB_XACTS transactions"
            RESULTS["primary $c $arm"]="${RESULTS["primary $c $arm"]:-} $PGB_TPS"
            line+=$(printf '  %s %8.0f' "$arm" "$PGB_TPS")
        done
        printf '    -c %s  round %s:%s\n' "$c" "$r" "$line"
    done
done

if [ "$STANDBY" = 1 ]; then
    bench_log "standby, journalled (events/s)"
    WORKER_SQL="SELECT pid FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'"
    n=0
    prev=standby
    for r in $(seq 1 "$ROUNDS"); do
        for c in $CLIENTS; do
            if [ "$JOURNAL_GROWTH" = 1 ]; then
                sb=standby
            else
                # a fresh clone: its journal starts empty
                n=$(( n + 1 )); sb="sb$n"
                bench_node_stop "$prev"
                rm -rf "${BENCH_TMP:?}/$prev"
                bench_node_standby "$sb" primary >/dev/null
                bench_node_arm "$sb" tensafe_dr
                bench_node_start "$sb"
                bench_wait_caught_up primary
                bench_poll "$sb" "SELECT rpo_state FROM dr_status()" ok 60
                bench_poll "$sb" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr'" 1 30
                prev=$sb
            fi
            jfile="$BENCH_TMP/$sb/pg_tensafe_dr/journal"
            p0=$(bench_psql "$sb" "SELECT pending_events FROM dr_status()")
            s0=$(stat -c %s "$jfile" 2>/dev/null || echo 0)
            wpid=$(bench_psql "$sb" "$WORKER_SQL")
            t0=$(bench_now); w0=$(bench_proc_ns "$wpid")
            run_pgbench "$sb" "$BENCH_TMP/dr.sql" "$c"
            t1=$(bench_now); w1=$(bench_proc_ns "$wpid")
            p1=$(bench_psql "$sb" "SELECT pending_events FROM dr_status()")
            s1=$(stat -c %s "$jfile")
            [ $(( p1 - p0 )) = "$PGB_XACTS" ] ||
                bench_die "standby: $(( p1 - p0 )) journalled events for $PGB_XACTS transactions"
            RESULTS["standby $c dr"]="${RESULTS["standby $c dr"]:-} $PGB_TPS"
            rec=$(( (s1 - s0) / (PGB_XACTS > 0 ? PGB_XACTS : 1) ))
            fl=$(bench_as_pg perl "$BENCH_TMP/append_fsync.pl" "$BENCH_TMP/append_test" \
                "$SECONDS_PER_RUN" "$rec")
            RESULTS["standby $c floor"]="${RESULTS["standby $c floor"]:-} $fl"
            printf '    -c %s  round %s:  journal %6.0f   append+fsync %6.0f   (%d events of %d bytes, %d pending before; worker %.0f ms CPU/s)\n' \
                "$c" "$r" "$PGB_TPS" "$fl" "$PGB_XACTS" "$rec" "$p0" \
                "$(bench_calc "(${w1:-0} - ${w0:-0}) / 1e6 / ($t1 - $t0)")"
        done
    done
fi

if [ "$FSYNC_TEST" = 1 ]; then
    bench_log "pg_test_fsync, one 8 kB write, on the file system of the data directories"
    bench_as_pg "$DR_PG_BIN/pg_test_fsync" -s 1 -f "$BENCH_TMP/fsync_test" 2>&1 |
        awk '/one 8kB write/ { on = 1; next } on && /ops\/sec/ { print "    " $0 } on && /^$/ { exit }' || true
fi

# ---------------------------------------------------------------------------
bench_log "results: median events/s"
printf '    %-8s %7s %12s %12s %12s\n' node clients dr_record plain "ratio dr/plain"
for c in $CLIENTS; do
    # shellcheck disable=SC2086
    md=$(bench_median ${RESULTS["primary $c dr"]})
    # shellcheck disable=SC2086
    mp=$(bench_median ${RESULTS["primary $c plain"]})
    printf '    %-8s %7s %12.0f %12.0f %12.3f\n' primary "$c" "$md" "$mp" "$(bench_calc "$md / $mp")"
done
if [ "$STANDBY" = 1 ]; then
    for c in $CLIENTS; do
        # shellcheck disable=SC2086
        md=$(bench_median ${RESULTS["standby $c dr"]})
        # shellcheck disable=SC2086
        mf=$(bench_median ${RESULTS["standby $c floor"]})
        printf '    %-8s %7s %12.0f %12s %12s   journalled; append+fsync alone %.0f/s, ratio %.3f\n' \
            standby "$c" "$md" - - "$mf" "$(bench_calc "$md / $mf")"
    done
fi
bench_machine_note
bench_check_lib_unchanged
