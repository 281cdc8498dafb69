//! The bodies of ranah's fuzz targets, one plain function each, shared by the fuzz crate
//! (`tests/fuzz/fuzz_targets/*.rs`, run by `cargo fuzz` with libFuzzer) and by the integration
//! test that replays the seed corpora without libFuzzer (`tests/it/fuzz.rs`).
//!
//! Each target checks invariants, not only that nothing panics: a broken invariant panics,
//! which libFuzzer reports as a finding and the replay test as a failure.
//!
//! The DNS targets read their input as one byte choosing the client's address (a stranger, a
//! secondary with a TSIG key, a secondary without one, the same as an IPv4-mapped IPv6
//! address; over UDP its high bit turns on response rate limiting at one answer a second), then
//! messages framed as on a TCP stream (a two-byte length, then the message). Over TCP that is
//! the connection's bytes as the listener reads them; over UDP each of up to eight messages is
//! a datagram, and they share one answer cache, so one input can show two queries that the
//! cache confuses.

// Each fuzz binary uses one target.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use ranah::config::RrlConfig;
use ranah::dns::handler::{EDNS_UDP_SIZE, Handler, Sink, Transfers};
use ranah::dns::rrl::{self, Limiter};
use ranah::dns::transfer::{self, SecondaryRule, TransferPolicy};
use ranah::dns::tsig::{self, KeyRing, Rejection, TsigKey};
use ranah::dns::{ZoneView, Zones};
use ranah::domain::policy::{Policy, RecordValue, RequestedRecord, TTL_RANGE, normal_name};
use ranah::zone::file::{self, ZoneContent};

/// A target's body: one input, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target by name: the fuzz binaries and the corpus directories are named so.
pub const TARGETS: &[(&str, Target)] = &[
    ("dns_udp", dns_udp),
    ("dns_tcp", dns_tcp),
    ("tsig", tsig),
    ("zone_file", zone_file),
    ("policy", policy),
    ("json_body", json_body),
    ("dns_update", dns_update),
];

/// The zones the DNS targets answer from: the fixture with every case of the lookup rules, a
/// child zone below its delegation, and the zone ranah ships.
const ZONE_FILES: &[(&str, &str)] = &[
    ("example.go.id.", include_str!("zones/example.go.id.zone")),
    (
        "child.example.go.id.",
        include_str!("zones/child.example.go.id.zone"),
    ),
    (
        "kaltaraprov.go.id.",
        include_str!("../../zones/kaltaraprov.go.id.zone"),
    ),
];

/// The TSIG key of the secondary 192.0.2.53 (the seed queries are signed with it; base64
/// `cmFuYWgtZnV6ei1rZXktMDEyMzQ1Njc4OWFiY2RlZiE=`).
pub const TSIG_KEY: (&str, &[u8]) = ("xfr-key", b"ranah-fuzz-key-0123456789abcdef!");

fn contents() -> &'static [ZoneContent] {
    static CONTENTS: OnceLock<Vec<ZoneContent>> = OnceLock::new();
    CONTENTS.get_or_init(|| {
        ZONE_FILES
            .iter()
            .map(|(origin, text)| {
                let origin = Name::from_ascii(origin).expect("fixture origin");
                file::parse(text, "fixture", Some(&origin)).expect("fixture zone parses")
            })
            .collect()
    })
}

fn key_ring() -> KeyRing {
    KeyRing::new(vec![
        TsigKey::new(TSIG_KEY.0, "hmac-sha256", TSIG_KEY.1.to_vec()).expect("fixture key"),
    ])
}

fn transfers() -> Arc<Transfers> {
    static TRANSFERS: OnceLock<Arc<Transfers>> = OnceLock::new();
    TRANSFERS
        .get_or_init(|| {
            let rule = |id: &str, net: &str, key: Option<&str>| SecondaryRule {
                id: id.into(),
                allow_transfer: vec![net.parse().expect("fixture network")],
                tsig_key: key.map(|k| Name::from_ascii(k).expect("fixture key name")),
            };
            let mut zones = HashMap::new();
            for c in contents() {
                zones.insert(
                    LowerName::new(&c.origin),
                    vec![
                        rule("192.0.2.53", "192.0.2.53/32", Some("xfr-key.")),
                        rule("198.51.100.53", "198.51.100.0/24", None),
                    ],
                );
            }
            Arc::new(Transfers {
                policy: TransferPolicy::new(zones, key_ring(), 100),
                store: None,
                observer: None,
            })
        })
        .clone()
}

/// A handler over new views of the fixture zones: every input starts with empty answer caches,
/// so that a finding does not depend on the inputs before it.
fn fresh_handler() -> Handler {
    let zones = Zones::new();
    for c in contents() {
        zones.insert(ZoneView::new(c));
    }
    Handler::with_transfers(Arc::new(zones), transfers())
}

fn source(selector: u8) -> SocketAddr {
    match selector % 4 {
        0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 200)), 40000),
        1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)), 40001),
        2 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 53)), 40002),
        _ => SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(198, 51, 100, 53).to_ipv6_mapped()),
            40003,
        ),
    }
}

/// Up to eight messages, each after its two-byte length; a last message shorter than its
/// length is taken as it is.
fn frames(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 && out.len() < 8 {
        let n = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        out.push(&data[2..2 + n]);
        data = &data[2 + n..];
    }
    out
}

/// Run a future that must not wait (the handler answers from memory; the captures below are
/// synchronous), as ranah's UDP workers do.
fn complete<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the DNS handler waited on something"),
    }
}

/// Keeps every message instead of sending it.
#[derive(Default)]
struct Capture {
    messages: Vec<Vec<u8>>,
}

impl Sink for Capture {
    async fn send(&mut self, message: Vec<u8>) -> bool {
        self.messages.push(message);
        true
    }
}

/// What every response must be: a DNS message that parses, the query's ID and opcode, QR set,
/// RD and CD as asked, the question as asked, within `limit` bytes; TC only with an empty
/// answer section; OPT when the query had OPT (in the first message of a transfer).
fn check_response(
    query: &[u8],
    request: Option<&Request>,
    response: &[u8],
    limit: usize,
    first: bool,
) {
    assert!(
        response.len() <= limit,
        "response of {} bytes over the limit of {limit}",
        response.len()
    );
    let parsed = Message::from_vec(response)
        .unwrap_or_else(|e| panic!("the response does not parse: {e}\n{response:02x?}"));
    let m = &parsed.metadata;
    assert_eq!(m.id, u16::from_be_bytes([query[0], query[1]]), "ID");
    assert_eq!(m.message_type, MessageType::Response, "QR");
    assert_eq!(u8::from(m.op_code), (query[2] >> 3) & 0x0f, "opcode");
    if m.truncation {
        assert!(parsed.answers.is_empty(), "TC with answers");
    }
    if let Some(request) = request {
        assert_eq!(
            m.recursion_desired, request.metadata.recursion_desired,
            "RD"
        );
        assert_eq!(
            m.checking_disabled, request.metadata.checking_disabled,
            "CD"
        );
        let question = request.queries.as_bytes();
        assert_eq!(
            usize::from(u16::from_be_bytes([response[4], response[5]])),
            request.queries.len(),
            "question count"
        );
        assert_eq!(
            response.get(12..12 + question.len()),
            Some(question),
            "the question is echoed as asked"
        );
        if first && request.edns.is_some() && m.response_code != ResponseCode::FormErr {
            assert!(parsed.edns.is_some(), "EDNS asked, none in the answer");
        }
    }
}

/// The UDP path as ranah's workers run it: [`Handler::answer_udp`] (answer cache first, then
/// the full handler, then response rate limiting). Without limiting (the selector's high bit
/// clear: a rate no input reaches), an answer is sent to every query and only to queries; it is
/// byte for byte what the full handler gives (so the cache never confuses two queries); it fits
/// the client's buffer (512 without EDNS, at most 1,232); asked again, the same bytes. With a
/// rate of one answer a second, each answer is that one, or it slipped (cut to its header and
/// question, TC set), or nothing (dropped).
pub fn dns_udp(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let src = source(selector);
    let limiting = selector & 0x80 != 0;
    let config = RrlConfig {
        rate: if limiting { 1 } else { 100_000 },
        table_size: 1024,
        ..RrlConfig::default()
    };
    let limiter = Arc::new(Limiter::new(&config, &[], None));
    let handler = fresh_handler().with_rrl(limiter);
    let mut worker = handler.udp_worker();
    if let Some(rrl) = worker.rrl_mut() {
        rrl.begin_at(Duration::from_secs(1));
    }
    for query in frames(rest) {
        let is_query = query.len() >= 12 && query[2] & 0x80 == 0;
        let request = Request::from_bytes(query.to_vec(), src, Protocol::Udp).ok();
        // The handler's answer without the cache, before and after the UDP path: a signed
        // answer (BADTIME) carries the clock's second, which may tick in between.
        let before = udp_reference(&handler, query, src);
        let mut out = Vec::new();
        let sent = handler.answer_udp(query, src, &mut out, &mut worker);
        if !is_query {
            assert!(!sent, "answered something that is not a query");
            continue;
        }
        assert!(sent || limiting, "a query without an answer");
        if !sent {
            continue;
        }
        let limit = match request.as_ref().and_then(|r| r.edns.as_ref()) {
            Some(edns) => edns.max_payload().clamp(512, EDNS_UDP_SIZE),
            None => 512,
        };
        let matches = |expected: &Option<Vec<u8>>| match expected {
            Some(expected) => {
                let mut slipped = expected.clone();
                rrl::truncate(&mut slipped);
                if out == *expected {
                    Some(false)
                } else if limiting && out == slipped {
                    Some(true)
                } else {
                    None
                }
            }
            None => None,
        };
        let slipped = match matches(&before) {
            Some(slipped) => slipped,
            None => {
                let after = udp_reference(&handler, query, src);
                matches(&after).unwrap_or_else(|| {
                    panic!(
                        "the UDP path answers otherwise than the handler:\n{out:02x?}\n{before:02x?}\n{after:02x?}"
                    )
                })
            }
        };
        if slipped {
            check_slipped(query, request.as_ref(), &out);
        } else {
            check_response(query, request.as_ref(), &out, usize::from(limit), true);
        }
        if limiting {
            continue;
        }
        // Asked again (now from the cache, when the answer was cached): the same answer, or
        // the handler's of this moment (a signed answer).
        let mut again = Vec::new();
        assert!(
            handler.answer_udp(query, src, &mut again, &mut worker),
            "asked again"
        );
        if again != out {
            assert_eq!(
                Some(again),
                udp_reference(&handler, query, src),
                "the second answer differs from the first"
            );
        }
    }
}

/// What the UDP path must send for `query` when nothing is limited: the full handler's one
/// answer (encoded for UDP), or FORMERR with the header only when the query does not parse;
/// `None` for what is not answered.
fn udp_reference(handler: &Handler, query: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let Ok(request) = Request::from_bytes(query.to_vec(), src, Protocol::Udp) else {
        return Some(formerr(query));
    };
    if request.metadata.message_type == MessageType::Response {
        return None;
    }
    let mut capture = Capture::default();
    complete(handler.handle_request(&request, &mut capture));
    let mut messages = capture.messages;
    assert!(
        messages.len() <= 1,
        "{} UDP answers to one query",
        messages.len()
    );
    messages.pop()
}

/// FORMERR as RFC 1035 has it for a message that does not parse: the query's ID and opcode,
/// QR set, RCODE 1, nothing else.
fn formerr(query: &[u8]) -> Vec<u8> {
    let mut header = vec![0; 12];
    header[..2].copy_from_slice(&query[..2]);
    header[2] = 0x80 | (query[2] & 0x78);
    header[3] = 1;
    header
}

/// A slipped answer: the header and the question of the answer (one question at most), TC
/// set, no records.
fn check_slipped(query: &[u8], request: Option<&Request>, out: &[u8]) {
    let parsed = Message::from_vec(out)
        .unwrap_or_else(|e| panic!("a slipped answer does not parse: {e}\n{out:02x?}"));
    let m = &parsed.metadata;
    assert_eq!(m.id, u16::from_be_bytes([query[0], query[1]]), "ID");
    assert_eq!(m.message_type, MessageType::Response, "QR");
    assert!(m.truncation, "a slipped answer without TC");
    assert!(parsed.queries.len() <= 1, "one question at most");
    assert!(
        parsed.answers.is_empty() && parsed.authorities.is_empty() && parsed.additionals.is_empty(),
        "a slipped answer with records"
    );
    if let Some(request) = request {
        assert!(
            request.queries.as_bytes().starts_with(&out[12..]),
            "the question as asked"
        );
    }
    assert!(out.len() <= 512, "a slipped answer over 512 bytes");
}

/// The TCP listener's connection loop (`ranah::dns::tcp`, through
/// `ranah::fuzzing::dns_tcp_connection`) over the input as a client's bytes on one connection.
/// What it writes must be, message by message, what hickory-server's parser and ranah's handler
/// give for each message read (FORMERR with the header only for one that does not parse,
/// nothing for a response), each after its length; it closes the connection at a message
/// shorter than a header and nowhere else. Every answer is a valid response to its query
/// within 65,535 bytes; an AXFR that is allowed starts and ends with the SOA.
pub fn dns_tcp(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let src = source(selector);
    let handler = fresh_handler();
    // The messages as the loop reads them, up to the end of the input or a malformed one.
    let mut messages = Vec::new();
    let mut closed = None;
    let mut rest = stream;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let Some(message) = rest.get(2..2 + n) else {
            break; // the input ends inside the message
        };
        rest = &rest[2 + n..];
        if message.len() < 12 {
            closed = Some("malformed");
            break;
        }
        messages.push(message);
    }
    // The handler's answers, before and after the listener's (see `dns_udp`: signed answers
    // carry the second).
    let reference = || -> Vec<Vec<u8>> {
        messages
            .iter()
            .map(|m| framed(&tcp_reference(&handler, m, src)))
            .collect()
    };
    let before = reference();
    let conn = ranah::fuzzing::dns_tcp_connection(&handler, src, stream)
        .unwrap_or_else(|e| panic!("no runtime: {e}"));
    assert_eq!(conn.closed, closed, "why the connection closed");
    if conn.output != before.concat() {
        let after = reference();
        let mut output = conn.output.as_slice();
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if let Some(o) = output.strip_prefix(b.as_slice()) {
                output = o;
            } else if let Some(o) = output.strip_prefix(a.as_slice()) {
                output = o;
            } else {
                panic!("the answer to message {i} is not the handler's");
            }
        }
        assert!(output.is_empty(), "more written than answered");
    }
}

/// Each message after its two-byte length, as on a TCP stream.
fn framed(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let len = u16::try_from(m.len()).expect("a TCP message within 65,535 bytes");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

/// The messages ranah must send over TCP for one message of at least 12 bytes, checked.
fn tcp_reference(handler: &Handler, query: &[u8], src: SocketAddr) -> Vec<Vec<u8>> {
    let Ok(request) = Request::from_bytes(query.to_vec(), src, Protocol::Tcp) else {
        return vec![formerr(query)];
    };
    if request.metadata.message_type == MessageType::Response {
        return Vec::new(); // never answered
    }
    let mut capture = Capture::default();
    complete(handler.handle_request(&request, &mut capture));
    let messages = capture.messages;
    assert!(!messages.is_empty(), "a TCP query without an answer");
    for (i, m) in messages.iter().enumerate() {
        check_response(query, Some(&request), m, usize::from(u16::MAX), i == 0);
    }
    let parsed: Vec<Message> = messages
        .iter()
        .filter_map(|m| Message::from_vec(m).ok())
        .collect();
    let is_axfr = matches!(request.queries.queries(), [q] if q.query_type() == RecordType::AXFR);
    let ok = parsed[0].metadata.response_code == ResponseCode::NoError;
    if is_axfr && ok {
        let records: Vec<&Record> = parsed.iter().flat_map(|m| &m.answers).collect();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            panic!("an AXFR without records");
        };
        assert_eq!(
            first.record_type(),
            RecordType::SOA,
            "AXFR starts with the SOA"
        );
        assert_eq!(
            last.record_type(),
            RecordType::SOA,
            "AXFR ends with the SOA"
        );
        assert!(records.len() >= 3, "AXFR of a zone with NS records");
    }
    messages
}

/// TSIG verification of a request with the secondaries' key ring, at a clock chosen by the
/// first byte (the request's own time, or off by a little or a lot): a request is accepted
/// only when the key is known with its algorithm and the time is within the fudge; an
/// accepted request's MAC covers its header (one flipped flag is BADSIG); every answer's TSIG
/// record encodes.
pub fn tsig(data: &[u8]) {
    const SKEWS: [i64; 8] = [0, 1, -1, 300, -300, 301, -301, 1 << 40];
    let Some((&selector, raw)) = data.split_first() else {
        return;
    };
    let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)), 40001);
    let Ok(request) = Request::from_bytes(raw.to_vec(), src, Protocol::Tcp) else {
        return;
    };
    let Some(signature) = &request.signature else {
        return;
    };
    let skew = SKEWS[usize::from(selector) % SKEWS.len()];
    let now = signature.data.time.saturating_add_signed(skew);
    let ring = key_ring();
    match tsig::verify_request(&ring, request.as_slice(), signature, now) {
        Ok(mut session) => {
            let key = ring
                .get(&signature.name)
                .expect("accepted with a known key");
            assert_eq!(key.algorithm, signature.data.algorithm, "algorithm");
            assert!(
                now.abs_diff(signature.data.time) <= u64::from(signature.data.fudge),
                "accepted outside the fudge"
            );
            let record = session.sign(request.as_slice(), now);
            encode(&*record);
            // The MAC covers the header: flip RD and the same signature is bad.
            let mut tampered = request.as_slice().to_vec();
            tampered[2] ^= 0x01;
            match tsig::verify_request(&ring, &tampered, signature, now) {
                Err(rejection) => assert_eq!(rejection.name(), "BADSIG", "tampered header"),
                Ok(_) => panic!("a tampered request verified"),
            }
        }
        Err(rejection) => {
            let known = ring
                .get(&signature.name)
                .is_some_and(|k| k.algorithm == signature.data.algorithm);
            assert_eq!(
                rejection.name() == "BADKEY",
                !known,
                "BADKEY iff the key is unknown"
            );
            let record = rejection.answer_tsig(request.as_slice(), now);
            encode(&*record);
        }
    }
    // The rejection answer of the handler (unsigned BADSIG) encodes too.
    let record = Rejection::unsigned(signature, hickory_proto::rr::rdata::tsig::TsigError::BadSig)
        .answer_tsig(request.as_slice(), now);
    encode(&*record);
}

fn encode<R: hickory_proto::rr::RecordData>(record: &Record<R>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    hickory_proto::serialize::binary::BinEncodable::emit(record, &mut encoder)
        .unwrap_or_else(|e| panic!("a record cannot be encoded: {e}"));
    bytes
}

/// Zone-file import as `ranah zone import` runs it (the zone named by the file, or by its SOA):
/// a zone that imports exports to a file that imports as the same zone, and is served whole
/// (every record in the view, each once in an AXFR between two SOAs, no message over 64 KiB).
pub fn zone_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Name::from_ascii("example.go.id.").expect("a name");
    for origin in [Some(&origin), None] {
        if let Ok(zone) = file::parse(text, "fuzz.zone", origin) {
            check_zone(&zone);
        }
    }
}

fn check_zone(zone: &ZoneContent) {
    let text = file::write(zone);
    let again = file::parse(&text, "export", None)
        .unwrap_or_else(|e| panic!("the export does not import: {e}\n{text}"));
    assert_eq!(&again, zone, "export then import changes the zone:\n{text}");
    let view = ZoneView::new(zone);
    for r in &zone.records {
        assert!(view.contains(r), "the view lacks {r}");
        let key = ranah::dns::name_key::key_of(&r.name);
        let _ = view.lookup(&key, r.record_type(), false);
        let _ = view.lookup(&key, RecordType::ANY, true);
    }
    let axfr = transfer::axfr(&view);
    assert_eq!(
        axfr.records.len(),
        zone.records.len() + 2,
        "AXFR record count"
    );
    let records: Vec<Record> = axfr
        .records
        .iter()
        .map(|r| {
            r.to_record()
                .unwrap_or_else(|| panic!("an AXFR record does not decode: {r:?}"))
        })
        .collect();
    for message in records.chunks(1) {
        let mut m = Message::response(0, hickory_proto::op::OpCode::Query);
        m.answers = message.to_vec();
        let bytes = m
            .to_vec()
            .unwrap_or_else(|e| panic!("an AXFR message cannot be encoded: {e}"));
        assert!(
            bytes.len() <= usize::from(u16::MAX),
            "AXFR message over 64 KiB"
        );
    }
}

/// The name and record policy, from text: the zone on the first line (after a line `private`
/// to allow private addresses; read by the name rule as the service reads it), the label on the next, then records as `TYPE TTL VALUE`. A
/// label it accepts is a lower-case LDH label that checks again as itself and makes a name
/// under the zone; records it accepts become record data that the store keeps (wire form,
/// read back the same) and that a zone file exports and imports unchanged.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let mut policy = Policy::default();
    let mut first = lines.next().unwrap_or("");
    if first == "private" {
        policy.allow_private_addresses = true;
        first = lines.next().unwrap_or("");
    }
    // As the service passes it: through the one name rule (and then it must be a zone ranah
    // serves); a line that is no name stands for the fixture's zone.
    let zone = normal_name(first).unwrap_or_else(|_| "example.go.id".into());
    let label = lines.next().unwrap_or("");
    let records: Vec<RequestedRecord> = lines
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let rtype = parts.next()?.to_owned();
            let ttl = parts.next()?.parse().ok()?;
            let value = parts.next().unwrap_or("").to_owned();
            Some(RequestedRecord { rtype, value, ttl })
        })
        .collect();

    let zone_name = Some(
        Name::from_ascii(format!("{zone}."))
            .unwrap_or_else(|e| panic!("the name rule took {zone:?}, not a name: {e}")),
    );
    let mut owner = None;
    if let Ok(l) = policy.check_label(label, &zone) {
        assert!(!l.is_empty() && l.len() <= 63, "label length");
        assert!(
            l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "label characters: {l:?}"
        );
        assert_eq!(
            policy.check_label(&l, &zone),
            Ok(l.clone()),
            "checked twice"
        );
        if let Some(z) = &zone_name {
            let name = Name::from_ascii(format!("{l}.{zone}."))
                .unwrap_or_else(|e| panic!("{l}.{zone}. is not a name: {e}"));
            assert!(z.zone_of(&name), "{name} is not under {z}");
            owner = Some((z.clone(), name));
        }
    }
    let (origin, owner) = owner.unwrap_or_else(|| {
        let z = Name::from_ascii("example.go.id.").expect("a name");
        let o = Name::from_ascii("sipd.example.go.id.").expect("a name");
        (z, o)
    });
    match policy.check_records(&records, &zone) {
        Ok(values) => {
            assert_eq!(values.len(), records.len(), "one value per record");
            let mut published = Vec::new();
            for ((value, ttl), given) in values.into_iter().zip(&records) {
                assert!((TTL_RANGE.0..=TTL_RANGE.1).contains(&ttl), "TTL {ttl}");
                assert_eq!(ttl, given.ttl, "TTL as given");
                match &value {
                    RecordValue::Cname(target)
                    | RecordValue::Ns(target)
                    | RecordValue::Mx {
                        exchange: target, ..
                    } => {
                        assert!(target.ends_with('.'), "target {target} is absolute");
                        assert_eq!(*target, target.to_ascii_lowercase(), "target lower case");
                    }
                    RecordValue::Txt(parts) => {
                        assert!(parts.iter().all(|p| p.len() <= 255), "strings of 255 bytes");
                        assert_eq!(parts.concat(), given.value.trim(), "TXT as given");
                    }
                    RecordValue::Ds {
                        digest,
                        digest_type,
                        ..
                    } => {
                        assert_eq!(digest.len(), if *digest_type == 2 { 32 } else { 48 });
                    }
                    RecordValue::A(_) | RecordValue::Aaaa(_) => {}
                }
                let data = ranah::fuzzing::record_data(value)
                    .unwrap_or_else(|e| panic!("an accepted value makes no record: {e}"));
                published.push(Record::from_rdata(owner.clone(), ttl, data));
            }
            check_published(&origin, published);
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            assert!(
                errors.iter().all(|e| e.field.starts_with("records")),
                "errors name the records"
            );
        }
    }
}

/// Records a request would publish: kept by the store in wire form and read back the same, in
/// a zone of their own that exports and imports unchanged and is served whole.
fn check_published(origin: &Name, records: Vec<Record>) {
    for r in &records {
        let wire =
            file::rdata_wire(&r.data).unwrap_or_else(|e| panic!("{r} cannot be stored: {e}"));
        let back = file::rdata_from_wire(r.record_type(), &wire)
            .unwrap_or_else(|e| panic!("{r} cannot be read back: {e}"));
        assert_eq!(back, r.data, "stored and read back");
    }
    // The apex as server and mailbox: a zone of 253 characters has no room for `ns1.`.
    let soa = Record::from_rdata(
        origin.clone(),
        3600,
        RData::SOA(SOA::new(
            origin.clone(),
            origin.clone(),
            1,
            3600,
            900,
            1_209_600,
            300,
        )),
    );
    let mut all = records;
    all.push(Record::from_rdata(
        origin.clone(),
        3600,
        RData::NS(NS(origin.clone())),
    ));
    file::sort_canonical(&mut all);
    check_zone(&ZoneContent {
        origin: origin.clone(),
        soa,
        records: all,
    });
}

/// Each JSON body the API accepts, read and checked as its handler and service would: the
/// route on the first line (`submit`, `resubmit`, `approve`, `return`, `reject`, `withdraw`,
/// `order`, `suspend`), the body after it. A refusal is a client error (400 or 422, never a
/// fault of ours) with the fields named; an accepted submission's records are published as the
/// policy target checks them.
pub fn json_body(data: &[u8]) {
    let Some(&first) = data.first() else {
        return;
    };
    let routes = ranah::fuzzing::ROUTES;
    let (route, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => match std::str::from_utf8(&data[..i]) {
            Ok(r) if routes.contains(&r) => (r, &data[i + 1..]),
            _ => (routes[usize::from(first) % routes.len()], data),
        },
        None => (routes[usize::from(first) % routes.len()], data),
    };
    match ranah::fuzzing::json_body(route, body).expect("a known route") {
        Ok(accepted) => {
            if let Some(r) = accepted.records.first() {
                let origin = r.name.base_name();
                check_published(&origin, accepted.records);
            }
        }
        Err(problem) => {
            assert!(
                matches!(problem.status, 400 | 422),
                "{route}: {} {} {}",
                problem.status,
                problem.code,
                problem.detail
            );
            assert!(
                problem.status != 422 || !problem.errors.is_empty(),
                "422 names the fields"
            );
            serde_json::to_vec(&problem).expect("a problem serializes");
        }
    }
}

/// An RFC 2136 UPDATE read as the DNS server reads it, then put to the update policy as the
/// service does: a message that reads names only what lies in its zone, in lower case, with
/// adds of class IN and no meta-type; an agency's key (DINKES holds `dinkes`, DISHUB
/// `a.dinkes` inside it) is granted only TXT at `_acme-challenge.` names DINKES holds, and an
/// operator's grant only its names and types.
pub fn dns_update(data: &[u8]) {
    use ranah::domain::update::{Grant, Touch, at_or_below, challenge_for};
    use ranah::zone::update::{self as update, Operation, Prerequisite};
    let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)), 40001);
    let Ok(request) = Request::from_bytes(data.to_vec(), src, Protocol::Udp) else {
        return;
    };
    let zone: Vec<_> = request
        .queries
        .queries()
        .iter()
        .map(|q| {
            (
                Name::from(q.name().clone()),
                q.query_type(),
                q.query_class(),
            )
        })
        .collect();
    let Ok(read) = update::read(&zone, &request.answers, &request.authorities) else {
        return;
    };
    let lower = |n: &Name| n.to_ascii() == n.to_lowercase().to_ascii();
    assert!(lower(&read.zone), "zone in lower case");
    for p in &read.prerequisites {
        assert!(
            lower(p.name()) && read.zone.zone_of(p.name()),
            "prerequisite {p:?}"
        );
        if let Prerequisite::RrsetEquals(_, _, data) = p {
            assert!(
                !data.is_empty(),
                "a value-dependent prerequisite with no value"
            );
        }
    }
    for op in &read.operations {
        assert!(
            lower(op.name()) && read.zone.zone_of(op.name()),
            "operation {op:?}"
        );
        if let Operation::Add(r) = op {
            assert_eq!(r.dns_class, hickory_proto::rr::DNSClass::IN, "{r}");
            assert!(!matches!(r.data, RData::Update0(_)), "an add without data");
            assert!(
                !matches!(
                    r.record_type(),
                    RecordType::ANY | RecordType::AXFR | RecordType::IXFR
                ),
                "{r}"
            );
        }
    }
    let zone = read.zone.to_ascii();
    let holder = |name: &str| {
        if at_or_below(name, "a.dinkes.example.go.id.") {
            Some(2)
        } else if at_or_below(name, "dinkes.example.go.id.") {
            Some(1)
        } else {
            None
        }
    };
    let agency = Grant::Agency(1);
    let lab = Grant::Names {
        names: vec!["lab.example.go.id.".into()],
        types: vec!["TXT".into()],
    };
    for op in &read.operations {
        let owner = op.name().to_ascii();
        let rtype = op.record_type().map(|t| t.to_string());
        let touch = Touch {
            owner: &owner,
            rtype: rtype.as_deref(),
        };
        if agency.permits(&zone, touch, holder).is_ok() {
            let target = challenge_for(&owner).expect("granted only at a challenge");
            assert_eq!(rtype.as_deref(), Some("TXT"), "{owner}");
            assert_eq!(holder(target), Some(1), "{owner}");
            assert!(
                !at_or_below(&zone, target),
                "a challenge at the apex: {owner}"
            );
        }
        if lab.permits(&zone, touch, holder).is_ok() {
            assert!(at_or_below(&owner, "lab.example.go.id."), "{owner}");
            assert_eq!(rtype.as_deref(), Some("TXT"), "{owner}");
        }
        assert!(Grant::Nothing.permits(&zone, touch, holder).is_err());
    }
}
