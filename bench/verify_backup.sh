#!/usr/bin/env bash
# bench/verify_backup.sh — dr_verify_backup() against pg_verifybackup -n on
# the same backup, with the same checksum algorithm.
#
# Run as root:   bash bench/verify_backup.sh          (~4 min: pgbench -i -s 70, 2 backups)
#                QUICK=1 bash bench/verify_backup.sh  (~1 min, scale 10, 1 round: smoke test)
#
# A primary with tensafe_dr preloaded and pgbench -i -s $SCALE (≈ 15 MB per
# scale unit: 70 → ≈ 1.1 GB).  Two plain-format backups of it, taken with
# pg_basebackup -Fp -X stream --manifest-checksums=CRC32C and =SHA256.  For
# each, $ROUNDS rounds interleaved: `pg_verifybackup -n -q DIR` (the WAL
# parse, which dr_verify_backup does not do either, is skipped with -n) then
# `SELECT count(*) FROM dr_verify_backup('DIR')` through psql (connection
# setup, catalog row and event included, so the comparison flatters
# pg_verifybackup, if anything).  One untimed run of each first warms the
# page cache, so that both read from memory: what is compared is the work
# of verifying, not the disk.
#
# Prints per algorithm the median seconds of each, the ratio
# dr_verify_backup / pg_verifybackup (target ≤ 1.1) and MB/s (backup size
# over median time).
#
# Environment (defaults in brackets): SCALE [70], ROUNDS [5], QUICK [0].
# BENCH_SKIP_BUILD=1 skips the package check and the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    SCALE=${SCALE:-10}; ROUNDS=${ROUNDS:-1}
fi
SCALE=${SCALE:-70}
ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"

bench_init
bench_log "verify_backup: pgbench scale $SCALE, $ROUNDS rounds per algorithm"
bench_source_note
bench_node_init primary
bench_node_arm primary tensafe_dr
echo "tensafe_dr.backup_root = '$BENCH_TMP/backups'" >> "$BENCH_TMP/primary/arm.conf"
# serial, as pg_verifybackup: verify_parallel.sh measures the workers
echo "tensafe_dr.verify_workers = 0" >> "$BENCH_TMP/primary/arm.conf"
mkdir -p "$BENCH_TMP/backups"
chown postgres:postgres "$BENCH_TMP/backups"
bench_node_start primary
bench_psql primary "CREATE EXTENSION tensafe_dr"

bench_log "pgbench -i -s $SCALE"
bench_as_pg pgbench -i -q -s "$SCALE" -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" \
    -U postgres postgres >/dev/null 2>&1 || bench_die "pgbench -i failed"
bench_psql primary "CHECKPOINT"

declare -A SIZE_MB=()
for algo in CRC32C SHA256; do
    dir="$BENCH_TMP/backups/$algo"
    bench_log "pg_basebackup --manifest-checksums=$algo"
    bench_as_pg "$DR_PG_BIN/pg_basebackup" -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" \
        -U postgres -D "$dir" -Fp -X stream -c fast --manifest-checksums="$algo"
    SIZE_MB[$algo]=$(du -sm --exclude=pg_wal "$dir" | cut -f1)
    echo "    $dir: ${SIZE_MB[$algo]} MB (without pg_wal)"
done

run_pgv() { bench_as_pg "$DR_PG_BIN/pg_verifybackup" -n -q "$1"; }
run_dr() {
    local rows
    rows=$(bench_psql primary "SELECT count(*) FROM dr_verify_backup('$1')")
    [ "$rows" = 0 ] || bench_die "dr_verify_backup found $rows problems in $1"
}

declare -A RESULT=()
for algo in CRC32C SHA256; do
    dir="$BENCH_TMP/backups/$algo"
    bench_log "$algo: warm-up, then $ROUNDS interleaved rounds"
    run_pgv "$dir"
    run_dr "$dir"
    pgv=(); dr=()
    for r in $(seq 1 "$ROUNDS"); do
        pgv+=("$(bench_time_cmd run_pgv "$dir")")
        dr+=("$(bench_time_cmd run_dr "$dir")")
        printf '    round %d: pg_verifybackup %.3f s, dr_verify_backup %.3f s\n' \
            "$r" "${pgv[-1]}" "${dr[-1]}"
    done
    m_pgv=$(bench_median "${pgv[@]}")
    m_dr=$(bench_median "${dr[@]}")
    RESULT[$algo]=$(printf '%-7s  %6s MB  pg_verifybackup %6.3f s (%5.0f MB/s)  dr_verify_backup %6.3f s (%5.0f MB/s)  ratio %.3f' \
        "$algo" "${SIZE_MB[$algo]}" "$m_pgv" "$(bench_calc "${SIZE_MB[$algo]} / $m_pgv")" \
        "$m_dr" "$(bench_calc "${SIZE_MB[$algo]} / $m_dr")" "$(bench_calc "$m_dr / $m_pgv")")
done

bench_log "result (medians of $ROUNDS rounds; ratio = dr_verify_backup / pg_verifybackup, target <= 1.1)"
for algo in CRC32C SHA256; do
    echo "    ${RESULT[$algo]}"
done
bench_machine_note
bench_check_lib_unchanged
