#!/bin/sh
# Runs every test of the workspace. Integration tests start (and share) a throwaway PostgreSQL
# cluster under target/tmp/pg; it is stopped here when the run ends.
set -eu
cd "$(dirname "$0")/.."
PGROOT="$PWD/target/tmp/pg"
stop_cluster() {
    [ -f "$PGROOT/data/postmaster.pid" ] || return 0
    bindir=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$bindir/pg_ctl" -D "$PGROOT/data" -m fast -w stop) >/dev/null 2>&1 || true
    else
        "$bindir/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
trap stop_cluster EXIT INT TERM
cargo nextest run --workspace --no-fail-fast "$@"
