#!/usr/bin/env bash
# Floods a release build of ranah, on its built-in limits, as an attacker would, and prints what
# it cost: the figures of docs/performance.md, "Floods".
#
#   tests/bench/flood.sh [-a QUERIES] [-i CONNECTIONS]
#
# 1. QUERIES (default 300000) AXFR queries for random names over TCP: /metrics series and size,
#    RSS, descriptors and log size before and after (they must stay flat).
# 2. CONNECTIONS (default 20000) idle HTTP connections from one source, then from 250 sources,
#    then idle DNS-over-TCP connections from one source: how many the daemon holds, whether a
#    fresh client is answered meanwhile, and when the held ones are closed.
#
# The daemon runs with a temporary data directory and only listen addresses set (free ports on
# 127.0.0.1) and this shell's limit of open files; the client raises its own. Loopback only; every loop of
# tests/bench/flood.py ends by a deadline.
set -euo pipefail
cd "$(dirname "$0")/../.."

QUERIES=300000 CONNECTIONS=20000
while [[ $# -gt 0 ]]; do
  case "$1" in
    -a) QUERIES=$2; shift 2 ;;
    -i) CONNECTIONS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $QUERIES =~ ^[0-9]+$ && $QUERIES -ge 1 && $QUERIES -le 1000000 ]] || { echo "-a must be 1..1000000" >&2; exit 2; }
[[ $CONNECTIONS =~ ^[0-9]+$ && $CONNECTIONS -ge 1 && $CONNECTIONS -le 25000 ]] || { echo "-i must be 1..25000" >&2; exit 2; }

cargo build --release --locked -q
RANAH=$PWD/target/release/ranah
WORK=$(mktemp -d)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

DNS_PORT=$((20000 + RANDOM % 20000))
API_PORT=$((DNS_PORT + 1))
mkdir -p "$WORK/zones"
cat >"$WORK/zones/example.go.id.zone" <<'EOF'
$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010100 3600 900 1209600 300
@ NS ns1
ns1 A 203.0.113.2
www A 203.0.113.10
EOF

start() {
  # The daemon keeps this shell's limit of open files (it raises its soft limit to the hard
  # one); the client raises its own above CONNECTIONS.
  RANAH_DATA_DIR=$WORK/data RANAH_ZONES_DIR=$WORK/zones \
    RANAH_DNS_LISTEN=127.0.0.1:$DNS_PORT RANAH_API_LISTEN=127.0.0.1:$API_PORT \
    "$RANAH" serve >>"$WORK/ranah.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  cat "$WORK/ranah.log"
  exit 1
}
flood() { python3 tests/bench/flood.py "$@" --pid "$PID" --dns "127.0.0.1:$DNS_PORT" --api "127.0.0.1:$API_PORT"; }
log_size() { echo "log: $(wc -l <"$WORK/ranah.log") lines, $(wc -c <"$WORK/ranah.log") bytes"; }

start
grep -E "open files" "$WORK/ranah.log" || true
echo "== $QUERIES refused AXFR queries for random names"
log_size
flood axfr -n "$QUERIES"
log_size
grep -E "zone transfer refused" "$WORK/ranah.log" || true

echo "== $CONNECTIONS idle HTTP connections from one source"
flood idle -n "$CONNECTIONS" --sources 1 --target api
echo "== $CONNECTIONS idle HTTP connections from 250 sources"
flood idle -n "$CONNECTIONS" --sources 250 --target api
echo "== $CONNECTIONS idle DNS-over-TCP connections from one source"
flood idle -n "$CONNECTIONS" --sources 1 --target dns
log_size
kill "$PID"
wait "$PID" || true
PID=""
log_size
grep -E "suppressed" "$WORK/ranah.log" | tail -5 || true
