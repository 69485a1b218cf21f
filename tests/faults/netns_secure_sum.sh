#!/usr/bin/env bash
# The three-party secure sum on three hosts: network namespaces joined by veth pairs to a bridge
# (made here, removed on exit), first as they are, then with every party's link capped by a token
# bucket filter (tc tbf; this kernel has no netem). Needs root and `ip netns`; exits 77 (skipped,
# with a message) where they are not available.
#   netns_secure_sum.sh SECURE_SUM
set -u
secure_sum=$1
. "$(dirname "$0")/../checks.sh"
tag=$$
hub=mpchub$tag
ns=(mpcp0$tag mpcp1$tag mpcp2$tag)
hosts=10.77.0.1,10.77.0.2,10.77.0.3

cleanup() {
  for n in "${ns[@]}" "$hub"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! ip netns add "$hub" 2>/dev/null; then
  echo "SKIPPED: needs root and network namespaces (ip netns)"
  exit 77
fi
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
for i in 0 1 2; do
  ip netns add "${ns[$i]}"
  ip link add "p$i-$tag" netns "${ns[$i]}" type veth peer name "h$i-$tag" netns "$hub"
  ip -n "${ns[$i]}" link set "p$i-$tag" name eth0
  ip -n "${ns[$i]}" addr add "10.77.0.$((i + 1))/24" dev eth0
  ip -n "${ns[$i]}" link set eth0 up
  ip -n "${ns[$i]}" link set lo up
  ip -n "$hub" link set "h$i-$tag" master br0 up
done
check "party0's host routes to party2's" "$(ip netns exec "${ns[0]}" ip route get 10.77.0.3 | grep -q eth0; echo $?)"

# run NAME: the three parties, one per namespace; each must print 42.
run() {
  local name=$1 pids=() inputs=(11 22 9)
  for i in 2 0 1; do
    timeout 60 ip netns exec "${ns[$i]}" "$secure_sum" "$i" "${inputs[$i]}" "$hosts" \
      > "$tmp/$name.$i" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for i in 0 1 2; do
    grep -qx "party$i: the sum is 42" "$tmp/$name.$i"
    check "$name: party$i on its own host prints the sum 42 ($(tr '\n' ' ' < "$tmp/$name.$i"))" $?
  done
}

run plain
for i in 0 1 2; do
  ip netns exec "${ns[$i]}" tc qdisc add dev eth0 root tbf rate 1mbit burst 16kb latency 100ms
done
check "tbf caps every link" "$(ip netns exec "${ns[0]}" tc qdisc show dev eth0 | grep -q tbf; echo $?)"
run capped
finish
