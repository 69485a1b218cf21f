#!/usr/bin/env bash
# Mutual TLS across languages, with certificate identity: mpc-comm and the real Python package
# exchange a message both ways, and an untrusted certificate fails on both sides.
#   tls_mixed.sh PYTHON MPC_COMM CERT_DIR BASE_PORT
# Exits 77 (skipped) when PYTHON cannot import tno.mpc.communication with its tls extra.
set -u
py=$1
tool=$2
certs=$3
base=$4
here=$(dirname "$0")
. "$(dirname "$0")/../checks.sh"
require_python "$py" OpenSSL
pyport=$((base + 1))
cport=$((base + 2))
tls() { echo --tls-key "$certs/$1.pem" --tls-cert "$certs/$1.crt" --tls-ca "$certs/${2:-ca-combined}.crt"; }

# C++ -> Python: Python (party_0) knows C++ by party_1's certificate, and the reverse.
timeout 30 "$py" "$here/party.py" recv --listen $pyport --peer $cport \
  --tls "$certs/party_0.pem" "$certs/party_0.crt" "$certs/ca-combined.crt" --peer-cert "$certs/party_1.crt" > "$tmp/py.out" 2> "$tmp/py.log" &
pypid=$!
timeout 30 "$tool" send --listen 127.0.0.1:$cport --peer py=127.0.0.1:$pyport $(tls party_1) \
  --peer-cert py="$certs/party_0.crt" '{"str": "hello from C++ over TLS"}' 2> "$tmp/c.log"
check "C++ sends to Python over TLS" $?
wait $pypid
check "Python receives it" "$(grep -qx 'hello from C++ over TLS' "$tmp/py.out"; echo $?)"

# Python -> C++.
timeout 30 "$tool" recv --listen 127.0.0.1:$cport --peer py=127.0.0.1:$pyport $(tls party_1) \
  --peer-cert py="$certs/party_0.crt" > "$tmp/c.out" 2> "$tmp/c.log" &
cpid=$!
sleep 0.5
timeout 30 "$py" "$here/party.py" send --listen $pyport --peer $cport \
  --tls "$certs/party_0.pem" "$certs/party_0.crt" "$certs/ca-combined.crt" --peer-cert "$certs/party_1.crt" \
  "hello from Python over TLS" 2> "$tmp/py.log"
check "Python sends to C++ over TLS" $?
wait $cpid
check "C++ receives it" "$(grep -qx '{"str":"hello from Python over TLS"}' "$tmp/c.out"; echo $?)"

# An untrusted C++ party: Python refuses it, and the C++ sender fails at once (no retries).
timeout 30 "$py" "$here/party.py" recv --listen $pyport --peer $cport \
  --tls "$certs/party_0.pem" "$certs/party_0.crt" "$certs/ca-combined.crt" --peer-cert "$certs/party_1.crt" > "$tmp/py.out" 2> "$tmp/py.log" &
pypid=$!
sleep 1
timeout 20 "$tool" send --listen 127.0.0.1:$cport --peer py=127.0.0.1:$pyport \
  $(tls party_untrusted) --peer-cert py="$certs/party_0.crt" '{"str": "x"}' 2> "$tmp/c.log"
rc=$?
check "an untrusted C++ sender fails with exit 1 (got $rc)" "$([ $rc = 1 ]; echo $?)"
check "and says why" "$(grep -q 'is our certificate issued by a CA in its bundle' "$tmp/c.log"; echo $?)"
kill $pypid 2>/dev/null; wait $pypid 2>/dev/null

# An untrusted Python party: the C++ receiver refuses it, and Python reads our alert. (The
# reference gets it as aiohttp's ClientOSError, which it retries like a broken connection, so the
# Python sender keeps trying until it is stopped: its behaviour, documented in docs/tls.md.)
timeout 30 "$tool" recv --listen 127.0.0.1:$cport --peer py=127.0.0.1:$pyport $(tls party_1) \
  --peer-cert py="$certs/party_0.crt" --log-level warn > "$tmp/c.out" 2> "$tmp/c.log" &
cpid=$!
sleep 0.5
timeout 4 "$py" "$here/party.py" send --listen $pyport --peer $cport \
  --tls "$certs/party_untrusted.pem" "$certs/party_untrusted.crt" "$certs/ca-combined.crt" \
  --peer-cert "$certs/party_1.crt" x 2> "$tmp/py.log"
check "the Python sender is told: unknown CA" "$(grep -q 'TLSV1_ALERT_UNKNOWN_CA' "$tmp/py.log"; echo $?)"
check "the C++ receiver logs the refusal" "$(grep -q 'Refused a TLS connection from 127.0.0.1: its certificate is not trusted' "$tmp/c.log"; echo $?)"
check "and received nothing" "$([ ! -s "$tmp/c.out" ]; echo $?)"
kill $cpid 2>/dev/null; wait $cpid 2>/dev/null

finish
