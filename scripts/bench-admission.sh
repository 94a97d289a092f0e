#!/usr/bin/env bash
# Hostile input: the highest rate of datagrams from a sender outside a collector's
# allowlist that the collector turns away with zero loss, while an allowed router
# keeps every flow. All on this machine, over loopback.
#
# Each step, for SECS seconds:
#   flood   `octoflow gen` from 127.0.0.2 (not allowed) at RATE datagrams/s,
#           NetFlow v9 with FLOOD_RECORDS records each (default 1: small datagrams,
#           the most per second for the bytes);
#   router  `octoflow gen` from 127.0.0.3 (allowed) at 1000 datagrams/s, 25 records;
#   and the router's datagrams forwarded unchanged to a counting receiver.
# Zero loss: the receiver got every datagram the router sent, and the kernel's UDP
# RcvbufErrors did not move (nothing was dropped before the collector read it).
#
# Contenders:
#   octoflow   collectors[].allow: ['127.0.0.3'], one unfiltered v9 exporter; its
#              `not_allowed` counter must also equal what the flood sent
#   nfacctd    pmacct with nfacctd_allow_file (127.0.0.3), tee plugin
#
# Usage: scripts/bench-admission.sh [--smoke] [--secs S] [--only NAME] [--records N] [RATE ...]
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=5
SMOKE=0
FLOOD_RECORDS=1
RATES=()
WHO=(octoflow nfacctd)
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; shift ;;
    --secs) SECS=$2; shift 2 ;;
    --only) WHO=("$2"); shift 2 ;;
    --records) FLOOD_RECORDS=$2; shift 2 ;;
    *) RATES+=("$1"); shift ;;
  esac
done
if [ $SMOKE = 1 ]; then SECS=1; RATES=(5000); fi
[ ${#RATES[@]} -gt 0 ] || RATES=(100000 200000 300000 400000 600000 800000 1000000)

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

P_IN=47200
P_RX=47211
ROUTER_RATE=1000

flood() {  # flood RATE OUT
  "$BIN" gen --gso --pool 4096 --bind 127.0.0.2:0 --proto v9 --target 127.0.0.1:$P_IN \
    --rate "$1" --duration "$SECS" --records "$FLOOD_RECORDS" --prefix 10.0.2.0/24 >"$2"
}
router() {  # router OUT
  "$BIN" gen --bind 127.0.0.3:0 --proto v9 --target 127.0.0.1:$P_IN \
    --rate $ROUTER_RATE --duration "$SECS" --records 25 --prefix 10.0.1.0/24 >"$1"
}

http_get() {  # http_get PORT PATH: the body (bash's /dev/tcp, no curl needed)
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

RESULT=""   # per step: "lost_router_datagrams kernel_drops flood_sent detail"

# Run the flood and the router together against the collector whose PID is $1.
traffic() {
  local d=$1
  local k0; k0=$(rcvbuf_errors)
  flood "$2" "$d/flood.out" & local fp=$!
  router "$d/router.out" & local rp=$!
  wait $fp $rp
  sleep 1
  KDROPS=$(( $(rcvbuf_errors) - k0 ))
}

step_octoflow() {
  local rate=$1 d=$RUN/octoflow pm=47219; mkdir -p "$d"
  sink $P_RX --no-decode
  cat >"$d/o.yaml" <<EOF
general: {metrics_listen: 127.0.0.1:$pm}
supervisor: {unix_socket: $d/o.sock, loglevel: info}
collectors:
  - {id: edge, listen_host: 127.0.0.1, listen_port: $P_IN, nf_version: 9, receive_buffer: 33554432, mux_to: [rx], allow: ['127.0.0.3']}
exporters:
  - {id: rx, collector_host: 127.0.0.1, collector_port: $P_RX, collector_version: 9}
EOF
  STATE_DIRECTORY=$d/state bg "$d/o.log" "$BIN" server --config-file "$d/o.yaml"; local pid=$LAST; wait_udp $P_IN
  traffic "$d" "$rate"
  local denied; denied=$(http_get $pm /status | grep -o '"not_allowed":[0-9]*' | head -1 | cut -d: -f2 || true)
  stop "$pid"
  local sent got fsent; sent=$(field datagrams <"$d/router.out"); got=$(sink_field $P_RX datagrams)
  fsent=$(field datagrams <"$d/flood.out")
  RESULT="$((sent - ${got:-0})) $KDROPS $fsent router=${got:-0}/$sent not_allowed=${denied:-?}/$fsent"
  rm -rf "$d"
}

step_nfacctd() {
  local rate=$1 d=$RUN/nfacctd; mkdir -p "$d"
  sink $P_RX --no-decode
  echo "127.0.0.3" >"$d/allow.lst"
  echo "id=1 ip=127.0.0.1:$P_RX" >"$d/rcv.lst"
  { echo "daemonize: false"; echo "nfacctd_ip: 127.0.0.1"; echo "nfacctd_port: $P_IN"
    echo "nfacctd_pipe_size: 33554432"; echo "nfacctd_allow_file: $d/allow.lst"
    echo "plugin_buffer_size: 102400"; echo "plugin_pipe_size: 10240000"
    echo "plugins: tee[a]"; echo "tee_receivers[a]: $d/rcv.lst"; echo "tee_pipe_size[a]: 33554432"; } >"$d/pm.conf"
  bg "$d/pm.log" nfacctd -f "$d/pm.conf"; local pid=$LAST; wait_udp $P_IN
  traffic "$d" "$rate"
  stop "$pid" INT
  local sent got fsent; sent=$(field datagrams <"$d/router.out"); got=$(sink_field $P_RX datagrams)
  fsent=$(field datagrams <"$d/flood.out")
  RESULT="$((sent - ${got:-0})) $KDROPS $fsent router=${got:-0}/$sent"
  rm -rf "$d"
}

declare -A BEST
echo "# $(date -u '+%F %T') UTC, $(nproc) cores; flood: NetFlow v9, $FLOOD_RECORDS records/datagram from a disallowed sender; router: ${ROUTER_RATE}/s allowed; ${SECS}s per step"
printf '%-9s %9s %12s %13s %10s  %s\n' contender "rate/s" "flood dg/s" "router lost" "kern drops" detail
for who in "${WHO[@]}"; do
  BEST[$who]=0
  for r in "${RATES[@]}"; do
    case $who in
      octoflow) step_octoflow "$r" ;;
      nfacctd) step_nfacctd "$r" ;;
    esac
    read -r lost kd fsent detail <<<"$RESULT"
    dps=$((fsent / SECS))
    printf '%-9s %9s %12s %13s %10s  %s\n' "$who" "$r" "$dps" "$lost" "$kd" "$detail"
    ok=1
    [ "$lost" -eq 0 ] && [ "$kd" -eq 0 ] || ok=0
    # octoflow must also have counted every flood datagram it turned away.
    if [ "$who" = octoflow ] && ! grep -q "not_allowed=$fsent/$fsent" <<<"$detail"; then ok=0; fi
    if [ $ok = 1 ]; then BEST[$who]=$dps; else break; fi
  done
done
echo
echo "highest flood rate turned away with zero loss (datagrams/s):"
for who in "${WHO[@]}"; do
  ratio="-"
  if [ "$who" != octoflow ] && [ "${BEST[$who]}" -gt 0 ]; then
    ratio=$(awk -v a="${BEST[octoflow]}" -v b="${BEST[$who]}" 'BEGIN{printf "%.1fx", a / b}')
  fi
  printf '  %-9s %10s   octoflow / this: %s\n' "$who" "${BEST[$who]}" "$ratio"
done
if [ $SMOKE = 1 ]; then
  for who in "${WHO[@]}"; do
    [ "${BEST[$who]}" -gt 0 ] || { echo "smoke: $who lost the router's datagrams at ${RATES[0]}/s" >&2; exit 1; }
  done
fi
