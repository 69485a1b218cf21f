#!/usr/bin/env bash
# The TLS options of mpc-comm as separate processes: send/recv with certificate identity, ping
# showing the server's certificate, and the clear failures (plain peer, untrusted, half options).
#   cli_tls_test.sh MPC_COMM BASE_PORT CERT_DIR
set -u
tool=$1
base=$2
certs=$3
. "$(dirname "$0")/checks.sh"
a=127.0.0.1:$((base + 1))
b=127.0.0.1:$((base + 2))
tls() { echo --tls-key "$certs/$1.pem" --tls-cert "$certs/$1.crt" --tls-ca "$certs/${2:-ca-combined}.crt"; }

# send -> recv over TLS, each knowing the other by certificate.
timeout 30 "$tool" recv --listen "$b" --peer alice="$a" $(tls party_1) \
  --peer-cert alice="$certs/party_0.crt" > "$tmp/recv.out" 2>&1 &
recv_pid=$!
timeout 30 "$tool" send --listen "$a" --peer bob="$b" $(tls party_0) \
  --peer-cert bob="$certs/party_1.crt" '{"str": "over TLS"}'
check "send over TLS exits 0" $?
wait $recv_pid
check "recv over TLS prints the value" "$(grep -qx '{"str":"over TLS"}' "$tmp/recv.out"; echo $?)"

# ping over TLS shows who answers, and until when.
timeout 30 "$tool" recv --listen "$b" --peer alice="$a" $(tls party_1) > /dev/null 2>&1 &
recv_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do "$tool" ping "$b" $(tls party_0) > "$tmp/ping.out" 2>&1 && break; sleep 0.3; done
check "ping over TLS exits 0" $?
check "ping names the identity key" "$(grep -q 'identity key: ca-intermediate:3' "$tmp/ping.out"; echo $?)"
check "ping gives the expiry" "$(grep -q 'valid until: 20[0-9][0-9]-' "$tmp/ping.out"; echo $?)"
check "ping gives the TLS version" "$(grep -q 'over TLSv1.3' "$tmp/ping.out"; echo $?)"
"$tool" ping "$b" $(tls party_untrusted ca-untrusted) > /dev/null 2> "$tmp/err"
check "ping with an untrusted server exits 1" "$([ $? = 1 ] && grep -q 'not trusted' "$tmp/err"; echo $?)"
"$tool" ping "$b" > "$tmp/plain.out" 2>&1
check "plain ping of a TLS server: 400, HTTPS only" "$([ $? = 1 ] && grep -q 'HTTPS only' "$tmp/plain.out"; echo $?)"
kill $recv_pid 2>/dev/null; wait $recv_pid 2>/dev/null

# A TLS sender and a plain receiver: the sender fails at once, with exit 1 (a peer failure).
timeout 30 "$tool" recv --listen "$b" --peer alice="$a" > /dev/null 2>&1 &
recv_pid=$!
sleep 0.3
timeout 20 "$tool" send --listen "$a" --peer bob="$b" $(tls party_0) '{"int": "1"}' 2> "$tmp/err"
check "TLS to a plain party exits 1, does not speak TLS" "$([ $? = 1 ] && grep -q 'does not speak TLS' "$tmp/err"; echo $?)"
kill $recv_pid 2>/dev/null; wait $recv_pid 2>/dev/null

# Options that cannot work.
"$tool" send --listen "$a" --peer bob="$b" --tls-key "$certs/party_0.pem" '{"int": "1"}' 2> "$tmp/err"
check "half the TLS options exit 2" "$([ $? = 2 ] && grep -q 'together' "$tmp/err"; echo $?)"
"$tool" send --listen "$a" --peer bob="$b" $(tls party_expired) '{"int": "1"}' 2> "$tmp/err"
check "an expired own certificate exits 2, naming it" "$([ $? = 2 ] && grep -q "party_expired.crt' expired on" "$tmp/err"; echo $?)"
"$tool" send --listen "$a" --peer bob="$b" $(tls party_0) --peer-cert carol="$certs/party_1.crt" '{"int": "1"}' 2> "$tmp/err"
check "--peer-cert for another name exits 2" "$([ $? = 2 ]; echo $?)"

finish
