#!/usr/bin/env bash
# DNS benchmark: ranah beside NSD and Knot, same zone, same queries, dnsperf on loopback.
#
#   tests/bench/dns.sh [-n "1000 10000 100000"] [-l SECONDS] [-r RUNS]
#
# For each zone size: generate the zone and a query file (tests/bench/gen_zone.py, seeded),
# then for each server in turn (only one runs at a time): start it pinned to CPU 1 with one
# worker, run dnsperf pinned to CPU 0 RUNS times for SECONDS each, stop it. Prints per server
# the median of the runs: queries/s, lost, average and max latency, the server's CPU time per
# answered query (from /proc, the server process and its children), and the ratios to NSD.
# For ranah it also prints the first start (import of the zone file), the cold start from the
# store (process start to /readyz) and resident memory after start and after the load.
#
# ranah runs with response rate limiting on, at a rate no bucket of the benchmark reaches
# (RANAH_DNS_RRL_RATE=1000000): every answer is classified and counted in its bucket, so the
# figures include its cost, and none is limited. RRL=off in the environment turns it off (for
# a comparison); NSD's own rate limiting is off.
#
# Needs dnsperf, nsd, knot and curl (installed with apt when missing). Loopback only; every
# dnsperf run is bounded by -l, every wait by a deadline.
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZES="1000 10000 100000" SECONDS_PER_RUN=10 RUNS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) SIZES=$2; shift 2 ;;
    -l) SECONDS_PER_RUN=$2; shift 2 ;;
    -r) RUNS=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $SECONDS_PER_RUN =~ ^[0-9]+$ && $SECONDS_PER_RUN -ge 1 && $SECONDS_PER_RUN -le 300 ]] || { echo "-l must be 1..300" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 9 ]] || { echo "-r must be 1..9" >&2; exit 2; }

source tests/bench/lib.sh
need_tools dnsperf=dnsperf nsd=nsd knotd=knot curl=curl taskset=util-linux dig=bind9-dnsutils

cargo build --release --locked -q
RANAH=$PWD/target/release/ranah
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for n in $SIZES; do
  dir=$WORK/$n
  mkdir -p "$dir"
  python3 tests/bench/gen_zone.py -n "$n" --origin "$ORIGIN" --zone "$dir/zone" --queries "$dir/queries"
  results=$dir/results
  : > "$results"
  scale=""
  for server in nsd knot ranah; do
    sdir=$dir/$server
    mkdir -p "$sdir"
    case $server in
      nsd) start_nsd "$sdir" "$dir/zone" ;;
      knot) start_knot "$sdir" "$dir/zone" ;;
      ranah)
        ranah_start_time "$sdir" "$dir/zone"
        first=$START_SECS
        stop_server
        ranah_start_time "$sdir" "$dir/zone"
        cold=$START_SECS
        rss_start=$(rss_kib "$SERVER_PID")
        ;;
    esac
    wait_dns "$PORT"
    runs=$dir/$server.runs
    : > "$runs"
    for _ in $(seq "$RUNS"); do measure "$dir/queries" >> "$runs"; done
    if [[ $server == ranah ]]; then
      rss_load=$(rss_kib "$SERVER_PID")
      scale="ranah at $n names: first start (import) ${first} s, cold start from the store ${cold} s, RSS after start $((rss_start / 1024)) MiB, after the load $((rss_load / 1024)) MiB"
    fi
    stop_server
    row="$server"
    for col in 1 2 3 4 5; do row="$row $(awk -v c=$col '{print $c}' "$runs" | median)"; done
    echo "$row" >> "$results"
  done
  echo
  echo "== $n names: dnsperf -c 8 -T 1 -q 100, ${SECONDS_PER_RUN} s x $RUNS runs (median), servers pinned to CPU 1"
  awk '
    NR == FNR { if ($1 == "nsd") { nq = $2; nc = $6 } next }
    FNR == 1 { printf "%-7s %10s %6s %8s %8s %8s %8s %8s\n", "server", "qps", "lost", "avg_ms", "max_ms", "cpu_us/q", "qps/nsd", "cpu/nsd" }
    { printf "%-7s %10.0f %6d %8.3f %8.3f %8.2f %8.2f %8.2f\n", $1, $2, $3, $4, $5, $6, $2 / nq, $6 / nc }
  ' "$results" "$results"
  echo "$scale"
done
