#!/usr/bin/env bash
# Network faults between two parties in separate processes, injected by a seeded TCP proxy
# (tests/faults/fault_proxy.py) between a sender (tests/echo_client.cpp) and `mpc-comm echo`:
# every message must come back unchanged, exactly once and in order, whatever the proxy does.
#   faults_test.sh MPC_COMM ECHO_CLIENT [BASE_PORT]
set -u
tool=$1
echo_client=$2
base=${3:-62700}
. "$(dirname "$0")/../checks.sh"
proxy_py="$(dirname "$0")/fault_proxy.py"
client=$((base + 1))
echo_port=$((base + 2))

# run_case NAME COUNT ATTEMPT_TIMEOUT_MS PAUSE_MS PROXY_OPTIONS...: echo behind the proxy, the client
# sending through it; echo answers the client directly. Peers are known by address and port, and
# a message names its sender's server port, so the proxy listens on the echo's port number at
# 127.0.0.1 while the echo serves at 127.0.0.3: the client sends to the port it knows the echo by.
run_case() {
  local name=$1 count=$2 attempt_ms=$3 pause_ms=$4
  shift 4
  timeout 60 "$tool" echo --listen 127.0.0.3:$echo_port --peer client=127.0.0.1:$client \
    --count "$count" --log-level error > "$tmp/$name.echo" 2>&1 &
  local echo_pid=$!
  python3 "$proxy_py" --listen $echo_port --target $echo_port --target-host 127.0.0.3 "$@" > "$tmp/$name.ready" \
    2> "$tmp/$name.proxy" &
  local proxy_pid=$!
  for _ in $(seq 50); do grep -q ready "$tmp/$name.ready" 2>/dev/null && break; sleep 0.1; done
  timeout 60 "$echo_client" $client $echo_port "$count" "$attempt_ms" "$pause_ms" > "$tmp/$name.client" 2>&1
  local rc=$?
  check "$name: every message came back unchanged ($(tail -n 1 "$tmp/$name.client"))" $rc
  wait $echo_pid
  check "$name: echo received each message once (it stops after --count)" $?
  kill $proxy_pid 2>/dev/null
  wait $proxy_pid 2>/dev/null
}

# Resets in the middle of bodies and of answers: a message whose 200 was lost is sent again, and
# the receiver acknowledges the resend without storing it twice.
run_case resets 150 5000 0 --seed 5 --reset-chance 0.2
resets=$(grep -c "reset after" "$tmp/resets.proxy")
check "resets: the proxy reset connections ($resets times)" "$([ "$resets" -ge 5 ]; echo $?)"

# A peer that accepts connections and never answers: each attempt times out and is retried.
run_case stalls 20 400 0 --seed 6 --stall-first 3
check "stalls: the proxy stalled connections" "$(grep -q stalled "$tmp/stalls.proxy"; echo $?)"

# Kept-alive connections closed while idle (as a server or a middlebox does): reconnect, resend.
run_case idle 15 5000 60 --seed 7 --idle-close-ms 30
idle=$(grep -c "idle" "$tmp/idle.proxy")
check "idle: the proxy closed idle connections ($idle times)" "$([ "$idle" -ge 1 ]; echo $?)"

# Latency on every chunk.
run_case latency 30 5000 0 --seed 8 --delay-ms 5

finish
