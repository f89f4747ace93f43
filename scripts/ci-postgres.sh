#!/usr/bin/env bash
# Makes a local PostgreSQL ready for Slipway's store tests (Debian, run as root); safe to run again.
#
# Installs Debian's `postgresql` if missing, starts the newest cluster, waits until it accepts
# connections and ensures the role `slipway` (password `slipway`, LOGIN CREATEDB) exists: the tests
# create and drop one throw-away database per test. Afterwards use
#   SLIPWAY_TEST_POSTGRES_URL=postgres://slipway:slipway@127.0.0.1:${PGPORT:-5432}/postgres
set -euo pipefail

# Only the port goes to stdout (for `port="$(scripts/ci-postgres.sh)"`); everything else to stderr.
exec 3>&1 1>&2

log() { echo "ci-postgres: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (it installs and starts PostgreSQL)"
    exit 1
fi

newest_version() {
    [ -d /usr/lib/postgresql ] || return 0
    find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' -printf '%P\n' 2>/dev/null \
        | cut -d/ -f1 | sort -V | tail -n 1
}

version="$(newest_version)"
if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update </dev/null 3>&-
    apt-get install -y --no-install-recommends postgresql </dev/null 3>&-
    version="$(newest_version)"
fi
if [ -z "$version" ]; then
    log "no PostgreSQL server found under /usr/lib/postgresql after installing"
    exit 1
fi

# Some container images skip the cluster that the package normally creates.
if ! pg_lsclusters --no-header 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main </dev/null 3>&-
fi

install -d -o postgres -g postgres -m 2775 /var/run/postgresql
status=0
pg_ctlcluster "$version" main status >/dev/null 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    log "starting cluster $version/main"
    # The server must not inherit fd 3 (our caller's stdout): a daemon holding it open would keep a
    # `$(scripts/ci-postgres.sh)` waiting forever.
    pg_ctlcluster "$version" main start </dev/null 3>&-
fi

port="$(pg_lsclusters --no-header | awk -v v="$version" '$1 == v && $2 == "main" { print $3 }')"
port="${port:-5432}"
for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$port"; then break; fi
    sleep 1
done
if ! pg_isready -h 127.0.0.1 -p "$port"; then
    log "PostgreSQL $version did not become ready on port $port; see /var/log/postgresql/postgresql-$version-main.log"
    exit 1
fi

runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'slipway') THEN
        CREATE ROLE slipway LOGIN CREATEDB PASSWORD 'slipway';
    ELSE
        ALTER ROLE slipway LOGIN CREATEDB PASSWORD 'slipway';
    END IF;
END
$$;
-- DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker that is visiting a
-- throw-away test database; that needs pg_signal_backend.
GRANT pg_signal_backend TO slipway;
SQL

log "PostgreSQL $version ready on 127.0.0.1:$port (role slipway)"
echo "$port" >&3
