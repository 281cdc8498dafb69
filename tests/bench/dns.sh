#!/usr/bin/env bash
# DNS benchmark: ranah beside NSD and Knot, the same unsigned zone, the same queries, dnsperf on
# loopback. One command prints the whole comparison, a few tables per zone size, headed by the
# date and the command line (paste the output into docs/performance.md as one dated run).
#
#   tests/bench/dns.sh [-n "10000 100000"] [-l SECONDS] [-r RUNS]
#   RANAH=path/to/ranah tests/bench/dns.sh ...   # that binary instead of a release build
#                                                # (RANAH_BIN too, as for dnssec.sh)
#
# Per zone size, tests/bench/gen_zone.py (seeded: every server and every run sees the same
# queries) writes the zone, the mixed query file (80 % existing names, 10 % names that do not
# exist, 10 % other types; max(100,000, names) queries) and the attack files; the random names
# are written once for all sizes. The servers run one at a time on the same port. ranah runs
# with RANAH_DNSSEC_ENABLED=false (the peers serve the zone unsigned; tests/bench/dnssec.sh is
# the signed comparison) and with response rate limiting on at a rate no bucket reaches
# (RANAH_DNS_RRL_RATE=1000000: every answer is classified and counted, none limited; RRL=off
# in the environment turns it off); NSD's own rate limiting is off.
#
# Tables, per size:
# start    Seconds from the server's process start until it answers the zone's SOA with the
#          zone's serial (dig, tried every 10 ms: about 30 ms of resolution). ranah twice: its
#          first start (import of the zone file into an empty data directory) and a restart
#          from its store, each with the time to its SOA answer and to /readyz answering 200,
#          polled at once. Servers pinned to CPU 1, as for the one-core runs. peak: the peak
#          resident size (VmHWM) of the server's largest process; pss, rss as below, right
#          after the start.
# memory   After the start (ranah: the restart from its store) and after the load (every
#          one-core run below: the mixed runs, the attack mixes, ranah's cache run). pss is the
#          proportional set size summed over the server's processes (/proc/PID/smaps_rollup):
#          NSD forks its server from a parent holding the same zone, and pages they share are
#          counted once, split between them; Knot and ranah are one process each, whose PSS
#          differs from their RSS only by the shared libraries' pages, divided among the
#          processes mapping them. rss, summed over the same processes, counts shared pages
#          in each. B/name: pss after the load per name of the zone.
# one core The mixed queries: each server pinned to CPU 1 with one worker (NSD server-count: 1,
#          Knot udp-workers: 1, ranah RANAH_DNS_UDP_WORKERS=1), dnsperf -c 8 -T 1 -q 100 pinned
#          to CPU 0. RUNS runs of SECONDS, the median of each column: queries/s, lost, average
#          and max latency, the server's CPU time per answered query (user+system from /proc,
#          the server and its descendants), ratios to NSD.
# attacks  As the one-core runs, three mixes, each against the same server's mixed rate (× mixed)
#          and NSD's rate of the same mix: nxdomain, 100 % random names that do not exist (each
#          run its own file, sent once, -n 1: no name repeats); case, 100 % existing names with
#          random letter case; edns, the mixed queries each with EDNS carrying 1-3 options of
#          codes 65001-65534 with 0-32 random bytes, a quarter with a client COOKIE, a quarter
#          PADDING (dnsperf -B, binary queries). errors: answers neither NOERROR nor NXDOMAIN.
# two cores Each server restarted with two workers (NSD server-count: 2 with reuseport: yes,
#          Knot udp-workers: 2, ranah RANAH_DNS_UDP_WORKERS=2), the server and dnsperf both on
#          CPUs 0,1: they share the two cores, and what dnsperf spends the server cannot, so
#          the server that spends less per query answers more. dnsperf -c 16 -T 2 -q 200: two
#          threads, so the load generator is not held to one core while the workers wait; 16
#          sockets (source ports), so the kernel's SO_REUSEPORT hash spreads the queries over
#          both workers' sockets; 200 queries outstanding, twice the one-core run's, so
#          neither worker waits for work (more, -T 4 or -q 500, lost queries to dnsperf's
#          timeout in trials here). 2c/1c: over the same server's one-core mixed rate.
# cores busy The server's CPU time per second of the run (queries/s x CPU per query), in
#          cores: below 1 on one core, the server was not the limit.
# cache    ranah alone, one core: its answer cache's hit rate for the mixed queries alone (a
#          run of SECONDS), then with the random-name flood beside them (two dnsperf processes
#          on CPU 0 for SECONDS, the flood from its own file, sent once). From /metrics:
#          ranah_dns_answer_cache_hits_total and _misses_total. Alone: delta hits / delta
#          (hits + misses). With the flood: delta hits / mixed queries completed, since the
#          flood's names never repeat and cannot hit, so every hit is the mixed stream's; "n/a"
#          when the binary has no such counters.
#
# -n sizes 20..1,000,000 (starts wait up to 60 s + 1 s per 2,000 names), -l 1..300, -r 1..9.
# Needs dnsperf, nsd, knot, dig and curl (installed with apt when missing). Loopback only;
# every dnsperf run is bounded by -l, every wait by a deadline; the servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
COMMAND="tests/bench/dns.sh$(printf ' %q' "$@")"

SIZES="10000 100000" SECONDS_PER_RUN=10 RUNS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) SIZES=$2; shift 2 ;;
    -l) SECONDS_PER_RUN=$2; shift 2 ;;
    -r) RUNS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $SECONDS_PER_RUN =~ ^[0-9]+$ && $SECONDS_PER_RUN -ge 1 && $SECONDS_PER_RUN -le 300 ]] || { echo "-l must be 1..300" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 9 ]] || { echo "-r must be 1..9" >&2; exit 2; }
for n in $SIZES; do
  [[ $n =~ ^[0-9]+$ && $n -ge 20 && $n -le 1000000 ]] || { echo "-n sizes must be 20..1000000" >&2; exit 2; }
done

source tests/bench/lib.sh
need_tools dnsperf=dnsperf nsd=nsd knotd=knot curl=curl taskset=util-linux dig=bind9-dnsutils

RANAH=${RANAH:-${RANAH_BIN:-}}
if [[ -n $RANAH ]]; then
  [[ -x $RANAH ]] || { echo "RANAH=$RANAH is not an executable" >&2; exit 2; }
  built="the binary given in RANAH, modified $(date -u -r "$RANAH" '+%F %H:%M UTC')"
else
  cargo build --release --locked -q
  RANAH=${CARGO_TARGET_DIR:-$PWD/target}/release/ranah
  built="release build of $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ', with uncommitted changes')"
fi
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
CLIENTS=()
cleanup() {
  local p
  for p in "${CLIENTS[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The script, its pollers and the query generator stay off the servers' core (CPU 1).
taskset -pc 0 $$ >/dev/null
# The peers serve the zone unsigned: so does ranah here (checked after its first start).
export RANAH_DNSSEC_ENABLED=false

MIXED_LOAD=("${DNSPERF_LOAD[@]}")
TWO_CORE_LOAD=(-c 16 -T 2 -q 200)

# Random names that do not exist, never repeated: one file per attack run and one for the
# cache's flood, each enough for this machine's fastest server (about 200,000 queries/s on
# one core) for -l seconds, at most 5 million (dnsperf stops early if a file runs out, the
# rate stays right: "ran" in the notes says so).
nx_count=$((250000 * SECONDS_PER_RUN))
((nx_count <= 5000000)) || nx_count=5000000
nx_args=()
for k in $(seq "$RUNS") flood; do nx_args+=(--nxdomain "$WORK/nx.$k"); done
python3 tests/bench/gen_zone.py --origin "$ORIGIN" --nxdomain-count "$nx_count" "${nx_args[@]}"

echo "### $(date -u '+%F %H:%M UTC'), \`$COMMAND\`"
echo
echo "ranah $("$RANAH" --version | awk '{print $2}') ($built), NSD $(nsd -v 2>&1 | awk '/version/{print $3; exit}')," \
  "Knot $(knotd -V | awk '{print $NF}'), dnsperf $(dnsperf -h 2>&1 | awk '/^Version/{print $2}'), $(nproc --all) CPUs, Linux $(uname -r)." \
  "The unsigned zone; medians of $RUNS runs of $SECONDS_PER_RUN s; memory in MiB (pss: proportional set size summed" \
  "over the server's processes, rss: resident set size summed likewise)."

# Median of each of the first 8 columns of a file of measure lines.
medians() { # file
  local c row=""
  for c in 1 2 3 4 5 6 7 8; do row="$row $(awk -v c=$c '{print $c}' "$1" | median)"; done
  echo "${row# }"
}
# Whether a dnsperf run ended half a second or more before -l (its query file ran out).
short_run() { awk -v r="$1" -v l="$SECONDS_PER_RUN" 'BEGIN { exit !(r < l - 0.5) }'; }
size_mib() { awk -v b="$1" 'BEGIN { if (b == "n/a") print b; else printf "%.1f", b / 1048576 }'; }

# Tab-separated rows (the first the header) as a Markdown table, columns padded to align
# (widths in characters: awk may count UTF-8 bytes); columns of numbers are aligned right.
md_table() {
  awk -F '\t' '
    function width(s, t) { t = s; return length(s) - gsub(/[\200-\277]/, "", t) }
    function pad(s, n, right, f) { f = sprintf("%" (n - width(s)) "s", ""); return right ? f s : s f }
    {
      for (i = 1; i <= NF; i++) {
        cell[NR, i] = $i
        if (width($i) > w[i]) w[i] = width($i)
        if (NR > 1 && $i ~ /^-?[0-9.]+( %)?$/) num[i] = 1
        if (NR > 1 && $i !~ /^-?[0-9.]+( %)?$/ && $i != "-" && $i != "n/a") text[i] = 1
      }
      if (NF > nf) nf = NF
    }
    END {
      for (r = 1; r <= NR; r++) {
        line = "|"
        for (i = 1; i <= nf; i++) line = line " " pad(cell[r, i], w[i], num[i] && !text[i]) " |"
        print line
        if (r > 1) continue
        line = "|"
        for (i = 1; i <= nf; i++) {
          d = sprintf("%" w[i] "s", ""); gsub(/ /, "-", d)
          line = line " " (num[i] && !text[i] ? substr(d, 2) ":" : d) " |"
        }
        print line
      }
    }'
}

for n in $SIZES; do
  dir=$WORK/$n
  mkdir -p "$dir"
  count=$((n > 100000 ? n : 100000))
  python3 tests/bench/gen_zone.py -n "$n" --origin "$ORIGIN" --count "$count" --zone "$dir/zone" \
    --queries "$dir/queries" --random-case "$dir/case" --edns-options "$dir/edns"
  serial=$(awk '$3 == "SOA" { print $6; exit }' "$dir/zone")
  limit=$((60 + n / 2000))
  : > "$dir/start" ; : > "$dir/memory" ; : > "$dir/one" ; : > "$dir/attacks" ; : > "$dir/two"
  notes=()
  for server in nsd knot ranah; do
    sdir=$dir/$server
    mkdir -p "$sdir"
    # One core: start (timed), the mixed runs, ranah's cache run, the attack mixes.
    WORKERS=1 SERVER_CPUS=1 CLIENT_CPUS=0 DNSPERF_LOAD=("${MIXED_LOAD[@]}")
    timed_start "$server" "$sdir" "$dir/zone" "$serial" "$limit"
    if [[ $server == ranah ]]; then
      if dig +dnssec +norec +time=2 +tries=2 @127.0.0.1 -p "$PORT" "$ORIGIN" SOA | grep -q "RRSIG[[:space:]]*SOA"; then
        echo "ranah signs the zone although RANAH_DNSSEC_ENABLED=false: the comparison would not be fair" >&2
        exit 1
      fi
      echo "ranah import,_empty_store $START_DNS $START_READY $(peak_kib "$SERVER_PID") $(pss_kib "$SERVER_PID") $(rss_tree_kib "$SERVER_PID")" >> "$dir/start"
      stop_server
      timed_start ranah "$sdir" "$dir/zone" "$serial" "$limit"
      echo "ranah restart_from_store $START_DNS $START_READY $(peak_kib "$SERVER_PID") $(pss_kib "$SERVER_PID") $(rss_tree_kib "$SERVER_PID")" >> "$dir/start"
    else
      echo "$server zone_file $START_DNS - $(peak_kib "$SERVER_PID") $(pss_kib "$SERVER_PID") $(rss_tree_kib "$SERVER_PID")" >> "$dir/start"
    fi
    mem_start="$(pss_kib "$SERVER_PID") $(rss_tree_kib "$SERVER_PID")"

    : > "$sdir/mixed.runs"
    for _ in $(seq "$RUNS"); do measure "$dir/queries" >> "$sdir/mixed.runs"; done
    read -r -a mixed <<<"$(medians "$sdir/mixed.runs")"
    echo "$server ${mixed[*]}" >> "$dir/one"
    echo "$server mixed ${mixed[*]}" >> "$dir/attacks"

    if [[ $server == ranah ]]; then
      # The answer cache: the mixed queries alone, then with the random-name flood beside them.
      h0=$(metric_sum ranah_dns_answer_cache_hits_total)
      m0=$(metric_sum ranah_dns_answer_cache_misses_total)
      out=$(measure "$dir/queries")
      read -r -a alone <<<"$out"
      h1=$(metric_sum ranah_dns_answer_cache_hits_total)
      m1=$(metric_sum ranah_dns_answer_cache_misses_total)
      taskset -c 0 dnsperf -s 127.0.0.1 -p "$PORT" -d "$dir/queries" -l "$SECONDS_PER_RUN" "${MIXED_LOAD[@]}" > "$sdir/cache.mixed" 2>&1 &
      CLIENTS+=("$!")
      taskset -c 0 dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/nx.flood" -n 1 -l "$SECONDS_PER_RUN" "${MIXED_LOAD[@]}" > "$sdir/cache.flood" 2>&1 &
      CLIENTS+=("$!")
      wait "${CLIENTS[@]}"
      CLIENTS=()
      h2=$(metric_sum ranah_dns_answer_cache_hits_total)
      m2=$(metric_sum ranah_dns_answer_cache_misses_total)
      out=$(dnsperf_figures "$(<"$sdir/cache.mixed")" 0) || { cat "$sdir/cache.mixed" >&2; exit 1; }
      read -r -a with_mixed <<<"$out"
      out=$(dnsperf_figures "$(<"$sdir/cache.flood")" 0) || { cat "$sdir/cache.flood" >&2; exit 1; }
      read -r -a with_flood <<<"$out"
      ! short_run "${with_flood[7]}" ||
        notes+=("the flood beside the mixed queries ran out of names after ${with_flood[7]} s of the $SECONDS_PER_RUN s")
      cache_bytes=$(metric_sum ranah_dns_answer_cache_bytes)
      cache_limit=$(metric_sum ranah_dns_answer_cache_limit_bytes)
      {
        echo "alone ${alone[0]} ${alone[1]} - - $h0 $m0 $h1 $m1 ${alone[5]}"
        echo "flood ${with_mixed[0]} ${with_mixed[1]} ${with_flood[0]} ${with_flood[7]} $h1 $m1 $h2 $m2 ${with_mixed[5]}"
      } > "$dir/cache"
    fi

    for mix in nxdomain case edns; do
      : > "$sdir/$mix.runs"
      for k in $(seq "$RUNS"); do
        case $mix in
          nxdomain) measure "$WORK/nx.$k" -n 1 ;;
          case) measure "$dir/case" ;;
          edns) measure "$dir/edns" -B ;;
        esac >> "$sdir/$mix.runs"
      done
      echo "$server $mix $(medians "$sdir/$mix.runs")" >> "$dir/attacks"
    done
    ran=$(awk '{ print $8 }' "$sdir/nxdomain.runs" | median)
    ! short_run "$ran" ||
      notes+=("$server: the random-name file ran out after $ran s of the $SECONDS_PER_RUN s (its rate is over that time)")
    echo "$server $mem_start $(pss_kib "$SERVER_PID") $(rss_tree_kib "$SERVER_PID")" >> "$dir/memory"
    stop_server

    # Two cores: two workers, the server and dnsperf on CPUs 0 and 1.
    WORKERS=2 SERVER_CPUS=0,1 CLIENT_CPUS=0,1 DNSPERF_LOAD=("${TWO_CORE_LOAD[@]}")
    timed_start "$server" "$sdir" "$dir/zone" "$serial" "$limit"
    : > "$sdir/two.runs"
    for _ in $(seq "$RUNS"); do measure "$dir/queries" >> "$sdir/two.runs"; done
    echo "$server $(medians "$sdir/two.runs")" >> "$dir/two"
    stop_server
  done

  echo
  echo "**$n names: start** (one worker on CPU 1; seconds from the process start to the SOA answer with the zone's serial, and to /readyz 200; peak: VmHWM; memory in MiB right after)"
  echo
  awk '
    BEGIN { OFS = "\t"; print "server", "start", "SOA answered", "/readyz 200", "peak", "pss", "rss" }
    {
      gsub(/_/, " ", $2)
      print $1, $2, sprintf("%.3f", $3), ($4 == "-" ? "-" : sprintf("%.3f", $4)), mib($5), mib($6), mib($7)
    }
    function mib(k) { return sprintf("%.1f", k / 1024) }
  ' "$dir/start" | md_table
  echo
  echo "**$n names: memory**, MiB, after the start (ranah: the restart) and after the load (every one-core run)"
  echo
  awk -v n="$n" '
    NR == FNR { if ($1 == "knot") { ks = $2; kl = $4 } next }
    FNR == 1 { OFS = "\t"; print "server", "pss start", "rss start", "pss load", "rss load", "pss start / Knot", "pss load / Knot", "B/name (pss load)" }
    {
      print $1, mib($2), mib($3), mib($4), mib($5), sprintf("%.2f", $2 / ks), sprintf("%.2f", $4 / kl), sprintf("%.0f", $4 * 1024 / n)
    }
    function mib(k) { return sprintf("%.1f", k / 1024) }
  ' "$dir/memory" "$dir/memory" | md_table
  echo
  echo "**$n names: one core**, mixed queries (server on CPU 1 with one worker, dnsperf ${MIXED_LOAD[*]} on CPU 0)"
  echo
  awk '
    NR == FNR { if ($1 == "nsd") { nq = $2; nc = $6 } next }
    FNR == 1 { OFS = "\t"; print "server", "queries/s", "lost", "avg ms", "max ms", "CPU µs/query", "cores busy", "qps / NSD", "CPU / NSD" }
    { print $1, sprintf("%.0f", $2), $3, sprintf("%.3f", $4), sprintf("%.3f", $5), sprintf("%.2f", $6), sprintf("%.2f", $2 * $6 / 1e6), sprintf("%.2f", $2 / nq), sprintf("%.2f", $6 / nc) }
  ' "$dir/one" "$dir/one" | md_table
  echo
  echo "**$n names: attack mixes**, one core as above (× mixed: over the same server's mixed rate; errors: answers neither NOERROR nor NXDOMAIN)"
  echo
  awk '
    NR == FNR { if ($2 == "mixed") mq[$1] = $3; if ($1 == "nsd") nq[$2] = $3; next }
    FNR == 1 { OFS = "\t"; print "server", "mix", "queries/s", "lost", "errors", "avg ms", "CPU µs/query", "× mixed", "qps / NSD" }
    { print $1, $2, sprintf("%.0f", $3), $4, $9, sprintf("%.3f", $5), sprintf("%.2f", $7), sprintf("%.2f", $3 / mq[$1]), sprintf("%.2f", $3 / nq[$2]) }
  ' "$dir/attacks" "$dir/attacks" | md_table
  echo
  echo "**$n names: two cores** (two workers each; the server and dnsperf ${TWO_CORE_LOAD[*]} on CPUs 0,1; 2c / 1c: over the one-core mixed rate)"
  echo
  awk '
    NR == FNR { one[$1] = $2; next }
    FNR == 1 { OFS = "\t"; print "server", "queries/s", "lost", "avg ms", "CPU µs/query", "cores busy", "qps / NSD", "2c / 1c" }
    $1 == "nsd" { nq = $2 }
    { print $1, sprintf("%.0f", $2), $3, sprintf("%.3f", $4), sprintf("%.2f", $6), sprintf("%.2f", $2 * $6 / 1e6), sprintf("%.2f", $2 / nq), sprintf("%.2f", $2 / one[$1]) }
  ' "$dir/one" "$dir/two" | md_table
  echo
  echo "**$n names: ranah's answer cache**, the mixed queries alone, then beside the random-name flood (one core, $SECONDS_PER_RUN s each; hit rate alone: hits / (hits + misses), with the flood: hits / mixed queries answered, as the flood's names never repeat)"
  echo
  awk '
    BEGIN { OFS = "\t"; print "run", "mixed queries/s", "lost", "flood queries/s", "flood ran s", "hits", "misses", "hit rate (mixed)" }
    {
      known = $6 != "n/a" && $8 != "n/a"
      hits = known ? $8 - $6 : "n/a"
      misses = known ? $9 - $7 : "n/a"
      all = $1 == "alone" ? hits + misses : $10
      rate = known && all > 0 ? sprintf("%.1f %%", 100 * hits / all) : "n/a"
      print ($1 == "alone" ? "mixed alone" : "mixed + flood"), sprintf("%.0f", $2), $3,
        ($4 == "-" ? "-" : sprintf("%.0f", $4)), ($5 == "-" ? "-" : sprintf("%.1f", $5)), hits, misses, rate
    }
  ' "$dir/cache" | md_table
  echo
  echo "ranah's answer cache after the runs: $(size_mib "$cache_bytes") MiB of its limit of $(size_mib "$cache_limit") MiB."
  ((${#notes[@]} == 0)) || printf 'Note: %s.\n' "${notes[@]}"
done
