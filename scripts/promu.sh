#!/usr/bin/env bash
# Runs promu (the Prometheus release tool) at the pinned version, building it
# from the Go module proxy in a throwaway module the first time: its
# dependencies stay out of vigie's go.mod, and no GitHub download is needed.
set -euo pipefail
version="v0.20.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.build/tools/promu-$version"
if [ ! -x "$bin" ]; then
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	(cd "$work" && go mod init promubuild >/dev/null 2>&1 &&
		go get -tool "github.com/prometheus/promu@$version" >/dev/null 2>&1 &&
		go build -o "$bin" github.com/prometheus/promu)
fi
cd "$root"
# promu names tarballs after the git remote's repository; a clone's origin may
# be a local path, so name the project explicitly.
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
	GIT_CONFIG_VALUE_0=https://github.com/vigie-monitoring/vigie.git
exec "$bin" "$@"
