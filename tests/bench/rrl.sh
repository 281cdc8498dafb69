#!/usr/bin/env bash
# Response rate limiting under a one-source flood: what the flood gets, and what an exempt
# source asking at the same time gets.
#
#   tests/bench/rrl.sh [-q FLOOD_QPS] [-e EXEMPT_QPS] [-l SECONDS]
#
# The release daemon serves a small zone with the default [dns.rrl] (200 answers a second per
# bucket, slip 2, /24) and 127.0.0.3 exempt. dnsperf floods `www` A from 127.0.0.2 at
# FLOOD_QPS (default 20000) for SECONDS (default 10) while a second dnsperf asks the same from
# 127.0.0.3 at EXEMPT_QPS (default 2000); both addresses are in 127.0.0.0/24. Prints, per
# source, the queries sent, dnsperf's completed and lost, and from /metrics the answers sent
# whole, truncated (slipped) and dropped (the exempt source's answers are counted as answered;
# the flood's share is the rest).
#
# Needs dnsperf and curl (installed with apt when missing). Loopback only; every dnsperf run is
# bounded by -l, every wait by a deadline.
set -euo pipefail
cd "$(dirname "$0")/../.."

FLOOD=20000 EXEMPT=2000 SECONDS_PER_RUN=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    -q) FLOOD=$2; shift 2 ;;
    -e) EXEMPT=$2; shift 2 ;;
    -l) SECONDS_PER_RUN=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $SECONDS_PER_RUN =~ ^[0-9]+$ && $SECONDS_PER_RUN -ge 1 && $SECONDS_PER_RUN -le 120 ]] || { echo "-l must be 1..120" >&2; exit 2; }
[[ $FLOOD =~ ^[0-9]+$ && $FLOOD -ge 1 && $EXEMPT =~ ^[0-9]+$ && $EXEMPT -ge 1 ]] || { echo "-q and -e must be positive" >&2; exit 2; }

declare -A need=([dnsperf]=dnsperf [curl]=curl)
missing=()
for t in "${!need[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("${need[$t]}"); done
if ((${#missing[@]})); then
  as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo build --release --locked -q
RANAH=$PWD/target/release/ranah
WORK=$(mktemp -d)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ORIGIN=bench.example
PORT=$((20000 + RANDOM % 20000))
API=http://127.0.0.1:$((PORT + 1))
mkdir -p "$WORK/zones"
python3 tests/bench/gen_zone.py -n 100 --origin "$ORIGIN" --zone "$WORK/zones/$ORIGIN.zone" \
  --queries /dev/null --count 1
echo "host000001.$ORIGIN A" > "$WORK/queries"

RANAH_DATA_DIR="$WORK/data" RANAH_ZONES_DIR="$WORK/zones" RANAH_DNS_LISTEN="127.0.0.1:$PORT" \
  RANAH_API_LISTEN="127.0.0.1:$((PORT + 1))" RANAH_LOG=info RANAH_DNS_RRL_EXEMPT=127.0.0.3 \
  "$RANAH" serve >"$WORK/log" 2>&1 &
PID=$!
deadline=$((SECONDS + 60))
until curl -sf "$API/readyz" >/dev/null; do
  ((SECONDS < deadline)) || { echo "ranah not ready within 60 s" >&2; cat "$WORK/log" >&2; exit 1; }
  sleep 0.1
done

# answered slipped dropped, summed over kinds.
counts() {
  curl -sf "$API/metrics" | awk '
    /^ranah_dns_rrl_responses_total/ {
      split($0, a, "action=\""); split(a[2], b, "\""); n[b[1]] += $NF
    }
    END { printf "%d %d %d\n", n["answered"], n["slipped"], n["dropped"] }'
}

perf() { # source qps
  dnsperf -a "$1" -s 127.0.0.1 -p "$PORT" -d "$WORK/queries" -l "$SECONDS_PER_RUN" -Q "$2" \
    -c 4 -q 50000 -t 1 2>&1
}

read -r a0 s0 d0 < <(counts)
perf 127.0.0.3 "$EXEMPT" > "$WORK/exempt.out" &
EXEMPT_PID=$!
perf 127.0.0.2 "$FLOOD" > "$WORK/flood.out"
wait "$EXEMPT_PID"
# The last answers are counted after their batch: wait until the counts match what was sent.
field() { awk -v k="$2" '$0 ~ k {print $3; exit}' "$1"; }
sent=$(( $(field "$WORK/flood.out" "Queries sent") + $(field "$WORK/exempt.out" "Queries sent") ))
deadline=$((SECONDS + 10))
while :; do
  read -r a1 s1 d1 < <(counts)
  (( a1 - a0 + s1 - s0 + d1 - d0 >= sent )) && break
  ((SECONDS < deadline)) || { echo "metrics count $((a1 - a0 + s1 - s0 + d1 - d0)) of $sent answers" >&2; break; }
  sleep 0.1
done
answered=$((a1 - a0)) slipped=$((s1 - s0)) dropped=$((d1 - d0))
exempt_completed=$(field "$WORK/exempt.out" "Queries completed")

echo "== rate limiting, default [dns.rrl] (rate 200, slip 2), ${SECONDS_PER_RUN} s"
printf "%-22s %8s %8s %10s %8s %10s %8s %8s\n" source qps sent completed lost answered slipped dropped
printf "%-22s %8s %8s %10s %8s %10s %8s %8s\n" "127.0.0.2 (flood)" "$FLOOD" \
  "$(field "$WORK/flood.out" "Queries sent")" "$(field "$WORK/flood.out" "Queries completed")" \
  "$(field "$WORK/flood.out" "Queries lost")" "$((answered - exempt_completed))" "$slipped" "$dropped"
printf "%-22s %8s %8s %10s %8s %10s %8s %8s\n" "127.0.0.3 (exempt)" "$EXEMPT" \
  "$(field "$WORK/exempt.out" "Queries sent")" "$exempt_completed" \
  "$(field "$WORK/exempt.out" "Queries lost")" "$exempt_completed" 0 0
echo "expected for the flood: about 200 + 200 x ${SECONDS_PER_RUN} answered; of the rest, half slipped, half dropped"
grep -m1 "response rate limiting: answers" "$WORK/log" || true
