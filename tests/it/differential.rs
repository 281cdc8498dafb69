//! ranah against NSD and Knot: the same zone file (`zones/differential.zone`) served by all
//! three, the same questions asked of each, the answers compared section by section.
//!
//! The questions: every name of the zone (empty non-terminals included), a name that does not
//! exist below each of them (so below delegations, wildcards and empty non-terminals too),
//! names that wildcards cover, names outside the zone, a few in mixed case; every type that
//! matters (DS at the cuts included); over UDP with EDNS and without; and a few of class ANY.
//! Compared: the RCODE, the AA and TC flags, the OPT record, and the answer, authority and
//! additional sections as sets of records (order ignored, TTLs compared).
//!
//! The rules: where NSD and Knot give the same answer, ranah must give it too, unless the
//! difference is one of the deliberate ones in [`DELIBERATE`]; where NSD and Knot differ from
//! each other (either answer is then standard behaviour), ranah must give one of the two,
//! unless the difference is one of its own choices in [`OWN_CHOICES`]. Each listed difference
//! has its reason, and docs/dns.md lists the same. The test prints the number of queries and
//! the differences by kind; `DIFFERENTIAL_SHOW=1` prints every answer where NSD and Knot differ.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::harness::*;
use crate::secondaries::{Peer, Source, knot, nsd};

const ZONE: &str = include_str!("zones/differential.zone");

/// The types asked of every name.
const TYPES: [RecordType; 13] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::TXT,
    RecordType::NS,
    RecordType::SOA,
    RecordType::CNAME,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::PTR,
    RecordType::HINFO,
    RecordType::DS,
    RecordType::ANY,
];

/// The whole run, all servers, must end within this (a server that stops answering fails the
/// test instead of hanging it).
const DEADLINE: Duration = Duration::from_secs(120);

/// One question.
#[derive(Debug, Clone)]
struct Question {
    name: Name,
    rtype: RecordType,
    class: DNSClass,
    edns: bool,
}

impl std::fmt::Display for Question {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.name, self.class, self.rtype)?;
        if !self.edns {
            f.write_str(" (no EDNS)")?;
        }
        Ok(())
    }
}

/// What is compared of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Aspect {
    Rcode,
    Aa,
    Tc,
    Edns,
    Answer,
    Authority,
    Additional,
}

const ASPECTS: [Aspect; 7] = [
    Aspect::Rcode,
    Aspect::Aa,
    Aspect::Tc,
    Aspect::Edns,
    Aspect::Answer,
    Aspect::Authority,
    Aspect::Additional,
];

/// One aspect of one answer, in a form that compares and prints.
fn part(m: &Message, aspect: Aspect) -> String {
    let set = |records: &[Record]| {
        let set: BTreeSet<String> = records
            .iter()
            .map(|r| {
                // Names compare without case (RFC 4343): NSD and Knot compress names in the
                // data against the question and so answer in its case; ranah in the zone's.
                let data = match r.record_type() {
                    RecordType::TXT | RecordType::CAA => r.data.to_string(),
                    _ => r.data.to_string().to_lowercase(),
                };
                format!(
                    "{} {} {} {} {data}",
                    r.name.to_lowercase(),
                    r.ttl,
                    r.dns_class,
                    r.record_type(),
                )
            })
            .collect();
        set.into_iter().collect::<Vec<_>>().join(" | ")
    };
    match aspect {
        Aspect::Rcode => format!("{:?}", m.metadata.response_code),
        Aspect::Aa => m.metadata.authoritative.to_string(),
        Aspect::Tc => m.metadata.truncation.to_string(),
        Aspect::Edns => match &m.edns {
            Some(e) => format!("OPT version {} size {}", e.version(), e.max_payload()),
            None => "no OPT".to_owned(),
        },
        Aspect::Answer => set(&m.answers),
        Aspect::Authority => set(&m.authorities),
        Aspect::Additional => set(&m.additionals),
    }
}

/// An answer of ranah's that the rules below let differ, with its reason.
struct Exception {
    /// Printed with its count.
    name: &'static str,
    aspect: Aspect,
    /// The questions whose answers it covers.
    applies: fn(&Question) -> bool,
    /// Why (docs/dns.md, "Compared with NSD and Knot", says the same).
    reason: &'static str,
}

/// Where NSD and Knot give the same answer and ranah deliberately does not. Empty: every
/// difference the test found there was a fault of ranah's and is mended (the referral after a
/// CNAME into a delegation, class ANY, UDP answers truncated whole for want of room for their
/// additional section). A deliberate one would be listed here, with its reason.
const DELIBERATE: &[Exception] = &[];

/// Where NSD and Knot differ from each other, ranah gives one of their two answers, except
/// here, where it gives a third (the count of each choice is printed).
const OWN_CHOICES: &[Exception] = &[
    Exception {
        name: "cname_chain_limit",
        aspect: Aspect::Answer,
        applies: |q| q.name.to_ascii().starts_with("hop"),
        reason: "ranah follows at most 8 CNAMEs in the zone (a bound on the work one query can \
                 cause); NSD follows every one, Knot 5. hop1 to hop10 is a chain of 9",
    },
    Exception {
        name: "cut_additional_section",
        aspect: Aspect::Additional,
        applies: |q| {
            // The answers without EDNS whose additional section does not fit 512 bytes: the
            // mail exchangers of mxmany, the glue of the referrals to wide and widesib.
            let name = q.name.to_ascii();
            let names = ["mxmany.", "wide.", "widesib."];
            !q.edns
                && names
                    .iter()
                    .any(|n| name.starts_with(n) || name.contains(&format!(".{n}")))
        },
        reason: "an answer whose additional section does not fit a UDP message keeps as many \
                 whole RRsets of it as fit, in order: the three servers order and cut \
                 additional records differently",
    },
];

#[test]
fn ranah_answers_as_nsd_and_knot_agree() {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let tmp = Daemon::workdir("example.go.id.zone", ZONE);
    let file = tmp.path().join("zones").join("example.go.id.zone");
    let content = ranah::zone::file::parse(ZONE, "differential.zone", Some(&origin())).unwrap();
    let serial = content.soa_data().map(|s| s.serial).unwrap();

    // The same file: ranah imports it at its start, NSD and Knot load it as primaries.
    // Rate limiting off, as in the peers (NSD `rrl-ratelimit: 0`, Knot without its module): the
    // test asks thousands of questions a second from one address, and compares answers, not
    // limits (tests/it/rrl.rs tests those).
    let ranah = Daemon::start_configured(
        tmp.path(),
        ([127, 0, 0, 1], 0).into(),
        Some("[dns.rrl]\nenabled = false\n"),
    );
    let peers: [Peer; 2] = [
        nsd(tmp.path(), free_port(), Source::File(&file)),
        knot(tmp.path(), free_port(), Source::File(&file)),
    ];
    for peer in &peers {
        assert!(
            eventually(20, || peer.serial() == Some(serial)),
            "{} did not load the zone (see its log under {})",
            peer.name,
            tmp.path().join(peer.name).display()
        );
    }

    let questions = questions(&content);
    let servers = [ranah.dns, peers[0].addr, peers[1].addr];
    let asked = Instant::now();
    let [r, n, k]: [Vec<Message>; 3] = std::thread::scope(|s| {
        let threads = servers.map(|server| {
            let questions = &questions;
            s.spawn(move || ask_all(server, questions, deadline))
        });
        threads.map(|t| t.join().expect("a server did not answer"))
    });
    let elapsed = asked.elapsed();
    // Asked again, ranah answers from its answer cache (keyed by the question as sent, class
    // included, and the EDNS size): the same answers.
    let again = Instant::now();
    let cached = ask_all(ranah.dns, &questions, deadline);
    let again = again.elapsed();
    for (i, q) in questions.iter().enumerate() {
        for aspect in ASPECTS {
            assert_eq!(
                part(&cached[i], aspect),
                part(&r[i], aspect),
                "{q}: {aspect:?} from the cache"
            );
        }
    }

    // Compare, aspect by aspect.
    let mut compared = 0;
    // Where NSD and Knot differ: whether ranah answered as NSD, as Knot, or as neither.
    let mut peers_differ: BTreeMap<Aspect, [usize; 3]> = BTreeMap::new();
    let mut excepted: BTreeMap<&str, usize> = BTreeMap::new();
    let mut faults: BTreeMap<Aspect, usize> = BTreeMap::new();
    let mut examples = Vec::new();
    let show = std::env::var_os("DIFFERENTIAL_SHOW").is_some();
    for (i, q) in questions.iter().enumerate() {
        for aspect in ASPECTS {
            let (pr, pn, pk) = (
                part(&r[i], aspect),
                part(&n[i], aspect),
                part(&k[i], aspect),
            );
            let (exceptions, shown) = if pn == pk {
                compared += 1;
                if pr == pn {
                    continue;
                }
                (
                    DELIBERATE,
                    format!("  ranah:      {pr}\n  NSD, Knot:  {pn}"),
                )
            } else {
                let like = [pr == pn, pr == pk, pr != pn && pr != pk];
                let counts = peers_differ.entry(aspect).or_default();
                for (count, yes) in counts.iter_mut().zip(like) {
                    *count += usize::from(yes);
                }
                if show {
                    println!("{q}: {aspect:?}\n  ranah: {pr}\n  NSD:   {pn}\n  Knot:  {pk}");
                }
                if pr == pn || pr == pk {
                    continue;
                }
                (
                    OWN_CHOICES,
                    format!("  ranah: {pr}\n  NSD:   {pn}\n  Knot:  {pk}"),
                )
            };
            match exceptions
                .iter()
                .find(|e| e.aspect == aspect && (e.applies)(q))
            {
                Some(e) => *excepted.entry(e.name).or_default() += 1,
                None => {
                    *faults.entry(aspect).or_default() += 1;
                    if examples.len() < 40 {
                        examples.push(format!("{q}: {aspect:?}\n{shown}"));
                    }
                }
            }
        }
    }

    let total_faults: usize = faults.values().sum();
    println!(
        "differential: {} questions asked of each of ranah, NSD and Knot ({} queries) in \
         {:.2} s; ranah's answers again from its cache in {:.2} s",
        questions.len(),
        3 * questions.len(),
        elapsed.as_secs_f64(),
        again.as_secs_f64()
    );
    println!("differential: {compared} comparisons (question and aspect) where NSD and Knot agree");
    for (aspect, [as_nsd, as_knot, neither]) in &peers_differ {
        println!(
            "differential: NSD and Knot differ in {aspect:?} for {} questions: ranah answers \
             as NSD {as_nsd}, as Knot {as_knot}, as neither {neither}",
            as_nsd + as_knot + neither
        );
    }
    for e in DELIBERATE.iter().chain(OWN_CHOICES) {
        println!(
            "differential: listed difference {}: {} in {:?} ({})",
            e.name,
            excepted.get(e.name).copied().unwrap_or(0),
            e.aspect,
            e.reason
        );
    }
    println!("differential: differences outside the lists: {total_faults} {faults:?}");
    for e in &examples {
        println!("{e}");
    }
    assert_eq!(
        total_faults,
        0,
        "ranah differs from NSD and Knot outside the listed differences:\n{}",
        examples.join("\n")
    );
    // A listed difference that no longer occurs is stale: take it out of the list and the
    // docs, so that the list stays the truth.
    for e in DELIBERATE.iter().chain(OWN_CHOICES) {
        assert!(
            excepted.contains_key(e.name),
            "the listed difference {:?} did not occur",
            e.name
        );
    }
    assert!(started.elapsed() < DEADLINE, "took {:?}", started.elapsed());
}

/// Every question of the run.
fn questions(content: &ranah::zone::file::ZoneContent) -> Vec<Question> {
    let origin = &content.origin;
    let name = |s: &str| Name::from_ascii(s).unwrap();
    // Every node: each owner name and each ancestor up to the apex (empty non-terminals).
    let mut nodes: BTreeSet<Name> = BTreeSet::new();
    nodes.insert(origin.clone());
    for r in &content.records {
        let mut n = r.name.clone();
        // Labels counted with the wildcard's `*` (which `num_labels` leaves out).
        while n.iter().count() > origin.iter().count() {
            nodes.insert(n.clone());
            n = n.base_name();
        }
    }
    let mut names: Vec<Name> = nodes.iter().cloned().collect();
    // A name that does not exist below every node: NXDOMAIN, a referral below a cut, a
    // wildcard's answer below its parent.
    for n in &nodes {
        names.push(name(&format!("nx.{n}")));
    }
    // What the wildcards cover, one and two labels deep.
    for n in nodes.iter().filter(|n| n.is_wildcard()) {
        let parent = n.base_name();
        names.push(name(&format!("x.{parent}")));
        names.push(name(&format!("x.y.{parent}")));
    }
    // Case does not matter (RFC 4343), also not in a wildcard's or a referral's answer.
    for s in [
        "WWW.Example.GO.id.",
        "Portal.EXAMPLE.go.id.",
        "X.Wild.Example.Go.Id.",
        "A.Cwild.example.go.id.",
        "Ns1.Child.example.go.id.",
        "ToDeleg.example.go.id.",
    ] {
        names.push(name(s));
    }
    // Outside the zone: REFUSED.
    for s in [".", "id.", "go.id.", "xexample.go.id.", "www.example.org."] {
        names.push(name(s));
    }

    let mut questions = Vec::new();
    for n in &names {
        for rtype in TYPES {
            for edns in [true, false] {
                questions.push(Question {
                    name: n.clone(),
                    rtype,
                    class: DNSClass::IN,
                    edns,
                });
            }
        }
    }
    // Class ANY: answered from the zone's class IN.
    for s in [
        "example.go.id.",
        "www.example.go.id.",
        "alias.example.go.id.",
        "todeleg.example.go.id.",
        "nx.example.go.id.",
        "x.wild.example.go.id.",
        "child.example.go.id.",
        "www.child.example.go.id.",
        "c.example.go.id.",
        "www.example.org.",
    ] {
        for rtype in [
            RecordType::A,
            RecordType::NS,
            RecordType::SOA,
            RecordType::TXT,
            RecordType::ANY,
        ] {
            for edns in [true, false] {
                questions.push(Question {
                    name: name(s),
                    rtype,
                    class: DNSClass::ANY,
                    edns,
                });
            }
        }
    }
    questions
}

/// Ask `server` every question over UDP, one at a time, and return the answers in order.
fn ask_all(server: SocketAddr, questions: &[Question], deadline: Instant) -> Vec<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let mut answers = Vec::with_capacity(questions.len());
    'questions: for (i, q) in questions.iter().enumerate() {
        let id = i as u16;
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        let mut query = Query::query(q.name.clone(), q.rtype);
        query.set_query_class(q.class);
        m.add_query(query);
        if q.edns {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            m.edns = Some(e);
        }
        let bytes = m.to_vec().unwrap();
        // A datagram can be lost on a loaded machine: ask again, as any client would.
        for _ in 0..4 {
            assert!(
                Instant::now() < deadline,
                "{server}: the run took longer than {DEADLINE:?}"
            );
            socket.send_to(&bytes, server).unwrap();
            while let Ok((len, from)) = socket.recv_from(&mut buf) {
                if from != server {
                    continue;
                }
                let reply = Message::from_vec(&buf[..len])
                    .unwrap_or_else(|e| panic!("{server}: {q}: the reply does not parse: {e}"));
                // A late reply to an earlier attempt of another question is skipped.
                if reply.metadata.id == id {
                    answers.push(reply);
                    continue 'questions;
                }
            }
        }
        panic!("{server} did not answer {q}");
    }
    answers
}

/// ranah serves no DNAME (RFC 6672): its zone files refuse one, so the differential zone has
/// none and there is nothing to compare. docs/dns.md says so.
#[test]
fn dname_is_refused_not_served() {
    let zone = "$ORIGIN example.go.id.\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 900 1209600 300\n\
                @ NS ns1\nns1 A 203.0.113.2\nold DNAME example.org.\n";
    let error = ranah::zone::file::parse(zone, "dname.zone", Some(&origin())).unwrap_err();
    assert_eq!(error.line, 6, "{error}");
    assert!(error.message.contains("DNAME"), "{error}");
}
