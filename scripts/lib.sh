# Shared by scripts/stack.sh, scripts/demo.sh and scripts/test.sh: start
# processes in the background with pid files, wait for readiness by polling,
# stop by pid - only a process we started (signal_ours) - and remove
# directories only where they are ours (safe_rm_rf).
# scripts/postgres.sh sources it with AI_TEAMS_LIB_HELPERS_ONLY=1: then only the
# variables and helpers down to safe_rm_rf are defined and nothing is created.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# AI_TEAMS_RUN_DIR moves pid files and logs elsewhere (the script tests use it).
RUN="${AI_TEAMS_RUN_DIR:-$ROOT/.run}"
# Absolute from here on: the scripts cd "$ROOT" after sourcing this file.
case $RUN in /*) ;; *) RUN="$PWD/$RUN" ;; esac
PIDS="$RUN/pids"
LOGS="$RUN/logs"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- removing directories ---------------------------------------------------

# The file mark_ours leaves in a directory a script created outside the run
# directory (PostgreSQL's, for one), so that safe_rm_rf may remove it later.
SCRATCH_MARKER=.ai-teams-scratch

# mark_ours DIR: DIR was just created by the calling script; safe_rm_rf may remove it.
mark_ours() { : >"$1/$SCRATCH_MARKER"; }

# below PATH DIR: PATH lies strictly below DIR (both absolute, no trailing /).
below() { case $1 in "$2"/?*) return 0 ;; *) return 1 ;; esac; }

# never_removable PATH: PATH (absolute, resolved) is "/", the home directory,
# the repository, or a directory above one of them.
never_removable() {
  local p=$1 keep
  for keep in "$(realpath -m -- "${HOME:-/}")" "$(realpath -m -- "$ROOT")"; do
    [ "$p" = "$keep" ] && return 0
    below "$keep" "$p" && return 0
  done
  [ "$p" = / ]
}

# safe_rm_rf PATH...: rm -rf PATH, but only where PATH is ours. Checked for every
# PATH before anything is removed; a refusal says why on stderr, removes
# nothing and returns 1. Refused:
#   - an empty or relative PATH, or one whose last part is . or ..;
#   - "/", $HOME, the repository, or any directory above one of them;
#   - a PATH that is not ours. Ours is strictly inside $ROOT/.run, strictly
#     inside $RUN (AI_TEAMS_RUN_DIR) when $RUN itself is none of the above,
#     or a directory holding the marker file mark_ours wrote when the script
#     created it.
# The checks look at PATH with every symbolic link resolved (realpath -m), so
# a link in the run directory that points elsewhere is refused.
safe_rm_rf() {
  local p r run
  run=$(realpath -m -- "$RUN")
  for p in "$@"; do
    case $p in
      '') say "safe_rm_rf: refusing to remove an empty path" >&2; return 1 ;;
      /*) ;;
      *) say "safe_rm_rf: refusing to remove '$p': not an absolute path" >&2; return 1 ;;
    esac
    case ${p%/} in
      */. | */..) say "safe_rm_rf: refusing to remove '$p': it ends in . or .." >&2; return 1 ;;
    esac
    r=$(realpath -m -- "$p")
    if never_removable "$r"; then
      say "safe_rm_rf: refusing to remove '$p' (= $r): it is /, \$HOME, the repository or a directory above one of them" >&2
      return 1
    fi
    if below "$r" "$(realpath -m -- "$ROOT/.run")"; then continue; fi
    if below "$r" "$run" && ! never_removable "$run"; then continue; fi
    if [ -d "$r" ] && [ -f "$r/$SCRATCH_MARKER" ]; then continue; fi
    if never_removable "$run"; then
      say "safe_rm_rf: refusing to remove '$p' (= $r): the run directory $run is no place for removals (/, \$HOME, the repository or above), and '$p' holds no $SCRATCH_MARKER marker" >&2
    else
      say "safe_rm_rf: refusing to remove '$p' (= $r): it is not inside the run directory $run and holds no $SCRATCH_MARKER marker, so it is not ours" >&2
    fi
    return 1
  done
  rm -rf -- "$@"
}

[ "${AI_TEAMS_LIB_HELPERS_ONLY:-0}" = 1 ] && return 0
mkdir -p "$PIDS" "$LOGS"

# --- processes -----------------------------------------------------------------
# Each process start() launches has two files in $PIDS: NAME.pid holds its pid
# (alone, as before), NAME.id what makes that pid ours: the boot it was started
# in, its start time and the command we ran. A pid file can outlive its process
# and the pid be reused by an unrelated one; the start time tells them apart
# (ours NAME PID), and every signal goes through signal_ours.

# is_pid WORD: a plain positive pid ("", "-1", "0", "self" and the like are not).
is_pid() { case $1 in '' | *[!0-9]* | 0*) return 1 ;; *) return 0 ;; esac; }

# proc_stat PID: the fields of /proc/PID/stat from the third (state) on. The
# second field, the command name in parentheses, may hold spaces and ")".
proc_stat() {
  local stat
  is_pid "$1" || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  printf '%s\n' "${stat##*) }"
}

# alive PID: the process exists and has not exited. An exited process that
# nobody has reaped yet (a zombie) still has its /proc entry, so read its state.
alive() {
  local state
  state=$(proc_stat "$1") || return 1
  [ "${state%% *}" != Z ]
}

# start_time PID: when PID started, in clock ticks since boot (field 22 of
# /proc/PID/stat). It stays the same when the process execs another program;
# a process that gets a reused pid has a later one.
start_time() {
  local -a f
  read -r -a f <<<"$(proc_stat "$1")" || return 1
  # f[0] is field 3, so field 22 is f[19].
  [ -n "${f[19]:-}" ] || return 1
  printf '%s\n' "${f[19]}"
}

boot_id() { cat /proc/sys/kernel/random/boot_id 2>/dev/null; }

# proc_cmd PID: PID's command line, for messages.
proc_cmd() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || true
  cmd=${cmd% }
  [ -n "$cmd" ] || cmd="[$(cat "/proc/$1/comm" 2>/dev/null)]"
  printf '%s\n' "${cmd:0:200}"
}

# id_field NAME KEY: KEY's value in NAME.id.
id_field() { sed -n "s/^$2=//p" "$PIDS/$1.id" 2>/dev/null | head -n1; }

# ours NAME PID: PID is still the process start() launched as NAME: alive, same
# boot and same start time as recorded in NAME.id. A pid file written before
# NAME.id existed counts when its process started no later than the pid file
# was written (a reused pid belongs to a process started after that; two
# seconds of slack for rounding in btime and the timestamps).
ours() {
  local name=$1 pid=$2 st want btime hz mtime
  alive "$pid" || return 1
  st=$(start_time "$pid") || return 1
  if [ -f "$PIDS/$name.id" ]; then
    want=$(id_field "$name" start)
    [ -n "$want" ] && [ "$st" = "$want" ] && [ "$(id_field "$name" boot)" = "$(boot_id)" ]
    return
  fi
  btime=$(awk '$1 == "btime" { print $2 }' /proc/stat) || return 1
  hz=$(getconf CLK_TCK) || return 1
  mtime=$(stat -c %Y "$PIDS/$name.pid" 2>/dev/null) || return 1
  [ -n "$btime" ] && [ -n "$hz" ] && [ $((btime + st / hz)) -le $((mtime + 2)) ]
}

# running NAME: the process we started under NAME is alive (and still ours).
running() {
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && ours "$1" "$(cat "$f")"
}

# forget NAME: remove NAME's pid file and what identifies it.
forget() { rm -f "$PIDS/$1.pid" "$PIDS/$1.id"; }

# signal_ours NAME SIGNAL: the one place these scripts signal a process they
# started. Sends SIGNAL to the pid in NAME's pid file only when ours says it is
# still that process. Returns 0 when sent; 1 when there is no such process
# (gone, or never started); 1 too when another process has the pid now: then
# it says so, does not signal it, and removes the stale pid file; 2 when kill
# failed. (Between the check and kill the process could exit and its pid be
# taken again; bash has no pidfd, but that needs the pid space to wrap round
# within microseconds.)
signal_ours() {
  local name=$1 sig=$2 f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  alive "$pid" || return 1
  if ! ours "$name" "$pid"; then
    say "  pid $pid is no longer $name (now: $(proc_cmd "$pid")); removing the stale pid file"
    forget "$name"
    return 1
  fi
  kill -s "$sig" "$pid" 2>/dev/null || return 2
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
  local pid
  (
    cd "$ROOT" || exit 1
    exec nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null
  ) &
  pid=$!
  # What makes the pid ours, written before the pid file so that whoever finds
  # the pid file finds this next to it. The start time is read now, while the
  # process is our unreaped child and cannot have handed its pid on.
  local cmd="$*"
  printf 'boot=%s\nstart=%s\ncmd=%s\n' "$(boot_id)" "$(start_time "$pid")" "${cmd//$'\n'/ }" >"$PIDS/$name.id"
  echo "$pid" >"$PIDS/$name.pid"
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

# stop NAME: SIGTERM, then SIGKILL after 10 s; both only while the pid is still
# the process we started (signal_ours). A stale pid file is said and removed.
stop() {
  local name=$1 f="$PIDS/$1.pid" pid rc=0
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  signal_ours "$name" TERM || rc=$?
  case $rc in
    0)
      for _ in $(seq 1 50); do
        running "$name" || break
        sleep 0.2
      done
      if running "$name"; then signal_ours "$name" KILL || true; fi
      say "  stopped $name (pid $pid)"
      ;;
    2)
      # Ours but not ours to signal (another user's now?): keep the pid file.
      say "  cannot stop $name (pid $pid): kill -TERM failed; its pid file stays"
      return 0
      ;;
  esac
  forget "$name"
}
