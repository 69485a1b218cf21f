#!/usr/bin/env bash
# The seed's greeting across languages: a C++ party and a Python party (the real package).
#   greeting_mixed.sh PYTHON EXAMPLES_DIR cpp-alice|cpp-bob
# Exits 77 (skipped) when PYTHON cannot import tno.mpc.communication.
set -u
py=$1
dir=$2
mode=$3
here=$(dirname "$0")
. "$(dirname "$0")/../checks.sh"
require_python "$py"
out=$tmp
if [ "$mode" = cpp-alice ]; then
  timeout 60 "$py" "$here/python_party.py" bob > "$out/bob.out" 2> "$out/bob.log" & p1=$!
  sleep 1
  timeout 60 "$dir/alice" > "$out/alice.out" 2> "$out/alice.log" & p2=$!
else
  timeout 60 "$dir/bob" > "$out/bob.out" 2> "$out/bob.log" & p1=$!
  sleep 1
  timeout 60 "$py" "$here/python_party.py" alice > "$out/alice.out" 2> "$out/alice.log" & p2=$!
fi
wait $p1; rc1=$?
wait $p2; rc2=$?
for p in alice bob; do echo "--- $p"; cat "$out/$p.log" "$out/$p.out"; done
grep -qx "Hello back to you, Alice!" "$out/alice.out" && grep -qx "Hello Bob! This is Alice speaking." "$out/bob.out" \
  && [ $rc1 = 0 ] && [ $rc2 = 0 ]
