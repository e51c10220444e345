#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short time (default 10s each).
# Minimisation of a new interesting input is capped at 1s: Go's default (60s)
# would spend a short run minimising a large YAML seed instead of fuzzing.
set -euo pipefail
fuzztime="${1:-10s}"
cd "$(dirname "$0")/.."
status=0
while IFS=: read -r file name; do
	pkg="./$(dirname "$file")"
	echo ">> fuzz $pkg $name ($fuzztime)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg"; then
		status=1
	fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' . | sed -E 's#^\./##; s#:func #:#' | sort -u)
exit $status
