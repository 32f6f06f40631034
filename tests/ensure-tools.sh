#!/bin/sh
# Installs what `make run` / `make test` need when it is missing: PostgreSQL's server binaries
# (Debian package `postgresql`), Node and npm for the web app, and, for tests, cargo-nextest and
# Chromium (Debian package `chromium`, driven by the browser tests) and Python's venv (the
# contract test installs schemathesis into one).
set -eu
need_apt=""
have_pg() {
    command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have_pg || need_apt="$need_apt postgresql"
command -v npm >/dev/null 2>&1 || need_apt="$need_apt nodejs npm"
if [ "${1:-}" = test ] && [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
    need_apt="$need_apt chromium"
fi
# the contract test runs schemathesis from its own virtual environment
if [ "${1:-}" = test ] && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need_apt="$need_apt python3 python3-venv"
fi
if [ -n "$need_apt" ]; then
    echo "installing:$need_apt"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt
    # the package starts a system-wide cluster we do not use
    $SUDO systemctl stop postgresql 2>/dev/null || true
fi
if [ "${1:-}" = test ] && ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
