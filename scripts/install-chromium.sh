#!/usr/bin/env bash
# Make sure a Chromium for the console's browser tests (e2e/browser_test.go) is
# installed: Debian's chromium package, plus fonts so pages and screenshots show
# readable text. No-op when chromium (or chromium-browser / google-chrome, which
# the tests also accept) is on PATH: prints its path.
#
# The tests run it headless through chromedp; nothing here starts a browser.
# fonts-dejavu-core is what fontconfig falls back to (a minimal image may have no
# font at all); fonts-liberation has the metrics of Arial, Times and Courier, so
# pages styled with those families lay out as designed.
#
# Not root: prints the command to run and exits 1.
set -euo pipefail

find_browser() {
	local b
	for b in chromium chromium-browser google-chrome; do
		command -v "$b" 2>/dev/null && return 0
	done
	return 1
}

if path="$(find_browser)"; then
	echo "install-chromium: already installed ($path)"
	exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
	echo "sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-liberation" >&2
	exit 1
fi

echo "install-chromium: installing chromium fonts-dejavu-core fonts-liberation"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-liberation >/dev/null

path="$(find_browser)" || { echo "install-chromium: chromium still missing after install" >&2; exit 1; }
# Starting it once catches a missing shared library now rather than in a test.
version="$("$path" --version 2>/dev/null | tail -n1)" || { echo "install-chromium: $path does not run" >&2; exit 1; }
echo "install-chromium: done ($path, $version)"
