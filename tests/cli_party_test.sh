#!/usr/bin/env bash
# The party subcommands of mpc-comm as separate processes: send/recv, echo, ping, bad input.
set -u
tool=$1
base=${2:-62100}
echo_client=$3
. "$(dirname "$0")/checks.sh"
a=127.0.0.1:$((base + 1))
b=127.0.0.1:$((base + 2))
c=127.0.0.1:$((base + 3))

# send -> recv, with an explicit id and a prefix on both sides.
timeout 30 "$tool" recv --listen "$b" --peer alice="$a" --id greeting --prefix s1- > "$tmp/recv.out" 2>&1 &
recv_pid=$!
timeout 30 "$tool" send --listen "$a" --peer bob="$b" --id greeting --prefix s1- '{"tuple": [{"int": "1"}, {"str": "hi"}]}'
check "send exits 0" $?
wait $recv_pid
check "recv exits 0" $?
check "recv prints the value" "$(grep -qx '{"tuple":\[{"int":"1"},{"str":"hi"}\]}' "$tmp/recv.out"; echo $?)"

# echo: values go out under ids 0, 1, 2 and come back under the same ids (checked by a pool in
# another process, tests/echo_client.cpp).
timeout 30 "$tool" echo --listen "$c" --peer client="$a" --count 3 > "$tmp/echo.out" 2>&1 &
echo_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do "$tool" ping "$c" > "$tmp/ping.out" 2>&1 && break; sleep 0.3; done
check "ping exits 0" $?
check "ping prints the answer" "$(grep -q "answered 200 'Connection working (GET)'" "$tmp/ping.out"; echo $?)"
timeout 30 "$echo_client" $((base + 1)) $((base + 3)) 3
check "echo sends every message back" $?
wait $echo_pid
check "echo stops after --count" $?

# bench against echo: round trips and one-way, with the JSON keys the benchmark script reads.
timeout 30 "$tool" echo --listen "$c" --peer bench="$a" --count 50 > /dev/null 2>&1 &
timeout 30 "$tool" bench --listen "$a" --peer echo="$c" --size 1000 --count 50 --inflight 4 --json > "$tmp/bench.json"
check "bench exits 0" $?
for key in rtt_median_us rtt_p99_us messages_per_s payload_mb_per_s; do
  check "bench --json has $key" "$(grep -q "\"$key\":[0-9.]*[1-9]" "$tmp/bench.json"; echo $?)"
done
wait
timeout 30 "$tool" echo --sink --listen "$c" --peer bench="$a" --count 20 > /dev/null 2>&1 &
sink_pid=$!
timeout 30 "$tool" bench --one-way --listen "$a" --peer echo="$c" --size 100000 --count 20 > "$tmp/oneway.out"
check "bench --one-way exits 0" $?
check "bench --one-way reports MB/s" "$(grep -q 'one-way, 20 x 100000 B.*MB/s payload' "$tmp/oneway.out"; echo $?)"
wait $sink_pid
check "echo --sink stops after --count" $?

# Bad input: exit 2 with one line on stderr.
"$tool" send --listen "$a" --peer x="$b" 'not json' > /dev/null 2> "$tmp/err"
check "bad JSON exits 2" "$([ $? = 2 ] && [ "$(wc -l < "$tmp/err")" = 1 ]; echo $?)"
"$tool" send --listen "$a" --peer nonsense '{"int": "1"}' > /dev/null 2> "$tmp/err"
check "bad --peer exits 2" "$([ $? = 2 ]; echo $?)"
"$tool" ping 127.0.0.1:$((base + 9)) > /dev/null 2> "$tmp/err"
check "ping of a closed port exits 1 (a network failure)" "$([ $? = 1 ] && grep -q '^mpc-comm: ' "$tmp/err"; echo $?)"

finish
