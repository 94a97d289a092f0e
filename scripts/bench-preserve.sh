#!/usr/bin/env bash
# What preserve_source costs: octoflow's CPU per forwarded datagram with and without
# it, on the whole-datagram path (NetFlow v9, 10 records, 866 bytes). All inside
# three network namespaces this script makes and deletes (router -> octoflow ->
# receiver, veth pairs, 10.77.1.0/24 and 10.77.2.0/24 that exist only there).
#
# Each run: `octoflow gen` in the router's namespace sends COUNT datagrams at RATE
# per second from 10.77.1.2:40001; `octoflow server` forwards them unchanged to
# `octoflow sink` in the receiver's namespace, from its own address (GSO runs,
# sendmmsg) or, with preserve_source, from the router's (raw socket, sendmmsg).
# Printed per run: the server's CPU time (user + system, from /proc) over the
# datagrams it sent, and what the receiver got.
#
# Usage (as root): scripts/bench-preserve.sh [RUNS] [COUNT] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
COUNT=${2:-160000}
RATE=${3:-40000}
BIN=${OCTOFLOW:-target/release/octoflow}
[ -x "$BIN" ] || cargo build --release -q -p octoflow
TCK=$(getconf CLK_TCK)

run() {
  local preserve=$1 id=$$-$RANDOM
  local r=ofb-r-$id x=ofb-x-$id c=ofb-c-$id d
  d=$(mktemp -d)
  local sp='' kp=''
  cleanup() {
    [ -n "$sp" ] && kill "$sp" 2>/dev/null; [ -n "$kp" ] && kill "$kp" 2>/dev/null
    wait 2>/dev/null || true
    ip netns del "$r" 2>/dev/null; ip netns del "$x" 2>/dev/null; ip netns del "$c" 2>/dev/null
    rm -rf "$d"
  }
  trap cleanup RETURN
  ip netns add "$r"; ip netns add "$x"; ip netns add "$c"
  ip -n "$r" link add vr type veth peer name vx1 netns "$x"
  ip -n "$x" link add vx2 type veth peer name vc netns "$c"
  ip -n "$r" addr add 10.77.1.2/24 dev vr; ip -n "$x" addr add 10.77.1.1/24 dev vx1
  ip -n "$x" addr add 10.77.2.1/24 dev vx2; ip -n "$c" addr add 10.77.2.2/24 dev vc
  for n in "$r" "$x" "$c"; do ip -n "$n" link set lo up; done
  ip -n "$r" link set vr up; ip -n "$x" link set vx1 up; ip -n "$x" link set vx2 up
  ip -n "$c" link set vc up
  ip -n "$r" route add default via 10.77.1.1; ip -n "$c" route add default via 10.77.2.1
  cat > "$d/c.yaml" <<Y
supervisor: {unix_socket: $d/o.sock}
general: {template_cache_dir: 'off'}
collectors:
  - {id: c, listen_host: 10.77.1.1, listen_port: 2055, nf_version: 9, mux_to: [a], receive_buffer: 33554432}
exporters:
  - {id: a, collector_host: 10.77.2.2, collector_port: 9001, collector_version: 9, preserve_source: $preserve, queue_datagrams: 65536}
Y
  ip netns exec "$c" "$BIN" sink --listen 10.77.2.2:9001 --no-decode --idle 2 --duration 120 \
    > "$d/sink.txt" 2>/dev/null & kp=$!
  ip netns exec "$x" "$BIN" server --config-file "$d/c.yaml" 2> "$d/server.log" & sp=$!
  sleep 1
  # Resolve the neighbours before the burst.
  ip netns exec "$r" bash -c 'echo x > /dev/udp/10.77.1.1/9'
  ip netns exec "$x" bash -c 'echo x > /dev/udp/10.77.2.2/9'
  sleep 0.3
  local t0 t1
  t0=$(awk '{print $14 + $15}' "/proc/$sp/stat")
  ip netns exec "$r" "$BIN" gen --proto v9 --target 10.77.1.1:2055 --bind 10.77.1.2:40001 \
    --count "$COUNT" --rate "$RATE" --pool 1000 --records 10 > "$d/gen.txt"
  sleep 1
  t1=$(awk '{print $14 + $15}' "/proc/$sp/stat")
  wait "$kp" || true; kp=''
  kill "$sp"; wait "$sp" || true; sp=''
  local got
  got=$(grep -o 'datagrams=[0-9]*' "$d/sink.txt" | head -1 | cut -d= -f2)
  awk -v p="$preserve" -v t=$((t1 - t0)) -v k="$TCK" -v n="$COUNT" -v g="$got" \
    'BEGIN { printf "preserve_source=%-5s cpu=%.2fs  %.2f us/datagram  received %d of %d\n", p, t / k, t / k * 1e6 / n, g, n }'
}

for _ in $(seq "$RUNS"); do
  run false
  run true
done
