#!/usr/bin/env bash
# The three-party secure sum with Python and C++ parties mixed, inputs 11, 22 and 9: every party
# must print the sum 42.   secure_sum_mixed.sh PYTHON EXAMPLES_DIR LANGUAGES
# LANGUAGES gives each party's language in order, e.g. "py py cpp" or "py cpp cpp"; "mpc" is a
# Python party on the engine (python -m mpc_comm.run, the same unchanged program).
# Exits 77 (skipped) when PYTHON cannot import tno.mpc.communication.
set -u
py=$1
dir=$2
read -r -a langs <<< "$3"
here=$(dirname "$0")
. "$(dirname "$0")/../checks.sh"
require_python "$py"
out=$tmp
inputs=(11 22 9)
pids=()
for i in 2 0 1; do
  if [ "${langs[$i]}" = py ]; then
    timeout 60 "$py" "$here/secure_sum.py" "$i" "${inputs[$i]}" > "$out/$i.out" 2> "$out/$i.log" &
  elif [ "${langs[$i]}" = mpc ]; then
    timeout 60 "$py" -m mpc_comm.run "$here/secure_sum.py" "$i" "${inputs[$i]}" > "$out/$i.out" \
      2> "$out/$i.log" &
  else
    timeout 60 "$dir/secure_sum" "$i" "${inputs[$i]}" > "$out/$i.out" 2> "$out/$i.log" &
  fi
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
for i in 0 1 2; do
  echo "--- party$i (${langs[$i]})"; cat "$out/$i.out"
  grep -qx "party$i: the sum is 42" "$out/$i.out" || { rc=1; cat "$out/$i.log"; }
done
exit $rc
