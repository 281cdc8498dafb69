# shellcheck shell=bash
# Shared by tests/bench/dns.sh and tests/bench/dnssec.sh (sourced, not run): installing the
# peers, starting NSD, Knot and ranah pinned to their CPUs, timing their start, reading their
# CPU time and memory from /proc, one dnsperf run pinned to the client's CPUs.
#
# The sourcing script sets RANAH (the binary), WORK (a temporary directory), PORT (DNS; ranah's
# API listens on PORT + 1) and SECONDS_PER_RUN; SERVER_PID is the server being measured. The
# servers start with WORKERS workers on SERVER_CPUS, dnsperf runs on CLIENT_CPUS with the
# arguments DNSPERF_LOAD: by default one worker on CPU 1 and dnsperf -c 8 -T 1 -q 100 on CPU 0;
# dns.sh changes them for its two-core run.

# shellcheck disable=SC2034 # START_*, CLIENT_CPUS and the like are read by the sourcing scripts
ORIGIN=bench.example
CPU_TICK=$(getconf CLK_TCK)
SERVER_PID=""
START_T0=""
WORKERS=1
SERVER_CPUS=1
CLIENT_CPUS=0
DNSPERF_LOAD=(-c 8 -T 1 -q 100)

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

# Resident set size summed over a process and its descendants, in KiB (pages shared between
# them, like the zone NSD's parent shares with its forked server, are counted in each).
rss_tree_kib() {
  local total=0 p k
  for p in $(tree "$1"); do
    k=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${k:-0}))
  done
  echo "$total"
}

# The peak resident set size (VmHWM) of the largest process of the tree, in KiB.
peak_kib() {
  local peak=0 p k
  for p in $(tree "$1"); do
    k=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    ((${k:-0} <= peak)) || peak=$k
  done
  echo "$peak"
}

# Whether a process exists and has not exited (a child that exited stays a zombie until waited).
alive() {
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [[ -n $state && $state != Z ]]
}

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

# Whether the server on PORT answers the zone's SOA with this serial.
soa_serial_ok() { # port serial
  dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "$ORIGIN" SOA 2>/dev/null |
    awk -v s="$2" '$3 == s { ok = 1 } END { exit !ok }'
}

# Prints the seconds from T0 (an $EPOCHREALTIME) until the command succeeds, trying every 10 ms
# (each try waits for its command: dig takes about 30 ms to start and ask). Fails when the
# server has exited or at the deadline.
seconds_until() { # t0 deadline_seconds command...
  local t0=$1 limit=$2 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    alive "$SERVER_PID" || { echo "the server exited before: $*" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "not within $limit s: $*" >&2; return 1; }
    sleep 0.01
  done
  awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
}

# Start a server (nsd, knot or ranah) and time its start: START_DNS is the seconds from its
# process start until it answers the zone's SOA with SERIAL; START_READY (ranah; "-" for the
# others) until its /readyz answers 200. Both are polled at once, each by its own loop.
timed_start() { # server dir zone serial deadline_seconds
  local dns_poll ready_poll=""
  "start_$1" "$2" "$3"
  seconds_until "$START_T0" "$5" soa_serial_ok "$PORT" "$4" > "$2/start.dns" &
  dns_poll=$!
  if [[ $1 == ranah ]]; then
    seconds_until "$START_T0" "$5" curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$((PORT + 1))/readyz" > "$2/start.ready" &
    ready_poll=$!
  fi
  if ! wait "$dns_poll" || { [[ -n $ready_poll ]] && ! wait "$ready_poll"; }; then
    echo "$1 did not start (the end of its log, $2/log):" >&2
    tail -n 20 "$2/log" >&2 || true
    return 1
  fi
  START_DNS=$(<"$2/start.dns")
  START_READY=-
  [[ -z $ready_poll ]] || START_READY=$(<"$2/start.ready")
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
    server-count: $WORKERS
    # One socket per server process, as Knot and ranah have one per worker.
    reuseport: $([[ $WORKERS -gt 1 ]] && echo yes || echo no)
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
  START_T0=$EPOCHREALTIME
  taskset -c "$SERVER_CPUS" nsd -d -c "$d/nsd.conf" >>"$d/log" 2>&1 &
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
    udp-workers: $WORKERS
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
  START_T0=$EPOCHREALTIME
  taskset -c "$SERVER_CPUS" knotd -c "$d/knot.conf" >>"$d/log" 2>&1 &
  SERVER_PID=$!
}

start_ranah() { # dir zone
  local d=$1
  mkdir -p "$d/zones"
  [[ -f $d/zones/$ORIGIN.zone ]] || cp "$2" "$d/zones/$ORIGIN.zone"
  local rrl=true
  [[ ${RRL:-on} == off ]] && rrl=false
  START_T0=$EPOCHREALTIME
  RANAH_DATA_DIR="$d/data" RANAH_ZONES_DIR="$d/zones" RANAH_DNS_LISTEN="127.0.0.1:$PORT" \
    RANAH_API_LISTEN="127.0.0.1:$((PORT + 1))" RANAH_DNS_UDP_WORKERS=$WORKERS RANAH_LOG=warn \
    RANAH_DNS_RRL_ENABLED=$rrl RANAH_DNS_RRL_RATE=1000000 \
    taskset -c "$SERVER_CPUS" "$RANAH" serve >>"$d/log" 2>&1 &
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

# Stop the server (SIGTERM) and wait until every process of its tree has exited, at most 60 s
# (then SIGKILL): the next server binds the same port.
stop_server() {
  local pids p deadline=$((SECONDS + 60))
  [[ -n $SERVER_PID ]] || return 0
  pids=$(tree "$SERVER_PID")
  kill "$SERVER_PID" 2>/dev/null || true
  for p in $pids; do
    while alive "$p"; do
      if ((SECONDS >= deadline)); then
        echo "server $SERVER_PID did not stop within 60 s: killed" >&2
        # shellcheck disable=SC2086 # a list of process ids
        kill -9 $pids 2>/dev/null || true
        break 2
      fi
      sleep 0.02
    done
  done
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# The figures of one dnsperf run, from its output and the server's CPU ticks meanwhile:
# "qps lost avg_ms max_ms cpu_us_per_query completed other_rcodes run_seconds", where
# other_rcodes counts the answers neither NOERROR nor NXDOMAIN (FORMERR, SERVFAIL, REFUSED...).
dnsperf_figures() { # output ticks
  awk -v ticks="$2" -v hz="$CPU_TICK" '
    /Queries completed:/ { c = $3 }
    /Queries lost:/ { l = $3 }
    /Queries per second:/ { q = $4 }
    /Run time \(s\):/ { t = $4 }
    /Response codes:/ {
      sub(/.*Response codes: */, "")
      n = split($0, rc, /, */)
      for (i = 1; i <= n; i++) { split(rc[i], f, " "); if (f[1] != "NOERROR" && f[1] != "NXDOMAIN") other += f[2] }
    }
    /Average Latency/ { a = $4 * 1000; gsub(/[(),]/, ""); m = $8 * 1000 }
    END {
      if (c == "" || q == "") exit 1
      printf "%s %s %.3f %.3f %.2f %s %d %s\n", q, l, a, m, (c > 0 ? ticks * 1e6 / hz / c : 0), c, other, t
    }' <<<"$1"
}

# One dnsperf run of SECONDS_PER_RUN: prints the figures above. Further arguments go to dnsperf
# (-B for a binary query file, -n 1 to send the file at most once).
measure() { # queries [dnsperf args]
  local before after out queries=$1
  shift
  before=$(cpu_ticks "$SERVER_PID")
  out=$(taskset -c "$CLIENT_CPUS" dnsperf -s 127.0.0.1 -p "$PORT" -d "$queries" -l "$SECONDS_PER_RUN" \
    "${DNSPERF_LOAD[@]}" "$@" 2>&1)
  after=$(cpu_ticks "$SERVER_PID")
  dnsperf_figures "$out" $((after - before)) || { echo "dnsperf failed: $out" >&2; return 1; }
}

# The sum of a metric's series in ranah's /metrics (every label set), or n/a when it has none.
metric_sum() { # name
  { curl -sf --max-time 5 "http://127.0.0.1:$((PORT + 1))/metrics" || true; } | awk -v n="$1" '
    index($0, n " ") == 1 || index($0, n "{") == 1 { s += $NF; found = 1 }
    END { if (found) printf "%.0f\n", s; else print "n/a" }'
}
