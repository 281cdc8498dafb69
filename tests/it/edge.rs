//! Validation at the edge (issue 13): what an attacker sent and ranah accepted is now refused
//! with the right status and problem type, and the good forms are accepted. Real HTTP (curl)
//! and real DNS (dig) against the daemon.

use std::process::Command;

use crate::harness::*;

/// A create request for `name` in example.go.id with `records` (a JSON array) and `extra`
/// members (`, "agency": "X"`).
fn body(name: &str, records: &str, extra: &str) -> String {
    format!(
        r#"{{"kind": "create", "zone": "example.go.id", "name": "{name}", "records": {records},
        "contact": {{"name": "Andi", "email": "andi@dinkes.example"}},
        "purpose": "Aplikasi layanan"{extra}}}"#
    )
}

fn codes(r: &Reply) -> Vec<(String, String)> {
    r.json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn problem(r: &Reply) -> (u16, &str) {
    (r.status, r.json["code"].as_str().unwrap_or(""))
}

#[test]
fn names_and_record_values_are_checked_at_submission() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let [andi, _, _, _, teknis, _] = &tokens;
    let submit = |b: &str| post_json(&d, "/api/v1/requests", andi, b);
    let a = r#"[{"type": "A", "value": "203.0.113.60"}]"#;

    // Names: invalid Punycode, a disallowed code point, two trailing dots.
    for (name, zone, field, code) in [
        ("xn--zz", "example.go.id", "name", "invalid_label"),
        ("xn--n3h", "example.go.id", "name", "invalid_label"),
        ("ab--cd", "example.go.id", "name", "invalid_label"),
        ("sipd", "example.go.id..", "zone", "invalid_name"),
    ] {
        let b = body(name, a, "").replace("\"example.go.id\"", &format!("\"{zone}\""));
        let r = submit(&b);
        assert_eq!(problem(&r), (422, "validation_failed"), "{name} {zone}");
        assert!(
            codes(&r).contains(&(field.into(), code.into())),
            "{name} {zone}: {}",
            r.json
        );
    }
    // A U-label becomes its A-label; one trailing dot on the zone is fine.
    let b = body("bücher", a, "").replace("\"example.go.id\"", "\"example.go.id.\"");
    let r = submit(&b);
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["name"], "xn--bcher-kva");
    assert_eq!(r.json["zone"], "example.go.id");

    // "10 portal" is portal.example.go.id. as in a master file, not the root's portal.; and
    // portal is an alias, so the MX is refused now, with the error the approval gives.
    let r = submit(&body(
        "surel",
        r#"[{"type": "MX", "value": "10 portal"}]"#,
        "",
    ));
    assert_eq!(problem(&r), (409, "zone_rule"), "{}", r.json);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("portal.example.go.id"),
        "{}",
        r.json
    );
    // A relative exchange that is a host: stored and published absolute.
    let id = walk_request(
        &d,
        &tokens,
        &body("surat", r#"[{"type": "MX", "value": "10 mail"}]"#, ""),
    );
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(andi),
        &[],
    );
    assert_eq!(r.json["records"][0]["value"], "10 mail.example.go.id.");
    let answer = dig(d.dns, &["+short", "surat.example.go.id.", "MX"]);
    assert_eq!(answer.trim(), "10 mail.example.go.id.");
    // Fully qualified with its dot: itself.
    let r = submit(&body(
        "surel2",
        r#"[{"type": "MX", "value": "10 mx.example.org."}]"#,
        "",
    ));
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["records"][0]["value"], "10 mx.example.org.");
    let r = submit(&body(
        "surel3",
        r#"[{"type": "MX", "value": "10 mx.example.org.."}]"#,
        "",
    ));
    assert!(codes(&r).contains(&("records[0].value".into(), "invalid_host".into())));

    // The same rule at the approval: an MX submitted while its target was a host, whose
    // target became an alias before the technical approval.
    let late = submit(&body(
        "kotak",
        r#"[{"type": "MX", "value": "10 nanti"}]"#,
        "",
    ));
    assert_eq!(late.status, 201, "{}", late.json);
    let late = late.json["id"].as_i64().unwrap();
    walk_request(
        &d,
        &tokens,
        &body("nanti", r#"[{"type": "CNAME", "value": "www"}]"#, ""),
    );
    let path = format!("/api/v1/requests/{late}");
    attach_letter(&d, andi, late);
    for token in [&tokens[2], &tokens[3]] {
        assert_eq!(
            post_json(&d, &format!("{path}/approve"), token, "{}").status,
            200
        );
    }
    let r = post_json(&d, &format!("{path}/approve"), teknis, "{}");
    assert_eq!(problem(&r), (409, "zone_rule"), "{}", r.json);
    let again = submit(&body(
        "kotak2",
        r#"[{"type": "MX", "value": "10 nanti"}]"#,
        "",
    ));
    assert_eq!(problem(&again), (409, "zone_rule"));
    assert_eq!(again.json["detail"], r.json["detail"]);
}

#[test]
fn control_characters_are_refused_in_every_text_field() {
    let d = Daemon::start_test_zone();
    let [andi, _, kadis, ..] = setup_people(&d);
    let a = r#"[{"type": "A", "value": "203.0.113.61"}]"#;
    for (bad, field) in [
        (
            body("sipd", a, "").replace("Aplikasi layanan", "Aplikasi\\u0000layanan"),
            "purpose",
        ),
        (
            body("sipd", a, "").replace("\"Andi\"", "\"Andi\\nBcc: x@example.org\""),
            "contact.name",
        ),
        (
            body("sipd", a, "").replace("Aplikasi layanan", "Aplikasi \u{7f}"),
            "purpose",
        ),
        (
            body("sipd", a, "").replace("Aplikasi layanan", "Aplikasi \u{9b}31m"),
            "purpose",
        ),
        (
            body("sipd", r#"[{"type": "TXT", "value": "v=1\u001b[2J"}]"#, ""),
            "records[0].value",
        ),
        (body("sipd", a, r#", "agency": "DINKES\u0000""#), "agency"),
    ] {
        let r = post_json(&d, "/api/v1/requests", &andi, &bad);
        assert_eq!(problem(&r), (422, "validation_failed"), "{bad}");
        assert_eq!(
            codes(&r),
            vec![(field.to_owned(), "control_character".to_owned())],
            "{bad}"
        );
    }
    // Notes of an action too, and query parameters.
    let r = post_json(&d, "/api/v1/requests", &andi, &body("sipd", a, ""));
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{id}/return"),
        &kadis,
        r#"{"note": "kurang\r\nlengkap", "reason": "incomplete_documents"}"#,
    );
    assert_eq!(codes(&r), vec![("note".into(), "control_character".into())]);
    for query in ["status=in_review%00", "agency=DIN%0AKES", "step=%C2%85"] {
        let r = curl(
            &d,
            "GET",
            &format!("/api/v1/requests?{query}"),
            Some(&kadis),
            &[],
        );
        assert_eq!(problem(&r), (422, "validation_failed"), "{query}");
        assert_eq!(codes(&r)[0].1, "control_character", "{query}");
    }
    // Printable text of any script is accepted.
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?status=in_review",
        Some(&kadis),
        &[],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn an_applicant_names_only_its_own_agency() {
    let d = Daemon::start_test_zone();
    let [andi, _, kadis, ..] = setup_people(&d);
    let a = |ip: u8| format!(r#"[{{"type": "A", "value": "203.0.113.{ip}"}}]"#);
    for other in ["DISHUB", "NOPE"] {
        let r = post_json(
            &d,
            "/api/v1/requests",
            &andi,
            &body("lain", &a(70), &format!(r#", "agency": "{other}""#)),
        );
        assert_eq!(problem(&r), (403, "not_your_agency"), "{}", r.json);
        let r = curl(
            &d,
            "GET",
            &format!("/api/v1/requests?agency={other}"),
            Some(&andi),
            &[],
        );
        assert_eq!(problem(&r), (403, "not_your_agency"), "{}", r.json);
    }
    // Its own agency, named or not.
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &body("sendiri", &a(71), r#", "agency": "DINKES""#),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["agency"], "DINKES");
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?agency=DINKES",
        Some(&andi),
        &[],
    );
    assert_eq!((r.status, r.json["total"].as_u64()), (200, Some(1)));
    // The office filters by any agency.
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?agency=DISHUB",
        Some(&kadis),
        &[],
    );
    assert_eq!((r.status, r.json["total"].as_u64()), (200, Some(0)));
}

#[test]
fn record_sets_stay_within_one_udp_answer() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let andi = &tokens[0];
    // The attacker's TXT of 2 KB: refused, naming the limit and the size.
    let big = format!(r#"[{{"type": "TXT", "value": "{}"}}]"#, "x".repeat(2048));
    let r = post_json(&d, "/api/v1/requests", andi, &body("besar", &big, ""));
    assert_eq!(problem(&r), (422, "validation_failed"), "{}", r.json);
    assert_eq!(
        codes(&r),
        vec![("records".into(), "answer_too_large".into())]
    );
    let message = r.json["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("1232") && message.contains("2136"),
        "{message}"
    );
    // And 100 TXT records of 2 KB each.
    let many: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"type": "TXT", "value": "{i} {}"}}"#, "y".repeat(2000)))
        .collect();
    // 200 KB: too long for one argument, so curl reads it from a file.
    let file = d.dir.join("banyak.json");
    std::fs::write(&file, body("banyak", &format!("[{}]", many.join(",")), "")).unwrap();
    let r = curl(
        &d,
        "POST",
        "/api/v1/requests",
        Some(andi),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", file.display()),
        ],
    );
    assert_eq!(problem(&r), (422, "validation_failed"));
    assert!(
        codes(&r).iter().any(|(_, c)| c == "rrset_too_large"),
        "{}",
        r.json
    );

    // The largest TXT that fits: the policy counts its owner written whole, so its answer over
    // UDP with EDNS would be exactly 1232 bytes. besar.example.go.id. is 21 bytes in wire
    // form: the header (12), the question (25), the record's owner and fixed part (31) and the
    // OPT (11) leave 1153 bytes of RDATA, which hold 4 strings of 255 and one of 128. The
    // owner is sent as a pointer to the question (2 bytes, not 21): 1213 bytes, not truncated.
    let fits = format!(
        r#"[{{"type": "TXT", "value": "{}"}}]"#,
        "z".repeat(4 * 255 + 128)
    );
    walk_request(&d, &tokens, &body("besar", &fits, ""));
    let out = dig(
        d.dns,
        &["+bufsize=1232", "+norec", "besar.example.go.id.", "TXT"],
    );
    assert!(!out.contains("Truncated"), "{out}");
    assert!(out.contains("MSG SIZE  rcvd: 1213"), "{out}");
    // A set of 16 A records (the most of one type), each owner a pointer to the question:
    // 12 + 24 + 16 × 16 + 11.
    let sixteen: Vec<String> = (1..=16)
        .map(|i| format!(r#"{{"type": "A", "value": "203.0.113.{i}"}}"#))
        .collect();
    walk_request(
        &d,
        &tokens,
        &body("enam", &format!("[{}]", sixteen.join(",")), ""),
    );
    let out = dig(
        d.dns,
        &["+bufsize=1232", "+norec", "enam.example.go.id.", "A"],
    );
    assert!(out.contains("MSG SIZE  rcvd: 303"), "{out}");
    // One byte more is refused.
    let over = format!(
        r#"[{{"type": "TXT", "value": "{}"}}]"#,
        "z".repeat(4 * 255 + 129)
    );
    let r = post_json(&d, "/api/v1/requests", andi, &body("besar2", &over, ""));
    assert_eq!(
        codes(&r),
        vec![("records".into(), "answer_too_large".into())]
    );
}

/// `curl` with the response's headers (lower-case names) and body bytes; no contract check
/// (the header checks go beyond the JSON documents).
fn raw(
    d: &Daemon,
    method: &str,
    path: &str,
    args: &[&str],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (head, body) = (dir.path().join("h"), dir.path().join("b"));
    let out = Command::new("curl")
        .args(["-s", "-X", method, "--max-time", "20", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(format!("http://{}{}", d.api, path))
        .output()
        .unwrap();
    assert!(out.status.success());
    let head = std::fs::read_to_string(head).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, std::fs::read(body).unwrap())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn upload(d: &Daemon, token: &str, id: i64, parts: &[(&str, &std::path::Path)]) -> Reply {
    let args: Vec<String> = parts
        .iter()
        .flat_map(|(field, file)| ["-F".to_owned(), format!("{field}=@{}", file.display())])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(
        d,
        "POST",
        &format!("/api/v1/requests/{id}/attachments"),
        Some(token),
        &args,
    )
}

#[test]
fn attachments_are_checked_whole_and_downloaded_as_files() {
    let d = Daemon::start_test_zone();
    let [andi, ..] = setup_people(&d);
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &body("berkas", r#"[{"type": "A", "value": "203.0.113.62"}]"#, ""),
    );
    let id = r.json["id"].as_i64().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = d.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // The attacker's file: `%PDF-` and then HTML. And a real PDF with HTML appended.
    let html = b"<html><body><script>alert(document.cookie)</script></body></html>\n";
    let polyglot = file("polyglot.pdf", &[b"%PDF-1.7\n".as_slice(), html].concat());
    let appended = file("appended.pdf", &[LETTER_PDF, html].concat());
    let fake_png = file("fake.png", &[&SCAN_PNG[..40], html].concat());
    for f in [&polyglot, &appended, &fake_png] {
        let r = upload(&d, &andi, id, &[("letter", f)]);
        assert_eq!(problem(&r), (415, "unsupported_media_type"), "{}", r.json);
    }
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["attachments"].as_array().map(Vec::len), Some(0));

    // Real files pass.
    let pdf = file("surat.pdf", LETTER_PDF);
    let png = file("rekomendasi.png", SCAN_PNG);
    let jpeg = file("rekomendasi.jpg", SCAN_JPEG);
    let r = upload(&d, &andi, id, &[("letter", &pdf), ("recommendation", &png)]);
    assert_eq!(r.status, 200, "{}", r.json);
    let r = upload(&d, &andi, id, &[("recommendation", &jpeg)]);
    assert_eq!(r.status, 200, "{}", r.json);
    let types: Vec<&str> = r.json["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["media_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["application/pdf", "image/png", "image/jpeg"]);

    // Downloads are files to save, never pages to render.
    let auth = format!("Authorization: Bearer {andi}");
    let (status, headers, bytes) = raw(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}/attachments/letter"),
        &["-H", &auth],
    );
    assert_eq!(status, 200);
    assert_eq!(bytes, LETTER_PDF);
    assert_eq!(header(&headers, "content-type"), Some("application/pdf"));
    assert_eq!(
        header(&headers, "content-disposition"),
        Some(format!("attachment; filename=\"request-{id}-letter.pdf\"").as_str())
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let saved = file("unduhan.pdf", &bytes);
    let text = tool("pdftotext", &[saved.to_str().unwrap(), "-"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Surat permohonan subdomain"),
        "{text:?}"
    );
    let (_, headers, _) = raw(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}/attachments/recommendation"),
        &["-H", &auth],
    );
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    assert_eq!(
        header(&headers, "content-disposition"),
        Some(format!("attachment; filename=\"request-{id}-recommendation.jpg\"").as_str())
    );

    // One upload of 1,000 parts: refused whole, nothing kept.
    let tiny = file("kecil.png", SCAN_PNG);
    let many: Vec<(&str, &std::path::Path)> = (0..1000)
        .map(|_| ("recommendation", tiny.as_path()))
        .collect();
    let r = upload(&d, &andi, id, &many);
    assert_eq!(problem(&r), (409, "too_many_attachments"), "{}", r.json);
    // Up to the limit (20 by default; 3 held) is fine, one more is not.
    let r = upload(&d, &andi, id, &many[..18]);
    assert_eq!(problem(&r), (409, "too_many_attachments"), "{}", r.json);
    let r = upload(&d, &andi, id, &many[..17]);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["attachments"].as_array().map(Vec::len), Some(20));
    let r = upload(&d, &andi, id, &many[..1]);
    assert_eq!(problem(&r), (409, "too_many_attachments"));
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["attachments"].as_array().map(Vec::len), Some(20));
}

#[test]
fn every_answer_carries_the_security_headers_and_cors_is_closed() {
    let d = Daemon::start_test_zone();
    let [andi, ..] = setup_people(&d);
    let auth = format!("Authorization: Bearer {andi}");
    for (path, args, status, authenticated) in [
        ("/healthz", vec![], 200, false),
        ("/metrics", vec![], 200, false),
        ("/openapi.json", vec![], 200, false),
        ("/nowhere", vec![], 404, false),
        ("/api/v1/requests", vec![], 401, false),
        ("/api/v1/requests", vec!["-H", auth.as_str()], 200, true),
        ("/api/v1/requests/999", vec!["-H", auth.as_str()], 404, true),
    ] {
        let (got, headers, _) = raw(&d, "GET", path, &args);
        assert_eq!(got, status, "{path}");
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(header(&headers, name), Some(value), "{path} {name}");
        }
        assert_eq!(
            header(&headers, "cache-control") == Some("no-store"),
            authenticated,
            "{path}"
        );
        assert_eq!(header(&headers, "strict-transport-security"), None);
        assert_eq!(header(&headers, "access-control-allow-origin"), None);
    }
    // The viewer runs its own scripts only, and is not framed either.
    let (_, headers, _) = raw(&d, "GET", "/docs", &[]);
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("https:"), "{csp}");
    // No CORS unless configured: a preflight from another site gets no permission.
    let preflight = [
        "-H",
        "Origin: https://evil.example",
        "-H",
        "Access-Control-Request-Method: POST",
        "-H",
        "Access-Control-Request-Headers: authorization",
    ];
    let (_, headers, _) = raw(&d, "OPTIONS", "/api/v1/requests", &preflight);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[test]
fn cors_opens_to_the_configured_origins_only() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let d = Daemon::start_configured(
        tmp.path(),
        ([127, 0, 0, 1], 0).into(),
        Some("[api]\ncors_allowed_origins = [\"https://portal.example.go.id\"]\n"),
    );
    let ask = |origin: &str| {
        raw(
            &d,
            "OPTIONS",
            "/api/v1/requests",
            &[
                "-H",
                &format!("Origin: {origin}"),
                "-H",
                "Access-Control-Request-Method: POST",
                "-H",
                "Access-Control-Request-Headers: authorization,content-type",
            ],
        )
    };
    let (status, headers, _) = ask("https://portal.example.go.id");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://portal.example.go.id")
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let (_, headers, _) = ask("https://evil.example");
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    let (_, headers, _) = raw(
        &d,
        "GET",
        "/healthz",
        &["-H", "Origin: https://portal.example.go.id"],
    );
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://portal.example.go.id")
    );
}
