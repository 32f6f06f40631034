#!/bin/sh
# Runs every test of the workspace. Integration tests start (and share) a throwaway PostgreSQL
# cluster under target/tmp/pg; it is stopped here when the run ends. Then a few seconds of the
# load generator's smoke keep it working: it starts the server binary with its own embedded
# PostgreSQL, runs every scenario at small sizes, prints `smoke: N passed, N failed` and fails on
# any error. Benchmarks proper are never run here (docs/performance.md).
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
cargo build --quiet -p chatalot-server -p chatalot-tests --bins
./target/debug/chatalot-load smoke --spawn-server ./target/debug/chatalot-server
