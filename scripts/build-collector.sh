#!/usr/bin/env bash
# Build our OpenTelemetry Collector distribution (collector/) into
# .bin/otelcol-ai-teams at the repository root.
#
# Cheap no-op when nothing changed: a sha256 over every file in collector/
# (plus this script and `go version`) is kept next to the binary and compared.
# FORCE=1 rebuilds anyway. Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

name=otelcol-ai-teams
bin=".bin/$name"
stamp=".bin/.$name.sha256"

# Content hash of the inputs. File names are part of the hash, so adding or
# removing a file also triggers a rebuild.
inputs_hash() {
  {
    go version
    sha256sum scripts/build-collector.sh
    find collector -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

hash="$(inputs_hash)"
if [[ "${FORCE:-0}" != 1 && -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
  echo "build-collector: $bin is up to date"
  exit 0
fi

echo "build-collector: building $bin from collector/ (cold: ~1 GB of modules, ~1200 packages, 1.5-3 min)"
mkdir -p .bin
# GOWORK=off: collector/ is its own module whatever a go.work at the root says.
# No -trimpath, so `go test`/`go vet` in collector/ reuse the same build cache.
(cd collector && GOWORK=off go build -v -buildvcs=false -ldflags='-s -w' -o "../$bin.tmp" .)
mv -f "$bin.tmp" "$bin"
echo "$hash" >"$stamp"
