#!/usr/bin/env bash
# The console's answers, timed as a browser or Grafana gets them (curl, wall
# time of the whole HTTP exchange), against nfdump on the same flows.
#   ingest:  octoflow gen (NetFlow v9) → one collector muxing to nfcapd (-y) and
#            to a store with a profile; gen's count, nfcapd's and the store's
#            must agree.
#   graphs:  a profile of 10 channels with a year of 5-minute slots (written
#            here, as the router writes them): its 24-hour graph — the first
#            answer right after the console starts, which reads the file for
#            its window alone, and later ones, served from the decoded copy
#            the console keeps (re-read when the router appends) — and its
#            1-year graph (600 points).
#   details: top-10 source IPs by bytes over the window that holds every
#            stored flow, by the console's API (the store query path: Parquet
#            columns the filter and the table need, read in one pass) and by
#            `nfdump -R … -s srcip/bytes` over nfcapd's files (what nfsen runs);
#            flows/s and the ratio; then what that rate means for an hour of
#            100 M flows.
#   page:    the profile page, its script and style, in bytes.
# Usage: scripts/bench-console.sh [--smoke] [--flows N] [--rate DATAGRAMS/S]
#   --smoke: 20 000 flows (the test suite runs this)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
FLOWS=5000000
RATE=8000
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; shift ;;
    --flows) FLOWS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ $SMOKE = 1 ]; then FLOWS=20000; RATE=2000; fi
SECS=$(( FLOWS / 25 / RATE + 5 ))   # for bench-lib's helpers

# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

P_IN=47410; P_NF=47411; P_HTTP=47412; P_WEB=47413
PREFIXES=(--prefix 10.0.1.0/24 --prefix 10.0.2.0/24 --prefix 172.16.0.0/12 --prefix 192.168.0.0/16)
NF=$RUN/nfcapd; ST=$RUN/store
HASH=$(echo bench | "$BIN" console hash-password)
CHANNELS=""
for i in $(seq 0 9); do CHANNELS+="      - {name: c$i, filter: 'any'}"$'\n'; done

echo "# $(date -u '+%F %T') UTC, $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
{
  same_flows_config
  cat <<YAML
profiles:
  - id: all
    store: st
    channels:
      - {name: tcp, filter: 'proto tcp'}
      - {name: other, filter: 'not proto tcp'}
  - id: year
    store: st
    channels:
$CHANNELS
console:
  listen: 127.0.0.1:$P_WEB
  users: [{name: noc, role: admin, password_hash: '$HASH'}]
YAML
} >"$RUN/o.yaml"
same_flows

# A year of 5-minute slots for the 10-channel profile, in the series file's
# encoding (octoflow_query::Series: magic, channels, then per slot its index
# and per channel a bitmap of non-zero numbers and those numbers, LEB128).
python3 - "$ST/profiles/year.series" <<'PY'
import random, sys, time
def put(b, v):
    while v >= 0x80:
        b.append((v & 0x7F) | 0x80); v >>= 7
    b.append(v)
out = bytearray(b"OFSERIE1"); put(out, 10)
now = int(time.time()) // 300
rnd = random.Random(1)
for slot in range(now - 365 * 288, now):
    put(out, slot)
    for c in range(10):
        # TCP and UDP counted, ICMP now and then, other never.
        vals = [rnd.randint(500, 5000), rnd.randint(5000, 500000), rnd.randint(10**6, 10**9)]
        vals += [v // 3 for v in vals]
        icmp = slot % 7 == 0
        if icmp: vals += [3, 30, 3000]
        mask = 0b111111 | (0b111000000 if icmp else 0)
        put(out, mask)
        for v in vals: put(out, v)
open(sys.argv[1], "wb").write(out)
print(f"year.series: {len(out) / 1e6:.1f} MB for {365 * 288} slots of 10 channels")
PY

bg "$RUN/console.log" "$BIN" console --config-file "$RUN/o.yaml"; CONSOLE=$LAST
for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$P_WEB/login" && break; sleep 0.1; done
# Log in once; the cookie serves every request (Basic would verify Argon2 each time).
curl -s -c "$RUN/jar" -o /dev/null -d 'name=noc&password=bench' "127.0.0.1:$P_WEB/login"
get() { curl -s -b "$RUN/jar" -o "$RUN/answer" -w '%{time_total} %{size_download} %{http_code}' "127.0.0.1:$P_WEB$1"; }
best() {  # best PATH N: the best of N timed GETs, "seconds bytes"
  local b="" bytes=0 t s code
  for _ in $(seq "$2"); do
    read -r t s code <<<"$(get "$1")"
    [ "$code" = 200 ] || { echo "GET $1: $code $(head -c 300 "$RUN/answer")" >&2; exit 1; }
    bytes=$s
    if [ -z "$b" ] || awk -v a="$t" -v c="$b" 'BEGIN{exit !(a < c)}'; then b=$t; fi
  done
  echo "$b $bytes"
}
NOW=$(date +%s)
echo "== graphs of the 10-channel profile with a year of slots"
read -r cold bytes <<<"$(best "/api/v1/profiles/year/series?from=$((NOW - 86400))&to=$NOW" 1)"
read -r warm _ <<<"$(best "/api/v1/profiles/year/series?from=$((NOW - 86400))&to=$NOW" 5)"
read -r year ybytes <<<"$(best "/api/v1/profiles/year/series?from=$((NOW - 365 * 86400))&to=$NOW" 3)"
awk -v c="$cold" -v w="$warm" -v y="$year" -v b="$bytes" -v yb="$ybytes" 'BEGIN{
  printf "24-hour graph: %.1f ms (first, reading the file), %.1f ms (cached), %d bytes\n", c*1000, w*1000, b
  printf "1-year graph (600 points): %.1f ms, %d bytes\n", y*1000, yb }'

echo "== top-10 source IPs by bytes over $SENT flows (best of 3, run alternately)"
declare -A BEST
for _ in 1 2 3; do
  /usr/bin/time -f '%e' -o "$RUN/time" nfdump -R "$NF" -s srcip/bytes -n 10 >"$RUN/nf.out" 2>/dev/null
  t=$(cat "$RUN/time")
  if [ -z "${BEST[nf]:-}" ] || awk -v a="$t" -v c="${BEST[nf]}" 'BEGIN{exit !(a < c)}'; then BEST[nf]=$t; fi
  read -r t _ <<<"$(best "/api/v1/profiles/all/top?from=$T0&to=$T1&field=srcip&order=bytes&n=10" 1)"
  if [ -z "${BEST[oc]:-}" ] || awk -v a="$t" -v c="${BEST[oc]}" 'BEGIN{exit !(a < c)}'; then BEST[oc]=$t; fi
done
TOTAL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["flows"])' "$RUN/answer")
[ "$TOTAL" = "$SENT" ] || { echo "the console's table counts $TOTAL flows, the store holds $SENT" >&2; exit 1; }
awk -v n="$SENT" -v a="${BEST[nf]}" -v b="${BEST[oc]}" 'BEGIN{
  a = (a > 0 ? a : 0.005); b = (b > 0 ? b : 0.005)
  printf "nfdump -s srcip/bytes: %.3f s = %.0f flows/s\n", a, n/a
  printf "console top (API):     %.3f s = %.0f flows/s (%.2fx nfdump)\n", b, n/b, a/b
  printf "an hour of 100 M flows at that rate: %.1f s\n", 1e8 / (n/b) }'

echo "== the profile page"
PAGE=0
for p in /profiles/all /assets/console.js /assets/console.css; do
  read -r _ s <<<"$(best "$p" 1)"; PAGE=$((PAGE + s))
done
echo "page + script + style: $PAGE bytes"
stop "$CONSOLE"
