# Shared by the benchmarks (sourced, not run): installs pmacct, nfdump and
# iproute2 when missing; picks the octoflow binary ($OCTOFLOW_BIN, else a release
# build); makes $RUN, the run's folder; raises net.core.rmem_max for the run when
# root; and at exit stops every process started with `bg` (by PID), restores
# rmem_max and removes $RUN. Helpers: bg, stop, wait_udp, rcvbuf_errors, field,
# and `octoflow sink` receivers (sink, sink_field, sink_flows).
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

