#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short time (default 10s each).
# Minimisation of a new interesting input is capped at 1s: Go's default (60s)
# would spend a short run minimising a large YAML seed instead of fuzzing.
#
# A target fails when an input fails (Go writes it under testdata/fuzz/).
# Go 1.26's fuzz coordinator can also end a run with a bare "context
# deadline exceeded" when a worker is mid-input as -fuzztime expires
# (go.dev/issue/75804, fixed in Go 1.27): no input failed. Such a run is
# told apart by its output (no "Failing input written to") and, to be sure,
# by replaying the target's corpus, which must pass.
set -euo pipefail
fuzztime="${1:-10s}"
cd "$(dirname "$0")/.."
status=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
while IFS=: read -r file name; do
	pkg="./$(dirname "$file")"
	echo ">> fuzz $pkg $name ($fuzztime)"
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg" 2>&1 | tee "$out"; then
		continue
	fi
	if ! grep -q 'Failing input written to' "$out" && grep -q '^    context deadline exceeded$' "$out" &&
		[ "$(grep -c -- '^--- FAIL' "$out")" -eq 1 ] &&
		go test -count=1 -run "^${name}\$" "$pkg"; then
		echo ">> $name: the fuzz coordinator's deadline race (go.dev/issue/75804), no input failed; corpus replayed: ok"
		continue
	fi
	status=1
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' . | sed -E 's#^\./##; s#:func #:#' | sort -u)
exit $status
