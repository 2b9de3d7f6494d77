#!/usr/bin/env bash
# Make sure `prometheus`, `promtool` and `prometheus-alertmanager` are installed (Debian
# packages prometheus + prometheus-alertmanager). No-op when all three are on PATH.
#
# The demo runs its own Prometheus/Alertmanager as plain processes (see
# monitoring/prometheus.yml), so this script makes sure the packages' own daemons do not
# run: services are blocked from starting during the install (policy-rc.d), recommended
# packages (prometheus-node-exporter, ...) are not installed, and afterwards nothing from
# the packages may listen on 9090/9093/9094/9100.
#
# Not root: prints the command to run and exits 1.
set -euo pipefail

missing=()
for b in prometheus promtool prometheus-alertmanager; do
	command -v "$b" >/dev/null 2>&1 || missing+=("$b")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-prometheus: already installed ($(prometheus --version 2>&1 | head -n1))"
	exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
	echo "sudo apt-get install -y prometheus prometheus-alertmanager" >&2
	exit 1
fi

echo "install-prometheus: installing prometheus prometheus-alertmanager (missing: ${missing[*]})"

ports_re=':(9090|9093|9094|9100)$'
listeners() { # "pid port" of every listener on the ports above
	ss -Hltnp 2>/dev/null | awk -v re="$ports_re" '$4 ~ re { n = split($4, a, ":"); p = a[n];
		s = $0; while (match(s, /pid=[0-9]+/)) { print substr(s, RSTART + 4, RLENGTH - 4), p; s = substr(s, RSTART + RLENGTH) } }' | sort -u
}
before="$(listeners)"

# start_ticks PID: when PID started, in clock ticks since boot (field 22 of
# /proc/PID/stat; field 2, the command name, may hold spaces and ")").
start_ticks() {
	local stat f
	[[ $1 =~ ^[1-9][0-9]*$ ]] || return 1
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	read -r -a f <<<"${stat##*) }"
	[[ -n ${f[19]:-} ]] && echo "${f[19]}"
}
# A daemon that the install starts starts after this script did.
self_start="$(start_ticks $$ || true)"

# Keep the packages' init scripts from starting daemons during the install. Many images
# (Docker-style ones included) already ship a policy-rc.d that does this; only add our
# own temporary one when there is none, and remove exactly that one again.
policy=/usr/sbin/policy-rc.d
our_policy=0
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\n# temporary, from scripts/install-prometheus.sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	our_policy=1
fi
cleanup() { if [[ $our_policy -eq 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null

# Belt and braces: with systemd present, package postinst may start units regardless
# (deb-systemd-invoke honours policy-rc.d, but be sure). Stop anything NEW on our
# ports that is a binary from these packages; never touch listeners that were there
# before the install.
after="$(listeners)"
new="$(comm -13 <(echo "$before") <(echo "$after") || true)"
if [[ -n "$new" ]]; then
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do
			systemctl disable --now "$unit" >/dev/null 2>&1 || true
		done
		sleep 1
		after="$(listeners)"
		new="$(comm -13 <(echo "$before") <(echo "$after") || true)"
	fi
	while read -r pid port; do
		[[ -n "$pid" ]] || continue
		exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
		case "$exe" in
		/usr/bin/prometheus | /usr/bin/prometheus-alertmanager | /usr/bin/prometheus-node-exporter)
			# Not a process this script started itself (the package's postinst or
			# systemd did), so it is signalled only while the pid is still such a
			# daemon that began after this script: a pid reused since ss listed it,
			# or a daemon that was already running before the install, is left alone.
			started="$(start_ticks "$pid" || true)"
			if [[ -n $started && -n $self_start && $started -ge $self_start &&
				"$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$exe" ]]; then
				echo "install-prometheus: stopping $exe (pid $pid) started by the package on :$port"
				kill "$pid" 2>/dev/null || true
			else
				echo "install-prometheus: warning: pid $pid on :$port is no longer a $exe started during this install; not stopping it" >&2
			fi
			;;
		*)
			echo "install-prometheus: warning: pid $pid ($exe) listens on :$port" >&2
			;;
		esac
	done <<<"$new"
fi

for b in prometheus promtool prometheus-alertmanager; do
	command -v "$b" >/dev/null 2>&1 || { echo "install-prometheus: $b still missing after install" >&2; exit 1; }
done
echo "install-prometheus: done ($(prometheus --version 2>&1 | head -n1))"
