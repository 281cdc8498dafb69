//! The OpenAPI document: served, valid OpenAPI 3.1 (checked by openapi-spec-validator), and it
//! lists every route the daemon serves.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

#[test]
fn the_document_validates_and_lists_every_route() {
    let d = Daemon::start_test_zone();
    let (status, body) = http_get(d.api, "/openapi.json").unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/healthz",
        "/readyz",
        "/api/v1/requests",
        "/api/v1/requests/{id}",
        "/api/v1/requests/{id}/{action}",
        "/api/v1/requests/{id}/resubmit",
        "/api/v1/requests/{id}/attachments",
        "/api/v1/requests/{id}/attachments/{kind}",
        "/api/v1/zones",
        "/api/v1/zones/{zone}",
        "/api/v1/zones/{zone}/records",
        "/api/v1/zones/{zone}/export",
        "/api/v1/subdomains",
        "/api/v1/subdomains/{name}",
        "/api/v1/subdomains/{name}/check",
        "/api/v1/findings/{id}/suspend",
        "/api/v1/subdomains/{name}/end_date",
        "/api/v1/subdomains/{name}/confirm",
        "/api/v1/confirmations",
        "/api/v1/subdomains/{name}/suspend",
        "/api/v1/subdomains/{name}/unsuspend",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/reports/service",
        "/api/v1/certificates",
        "/api/v1/certificates/{name}",
        "/api/v1/certificates/{name}/chain.pem",
        "/api/v1/certificates/{name}/key.pem",
        "/api/v1/complaints",
        "/api/v1/complaints/challenge",
        "/api/v1/complaints/{id}",
        "/api/v1/complaints/{id}/assign",
        "/api/v1/complaints/{id}/answer",
        "/api/v1/complaints/{id}/close",
        "/metrics",
    ] {
        assert!(paths.contains(&route), "{route} missing from {paths:?}");
    }
    assert_eq!(
        paths.len(),
        35,
        "a route is served but not documented, or the reverse"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // One format for every instant: each is the `Timestamp` schema, whose pattern every reply
    // the tests receive is held to (contract.rs); a date-time without it would be another format.
    let ts = &doc["components"]["schemas"]["Timestamp"];
    assert_eq!(ts["format"], "date-time");
    assert_eq!(ts["pattern"], ranah::domain::time::PATTERN);
    fn date_times(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("format").and_then(|f| f.as_str()) == Some("date-time") {
                    out.push(v.clone());
                }
                m.values().for_each(|x| date_times(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| date_times(x, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    date_times(&doc, &mut found);
    assert!(
        found.iter().all(|s| s == ts),
        "an instant documented outside the Timestamp schema: {found:?}"
    );
    let mut refs = 0;
    fn count_refs(v: &serde_json::Value, n: &mut usize) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("$ref").and_then(|r| r.as_str()) == Some("#/components/schemas/Timestamp")
                {
                    *n += 1;
                }
                m.values().for_each(|x| count_refs(x, n));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| count_refs(x, n)),
            _ => {}
        }
    }
    count_refs(&doc, &mut refs);
    assert!(
        refs >= 20,
        "the instants of the bodies refer to Timestamp ({refs})"
    );

    // A real validator agrees.
    let file = d.dir.join("openapi.json");
    std::fs::write(&file, &body).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", file.to_str().unwrap()])
        .output()
        .expect("python3 is required");
    assert!(
        out.status.success(),
        "openapi-spec-validator (the README's test command installs it): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, page) = http_get(d.api, "/docs").unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("/openapi.json"));
}

/// `/docs` works on a network without the internet: a real browser (Debian's chromium, its
/// network cut to loopback) renders the viewer with the document's operations, every request
/// the page makes goes to ranah, and its console reports nothing (no request refused by the
/// page's policy, no script error). The viewer's files are the pinned ones, with their licence.
#[test]
fn the_api_viewer_works_offline_in_a_real_browser() {
    let d = Daemon::start_test_zone();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("docs.png");
    let _ = std::fs::remove_file(&shot);
    let origin = format!("http://{}", d.api);
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/browser.py"))
        .args(["docs", &format!("{origin}/docs")])
        .arg(&shot)
        .output()
        .expect("python3 with selenium (the README's test command installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        seen["title"].as_str().unwrap_or_default().contains("ranah"),
        "{seen}"
    );
    assert!(seen["operations"].as_u64().unwrap_or(0) >= 20, "{seen}");
    let requests: Vec<&str> = seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    for url in &requests {
        assert!(
            url.starts_with(&format!("{origin}/")) || url.starts_with("data:"),
            "a request outside ranah: {url}"
        );
    }
    for wanted in [
        "/docs",
        "/docs/assets/swagger-ui-bundle.js",
        "/openapi.json",
    ] {
        assert!(
            requests.contains(&format!("{origin}{wanted}").as_str()),
            "{wanted}: {requests:?}"
        );
    }
    assert_eq!(seen["console"], serde_json::json!([]), "{seen}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    // The licence ships with it; an unknown file is a 404 problem.
    let (status, licence) = http_get(d.api, "/docs/assets/LICENSE").unwrap();
    assert_eq!(status, 200);
    assert!(licence.contains("Apache License"));
    let r = curl(
        &d,
        "GET",
        "/docs/assets/../openapi.json",
        None,
        &["--path-as-is"],
    );
    assert_eq!(r.status, 404);
    let r = curl(&d, "GET", "/docs/assets/evil.js", None, &[]);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (404, Some("not_found"))
    );
}

/// The checker is real: replies that match pass, and a body of the wrong shape, an undocumented
/// status, a problem or a file served under the wrong media type fail.
#[test]
fn the_checker_refuses_what_the_document_does_not_describe() {
    use crate::contract::{CHECKED, check};
    use serde_json::{Value, json};
    let d = Daemon::start_test_zone();
    let before = CHECKED.load(std::sync::atomic::Ordering::Relaxed);
    let r = curl(&d, "GET", "/healthz", None, &[]);
    assert_eq!(r.status, 200);
    let r = curl(&d, "GET", "/api/v1/zones", Some("ranah_nope"), &[]);
    assert_eq!(r.status, 401);
    assert!(CHECKED.load(std::sync::atomic::Ordering::Relaxed) >= before + 2);
    let fails = |method: &'static str,
                 path: &'static str,
                 status: u16,
                 media: &'static str,
                 body: Value| {
        let api = d.api;
        std::panic::catch_unwind(move || check(api, method, path, status, media, &body)).is_err()
    };
    assert!(fails(
        "GET",
        "/healthz",
        200,
        "application/json",
        json!({"status": 1})
    ));
    assert!(fails(
        "GET",
        "/api/v1/zones",
        418,
        "application/problem+json",
        json!({})
    ));
    assert!(fails(
        "GET",
        "/api/v1/zones/example.go.id",
        404,
        "application/json",
        json!({"type": "x", "title": "Not Found", "status": 404, "detail": "no", "code": "not_found"})
    ));
    assert!(fails(
        "GET",
        "/api/v1/requests",
        200,
        "application/json",
        json!({"items": [{"id": "seven"}], "page": 1, "per_page": 50, "total": 1})
    ));
    // A file served under another media type than the document names.
    assert!(fails(
        "GET",
        "/api/v1/certificates/www.example.go.id/chain.pem",
        200,
        "text/plain; charset=utf-8",
        Value::Null
    ));
    assert!(!fails(
        "GET",
        "/api/v1/certificates/www.example.go.id/chain.pem",
        200,
        "application/pem-certificate-chain",
        Value::Null
    ));
    assert!(!fails(
        "GET",
        "/api/v1/zones/example.go.id",
        404,
        "application/problem+json",
        json!({"type": "x", "title": "Not Found", "status": 404, "detail": "no", "code": "not_found"})
    ));
}
