# Shared by tests/bench/dns.sh and tests/bench/dnssec.sh (sourced, not run): installing the
# peers, starting NSD, Knot and ranah pinned to CPU 1, reading their CPU time and memory from
# /proc, one dnsperf run pinned to CPU 0.
#
# The sourcing script sets RANAH (the binary), WORK (a temporary directory), PORT (DNS; ranah's
# API listens on PORT + 1) and SECONDS_PER_RUN; SERVER_PID is the server being measured.

ORIGIN=bench.example
CPU_TICK=$(getconf CLK_TCK)
SERVER_PID=""

# Install the missing tools with apt: arguments are command=package pairs.
need_tools() {
  local pair missing=()
  for pair in "$@"; do command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}"); done
  ((${#missing[@]})) || return 0
  local as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

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

# Proportional set size of a process and its descendants, in KiB: NSD forks its server from
# a parent holding the same zone, and the sum of their RSS would count shared pages twice.
pss_kib() {
  local total=0 p k
  for p in $(tree "$1"); do
    k=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    total=$((total + ${k:-0}))
  done
  echo "$total"
}

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
  cat > "$d/nsd.conf" <<CONF
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
CONF
  taskset -c 1 nsd -d -c "$d/nsd.conf" >>"$d/log" 2>&1 &
  SERVER_PID=$!
}

# Knot serving the zone file; with "sign" as third argument Knot signs it itself, with the
# policy ranah uses by default (ECDSA P-256 CSK, NSEC3 without salt, opt-out or iterations).
start_knot() { # dir zone [sign]
  local d=$1 policy="" signing=""
  mkdir -p "$d/db"
  cp "$2" "$d/zone"
  if [[ ${3:-} == sign ]]; then
    policy="policy:
  - id: csk
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
    nsec3-opt-out: off"
    signing="    dnssec-signing: on
    dnssec-policy: csk"
  fi
  cat > "$d/knot.conf" <<CONF
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
$policy
template:
  - id: default
    storage: "$d"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $ORIGIN
    file: "$d/zone"
$signing
CONF
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
  # Signing 100,000 names on the one core the server is pinned to takes most of a minute.
  deadline=$((SECONDS + 300))
  until curl -sf "127.0.0.1:$((PORT + 1))/readyz" >/dev/null; do
    ((SECONDS < deadline)) || { echo "ranah not ready within 300 s" >&2; return 1; }
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

# One dnsperf run: prints "qps lost avg_ms max_ms cpu_us_per_query". Further arguments go to
# dnsperf (-B for a binary query file).
measure() { # queries [dnsperf args]
  local before after out qps lost avg max completed queries=$1
  shift
  before=$(cpu_ticks "$SERVER_PID")
  out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$PORT" -d "$queries" -l "$SECONDS_PER_RUN" -c 8 -T 1 -q 100 "$@" 2>&1)
  after=$(cpu_ticks "$SERVER_PID")
  qps=$(awk '/Queries per second/{print $4}' <<<"$out")
  lost=$(awk '/Queries lost/{print $3}' <<<"$out")
  completed=$(awk '/Queries completed/{print $3}' <<<"$out")
  avg=$(awk '/Average Latency/{print $4 * 1000}' <<<"$out")
  max=$(awk '/Average Latency/{gsub(/[(),]/, ""); print $8 * 1000}' <<<"$out")
  echo "$qps $lost $avg $max $(echo "scale=2; ($after - $before) * 1000000 / $CPU_TICK / $completed" | bc)"
}
