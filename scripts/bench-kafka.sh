#!/usr/bin/env bash
# The `kafka` output under load, into a local Kafka-protocol broker (tansu,
# started here by scripts/servers.sh and stopped by PID).
#   peer:      kcat (librdkafka 2.16) producing the same number of records of
#              the same size (a goflow2 message of a gen flow is ~140 bytes)
#              with the same codec: what a C producer gets from this broker
#              on this box;
#   octoflow:  gen → collector → kafka output (protobuf, key exporter, lz4) at
#              RATE datagrams/s of 25 flows for SECS seconds: flows acknowledged
#              by the broker, flows lost anywhere (collector socket, queue,
#              buffer), and the CPU time per flow of the output's two threads
#              (x: encoding, d: producing), read from /proc.
# A fresh broker per step (tansu keeps every record in RAM, ~125 MB per
# million). Usage: scripts/bench-kafka.sh [--secs S] [--smoke] [RATE...]
#                  (default 20000 30000 40000)
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=6
SMOKE=0
RATES=()
while [ $# -gt 0 ]; do
  case $1 in
    --secs) SECS=$2; shift 2 ;;
    --smoke) SMOKE=1; SECS=2; shift ;;
    *) RATES+=("$1"); shift ;;
  esac
done
if [ ${#RATES[@]} -eq 0 ]; then
  if [ $SMOKE = 1 ]; then RATES=(2000); else RATES=(20000 30000 40000); fi
fi

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
SERVERS=scripts/servers.sh
bash $SERVERS install >/dev/null

P_IN=47400; P_HTTP=47401; P_KAFKA=47402
KDIR=$RUN/kafka
broker_up() { bash $SERVERS start kafka "$KDIR" $P_KAFKA >/dev/null; }
broker_down() { bash $SERVERS stop kafka "$KDIR" >/dev/null 2>&1 || true; }
trap 'broker_down; cleanup' EXIT

thread_cpu() {  # thread_cpu PID NAME: CPU seconds of that thread
  for t in /proc/"$1"/task/*; do
    if [ "$(cat "$t/comm")" = "$2" ]; then awk '{printf "%.2f", ($14 + $15) / 100}' "$t/stat"; fi
  done
}

echo "== peer: kcat -P, 1 000 000 records of 140 bytes, lz4"
N_PEER=1000000; [ $SMOKE = 1 ] && N_PEER=100000
python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    for i in range(int(sys.argv[2])): f.write('%09d%s\n' % (i, 'x' * 130))" "$RUN/peer.txt" $N_PEER
broker_up
t0=$(date +%s.%N)
bash $SERVERS kcat -b 127.0.0.1:$P_KAFKA -P -t peer -z lz4 -X queue.buffering.max.messages=1000000 -l "$RUN/peer.txt"
t1=$(date +%s.%N)
PEER=$(awk -v n=$N_PEER -v a="$t0" -v b="$t1" 'BEGIN{printf "%d", n / (b - a)}')
echo "kcat: $N_PEER records in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s = $PEER records/s"
broker_down

BEST=0
for rate in "${RATES[@]}"; do
  echo "== octoflow: $rate datagrams/s x 25 flows for $SECS s"
  broker_up
  cat >"$RUN/kafka.yaml" <<EOF2
general: {metrics_listen: 127.0.0.1:$P_HTTP, template_cache_dir: off}
supervisor: {unix_socket: $RUN/sock}
collectors:
  - {id: edge, listen_host: 127.0.0.1, listen_port: $P_IN, nf_version: auto, receive_buffer: 33554432, mux_to: [k]}
exporters:
  - {id: k, type: kafka, brokers: ['127.0.0.1:$P_KAFKA'], topic: flows, format: protobuf, key: exporter, compression: lz4, linger_ms: 50, batch_rows: 20000, max_buffer_bytes: 256M, queue_datagrams: 16384}
EOF2
  bg "$RUN/server.log" "$BIN" server --config-file "$RUN/kafka.yaml"; SERVER=$LAST
  wait_udp $P_IN
  # Wait for the producer's first connection (topic made), so the run
  # measures producing, not connecting.
  for _ in $(seq 100); do curl -s "127.0.0.1:$P_HTTP/status" | grep -q '"connected":true' && break; sleep 0.1; done
  "$BIN" gen --gso --proto v9 --target 127.0.0.1:$P_IN --rate "$rate" --duration "$SECS" --records 25 \
    --pool 4096 --prefix 10.0.1.0/24 --prefix 172.16.0.0/12 >"$RUN/gen.out"
  sent=$(field flows <"$RUN/gen.out")
  # Until the broker acknowledged everything the output took (or 30 s).
  for _ in $(seq 300); do
    st=$(curl -s "127.0.0.1:$P_HTTP/status")
    python3 -c "import json,sys; e=json.loads(sys.argv[1])['exporters']['k']; sys.exit(0 if e['sink_rows_delivered']+e['sink_rows_dropped']+e['sink_rows_rejected']>=e['flows_matched'] else 1)" "$st" && break
    sleep 0.1
  done
  cpu_x=$(thread_cpu "$SERVER" x:k); cpu_d=$(thread_cpu "$SERVER" d:k)
  line=$(python3 -c "
import json, sys
d = json.loads(sys.argv[1]); c = d['collectors']['edge']; e = d['exporters']['k']
sent, secs = int(sys.argv[2]), float(sys.argv[3]); cx, cd = float(sys.argv[4]), float(sys.argv[5])
got = e['sink_rows_delivered']; lost = sent - got
per = (cx + cd) / got * 1e9 if got else 0
print(f'{got} {lost} gen sent {sent} flows, broker acknowledged {got} ({got / secs / 1e6:.2f} M flows/s), lost {lost}'
      f' (collector {sent - c[\"flows\"]}, queue {e[\"queue_drop_flows\"]}, buffer {e[\"sink_rows_dropped\"]});'
      f' CPU x:k {cx:.2f} s + d:k {cd:.2f} s = {per:.0f} ns/flow')" "$st" "$sent" "$SECS" "${cpu_x:-0}" "${cpu_d:-0}")
  read -r got lost rest <<<"$line"
  echo "$rest"
  if [ "$lost" -eq 0 ]; then
    r=$((got / SECS)); [ $r -gt $BEST ] && BEST=$r
  fi
  stop "$SERVER"
  broker_down
done

echo
echo "Kafka, zero-loss flows/s into the local broker:"
printf '  %-22s %10s\n' "octoflow (best step)" "$BEST" "kcat -P (records/s)" "$PEER"
awk -v a=$BEST -v b=$PEER 'BEGIN{printf "  octoflow / kcat: %.2fx\n", a / b}'
if [ $SMOKE = 1 ] && [ $BEST -eq 0 ]; then echo "smoke: octoflow lost flows at ${RATES[0]}/s" >&2; exit 1; fi
