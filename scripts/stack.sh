#!/usr/bin/env bash
# The local stack as native processes on 127.0.0.1: Jaeger v2, our collector,
# Prometheus, and the three services.
#   scripts/stack.sh up      build what is missing, start what is not running, wait until ready
#   scripts/stack.sh down    stop what `up` started, by pid
#   scripts/stack.sh status  exit 0 when every component is running
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

SERVICES=(workflow-engine workflow-agent api-gateway)
COMPONENTS=(jaeger otelcol prometheus oncall-webhook alertmanager "${SERVICES[@]}")

# The demo's API key: random per checkout, kept in .run so curl examples and
# tests can read it. Never committed (.run is ignored).
demo_key() {
  local f="$RUN/demo-api-key"
  [ -s "$f" ] || head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 | sed 's/^/demo-/' >"$f"
  cat "$f"
}

step() { printf '[%s/%s] %-34s' "$1" "$2" "$3"; }
done_in() { printf 'ready (%ss)  %s\n' "$(( $(date +%s) - $1 ))" "$2"; }

build() {
  local n=5 t
  t=$(date +%s); step 1 $n "services (go build)"
  mkdir -p .bin
  go build -o .bin/ ./cmd/...
  done_in "$t" ".bin/{api-gateway,workflow-agent,workflow-engine,oncall-webhook}"
  t=$(date +%s); step 2 $n "collector distribution"
  scripts/build-collector.sh >"$LOGS/build-collector.log" 2>&1 || { cat "$LOGS/build-collector.log"; die "collector build failed"; }
  done_in "$t" ".bin/otelcol-ai-teams"
  t=$(date +%s); step 3 $n "Jaeger v2"
  scripts/build-jaeger.sh >"$LOGS/build-jaeger.log" 2>&1 || { cat "$LOGS/build-jaeger.log"; die "Jaeger build failed"; }
  done_in "$t" ".bin/jaeger"
  t=$(date +%s); step 4 $n "Prometheus + Alertmanager"
  scripts/install-prometheus.sh >"$LOGS/install-prometheus.log" 2>&1 || { cat "$LOGS/install-prometheus.log"; die "Prometheus is not installed"; }
  done_in "$t" "$(command -v prometheus)"
  t=$(date +%s); step 5 $n "PostgreSQL (optional)"
  printf 'skipped: services use SQLite in .run/data unless DATABASE_URL is set\n'
}

up() {
  build
  local n=7 t key
  key=$(demo_key)
  export ENVIRONMENT="${ENVIRONMENT:-dev}"
  # Short export interval so the demo's metrics reach Prometheus quickly.
  export OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-5000}"
  export OTEL_BSP_SCHEDULE_DELAY="${OTEL_BSP_SCHEDULE_DELAY:-1000}"

  t=$(date +%s); step 1 $n "jaeger"
  start jaeger "14317 14318 16685 16686 18888 13134" .bin/jaeger --config monitoring/jaeger-config.yml
  wait_ready jaeger http://127.0.0.1:16686/api/services 90
  done_in "$t" "http://127.0.0.1:16686 (API)"

  t=$(date +%s); step 2 $n "otelcol (collector)"
  local cfg=(--config monitoring/otel-collector-config.yml)
  if [ -n "${GRAFANA_CLOUD_OTLP_URL:-}${GRAFANA_CLOUD_PROMETHEUS_URL:-}" ]; then
    cfg+=(--config monitoring/otel-collector-cloud.yml)
  fi
  start otelcol "4317 4318 8888 8889 13133" .bin/otelcol-ai-teams "${cfg[@]}"
  wait_ready otelcol http://127.0.0.1:13133/ 60
  done_in "$t" "OTLP 127.0.0.1:4317/4318, health :13133, metrics :8889"

  t=$(date +%s); step 3 $n "prometheus"
  mkdir -p "$RUN/prometheus"
  start prometheus "9090" prometheus --config.file=monitoring/prometheus.yml \
    --storage.tsdb.path="$RUN/prometheus" --storage.tsdb.retention.time=7d \
    --enable-feature=exemplar-storage,native-histograms --web.enable-remote-write-receiver \
    --web.enable-lifecycle --web.listen-address=127.0.0.1:9090
  wait_ready prometheus http://127.0.0.1:9090/-/ready 60
  done_in "$t" "http://127.0.0.1:9090"

  t=$(date +%s); step 4 $n "alertmanager + on-call webhook"
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

  local i=5 svc port
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
