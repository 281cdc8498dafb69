#!/usr/bin/env bash
# Backup and restore of a store of REQUESTS provisioned requests, each with its own letter of
# LETTER_KB kilobytes: the time and size of `ranah backup` (plain tar and gzip) while the daemon
# serves, and the time of `ranah restore` into an empty data directory and over the store
# (which saves the replaced store first).
#
#   tests/bench/backup.sh [-n REQUESTS] [-s LETTER_KB]
#
# The daemon (release build) provisions 20 requests through the API (submission, letter, three
# approvals: real history, audit events, journal and records); the rest are copies of one of
# them made in SQLite with Python's sqlite3 module, each with its own name, record and letter
# (random bytes behind a PDF header, so they do not compress, as scanned letters barely do).
# Defaults: 10,000 requests, 100 KB letters (about 1 GB of letters: the script needs three times
# that on the disk of its temporary folder). Needs curl and python3. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=10000 LETTER_KB=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) REQUESTS=$2; shift 2 ;;
    -s) LETTER_KB=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $REQUESTS =~ ^[0-9]+$ && $REQUESTS -ge 20 && $REQUESTS -le 200000 ]] || { echo "-n must be 20..200000" >&2; exit 2; }
[[ $LETTER_KB =~ ^[0-9]+$ && $LETTER_KB -ge 1 && $LETTER_KB -le 10240 ]] || { echo "-s must be 1..10240" >&2; exit 2; }

cargo build --release --locked -q
RANAH=$PWD/target/release/ranah
WORK=$(mktemp -d)
PID=""
stop() {
  if [[ -n $PID ]]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
cleanup() {
  stop
  rm -rf "$WORK"
}
trap cleanup EXIT

DNS_PORT=$((20000 + RANDOM % 20000))
API_PORT=$((DNS_PORT + 1))
API=http://127.0.0.1:$API_PORT/api/v1
mkdir -p "$WORK/zones"
cat > "$WORK/zones/example.go.id.zone" <<'ZONE'
$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010100 3600 900 1209600 300
@ NS ns1
ns1 A 203.0.113.2
ZONE
export RANAH_DATA_DIR=$WORK/data RANAH_ZONES_DIR=$WORK/zones RANAH_LOG=warn
export RANAH_DNS_LISTEN=127.0.0.1:$DNS_PORT RANAH_API_LISTEN=127.0.0.1:$API_PORT
export RANAH_DNS_RRL_ENABLED=false
unset RANAH_CONFIG

start() {
  "$RANAH" serve &
  PID=$!
  for _ in $(seq 200); do
    curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null && return
    sleep 0.1
  done
  echo "ranah did not start" >&2
  exit 1
}
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
now() { date +%s.%N; }
size() { stat -c %s "$1"; }

start
"$RANAH" agency add DINKES "Dinas Kesehatan" >/dev/null
"$RANAH" user add andi --role applicant --agency DINKES >/dev/null
for u in kadis:head_of_office kabid:head_of_division teknis:technical; do
  "$RANAH" user add "${u%%:*}" --role "${u##*:}" >/dev/null
done
declare -A token
for u in andi kadis kabid teknis; do token[$u]=$("$RANAH" token create "$u"); done
cp tests/fixtures/letter.pdf "$WORK/letter.pdf"
for i in $(seq 1 20); do
  id=$(curl -fsS -H "Authorization: Bearer ${token[andi]}" -H 'Content-Type: application/json' \
    --data-binary "{\"kind\": \"create\", \"zone\": \"example.go.id\", \"name\": \"app$i\",
      \"records\": [{\"type\": \"A\", \"value\": \"203.0.113.$i\", \"ttl\": 3600}],
      \"contact\": {\"name\": \"Andi\", \"email\": \"andi@dinkes.example\", \"phone\": \"+62 811 000\"},
      \"purpose\": \"Aplikasi layanan\", \"recommendation_ref\": \"REK/001/2026\", \"certificate\": false}" \
    "$API/requests" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  curl -fsS -H "Authorization: Bearer ${token[andi]}" -F "letter=@$WORK/letter.pdf" \
    "$API/requests/$id/attachments" >/dev/null
  for u in kadis kabid teknis; do
    curl -fsS -H "Authorization: Bearer ${token[$u]}" -H 'Content-Type: application/json' \
      --data-binary '{}' "$API/requests/$id/approve" >/dev/null
  done
done
stop

echo "copying request 1 into $REQUESTS requests with letters of $LETTER_KB KB"
python3 - "$WORK/data" "$REQUESTS" "$LETTER_KB" <<'PY'
import hashlib, os, sqlite3, sys
data, total, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(os.path.join(data, "ranah.db"))
db.row_factory = sqlite3.Row
def copy(table, row, **changes):
    row = dict(row); row.update(changes)
    cols = ", ".join(row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
request = db.execute("SELECT * FROM requests WHERE id = 1").fetchone()
events = db.execute("SELECT * FROM request_events WHERE request_id = 1").fetchall()
attachment = db.execute("SELECT * FROM attachments WHERE request_id = 1").fetchone()
record = db.execute("SELECT * FROM records WHERE request_id = 1").fetchone()
next_id = db.execute("SELECT MAX(id) FROM requests").fetchone()[0] + 1
files = os.path.join(data, "attachments")
db.execute("BEGIN")
for n in range(total - 20):
    rid = next_id + n
    name = f"copy{n}"
    copy("requests", request, id=rid, name=name)
    for e in events:
        copy("request_events", e, request_id=rid)
    letter = b"%PDF-1.4\n" + os.urandom(kb * 1024 - 9)
    sha = hashlib.sha256(letter).hexdigest()
    with open(os.path.join(files, sha), "wb") as f:
        f.write(letter)
    copy("attachments", attachment, id=None, request_id=rid, sha256=sha, size=len(letter))
    a, b = divmod(n, 250)
    copy("records", record, id=None, owner=f"{name}.example.go.id.", request_id=rid,
         rdata=bytes([198, 51, a % 256, b + 1]), data=f"198.51.{a % 256}.{b + 1}")
db.commit()
db.close()
PY
du -sh "$WORK/data/ranah.db" "$WORK/data/attachments"

start
t0=$(now); "$RANAH" backup "$WORK/b.tar"; t1=$(now)
"$RANAH" backup "$WORK/b.tar.gz" >/dev/null; t2=$(now)
stop
echo "backup while serving, $REQUESTS requests: tar $(size "$WORK/b.tar") bytes in $(seconds "$t0" "$t1") s; tar.gz $(size "$WORK/b.tar.gz") bytes in $(seconds "$t1" "$t2") s"
rm -f "$WORK/b.tar.gz"

t0=$(now); RANAH_DATA_DIR=$WORK/empty "$RANAH" restore "$WORK/b.tar" >/dev/null; t1=$(now)
echo "restore into an empty data directory: $(seconds "$t0" "$t1") s"
rm -rf "$WORK/empty"
t0=$(now); "$RANAH" restore "$WORK/b.tar" >/dev/null; t1=$(now)
echo "restore over the store (saving it first to $(ls "$WORK/data/backups")): $(seconds "$t0" "$t1") s"
"$RANAH" audit verify | python3 -c 'import json, sys; v = json.loads(sys.stdin.read().split("\nsigned")[0]); print("audit verify:", v["ok"], v["events"], "events")'
start
curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null && echo "the restored store serves"
