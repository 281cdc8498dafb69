#!/usr/bin/env bash
# Service benchmark on a zone of 100,000 names: approvals per second end to end over HTTP on
# SQLite (wrk), and the time of a TSIG-signed AXFR of the whole zone (kdig).
#
#   tests/bench/service.sh [-n NAMES] [-a APPROVALS] [-c CONNECTIONS] [-d SECONDS]
#
# The daemon (release build) serves the generated zone. The script prepares APPROVALS requests
# (default 3000) through the API up to the technical step, then wrk posts the provisioning
# approvals for SECONDS (default 3), each request once, over CONNECTIONS connections (default
# 4; the set must outlast the run, wrk says when it did not): each approval
# writes the records, the history and the journal in one SQLite transaction and returns when
# DNS answers the new name. Prints approvals/s and latency percentiles from wrk, a check that
# every approved name resolves, and the median of 5 AXFRs.
#
# Needs wrk, kdig, dig and curl (installed with apt when missing). Loopback only; wrk runs for
# SECONDS.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMES=100000 APPROVALS=3000 CONNECTIONS=4 DURATION=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NAMES=$2; shift 2 ;;
    -a) APPROVALS=$2; shift 2 ;;
    -c) CONNECTIONS=$2; shift 2 ;;
    -d) DURATION=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $APPROVALS =~ ^[0-9]+$ && $APPROVALS -ge 1 && $APPROVALS -le 20000 ]] || { echo "-a must be 1..20000" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 60 ]] || { echo "-d must be 1..60" >&2; exit 2; }

declare -A need=([wrk]=wrk [kdig]=knot-dnsutils [dig]=bind9-dnsutils [curl]=curl)
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
DNS_PORT=$((20000 + RANDOM % 20000))
API_PORT=$((DNS_PORT + 1))
API=http://127.0.0.1:$API_PORT/api/v1
SECRET=$(head -c 32 /dev/urandom | base64)
mkdir -p "$WORK/zones"
python3 tests/bench/gen_zone.py -n "$NAMES" --origin "$ORIGIN" --zone "$WORK/zones/$ORIGIN.zone" \
  --queries /dev/null --count 1
cat >"$WORK/ranah.toml" <<EOF
data_dir = "$WORK/data"
zones_dir = "$WORK/zones"
[dns]
listen = ["127.0.0.1:$DNS_PORT"]
[api]
listen = "127.0.0.1:$API_PORT"
[log]
filter = "warn"
[[tsig_keys]]
name = "bench-key"
secret = "$SECRET"
[[secondaries]]
zone = "$ORIGIN"
notify = "127.0.0.1:9"
allow_transfer = ["127.0.0.1"]
tsig_key = "bench-key"
EOF
export RANAH_CONFIG=$WORK/ranah.toml
"$RANAH" serve >"$WORK/ranah.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null || { cat "$WORK/ranah.log"; exit 1; }

# People and tokens.
"$RANAH" agency add DINKES "Dinas Kesehatan" >/dev/null
"$RANAH" user add andi --role applicant --agency DINKES >/dev/null
for u in kadis:head_of_office kabid:head_of_division teknis:technical; do
  "$RANAH" user add "${u%%:*}" --role "${u##*:}" >/dev/null
done
ANDI=$("$RANAH" token create andi)
KADIS=$("$RANAH" token create kadis)
KABID=$("$RANAH" token create kabid)
TEKNIS=$("$RANAH" token create teknis)

echo "preparing $APPROVALS requests at the technical step ..."
python3 - "$API_PORT" "$ORIGIN" "$APPROVALS" "$WORK/ids" "$ANDI" "$KADIS" "$KABID" <<'PY'
import http.client, json, sys
port, origin, count, ids_file, andi, kadis, kabid = sys.argv[1:]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
def call(method, path, token, body=b"", ctype="application/json"):
    conn.request(method, "/api/v1" + path, body, {"Authorization": "Bearer " + token, "Content-Type": ctype})
    r = conn.getresponse(); data = r.read()
    if r.status != 200 and r.status != 201:
        sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)
letter = open("tests/fixtures/letter.pdf", "rb").read()
boundary = "ranahbench"
upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"letter\"; filename=\"surat.pdf\"\r\n"
          f"Content-Type: application/pdf\r\n\r\n").encode() + letter + f"\r\n--{boundary}--\r\n".encode()
with open(ids_file, "w") as out:
    for i in range(1, int(count) + 1):
        body = {"kind": "create", "zone": origin, "name": f"app{i:05d}",
                "records": [{"type": "A", "value": f"203.0.113.{i % 250 + 1}", "ttl": 3600}],
                "contact": {"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"},
                "purpose": "Aplikasi layanan", "recommendation_ref": "REK/001/2026", "certificate": False}
        rid = call("POST", "/requests", andi, json.dumps(body).encode())["id"]
        call("POST", f"/requests/{rid}/attachments", andi, upload, f"multipart/form-data; boundary={boundary}")
        call("POST", f"/requests/{rid}/approve", kadis, b"{}")
        call("POST", f"/requests/{rid}/approve", kabid, b"{}")
        out.write(f"{rid}\n")
PY

cat >"$WORK/approve.lua" <<EOF
-- Each prepared request is approved exactly once; a thread stops when the list is used up.
local ids = {}
for line in io.lines("$WORK/ids") do ids[#ids + 1] = line end
local next_index, threads = 1, {}
function setup(thread)
  thread:set("first", #threads + 1)
  thread:set("step", $CONNECTIONS)
  table.insert(threads, thread)
end
local i, sent = nil, 0
ok, failed, exhausted = 0, 0, 0
function init(args)
  i = first
end
function request()
  if i > #ids then
    -- The set ran out before the duration: cheap requests until wrk ends, reported below.
    exhausted = 1
    return wrk.format("GET", "/healthz")
  end
  local id = ids[i]
  i = i + step
  sent = sent + 1
  return wrk.format("POST", "/api/v1/requests/" .. id .. "/approve",
    { ["Authorization"] = "Bearer $TEKNIS", ["Content-Type"] = "application/json" }, "{}")
end
function response(status, headers, body)
  if sent > ok + failed then
    if status == 200 then ok = ok + 1 else failed = failed + 1 end
  end
end
function done(summary, latency, requests)
  local approved, refused, ran_out = 0, 0, 0
  for _, t in ipairs(threads) do
    approved = approved + t:get("ok")
    refused = refused + t:get("failed")
    ran_out = ran_out + t:get("exhausted")
  end
  if ran_out > 0 then
    io.write("approvals: WARNING the prepared set ran out before the end: rerun with a larger -a or a shorter -d\n")
  end
  io.write(string.format("approvals: %d approved, %d refused, %.0f/s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    approved, refused, approved / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
EOF
echo "approving $APPROVALS requests (wrk, $CONNECTIONS connections, one per thread) ..."
wrk -t "$CONNECTIONS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s -s "$WORK/approve.lua" \
  "http://127.0.0.1:$API_PORT" | grep -E "approvals:|Non-2xx|Socket errors" || true

resolved=0
for i in $(seq 1 "$APPROVALS"); do
  name=$(printf 'app%05d.%s.' "$i" "$ORIGIN")
  [[ -n $(dig @127.0.0.1 -p "$DNS_PORT" +short +tries=1 "$name" A) ]] && resolved=$((resolved + 1))
done
echo "names resolving after the run: $resolved (each approved request's name)"

echo "AXFR of $NAMES names (TSIG-signed, kdig), 5 runs:"
times=()
for _ in 1 2 3 4 5; do
  start=$(date +%s%N)
  out=$(kdig @127.0.0.1 -p "$DNS_PORT" "$ORIGIN" AXFR -y "hmac-sha256:bench-key:$SECRET" +noall +stats 2>&1)
  end=$(date +%s%N)
  grep -q "Received" <<<"$out" || { echo "$out"; exit 1; }
  times+=($(((end - start) / 1000000)))
done
summary=$(grep -o "Received.*" <<<"$out")
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
echo "  ${summary}; wall ms: ${times[*]}; median ${median} ms"
