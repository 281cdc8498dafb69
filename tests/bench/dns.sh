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

declare -A need=([dnsperf]=dnsperf [nsd]=nsd [knotd]=knot [curl]=curl [taskset]=util-linux)
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
PORT=$((20000 + RANDOM % 20000))
SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ORIGIN=bench.example
CPU_TICK=$(getconf CLK_TCK)

# A process and all its descendants (NSD's server process is a grandchild).
tree() {
  local p
  echo "$1"
  for p in $(pgrep -P "$1" || true); do tree "$p"; done
}

# CPU time (user+system, in clock ticks) of a process and its descendants.
cpu_ticks() {
  local total=0 p
  for p in $(tree "$1"); do
    [[ -r /proc/$p/stat ]] || continue
    # Fields 14 and 15 after the command name (which may contain spaces).
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

wait_dns() { # port
  local deadline=$((SECONDS + 30))
  until dig +time=1 +tries=1 @127.0.0.1 -p "$1" "$ORIGIN" SOA 2>/dev/null | grep -q 'status: NOERROR'; do
    ((SECONDS < deadline)) || { echo "server on port $1 did not answer within 30 s" >&2; return 1; }
    sleep 0.1
  done
}

start_nsd() { # dir zone
  local d=$1
  cp "$2" "$d/zone"
  cat > "$d/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$PORT
    port: $PORT
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$d"
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d"
    pidfile: "$d/nsd.pid"
    logfile: "$d/log"
    verbosity: 0
    # Debian builds NSD with response rate limiting on: a benchmark from one address would
    # be throttled.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    minimal-responses: yes
remote-control:
    control-enable: no
zone:
    name: "$ORIGIN"
    zonefile: "$d/zone"
EOF
  taskset -c 1 nsd -d -c "$d/nsd.conf" >>"$d/log" 2>&1 &
  SERVER_PID=$!
}

start_knot() { # dir zone
  local d=$1
  mkdir -p "$d/db"
  cp "$2" "$d/zone"
  cat > "$d/knot.conf" <<EOF
server:
    rundir: "$d"
    listen: 127.0.0.1@$PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$d/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$d"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $ORIGIN
    file: "$d/zone"
EOF
  taskset -c 1 knotd -c "$d/knot.conf" >>"$d/log" 2>&1 &
  SERVER_PID=$!
}

start_ranah() { # dir zone
  local d=$1
  mkdir -p "$d/zones"
  [[ -f $d/zones/$ORIGIN.zone ]] || cp "$2" "$d/zones/$ORIGIN.zone"
  local rrl=true
  [[ ${RRL:-on} == off ]] && rrl=false
  RANAH_DATA_DIR="$d/data" RANAH_ZONES_DIR="$d/zones" RANAH_DNS_LISTEN="127.0.0.1:$PORT" \
    RANAH_API_LISTEN="127.0.0.1:$((PORT + 1))" RANAH_DNS_UDP_WORKERS=1 RANAH_LOG=warn \
    RANAH_DNS_RRL_ENABLED=$rrl RANAH_DNS_RRL_RATE=1000000 \
    taskset -c 1 "$RANAH" serve >>"$d/log" 2>&1 &
  SERVER_PID=$!
}

# Start ranah and set START_SECS to the seconds from process start to /readyz answering 200.
ranah_start_time() { # dir zone
  local t0 t1 deadline
  t0=$(date +%s.%N)
  start_ranah "$1" "$2"
  deadline=$((SECONDS + 120))
  until curl -sf "127.0.0.1:$((PORT + 1))/readyz" >/dev/null; do
    ((SECONDS < deadline)) || { echo "ranah not ready within 120 s" >&2; return 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  START_SECS=$(echo "$t1 - $t0" | bc)
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  sleep 0.5
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# One dnsperf run: prints "qps lost avg_ms max_ms cpu_us_per_query".
measure() { # queries
  local before after out qps lost avg max completed
  before=$(cpu_ticks "$SERVER_PID")
  out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$PORT" -d "$1" -l "$SECONDS_PER_RUN" -c 8 -T 1 -q 100 2>&1)
  after=$(cpu_ticks "$SERVER_PID")
  qps=$(awk '/Queries per second/{print $4}' <<<"$out")
  lost=$(awk '/Queries lost/{print $3}' <<<"$out")
  completed=$(awk '/Queries completed/{print $3}' <<<"$out")
  avg=$(awk '/Average Latency/{print $4 * 1000}' <<<"$out")
  max=$(awk '/Average Latency/{gsub(/[(),]/, ""); print $8 * 1000}' <<<"$out")
  echo "$qps $lost $avg $max $(echo "scale=2; ($after - $before) * 1000000 / $CPU_TICK / $completed" | bc)"
}

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
