#!/usr/bin/env python3
"""Generate a zone of N names and dnsperf query files for the DNS benchmarks.

Names: host000000 ... with an A record; every 4th also AAAA, every 10th a TXT, every 20th an
alias CNAME to its host. Queries (seeded, so every run and every server sees the same list):
80 % existing names (A, AAAA where present, the CNAMEs), 10 % names that do not exist, 10 %
other types (MX, TXT, NS, SOA; NODATA for most names).

--do-half writes the same queries in dnsperf's binary format (`dnsperf -B`: each query a
length-prefixed DNS message) instead of text, every second one carrying EDNS with DNSSEC OK
(the DNSSEC benchmark): dnsperf's text format has no per-query DO flag, and `-D` sets it on
all. --sample writes 20 queries (the apex SOA and DNSKEY, existing names, a CNAME, a NODATA,
names that do not exist) for a correctness check.

The attack mixes of tests/bench/dns.sh:
--nxdomain FILE (repeatable) writes --nxdomain-count queries for random-looking names that do
  not exist (nx + 12 hex digits, type A) to each FILE: the digits are a seeded bijection of
  a counter that runs on across the files, so no name repeats within or across them, and a
  server cannot answer any of them from a cache.
--random-case FILE writes --count queries for existing names only (A, AAAA, the CNAMEs, in
  the proportions of the 80 % above), every letter of the name, the origin's included, in
  random case (HoSt000123.BeNcH.eXaMpLe).
--edns-options FILE writes the mixed queries above, the same names and types in the same
  order, in dnsperf's binary format, each with EDNS (UDP size 1232, no DO) carrying one to
  three options of codes from the local/experimental range 65001-65534 with 0-32 random
  bytes each; a quarter also carry a client COOKIE (8 random bytes), a quarter PADDING to a
  multiple of 128 bytes (RFC 8467's policy for queries).

Each output draws from its own seed (derived from --seed), so every file is the same whichever
others are written. --zone and --queries are optional: the script writes the random-name files
once for all zone sizes.
"""
import argparse
import random
import struct

QTYPES = {"A": 1, "NS": 2, "SOA": 6, "CNAME": 5, "DNSKEY": 48, "MX": 15, "TXT": 16, "AAAA": 28}
OPT_COOKIE = 10
OPT_PADDING = 12


def wire_query(name: str, qtype: str, dnssec_ok: bool = False, options=None) -> bytes:
    """A query as dnsperf would build it (RD set, the ID is overwritten by dnsperf). With
    dnssec_ok or options (a list of (code, payload)) it carries an OPT record, UDP size 1232;
    a PADDING option with a None payload pads the message to a multiple of 128 bytes."""
    edns = dnssec_ok or options is not None
    header = struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 1 if edns else 0)
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    msg = header + qname + struct.pack("!HH", QTYPES[qtype], 1)
    if edns:
        rdata = b""
        pad = False
        for code, payload in options or []:
            if code == OPT_PADDING and payload is None:
                pad = True
                continue
            rdata += struct.pack("!HH", code, len(payload)) + payload
        # Root owner, type OPT, class = UDP payload size, TTL = ext-rcode, version, flags.
        fixed = 11
        if pad:
            length = (-(len(msg) + fixed + len(rdata) + 4)) % 128
            rdata += struct.pack("!HH", OPT_PADDING, length) + bytes(length)
        msg += b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0x8000 if dnssec_ok else 0, len(rdata))
        msg += rdata
    return msg


def existing_query(rnd: random.Random, i: int, o: str):
    """One query for an existing name: its A, its AAAA (every 4th name), or an alias (every 20th)."""
    if i % 20 == 0 and rnd.random() < 0.5:
        return f"alias{i:06d}.{o}", "A"
    if i % 4 == 0 and rnd.random() < 0.5:
        return f"host{i:06d}.{o}", "AAAA"
    return f"host{i:06d}.{o}", "A"


def random_case(rnd: random.Random, name: str) -> str:
    return "".join(c.upper() if c.isalpha() and rnd.random() < 0.5 else c for c in name)


def edns_options(rnd: random.Random):
    """One to three unknown options, sometimes a client COOKIE and PADDING, in random order."""
    options = [(rnd.randint(65001, 65534), rnd.randbytes(rnd.randint(0, 32)))
               for _ in range(rnd.randint(1, 3))]
    if rnd.random() < 0.25:
        options.append((OPT_COOKIE, rnd.randbytes(8)))
    rnd.shuffle(options)
    if rnd.random() < 0.25:
        # Last, as RFC 7830 asks: its length depends on everything before it.
        options.append((OPT_PADDING, None))
    return options


def scrambled(k: int, key: int) -> int:
    """A bijection of 48-bit numbers (xor, odd multipliers, xorshifts): distinct counters give
    distinct, random-looking numbers."""
    m = (1 << 48) - 1
    v = ((k ^ key) * 0x9E3779B97F4B) & m
    v ^= v >> 23
    v = (v * 0xD6E8FEB86659) & m
    return v ^ (v >> 25)


def write_binary(path: str, messages) -> None:
    with open(path, "wb") as q:
        for msg in messages:
            q.write(struct.pack("!H", len(msg)) + msg)


def write_text(path: str, queries) -> None:
    with open(path, "w") as q:
        for name, qtype in queries:
            q.write(f"{name} {qtype}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="number of names")
    ap.add_argument("--origin", default="bench.example")
    ap.add_argument("--zone", help="zone file to write")
    ap.add_argument("--queries", help="query file to write (the mixed queries)")
    ap.add_argument("--count", type=int, default=100_000, help="queries in the mixed and random-case files")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--do-half", action="store_true",
                    help="write the queries in dnsperf's binary format, every second with DO")
    ap.add_argument("--sample", help="also write 20 sample queries (text) to this file")
    ap.add_argument("--nxdomain", action="append", default=[],
                    help="write --nxdomain-count queries for random names that do not exist (repeatable)")
    ap.add_argument("--nxdomain-count", type=int, default=1_000_000)
    ap.add_argument("--random-case", help="write --count queries for existing names in random case")
    ap.add_argument("--edns-options", help="write the mixed queries with random EDNS options (binary)")
    a = ap.parse_args()
    if a.n < 1 or a.count < 1 or a.nxdomain_count < 1:
        ap.error("-n, --count and --nxdomain-count must be positive")
    rnd = random.Random(a.seed)
    o = a.origin.rstrip(".")
    if a.zone:
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
    if a.queries or a.edns_options:
        queries = []
        for _ in range(a.count):
            r = rnd.random()
            i = rnd.randrange(a.n)
            if r < 0.80:
                queries.append(existing_query(rnd, i, o))
            elif r < 0.90:
                queries.append((f"nx{rnd.getrandbits(40):010x}.{o}", "A"))
            else:
                t = rnd.choice(["MX", "TXT", "NS", "SOA"])
                queries.append((f"host{i:06d}.{o}", t))
        if a.queries and a.do_half:
            write_binary(a.queries, (wire_query(name, qtype, k % 2 == 1)
                                     for k, (name, qtype) in enumerate(queries)))
        elif a.queries:
            write_text(a.queries, queries)
        if a.edns_options:
            e = random.Random(a.seed + 3)
            write_binary(a.edns_options, (wire_query(name, qtype, options=edns_options(e))
                                          for name, qtype in queries))
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
        write_text(a.sample, sample)
    if a.random_case:
        c = random.Random(a.seed + 2)
        write_text(a.random_case, ((random_case(c, name), qtype)
                                   for name, qtype in (existing_query(c, c.randrange(a.n), o)
                                                       for _ in range(a.count))))
    if a.nxdomain:
        key = random.Random(a.seed + 4).getrandbits(48)
        k = 0
        for path in a.nxdomain:
            with open(path, "w") as f:
                # In chunks: millions of lines, one write each would be slow.
                end = k + a.nxdomain_count
                while k < end:
                    chunk = range(k, min(end, k + 65536))
                    f.write("".join(f"nx{scrambled(i, key):012x}.{o} A\n" for i in chunk))
                    k = chunk.stop


if __name__ == "__main__":
    main()
