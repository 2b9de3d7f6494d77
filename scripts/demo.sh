#!/usr/bin/env bash
# make demo: build and start the local stack and the three services, drive a
# little traffic, print where to look, and stay up until Ctrl-C.
# DEMO_DETACH=1 returns after printing and leaves everything running
# (stop it with `make demo-down`).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

say "== ai-teams demo: building and starting everything on 127.0.0.1"
scripts/stack.sh up
KEY=$(scripts/stack.sh key)

say ""
say "== driving traffic through the gateway"
tid=""
for goal in "summarise the quarterly report" "plan the product launch #partial" "research competitors" "draft the release notes #fail" "write onboarding docs"; do
  hdrs=$(curl -sS -o /dev/null -D - -X POST http://127.0.0.1:8080/api/v1/workflows \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"user_id\":\"user_demo\",\"goal\":\"$goal\"}")
  status=$(printf '%s' "$hdrs" | head -n1 | awk '{print $2}')
  id=$(printf '%s' "$hdrs" | awk -F': ' 'tolower($1)=="x-tracking-id"{print $2}' | tr -d '\r')
  say "  POST /api/v1/workflows  goal=\"$goal\"  → $status  X-Tracking-ID: $id"
  [ -z "$tid" ] && tid=$id
done
curl -sS -o /dev/null http://127.0.0.1:8080/api/v1/workflows -H "Authorization: Bearer wrong" || true
curl -sS -o /dev/null http://127.0.0.1:8080/no/such/path || true

# Wait (by polling) until the first trace is in Jaeger, so the link works.
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:16686/api/traces/$tid" 2>/dev/null | grep -q workflow-engine; then break; fi
  sleep 0.2
done

# And until the gateway's metrics are in Prometheus, so the query returns data.
q='sum by (service, endpoint) (rate(request_count[1m]))'
for _ in $(seq 1 300); do
  if curl -fsS -G http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$q" 2>/dev/null | grep -q api-gateway; then break; fi
  sleep 0.2
done

cat <<TXT

== where to look
  The console: recent requests, a page per request (waterfall, span details, log lines,
  rows) and each service's health, in your browser:
    http://127.0.0.1:16680/
    http://127.0.0.1:16680/requests/$tid   (the first request above)

  Try it yourself:
    curl -s -X POST http://127.0.0.1:8080/api/v1/workflows \\
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
      -d '{"user_id":"user_1","goal":"write a haiku about tracing"}' -i
  then paste its X-Tracking-ID into the console's find box.

  The same request in a terminal, and from Jaeger's HTTP API:
    .bin/aiteams trace $tid
    curl -s http://127.0.0.1:16686/api/traces/$tid

  Prometheus (http://127.0.0.1:9090), a query that returns data:
    sum by (service, endpoint) (rate(request_count[1m]))
    http://127.0.0.1:9090/classic/graph?g0.tab=1&g0.expr=sum%20by%20(service%2C%20endpoint)%20(rate(request_count%5B1m%5D))
  Exemplars (trace ids on the metrics):
    curl -sG http://127.0.0.1:9090/api/v1/query_exemplars --data-urlencode 'query=request_count{service="api-gateway"}' --data-urlencode "start=\$(date -d -5min +%s)"

  Alerts: http://127.0.0.1:9093 (Alertmanager); each notification it delivers is a line in
    .run/oncall-notifications.jsonl (the local stand-in for Grafana OnCall)

  Collector health: http://127.0.0.1:13133/   exported metrics: http://127.0.0.1:8889/metrics
  Service logs (CloudWatch-shaped JSON): .run/logs/{api-gateway,workflow-agent,workflow-engine}.log
    grep $tid .run/logs/*.log

  Stop: Ctrl-C here, or 'make demo-down' from another shell.
TXT

say ""
say "== aiteams verify: the design guide's checks against what the stack just did"
if ! .bin/aiteams verify -fire; then
  say "Some checks failed: the evidence column says why; logs are in .run/logs/."
fi

if [ "${DEMO_DETACH:-0}" = 1 ]; then
  exit 0
fi
trap 'say ""; say "== stopping"; scripts/stack.sh down; exit 0' INT TERM
say ""
say "== running; Ctrl-C to stop"
while :; do sleep 3600 & wait $!; done
