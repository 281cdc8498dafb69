#!/usr/bin/env python3
"""Record the DNS seed corpora of the fuzz targets from real clients.

Runs dig and kdig against a listener on loopback that keeps every query it receives (UDP and
TCP) and answers REFUSED, so that each client stops at once. Writes:

- corpus/dns_udp/ and corpus/dns_tcp/: one byte choosing the client's address (0 a stranger,
  1 the secondary with the TSIG key, 2 the secondary without one, 3 that one as an IPv4-mapped
  IPv6 address; 0x80 added: rate limiting at one answer a second over UDP), then the queries,
  each after its two-byte length, as on a TCP stream. Some seeds hold queries that differ only
  in what the UDP answer cache does not look at.
- corpus/tsig/: one byte choosing the clock (see targets.rs), then a signed query.
- corpus/dns_update/: one UPDATE message as nsupdate sends it (signed or not): adds and
  deletions of each form, every prerequisite form, several records, another zone.
  `make_seeds.py dns_update` writes these alone (it needs nsupdate, bind9-dnsutils).

The queries carry the clients' own choices (EDNS, cookies, flags, TSIG), which is the point
of recording them. Run from anywhere; it rewrites the `rec-*` files of those corpora and
leaves other files (hand-made seeds, regressions) alone. Needs dig (bind9-dnsutils) and kdig
(knot-dnsutils).
"""

import os
import select
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "hmac-sha256:xfr-key:cmFuYWgtZnV6ei1rZXktMDEyMzQ1Njc4OWFiY2RlZiE="

Z = "example.go.id"
NAMES = [
    Z, "www." + Z, "WwW.ExAmPlE.gO.iD", "portal." + Z, "alias." + Z, "outside." + Z,
    "into-deleg." + Z, "into-child." + Z, "to-wild." + Z, "chain1." + Z, "loop1." + Z,
    "self." + Z, "a.b.c." + Z, "b.c." + Z, "x.wild." + Z, "x.y.wild." + Z, "z.cname-wild." + Z,
    "nope." + Z, "host.deleg." + Z, "deleg." + Z, "ns1.deleg." + Z, "child." + Z,
    "www.child." + Z, "any.child." + Z, "_sip._tcp." + Z, "big." + Z, "long." + Z,
    "kaltaraprov.go.id", "portal.kaltaraprov.go.id", "x.bulungan.kaltaraprov.go.id",
    "www.example.org", ".",
]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "ANY", "CNAME", "SRV", "CAA", "PTR", "DS",
         "DNSKEY", "TYPE65534"]


def refused(query):
    """REFUSED with the query's ID and question."""
    if len(query) < 12:
        return b""
    flags = 0x8000 | (query[2] & 0x79) << 8 | 5
    return query[:2] + struct.pack(">H", flags) + b"\0\0" * 4


def capture(cmd, port, udp, tcp):
    """Run a client; return the queries it sent, as (transport, bytes)."""
    proc = subprocess.Popen([c.replace("PORT", str(port)) for c in cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = []
    while proc.poll() is None:
        ready, _, _ = select.select([udp, tcp], [], [], 0.2)
        for s in ready:
            if s is udp:
                data, addr = udp.recvfrom(65535)
                got.append(("udp", data))
                udp.sendto(refused(data), addr)
            else:
                conn, _ = tcp.accept()
                conn.settimeout(3)
                try:
                    n = struct.unpack(">H", conn.recv(2, socket.MSG_WAITALL))[0]
                    data = conn.recv(n, socket.MSG_WAITALL)
                    got.append(("tcp", data))
                    answer = refused(data)
                    conn.sendall(struct.pack(">H", len(answer)) + answer)
                except (OSError, struct.error):
                    pass
                conn.close()
    return got


def frame(*queries):
    return b"".join(struct.pack(">H", len(q)) + q for q in queries)


UPDATES = [
    ("add", 'update add _acme-challenge.dinkes.example.go.id 120 TXT "token"'),
    ("add-several", 'update add _acme-challenge.dinkes.example.go.id 120 TXT "a"\n'
                    'update add _acme-challenge.dinkes.example.go.id 120 TXT "b"\n'
                    'update add x.lab.example.go.id 300 A 203.0.113.7\n'
                    'update add x.lab.example.go.id 300 AAAA 2001:db8::7'),
    ("delete-record", 'update delete _acme-challenge.dinkes.example.go.id TXT "token"'),
    ("delete-rrset", "update delete _acme-challenge.dinkes.example.go.id TXT"),
    ("delete-name", "update delete lab.example.go.id"),
    ("prereq-nxdomain", "prereq nxdomain new.example.go.id\n"
                        "update add new.example.go.id 300 A 203.0.113.8"),
    ("prereq-yxdomain", "prereq yxdomain www.example.go.id\n"
                        "update delete www.example.go.id A"),
    ("prereq-nxrrset", "prereq nxrrset www.example.go.id AAAA\n"
                       "update add www.example.go.id 300 AAAA 2001:db8::10"),
    ("prereq-yxrrset", "prereq yxrrset www.example.go.id A\n"
                       "update delete www.example.go.id A 203.0.113.10"),
    ("prereq-value", "prereq yxrrset www.example.go.id A 203.0.113.10\n"
                     "update add www.example.go.id 300 A 203.0.113.11"),
    ("mx-cname", "update add lab.example.go.id 300 MX 10 mail.example.go.id.\n"
                 "update add alias2.example.go.id 300 CNAME www.example.go.id."),
    ("apex-soa", "update add example.go.id 300 SOA ns1 hostmaster 1 2 3 4 5"),
]


def updates(port, udp, tcp):
    """corpus/dns_update/: nsupdate's messages for UPDATES, signed and not, UDP and TCP."""
    import tempfile
    out = os.path.join(HERE, "corpus", "dns_update")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith("rec-"):
            os.remove(os.path.join(out, f))
    written = 0
    for name, lines in UPDATES:
        for zone, suffix in (("example.go.id", ""), ("example.org", "-other-zone")):
            if suffix and name != "add":
                continue
            for how, args in (("signed", ["-y", KEY]), ("unsigned", []), ("tcp", ["-v", "-y", KEY])):
                with tempfile.NamedTemporaryFile("w", suffix=".nsupdate", delete=False) as f:
                    f.write(f"server 127.0.0.1 {port}\nzone {zone}\ncheck-names no\n{lines}\nsend\n")
                    script = f.name
                got = capture(["nsupdate"] + args + [script], port, udp, tcp)
                os.remove(script)
                if not got:
                    print(f"{name}: nothing received from nsupdate", file=sys.stderr)
                    sys.exit(1)
                with open(os.path.join(out, f"rec-{name}{suffix}-{how}"), "wb") as f:
                    f.write(got[0][1])
                written += 1
    print(f"{written} update seeds written")


def main():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(8)
    if sys.argv[1:] == ["dns_update"]:
        updates(port, udp, tcp)
        return

    dig = ["dig", "@127.0.0.1", "-p", "PORT", "+tries=1", "+timeout=2"]
    kdig = ["kdig", "@127.0.0.1", "-p", "PORT", "+retry=0", "+timeout=2"]
    jobs = []  # (file name, selector, command)
    for i, name in enumerate(NAMES):
        qtype = TYPES[i % len(TYPES)]
        jobs.append((f"dig-{i:02}", 0, dig + [name, qtype]))
        jobs.append((f"kdig-{i:02}", 0, kdig + [name, TYPES[(i + 3) % len(TYPES)]]))
    for t in TYPES:
        jobs.append((f"dig-www-{t.lower()}", 0, dig + ["www." + Z, t]))
    options = ["+norec", "+noedns", "+dnssec", "+nsid", "+bufsize=512", "+bufsize=4096",
               "+cdflag", "+adflag", "+subnet=203.0.113.0/24", "+edns=1", "+nocookie",
               "+padding=128", "+ednsopt=65001:abcd", "+ednsflags=0x0080", "+opcode=notify",
               "+opcode=status", "+header-only", "+qr", "+zflag", "+aaflag", "+tcflag"]
    for i, o in enumerate(options):
        jobs.append((f"dig-opt-{i:02}", 0, dig + [o, "big." + Z, "TXT"]))
    jobs += [
        ("dig-class-ch", 0, dig + ["-c", "CH", "version.bind", "TXT"]),
        ("dig-class-any", 0, dig + ["-c", "ANY", Z, "SOA"]),
        ("kdig-nsid-tcp", 0, kdig + ["+tcp", "+nsid", "www." + Z, "A"]),
        ("kdig-do", 0, kdig + ["+dnssec", "x.wild." + Z, "TXT"]),
        ("kdig-bufsize", 0, kdig + ["+bufsize=600", "big." + Z, "TXT"]),
    ]
    transfers = [
        ("dig-axfr", 2, dig + [Z, "AXFR"]),
        ("dig-axfr-stranger", 0, dig + [Z, "AXFR"]),
        ("dig-axfr-child", 2, dig + ["child." + Z, "AXFR"]),
        ("dig-axfr-kaltara", 3, dig + ["kaltaraprov.go.id", "AXFR"]),
        ("dig-axfr-not-apex", 2, dig + ["www." + Z, "AXFR"]),
        ("dig-ixfr", 2, dig + [f"IXFR=2026010099", Z]),
        ("dig-ixfr-current", 2, dig + [f"IXFR=2026010100", Z]),
        ("dig-ixfr-udp", 2, dig + ["+notcp", f"IXFR=2026010099", Z]),
        ("kdig-axfr", 2, kdig + [Z, "AXFR"]),
        ("kdig-ixfr", 2, kdig + [Z, "IXFR=2026010099"]),
        ("dig-axfr-tsig", 1, dig + ["-y", KEY, Z, "AXFR"]),
        ("dig-axfr-tsig-other", 2, dig + ["-y", KEY, Z, "AXFR"]),
        ("dig-ixfr-tsig", 1, dig + ["-y", KEY, f"IXFR=2026010099", Z]),
        ("kdig-axfr-tsig", 1, kdig + ["-y", KEY, Z, "AXFR"]),
        ("dig-soa-tsig", 1, dig + ["-y", KEY, Z, "SOA"]),
        ("kdig-soa-tsig", 1, kdig + ["-y", KEY, Z, "SOA"]),
        ("dig-www-tsig-badkey", 1, dig + ["-y", "hmac-sha256:other-key:" + KEY.split(":")[2],
                                          "www." + Z, "A"]),
        ("dig-www-tsig-sha512", 1, dig + ["-y", "hmac-sha512:xfr-key:" + KEY.split(":")[2],
                                          "www." + Z, "A"]),
    ]
    jobs += transfers

    out = {name: os.path.join(HERE, "corpus", name) for name in ("dns_udp", "dns_tcp", "tsig")}
    for d in out.values():
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith("rec-"):
                os.remove(os.path.join(d, f))
    recorded = {}
    written = 0
    for name, selector, cmd in jobs:
        queries = capture(cmd, port, udp, tcp)
        if not queries:
            print(f"{name}: nothing received from {' '.join(cmd)}", file=sys.stderr)
            sys.exit(1)
        transport, q = queries[0]
        recorded[name] = q
        for target in ("dns_udp", "dns_tcp"):
            with open(os.path.join(out[target], f"rec-{name}"), "wb") as f:
                f.write(bytes([selector]) + frame(*[q for _, q in queries[:2]]))
            written += 1
        if "tsig" in name:
            for skew in range(8):
                with open(os.path.join(out["tsig"], f"rec-{name}-{skew}"), "wb") as f:
                    f.write(bytes([skew]) + q)
                written += 1
    # Pairs of queries the answer cache must tell apart (or rightly not).
    pairs = [("dig-opt-07", "dig-opt-06"), ("dig-opt-02", "dig-www-txt"),
             ("dig-opt-03", "kdig-nsid-tcp"), ("dig-opt-04", "dig-opt-05"),
             ("dig-opt-01", "dig-opt-08"), ("dig-02", "dig-www-mx"), ("dig-opt-13", "dig-opt-12")]
    for a, b in pairs:
        for target in ("dns_udp", "dns_tcp"):
            with open(os.path.join(out[target], f"rec-pair-{a}-{b}"), "wb") as f:
                f.write(b"\0" + frame(recorded[a], recorded[b], recorded[a]))
            written += 1
        # The same over UDP with rate limiting down to one answer a second (selector 0x80).
        with open(os.path.join(out["dns_udp"], f"rec-rrl-pair-{a}-{b}"), "wb") as f:
            f.write(b"\x80" + frame(recorded[a], recorded[b], recorded[a], recorded[b]))
        written += 1
    print(f"{written} seeds written from {len(jobs)} client runs")
    updates(port, udp, tcp)


if __name__ == "__main__":
    main()
