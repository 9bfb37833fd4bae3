#!/usr/bin/env bash
# bench/verify_parallel.sh — dr_verify_backup() with verification workers
# (tensafe_dr.verify_workers) against dr_verify_backup() serial and against
# pg_verifybackup -n, on the same backups, in the same run.
#
# Run as root:   bash bench/verify_parallel.sh          (~5 min: pgbench -i -s 70, 2 backups)
#                QUICK=1 bash bench/verify_parallel.sh  (~1 min, scale 10, 1 round: smoke test)
#
# A primary with tensafe_dr preloaded and pgbench -i -s $SCALE
# --partitions=$PARTITIONS (≈ 15 MB per scale unit: 70 → ≈ 1.1 GB; the
# accounts table in $PARTITIONS partitions, so in as many files).  Workers
# share out files, not parts of a file: a backup whose bytes sit in one
# file (PARTITIONS=0: pgbench_accounts is one ≈ 0.9 GB file) is verified
# no faster than that file alone is hashed.  Two plain-format backups, taken
# with pg_basebackup -Fp -X stream --manifest-checksums=CRC32C and =SHA256.
# For each, $ROUNDS rounds interleaved: `pg_verifybackup -n -q DIR`, then
# `SELECT count(*) FROM dr_verify_backup('DIR')` with verify_workers = 0
# (serial) and = $WORKERS, through psql (connection, catalog row and event
# included).  One untimed run of each first warms the page cache: what is
# compared is the work of verifying, not the disk.
#
# Prints per algorithm and variant the median, best and worst seconds, and
# the ratios of the medians: pg_verifybackup / parallel (target with SHA-256
# on 2 cores: >= 1.6), serial / parallel, and parallel / serial for CRC-32C
# (target <= 1.0: no slower than the serial verification).
#
# Environment (defaults in brackets): SCALE [70], PARTITIONS [8], WORKERS [2],
# ROUNDS [5], QUICK [0].  BENCH_SKIP_BUILD=1 skips the package check and the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
    SCALE=${SCALE:-10}; ROUNDS=${ROUNDS:-1}
fi
SCALE=${SCALE:-70}
PARTITIONS=${PARTITIONS:-8}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"
[ "$WORKERS" -ge 2 ] || bench_die "WORKERS must be at least 2"

bench_init
bench_log "verify_parallel: pgbench scale $SCALE, $PARTITIONS partitions, $WORKERS workers, $ROUNDS rounds per algorithm"
bench_source_note
bench_node_init primary
bench_node_arm primary tensafe_dr
cat >> "$BENCH_TMP/primary/arm.conf" <<EOF
tensafe_dr.backup_root = '$BENCH_TMP/backups'
max_worker_processes = $((WORKERS + 8))
EOF
mkdir -p "$BENCH_TMP/backups"
chown postgres:postgres "$BENCH_TMP/backups"
bench_node_start primary
bench_psql primary "CREATE EXTENSION tensafe_dr"

part_opt=()
[ "$PARTITIONS" -gt 0 ] && part_opt=(--partitions="$PARTITIONS")
bench_log "pgbench -i -s $SCALE ${part_opt[*]}"
bench_as_pg pgbench -i -q -s "$SCALE" "${part_opt[@]}" -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" \
    -U postgres postgres >/dev/null 2>&1 || bench_die "pgbench -i failed"
bench_psql primary "CHECKPOINT"

declare -A SIZE_MB=()
for algo in CRC32C SHA256; do
    dir="$BENCH_TMP/backups/$algo"
    bench_log "pg_basebackup --manifest-checksums=$algo"
    bench_as_pg "$DR_PG_BIN/pg_basebackup" -h "$BENCH_TMP" -p "${BENCH_PORT[primary]}" \
        -U postgres -D "$dir" -Fp -X stream -c fast --manifest-checksums="$algo"
    SIZE_MB[$algo]=$(du -sm --exclude=pg_wal "$dir" | cut -f1)
    largest=$(find "$dir" -path "$dir/pg_wal" -prune -o -type f -printf '%s\n' | sort -n | tail -1)
    echo "    $dir: ${SIZE_MB[$algo]} MB (without pg_wal), largest file $((largest / 1048576)) MB"
done

run_pgv() { bench_as_pg "$DR_PG_BIN/pg_verifybackup" -n -q "$1"; }
# run_dr DIR WORKERS: no problem found
run_dr() {
    local rows
    rows=$(bench_psql primary "SET tensafe_dr.verify_workers = $2; SELECT count(*) FROM dr_verify_backup('$1')")
    [ "$rows" = 0 ] || bench_die "dr_verify_backup found $rows problems in $1"
}
# check_workers DIR WORKERS: the last verification of DIR used WORKERS workers
check_workers() {
    local used want=$2
    [ "$want" -le 1 ] && want=0
    used=$(bench_psql primary "SELECT details->>'workers' FROM dr_backups WHERE path = '$1'")
    [ "$used" = "$want" ] || bench_die "dr_verify_backup($1) asked for $2 workers used $used"
}

# stats N...: "median best worst"
stats() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

declare -A RESULT=()
for algo in CRC32C SHA256; do
    dir="$BENCH_TMP/backups/$algo"
    bench_log "$algo: warm-up, then $ROUNDS interleaved rounds"
    run_pgv "$dir"
    run_dr "$dir" 0
    check_workers "$dir" 0
    run_dr "$dir" "$WORKERS"
    check_workers "$dir" "$WORKERS"
    pgv=(); ser=(); par=()
    for r in $(seq 1 "$ROUNDS"); do
        pgv+=("$(bench_time_cmd run_pgv "$dir")")
        ser+=("$(bench_time_cmd run_dr "$dir" 0)")
        par+=("$(bench_time_cmd run_dr "$dir" "$WORKERS")")
        printf '    round %d: pg_verifybackup %.3f s, serial %.3f s, %d workers %.3f s\n' \
            "$r" "${pgv[-1]}" "${ser[-1]}" "$WORKERS" "${par[-1]}"
    done
    read -r m_pgv b_pgv w_pgv <<<"$(stats "${pgv[@]}")"
    read -r m_ser b_ser w_ser <<<"$(stats "${ser[@]}")"
    read -r m_par b_par w_par <<<"$(stats "${par[@]}")"
    RESULT[$algo]=$(printf '%-7s %5s MB | pg_verifybackup %.3f s [%.3f-%.3f] | serial %.3f s [%.3f-%.3f] | %d workers %.3f s [%.3f-%.3f] (%4.0f MB/s) | pgv/par %.2f  ser/par %.2f  par/ser %.2f' \
        "$algo" "${SIZE_MB[$algo]}" "$m_pgv" "$b_pgv" "$w_pgv" "$m_ser" "$b_ser" "$w_ser" \
        "$WORKERS" "$m_par" "$b_par" "$w_par" "$(bench_calc "${SIZE_MB[$algo]} / $m_par")" \
        "$(bench_calc "$m_pgv / $m_par")" "$(bench_calc "$m_ser / $m_par")" "$(bench_calc "$m_par / $m_ser")")
done

bench_log "result (median s [best-worst] of $ROUNDS rounds; targets: SHA256 pgv/par >= 1.6, CRC32C par/ser <= 1.0)"
for algo in CRC32C SHA256; do
    echo "    ${RESULT[$algo]}"
done
bench_machine_note
bench_check_lib_unchanged
