#!/usr/bin/env bash
# make test: everything any test needs is installed and started first, then
# every test runs, then one summary says what ran, what was skipped (and why)
# and what failed. The last line is `tests: N passed, N failed, N skipped`.
#
#   1. lint             go vet, gofmt, terraform fmt
#   2. prerequisites    Prometheus/promtool/Alertmanager, iproute2 (ss), PostgreSQL,
#                       the binaries, our collector, Jaeger, and the running stack
#   3. tests            unit tests and the in-process slice (SQLite + PostgreSQL),
#                       the collector module, the e2e suite against the stack
#   4. summary          skips with reasons, failures, counts; in CI a skip fails
#
# A stack that was already running (make demo) is reused and left running;
# one this script started is stopped at the end.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

REPORT="$RUN/test-report"
safe_rm_rf "$REPORT" "$RUN/measurements.txt" || exit 1
mkdir -p "$REPORT"
status=0
started_stack=0

section() { printf '\n== %s\n' "$*"; }

cleanup() {
  if [ $started_stack = 1 ]; then scripts/stack.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# record STEP CMD...: run a `go test -json` command and keep its results for the summary.
record() {
  local step=$1; shift
  "$@" 2>&1 | "$ROOT/.bin/testreport" record -step "$step" -out "$REPORT"
  local rc=("${PIPESTATUS[@]}")
  [ "${rc[0]}" = 0 ] && [ "${rc[1]}" = 0 ]
}

section "lint: go vet, gofmt, terraform fmt"
make -s lint || status=1

section "prerequisites: installed and started before the first test"
mkdir -p .bin
go build -o .bin/testreport ./tools/testreport || { echo "cannot build the test report tool"; exit 1; }
if ! command -v ss >/dev/null 2>&1; then
  # ss names the process that holds a busy port (scripts/lib.sh).
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
  else
    echo "ss is missing: sudo apt-get install -y iproute2"
  fi
fi
scripts/install-prometheus.sh || { echo "Prometheus, promtool and Alertmanager are needed"; exit 1; }
scripts/install-chromium.sh || { echo "Chromium is needed for the console's browser tests"; exit 1; }
pg_url=$(scripts/postgres.sh start) || { echo "PostgreSQL is needed"; exit 1; }
if ! scripts/stack.sh status >/dev/null 2>&1; then
  scripts/stack.sh up || { echo "the stack did not start"; exit 1; }
  started_stack=1
else
  echo "reusing the running stack (make demo)"
fi

section "unit tests, fuzz seeds, the in-process slice (SQLite + PostgreSQL), the binaries"
AI_TEAMS_TEST_POSTGRES_URL="$pg_url" record unit \
  go test -json -count=1 -skip '^TestStack' ./... || status=1

section "collector distribution and benchmark module"
(cd collector && GOWORK=off go vet ./...) || status=1
(cd collector && GOWORK=off record collector go test -json -count=1 ./...) || status=1
# Its tests run, and the benchmarks once each (100 iterations) so they keep compiling and working.
(cd bench && GOWORK=off go vet ./... && GOWORK=off record bench go test -json -count=1 -bench . -benchtime 100x ./...) || {
  echo "bench module: vet, tests or benchmarks failed"; status=1; }

section "e2e against the real collector, Jaeger, Prometheus and Alertmanager"
AI_TEAMS_STACK=1 AI_TEAMS_TEST_POSTGRES_URL="$pg_url" record stack \
  go test -json -count=1 -timeout 20m -run '^TestStack' ./e2e/ || status=1
if [ -f "$RUN/measurements.txt" ]; then sed 's/^/  measured: /' "$RUN/measurements.txt"; fi
if [ $status != 0 ]; then tail -n 5 "$LOGS"/*.log; fi

section "summary"
summary=(summary)
[ -n "${CI:-}" ] && summary+=(-fail-on-skip)
"$ROOT/.bin/testreport" "${summary[@]}" "$REPORT" || status=1
exit $status
