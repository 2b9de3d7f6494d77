#!/usr/bin/env bash
# Build the Jaeger v2 binary (github.com/jaegertracing/jaeger/cmd/jaeger, version pinned
# in tools/jaeger/go.mod) into <repo>/.bin/jaeger.
#
# `go install github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0` does not work because
# Jaeger's go.mod has a replace directive, so we build from the small tool module
# tools/jaeger instead. Works from any cwd. Cheap no-op when .bin/jaeger is newer than
# tools/jaeger/go.sum (and go.mod); set FORCE=1 to rebuild anyway.
#
# Run it:   scripts/build-jaeger.sh
# Then:     .bin/jaeger --config monitoring/jaeger-config.yml
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/tools/jaeger"
bin="$root/.bin/jaeger"

if [[ "${FORCE:-0}" != 1 && -x "$bin" && "$bin" -nt "$mod/go.sum" && "$bin" -nt "$mod/go.mod" ]]; then
	echo "build-jaeger: $bin is up to date"
	exit 0
fi

version="$(cd "$mod" && go list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)"
echo "build-jaeger: building jaeger $version into $bin (cold build takes several minutes)..."

mkdir -p "$root/.bin"
pkg=github.com/jaegertracing/jaeger/internal/version
cd "$mod"
trap 'rm -f "$bin.tmp"' EXIT
# Jaeger's Makefile stamps the version the same way; `jaeger version` prints it.
go build -v -buildvcs=false \
	-ldflags "-s -w -X $pkg.latestVersion=$version -X $pkg.commitSHA=module-$version" \
	-o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
mv -f "$bin.tmp" "$bin"
