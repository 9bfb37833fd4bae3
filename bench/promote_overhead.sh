#!/usr/bin/env bash
# bench/promote_overhead.sh — what dr_promote() adds to a promotion, against
# PostgreSQL's own pg_promote(), on two identical fresh standbys.
#
# Run as root:   bash bench/promote_overhead.sh          (~1 min for 5 rounds)
#                ROUNDS=11 bash bench/promote_overhead.sh
#
# One primary (tensafe_dr preloaded, CREATE EXTENSION in database postgres).
# Each round:
#   - start the primary, clone two fresh standbys from it (pg_basebackup -R
#     -X stream -c fast), both with the library preloaded, start them;
#   - wait until both stream and have replayed the primary's current WAL,
#     until SELECT rpo_state FROM dr_status() = 'ok' on each, and then until
#     the worker has recorded a contact with the primary in a sample
#     (dr_samples(1).last_primary_contact not null): rpo_state judges the
#     live WAL receiver, but once the primary is gone the gate counts from the
#     last recorded contact, and without one dr_promote() refuses ("no
#     contact with the primary since this node started") although rpo_state
#     was 'ok' a moment before (up to one tensafe_dr.sample_interval);
#   - stop the primary (pg_ctl -m fast), as in a real failover;
#   - promote the standby cloned first ("A") and then the other ("B"), each
#     from a fresh psql session (connection time is not timed):
#         SELECT ... FROM dr_promote();          (gate, pg_promote, journal)
#         SELECT pg_promote(true, 60), ...;      (plain PostgreSQL)
#     A gets dr_promote() in odd rounds and pg_promote() in even rounds, so
#     neither method always goes first (the second standby has been cut off
#     a little longer, and runs while the first one finishes its promotion);
#   - check both left recovery, stop and delete them, and stop the primary.
#
# Times, per call:
#   client   psql's \timing: the statement's round trip, what an operator or a
#            failover tool waits for
#   server   clock_timestamp() - statement_timestamp() evaluated after the
#            call returned, inside the same statement (parse + plan + run)
#   elapsed  (dr_promote() only) its own "elapsed" column: from its start to
#            before it journals PROMOTED, i.e. without that last fsync
# and, under each round, dr_promote()'s time split at the two journal records
# it writes (PROMOTE_CHECK, PROMOTED; see dr_phases below): pre (up to the
# check's record), mid (pg_promote() and what surrounds it), build (the
# PROMOTED event) and tail (its journal write + fsync, and returning).
# Printed: every round, the median of each method, the added time
# median(dr) - median(pg) and the median of the per-round differences
# (target <= 50 ms), and the ratio of the medians.
#
# Note: pg_promote(wait => true) polls for the end of recovery every 100 ms
# (PostgreSQL 15, WAITS_PER_SECOND = 10), so both methods' times are about
# 100 ms (or a multiple) plus what runs before and after that wait; the
# difference between them is what dr_promote() does around pg_promote().
#
# If dr_promote() refuses (the gate) or fails, the round is reported, the
# standby is promoted with pg_promote() so the round can end, and that round
# is left out of the medians; if it promoted in no round, the exit status
# is 1.
#
# Environment (defaults in brackets): ROUNDS [5], CATCHUP_TIMEOUT [60] s to
# wait for streaming / rpo_state 'ok'.  BENCH_SKIP_BUILD=1 skips the package
# check and the build; DR_BUILD_DIR [/var/tmp/tensafe_dr-bench2-build].

export DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-bench2-build}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-5}
CATCHUP_TIMEOUT=${CATCHUP_TIMEOUT:-60}
[ "$ROUNDS" -ge 1 ] || bench_die "ROUNDS must be at least 1"
[ "$ROUNDS" -ge 3 ] || echo "warning: fewer than 3 rounds; the medians mean little" >&2

bench_init

DR_SQL="SELECT p.promoted, round(1000 * extract(epoch FROM p.elapsed), 3),
               round(1000 * extract(epoch FROM clock_timestamp() - statement_timestamp()), 3),
               extract(epoch FROM statement_timestamp()), extract(epoch FROM clock_timestamp())
          FROM dr_promote() p"
# pg_promote() first in the target list: evaluated left to right
PG_SQL="SELECT pg_promote(true, 60), NULL,
               round(1000 * extract(epoch FROM clock_timestamp() - statement_timestamp()), 3)"

# timed_call NODE SQL: run SQL in a fresh session on NODE; sets CALL_OK
# (1/0), CALL_CLIENT_MS, CALL_SERVER_MS, CALL_ELAPSED_MS, CALL_OUT, and for
# DR_SQL CALL_T_START, CALL_T_END (epoch s: statement start, end).
timed_call() {
    local name=$1 sql=$2 row
    CALL_OK=1
    CALL_OUT=$(bench_as_pg "$DR_PG_BIN/psql" -X -A -t -q -F '|' -v ON_ERROR_STOP=1 \
        -h "$BENCH_TMP" -p "${BENCH_PORT[$name]}" -U postgres -d postgres \
        -c '\timing on' -c "$sql" 2>&1) || CALL_OK=0
    CALL_CLIENT_MS=$(printf '%s\n' "$CALL_OUT" | awk '/^Time: / { print $2; exit }')
    row=$(printf '%s\n' "$CALL_OUT" | grep -v '^Time: ' | grep '|' | head -n1 || true)
    CALL_ELAPSED_MS=$(printf '%s' "$row" | cut -d'|' -f2)
    CALL_SERVER_MS=$(printf '%s' "$row" | cut -d'|' -f3)
    CALL_T_START=$(printf '%s' "$row" | cut -d'|' -f4)
    CALL_T_END=$(printf '%s' "$row" | cut -d'|' -f5)
    [ "$CALL_OK" = 1 ] && [ "$(printf '%s' "$row" | cut -d'|' -f1)" = t ] || CALL_OK=0
    [ -n "$CALL_CLIENT_MS" ] || CALL_CLIENT_MS=NaN
}

# dr_phases NODE: where dr_promote()'s time went on NODE, from the journal
# records it wrote (written_at = just before the write and fsync), appended
# to PH_PRE, PH_MID, PH_BUILD, PH_TAIL (ms) and printed:
#   pre    statement start -> PROMOTE_CHECK written: parse, plan, compile
#          dr_promote(), dr_promote_check()'s figures and its event
#   mid    -> PROMOTED built: that fsync, pg_promote() (its 100 ms polls),
#          the timeline, compiling dr_log_event()
#   build  -> PROMOTED written: node facts, incident, actor, payload
#   tail   -> statement end: the journal write, fsync (and waiting for the
#          journal's lock), returning the row
dr_phases() {
    local name=$1 row chk occ wr pre mid build tail
    row=$(bench_psql "$name" "
        SELECT extract(epoch FROM max(written_at) FILTER (WHERE payload->>'event_type' = 'PROMOTE_CHECK')),
               extract(epoch FROM max((payload->>'occurred_at')::timestamptz) FILTER (WHERE payload->>'event_type' = 'PROMOTED')),
               extract(epoch FROM max(written_at) FILTER (WHERE payload->>'event_type' = 'PROMOTED'))
          FROM dr_journal_entries()" 2>/dev/null) || row=""
    IFS='|' read -r chk occ wr <<<"$row"
    if [ -z "$chk" ] || [ -z "$occ" ] || [ -z "$wr" ] || [ -z "$CALL_T_START" ]; then
        printf '          (no PROMOTE_CHECK / PROMOTED journal records on %s: no breakdown)\n' "$name"
        return 0
    fi
    pre=$(bench_calc "1000 * ($chk - $CALL_T_START)")
    mid=$(bench_calc "1000 * ($occ - $chk)")
    build=$(bench_calc "1000 * ($wr - $occ)")
    tail=$(bench_calc "1000 * ($CALL_T_END - $wr)")
    PH_PRE+=("$pre"); PH_MID+=("$mid"); PH_BUILD+=("$build"); PH_TAIL+=("$tail")
    printf '          dr_promote() on %s: pre %.1f, mid %.1f, build %.1f, tail %.1f\n' \
        "$name" "$pre" "$mid" "$build" "$tail"
}

# Both standbys streaming from the primary and replayed up to its WAL now.
wait_both_caught_up() {
    local lsn
    bench_poll primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2 "$CATCHUP_TIMEOUT"
    lsn=$(bench_psql primary "SELECT pg_current_wal_lsn()")
    bench_poll primary "SELECT bool_and(replay_lsn >= '$lsn') FROM pg_stat_replication" t "$CATCHUP_TIMEOUT"
}

# ---------------------------------------------------------------------------
bench_log "setup: primary in $BENCH_TMP"
bench_node_init primary
bench_node_arm primary tensafe_dr
bench_node_start primary
bench_psql primary "CREATE EXTENSION IF NOT EXISTS tensafe_dr"
bench_psql primary "CHECKPOINT"
printf '    %s rounds, two fresh standbys each; gate tensafe_dr.promote_max_lag: %s\n' \
    "$ROUNDS" "$(bench_psql primary "SHOW tensafe_dr.promote_max_lag")"
bench_source_note
bench_machine_note

declare -a DR_MS=() PG_MS=() DIFF_MS=() DR_SRV=() PG_SRV=() DR_EL=() CONTACT_WAIT=()
declare -a PH_PRE=() PH_MID=() PH_BUILD=() PH_TAIL=()
REFUSED=0

bench_log "rounds (ms; client = psql \\timing, server = inside the statement)"
printf '    %-5s %-12s %10s %10s %10s   %-12s %10s %10s %10s   %8s\n' \
    round "A: method" client server elapsed "B: method" client server elapsed "dr - pg"
for r in $(seq 1 "$ROUNDS"); do
    a="a$r"; b="b$r"; d_ms=; p_ms=; d_node=
    [ "$r" -gt 1 ] && bench_node_start primary
    for s in "$a" "$b"; do
        bench_node_standby "$s" primary >/dev/null
        bench_node_arm "$s" tensafe_dr
        bench_node_start "$s"
    done
    wait_both_caught_up
    for s in "$a" "$b"; do
        bench_poll "$s" "SELECT rpo_state FROM dr_status()" ok "$CATCHUP_TIMEOUT"
        # rpo_state 'ok' judges the live WAL receiver; the gate, once the
        # receiver is gone, needs a contact the worker recorded in a sample
        t_ok=$(bench_now)
        bench_poll "$s" "SELECT last_primary_contact IS NOT NULL FROM dr_samples(1)" t "$CATCHUP_TIMEOUT"
        CONTACT_WAIT+=("$(bench_calc "$(bench_now) - $t_ok")")
        bench_poll "$s" "SELECT pg_is_in_recovery()" t 10
    done

    bench_node_stop primary        # -m fast: the failover starts here
    if [ $(( r % 2 )) = 1 ]; then
        order=("$a dr" "$b pg")
    else
        order=("$a pg" "$b dr")
    fi
    line=""
    for item in "${order[@]}"; do
        read -r s m <<<"$item"
        if [ "$m" = dr ]; then
            timed_call "$s" "$DR_SQL"
            if [ "$CALL_OK" = 1 ]; then
                d_ms=$CALL_CLIENT_MS; d_node=$s; d_start=$CALL_T_START; d_end=$CALL_T_END
                DR_SRV+=("$CALL_SERVER_MS"); DR_EL+=("$CALL_ELAPSED_MS")
                line+=$(printf '%-12s %10.1f %10.1f %10.1f   ' dr_promote "$CALL_CLIENT_MS" "$CALL_SERVER_MS" "$CALL_ELAPSED_MS")
            else
                d_ms=
                REFUSED=$(( REFUSED + 1 ))
                printf '    round %s: dr_promote() on %s did not promote (%s ms):\n%s\n' \
                    "$r" "$s" "$CALL_CLIENT_MS" "$(printf '%s\n' "$CALL_OUT" | sed 's/^/        /')"
                line+=$(printf '%-12s %10s %10s %10s   ' dr_promote REFUSED - -)
                # end the round: promote it the plain way
                timed_call "$s" "$PG_SQL"
                [ "$CALL_OK" = 1 ] || bench_die "pg_promote() on $s failed too: $CALL_OUT"
            fi
        else
            timed_call "$s" "$PG_SQL"
            [ "$CALL_OK" = 1 ] || bench_die "pg_promote() on $s failed: $CALL_OUT"
            p_ms=$CALL_CLIENT_MS
            PG_SRV+=("$CALL_SERVER_MS")
            line+=$(printf '%-12s %10.1f %10.1f %10s   ' pg_promote "$CALL_CLIENT_MS" "$CALL_SERVER_MS" -)
        fi
    done
    for s in "$a" "$b"; do
        [ "$(bench_psql "$s" "SELECT pg_is_in_recovery()")" = f ] ||
            bench_die "$s is still in recovery after its promotion"
    done
    PG_MS+=("$p_ms")
    if [ -n "$d_ms" ]; then
        DR_MS+=("$d_ms")
        diff=$(bench_calc "$d_ms - $p_ms")
        DIFF_MS+=("$diff")
        line+=$(printf '%8.1f' "$diff")
    fi
    # line: A's call (first), then B's
    printf '    %-5s %s\n' "$r" "$line"
    if [ -n "$d_node" ]; then
        CALL_T_START=$d_start; CALL_T_END=$d_end
        dr_phases "$d_node"
    fi

    for s in "$a" "$b"; do
        bench_node_stop "$s"
        rm -rf "${BENCH_TMP:?}/$s"
    done
done

# ---------------------------------------------------------------------------
bench_log "results (ms)"
printf '    pg_promote() client: %s   median %.1f  (server median %.1f)\n' \
    "${PG_MS[*]}" "$(bench_median "${PG_MS[@]}")" "$(bench_median "${PG_SRV[@]}")"
if [ "${#DR_MS[@]}" -gt 0 ]; then
    md=$(bench_median "${DR_MS[@]}"); mp=$(bench_median "${PG_MS[@]}")
    printf '    dr_promote() client: %s   median %.1f  (server median %.1f, own elapsed median %.1f)\n' \
        "${DR_MS[*]}" "$md" "$(bench_median "${DR_SRV[@]}")" "$(bench_median "${DR_EL[@]}")"
    printf '    added time, median(dr) - median(pg):  %.1f ms   (target <= 50 ms)\n' \
        "$(bench_calc "$md - $mp")"
    printf '    added time, median of per-round differences: %.1f ms   (%s)\n' \
        "$(bench_median "${DIFF_MS[@]}")" "${DIFF_MS[*]}"
    printf '    ratio median(dr) / median(pg): %.3f\n' "$(bench_calc "$md / $mp")"
    if [ "${#PH_PRE[@]}" -gt 0 ]; then
        printf '    dr_promote() phases, medians: pre %.1f, mid %.1f (pg_promote() server median %.1f), build %.1f, tail %.1f\n' \
            "$(bench_median "${PH_PRE[@]}")" "$(bench_median "${PH_MID[@]}")" "$(bench_median "${PG_SRV[@]}")" \
            "$(bench_median "${PH_BUILD[@]}")" "$(bench_median "${PH_TAIL[@]}")"
    fi
fi
printf '    wait from rpo_state = ok to a recorded contact (dr_samples(1)): median %.2f s, max %.2f s\n' \
    "$(bench_median "${CONTACT_WAIT[@]}")" "$(printf '%s\n' "${CONTACT_WAIT[@]}" | sort -g | tail -n1)"
[ "$REFUSED" -gt 0 ] && printf '    dr_promote() did not promote in %s of %s rounds (left out above)\n' "$REFUSED" "$ROUNDS"
bench_machine_note
bench_check_lib_unchanged
[ "${#DR_MS[@]}" -gt 0 ] || bench_die "dr_promote() promoted in none of the $ROUNDS rounds"
