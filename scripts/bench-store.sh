#!/usr/bin/env bash
# The flow store (`type: store`) under load: octoflow gen → one collector → one
# store. Two measurements:
#   size:       1 000 000 gen flows (random, no pool; a fifth IPv6 unless --v4)
#               into a fresh store, then bytes per flow of the interval file
#               (read by DuckDB, which also checks the row count);
#   throughput: RATE datagrams/s of 25 flows (gen --pool: built up front) for
#               SECS seconds: flows the store took, flows its queue dropped, and
#               the store thread's CPU time per flow (from /proc, so a box
#               shared with other work still gives its cost).
# Usage: scripts/bench-store.sh [--secs S] [--v4] [RATE...]   (default 16000 40000 64000)
# Needs DuckDB for Python (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=6
V6=(--prefix 2001:db8:1::/64)
RATES=()
while [ $# -gt 0 ]; do
  case $1 in
    --secs) SECS=$2; shift 2 ;;
    --v4) V6=(); shift ;;
    *) RATES+=("$1"); shift ;;
  esac
done
[ ${#RATES[@]} -gt 0 ] || RATES=(16000 40000 64000)

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

P_IN=47300; P_HTTP=47301
PREFIXES=(--prefix 10.0.1.0/24 --prefix 10.0.2.0/24 --prefix 172.16.0.0/12 --prefix 192.168.0.0/16)

start() {  # start: a fresh store behind one collector; PID in $SERVER
  rm -rf "$RUN/flows"
  cat >"$RUN/store.yaml" <<EOF
general: {metrics_listen: 127.0.0.1:$P_HTTP, template_cache_dir: off}
supervisor: {unix_socket: $RUN/sock}
collectors:
  - {id: edge, listen_host: 127.0.0.1, listen_port: $P_IN, nf_version: auto, receive_buffer: 33554432, mux_to: [noc]}
exporters:
  - {id: noc, type: store, path: $RUN/flows, rotate_secs: 300, flush_secs: 10, queue_datagrams: 16384}
EOF
  bg "$RUN/server.log" "$BIN" server --config-file "$RUN/store.yaml"; SERVER=$LAST
  wait_udp $P_IN
}
status() { curl -s "127.0.0.1:$P_HTTP/status"; }
store_cpu() {  # store_cpu: CPU seconds of the store's thread (x:noc)
  for t in /proc/"$SERVER"/task/*; do
    if [ "$(cat "$t/comm")" = "x:noc" ]; then awk '{printf "%.2f", ($14 + $15) / 100}' "$t/stat"; fi
  done
}

echo "== size: 1 000 000 gen flows${V6:+ (a fifth IPv6)}"
start
"$BIN" gen --proto v9 --target 127.0.0.1:$P_IN --rate 4000 --count 40000 --records 25 \
  "${PREFIXES[@]}" "${V6[@]}" >"$RUN/gen.out"
sleep 1; stop "$SERVER"
python3 - "$RUN/flows" "$(field flows <"$RUN/gen.out")" <<'PY'
import duckdb, glob, os, sys
files = glob.glob(sys.argv[1] + "/flows-*.parquet")
rows = duckdb.sql(f"select count(*) from read_parquet({files})").fetchall()[0][0]
size = sum(os.path.getsize(f) for f in files)
print(f"sent {sys.argv[2]} flows, stored {rows} rows in {size} bytes: {size / rows:.2f} bytes/flow")
PY

for rate in "${RATES[@]}"; do
  echo "== throughput: $rate datagrams/s x 25 flows for $SECS s"
  start
  "$BIN" gen --gso --proto v9 --target 127.0.0.1:$P_IN --rate "$rate" --duration "$SECS" --records 25 \
    --pool 4096 "${PREFIXES[@]}" >"$RUN/gen.out"
  sleep 2
  cpu=$(store_cpu)
  status | python3 -c "
import json, sys
d = json.load(sys.stdin); c = d['collectors']['edge']; e = d['exporters']['noc']
f = e['flows_matched']; cpu = float(sys.argv[1])
print(f\"collector {c['flows']} flows, store took {f}, queue dropped {e['queue_drop_flows']};\"
      f\" store thread {cpu:.2f} s CPU = {f / cpu / 1e6:.2f} M flows per CPU-second\")" "$cpu"
  stop "$SERVER"
done
