#!/usr/bin/env bash
# The stream and database outputs under load, side by side in one run, each into
# its real server on this box (started here by scripts/servers.sh, stopped by PID):
#   kafka       → a Kafka-protocol broker (tansu), protobuf, key exporter, lz4
#   clickhouse  → ClickHouse 18.16, schema flow-pipeline (RowBinary over HTTP)
#   postgres    → PostgreSQL 15, the flow-pipeline inserter's table (binary COPY)
# For each: a peer, a client of the same server doing the same job without
# octoflow (what the server takes on this box), then octoflow: gen → collector →
# the output at RATE datagrams/s of 25 flows for SECS seconds. It prints the flows
# the server acknowledged and the rate sustained (from the first flow sent to the
# last acknowledged), the flows lost anywhere (collector socket, queue, buffer),
# and the CPU time per flow of the output's two threads (x: encoding, d:
# delivering), from /proc. Peers:
#   kafka       kcat -P (librdkafka 2.16): 1 000 000 records of 140 bytes, lz4
#   clickhouse  curl posting 1 000 000 flows_raw rows as RowBinary (the same
#               request octoflow makes, one big batch)
#   postgres    psql \copy of 1 000 000 inserter rows in binary COPY format
# A fresh Kafka broker per step (it keeps every record in RAM); ClickHouse and
# PostgreSQL are restarted per step on the same data folder. Usage:
#   scripts/bench-sinks.sh [--secs S] [--smoke] [--only KIND] [KIND=RATE,RATE ...]
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=6
SMOKE=0
KINDS=(kafka clickhouse postgres)
declare -A RATES=([kafka]="20000 30000 40000" [clickhouse]="20000 40000 60000" [postgres]="8000 16000 24000")
while [ $# -gt 0 ]; do
  case $1 in
    --secs) SECS=$2; shift 2 ;;
    --smoke) SMOKE=1; SECS=2; shift ;;
    --only) KINDS=("$2"); shift 2 ;;
    *=*) RATES[${1%%=*}]=${1#*=}; RATES[${1%%=*}]=${RATES[${1%%=*}]//,/ }; shift ;;
    *) echo "usage: $0 [--secs S] [--smoke] [--only KIND] [KIND=RATE,RATE ...]" >&2; exit 2 ;;
  esac
done
if [ $SMOKE = 1 ]; then for k in "${KINDS[@]}"; do RATES[$k]=2000; done; fi
N_PEER=1000000; [ $SMOKE = 1 ] && N_PEER=100000

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
SERVERS=scripts/servers.sh
bash $SERVERS install >/dev/null

P_IN=47400; P_HTTP=47401; P_DB=47402; P_DB2=47403
up() {  # up KIND: start its server (ClickHouse takes a second port)
  if [ "$1" = clickhouse ]; then bash $SERVERS start "$1" "$RUN/db-$1" $P_DB $P_DB2 >/dev/null
  else bash $SERVERS start "$1" "$RUN/db-$1" $P_DB >/dev/null; fi
}
down() { bash $SERVERS stop "$1" "$RUN/db-$1" >/dev/null 2>&1 || true; }
trap 'for k in "${KINDS[@]}"; do down "$k"; done; cleanup' EXIT
ch() { curl -sS --fail-with-body "http://127.0.0.1:$P_DB/" --data-binary "$1"; }
pg() { psql -h 127.0.0.1 -p $P_DB -U postgres -At -c "$1"; }

thread_cpu() {  # thread_cpu PID NAME: CPU seconds of that thread
  for t in /proc/"$1"/task/*; do
    if [ "$(cat "$t/comm")" = "$2" ]; then awk '{printf "%.2f", ($14 + $15) / 100}' "$t/stat"; fi
  done
}
timed() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}'; }

output_yaml() {  # output_yaml KIND: the exporter entry
  case $1 in
    kafka) echo "{id: out, type: kafka, brokers: ['127.0.0.1:$P_DB'], topic: flows, format: protobuf, key: exporter, compression: lz4, linger_ms: 50, batch_rows: 20000, max_buffer_bytes: 256M, queue_datagrams: 16384}" ;;
    clickhouse) echo "{id: out, type: clickhouse, url: 'http://127.0.0.1:$P_DB', database: flows, schema: flow-pipeline, linger_ms: 200, batch_rows: 100000, max_buffer_bytes: 256M, queue_datagrams: 16384}" ;;
    postgres) echo "{id: out, type: postgres, dsn: 'host=127.0.0.1 port=$P_DB user=postgres dbname=postgres', table: flows, linger_ms: 200, batch_rows: 50000, max_buffer_bytes: 256M, queue_datagrams: 16384}" ;;
  esac
}

declare -A BEST PEER
octoflow_step() {  # octoflow_step KIND RATE: one run; updates BEST[KIND]
  local kind=$1 rate=$2 st sent line got lost rest cx cd
  up "$kind"
  cat >"$RUN/sink.yaml" <<EOF2
general: {metrics_listen: 127.0.0.1:$P_HTTP, template_cache_dir: off}
supervisor: {unix_socket: $RUN/sock}
collectors:
  - {id: edge, listen_host: 127.0.0.1, listen_port: $P_IN, nf_version: auto, receive_buffer: 33554432, mux_to: [out]}
exporters:
  - $(output_yaml "$kind")
EOF2
  bg "$RUN/server.log" "$BIN" server --config-file "$RUN/sink.yaml"; SERVER=$LAST
  wait_udp $P_IN
  # Until the output has connected (tables or topic made): the run measures
  # delivering, not connecting.
  for _ in $(seq 100); do curl -s "127.0.0.1:$P_HTTP/status" | grep -q '"connected":true' && break; sleep 0.1; done
  t0=$(date +%s.%N)
  "$BIN" gen --gso --proto v9 --target 127.0.0.1:$P_IN --rate "$rate" --duration "$SECS" --records 25 \
    --pool 4096 --prefix 10.0.1.0/24 --prefix 172.16.0.0/12 >"$RUN/gen.out"
  sent=$(field flows <"$RUN/gen.out")
  for _ in $(seq 600); do   # until everything taken is delivered or dropped (60 s)
    st=$(curl -s "127.0.0.1:$P_HTTP/status")
    python3 -c "import json,sys; e=json.loads(sys.argv[1])['exporters']['out']; sys.exit(0 if e['sink_rows_delivered']+e['sink_rows_dropped']+e['sink_rows_rejected']>=e['flows_matched'] else 1)" "$st" && break
    sleep 0.1
  done
  # From the first flow sent to the last one acknowledged: what the output
  # sustained, not what its buffer absorbed.
  el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}')
  cx=$(thread_cpu "$SERVER" x:out); cd=$(thread_cpu "$SERVER" d:out)
  line=$(python3 -c "
import json, sys
d = json.loads(sys.argv[1]); c = d['collectors']['edge']; e = d['exporters']['out']
sent, secs = int(sys.argv[2]), float(sys.argv[3]); cx, cd = float(sys.argv[4]), float(sys.argv[5])
got = e['sink_rows_delivered']; lost = sent - got
per = (cx + cd) / got * 1e9 if got else 0
print(f'{got} {lost} {int(got / secs)} gen sent {sent} flows, {sys.argv[6]} acknowledged {got} in {secs:.1f} s ({got / secs / 1e6:.2f} M flows/s), lost {lost}'
      f' (collector {sent - c[\"flows\"]}, queue {e[\"queue_drop_flows\"]}, buffer {e[\"sink_rows_dropped\"]});'
      f' CPU x {cx:.2f} s + d {cd:.2f} s = {per:.0f} ns/flow')" "$st" "$sent" "$el" "${cx:-0}" "${cd:-0}" "$kind")
  read -r got lost rate_got rest <<<"$line"
  echo "$rest"
  if [ "$lost" -eq 0 ] && [ "$rate_got" -gt "${BEST[$kind]:-0}" ]; then BEST[$kind]=$rate_got; fi
  # Keep the server's table for the peer (ClickHouse, PostgreSQL).
  [ "$kind" = kafka ] && { stop "$SERVER"; down kafka; } || stop "$SERVER"
}

peer_kafka() {
  python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    for i in range(int(sys.argv[2])): f.write('%09d%s\n' % (i, 'x' * 130))" "$RUN/peer.txt" $N_PEER
  up kafka
  local secs; secs=$(timed bash $SERVERS kcat -b 127.0.0.1:$P_DB -P -t peer -z lz4 -l "$RUN/peer.txt")
  down kafka
  PEER[kafka]=$(awk -v n=$N_PEER -v s="$secs" 'BEGIN{printf "%d", n / s}')
  echo "kcat: $N_PEER records in $secs s = ${PEER[kafka]} records/s"
}

peer_clickhouse() {  # after the octoflow steps: their flows_raw rows are copied
  local n secs have=0
  ch "SELECT * FROM flows.flows_raw LIMIT $N_PEER FORMAT RowBinary" >"$RUN/one.rb"
  n=$(ch "SELECT count() FROM (SELECT 1 FROM flows.flows_raw LIMIT $N_PEER)")
  : >"$RUN/peer.rb"
  while [ "$have" -lt $N_PEER ]; do cat "$RUN/one.rb" >>"$RUN/peer.rb"; have=$((have + n)); done
  ch "CREATE TABLE flows.peer AS flows.flows_raw" >/dev/null
  secs=$(timed curl -sS --fail-with-body "http://127.0.0.1:$P_DB/?query=INSERT%20INTO%20flows.peer%20FORMAT%20RowBinary" --data-binary @"$RUN/peer.rb")
  PEER[clickhouse]=$(awk -v n="$have" -v s="$secs" 'BEGIN{printf "%d", n / s}')
  echo "curl RowBinary: $have rows in $secs s = ${PEER[clickhouse]} rows/s"
  down clickhouse
}

peer_postgres() {  # after an octoflow step: its table holds the rows to copy
  local n k secs cols
  cols="date_inserted, time_flow, type, sampling_rate, src_as, dst_as, src_ip, dst_ip, bytes, packets, etype, proto, src_port, dst_port"
  n=$(pg "SELECT count(*) FROM flows")
  k=$(( (N_PEER + n - 1) / n ))
  pg "CREATE TABLE peer (LIKE flows INCLUDING ALL)" >/dev/null
  pg "\\copy (SELECT $cols FROM flows, generate_series(1, $k) LIMIT $N_PEER) TO '$RUN/peer.pgcopy' WITH (FORMAT binary)" >/dev/null
  secs=$(timed pg "\\copy peer ($cols) FROM '$RUN/peer.pgcopy' WITH (FORMAT binary)")
  PEER[postgres]=$(awk -v n=$N_PEER -v s="${secs##*$'\n'}" 'BEGIN{printf "%d", n / s}')
  echo "psql \\copy binary: $N_PEER rows in ${secs##*$'\n'} s = ${PEER[postgres]} rows/s"
  down postgres
}

for kind in "${KINDS[@]}"; do
  echo "== $kind"
  [ "$kind" = kafka ] && peer_kafka
  for rate in ${RATES[$kind]}; do
    echo "-- octoflow: $rate datagrams/s x 25 flows for $SECS s"
    octoflow_step "$kind" "$rate"
    [ "$kind" = kafka ] || down "$kind"
  done
  case $kind in
    clickhouse|postgres)   # the peer copies the rows of one more, small octoflow step
      echo "-- peer"
      SAVE=$SECS; SECS=1; octoflow_step "$kind" 2000 >/dev/null; SECS=$SAVE
      "peer_$kind" ;;
  esac
done

echo
echo "Zero-loss flows/s into each server on this box (octoflow's best step), and its peer:"
for kind in "${KINDS[@]}"; do
  awk -v k="$kind" -v a="${BEST[$kind]:-0}" -v b="${PEER[$kind]:-0}" \
    'BEGIN{printf "  %-11s octoflow %9d   peer %9d   octoflow / peer: %s\n", k, a, b, (b > 0 ? sprintf("%.2fx", a / b) : "-")}'
done
if [ $SMOKE = 1 ]; then
  for kind in "${KINDS[@]}"; do
    [ "${BEST[$kind]:-0}" -gt 0 ] || { echo "smoke: octoflow lost flows into $kind at ${RATES[$kind]}/s" >&2; exit 1; }
  done
fi
