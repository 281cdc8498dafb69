#!/usr/bin/env python3
"""Floods a running ranah as an attacker would, and prints what it cost the daemon.

    flood.py axfr --pid PID --dns 127.0.0.1:5300 --api 127.0.0.1:8080 [-n 300000]
    flood.py idle --pid PID --dns 127.0.0.1:5300 --api 127.0.0.1:8080 [-n 20000] [--sources 1]
                  [--target api|dns]

axfr: N AXFR queries for random names (half outside every zone, half below the apex of
example.go.id) over TCP, pipelined in batches, each answer checked to be REFUSED. Prints the
number of series and the size of /metrics and the daemon's RSS and open descriptors before and
after.

idle: N connections to the API (or DNS over TCP) that send nothing, from SOURCES loopback
addresses (127.0.0.1, 127.0.0.2, ...). Prints how many the daemon kept open, refused at once and
reclaimed to make room (from its own metrics, read from 127.0.1.2), its open descriptors, whether
and how fast a fresh client (127.0.1.1) is answered by the API, by DNS over TCP and over UDP
while they are held, and when the kept ones were closed.

Standard library only; loopback only; every loop ends by a deadline.
"""

import argparse
import http.client
import os
import random
import resource
import socket
import struct
import sys
import time

DEADLINE_SECS = 600


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def metrics(api):
    # From a source of its own: the flooding ones may be at their limit.
    conn = http.client.HTTPConnection(api[0], api[1], timeout=10, source_address=("127.0.1.2", 0))
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    series = [l for l in body.splitlines() if l and not l.startswith("#")]
    return series, len(body)


def metric(series, prefix):
    for line in series:
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def query(name, qtype, qid=0):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split("."))
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", qtype, 1)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def report(label, pid, api):
    series, size = metrics(api)
    print(f"{label}: {len(series)} series, /metrics {size} bytes, RSS {rss_mib(pid):.1f} MiB, "
          f"{open_fds(pid)} descriptors")
    return series


def flood_axfr(args):
    dns, api = addr(args.dns), addr(args.api)
    report("before", args.pid, api)
    rng = random.Random(13)
    deadline = time.monotonic() + DEADLINE_SECS
    sent = refused = 0
    started = time.monotonic()
    sock = socket.create_connection(dns, timeout=10)
    while sent < args.n and time.monotonic() < deadline:
        batch = min(200, args.n - sent)
        out = bytearray()
        for i in range(batch):
            zone = "example.org" if (sent + i) % 2 == 0 else "example.go.id"
            q = query(f"x{rng.getrandbits(64):016x}.{zone}", 252, (sent + i) & 0xFFFF)
            out += struct.pack(">H", len(q)) + q
        sock.sendall(out)
        for _ in range(batch):
            (n,) = struct.unpack(">H", recv_exact(sock, 2))
            reply = recv_exact(sock, n)
            if reply[3] & 0x0F == 5:
                refused += 1
        sent += batch
    sock.close()
    took = time.monotonic() - started
    print(f"sent {sent} AXFR queries in {took:.1f} s ({sent / took:.0f}/s), {refused} REFUSED")
    series = report("after", args.pid, api)
    for line in series:
        if "transfers_refused" in line or "log_lines_suppressed" in line:
            print("  " + line)


def fresh_http(api, source):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(5)
    t = time.monotonic()
    try:
        s.connect(api)
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: ranah\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        data = b""
    finally:
        s.close()
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "no answer"
    return status, (time.monotonic() - t) * 1000


def fresh_dns(dns, source, tcp):
    q = query("example.go.id", 6, 4242)
    t = time.monotonic()
    try:
        if tcp:
            s = socket.socket()
            s.bind((source, 0))
            s.settimeout(5)
            s.connect(dns)
            s.sendall(struct.pack(">H", len(q)) + q)
            (n,) = struct.unpack(">H", recv_exact(s, 2))
            reply = recv_exact(s, n)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            s.settimeout(5)
            s.sendto(q, dns)
            reply, _ = s.recvfrom(65535)
        s.close()
        rcode = reply[3] & 0x0F
        return ("NOERROR" if rcode == 0 else f"rcode {rcode}"), (time.monotonic() - t) * 1000
    except OSError as e:
        return f"no answer ({e.__class__.__name__})", (time.monotonic() - t) * 1000


def counters(api, target):
    """What the daemon says of the flood's connections: open now (without the reader's own),
    refused at once, reclaimed to make room, closed by a timeout."""
    series, _ = metrics(api)
    if target == "api":
        return {
            "open": metric(series, "ranah_http_connections ") - 1,
            "refused": sum(metric(series, f'ranah_http_connections_refused_total{{reason="{r}"}}')
                           for r in ("max_connections", "max_connections_per_source")),
            "reclaimed": metric(series, "ranah_http_connections_reclaimed_total"),
            "timed_out": metric(series, "ranah_http_header_timeouts_total"),
        }
    return {
        "open": metric(series, "ranah_dns_tcp_connections "),
        "refused": sum(metric(series, f'ranah_dns_tcp_refused_total{{reason="{r}"}}')
                       for r in ("max_connections", "max_connections_per_source")),
        "reclaimed": 0.0,
        "timed_out": metric(series, 'ranah_dns_tcp_closed_total{reason="idle"}'),
    }


def flood_idle(args):
    dns, api = addr(args.dns), addr(args.api)
    target = api if args.target == "api" else dns
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.n + 1024
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
        except (ValueError, OSError):
            # Raising the hard limit needs CAP_SYS_RESOURCE: take what the hard limit allows,
            # and say so rather than fail halfway.
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            if args.n > hard - 64:
                print(f"this client may open {hard} files (hard limit): "
                      f"{hard - 64} connections instead of {args.n}")
                args.n = hard - 64
    base = counters(api, args.target)
    print(f"before: {open_fds(args.pid)} descriptors, RSS {rss_mib(args.pid):.1f} MiB")
    per_source = -(-args.n // args.sources)
    socks = []
    failed_connect = 0
    started = time.monotonic()
    for i in range(args.n):
        if time.monotonic() - started > DEADLINE_SECS / 4:
            break
        s = socket.socket()
        s.bind((f"127.0.0.{1 + i // per_source}", 0))
        s.setblocking(False)
        try:
            s.connect(target)
        except BlockingIOError:
            pass
        except OSError:
            failed_connect += 1
            s.close()
            continue
        socks.append(s)
    print(f"opened {len(socks)} connections from {args.sources} source(s) in "
          f"{time.monotonic() - started:.1f} s ({failed_connect} failed to connect)")
    # Wait until the daemon has taken every one (kept, refused or reclaimed), or nothing moved
    # for a second, at most 4 s (the ones it keeps time out after 10 s): connections beyond the
    # listen backlog come in only as the client's SYNs are retried.
    end = time.monotonic() + 4
    last, still = -1, time.monotonic()
    while True:
        c = counters(api, args.target)
        # (A read of /metrics may itself reclaim one idle connection: counted.)
        seen = (c["open"] + c["refused"] - base["refused"] + c["reclaimed"] - base["reclaimed"]
                + c["timed_out"] - base["timed_out"])
        if seen != last:
            last, still = seen, time.monotonic()
        if seen >= len(socks) or time.monotonic() - still > 1 or time.monotonic() > end:
            break
        time.sleep(0.1)
    t_held = time.monotonic()
    print(f"taken by the daemon after {t_held - started:.1f} s: kept open {c['open']:.0f}, "
          f"refused at once {c['refused'] - base['refused']:.0f}, reclaimed to make room "
          f"{c['reclaimed'] - base['reclaimed']:.0f}, not arrived yet {len(socks) - seen:.0f}; "
          f"daemon descriptors {open_fds(args.pid)}, "
          f"RSS {rss_mib(args.pid):.1f} MiB")
    fresh = "127.0.1.1"
    status, ms = fresh_http(api, fresh)
    print(f"while held: API /readyz from {fresh}: {status} in {ms:.1f} ms")
    status, ms = fresh_http(api, "127.0.0.1")
    print(f"while held: API /readyz from the flooding source 127.0.0.1: {status} in {ms:.1f} ms")
    for tcp in (True, False):
        answer, ms = fresh_dns(dns, fresh, tcp)
        print(f"while held: DNS over {'TCP' if tcp else 'UDP'} from {fresh}: {answer} in {ms:.1f} ms")
    # Wait for the daemon to close the ones it kept (its timeout), at most 60 s.
    end = time.monotonic() + 60
    while counters(api, args.target)["open"] > 0 and time.monotonic() < end:
        time.sleep(0.5)
    c = counters(api, args.target)
    print(f"kept ones closed by the daemon within {time.monotonic() - t_held:.1f} s "
          f"({c['open']:.0f} still open)")
    status, ms = fresh_http(api, "127.0.0.1")
    print(f"after: API /readyz from 127.0.0.1: {status} in {ms:.1f} ms; daemon descriptors: "
          f"{open_fds(args.pid)}")
    for s in socks:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["axfr", "idle"])
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--dns", required=True)
    p.add_argument("--api", required=True)
    p.add_argument("-n", type=int)
    p.add_argument("--sources", type=int, default=1)
    p.add_argument("--target", choices=["api", "dns"], default="api")
    args = p.parse_args()
    if args.mode == "axfr":
        args.n = args.n or 300_000
        flood_axfr(args)
    else:
        args.n = args.n or 20_000
        if not 1 <= args.sources <= 250:
            sys.exit("--sources must be 1..250")
        flood_idle(args)


if __name__ == "__main__":
    main()
