#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL on 127.0.0.1 for the tests.
#   scripts/postgres.sh start   → prints the database URL on stdout
#   scripts/postgres.sh stop
# Installs Debian's postgresql package when it is missing and we are root.
set -euo pipefail
# Only the helpers (safe_rm_rf, mark_ours): nothing is created under .run.
# shellcheck source=lib.sh
AI_TEAMS_LIB_HELPERS_ONLY=1 source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT="${AI_TEAMS_PG_PORT:-55432}"
DIR="${AI_TEAMS_PG_DIR:-/tmp/ai-teams-pg-$PORT}"
case $DIR in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DB=ai_teams_test
URL="postgres://postgres@127.0.0.1:$PORT/$DB?sslmode=disable"

log() { echo "postgres: $*" >&2; }

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_installed() {
  find_bin >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL server not found; install it: sudo apt-get install -y postgresql"
    exit 1
  fi
  log "installing Debian's postgresql package"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  find_bin >/dev/null || { log "postgresql installed but initdb not found"; exit 1; }
}

# was_ours DIR: DIR holds what an earlier start left there and nothing else -
# the cluster (data/ with its PG_VERSION), server.log, the socket and its lock -
# though no marker: it dates from before start marked its directory.
was_ours() {
  local e
  [ -d "$1" ] && [ ! -L "$1" ] || return 1
  if [ -e "$1/data" ] && [ ! -f "$1/data/PG_VERSION" ]; then return 1; fi
  while IFS= read -r e; do
    case $e in
      data | server.log | ".s.PGSQL.$PORT" | ".s.PGSQL.$PORT.lock" | "$SCRATCH_MARKER") ;;
      *) return 1 ;;
    esac
  done < <(find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n')
}

# as_pg runs a command as the postgres user when we are root (the server
# refuses to run as root), else as ourselves.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  ensure_installed
  local bin; bin=$(find_bin)
  if [ -f "$DIR/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "already running on 127.0.0.1:$PORT"
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      log "port $PORT is taken by another process; set AI_TEAMS_PG_PORT"; exit 1
    fi
    # DIR can come from the environment (AI_TEAMS_PG_DIR): it is removed only
    # when an earlier start made it (safe_rm_rf checks for the marker).
    if [ -e "$DIR" ] || [ -L "$DIR" ]; then
      if [ ! -f "$DIR/$SCRATCH_MARKER" ] && was_ours "$DIR"; then mark_ours "$DIR"; fi
      safe_rm_rf "$DIR" || { log "$DIR was not made by scripts/postgres.sh; remove it yourself or set AI_TEAMS_PG_DIR to a new directory"; exit 1; }
    fi
    mkdir -p "$DIR"; mark_ours "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_pg "$bin/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
    as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    log "started on 127.0.0.1:$PORT (data in $DIR)"
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1 ||
    as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE $DB" >/dev/null
  echo "$URL"
}

stop() {
  local bin; bin=$(find_bin) || return 0
  [ -d "$DIR/data" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
  log "stopped"
}

# These are this file's start and stop; lib.sh's (which take arguments) are not
# even defined with AI_TEAMS_LIB_HELPERS_ONLY, but shellcheck sees them.
# shellcheck disable=SC2119
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
