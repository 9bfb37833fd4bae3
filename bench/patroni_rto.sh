#!/usr/bin/env bash
# bench/patroni_rto.sh — RTO of an automatic Patroni failover with the
# tensafe_dr pre_promote gate in place and without it, on the same cluster
# configuration (target: the gate adds under 1 s).
#
# Run as root:   bash bench/patroni_rto.sh              (~7 min for 3 rounds per arm)
#                ROUNDS=5 bash bench/patroni_rto.sh     (~11 min)
#
# Each round: a fresh two-node cluster (test/lib/PatroniCluster.pm, as in
# test/t/010_patroni.pl: etcd 3.4 + Patroni 3.0 on 127.0.0.1, ttl 10,
# loop_wait 2, retry_timeout 3; library preloaded and extension created on
# both nodes, the Patroni callbacks in both arms; pre_promote set or not).
# Once the replica's dr_status() says rpo_state 'ok' and its worker has
# recorded a contact with the leader, the leader's Patroni and postmaster
# are killed with SIGKILL; the RTO is the time from the kill until the
# replica accepts an INSERT (polled: SELECT NOT pg_is_in_recovery() every
# 100 ms, then INSERT until it succeeds).  The cluster is stopped and deleted.
# Rounds alternate gate, no gate, gate, ... (ROUNDS of each).
#
# Printed per round: RTO, when the replica became read-write, when its
# Patroni took the leader lock and started the promotion ("promoted self to
# leader by acquiring session lock" in its log, millisecond timestamps), the
# time from there to the accepted write, and in the gate arm how long the
# gate ran inside the failover (the configured pre_promote is a small
# wrapper that records start, end and exit code of the real script, adding
# one bash start of a few ms).  Then per arm the medians, the difference and
# ratio of the RTO medians, and the difference of the "lock -> write"
# medians: the RTO is dominated by the leader key's ttl (the replica can
# only take the lock when the dead leader's key expires, 8 to 10 s after the
# kill depending on when the leader last refreshed it), which adds up to 2 s
# of noise that has nothing to do with the gate; the part after the lock is
# where the gate runs.
# Last, the gate's direct cost: tensafe_dr_pre_promote --dsn ... timed
# GATE_RUNS (20) times against a healthy standby of a fresh cluster, with
# psql -c 'SELECT 1' for comparison.
#
# Like test/run-tests.sh: installs missing packages, builds the working tree
# as postgres in $DR_BUILD_DIR (default /var/tmp/tensafe_dr-bench3-build)
# and installs it under /var/tmp/tensafe_dr-install.lock, which it holds
# until the end (a test run started meanwhile waits instead of replacing the
# installed library).  The driver (bench/patroni_rto.pl) runs as postgres in
# a mktemp -d directory; every process it starts is killed by PID at the end
# (PatroniCluster's stop_all, also from END on failure) and the directory
# removed (on failure, the tails of the Patroni logs are printed first).
#
# Environment (defaults in brackets): ROUNDS [3] per arm, GATE_RUNS [20],
# TTL [10], RPO_TARGET [3s], RPO_MAX [6s], PROMOTE_MAX_LAG [4s] (the
# settings of test/t/010_patroni.pl), READY_TIMEOUT [90] s,
# FAILOVER_TIMEOUT [120] s, BENCH_SKIP_BUILD=1 (extension already
# installed: no packages, no build, still takes the lock).

export DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-bench3-build}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# lib.sh sources test/setup.sh (set -euo pipefail, PostgreSQL bin on PATH)
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

export ROUNDS=${ROUNDS:-3}
export GATE_RUNS=${GATE_RUNS:-20}
export TTL=${TTL:-10}
export RPO_TARGET=${RPO_TARGET:-3s} RPO_MAX=${RPO_MAX:-6s} PROMOTE_MAX_LAG=${PROMOTE_MAX_LAG:-4s}
export READY_TIMEOUT=${READY_TIMEOUT:-90} FAILOVER_TIMEOUT=${FAILOVER_TIMEOUT:-120}
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"
[ "$ROUNDS" -ge 3 ] || echo "warning: fewer than 3 rounds per arm; the medians mean little" >&2

dr_require_root
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    dr_install_packages "${DR_BASE_PACKAGES[@]}"
fi
for cmd in patroni etcd psql; do
    command -v "$cmd" >/dev/null || bench_die "$cmd not found"
done

# Same lock as test/run-tests.sh, held until this script exits.  The driver
# runs with fd 8 closed, so no process it starts can keep the lock alive.
exec 8>/var/tmp/tensafe_dr-install.lock
if ! flock -n 8; then
    dr_log "another run holds /var/tmp/tensafe_dr-install.lock; waiting"
    flock 8
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    dr_build_and_install
    SCRIPTS_DIR=$DR_BUILD_DIR/patroni
else
    # no build copy: a copy of the tree's scripts, for the same reason
    SCRIPTS_DIR=
fi

RTO_TMP=$(mktemp -d /tmp/tensafe_dr-rto.XXXXXX)
chown postgres:postgres "$RTO_TMP"
chmod 700 "$RTO_TMP"
rto_cleanup() {
    local rc=$? f
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ] && [ -d "$RTO_TMP" ]; then
        for f in "$RTO_TMP"/work/*/node*/patroni.log "$RTO_TMP"/work/*/etcd.log; do
            [ -f "$f" ] || continue
            printf '\n--- last lines of %s ---\n' "${f#"$RTO_TMP"/}" >&2
            tail -n 15 "$f" >&2 || true
        done
        for f in "$RTO_TMP"/tmp_check/log/regress_log_*; do
            [ -f "$f" ] && { printf '\n--- last lines of the driver log ---\n' >&2; tail -n 30 "$f" >&2; }
        done
    fi
    rm -rf "$RTO_TMP"
    exit "$rc"
}
trap rto_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$SCRIPTS_DIR" ]; then
    SCRIPTS_DIR=$RTO_TMP/patroni
    cp -r "$DR_SRC_DIR/patroni" "$SCRIPTS_DIR"
    chown -R postgres:postgres "$SCRIPTS_DIR"
fi
mkdir -p "$RTO_TMP/work"
cp "$BENCH_DIR/patroni_rto.pl" "$DR_SRC_DIR/test/lib/PatroniCluster.pm" "$RTO_TMP/"
chown -R postgres:postgres "$RTO_TMP"

dr_log "Patroni failover RTO, gate vs no gate"
bench_source_note
bench_machine_note
echo "    patroni $(patroni --version 2>&1 | awk '{ print $2 }'), $(etcd --version 2>&1 | head -n1)"

start=$(date +%s)
# Killing the driver (Ctrl-C) makes its END stop every process it started.
(cd "$RTO_TMP" && runuser -u postgres -- env \
    PATH="$DR_PG_BIN:$PATH" TESTDIR="$RTO_TMP" RTO_WORK="$RTO_TMP/work" \
    RTO_SCRIPTS="$SCRIPTS_DIR" ROUNDS="$ROUNDS" GATE_RUNS="$GATE_RUNS" TTL="$TTL" \
    RPO_TARGET="$RPO_TARGET" RPO_MAX="$RPO_MAX" PROMOTE_MAX_LAG="$PROMOTE_MAX_LAG" \
    READY_TIMEOUT="$READY_TIMEOUT" FAILOVER_TIMEOUT="$FAILOVER_TIMEOUT" \
    perl -I "$RTO_TMP" -I /usr/lib/postgresql/15/lib/pgxs/src/test/perl \
        "$RTO_TMP/patroni_rto.pl") 8>&-

echo
echo "    run time $(( $(date +%s) - start )) s"
bench_machine_note
bench_check_lib_unchanged
