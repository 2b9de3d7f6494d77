#!/usr/bin/env bash
# fresh-check: prove the README's two commands work on a truly fresh Debian machine,
# without Docker.
#
# It debootstraps a minimal Debian bookworm root (minbase, from the same mirror as
# this host's apt sources), copies in ONLY the Go toolchain, the CA certificates,
# resolv.conf, the apt sources (+ any apt Acquire/proxy settings) and a fresh clone
# of this repository (plus /work/shared), then chroots into it as root with a clean
# environment and runs, in /work/main:
#
#   ci     bash .ci/run                  (installs curl/git/make, then `make test`)
#   demo   DEMO_DETACH=1 make demo, then make demo-down (always, to stop the stack)
#
# Usage (as root):
#   scripts/fresh-check.sh                          # ci, then demo: the full check
#   scripts/fresh-check.sh --only ci                # some steps only (repeatable; ci, demo)
#   scripts/fresh-check.sh --cmd 'make lint'        # a custom command instead (bash -c, in /work/main)
#   scripts/fresh-check.sh --cmd 'apt-get update && apt-get install -y make curl' --only demo
#                                                   # steps run in the order given
#
# Options (flag / environment):
#   --only STEP      FRESH_STEPS=ci,demo    steps to run, in order (ci, demo, cmd)
#   --cmd 'CMD'      FRESH_CMD=...          run CMD with bash -c (the step "cmd")
#   --keep           FRESH_KEEP=1           keep the root for inspection (default: remove it)
#   --worktree       FRESH_INCLUDE_WORKTREE=1  copy the working tree with uncommitted
#                                           and untracked (not ignored) files, not just HEAD
#   --mirror URL     FRESH_MIRROR=URL       Debian mirror (default: parsed from the host's apt sources)
#                    FRESH_WORKDIR=DIR      default /var/tmp/ai-teams-fresh
#                    FRESH_IGNORE_PORTS=1   start ci/demo even if the stack's ports are taken
#
# How long: debootstrap 1-3 minutes (52 s to 2m53s measured on 2 cores, depending on
# load), preparing the root a few seconds. The steps start from nothing each time:
# every Go module is downloaded (`go vet ./...` alone took 3 minutes here) and
# `.ci/run` builds the collector and Jaeger from source and installs PostgreSQL and
# Prometheus with apt, so the full check takes tens of minutes; the demo afterwards
# reuses those builds. A minbase root has no make or curl: only .ci/run installs them.
#
# The chroot shares this host's network: ci and demo bind fixed ports on 127.0.0.1,
# so they refuse to start while any of them is taken. Logs of every step stay in
# <workdir>/logs/ even when the root is removed.

# Most functions run only through run_step or trap, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

SUITE=bookworm
REPO_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DST=/work/main
SHARED_SRC=/work/shared
# Ports the stack and the tests bind on 127.0.0.1 (scripts/stack.sh, scripts/postgres.sh).
STACK_PORTS=(4317 4318 8080 8081 8082 8888 8889 9090 9093 9095 13133 13134 14317 14318 16680 16685 16686 18888 55432)
# Environment that decides where Go and apt download from; passed into the chroot when set.
PASS_ENV=(GOPROXY GONOPROXY GOSUMDB GONOSUMDB GONOSUMCHECK GOPRIVATE GOINSECURE GOFLAGS GOTOOLCHAIN
  http_proxy https_proxy no_proxy all_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY)

STEPS="${FRESH_STEPS:-ci,demo}"
CMD="${FRESH_CMD:-}"
KEEP="${FRESH_KEEP:-0}"
WORKTREE="${FRESH_INCLUDE_WORKTREE:-0}"
MIRROR="${FRESH_MIRROR:-}"
WORKDIR_BASE="${FRESH_WORKDIR:-/var/tmp/ai-teams-fresh}"

WORK=""       # this run's directory: root/ and logs/
ROOT=""       # the chroot
GOROOT_HOST="" # the host's Go toolchain, copied to the same path in the root
GO_BIN=""
MOUNTS=()     # what we mounted, in order; unmounted in reverse
RESULTS=()    # "name|status|seconds" per step
STEP_NO=0
T_START=$(date +%s)

say() { printf '%s\n' "$*"; }
die() { printf 'fresh-check: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^$/{/^$/d;s/^# \{0,1\}//;p}' "$0"; }

parse_args() {
  local only_given=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --only)
        [[ $# -ge 2 ]] || die "--only needs a step (ci, demo)"
        if [[ $only_given -eq 0 ]]; then STEPS=""; only_given=1; fi
        STEPS="${STEPS:+$STEPS,}$2"; shift 2 ;;
      --cmd)
        [[ $# -ge 2 ]] || die "--cmd needs a command"
        CMD=$2
        # A custom command alone replaces the default steps; with --only it is added.
        if [[ $only_given -eq 0 ]]; then STEPS=""; only_given=1; fi
        STEPS="${STEPS:+$STEPS,}cmd"; shift 2 ;;
      --keep) KEEP=1; shift ;;
      --worktree) WORKTREE=1; shift ;;
      --mirror)
        [[ $# -ge 2 ]] || die "--mirror needs a URL"
        MIRROR=$2; shift 2 ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument: $1 (see --help)" ;;
    esac
  done
  local s
  for s in ${STEPS//,/ }; do
    case "$s" in
      ci | demo) ;;
      cmd) [[ -n $CMD ]] || die "step cmd needs --cmd or FRESH_CMD" ;;
      *) die "unknown step: $s (ci, demo, cmd)" ;;
    esac
  done
  [[ -n ${STEPS//,/} ]] || die "no steps to run"
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_step NAME CMD...: run CMD with its output on the terminal and in logs/NN-NAME.log,
# print how long it took, record the result and leave its exit status in STEP_RC.
# Always returns 0, and must not be called inside `if`/`||`: there bash ignores set -e
# even in subshells, and a function step would carry on past a failed command.
STEP_RC=0
STEP_PID=""
run_step() {
  local name=$1 t0 log fd tee_pid i; shift
  STEP_NO=$((STEP_NO + 1))
  log=$(printf '%s/logs/%02d-%s.log' "$WORK" "$STEP_NO" "$name")
  say ""
  say "==> [$STEP_NO] $name  ($(date +%H:%M:%S), log: $log)"
  t0=$(date +%s)
  # tee on a file descriptor, not in a pipeline: a daemon that the step leaves running
  # with its stdout still open would keep a pipeline (and so this script) waiting forever.
  exec {fd}> >(tee -a "$log")
  tee_pid=$!
  # In the background plus wait, so that INT/TERM reach the trap at once instead of
  # after the step (bash defers traps while a foreground child runs).
  # The step gets tee as stdout/stderr only, not the extra descriptor: daemons it starts
  # with their output redirected then let tee finish.
  (exec {fd}>&-; set -e; "$@") >&"$fd" 2>&1 &
  STEP_PID=$!
  set +e
  wait "$STEP_PID"
  STEP_RC=$?
  set -e
  STEP_PID=""
  exec {fd}>&-
  # Let tee print the last lines before the status line (unless something holds its pipe;
  # that process is killed after the step, which ends tee).
  for i in $(seq 1 20); do kill -0 "$tee_pid" 2>/dev/null || break; sleep 0.1; done
  local dt=$(($(date +%s) - t0)) status=ok
  [[ $STEP_RC -eq 0 ]] || status="FAILED (exit $STEP_RC)"
  say "<== [$STEP_NO] $name: $status in $(fmt_secs "$dt")"
  RESULTS+=("$name|$status|$dt")
}

# --- cleanup: always, on any exit ---------------------------------------------------

# chroot_pids: processes whose root directory is our chroot (or inside it). Daemons
# started with nohup (the stack, PostgreSQL) outlive the chroot's shell.
chroot_pids() {
  local p r
  [[ -n $ROOT ]] || return 0
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    if [[ $r == "$ROOT" || $r == "$ROOT"/* ]]; then say "${p#/proc/}"; fi
  done
}

# signal_in_chroot SIGNAL PID...: signal each PID whose root is still our chroot,
# checked again just before kill: a pid listed a moment ago may have exited and been
# taken by a host process since.
signal_in_chroot() {
  local sig=$1 p r
  shift
  [[ -n $ROOT ]] || return 0
  for p in "$@"; do
    r=$(readlink "/proc/$p/root" 2>/dev/null) || continue
    if [[ $r == "$ROOT" || $r == "$ROOT"/* ]]; then kill "-$sig" "$p" 2>/dev/null || true; fi
  done
}

kill_chroot_processes() {
  local round pids i
  for round in 1 2 3; do
    mapfile -t pids < <(chroot_pids)
    [[ ${#pids[@]} -gt 0 ]] || return 0
    say "fresh-check: stopping ${#pids[@]} process(es) left in the chroot: ${pids[*]}"
    signal_in_chroot TERM "${pids[@]}"
    for i in $(seq 1 25); do
      [[ -z $(chroot_pids) ]] && return 0
      sleep 0.2
    done
    mapfile -t pids < <(chroot_pids)
    [[ ${#pids[@]} -eq 0 ]] || signal_in_chroot KILL "${pids[@]}"
    sleep 0.5
    [[ $round -lt 3 ]] || say "fresh-check: warning: processes still in the chroot: $(chroot_pids | tr '\n' ' ')" >&2
  done
}

# kill_tree SIGNAL PID [PARENT]: signal PID and all its descendants (a host-side step
# such as debootstrap has no chroot root to be found by). Each pid is signalled only
# while it is still the child of the process it was found under (PARENT; for the step
# itself, this shell), so a pid that exited and was reused meanwhile is left alone.
kill_tree() {
  local child
  for child in $(pgrep -P "$2" 2>/dev/null); do kill_tree "$1" "$child" "$2"; done
  [[ $(awk '$1 == "PPid:" { print $2 }' "/proc/$2/status" 2>/dev/null) == "${3:-$$}" ]] || return 0
  kill "-$1" "$2" 2>/dev/null || true
}

stop_running_step() {
  local i
  [[ -n $STEP_PID ]] || return 0
  say "fresh-check: interrupted; stopping the running step"
  kill_tree TERM "$STEP_PID"
  for i in $(seq 1 50); do kill -0 "$STEP_PID" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$STEP_PID" 2>/dev/null; then kill_tree KILL "$STEP_PID"; fi
  wait "$STEP_PID" 2>/dev/null || true
}

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
  awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

unmount_all() {
  local i m
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${MOUNTS[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "fresh-check: warning: cannot unmount $m" >&2
  done
  MOUNTS=()
  # Anything mounted below the root by the steps themselves (or that we lost track of).
  [[ -n $ROOT ]] || return 0
  while read -r m; do
    [[ -n $m ]] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
  done < <(mounts_under "$ROOT")
}

# The marker make_workdir leaves in the work directory it created for this run.
WORK_MARKER=.fresh-check-workdir

# root_is_ours: ROOT is root/ in the work directory make_workdir created for this run
# (an absolute path, not /, holding the marker), so cleanup may rm -rf it.
root_is_ours() {
  [[ -n $WORK && $WORK == /?* && $ROOT == "$WORK/root" && -f $WORK/$WORK_MARKER && ! -L $ROOT ]]
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  stop_running_step
  kill_chroot_processes
  unmount_all
  if [[ -n $ROOT && -d $ROOT ]]; then
    if [[ -n $(mounts_under "$ROOT") ]]; then
      say "fresh-check: warning: mounts remain under $ROOT; not removing it" >&2
    elif ! root_is_ours; then
      say "fresh-check: warning: $ROOT is not the root this run created; not removing it" >&2
    elif [[ $KEEP == 1 ]]; then
      say "fresh-check: kept the root for inspection: $ROOT   (enter: chroot $ROOT /bin/bash; remove: rm -rf $WORK)"
    else
      # --one-file-system: never follow into a mount that survived somehow.
      rm -rf --one-file-system "$ROOT"
    fi
  fi
  exit "$rc"
}

# --- host side ------------------------------------------------------------------------

preflight() {
  [[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, mount and chroot need it)"
  command -v git >/dev/null || die "git is needed on the host to clone the repository"
  git -C "$REPO_SRC" rev-parse --git-dir >/dev/null 2>&1 || die "$REPO_SRC is not a git repository"
  GOROOT_HOST=$(host_goroot)
  GO_BIN="$GOROOT_HOST/bin"
  if [[ ,$STEPS, == *,ci,* || ,$STEPS, == *,demo,* ]] && [[ ${FRESH_IGNORE_PORTS:-0} != 1 ]]; then
    check_ports_free
  fi
}

# The chroot shares the host's network, so a port in use here would make the stack
# fail (or worse, make the tests talk to someone else's process).
check_ports_free() {
  local p busy=()
  for p in "${STACK_PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then busy+=("$p"); fi
  done
  [[ ${#busy[@]} -eq 0 ]] ||
    die "ports in use on 127.0.0.1: ${busy[*]} - the chroot shares this network; stop those processes first (or FRESH_IGNORE_PORTS=1)"
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  say "installing debootstrap on the host"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

# apt_source_files: the host's active apt source files (disabled/renamed ones ignored).
apt_source_files() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && say "$f"
  done
}

# mirror_candidates: URIs of "deb" entries for $SUITE with component main, in file
# order, from one-line (.list) and deb822 (.sources) files.
mirror_candidates() {
  local f
  while read -r f; do
    case "$f" in
      *.sources)
        awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
          {
            types = ""; uris = ""; suites = ""; comps = ""; enabled = "yes"
            for (i = 1; i <= NF; i++) {
              if ($i ~ /^#/ || $i !~ /:/) continue
              k = tolower(substr($i, 1, index($i, ":") - 1)); v = substr($i, index($i, ":") + 1)
              if (k == "types") types = v; else if (k == "uris") uris = v
              else if (k == "suites") suites = v; else if (k == "components") comps = v
              else if (k == "enabled") enabled = tolower(v)
            }
            if (enabled ~ /no/ || (" " types " ") !~ / deb / || (" " suites " ") !~ (" " s " ") || (" " comps " ") !~ / main /) next
            split(uris, u, " "); for (j in u) if (u[j] != "") { print u[j]; break }
          }' "$f" ;;
      *)
        awk -v s="$SUITE" '$1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) != s) next
            for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; next }
          }' "$f" ;;
    esac
  done < <(apt_source_files)
}

# pick_mirror: the first candidate that really is Debian's archive (its Release file
# says Origin: Debian, when curl can tell), else deb.debian.org.
pick_mirror() {
  local uri
  while read -r uri; do
    uri=${uri%/}
    if ! command -v curl >/dev/null ||
      curl -fsS --max-time 20 "$uri/dists/$SUITE/Release" 2>/dev/null | grep -q '^Origin: Debian$'; then
      say "$uri"; return 0
    fi
  done < <(mirror_candidates)
  say "http://deb.debian.org/debian"
}

make_workdir() {
  WORK="$WORKDIR_BASE/$(date +%Y%m%d-%H%M%S)"
  # A new directory (plain mkdir fails on one that exists), marked as this run's:
  # cleanup removes the root only inside it (root_is_ours).
  mkdir -p "$WORKDIR_BASE"
  mkdir "$WORK" || die "$WORK exists already (another fresh-check started in the same second?)"
  : >"$WORK/$WORK_MARKER"
  mkdir -p "$WORK/root" "$WORK/logs"
  # The chroot path as the kernel reports it in /proc/*/root (no symlinks).
  WORK=$(realpath "$WORK")
  ROOT="$WORK/root"
}

bootstrap_root() {
  say "debootstrap --variant=minbase $SUITE $ROOT $MIRROR"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
}

# --- what goes into the root: only these ---------------------------------------------

host_goroot() {
  local go
  go=$(command -v go || true)
  [[ -n $go ]] || go=/usr/local/go/bin/go
  [[ -x $go ]] || die "no Go toolchain on the host (go not on PATH, no /usr/local/go)"
  "$go" env GOROOT
}

copy_go() {
  local goroot=$1
  mkdir -p "$ROOT$(dirname "$goroot")"
  cp -a "$goroot" "$ROOT$goroot"
  say "Go: $goroot ($("$goroot/bin/go" version))"
  # A persistent `go env -w` configuration (GOPROXY, ...) lives in GOENV, not in the environment.
  local goenv
  goenv=$("$goroot/bin/go" env GOENV 2>/dev/null || true)
  if [[ -n $goenv && -f $goenv ]]; then
    mkdir -p "$ROOT/root/.config/go"
    cp "$goenv" "$ROOT/root/.config/go/env"
    say "Go: copied $goenv"
  fi
}

copy_ca_certs() {
  # /etc/ssl/certs holds symlinks into /usr/share/ca-certificates; local CAs (a proxy's)
  # live in /usr/local/share/ca-certificates and survive update-ca-certificates in the root.
  local d
  for d in /etc/ssl/certs /usr/share/ca-certificates /usr/local/share/ca-certificates; do
    [[ -d $d ]] || continue
    mkdir -p "$ROOT$d"
    cp -a "$d/." "$ROOT$d/"
  done
  [[ -f /etc/ca-certificates.conf ]] && cp -a /etc/ca-certificates.conf "$ROOT/etc/"
  say "CA certificates: $(grep -c 'BEGIN CERTIFICATE' "$ROOT/etc/ssl/certs/ca-certificates.crt") in ca-certificates.crt"
}

copy_network_config() {
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # Every installed Debian has localhost in /etc/hosts; debootstrap does not write one.
  if [[ ! -s $ROOT/etc/hosts ]]; then
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
  fi
}

# copy_apt_config: the host's apt sources replace debootstrap's sources.list (the same
# mirror twice would only produce warnings), plus the keyrings they name and the
# apt.conf snippets that decide whether the mirror is reachable and accepted: proxies,
# and Check-Valid-Until/Check-Date (needed for snapshot mirrors). Other image tweaks
# (no translations, gzipped indexes, ...) are not what a fresh machine has.
copy_apt_config() {
  local f k
  rm -f "$ROOT/etc/apt/sources.list"
  while read -r f; do
    mkdir -p "$ROOT$(dirname "$f")"
    cp -a "$f" "$ROOT$f"
    say "apt: $f"
    while read -r k; do
      if [[ -f $k && ! -e $ROOT$k ]]; then
        mkdir -p "$ROOT$(dirname "$k")"
        cp -a "$k" "$ROOT$k"
        say "apt: keyring $k"
      fi
    done < <(grep -ohiE 'signed-by[=:][[:space:]]*/[^] ,[:space:]]+' "$f" | sed -E 's/^[^=:]*[=:][[:space:]]*//')
  done < <(apt_source_files)
  for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
    if [[ ! -f $f ]] || ! grep -qiE 'proxy|check-valid-until|check-date' "$f"; then continue; fi
    mkdir -p "$ROOT$(dirname "$f")"
    cp -a "$f" "$ROOT$f"
    say "apt: $f ($(grep -ci proxy "$f" || true) proxy line(s))"
  done
}

# copy_repo: a fresh clone of HEAD, or (--worktree) that clone with the working tree's
# files on top and deleted files removed, so uncommitted changes are tested too.
copy_repo() {
  local dst="$ROOT$REPO_DST"
  mkdir -p "$(dirname "$dst")"
  git clone -q "$REPO_SRC" "$dst"
  # Its origin would be /work/main: inside the root, that is the clone itself.
  git -C "$dst" remote remove origin
  say "repo: clone of $(git -C "$REPO_SRC" rev-parse --short HEAD) ($(git -C "$REPO_SRC" log -1 --format=%s | cut -c1-60))"
  if [[ $WORKTREE == 1 ]]; then
    (cd "$REPO_SRC" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
      tar --null -T - -cf -) | tar -C "$dst" -xf -
    (cd "$REPO_SRC" && git ls-files -z --deleted) | (cd "$dst" && xargs -0 -r rm -f --)
    say "repo: working tree copied on top; against HEAD:"
    git -C "$dst" status --short | head -n 20 | sed 's/^/  /'

  fi
  if [[ -d $SHARED_SRC ]]; then
    cp -a "$SHARED_SRC" "$ROOT$SHARED_SRC"
    say "shared: $SHARED_SRC copied"
  fi
}

# Runs in run_step's subshell: it must not set globals.
prepare_root() {
  copy_go "$GOROOT_HOST"
  copy_ca_certs
  copy_network_config
  copy_apt_config
  copy_repo
}

# --- mounts and chroot ----------------------------------------------------------------

mount_one() { # mount_one TARGET MOUNT-ARGS...
  local target=$1; shift
  mkdir -p "$target"
  # Explicit: callers use it in `if`, where set -e does not apply.
  mount "$@" "$target" || return 1
  MOUNTS+=("$target")
}

# Fresh instances rather than recursive binds of the host's: nothing to propagate
# back to the host when they are unmounted. devtmpfs falls back to a plain bind
# where the kernel does not allow it (some containers).
mount_all() {
  mount_one "$ROOT/proc" -t proc proc
  mount_one "$ROOT/sys" -t sysfs sysfs
  if ! mount_one "$ROOT/dev" -t devtmpfs devtmpfs 2>/dev/null; then
    mount_one "$ROOT/dev" --bind /dev
  fi
  mount_one "$ROOT/dev/pts" -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts
  mount_one "$ROOT/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev shm
  say "mounted: ${MOUNTS[*]#"$ROOT"}"
}

# in_root CMD: CMD with bash -c in /work/main inside the root, as root, with a clean
# environment: only what a login on a fresh machine has, plus the Go/proxy settings.
in_root() {
  local envs=(HOME=/root USER=root LOGNAME=root SHELL=/bin/bash TERM=dumb LANG=C.UTF-8 CI=true
    "PATH=$GO_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
  local v
  for v in "${PASS_ENV[@]}"; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
  done
  chroot "$ROOT" /usr/bin/env -i "${envs[@]}" /bin/bash -c "cd $REPO_DST && $1" </dev/null
}

show_env() {
  local v passed=()
  for v in "${PASS_ENV[@]}"; do [[ -n ${!v:-} ]] && passed+=("$v=${!v}"); done
  say "chroot environment: clean (env -i) + PATH with $GO_BIN${passed[*]:+, passed through: ${passed[*]}}"
}

step_demo() {
  local rc=0
  run_step demo in_root 'DEMO_DETACH=1 make demo'
  rc=$STEP_RC
  # Stop the stack even when the demo failed half-way.
  run_step demo-down in_root 'make demo-down'
  [[ $rc -ne 0 ]] || rc=$STEP_RC
  STEP_RC=$rc
}

# run_steps: the chroot steps in order; a failed step does not stop the next ones
# (each is a separate check). Sets FAILED.
FAILED=0
run_steps() {
  local s
  for s in ${STEPS//,/ }; do
    case "$s" in
      ci) run_step ci in_root 'bash .ci/run' ;;
      demo) step_demo ;;
      cmd) run_step cmd in_root "$CMD" ;;
    esac
    [[ $STEP_RC -eq 0 ]] || FAILED=1
    # Whatever a step left running must not leak into the next one.
    kill_chroot_processes
  done
}

summary() {
  local r name status dt
  say ""
  say "== fresh-check summary ($WORK)"
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r name status dt <<<"$r"
    printf '  %-10s %-20s %s\n' "$name" "$status" "$(fmt_secs "$dt")"
  done
  printf '  %-10s %-20s %s\n' total "" "$(fmt_secs $(($(date +%s) - T_START)))"
  say "  logs: $WORK/logs/"
}

main() {
  parse_args "$@"
  preflight
  ensure_debootstrap
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  make_workdir
  [[ -n $MIRROR ]] || MIRROR=$(pick_mirror)
  say "fresh-check: steps=$STEPS  mirror=$MIRROR  root=$ROOT  keep=$KEEP  worktree=$WORKTREE"

  run_step bootstrap bootstrap_root
  [[ $STEP_RC -eq 0 ]] || { summary; exit 1; }
  run_step prepare prepare_root
  [[ $STEP_RC -eq 0 ]] || { summary; exit 1; }
  mount_all
  show_env
  run_steps
  summary
  exit "$FAILED"
}

main "$@"
