//! The presets `jember` and `purbalingga` end to end through the API: the applicant agency
//! signing the Jember handover at its own step (and no one else for it), the whole service's
//! time standard on each request, in the metrics and in the month's report.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use ranah::domain::calendar::Calendar;
use ranah::domain::workflow::Workflow;
use serde_json::Value;

use crate::harness::*;
use crate::notifications::Smtp;

fn request(name: &str) -> String {
    format!(
        r#"{{"kind": "create", "zone": "example.go.id", "name": "{name}",
        "records": [{{"type": "A", "value": "203.0.113.91", "ttl": 3600}}],
        "contact": {{"name": "Andi", "email": "andi@dinkes.example"}},
        "purpose": "Portal Festival Ōgoh-ōgoh dan Café Budaya", "certificate": false}}"#
    )
}

fn attach_letter(d: &Daemon, token: &str, id: i64) {
    let pdf = d.dir.join("surat.pdf");
    std::fs::write(&pdf, LETTER_PDF).unwrap();
    let r = curl(
        d,
        "POST",
        &format!("/api/v1/requests/{id}/attachments"),
        Some(token),
        &["-F", &format!("letter=@{}", pdf.display())],
    );
    assert_eq!(r.status, 200, "{}", r.json);
}

/// A request's document (its latest version), as pdftotext reads it.
fn document_text(d: &Daemon, token: &str, id: i64, kind: &str) -> String {
    let file = d.dir.join(format!("{kind}-{id}.pdf"));
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", file.to_str().unwrap(), "-w", "%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!(
            "http://{}/api/v1/requests/{id}/attachments/{kind}",
            d.api
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{kind}");
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is required; the README's test command installs it");
    String::from_utf8_lossy(&text.stdout).into_owned()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// A daemon with `workflow`, an SMTP server, agencies DINKES and DISHUB and these users (name,
/// role, agency): their tokens in order.
fn office(
    tmp: &std::path::Path,
    workflow: &str,
    people: &[(&str, &str, Option<&str>)],
) -> (Daemon, Smtp, Vec<String>) {
    let smtp_port = free_port();
    let config = format!(
        "workflow = \"{workflow}\"\n[checker]\nenabled = false\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nretry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_configured(tmp, dns, Some(&config));
    let smtp = Smtp::start(smtp_port, &tmp.join("smtp.log"));
    // The command line reads the same configuration (the workflow's roles).
    let file = tmp.join("ranah.toml");
    let file = file.to_str().unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", file];
        all.extend_from_slice(args);
        cli_ok(&d, &all)
    };
    cli(&["agency", "add", "DINKES", "Dinas Kesehatan"]);
    cli(&["agency", "add", "DISHUB", "Dinas Perhubungan"]);
    let mut tokens = Vec::new();
    for (name, role, agency) in people {
        let email = format!("{name}@example.go.id");
        let mut args = vec!["user", "add", name, "--role", role, "--email", &email];
        if let Some(a) = agency {
            args.extend(["--agency", a]);
        }
        cli(&args);
        tokens.push(cli(&["token", "create", name]));
    }
    (d, smtp, tokens)
}

#[test]
fn jember_the_applicant_agency_signs_the_handover_minutes_at_its_own_step() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let (d, smtp, tokens) = office(
        tmp.path(),
        "jember",
        &[
            ("andi", "applicant", Some("DINKES")),
            ("budi", "applicant", Some("DINKES")),
            ("dewi", "applicant", Some("DISHUB")),
            ("desk", "front_office", None),
            ("seksi", "network_section", None),
            ("admin_server", "server_admin", None),
            ("kadis", "head_of_office", None),
            ("ops", "admin", None),
        ],
    );
    let [andi, budi, dewi, desk, seksi, server, kadis, ops] =
        std::array::from_fn(|i| tokens[i].clone());
    let r = post_json(&d, "/api/v1/requests", &andi, &request("hosting"));
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    // Due in seven working days of the office's calendar, from submission.
    let workflow = Workflow::preset("jember").unwrap();
    let calendar = Calendar::default_wita([]);
    let submitted = time(&r.json["history"][0]["at"]);
    assert_eq!(
        time(&r.json["service_due_at"]),
        workflow.service_deadline(&calendar, submitted)
    );
    assert_eq!(r.json["service_overdue"], false);
    attach_letter(&d, &andi, id);
    let act = |token: &str, action: &str, body: &str| {
        post_json(&d, &format!("/api/v1/requests/{id}/{action}"), token, body)
    };
    // The applicant acts at no step of the office.
    let r = act(&andi, "approve", "{}");
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(r.json["code"], "not_your_step");
    for (token, step) in [
        (&seksi, "forwarding"),
        (&server, "creation"),
        (&server, "minutes"),
        (&kadis, "head_signature"),
    ] {
        let r = act(token, "approve", "{}");
        assert_eq!(r.status, 200, "{step}: {}", r.json);
    }
    // The subdomain was made at `creation`.
    let dns = dig(d.dns, &["+short", "hosting.example.go.id", "A"]);
    assert!(dns.contains("203.0.113.91"), "{dns}");
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["step"], "applicant_signature", "{}", r.json);
    assert_eq!(r.json["step_role"], "applicant");
    // Nobody of the office signs for the agency: not the front office, not an admin; those
    // whose steps it passed are told it moved on; another agency does not even see the
    // request; the agency returns nothing.
    let r = act(&desk, "approve", "{}");
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(r.json["code"], "not_your_step");
    for token in [&kadis, &server] {
        let r = act(token, "approve", "{}");
        assert_eq!(r.status, 409, "{}", r.json);
        assert!(
            r.json["detail"]
                .as_str()
                .unwrap()
                .contains("applicant_signature"),
            "{}",
            r.json
        );
    }
    let r = act(&ops, "approve", "{}");
    assert_eq!(r.status, 403, "{}", r.json);
    let r = act(&dewi, "approve", "{}");
    assert_eq!(r.status, 404, "{}", r.json);
    let r = act(&budi, "return", r#"{"note": "belum", "reason": "other"}"#);
    assert_eq!(r.status, 409, "{}", r.json);
    // The agency's applicants were told the minutes wait for their signature.
    assert!(eventually(15, || smtp
        .received()
        .iter()
        .filter(|(_, s)| s.contains("ditandatangani oleh Instansi Pemohon"))
        .count()
        >= 3));
    let mut told: Vec<String> = smtp
        .received()
        .into_iter()
        .filter(|(_, s)| s.contains("ditandatangani oleh Instansi Pemohon"))
        .map(|(to, _)| to)
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            "andi@dinkes.example",
            "andi@example.go.id",
            "budi@example.go.id"
        ]
    );
    // The one who submitted signs for the agency; the office hands the access over.
    // In the console, the request waits in the agency's inbox, its page offering the
    // approval alone.
    crate::console::set_password(&d, "budi", "kata-sandi-budi-2026");
    let browser = crate::console::Browser::new(&d);
    let page = browser.sign_in("budi", "kata-sandi-budi-2026");
    assert!(page.status == 303 || page.status == 200, "{page:?}");
    let inbox = browser.get("/inbox");
    assert!(
        inbox.body.contains(&format!("/requests/{id}")),
        "{}",
        inbox.body
    );
    let page = browser.get(&format!("/requests/{id}"));
    assert!(page.body.contains("id=\"approve\""), "{}", page.body);
    assert!(!page.body.contains("id=\"return\""), "{}", page.body);
    let r = act(&andi, "approve", r#"{"note": "Ditandatangani"}"#);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["step"], "handover");
    // A second click of the agency's is told it moved on.
    let r = act(&andi, "approve", "{}");
    assert_eq!(r.status, 409, "{}", r.json);
    let r = act(&server, "approve", "{}");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "completed");
    assert_eq!(r.json["service_overdue"], false);
    // The handover minutes: drawn up by the server administrator, made again at each
    // signature, the last with every one of them, in Indonesian as written.
    let versions = r.json["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "handover_minutes")
        .count();
    assert_eq!(versions, 4, "{}", r.json);
    let minutes = document_text(&d, &andi, id, "handover_minutes");
    for expected in [
        "BERITA ACARA PEMBUATAN USER/PASSWORD AKSES SERVER",
        "Instansi Pemohon (Dinas",
        "Disetujui secara",
        "admin_server pada",
        "elektronik oleh kadis",
        "elektronik oleh andi",
        "Portal Festival Ōgoh-ōgoh dan Café Budaya",
        "hosting.example.go.id",
        "Dokumen ini tidak ditandatangani secara elektronik.",
    ] {
        assert!(minutes.contains(expected), "{expected} not in:\n{minutes}");
    }
    assert!(!minutes.contains("belum ditandatangani"), "{minutes}");
    // Sent to the agency once every signature was given (and with the completion notice).
    assert!(eventually(15, || smtp
        .received()
        .iter()
        .any(|(_, s)| s.contains("BERITA ACARA"))));
    let log = std::fs::read_to_string(tmp.path().join("smtp.log")).unwrap();
    assert!(
        log.contains(&format!("berita-acara-{id}.pdf")),
        "no minutes attached"
    );
    let signer: Vec<(&str, &str)> = r.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "approved")
        .map(|h| (h["step"].as_str().unwrap(), h["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        signer,
        [
            ("forwarding", "seksi"),
            ("creation", "admin_server"),
            ("minutes", "admin_server"),
            ("head_signature", "kadis"),
            ("applicant_signature", "andi"),
            ("handover", "admin_server"),
        ]
    );

    // The month's report: one request completed, within the whole service's seven days.
    let month = Utc::now()
        .with_timezone(&chrono_tz::Asia::Makassar)
        .format("%Y-%m")
        .to_string();
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/reports/service?month={month}"),
        Some(&kadis),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["service"]["standard"], "7 working days");
    assert_eq!(r.json["service"]["completed"], 1);
    assert_eq!(r.json["service"]["within"], 1);
    assert_eq!(r.json["service"]["within_share"], 1.0);
}

#[test]
fn purbalingga_runs_in_two_working_days_and_a_late_request_shows_it() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let (d, _smtp, tokens) = office(
        tmp.path(),
        "purbalingga",
        &[
            ("andi", "applicant", Some("DINKES")),
            ("informatika", "informatics", None),
            ("kadis", "head_of_office", None),
        ],
    );
    let [andi, informatika, kadis] = std::array::from_fn(|i| tokens[i].clone());
    let workflow = Workflow::preset("purbalingga").unwrap();
    let calendar = Calendar::default_wita([]);
    let mut ids = Vec::new();
    for name in ["layanan", "terlambat"] {
        let r = post_json(&d, "/api/v1/requests", &andi, &request(name));
        assert_eq!(r.status, 201, "{}", r.json);
        assert_eq!(r.json["step"], "review");
        let submitted = time(&r.json["history"][0]["at"]);
        assert_eq!(
            time(&r.json["service_due_at"]),
            workflow.service_deadline(&calendar, submitted)
        );
        let id = r.json["id"].as_i64().unwrap();
        attach_letter(&d, &andi, id);
        ids.push(id);
    }
    // The first goes through: reviewed, activated (DNS answers), confirmed to the applicant.
    for (token, step) in [
        (&informatika, "review"),
        (&informatika, "activation"),
        (&kadis, "confirmation"),
    ] {
        let r = post_json(
            &d,
            &format!("/api/v1/requests/{}/approve", ids[0]),
            token,
            "{}",
        );
        assert_eq!(r.status, 200, "{step}: {}", r.json);
    }
    let dns = dig(d.dns, &["+short", "layanan.example.go.id", "A"]);
    assert!(dns.contains("203.0.113.91"), "{dns}");
    // The confirmation letter, not the response letter, tells the unit it is active.
    let letter = document_text(&d, &andi, ids[0], "confirmation_letter");
    for expected in [
        "telah diaktifkan",
        "Konfirmasi aktivasi domain dan sub domain",
        "Disetujui secara elektronik oleh kadis",
        "Portal Festival Ōgoh-ōgoh dan Café Budaya",
    ] {
        assert!(letter.contains(expected), "{expected} not in:\n{letter}");
    }
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{}/attachments/response_letter", ids[0]),
        Some(&andi),
        &[],
    );
    assert_eq!(r.status, 404);
    // Sent to the applicant with the notice that the request is done.
    assert!(eventually(15, || std::fs::read_to_string(
        tmp.path().join("smtp.log")
    )
    .unwrap_or_default()
    .contains(&format!("surat-konfirmasi-{}.pdf", ids[0]))));
    // The second was submitted (as its history is rewritten here, the clock moved on) ten
    // days ago: past its two working days.
    let ago = ranah::domain::time::stamp(Utc::now() - chrono::Duration::days(10));
    let out = store_exec(
        tmp.path(),
        &format!(
            "UPDATE request_events SET at = '{ago}' WHERE request_id = {} AND action = 'submitted'",
            ids[1]
        ),
        Some("request_events"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{}", ids[1]),
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["service_overdue"], true, "{}", r.json);
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{}", ids[0]),
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["status"], "completed");
    assert_eq!(r.json["service_overdue"], false, "{}", r.json);
    let (_, metrics) = http_get(d.api, "/metrics").unwrap();
    assert!(
        metrics.contains("ranah_requests_service_overdue 1"),
        "{metrics}"
    );
}

/// The front office registers letters as they came (on paper, through SRIKANDI) with the number
/// and date they state; the request, the register (JSON and CSV) and the month's report show it.
#[test]
fn the_front_office_records_how_each_letter_came() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let (d, _smtp, tokens) = office(
        tmp.path(),
        "kaltara",
        &[
            ("desk", "front_office", None),
            ("kadis", "head_of_office", None),
            ("kabid", "head_of_division", None),
            ("teknis", "technical", None),
            ("dewi", "applicant", Some("DISHUB")),
        ],
    );
    let [desk, kadis, kabid, teknis, dewi] = std::array::from_fn(|i| tokens[i].clone());
    let registered = |name: &str, letter: &str| {
        let body = request(name).replacen(
            "\"certificate\": false}",
            &format!("\"certificate\": false, \"agency\": \"DINKES\", \"letter\": {letter}}}"),
            1,
        );
        post_json(&d, "/api/v1/requests", &desk, &body)
    };
    // A letter on paper or through SRIKANDI states its number and date; a channel is one of
    // four; a date is not in the future.
    for (letter, field) in [
        (r#"{"channel": "srikandi"}"#, "letter.number"),
        (
            r#"{"channel": "fax", "number": "1", "date": "2026-11-30"}"#,
            "letter.channel",
        ),
        (
            r#"{"channel": "paper", "number": "1", "date": "2999-01-01"}"#,
            "letter.date",
        ),
    ] {
        let r = registered("ditolak", letter);
        assert_eq!(r.status, 422, "{letter}: {}", r.json);
        assert_eq!(r.json["errors"][0]["field"], field, "{}", r.json);
    }
    let r = registered(
        "srikandi",
        r#"{"channel": "srikandi", "number": "005/123/DINKES/2026", "date": "2026-11-30"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(
        r.json["letter"],
        serde_json::json!({"channel": "srikandi", "number": "005/123/DINKES/2026", "date": "2026-11-30"})
    );
    let id = r.json["id"].as_i64().unwrap();
    let r = registered(
        "kertas",
        r#"{"channel": "paper", "number": "9/DINKES", "date": "2026-12-01"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.json);
    attach_letter(&d, &desk, id);
    for token in [&kadis, &kabid, &teknis, &kadis] {
        let r = post_json(&d, &format!("/api/v1/requests/{id}/approve"), token, "{}");
        assert_eq!(r.status, 200, "{}", r.json);
    }
    // The register shows how the name's letter came; another agency sees the name, not its
    // letter (as not its contact).
    let entry_for = |token: &str| {
        let r = curl(&d, "GET", "/api/v1/subdomains", Some(token), &[]);
        r.json["items"]
            .as_array()
            .unwrap_or_else(|| r.json.as_array().unwrap())
            .iter()
            .find(|e| e["name"] == "srikandi.example.go.id")
            .cloned()
            .unwrap_or_else(|| panic!("{}", r.json))
    };
    assert_eq!(entry_for(&kadis)["letter"]["channel"], "srikandi");
    assert_eq!(entry_for(&dewi)["letter"], Value::Null);
    let csv = std::process::Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("Authorization: Bearer {kadis}"),
            "-H",
            "Accept: text/csv",
        ])
        .arg(format!("http://{}/api/v1/subdomains", d.api))
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout);
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(",letter_channel,letter_number,letter_date"),
        "{header}"
    );
    assert!(
        csv.contains(",srikandi,005/123/DINKES/2026,2026-11-30"),
        "{csv}"
    );
    // The month's report counts the requests submitted by how their letter came.
    let month = Utc::now()
        .with_timezone(&chrono_tz::Asia::Makassar)
        .format("%Y-%m")
        .to_string();
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/reports/service?month={month}"),
        Some(&kadis),
        &[],
    );
    assert_eq!(
        r.json["letters"],
        serde_json::json!({"paper": 1, "srikandi": 1}),
        "{}",
        r.json
    );
}
