#!/usr/bin/env python3
"""Generate a zone of N names and a dnsperf query file for the DNS benchmark.

Names: host000000 ... with an A record; every 4th also AAAA, every 10th a TXT, every 20th an
alias CNAME to its host. Queries (seeded, so every run and every server sees the same list):
80 % existing names (A, AAAA where present, the CNAMEs), 10 % names that do not exist, 10 %
other types (MX, TXT, NS, SOA; NODATA for most names).
"""
import argparse
import random


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=10_000, help="number of names")
    ap.add_argument("--origin", default="bench.example")
    ap.add_argument("--zone", required=True, help="zone file to write")
    ap.add_argument("--queries", required=True, help="query file to write")
    ap.add_argument("--count", type=int, default=100_000, help="queries in the file")
    ap.add_argument("--seed", type=int, default=2026)
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
    with open(a.queries, "w") as q:
        for _ in range(a.count):
            r = rnd.random()
            i = rnd.randrange(a.n)
            if r < 0.80:
                if i % 20 == 0 and rnd.random() < 0.5:
                    q.write(f"alias{i:06d}.{o} A\n")
                elif i % 4 == 0 and rnd.random() < 0.5:
                    q.write(f"host{i:06d}.{o} AAAA\n")
                else:
                    q.write(f"host{i:06d}.{o} A\n")
            elif r < 0.90:
                q.write(f"nx{rnd.getrandbits(40):010x}.{o} A\n")
            else:
                t = rnd.choice(["MX", "TXT", "NS", "SOA"])
                q.write(f"host{i:06d}.{o} {t}\n")


if __name__ == "__main__":
    main()
