#!/usr/bin/env bash
# `make run`: start vigie_exporter and vigie_router on loopback with the
# quick start configuration in deploy/quickstart. Ctrl-C stops both.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
qs="$root/deploy/quickstart"
state="${VIGIE_RUN_STATE:-$root/data/quickstart}"
mkdir -p "$state"

pids=()
stop() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo ">> stopped"
}
trap stop INT TERM EXIT

cd "$qs"
"$root/vigie_exporter" --config.file=vigie.yml --web.listen-address=127.0.0.1:9115 &
pids+=($!)
"$root/vigie_router" --config.file=vigie-router.yml --storage.path="$state" --web.listen-address=127.0.0.1:9116 &
pids+=($!)

cat <<MSG
>> vigie_exporter: http://127.0.0.1:9115/   (targets: http://127.0.0.1:9115/sd)
>> vigie_router:   http://127.0.0.1:9116/   (would-be notifications are printed below)
>> edit deploy/quickstart/targets.yml to add targets; Ctrl-C stops both
MSG
# Exit when either process ends (and stop the other).
wait -n "${pids[@]}"
