//! RFC 2136 dynamic update with TSIG, through real clients: `nsupdate` (bind9-dnsutils) over
//! UDP and TCP, and certbot with its RFC 2136 plugin (Debian's packages) obtaining a
//! certificate from pebble. Each accepted change is answered by DNS when the client returns,
//! reaches a real Knot secondary by NOTIFY, and is in the audit trail with its agency.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

use crate::harness::*;
use crate::pebble::{Pebble, listener_certificate};
use crate::secondaries::{SECRET, metric, start_knot};

/// The zone of these tests: two agencies' names, a lab for an operator's key, names of
/// nobody.
fn zone() -> String {
    "$ORIGIN example.go.id.\n$TTL 3600\n\
     @ SOA ns1 hostmaster 2026010100 3600 900 1209600 300\n\
     @ NS ns1\nns1 A 203.0.113.2\nwww A 203.0.113.10\n\
     dinkes A 203.0.113.20\ndishub A 203.0.113.21\n\
     lab MX 10 mail\nlab TXT \"lab\"\nmail A 203.0.113.25\n"
        .into()
}

/// Start ranah on the zone with `config`, the people of the other tests, and dinkes and
/// dishub given to DINKES and DISHUB.
fn start(config: &str) -> (tempfile::TempDir, Daemon, [String; 6]) {
    let tmp = Daemon::workdir("example.go.id.zone", &zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_configured(tmp.path(), dns, Some(config));
    let tokens = setup_people(&d);
    assign_agency_names(&d);
    (tmp, d, tokens)
}

/// `ranah key create ARGS`: the one line it prints, checked for its form.
fn create_key(d: &Daemon, args: &[&str]) -> String {
    let mut all = vec!["key", "create"];
    all.extend(args);
    let line = cli_ok(d, &all).trim().to_owned();
    let parts: Vec<&str> = line.split(':').collect();
    assert_eq!(parts.len(), 3, "{line}");
    assert_eq!(parts[0], "hmac-sha256");
    let secret = base64::engine::general_purpose::STANDARD
        .decode(parts[2])
        .unwrap();
    assert_eq!(secret.len(), 32, "{line}");
    line
}

/// Run `nsupdate` (over TCP with `tcp`) with `key` (`-y`), sending `lines` to the test zone:
/// whether it succeeded, and what it printed.
fn nsupdate(d: &Daemon, key: Option<&str>, tcp: bool, lines: &str) -> (bool, String) {
    nsupdate_zone(d, key, tcp, "example.go.id", lines)
}

/// [`nsupdate`] for any zone.
fn nsupdate_zone(
    d: &Daemon,
    key: Option<&str>,
    tcp: bool,
    zone: &str,
    lines: &str,
) -> (bool, String) {
    let mut command = Command::new("nsupdate");
    if tcp {
        command.arg("-v");
    }
    if let Some(key) = key {
        command.args(["-y", key]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsupdate is required; the README's test command installs it");
    let script = format!(
        "server {} {}\nzone {zone}\n{lines}\nsend\n",
        d.dns.ip(),
        d.dns.port()
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What nsupdate said of a refused update: the RCODE it printed.
fn refused_with(d: &Daemon, key: Option<&str>, lines: &str, rcode: &str) {
    let (ok, text) = nsupdate(d, key, false, lines);
    assert!(!ok, "accepted: {lines}\n{text}");
    assert!(
        text.contains(&format!("update failed: {rcode}")),
        "{lines}\nexpected {rcode}: {text}"
    );
}

fn txt(d: &Daemon, name: &str) -> String {
    dig(d.dns, &[name, "TXT", "+short"]).trim().to_owned()
}

fn challenge_records(d: &Daemon, owner: &str) -> Vec<Value> {
    store_query(
        &d.dir,
        &format!(
            "SELECT r.data, a.code FROM records r LEFT JOIN agencies a ON a.id = r.agency_id \
             WHERE r.owner = '{owner}' ORDER BY r.data"
        ),
    )
}

#[test]
fn nsupdate_changes_an_agencys_challenges_and_nothing_else() {
    let knot_port = free_port();
    let config = format!(
        r#"[dns]
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
"#
    );
    let (_tmp, d, tokens) = start(&config);
    let ops = &tokens[5];
    let knot = start_knot(&d.dir, knot_port, d.dns);
    let serial = || serial(&d);
    assert!(eventually(20, || knot.serial() == Some(serial())));

    let dinkes = create_key(&d, &["--agency", "DINKES"]);
    let dinkes_name = dinkes.split(':').nth(1).unwrap().to_owned();
    assert!(dinkes_name.starts_with("dinkes-"), "{dinkes_name}");
    let dishub = create_key(&d, &["--agency", "DISHUB", "--name", "dishub-acme"]);
    // A name is given once, and never a transfer key's.
    let (ok, _, err) = run_cli(
        &d,
        &[
            "key",
            "create",
            "--agency",
            "DISHUB",
            "--name",
            "dishub-acme",
        ],
    );
    assert!(!ok && err.contains("exists"), "{err}");
    let config_file = d.dir.join("ranah.toml");
    let (ok, _, err) = run_cli(
        &d,
        &[
            "--config",
            config_file.to_str().unwrap(),
            "key",
            "create",
            "--agency",
            "DINKES",
            "--name",
            "xfr-key",
        ],
    );
    assert!(!ok && err.contains("transfer key"), "{err}");
    let (ok, _, err) = run_cli(&d, &["key", "create", "--agency", "NOPE"]);
    assert!(!ok && err.contains("agency NOPE"), "{err}");

    // Over UDP: added, and DNS answers it as nsupdate returns; Knot follows by NOTIFY.
    let challenge = "_acme-challenge.dinkes.example.go.id";
    let before = serial();
    let (ok, text) = nsupdate(
        &d,
        Some(&dinkes),
        false,
        &format!("update add {challenge} 120 TXT \"token-one\""),
    );
    assert!(ok, "{text}");
    assert_eq!(txt(&d, challenge), "\"token-one\"");
    assert!(serial() > before);
    assert!(
        eventually(10, || dig(knot.addr, &[challenge, "TXT", "+short"]).trim()
            == "\"token-one\""),
        "Knot did not follow the update"
    );
    // Below a held name too (a certificate for www.dinkes), with a prerequisite that holds.
    let (ok, text) = nsupdate(
        &d,
        Some(&dinkes),
        true,
        "prereq nxrrset _acme-challenge.www.dinkes.example.go.id TXT\n\
         update add _acme-challenge.www.dinkes.example.go.id 60 TXT \"token-www\"",
    );
    assert!(ok, "{text}");
    assert_eq!(
        txt(&d, "_acme-challenge.www.dinkes.example.go.id"),
        "\"token-www\""
    );
    // The records carry the agency; the audit trail names it and the key.
    let rows = challenge_records(&d, &format!("{challenge}."));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][1], "DINKES", "{rows:?}");
    let r = curl(&d, "GET", "/api/v1/audit?limit=1000", Some(ops), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let events = r.json["items"].as_array().unwrap();
    let change = events
        .iter()
        .find(|e| {
            e["action"] == "zone.change" && e["summary"]["added"].to_string().contains("token-one")
        })
        .unwrap_or_else(|| panic!("no zone.change for the update: {events:?}"));
    assert_eq!(change["actor"], "DINKES", "{change}");
    assert_eq!(change["role"], "update-key", "{change}");
    assert_eq!(change["client"], "127.0.0.1", "{change}");
    assert!(
        change["summary"]["reason"]
            .as_str()
            .unwrap()
            .contains(&dinkes_name),
        "{change}"
    );
    assert!(events.iter().any(|e| e["action"] == "update_key.create"));

    // Refused, with the code RFC 2136 and RFC 8945 name, and nothing changes.
    let kept = serial();
    let dishub_challenge = "_acme-challenge.dishub.example.go.id";
    // Another agency's name, with either agency's key.
    refused_with(
        &d,
        Some(&dinkes),
        &format!("update add {dishub_challenge} 120 TXT \"x\""),
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&dishub),
        &format!("update add {challenge} 120 TXT \"x\""),
        "REFUSED",
    );
    // Not a challenge, or not TXT, or the apex's, or a name nobody holds.
    refused_with(
        &d,
        Some(&dinkes),
        "update add dinkes.example.go.id 120 A 203.0.113.99",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&dinkes),
        &format!("check-names no\nupdate add {challenge} 120 A 203.0.113.99"),
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&dinkes),
        "update add _acme-challenge.example.go.id 120 TXT \"x\"",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&dinkes),
        "update add _acme-challenge.www.example.go.id 120 TXT \"x\"",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&dinkes),
        "update delete www.example.go.id A",
        "REFUSED",
    );
    // A TTL outside the policy's range.
    refused_with(
        &d,
        Some(&dinkes),
        &format!("update add {challenge} 5 TXT \"x\""),
        "REFUSED",
    );
    // Prerequisites that do not hold.
    refused_with(
        &d,
        Some(&dinkes),
        &format!("prereq nxdomain {challenge}\nupdate add {challenge} 120 TXT \"x\""),
        "YXDOMAIN",
    );
    refused_with(
        &d,
        Some(&dinkes),
        &format!(
            "prereq yxdomain _acme-challenge.none.dinkes.example.go.id\nupdate add {challenge} 120 TXT \"x\""
        ),
        "NXDOMAIN",
    );
    refused_with(
        &d,
        Some(&dinkes),
        &format!("prereq nxrrset {challenge} TXT\nupdate add {challenge} 120 TXT \"x\""),
        "YXRRSET",
    );
    refused_with(
        &d,
        Some(&dinkes),
        &format!("prereq yxrrset {challenge} TXT \"other\"\nupdate add {challenge} 120 TXT \"x\""),
        "NXRRSET",
    );
    // Unsigned, an unknown key, a wrong secret.
    refused_with(
        &d,
        None,
        &format!("update add {challenge} 120 TXT \"x\""),
        "REFUSED",
    );
    let stranger = format!("hmac-sha256:stranger:{SECRET}");
    refused_with(
        &d,
        Some(&stranger),
        &format!("update add {challenge} 120 TXT \"x\""),
        "NOTAUTH(BADKEY)",
    );
    let wrong = format!("hmac-sha256:{dinkes_name}:{SECRET}");
    refused_with(
        &d,
        Some(&wrong),
        &format!("update add {challenge} 120 TXT \"x\""),
        "NOTAUTH(BADSIG)",
    );
    assert_eq!(serial(), kept, "a refused update changed the zone");
    assert_eq!(txt(&d, challenge), "\"token-one\"");
    // A zone ranah does not serve.
    let (ok, text) = nsupdate_zone(
        &d,
        Some(&dinkes),
        false,
        "example.org",
        "update add _acme-challenge.a.example.org 120 TXT \"x\"",
    );
    assert!(!ok && text.contains("NOTAUTH"), "{text}");

    // Over TCP: removed with a prerequisite on its value.
    let (ok, text) = nsupdate(
        &d,
        Some(&dinkes),
        true,
        &format!(
            "prereq yxrrset {challenge} TXT \"token-one\"\nupdate delete {challenge} TXT \"token-one\""
        ),
    );
    assert!(ok, "{text}");
    assert_eq!(txt(&d, challenge), "");
    assert!(
        eventually(10, || dig(knot.addr, &[challenge, "TXT", "+short"])
            .trim()
            .is_empty()),
        "Knot did not follow the removal"
    );
    // Deleting every set at a name deletes only what the key may change.
    let (ok, text) = nsupdate(
        &d,
        Some(&dinkes),
        false,
        "update delete _acme-challenge.www.dinkes.example.go.id",
    );
    assert!(ok, "{text}");
    assert_eq!(txt(&d, "_acme-challenge.www.dinkes.example.go.id"), "");

    // Revoked: BADKEY from then on.
    cli_ok(&d, &["key", "revoke", &dinkes_name]);
    refused_with(
        &d,
        Some(&dinkes),
        &format!("update add {challenge} 120 TXT \"x\""),
        "NOTAUTH(BADKEY)",
    );
    let listed = cli_ok(&d, &["key", "list"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&dinkes_name))
        .unwrap();
    assert!(
        !line.trim_end().ends_with(" -"),
        "not shown revoked: {line}"
    );
    assert!(!listed.contains(SECRET) && !listed.contains(dinkes.split(':').nth(2).unwrap()));
    let events = curl(&d, "GET", "/api/v1/audit?limit=1000", Some(ops), &[]).json;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "update_key.revoke")
    );

    // Each answer counted once under its code.
    for (rcode, count) in [
        ("noerror", 4.0),
        ("refused", 9.0),
        ("notauth", 4.0),
        ("yxdomain", 1.0),
        ("nxdomain", 1.0),
        ("yxrrset", 1.0),
        ("nxrrset", 1.0),
    ] {
        let n = metric(&d, &format!("ranah_dns_updates_total{{rcode=\"{rcode}\"}}"));
        assert_eq!(n, count, "{rcode}");
    }
}

/// `ranah ARGS` in the daemon's directory: success, standard output and error.
fn run_cli(d: &Daemon, args: &[&str]) -> (bool, String, String) {
    let out = d.cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_operator_key_has_what_the_configuration_grants_and_limits_hold() {
    let config = r#"[dynamic_update]
per_key_per_minute = 4
max_records = 3

[[dynamic_update.grants]]
key = "lab-ops"
names = ["lab.example.go.id"]
types = ["A", "TXT"]

[[dynamic_update.grants]]
key = "lab-ops-2"
names = ["lab.example.go.id"]
types = ["A"]

[[names.address_ranges]]
zone = "example.go.id"
ranges = ["203.0.113.0/24"]
"#;
    let (_tmp, d, _) = start(config);
    let lab = create_key(&d, &["--name", "lab-ops"]);
    let idle = create_key(&d, &["--name", "no-grant"]);
    let (ok, _, err) = run_cli(&d, &["key", "create"]);
    assert!(!ok && err.contains("--name"), "{err}");

    // Inside its grant, at the name and below.
    let (ok, text) = nsupdate(
        &d,
        Some(&lab),
        false,
        "update add x.lab.example.go.id 300 A 203.0.113.77",
    );
    assert!(ok, "{text}");
    assert_eq!(
        dig(d.dns, &["x.lab.example.go.id", "A", "+short"]).trim(),
        "203.0.113.77"
    );
    // Deleting every set at lab deletes its TXT, not the MX the grant does not cover.
    let (ok, text) = nsupdate(&d, Some(&lab), false, "update delete lab.example.go.id");
    assert!(ok, "{text}");
    assert_eq!(txt(&d, "lab.example.go.id"), "");
    assert_eq!(
        dig(d.dns, &["lab.example.go.id", "MX", "+short"]).trim(),
        "10 mail.example.go.id."
    );
    // Outside it: another type, another name; a key with no grant changes nothing.
    refused_with(
        &d,
        Some(&lab),
        "update add lab.example.go.id 300 MX 20 mail",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&idle),
        "update add x.lab.example.go.id 300 A 203.0.113.78",
        "REFUSED",
    );
    // Too many records in one message, from a key they are all granted to (and which makes
    // them three at a time).
    let lab2 = create_key(&d, &["--name", "lab-ops-2"]);
    let three = "update add a.lab.example.go.id 300 A 203.0.113.1\n\
                update add b.lab.example.go.id 300 A 203.0.113.2\n\
                update add c.lab.example.go.id 300 A 203.0.113.3";
    refused_with(
        &d,
        Some(&lab2),
        &format!("{three}\nupdate add d.lab.example.go.id 300 A 203.0.113.4"),
        "REFUSED",
    );
    let (ok, text) = nsupdate(&d, Some(&lab2), false, three);
    assert!(ok, "{text}");
    // An address outside the ranges the zone's names are hosted in, whatever the grant.
    refused_with(
        &d,
        Some(&lab2),
        "update add e.lab.example.go.id 300 A 198.51.100.7",
        "REFUSED",
    );
    // The rate per key: two updates went through and one was refused (refusals count); the
    // fifth of the minute is refused, whatever it asks.
    let (ok, text) = nsupdate(
        &d,
        Some(&lab),
        false,
        "update add y.lab.example.go.id 300 A 203.0.113.79",
    );
    assert!(ok, "{text}");
    refused_with(
        &d,
        Some(&lab),
        "update add z.lab.example.go.id 300 A 203.0.113.80",
        "REFUSED",
    );
    assert_eq!(
        dig(d.dns, &["z.lab.example.go.id", "A", "+short"]).trim(),
        ""
    );
}

#[test]
fn hostile_updates_get_their_codes_and_the_server_keeps_answering() {
    let (_tmp, d, _) = start("");
    let query_works = || dig(d.dns, &["www.example.go.id", "A", "+short"]).trim() == "203.0.113.10";
    // Header only, opcode UPDATE, no zone: FORMERR.
    let mut header = vec![0x12, 0x34, 0x28, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
    for tcp in [false, true] {
        let reply = exchange_raw(d.dns, &header, tcp).expect("an answer");
        assert_eq!(reply[3] & 0x0f, 1, "FORMERR over tcp={tcp}: {reply:?}");
        assert_eq!((reply[2] >> 3) & 0x0f, 5, "opcode UPDATE echoed");
    }
    // One zone, but of type A: FORMERR; of type SOA, unsigned: REFUSED (no key, no
    // permission).
    header[5] = 1;
    let mut message = header.clone();
    message.extend_from_slice(b"\x07example\x02go\x02id\x00\x00\x01\x00\x01");
    let reply = exchange_raw(d.dns, &message, false).expect("an answer");
    assert_eq!(reply[3] & 0x0f, 1, "FORMERR: {reply:?}");
    let mut message = header.clone();
    message.extend_from_slice(b"\x07example\x02go\x02id\x00\x00\x06\x00\x01");
    let reply = exchange_raw(d.dns, &message, false).expect("an answer");
    assert_eq!(reply[3] & 0x0f, 5, "REFUSED: {reply:?}");
    // A flood of unsigned updates over UDP, bounded in time: each answered REFUSED, and
    // queries are still answered.
    let started = std::time::Instant::now();
    let mut answered = 0;
    while started.elapsed() < std::time::Duration::from_secs(2) {
        if exchange_raw(d.dns, &message, false).is_some_and(|r| r[3] & 0x0f == 5) {
            answered += 1;
        }
    }
    assert!(answered > 100, "{answered} answered");
    assert!(query_works());
    assert!(metric(&d, "ranah_dns_updates_total{rcode=\"refused\"}") >= answered as f64);
}

#[test]
fn certbot_obtains_a_certificate_through_ranah_with_an_agencys_key_only() {
    let (_tmp, d, _) = start("");
    let pki = d.dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    listener_certificate(&pki);
    let pebble = Pebble::start(&pki, free_port(), free_port(), d.dns, None);
    let dinkes = create_key(&d, &["--agency", "DINKES", "--name", "dinkes-certbot"]);
    let dishub = create_key(&d, &["--agency", "DISHUB", "--name", "dishub-certbot"]);
    let certbot = |key: &str, name: &str, run: &str| {
        let dir = d.dir.join(run);
        std::fs::create_dir_all(&dir).unwrap();
        let [_, key_name, secret] = key.split(':').collect::<Vec<_>>()[..] else {
            panic!("{key}");
        };
        let credentials = dir.join("rfc2136.ini");
        std::fs::write(
            &credentials,
            format!(
                "dns_rfc2136_server = {}\ndns_rfc2136_port = {}\ndns_rfc2136_name = {key_name}\n\
                 dns_rfc2136_secret = {secret}\ndns_rfc2136_algorithm = HMAC-SHA256\n",
                d.dns.ip(),
                d.dns.port()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
        let dirs = |sub: &str| dir.join(sub).to_str().unwrap().to_owned();
        let out = Command::new("certbot")
            .args(["certonly", "--non-interactive", "--agree-tos"])
            .args([
                "--register-unsafely-without-email",
                "--server",
                &pebble.directory(),
            ])
            .args(["--config-dir", &dirs("config"), "--work-dir", &dirs("work")])
            .args(["--logs-dir", &dirs("logs"), "--key-type", "ecdsa"])
            .args(["--dns-rfc2136", "--dns-rfc2136-credentials"])
            .arg(&credentials)
            .args(["--dns-rfc2136-propagation-seconds", "1", "-d", name])
            .env("REQUESTS_CA_BUNDLE", pki.join("ca.pem"))
            .output()
            .expect("certbot is required; the README's test command installs it");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text, dir)
    };
    let name = "dinkes.example.go.id";
    let (ok, text, dir) = certbot(&dinkes, name, "dinkes");
    assert!(ok, "certbot failed: {text}");
    let chain =
        std::fs::read_to_string(dir.join(format!("config/live/{name}/fullchain.pem"))).unwrap();
    crate::pebble::verify_chain(&dir, &chain, &pebble.root(), name);
    // The plugin cleaned its challenge up.
    assert_eq!(txt(&d, &format!("_acme-challenge.{name}")), "");
    // Another agency's key cannot answer for this name: the update is refused.
    let (ok, text, _) = certbot(&dishub, name, "dishub");
    assert!(!ok, "certbot succeeded with another agency's key: {text}");
    assert!(text.contains("REFUSED"), "{text}");
}

#[test]
fn what_no_key_may_change_and_a_replayed_update() {
    let config = r#"[[dynamic_update.grants]]
key = "ops-all"
names = ["example.go.id"]
"#;
    let (_tmp, d, tokens) = start(config);
    let ops = &tokens[5];
    let dinkes = create_key(&d, &["--agency", "DINKES", "--name", "dinkes-acme"]);
    let all = create_key(&d, &["--name", "ops-all"]);
    let kept = serial(&d);
    // A label holding a dot reads, as text, as a name inside dinkes: it is not one.
    refused_with(
        &d,
        Some(&dinkes),
        "update add _acme-challenge.dinkes.example.go.id 120 TXT \"a\"\n\
         update add _acme-challenge.foo\\.dinkes.example.go.id 120 TXT \"b\"",
        "REFUSED",
    );
    // A challenge is one short string.
    refused_with(
        &d,
        Some(&dinkes),
        "update add _acme-challenge.dinkes.example.go.id 120 TXT \"a\" \"b\"",
        "REFUSED",
    );
    // Even a key granted every type of the zone: not the signer's records, not the SOA,
    // not the audit anchor.
    refused_with(
        &d,
        Some(&all),
        "update delete example.go.id DNSKEY",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&all),
        "update delete example.go.id NSEC3PARAM",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&all),
        "update add _audit.example.go.id 300 TXT \"forged head\"",
        "REFUSED",
    );
    refused_with(
        &d,
        Some(&all),
        "update delete _audit.example.go.id",
        "REFUSED",
    );
    assert_eq!(serial(&d), kept, "a refused update changed the zone");
    assert!(
        !dig(d.dns, &["example.go.id", "DNSKEY", "+short"])
            .trim()
            .is_empty()
    );
    // What it is granted works.
    let (ok, text) = nsupdate(
        &d,
        Some(&all),
        false,
        "update add new.example.go.id 300 A 203.0.113.44",
    );
    assert!(ok, "{text}");

    // A suspended name, or one below it, gets no certificate.
    let r = post_json(
        &d,
        "/api/v1/subdomains/dinkes.example.go.id/suspend",
        ops,
        r#"{"reason": "defaced"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    for name in ["dinkes", "www.dinkes"] {
        refused_with(
            &d,
            Some(&dinkes),
            &format!("update add _acme-challenge.{name}.example.go.id 120 TXT \"x\""),
            "REFUSED",
        );
    }
    let r = post_json(
        &d,
        "/api/v1/subdomains/dinkes.example.go.id/unsuspend",
        ops,
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.json);

    // The same signed message twice (as captured on the wire): the second is refused.
    let secret = dinkes.split(':').nth(2).unwrap();
    let script = format!(
        r#"
import socket, dns.update, dns.tsigkeyring, dns.tsig, dns.rcode
ring = dns.tsigkeyring.from_text({{"dinkes-acme": "{secret}"}})
u = dns.update.Update("example.go.id", keyring=ring, keyalgorithm=dns.tsig.HMAC_SHA256)
u.add("_acme-challenge.dinkes", 120, "TXT", '"replayed"')
wire = u.to_wire()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for _ in range(2):
    s.sendto(wire, ("{ip}", {port}))
    reply = s.recv(4096)
    print(dns.rcode.to_text(reply[3] & 0x0F))
"#,
        ip = d.dns.ip(),
        port = d.dns.port()
    );
    // Debian's python3, which certbot's plugin brought dnspython to.
    let out = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["NOERROR", "REFUSED"]
    );
}
