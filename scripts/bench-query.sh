#!/usr/bin/env bash
# Querying stored flows: nfdump over nfcapd's files against `octoflow query`
# over an octoflow store holding the same flows.
#   ingest:  octoflow gen (NetFlow v9, 25 records a datagram, --pool: built up
#            front) → one octoflow collector muxing to a same-version v9
#            exporter aimed at nfcapd (LZ4 files, -y) and to a store: both get
#            identical flows. gen's count, nfcapd's "Flows:" and the store's
#            rows must agree (else the run stops).
#   size:    bytes per flow of nfcapd's files and of the store's.
#   queries: each query run by `nfdump -R` and `octoflow query -R`, alternately,
#            best of 3 (wall time by /usr/bin/time, with the peak RSS); flows/s
#            is the stored flows over that time; then the ratio per query and the
#            geometric mean.
#   duckdb:  (--duckdb, when Python's duckdb is there) the same store read by
#            DuckDB: top-10 destination ports, a three-predicate count.
# Usage: scripts/bench-query.sh [--smoke] [--flows N] [--rate DATAGRAMS/S] [--duckdb]
#   --smoke: 50 000 flows and one query (the test suite runs this)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
FLOWS=5000000
RATE=8000
DUCK=0
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; shift ;;
    --flows) FLOWS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --duckdb) DUCK=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ $SMOKE = 1 ]; then FLOWS=50000; RATE=2000; fi
SECS=$(( FLOWS / 25 / RATE + 5 ))   # for bench-lib's helpers

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"

P_IN=47400; P_NF=47401; P_HTTP=47402
PREFIXES=(--prefix 10.0.1.0/24 --prefix 10.0.2.0/24 --prefix 172.16.0.0/12 --prefix 192.168.0.0/16)
NF=$RUN/nfcapd; ST=$RUN/store

echo "# $(date -u '+%F %T') UTC, $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
same_flows_config >"$RUN/o.yaml"
same_flows
size() { find "$1" -type f \( -name 'nfcapd.*' -o -name '*.parquet' \) -printf '%s\n' | awk '{s+=$1} END{print s+0}'; }
B_NF=$(size "$NF"); B_ST=$(size "$ST")
awk -v a="$B_NF" -v b="$B_ST" -v n="$SENT" 'BEGIN{
  printf "bytes/flow: nfcapd (LZ4) %.1f, octoflow store (Parquet, zstd) %.1f: %.2f of nfcapd\n", a/n, b/n, b/a }'

# The queries: nfdump arguments, also octoflow's (same command line).
QUERIES=(
  "-s srcip/bytes|net 10.0.1.0/24"
  "-s dstport/flows|"
  "-c 1000000000 -o csv|proto tcp and dst port > 1024 and src net 10.0.0.0/8"
  "-A srcip,dstport|"
  "-s proto/flows|not inet6"
  "-s dstip/packets|dst port in [22 80 443] or port 53"
  "-s srcip/flows|src net 172.16.0.0/12 and packets > 10"
  "-s dstport/bytes|ip in [172.16.0.0/12]"
)
[ $SMOKE = 1 ] && QUERIES=("${QUERIES[0]}")

# run WHO OUT ARGS...: best wall time of WHO over 3 runs (the runs interleave
# with the other tool's, so a change of load hits both), "seconds kB lines".
declare -A BEST_S BEST_KB LINES
timed() {  # timed KEY OUT CMD...: one run, best kept under KEY
  local key=$1 out=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$RUN/time" "$@" >"$out" 2>"$RUN/err" \
    || { echo "failed: $* ($(cat "$RUN/err"))" >&2; exit 1; }
  local s kb; read -r s kb <"$RUN/time"
  if [ -z "${BEST_S[$key]:-}" ] || awk -v a="$s" -v b="${BEST_S[$key]}" 'BEGIN{exit !(a < b)}'; then
    BEST_S[$key]=$s
  fi
  if [ -z "${BEST_KB[$key]:-}" ] || [ "$kb" -gt "${BEST_KB[$key]}" ]; then BEST_KB[$key]=$kb; fi
  LINES[$key]=$(wc -l <"$out")
}

echo "== queries over $SENT flows (best of 3, run alternately)"
printf '%-70s %12s %12s %7s %10s %10s\n' query "nfdump f/s" "octoflow f/s" ratio "nfdump kB" "octo kB"
LOGSUM=0; N=0
for q in "${QUERIES[@]}"; do
  IFS='|' read -r opts filter <<<"$q"
  read -ra o <<<"$opts"
  for _ in 1 2 3; do
    timed "nf" "$RUN/nf.out" nfdump -R "$NF" "${o[@]}" ${filter:+"$filter"}
    timed "oc" "$RUN/oc.out" "$BIN" query -R "$ST" "${o[@]}" ${filter:+"$filter"}
  done
  line=$(awk -v n="$SENT" -v a="${BEST_S[nf]}" -v b="${BEST_S[oc]}" 'BEGIN{
    a = (a > 0 ? a : 0.005); b = (b > 0 ? b : 0.005)
    printf "%12.0f %12.0f %6.2fx %.6f", n/a, n/b, a/b, log(a/b) }')
  read -r fnf foc ratio lg <<<"$line"
  LOGSUM=$(awk -v s="$LOGSUM" -v l="$lg" 'BEGIN{print s + l}'); N=$((N + 1))
  printf '%-70s %12s %12s %7s %10s %10s\n' "$opts '$filter'" "$fnf" "$foc" "$ratio" "${BEST_KB[nf]}" "${BEST_KB[oc]}"
  echo "    output lines: nfdump ${LINES[nf]}, octoflow ${LINES[oc]}; seconds: nfdump ${BEST_S[nf]}, octoflow ${BEST_S[oc]}"
  unset 'BEST_S[nf]' 'BEST_S[oc]' 'BEST_KB[nf]' 'BEST_KB[oc]'
done
awk -v s="$LOGSUM" -v n="$N" 'BEGIN{printf "geometric mean of octoflow / nfdump speed: %.2fx over %d queries\n", exp(s/n), n}'
echo "# load after the queries:$(uptime | sed 's/.*load average://')"

if [ $DUCK = 1 ]; then
  echo "== DuckDB over the store's Parquet files"
  python3 - "$ST" "$SENT" <<'PY'
import duckdb, glob, sys, time
files = glob.glob(sys.argv[1] + "/**/*.parquet", recursive=True)
n = int(sys.argv[2])
con = duckdb.connect()
src = f"read_parquet({files}, union_by_name = true)"
for name, sql in [
    ("top-10 dst ports", f"select dst_port, count(*) c from {src} group by 1 order by 2 desc limit 10"),
    ("3-predicate count", f"select count(*) from {src} where proto = 6 and dst_port > 1024"
                          f" and src_addr_v4 between 167772160 and 184549375"),
]:
    best = None
    for _ in range(3):
        t = time.perf_counter(); con.sql(sql).fetchall(); d = time.perf_counter() - t
        best = d if best is None else min(best, d)
    print(f"  {name:20s} {best:.3f} s = {n / best:,.0f} flows/s")
PY
fi
