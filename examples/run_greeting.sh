#!/usr/bin/env bash
# Runs the seed's example: bob and alice as two processes, the second started a little later
# (order given by $1: "bob-first" or "alice-first"). Prints both outputs; fails unless each printed
# the other's greeting and exited 0.
set -u
dir=${2:-$(dirname "$0")/../build/examples}
order=${1:-bob-first}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ "$order" = alice-first ]; then first=alice; second=bob; else first=bob; second=alice; fi
timeout 60 "$dir/$first" > "$out/$first.out" 2> "$out/$first.log" & p1=$!
sleep 1
timeout 60 "$dir/$second" > "$out/$second.out" 2> "$out/$second.log" & p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
for p in alice bob; do echo "--- $p"; cat "$out/$p.log" "$out/$p.out"; done
grep -qx "Hello back to you, Alice!" "$out/alice.out" && grep -qx "Hello Bob! This is Alice speaking." "$out/bob.out" \
  && [ $rc1 = 0 ] && [ $rc2 = 0 ]
