//! A real Knot (`knotd`) and a real NSD as TSIG-keyed secondaries of the real daemon, on
//! loopback: the initial AXFR of a zone of 20,000 names, IXFR after an approval, the fallback
//! to AXFR when the journal no longer reaches back, refused and failed transfers, and the zone
//! state a stopped secondary shows.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::harness::*;

pub(crate) const SECRET: &str = "c2VjcmV0LW9mLXRoZS10ZXN0LXRzaWcta2V5LTMyYnk=";
const NAMES: usize = 20_000;

/// The test zone with `NAMES` more hosts: several AXFR messages.
fn big_zone() -> String {
    let mut z = String::from(
        "$ORIGIN example.go.id.\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster 2026010100 3600 900 1209600 300\n\
         @ IN NS ns1\n@ IN NS ns2\nns1 IN A 203.0.113.2\nns2 IN A 203.0.113.3\n",
    );
    for i in 0..NAMES {
        z.push_str(&format!("host{i:05} IN A 203.0.113.{}\n", (i % 250) + 1));
        if i % 4 == 0 {
            z.push_str(&format!("host{i:05} IN AAAA 2001:db8::{:x}\n", i + 1));
        }
    }
    z
}

/// A Knot or NSD server process, killed when dropped.
pub(crate) struct Peer {
    pub(crate) name: &'static str,
    pub(crate) addr: SocketAddr,
    child: Child,
}

impl Peer {
    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn serial(&self) -> Option<u32> {
        dig(self.addr, &["example.go.id.", "SOA", "+short"])
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a peer's copy of example.go.id comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Transferred from ranah at this address (NOTIFY and transfers keyed with `xfr-key`): the
    /// peer is ranah's secondary.
    Primary(SocketAddr),
    /// Loaded from this zone file: the peer is a primary of its own (the differential test).
    File(&'a Path),
}

fn program(name: &str) -> Command {
    // Both daemons live in /usr/sbin, which a test's PATH may not hold.
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        Command::new(sbin)
    } else {
        Command::new(name)
    }
}

/// Knot as ranah's secondary.
pub(crate) fn start_knot(dir: &Path, port: u16, primary: SocketAddr) -> Peer {
    knot(dir, port, Source::Primary(primary))
}

pub(crate) fn knot(dir: &Path, port: u16, source: Source<'_>) -> Peer {
    let dir = dir.join("knot");
    std::fs::create_dir_all(&dir).unwrap();
    let zone = match source {
        Source::Primary(primary) => format!(
            r#"key:
  - id: xfr-key
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: primary
    address: {ip}@{pport}
    via: 127.0.0.2
    key: xfr-key
acl:
  - id: from_primary
    address: 127.0.0.1
    key: xfr-key
    action: notify
  - id: compare
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
zone:
  - domain: example.go.id
    master: primary
    acl: [from_primary, compare]
"#,
            d = dir.display(),
            ip = primary.ip(),
            pport = primary.port(),
        ),
        Source::File(file) => format!(
            r#"template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: example.go.id
    file: {f}
"#,
            d = dir.display(),
            f = file.display(),
        ),
    };
    let conf = format!(
        r#"server:
    listen: 127.0.0.1@{port}
    rundir: {d}
log:
  - target: {d}/knot.log
    any: info
database:
    storage: {d}
{zone}"#,
        d = dir.display(),
    );
    let file = dir.join("knot.conf");
    std::fs::write(&file, conf).unwrap();
    let child = program("knotd")
        .arg("-c")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("knotd is required for this test; the README's test command installs it");
    Peer {
        name: "knot",
        addr: ([127, 0, 0, 1], port).into(),
        child,
    }
}

pub(crate) fn nsd(dir: &Path, port: u16, source: Source<'_>) -> Peer {
    let dir = dir.join("nsd");
    std::fs::create_dir_all(&dir).unwrap();
    let zone = match source {
        Source::Primary(primary) => format!(
            r#"key:
    name: xfr-key
    algorithm: hmac-sha256
    secret: "{SECRET}"
zone:
    name: example.go.id
    zonefile: example.go.id.zone
    allow-notify: 127.0.0.1 xfr-key
    request-xfr: {ip}@{pport} xfr-key
    outgoing-interface: 127.0.0.3
    provide-xfr: 127.0.0.1 NOKEY
"#,
            ip = primary.ip(),
            pport = primary.port(),
        ),
        Source::File(file) => format!(
            r#"zone:
    name: example.go.id
    zonefile: {f}
"#,
            f = file.display(),
        ),
    };
    nsd_with(&dir, port, &zone)
}

/// NSD serving `zone` from `file` as its primary (a parent zone, in the DNSSEC tests); it
/// reads the file again on SIGHUP.
pub(crate) fn nsd_serving(dir: &Path, port: u16, zone: &str, file: &Path) -> Peer {
    let dir = dir.join(format!("nsd-{zone}"));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = format!(
        "zone:\n    name: {zone}\n    zonefile: {}\n",
        file.display()
    );
    nsd_with(&dir, port, &conf)
}

fn nsd_with(dir: &Path, port: u16, zone: &str) -> Peer {
    // Response rate limiting off: the tests ask thousands of questions from one address.
    let conf = format!(
        r#"server:
    ip-address: 127.0.0.1@{port}
    zonesdir: {d}
    database: ""
    pidfile: {d}/nsd.pid
    xfrdfile: {d}/xfrd.state
    zonelistfile: {d}/zone.list
    xfrdir: {d}
    username: ""
    chroot: ""
    logfile: {d}/nsd.log
    verbosity: 2
    rrl-ratelimit: 0
remote-control:
    control-enable: no
{zone}"#,
        d = dir.display(),
    );
    let file = dir.join("nsd.conf");
    std::fs::write(&file, conf).unwrap();
    let child = program("nsd")
        .args(["-d", "-c"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nsd is required for this test; the README's test command installs it");
    Peer {
        name: "nsd",
        addr: ([127, 0, 0, 1], port).into(),
        child,
    }
}

/// The records of an AXFR from `addr` (signed when `key` is given), without the SOA and TSIG,
/// as sorted presentation lines, and dig's summary.
fn axfr(addr: SocketAddr, key: bool) -> (BTreeSet<String>, String) {
    let secret = format!("hmac-sha256:xfr-key:{SECRET}");
    let mut args = vec!["example.go.id.", "AXFR", "+nocomments", "+nostats"];
    if key {
        // From the address ranah allows for the Knot secondary.
        args.extend(["-b", "127.0.0.2", "-y", &secret]);
    }
    let out = dig(addr, &args);
    let records = out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.contains(" SOA ") && !l.contains(" TSIG "))
        .collect();
    (records, out)
}

pub(crate) fn metric(d: &Daemon, prefix: &str) -> f64 {
    let (status, body) = http_get(d.api, "/metrics").unwrap();
    assert_eq!(status, 200);
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn transfers(d: &Daemon, secondary: &Peer, kind: &str) -> f64 {
    metric(
        d,
        &format!(
            "ranah_dns_transfers_total{{zone=\"example.go.id\",secondary=\"{}\",kind=\"{kind}\"}}",
            secondary.addr
        ),
    )
}

fn in_sync(d: &Daemon, token: &str, secondary: &Peer) -> Option<bool> {
    let r = curl(d, "GET", "/api/v1/zones/example.go.id", Some(token), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["secondaries"]
        .as_array()?
        .iter()
        .find(|s| s["secondary"] == secondary.addr.to_string())
        .and_then(|s| s["in_sync"].as_bool())
}

#[test]
fn knot_and_nsd_follow_ranah() {
    let tmp = Daemon::workdir("example.go.id.zone", &big_zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let knot_port = free_port();
    let nsd_port = free_port();
    let config = format!(
        r#"[dns]
ixfr_journal_depth = 2
secondary_poll_secs = 1

[[tsig_keys]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "{SECRET}"

[[secondaries]]
zone = "example.go.id"
notify = "127.0.0.1:{knot_port}"
allow_transfer = ["127.0.0.2"]
tsig_key = "xfr-key"

[[secondaries]]
zone = "example.go.id"
notify = "127.0.0.1:{nsd_port}"
allow_transfer = ["127.0.0.3/32"]
tsig_key = "xfr-key"
"#
    );
    let d = Daemon::start_configured(tmp.path(), dns, Some(&config));
    let tokens = setup_people(&d);
    let ops = tokens[5].clone();
    let serial_of_ranah = || {
        dig(d.dns, &["example.go.id.", "SOA", "+short"])
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse::<u32>().ok())
    };

    // Initial AXFR of 20,000 names: several signed messages, as dig counts and checks them.
    let (ranah_records, summary) = axfr(d.dns, true);
    assert!(ranah_records.len() > NAMES, "{}", ranah_records.len());
    assert!(!summary.contains("could not be validated"), "{summary}");
    // The test's own transfers come from Knot's address too: count the secondaries' from here.
    let axfr_before = metric(
        &d,
        &format!(
            "ranah_dns_transfers_total{{zone=\"example.go.id\",secondary=\"127.0.0.1:{knot_port}\",kind=\"axfr\"}}"
        ),
    );
    let knot = start_knot(tmp.path(), knot_port, d.dns);
    let nsd = nsd(tmp.path(), nsd_port, Source::Primary(d.dns));
    let secondaries = [&knot, &nsd];
    let current = serial_of_ranah().unwrap();
    for s in secondaries {
        assert!(
            eventually(20, || s.serial() == Some(current)),
            "{} did not load the zone",
            s.name
        );
        assert_eq!(axfr(s.addr, false).0, ranah_records, "{}", s.name);
        assert!(
            eventually(10, || in_sync(&d, &ops, s) == Some(true)),
            "{} not shown in sync",
            s.name
        );
    }
    let knot_axfr = transfers(&d, &knot, "axfr");
    assert_eq!(knot_axfr, axfr_before + 1.0, "Knot's first AXFR");
    assert_eq!(transfers(&d, &nsd, "axfr"), 1.0, "NSD's first AXFR");
    let full = dig(
        d.dns,
        &[
            "-b",
            "127.0.0.2",
            "example.go.id.",
            "AXFR",
            "-y",
            &format!("hmac-sha256:xfr-key:{SECRET}"),
        ],
    );
    let messages: usize = full
        .lines()
        .find_map(|l| l.split("messages ").nth(1))
        .and_then(|m| m.split(',').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(messages > 1, "AXFR in {messages} messages");

    // An approval reaches both by NOTIFY and IXFR.
    let started = Instant::now();
    provision(&d, &tokens, "sipd", "203.0.113.80");
    let approved = started.elapsed();
    let mut lags = Vec::new();
    for s in secondaries {
        assert!(
            eventually(10, || dig(s.addr, &["sipd.example.go.id.", "A", "+short"])
                .trim()
                == "203.0.113.80"),
            "{} does not answer the new record",
            s.name
        );
        lags.push((s.name, started.elapsed().saturating_sub(approved)));
        assert!(transfers(&d, s, "ixfr") >= 1.0, "{} took no IXFR", s.name);
    }
    eprintln!("secondary lag after the approval's response: {lags:?}");
    let (old, _) = axfr(d.dns, true);
    let before_gap = serial_of_ranah().unwrap();
    let ixfr = dig(
        d.dns,
        &[
            "-b",
            "127.0.0.2",
            "example.go.id.",
            &format!("IXFR={}", before_gap - 1),
            "-y",
            &format!("hmac-sha256:xfr-key:{SECRET}"),
        ],
    );
    assert!(
        !ixfr.contains("failed") && !ixfr.contains("could not be validated"),
        "{ixfr}"
    );

    // Stopped secondaries fall out of sync; three changes exceed the journal depth of two, so
    // when they come back they get AXFR, and agree with ranah record for record.
    for s in secondaries {
        s.signal("-STOP");
    }
    for (action, name) in [
        ("suspend", "host00001"),
        ("unsuspend", "host00001"),
        ("suspend", "host00002"),
    ] {
        let r = post_json(
            &d,
            &format!("/api/v1/subdomains/{name}.example.go.id/{action}"),
            &ops,
            r#"{"reason": "Pemeriksaan keamanan"}"#,
        );
        assert_eq!(r.status, 200, "{action} {name}: {}", r.json);
    }
    for s in secondaries {
        assert!(
            eventually(10, || in_sync(&d, &ops, s) == Some(false)),
            "stopped {} still shown in sync",
            s.name
        );
    }
    let status = d.cli(&["status"]);
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success());
    for s in secondaries {
        let line = table
            .lines()
            .find(|l| l.contains(&s.addr.to_string()))
            .unwrap_or_else(|| panic!("{} not in status:\n{table}", s.name));
        assert!(line.contains(" NO "), "{line}");
    }
    let current = serial_of_ranah().unwrap();
    let (now_records, _) = axfr(d.dns, true);
    assert_ne!(now_records, old);
    let axfr_counts = secondaries.map(|s| transfers(&d, s, "axfr"));
    for s in secondaries {
        s.signal("-CONT");
    }
    for (s, count) in secondaries.iter().zip(axfr_counts) {
        assert!(
            eventually(20, || s.serial() == Some(current)),
            "{} did not catch up",
            s.name
        );
        assert_eq!(
            transfers(&d, s, "axfr"),
            count + 1.0,
            "{} fell back to AXFR",
            s.name
        );
        assert_eq!(axfr(s.addr, false).0, now_records, "{}", s.name);
    }

    // Refusals: an address not allowed, no key, a wrong secret, an unknown key.
    let out = tool(
        "dig",
        &[
            &format!("@{}", d.dns.ip()),
            "-p",
            &d.dns.port().to_string(),
            "-b",
            "127.0.0.9",
            "example.go.id.",
            "AXFR",
            "-y",
            &format!("hmac-sha256:xfr-key:{SECRET}"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Transfer failed"), "{text}");
    let unsigned = tool(
        "dig",
        &[
            &format!("@{}", d.dns.ip()),
            "-p",
            &d.dns.port().to_string(),
            "-b",
            "127.0.0.2",
            "example.go.id.",
            "AXFR",
        ],
    );
    assert!(String::from_utf8_lossy(&unsigned.stdout).contains("Transfer failed"));
    let wrong = dig(
        d.dns,
        &[
            "-b",
            "127.0.0.2",
            "example.go.id.",
            "AXFR",
            "-y",
            "hmac-sha256:xfr-key:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==",
        ],
    );
    assert!(wrong.contains("BADSIG"), "{wrong}");
    let other_key = format!("hmac-sha256:other-key:{SECRET}");
    let unknown = dig(
        d.dns,
        &[
            "-b",
            "127.0.0.2",
            "example.go.id.",
            "AXFR",
            "-y",
            &other_key,
        ],
    );
    assert!(unknown.contains("BADKEY"), "{unknown}");
    assert!(
        metric(
            &d,
            "ranah_dns_transfers_refused_total{zone=\"example.go.id\",reason=\"address_not_allowed\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &d,
            "ranah_dns_transfers_refused_total{zone=\"example.go.id\",reason=\"missing_tsig\"}"
        ) >= 1.0
    );
    assert!(metric(&d, "ranah_dns_tsig_failures_total{error=\"BADSIG\"}") >= 1.0);
    assert!(metric(&d, "ranah_dns_tsig_failures_total{error=\"BADKEY\"}") >= 1.0);
}
