#!/usr/bin/env bash
# idle-rss.sh EXPORTER TARGETS [SHARD] [HOST:PORT] [HEAP_PREFIX] [FROM TO]
#
# Idle steady memory of one vigie_exporter serving a static target file of
# TARGETS targets written as benchcompare writes it (95% http_2xx in one
# group, the rest tcp_connect in another), with --discovery.shard SHARD
# (none: all targets). /sd is requested every 5 s; VmRSS is sampled every
# second from FROM to TO s after the start (default 20 to 60), and the
# average and the peak printed in MiB, with the peak of the whole run
# (VmHWM). With HEAP_PREFIX, heap profiles are saved at the end
# (HEAP_PREFIX.heap, .allocs, .memstats).
set -euo pipefail
exporter=$1 n=$2 shard=${3:-} addr=${4:-127.0.0.2:19115} heap=${5:-} from=${6:-20} to=${7:-60}
dir=$(mktemp -d /tmp/idle-rss.XXXXXX)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
http=$(( (n * 95 + 50) / 100 ))
awk -v n="$n" -v h="$http" 'BEGIN {
	print "- modules: [http_2xx]\n  targets:"
	for (i = 0; i < h; i++) printf "    - \"http://127.0.0.1:9/t/http-%d\"\n", i
	if (n > h) print "- modules: [tcp_connect]\n  targets:"
	for (i = 0; i < n - h; i++) printf "    - \"127.0.%d.%d:%d\"\n", int(i/60000/250), 2 + int(i/60000)%250, 1024 + i%60000
}' >"$dir/targets.yml"
cat >"$dir/vigie.yml" <<CFG
modules:
  http_2xx:
    prober: http
  tcp_connect:
    prober: tcp
discovery:
  static:
    - files: ["$dir/targets.yml"]
CFG
args=(--config.file="$dir/vigie.yml" --web.listen-address="$addr" --web.enable-pprof --log.level=warn)
[[ -n $shard ]] && args+=(--discovery.shard="$shard")
"$exporter" "${args[@]}" 2>"$dir/log" &
pid=$!
start=$(date +%s.%N)
sum=0 count=0 peak=0
for s in $(seq 1 "$to"); do
	sleep 1
	(( s % 5 == 0 )) && curl -s -o /dev/null "http://$addr/sd" || true
	rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
	if (( s >= from )); then
		sum=$((sum + rss)) count=$((count + 1))
		(( rss > peak )) && peak=$rss
	fi
done
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
if [[ -n $heap ]]; then
	curl -s -o "$heap.heap" "http://$addr/debug/pprof/heap?gc=1"
	curl -s -o "$heap.allocs" "http://$addr/debug/pprof/allocs"
	curl -s "http://$addr/debug/pprof/heap?debug=1" | grep -E '^# (HeapAlloc|HeapSys|HeapIdle|HeapInuse|HeapReleased|NumGC) ' >"$heap.memstats" || true
fi
served=$(curl -s "http://$addr/sd" | grep -o '"http\|"127' | wc -l)
awk -v s="$sum" -v c="$count" -v p="$peak" -v h="$hwm" -v n="$n" -v sh="${shard:-all}" -v sv="$served" \
	-v w="$from-$to" 'BEGIN { printf "targets %d shard %s served %d: VmRSS %s s avg %.1f MiB peak %.1f MiB; VmHWM %.1f MiB\n", n, sh, sv, w, s/c/1024, p/1024, h/1024 }'
