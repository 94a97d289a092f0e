#!/usr/bin/env bash
# Throughput: the highest rate each contender takes with zero loss, all fed the same
# `octoflow gen` stream (NetFlow v9, 25 records per datagram) on this machine.
#
#   octoflow      one collector -> 4 tenant exporters, each with a filter:
#                 v9 pass-through, v9->IPFIX, v9->v5, v9->IPFIX; 4 counting receivers
#   tee-filtered  pmacct nfacctd, tee plugin with a pre_tag_map for one /24 -> receiver
#   tee           pmacct nfacctd, tee plugin, unfiltered -> receiver
#   nfcapd        nfdump's collector writing its files
#   octoflow-enriched  (with --enriched) the octoflow setup with a full BGP table
#                 (1,000,000 IPv4 + 200,000 IPv6 routes, every route's attributes
#                 distinct) fed to its BMP station by octoflow-bgp's bmp_feed, so
#                 every flow's source and destination are looked up
#
# Loss is counted at every step from counters: the flows each receiver decoded
# (`octoflow sink`) or nfcapd stored, against what gen sent for that tenant; the
# kernel's UDP RcvbufErrors; octoflow's queue drops. A step is zero-loss only if all
# are exact. Each contender's sweep stops at its first lossy step.
#
# Usage: scripts/bench.sh [--smoke] [--secs S] [--only NAME] [--plain-gen] [RATE ...]
#   RATE: datagrams/s
#   --smoke: one short low-rate step per contender (the test suite runs this)
#   --only NAME: sweep one contender (octoflow, tee-filtered, tee or nfcapd)
#   --enriched: also sweep octoflow-enriched (its ratio to octoflow is what
#     enrichment costs the router)
#   --plain-gen: gen sends datagram by datagram (sendmmsg) instead of in UDP GSO
#     runs. The generator shares the 2 cores with what it measures; GSO roughly
#     halves what it takes of them (a router across a wire takes none). Every
#     contender gets the same stream either way, as single datagrams; only a
#     receiver that turns on UDP GRO (octoflow does) gets the runs whole.
# Installs pmacct and nfdump when missing; raises net.core.rmem_max for the run
# when root (restored at exit); starts and stops every process itself (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=5
SMOKE=0
GEN_GSO=--gso
RATES=()
WHO=(octoflow tee-filtered tee nfcapd)
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; shift ;;
    --secs) SECS=$2; shift 2 ;;
    --only) WHO=("$2"); shift 2 ;;
    --enriched) WHO+=(octoflow-enriched); shift ;;
    --plain-gen) GEN_GSO=; shift ;;
    *) RATES+=("$1"); shift ;;
  esac
done
if [ $SMOKE = 1 ]; then SECS=1; RATES=(2000); fi
[ ${#RATES[@]} -gt 0 ] || RATES=(16000 32000 64000 96000 128000 160000 200000)

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

P_IN=47100
A=10.0.1.0/24; B=10.0.2.0/24; C=172.16.0.0/12; D=192.168.0.0/16

gen() {  # gen RATE OUT: the common stream
  "$BIN" gen $GEN_GSO --proto v9 --target 127.0.0.1:$P_IN --rate "$1" --duration "$SECS" --records 25 \
    --pool 4096 --prefix $A --prefix $B --prefix $C --prefix $D >"$2"
}
prefix_flows() { grep "^prefix $2 " "$1" | field flows; }
RESULT=""   # per step: "loss_flows kernel_drops detail"

step_octoflow() {
  # The four receivers only count datagrams (decoding them would take CPU from the
  # machine under test). Zero loss = every flow of each tenant matched and written
  # (octoflow's final counts: sent = what gen sent for that tenant), every written
  # datagram received (datagrams = received), no queue drop, no kernel drop. The
  # smoke step decodes at the receivers and checks the flows too.
  local rate=$1 d=$RUN/octoflow; mkdir -p "$d"
  local pa=47111 pb=47112 pc=47113 pd=47114 pm=47119
  local decode=--no-decode; [ $SMOKE = 1 ] && decode=
  for p in $pa $pb $pc $pd; do sink $p $decode; done
  local enrich="" feed=""
  if [ "${2:-}" = enriched ]; then
    enrich="enrichment: {bmp: {listen: 127.0.0.1:47130}, as_source: [device, bgp]}"
  fi
  cat >"$d/o.yaml" <<EOF
general: {metrics_listen: 127.0.0.1:$pm}
supervisor: {unix_socket: $d/o.sock, loglevel: info}
$enrich
collectors:
  - {id: edge, listen_host: 127.0.0.1, listen_port: $P_IN, nf_version: 9, receive_buffer: 33554432, mux_to: [a, b, c, d]}
exporters:
  - {id: a, collector_host: 127.0.0.1, collector_port: $pa, collector_version: 9, filters: ['$A']}
  - {id: b, collector_host: 127.0.0.1, collector_port: $pb, collector_version: 10, filters: ['$B']}
  - {id: c, collector_host: 127.0.0.1, collector_port: $pc, collector_version: 5, filters: ['$C']}
  - {id: d, collector_host: 127.0.0.1, collector_port: $pd, collector_version: 10, filters: ['$D']}
EOF
  bg "$d/o.log" "$BIN" server --config-file "$d/o.yaml"; local pid=$LAST; wait_udp $P_IN
  if [ -n "$enrich" ]; then
    # The full table through BMP, held open for the step; wait until it is in.
    bg "$d/feed.log" "$BMP_FEED" 127.0.0.1:47130 1000000 200000 $((SECS + 60)); feed=$LAST
    for _ in $(seq 600); do
      "$BIN" rib --config-file "$d/o.yaml" show 2>/dev/null | awk '$1 == "bmp" {v4 = $(NF-4); v6 = $(NF-3)} END {exit !(v4 == 1000000 && v6 == 200000)}' && break
      sleep 0.5
    done
  fi
  local k0; k0=$(rcvbuf_errors)
  gen "$rate" "$d/gen.out"
  sleep 1
  local k1; k1=$(rcvbuf_errors)
  RSS=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  [ -n "$feed" ] && stop "$feed"
  stop "$pid"   # graceful: queues flushed, then the final counts are logged
  local loss=0 detail="" t
  for t in "a $pa $A" "b $pb $B" "c $pc $C" "d $pd $D"; do
    set -- $t
    local line want sent dg qd rx lost
    line=$(grep "final counts" "$d/o.log" | grep "exporter=$1 ")
    want=$(prefix_flows "$d/gen.out" "$3")
    sent=$(grep -o ' sent=[0-9]*' <<<"$line" | cut -d= -f2)
    dg=$(grep -o 'datagrams=[0-9]*' <<<"$line" | cut -d= -f2)
    qd=$(grep -o 'drops=[0-9]*' <<<"$line" | cut -d= -f2)
    rx=$(sink_field "$2" datagrams)
    lost=$(( ${want:-0} - ${sent:-0} + ${dg:-0} - ${rx:-0} ))
    if [ $SMOKE = 1 ]; then lost=$(( lost + ${want:-0} - $(sink_flows "$2") )); fi
    loss=$(( loss + (lost < 0 ? -lost : lost) ))
    detail="$detail $1:${sent:-0}/${want:-0}(rx ${rx:-0}/${dg:-0}dg,qdrop ${qd:-?})"
  done
  RESULT="$loss $((k1 - k0)) $(field flows <"$d/gen.out") rss=${RSS}kB$detail"
  rm -rf "$d"
}

step_tee() {  # step_tee RATE filtered|unfiltered
  local rate=$1 d=$RUN/tee; mkdir -p "$d"
  local ps=47121
  # Unfiltered, tee forwards the datagrams unchanged: count them (no decoding).
  if [ "$2" = filtered ]; then sink $ps; else sink $ps --no-decode; fi
  printf 'set_tag=100 ip=0.0.0.0/0 src_net=%s\nset_tag=100 ip=0.0.0.0/0 dst_net=%s\n' $A $A >"$d/pretag.map"
  if [ "$2" = filtered ]; then echo "id=1 ip=127.0.0.1:$ps tag=100" >"$d/rcv.lst"; else echo "id=1 ip=127.0.0.1:$ps" >"$d/rcv.lst"; fi
  { echo "daemonize: false"; echo "nfacctd_ip: 127.0.0.1"; echo "nfacctd_port: $P_IN"
    echo "nfacctd_pipe_size: 33554432"; echo "plugin_buffer_size: 102400"; echo "plugin_pipe_size: 10240000"
    echo "plugins: tee[a]"; echo "tee_receivers[a]: $d/rcv.lst"; echo "tee_pipe_size[a]: 33554432"
    [ "$2" = filtered ] && echo "pre_tag_map[a]: $d/pretag.map"; true; } >"$d/pm.conf"
  bg "$d/pm.log" nfacctd -f "$d/pm.conf"; local pid=$LAST; wait_udp $P_IN
  local k0; k0=$(rcvbuf_errors)
  gen "$rate" "$d/gen.out"
  sleep 1
  local k1; k1=$(rcvbuf_errors)
  stop "$pid" INT
  local want got total; total=$(field flows <"$d/gen.out")
  if [ "$2" = filtered ]; then
    want=$(prefix_flows "$d/gen.out" $A); got=$(sink_flows $ps)
  else
    want=$total; got=$(( $(sink_field $ps datagrams) * 25 ))
  fi
  RESULT="$((want - ${got:-0})) $((k1 - k0)) $total got=${got:-0}/$want"
  rm -rf "$d"
}

step_nfcapd() {
  local rate=$1 d=$RUN/nfcapd; mkdir -p "$d/files"
  bg "$d/nf.log" nfcapd -b 127.0.0.1 -p $P_IN -w "$d/files" -B 33554432; local pid=$LAST; wait_udp $P_IN
  local k0; k0=$(rcvbuf_errors)
  gen "$rate" "$d/gen.out"
  sleep 1
  local k1; k1=$(rcvbuf_errors)
  stop "$pid"
  local want got; want=$(field flows <"$d/gen.out")
  got=$(grep -o 'Flows: [0-9]*' "$d/nf.log" | awk '{s+=$2} END{print s+0}')
  RESULT="$((want - got)) $((k1 - k0)) $want got=$got/$want"
  rm -rf "$d"
}

if [[ " ${WHO[*]} " == *" octoflow-enriched "* ]]; then
  cargo build --release -q -p octoflow-bgp --example bmp_feed
  BMP_FEED=$PWD/target/release/examples/bmp_feed
fi

declare -A BEST
echo "# $(date -u '+%F %T') UTC, $(nproc) cores; gen: NetFlow v9, 25 records/datagram, ${SECS}s per step, ${GEN_GSO:-plain sendmmsg}"
printf '%-13s %9s %11s %12s %10s  %s\n' contender "rate/s" "flows/s" "lost flows" "kern drops" detail
for who in "${WHO[@]}"; do
  BEST[$who]=0
  for r in "${RATES[@]}"; do
    case $who in
      octoflow) step_octoflow "$r" ;;
      octoflow-enriched) step_octoflow "$r" enriched ;;
      tee-filtered) step_tee "$r" filtered ;;
      tee) step_tee "$r" unfiltered ;;
      nfcapd) step_nfcapd "$r" ;;
    esac
    read -r lost kd sent detail <<<"$RESULT"
    fps=$((sent / SECS))
    printf '%-13s %9s %11s %12s %10s  %s\n' "$who" "$r" "$fps" "$lost" "$kd" "$detail"
    if [ "$lost" -eq 0 ] && [ "$kd" -eq 0 ]; then BEST[$who]=$fps; else break; fi
  done
done
best_summary "highest zero-loss rate (flows/s):" "lost flows"
