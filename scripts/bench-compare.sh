#!/usr/bin/env bash
# Compares vigie_exporter with Debian's prometheus-blackbox-exporter side by
# side on this machine (see docs/performance.md). Installs the Debian package
# when it is missing, builds the harness and runs it; flags are passed on,
# e.g. scripts/bench-compare.sh -scenarios tcp -rounds 5 -json.
set -euo pipefail
cd "$(dirname "$0")/.."

blackbox=/usr/bin/prometheus-blackbox-exporter
if [[ ! -x $blackbox ]] && ! command -v prometheus-blackbox-exporter >/dev/null 2>&1; then
	echo ">> installing prometheus-blackbox-exporter (Debian package)" >&2
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		sudo=(sudo)
	fi
	# Its service is not needed: the harness starts its own instances.
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus-blackbox-exporter; then
		"${sudo[@]}" apt-get update
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus-blackbox-exporter
	fi
fi

if [[ $(id -u) -ne 0 ]]; then
	read -r lo hi </proc/sys/net/ipv4/ping_group_range || true
	gid=$(id -g)
	if (( gid < ${lo:-1} || gid > ${hi:-0} )); then
		echo ">> not root and net.ipv4.ping_group_range excludes group $gid: the icmp scenario will be skipped" >&2
	fi
fi

mkdir -p .build
go build -o .build/benchcompare ./tools/benchcompare
BENCHCOMPARE_COMMAND="scripts/bench-compare.sh${*:+ $*}" exec .build/benchcompare "$@"
