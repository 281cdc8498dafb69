//! schemathesis (PyPI) against `/openapi.json` of a running daemon, once with the token of each
//! role: generated calls, valid and invalid, to every operation; no answer may be a 5xx, and none
//! may contradict the document (its status, media type, body schema and headers), and a call the
//! document forbids must be refused.
//!
//! Not checked: `positive_data_acceptance` (that every call the schemas admit succeeds). The
//! document types each field, but what a request may hold is more than its type (a name free
//! in the zone, a record valid for its type, a zone that exists, a step the caller may act on),
//! so schema-valid calls are refused with documented 4xx problems by design. The other checks
//! schemathesis has need state the document cannot give it (`ignored_auth` and the other
//! authorization checks: every role's access is tested in tests/it/access.rs).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

/// The checks run, as schemathesis names them.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,negative_data_rejection";
/// Generated calls per operation and phase; with seven roles the test stays within ~3 minutes.
const MAX_EXAMPLES: &str = "8";

/// Values that exist in the seeded store, drawn for path parameters more often than not (the
/// rest are generated), so that calls reach the handlers' logic rather than a 404.
const CONFIG: &str = r#"
[dictionaries.ids]
values = [1, 2, 3]
[dictionaries.names]
values = ["sipd.example.go.id", "layanan.example.go.id", "www.example.go.id"]
[dictionaries.zones]
values = ["example.go.id"]
[dictionaries.kinds]
values = ["letter", "recommendation", "response_letter"]
[dictionaries.actions]
values = ["approve", "return", "reject", "withdraw"]

[parameters]
"path.id" = { dictionary = "ids", probability = 0.6 }
"path.name" = { dictionary = "names", probability = 0.6 }
"path.zone" = { dictionary = "zones", probability = 0.6 }
"path.kind" = { dictionary = "kinds", probability = 0.6 }
"path.action" = { dictionary = "actions", probability = 0.6 }
"#;

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_against_the_document() {
    let _serial = crate::one_at_a_time();
    crate::client::require_tool(
        "schemathesis",
        "schemathesis, from PyPI, in target/test-venv",
    );
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let [andi, dewi, kadis, kabid, teknis, ops] = &tokens;
    for (user, role) in [("loket", "front_office"), ("inspektur", "auditor")] {
        cli_ok(&d, &["user", "add", user, "--role", role]);
    }
    let loket = cli_ok(&d, &["token", "create", "loket"]);
    let inspektur = cli_ok(&d, &["token", "create", "inspektur"]);

    // Something of everything: request 1 provisioned (its name, a subdomain), request 2 at its
    // second step, request 3 without its letter (another agency's).
    walk_request(
        &d,
        &tokens,
        &request_body("create", "sipd", "203.0.113.80", false),
    );
    let r = post_json(
        &d,
        "/api/v1/requests",
        andi,
        &request_body("create", "layanan", "203.0.113.81", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    attach_letter(&d, andi, id);
    assert_eq!(
        post_json(&d, &format!("/api/v1/requests/{id}/approve"), kadis, "{}").status,
        200
    );
    let r = post_json(
        &d,
        "/api/v1/requests",
        dewi,
        &request_body("create", "baru", "203.0.113.82", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);

    let config = d.dir.join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let document = format!("http://{}/openapi.json", d.api);
    let roles = [
        ("applicant", andi),
        ("front_office", &loket),
        ("head_of_office", kadis),
        ("head_of_division", kabid),
        ("technical", teknis),
        ("auditor", &inspektur),
        ("admin", ops),
    ];
    let started = Instant::now();
    let mut report = Vec::new();
    for (seed, (role, token)) in roles.into_iter().enumerate() {
        let t = Instant::now();
        // Bounded from outside: schemathesis's own time budget (--max-time) is a duration to
        // fill, not a limit.
        let out = Command::new("timeout")
            .args(["300", "schemathesis"])
            .arg("--config-file")
            .arg(&config)
            .args(["run", &document, "--checks", CHECKS])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            // One worker: several threads in one Python 3.11 process can crash its parser
            // (a SystemError in hypothesis, not a finding).
            .args(["--workers", "1", "--max-examples", MAX_EXAMPLES])
            .args(["--seed", &(2026 + seed).to_string()])
            .args(["--request-timeout", "20"])
            .current_dir(&d.dir)
            .output()
            .expect("schemathesis");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "schemathesis as {role} found failures:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let generated = text
            .lines()
            .find_map(|l| {
                l.split_once(" generated")
                    .and_then(|(n, _)| n.trim().parse::<u64>().ok())
            })
            .unwrap_or_else(|| panic!("no count of cases in schemathesis's output:\n{text}"));
        assert!(generated > 0);
        report.push(format!(
            "{role}: {generated} cases, 0 failures ({:.0} s)",
            t.elapsed().as_secs_f64()
        ));
    }
    assert!(started.elapsed() < Duration::from_secs(600));
    println!(
        "schemathesis ({CHECKS}): {}; {:.0} s in all",
        report.join("; "),
        started.elapsed().as_secs_f64()
    );
}
