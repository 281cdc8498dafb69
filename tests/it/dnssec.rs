//! DNSSEC end to end: the daemon signs its zone from the first start, and real validators
//! judge what it serves (delv with the zone's trust anchor, ldns-verify-zone on an AXFR,
//! kzonecheck on the export) before and after approvals, removals and suspensions.

use std::net::SocketAddr;

use crate::harness::*;
use crate::validate::{self, Anchor, Denial, Validation, Xfr};

const ZONE: &str = "example.go.id";

/// The behaviour tests' zone with a secure delegation (NS and DS) beside the insecure one.
fn signed_test_zone() -> String {
    let mut z = test_zone();
    z.push_str(
        "secure NS ns1.secure\nns1.secure A 203.0.113.61\n\
         secure DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n",
    );
    z
}

/// A daemon that allows AXFR from 127.0.0.1 (a secondary on a port nobody listens on: the
/// NOTIFY goes nowhere).
fn start_signed() -> (Daemon, tempfile::TempDir) {
    let tmp = Daemon::workdir("example.go.id.zone", &signed_test_zone());
    let config = format!(
        "[[secondaries]]\nzone = \"{ZONE}\"\nnotify = \"127.0.0.1:{}\"\n\
         allow_transfer = [\"127.0.0.1\"]\n",
        free_port()
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    (d, tmp)
}

fn xfr() -> Xfr<'static> {
    Xfr {
        source: [127, 0, 0, 1].into(),
        tsig: None,
    }
}

fn fqdn(label: &str) -> String {
    format!("{label}.{ZONE}.")
}

/// Every kind of answer validates, and the transferred zone verifies.
fn check_everything(dns: SocketAddr, anchor: &Anchor) {
    let negative = |d: Denial| Validation::Negative(d);
    for (name, qtype, want) in [
        (fqdn("www"), "A", Validation::Validated),
        (format!("{ZONE}."), "SOA", Validation::Validated),
        (format!("{ZONE}."), "DNSKEY", Validation::Validated),
        (format!("{ZONE}."), "MX", Validation::Validated),
        (fqdn("nope"), "A", negative(Denial::NxDomain)),
        (fqdn("deep.nope"), "AAAA", negative(Denial::NxDomain)),
        (fqdn("www"), "TXT", negative(Denial::NoData)),
        (fqdn("b.c"), "A", negative(Denial::NoData)),
        (fqdn("anything.wild"), "TXT", Validation::Validated),
        (fqdn("two.labels.wild"), "TXT", Validation::Validated),
        (fqdn("x.wild"), "A", negative(Denial::NoData)),
        (fqdn("alias"), "A", Validation::Validated),
        (fqdn("big"), "TXT", Validation::Validated),
    ] {
        validate::assert_delv(dns, anchor, &name, qtype, want);
    }
    validate::assert_secure_delegation(dns, anchor, &fqdn("secure"));
    validate::assert_insecure_delegation(dns, anchor, &fqdn("child"));
    validate::ldns_verify_axfr(dns, ZONE, &xfr(), anchor).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn delv_validates_every_answer_through_approvals_suspensions_and_removals() {
    let (d, _tmp) = start_signed();
    let anchor = validate::trust_anchor(d.dns, ZONE);
    check_everything(d.dns, &anchor);

    // An approval: the new name answers signed as soon as the approval returns.
    let tokens = setup_people(&d);
    let id = provision(&d, &tokens, "sipd", "203.0.113.77");
    validate::assert_validated(d.dns, &anchor, &fqdn("sipd"), "A");
    validate::assert_delv(
        d.dns,
        &anchor,
        &fqdn("sipd"),
        "AAAA",
        Validation::Negative(Denial::NoData),
    );
    check_everything(d.dns, &anchor);

    // A suspension takes the name out, provably; lifting it brings it back signed.
    let ops = &tokens[5];
    let r = post_json(
        &d,
        "/api/v1/subdomains/sipd.example.go.id/suspend",
        ops,
        r#"{"reason": "Defacement terdeteksi"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    validate::assert_delv(
        d.dns,
        &anchor,
        &fqdn("sipd"),
        "A",
        Validation::Negative(Denial::NxDomain),
    );
    let r = post_json(
        &d,
        "/api/v1/subdomains/sipd.example.go.id/unsuspend",
        ops,
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    validate::assert_validated(d.dns, &anchor, &fqdn("sipd"), "A");

    // A removal by request (once the creation is answered).
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{id}/approve"),
        &tokens[2],
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    walk_request(
        &d,
        &tokens,
        &request_body("delete", "sipd", "203.0.113.77", false),
    );
    validate::assert_delv(
        d.dns,
        &anchor,
        &fqdn("sipd"),
        "A",
        Validation::Negative(Denial::NxDomain),
    );
    check_everything(d.dns, &anchor);

    // An import by the command line while the daemon runs (its records changed without the
    // signer): once served, the zone is signed again and every answer validates.
    d.replace_zone(
        &(signed_test_zone().replace("www A 203.0.113.10", "www A 203.0.113.14")
            + "baru A 203.0.113.91\n"),
    );
    assert!(eventually(10, || {
        query(d.dns, &fqdn("www"), hickory_proto::rr::RecordType::A, UDP)
            .answers
            .iter()
            .any(|r| r.data.to_string() == "203.0.113.14")
    }));
    validate::assert_validated(d.dns, &anchor, &fqdn("baru"), "A");
    check_everything(d.dns, &anchor);

    // The export is the signed zone, and Knot's checker accepts it.
    let file = d.dir.join("export.zone");
    let out = d.cli(&["zone", "export", ZONE, "-o", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    validate::kzonecheck(&file, ZONE).unwrap_or_else(|e| panic!("{e}"));
    validate::ldns_verify_zone(&file, &anchor).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn one_change_is_a_handful_of_records_in_the_journal() {
    // The IXFR of one approval carries the new records, their signatures and the chain's
    // edits: not the zone.
    let (d, _tmp) = start_signed();
    let tokens = setup_people(&d);
    let before = query(
        d.dns,
        &format!("{ZONE}."),
        hickory_proto::rr::RecordType::SOA,
        UDP,
    );
    let serial = match &before.answers[0].data {
        hickory_proto::rr::RData::SOA(s) => s.serial,
        _ => unreachable!(),
    };
    provision(&d, &tokens, "sipd", "203.0.113.77");
    let ixfr = kdig(
        d.dns,
        &[
            "+tcp",
            "+nocomments",
            &format!("{ZONE}."),
            &format!("IXFR={serial}"),
        ],
    );
    let lines: Vec<&str> = ixfr
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .collect();
    let rrsigs = lines.iter().filter(|l| l.contains("\tRRSIG\t")).count();
    let nsec3 = lines.iter().filter(|l| l.contains("\tNSEC3\t")).count();
    assert!(lines.iter().any(|l| l.starts_with("sipd.")), "{ixfr}");
    // Removed: the old SOA's, the old _audit TXT's and the predecessor's NSEC3's signatures,
    // and that NSEC3; added: signatures of the A, the new SOA, the new _audit TXT, sipd's
    // NSEC3 and the predecessor's new NSEC3, and those two NSEC3.
    assert_eq!(rrsigs, 8, "{ixfr}");
    assert_eq!(nsec3, 3, "{ixfr}");
    // With the four SOA of the IXFR, the A and the two _audit TXT: 18 records.
    assert_eq!(lines.len(), 18, "{ixfr}");
}

#[test]
fn knot_and_nsd_serve_the_signed_zone_and_delv_validates_them() {
    use crate::secondaries::{SECRET, Source, nsd, start_knot};
    let tmp = Daemon::workdir("example.go.id.zone", &signed_test_zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (knot_port, nsd_port) = (free_port(), free_port());
    let config = format!(
        r#"[dns]
secondary_poll_secs = 1

[[tsig_keys]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "{SECRET}"

[[secondaries]]
zone = "{ZONE}"
notify = "127.0.0.1:{knot_port}"
allow_transfer = ["127.0.0.2"]
tsig_key = "xfr-key"

[[secondaries]]
zone = "{ZONE}"
notify = "127.0.0.1:{nsd_port}"
allow_transfer = ["127.0.0.3/32"]
tsig_key = "xfr-key"
"#
    );
    let d = Daemon::start_configured(tmp.path(), dns, Some(&config));
    let anchor = validate::trust_anchor(d.dns, ZONE);
    let knot = start_knot(tmp.path(), knot_port, d.dns);
    let nsd = nsd(tmp.path(), nsd_port, Source::Primary(d.dns));
    let serial = || match &query(
        d.dns,
        &format!("{ZONE}."),
        hickory_proto::rr::RecordType::SOA,
        UDP,
    )
    .answers[0]
        .data
    {
        hickory_proto::rr::RData::SOA(s) => s.serial,
        _ => 0,
    };
    // By AXFR first: every kind of answer validates at both.
    let first = serial();
    for peer in [&knot, &nsd] {
        assert!(
            eventually(20, || peer.serial() == Some(first)),
            "{} did not load the signed zone",
            peer.name
        );
        check_everything_at(peer.addr, &anchor);
    }
    // Then by IXFR: a new name, a removal of another; both validate at both.
    let tokens = setup_people(&d);
    provision(&d, &tokens, "sipd", "203.0.113.77");
    let second = serial();
    assert_ne!(second, first);
    for peer in [&knot, &nsd] {
        assert!(
            eventually(20, || peer.serial() == Some(second)),
            "{} did not follow to {second}",
            peer.name
        );
        validate::assert_validated(peer.addr, &anchor, &fqdn("sipd"), "A");
        validate::assert_delv(
            peer.addr,
            &anchor,
            &fqdn("sipd2"),
            "A",
            Validation::Negative(Denial::NxDomain),
        );
        check_everything_at(peer.addr, &anchor);
    }
    // Knot took the change by IXFR (its log says so), with the signatures.
    let log = std::fs::read_to_string(tmp.path().join("knot/knot.log")).unwrap_or_default();
    assert!(log.contains("IXFR"), "{log}");
}

/// [`check_everything`] without the AXFR (a secondary does not transfer to the test).
fn check_everything_at(dns: SocketAddr, anchor: &Anchor) {
    for (name, qtype, want) in [
        (fqdn("www"), "A", Validation::Validated),
        (fqdn("nope"), "A", Validation::Negative(Denial::NxDomain)),
        (fqdn("www"), "TXT", Validation::Negative(Denial::NoData)),
        (fqdn("b.c"), "A", Validation::Negative(Denial::NoData)),
        (fqdn("anything.wild"), "TXT", Validation::Validated),
        (fqdn("alias"), "A", Validation::Validated),
    ] {
        validate::assert_delv(dns, anchor, &name, qtype, want);
    }
    validate::assert_secure_delegation(dns, anchor, &fqdn("secure"));
    validate::assert_insecure_delegation(dns, anchor, &fqdn("child"));
}

/// A key as `ranah dnssec keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) tag: u16,
    pub(crate) role: String,
    pub(crate) state: String,
    /// The time of its latest stage (RFC 3339).
    pub(crate) since: String,
}

pub(crate) fn keys(d: &Daemon) -> Vec<Key> {
    let out = cli_ok(d, &["dnssec", "keys", ZONE]);
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Key {
                tag: f.get(1)?.parse().ok()?,
                role: f.get(2)?.to_string(),
                state: f.get(4)?.to_string(),
                since: f.last()?.to_string(),
            })
        })
        .collect()
}

/// The CDS ranah publishes, as the DS the parent should serve.
fn cds_as_ds(dns: SocketAddr) -> Vec<String> {
    let out = dig(dns, &[&format!("{ZONE}."), "CDS", "+short"]);
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Anything else (a dig warning, a timeout) is not a CDS set to take.
            assert!(
                f.len() >= 4 && f[..3].iter().all(|x| x.parse::<u16>().is_ok()),
                "not a CDS answer: {out}"
            );
            format!(
                "{ZONE}. IN DS {} {} {} {}",
                f[0],
                f[1],
                f[2],
                f[3..].concat()
            )
        })
        .collect();
    v.sort();
    v
}

/// The key tag a DS record names (`owner [ttl] [class] DS tag algorithm digest-type digest`).
fn ds_tag(ds: &[String]) -> u16 {
    let fields: Vec<&str> = ds[0].split_whitespace().collect();
    fields
        .iter()
        .position(|f| f.eq_ignore_ascii_case("DS"))
        .and_then(|i| fields.get(i + 1)?.parse().ok())
        .unwrap_or_else(|| panic!("not a DS record: {ds:?}"))
}

fn parent_zone(ds: &[String]) -> String {
    let mut z = String::from(
        "$ORIGIN go.id.\n$TTL 2\n@ SOA ns hostmaster 1 60 60 600 2\n@ NS ns\nns A 127.0.0.1\n\
         example NS ns1.example\nns1.example A 203.0.113.2\n",
    );
    for line in ds {
        z.push_str(line);
        z.push('\n');
    }
    z
}

/// Keys roll with short timings while approvals go on. At every moment, an answer validates
/// with the DS the parent serves, and with every DS it served before as long as ranah still
/// publishes that key (a resolver may have cached it); the old entry key leaves only after
/// the parent (an NSD the test runs, which takes ranah's CDS as a registry would) has served
/// the new DS for the DS TTL and the propagation delay.
fn roll(model: &str) {
    let zone = "$ORIGIN example.go.id.\n$TTL 60\n@ SOA ns1 hostmaster 2026010100 60 60 600 60\n\
                @ NS ns1\nns1 A 203.0.113.2\nwww A 203.0.113.10\n";
    let tmp = Daemon::workdir("example.go.id.zone", zone);
    let parent_port = free_port();
    let config = format!(
        "[dnssec]\nkeys = \"{model}\"\ndnskey_ttl = 2\npropagation_delay_secs = 1\n\
         parent_ds_ttl_secs = 2\nzsk_lifetime_secs = 6\nksk_lifetime_secs = 12\n\
         zone_max_ttl_secs = 60\n\
         maintenance_interval_secs = 1\nparent_check_interval_secs = 1\n\
         parent_servers = [\"127.0.0.1:{parent_port}\"]\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let tokens = setup_people(&d);
    // The registry takes the first DS, as the office sends it.
    let mut parent_ds: Vec<String> = cli_ok(&d, &["dnssec", "ds", ZONE])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(parent_ds, cds_as_ds(d.dns));
    let parent_file = tmp.path().join("go.id.zone");
    std::fs::write(&parent_file, parent_zone(&parent_ds)).unwrap();
    let parent = crate::secondaries::nsd_serving(tmp.path(), parent_port, "go.id", &parent_file);
    let first = keys(&d);
    let entry_role = if model == "csk" { "csk" } else { "ksk" };
    let first_entry = first.iter().find(|k| k.role == entry_role).unwrap().tag;
    let first_zsk = first.iter().find(|k| k.role == "zsk").map(|k| k.tag);
    // Every DS the parent served, with the key it names, and when it stopped serving it.
    let mut earlier: Vec<(Vec<String>, std::time::SystemTime)> = Vec::new();
    let mut validated = 0;
    let mut approved = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the roll did not finish: {:?}",
            keys(&d)
        );
        if approved < 10 {
            // TTL 60 (the least a request may ask): an old ZSK stays until the signatures it
            // made have expired from caches, the zone's largest TTL.
            let body = request_body("create", &format!("app{approved}"), "203.0.113.80", false)
                .replace("\"ttl\": 3600", "\"ttl\": 60");
            walk_request(&d, &tokens, &body);
            approved += 1;
        }
        let now_keys = keys(&d);
        let published = |tag: u16| {
            now_keys
                .iter()
                .any(|k| k.tag == tag && k.state != "removed" && k.state != "created")
        };
        let mut anchors = vec![parent_ds.clone()];
        for (ds, _) in &earlier {
            let tag = ds_tag(ds);
            if published(tag) {
                anchors.push(ds.clone());
            }
        }
        // Shown when the test fails: the keys and the anchors of this round.
        eprintln!("keys {now_keys:?}\nanchors {anchors:?}");
        for ds in &anchors {
            let anchor = Anchor::from_ds(ZONE, ds);
            let last = format!("app{}.{ZONE}.", approved - 1);
            for (name, qtype, want) in [
                (format!("{ZONE}."), "SOA", Validation::Validated),
                (format!("{ZONE}."), "DNSKEY", Validation::Validated),
                (last, "A", Validation::Validated),
                (fqdn("nope"), "A", Validation::Negative(Denial::NxDomain)),
            ] {
                let got = validate::delv(d.dns, &anchor, &name, qtype);
                if got.validation == want {
                    validated += 1;
                    continue;
                }
                // An earlier DS stops validating once ranah removed its key (it was looked up
                // before this question: the removal's own timing is checked below).
                let tag = ds_tag(ds);
                let gone = keys(&d)
                    .iter()
                    .any(|k| k.tag == tag && k.state == "removed");
                assert!(
                    *ds != parent_ds && gone,
                    "with {ds:?}: {got}\nthe key set now:\n{}",
                    dig(d.dns, &["+dnssec", "+multi", &format!("{ZONE}."), "DNSKEY"])
                );
            }
        }
        // The registry follows the CDS.
        let cds = cds_as_ds(d.dns);
        if !cds.is_empty() && cds != parent_ds {
            earlier.push((parent_ds.clone(), std::time::SystemTime::now()));
            parent_ds = cds;
            std::fs::write(&parent_file, parent_zone(&parent_ds)).unwrap();
            parent.signal("-HUP");
        }
        // The old entry key left only after the parent had switched, and long enough after.
        let entry = now_keys.iter().find(|k| k.tag == first_entry).unwrap();
        if entry.state == "removed" {
            let (_, switched) = earlier
                .first()
                .expect("the old entry key left before the parent served the new DS");
            let removed = chrono::DateTime::parse_from_rfc3339(&entry.since).unwrap();
            let switched = chrono::DateTime::<chrono::Utc>::from(*switched);
            assert!(
                removed.timestamp() - switched.timestamp() >= 3,
                "removed at {removed}, the parent switched at {switched}"
            );
        }
        let zsk_done = first_zsk.is_none_or(|tag| {
            now_keys
                .iter()
                .any(|k| k.tag == tag && k.state == "removed")
        });
        if entry.state == "removed" && zsk_done && approved >= 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // The new keys sign, and the zone verifies whole.
    let anchor = Anchor::from_ds(ZONE, &parent_ds);
    validate::assert_validated(d.dns, &anchor, &fqdn("www"), "A");
    assert!(validated > 40, "{validated}");
    eprintln!("{model} roll: {validated} answers validated, {approved} approvals");
}

#[test]
fn ksk_and_zsk_roll_while_approvals_continue() {
    roll("ksk-zsk");
}

#[test]
fn csk_rolls_while_approvals_continue() {
    roll("csk");
}

#[test]
fn turning_signing_off_waits_for_the_parent_to_drop_the_ds() {
    let zone = "$ORIGIN example.go.id.\n$TTL 60\n@ SOA ns1 hostmaster 2026010100 60 60 600 60\n\
                @ NS ns1\nns1 A 203.0.113.2\nwww A 203.0.113.10\n";
    let tmp = Daemon::workdir("example.go.id.zone", zone);
    let parent_port = free_port();
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let timings = format!(
        "dnskey_ttl = 2\npropagation_delay_secs = 1\nparent_ds_ttl_secs = 2\n\
         maintenance_interval_secs = 1\nparent_check_interval_secs = 1\n\
         parent_servers = [\"127.0.0.1:{parent_port}\"]\n"
    );
    let mut d = Daemon::start_configured(tmp.path(), dns, Some(&format!("[dnssec]\n{timings}")));
    let ds: Vec<String> = cli_ok(&d, &["dnssec", "ds", ZONE])
        .lines()
        .map(str::to_owned)
        .collect();
    let parent_file = tmp.path().join("go.id.zone");
    std::fs::write(&parent_file, parent_zone(&ds)).unwrap();
    let parent = crate::secondaries::nsd_serving(tmp.path(), parent_port, "go.id", &parent_file);
    d.shutdown();

    // Off for this zone: the delete CDS and CDNSKEY go out (RFC 8078), the zone stays signed.
    let off =
        format!("[dnssec]\n{timings}\n[[dnssec.zones]]\nzone = \"{ZONE}\"\nenabled = false\n");
    let d = Daemon::start_configured(tmp.path(), dns, Some(&off));
    let short = |t: &str| {
        dig(d.dns, &[&format!("{ZONE}."), t, "+short"])
            .trim()
            .to_owned()
    };
    assert!(
        eventually(10, || short("CDS") == "0 0 0 00"),
        "{}",
        short("CDS")
    );
    assert_eq!(short("CDNSKEY"), "0 3 0 AA==");
    let anchor = Anchor::from_ds(ZONE, &ds);
    // However long the parent keeps the DS, the zone stays signed and validates.
    std::thread::sleep(std::time::Duration::from_secs(5));
    validate::assert_validated(d.dns, &anchor, &fqdn("www"), "A");
    assert!(!short("DNSKEY").is_empty());

    // The registry removes the DS: once it has been gone for the DS TTL and the delay, the
    // keys leave and the zone is unsigned.
    std::fs::write(&parent_file, parent_zone(&[])).unwrap();
    parent.signal("-HUP");
    let dropped = chrono::Utc::now();
    assert!(
        eventually(20, || short("DNSKEY").is_empty()),
        "still signed: {:?}",
        keys(&d)
    );
    let signed = dig(d.dns, &[&fqdn("www"), "A", "+dnssec"]);
    assert!(!signed.contains("RRSIG"), "{signed}");
    assert!(short("CDS").is_empty());
    let removed = keys(&d);
    assert!(removed.iter().all(|k| k.state == "removed"), "{removed:?}");
    for k in &removed {
        let at = chrono::DateTime::parse_from_rfc3339(&k.since).unwrap();
        assert!(
            at.timestamp() - dropped.timestamp() >= 3,
            "key {} removed at {at}, the parent dropped the DS at {dropped}",
            k.tag
        );
    }
    // The store holds no DNSSEC record any more.
    let all = cli_ok(&d, &["zone", "export", ZONE]);
    for t in ["RRSIG", "NSEC3", "DNSKEY", "CDS"] {
        assert!(!all.contains(&format!("\t{t}\t")), "{all}");
    }
}

#[test]
fn dnsviz_reports_nothing() {
    let (d, _tmp) = start_signed();
    let anchor = validate::trust_anchor(d.dns, ZONE);
    let names = [
        "www.example.go.id",
        "nope.example.go.id",
        "alias.example.go.id",
        "x.wild.example.go.id",
        "b.c.example.go.id",
    ];
    validate::dnsviz(d.dns, ZONE, &anchor, &names).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_requested_delegation_is_secure_with_its_ds_and_insecure_without() {
    let (d, _tmp) = start_signed();
    let anchor = validate::trust_anchor(d.dns, ZONE);
    let tokens = setup_people(&d);
    let delegation = |name: &str, ds: Option<&str>| {
        let mut records = r#"{"type": "NS", "value": "ns1.example.org.", "ttl": 3600},
            {"type": "NS", "value": "ns2.example.org.", "ttl": 3600}"#
            .to_owned();
        if let Some(ds) = ds {
            records.push_str(&format!(
                r#", {{"type": "DS", "value": "{ds}", "ttl": 3600}}"#
            ));
        }
        let body = request_body("create", name, "203.0.113.1", false).replace(
            r#"{"type": "A", "value": "203.0.113.1", "ttl": 3600}"#,
            &records,
        );
        walk_request(&d, &tokens, &body);
    };
    delegation(
        "anak",
        Some("4242 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
    );
    delegation("cucu", None);
    validate::assert_secure_delegation(d.dns, &anchor, &fqdn("anak"));
    validate::assert_insecure_delegation(d.dns, &anchor, &fqdn("cucu"));
    // The referral carries the signed DS, or the proof that there is none.
    let of_type = |text: &str, t: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with(';') && l.split_whitespace().nth(3) == Some(t))
            .map(str::to_owned)
            .collect()
    };
    let secure = dig(d.dns, &[&fqdn("www.anak"), "A", "+dnssec", "+norec"]);
    let ds = of_type(&secure, "DS");
    assert!(ds.len() == 1 && ds[0].contains("4242 13 2 "), "{secure}");
    let insecure = dig(d.dns, &[&fqdn("www.cucu"), "A", "+dnssec", "+norec"]);
    assert!(
        of_type(&insecure, "NSEC3").len() == 1 && of_type(&insecure, "DS").is_empty(),
        "{insecure}"
    );
    // A DS without NS, or a SHA-1 digest, is refused with the field named.
    let [andi, ..] = &tokens;
    for (ds, code) in [
        (
            "1 13 1 0123456789ABCDEF0123456789ABCDEF01234567",
            "invalid_ds",
        ),
        (
            "1 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "ds_without_ns",
        ),
    ] {
        let bad = request_body("create", "cicit", "203.0.113.1", false).replace(
            r#"{"type": "A", "value": "203.0.113.1", "ttl": 3600}"#,
            &format!(r#"{{"type": "DS", "value": "{ds}", "ttl": 3600}}"#),
        );
        let r = post_json(&d, "/api/v1/requests", andi, &bad);
        assert_eq!(r.status, 422, "{}", r.json);
        assert_eq!(r.json["errors"][0]["code"], code, "{}", r.json);
    }
    validate::ldns_verify_axfr(d.dns, ZONE, &xfr(), &anchor).unwrap_or_else(|e| panic!("{e}"));

    // The zone's resource and /metrics show the key.
    let ops = &tokens[5];
    let r = curl(&d, "GET", &format!("/api/v1/zones/{ZONE}"), Some(ops), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let dnssec = &r.json["dnssec"];
    assert_eq!(dnssec["signed"], true, "{dnssec}");
    let key = &dnssec["keys"][0];
    assert_eq!(
        (key["role"].as_str(), key["state"].as_str()),
        (Some("csk"), Some("active"))
    );
    assert_eq!(key["algorithm"], 13);
    let ds = cli_ok(&d, &["dnssec", "ds", ZONE]);
    assert_eq!(dnssec["ds"][0].as_str(), Some(ds.trim()));
    assert!(ds.contains(&format!(" DS {} 13 2 ", key["tag"])), "{ds}");
    let (status, metrics) = http_get(d.api, "/metrics").unwrap();
    assert_eq!(status, 200);
    let line = format!(
        "ranah_dnssec_keys{{zone=\"example.go.id\",tag=\"{}\",role=\"csk\",state=\"active\",ds=\"awaited\"}} 1",
        key["tag"]
    );
    assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    assert!(metrics.contains("ranah_dnssec_signature_expiry_seconds{zone=\"example.go.id\"}"));
}

/// A restart with the signer that left the zone right does not check every signature again
/// (seconds at 100,000 names); a restart with another policy (NSEC3 to NSEC) makes the whole
/// zone right for it before DNS answers, and every answer still validates.
#[test]
fn a_restart_keeps_the_signatures_of_the_same_signer_and_redoes_them_for_another() {
    let tmp = Daemon::workdir("example.go.id.zone", &signed_test_zone());
    let start = |log: &str, config: Option<&str>| {
        let log = tmp.path().join(log);
        let d = Daemon::start_process_logging(
            tmp.path(),
            ([127, 0, 0, 1], free_port()).into(),
            config,
            &log,
        );
        let text = std::fs::read_to_string(&log).unwrap();
        (d, text)
    };
    let kept = "signatures kept: the same signer left the zone right";
    let denial = |d: &Daemon| dig(d.dns, &["+dnssec", "+norec", &fqdn("nope"), "A"]);

    let (mut d, first) = start("first.log", None);
    assert!(!first.contains(kept), "{first}");
    let anchor = validate::trust_anchor(d.dns, ZONE);
    assert!(denial(&d).contains("NSEC3"), "{}", denial(&d));
    let serial_before = serial(&d);
    assert!(d.stop().success());

    let (mut d, second) = start("second.log", None);
    assert!(second.contains(kept), "{second}");
    assert_eq!(serial(&d), serial_before);
    check_everything_at(d.dns, &anchor);
    assert!(d.stop().success());

    let (d, third) = start("third.log", Some("[dnssec]\ndenial = \"nsec\"\n"));
    assert!(!third.contains(kept), "{third}");
    let answer = denial(&d);
    assert!(
        answer.contains("\tNSEC\t") && !answer.contains("NSEC3"),
        "{answer}"
    );
    check_everything_at(d.dns, &anchor);
}
