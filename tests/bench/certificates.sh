#!/usr/bin/env bash
# Certificate benchmark: from the provisioning approval of a request with "certificate": true
# to an issued chain, against Debian's pebble (Let's Encrypt's test CA) validating DNS-01 on
# ranah's own DNS port, in a zone of NAMES names.
#
#   tests/bench/certificates.sh [-n NAMES] [-c CERTIFICATES]
#
# Prepares CERTIFICATES requests (default 20) up to the technical step. A quarter are approved
# alone (each waits for its certificate: the latency an applicant sees), the rest at once (a
# burst: ranah runs one order at a time, so this is its throughput). Prints approval-to-issued
# times and the burst's rate, and checks every chain with `openssl verify` against pebble's
# root. Each issuance publishes and removes a challenge TXT
# (two zone changes, two serials) in a zone of NAMES names (default 100,000).
#
# Needs pebble, openssl and curl (installed with apt when missing). Loopback only; the wait
# for issuance is bounded (5 minutes in all).
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMES=100000 COUNT=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NAMES=$2; shift 2 ;;
    -c) COUNT=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $COUNT =~ ^[0-9]+$ && $COUNT -ge 1 && $COUNT -le 500 ]] || { echo "-c must be 1..500" >&2; exit 2; }

declare -A need=([pebble]=pebble [openssl]=openssl [curl]=curl)
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
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

ORIGIN=bench.example
DNS_PORT=$((20000 + RANDOM % 20000))
API_PORT=$((DNS_PORT + 1))
ACME_PORT=$((DNS_PORT + 2))
MGMT_PORT=$((DNS_PORT + 3))

# pebble's listener certificate, from a throwaway CA.
(
  cd "$WORK"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench listener CA" 2>/dev/null
  openssl req "${ec[@]}" -keyout key.pem -out cert.csr -subj "/CN=127.0.0.1" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" >san.ext
  openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 \
    -extfile san.ext 2>/dev/null
)
cat >"$WORK/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$ACME_PORT", "managementListenAddress": "127.0.0.1:$MGMT_PORT",
 "certificate": "$WORK/cert.pem", "privateKey": "$WORK/key.pem", "httpPort": $((DNS_PORT + 4)),
 "tlsPort": $((DNS_PORT + 5)), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$WORK/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$WORK/pebble.log" 2>&1 &
PIDS+=($!)

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
[acme]
directory = "https://127.0.0.1:$ACME_PORT/dir"
ca_file = "$WORK/ca.pem"
key_encryption_key = "$(head -c 32 /dev/urandom | base64)"
check_interval_secs = 1
EOF
export RANAH_CONFIG=$WORK/ranah.toml
"$RANAH" serve >"$WORK/ranah.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 &&
    curl -fs --cacert "$WORK/ca.pem" "https://127.0.0.1:$ACME_PORT/dir" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null || { cat "$WORK/ranah.log"; exit 1; }

"$RANAH" agency add DINKES "Dinas Kesehatan" >/dev/null
"$RANAH" user add andi --role applicant --agency DINKES >/dev/null
for u in kadis:head_of_office kabid:head_of_division teknis:technical; do
  "$RANAH" user add "${u%%:*}" --role "${u##*:}" >/dev/null
done
TOKENS=()
for u in andi kadis kabid teknis; do TOKENS+=("$("$RANAH" token create "$u")"); done

curl -fs --cacert "$WORK/ca.pem" "https://127.0.0.1:$MGMT_PORT/roots/0" >"$WORK/root.pem"
echo "issuing $COUNT certificates in a zone of $NAMES names ..."
python3 - "$API_PORT" "$ORIGIN" "$COUNT" "$WORK" "${TOKENS[@]}" <<'PY'
import http.client, json, statistics, subprocess, sys, time
port, origin, count, work, andi, kadis, kabid, teknis = sys.argv[1:]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
def call(method, path, token, body=b"", ctype="application/json", ok=(200, 201, 202)):
    conn.request(method, "/api/v1" + path, body, {"Authorization": "Bearer " + token, "Content-Type": ctype})
    r = conn.getresponse(); data = r.read()
    if r.status not in ok:
        sys.exit(f"{method} {path}: {r.status} {data[:300]!r}")
    return data
letter = open("tests/fixtures/letter.pdf", "rb").read()
boundary = "ranahbench"
upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"letter\"; filename=\"surat.pdf\"\r\n"
          f"Content-Type: application/pdf\r\n\r\n").encode() + letter + f"\r\n--{boundary}--\r\n".encode()
ids = []
for i in range(1, int(count) + 1):
    body = {"kind": "create", "zone": origin, "name": f"tls{i:04d}",
            "records": [{"type": "A", "value": f"203.0.113.{i % 250 + 1}", "ttl": 3600}],
            "contact": {"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"},
            "purpose": "Aplikasi layanan", "recommendation_ref": "REK/001/2026", "certificate": True}
    rid = json.loads(call("POST", "/requests", andi, json.dumps(body).encode()))["id"]
    call("POST", f"/requests/{rid}/attachments", andi, upload, f"multipart/form-data; boundary={boundary}")
    call("POST", f"/requests/{rid}/approve", kadis, b"{}")
    call("POST", f"/requests/{rid}/approve", kabid, b"{}")
    ids.append((i, rid))
def wait_issued(names, deadline):
    done = {}
    while len(done) < len(names) and time.monotonic() < deadline:
        for name in names:
            if name in done:
                continue
            cert = json.loads(call("GET", f"/certificates/{name}", andi, ok=(200, 404)) or b"{}")
            if cert.get("status") == "issued":
                done[name] = time.monotonic()
            elif cert.get("status") == "failed":
                sys.exit(f"{name} failed: {cert.get('last_error')}")
        time.sleep(0.02)
    if len(done) < len(names):
        sys.exit(f"only {len(done)} of {len(names)} issued in time")
    return done
def p90(xs):
    return xs[max(0, int(len(xs) * 0.9 + 0.5) - 1)]
issued = {}
deadline = time.monotonic() + 300
# Alone: each approval waits for its certificate before the next (the latency one applicant sees).
alone = ids[: max(1, len(ids) // 4)]
single = []
for i, rid in alone:
    name = f"tls{i:04d}.{origin}"
    t0 = time.monotonic()
    call("POST", f"/requests/{rid}/approve", teknis, b"{}")
    issued.update(wait_issued([name], deadline))
    single.append(issued[name] - t0)
single.sort()
print(f"alone, approval to issued: median {statistics.median(single):.2f} s, "
      f"max {single[-1]:.2f} s ({len(single)} certificates)")
# A burst: the rest approved at once, issued one order at a time (throughput).
burst = ids[len(alone):]
if burst:
    approved = {}
    start = time.monotonic()
    for i, rid in burst:
        call("POST", f"/requests/{rid}/approve", teknis, b"{}")
        approved[f"tls{i:04d}.{origin}"] = time.monotonic()
    done = wait_issued(list(approved), deadline)
    wall = time.monotonic() - start
    issued.update(done)
    lat = sorted(done[n] - approved[n] for n in done)
    print(f"burst of {len(lat)}: all issued in {wall:.1f} s ({len(lat) / wall * 60:.0f}/min, one order "
          f"at a time); approval to issued median {statistics.median(lat):.2f} s, p90 {p90(lat):.2f} s")
verified = 0
for name in issued:
    chain = call("GET", f"/certificates/{name}/chain.pem", andi).decode()
    path = f"{work}/chain.pem"
    open(path, "w").write(chain)
    r = subprocess.run(["openssl", "verify", "-CAfile", f"{work}/root.pem", "-untrusted", path,
                        "-verify_hostname", name, path], capture_output=True)
    verified += r.returncode == 0
print(f"chains accepted by openssl verify against pebble's root: {verified} of {len(issued)}")
PY
