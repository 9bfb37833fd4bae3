#!/usr/bin/env bash
# bench/two_region_drill.sh — the regional (Level 3) drill over ROUNDS rounds
# (default 5): cut -> breach per region-B node, cut -> writable region B with
# the gate and without it, measured data loss against the gate's estimate,
# failback time, RTO as a ratio of the runbook's 1 h target.  The driver is
# bench/two_region_drill.pl (TAP output; its header says what each round
# does).  ~2.5 min per round on a 2-core machine.
#
# Run as root:   bash bench/two_region_drill.sh          ROUNDS=3 bash bench/two_region_drill.sh
# It builds and installs the working tree, as test/run-tests.sh does, under
# that script's install lock, then runs the driver through prove (a test
# lane does the same: PROVE_TESTS=bench/two_region_drill.pl DR_SKIP_REGRESS=1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ROUNDS=${ROUNDS:-5}
export DR_SKIP_REGRESS=1 FUZZ_SECONDS=0 PROVE_TESTS=bench/two_region_drill.pl
exec bash test/run-tests.sh
