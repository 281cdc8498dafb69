#!/usr/bin/env bash
# The production layout (docs/operations.md, "Install"), checked as a server runs it:
#
# 1. The .deb: built by cargo-deb from the debug build (the package's content is the release
#    one's; only the binary is slower), installed with dpkg in a clean Debian 12 root made by
#    debootstrap (cached under target/deploy/, copied afresh for each run).
# 2. The unit: `systemd-analyze verify` on the installed unit, in that root (with its binary),
#    and `systemd-analyze security` at or below the exposure written in docs/operations.md.
# 3. ranah started in that root as the unit starts it, since systemd cannot run as PID 1 here:
#    user ranah, CAP_NET_BIND_SERVICE and no other capability, no new privileges, the open-files
#    limit of the unit, its working directory, the packaged configuration, but a umask of 0022
#    (the unit's is 0077) to show that ranah's own modes do not depend on it. Then: DNS answers
#    on port 53 of a loopback address over UDP and TCP; the process is ranah's with that one
#    capability; a request with a letter is made through the CLI (as ranah) and the API; the
#    data directory is 0700 and every file in it (database, WAL, SHM, attachments) 0600.
#
# Needs root (debootstrap, chroot, mount), systemd-analyze, debootstrap, cargo-deb, dig, curl;
# tests/run-all.sh installs them. The Debian mirror is the one apt uses on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The exposure `systemd-analyze security` gives the unit (docs/operations.md says the same).
max_exposure=1.4
suite=bookworm
started=$SECONDS
step() { printf '%s [%3ds]\n' "$1" $((SECONDS - started)); }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap, chroot and mount need it)"

# --- the unit, as written --------------------------------------------------------------------
step "== the unit: systemd-analyze security"
security=$(systemd-analyze security --offline=yes --no-pager deploy/ranah.service 2>&1) ||
  fail "systemd-analyze security: $security"
exposure=$(sed -n 's/.*Overall exposure level for ranah.service: \([0-9.]*\).*/\1/p' <<<"$security")
[ -n "$exposure" ] || fail "no exposure level in: $security"
echo "exposure level: $exposure (at most $max_exposure)"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' ||
  fail "exposure $exposure is above $max_exposure:
$(grep '✗' <<<"$security")"

# --- the package ------------------------------------------------------------------------------
step "== the .deb (cargo-deb, from the debug build)"
cargo build --locked --bin ranah
# cargo-deb packages <target>/release/ranah; give it the debug binary there (a hard link).
stage=target/deploy/stage
rm -rf "$stage" target/deploy/debian
mkdir -p "$stage/release"
ln -f target/debug/ranah "$stage/release/ranah"
CARGO_TARGET_DIR=$PWD/$stage timeout 600 cargo deb --no-build --locked --fast -o target/deploy/debian/ >/dev/null
deb=$(ls target/deploy/debian/ranah_*.deb)
rm -rf "$stage"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Installed-Size\):/  \1:/p'

# --- a clean Debian 12 root -------------------------------------------------------------------
# Whatever is mounted under DIR (debootstrap mounts /proc and /sys while it installs, and leaves
# them if it is stopped half-way), so that removing DIR never reaches the host's.
unmount_under() {
  local dir
  dir=$(realpath -m "$1")
  { findmnt -rn -o TARGET | grep -F "$dir/" || true; } | sort -r | while read -r target; do
    umount "$target" || umount -l "$target"
  done
}

cache=target/deploy/$suite-root
if [ ! -e "$cache/.complete" ]; then
  step "== debootstrap $suite (once; cached in $cache)"
  # The mirror apt uses here (deb822 sources, else a one-line source).
  mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || fail "no Debian mirror in /etc/apt/sources.list*"
  unmount_under "$cache"
  rm -rf "$cache"
  mkdir -p "$cache"
  # systemd is there only so that systemd-analyze can verify the unit against a real system.
  timeout 1200 debootstrap --variant=minbase --include=adduser,systemd "$suite" "$cache" "$mirror" \
    >target/deploy/debootstrap.log 2>&1 || fail "debootstrap failed: see target/deploy/debootstrap.log"
  touch "$cache/.complete"
fi

root=target/deploy/root
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  unmount_under "$root"
  rm -rf "$root"
}
trap cleanup EXIT
unmount_under "$root"
rm -rf "$root"
cp -a "$cache" "$root"
rm "$root/.complete"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

step "== dpkg -i in the clean root"
cp "$deb" "$root/tmp/ranah.deb"
in_root dpkg -i /tmp/ranah.deb
in_root dpkg -s ranah | grep -q '^Status: install ok installed' || fail "ranah is not installed"

# What the package made.
expect_stat() { # PATH "MODE OWNER GROUP"
  local got
  got=$(in_root stat -c '%a %U %G' "$1")
  [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
  echo "  $1: $got"
}
passwd=$(in_root getent passwd ranah) || fail "no user ranah"
IFS=: read -r _ _ ranah_uid ranah_gid _ home shell <<<"$passwd"
[ "$home" = /var/lib/ranah ] || fail "ranah's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "ranah's shell is $shell"
[ "$ranah_uid" -lt 1000 ] || fail "ranah is not a system user (uid $ranah_uid)"
echo "  user ranah: uid $ranah_uid, gid $ranah_gid, home $home, shell $shell"
expect_stat /var/lib/ranah "700 ranah ranah"
expect_stat /etc/ranah "750 root ranah"
expect_stat /etc/ranah/ranah.toml "640 root ranah"
expect_stat /etc/ranah/zones "750 root ranah"
expect_stat /usr/bin/ranah "755 root root"
grep -q '^/etc/ranah/ranah.toml$' "$root/var/lib/dpkg/info/ranah.conffiles" ||
  fail "/etc/ranah/ranah.toml is not a conffile"
unit=/usr/lib/systemd/system/ranah.service
[ -f "$root$unit" ] || fail "no $unit"
[ -L "$root/etc/systemd/system/multi-user.target.wants/ranah.service" ] ||
  fail "the unit is not enabled"

step "== systemd-analyze verify (the installed unit, in the root)"
verify=$(systemd-analyze verify --root="$root" "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"

# --- the service, started as the unit starts it -------------------------------------------------
# A loopback address whose port 53 nobody holds (the root shares this machine's network).
addr=
for n in $(shuf -i 100-250 -n 20); do
  candidate=127.0.0.$n
  if ! ss -Hlnu "sport = :53" | grep -qE "($candidate|0\.0\.0\.0|\*|\[::\]):53 " &&
    ! ss -Hlnt "sport = :53" | grep -qE "($candidate|0\.0\.0\.0|\*|\[::\]):53 "; then
    addr=$candidate
    break
  fi
done
[ -n "$addr" ] || fail "no loopback address with port 53 free"
api_port=8053

step "== ranah as its unit runs it: user ranah, CAP_NET_BIND_SERVICE, DNS on $addr:53"
# As an operator would: the example zone into /etc/ranah/zones, the listen addresses set.
in_root install -m 0640 -o root -g ranah /usr/share/ranah/zones/kaltaraprov.go.id.zone /etc/ranah/zones/
sed -i -e "s/^listen = \[\"0.0.0.0:53\"\]/listen = [\"$addr:53\"]/" \
  -e "s/^listen = \"127.0.0.1:8080\"/listen = \"$addr:$api_port\"/" "$root/etc/ranah/ranah.toml"
grep -q "$addr:53" "$root/etc/ranah/ranah.toml" || fail "dns.listen not set"
in_root runuser -u ranah -- ranah --config /etc/ranah/ranah.toml check-config |
  grep -q '^database_url = "sqlite:///var/lib/ranah/ranah.db?mode=rwc"$' ||
  fail "check-config does not show the database under /var/lib/ranah"
# The unit's User, AmbientCapabilities, CapabilityBoundingSet, NoNewPrivileges, LimitNOFILE (a
# soft limit equal to the hard one: 65536, or the hard limit where this machine's is lower and
# only systemd could raise it) and WorkingDirectory; the umask is a shell's usual 0022, not the
# unit's 0077.
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin RANAH_LOG=info \
  /bin/sh -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; umask 0022 && cd /var/lib/ranah && exec setpriv \
    --reuid=ranah --regid=ranah --init-groups \
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
    --bounding-set=-all,+net_bind_service --no-new-privs \
    /usr/bin/ranah --config /etc/ranah/ranah.toml serve' \
  >target/deploy/ranah.log 2>&1 &
pid=$!
deadline=$((SECONDS + 30))
until curl -fsS "http://$addr:$api_port/readyz" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || fail "ranah exited: $(tail -n 5 target/deploy/ranah.log)"
  [ $SECONDS -lt $deadline ] || fail "ranah not ready within 30 s: $(tail -n 5 target/deploy/ranah.log)"
  sleep 0.2
done
step "ready"

soa=$(dig @"$addr" -p 53 kaltaraprov.go.id SOA +norec +time=2 +tries=2)
grep -q 'flags: qr aa' <<<"$soa" || fail "no authoritative answer on $addr:53: $soa"
[ "$(dig @"$addr" -p 53 www.kaltaraprov.go.id A +short +time=2 +tries=2)" = 203.0.113.10 ] ||
  fail "www.kaltaraprov.go.id A over UDP"
[ "$(dig @"$addr" -p 53 www.kaltaraprov.go.id A +short +tcp +time=2 +tries=2)" = 203.0.113.10 ] ||
  fail "www.kaltaraprov.go.id A over TCP"
echo "  DNS on $addr:53 answers (UDP and TCP, aa)"

# The process: ranah's user and group, the one capability, no new privileges.
status=/proc/$pid/status
grep -q "^Uid:[[:space:]]*$ranah_uid[[:space:]]*$ranah_uid[[:space:]]*$ranah_uid[[:space:]]*$ranah_uid$" "$status" ||
  fail "not running as ranah: $(grep ^Uid "$status")"
grep -q "^Gid:[[:space:]]*$ranah_gid[[:space:]]*$ranah_gid[[:space:]]*$ranah_gid[[:space:]]*$ranah_gid$" "$status" ||
  fail "not running as group ranah: $(grep ^Gid "$status")"
for cap in CapPrm CapEff CapBnd CapAmb; do
  grep -q "^$cap:[[:space:]]*0000000000000400$" "$status" ||
    fail "$cap is not CAP_NET_BIND_SERVICE alone: $(grep "^$cap" "$status")"
done
grep -q '^NoNewPrivs:[[:space:]]*1$' "$status" || fail "NoNewPrivs is not set"
echo "  process $pid: uid $ranah_uid (ranah), capabilities 0x400 (CAP_NET_BIND_SERVICE) only"

# A request with its letter, so that the data directory holds every kind of file: accounts and
# a token through the CLI as ranah (the daemon is running on the same database), the request
# and the upload through the API.
cli() { in_root runuser -u ranah -- ranah --config /etc/ranah/ranah.toml "$@"; }
cli agency add DINKES "Dinas Kesehatan" >/dev/null
cli user add andi --role applicant --agency DINKES --email andi@dinkes.example >/dev/null
token=$(cli token create andi)
api=http://$addr:$api_port/api/v1
curl -sS --fail-with-body -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  "$api/requests" -d '{"kind": "create", "zone": "kaltaraprov.go.id", "name": "sipd",
    "records": [{"type": "A", "value": "203.0.113.10", "ttl": 3600}],
    "contact": {"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"},
    "purpose": "Sistem informasi", "recommendation_ref": "REK/045/2026"}' >/dev/null
curl -sS --fail-with-body -H "Authorization: Bearer $token" -F letter=@tests/fixtures/letter.pdf \
  "$api/requests/1/attachments" >/dev/null
echo "  a request and its letter stored"

# The modes: the directory 0700, every file ranah made in it 0600 and ranah's.
echo "  modes in /var/lib/ranah (umask 0022):"
in_root find /var/lib/ranah -printf '    %m %u:%g %p\n' | sort -k3
for f in /var/lib/ranah/ranah.db /var/lib/ranah/ranah.db-wal /var/lib/ranah/ranah.db-shm; do
  expect_stat "$f" "600 ranah ranah"
done
expect_stat /var/lib/ranah/attachments "700 ranah ranah"
[ "$(in_root find /var/lib/ranah/attachments -type f | wc -l)" -ge 1 ] || fail "no attachment stored"
wrong=$(in_root find /var/lib/ranah \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \) -o ! -user ranah)
[ -z "$wrong" ] || fail "not private to ranah: $wrong"

step "== SIGTERM: a clean stop"
kill -TERM "$pid"
deadline=$((SECONDS + 15))
while kill -0 "$pid" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "ranah did not stop within 15 s of SIGTERM"
  sleep 0.1
done
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "ranah exited with $rc on SIGTERM"
pid=
grep -q 'stopped' target/deploy/ranah.log || fail "no clean stop in the log"

step "== the production layout: all checks passed"
