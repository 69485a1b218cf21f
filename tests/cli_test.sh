#!/usr/bin/env bash
# mpc-comm decode/encode against the reference's vectors: decode | encode | decode is stable, the
# decoded JSON carries the expected id and values, and bad input exits 2 with a one-line error.
set -u
tool=$1
vectors=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {  # name, condition result
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}

for f in "$vectors"/*.msgpack; do
  name=$(basename "$f" .msgpack)
  "$tool" decode "$f" > "$tmp/a.json" 2> "$tmp/err"
  check "$name decodes" $?
  "$tool" encode "$tmp/a.json" > "$tmp/b.msgpack"
  check "$name encodes" $?
  "$tool" decode - < "$tmp/b.msgpack" > "$tmp/b.json"
  check "$name decode|encode|decode is stable" "$(cmp -s "$tmp/a.json" "$tmp/b.json"; echo $?)"
done

# Content: the neutral form the issue asks for.
out=$("$tool" decode "$vectors/float_1_5.msgpack")
check "float carries float and hex" "$([ "$out" = '{"id":{"str":"float_1_5"},"object":{"float":"1.5","hex":"0x1.8000000000000p+0"}}' ]; echo $?)"
out=$("$tool" decode "$vectors/custom_point.msgpack")
check "unknown class prints as typed" "$(echo "$out" | grep -q '"typed":{"data":{"dict"' ; echo $?)"
out=$("$tool" decode "$vectors/ndarray_0d.msgpack")
check "0-d array prints as ndarray" "$([ "$out" = '{"id":{"str":"ndarray_0d"},"object":{"ndarray":{"shape":[],"values":{"int":"7"}}}}' ]; echo $?)"
out=$("$tool" decode "$vectors/msgid_int.msgpack")
check "int id" "$(echo "$out" | grep -q '"id":{"int":"42"}'; echo $?)"

# Bad input: exit 2 and one line on stderr.
bad_case() {  # name, command...
  local name=$1; shift
  "$@" > /dev/null 2> "$tmp/err"
  local rc=$?
  check "$name exits 2" "$([ $rc = 2 ]; echo $?)"
  check "$name says one line" "$([ "$(wc -l < "$tmp/err")" = 1 ] && grep -q '^mpc-comm: ' "$tmp/err"; echo $?)"
}
printf '\xc1' > "$tmp/junk.bin"
head -c 10 "$vectors/bigint_2048.msgpack" > "$tmp/trunc.bin"
echo '{"id": {"int": "1"}}' > "$tmp/noobj.json"
echo '{"id": {"int": "1"}, "object": {"wat": 1}}' > "$tmp/badtag.json"
echo 'not json' > "$tmp/notjson.json"
echo '{"id": {"float": "1.0"}, "object": null}' > "$tmp/badid.json"
bad_case "junk byte" "$tool" decode "$tmp/junk.bin"
bad_case "truncated" "$tool" decode "$tmp/trunc.bin"
bad_case "missing file" "$tool" decode "$tmp/nope"
bad_case "no object" "$tool" encode "$tmp/noobj.json"
bad_case "unknown tag" "$tool" encode "$tmp/badtag.json"
bad_case "not json" "$tool" encode "$tmp/notjson.json"
bad_case "float id" "$tool" encode "$tmp/badid.json"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
