#!/usr/bin/env bash
# test/fuzz/run.sh — build the libFuzzer harnesses for the backup_manifest
# parser (src/backup/manifest_*.c) and the custom-format pg_dump archive
# reader (src/backup/dump_toc.c), each linked alone against
# libpgcommon/libpgport with AddressSanitizer and UBSan, and fuzz each for
# FUZZ_SECONDS (default 60).
#
#   FUZZ_SECONDS=30 bash test/fuzz/run.sh
#
# Seeds: test/fuzz/seeds/ (real pg_basebackup manifests cut down with
# make_seed.pl, CRC32C, SHA512 and a version 2 one with Encoded-Path;
# seeds/pg_dump_*.dump: real PostgreSQL 15 pg_dump -Fc archives, gzip and
# uncompressed, written to a pipe (no data offsets), schema only, one with a
# large object), plus the corpora kept in $FUZZ_WORK_DIR from earlier runs.
# Exits non-zero on any crash, leak or sanitizer report; prints the number of
# executions.
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

# build_harness name sources...: a libFuzzer + ASan + UBSan build of a
# harness and the files it tests, against libpgcommon/libpgport
build_harness()
{
    local name=$1
    shift
    "$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Wno-ignored-attributes -DFRONTEND -I"$src/backup" -I"$src/core" -I"$inc" \
        "$@" \
        -Wl,--wrap=palloc,--wrap=palloc0,--wrap=palloc_extended,--wrap=pfree \
        -Wl,--wrap=repalloc,--wrap=pstrdup,--wrap=pnstrdup \
        "$pglib/libpgcommon.a" "$pglib/libpgport.a" -lssl -lcrypto -lm \
        -o "$work/$name" >"$work/build-$name.log" 2>&1 || {
        grep -v 'Wignored-attributes' "$work/build-$name.log" >&2
        echo "fuzz: the $name harness did not build" >&2
        exit 1
    }
}

# fuzz name corpus what: run a harness for $secs seconds on its corpus
fuzz()
{
    local name=$1 corpus=$2 what=$3 status=0 execs
    "$work/$name" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" "$corpus" \
        >"$work/$name.log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
    tail -3 "$work/$name.log" | grep -v '^stat::' || true
    if [ $status -ne 0 ]; then
        grep -A30 'ERROR\|SUMMARY' "$work/$name.log" | head -60 >&2 || true
        echo "fuzz: $what FAILED after ${execs:-?} executions (crash input in $work/artifacts/)" >&2
        return 1
    fi
    echo "fuzz: $what survived ${execs} executions in ${secs} s, no crashes"
}

# the manifest parser (manifest_*.c, with the palloc arena of fuzz_manifest.c)
build_harness fuzz_manifest "$here/fuzz_manifest.c" "$src"/backup/manifest_*.c
# the pg_dump archive reader (dump_toc.c allocates nothing)
build_harness fuzz_dump "$here/fuzz_dump.c" "$src/backup/dump_toc.c"

# the seeds must be valid (this also checks parser and checksum)
DR_FUZZ_EXPECT_VALID=1 "$work/fuzz_manifest" "$here"/seeds/*.json >"$work/seeds.log" 2>&1 || {
    cat "$work/seeds.log" >&2
    echo "fuzz: a seed manifest did not parse" >&2
    exit 1
}
DR_FUZZ_EXPECT_VALID=1 "$work/fuzz_dump" "$here"/seeds/*.dump >"$work/seeds-dump.log" 2>&1 || {
    cat "$work/seeds-dump.log" >&2
    echo "fuzz: a seed pg_dump archive did not read as whole" >&2
    exit 1
}
mkdir -p "$work/corpus-dump"
cp "$here"/seeds/*.json "$work/corpus/"
cp "$here"/seeds/*.dump "$work/corpus-dump/"

status=0
fuzz fuzz_manifest "$work/corpus" "manifest parser" || status=1
fuzz fuzz_dump "$work/corpus-dump" "pg_dump archive reader" || status=1
exit $status
