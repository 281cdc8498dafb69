#!/usr/bin/env bash
# The oversight checker over NAMES names (default 10,000): `ranah check --all` (release build)
# against one web server on loopback (Python's threading HTTP server on 127.0.0.5; HTTPS
# refused, so each check is a refused connection on 443 and a page over HTTP), with at most
# CONNECTIONS sockets at once (default 32). Prints names checked per second, the run's time
# and the most sockets it held at once.
#
#   tests/bench/checker.sh [-n NAMES] [-c CONNECTIONS]
#
# Needs python3. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMES=10000 CONNECTIONS=32
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NAMES=$2; shift 2 ;;
    -c) CONNECTIONS=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $NAMES =~ ^[0-9]+$ && $NAMES -ge 1 && $NAMES -le 1000000 ]] || { echo "-n must be 1..1000000" >&2; exit 2; }
[[ $CONNECTIONS =~ ^[0-9]+$ && $CONNECTIONS -ge 1 && $CONNECTIONS -le 4096 ]] || { echo "-c must be 1..4096" >&2; exit 2; }

cargo build --release --locked -q
RANAH=$PWD/target/release/ranah
WORK=$(mktemp -d)
WEB=""
cleanup() {
  [[ -n $WEB ]] && kill "$WEB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

HTTP_PORT=$((20000 + RANDOM % 20000))
HTTPS_PORT=$((HTTP_PORT + 1))
mkdir -p "$WORK/site" "$WORK/zones"
echo '<h1>Dinas Kesehatan</h1>' > "$WORK/site/index.html"
python3 -m http.server --bind 127.0.0.5 --directory "$WORK/site" "$HTTP_PORT" >/dev/null 2>&1 &
WEB=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.5:$HTTP_PORT/" >/dev/null && break
  sleep 0.1
done

python3 - "$NAMES" > "$WORK/zones/example.go.id.zone" <<'PY'
import sys
n = int(sys.argv[1])
print("$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 2026010100 3600 900 1209600 300")
print("@ NS ns1.example.net.")
for i in range(n):
    print(f"h{i:06} A 127.0.0.5")
PY

export RANAH_DATA_DIR=$WORK/data RANAH_ZONES_DIR=$WORK/zones RANAH_LOG=warn
export RANAH_NAMES_ALLOW_LOOPBACK_ADDRESSES=true
export RANAH_CHECKER_MAX_CONNECTIONS=$CONNECTIONS RANAH_CHECKER_BUDGET_SECS=3600
export RANAH_CHECKER_PORTS_HTTP=$HTTP_PORT RANAH_CHECKER_PORTS_HTTPS=$HTTPS_PORT
export RANAH_CHECKER_RESOLVERS=127.0.0.1:9
unset RANAH_CONFIG
"$RANAH" zone import "$WORK/zones/example.go.id.zone" >/dev/null
"$RANAH" check --all | tee "$WORK/out"
grep -q "checked $NAMES of $NAMES names" "$WORK/out"
