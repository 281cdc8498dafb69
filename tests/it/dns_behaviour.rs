//! Every rule of product.md's "DNS behaviour", asked of the running daemon.

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use crate::harness::*;

/// A daemon of its own for each test (a shared static one would outlive the test process).
fn daemon() -> Daemon {
    Daemon::start_test_zone()
}

fn types(records: &[hickory_proto::rr::Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}

#[test]
fn positive_answer_is_authoritative_without_recursion() {
    let d = daemon();
    for q in [UDP, UDP_PLAIN, TCP] {
        let m = query(d.dns, "www.example.go.id.", RecordType::A, q);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative, "AA");
        assert!(!m.metadata.recursion_available, "RA");
        assert_eq!(types(&m.answers), vec![RecordType::A]);
    }
}

#[test]
fn dig_sees_aa_and_no_ra() {
    let d = daemon();
    let out = dig(d.dns, &["www.example.go.id.", "A", "+norec"]);
    let flags = out.lines().find(|l| l.contains(";; flags:")).unwrap();
    assert!(flags.contains(" aa"), "{flags}");
    assert!(!flags.contains(" ra"), "{flags}");
    assert!(out.contains("203.0.113.10"), "{out}");
}

#[test]
fn nxdomain_carries_soa_with_rfc2308_ttl() {
    let d = daemon();
    let m = query(d.dns, "nope.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(types(&m.authorities), vec![RecordType::SOA]);
    // min(SOA TTL 3600, MINIMUM 300)
    assert_eq!(m.authorities[0].ttl, 300);
}

#[test]
fn nodata_carries_soa() {
    let d = daemon();
    let m = query(d.dns, "www.example.go.id.", RecordType::AAAA, UDP);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(types(&m.authorities), vec![RecordType::SOA]);
    assert_eq!(m.authorities[0].ttl, 300);
}

#[test]
fn empty_non_terminal_is_nodata() {
    let d = daemon();
    for name in ["b.c.example.go.id.", "c.example.go.id."] {
        let m = query(d.dns, name, RecordType::A, UDP);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.answers.is_empty());
        assert_eq!(types(&m.authorities), vec![RecordType::SOA]);
    }
}

#[test]
fn cname_chain_is_followed_inside_the_zone() {
    let d = daemon();
    let m = query(d.dns, "alias.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        types(&m.answers),
        vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]
    );
    assert!(m.metadata.authoritative);
    // A loop ends without hanging or error.
    let m = query(d.dns, "loop1.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        types(&m.answers),
        vec![RecordType::CNAME, RecordType::CNAME]
    );
    // Out of zone: only the CNAME.
    let m = query(d.dns, "outside.example.go.id.", RecordType::A, UDP);
    assert_eq!(types(&m.answers), vec![RecordType::CNAME]);
    // Asking for the CNAME itself does not follow it.
    let m = query(d.dns, "alias.example.go.id.", RecordType::CNAME, UDP);
    assert_eq!(types(&m.answers), vec![RecordType::CNAME]);
}

#[test]
fn delegation_is_a_referral_with_glue() {
    let d = daemon();
    for name in [
        "child.example.go.id.",
        "www.child.example.go.id.",
        "ns1.child.example.go.id.",
    ] {
        let m = query(d.dns, name, RecordType::A, UDP);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(!m.metadata.authoritative, "AA clear on referral for {name}");
        assert!(m.answers.is_empty(), "{name}");
        assert_eq!(types(&m.authorities), vec![RecordType::NS, RecordType::NS]);
        let glue: Vec<String> = m.additionals.iter().map(|r| r.name.to_ascii()).collect();
        assert!(
            glue.contains(&"ns1.child.example.go.id.".to_string()),
            "{glue:?}"
        );
        assert!(
            glue.contains(&"ns2.child.example.go.id.".to_string()),
            "{glue:?}"
        );
    }
}

#[test]
fn ns_answer_glues_every_in_zone_server() {
    let d = daemon();
    let m = query(d.dns, "example.go.id.", RecordType::NS, UDP);
    assert_eq!(types(&m.answers), vec![RecordType::NS, RecordType::NS]);
    let mut glue: Vec<(String, RecordType)> = m
        .additionals
        .iter()
        .map(|r| (r.name.to_ascii(), r.record_type()))
        .collect();
    glue.sort_by(|a, b| a.0.cmp(&b.0).then(u16::from(a.1).cmp(&u16::from(b.1))));
    assert_eq!(
        glue,
        vec![
            ("ns1.example.go.id.".to_string(), RecordType::A),
            ("ns1.example.go.id.".to_string(), RecordType::AAAA),
            ("ns2.example.go.id.".to_string(), RecordType::A),
        ]
    );
}

#[test]
fn names_outside_our_zones_are_refused() {
    let d = daemon();
    for name in ["example.org.", "go.id.", "."] {
        let m = query(d.dns, name, RecordType::A, UDP);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!m.metadata.authoritative);
        assert!(m.answers.is_empty());
    }
}

#[test]
fn edns_advertises_1232_and_badvers() {
    let d = daemon();
    let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
    let edns = m.edns.expect("OPT in reply");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
    // No OPT in the query: none in the reply.
    let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP_PLAIN);
    assert!(m.edns.is_none());
    // EDNS version 1: BADVERS (RFC 6891 §6.1.3).
    let out = dig(d.dns, &["www.example.go.id.", "A", "+edns=1", "+noednsneg"]);
    assert!(out.contains("status: BADVERS"), "{out}");
}

#[test]
fn large_udp_answer_is_truncated_and_whole_over_tcp() {
    let d = daemon();
    for q in [UDP, UDP_PLAIN] {
        let m = query(d.dns, "big.example.go.id.", RecordType::TXT, q);
        assert!(m.metadata.truncation, "TC");
        assert!(m.answers.is_empty());
    }
    // A client that offers 4096 still gets at most 1232 bytes.
    let m = query(
        d.dns,
        "big.example.go.id.",
        RecordType::TXT,
        Q {
            edns: Some(4096),
            tcp: false,
        },
    );
    assert!(m.metadata.truncation);
    let m = query(d.dns, "big.example.go.id.", RecordType::TXT, TCP);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 40);
    // dig retries over TCP by itself and gets everything.
    let out = dig(d.dns, &["big.example.go.id.", "TXT"]);
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("\tTXT\t")).count(),
        40,
        "{out}"
    );
}

#[test]
fn any_is_answered_minimally() {
    let d = daemon();
    let m = query(d.dns, "example.go.id.", RecordType::ANY, UDP);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    let distinct: std::collections::HashSet<_> =
        m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(
        distinct.len(),
        1,
        "one RRset (RFC 8482): {:?}",
        types(&m.answers)
    );
}

#[test]
fn matching_is_case_insensitive() {
    let d = daemon();
    let m = query(d.dns, "WwW.ExAmPlE.gO.iD.", RecordType::A, UDP);
    assert_eq!(types(&m.answers), vec![RecordType::A]);
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "WwW.ExAmPlE.gO.iD.",
        "question case kept"
    );
}

#[test]
fn wildcard_is_synthesised() {
    let d = daemon();
    let m = query(d.dns, "anything.wild.example.go.id.", RecordType::TXT, UDP);
    assert_eq!(types(&m.answers), vec![RecordType::TXT]);
    assert_eq!(m.answers[0].name.to_ascii(), "anything.wild.example.go.id.");
}

#[test]
fn kdig_agrees() {
    let d = daemon();
    let out = kdig(d.dns, &["+norec", "mail.example.go.id.", "A"]);
    assert!(out.contains("Flags: qr aa;"), "{out}");
    assert!(out.contains("203.0.113.25"), "{out}");
    let out = kdig(d.dns, &["+tcp", "nope.example.go.id.", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("(TCP)"), "{out}");
}

#[test]
fn zone_transfers_are_refused_without_secondaries() {
    let d = daemon();
    let m = query(d.dns, "example.go.id.", RecordType::AXFR, TCP);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn other_opcodes_are_not_implemented() {
    let d = daemon();
    let mut q = build_query("example.go.id.", RecordType::SOA, UDP);
    q.metadata.op_code = OpCode::Status;
    let m = send(d.dns, &q, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
}

#[test]
fn chaos_class_is_refused() {
    let d = daemon();
    let out = dig(d.dns, &["version.bind", "TXT", "CH"]);
    assert!(out.contains("status: REFUSED"), "{out}");
}

#[test]
fn malformed_packets_get_formerr_and_never_kill_the_server() {
    let d = daemon();
    let addr = d.dns;
    // A valid header claiming one question, followed by garbage.
    let mut bad = build_query("example.go.id.", RecordType::A, UDP_PLAIN)
        .to_vec()
        .unwrap();
    bad.truncate(12);
    bad.extend_from_slice(&[0xff, 0xff, 0x00, 0x01]);
    let reply = exchange_raw(addr, &bad, false).expect("a FORMERR reply");
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let reply = exchange_raw(addr, &bad, true).expect("a FORMERR reply over TCP");
    assert_eq!(
        Message::from_vec(&reply).unwrap().metadata.response_code,
        ResponseCode::FormErr
    );
    // Two questions: FORMERR.
    let mut two = build_query("example.go.id.", RecordType::A, UDP_PLAIN);
    two.add_query(hickory_proto::op::Query::query(
        hickory_proto::rr::Name::from_ascii("www.example.go.id.").unwrap(),
        RecordType::A,
    ));
    let m = send(addr, &two, false);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

    // A bounded burst of pseudo-random packets (fixed seed), then the server still answers.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3000 {
        let len = 1 + (i % 300);
        let mut pkt = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pkt.push(x as u8);
        }
        if i % 3 == 0 && pkt.len() > 3 {
            pkt[2] &= 0x7f; // make it look like a query
        }
        let _ = sock.send_to(&pkt, addr);
    }
    // The server may still be answering the burst; it must answer again within the deadline.
    let q = build_query("www.example.go.id.", RecordType::A, UDP)
        .to_vec()
        .unwrap();
    assert!(
        eventually(10, || exchange_raw(addr, &q, false).is_some()),
        "the server stopped answering after the burst"
    );
    let m = query(addr, "www.example.go.id.", RecordType::A, UDP);
    assert_eq!(types(&m.answers), vec![RecordType::A]);
    let m = query(addr, "www.example.go.id.", RecordType::A, TCP);
    assert_eq!(types(&m.answers), vec![RecordType::A]);
}

#[test]
fn soa_answer_has_its_own_ttl() {
    let d = daemon();
    let m = query(d.dns, "example.go.id.", RecordType::SOA, UDP);
    assert_eq!(m.answers[0].ttl, 3600);
    match &m.answers[0].data {
        RData::SOA(soa) => assert_eq!(soa.serial, 2026010100),
        other => panic!("{other:?}"),
    }
}

#[test]
fn udp_fast_path_and_tcp_give_byte_identical_answers() {
    let d = daemon();
    let cases = [
        ("www.example.go.id.", RecordType::A),
        ("nope.example.go.id.", RecordType::A),
        ("www.example.go.id.", RecordType::AAAA),
        ("alias.example.go.id.", RecordType::A),
        ("x.child.example.go.id.", RecordType::A),
        ("example.go.id.", RecordType::NS),
        ("example.go.id.", RecordType::MX),
        ("example.go.id.", RecordType::ANY),
        ("b.c.example.go.id.", RecordType::A),
        ("a.wild.example.go.id.", RecordType::TXT),
        ("WWW.Example.GO.id.", RecordType::A),
        ("example.org.", RecordType::A),
    ];
    for (name, rtype) in cases {
        for q in [UDP, UDP_PLAIN] {
            let mut m = build_query(name, rtype, q);
            let mut replies = Vec::new();
            // Twice over UDP (the second is served from the answer cache, with another ID and
            // RD clear), then over TCP (hickory-server's path).
            for (id, rd, tcp) in [
                (0x1111, true, false),
                (0x2222, false, false),
                (0x3333, false, true),
            ] {
                m.metadata.id = id;
                m.metadata.recursion_desired = rd;
                let mut reply = exchange_raw(d.dns, &m.to_vec().unwrap(), tcp).expect("reply");
                assert_eq!(
                    u16::from_be_bytes([reply[0], reply[1]]),
                    id,
                    "{name} {rtype}"
                );
                assert_eq!(reply[2] & 1, u8::from(rd), "RD copied for {name} {rtype}");
                reply[0] = 0;
                reply[1] = 0;
                reply[2] &= !1;
                replies.push(reply);
            }
            assert_eq!(
                replies[0], replies[1],
                "cached UDP answer differs: {name} {rtype}"
            );
            assert_eq!(
                replies[1], replies[2],
                "TCP answer differs from UDP: {name} {rtype}"
            );
        }
    }
}

#[test]
fn answers_change_as_soon_as_the_zone_does() {
    // The UDP answer cache must never serve an answer older than the zone: fill it, change
    // the zone from the CLI, and the new answer must appear.
    let d = daemon();
    for _ in 0..3 {
        let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
        assert_eq!(m.answers[0].data.to_string(), "203.0.113.10");
    }
    d.replace_zone(&test_zone().replace("www A 203.0.113.10", "www A 203.0.113.12"));
    assert!(eventually(10, || {
        let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
        m.answers[0].data.to_string() == "203.0.113.12"
    }));
    let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP_PLAIN);
    assert_eq!(m.answers[0].data.to_string(), "203.0.113.12");
}

/// Found by the `dns_udp` fuzz target: a signed query with EDNS whose TSIG failed was answered
/// NOTAUTH without an OPT record, though a responder answers OPT with OPT (RFC 6891 §7).
#[test]
fn tsig_errors_keep_edns() {
    let d = daemon();
    for transport in ["+notcp", "+tcp"] {
        let out = dig(
            d.dns,
            &[
                transport,
                "example.go.id.",
                "SOA",
                "-y",
                "hmac-sha256:unknown-key:cmFuYWgtZnV6ei1rZXktMDEyMzQ1Njc4OWFiY2RlZiE=",
            ],
        );
        assert!(out.contains("status: NOTAUTH"), "{out}");
        assert!(out.contains("BADKEY"), "{out}");
        assert!(out.contains("OPT PSEUDOSECTION"), "{out}");
        assert!(out.contains("udp: 1232"), "{out}");
    }
}
