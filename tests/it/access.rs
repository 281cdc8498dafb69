//! Who may do what, through the real daemon: acting periods (before, during, after) for lists,
//! details and actions, and role combinations refused when granted.

use crate::harness::*;

/// A date `days` from today in the office's time zone (WITA, UTC+8), as `YYYY-MM-DD`.
fn office_day(days: i64) -> String {
    let wita = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    (chrono::Utc::now().with_timezone(&wita).date_naive() + chrono::Duration::days(days))
        .to_string()
}

#[test]
fn acting_officials_see_and_act_only_within_their_period() {
    let d = Daemon::start_test_zone();
    let [andi, dewi, ..] = setup_people(&d);
    let grant = |name: &str, from: i64, until: i64| {
        cli_ok(
            &d,
            &[
                "user",
                "add",
                name,
                "--role",
                &format!("head_of_office@{}..{}", office_day(from), office_day(until)),
            ],
        );
        cli_ok(&d, &["token", "create", name])
    };
    let before = grant("plt_before", 3, 10);
    let during = grant("plt_during", -3, 3);
    let after = grant("plt_after", -10, -3);

    // Two agencies' requests, with their contacts; andi's has its letter.
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &request_body("create", "acting", "203.0.113.61", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    let r = post_json(
        &d,
        "/api/v1/requests",
        &dewi,
        &request_body("create", "acting-two", "203.0.113.62", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let path = format!("/api/v1/requests/{id}");
    attach_letter(&d, &andi, id);

    // Outside the period: no list (this returned every agency's requests with their contacts),
    // no detail, no action, no register.
    for (who, token) in [("before", &before), ("after", &after)] {
        for (method, p) in [
            ("GET", "/api/v1/requests".to_owned()),
            ("GET", path.clone()),
            ("POST", format!("{path}/approve")),
            ("GET", "/api/v1/subdomains".to_owned()),
        ] {
            let r = curl(&d, method, &p, Some(token), &[]);
            assert_eq!(
                (r.status, r.json["code"].as_str()),
                (403, Some("no_role_in_effect")),
                "{who} {method} {p}: {}",
                r.json
            );
            assert!(!r.json.to_string().contains("andi@dinkes.example"));
        }
    }

    // Within the period: every agency's requests, the details, and the step's action.
    let r = curl(&d, "GET", "/api/v1/requests", Some(&during), &[]);
    assert_eq!(
        (r.status, r.json["total"].as_u64()),
        (200, Some(2)),
        "{}",
        r.json
    );
    let r = curl(&d, "GET", &path, Some(&during), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["contact"]["email"], "andi@dinkes.example");
    let r = post_json(&d, &format!("{path}/approve"), &during, "{}");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["step"], "assignment");

    // The applicants still see only their own agency's requests.
    for (token, name) in [(&andi, "acting"), (&dewi, "acting-two")] {
        let r = curl(&d, "GET", "/api/v1/requests", Some(token), &[]);
        assert_eq!(r.json["total"], 1, "{}", r.json);
        assert_eq!(r.json["items"][0]["name"], name);
    }
    let r = curl(&d, "GET", &path, Some(&dewi), &[]);
    assert_eq!(r.status, 404, "{}", r.json);
}

#[test]
fn roles_that_may_not_be_combined_are_refused_when_granted() {
    let d = Daemon::start_test_zone();
    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    for (args, says) in [
        (
            &[
                "user",
                "add",
                "x1",
                "--role",
                "admin",
                "--role",
                "head_of_office",
            ][..],
            "never approves",
        ),
        (
            &[
                "user",
                "add",
                "x2",
                "--role",
                "technical@2026-01-01..2026-12-31",
                "--role",
                "admin",
            ][..],
            "never approves",
        ),
        (
            &[
                "user",
                "add",
                "x3",
                "--role",
                "applicant",
                "--role",
                "front_office",
                "--agency",
                "DINKES",
            ][..],
            "acts only for its agency",
        ),
        (
            &["user", "add", "x4", "--role", "applicant"][..],
            "belongs to an agency",
        ),
        (
            &["user", "add", "x5", "--role", "staff"][..],
            "unknown role `staff`",
        ),
    ] {
        let out = d.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        // Nothing was created: the user cannot be given a token.
        assert!(!d.cli(&["token", "create", args[2]]).status.success());
    }
    // Allowed combinations still work.
    cli_ok(
        &d,
        &["user", "add", "ok1", "--role", "admin", "--role", "auditor"],
    );
    cli_ok(
        &d,
        &[
            "user",
            "add",
            "ok2",
            "--role",
            "head_of_office",
            "--role",
            "head_of_division",
        ],
    );
}
