//! The OpenAPI document: served, valid OpenAPI 3.1 (checked by openapi-spec-validator), and it
//! lists every route the daemon serves.

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
        "/api/v1/subdomains/{name}/suspend",
        "/api/v1/subdomains/{name}/unsuspend",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/reports/service",
        "/api/v1/certificates",
        "/api/v1/certificates/{name}",
        "/api/v1/certificates/{name}/chain.pem",
        "/api/v1/certificates/{name}/key.pem",
        "/metrics",
    ] {
        assert!(paths.contains(&route), "{route} missing from {paths:?}");
    }
    assert_eq!(
        paths.len(),
        23,
        "a route is served but not documented, or the reverse"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
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
