#!/usr/bin/env bash
# test/setup.sh — shared by the demo and the test runner (source it, as root).
#
#   dr_install_packages PKG...   apt-get install what is missing (once per run)
#   dr_build_and_install         copy the tree to a postgres-owned build dir,
#                                build there as postgres, make install as root
#
# PostgreSQL refuses to run as root and pg_regress/TAP write into the build
# tree, so the build lives in $DR_BUILD_DIR (default /var/tmp/tensafe_dr-build),
# owned by postgres, whatever directory (or user) the source was cloned into.

set -euo pipefail

DR_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DR_BUILD_DIR=${DR_BUILD_DIR:-/var/tmp/tensafe_dr-build}
DR_PG_BIN=/usr/lib/postgresql/15/bin
export PATH="$DR_PG_BIN:$PATH"

dr_log() { printf '\n==> %s\n' "$*"; }

dr_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "run this as root (it installs packages and the extension)" >&2
        exit 1
    fi
}

# Packages every part of the project needs to build and test.
DR_BASE_PACKAGES=(postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev
                  libipc-run-perl make gcc pgbackrest
                  patroni etcd-server python3-etcd
                  prometheus prometheus-postgres-exporter          # dr_metrics tests
                  librsvg2-bin libxml2-utils fonts-dejavu-core)    # dr_lag_chart test: render, validate

dr_install_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        dr_log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Without systemd the packages' postinst starts their daemons through
        # invoke-rc.d (prometheus on :9090, the postgres exporter on :9187,
        # etcd, patroni...): forbid it, as container images do, unless a
        # policy is already there.  The tests start what they need themselves.
        local policy=/usr/sbin/policy-rc.d made_policy= rc=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\n# tensafe_dr test setup: no service starts during apt-get install\nexit 101\n' > "$policy"
            chmod 755 "$policy"
            made_policy=1
        fi
        apt-get update -q || rc=$?
        [ $rc -ne 0 ] || apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
        [ -z "$made_policy" ] || rm -f "$policy"
        [ $rc -eq 0 ] || return $rc
    fi
    # Debian's postgresql-common may start a default cluster on install;
    # the tests start their own servers and need none.
}

dr_as_postgres() { runuser -u postgres -- "$@"; }

dr_build_and_install() {
    dr_log "building in $DR_BUILD_DIR"
    rm -rf "$DR_BUILD_DIR"
    mkdir -p "$DR_BUILD_DIR"
    tar -C "$DR_SRC_DIR" --exclude=.git --exclude=tmp_check --exclude=results \
        --exclude=regress_instance --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
        -cf - . | tar -C "$DR_BUILD_DIR" -xf -
    chown -R postgres:postgres "$DR_BUILD_DIR"
    # DR_TEST_HOOKS=1 (test/run-tests.sh): a test build, with the crash
    # points of the crash-safety tests; never for the demo or a user.
    dr_as_postgres make -C "$DR_BUILD_DIR" -s -j2 PG_CONFIG="$DR_PG_BIN/pg_config" \
        ${DR_TEST_HOOKS:+TEST_HOOKS=1}
    make -C "$DR_BUILD_DIR" -s install PG_CONFIG="$DR_PG_BIN/pg_config" ${DR_TEST_HOOKS:+TEST_HOOKS=1}
}
