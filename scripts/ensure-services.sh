#!/usr/bin/env bash
# Make sure the services the tests use are up: PostgreSQL on 127.0.0.1:5432 with a database "test" that
# user postgres can open without a password, and Redis on 127.0.0.1:6379.
#
# Idempotent and silent when everything already runs; installs a missing server with apt-get only when run
# as root; every wait is bounded (WAIT_S, default 20 s), after which it says what is wrong and exits 1.
# Environment: PG_HOST, PG_PORT, PG_DB, REDIS_HOST, REDIS_PORT, WAIT_S.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_DB=${PG_DB:-test}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
WAIT_S=${WAIT_S:-20}

say() { echo "ensure-services: $*" >&2; }
die() { say "$*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# wait_for <what> <command...>: retry every 0.5 s for up to WAIT_S seconds.
wait_for() {
    local what=$1; shift
    local tries=$((WAIT_S * 2))
    for ((i = 0; i < tries; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    die "$what did not come up within ${WAIT_S} s."
}

apt_install() {
    is_root || die "$1 is not installed; install it (sudo apt-get install -y $*) or run this script as root."
    command -v apt-get >/dev/null || die "$1 is not installed and apt-get is not available; install $1 yourself."
    say "installing $* (apt-get)…"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >/dev/null || die "apt-get update failed."
    timeout 900 apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed."
}

# Run a command as the postgres OS user (peer auth over the local socket), whoever we are.
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"
    elif is_root && command -v runuser >/dev/null; then runuser -u postgres -- "$@"
    elif is_root; then su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    else sudo -n -u postgres "$@"
    fi
}

pg_ready() { timeout 5 pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
pg_sql() { timeout 10 psql -X -q -At -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

ensure_postgres() {
    if ! command -v pg_isready >/dev/null || ! pg_ready; then
        if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
            apt_install postgresql
        fi
        command -v pg_ctlcluster >/dev/null || die "PostgreSQL is installed but pg_ctlcluster is missing; start it yourself on $PG_HOST:$PG_PORT."
        local version
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
        [ -n "$version" ] || die "no PostgreSQL cluster under /etc/postgresql; create one (pg_createcluster <version> main)."
        say "starting PostgreSQL $version…"
        is_root || command -v sudo >/dev/null || die "PostgreSQL is down; start it (pg_ctlcluster $version main start)."
        if is_root; then
            timeout "$WAIT_S" pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
        else
            timeout "$WAIT_S" sudo -n pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
        fi
        wait_for "PostgreSQL on $PG_HOST:$PG_PORT" pg_ready
    fi

    # Tests connect as postgres over TCP without a password; allow that on loopback only, and only if needed.
    if ! pg_sql -c 'SELECT 1' >/dev/null 2>&1; then
        local hba
        hba=$(as_postgres psql -X -At -c 'SHOW hba_file' 2>/dev/null) \
            || die "cannot connect to PostgreSQL as postgres (over TCP or the local socket); check pg_hba.conf."
        if ! grep -q '^host all all 127.0.0.1/32 trust # nwbagent-tests' "$hba"; then
            say "allowing passwordless connections from 127.0.0.1 in $hba (tests only)…"
            local tmp
            tmp=$(mktemp)
            { echo 'host all all 127.0.0.1/32 trust # nwbagent-tests'
              echo 'host all all ::1/128 trust # nwbagent-tests'
              cat "$hba"; } >"$tmp"
            as_postgres tee "$hba" <"$tmp" >/dev/null
            rm -f "$tmp"
            as_postgres psql -X -q -c 'SELECT pg_reload_conf()' >/dev/null
        fi
        wait_for "passwordless PostgreSQL access for user postgres" pg_sql -c 'SELECT 1'
    fi

    if [ "$(pg_sql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
        pg_sql -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || die "could not create database $PG_DB."
    fi
    # The root role lets a root shell use psql -d test directly (the tests use postgres).
    if is_root && [ "$(pg_sql -c "SELECT 1 FROM pg_roles WHERE rolname = 'root'")" != 1 ]; then
        pg_sql -c 'CREATE ROLE root SUPERUSER LOGIN' >/dev/null || true
    fi
}

redis_ready() { [ "$(timeout 5 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
    if command -v redis-cli >/dev/null && redis_ready; then return 0; fi
    command -v redis-server >/dev/null || apt_install redis-server
    say "starting Redis…"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        >/dev/null || die "redis-server would not start; see its log."
    wait_for "Redis on $REDIS_HOST:$REDIS_PORT" redis_ready
}

ensure_postgres
ensure_redis
