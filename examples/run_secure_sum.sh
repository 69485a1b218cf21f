#!/usr/bin/env bash
# Runs the three-party secure sum as three processes with inputs 11, 22 and 9 and checks that
# every party prints the sum 42.
set -u
dir=${1:-$(dirname "$0")/../build/examples}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pids=()
inputs=(11 22 9)
for i in 2 0 1; do
  timeout 60 "$dir/secure_sum" "$i" "${inputs[$i]}" > "$out/$i.out" 2>&1 & pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$out"/*.out
for i in 0 1 2; do grep -qx "party$i: the sum is 42" "$out/$i.out" || rc=1; done
exit $rc
