#!/bin/sh
# Runs every test of the workspace: the Rust tests, a few seconds of the load generator's smoke
# (it starts the server binary with its own embedded PostgreSQL, runs every scenario at small
# sizes and prints `smoke: N passed, N failed`), the contract test of the HTTP API
# (tests/contract.sh: schemathesis against the served OpenAPI document), then the web app's
# unit tests (vitest) and its browser tests (Chromium against the real server binary).
# Integration tests start (and share) a throwaway PostgreSQL cluster under target/tmp/pg; it
# is stopped here when the run ends. Each runner prints its summary; the script fails if any runner failed.
set -u
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

failed=""
echo "== rust: cargo nextest"
cargo nextest run --workspace --no-fail-fast "$@" || failed="$failed rust"
stop_cluster

echo "== load generator smoke"
if cargo build --quiet -p chatalot-server -p chatalot-tests --bins; then
    ./target/debug/chatalot-load smoke --spawn-server ./target/debug/chatalot-server || failed="$failed load-smoke"
else
    failed="$failed load-build"
fi

echo "== contract: schemathesis against the OpenAPI document"
if [ -x ./target/debug/chatalot-server ]; then
    sh tests/contract.sh ./target/debug/chatalot-server || failed="$failed contract"
else
    failed="$failed contract-build"
fi

echo "== web: install and build"
if make -s web; then
    echo "== web: type check (svelte-check)"
    (cd frontend && npm run check) || failed="$failed web-check"
    echo "== web: unit tests (vitest)"
    (cd frontend && npm test) || failed="$failed web-unit"
    echo "== web: browser tests (chromium, real server)"
    if cargo build -p chatalot-server; then
        (cd frontend && CHATALOT_SERVER_BIN="$PWD/../target/debug/chatalot-server" npm run test:browser) \
            || failed="$failed web-browser"
    else
        failed="$failed server-build"
    fi
else
    failed="$failed web-build"
fi

if [ -n "$failed" ]; then
    echo "== FAILED:$failed"
    exit 1
fi
echo "== all test runners passed"
