#!/usr/bin/env bash
# make screenshots: the README's pictures of the console, taken in Debian's
# chromium by the same browser test that `make test` runs (TestStackConsole),
# against the running stack (started if it is not). Output: docs/img/
# console-request.png and console-health.png. Rerun it after changing a page.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

scripts/install-chromium.sh >/dev/null || die "Chromium is needed: sudo scripts/install-chromium.sh"
scripts/stack.sh status >/dev/null 2>&1 || scripts/stack.sh up
AI_TEAMS_STACK=1 AITEAMS_SCREENSHOTS="$ROOT/docs/img" \
  go test -count=1 -run '^TestStackConsole$' ./e2e/
ls -l docs/img/console-request.png docs/img/console-health.png
