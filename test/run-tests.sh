#!/usr/bin/env bash
# test/run-tests.sh — the README's test command.  As root on Debian 12:
#   installs what is missing, builds as postgres, installs, runs pg_regress
#   (sql/, expected/) and the TAP tests (test/t/), exits non-zero on failure.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
dr_require_root
dr_install_packages "${DR_BASE_PACKAGES[@]}"

# The extension is installed machine-wide: two runs from different trees at
# once would load each other's library.  Install and test under one lock.
exec 8>/var/tmp/tensafe_dr-install.lock
if ! flock -n 8; then
    dr_log "another test run holds /var/tmp/tensafe_dr-install.lock; waiting"
    flock 8
fi
# The crash points of the crash-safety tests are compiled only into test
# builds: check that a plain build has none, then make the test build.
DR_TEST_HOOKS= dr_build_and_install
dr_log "a plain build has no test hooks"
if grep -q -e "test crash at" -e "pause_at_" "$DR_BUILD_DIR/tensafe_dr.so"; then
    echo "a build without TEST_HOOKS=1 contains the test crash or pause points" >&2
    exit 1
fi
dr_as_postgres make -C "$DR_BUILD_DIR" -s clean PG_CONFIG="$DR_PG_BIN/pg_config"
DR_TEST_HOOKS=1
dr_log "the test build (TEST_HOOKS=1)"
dr_as_postgres make -C "$DR_BUILD_DIR" -s -j2 PG_CONFIG="$DR_PG_BIN/pg_config" TEST_HOOKS=1
make -C "$DR_BUILD_DIR" -s install PG_CONFIG="$DR_PG_BIN/pg_config" TEST_HOOKS=1
grep -q "test crash at" "$DR_BUILD_DIR/tensafe_dr.so" || { echo "the test build has no test hooks" >&2; exit 1; }

dr_log "released scripts unchanged (extension/1.0, extension/1.1: SHA256SUMS)"
dr_as_postgres make -s -C "$DR_BUILD_DIR" check-frozen PG_CONFIG="$DR_PG_BIN/pg_config" || {
    echo "extension/1.0 and extension/1.1 are released and must not change: put changes in extension/1.2/" >&2
    exit 1
}

dr_log "pg_regress and TAP tests"
status=0
# PROVE_TESTS=test/t/004_journal.pl bash test/run-tests.sh runs one TAP file
# (after pg_regress and the isolation specs; DR_SKIP_REGRESS=1 skips pg_regress
# while iterating)
dr_as_postgres make -C "$DR_BUILD_DIR" installcheck PG_CONFIG="$DR_PG_BIN/pg_config" \
    PROVE_FLAGS="-I $DR_BUILD_DIR/test/lib --timer" \
    ${PROVE_TESTS:+PROVE_TESTS="$PROVE_TESTS"} ${DR_SKIP_REGRESS:+REGRESS=} || status=$?

# The libFuzzer harnesses of the backup_manifest parser and the pg_dump
# archive reader, each for a bounded time (FUZZ_SECONDS, default 30; 0 skips them).
if [ "${FUZZ_SECONDS:-30}" != 0 ]; then
    dr_log "fuzzing the backup_manifest parser and the pg_dump archive reader, ${FUZZ_SECONDS:-30} s each"
    dr_install_packages clang-14
    FUZZ_SECONDS=${FUZZ_SECONDS:-30} FUZZ_WORK_DIR="$DR_BUILD_DIR-fuzz" \
        bash "$DR_SRC_DIR/test/fuzz/run.sh" || status=$?
fi

if [ $status -ne 0 ]; then
    for f in "$DR_BUILD_DIR"/regression.diffs "$DR_BUILD_DIR"/output_iso/regression.diffs; do
        [ -f "$f" ] && { echo "---- $f"; head -200 "$f"; }
    done
    for f in "$DR_BUILD_DIR"/tmp_check/log/regress_log_*; do
        [ -f "$f" ] && { echo "---- tail of $f"; tail -60 "$f"; }
    done
    echo "TESTS FAILED" >&2
fi
exit $status
