#!/usr/bin/env bash
# bench/notify_latency.sh — webhook notifications: event-to-receiver latency
# with a healthy receiver (median, p99), and user commit latency with a hung
# receiver against no channels at all (target: ratio ≈ 1.0, since delivery
# happens in the notifier worker, never in a user's transaction).
#
# Run as root:   bash bench/notify_latency.sh            (~4 min)
#                QUICK=1 bash bench/notify_latency.sh    (~1.5 min, smoke test)
#
# One primary, tensafe_dr preloaded (sample and heartbeat interval 1 s,
# tensafe_dr.webhook_timeout = $WEBHOOK_TIMEOUT), the extension created in
# database postgres, and the test receiver (test/webhook_receiver.py: a real
# HTTP server on 127.0.0.1 that appends every request to a log as a JSON
# line with its arrival time 't', time.time()).  Everything runs on this
# machine, so the server's clock_timestamp() and the receiver's time.time()
# are the same clock.
#
# 1. Latency.  A channel 'bench' -> http://127.0.0.1:PORT/ok (all event
#    types).  One unmeasured event first (the first delivery), then $EVENTS
#    events, one per transaction, from one psql session paced at
#    $EVENT_RATE/s on an absolute schedule:
#        SELECT dr_record_event('BENCH_LATENCY',
#                 jsonb_build_object('sent', extract(epoch from clock_timestamp()), 'i', i));
#    Latency of each = the receiver's 't' of its first request minus the
#    event's occurred_at in dr_event_log (joined on the event id in the
#    body).  Printed: median, p90, p99, min, max; also t - details.sent (the
#    same thing measured from the client's argument), and the notifier's own
#    record in dr_notifications (delivered_at - occurred_at, which also
#    includes recording the outcome).  The notifier polls the outbox every
#    250 ms and nothing wakes it on a new event, so about 125 ms of the
#    median is the wait for the next poll.
#
# 2. Commit latency.  pgbench -n -c $CLIENTS -j $JOBS -T $SECONDS_PER_ROUND
#    of a small write transaction, autocommit:
#        INSERT INTO bench_commit (client) VALUES (:client_id);
#    Two arms, interleaved A B A B ... ($ROUNDS of each):
#      A  no webhook channel at all (and a notifier that is idle);
#      B  one channel 'hangN' -> http://127.0.0.1:PORT/hang, event_types NULL:
#         the receiver holds each request 30 s, so every attempt ends in the
#         $WEBHOOK_TIMEOUT timeout and the notifier is stuck on it for the
#         whole round (checked before and after the measured run).
#    In both arms a second, separate pgbench records events meanwhile
#    (SELECT dr_record_event('BENCH_HANG', '{}') at -R $EVENT_PRODUCER_RATE,
#    about one per 100 ms), so the only difference between the arms is the
#    channel and the hung receiver; that client's transactions are not in
#    the figures.  Before each round: bench_commit truncated, CHECKPOINT,
#    $WARMUP_SECONDS of unmeasured pgbench.  After each B round the channel
#    is removed and the notifier terminated (pg_terminate_backend; it aborts
#    the transfer and is restarted after 1 s), so that the next A round
#    starts with no channel and an idle notifier.
#    Printed per round: TPS, average latency and p99 (from pgbench -l); per
#    arm the medians, and the ratios B/A (TPS and average latency).
#
# Install: packages (test/setup.sh), then /var/tmp/tensafe_dr-install.lock
# (the lock test/run-tests.sh takes) held until the script exits, then the
# build in $DR_BUILD_DIR [/var/tmp/tensafe_dr-bench4-build] and make
# install.  Servers run as postgres in a mktemp -d directory; the receiver
# and both pgbench/psql clients run as postgres too (setpriv, so the PIDs
# are theirs); the EXIT trap kills those by PID, stops the server and
# removes the directory.
#
# Environment (defaults in brackets): EVENTS [200], EVENT_RATE [20] (events/s
# in part 1), ROUNDS [3] per arm, SECONDS_PER_ROUND [20] (SECONDS=N in the
# environment is taken too; bash reuses that name as a counter, so it is
# read from the initial environment), CLIENTS [4], JOBS [2],
# WARMUP_SECONDS [3], EVENT_PRODUCER_RATE [10] (events/s during part 2),
# WEBHOOK_TIMEOUT [5s], PYTHON [/usr/bin/python3], QUICK [0]: 1 = 50 events, 1 round of 8 s per arm.
# BENCH_SKIP_BUILD=1 skips packages and build (still takes the lock).

# SECONDS from the environment this process was started with (bash has
# already turned $SECONDS into its own counter).
ENV_SECONDS=$(tr '\0' '\n' < /proc/$$/environ | sed -n 's/^SECONDS=//p' | head -n1)

export DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-bench4-build}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# lib.sh sources test/setup.sh (set -euo pipefail, PostgreSQL bin on PATH)
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    EVENTS=${EVENTS:-50}; ROUNDS=${ROUNDS:-1}; SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-8}
fi
EVENTS=${EVENTS:-200}
EVENT_RATE=${EVENT_RATE:-20}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-${ENV_SECONDS:-20}}
CLIENTS=${CLIENTS:-4}
JOBS=${JOBS:-2}
WARMUP_SECONDS=${WARMUP_SECONDS:-3}
EVENT_PRODUCER_RATE=${EVENT_PRODUCER_RATE:-10}
WEBHOOK_TIMEOUT=${WEBHOOK_TIMEOUT:-5s}
SECRET='bench-secret-0123456789'
# the system Python (root's PATH may lead to a per-user one postgres cannot run)
PYTHON=${PYTHON:-/usr/bin/python3}
for v in EVENTS ROUNDS SECONDS_PER_ROUND CLIENTS JOBS WARMUP_SECONDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || bench_die "$v must be a whole number, not '${!v}'"
done
[ "$EVENTS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] && [ "$SECONDS_PER_ROUND" -ge 1 ] ||
    bench_die "EVENTS, ROUNDS and SECONDS_PER_ROUND must be at least 1"

# ---------------------------------------------------------------------------
# Install, under the same lock as test/run-tests.sh, held until exit.
dr_require_root
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    dr_install_packages "${DR_BASE_PACKAGES[@]}"
fi
exec 8>/var/tmp/tensafe_dr-install.lock
if ! flock -n 8; then
    dr_log "another run holds /var/tmp/tensafe_dr-install.lock; waiting"
    flock 8
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    dr_build_and_install
fi
for cmd in pgbench psql "$PYTHON" setpriv; do
    command -v "$cmd" >/dev/null || bench_die "$cmd not found"
done

# ---------------------------------------------------------------------------
# Temp dir and cleanup: our own background processes by PID, then
# lib.sh's bench_cleanup (servers, temp dir, log tails on failure).
BENCH_TMP=$(mktemp -d /tmp/tensafe_dr-bench.XXXXXX)
chown postgres:postgres "$BENCH_TMP"
chmod 700 "$BENCH_TMP"
declare -a BG_PIDS=()

notify_cleanup() {
    local rc=$? p
    set +e
    trap - EXIT INT TERM
    for p in "${BG_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${BG_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] && [ -s "$BENCH_TMP/receiver.err" ]; then
        printf '\n--- last lines of receiver.err ---\n' >&2
        tail -n 10 "$BENCH_TMP/receiver.err" >&2
    fi
    (exit "$rc")
    bench_cleanup
}
trap notify_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# As postgres: setpriv execs CMD in place (no fork), so the $! of
# "${AS_PG[@]}" CMD & is CMD's PID.  Background processes are started with
# fd 8 (the install lock) closed.
AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
as_pg_exec() { "${AS_PG[@]}" "$@"; }

# Stop one background process of ours, by PID, and forget it.
bg_stop() {
    local pid=$1 p keep=()
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${BG_PIDS[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    BG_PIDS=("${keep[@]}")
}

psql_file() {   # psql_file FILE: run FILE in one session on the primary
    as_pg_exec "$DR_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_TMP" \
        -p "${BENCH_PORT[primary]}" -U postgres -d postgres -f "$1"
}

# ---------------------------------------------------------------------------
bench_log "setup: primary with tensafe_dr preloaded, webhook receiver"
bench_node_init primary
bench_node_arm primary tensafe_dr
printf "tensafe_dr.webhook_timeout = '%s'\n" "$WEBHOOK_TIMEOUT" >> "$BENCH_TMP/primary/postgresql.conf"
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
bench_poll primary "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'" 1 60
bench_poll primary "SELECT last_sample_at IS NOT NULL FROM dr_status()" t 60

RECV_PORT=$(bench_free_port)
BENCH_PORT["receiver"]=$RECV_PORT      # so that no later node picks it
cp "$DR_SRC_DIR/test/webhook_receiver.py" "$BENCH_TMP/receiver.py"
: > "$BENCH_TMP/received.jsonl"
chown postgres:postgres "$BENCH_TMP/receiver.py" "$BENCH_TMP/received.jsonl"
"${AS_PG[@]}" "$PYTHON" "$BENCH_TMP/receiver.py" "$RECV_PORT" "$BENCH_TMP/received.jsonl" \
    8>&- </dev/null >/dev/null 2>"$BENCH_TMP/receiver.err" &
RECV_PID=$!
BG_PIDS+=("$RECV_PID")
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$RECV_PORT") 2>/dev/null && break
    kill -0 "$RECV_PID" 2>/dev/null || bench_die "the receiver exited: $(cat "$BENCH_TMP/receiver.err")"
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$RECV_PORT") 2>/dev/null || bench_die "the receiver does not listen on $RECV_PORT"
printf '    receiver: 127.0.0.1:%s (pid %s)\n' "$RECV_PORT" "$RECV_PID"

printf '    events: %s at %s/s; commit rounds: %s per arm, %s s each (+%s s warm-up), -c %s -j %s;\n' \
    "$EVENTS" "$EVENT_RATE" "$ROUNDS" "$SECONDS_PER_ROUND" "$WARMUP_SECONDS" "$CLIENTS" "$JOBS"
printf '    event producer during the rounds: %s/s; webhook_timeout %s\n' "$EVENT_PRODUCER_RATE" \
    "$(bench_psql primary "SHOW tensafe_dr.webhook_timeout")"
bench_source_note
bench_machine_note

# ---------------------------------------------------------------------------
bench_log "1. event -> receiver latency (healthy receiver)"
bench_psql primary "SELECT dr_webhook_add('bench', 'http://127.0.0.1:$RECV_PORT/ok', '$SECRET', NULL)" >/dev/null
# the first delivery (connection set-up, caches) is not measured
bench_psql primary "SELECT dr_record_event('BENCH_WARMUP', '{}')" >/dev/null
bench_poll primary "SELECT status FROM dr_notifications WHERE event_type = 'BENCH_WARMUP'" delivered 60

{
    printf 'SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset\n'
    for i in $(seq 1 "$EVENTS"); do
        printf "SELECT dr_record_event('BENCH_LATENCY', jsonb_build_object('sent', extract(epoch FROM clock_timestamp()), 'i', %s));\n" "$i"
        printf 'SELECT pg_sleep(greatest(0, :t0 + %s - extract(epoch FROM clock_timestamp())));\n' \
            "$(bench_calc "$i / $EVENT_RATE")"
    done
} > "$BENCH_TMP/latency_events.sql"
chown postgres:postgres "$BENCH_TMP/latency_events.sql"
t_start=$(bench_now)
psql_file "$BENCH_TMP/latency_events.sql" 8>&- >/dev/null
t_end=$(bench_now)
printf '    %s events recorded in %.1f s (%.1f/s)\n' "$EVENTS" "$(bench_calc "$t_end - $t_start")" \
    "$(bench_calc "$EVENTS / ($t_end - $t_start)")"
bench_poll primary "SELECT count(*) FROM dr_notifications WHERE event_type = 'BENCH_LATENCY' AND status <> 'pending'" \
    "$EVENTS" 120
bench_psql primary "COPY (SELECT e.id, extract(epoch FROM e.occurred_at), extract(epoch FROM n.delivered_at),
                            n.status, n.attempts
                       FROM dr_event_log e LEFT JOIN dr_notifications n ON n.event_id = e.id AND n.channel = 'bench'
                      WHERE e.event_type = 'BENCH_LATENCY') TO STDOUT" > "$BENCH_TMP/latency_db.tsv"
sleep 1   # the receiver appends after answering
"$PYTHON" - "$BENCH_TMP/latency_db.tsv" "$BENCH_TMP/received.jsonl" "$EVENTS" <<'PY'
import json, math, sys
dbfile, recvfile, n_expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = {}
for line in open(dbfile):
    eid, occ, dlv, status, attempts = line.rstrip('\n').split('\t')
    db[int(eid)] = (float(occ), float(dlv) if dlv not in ('', '\\N') else None, status, int(attempts or 0))
first, sent, requests, keys_seen = {}, {}, 0, {}
for line in open(recvfile):
    r = json.loads(line)
    if r['headers'].get('x-tensafe-event') != 'BENCH_LATENCY':
        continue
    requests += 1
    body = json.loads(r['body'])
    eid = int(body['event']['id'])
    keys_seen[body['idempotency_key']] = keys_seen.get(body['idempotency_key'], 0) + 1
    if r['status'] == 200 and (eid not in first or r['t'] < first[eid]):
        first[eid] = r['t']
        sent[eid] = float(body['event']['details']['sent'])

def pct(xs, p):      # nearest rank
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

def show(label, xs):
    if not xs:
        print(f'    {label}: no data'); return
    xs = [x * 1000 for x in xs]
    print(f'    {label}: median {pct(xs, 50):7.1f} ms   p90 {pct(xs, 90):7.1f}   p99 {pct(xs, 99):7.1f}'
          f'   min {min(xs):6.1f}   max {max(xs):7.1f}   mean {sum(xs) / len(xs):6.1f}   (n = {len(xs)})')

lat = [first[e] - db[e][0] for e in first if e in db]
print(f'    events in dr_event_log: {len(db)} (expected {n_expected}); received (200): {len(first)};'
      f' requests: {requests}; idempotency keys received more than once: {sum(1 for v in keys_seen.values() if v > 1)}')
statuses = {}
for v in db.values():
    statuses[v[2]] = statuses.get(v[2], 0) + 1
print(f'    outbox status: {statuses}; attempts > 1: {sum(1 for v in db.values() if v[3] > 1)}')
show('receiver t - occurred_at      ', lat)
show('receiver t - details.sent     ', [first[e] - sent[e] for e in first])
show('outbox delivered_at - occurred', [v[1] - v[0] for v in db.values() if v[1] is not None])
neg = [x for x in lat if x < 0]
if neg:
    print(f'    WARNING: {len(neg)} negative latencies (clock?)')
with open(dbfile + '.summary', 'w') as f:
    xs = [x * 1000 for x in lat]
    f.write(f'{pct(xs, 50):.1f} {pct(xs, 99):.1f}\n' if xs else 'n/a n/a\n')
PY
read -r LAT_P50 LAT_P99 < "$BENCH_TMP/latency_db.tsv.summary"
bench_psql primary "SELECT dr_webhook_remove('bench')" >/dev/null

# ---------------------------------------------------------------------------
bench_log "2. commit latency: A = no channels, B = a channel on a hung receiver"
bench_psql primary "CREATE TABLE bench_commit (id bigint GENERATED ALWAYS AS IDENTITY, client int,
                                               at timestamptz NOT NULL DEFAULT now())"
printf 'INSERT INTO bench_commit (client) VALUES (:client_id);\n' > "$BENCH_TMP/commit.sql"
printf "SELECT dr_record_event('BENCH_HANG', '{}');\n" > "$BENCH_TMP/event.sql"
chown postgres:postgres "$BENCH_TMP/commit.sql" "$BENCH_TMP/event.sql"

NOTIFIER_SQL="FROM pg_stat_activity WHERE backend_type = 'tensafe_dr notifier'"
notifier_state() {   # what the notifier is doing now: delivering / idle / ...
    bench_psql primary "SELECT coalesce(max(CASE WHEN state = 'active' THEN query END), 'idle') $NOTIFIER_SQL" |
        sed 's/^tensafe_dr notifier: //'
}

# run_pgbench LABEL SECONDS [log]: the INSERT workload; prints "tps lat_avg_ms p50_ms p99_ms"
run_pgbench() {
    local label=$1 secs=$2 logit=${3:-} out tps lat p50=- p99=- args=()
    if [ -n "$logit" ]; then
        rm -f "$BENCH_TMP/pgb_$label".*
        args=(-l --log-prefix="$BENCH_TMP/pgb_$label")
    fi
    out=$(cd "$BENCH_TMP" && as_pg_exec pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" -U postgres \
        -n -c "$CLIENTS" -j "$JOBS" -T "$secs" -f "$BENCH_TMP/commit.sql" "${args[@]}" postgres 8>&- 2>&1) ||
        { printf '%s\n' "$out" >&2; bench_die "pgbench failed ($label)"; }
    tps=$(printf '%s\n' "$out" | awk '/^tps = / { print $3; exit }')
    lat=$(printf '%s\n' "$out" | awk '/^latency average = / { print $4; exit }')
    [ -n "$tps" ] && [ -n "$lat" ] || { printf '%s\n' "$out" >&2; bench_die "no tps/latency in pgbench output"; }
    if printf '%s\n' "$out" | grep -q '^number of failed transactions: [1-9]'; then
        printf '%s\n' "$out" >&2; bench_die "pgbench reported failed transactions"
    fi
    if [ -n "$logit" ]; then
        # per-transaction log: client tx latency_us script epoch epoch_us
        read -r p50 p99 < <(cat "$BENCH_TMP/pgb_$label".* | awk '{ print $3 / 1000 }' | sort -g |
            awk '{ a[NR] = $1 } END { i50 = int(NR * 0.5); if (i50 < NR * 0.5) i50++;
                                      i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++;
                                      printf "%.2f %.2f\n", a[i50], a[i99] }')
        rm -f "$BENCH_TMP/pgb_$label".*
    fi
    printf '%s %s %s %s\n' "$tps" "$lat" "$p50" "$p99"
}

declare -A TPS=() LAT=() P99=()
for r in $(seq 1 "$ROUNDS"); do
    for arm in A B; do
        bench_psql primary "TRUNCATE bench_commit" >/dev/null
        bench_psql primary "CHECKPOINT" >/dev/null
        channel=""
        if [ "$arm" = B ]; then
            channel="hang$r"
            bench_psql primary "SELECT dr_webhook_add('$channel', 'http://127.0.0.1:$RECV_PORT/hang', '$SECRET', NULL)" >/dev/null
        else
            [ "$(bench_psql primary "SELECT count(*) FROM dr_webhooks")" = 0 ] || bench_die "arm A with a channel"
        fi
        # events meanwhile, in both arms; not part of the measured workload
        "${AS_PG[@]}" pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" -U postgres -n -c 1 -j 1 \
            -R "$EVENT_PRODUCER_RATE" -T $(( WARMUP_SECONDS + SECONDS_PER_ROUND + 120 )) \
            -f "$BENCH_TMP/event.sql" postgres 8>&- </dev/null >"$BENCH_TMP/producer.out" 2>&1 &
        PRODUCER_PID=$!
        BG_PIDS+=("$PRODUCER_PID")
        if [ "$arm" = B ]; then
            # stuck on the hung endpoint before anything is measured
            bench_poll primary "SELECT count(*) $NOTIFIER_SQL AND state = 'active' AND query = 'tensafe_dr notifier: delivering'" 1 30
        fi
        ev0=$(bench_psql primary "SELECT count(*) FROM dr_event_log WHERE event_type = 'BENCH_HANG'")
        state0=$(notifier_state)
        run_pgbench "w$arm$r" "$WARMUP_SECONDS" >/dev/null
        res=$(run_pgbench "$arm$r" "$SECONDS_PER_ROUND" log)
        read -r tps lat p50 p99 <<<"$res"
        state1=$(notifier_state)
        ev1=$(bench_psql primary "SELECT count(*) FROM dr_event_log WHERE event_type = 'BENCH_HANG'")
        kill -0 "$PRODUCER_PID" 2>/dev/null || bench_die "the event producer stopped early: $(tail -n 5 "$BENCH_TMP/producer.out")"
        bg_stop "$PRODUCER_PID"
        extra=""
        if [ "$arm" = B ]; then
            extra=$(bench_psql primary "SELECT format('outbox rows %s, attempts %s, delivered %s', count(*), sum(attempts),
                                                      count(*) FILTER (WHERE status = 'delivered'))
                                          FROM dr_notifications WHERE channel = '$channel'")
            # back to no channel and an idle notifier for the next A round
            old_pid=$(bench_psql primary "SELECT pid $NOTIFIER_SQL")
            bench_psql primary "SELECT dr_webhook_remove('$channel')" >/dev/null
            bench_psql primary "SELECT pg_terminate_backend(pid) $NOTIFIER_SQL" >/dev/null
            bench_poll primary "SELECT count(*) $NOTIFIER_SQL AND pid <> $old_pid AND NOT (state = 'active' AND query = 'tensafe_dr notifier: delivering')" 1 60
        fi
        TPS[$arm]="${TPS[$arm]:-} $tps"
        LAT[$arm]="${LAT[$arm]:-} $lat"
        P99[$arm]="${P99[$arm]:-} $p99"
        printf '    round %s %s: %8.1f tps  latency avg %6.2f ms  p50 %6.2f  p99 %7.2f  | notifier %s -> %s; %s events%s\n' \
            "$r" "$arm" "$tps" "$lat" "$p50" "$p99" "$state0" "$state1" "$(( ev1 - ev0 ))" "${extra:+; $extra}"
    done
done

bench_log "results"
printf '    event -> receiver latency (healthy receiver, %s events): median %s ms, p99 %s ms\n' \
    "$EVENTS" "$LAT_P50" "$LAT_P99"
# shellcheck disable=SC2086
{
    tA=$(bench_median ${TPS[A]}); tB=$(bench_median ${TPS[B]})
    lA=$(bench_median ${LAT[A]}); lB=$(bench_median ${LAT[B]})
    pA=$(bench_median ${P99[A]}); pB=$(bench_median ${P99[B]})
}
printf '    %-34s %10s %14s %12s\n' "commit workload (median of rounds)" TPS "latency avg" "p99"
printf '    %-34s %10.1f %11.2f ms %9.2f ms\n' "A  no channels" "$tA" "$lA" "$pA"
printf '    %-34s %10.1f %11.2f ms %9.2f ms\n' "B  channel on a hung receiver" "$tB" "$lB" "$pB"
printf '    %-34s %10.3f %14.3f %12.3f   (target ≈ 1.0)\n' "ratio B/A" \
    "$(bench_calc "$tB / $tA")" "$(bench_calc "$lB / $lA")" "$(bench_calc "$pB / $pA")"
# spread of each arm: (max - min) / median of TPS
for arm in A B; do
    # shellcheck disable=SC2086
    printf '    spread of TPS, arm %s: %.1f %%\n' "$arm" \
        "$(printf '%s\n' ${TPS[$arm]} | sort -g | awk -v m="$( [ $arm = A ] && echo "$tA" || echo "$tB")" \
            'NR == 1 { lo = $1 } { hi = $1 } END { print 100 * (hi - lo) / m }')"
done
# each B round against the mean of the A rounds either side of it (A B A B
# ...: the last B has only the A before it), which cancels a slow drift of
# the machine's speed
read -ra ta <<<"${TPS[A]}"; read -ra tb <<<"${TPS[B]}"
read -ra la <<<"${LAT[A]}"; read -ra lb <<<"${LAT[B]}"
pair_t=(); pair_l=()
for i in "${!tb[@]}"; do
    j=$(( i + 1 < ${#ta[@]} ? i + 1 : i ))
    pair_t+=("$(bench_calc "${tb[$i]} / ((${ta[$i]} + ${ta[$j]}) / 2)")")
    pair_l+=("$(bench_calc "${lb[$i]} / ((${la[$i]} + ${la[$j]}) / 2)")")
done
printf '    B against its neighbouring A rounds, TPS:         %s  (median %s)\n' "${pair_t[*]}" "$(bench_median "${pair_t[@]}")"
printf '    B against its neighbouring A rounds, latency avg: %s  (median %s)\n' "${pair_l[*]}" "$(bench_median "${pair_l[@]}")"
bench_machine_note
bench_check_lib_unchanged
