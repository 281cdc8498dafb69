//! `ranah client`, the approver's client, against the real daemon: every command, as each role
//! would use it, with the errors the server's problems make.

use std::process::{Command, Output};

use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::harness::*;

/// `ranah client ARGS` against `d` with `token` (through RANAH_SERVER and RANAH_TOKEN, as an
/// approver's shell would set them), from a directory with no configuration of the server's.
fn client(d: &Daemon, token: &str, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .arg("client")
        .args(args)
        .current_dir(home.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RANAH_SERVER", format!("http://{}", d.api))
        .env("RANAH_TOKEN", token)
        .output()
        .unwrap()
}

/// Its standard output, which must be a success's.
pub(crate) fn ok(d: &Daemon, token: &str, args: &[&str]) -> String {
    let out = client(d, token, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Its standard error, which must be a failure's (exit 1).
fn refused(d: &Daemon, token: &str, args: &[&str]) -> String {
    let out = client(d, token, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn submitted(d: &Daemon, andi: &str, name: &str) -> i64 {
    let r = post_json(
        d,
        "/api/v1/requests",
        andi,
        &request_body("create", name, "203.0.113.60", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    attach_letter(d, andi, id);
    id
}

/// A request walks the whole chain through the client alone: each role finds it in its inbox
/// (`--step`), reads it, approves it; the technical approval returns once DNS answers; the
/// register lists the name. Returned, resubmitted (with changes from a file), rejected and
/// withdrawn requests go the same way, and the JSON format is the API's answer.
#[test]
fn every_role_works_a_request_through_the_client() {
    let d = Daemon::start_test_zone();
    let [andi, _, kadis, kabid, teknis, _] = &setup_people(&d);
    let id = submitted(&d, andi, "klien");
    let ids = id.to_string();

    // The Kepala Dinas's inbox: the request, at the first step.
    let inbox = ok(&d, kadis, &["requests", "list", "--status", "in_review"]);
    let row = inbox
        .lines()
        .find(|l| l.split_whitespace().next() == Some(ids.as_str()))
        .unwrap_or_else(|| panic!("{inbox}"));
    assert!(row.contains("klien.example.go.id"), "{inbox}");
    assert!(row.contains("DINKES"), "{inbox}");
    assert!(inbox.starts_with("ID "), "{inbox}");
    assert!(inbox.contains("page 1 of 1"), "{inbox}");
    let step = row.split_whitespace().nth(5).unwrap().to_owned();
    let only = ok(&d, kadis, &["requests", "list", "--step", &step]);
    assert!(only.contains("klien.example.go.id"), "{only}");

    let shown = ok(&d, kadis, &["requests", "show", &ids]);
    for want in [
        &format!("Request {id}: create klien.example.go.id"),
        "Status:      in review at",
        "Agency:      DINKES",
        "Records:     A 203.0.113.60 (ttl 3600)",
        "letter (application/pdf",
        "History:",
        "submit",
    ] {
        assert!(shown.contains(want), "{want}: {shown}");
    }

    // Someone else's step: the server's problem, with its code, exit 1.
    let err = refused(&d, kabid, &["requests", "approve", &ids]);
    assert_eq!(
        err.trim_end(),
        "ranah: 403 Forbidden: step `disposition` is acted on by the role `head_of_office` \
         (not_your_step)"
    );

    let done = ok(
        &d,
        kadis,
        &["requests", "approve", &ids, "--note", "Lanjutkan"],
    );
    assert!(
        done.starts_with(&format!(
            "request {id} (klien.example.go.id): approved; now in review at "
        )),
        "{done}"
    );
    ok(&d, kabid, &["requests", "approve", &ids]);
    let provisioned = ok(&d, teknis, &["requests", "approve", &ids]);
    assert!(
        provisioned.contains("now in review at response (Surat tanggapan"),
        "{provisioned}"
    );
    // Answered by DNS as the technical approval returned.
    let m = query(d.dns, "klien.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.answers.len(), 1);
    // The response letter, by the Kepala Dinas, completes it.
    let done = ok(&d, kadis, &["requests", "approve", &ids]);
    assert!(done.trim_end().ends_with("now completed"), "{done}");
    let register = ok(&d, andi, &["subdomains"]);
    let line = register
        .lines()
        .find(|l| l.starts_with("klien.example.go.id"))
        .unwrap_or_else(|| panic!("{register}"));
    assert!(line.contains("A 203.0.113.60 (ttl 3600)"), "{register}");
    assert!(line.contains(&ids), "{register}");

    // JSON: the API's own answer.
    let json: Value = serde_json::from_str(&ok(
        &d,
        andi,
        &["--format", "json", "requests", "show", &ids],
    ))
    .unwrap();
    assert_eq!(json["id"], id);
    assert_eq!(json["status"], "completed");
    let page: Value = serde_json::from_str(&ok(
        &d,
        kadis,
        &["--format", "json", "requests", "list", "--per-page", "1"],
    ))
    .unwrap();
    assert_eq!(page["per_page"], 1);

    // Returned, then resubmitted with changes from a file, then rejected.
    let second = submitted(&d, andi, "kembali").to_string();
    let err = refused(
        &d,
        kadis,
        &[
            "requests", "return", &second, "--reason", "other", "--note", "",
        ],
    );
    assert!(err.contains("422"), "{err}");
    let back = ok(
        &d,
        kadis,
        &[
            "requests",
            "return",
            &second,
            "--reason",
            "no_recommendation",
            "--note",
            "Lengkapi rekomendasi",
        ],
    );
    assert!(
        back.trim_end().ends_with("returned; now returned"),
        "{back}"
    );
    let changes = d.dir.join("perubahan.json");
    std::fs::write(
        &changes,
        r#"{"records": [{"type": "A", "value": "10.1.1.1", "ttl": 3600}]}"#,
    )
    .unwrap();
    let args = [
        "requests",
        "resubmit",
        &second,
        "--changes",
        changes.to_str().unwrap(),
    ];
    // A private address: each field the server refused, under its problem.
    let err = refused(&d, andi, &args);
    assert!(
        err.contains("422")
            && err.contains("records[0].value:")
            && err.contains("(address_not_allowed)"),
        "{err}"
    );
    std::fs::write(
        &changes,
        r#"{"records": [{"type": "A", "value": "203.0.113.61", "ttl": 3600}]}"#,
    )
    .unwrap();
    let again = ok(&d, andi, &args);
    assert!(again.contains("resubmitted; now in review at"), "{again}");
    let shown = ok(&d, kadis, &["requests", "show", &second]);
    assert!(shown.contains("A 203.0.113.61 (ttl 3600)"), "{shown}");
    assert!(
        shown.contains("[no_recommendation] Lengkapi rekomendasi"),
        "{shown}"
    );
    let no = ok(
        &d,
        kadis,
        &[
            "requests",
            "reject",
            &second,
            "--reason",
            "other",
            "--note",
            "Tidak sesuai",
        ],
    );
    assert!(no.trim_end().ends_with("rejected; now rejected"), "{no}");

    // Withdrawn by its applicant; not by an office role.
    let third = submitted(&d, andi, "tarik").to_string();
    let err = refused(&d, kadis, &["requests", "withdraw", &third]);
    assert!(err.contains("403"), "{err}");
    let gone = ok(&d, andi, &["requests", "withdraw", &third]);
    assert!(
        gone.trim_end().ends_with("withdrawn; now withdrawn"),
        "{gone}"
    );
    let withdrawn = ok(&d, andi, &["requests", "list", "--status", "withdrawn"]);
    assert!(withdrawn.contains("tarik.example.go.id"), "{withdrawn}");
}

/// Certificates: the list, one by name, and a name without one (the server's 404).
#[test]
fn certificates_are_listed_and_shown() {
    let d = Daemon::start_test_zone();
    let [_, _, _, _, _, ops] = &setup_people(&d);
    assert_eq!(ok(&d, ops, &["certificates"]), "no certificates\n");
    let err = refused(&d, ops, &["certificates", "tidak-ada.example.go.id"]);
    assert!(err.contains("404"), "{err}");
    let json: Value =
        serde_json::from_str(&ok(&d, ops, &["--format", "json", "certificates"])).unwrap();
    assert_eq!(json["items"], serde_json::json!([]));
}

/// What goes wrong says so: no token, a wrong token, no server, a URL that is not one, a CA
/// file that is not one; `--api` prints the call (the token left in its variable) without
/// making it, even with no server there.
#[test]
fn the_client_says_what_went_wrong_and_prints_calls_on_request() {
    let d = Daemon::start_test_zone();
    let [_, _, kadis, ..] = &setup_people(&d);
    let err = refused(&d, "", &["requests", "list"]);
    assert!(err.contains("no API token"), "{err}");
    let err = refused(&d, "not-a-token", &["requests", "list"]);
    assert!(err.contains("401"), "{err}");
    let err = refused(&d, kadis, &["--server", "127.0.0.1:1", "subdomains"]);
    assert!(err.contains("give the API's URL"), "{err}");
    let port = free_port();
    let err = refused(
        &d,
        kadis,
        &[
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "subdomains",
        ],
    );
    assert!(err.contains("cannot reach"), "{err}");
    let bad_ca = d.dir.join("bukan-ca.pem");
    std::fs::write(&bad_ca, "bukan sertifikat").unwrap();
    let err = refused(
        &d,
        kadis,
        &["--ca-file", bad_ca.to_str().unwrap(), "subdomains"],
    );
    assert!(err.contains("--ca-file"), "{err}");

    let line = ok(
        &d,
        kadis,
        &[
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--api",
            "requests",
            "approve",
            "7",
            "--note",
            "Lanjutkan",
        ],
    );
    assert_eq!(
        line,
        format!(
            "curl -sS -X POST -H \"Authorization: Bearer $RANAH_TOKEN\" -H 'Content-Type: \
             application/json' --data '{{\"note\":\"Lanjutkan\"}}' \
             'http://127.0.0.1:{port}/api/v1/requests/7/approve'\n"
        )
    );
    assert!(!line.contains(kadis.as_str()));
    // The line it prints makes the same call.
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            ok(
                &d,
                kadis,
                &["--api", "requests", "list", "--status", "completed"],
            )
            .trim(),
        )
        .env("RANAH_TOKEN", kadis)
        .output()
        .unwrap();
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["page"], 1, "{page}");
}
