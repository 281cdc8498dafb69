#!/usr/bin/env bash
# DNSSEC benchmark: ranah serving its signed zone beside NSD serving the same zone signed
# ahead of time and Knot signing it itself; same zone, same queries, dnsperf on loopback.
#
#   tests/bench/dnssec.sh [-n "10000 100000"] [-l SECONDS] [-r RUNS] [-s "nsd knot ranah"]
#
# For each zone size: generate the zone, a query file and 20 sample queries
# (tests/bench/gen_zone.py --do-half --sample, seeded). Half the queries carry DO: dnsperf's
# text query file has no per-query DO flag and -D sets it on every query, so the queries are
# written in dnsperf's binary format (-B, length-prefixed DNS messages) with every second one
# carrying EDNS (UDP size 1232) and DO, the others plain as in tests/bench/dns.sh. One dnsperf
# process then sends the exact mix, interleaved, and its counts need no summing.
#
# The servers run one at a time, pinned to CPU 1 with one worker, dnsperf pinned to CPU 0, as
# in tests/bench/dns.sh (whose helpers are in tests/bench/lib.sh). All sign with ECDSA P-256
# (algorithm 13), one combined key, NSEC3 without salt or extra iterations or opt-out:
# - NSD serves the zone signed by ldns-signzone -n -t 0 (no salt is its default; this version
#   refuses "-s -") with a key from ldns-keygen -a ECDSAP256SHA256 -k; the signing time, on
#   CPU 1, is printed.
# - Knot serves the unsigned zone with dnssec-signing on and that policy; the time from its
#   start to its first signed SOA answer (load and signing) is printed.
# - ranah serves the unsigned zone with RANAH_DNSSEC_ENABLED=true; its first start (import and
#   signing) and its cold start from the store to /readyz are printed. The script stops with
#   an error if ranah's SOA answer with DO carries no RRSIG.
# Before timing, each server answers the 20 sample queries with DO (the apex SOA and DNSKEY,
# A, TXT, AAAA, a CNAME, a NODATA, 10 NXDOMAIN): every answer RRset must have its RRSIG,
# NODATA and NXDOMAIN their NSEC3 proofs, nothing may be truncated, and every server must
# give the same counts of records per type and section as the first (signatures differ,
# counts must not: the three build the same NSEC3 chain from the same names and parameters).
#
# Prints per server the median of the runs: queries/s, lost, average and max latency, CPU per
# answered query (the server and its descendants, from /proc), the ratios to NSD, and the
# memory after the load (proportional set size of the server's processes, so NSD's forked
# server is not counted twice). -s chooses the servers (the first is the reference of the
# answer check; ratios need nsd). Needs dnsperf, nsd, knot, ldnsutils, dig and curl
# (installed with apt when missing). RANAH_BIN=PATH (or RANAH=PATH) runs that ranah binary
# instead of building the release one. Loopback only; every dnsperf run is bounded by -l,
# every wait by a deadline.
set -euo pipefail
cd "$(dirname "$0")/../.."

SIZES="10000 100000" SECONDS_PER_RUN=8 RUNS=3 SERVERS="nsd knot ranah"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) SIZES=$2; shift 2 ;;
    -l) SECONDS_PER_RUN=$2; shift 2 ;;
    -r) RUNS=$2; shift 2 ;;
    -s) SERVERS=$2; shift 2 ;;
    -h|--help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $SECONDS_PER_RUN =~ ^[0-9]+$ && $SECONDS_PER_RUN -ge 1 && $SECONDS_PER_RUN -le 300 ]] || { echo "-l must be 1..300" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 9 ]] || { echo "-r must be 1..9" >&2; exit 2; }
for s in $SERVERS; do
  [[ $s =~ ^(nsd|knot|ranah)$ ]] || { echo "-s takes nsd, knot, ranah (got $s)" >&2; exit 2; }
done
for n in $SIZES; do
  [[ $n =~ ^[0-9]+$ && $n -ge 20 && $n -le 1000000 ]] || { echo "-n sizes must be 20..1000000" >&2; exit 2; }
done

source tests/bench/lib.sh
need_tools dnsperf=dnsperf nsd=nsd knotd=knot curl=curl taskset=util-linux dig=bind9-dnsutils \
  ldns-signzone=ldnsutils ldns-keygen=ldnsutils bc=bc

if [[ -n ${RANAH_BIN:-${RANAH:-}} ]]; then
  RANAH=${RANAH_BIN:-$RANAH}
else
  RANAH=${CARGO_TARGET_DIR:-$PWD/target}/release/ranah
  [[ " $SERVERS " != *" ranah "* ]] || cargo build --release --locked -q
fi
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Wait until the server answers the apex SOA with DO and an RRSIG (Knot signs after loading).
wait_signed() { # port seconds
  local deadline=$((SECONDS + $2))
  until dig +dnssec +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "$ORIGIN" SOA 2>/dev/null |
    grep -q "RRSIG[[:space:]]*SOA"; do
    ((SECONDS < deadline)) || { echo "no signed SOA on port $1 within $2 s" >&2; return 1; }
    sleep 0.02
  done
}

# One line per sample query: name, type, rcode (TC if truncated), then per section the count of
# records of each type ("an:A=1 an:RRSIG=1", "au:NSEC3=3").
answer_profile() { # port sample-file
  local name type out status counts
  while read -r name type; do
    out=$(dig +dnssec +norec +bufsize=1232 +ignore +time=2 +tries=2 +noall +comments +answer +authority \
      @127.0.0.1 -p "$1" "$name" "$type" 2>&1) || { echo "$name $type NO-ANSWER"; continue; }
    status=$(grep -o 'status: [A-Z]*' <<<"$out" | cut -d' ' -f2)
    grep -q '^;; flags:[^;]* tc' <<<"$out" && status=TC
    counts=$(awk '
      /^;; ANSWER SECTION/ { s = "an"; next }
      /^;; AUTHORITY SECTION/ { s = "au"; next }
      /^;; [A-Z]+ SECTION/ { s = ""; next }
      /^;/ || NF < 5 { next }
      s != "" { print s ":" $4 }
    ' <<<"$out" | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep = " "}')
    echo "$name $type ${status:-NONE} $counts"
  done < "$2"
}

# Fails, naming the query, unless every answer proves itself: each RRset of a positive answer
# with an RRSIG, NODATA and NXDOMAIN with NSEC3 records and their signatures.
check_profile() { # profile-file server
  awk -v server="$2" '
    {
      split("", c)
      for (i = 4; i <= NF; i++) { split($i, kv, "="); c[kv[1]] = kv[2] + 0 }
      sets = 0
      for (k in c) if (k ~ /^an:/ && k != "an:RRSIG") sets++
      err = ""
      if ($3 == "NOERROR" && sets > 0) {
        if (c["an:RRSIG"] < sets) err = "an answer RRset without its RRSIG"
      } else if ($3 == "NOERROR") {
        if (c["au:NSEC3"] < 1 || c["au:RRSIG"] < c["au:NSEC3"] + 1) err = "NODATA without a signed NSEC3 proof"
      } else if ($3 == "NXDOMAIN") {
        if (c["au:NSEC3"] < 2 || c["au:RRSIG"] < c["au:NSEC3"] + 1) err = "NXDOMAIN without a signed NSEC3 proof"
      } else err = "answered " $3
      if (err != "") { printf "%s: %s %s: %s (%s)\n", server, $1, $2, err, $0; bad = 1 }
    }
    END { exit bad }
  ' "$1" >&2
}

printf '%s\n' "$(date -u +%F) tests/bench/dnssec.sh -n \"$SIZES\" -l $SECONDS_PER_RUN -r $RUNS -s \"$SERVERS\""
for n in $SIZES; do
  dir=$WORK/$n
  mkdir -p "$dir"
  python3 tests/bench/gen_zone.py -n "$n" --origin "$ORIGIN" --zone "$dir/zone" --queries "$dir/queries" \
    --do-half --sample "$dir/sample"
  results=$dir/results
  : > "$results"
  notes=()
  reference=""
  for server in $SERVERS; do
    sdir=$dir/$server
    mkdir -p "$sdir"
    case $server in
      nsd)
        key=$(cd "$sdir" && ldns-keygen -a ECDSAP256SHA256 -k "$ORIGIN")
        t0=$(date +%s.%N)
        taskset -c 1 ldns-signzone -n -t 0 -o "$ORIGIN" -f "$sdir/zone.signed" "$dir/zone" "$sdir/$key"
        t1=$(date +%s.%N)
        notes+=("NSD: ldns-signzone $(printf %.2f "$(echo "$t1 - $t0" | bc)") s ($(grep -c . "$sdir/zone.signed") records after signing)")
        start_nsd "$sdir" "$sdir/zone.signed"
        wait_dns "$PORT"
        wait_signed "$PORT" 10
        ;;
      knot)
        t0=$(date +%s.%N)
        start_knot "$sdir" "$dir/zone" sign
        wait_signed "$PORT" 600
        t1=$(date +%s.%N)
        notes+=("Knot: start to the first signed answer (load and signing) $(printf %.2f "$(echo "$t1 - $t0" | bc)") s")
        ;;
      ranah)
        export RANAH_DNSSEC_ENABLED=true
        ranah_start_time "$sdir" "$dir/zone"
        first=$START_SECS
        stop_server
        ranah_start_time "$sdir" "$dir/zone"
        cold=$START_SECS
        rss_start=$(rss_kib "$SERVER_PID")
        wait_dns "$PORT"
        if ! dig +dnssec +norec +time=2 +tries=2 @127.0.0.1 -p "$PORT" "$ORIGIN" SOA | grep -q "RRSIG[[:space:]]*SOA"; then
          echo "ranah answers its SOA with DO but without an RRSIG: it does not sign (RANAH_DNSSEC_ENABLED=true was set; is DNSSEC built?). Its figures would mean nothing; measure the peers alone with -s \"nsd knot\"." >&2
          exit 1
        fi
        notes+=("ranah: first start (import and signing) $(printf %.2f "$first") s, cold start from the store $(printf %.2f "$cold") s, RSS after start $((rss_start / 1024)) MiB")
        ;;
    esac
    answer_profile "$PORT" "$dir/sample" > "$sdir/profile"
    check_profile "$sdir/profile" "$server"
    if [[ -z $reference ]]; then
      reference=$server
    elif ! diff -u "$dir/$reference/profile" "$sdir/profile" >&2; then
      echo "$server answers the sample queries with other record counts than $reference (above)" >&2
      exit 1
    fi
    runs=$dir/$server.runs
    : > "$runs"
    for _ in $(seq "$RUNS"); do measure "$dir/queries" -B >> "$runs"; done
    mem=$(pss_kib "$SERVER_PID")
    [[ $server != ranah ]] || notes+=("ranah: RSS after the load $(($(rss_kib "$SERVER_PID") / 1024)) MiB")
    stop_server
    row="$server"
    for col in 1 2 3 4 5; do row="$row $(awk -v c=$col '{print $c}' "$runs" | median)"; done
    echo "$row $((mem / 1024))" >> "$results"
  done
  echo
  echo "== $n names signed, half the queries with DO: dnsperf -B -c 8 -T 1 -q 100, ${SECONDS_PER_RUN} s x $RUNS runs (median), servers pinned to CPU 1"
  echo "answers to the $(wc -l < "$dir/sample") sample queries with DO: signed, NSEC3 proofs, the same counts from $(echo $SERVERS | sed 's/ /, /g')"
  awk '
    NR == FNR { if ($1 == "nsd") { nq = $2; nc = $6 } next }
    FNR == 1 { printf "%-7s %10s %6s %8s %8s %8s %8s %8s %8s\n", "server", "qps", "lost", "avg_ms", "max_ms", "cpu_us/q", "qps/nsd", "cpu/nsd", "mem_MiB" }
    {
      printf "%-7s %10.0f %6d %8.3f %8.3f %8.2f", $1, $2, $3, $4, $5, $6
      if (nq) printf " %8.2f %8.2f", $2 / nq, $6 / nc; else printf " %8s %8s", "-", "-"
      printf " %8d\n", $7
    }
  ' "$results" "$results"
  printf '%s\n' "${notes[@]}"
done
