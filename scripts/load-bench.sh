#!/usr/bin/env bash
# make load-bench: the capacity, coverage and delay figures of bench/RESULTS.md,
# measured against the running stack (make demo) on this machine:
#   1. capacity: closed loop at saturation against the stack's gateway
#      (telemetry on) and against a second gateway, agent and engine started
#      here with OTEL_SDK_DISABLED=true, alternately, ROUNDS times each;
#   2. coverage and delay: a fixed rate at 80 % of the measured capacity with
#      telemetry on, every tracking id checked in Jaeger and Prometheus.
# Knobs: ROUNDS (3), SATURATE_FOR (20s), CONCURRENCY (64), STEADY_FOR (60s).
# Raw JSON reports go to .run/load-bench/.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
SATURATE_FOR=${SATURATE_FOR:-20s}
CONCURRENCY=${CONCURRENCY:-64}
STEADY_FOR=${STEADY_FOR:-60s}
OUT="$RUN/load-bench"
mkdir -p "$OUT"

scripts/stack.sh status >/dev/null 2>&1 || die "the stack is not running: make demo (or scripts/stack.sh up) first"
KEY=$(scripts/stack.sh key)
say "machine: $(nproc) cores, $(date -u +%FT%TZ); load generator on the same machine"

# A trio with telemetry off, on ports the kernel picks. Their logs say where.
OFF="$OUT/telemetry-off"
mkdir -p "$OFF/data"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start_off() { # start_off NAME ENV...: prints the address the service bound
  local name=$1; shift
  env "$@" ADDR=127.0.0.1:0 OTEL_SDK_DISABLED=true OTEL_SERVICE_NAME="$name-off" \
    ".bin/$name" >"$OFF/$name.log" 2>&1 &
  pids+=($!)
  local addr=""
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*"message":"listening".*"addr":"\([^"]*\)".*/\1/p' "$OFF/$name.log" | head -n1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || die "$name (telemetry off) did not start: $(tail -n 5 "$OFF/$name.log")"
  echo "$addr"
}
engine=$(start_off workflow-engine)
agent=$(start_off workflow-agent)
gateway_off=$(start_off api-gateway DATA_DIR="$OFF/data" API_KEYS="demo:$KEY" \
  WORKFLOW_AGENT_URL="http://$agent" WORKFLOW_ENGINE_URL="http://$engine")

rate_of() { sed -n 's/.*"achieved_rate": *\([0-9.]*\).*/\1/p' "$1" | head -n1; }

saturate() { # saturate LABEL GATEWAY: closed loop, no checks; prints the achieved rate
  local label=$1 gw=$2 f="$OUT/capacity-$1-$3.json"
  .bin/aiteams load -gateway "$gw" -key "$KEY" -concurrency "$CONCURRENCY" -duration "$SATURATE_FOR" \
    -count 100000 -jaeger "" -prometheus "" --json >"$f" 2>/dev/null || true
  rate_of "$f"
}

say "== capacity: closed loop, $CONCURRENCY workers, $SATURATE_FOR per run, on and off alternately, $ROUNDS rounds"
on_rates=() off_rates=()
for r in $(seq 1 "$ROUNDS"); do
  on=$(saturate on http://127.0.0.1:8080 "$r"); off=$(saturate off "http://$gateway_off" "$r")
  say "  round $r: telemetry on $on/s, off $off/s"
  on_rates+=("$on"); off_rates+=("$off")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
on_med=$(median "${on_rates[@]}"); off_med=$(median "${off_rates[@]}")
say "  median: on $on_med/s, off $off_med/s, ratio $(awk -v a="$on_med" -v b="$off_med" 'BEGIN {printf "%.2f", a/b}')"

steady=$(awk -v a="$on_med" 'BEGIN {printf "%d", a*0.8}')
say "== coverage and delay: $steady/s (80 % of $on_med) for $STEADY_FOR with telemetry on, every id checked"
.bin/aiteams load -key "$KEY" -rate "$steady" -concurrency "$CONCURRENCY" -duration "$STEADY_FOR" -count 100000 \
  -check-timeout 2m | tee "$OUT/steady.txt" || true
say "raw reports: $OUT/"
