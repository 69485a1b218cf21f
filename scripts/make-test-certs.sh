#!/usr/bin/env bash
# Makes a set of test certificates with the openssl command, in the structure of the Python
# reference's test set: a root CA, an intermediate CA that issues the parties, a combined CA
# bundle, and an untrusted CA chain with a party of its own. Usage: make-test-certs.sh DIR
#
#   ca-root.crt/.pem           CN=ca-root (self-signed)
#   ca-intermediate.crt/.pem   CN=ca-intermediate, issued by ca-root
#   ca-nl.crt/.pem             C=NL, O=TNO, CN=ca-nl, issued by ca-root: an issuer DN that does
#                              not start with CN (see docs/tls.md, "the first-RDN rule")
#   ca-combined.crt            the CA bundle every trusted party uses: ca-root + ca-intermediate
#                              + ca-nl
#   party_0..party_3.crt/.pem  CN=party_N, issued by ca-intermediate, serials 2..5, so their
#                              identity keys are ca-intermediate:2 .. ca-intermediate:5
#   party_expired.crt/.pem     issued by ca-intermediate, serial 9, valid only in January 2020
#   party_nl.crt/.pem          issued by ca-nl, serial 7 (identity key by the first-RDN rule: NL:7)
#   party_untrusted.crt/.pem   CN=party_0, serial 2, issued by a look-alike chain (a root named
#                              ca-root and an intermediate named ca-intermediate with other keys),
#                              so its identity key equals party_0's but it is not trusted
#   ca-untrusted.crt           the look-alike chain's bundle
#   other.pem                  a key that matches no certificate
#
# Keys are EC P-256 (fast to make and to handshake with); every name and validity is fixed, so
# only the keys differ between runs.
set -euo pipefail
out=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$out"
cd "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# root NAME SUBJECT: a self-signed CA.
root() {
  key "$1.pem"
  openssl req -new -x509 -key "$1.pem" -subj "$2" -days 10000 -set_serial 0 -out "$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

# issue NAME SUBJECT ISSUER SERIAL ca|party [STARTDATE ENDDATE]
issue() {
  local name=$1 subject=$2 issuer=$3 serial=$4 kind=$5
  key "$name.pem"
  openssl req -new -key "$name.pem" -subj "$subject" -out "$work/$name.csr"
  local ext="$work/$name.ext"
  if [ "$kind" = ca ]; then
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$ext"
  else
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$ext"
  fi
  if [ $# -ge 7 ]; then
    # `openssl x509 -req` cannot back-date; `openssl ca` can.
    local db="$work/ca-$name"
    mkdir -p "$db"
    : >"$db/index.txt"
    printf '%02X\n' "$serial" >"$db/serial"
    printf '[ca]\ndefault_ca=x\n[x]\ndatabase=%s/index.txt\nserial=%s/serial\nnew_certs_dir=%s\ndefault_md=sha256\npolicy=p\nemail_in_dn=no\n[p]\ncommonName=supplied\n' \
      "$db" "$db" "$db" >"$db/ca.cnf"
    openssl ca -batch -notext -config "$db/ca.cnf" -cert "$issuer.crt" -keyfile "$issuer.pem" \
      -in "$work/$name.csr" -out "$name.crt" -startdate "$6" -enddate "$7" -extfile "$ext" \
      2>/dev/null
  else
    openssl x509 -req -in "$work/$name.csr" -CA "$issuer.crt" -CAkey "$issuer.pem" \
      -set_serial "$serial" -days 10000 -sha256 -extfile "$ext" -out "$name.crt" 2>/dev/null
  fi
}

root ca-root /CN=ca-root
issue ca-intermediate /CN=ca-intermediate ca-root 1 ca
issue ca-nl "/C=NL/O=TNO/CN=ca-nl" ca-root 1 ca
cat ca-root.crt ca-intermediate.crt ca-nl.crt >ca-combined.crt
for n in 0 1 2 3; do issue "party_$n" "/CN=party_$n" ca-intermediate $((n + 2)) party; done
issue party_expired /CN=party_expired ca-intermediate 9 party 20200101000000Z 20200201000000Z
issue party_nl /CN=party_nl ca-nl 7 party

# The look-alike chain: same names, other keys.
mkdir -p "$work/untrusted"
(
  cd "$work/untrusted"
  root ca-root /CN=ca-root
  issue ca-intermediate /CN=ca-intermediate ca-root 1 ca
  issue party_untrusted /CN=party_0 ca-intermediate 2 party
)
cp "$work/untrusted/party_untrusted.crt" "$work/untrusted/party_untrusted.pem" .
cat "$work/untrusted/ca-root.crt" "$work/untrusted/ca-intermediate.crt" >ca-untrusted.crt
key other.pem
echo "test certificates in $out"
