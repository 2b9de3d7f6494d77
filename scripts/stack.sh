#!/usr/bin/env bash
# The local stack as native processes on 127.0.0.1: Jaeger v2, our collector,
# Prometheus, Alertmanager, the three services, and the console.
#   scripts/stack.sh up      build what is missing, start what is not running, wait until ready
#   scripts/stack.sh down    stop what `up` started, by pid
#   scripts/stack.sh status  exit 0 when every component is running
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

SERVICES=(workflow-engine workflow-agent api-gateway)
COMPONENTS=(jaeger otelcol prometheus oncall-webhook alertmanager "${SERVICES[@]}" console)

# The demo's API key: random per checkout, kept in .run so curl examples and
# tests can read it. Never committed (.run is ignored).
demo_key() {
  local f="$RUN/demo-api-key"
  [ -s "$f" ] || head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 | sed 's/^/demo-/' >"$f"
  cat "$f"
}

# step I N NAME: the start of a step's line; done_in ends it.
step() { STEP_LABEL=$(printf '[%2s/%s] %-34s' "$1" "$2" "$3"); printf '%s' "$STEP_LABEL"; }
done_in() { printf 'ready (%ss)  %s\n' "$(( $(date +%s) - $1 ))" "$2"; }

# with_progress LOG CMD...: run a build with its output in LOG and say what it
# is doing while it runs, so a long first build does not look hung: the time
# so far, the modules downloaded and the packages compiled (go build -v names
# each). On a terminal the step's line is rewritten every 2 s; elsewhere a
# line is added every 30 s.
with_progress() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  local pid=$! t0 now last=0 every=30 tty=0 shown=0 rc=0 mods pkgs
  t0=$(date +%s)
  if [ -t 1 ]; then tty=1; every=2; fi
  while alive "$pid"; do
    sleep 0.5
    now=$(( $(date +%s) - t0 ))
    (( now - last >= every )) || continue
    last=$now
    mods=$(grep -c '^go: downloading' "$log" || true)
    pkgs=$(grep -c '^[a-z0-9_.-]*\.[a-z]*/\|^[a-z]*$\|^[a-z]*/' "$log" || true)
    if [ $tty = 1 ]; then
      printf '\r\033[K%s%dm%02ds: %s modules downloaded, %s packages compiled' "$STEP_LABEL" $((now / 60)) $((now % 60)) "$mods" "$pkgs"
    else
      printf '\n      %dm%02ds: %s modules downloaded, %s packages compiled' $((now / 60)) $((now % 60)) "$mods" "$pkgs"
    fi
    shown=1
  done
  wait "$pid" || rc=$?
  if [ $shown = 1 ]; then
    if [ $tty = 1 ]; then printf '\r\033[K%s' "$STEP_LABEL"; else printf '\n%s' "$STEP_LABEL"; fi
  fi
  return $rc
}

up() {
  local n=12 t key
  key=$(demo_key)
  export ENVIRONMENT="${ENVIRONMENT:-dev}"
  # Short export interval so the demo's metrics reach Prometheus quickly.
  export OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-5000}"
  export OTEL_BSP_SCHEDULE_DELAY="${OTEL_BSP_SCHEDULE_DELAY:-1000}"
  mkdir -p .bin
  if [ ! -x .bin/otelcol-ai-teams ] || [ ! -x .bin/jaeger ]; then
    say "First run: our collector and Jaeger v2 are built from source (about 1 GB of Go modules,"
    say "some 2 700 packages): 10-15 minutes on 2 cores. Each build shows its progress; later runs take seconds."
  fi
  # Jaeger, the longest build, comes last: the services, the collector and
  # Prometheus are up as soon as their own builds allow (the collector keeps
  # spans queued until Jaeger is there).

  t=$(date +%s); step 1 $n "services (go build)"
  with_progress "$LOGS/build-services.log" go build -v -o .bin/ ./cmd/... || { cat "$LOGS/build-services.log"; die "services build failed"; }
  done_in "$t" ".bin/{api-gateway,workflow-agent,workflow-engine,oncall-webhook,aiteams}"

  t=$(date +%s); step 2 $n "collector distribution"
  with_progress "$LOGS/build-collector.log" scripts/build-collector.sh || { cat "$LOGS/build-collector.log"; die "collector build failed"; }
  done_in "$t" ".bin/otelcol-ai-teams"

  t=$(date +%s); step 3 $n "Prometheus + Alertmanager"
  scripts/install-prometheus.sh >"$LOGS/install-prometheus.log" 2>&1 || { cat "$LOGS/install-prometheus.log"; die "Prometheus is not installed"; }
  done_in "$t" "$(command -v prometheus)"

  t=$(date +%s); step 4 $n "otelcol (collector)"
  local cfg=(--config monitoring/otel-collector-config.yml)
  if [ -n "${GRAFANA_CLOUD_OTLP_URL:-}${GRAFANA_CLOUD_PROMETHEUS_URL:-}" ]; then
    cfg+=(--config monitoring/otel-collector-cloud.yml)
  fi
  start otelcol "4317 4318 8888 8889 13133" .bin/otelcol-ai-teams "${cfg[@]}"
  wait_ready otelcol http://127.0.0.1:13133/ 60
  done_in "$t" "OTLP 127.0.0.1:4317/4318, health :13133, metrics :8889"

  t=$(date +%s); step 5 $n "prometheus"
  mkdir -p "$RUN/prometheus"
  start prometheus "9090" prometheus --config.file=monitoring/prometheus.yml \
    --storage.tsdb.path="$RUN/prometheus" --storage.tsdb.retention.time=7d \
    --enable-feature=exemplar-storage,native-histograms --web.enable-remote-write-receiver \
    --web.enable-lifecycle --web.listen-address=127.0.0.1:9090
  wait_ready prometheus http://127.0.0.1:9090/-/ready 60
  done_in "$t" "http://127.0.0.1:9090"

  t=$(date +%s); step 6 $n "alertmanager + on-call webhook"
  # The stand-in for Grafana OnCall: Alertmanager delivers to it, it keeps each
  # notification as a line in .run/oncall-notifications.jsonl.
  ADDR=127.0.0.1:9095 ONCALL_FILE="$RUN/oncall-notifications.jsonl" \
    start oncall-webhook "9095" .bin/oncall-webhook
  wait_ready oncall-webhook http://127.0.0.1:9095/healthz 30
  mkdir -p "$RUN/alertmanager"
  # An empty cluster address turns off gossip (it would take 9094).
  start alertmanager "9093" prometheus-alertmanager --config.file=monitoring/alertmanager.yml \
    --storage.path="$RUN/alertmanager" --web.listen-address=127.0.0.1:9093 --cluster.listen-address=
  wait_ready alertmanager http://127.0.0.1:9093/-/ready 30
  done_in "$t" "http://127.0.0.1:9093 → webhook 127.0.0.1:9095 (.run/oncall-notifications.jsonl)"

  local i=7 svc port
  for svc in "${SERVICES[@]}"; do
    case $svc in
      api-gateway) port=8080 ;;
      workflow-agent) port=8081 ;;
      workflow-engine) port=8082 ;;
    esac
    t=$(date +%s); step $i $n "$svc"
    ADDR="127.0.0.1:$port" DATA_DIR="$RUN/data" API_KEYS="demo:$key" \
      OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:4317 \
      start "$svc" "$port" ".bin/$svc"
    wait_ready "$svc" "http://127.0.0.1:$port/healthz" 30
    done_in "$t" "http://127.0.0.1:$port (log: .run/logs/$svc.log)"
    i=$((i + 1))
  done

  t=$(date +%s); step 10 $n "Jaeger v2 (build)"
  with_progress "$LOGS/build-jaeger.log" scripts/build-jaeger.sh || { cat "$LOGS/build-jaeger.log"; die "Jaeger build failed"; }
  done_in "$t" ".bin/jaeger"

  t=$(date +%s); step 11 $n "jaeger"
  start jaeger "14317 14318 16685 16686 18888 13134" .bin/jaeger --config monitoring/jaeger-config.yml
  wait_ready jaeger http://127.0.0.1:16686/api/services 90
  done_in "$t" "http://127.0.0.1:16686 (API)"

  t=$(date +%s); step 12 $n "console (aiteams console)"
  JAEGER_URL=http://127.0.0.1:16686 PROMETHEUS_URL=http://127.0.0.1:9090 AITEAMS_LOGS="$LOGS/*.log" DATA_DIR="$RUN/data" \
    start console "16680" .bin/aiteams console -addr 127.0.0.1:16680
  wait_ready console http://127.0.0.1:16680/healthz 30
  done_in "$t" "http://127.0.0.1:16680"
}

down() {
  local i
  for (( i=${#COMPONENTS[@]}-1; i>=0; i-- )); do
    stop "${COMPONENTS[$i]}"
  done
}

status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then say "  $c: running (pid $(cat "$PIDS/$c.pid"))"; else say "  $c: stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  key) demo_key ;;
  *) echo "usage: $0 up|down|status|key" >&2; exit 2 ;;
esac
