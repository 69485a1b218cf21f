#!/usr/bin/env bash
# Late start across languages: a C++ party sends before the Python party is up, and the reverse;
# the sender's retries deliver once the receiver starts.   late_start.sh PYTHON MPC_COMM BASE_PORT
# Exits 77 (skipped) when PYTHON cannot import tno.mpc.communication.
set -u
py=$1
tool=$2
base=$3
here=$(dirname "$0")
. "$(dirname "$0")/../checks.sh"
require_python "$py"
pyport=$((base + 1))
cport=$((base + 2))

# C++ first: its send retries (every second) until the Python party listens.
timeout 40 "$tool" send --listen 127.0.0.1:$cport --peer py=127.0.0.1:$pyport '{"str": "early bird"}' \
  2> "$tmp/c.log" &
cpid=$!
sleep 2.5
check "the C++ sender is still trying" "$(kill -0 $cpid 2>/dev/null; echo $?)"
timeout 30 "$py" "$here/party.py" recv --listen $pyport --peer $cport > "$tmp/py.out" 2> "$tmp/py.log"
check "Python receives after starting late" "$(grep -qx 'early bird' "$tmp/py.out"; echo $?)"
wait $cpid
check "the C++ send completes" $?

# Python first: the reference retries until the C++ party listens.
timeout 40 "$py" "$here/party.py" send --listen $pyport --peer $cport "late reader" 2> "$tmp/py.log" &
pypid=$!
sleep 2.5
check "the Python sender is still trying" "$(kill -0 $pypid 2>/dev/null; echo $?)"
timeout 30 "$tool" recv --listen 127.0.0.1:$cport --peer py=127.0.0.1:$pyport > "$tmp/c.out" 2> "$tmp/c.log"
check "C++ receives after starting late" "$(grep -qx '{"str":"late reader"}' "$tmp/c.out"; echo $?)"
wait $pypid
check "the Python send completes" $?

finish
