#!/usr/bin/env bash
# test/demo.sh — the README's demo command.  As root on Debian 12:
#
#     bash test/demo.sh
#
# Installs what is missing, builds and installs tensafe_dr, then starts a
# throwaway primary and streaming standby in a temporary directory (unix
# socket in that directory, 127.0.0.1 only, nothing else touched) and walks
# through what dr_status() and dr_replicas show while a write load runs:
#   1. both nodes healthy (rpo_state 'ok');
#   2. replay paused on the standby: replay_lag grows past rpo_target
#      ('warning') and then rpo_max ('breach'), while rpo_lag stays small;
#   3. replay resumed: back to 'ok'.
# The objectives are shrunk to rpo_target 8s / rpo_max 20s so that it takes
# about a minute.  Everything is stopped and removed on exit, also on Ctrl-C
# or failure; exits non-zero with a message if a phase does not complete.

DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-demo-build}
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

RPO_TARGET=8s
RPO_MAX=20s
PHASE_TIMEOUT=${DR_DEMO_PHASE_TIMEOUT:-60}  # seconds allowed for each state change
READY_TIMEOUT=30        # seconds allowed for a fresh node to report 'ok'

DEMO_DIR=
LOAD_PID=
PRIMARY_PORT=
STANDBY_PORT=

say()  { printf '\n---- %s\n' "$*"; }
note() { printf '     %s\n' "$@"; }
fail() { printf '\nDEMO FAILED: %s\n' "$*" >&2; exit 1; }

stop_load() {
    if [ -n "$LOAD_PID" ]; then
        kill "$LOAD_PID" 2>/dev/null || true
        wait "$LOAD_PID" 2>/dev/null || true
        LOAD_PID=
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    stop_load
    if [ -n "$DEMO_DIR" ] && [ -d "$DEMO_DIR" ]; then
        local node
        for node in standby primary; do
            if [ -f "$DEMO_DIR/$node/postmaster.pid" ]; then
                (cd / && runuser -u postgres -- "$DR_PG_BIN/pg_ctl" -D "$DEMO_DIR/$node" \
                    -m immediate -s stop) >/dev/null 2>&1
            fi
        done
        if [ $rc -ge 128 ]; then
            echo "demo interrupted: stopping the servers and removing $DEMO_DIR" >&2
        elif [ $rc -ne 0 ]; then
            for node in primary standby; do
                if [ -f "$DEMO_DIR/$node.log" ]; then
                    echo "---- last lines of the $node's server log" >&2
                    tail -20 "$DEMO_DIR/$node.log" >&2
                fi
            done
        fi
        rm -rf "$DEMO_DIR"
    fi
    exit $rc
}

# psql as the postgres superuser over the demo's unix socket.
#   q PORT [psql args...]
q() {
    local port=$1
    shift
    "$DR_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR" -p "$port" \
        -U postgres -d postgres "$@"
}

# One value, or nothing if the query fails (server starting, etc.).
q1() { q "$1" -At -c "$2" 2>/dev/null || true; }

port_free() {
    local port=$1
    [ -e "$DEMO_DIR/.s.PGSQL.$port" ] && return 1
    ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q .
}

pick_port() {
    local port=$(( 54320 + RANDOM % 2000 )) tries=0
    while ! port_free "$port" || [ "$port" = "${PRIMARY_PORT:-}" ]; do
        port=$(( port + 1 ))
        tries=$(( tries + 1 ))
        [ $tries -lt 500 ] || fail "no free port found from 54320 upwards"
    done
    echo "$port"
}

pg_as_postgres() { (cd "$DEMO_DIR" && runuser -u postgres -- "$@"); }

# Settings both nodes share; the standby's copy comes with the base backup
# and is then overridden by the lines appended after it.
write_common_conf() {
    cat >>"$1/postgresql.conf" <<EOF

# ---- tensafe_dr demo
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DEMO_DIR'
shared_preload_libraries = 'tensafe_dr'
wal_level = replica
max_wal_senders = 4
hot_standby = on
# objectives shrunk for the demo; rpo_max before rpo_target: a target above
# the maximum in force is refused
tensafe_dr.rpo_max = '$RPO_MAX'
tensafe_dr.rpo_target = '$RPO_TARGET'
EOF
}

# Prints the standby's figures once a second until rpo_state is $1.
#   watch_standby STATE TIMEOUT_S
STATUS_LINE_SQL="SELECT to_char(clock_timestamp(), 'HH24:MI:SS'), rpo_state,
       coalesce(round(extract(epoch FROM rpo_lag), 1) || ' s', '-'),
       coalesce(round(extract(epoch FROM replay_lag), 1) || ' s', '-'),
       coalesce(replay_paused::text, '-'), coalesce(state_reason, '-')
  FROM dr_status()"

status_header() {
    printf '     %-8s  %-9s  %-8s  %-10s  %-6s  %s\n' \
        time rpo_state rpo_lag replay_lag paused state_reason
}

watch_standby() {
    local want=$1 timeout=$2 start=$SECONDS line state
    while :; do
        line=$(q1 "$STANDBY_PORT" "$STATUS_LINE_SQL")
        if [ -n "$line" ]; then
            IFS='|' read -r t state rpo replay paused reason <<<"$line"
            printf '     %-8s  %-9s  %-8s  %-10s  %-6s  %s\n' \
                "$t" "$state" "$rpo" "$replay" "$paused" "$reason"
            [ "$state" = "$want" ] && return 0
        else
            printf '     %s  (standby not answering)\n' "$(date +%T)"
        fi
        [ $(( SECONDS - start )) -lt "$timeout" ] ||
            fail "standby did not reach rpo_state '$want' within $timeout s"
        sleep 1
    done
}

wait_until() {
    local desc=$1 port=$2 sql=$3 timeout=$4 start=$SECONDS
    until [ "$(q1 "$port" "$sql")" = t ]; do
        [ $(( SECONDS - start )) -lt "$timeout" ] || fail "$desc: not within $timeout s"
        sleep 0.5
    done
}

show_status() {
    local port=$1 who=$2
    say "SELECT * FROM dr_status();   -- on the $who"
    q "$port" -x -c "SELECT * FROM dr_status()"
}

show_replicas() {
    say "SELECT * FROM dr_replicas;   -- on the primary: each standby as the primary sees it"
    q "$PRIMARY_PORT" -x -c "SELECT * FROM dr_replicas"
}

###########################################################################

dr_require_root
dr_install_packages "${DR_BASE_PACKAGES[@]}"
# The library is installed machine-wide: do not swap it under a test run or a
# benchmark (they hold this lock while their servers run).
exec 8>/var/tmp/tensafe_dr-install.lock
if ! flock -n 8; then
    dr_log "a test run or benchmark holds /var/tmp/tensafe_dr-install.lock; waiting"
    flock 8
fi
dr_build_and_install

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

DEMO_DIR=$(mktemp -d -t tensafe_dr-demo.XXXXXX)
chown postgres:postgres "$DEMO_DIR"
chmod 700 "$DEMO_DIR"
PRIMARY_PORT=$(pick_port)
STANDBY_PORT=$(pick_port)
PRIMARY=$DEMO_DIR/primary
STANDBY=$DEMO_DIR/standby

dr_log "tensafe_dr demo: a primary and a streaming standby in $DEMO_DIR"
cat <<EOF
     primary: port $PRIMARY_PORT, standby: port $STANDBY_PORT (127.0.0.1 and the socket in that directory).
     Connect while it runs:  psql -h $DEMO_DIR -p $PRIMARY_PORT -U postgres
     Everything is stopped and removed when the demo ends.  If it is killed
     with -9 instead, clean up by hand:
       runuser -u postgres -- $DR_PG_BIN/pg_ctl -D $STANDBY -m immediate stop
       runuser -u postgres -- $DR_PG_BIN/pg_ctl -D $PRIMARY -m immediate stop
       rm -rf $DEMO_DIR
EOF

dr_log "starting the primary (node demo-primary, region region-a)"
pg_as_postgres "$DR_PG_BIN/initdb" -D "$PRIMARY" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --no-instructions >"$DEMO_DIR/initdb.log" 2>&1 ||
    { cat "$DEMO_DIR/initdb.log" >&2; fail "initdb failed"; }
write_common_conf "$PRIMARY"
cat >>"$PRIMARY/postgresql.conf" <<EOF
port = $PRIMARY_PORT
cluster_name = 'demo-primary'
tensafe_dr.node_name = 'demo-primary'
tensafe_dr.region = 'region-a'
EOF
chown postgres:postgres "$PRIMARY/postgresql.conf"
pg_as_postgres "$DR_PG_BIN/pg_ctl" -D "$PRIMARY" -l "$DEMO_DIR/primary.log" -w -s start ||
    fail "the primary did not start (log: $DEMO_DIR/primary.log)"

q "$PRIMARY_PORT" -c "CREATE EXTENSION tensafe_dr" \
    -c "CREATE TABLE demo_load (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text)"
note "CREATE EXTENSION tensafe_dr in database postgres (where the worker connects);" \
     "it replicates to the standby with everything else."

dr_log "cloning the standby (node demo-standby, region region-b) with pg_basebackup -R"
pg_as_postgres "$DR_PG_BIN/pg_basebackup" -h "$DEMO_DIR" -p "$PRIMARY_PORT" -U postgres \
    -D "$STANDBY" -R -X stream -c fast ||
    fail "pg_basebackup failed"
cat >>"$STANDBY/postgresql.conf" <<EOF

# ---- standby overrides
port = $STANDBY_PORT
cluster_name = 'demo-standby'
tensafe_dr.node_name = 'demo-standby'
tensafe_dr.region = 'region-b'
EOF
pg_as_postgres "$DR_PG_BIN/pg_ctl" -D "$STANDBY" -l "$DEMO_DIR/standby.log" -w -s start ||
    fail "the standby did not start (log: $DEMO_DIR/standby.log)"

note "waiting for the standby to stream and report rpo_state 'ok' ..."
wait_until "standby streaming and 'ok'" "$STANDBY_PORT" \
    "SELECT rpo_state = 'ok' AND receiver_status = 'streaming' FROM dr_status()" "$READY_TIMEOUT"
wait_until "primary seeing the standby" "$PRIMARY_PORT" \
    "SELECT standbys = 1 AND rpo_state = 'ok' FROM dr_status()" "$READY_TIMEOUT"

###########################################################################
dr_log "PHASE 1: both nodes healthy"
note "rpo_lag    = how old the oldest primary WAL is that this node does not hold" \
     "             durably: what a failover to it now would lose." \
     "replay_lag = how old the oldest WAL is that it has not replayed yet: what a" \
     "             promotion must catch up on.  About one heartbeat (1 s) when" \
     "             caught up, also on an idle primary." \
     "rpo_state judges the larger of the two against rpo_target ($RPO_TARGET) and rpo_max ($RPO_MAX)."
show_status "$PRIMARY_PORT" primary
show_status "$STANDBY_PORT" standby
show_replicas

###########################################################################
dr_log "PHASE 2: write load on the primary, replay paused on the standby"
(
    set +e
    trap - EXIT INT TERM HUP
    while :; do
        q "$PRIMARY_PORT" -c "INSERT INTO demo_load (payload) VALUES (md5(random()::text))" \
            >/dev/null 2>&1
        sleep 0.2
    done
) &
LOAD_PID=$!
note "background load: one INSERT into demo_load every 0.2 s (pid $LOAD_PID)"

q "$STANDBY_PORT" -At -c "SELECT pg_wal_replay_pause()" >/dev/null
note "SELECT pg_wal_replay_pause();   -- on the standby" \
     "" \
     "Replay paused: the standby still receives and flushes the WAL, so rpo_lag" \
     "stays small (a failover would lose almost nothing); replay_lag grows, and" \
     "a promotion would have to replay all of it first.  rpo_state goes to" \
     "'warning' at rpo_target ($RPO_TARGET), then 'breach' at rpo_max ($RPO_MAX)." \
     ""
status_header
watch_standby warning "$PHASE_TIMEOUT"
note "" "-> warning: replay_lag reached rpo_target.  Waiting for rpo_max ..." ""
sleep 1
watch_standby breach "$PHASE_TIMEOUT"
note "" "-> breach: replay_lag reached rpo_max.  The primary sees the same standby so:"
q "$PRIMARY_PORT" -c "SELECT standby_name, state, rpo_lag, replay_lag, replay_lag_bytes, rpo_state FROM dr_replicas"

###########################################################################
dr_log "PHASE 3: replay resumed"
q "$STANDBY_PORT" -At -c "SELECT pg_wal_replay_resume()" >/dev/null
note "SELECT pg_wal_replay_resume();   -- on the standby" \
     "The standby replays the backlog in a moment; replay_lag falls back to about" \
     "one heartbeat and rpo_state returns to 'ok'." ""
status_header
watch_standby ok "$PHASE_TIMEOUT"

stop_load
rows=$(q1 "$PRIMARY_PORT" "SELECT count(*) FROM demo_load")
note "" "load stopped: ${rows:-?} rows inserted on the primary."
wait_until "standby replaying the last insert" "$STANDBY_PORT" \
    "SELECT count(*) = ${rows:-0} FROM demo_load" 20
note "the standby has all ${rows:-?} rows too."

###########################################################################
dr_log "FINAL STATE"
show_status "$PRIMARY_PORT" primary
show_status "$STANDBY_PORT" standby
show_replicas

dr_log "demo complete: stopping both servers and removing $DEMO_DIR"
exit 0
