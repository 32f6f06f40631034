#!/bin/sh
# Checks deploy/chatalot.service the way this machine allows (there is no running systemd):
#  1. `systemd-analyze verify` on the unit as shipped, with ExecStart pointed at the binary under
#     test (verify insists that the program exists); any complaint fails the check;
#  2. `systemd-analyze security --offline` exposure at most 2.0;
#  3. the release binary started the way the unit starts it: as the unit's unprivileged User
#     (created when missing), with no new privileges, the unit's Environment= lines and the
#     example EnvironmentFile, UMask, LimitNOFILE and a StateDirectory-like data directory of
#     mode 0700; then /api/v1/ready (through `chatalot-server healthcheck`, as the Docker
#     health check does), /metrics, a backup and its verification as that user, and SIGTERM.
# Usage: sh deploy/check-service.sh [BINARY]   (default: target/release/chatalot-server, built
# when missing).
set -eu
cd "$(dirname "$0")/.."
UNIT=deploy/chatalot.service
ENVFILE=deploy/chatalot.env
BIN=${1:-target/release/chatalot-server}
if [ ! -x "$BIN" ]; then
    cargo build --release -p chatalot-server
fi
BIN=$(realpath "$BIN")

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; sleep 2; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
chmod 755 "$work"

echo "== systemd-analyze verify"
sed "s|^ExecStart=/usr/local/bin/chatalot-server|ExecStart=$BIN|" "$UNIT" >"$work/chatalot.service"
grep -q "^ExecStart=$BIN\$" "$work/chatalot.service" || { echo "ExecStart not found in $UNIT"; exit 1; }
if ! out=$(systemd-analyze verify "$work/chatalot.service" 2>&1) || [ -n "$out" ]; then
    echo "systemd-analyze verify failed:"; echo "$out"; exit 1
fi
echo "verify: no complaints"

echo "== systemd-analyze security (offline)"
systemd-analyze security --offline=true --threshold=20 "$work/chatalot.service" | tail -1

echo "== the binary under the unit's settings"
value() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
user=$(value User)
umask_value=$(value UMask)
nofile=$(value LimitNOFILE)
state="$work/state/$(value StateDirectory)"
mkdir -p "$work/bin" "$state"
cp "$BIN" "$work/bin/chatalot-server"
chmod 755 "$work/bin" "$work/bin/chatalot-server" "$work/state"
chmod 700 "$state"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# the environment: the unit's Environment= lines, then the EnvironmentFile, then the data
# directory and port of this run
{
    sed -n 's/^Environment=//p' "$UNIT"
    grep -v '^[[:space:]]*#' "$ENVFILE" | grep '='
    echo "CHATALOT_DATA_DIR=$state"
    echo "CHATALOT_BIND=127.0.0.1:$port"
} >"$work/env"
set -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin
while IFS= read -r line; do set -- "$@" "$line"; done <"$work/env"

if [ "$(id -u)" = 0 ]; then
    if ! id "$user" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin "$user"
        echo "created system user $user"
    fi
    chown "$user:$user" "$state"
    set -- setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs "$@"
else
    user=$(id -un)
    echo "not root: running as $user without switching users"
fi
# LimitNOFILE: raising the hard limit needs CAP_SYS_RESOURCE, which a container may lack; the
# check then applies the largest limit it can and says so
if (ulimit -n "$nofile") 2>/dev/null; then
    want_nofile=$nofile
else
    want_nofile=$(ulimit -Hn)
    echo "note: cannot raise the open-files limit to $nofile here (hard limit $want_nofile); using $want_nofile"
fi
as_service() { (cd "$state" && umask "$umask_value" && ulimit -n "$want_nofile" && exec "$@"); }

# one subshell that execs: setpriv, env and the server keep its pid
(cd "$state" && umask "$umask_value" && ulimit -n "$want_nofile" && exec "$@" "$work/bin/chatalot-server") \
    >"$work/server.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 300); do
    if as_service "$@" "$work/bin/chatalot-server" healthcheck >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$ready" ]; then echo "server did not become ready:"; cat "$work/server.log"; exit 1; fi
as_service "$@" "$work/bin/chatalot-server" healthcheck

server_pid=$pid
uid=$(awk '/^Uid:/ {print $2}' "/proc/$server_pid/status")
limit=$(awk '/^Max open files/ {print $4}' "/proc/$server_pid/limits")
nnp=$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$server_pid/status")
echo "server pid $server_pid: uid $uid ($(id -un "$uid")), open files limit $limit, NoNewPrivs $nnp"
[ "$(id -un "$uid")" = "$user" ] || { echo "server does not run as $user"; exit 1; }
[ "$limit" = "$want_nofile" ] || { echo "LimitNOFILE not applied"; exit 1; }
if [ "$(id -u)" = 0 ]; then [ "$nnp" = 1 ] || { echo "NoNewPrivs not set"; exit 1; }; fi

curl -fsS "http://127.0.0.1:$port/metrics" | grep -q '^chatalot_http_requests_total{' \
    || { echo "/metrics did not answer"; exit 1; }
echo "/metrics: served to loopback"
for f in secrets/token.key secrets/totp.key; do
    mode=$(stat -c '%a %U' "$state/$f")
    [ "$mode" = "600 $user" ] || { echo "$f: $mode"; exit 1; }
done
pg_owner=$(stat -c '%U' "$state/postgres/data")
[ "$pg_owner" = "$user" ] || { echo "embedded cluster owned by $pg_owner"; exit 1; }
echo "state: keys 0600 and embedded cluster owned by $user"

mkdir -p "$work/backups" && chmod 755 "$work/backups"
[ "$(id -u)" = 0 ] && chown "$user:$user" "$work/backups"
as_service "$@" "$work/bin/chatalot-server" backup --out "$work/backups/now"
as_service "$@" "$work/bin/chatalot-server" verify-backup "$work/backups/now"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { echo "exit status $status after SIGTERM"; cat "$work/server.log"; exit 1; }
[ ! -e "$state/postgres/data/postmaster.pid" ] || { echo "embedded cluster still running"; exit 1; }
echo "stopped cleanly on SIGTERM; service check passed"
