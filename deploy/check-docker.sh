#!/bin/sh
# No Docker engine runs in CI, so the image is never built there. This check keeps the Docker
# files on the commands and settings CI does exercise on the bare binary
# (deploy/check-service.sh): the image serves with `chatalot-server`, checks health with
# `chatalot-server healthcheck`, runs as an unprivileged user, sets the same data directory,
# web root and log format as the systemd unit, and uses the PostgreSQL major version compose
# runs.
set -eu
cd "$(dirname "$0")/.."
fail=0
need() { # file, fixed string, why
    if ! grep -qF -- "$2" "$1"; then echo "$1 lacks $2 ($3)"; fail=1; fi
}
D=deploy/Dockerfile
C=deploy/compose.yml
U=deploy/chatalot.service
need $D 'ENTRYPOINT ["chatalot-server"]' "the image serves with the binary itself"
need $D 'CMD ["chatalot-server", "healthcheck"]' "the health check CI runs"
need deploy/check-service.sh 'chatalot-server" healthcheck' "CI exercises the image's health check"
need $D 'USER chatalot:chatalot' "non-root runtime"
need $D 'if [ -f package.json ]' "web stage only when frontend/ is an npm project"
need $D 'npm ci && npm run build' "the web app build"
for var in CHATALOT_DATA_DIR CHATALOT_WEB_ROOT CHATALOT_LOG_FORMAT; do
    value=$(sed -n "s/^Environment=$var=//p" $U)
    [ -n "$value" ] || { echo "$U does not set $var"; fail=1; continue; }
    need $D "$var=$value" "same $var as the systemd unit"
done
major=$(sed -n 's/^ARG POSTGRES_MAJOR=//p' $D)
need $C "image: postgres:$major" "client programs in the image match the database"
need $C "POSTGRES_PASSWORD_FILE: /run/secrets/chatalot/db_password" "database password from a file"
need $C "CHATALOT_DATABASE_PASSWORD_FILE: /run/secrets/chatalot/db_password" "the server reads the same file"
need $C "internal: true" "the database network is internal"
need $C "dockerfile: deploy/Dockerfile" "compose builds this image"
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$C" <<'PY' || fail=1
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
s = d["services"]
assert {"db", "server", "secrets"} <= set(s), "services"
assert set(d["volumes"]) == {"db-data", "chatalot-data", "secrets"}, "named volumes"
assert s["server"]["depends_on"]["db"]["condition"] == "service_healthy"
assert s["db"]["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
assert s["db"]["networks"] == ["internal"], "the database is on the internal network only"
PY
fi
[ $fail = 0 ] && echo "docker files: consistent with the checked commands"
exit $fail
