#!/usr/bin/env bash
# bench/notifier_memory.sh — the notifier's memory across many webhook
# deliveries (issue 13, item 9: "flat across 10,000 deliveries").
#
# Run as root:   bash bench/notifier_memory.sh                 (~2 min)
#                DELIVERIES=50000 bash bench/notifier_memory.sh
#
# It runs the TAP test test/t/026_notifier_bounds.pl with TDR_DELIVERIES =
# $DELIVERIES (default 10,000; the test suite runs 3,000) through
# test/run-tests.sh, which builds, installs and takes the install lock.
# The test queues events x 10 channels for a real HTTP receiver on
# 127.0.0.1 (test/webhook_receiver.py) in rounds of 1,000 deliveries and
# measures the idle notifier after each: the "Grand total" of its memory
# contexts (pg_log_backend_memory_contexts(), from the server log), RssAnon
# (/proc/<pid>/status), its heap and anonymous mappings (smaps).  It fails
# if from 1,000 deliveries to the end the contexts grew by 64 kB or more,
# or RssAnon by 1 MB or more.
#
# Prints the test's figures; the whole TAP log is in
# $DR_BUILD_DIR/tmp_check/log/regress_log_026_notifier_bounds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export TDR_DELIVERIES=${DELIVERIES:-10000}
export DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-bench-build}
status=0
DR_SKIP_REGRESS=1 FUZZ_SECONDS=0 PROVE_TESTS=test/t/026_notifier_bounds.pl \
    bash test/run-tests.sh >"$DR_BUILD_DIR.notifier_memory.out" 2>&1 || status=$?
log="$DR_BUILD_DIR/tmp_check/log/regress_log_026_notifier_bounds"
echo "notifier memory, $TDR_DELIVERIES deliveries (10 channels, loopback receiver):"
grep -E "memory contexts|anonymous memory|notifier memory:|deliveries done|# after [0-9]+:" "$log" | sed 's/^\[[^]]*\]([^)]*) //'
[ $status -eq 0 ] || { echo "FAILED: see $DR_BUILD_DIR.notifier_memory.out and $log" >&2; exit $status; }
