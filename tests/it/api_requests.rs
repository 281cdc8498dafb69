//! The request workflow through the REST API of the real daemon, with curl as the client.

use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::harness::*;

const REQUEST: &str = r#"{"kind": "create", "zone": "example.go.id", "name": "sipd",
 "records": [{"type": "A", "value": "203.0.113.80", "ttl": 3600}],
 "contact": {"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"},
 "purpose": "Sistem informasi pelayanan kesehatan", "recommendation_ref": "REK/045/2026",
 "certificate": false}"#;

#[test]
fn a_request_through_the_api() {
    let d = Daemon::start_test_zone();
    let [andi, dewi, kadis, kabid, teknis, ops] = setup_people(&d);

    // No token, a bad token: 401 problems.
    for token in [None, Some("ranah_nope")] {
        let r = curl(&d, "GET", "/api/v1/requests", token, &[]);
        assert_eq!(r.status, 401);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.json["code"], "unauthorized");
    }

    // axum's own rejections are problems too: a wrong method, a bad query, a huge body.
    let r = curl(&d, "DELETE", "/api/v1/requests", Some(&andi), &[]);
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (405, "application/problem+json")
    );
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?overdue=maybe",
        Some(&kadis),
        &[],
    );
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (400, "application/problem+json")
    );
    let huge = format!("{{\"purpose\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let body_file = d.dir.join("huge.json");
    std::fs::write(&body_file, huge).unwrap();
    let r = curl(
        &d,
        "POST",
        "/api/v1/requests",
        Some(&andi),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", body_file.display()),
        ],
    );
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (413, Some("too_large"))
    );

    // Submit.
    let r = post_json(&d, "/api/v1/requests", &andi, REQUEST);
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["status"], "in_review");
    assert_eq!(r.json["step"], "disposition");
    assert_eq!(r.json["step_title"], "Disposisi Kepala Dinas");
    assert_eq!(r.json["agency"], "DINKES");
    assert!(r.json["due_at"].is_string());
    let path = format!("/api/v1/requests/{id}");

    // The name is held; bad input lists every field; malformed JSON is a 4xx, never a 500.
    let r = post_json(&d, "/api/v1/requests", &dewi, REQUEST);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (409, Some("name_taken"))
    );
    assert_eq!(r.json["held_by"], id);
    let bad = REQUEST
        .replace("203.0.113.80", "192.168.1.1")
        .replace("\"sipd\"", "\"www\"");
    let r = post_json(&d, "/api/v1/requests", &dewi, &bad);
    assert_eq!(r.status, 422);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "records[0].value"]);
    for body in ["{", "[]", "{\"kind\": 5}"] {
        let r = post_json(&d, "/api/v1/requests", &andi, body);
        assert!((400..500).contains(&r.status), "{body}: {}", r.status);
        assert_eq!(r.content_type, "application/problem+json");
    }

    // Other agencies do not see it.
    assert_eq!(curl(&d, "GET", &path, Some(&dewi), &[]).status, 404);
    assert_eq!(
        curl(&d, "GET", "/api/v1/requests/abc", Some(&andi), &[]).status,
        404
    );

    // The letter first: a file that is not PDF/PNG/JPEG is refused, a PDF accepted.
    let r = post_json(&d, &format!("{path}/approve"), &kadis, "");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (409, Some("letter_required"))
    );
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("letter.pdf");
    std::fs::write(&html, "<html>not a pdf</html>").unwrap();
    let r = curl(
        &d,
        "POST",
        &format!("{path}/attachments"),
        Some(&andi),
        &["-F", &format!("letter=@{}", html.display())],
    );
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let big = dir.path().join("big.pdf");
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(11 * 1024 * 1024, b'x');
    std::fs::write(&big, &bytes).unwrap();
    let r = curl(
        &d,
        "POST",
        &format!("{path}/attachments"),
        Some(&andi),
        &["-F", &format!("letter=@{}", big.display())],
    );
    assert_eq!(r.status, 413);
    let pdf = dir.path().join("surat.pdf");
    std::fs::write(&pdf, crate::harness::LETTER_PDF).unwrap();
    let r = curl(
        &d,
        "POST",
        &format!("{path}/attachments"),
        Some(&andi),
        &["-F", &format!("letter=@{}", pdf.display())],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["letter_attached"], true);
    assert_eq!(r.json["attachments"][0]["media_type"], "application/pdf");
    let r = curl(
        &d,
        "GET",
        &format!("{path}/attachments/letter"),
        Some(&kadis),
        &[],
    );
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/pdf")
    );

    // Each role at its step only.
    let r = post_json(&d, &format!("{path}/approve"), &andi, "{}");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("not_your_step"))
    );
    let r = post_json(
        &d,
        &format!("{path}/return"),
        &kadis,
        r#"{"note": "", "reason": "other"}"#,
    );
    assert_eq!(r.status, 422);
    let r = post_json(
        &d,
        &format!("{path}/approve"),
        &kadis,
        r#"{"note": "Lanjutkan"}"#,
    );
    assert_eq!(
        (r.status, r.json["step"].as_str()),
        (200, Some("assignment"))
    );
    let r = post_json(
        &d,
        &format!("{path}/return"),
        &kabid,
        r#"{"note": "Lengkapi rekomendasi", "reason": "no_recommendation"}"#,
    );
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("returned"))
    );
    let r = post_json(
        &d,
        &format!("{path}/resubmit"),
        &andi,
        r#"{"records": [{"type": "A", "value": "10.1.1.1", "ttl": 3600}]}"#,
    );
    assert_eq!(
        (r.status, r.json["errors"][0]["code"].as_str()),
        (422, Some("address_not_allowed"))
    );
    let r = post_json(
        &d,
        &format!("{path}/resubmit"),
        &andi,
        r#"{"colour": "red"}"#,
    );
    assert_eq!(
        (
            r.status,
            r.json["code"].as_str(),
            r.json["errors"][0]["field"].as_str()
        ),
        (422, Some("validation_failed"), Some("colour")),
        "{}",
        r.json
    );
    let r = post_json(
        &d,
        &format!("{path}/resubmit"),
        &andi,
        r#"{"records": [{"type": "A", "value": "203.0.113.81", "ttl": 3600}]}"#,
    );
    assert_eq!(
        (r.status, r.json["step"].as_str()),
        (200, Some("assignment"))
    );
    let r = post_json(&d, &format!("{path}/approve"), &kabid, "");
    assert_eq!(r.status, 200);

    // Provisioning: DNS answers when the approval's response arrives.
    assert_eq!(
        query(d.dns, "sipd.example.go.id.", RecordType::A, UDP)
            .answers
            .len(),
        0
    );
    let r = post_json(&d, &format!("{path}/approve"), &teknis, "");
    assert_eq!(
        (r.status, r.json["step"].as_str()),
        (200, Some("response")),
        "{}",
        r.json
    );
    let m = query(d.dns, "sipd.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        m.answers[0].data.to_string(),
        "203.0.113.81",
        "the resubmitted address"
    );

    let r = post_json(&d, &format!("{path}/approve"), &kadis, "");
    assert_eq!(
        (r.status, r.json["status"].as_str(), r.json["step"].clone()),
        (200, Some("completed"), Value::Null)
    );
    let actions: Vec<&str> = r.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "approved",
            "returned",
            "resubmitted",
            "approved",
            "approved",
            "approved",
            "response_due"
        ]
    );
    let r = post_json(&d, &format!("{path}/approve"), &kadis, "");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let r = post_json(&d, &format!("{path}/frobnicate"), &kadis, "");
    assert_eq!(r.status, 404);

    // Listing: filters and visibility.
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?status=completed",
        Some(&kadis),
        &[],
    );
    assert_eq!(r.json["total"], 1);
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?status=in_review",
        Some(&kadis),
        &[],
    );
    assert_eq!(r.json["total"], 0);
    let r = curl(&d, "GET", "/api/v1/requests", Some(&dewi), &[]);
    assert_eq!(
        r.json["total"], 0,
        "applicants see their agency's requests only"
    );
    let r = curl(&d, "GET", "/api/v1/requests?step=nope", Some(&kadis), &[]);
    assert_eq!(r.status, 422);

    // Zones, records with provenance, the register.
    let r = curl(&d, "GET", "/api/v1/zones", Some(&dewi), &[]);
    assert_eq!(r.json["items"][0]["zone"], "example.go.id");
    assert_eq!(r.json["items"][0]["last_change"]["request"], id);
    let r = curl(
        &d,
        "GET",
        "/api/v1/zones/example.go.id/records",
        Some(&dewi),
        &[],
    );
    let sipd: Vec<&Value> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"] == "sipd.example.go.id.")
        .collect();
    assert_eq!(sipd.len(), 1);
    assert_eq!(
        (sipd[0]["agency"].as_str(), sipd[0]["request"].as_i64()),
        (Some("DINKES"), Some(id))
    );
    assert_eq!(
        curl(
            &d,
            "GET",
            "/api/v1/zones/nope.example/records",
            Some(&dewi),
            &[]
        )
        .status,
        404
    );
    assert_eq!(
        curl(
            &d,
            "GET",
            "/api/v1/zones/example.go.id/export",
            Some(&kadis),
            &[]
        )
        .status,
        403
    );
    let r = curl(
        &d,
        "GET",
        "/api/v1/zones/example.go.id/export",
        Some(&ops),
        &[],
    );
    assert_eq!(r.status, 200);
    let r = curl(&d, "GET", "/api/v1/subdomains", Some(&dewi), &[]);
    let entry = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "sipd.example.go.id")
        .unwrap()
        .clone();
    assert_eq!(entry["agency"], "DINKES");
    assert_eq!(entry["purpose"], "Sistem informasi pelayanan kesehatan");
    assert_eq!(
        entry["contact"],
        Value::Null,
        "another agency does not see the contact"
    );
    let r = curl(&d, "GET", "/api/v1/subdomains", Some(&andi), &[]);
    let entry = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "sipd.example.go.id")
        .unwrap()
        .clone();
    assert_eq!(entry["contact"]["email"], "andi@dinkes.example");
    // Emergency suspension: only an admin, with a reason; the records leave DNS at once, stay
    // in the store and come back when it is lifted.
    let suspend = |token: &str, body: &str| {
        post_json(
            &d,
            "/api/v1/subdomains/sipd.example.go.id/suspend",
            token,
            body,
        )
    };
    assert_eq!(suspend(&kadis, r#"{"reason": "x"}"#).status, 403);
    assert_eq!(suspend(&ops, "{}").status, 422);
    assert_eq!(
        post_json(
            &d,
            "/api/v1/subdomains/nope.example.go.id/suspend",
            &ops,
            r#"{"reason": "x"}"#
        )
        .status,
        404
    );
    let r = suspend(&ops, r#"{"reason": "Defacement terdeteksi"}"#);
    assert_eq!(r.status, 200, "{}", r.json);
    let m = query(d.dns, "sipd.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        m.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
    assert_eq!(suspend(&ops, r#"{"reason": "again"}"#).status, 409);
    let r = curl(&d, "GET", "/api/v1/subdomains", Some(&kadis), &[]);
    let entry = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "sipd.example.go.id")
        .unwrap()
        .clone();
    assert_eq!(
        (
            entry["state"].as_str(),
            entry["suspension"]["reason"].as_str()
        ),
        (Some("suspended"), Some("Defacement terdeteksi"))
    );
    let r = post_json(&d, "/api/v1/requests", &dewi, REQUEST);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (409, Some("name_taken")),
        "a suspended name is not free"
    );
    let r = post_json(
        &d,
        "/api/v1/subdomains/sipd.example.go.id/unsuspend",
        &ops,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["lifted_at"].is_string());
    let m = query(d.dns, "sipd.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.answers[0].data.to_string(), "203.0.113.81");
    assert_eq!(
        post_json(
            &d,
            "/api/v1/subdomains/sipd.example.go.id/unsuspend",
            &ops,
            ""
        )
        .status,
        409
    );

    // An admin never approves.
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &REQUEST.replace("\"sipd\"", "\"sipd2\""),
    );
    assert_eq!(r.status, 201);
    let second = r.json["id"].as_i64().unwrap();
    let r = post_json(&d, &format!("/api/v1/requests/{second}/approve"), &ops, "");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("not_your_step"))
    );
    // Withdraw by the applicant; then it is final.
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{second}/withdraw"),
        &andi,
        "",
    );
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("withdrawn"))
    );
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{second}/withdraw"),
        &andi,
        "",
    );
    assert_eq!(r.status, 409);

    // A revoked token, a disabled user: 401 at once.
    let list = d.cli(&["token", "list"]);
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let kabid_id = list
        .lines()
        .find(|l| l.contains("kabid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(d.cli(&["token", "revoke", &kabid_id]).status.success());
    assert_eq!(
        curl(&d, "GET", "/api/v1/requests", Some(&kabid), &[]).status,
        401
    );
    assert!(d.cli(&["user", "disable", "teknis"]).status.success());
    assert_eq!(
        curl(&d, "GET", "/api/v1/requests", Some(&teknis), &[]).status,
        401
    );

    // An expired token (made through the store: the CLI refuses a past expiry).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let expired = rt.block_on(async {
        let url = store_url(&d.dir);
        let store = ranah::store::Store::open(&url).await.unwrap();
        let now = chrono::Utc::now();
        let people = ranah::service::people::People::new(
            store.clone(),
            std::sync::Arc::new(ranah::domain::calendar::Calendar::default_wita([])),
        );
        let (_, token) = people
            .create_token(
                "kadis",
                Some(now - chrono::Duration::minutes(1)),
                &ranah::domain::audit::Attribution::cli(),
                now,
            )
            .await
            .unwrap();
        store.close().await;
        token
    });
    let r = curl(&d, "GET", "/api/v1/requests", Some(&expired), &[]);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (401, Some("unauthorized"))
    );
}

/// Two simultaneous submissions for one new name, from two agencies: exactly one is accepted,
/// the other is told which request holds the name. (Both were accepted in most tries when the
/// check ran outside the submission's transaction.)
#[test]
fn two_simultaneous_submissions_for_one_name() {
    let d = Daemon::start_test_zone();
    let [andi, dewi, ..] = setup_people(&d);
    for round in 0..8 {
        let name = format!("rebutan{round}");
        let body = request_body("create", &name, "203.0.113.70", false);
        let replies = std::thread::scope(|s| {
            let a = s.spawn(|| post_json(&d, "/api/v1/requests", &andi, &body));
            let b = s.spawn(|| post_json(&d, "/api/v1/requests", &dewi, &body));
            [a.join().unwrap(), b.join().unwrap()]
        });
        let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}: {replies:?}");
        let won = replies.iter().find(|r| r.status == 201).unwrap();
        let lost = replies.iter().find(|r| r.status == 409).unwrap();
        assert_eq!(lost.json["code"], "name_taken", "{}", lost.json);
        assert_eq!(lost.json["held_by"], won.json["id"], "{}", lost.json);
    }
    // The register of open requests agrees: one per name (an unknown parameter, such as a
    // cache-buster, is ignored).
    let r = curl(
        &d,
        "GET",
        "/api/v1/requests?per_page=200&_=1",
        Some(&andi),
        &[],
    );
    let mine = r.json["total"].as_u64().unwrap();
    let r = curl(&d, "GET", "/api/v1/requests?per_page=200", Some(&dewi), &[]);
    assert_eq!(mine + r.json["total"].as_u64().unwrap(), 8);
    // A page or page size out of the documented range is refused, not clamped.
    for query in ["per_page=201", "per_page=0", "page=0", "page=2147483648"] {
        let r = curl(
            &d,
            "GET",
            &format!("/api/v1/requests?{query}"),
            Some(&dewi),
            &[],
        );
        assert_eq!(
            (r.status, r.json["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}: {}",
            r.json
        );
    }
}

/// A fault of ours (here: the attachments folder cannot be written) is a 500 problem that
/// tells the client nothing of the cause, never a 409; nothing is half done, and the same
/// call succeeds once the fault is mended.
#[test]
fn internal_faults_are_500_problems_without_internals() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let [andi, _, kadis, ..] = &tokens;
    let id = provision(&d, &tokens, "gangguan", "203.0.113.71");
    let path = format!("/api/v1/requests/{id}");
    // Where the files are kept breaks: the folder beside a SQLite store is a file, the table
    // of a PostgreSQL store refuses every new row.
    let folder = d.dir.join("data").join("attachments");
    let aside = d.dir.join("data").join("attachments.aside");
    let on_postgres = database_url(&d.dir).is_some();
    let exec = |sql: &str| {
        let out = store_exec(&d.dir, sql, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if on_postgres {
        exec(
            "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the files are broken'; END $$; \
             CREATE TRIGGER broken BEFORE INSERT ON stored_files \
             FOR EACH ROW EXECUTE FUNCTION broken()",
        );
    } else {
        std::fs::rename(&folder, &aside).unwrap();
        std::fs::write(&folder, b"not a folder").unwrap();
    }

    let internal = |r: &Reply, what: &str| {
        assert_eq!(
            (r.status, r.content_type.as_str(), r.json["code"].as_str()),
            (500, "application/problem+json", Some("internal")),
            "{what}: {}",
            r.json
        );
        let text = r.json.to_string();
        for secret in [
            "attachments",
            "os error",
            "Not a directory",
            "/tmp",
            "File exists",
            "stored_files",
            "broken",
        ] {
            assert!(!text.contains(secret), "{what} leaks {secret}: {text}");
        }
    };
    // The response step renders the letter and cannot keep it.
    let r = post_json(&d, &format!("{path}/approve"), kadis, "{}");
    internal(&r, "approve");
    let r = curl(&d, "GET", &path, Some(kadis), &[]);
    assert_eq!(
        (r.json["status"].as_str(), r.json["step"].as_str()),
        (Some("in_review"), Some("response")),
        "{}",
        r.json
    );
    // An upload cannot be kept either.
    let pdf = d.dir.join("rekomendasi.pdf");
    std::fs::write(&pdf, crate::harness::LETTER_PDF).unwrap();
    let r = curl(
        &d,
        "POST",
        &format!("{path}/attachments"),
        Some(andi),
        &["-F", &format!("recommendation=@{}", pdf.display())],
    );
    internal(&r, "upload");

    // Mended: the same calls succeed.
    if on_postgres {
        exec("DROP TRIGGER broken ON stored_files; DROP FUNCTION broken()");
    } else {
        std::fs::remove_file(&folder).unwrap();
        std::fs::rename(&aside, &folder).unwrap();
    }
    let r = post_json(&d, &format!("{path}/approve"), kadis, "{}");
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("completed")),
        "{}",
        r.json
    );
}

/// One JSON-body extractor answers every route alike: 415 for a body not declared JSON, 400
/// for a body that is not JSON, 422 naming the field for JSON of the wrong shape, and an empty
/// body where the fields are optional.
#[test]
fn json_bodies_are_read_alike_on_every_route() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let [andi, _, kadis, _, _, ops] = &tokens;
    let id = provision(&d, &tokens, "badan", "203.0.113.72");
    let send = |path: &str, token: &str, ct: Option<&str>, body: &str| {
        let mut args = vec!["--data-binary", body];
        let header;
        if let Some(ct) = ct {
            header = format!("Content-Type: {ct}");
            args.extend(["-H", &header]);
        } else {
            args.extend(["-H", "Content-Type:"]);
        }
        curl(&d, "POST", path, Some(token), &args)
    };
    let routes = [
        ("/api/v1/requests".to_owned(), andi),
        (format!("/api/v1/requests/{id}/approve"), kadis),
        (format!("/api/v1/requests/{id}/resubmit"), andi),
        ("/api/v1/certificates".to_owned(), andi),
        (
            "/api/v1/subdomains/badan.example.go.id/suspend".to_owned(),
            ops,
        ),
    ];
    for (path, token) in &routes {
        for (ct, body, status, code) in [
            (Some("text/plain"), "{}", 415, "unsupported_media_type"),
            (None, r#"{"note": "x"}"#, 415, "unsupported_media_type"),
            (Some("application/json"), "note=x", 400, "invalid_json"),
            (Some("application/json"), "{\"note\": ", 400, "invalid_json"),
            (
                Some("application/json"),
                r#"{"bogus": 1}"#,
                422,
                "validation_failed",
            ),
        ] {
            let r = send(path, token, ct, body);
            assert_eq!(
                (r.status, r.json["code"].as_str(), r.content_type.as_str()),
                (status, Some(code), "application/problem+json"),
                "{path} {ct:?} {body}: {}",
                r.json
            );
        }
    }
    // The field is named.
    let r = send(
        "/api/v1/requests",
        andi,
        Some("application/json"),
        r#"{"kind": "create", "zone": "example.go.id", "name": "x", "contact": {"name": "A", "email": "a@b.example"}, "purpose": 7}"#,
    );
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["errors"][0]["field"], "purpose", "{}", r.json);
    // An empty body where every field is optional (and a charset parameter) is fine.
    let r = send(
        "/api/v1/subdomains/badan.example.go.id/suspend",
        ops,
        Some("application/json; charset=utf-8"),
        r#"{"reason": "uji"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let r = curl(
        &d,
        "POST",
        &format!("/api/v1/requests/{id}/withdraw"),
        Some(andi),
        &[],
    );
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (200, Some("withdrawn")),
        "{}",
        r.json
    );
}

/// The register lists the agencies' names, never ranah's own records: the `_audit` anchor (set
/// by the first provisioning) and an ACME challenge's TXT. The zone's records still show both.
#[test]
fn the_register_leaves_out_ranahs_own_records() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    d.replace_zone(&format!(
        "{}_acme-challenge.www TXT \"challenge-token\"\n",
        test_zone()
    ));
    assert!(eventually(10, || dig(
        d.dns,
        &["_acme-challenge.www.example.go.id", "TXT", "+short"]
    )
    .contains("challenge-token")));
    provision(&d, &tokens, "sipd", "203.0.113.80");
    assert!(dig(d.dns, &["_audit.example.go.id", "TXT", "+short"]).contains("seq="));

    let ops = &tokens[5];
    let r = curl(&d, "GET", "/api/v1/subdomains", Some(ops), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"sipd.example.go.id"), "{names:?}");
    assert!(names.contains(&"www.example.go.id"), "{names:?}");
    for own in ["_audit.example.go.id", "_acme-challenge.www.example.go.id"] {
        assert!(!names.contains(&own), "{own} is ranah's own: {names:?}");
    }
    let r = curl(
        &d,
        "GET",
        "/api/v1/zones/example.go.id/records",
        Some(ops),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let owners: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(owners.contains(&"_audit.example.go.id."), "{owners:?}");
    assert!(
        owners.contains(&"_acme-challenge.www.example.go.id."),
        "{owners:?}"
    );
}

/// The address ranges a zone's names are hosted in: outside them an address is refused with
/// an error naming them (at submission, and through the Cloudflare-compatible API), or, where
/// the office reviews such addresses, accepted with a warning the reviewers see in the API
/// and the console.
#[test]
fn addresses_outside_the_zones_ranges_are_refused_or_shown_to_the_reviewers() {
    let ranges = |outside: &str| {
        format!(
            "[[names.address_ranges]]\nzone = \"example.go.id\"\n\
             ranges = [\"203.0.113.0/25\", \"2001:db8:10::/48\"]\noutside = \"{outside}\"\n"
        )
    };
    let d = Daemon::start_test_zone_configured(&ranges("refuse"));
    let [andi, ..] = setup_people(&d);
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &request_body("create", "luar", "203.0.113.200", false),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["errors"][0]["field"], "records[0].value");
    assert_eq!(r.json["errors"][0]["code"], "address_outside_ranges");
    assert!(
        r.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("203.0.113.0/25, 2001:db8:10::/48"),
        "{}",
        r.json
    );
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &request_body("create", "dalam", "203.0.113.80", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["warnings"], serde_json::json!([]));
    // The same rule for a write that no one reviews.
    cli_ok(&d, &["user", "add", "portal", "--role", "integration"]);
    let portal = cli_ok(&d, &["token", "create", "portal"]);
    let zone_id = ranah::service::cloudflare::zone_id("example.go.id");
    // (Cloudflare's API is not in the OpenAPI document: curl without the contract check.)
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {portal}"),
        ])
        .args([
            "--data-binary",
            r#"{"type": "A", "name": "portal-luar", "content": "203.0.113.201", "ttl": 300}"#,
        ])
        .arg(format!(
            "http://{}/client/v4/zones/{zone_id}/dns_records",
            d.api
        ))
        .output()
        .unwrap();
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(reply["errors"][0]["code"], 1004, "{reply}");
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("outside the addresses")),
        "{reply}"
    );
    drop(d);

    let d = Daemon::start_test_zone_configured(&ranges("review"));
    let [andi, ..] = setup_people(&d);
    let r = post_json(
        &d,
        "/api/v1/requests",
        &andi,
        &request_body("create", "luar", "203.0.113.200", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    let warnings = r.json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{}", r.json);
    assert_eq!(warnings[0]["field"], "records[0].value");
    assert_eq!(warnings[0]["code"], "address_outside_ranges");
    crate::console::set_password(&d, "kadis", "kata-sandi-kepala-dinas");
    let kadis = crate::console::Browser::new(&d);
    assert_eq!(
        kadis.sign_in("kadis", "kata-sandi-kepala-dinas").status,
        303
    );
    let page = kadis.get(&format!("/requests/{id}"));
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Perhatian untuk pemeriksa")
            && page
                .body
                .contains("203.0.113.200 is outside the addresses example.go.id"),
        "{}",
        page.body
    );
}

/// The register as CSV and as PDF (the office's "daftar subdomain"), from the API with
/// `Accept: text/csv` or `application/pdf` and from the console: what the caller may see
/// (another agency's applicant gets no contact), and nothing an applicant wrote opens as a
/// formula in a spreadsheet.
#[test]
fn the_register_as_csv_and_pdf() {
    let d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let body = request_body("create", "rekap", "203.0.113.90", false).replace(
        "Aplikasi layanan",
        "=HYPERLINK(\\\"http://198.51.100.9\\\")",
    );
    walk_request(&d, &tokens, &body);
    // The register as `token` asks for it with `accept`: status, media type, bytes (curl,
    // not the JSON helper: the answers are not all JSON).
    let fetch = |token: &str, accept: &str| -> (String, String, Vec<u8>) {
        let out = std::process::Command::new("curl")
            .args(["-s", "-w", "\n%{http_code} %{content_type}"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", &format!("Accept: {accept}")])
            .arg(format!("http://{}/api/v1/subdomains", d.api))
            .output()
            .unwrap();
        let mut body = out.stdout;
        let at = body.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let tail = String::from_utf8_lossy(&body[at..]).trim().to_owned();
        body.truncate(at);
        let (status, media) = tail.split_once(' ').unwrap_or((&tail, ""));
        (status.to_owned(), media.to_owned(), body)
    };
    let csv_as = |token: &str| -> Vec<csv::StringRecord> {
        let (_, media, body) = fetch(token, "text/csv");
        assert_eq!(media, "text/csv; charset=utf-8");
        let mut reader = csv::Reader::from_reader(body.as_slice());
        assert_eq!(
            reader.headers().unwrap().iter().take(5).collect::<Vec<_>>(),
            ["name", "zone", "agency", "state", "records"]
        );
        reader.records().map(Result::unwrap).collect()
    };
    let [andi, dewi, ..] = &tokens;
    let rows = csv_as(andi);
    let row = rows
        .iter()
        .find(|r| &r[0] == "rekap.example.go.id")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(&row[2], "DINKES");
    assert_eq!(&row[3], "active");
    assert_eq!(&row[4], "A 3600 203.0.113.90");
    assert_eq!(&row[6], "'=HYPERLINK(\"http://198.51.100.9\")");
    assert_eq!(&row[8], "andi@dinkes.example");
    // Another agency's applicant sees the name, not its contact.
    let rows = csv_as(dewi);
    let row = rows
        .iter()
        .find(|r| &r[0] == "rekap.example.go.id")
        .unwrap();
    assert_eq!((&row[7], &row[8], &row[9]), ("", "", ""));
    // The console's register offers the same file.
    crate::console::set_password(&d, "andi", "kata-sandi-pemohon-andi");
    let browser = crate::console::Browser::new(&d);
    assert_eq!(
        browser.sign_in("andi", "kata-sandi-pemohon-andi").status,
        303
    );
    assert!(
        browser
            .get("/register")
            .body
            .contains("href=\"/register.csv\"")
    );
    let file = browser.get("/register.csv");
    assert_eq!(file.status, 200);
    assert!(
        file.header("content-disposition")
            .is_some_and(|v| v.contains("daftar-subdomain.csv")),
        "{file:?}"
    );
    assert!(file.body.contains("rekap.example.go.id"), "{}", file.body);
    // The forms by their quality values; none acceptable is a 406 problem.
    let asked = |accept: &str| -> (String, String) {
        let (status, media, _) = fetch(andi, accept);
        (status, media)
    };
    assert_eq!(
        asked("application/json, text/csv;q=0.1"),
        ("200".into(), "application/json".into())
    );
    assert_eq!(
        asked("text/*"),
        ("200".into(), "text/csv; charset=utf-8".into())
    );
    assert_eq!(
        asked("image/png"),
        ("406".into(), "application/problem+json".into())
    );
    // As PDF: the office's letterhead, the title, the names.
    let (_, _, pdf) = fetch(andi, "application/pdf");
    assert!(
        pdf.starts_with(b"%PDF-"),
        "{}",
        String::from_utf8_lossy(&pdf)
    );
    let pdf = lopdf::Document::load_mem(&pdf).unwrap();
    let text = pdf.extract_text(&[1]).unwrap();
    for shown in [
        "DINAS KOMUNIKASI DAN INFORMATIKA",
        "DAFTAR SUBDOMAIN example.go.id",
        "rekap.example.go.id",
        "A 203.0.113.90",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    let file = browser.get("/register.pdf");
    assert_eq!(file.status, 200);
    assert!(
        file.header("content-disposition")
            .is_some_and(|v| v.contains("daftar-subdomain.pdf")),
        "{file:?}"
    );
}
