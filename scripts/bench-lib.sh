# Shared by the benchmarks (sourced, not run): installs pmacct, nfdump and
# iproute2 when missing; picks the octoflow binary ($OCTOFLOW_BIN, else a release
# build); makes $RUN, the run's folder; raises net.core.rmem_max for the run when
# root; and at exit stops every process started with `bg` (by PID), restores
# rmem_max and removes $RUN. Helpers: bg, stop, wait_udp, rcvbuf_errors, field,
# `octoflow sink` receivers (sink, sink_field, sink_flows), and the closing table
# of a sweep (best_summary); the same flows in nfcapd's files and a store
# (same_flows_config, same_flows), for the query and console benchmarks.
missing=()
command -v nfacctd >/dev/null || missing+=(pmacct)
command -v nfcapd >/dev/null || missing+=(nfdump)
command -v ss >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -n "${OCTOFLOW_BIN:-}" ]; then
  BIN=$OCTOFLOW_BIN
else
  cargo build --release -q -p octoflow
  BIN=$PWD/target/release/octoflow
fi

RUN=$(mktemp -d /tmp/octoflow-bench.XXXXXX)
PIDS=()
OLD_RMEM=$(cat /proc/sys/net/core/rmem_max)
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$(id -u)" -eq 0 ] && [ "$(cat /proc/sys/net/core/rmem_max)" != "$OLD_RMEM" ]; then
    echo "$OLD_RMEM" >/proc/sys/net/core/rmem_max
  fi
  rm -rf "$RUN"
}
trap cleanup EXIT
if [ "$(id -u)" -eq 0 ] && [ "$OLD_RMEM" -lt 33554432 ]; then
  echo 33554432 >/proc/sys/net/core/rmem_max   # restored at exit
fi

bg() { local log=$1; shift; "$@" >"$log" 2>&1 & LAST=$!; PIDS+=("$LAST"); }  # PID in $LAST
stop() {  # stop PID [SIG]: signal one process we started and wait for it
  kill -"${2:-TERM}" "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
}
wait_udp() { for _ in $(seq 100); do [ -n "$(ss -Hlun "sport = :$1")" ] && return 0; sleep 0.05; done; echo "nothing listens on udp/$1" >&2; return 1; }
rcvbuf_errors() { awk '/^Udp:/{n++} /^Udp:/&&n==2{print $6}' /proc/net/snmp; }
field() { grep -o "$1=[0-9]*" | head -1 | cut -d= -f2; }   # field NAME < text

sink() { bg "$RUN/sink-$1.log" "$BIN" sink --listen 127.0.0.1:$1 --idle 2 --duration $((SECS + 30)) "${@:2}"; wait_udp "$1"; }
sink_field() { for _ in $(seq 200); do grep -q '^received' "$RUN/sink-$1.log" && break; sleep 0.1; done; field "$2" <"$RUN/sink-$1.log"; }
sink_flows() { sink_field "$1" flows; }


# best_summary TITLE WHAT: after a sweep, each contender's best rate (BEST[who])
# and octoflow's ratio to it; with --smoke, fail when a contender had no
# zero-loss step (WHAT says what it lost).
best_summary() {
  echo
  echo "$1"
  local who ratio
  for who in "${WHO[@]}"; do
    ratio="-"
    if [ "$who" != octoflow ] && [ "${BEST[$who]}" -gt 0 ] && [ -n "${BEST[octoflow]:-}" ]; then
      ratio=$(awk -v a="${BEST[octoflow]}" -v b="${BEST[$who]}" 'BEGIN{printf "%.1fx", a / b}')
    fi
    printf '  %-13s %10s   octoflow / this: %s\n' "$who" "${BEST[$who]}" "$ratio"
  done
  if [ "$SMOKE" = 1 ]; then
    for who in "${WHO[@]}"; do
      [ "${BEST[$who]}" -gt 0 ] || { echo "smoke: $who $2 at ${RATES[0]}/s" >&2; exit 1; }
    done
  fi
}


# The query and console benchmarks' setup: one collector (P_IN) muxing to a v9
# exporter aimed at nfcapd (P_NF, files in $NF) and to a store ($ST), the
# metrics on P_HTTP. same_flows_config prints the configuration (append
# sections to it); same_flows runs nfcapd and the server on $RUN/o.yaml, sends
# $FLOWS gen flows (v9, 25 a datagram, --pool 4096) from PREFIXES at RATE
# datagrams/s, stops both, and stops the run unless gen's count, nfcapd's and
# the store's agree. Sets SENT, and T0/T1 (Unix seconds around the sending).
same_flows_config() {
  cat <<YAML
general: {metrics_listen: 127.0.0.1:$P_HTTP, template_cache_dir: off}
supervisor: {unix_socket: $RUN/o.sock}
collectors:
  - {id: edge, listen_host: 127.0.0.1, listen_port: $P_IN, nf_version: 9, receive_buffer: 33554432, mux_to: [nf, st]}
exporters:
  - {id: nf, collector_host: 127.0.0.1, collector_port: $P_NF, collector_version: 9}
  - {id: st, type: store, path: $ST, rotate_secs: 3600, flush_secs: 5, queue_datagrams: 16384}
YAML
}
same_flows() {
  echo "== ingest: $FLOWS gen flows at $((RATE * 25)) flows/s to nfcapd (-y, LZ4) and to a store"
  mkdir -p "$NF"
  bg "$RUN/nfcapd.log" nfcapd -y -b 127.0.0.1 -p "$P_NF" -w "$NF" -B 33554432; local nfcapd=$LAST
  wait_udp "$P_NF"
  T0=$(date +%s)
  bg "$RUN/o.log" "$BIN" server --config-file "$RUN/o.yaml"; local server=$LAST
  wait_udp "$P_IN"
  local k0 k1 got_nf got_st
  k0=$(rcvbuf_errors)
  "$BIN" gen --gso --proto v9 --target 127.0.0.1:"$P_IN" --rate "$RATE" --count $((FLOWS / 25)) \
    --records 25 --pool 4096 "${PREFIXES[@]}" >"$RUN/gen.out"
  sleep 2
  stop "$server"    # graceful: the store writes what it holds
  stop "$nfcapd"
  T1=$(( $(date +%s) + 1 ))
  k1=$(rcvbuf_errors)
  SENT=$(field flows <"$RUN/gen.out")
  got_nf=$(grep -o 'Flows: [0-9]*' "$RUN/nfcapd.log" | awk '{s+=$2} END{print s+0}')
  got_st=$("$BIN" query -R "$ST" -n 1 -s proto/flows | grep -o 'total flows: [0-9]*' | awk '{print $3}')
  echo "gen sent $SENT flows; nfcapd stored $got_nf; the store $got_st; kernel receive drops $((k1 - k0))"
  if [ "$SENT" != "$got_nf" ] || [ "$SENT" != "$got_st" ]; then
    echo "the stores do not hold the same flows: lower --rate" >&2; exit 1
  fi
}
