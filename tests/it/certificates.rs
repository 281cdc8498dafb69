//! Certificates against Debian's `pebble`, Let's Encrypt's test CA, on loopback: it validates
//! DNS-01 by asking ranah's own DNS port, so every issuance here proves that ranah published
//! the challenge in its zone. No test uses `PEBBLE_VA_ALWAYS_VALID`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::*;
use crate::pebble::*;

/// A daemon with the test zone, whose `[acme]` points at `pebble`.
fn daemon(dir: &Path, dns: SocketAddr, pebble: &Pebble) -> Daemon {
    daemon_with(dir, dns, pebble, "")
}

/// As [`daemon`], with more configuration.
fn daemon_with(dir: &Path, dns: SocketAddr, pebble: &Pebble, more: &str) -> Daemon {
    let config = format!(
        r#"
[acme]
directory = "{}"
ca_file = "{}"
email = "ops@example.go.id"
key_encryption_key = "{KEY_ENCRYPTION_KEY}"
retry_base_secs = 1
retry_max_secs = 2
check_interval_secs = 1
order_timeout_secs = 30
{more}"#,
        pebble.directory(),
        pebble.dir.join("ca.pem").display()
    );
    // The real binary: one test kills it mid-order.
    Daemon::start_process(dir, dns, Some(&config))
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    dns: SocketAddr,
    pebble: Pebble,
}

fn setup() -> Setup {
    setup_with(None, None)
}

/// A work directory and pebble, issuing for `validity` seconds if given and asking
/// `pebble_asks` for DNS-01 (ranah's DNS port by default).
fn setup_with(validity: Option<u64>, pebble_asks: Option<SocketAddr>) -> Setup {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path().to_owned();
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    listener_certificate(&pki);
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let pebble = Pebble::start(
        &pki,
        free_port(),
        free_port(),
        pebble_asks.unwrap_or(dns),
        validity,
    );
    Setup {
        _tmp: tmp,
        dir,
        dns,
        pebble,
    }
}

pub(crate) fn certificate(d: &Daemon, token: &str, name: &str) -> Reply {
    curl(
        d,
        "GET",
        &format!("/api/v1/certificates/{name}"),
        Some(token),
        &[],
    )
}

/// Wait until the certificate's status is `status` (and, if given, its serial differs from
/// `not_serial`); returns it.
pub(crate) fn wait_status(
    d: &Daemon,
    token: &str,
    name: &str,
    status: &str,
    not_serial: Option<&str>,
) -> Value {
    let mut last = Value::Null;
    let ok = eventually(40, || {
        last = certificate(d, token, name).json;
        last["status"] == status && not_serial.is_none_or(|s| last["serial"] != s)
    });
    assert!(ok, "{name} did not become {status}: {last}");
    last
}

pub(crate) fn audit_actions(d: &Daemon, ops: &str) -> Vec<String> {
    let r = curl(d, "GET", "/api/v1/audit?limit=1000", Some(ops), &[]);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap_or(""),
                e["target"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_request_with_a_certificate_is_issued_renewed_and_revoked_on_delete() {
    let s = setup();
    let d = daemon(&s.dir, s.dns, &s.pebble);
    let tokens = setup_people(&d);
    let [andi, dewi, kadis, _, _, ops] = &tokens;
    let name = "sipd.example.go.id";

    let id = walk_request(
        &d,
        &tokens,
        &request_body("create", "sipd", "203.0.113.10", true),
    );
    let cert = wait_status(&d, andi, name, "issued", None);
    // The DNS-01 challenge came and went through the signer: the zone validates, the
    // challenge's name is proven gone.
    let anchor = crate::validate::trust_anchor(d.dns, "example.go.id");
    crate::validate::assert_validated(d.dns, &anchor, "sipd.example.go.id.", "A");
    let challenge = "_acme-challenge.sipd.example.go.id.";
    assert!(
        eventually(10, || crate::validate::delv(
            d.dns, &anchor, challenge, "TXT"
        )
        .validation
            == crate::validate::Validation::Negative(
                crate::validate::Denial::NxDomain
            )),
        "{}",
        crate::validate::delv(d.dns, &anchor, challenge, "TXT")
    );
    assert_eq!(cert["mode"], "managed");
    assert_eq!(cert["request"], id);
    assert!(cert["last_error"].is_null(), "{cert}");
    let request = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(andi),
        &[],
    )
    .json;
    assert_eq!(request["certificate_status"], "issued", "{request}");
    // The approver's client shows it as the API does.
    let listed = crate::client::ok(&d, andi, &["certificates"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("issued"), "{listed}");
    assert!(
        row.contains(cert["not_after"].as_str().unwrap()),
        "{listed}"
    );
    let shown = crate::client::ok(&d, andi, &["certificates", name]);
    for want in [
        format!("Name:       {name}"),
        "Status:     issued".to_owned(),
        "Mode:       managed".to_owned(),
        format!("Serial:     {}", cert["serial"].as_str().unwrap()),
        format!("Request:    {id}"),
    ] {
        assert!(shown.contains(&want), "{want}: {shown}");
    }

    // The chain verifies against pebble's root, for exactly that name, with the managed key.
    let (code, chain) = text(&d, dewi, &format!("/api/v1/certificates/{name}/chain.pem"));
    assert_eq!(code, 200, "the chain is public");
    let leaf_key = verify_chain(&s.dir, &chain, &s.pebble.root(), name);
    let (code, key) = text(&d, andi, &format!("/api/v1/certificates/{name}/key.pem"));
    assert_eq!(code, 200, "{key}");
    let key_file = s.dir.join("managed.key");
    std::fs::write(&key_file, &key).unwrap();
    assert_eq!(public_key(&["pkey", "-pubout", "-in"], &key_file), leaf_key);
    // Another agency gets no key, and the key is stored sealed, not in clear.
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/certificates/{name}/key.pem"),
        Some(dewi),
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.json);
    assert!(r.content_type.starts_with("application/problem+json"));
    let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let in_clear = |bytes: &[u8]| {
        bytes
            .windows(body[0].len())
            .any(|w| w == body[0].as_bytes())
    };
    if database_url(&s.dir).is_none() {
        let db = std::fs::read(s.dir.join("data/ranah.db")).unwrap();
        assert!(
            !in_clear(&db),
            "the private key is in the database file in clear"
        );
    }
    // Every column of every certificate row, text and bytes (hex from the client).
    for row in store_query(&s.dir, "SELECT * FROM certificates") {
        for value in row.as_array().unwrap().iter().filter_map(|v| v.as_str()) {
            let bytes = hex::decode(value).unwrap_or_default();
            assert!(
                !in_clear(value.as_bytes()) && !in_clear(&bytes),
                "the private key is stored in clear"
            );
        }
    }
    let actions = audit_actions(&d, ops);
    for expected in [
        format!("certificate.order certificate/{name}"),
        format!("certificate.issued certificate/{name}"),
        format!("certificate.key_download certificate/{name}"),
    ] {
        assert!(actions.contains(&expected), "{expected} not in {actions:?}");
    }
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("acme.account_registered"))
    );
    // The challenge TXT is gone once the order is done.
    let answer = dig(
        s.dns,
        &[&format!("_acme-challenge.{name}"), "TXT", "+norec"],
    );
    assert!(answer.contains("status: NXDOMAIN"), "{answer}");

    // Metrics.
    let (_, metrics) = http_get(d.api, "/metrics").unwrap();
    assert!(
        metrics.contains("ranah_certificates{status=\"issued\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("ranah_certificate_expiry_days{{name=\"{name}\"}}")));

    // `ranah cert renew` replaces it: a new serial, same key, chain still valid meanwhile.
    let first_serial = cert["serial"].as_str().unwrap().to_owned();
    cli_ok(&d, &["cert", "renew", name]);
    let renewed = wait_status(&d, andi, name, "issued", Some(&first_serial));
    assert_ne!(renewed["serial"], first_serial);
    let (_, chain2) = text(&d, dewi, &format!("/api/v1/certificates/{name}/chain.pem"));
    assert_ne!(chain2, chain);
    assert_eq!(
        verify_chain(&s.dir, &chain2, &s.pebble.root(), name),
        leaf_key
    );
    assert!(audit_actions(&d, ops).contains(&format!("certificate.renewed certificate/{name}")));
    let listed = cli_ok(&d, &["cert", "list"]);
    assert!(
        listed.contains(name) && listed.contains("issued"),
        "{listed}"
    );

    // Deleting the name (once the creation is answered) revokes the certificate at the CA and
    // stops renewal.
    let r = post_json(&d, &format!("/api/v1/requests/{id}/approve"), kadis, "{}");
    assert_eq!(r.status, 200, "{}", r.json);
    let serial = renewed["serial"].as_str().unwrap().to_owned();
    assert_eq!(s.pebble.status_of(&serial), "Valid");
    walk_request(
        &d,
        &tokens,
        &request_body("delete", "sipd", "203.0.113.10", false),
    );
    let revoked = wait_status(&d, andi, name, "revoked", None);
    assert!(revoked["renew_at"].is_null(), "{revoked}");
    assert!(
        eventually(10, || s.pebble.status_of(&serial) == "Revoked"),
        "pebble does not list {serial} as revoked"
    );
    assert!(audit_actions(&d, ops).contains(&format!("certificate.revoked certificate/{name}")));
    let out = d.cli(&["cert", "renew", name]);
    assert!(
        !out.status.success(),
        "a revoked certificate is not renewed"
    );
}

#[test]
fn an_agency_csr_is_issued_for_its_key_and_bad_orders_are_refused() {
    let s = setup();
    let d = daemon(&s.dir, s.dns, &s.pebble);
    let tokens = setup_people(&d);
    let [andi, dewi, _, _, _, ops] = &tokens;
    provision(&d, &tokens, "pelayanan", "203.0.113.20");
    let name = "pelayanan.example.go.id";

    // The agency's own key and CSR, made with openssl.
    let csr = |cn: &str, file: &str| -> String {
        let key = s.dir.join(format!("{file}.key"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .arg("-keyout")
            .arg(&key)
            .args([
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                &format!("subjectAltName=DNS:{cn}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let order =
        |token: &str, body: Value| post_json(&d, "/api/v1/certificates", token, &body.to_string());

    // Refusals: a CSR for another name, another agency, a name that does not exist, garbage.
    let r = order(
        andi,
        serde_json::json!({"name": name, "csr": csr("other.example.go.id", "other")}),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["errors"][0]["code"], "invalid_csr");
    assert!(
        r.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("other.example.go.id")
    );
    let r = order(dewi, serde_json::json!({"name": name}));
    assert_eq!(r.status, 403, "{}", r.json);
    let r = order(andi, serde_json::json!({"name": "nothing.example.go.id"}));
    assert_eq!(r.status, 422, "{}", r.json);
    let r = order(andi, serde_json::json!({"name": name, "csr": "not a csr"}));
    assert_eq!(r.status, 422, "{}", r.json);
    let r = post_json(&d, "/api/v1/certificates", andi, "{\"name\": ");
    assert_eq!(r.status, 400, "{}", r.json);
    let r = curl(
        &d,
        "GET",
        "/api/v1/certificates/nothing.example.go.id",
        Some(andi),
        &[],
    );
    assert_eq!(r.status, 404, "{}", r.json);

    // The CSR for exactly the name is issued for the CSR's key.
    let good = csr(name, "agency");
    let r = order(andi, serde_json::json!({"name": name, "csr": good}));
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(r.json["status"], "pending");
    let again = order(ops, serde_json::json!({"name": name}));
    assert!(
        again.status == 409 || again.status == 202,
        "a second order while one is pending is refused (or the first is done): {}",
        again.json
    );
    let cert = wait_status(&d, andi, name, "issued", None);
    assert_eq!(cert["mode"], "csr", "{cert}");
    let (_, chain) = text(&d, andi, &format!("/api/v1/certificates/{name}/chain.pem"));
    let leaf_key = verify_chain(&s.dir, &chain, &s.pebble.root(), name);
    let agency_key = public_key(&["pkey", "-pubout", "-in"], &s.dir.join("agency.key"));
    assert_eq!(leaf_key, agency_key, "the certificate is for the CSR's key");
    // ranah never had that key.
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/certificates/{name}/key.pem"),
        Some(andi),
        &[],
    );
    assert_eq!(r.status, 404, "{}", r.json);
    assert_eq!(r.json["code"], "no_managed_key");
    let list = curl(&d, "GET", "/api/v1/certificates", Some(dewi), &[]);
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
}

#[test]
fn an_order_survives_a_restart_and_a_ca_outage() {
    let mut s = setup();
    let mut d = daemon(&s.dir, s.dns, &s.pebble);
    let tokens = setup_people(&d);
    let [andi, _, _, _, _, ops] = &tokens;
    let name = "layanan.example.go.id";

    // The CA hangs (stopped); the approval still returns, the order is pending.
    s.pebble.signal("-STOP");
    walk_request(
        &d,
        &tokens,
        &request_body("create", "layanan", "203.0.113.30", true),
    );
    let cert = certificate(&d, andi, name).json;
    assert_eq!(cert["status"], "pending", "{cert}");
    // ranah stays ready while the CA does not answer.
    assert_eq!(http_get(d.api, "/readyz").unwrap().0, 200);
    // A crash mid-order (SIGKILL), then the CA comes back and ranah restarts.
    drop(d);
    s.pebble.signal("-CONT");
    d = daemon(&s.dir, s.dns, &s.pebble);
    let issued = wait_status(&d, andi, name, "issued", None);
    let (_, chain) = text(&d, andi, &format!("/api/v1/certificates/{name}/chain.pem"));
    verify_chain(&s.dir, &chain, &s.pebble.root(), name);

    // The CA is down: the renewal fails with a clear error, the old chain stays served.
    s.pebble.kill();
    cli_ok(&d, &["cert", "renew", name]);
    let failed = wait_status(&d, andi, name, "failed", None);
    let error = failed["last_error"].as_str().unwrap_or("");
    assert!(
        error.contains("ACME server")
            && error.contains(&s.pebble.directory())
            && error.contains("Connection refused"),
        "the error names the CA and why: {error}"
    );
    assert_eq!(
        failed["serial"], issued["serial"],
        "the old certificate stays"
    );
    assert_eq!(
        text(&d, andi, &format!("/api/v1/certificates/{name}/chain.pem")).1,
        chain
    );
    assert_eq!(
        http_get(d.api, "/readyz").unwrap().0,
        200,
        "a CA outage is not unreadiness"
    );
    let (_, metrics) = http_get(d.api, "/metrics").unwrap();
    assert!(
        !metrics.contains("ranah_certificate_renewal_failures_total 0"),
        "{metrics}"
    );

    // A fresh pebble (it forgot the account): ranah registers again and the retry succeeds.
    s.pebble.spawn();
    let renewed = wait_status(&d, andi, name, "issued", issued["serial"].as_str());
    let (_, chain) = text(&d, andi, &format!("/api/v1/certificates/{name}/chain.pem"));
    verify_chain(&s.dir, &chain, &s.pebble.root(), name);
    assert!(renewed["last_error"].is_null());
    let registrations = audit_actions(&d, ops)
        .iter()
        .filter(|a| a.starts_with("acme.account_registered"))
        .count();
    assert_eq!(
        registrations, 2,
        "registered once, and again after the CA forgot it"
    );
}

#[test]
fn a_certificate_renews_itself_at_two_thirds_of_its_lifetime_and_the_agency_hears_of_it() {
    // pebble issues 12-second certificates here: the renewal is due 8 s after issuance.
    let s = setup_with(Some(12), None);
    let hook_port = free_port();
    let log = s.dir.join("hook.log");
    let smtp_port = free_port();
    let smtp = crate::notifications::Smtp::start(smtp_port, &s.dir.join("smtp.log"));
    let d = daemon_with(
        &s.dir,
        s.dns,
        &s.pebble,
        &format!(
            "\n[webhook]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret = \"s3cret\"\n\
             retry_base_secs = 1\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\n\
             tls = \"none\"\nfrom = \"Diskominfo <noreply@example.go.id>\"\nretry_base_secs = 1\n"
        ),
    );
    let mut receiver = Command::new("python3")
        .args([
            "-c",
            crate::notifications::RECEIVER,
            &hook_port.to_string(),
            log.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let tokens = setup_people(&d);
    let andi = &tokens[0];
    let name = "jadwal.example.go.id";
    // The agency's server administrator, who must fetch each new chain.
    cli_ok(
        &d,
        &[
            "user",
            "add",
            "rina",
            "--role",
            "applicant",
            "--agency",
            "DINKES",
            "--email",
            "rina@dinkes.example",
        ],
    );
    walk_request(
        &d,
        &tokens,
        &request_body("create", "jadwal", "203.0.113.40", true),
    );
    let first = wait_status(&d, andi, name, "issued", None);
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let (nb, na, renew_at) = (
        time(&first["not_before"]),
        time(&first["not_after"]),
        time(&first["renew_at"]),
    );
    let expected = nb + (na - nb) * 2 / 3;
    assert!(
        (renew_at - expected).num_milliseconds().abs() <= 1000,
        "renewal at two thirds: {first}"
    );
    // Nobody asks: the scheduler renews it, and the agency's webhook hears of both.
    let second = wait_status(&d, andi, name, "issued", first["serial"].as_str());
    assert!(time(&second["not_after"]) > na);
    let events = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|call| serde_json::from_str::<Value>(call["body"].as_str()?).ok())
            .filter(|body| {
                body["name"] == name
                    && body["type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("certificate."))
            })
            .map(|body| {
                format!(
                    "{} {}",
                    body["type"].as_str().unwrap_or(""),
                    body["serial"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let heard = eventually(15, || events().len() >= 2);
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(heard, "{:?}", events());
    assert_eq!(
        events()[..2],
        [
            format!("certificate.issued {}", first["serial"].as_str().unwrap()),
            format!("certificate.renewed {}", second["serial"].as_str().unwrap()),
        ]
    );
    // And the agency's people by email, in Indonesian.
    let mails = || -> Vec<(String, String)> {
        smtp.received()
            .into_iter()
            .filter(|(_, subject)| subject.starts_with("Sertifikat SSL"))
            .collect()
    };
    assert!(
        eventually(15, || mails().len() >= 2),
        "{:?}",
        smtp.received()
    );
    assert_eq!(
        mails()[..2],
        [
            (
                "rina@dinkes.example".to_string(),
                format!("Sertifikat SSL {name} telah diterbitkan")
            ),
            (
                "rina@dinkes.example".to_string(),
                format!("Sertifikat SSL {name} telah diperbarui")
            ),
        ]
    );
}

#[test]
fn with_a_secondary_the_ca_may_ask_the_secondary() {
    // Let's Encrypt asks whichever of the zone's name servers it picks, often a secondary.
    // Here pebble asks only Knot, a secondary of ranah: the order succeeds only because ranah
    // waits until Knot serves the serial that carries the challenge.
    let knot_port = free_port();
    let knot_addr: SocketAddr = ([127, 0, 0, 1], knot_port).into();
    let s = setup_with(None, Some(knot_addr));
    let (dir, dns, pebble) = (&s.dir, s.dns, &s.pebble);
    let secret = crate::secondaries::SECRET;
    let d = daemon_with(
        dir,
        dns,
        pebble,
        &format!(
            r#"
[dns]
secondary_poll_secs = 1

[[tsig_keys]]
name = "xfr-key"
secret = "{secret}"

[[secondaries]]
zone = "example.go.id"
notify = "127.0.0.1:{knot_port}"
allow_transfer = ["127.0.0.2"]
tsig_key = "xfr-key"
"#
        ),
    );
    let knot = crate::secondaries::start_knot(dir, knot_port, dns);
    let ranah_serial = || {
        dig(dns, &["example.go.id.", "SOA", "+short"])
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse::<u32>().ok())
    };
    assert!(
        eventually(20, || knot.serial().is_some()
            && knot.serial() == ranah_serial()),
        "knot did not load the zone"
    );
    let tokens = setup_people(&d);
    let [andi, .., ops] = &tokens;
    let name = "arsip.example.go.id";
    // Knot is held (stopped) while the challenge is published: ranah must not tell the CA yet,
    // or pebble would ask a secondary that does not have it and the order would fail.
    knot.signal("-STOP");
    walk_request(
        &d,
        &tokens,
        &request_body("create", "arsip", "203.0.113.50", true),
    );
    let held = std::time::Instant::now();
    while held.elapsed() < std::time::Duration::from_secs(3) {
        let c = certificate(&d, andi, name).json;
        assert_eq!(c["status"], "pending", "{c}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    knot.signal("-CONT");
    let cert = wait_status(&d, andi, name, "issued", None);
    assert!(cert["last_error"].is_null(), "{cert}");
    let (_, chain) = text(&d, andi, &format!("/api/v1/certificates/{name}/chain.pem"));
    verify_chain(dir, &chain, &pebble.root(), name);
    let failures: Vec<String> = audit_actions(&d, ops)
        .into_iter()
        .filter(|a| a.starts_with("certificate.failed"))
        .collect();
    assert!(
        failures.is_empty(),
        "ranah told the CA too early: {failures:?}"
    );
    // Knot follows the removal of the challenge too.
    assert!(
        eventually(10, || {
            dig(
                knot_addr,
                &[&format!("_acme-challenge.{name}"), "TXT", "+norec"],
            )
            .contains("status: NXDOMAIN")
        }),
        "the challenge stays on the secondary"
    );
}
