#!/usr/bin/env bash
# test/fuzz/run.sh — build the libFuzzer harness for the backup_manifest
# parser (src/backup/manifest_*.c linked alone against libpgcommon/libpgport, with
# AddressSanitizer and UBSan) and fuzz it for FUZZ_SECONDS (default 60).
#
#   FUZZ_SECONDS=30 bash test/fuzz/run.sh
#
# Seeds: test/fuzz/seeds/ (real pg_basebackup manifests cut down with
# make_seed.pl, CRC32C, SHA512 and a version 2 one with Encoded-Path), plus
# the corpus kept in $FUZZ_WORK_DIR from earlier runs.  Exits non-zero on
# any crash, leak or sanitizer report; prints the number of executions.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../src" && pwd)
work=${FUZZ_WORK_DIR:-/var/tmp/tensafe_dr-fuzz}
secs=${FUZZ_SECONDS:-60}
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
clang=$(command -v clang-14 || command -v clang || true)
if [ -z "$clang" ]; then
    echo "fuzz: clang not found (apt-get install clang-14)" >&2
    exit 1
fi

inc=$("$pg_config" --includedir-server)
pglib=$("$pg_config" --pkglibdir)
mkdir -p "$work/corpus" "$work/artifacts"

"$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wno-ignored-attributes -DFRONTEND -I"$src/backup" -I"$src/core" -I"$inc" \
    "$here/fuzz_manifest.c" "$src"/backup/manifest_*.c \
    -Wl,--wrap=palloc,--wrap=palloc0,--wrap=palloc_extended,--wrap=pfree \
    -Wl,--wrap=repalloc,--wrap=pstrdup,--wrap=pnstrdup \
    "$pglib/libpgcommon.a" "$pglib/libpgport.a" -lssl -lcrypto -lm \
    -o "$work/fuzz_manifest" >"$work/build.log" 2>&1 || {
    grep -v 'Wignored-attributes' "$work/build.log" >&2
    echo "fuzz: the harness did not build" >&2
    exit 1
}

# the seeds must be valid manifests (this also checks parser and checksum)
DR_FUZZ_EXPECT_VALID=1 "$work/fuzz_manifest" "$here"/seeds/*.json >"$work/seeds.log" 2>&1 || {
    cat "$work/seeds.log" >&2
    echo "fuzz: a seed manifest did not parse" >&2
    exit 1
}
cp "$here"/seeds/*.json "$work/corpus/"

status=0
"$work/fuzz_manifest" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" "$work/corpus" \
    >"$work/fuzz.log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
tail -3 "$work/fuzz.log" | grep -v '^stat::' || true
if [ $status -ne 0 ]; then
    grep -A30 'ERROR\|SUMMARY' "$work/fuzz.log" | head -60 >&2 || true
    echo "fuzz: FAILED after ${execs:-?} executions (crash input in $work/artifacts/)" >&2
    exit 1
fi
echo "fuzz: manifest parser survived ${execs} executions in ${secs} s, no crashes"
