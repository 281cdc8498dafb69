//! The monthly service report through the API of the real daemon.

use crate::harness::*;

#[test]
fn the_month_in_figures() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let [andi, _, kadis, _, _, _] = &tokens;

    // One request completed, one returned and then rejected.
    let first = provision(&d, &tokens, "sipd", "203.0.113.80");
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{first}/approve"),
        kadis,
        "{}",
    );
    assert_eq!(r.json["status"], "completed", "{}", r.json);
    let body = r#"{"kind": "create", "zone": "example.go.id", "name": "simpeg",
        "records": [{"type": "A", "value": "203.0.113.81", "ttl": 3600}],
        "contact": {"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"},
        "purpose": "Kepegawaian", "recommendation_ref": "REK/002/2026", "certificate": false}"#;
    let second = post_json(&d, "/api/v1/requests", andi, body).json["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/requests/{second}");
    let r = post_json(
        &d,
        &format!("{path}/return"),
        kadis,
        r#"{"note": "Lengkapi rekomendasi", "reason": "no_recommendation"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        post_json(&d, &format!("{path}/resubmit"), andi, "{}").status,
        200
    );
    let r = post_json(
        &d,
        &format!("{path}/reject"),
        kadis,
        r#"{"note": "Nama tidak sesuai", "reason": "name_policy"}"#,
    );
    assert_eq!(r.json["status"], "rejected", "{}", r.json);

    // This month in the office's time zone (WITA, UTC+8).
    let month = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let url = format!("/api/v1/reports/service?month={month}");
    let r = curl(&d, "GET", &url, Some(kadis), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let j = &r.json;
    assert_eq!(
        (
            j["finished"]["completed"].as_u64(),
            j["finished"]["rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(j["returns"]["no_recommendation"], 1);
    assert_eq!(j["rejections"]["name_policy"], 1);
    assert_eq!(j["steps"][0]["step"], "disposition");
    // disposition: the completed request's approval, the return and the rejection.
    assert_eq!(j["steps"][0]["count"], 3);
    assert_eq!(j["total"]["count"], 1);
    assert!(j["total"]["median_minutes"].is_i64());
    assert!(j["audit_head"]["seq"].as_i64().unwrap() > 10);
    assert_eq!(j["time_zone"], "Asia/Makassar");

    // CSV on request.
    let r = curl(
        &d,
        "GET",
        &url,
        Some(kadis),
        &["-H", "Accept: text/csv", "-o", "/dev/null"],
    );
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "text/csv; charset=utf-8")
    );
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-H",
            "Accept: text/csv",
            "-H",
            &format!("Authorization: Bearer {kadis}"),
        ])
        .arg(format!("http://{}{url}", d.api))
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "section,step,title,count,median_minutes,p90_minutes,within_standard"
    );
    assert!(
        lines[1].starts_with("step,disposition,\"Disposisi"),
        "{csv}"
    );
    assert!(lines.iter().any(|l| l.starts_with("total,,,1,")), "{csv}");
    assert!(lines.contains(&"rejected,name_policy,,1,,,"), "{csv}");

    // The metrics count requests by state and step.
    let (_, metrics) = http_get(d.api, "/metrics").unwrap();
    for line in [
        "ranah_requests{status=\"completed\",step=\"\"} 1",
        "ranah_requests{status=\"rejected\",step=\"\"} 1",
        "ranah_requests{status=\"in_review\",step=\"disposition\"} 0",
        "ranah_requests_overdue 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ranah_audit_events "))
    );

    // Not for applicants; a bad month is a 422 problem, a missing one a 400.
    assert_eq!(curl(&d, "GET", &url, Some(andi), &[]).status, 403);
    let r = curl(
        &d,
        "GET",
        "/api/v1/reports/service?month=2026-13",
        Some(kadis),
        &[],
    );
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (422, Some("validation_failed"))
    );
    assert_eq!(
        curl(&d, "GET", "/api/v1/reports/service", Some(kadis), &[]).status,
        400
    );
}
