#!/usr/bin/env bash
# make load-bench: the capacity, coverage and delay figures of bench/RESULTS.md,
# measured against the running stack (make demo) on this machine:
#   1. capacity: closed loop at saturation against two gateway, agent and
#      engine trios started here from the same binaries with the same
#      settings, one exporting to the stack's collector (telemetry on), one
#      with OTEL_SDK_DISABLED=true, alternately, ROUNDS times each. Each run
#      also records the CPU time every process used (services, collector,
#      Jaeger, Prometheus) per 1000 requests, and the middle round takes CPU
#      profiles of the six services (PPROF_ADDR) into $OUT/profiles;
#   2. coverage and delay: a fixed rate at 80 % of the measured capacity
#      with telemetry on, every tracking id checked in Jaeger (every
#      DELAY_SAMPLE-th one timed while the load runs, the rest after it) and
#      the gateways' request counter watched in Prometheus.
# With PIN=1 (the default on 2 or more cores) both trios run on core 0 and
# the load generator, collector, Jaeger and Prometheus on the others
# (taskset), so the backends' work - which production runs elsewhere - does
# not take the services' CPU, and the capacity ratio is the services' own.
# PIN=0 shares every core, as make demo does.
# Knobs: ROUNDS (3), SATURATE_FOR (20s), CONCURRENCY (64), STEADY_FOR (60s),
# DELAY_SAMPLE (10), PROFILE_FOR (10, seconds), PIN.
# Raw JSON reports, CPU tables and profiles go to .run/load-bench/.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
SATURATE_FOR=${SATURATE_FOR:-20s}
CONCURRENCY=${CONCURRENCY:-64}
STEADY_FOR=${STEADY_FOR:-60s}
DELAY_SAMPLE=${DELAY_SAMPLE:-10}
PROFILE_FOR=${PROFILE_FOR:-10}
CORES=$(nproc)
PIN=${PIN:-$([ "$CORES" -ge 2 ] && echo 1 || echo 0)}
SERVICES_ON=() REST_ON=()
if [ "$PIN" = 1 ]; then
  [ "$CORES" -ge 2 ] || die "PIN=1 needs 2 cores or more"
  SERVICES_ON=(taskset -c 0) REST_ON=(taskset -c "1-$((CORES - 1))")
fi
OUT="$RUN/load-bench"
mkdir -p "$OUT/profiles"

scripts/stack.sh status >/dev/null 2>&1 || die "the stack is not running: make demo (or scripts/stack.sh up) first"
KEY=$(scripts/stack.sh key)
say "machine: $(nproc) cores, $(date -u +%FT%TZ); load generator on the same machine"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "$PIN" = 1 ] && for name in otelcol jaeger prometheus; do
    pin_backend "$name" "0-$((CORES - 1))"
  done
  return 0
}
pin_backend() { # pin_backend NAME CPUS: every thread of a running stack process
  local pid
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 0
  if alive "$pid" && ours "$1" "$pid"; then
    taskset -a -p -c "$2" "$pid" >/dev/null 2>&1 || say "  could not pin $1 to cores $2"
  fi
}
trap cleanup EXIT
declare -A PID PPROF
start_one() { # start_one TRIO NAME ENV...: sets ADDR_OUT to the address the service bound
  local trio=$1 name=$2; shift 2
  local log="$OUT/$trio/$name.log"
  "${SERVICES_ON[@]}" env "$@" ADDR=127.0.0.1:0 PPROF_ADDR=127.0.0.1:0 ".bin/$name" >"$log" 2>&1 &
  pids+=($!)
  PID[$trio/$name]=$!
  local addr=""
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*"message":"listening".*"addr":"\([^"]*\)".*/\1/p' "$log" | head -n1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || die "$name ($trio) did not start: $(tail -n 5 "$log")"
  PPROF[$trio/$name]=$(sed -n 's/.*"message":"profiling".*"pprof_addr":"\([^"]*\)".*/\1/p' "$log" | head -n1)
  ADDR_OUT=$addr
}
declare -A GATEWAY
start_trio() { # start_trio on|off ENV...
  local trio=$1; shift
  mkdir -p "$OUT/$trio/data"
  safe_rm_rf "$OUT/$trio/data"
  mkdir -p "$OUT/$trio/data"
  start_one "$trio" workflow-engine "$@"; local engine=$ADDR_OUT
  start_one "$trio" workflow-agent "$@"; local agent=$ADDR_OUT
  start_one "$trio" api-gateway "$@" DATA_DIR="$OUT/$trio/data" API_KEYS="demo:$KEY" \
    WORKFLOW_AGENT_URL="http://$agent" WORKFLOW_ENGINE_URL="http://$engine"
  GATEWAY[$trio]="http://$ADDR_OUT"
}
# The stack's own settings (scripts/stack.sh up), so "on" is what make demo runs.
start_trio on ENVIRONMENT="${ENVIRONMENT:-dev}" OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4317 \
  OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-5000}" OTEL_BSP_SCHEDULE_DELAY="${OTEL_BSP_SCHEDULE_DELAY:-1000}"
start_trio off ENVIRONMENT="${ENVIRONMENT:-dev}" OTEL_SDK_DISABLED=true

if [ "$PIN" = 1 ]; then
  for name in otelcol jaeger prometheus; do pin_backend "$name" "1-$((CORES - 1))"; done
  say "pinned: the trios on core 0; the load generator, collector, Jaeger and Prometheus on cores 1-$((CORES - 1))"
fi

# CPU time (user + system, clock ticks) of each process that shares the machine.
TICKS=$(getconf CLK_TCK)
backend_pid() { cat "$PIDS/$1.pid" 2>/dev/null || true; }
cpu_ticks() { # cpu_ticks PID: utime + stime, 0 when gone
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # Fields after the command (which may hold spaces): utime is the 12th, stime the 13th.
  echo "${stat##*) }" | awk '{print $12 + $13}'
}
cpu_table() { # cpu_table TRIO: "name=ticks ..." for the trio's services and the backends
  local trio=$1 name
  for name in api-gateway workflow-agent workflow-engine; do
    printf '%s=%s ' "$name" "$(cpu_ticks "${PID[$trio/$name]}")"
  done
  for name in otelcol jaeger prometheus; do
    printf '%s=%s ' "$name" "$(cpu_ticks "$(backend_pid "$name")")"
  done
}
# cpu_per_1000 BEFORE AFTER REQUESTS: CPU seconds per 1000 requests per process.
cpu_per_1000() {
  awk -v before="$1" -v after="$2" -v n="$3" -v hz="$TICKS" 'BEGIN {
    split(before, b, " "); split(after, a, " ")
    for (i in b) { split(b[i], kv, "="); start[kv[1]] = kv[2] }
    out = ""
    for (i = 1; i in a; i++) {
      split(a[i], kv, "="); used = (kv[2] - start[kv[1]]) / hz
      out = out sprintf("%s %.2f  ", kv[1], n > 0 ? used / n * 1000 : 0)
    }
    print out
  }'
}
profile_trio() { # profile_trio TRIO ROUND: CPU profiles of the trio's services, in the background
  local name
  for name in api-gateway workflow-agent workflow-engine; do
    [ -n "${PPROF[$1/$name]}" ] || continue
    curl -sf -o "$OUT/profiles/$1-$name.pprof" "http://${PPROF[$1/$name]}/debug/pprof/profile?seconds=$PROFILE_FOR" &
  done
}

field_of() { sed -n "s/.*\"$2\": *\\([0-9.]*\\).*/\\1/p" "$1" | head -n1; }

saturate() { # saturate TRIO ROUND: closed loop, no checks; prints rate and CPU per 1000
  local trio=$1 round=$2 f="$OUT/capacity-$1-$2.json" before after
  before=$(cpu_table "$trio")
  if [ "$round" = "$(( (ROUNDS + 1) / 2 ))" ]; then profile_trio "$trio"; fi
  "${REST_ON[@]}" .bin/aiteams load -gateway "${GATEWAY[$trio]}" -key "$KEY" -concurrency "$CONCURRENCY" -duration "$SATURATE_FOR" \
    -count 100000 -jaeger "" -prometheus "" --json >"$f" 2>/dev/null || true
  after=$(cpu_table "$trio")
  wait # the profiles, if any
  echo "$(field_of "$f" achieved_rate) | $(cpu_per_1000 "$before" "$after" "$(field_of "$f" sent)")"
}

say "== capacity: closed loop, $CONCURRENCY workers, $SATURATE_FOR per run, on and off alternately, $ROUNDS rounds"
say "   (each line: workflows/s | CPU seconds per 1000 requests of each process)"
on_rates=() off_rates=()
for r in $(seq 1 "$ROUNDS"); do
  on=$(saturate on "$r"); off=$(saturate off "$r")
  say "  round $r on:  $on"
  say "  round $r off: $off"
  on_rates+=("${on%% *}"); off_rates+=("${off%% *}")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
on_med=$(median "${on_rates[@]}"); off_med=$(median "${off_rates[@]}")
say "  median: on $on_med/s, off $off_med/s, ratio $(awk -v a="$on_med" -v b="$off_med" 'BEGIN {printf "%.2f", a/b}')"

say "== where the CPU goes: top functions of each service's profile (round $(( (ROUNDS + 1) / 2 )), ${PROFILE_FOR}s)"
for p in "$OUT"/profiles/*.pprof; do
  [ -s "$p" ] || continue
  name=$(basename "$p" .pprof)
  go tool pprof -top -nodecount=40 ".bin/${name#*-}" "$p" >"$OUT/profiles/$name.top.txt" 2>/dev/null || true
  go tool pprof -top -cum -nodecount=60 ".bin/${name#*-}" "$p" >"$OUT/profiles/$name.cum.txt" 2>/dev/null || true
  go tool pprof -traces ".bin/${name#*-}" "$p" 2>/dev/null | (cd bench && GOWORK=off go run ./profshare) >"$OUT/profiles/$name.share.txt" || true
  say "  $name: $(sed -n 's/^Duration: .*Total samples = \(.*\)$/\1/p' "$OUT/profiles/$name.top.txt") → $OUT/profiles/$name.{top,cum,share}.txt"
  sed 's/^/      /' "$OUT/profiles/$name.share.txt"
done

steady=$(awk -v a="$on_med" 'BEGIN {printf "%d", a*0.8}')
say "== coverage and delay: $steady/s (80 % of $on_med) for $STEADY_FOR with telemetry on, every id checked, every $DELAY_SAMPLE. timed"
before=$(cpu_table on)
"${REST_ON[@]}" .bin/aiteams load -gateway "${GATEWAY[on]}" -key "$KEY" -rate "$steady" -concurrency "$CONCURRENCY" -duration "$STEADY_FOR" \
  -count 100000 -check-timeout 2m -delay-sample "$DELAY_SAMPLE" | tee "$OUT/steady.txt" || true
say "  CPU seconds over the run and its checks: $(cpu_per_1000 "$before" "$(cpu_table on)" 1000)"
say "raw reports: $OUT/"
