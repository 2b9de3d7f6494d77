# Shared by scripts/stack.sh and scripts/demo.sh: start processes in the
# background with pid files, wait for readiness by polling, stop by pid.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# AI_TEAMS_RUN_DIR moves pid files and logs elsewhere (the script tests use it).
RUN="${AI_TEAMS_RUN_DIR:-$ROOT/.run}"
PIDS="$RUN/pids"
LOGS="$RUN/logs"
mkdir -p "$PIDS" "$LOGS"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# alive PID: the process exists and has not exited. An exited process that
# nobody has reaped yet (a zombie) still answers kill -0, so read its state.
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ "$state" != Z ]
}

# running NAME: the process we started under NAME is alive.
running() {
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && alive "$(cat "$f")"
}

# port_busy PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_owner PORT: the process listening there, if ss can tell.
port_owner() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*",pid=[0-9]*\).*/\1/p' | head -n1
}

# require_free NAME PORT...: fail naming the port when it is taken by something else.
require_free() {
  local name=$1 p owner; shift
  for p in "$@"; do
    if port_busy "$p"; then
      owner=$(port_owner "$p")
      die "$name needs 127.0.0.1:$p, but port $p is already in use${owner:+ by $owner}. Stop that process (or run 'make demo-down') and try again."
    fi
  done
}

# start NAME PORTS CMD...: start CMD in the background unless NAME already runs.
# PORTS is a space-separated list checked beforehand.
start() {
  local name=$1 ports=$2; shift 2
  if running "$name"; then
    return 0
  fi
  # shellcheck disable=SC2086
  require_free "$name" $ports
  # One log per run: what an earlier run wrote moves aside, so nobody reading
  # the log (a person or a test) mistakes old lines for this run's.
  if [ -f "$LOGS/$name.log" ]; then
    mkdir -p "$LOGS/previous"
    mv -f "$LOGS/$name.log" "$LOGS/previous/$name.log"
  fi
  (
    cd "$ROOT"
    exec nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$PIDS/$name.pid"
}

# wait_ready NAME URL [SECONDS]: poll URL until it answers 2xx, or fail with
# the tail of NAME's log.
wait_ready() {
  local name=$1 url=$2 limit=${3:-60} t0 now
  t0=$(date +%s)
  while :; do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    if ! running "$name"; then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name exited during start-up (log: .run/logs/$name.log)"
    fi
    now=$(date +%s)
    if (( now - t0 >= limit )); then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name not ready at $url after ${limit}s (log: .run/logs/$name.log)"
    fi
    sleep 0.2
  done
}

# stop NAME: SIGTERM, then SIGKILL after 10 s.
stop() {
  local f="$PIDS/$1.pid" pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      alive "$pid" || break
      sleep 0.2
    done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    say "  stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}
