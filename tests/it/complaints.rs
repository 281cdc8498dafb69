//! Complaints (pengaduan): the public with a proof of work, its limits per address and per
//! day; accounts; the three time standards in the office's working days; giving, answering,
//! closing; overdue marks with the clock moved on; the console's form; the report's figures.

use std::process::Command;

use chrono::{DateTime, Utc};
use ranah::domain::calendar::Calendar;
use ranah::domain::complaint::{self, Category};
use serde_json::{Value, json};

use crate::harness::*;
use crate::notifications::Smtp;

/// A complaint's body, with a proof when `proof` is given.
fn body(category: &str, subject: &str, email: &str, proof: Option<(&str, &str)>) -> String {
    let mut v = json!({
        "category": category,
        "subject": subject,
        "body": "Situs tidak bisa dibuka sejak kemarin.\nMohon diperiksa.",
        "about": "dinkes.example.go.id",
        "contact": {"name": "Warga Contoh", "email": email, "phone": "0812000000"},
    });
    if let Some((challenge, nonce)) = proof {
        v["proof"] = json!({"challenge": challenge, "nonce": nonce});
    }
    v.to_string()
}

/// POST a complaint as the public, from `source` (an address of 127.0.0.0/8).
fn public_post(d: &Daemon, source: &str, body: &str) -> Reply {
    curl(
        d,
        "POST",
        "/api/v1/complaints",
        None,
        &[
            "--interface",
            source,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ],
    )
}

/// A challenge, solved.
fn solved(d: &Daemon) -> (String, String) {
    let r = curl(d, "GET", "/api/v1/complaints/challenge", None, &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let challenge = r.json["challenge"].as_str().unwrap().to_owned();
    let bits = r.json["bits"].as_u64().unwrap() as u32;
    let nonce = complaint::solve(&challenge, bits);
    (challenge, nonce)
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn file_mails(smtp: &Smtp, what: &str) -> Vec<String> {
    smtp.received()
        .into_iter()
        .filter(|(_, s)| s.contains(what))
        .map(|(to, _)| to)
        .collect()
}

#[test]
fn complaints_from_the_public_and_accounts_are_answered_within_their_standards() {
    let smtp_port = free_port();
    let tmp = Daemon::workdir(
        "example.go.id.zone",
        "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 1 3600 900 1209600 300\n@ NS ns1.example.net.\n",
    );
    let config = format!(
        "[checker]\nenabled = false\n[confirmation]\nenabled = false\n\
         [complaints]\nproof_bits = 12\nper_address_per_hour = 3\npublic_per_day = 4\nper_account_per_hour = 2\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nretry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let smtp = Smtp::start(smtp_port, &tmp.path().join("smtp.log"));
    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    for (user, role, agency) in [
        ("andi", "applicant", Some("DINKES")),
        ("desk", "front_office", None),
        ("tek", "technical", None),
        ("ops", "admin", None),
        ("aud", "auditor", None),
        ("portal", "integration", None),
    ] {
        let email = format!("{user}@example.go.id");
        let mut args = vec!["user", "add", user, "--role", role, "--email", &email];
        if let Some(a) = agency {
            args.extend(["--agency", a]);
        }
        cli_ok(&d, &args);
    }
    let [andi, desk, tek, ops, aud, portal] = ["andi", "desk", "tek", "ops", "aud", "portal"]
        .map(|u| cli_ok(&d, &["token", "create", u]));
    let calendar = Calendar::default_wita([]);

    // A challenge: its bits, not to be cached.
    let headers = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(format!("http://{}/api/v1/complaints/challenge", d.api))
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_ascii_lowercase();
    assert!(headers.contains("cache-control: no-store"), "{headers}");
    let (challenge, nonce) = solved(&d);
    assert!(complaint::leading_zero_bits(&sha(&challenge, &nonce)) >= 12);

    // Without a proof, with one that does not solve its challenge, with a forged one.
    let no_proof = public_post(
        &d,
        "127.0.0.1",
        &body("light", "Situs mati", "warga@example.org", None),
    );
    assert_eq!(no_proof.status, 422, "{}", no_proof.json);
    assert_eq!(no_proof.json["errors"][0]["field"], "proof");
    let wrong = (0..)
        .map(|n: u32| n.to_string())
        .find(|n| complaint::leading_zero_bits(&sha(&challenge, n)) < 12)
        .unwrap();
    let r = public_post(
        &d,
        "127.0.0.1",
        &body(
            "light",
            "Situs mati",
            "warga@example.org",
            Some((&challenge, &wrong)),
        ),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    assert!(
        r.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not solve")
    );
    let forged = format!("9999999999.{}", &challenge[11..]);
    let r = public_post(
        &d,
        "127.0.0.1",
        &body(
            "light",
            "Situs mati",
            "warga@example.org",
            Some((&forged, &nonce)),
        ),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    // A field that is wrong is said before the proof is spent.
    let r = public_post(
        &d,
        "127.0.0.1",
        &body("urgent", "Situs mati", "nobody", Some((&challenge, &nonce))),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["category", "email"]);

    // Received: light, due in five working days of the office's calendar.
    let first = public_post(
        &d,
        "127.0.0.1",
        &body(
            "light",
            "Situs dinas mati",
            "warga@example.org",
            Some((&challenge, &nonce)),
        ),
    );
    assert_eq!(first.status, 201, "{}", first.json);
    let first_id = first.json["id"].as_i64().unwrap();
    assert_eq!(first.json["status"], "received");
    assert_eq!(first.json["origin"], "public");
    assert_eq!(first.json["standard_days"], 5);
    assert_eq!(first.json["category_title"], "Pengaduan ringan");
    let received = time(&first.json["received_at"]);
    assert_eq!(
        time(&first.json["due_at"]),
        complaint::due_at(&calendar, received, Category::Light)
    );
    // The same proof again is refused: spent.
    let r = public_post(
        &d,
        "127.0.0.1",
        &body(
            "light",
            "Lagi",
            "warga@example.org",
            Some((&challenge, &nonce)),
        ),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    assert!(
        r.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("used before")
    );

    // Three an hour from one address (the replay counted: its proof was good): the next waits.
    let (c, nonce) = solved(&d);
    let second = public_post(
        &d,
        "127.0.0.1",
        &body(
            "normative",
            "Aduan kedua",
            "warga@example.org",
            Some((&c, &nonce)),
        ),
    );
    assert_eq!(second.status, 201, "{}", second.json);
    assert_eq!(
        time(&second.json["due_at"]),
        complaint::due_at(
            &calendar,
            time(&second.json["received_at"]),
            Category::Normative
        )
    );
    // (Numbers are the store's: PostgreSQL's may skip one where a spent proof was refused.)
    let second_id = second.json["id"].as_i64().unwrap();
    let (c, n) = solved(&d);
    let limited = public_post(
        &d,
        "127.0.0.1",
        &body("normative", "Aduan 2", "warga@example.org", Some((&c, &n))),
    );
    assert_eq!(limited.status, 429, "{}", limited.json);
    assert!(limited.json["detail"].as_str().unwrap().contains("an hour"));
    // Another address may, until the day's cap (four from the public) is reached.
    for n in 0..2 {
        let (c, nonce) = solved(&d);
        let r = public_post(
            &d,
            "127.0.0.2",
            &body(
                "normative",
                &format!("Dari alamat lain {n}"),
                "lain@example.org",
                Some((&c, &nonce)),
            ),
        );
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let (c, n) = solved(&d);
    let capped = public_post(
        &d,
        "127.0.0.2",
        &body(
            "normative",
            "Dari alamat lain 3",
            "lain@example.org",
            Some((&c, &n)),
        ),
    );
    assert_eq!(capped.status, 429, "{}", capped.json);
    assert!(capped.json["detail"].as_str().unwrap().contains("a day"));

    // An account complains without a proof (and without a cap); a machine does not; a token
    // that is not good is refused, not taken for the public.
    let mine = post_json(
        &d,
        "/api/v1/complaints",
        &andi,
        &body(
            "supervisory",
            "Dugaan penyalahgunaan subdomain",
            "andi@example.go.id",
            None,
        ),
    );
    assert_eq!(mine.status, 201, "{}", mine.json);
    assert_eq!(mine.json["origin"], "account");
    let mine_id = mine.json["id"].as_i64().unwrap();
    assert_eq!(
        time(&mine.json["due_at"]),
        complaint::due_at(
            &calendar,
            time(&mine.json["received_at"]),
            Category::Supervisory
        )
    );
    let due = time(&mine.json["due_at"]);
    assert_eq!(
        calendar.working_minutes_between(time(&mine.json["received_at"]), due) / 60 / 8,
        60,
        "sixty working days of eight hours (and the Fridays' half hours)"
    );
    let r = post_json(
        &d,
        "/api/v1/complaints",
        &portal,
        &body("light", "x", "portal@example.go.id", None),
    );
    assert_eq!(r.status, 403, "{}", r.json);
    let r = post_json(
        &d,
        "/api/v1/complaints",
        "not-a-token",
        &body("light", "x", "x@example.org", None),
    );
    assert_eq!(r.status, 401, "{}", r.json);

    // Who reads what: the applicant its own; the office and auditors all of them.
    let ids = |token: &str, query: &str| -> Vec<i64> {
        let r = curl(
            &d,
            "GET",
            &format!("/api/v1/complaints{query}"),
            Some(token),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&andi, ""), [mine_id]);
    assert_eq!(ids(&aud, "").len(), 5);
    assert_eq!(ids(&desk, "?status=open").len(), 5);
    assert_eq!(ids(&desk, "?limit=2").len(), 2);
    assert_eq!(ids(&ops, &format!("?before={mine_id}&limit=200")).len(), 4);
    for bad in ["?status=urgent", "?limit=0", "?limit=201"] {
        let r = curl(
            &d,
            "GET",
            &format!("/api/v1/complaints{bad}"),
            Some(&desk),
            &[],
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
    }
    let path = |id: i64, what: &str| format!("/api/v1/complaints/{id}{what}");
    let r = curl(&d, "GET", &path(first_id, ""), Some(&andi), &[]);
    assert_eq!(r.status, 404, "another's complaint is not andi's to see");
    let r = curl(&d, "GET", "/api/v1/complaints/abc", Some(&desk), &[]);
    assert_eq!(r.status, 404);
    let r = curl(&d, "GET", &path(first_id, ""), Some(&aud), &[]);
    assert_eq!(r.json["contact"]["email"], "warga@example.org");

    // Given to the technical team, reclassified: its due time is counted again from receipt.
    let r = post_json(
        &d,
        &path(first_id, "/assign"),
        &aud,
        r#"{"assignee": "tek"}"#,
    );
    assert_eq!(
        r.status, 403,
        "auditors read, they do not handle: {}",
        r.json
    );
    for who in ["andi", "nobody"] {
        let r = post_json(
            &d,
            &path(first_id, "/assign"),
            &desk,
            &format!(r#"{{"assignee": "{who}"}}"#),
        );
        assert_eq!(r.status, 422, "{who}: {}", r.json);
    }
    let r = post_json(
        &d,
        &path(first_id, "/assign"),
        &desk,
        r#"{"assignee": "tek", "category": "non_supervisory"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "assigned");
    assert_eq!(r.json["assigned_to"], "tek");
    assert_eq!(r.json["category"], "non_supervisory");
    assert_eq!(
        time(&r.json["due_at"]),
        complaint::due_at(&calendar, received, Category::NonSupervisory)
    );

    // Answered by the one it was given to (not by another of the office); then closed.
    let answer = r#"{"answer": "Situs sudah dipulihkan oleh tim teknis."}"#;
    let r = post_json(&d, &path(first_id, "/answer"), &desk, answer);
    assert_eq!(r.status, 403, "{}", r.json);
    let r = post_json(&d, &path(first_id, "/close"), &tek, "");
    assert_eq!(r.status, 409, "closed once answered: {}", r.json);
    let r = post_json(&d, &path(first_id, "/answer"), &tek, r#"{"answer": " "}"#);
    assert_eq!(r.status, 422, "{}", r.json);
    let r = post_json(&d, &path(first_id, "/answer"), &tek, answer);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "answered");
    assert_eq!(r.json["answered_by"], "tek");
    assert_eq!(r.json["overdue"], false);
    let r = post_json(&d, &path(first_id, "/answer"), &tek, answer);
    assert_eq!(r.status, 409, "{}", r.json);
    let r = post_json(
        &d,
        &path(first_id, "/assign"),
        &desk,
        r#"{"assignee": "tek"}"#,
    );
    assert_eq!(r.status, 409, "{}", r.json);
    let r = post_json(&d, &path(first_id, "/close"), &tek, "");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "closed");
    let r = post_json(&d, &path(first_id, "/close"), &tek, "");
    assert_eq!(r.status, 409, "{}", r.json);

    // The clock moves on: one complaint's due time passed without an answer. It is marked once,
    // the office told once.
    let past = ranah::domain::time::stamp(Utc::now() - chrono::Duration::days(1));
    let out = store_exec(
        tmp.path(),
        &format!("UPDATE complaints SET due_at = '{past}' WHERE id = {second_id}"),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tick = || {
        d.block_on(d.running().complaints().tick(Utc::now()))
            .unwrap()
    };
    assert_eq!(tick(), 1);
    assert_eq!(tick(), 0);
    let r = curl(&d, "GET", &path(second_id, ""), Some(&desk), &[]);
    assert_eq!(r.json["overdue"], true);
    // Ten days on, every public complaint still waiting is overdue; the supervisory one is not.
    let later = d
        .block_on(
            d.running()
                .complaints()
                .tick(Utc::now() + chrono::Duration::days(10)),
        )
        .unwrap();
    assert_eq!(later, 2, "the two other normative ones still waiting");

    // The emails: received (to the complainant and the office), given, answered, overdue (those
    // of the pass ten days on are queued for then).
    assert!(eventually(20, || file_mails(&smtp, "melewati batas waktu")
        .len()
        >= 2));
    let to = |what: &str| {
        let mut v = file_mails(&smtp, what);
        v.sort();
        v
    };
    let received_mails = to(&format!("Pengaduan nomor {first_id} diterima"));
    assert_eq!(received_mails, ["warga@example.org"]);
    let office = to(&format!("Pengaduan baru nomor {first_id}"));
    assert_eq!(office, ["desk@example.go.id", "ops@example.go.id"]);
    assert_eq!(
        to(&format!("nomor {first_id} ditugaskan")),
        ["tek@example.go.id"]
    );
    assert_eq!(
        to(&format!("Jawaban pengaduan nomor {first_id}")),
        ["warga@example.org"]
    );
    assert_eq!(
        to(&format!("nomor {second_id} melewati batas waktu")),
        ["desk@example.go.id", "ops@example.go.id"]
    );
    let log = std::fs::read_to_string(tmp.path().join("smtp.log")).unwrap();
    assert!(log.contains("Situs sudah dipulihkan oleh tim teknis."));

    // The audit trail has each step, and not the complainant.
    let r = curl(&d, "GET", "/api/v1/audit?limit=500", Some(&aud), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let events = r.json["items"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e["target"] == format!("complaint/{first_id}"))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .copied()
            .filter(|a| a.starts_with("complaint."))
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "complaint.answer",
            "complaint.assign",
            "complaint.close",
            "complaint.receive"
        ]
        .into()
    );
    assert!(events.iter().any(|e| e["action"] == "complaint.overdue"));
    let text = r.json.to_string();
    assert!(!text.contains("warga@example.org") && !text.contains("Warga Contoh"));

    // The metrics and the month's report.
    let (_, metrics) = http_get(d.api, "/metrics").unwrap();
    assert!(
        metrics.contains("ranah_complaints_open{category=\"normative\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("ranah_complaints_overdue{category=\"normative\"} 1"));
    assert!(metrics.contains("ranah_complaints_open{category=\"supervisory\"} 1"));
    let month = Utc::now()
        .with_timezone(&chrono_tz::Asia::Makassar)
        .format("%Y-%m")
        .to_string();
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/reports/service?month={month}"),
        Some(&aud),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let line = |c: &str| {
        r.json["complaints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["category"] == c)
            .unwrap()
            .clone()
    };
    assert_eq!(line("light")["received"], 0, "reclassified");
    let non = line("non_supervisory");
    assert_eq!(
        (non["received"].as_u64(), non["closed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(non["answered"]["count"], 1);
    assert_eq!(non["answered"]["within_standard"], 1.0);
    let normative = line("normative");
    assert_eq!(normative["received"], 3);
    assert_eq!(normative["open_at_end"], 3);
    assert_eq!(normative["overdue_at_end"], 1);
    assert_eq!(line("supervisory")["standard"], "60 working days");
    let csv = Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("Authorization: Bearer {aud}"),
            "-H",
            "Accept: text/csv",
        ])
        .arg(format!(
            "http://{}/api/v1/reports/service?month={month}",
            d.api
        ))
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(
        csv.contains("complaint_received,normative,\"Pengaduan bersifat normatif\",3,,,"),
        "{csv}"
    );
    assert!(
        csv.contains("complaint_overdue_at_end,normative,,1,,,"),
        "{csv}"
    );

    // An account has its own hourly limit (two here): the second complaint goes in, the third
    // waits.
    let again = || {
        post_json(
            &d,
            "/api/v1/complaints",
            &andi,
            &body("light", "Aduan lagi", "andi@example.go.id", None),
        )
    };
    assert_eq!(again().status, 201);
    let r = again();
    assert_eq!(r.status, 429, "{}", r.json);
    assert!(r.json["detail"].as_str().unwrap().contains("one account"));
}

/// The console's form: a visitor's page carries a challenge and sets its form token; a form
/// without the script's nonce is told why; with it, the complaint is received.
#[test]
fn the_consoles_form_takes_a_visitors_complaint_with_its_proof() {
    let tmp = Daemon::workdir(
        "example.go.id.zone",
        "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 1 3600 900 1209600 300\n@ NS ns1.example.net.\n",
    );
    let config = "[checker]\nenabled = false\n[complaints]\nproof_bits = 10\n";
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
    let jar = tmp.path().join("cookies");
    let page = Command::new("curl")
        .args(["-s", "-c"])
        .arg(&jar)
        .arg(format!("http://{}/pengaduan", d.api))
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    assert!(page.contains("data-proof-bits=\"10\""), "{page}");
    let field = |name: &str| {
        let at = page
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("{name} in {page}"));
        let rest = &page[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    let (csrf, challenge) = (field("csrf"), field("proof_challenge"));
    let post = |nonce: &str, csrf: &str| {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-b"])
            .arg(&jar)
            .args([
                "--data-urlencode",
                &format!("csrf={csrf}"),
                "--data-urlencode",
                "category=light",
                "--data-urlencode",
                "subject=Situs dinas tidak bisa dibuka",
                "--data-urlencode",
                "body=Sejak pagi situs tidak bisa dibuka.",
                "--data-urlencode",
                "name=Warga Contoh",
                "--data-urlencode",
                "email=warga@example.org",
                "--data-urlencode",
                &format!("proof_challenge={challenge}"),
                "--data-urlencode",
                &format!("proof_nonce={nonce}"),
            ])
            .arg(format!("http://{}/pengaduan", d.api))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse::<u16>().unwrap(), body.to_owned())
    };
    // A forged form token; then no nonce (no script ran): each says why, nothing is received.
    let (status, _) = post(&complaint::solve(&challenge, 10), "forged");
    assert_eq!(status, 403);
    let (status, body) = post("", &csrf);
    assert_eq!(status, 422);
    assert!(body.contains("JavaScript"), "{body}");
    // With the nonce the script would have found.
    let (status, body) = post(&complaint::solve(&challenge, 10), &csrf);
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("id=\"complaint-number\">1<"), "{body}");
    assert!(body.contains("Pengaduan diterima"), "{body}");
}

fn sha(challenge: &str, nonce: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(format!("{challenge}:{nonce}").as_bytes()).to_vec()
}
