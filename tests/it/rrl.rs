//! Response rate limiting over UDP: a flood from one source is answered at the rate, slipped
//! and dropped in the configured proportions while an exempt source is answered in full, and a
//! slipped answer sends `dig` to TCP, where it gets its answer.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use crate::harness::*;

/// What a client saw of its queries.
#[derive(Debug, Default)]
struct Seen {
    sent: u64,
    /// Whole answers (the A record of www).
    answered: u64,
    /// Truncated answers (TC, no records).
    truncated: u64,
    /// Neither.
    lost: u64,
    /// Seconds from the first query to the last.
    elapsed: f64,
}

/// Send `www.example.go.id. A` from `from` to `server` at `qps` for `secs` (bounded), reading
/// the replies as they come, then for one more second.
fn flood(from: &str, server: SocketAddr, qps: u64, secs: f64) -> Seen {
    let sock = UdpSocket::bind((from, 0)).unwrap();
    sock.set_nonblocking(true).unwrap();
    let query = build_query("www.example.go.id.", RecordType::A, UDP);
    let mut seen = Seen::default();
    let mut replies = std::collections::HashSet::new();
    let mut buf = vec![0u8; 4096];
    let mut read = |seen: &mut Seen, replies: &mut std::collections::HashSet<u16>| {
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let m = Message::from_vec(&buf[..n]).expect("a reply that parses");
            assert!(replies.insert(m.metadata.id), "two replies to one query");
            if m.metadata.truncation {
                assert!(
                    m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty()
                );
                seen.truncated += 1;
            } else {
                assert_eq!(m.answers.len(), 1, "{m:?}");
                seen.answered += 1;
            }
        }
    };
    let total = (qps as f64 * secs) as u64;
    assert!(total < u64::from(u16::MAX), "IDs must stay unique");
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / qps as f64);
    while seen.sent < total {
        let due = start + interval * seen.sent as u32;
        let now = Instant::now();
        if now < due {
            // Pace the queries (and read replies meanwhile) without sleeping past the slot.
            read(&mut seen, &mut replies);
            std::thread::sleep((due - now).min(Duration::from_millis(1)));
            continue;
        }
        let mut m = query.clone();
        m.metadata.id = seen.sent as u16;
        sock.send_to(&m.to_vec().unwrap(), server).unwrap();
        seen.sent += 1;
    }
    seen.elapsed = start.elapsed().as_secs_f64();
    // Replies still on their way: read for a second more (a bounded wait, not a fixed sleep
    // whose length the result depends on: every reply that comes is counted).
    let drain = Instant::now() + Duration::from_secs(1);
    while Instant::now() < drain {
        read(&mut seen, &mut replies);
        std::thread::sleep(Duration::from_millis(5));
    }
    seen.lost = seen.sent - seen.answered - seen.truncated;
    seen
}

/// `ranah_dns_rrl_responses_total{kind="positive",action=…}` for each action.
fn rrl_counts(d: &Daemon, kind: &str) -> [u64; 3] {
    let (status, body) = http_get(d.api, "/metrics").unwrap();
    assert_eq!(status, 200);
    ["answered", "slipped", "dropped"].map(|action| {
        let series =
            format!("ranah_dns_rrl_responses_total{{kind=\"{kind}\",action=\"{action}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no series {series} in\n{body}"))
            .trim()
            .parse()
            .unwrap()
    })
}

fn start(config: &str) -> (tempfile::TempDir, Daemon) {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
    (tmp, d)
}

const RATE: u64 = 50;

#[test]
fn a_one_source_flood_is_limited_while_an_exempt_source_gets_every_answer() {
    // Two workers: the kernel spreads one source's queries over both, and the limit must hold
    // across them.
    let (_tmp, d) = start(&format!(
        "[dns]\nudp_workers = 2\n[dns.rrl]\nrate = {RATE}\nslip = 2\nexempt = [\"127.0.0.3\"]\n"
    ));
    let server = d.dns;
    let (qps, secs) = (1000, 2.0);
    let exempt = std::thread::spawn(move || flood("127.0.0.3", server, qps / 2, secs));
    let limited = flood("127.0.0.2", server, qps, secs);
    let exempt = exempt.join().unwrap();
    eprintln!("flood from 127.0.0.2: {limited:?}\nexempt 127.0.0.3: {exempt:?}");

    // The exempt source, in the same /24 as the flood: every query answered in full.
    assert_eq!(exempt.answered, exempt.sent, "{exempt:?}");
    assert_eq!(exempt.truncated, 0);

    // The flood: a burst of one second's worth, then the rate.
    let most = RATE + (RATE as f64 * (limited.elapsed + 0.2)).ceil() as u64;
    let least = RATE + (RATE as f64 * (limited.elapsed - 0.2)) as u64;
    assert!(
        (least..=most).contains(&limited.answered),
        "answered {} not in {least}..={most}: {limited:?}",
        limited.answered
    );
    // Slip 2: every second limited answer truncated, the others dropped (each worker keeps
    // its own sequence, so the halves may differ by one per worker).
    let over = limited.sent - limited.answered;
    assert!(
        limited.truncated.abs_diff(over / 2) <= 2,
        "truncated {} of {over} limited: {limited:?}",
        limited.truncated
    );
    assert_eq!(limited.lost, over - limited.truncated);

    // The metrics count what the clients saw (the exempt answers as answered).
    let total = limited.sent + exempt.sent;
    let mut counts = [0; 3];
    let complete = eventually(10, || {
        counts = rrl_counts(&d, "positive");
        counts.iter().sum::<u64>() == total
    });
    assert!(complete, "metrics {counts:?}, {total} queries sent");
    assert_eq!(
        counts,
        [
            limited.answered + exempt.answered,
            limited.truncated,
            limited.lost
        ]
    );
    // Every kind's series is there from the start, none from a packet.
    let (_, body) = http_get(d.api, "/metrics").unwrap();
    let series = body
        .lines()
        .filter(|l| l.starts_with("ranah_dns_rrl_responses_total{"))
        .count();
    assert_eq!(series, 6 * 3, "{body}");
}

#[test]
fn a_slipped_answer_sends_dig_to_tcp() {
    // Slip 1: every limited answer is truncated.
    let (_tmp, d) = start("[dns.rrl]\nrate = 1\nslip = 1\n");
    let server = d.dns;
    // Keep the bucket of 127.0.0.0/24 for www empty while dig asks (bounded: 5 s at most).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.2:0").unwrap();
            let q = build_query("www.example.go.id.", RecordType::A, UDP)
                .to_vec()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                sock.send_to(&q, server).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    // The flood's first answer took the bucket's only token: from now on, truncated.
    let probe = UdpSocket::bind("127.0.0.2:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let q = build_query("www.example.go.id.", RecordType::A, UDP)
        .to_vec()
        .unwrap();
    let limited = eventually(5, || {
        probe.send_to(&q, server).unwrap();
        let mut buf = [0u8; 1500];
        probe
            .recv_from(&mut buf)
            .is_ok_and(|(n, _)| Message::from_vec(&buf[..n]).is_ok_and(|m| m.metadata.truncation))
    });
    assert!(limited, "the flood's bucket is never limited");
    let out = dig(
        server,
        &["-b", "127.0.0.2", "www.example.go.id.", "A", "+norecurse"],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flooding.join().unwrap();
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("203.0.113.10"), "{out}");
    assert!(out.contains("(TCP)"), "{out}");
    let counts = rrl_counts(&d, "positive");
    assert!(counts[1] >= 2 && counts[2] == 0, "{counts:?}");
}
