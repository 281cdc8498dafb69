#!/usr/bin/env python3
"""Generate a zone of N names and a dnsperf query file for the DNS benchmark.

Names: host000000 ... with an A record; every 4th also AAAA, every 10th a TXT, every 20th an
alias CNAME to its host. Queries (seeded, so every run and every server sees the same list):
80 % existing names (A, AAAA where present, the CNAMEs), 10 % names that do not exist, 10 %
other types (MX, TXT, NS, SOA; NODATA for most names).

--do-half writes the same queries in dnsperf's binary format (`dnsperf -B`: each query a
length-prefixed DNS message) instead of text, every second one carrying EDNS with DNSSEC OK
(the DNSSEC benchmark): dnsperf's text format has no per-query DO flag, and `-D` sets it on
all. --sample writes 20 queries (the apex SOA and DNSKEY, existing names, a CNAME, a NODATA,
names that do not exist) for a correctness check; it draws from its own seed, so the query
file is the same with or without it.
"""
import argparse
import random
import struct

QTYPES = {"A": 1, "NS": 2, "SOA": 6, "CNAME": 5, "DNSKEY": 48, "MX": 15, "TXT": 16, "AAAA": 28}


def wire_query(name: str, qtype: str, dnssec_ok: bool) -> bytes:
    """A query as dnsperf would build it (RD set, the ID is overwritten by dnsperf), with an
    OPT record (UDP size 1232, DO) when dnssec_ok."""
    header = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 1 if dnssec_ok else 0)
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    msg = header + qname + struct.pack("!HH", QTYPES[qtype], 1)
    if dnssec_ok:
        # Root owner, type OPT, class = UDP payload size, TTL = ext-rcode, version, DO flag.
        msg += b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0x8000, 0)
    return msg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=10_000, help="number of names")
    ap.add_argument("--origin", default="bench.example")
    ap.add_argument("--zone", required=True, help="zone file to write")
    ap.add_argument("--queries", required=True, help="query file to write")
    ap.add_argument("--count", type=int, default=100_000, help="queries in the file")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--do-half", action="store_true",
                    help="write the queries in dnsperf's binary format, every second with DO")
    ap.add_argument("--sample", help="also write 20 sample queries (text) to this file")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    o = a.origin.rstrip(".")
    with open(a.zone, "w") as z:
        z.write(f"$ORIGIN {o}.\n$TTL 3600\n")
        z.write(f"@ IN SOA ns1.{o}. hostmaster.{o}. 2026010100 3600 900 1209600 300\n")
        z.write("@ IN NS ns1\n@ IN NS ns2\n@ IN A 203.0.113.1\n@ IN MX 10 mail\n")
        z.write('@ IN TXT "v=spf1 mx -all"\n')
        z.write("ns1 IN A 203.0.113.2\nns2 IN A 203.0.113.3\nmail IN A 203.0.113.25\n")
        for i in range(a.n):
            name = f"host{i:06d}"
            z.write(f"{name} IN A 203.0.113.{i % 250 + 1}\n")
            if i % 4 == 0:
                z.write(f"{name} IN AAAA 2001:db8::{i % 65535:x}\n")
            if i % 10 == 0:
                z.write(f'{name} IN TXT "service {i}"\n')
            if i % 20 == 0:
                z.write(f"alias{i:06d} IN CNAME {name}\n")
    queries = []
    for _ in range(a.count):
        r = rnd.random()
        i = rnd.randrange(a.n)
        if r < 0.80:
            if i % 20 == 0 and rnd.random() < 0.5:
                queries.append((f"alias{i:06d}.{o}", "A"))
            elif i % 4 == 0 and rnd.random() < 0.5:
                queries.append((f"host{i:06d}.{o}", "AAAA"))
            else:
                queries.append((f"host{i:06d}.{o}", "A"))
        elif r < 0.90:
            queries.append((f"nx{rnd.getrandbits(40):010x}.{o}", "A"))
        else:
            t = rnd.choice(["MX", "TXT", "NS", "SOA"])
            queries.append((f"host{i:06d}.{o}", t))
    if a.do_half:
        with open(a.queries, "wb") as q:
            for k, (name, qtype) in enumerate(queries):
                msg = wire_query(name, qtype, k % 2 == 1)
                q.write(struct.pack("!H", len(msg)) + msg)
    else:
        with open(a.queries, "w") as q:
            for name, qtype in queries:
                q.write(f"{name} {qtype}\n")
    if a.sample:
        s = random.Random(a.seed + 1)
        # 20 queries: the apex SOA and DNSKEY, 3 A, 2 TXT, an AAAA, a CNAME, a NODATA, 10
        # NXDOMAIN.
        sample = [(o, "SOA"), (o, "DNSKEY")]
        sample += [(f"host{s.randrange(a.n):06d}.{o}", "A") for _ in range(3)]
        sample += [(f"host{s.randrange(a.n // 10) * 10:06d}.{o}", "TXT") for _ in range(2)]
        sample.append((f"host{s.randrange(a.n // 4) * 4:06d}.{o}", "AAAA"))
        sample.append((f"alias{s.randrange(a.n // 20) * 20:06d}.{o}", "A"))
        sample.append((f"host{s.randrange(a.n):06d}.{o}", "MX"))
        sample += [(f"nx{s.getrandbits(40):010x}.{o}", "A") for _ in range(10)]
        with open(a.sample, "w") as f:
            for name, qtype in sample:
                f.write(f"{name} {qtype}\n")


if __name__ == "__main__":
    main()
