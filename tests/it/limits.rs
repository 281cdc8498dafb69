//! Bounded by design: what a client can make the daemon keep (metric series, log lines,
//! connections, requests in flight) has a limit, and a flood from one source leaves room for
//! the others.
//!
//! The guarantees tested here (docs/dns.md and docs/api.md, "Limits"):
//! - metric labels come from our own names: refused transfers for any number of random names
//!   add no series, and are logged once per interval with the rest counted; what hickory-proto
//!   notices in a malformed query is not logged at all;
//! - DNS over TCP and HTTP: one source holds at most its per-source number of connections, and
//!   another source is still answered while it does; at the total limit (DNS) a new
//!   connection is closed at once, (HTTP) the oldest idle connection makes room, and only when
//!   every one has a request in progress is the new one closed; a
//!   connection that sends nothing (or a message, or headers, a byte at a time) is closed after
//!   its timeout and its place given back;
//! - HTTP: requests beyond the limit in flight get a 503 problem with `Retry-After`, a stalled
//!   body a 408 problem.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::harness::*;

/// A TCP connection to `dst` from the loopback address `src` (127.0.0.2 is another source).
fn connect_from(src: &str, dst: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let src: IpAddr = src.parse().expect("a source address");
    socket.bind(&SocketAddr::new(src, 0).into())?;
    socket.connect_timeout(&dst.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// Whether the server has closed `stream`, waiting at most `wait` for it.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream
            .set_read_timeout(Some(left.min(Duration::from_millis(200))))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true, // reset
        }
    }
}

/// Whether the server has answered `stream` or closed it already (without waiting).
fn answered(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let waiting = matches!(stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    !waiting
}

/// An HTTP/1.1 request from `src`: status, headers (lower-cased names) and body; status 0 when
/// the connection was closed without an answer.
fn http_from(src: &str, api: SocketAddr, request: &str) -> (u16, String, String) {
    let Ok(mut s) = connect_from(src, api) else {
        return (0, String::new(), String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(request.as_bytes()).is_err() {
        return (0, String::new(), String::new());
    }
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: ranah\r\nConnection: close\r\n\r\n")
}

/// The value of the first /metrics sample line that starts with `prefix` (0 when absent).
fn metric(d: &Daemon, prefix: &str) -> f64 {
    let (status, body) = http_get(d.api, "/metrics").unwrap();
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The number of series in /metrics and its size in bytes.
fn series(d: &Daemon) -> (usize, usize) {
    let (status, body) = http_get(d.api, "/metrics").unwrap();
    assert_eq!(status, 200);
    let n = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    (n, body.len())
}

/// Send AXFR queries for `names` over one TCP connection, in pipelined batches, and check that
/// each is refused.
fn refused_transfers(dns: SocketAddr, names: &[String]) {
    let mut s = TcpStream::connect_timeout(&dns, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for batch in names.chunks(100) {
        let mut out = Vec::new();
        for name in batch {
            let bytes = build_query(name, RecordType::AXFR, TCP).to_vec().unwrap();
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        s.write_all(&out).unwrap();
        for name in batch {
            let mut len = [0u8; 2];
            s.read_exact(&mut len).unwrap();
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut reply).unwrap();
            let m = Message::from_vec(&reply).unwrap();
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name}");
        }
    }
}

/// Names nobody configured: half outside every zone, half inside ours but not its apex.
fn random_names(range: std::ops::Range<u64>) -> Vec<String> {
    range
        .map(|i| {
            let r = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i % 2 == 0 {
                format!("x{r:016x}.example.org.")
            } else {
                format!("x{r:016x}.example.go.id.")
            }
        })
        .collect()
}

#[test]
fn refused_transfers_for_random_names_add_no_series_and_one_log_line() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = tmp.path().join("ranah.log");
    let mut d = Daemon::start_process_logging(tmp.path(), dns, None, &log);
    // The first refusals create the series they will ever need.
    refused_transfers(d.dns, &random_names(0..100));
    let (series_before, size_before) = series(&d);
    refused_transfers(d.dns, &random_names(100..5000));
    let (series_after, size_after) = series(&d);
    assert_eq!(
        series_after, series_before,
        "5,000 random names added series"
    );
    // The counters' digits grow; nothing else does.
    assert!(
        size_after < size_before + 64,
        "{size_before} → {size_after} bytes"
    );
    let outside = metric(
        &d,
        "ranah_dns_transfers_refused_total{zone=\"\",reason=\"not_our_zone\"}",
    );
    let inside = metric(
        &d,
        "ranah_dns_transfers_refused_total{zone=\"example.go.id\",reason=\"not_a_zone_apex\"}",
    );
    assert_eq!((outside, inside), (2500.0, 2500.0));
    let suppressed = metric(
        &d,
        "ranah_log_lines_suppressed_total{event=\"dns_transfer_refused\"}",
    );
    d.shutdown();
    let text = std::fs::read_to_string(&log).unwrap();
    let logged = text
        .lines()
        .filter(|l| l.contains("zone transfer refused"))
        .count();
    // One line per minute (the default interval): the test takes less than two.
    assert!((1..=2).contains(&logged), "{logged} lines:\n{text}");
    assert_eq!(
        logged as f64 + suppressed,
        5000.0,
        "every refusal is logged or counted"
    );
    // The ones left out are summed up at the latest at shutdown.
    assert!(
        text.lines()
            .any(|l| l.contains("log lines suppressed") && l.contains("dns_transfer_refused")),
        "{text}"
    );
    assert!(
        text.len() < 16 * 1024,
        "the log grew to {} bytes",
        text.len()
    );
}

const DNS_LIMITS: &str = "[dns]
tcp_max_connections = 24
tcp_max_connections_per_source = 8
tcp_idle_timeout_secs = 2
tcp_message_timeout_secs = 2
";

/// Open `n` connections from `src` that send nothing.
fn hold(src: &str, dst: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| connect_from(src, dst).expect("the kernel accepts the connection"))
        .collect()
}

/// Split `streams` into those the server has closed and those it keeps, looking once at each
/// without waiting: call it when the server has dealt with every one of them.
fn kept(streams: Vec<TcpStream>) -> (usize, Vec<TcpStream>) {
    let mut closed = 0;
    let mut open = Vec::new();
    for mut s in streams {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                s.set_nonblocking(false).unwrap();
                open.push(s);
            }
            _ => closed += 1,
        }
    }
    (closed, open)
}

#[test]
fn dns_tcp_flood_from_one_source_leaves_others_answered_and_idle_connections_closed() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(DNS_LIMITS));
    let per_source = "ranah_dns_tcp_refused_total{reason=\"max_connections_per_source\"}";
    let opened = Instant::now();
    let flood = hold("127.0.0.1", d.dns, 30);
    assert!(
        eventually(10, || metric(&d, per_source) == 22.0),
        "{}",
        metric(&d, per_source)
    );
    let (closed, held) = kept(flood);
    assert_eq!(
        (closed, held.len()),
        (22, 8),
        "8 kept, the rest closed at once"
    );
    assert_eq!(metric(&d, "ranah_dns_tcp_connections "), 8.0);

    // The flooding source gets nothing more; another source is answered.
    let bytes = build_query("www.example.go.id.", RecordType::A, TCP)
        .to_vec()
        .unwrap();
    let mut again = connect_from("127.0.0.1", d.dns).unwrap();
    assert!(
        closed_within(&mut again, Duration::from_secs(2)),
        "a 9th connection from one source is closed"
    );
    let mut other = connect_from("127.0.0.2", d.dns).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    other
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .unwrap();
    other.write_all(&bytes).unwrap();
    let mut len = [0u8; 2];
    other.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    other.read_exact(&mut reply).unwrap();
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    drop(other);
    assert!(eventually(5, || metric(&d, "ranah_dns_tcp_connections ") == 8.0));

    // The total limit: 24 connections from three sources; a fourth source is refused.
    let mut more = hold("127.0.0.3", d.dns, 8);
    more.extend(hold("127.0.0.4", d.dns, 8));
    let total = "ranah_dns_tcp_refused_total{reason=\"max_connections\"}";
    assert!(eventually(10, || metric(&d, "ranah_dns_tcp_connections ") == 24.0));
    let mut fifth = connect_from("127.0.0.5", d.dns).unwrap();
    assert!(
        closed_within(&mut fifth, Duration::from_secs(2)),
        "beyond the total limit"
    );
    assert!(eventually(5, || metric(&d, total) >= 1.0));

    // Idle connections are closed after the idle timeout (2 s), not before.
    for mut s in held.into_iter().chain(more) {
        assert!(
            closed_within(&mut s, Duration::from_secs(8)),
            "an idle connection was kept"
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(1900),
        "closed before the timeout"
    );
    assert!(eventually(5, || metric(&d, "ranah_dns_tcp_connections ") == 0.0));
    assert!(metric(&d, "ranah_dns_tcp_closed_total{reason=\"idle\"}") >= 24.0);

    // Slow-loris: a message sent a byte every 300 ms is cut by the message timeout (2 s),
    // long before it would be complete.
    let mut slow = connect_from("127.0.0.6", d.dns).unwrap();
    let framed = [&(bytes.len() as u16).to_be_bytes()[..], &bytes].concat();
    let started = Instant::now();
    let mut cut = false;
    for byte in &framed {
        if slow.write_all(&[*byte]).is_err() || closed_within(&mut slow, Duration::from_millis(300))
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "a message sent a byte at a time was answered");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "cut after {took:?}"
    );
    assert!(eventually(5, || {
        metric(&d, "ranah_dns_tcp_closed_total{reason=\"message_timeout\"}") >= 1.0
    }));
    // And the flooding source is served again now that its connections are gone.
    let m = query(d.dns, "www.example.go.id.", RecordType::A, TCP);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
}

const HTTP_LIMITS: &str = "[api]
max_connections = 24
max_connections_per_source = 8
header_read_timeout_secs = 2
";

#[test]
fn http_idle_flood_from_one_source_leaves_others_answered_and_is_reclaimed() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(HTTP_LIMITS));
    let per_source = "ranah_http_connections_refused_total{reason=\"max_connections_per_source\"}";
    let opened = Instant::now();
    // 100 connections that send nothing, from one source.
    let flood = hold("127.0.0.1", d.api, 100);
    // /metrics is read from another source: 127.0.0.1 is full.
    let metric_from = |prefix: &str| -> f64 {
        let (status, _, body) = http_from("127.0.0.2", d.api, &get("/metrics"));
        assert_eq!(status, 200);
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        eventually(10, || metric_from(per_source) == 92.0),
        "{}",
        metric_from(per_source)
    );
    let (closed, held) = kept(flood);
    assert_eq!(
        (closed, held.len()),
        (92, 8),
        "8 kept, the rest closed at once"
    );

    // While they are held: the flooding source gets no answer, another source does.
    let (status, _, _) = http_from("127.0.0.1", d.api, &get("/healthz"));
    assert_eq!(
        status, 0,
        "a 9th connection from one source is closed without an answer"
    );
    let (status, _, body) = http_from("127.0.0.2", d.api, &get("/readyz"));
    assert_eq!(status, 200, "{body}");
    // The handlers still see the client's address (ConnectInfo): an unauthenticated call is
    // refused with a problem, answered to the other source.
    let (status, head, _) = http_from("127.0.0.3", d.api, &get("/api/v1/requests"));
    assert_eq!(status, 401);
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );

    // Connections that send no headers are closed after the header timeout (2 s), not before.
    for mut s in held {
        assert!(
            closed_within(&mut s, Duration::from_secs(8)),
            "an idle connection was kept"
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(1900),
        "closed before the timeout"
    );
    // (Counted as the connection's task ends, just after the client saw it closed.)
    assert!(eventually(5, || metric(
        &d,
        "ranah_http_header_timeouts_total"
    ) >= 8.0));
    let (status, _, _) = http_from("127.0.0.1", d.api, &get("/healthz"));
    assert_eq!(status, 200, "the flooding source is served again");

    // A kept-alive connection left idle after its answer is closed after the same timeout.
    let mut kept_alive = connect_from("127.0.0.7", d.api).unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ranah\r\n\r\n")
        .unwrap();
    kept_alive
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("\"ok\"") {
        let n = kept_alive.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut kept_alive, Duration::from_secs(8)),
        "an idle kept-alive connection was kept"
    );
    assert!(
        answered.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        answered.elapsed()
    );

    // Slow-loris on the headers: a byte every 300 ms is cut by the same timeout.
    let mut slow = connect_from("127.0.0.6", d.api).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for byte in get("/healthz").as_bytes() {
        if slow.write_all(&[*byte]).is_err() || closed_within(&mut slow, Duration::from_millis(300))
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "headers sent a byte at a time were answered");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn at_the_total_limit_the_oldest_idle_http_connection_makes_room() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    // `/metrics` on a listener of its own: read on the API's, the reading would take a place
    // there itself, and reclaim one more while the server has not yet seen the held
    // connections close (it did, in one run in a few dozen).
    let config = format!("{HTTP_LIMITS}\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    // 24 idle connections from three sources, each within its own limit, fill the server.
    let mut held = hold("127.0.0.1", d.api, 8);
    held.extend(hold("127.0.0.2", d.api, 8));
    held.extend(hold("127.0.0.3", d.api, 8));
    // A fourth source is answered: the oldest idle connection is closed to make room.
    let (status, _, body) = http_from("127.0.0.4", d.api, &get("/healthz"));
    assert_eq!(status, 200, "{body}");
    let mut oldest = held.remove(0);
    assert!(
        closed_within(&mut oldest, Duration::from_secs(2)),
        "the oldest was kept"
    );
    let (closed, held) = kept(held);
    assert_eq!((closed, held.len()), (0, 23), "only the oldest makes room");
    drop(held);
    let metrics = d.running().metrics_listen.expect("the metrics listener");
    let (status, text) = http_get(metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    let reclaimed = text
        .lines()
        .find_map(|l| l.strip_prefix("ranah_http_connections_reclaimed_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(reclaimed, Some(1.0));
}

/// Stalled request bodies from `src`: each connection has a request in progress until the
/// body timeout answers it with a 408.
fn stall(src: &str, api: SocketAddr, token: &str, n: usize) -> Vec<TcpStream> {
    let stalled = format!(
        "POST /api/v1/requests HTTP/1.1\r\nHost: ranah\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{{\"kind\""
    );
    (0..n)
        .map(|_| {
            let mut s = connect_from(src, api).unwrap();
            s.write_all(stalled.as_bytes()).unwrap();
            s
        })
        .collect()
}

#[test]
fn http_connections_are_refused_only_when_every_one_has_a_request_in_progress() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(
        tmp.path(),
        ([127, 0, 0, 1], 0).into(),
        Some("[api]\nmax_connections = 3\nbody_read_timeout_secs = 5\n"),
    );
    let [andi, ..] = setup_people(&d);
    let mut busy = stall("127.0.0.1", d.api, &andi, 3);
    // Each probe sends a stalled request too, so that a probe let in (in place of a connection
    // whose headers had not been read yet) is in progress itself: once every place has a
    // request in progress, a new connection finds nothing to reclaim and is closed at once.
    let mut refused = false;
    assert!(
        eventually(10, || {
            let mut probe = stall("127.0.0.2", d.api, &andi, 1).remove(0);
            refused = closed_within(&mut probe, Duration::from_millis(300));
            if !refused {
                busy.push(probe);
            }
            refused
        }),
        "a connection was let in while every place had a request in progress"
    );
    // The stalled bodies get their 408s, and then there is room again.
    for s in &mut busy {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = read_response(s);
    }
    assert!(eventually(5, || http_get(d.api, "/healthz")
        .map(|r| r.0)
        .unwrap_or(0)
        == 200));
    assert!(
        metric(
            &d,
            "ranah_http_connections_refused_total{reason=\"max_connections\"}"
        ) >= 1.0
    );
}

#[test]
fn requests_beyond_the_limit_get_503_and_a_stalled_body_408() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(
        tmp.path(),
        ([127, 0, 0, 1], 0).into(),
        Some("[api]\nmax_requests_in_flight = 2\nbody_read_timeout_secs = 5\n"),
    );
    let [andi, ..] = setup_people(&d);
    // Two requests whose bodies never come hold the two places, once their headers are read.
    // The server does not take connections in the order they came: a probe can be let in
    // before a holder, and a holder that comes while the probe and the other holder are in
    // progress is refused itself and holds nothing. Such a holder is replaced before the next
    // probe, so that a probe's 503 means that both holders are in progress.
    let mut holders = stall("127.0.0.1", d.api, &andi, 2);
    let mut started = Instant::now();
    let mut refused = None;
    assert!(
        eventually(10, || {
            for holder in &mut holders {
                if answered(holder) {
                    *holder = stall("127.0.0.1", d.api, &andi, 1).remove(0);
                    started = Instant::now();
                }
            }
            let reply = http_from("127.0.0.2", d.api, &get("/healthz"));
            let full = reply.0 == 503;
            refused = Some(reply);
            full
        }),
        "a third request was answered: {refused:?}"
    );
    let (_, head, body) = refused.unwrap();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("retry-after: 1"), "{head}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "overloaded");
    assert_eq!(problem["status"], 503);
    let overloaded = problem;

    // The stalled bodies get a 408 problem after the body timeout, and the connection closes.
    let mut timed_out = Vec::new();
    for s in &mut holders {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (status, head, body) = read_response(s);
        assert_eq!(status, 408, "{head}\n{body}");
        assert!(head.contains("connection: close"), "{head}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], "request_timeout");
        timed_out.push(problem);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(4900),
        "{:?}",
        started.elapsed()
    );
    // The places are free again; both problems are the ones the OpenAPI document describes.
    assert_eq!(http_get(d.api, "/healthz").unwrap().0, 200);
    let json = "application/problem+json";
    crate::contract::check(d.api, "GET", "/healthz", 503, json, &overloaded);
    for problem in &timed_out {
        crate::contract::check(d.api, "POST", "/api/v1/requests", 408, json, problem);
    }
    assert!(
        metric(
            &d,
            "ranah_http_problems_total{status=\"503\",code=\"overloaded\"}"
        ) >= 1.0
    );
    assert_eq!(
        metric(
            &d,
            "ranah_http_problems_total{status=\"408\",code=\"request_timeout\"}"
        ),
        2.0
    );
}

#[test]
fn unauthenticated_requests_are_counted_and_logged_once() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = tmp.path().join("ranah.log");
    let mut d = Daemon::start_process_logging(tmp.path(), dns, None, &log);
    for i in 0..300 {
        let token = format!("Authorization: Bearer wrong-{i}\r\n");
        let request = format!(
            "GET /api/v1/requests HTTP/1.1\r\nHost: ranah\r\n{token}Connection: close\r\n\r\n"
        );
        assert_eq!(http_from("127.0.0.1", d.api, &request).0, 401);
    }
    assert_eq!(
        metric(
            &d,
            "ranah_http_problems_total{status=\"401\",code=\"unauthorized\"}"
        ),
        300.0
    );
    d.shutdown();
    let text = std::fs::read_to_string(&log).unwrap();
    let logged = text
        .lines()
        .filter(|l| l.contains("request refused") && l.contains("unauthorized"))
        .count();
    assert!((1..=2).contains(&logged), "{logged} lines:\n{text}");
}

/// What hickory-proto notices in a query it parses (an OPT option cut short, a SIG record) is
/// not logged: any client can send it with every query. Each query is still answered.
#[test]
fn malformed_queries_leave_no_log_lines() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = tmp.path().join("ranah.log");
    let mut d = Daemon::start_process_logging(tmp.path(), dns, None, &log);
    let base = build_query(
        "www.example.go.id.",
        RecordType::A,
        Q {
            edns: None,
            tcp: true,
        },
    )
    .to_vec()
    .unwrap();
    let with_additional = |id: u16, record: &[u8]| {
        let mut q = base.clone();
        q[..2].copy_from_slice(&id.to_be_bytes());
        q[10..12].copy_from_slice(&1u16.to_be_bytes());
        q.extend_from_slice(record);
        q
    };
    // OPT (size 1232) whose 6 bytes of options hold a cookie of 4 bytes cut to 2.
    let opt = [0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 6, 0, 10, 0, 4, 1, 2];
    // SIG(0) (RFC 2931): type covered 0, algorithm 15, no labels, times, key tag, signer
    // `example.go.id.`, a signature of 4 bytes.
    let mut sig = vec![0, 0, 24, 0, 255, 0, 0, 0, 0];
    let mut rdata = vec![0, 0, 15, 0, 0, 0, 0, 0, 0x70, 0, 0, 0, 0x60, 0, 0, 0, 0, 1];
    rdata.extend_from_slice(b"\x07example\x02go\x02id\x00");
    rdata.extend_from_slice(&[1, 2, 3, 4]);
    sig.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    sig.extend_from_slice(&rdata);
    for i in 0..200u16 {
        for (n, record) in [(0, &opt[..]), (1, &sig[..])] {
            let id = i * 2 + n;
            let reply = exchange_raw(d.dns, &with_additional(id, record), true)
                .expect("an answer over TCP");
            let reply = Message::from_vec(&reply).unwrap();
            assert_eq!(reply.metadata.id, id);
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError, "{n}");
            assert_eq!(reply.answers.len(), 1, "www.example.go.id. A");
        }
    }
    d.shutdown();
    let text = std::fs::read_to_string(&log).unwrap();
    let noticed = text
        .lines()
        .filter(|l| l.contains("hickory_proto") || l.contains("EDNS") || l.contains("SIG(0)"))
        .count();
    assert_eq!(noticed, 0, "{text}");
    assert!(
        text.len() < 8 * 1024,
        "the log grew to {} bytes",
        text.len()
    );
}
