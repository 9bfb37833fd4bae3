#!/usr/bin/env bash
# bench/lib.sh — helpers shared by the benchmarks (source it, as root).
#
#   bench_init                 root check, packages, install lock (held
#                              until exit), build + install the extension,
#                              temp dir, cleanup trap
#   bench_node_init NAME       initdb a primary NAME in the temp dir
#   bench_node_standby NAME P  pg_basebackup a streaming standby NAME of P
#   bench_node_arm NAME LIBS   write NAME's per-arm settings (arm.conf)
#   bench_node_start/stop/restart NAME
#   bench_psql NAME SQL        one value (or rows) from psql -XAtq
#   bench_poll NAME SQL WANT [TIMEOUT]   poll until SQL returns WANT
#   bench_pgbench NAME ARGS... pgbench as postgres against NAME, prints tps
#   bench_proc_ticks PID       utime+stime of PID in clock ticks
#   bench_proc_ns PID          on-CPU time of PID in ns (/proc/PID/schedstat)
#   bench_median N...          median of numbers
#
# BENCH_EXTRA_CONF (env): lines appended to every node's postgresql.conf,
# e.g. BENCH_EXTRA_CONF="synchronous_commit = off".
#
# Every server is started by pg_ctl as postgres, listening on 127.0.0.1 on a
# free port and on a unix socket in the temp dir.  The EXIT trap stops every
# server started here (pg_ctl -m immediate stop, then SIGKILL of the
# postmaster if that failed) and removes the temp dir, on success, failure
# or interrupt.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# setup.sh sets -euo pipefail and puts the PostgreSQL binaries on PATH.
export DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-bench-build}
# shellcheck source=../test/setup.sh
source "$BENCH_DIR/../test/setup.sh"

BENCH_TMP=
declare -A BENCH_PORT=()        # node name -> port
declare -a BENCH_NODES=()       # nodes in creation order

bench_log() { printf '\n==> %s\n' "$*"; }
bench_die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

bench_cleanup() {
    local rc=$?
    local n dir pid
    trap - EXIT INT TERM
    for n in "${BENCH_NODES[@]}"; do
        dir="$BENCH_TMP/$n"
        [ -f "$dir/postmaster.pid" ] || continue
        if ! runuser -u postgres -- "$DR_PG_BIN/pg_ctl" -D "$dir" -m immediate \
                -w -t 30 stop >/dev/null 2>&1; then
            pid=$(head -n1 "$dir/postmaster.pid" 2>/dev/null || true)
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
        # BENCH_SAVE_LOGS=DIR: keep the server logs of the run
        if [ -n "${BENCH_SAVE_LOGS:-}" ]; then
            mkdir -p "$BENCH_SAVE_LOGS" && cp "$BENCH_TMP"/*.log "$BENCH_SAVE_LOGS"/ 2>/dev/null || true
        fi
        if [ "$rc" -ne 0 ] && [ "${BENCH_KEEP_LOGS_ON_FAILURE:-1}" = 1 ]; then
            for n in "${BENCH_NODES[@]}"; do
                [ -f "$BENCH_TMP/$n.log" ] || continue
                printf '\n--- last lines of %s.log ---\n' "$n" >&2
                tail -n 20 "$BENCH_TMP/$n.log" >&2 || true
            done
        fi
        rm -rf "$BENCH_TMP"
    fi
    exit "$rc"
}

# bench_init: everything a run needs before the first initdb.
# BENCH_SKIP_BUILD=1 skips package check and build (extension already installed).
bench_init() {
    dr_require_root
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        dr_install_packages "${DR_BASE_PACKAGES[@]}"
    fi
    # Same lock as test/run-tests.sh, held until this script exits, so that
    # no other run replaces the installed library under this one.
    exec 8>/var/tmp/tensafe_dr-install.lock
    if ! flock -n 8; then
        dr_log "another run holds /var/tmp/tensafe_dr-install.lock; waiting"
        flock 8
    fi
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        dr_build_and_install
    fi
    command -v pgbench >/dev/null || bench_die "pgbench not found"
    BENCH_TMP=$(mktemp -d /tmp/tensafe_dr-bench.XXXXXX)
    chown postgres:postgres "$BENCH_TMP"
    chmod 700 "$BENCH_TMP"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    CLK_TCK=$(getconf CLK_TCK)
}

# A TCP port nobody listens on (127.0.0.1) and no other node of ours uses.
bench_free_port() {
    local p used n
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 20000 ))
        used=0
        for n in "${!BENCH_PORT[@]}"; do
            [ "${BENCH_PORT[$n]}" = "$p" ] && used=1
        done
        [ "$used" = 1 ] && continue
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue
        fi
        echo "$p"
        return 0
    done
    bench_die "no free port found"
}

bench_as_pg() { runuser -u postgres -- "$@"; }

# Settings common to every node.  Checkpoints only when asked (the runs
# CHECKPOINT between rounds) so that none lands inside a measured round.
bench_common_conf() {
    local port=$1
    cat <<EOF

# --- tensafe_dr bench ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$BENCH_TMP'
max_connections = 50
shared_buffers = '${BENCH_SHARED_BUFFERS:-256MB}'
max_wal_size = '8GB'
checkpoint_timeout = '1h'
wal_level = replica
max_wal_senders = 5
hot_standby = on
logging_collector = off
log_min_messages = warning
include_if_exists = 'arm.conf'
${BENCH_EXTRA_CONF:-}
EOF
}

bench_node_init() {
    local name=$1 dir="$BENCH_TMP/$1" port
    port=$(bench_free_port)
    BENCH_PORT[$name]=$port
    BENCH_NODES+=("$name")
    bench_as_pg "$DR_PG_BIN/initdb" -D "$dir" -U postgres -A trust \
        --no-instructions >/dev/null
    bench_common_conf "$port" >> "$dir/postgresql.conf"
}

# bench_node_standby NAME PRIMARY: base backup of the running PRIMARY, set up
# to stream from it (primary_conninfo in postgresql.auto.conf by -R).
bench_node_standby() {
    local name=$1 primary=$2 dir="$BENCH_TMP/$1" port
    port=$(bench_free_port)
    BENCH_PORT[$name]=$port
    BENCH_NODES+=("$name")
    bench_as_pg "$DR_PG_BIN/pg_basebackup" -h "$BENCH_TMP" -p "${BENCH_PORT[$primary]}" \
        -U postgres -D "$dir" -R -X stream -c fast
    # the copied postgresql.conf carries the primary's port: the last one wins
    printf "port = %s\ncluster_name = '%s'\n" "$port" "$name" >> "$dir/postgresql.conf"
    rm -f "$dir/arm.conf"
}

# bench_node_arm NAME LIBS: LIBS is '' (no library) or 'tensafe_dr'.
# Takes effect at the next (re)start.
bench_node_arm() {
    local name=$1 libs=$2 dir="$BENCH_TMP/$1"
    {
        printf "shared_preload_libraries = '%s'\n" "$libs"
        if [ -n "$libs" ]; then
            printf "tensafe_dr.sample_interval = '%s'\n" "${DR_SAMPLE_INTERVAL:-1s}"
            printf "tensafe_dr.heartbeat_interval = '%s'\n" "${DR_HEARTBEAT_INTERVAL:-1s}"
        fi
    } > "$dir/arm.conf"
    chown postgres:postgres "$dir/arm.conf"
}

bench_node_start() {
    local name=$1
    bench_as_pg "$DR_PG_BIN/pg_ctl" -D "$BENCH_TMP/$name" -l "$BENCH_TMP/$name.log" \
        -w -t 120 start >/dev/null
}

bench_node_stop() {
    local name=$1
    bench_as_pg "$DR_PG_BIN/pg_ctl" -D "$BENCH_TMP/$name" -m fast -w -t 120 stop >/dev/null
}

bench_psql() {
    local name=$1 sql=$2
    bench_as_pg "$DR_PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
        -h "$BENCH_TMP" -p "${BENCH_PORT[$name]}" -U postgres -d postgres -c "$sql"
}

# bench_poll NAME SQL WANT [TIMEOUT_S]: poll every 0.1 s until SQL returns WANT.
bench_poll() {
    local name=$1 sql=$2 want=$3 timeout=${4:-60} got=""
    local deadline=$(( $(date +%s) + timeout ))
    while :; do
        got=$(bench_psql "$name" "$sql" 2>/dev/null || true)
        [ "$got" = "$want" ] && return 0
        if [ "$(date +%s)" -ge "$deadline" ]; then
            bench_die "timeout after ${timeout}s on $name: '$sql' returned '$got', wanted '$want'"
        fi
        sleep 0.1
    done
}

# Wait until PRIMARY has STANDBY streaming and replayed up to its current WAL.
bench_wait_caught_up() {
    local primary=$1 lsn
    bench_poll "$primary" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 1 120
    lsn=$(bench_psql "$primary" "SELECT pg_current_wal_lsn()")
    bench_poll "$primary" "SELECT bool_and(replay_lsn >= '$lsn') FROM pg_stat_replication" t 120
}

# bench_pgbench NAME ARGS...: run pgbench against NAME's database postgres
# and print its tps (excluding connection time).
bench_pgbench() {
    local name=$1 out tps
    shift
    out=$(bench_as_pg pgbench -h "$BENCH_TMP" -p "${BENCH_PORT[$name]}" -U postgres \
        "$@" postgres 2>&1) || { printf '%s\n' "$out" >&2; bench_die "pgbench failed on $name"; }
    tps=$(printf '%s\n' "$out" | awk '/^tps = / { print $3; exit }')
    [ -n "$tps" ] || { printf '%s\n' "$out" >&2; bench_die "no tps in pgbench output"; }
    if printf '%s\n' "$out" | grep -q '^number of failed transactions: [1-9]'; then
        printf '%s\n' "$out" >&2
        bench_die "pgbench reported failed transactions"
    fi
    printf '%s\n' "$tps"
}

# utime + stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the command name in field 2 may contain spaces, so cut after its ')').
# bench_proc_ticks PID sys: stime alone.
bench_proc_ticks() {
    [[ "$1" =~ ^[0-9]+$ ]] || bench_die "not a PID: '$1'"
    sed 's/^.*) //' "/proc/$1/stat" |
        awk -v what="${2:-all}" '{ print (what == "sys") ? $13 : $12 + $13 }'
}

# Time PID has spent on a CPU, in ns (first field of /proc/PID/schedstat):
# exact, where ticks are sampled at 1/CLK_TCK granularity.  Empty if the
# kernel has no schedstat.
bench_proc_ns() {
    [[ "$1" =~ ^[0-9]+$ ]] || bench_die "not a PID: '$1'"
    [ -r "/proc/$1/schedstat" ] && awk '{ print $1 }' "/proc/$1/schedstat" || true
}

# PIDs of a node's postmaster and all its children.
bench_node_pids() {
    local dir="$BENCH_TMP/$1" pm
    pm=$(head -n1 "$dir/postmaster.pid")
    echo "$pm"
    ps -o pid= --ppid "$pm" | tr -d ' '
}

# Sum of utime+stime (ticks) over the given PIDs that still exist.
bench_sum_ticks() {
    local t=0 p v
    for p in "$@"; do
        v=$(bench_proc_ticks "$p" 2>/dev/null || echo 0)
        t=$(( t + ${v:-0} ))
    done
    echo "$t"
}

bench_now() { date +%s.%N; }

# bench_time_cmd CMD...: seconds the command took (it must succeed)
bench_time_cmd() {
    local t0 t1
    t0=$(bench_now)
    "$@" >/dev/null || bench_die "failed: $*"
    t1=$(bench_now)
    bench_calc "$t1 - $t0"
}

# One line on what else this machine is doing: the figures are only as good
# as the machine is quiet.
bench_machine_note() {
    local ours=" " n others=0 pid ppid comm pcomm
    for n in "${BENCH_NODES[@]}"; do
        [ -f "$BENCH_TMP/$n/postmaster.pid" ] && ours+="$(head -n1 "$BENCH_TMP/$n/postmaster.pid") "
    done
    # a postmaster: a process named postgres whose parent is not one
    while read -r pid ppid comm; do
        [ "$comm" = postgres ] || continue
        pcomm=$(cat "/proc/$ppid/comm" 2>/dev/null || true)
        [ "$pcomm" = postgres ] && continue
        [[ "$ours" == *" $pid "* ]] || others=$(( others + 1 ))
    done < <(ps -eo pid=,ppid=,comm=)
    printf '    machine: %s CPUs, load average %s, other PostgreSQL servers running: %s\n' \
        "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$others"
}

# Identity of the installed library: the build is installed into the
# server's shared pkglibdir, where a concurrent build (another checkout, a
# test run) may replace it between two restarts of a benchmark.
bench_lib_id() {
    local so
    so="$("$DR_PG_BIN/pg_config" --pkglibdir)/tensafe_dr.so"
    if [ -f "$so" ]; then
        printf '%s (%s)' "$(md5sum "$so" | cut -c1-12)" "$(date -r "$so" '+%F %T')"
    else
        printf 'missing'
    fi
}

# Source state the run was built from, for the record.
bench_source_note() {
    local head dirty=""
    head=$(git -C "$DR_SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$DR_SRC_DIR" status --porcelain -- src sql extension 2>/dev/null || true)" ]; then
        dirty=" + uncommitted changes in src/, sql/ or extension/"
    fi
    printf '    source: %s%s; library %s\n' "$head" "$dirty" "$(bench_lib_id)"
    BENCH_LIB_ID_START=$(bench_lib_id)
}

# Warn if the installed library changed during the run.
bench_check_lib_unchanged() {
    if [ "$(bench_lib_id)" != "${BENCH_LIB_ID_START:-}" ]; then
        printf '    WARNING: tensafe_dr.so was replaced during the run (%s -> %s):\n' \
            "${BENCH_LIB_ID_START:-?}" "$(bench_lib_id)"
        printf '             restarts after that loaded another build; rerun on a quiet machine.\n'
    fi
}

bench_median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
        END { if (NR == 0) exit 1;
              if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# bench_calc EXPR: floating-point arithmetic via awk.
bench_calc() { awk "BEGIN { printf \"%.6g\\n\", $* }"; }
bench_fmt() { awk -v f="$1" -v x="$2" 'BEGIN { printf f, x }'; }
