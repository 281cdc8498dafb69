//! The Cloudflare-compatible API under `/client/v4`: the office portal's five calls replayed
//! from a fixture (tests/fixtures/cloudflare/portal.json) with the office's token, step by
//! step against DNS and a real Knot secondary; Cloudflare's official Python SDK (PyPI
//! `cloudflare`, tests/fixtures/cloudflare/sdk.py) with an agency's token; what tokens of each
//! kind may and may not do, and hostile requests.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::*;
use crate::secondaries::{SECRET, start_knot};

fn zone() -> String {
    "$ORIGIN example.go.id.\n$TTL 3600\n\
     @ SOA ns1 hostmaster 2026010100 3600 900 1209600 300\n\
     @ NS ns1\nns1 A 203.0.113.2\nwww A 203.0.113.10\n\
     dinkes A 203.0.113.20\ndishub A 203.0.113.21\nhost.ent A 203.0.113.30\n"
        .into()
}

/// ranah on the zone with `config`, the usual people, dinkes and dishub given to their
/// agencies, and two integration tokens: the office portal's (all agencies) and DINKES's.
fn start(config: &str) -> (tempfile::TempDir, Daemon, [String; 6], String, String) {
    let tmp = Daemon::workdir("example.go.id.zone", &zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_configured(tmp.path(), dns, Some(config));
    let tokens = setup_people(&d);
    assign_agency_names(&d);
    cli_ok(&d, &["user", "add", "portal", "--role", "integration"]);
    cli_ok(
        &d,
        &[
            "user",
            "add",
            "portal-dinkes",
            "--role",
            "integration",
            "--agency",
            "DINKES",
        ],
    );
    let portal = cli_ok(&d, &["token", "create", "portal"]).trim().to_owned();
    let dinkes = cli_ok(&d, &["token", "create", "portal-dinkes"])
        .trim()
        .to_owned();
    (tmp, d, tokens, portal, dinkes)
}

/// One HTTP call with exactly these headers: status, content type and JSON body.
fn call(
    d: &Daemon,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> (u16, String, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-X", method, "-w", "\n%{http_code} %{content_type}"]);
    cmd.args(["--max-time", "20"]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    cmd.arg(format!("http://{}{}", d.api, path));
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (status, media) = tail.split_once(' ').unwrap_or((tail, ""));
    (
        status.parse().unwrap_or(0),
        media.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {token}")),
        ("Content-Type".into(), "application/json".into()),
    ]
}

/// Cloudflare's envelope of a failure: its status and its first error's code.
fn failed(reply: &(u16, String, Value)) -> (u16, i64) {
    let (status, media, body) = reply;
    assert!(media.starts_with("application/json"), "{media}: {body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["result"], Value::Null, "{body}");
    assert!(body["messages"].is_array(), "{body}");
    let message = &body["errors"][0]["message"];
    assert!(message.as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (*status, body["errors"][0]["code"].as_i64().unwrap_or(0))
}

fn a(d: &Daemon, name: &str) -> String {
    dig(d.dns, &[name, "A", "+short"]).trim().to_owned()
}

fn audit_changes(d: &Daemon, token: &str) -> Vec<Value> {
    let r = curl(d, "GET", "/api/v1/audit?limit=1000", Some(token), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "zone.change")
        .cloned()
        .collect()
}

#[test]
fn the_office_portals_calls_as_it_sends_them() {
    let knot_port = free_port();
    let config = format!(
        "[[tsig_keys]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\n\
         [[secondaries]]\nzone = \"example.go.id\"\nnotify = \"127.0.0.1:{knot_port}\"\n\
         allow_transfer = [\"127.0.0.2\"]\ntsig_key = \"xfr-key\"\n"
    );
    let (_tmp, d, tokens, portal, _) = start(&config);
    let knot = start_knot(&d.dir, knot_port, d.dns);
    assert!(eventually(20, || knot.serial() == Some(serial(&d))));
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/cloudflare/portal.json")).unwrap();
    let name = "sipd.example.go.id";
    let mut vars: Vec<(String, String)> = vec![
        ("{token}".into(), portal.clone()),
        ("{zone}".into(), "example.go.id".into()),
        ("{name}".into(), name.into()),
    ];
    let fill = |text: &str, vars: &[(String, String)]| {
        vars.iter()
            .fold(text.to_owned(), |t, (k, v)| t.replace(k, v))
    };
    for step in fixture["calls"].as_array().unwrap() {
        let method = step["method"].as_str().unwrap();
        let path = fill(step["path"].as_str().unwrap(), &vars);
        let headers: Vec<(String, String)> = step["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), fill(v.as_str().unwrap(), &vars)))
            .collect();
        let body = step.get("body").map(|b| fill(&b.to_string(), &vars));
        let (status, media, reply) = call(&d, method, &path, &headers, body.as_deref());
        assert_eq!(
            status,
            step["status"].as_u64().unwrap() as u16,
            "{method} {path}: {reply}"
        );
        assert!(media.starts_with("application/json"), "{media}");
        assert_eq!(reply["success"], true, "{reply}");
        assert_eq!(reply["errors"], json!([]), "{reply}");
        if let Some(keep) = step.get("keep").and_then(Value::as_object) {
            for (var, pointer) in keep {
                let value = reply.pointer(pointer.as_str().unwrap()).unwrap();
                vars.push((format!("{{{var}}}"), value.as_str().unwrap().to_owned()));
            }
        }
        // Answered by DNS when the call returns, and by the secondary after its NOTIFY.
        if let Some(expected) = step.get("dns").and_then(Value::as_str) {
            assert_eq!(a(&d, name), expected, "{method} {path}");
            assert!(
                eventually(10, || dig(knot.addr, &[name, "A", "+short"]).trim()
                    == expected),
                "Knot did not follow {method} {path}"
            );
        }
        if method == "POST" {
            assert_eq!(reply["result"]["name"], name);
            assert_eq!(reply["result"]["proxied"], false);
            // `ttl: 1` is the zone's default: its SOA's.
            assert_eq!(reply["result"]["ttl"], 3600);
        }
    }
    // The id given at creation was kept through the content's change (the DELETE used it).
    let record_id = &vars.iter().find(|(k, _)| k == "{record_id}").unwrap().1;
    assert_eq!(record_id.len(), 32);
    // Every change is in the audit trail with the portal's user as actor.
    let ops = &tokens[5];
    let changes = audit_changes(&d, ops);
    let by_portal: Vec<&Value> = changes.iter().filter(|e| e["actor"] == "portal").collect();
    assert_eq!(by_portal.len(), 3, "{changes:#?}");
    for e in &by_portal {
        assert_eq!(e["role"], "integration", "{e}");
        assert_eq!(e["client"], "127.0.0.1", "{e}");
        assert!(
            e["summary"]["reason"]
                .as_str()
                .unwrap()
                .contains(record_id.as_str()),
            "{e}"
        );
    }

    // A PATCH with only the content keeps the rest and the id; the record carries the user.
    let zone_id = vars
        .iter()
        .find(|(k, _)| k == "{zone_id}")
        .unwrap()
        .1
        .clone();
    let path = format!("/client/v4/zones/{zone_id}/dns_records");
    let body = json!({"type": "MX", "name": "sipd", "content": "mail.example.go.id", "priority": 10, "ttl": 300});
    let (status, _, created) = call(&d, "POST", &path, &bearer(&portal), Some(&body.to_string()));
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["result"]["name"], name);
    assert_eq!(created["result"]["priority"], 10);
    let id = created["result"]["id"].as_str().unwrap().to_owned();
    let (status, _, edited) = call(
        &d,
        "PATCH",
        &format!("{path}/{id}"),
        &bearer(&portal),
        Some(r#"{"priority": 20}"#),
    );
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["result"]["id"], id.as_str());
    assert_eq!(edited["result"]["priority"], 20);
    assert_eq!(edited["result"]["ttl"], 300);
    assert_eq!(
        dig(d.dns, &[name, "MX", "+short"]).trim(),
        "20 mail.example.go.id."
    );
    let rows = store_query(
        &d.dir,
        &format!(
            "SELECT r.api_id, u.name FROM records r JOIN users u ON u.id = r.user_id \
             WHERE r.owner = '{name}.'"
        ),
    );
    assert_eq!(rows, vec![json!([id, "portal"])], "{rows:?}");
    let (_, _, listed) = call(
        &d,
        "GET",
        &format!("{path}?type=MX&name={name}"),
        &bearer(&portal),
        None,
    );
    assert_eq!(listed["result"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["result_info"]["total_count"], 1, "{listed}");
}

#[test]
fn the_official_sdk_with_an_agencys_token() {
    let (_tmp, d, tokens, _, dinkes) = start("");
    let name = "app.dinkes.example.go.id";
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cloudflare/sdk.py"
        ))
        .args([
            &format!("http://{}/client/v4", d.api),
            &dinkes,
            "example.go.id",
            name,
        ])
        .output()
        .expect("python3 of the test environment (the README's test command makes it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: std::collections::HashMap<String, Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["step"].as_str().unwrap().to_owned(), v))
        .collect();
    assert_eq!(steps["zones"]["count"], 1);
    assert_eq!(steps["zone"]["name"], "example.go.id");
    let id = steps["create"]["id"].as_str().unwrap();
    assert_eq!(steps["create"]["content"], "203.0.113.60");
    assert_eq!(steps["create"]["ttl"], 3600.0);
    assert_eq!(steps["create_txt"]["content"], "sdk-note");
    assert_eq!(steps["list"]["ids"], json!([id]));
    // Every record of the zone, two a page, through the SDK's own paging: the apex's NS,
    // ns1, www, dinkes, dishub, host.ent and the two just made (not the SOA, not the signer's).
    assert_eq!(
        steps["list_all_pages"]["count"], 8,
        "{}",
        steps["list_all_pages"]
    );
    assert_eq!(steps["get"]["content"], "203.0.113.60");
    assert_eq!(steps["update"]["id"], id);
    assert_eq!(steps["update"]["content"], "203.0.113.61");
    assert_eq!(steps["update"]["ttl"], 600.0);
    assert_eq!(steps["edit"]["id"], id);
    assert_eq!(steps["edit"]["content"], "203.0.113.62");
    for (step, status, code) in [
        ("bad_content", 400, 1004),
        ("proxied", 400, 9041),
        ("duplicate", 400, 81057),
        ("unknown_zone", 404, 7003),
        ("unknown_record", 404, 81044),
        ("bad_token", 403, 9109),
        ("deleted", 404, 81044),
    ] {
        let s = &steps[step];
        assert_eq!(s["status"], status, "{step}: {s}");
        assert_eq!(s["success"], false, "{step}: {s}");
        assert_eq!(s["errors"][0]["code"], code, "{step}: {s}");
    }
    assert_eq!(steps["delete"]["id"], id);
    assert!(steps.contains_key("done"));
    assert_eq!(a(&d, name), "");
    // Seven changes by the agency's token, each audited with it as actor; the records it
    // made were DINKES's.
    let changes = audit_changes(&d, &tokens[5]);
    let mine: Vec<&Value> = changes
        .iter()
        .filter(|e| e["actor"] == "portal-dinkes")
        .collect();
    assert_eq!(mine.len(), 6, "{changes:#?}");
}

#[test]
fn what_each_token_may_do_and_hostile_requests() {
    let (_tmp, d, tokens, portal, dinkes) = start("");
    let zones = call(
        &d,
        "GET",
        "/client/v4/zones?name=example.go.id",
        &bearer(&portal),
        None,
    )
    .2;
    let zone_id = zones["result"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/client/v4/zones/{zone_id}/dns_records");
    let post =
        |token: &str, body: Value| call(&d, "POST", &path, &bearer(token), Some(&body.to_string()));
    let a_record =
        |name: &str| json!({"type": "A", "name": name, "content": "203.0.113.90", "ttl": 1});
    // An agency's token: its names and new ones; not the office's, another agency's or the
    // apex; nobody writes the audit anchor.
    assert_eq!(post(&dinkes, a_record("www.dinkes")).0, 200);
    assert_eq!(post(&dinkes, a_record("baru")).0, 200);
    assert_eq!(a(&d, "baru.example.go.id"), "203.0.113.90");
    for name in ["www", "dishub", "x.dishub", "@"] {
        assert_eq!(
            failed(&post(&dinkes, a_record(name))),
            (403, 9109),
            "{name}"
        );
    }
    // Names that belong to the zone itself, reserved labels, a delegation, a name above
    // others' (an empty non-terminal): none is an agency's to take.
    for name in [
        "_acme-challenge",
        "_dmarc",
        "sel._domainkey",
        "autodiscover",
        "ent",
    ] {
        let txt = json!({"type": "TXT", "name": name, "content": "x", "ttl": 300});
        assert_eq!(failed(&post(&dinkes, txt)), (403, 9109), "{name}");
    }
    let ns = json!({"type": "NS", "name": "sub.dinkes", "content": "ns.example.org", "ttl": 300});
    assert_eq!(failed(&post(&dinkes, ns)), (403, 9109));
    // Service labels below its own name are its own.
    let dmarc =
        json!({"type": "TXT", "name": "_dmarc.dinkes", "content": "v=DMARC1; p=none", "ttl": 300});
    assert_eq!(post(&dinkes, dmarc).0, 200);
    // A name an open request holds is that request's.
    let r = post_json(
        &d,
        "/api/v1/requests",
        &tokens[0],
        &request_body("create", "diminta", "203.0.113.8", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(failed(&post(&dinkes, a_record("diminta"))), (409, 1004));
    // Another agency's record cannot be changed or deleted by id, nor one's own moved there.
    let (_, _, listed) = call(
        &d,
        "GET",
        &format!("{path}?name=dishub"),
        &bearer(&portal),
        None,
    );
    let theirs = listed["result"][0]["id"].as_str().unwrap().to_owned();
    let theirs_path = format!("{path}/{theirs}");
    assert_eq!(
        failed(&call(&d, "DELETE", &theirs_path, &bearer(&dinkes), None)),
        (403, 9109)
    );
    let moved = json!({"content": "203.0.113.91"}).to_string();
    assert_eq!(
        failed(&call(
            &d,
            "PATCH",
            &theirs_path,
            &bearer(&dinkes),
            Some(&moved)
        )),
        (403, 9109)
    );
    let (_, _, mine) = call(
        &d,
        "GET",
        &format!("{path}?name=www.dinkes"),
        &bearer(&dinkes),
        None,
    );
    assert_eq!(mine["result_info"]["total_count"], 1, "{mine}");
    let mine = mine["result"][0]["id"].as_str().unwrap().to_owned();
    let away = json!({"name": "x.dishub"}).to_string();
    assert_eq!(
        failed(&call(
            &d,
            "PATCH",
            &format!("{path}/{mine}"),
            &bearer(&dinkes),
            Some(&away)
        )),
        (403, 9109)
    );
    assert_eq!(a(&d, "dishub.example.go.id"), "203.0.113.21");

    // Ids: a record changed keeps its id, and the same content made again gets another.
    let (_, _, first) = post(
        &dinkes,
        json!({"type": "A", "name": "app.dinkes", "content": "203.0.113.1", "ttl": 300}),
    );
    let first = first["result"]["id"].as_str().unwrap().to_owned();
    let first_path = format!("{path}/{first}");
    let two = json!({"content": "203.0.113.2"}).to_string();
    assert_eq!(
        call(&d, "PATCH", &first_path, &bearer(&dinkes), Some(&two)).0,
        200
    );
    let (_, _, again) = post(
        &dinkes,
        json!({"type": "A", "name": "app.dinkes", "content": "203.0.113.1", "ttl": 300}),
    );
    let again = again["result"]["id"].as_str().unwrap().to_owned();
    assert_ne!(again, first);
    let (_, _, read) = call(&d, "GET", &first_path, &bearer(&dinkes), None);
    assert_eq!(read["result"]["content"], "203.0.113.2", "{read}");
    // A record added with another TTL gives the set its TTL; the others keep their ids.
    let (status, _, _) = post(
        &dinkes,
        json!({"type": "A", "name": "app.dinkes", "content": "203.0.113.3", "ttl": 600}),
    );
    assert_eq!(status, 200);
    let (status, _, read) = call(&d, "GET", &first_path, &bearer(&dinkes), None);
    assert_eq!(
        (status, read["result"]["ttl"].as_u64()),
        (200, Some(600)),
        "{read}"
    );
    // Changing one into the other's content would merge them: refused.
    let one = json!({"content": "203.0.113.1"}).to_string();
    assert_eq!(
        failed(&call(
            &d,
            "PATCH",
            &first_path,
            &bearer(&dinkes),
            Some(&one)
        )),
        (400, 81057)
    );
    // Two MX of one host told apart by their priority.
    for priority in [10, 20] {
        let mx = json!({"type": "MX", "name": "app.dinkes", "content": "mail.example.go.id", "priority": priority, "ttl": 300});
        assert_eq!(post(&dinkes, mx).0, 200, "{priority}");
    }
    let (_, _, mxs) = call(
        &d,
        "GET",
        &format!("{path}?type=MX&name=app.dinkes.example.go.id"),
        &bearer(&dinkes),
        None,
    );
    let ten = mxs["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["priority"] == 10)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(
            &d,
            "DELETE",
            &format!("{path}/{ten}"),
            &bearer(&dinkes),
            None
        )
        .0,
        200
    );
    assert_eq!(
        dig(d.dns, &["app.dinkes.example.go.id", "MX", "+short"]).trim(),
        "20 mail.example.go.id."
    );
    // A filter it does not know is refused, not ignored.
    assert_eq!(
        failed(&call(
            &d,
            "GET",
            &format!("{path}?name.contains=dinkes"),
            &bearer(&dinkes),
            None
        )),
        (400, 1004)
    );

    // The new name baru is DINKES's now: the office's portal may change it too.
    let anchor = json!({"type": "TXT", "name": "_audit", "content": "forged", "ttl": 300});
    assert_eq!(failed(&post(&portal, anchor)), (403, 9109));
    assert_eq!(post(&portal, a_record("www")).0, 200);
    // The SOA and the signer's records are not this API's.
    let soa =
        json!({"type": "SOA", "name": "@", "content": "ns1 hostmaster 1 2 3 4 5", "ttl": 300});
    assert_eq!(failed(&post(&portal, soa)), (400, 1004));
    // A CNAME beside other records: the zone's rules.
    let cname =
        json!({"type": "CNAME", "name": "www", "content": "dinkes.example.go.id", "ttl": 300});
    assert_eq!(failed(&post(&portal, cname)), (400, 1004));
    // Other roles' tokens, no token, a wrong one.
    assert_eq!(
        failed(&post(&tokens[0], a_record("x.dinkes"))),
        (403, 10000)
    );
    assert_eq!(failed(&post(&tokens[5], a_record("x"))), (403, 10000));
    assert_eq!(
        failed(&call(&d, "GET", "/client/v4/zones", &[], None)),
        (400, 6003)
    );
    assert_eq!(
        failed(&call(&d, "GET", "/client/v4/zones", &bearer("nope"), None)),
        (403, 9109)
    );
    // An integration's token opens nothing of ranah's own API.
    let r = curl(&d, "GET", "/api/v1/requests", Some(&portal), &[]);
    assert_eq!(r.json["items"], json!([]), "{}", r.json);
    let r = post_json(
        &d,
        "/api/v1/requests",
        &portal,
        &request_body("create", "x", "203.0.113.9", false),
    );
    assert_eq!(r.status, 403, "{}", r.json);
    let r = curl(&d, "GET", "/api/v1/audit", Some(&portal), &[]);
    assert_eq!(r.status, 403, "{}", r.json);
    // Hostile requests: each a 4xx in the envelope, never a 500.
    for (method, p, body, expected) in [
        ("POST", path.clone(), "{not json", (400, 9207)),
        ("POST", path.clone(), "[]", (400, 9207)),
        ("POST", path.clone(), r#"{"type": "A"}"#, (400, 1004)),
        (
            "POST",
            path.clone(),
            r#"{"type": "A", "name": "a\u0000b", "content": "203.0.113.1"}"#,
            (400, 1004),
        ),
        (
            "POST",
            path.clone(),
            r#"{"type": "A", "name": "x", "content": "203.0.113.1", "ttl": 5}"#,
            (400, 1004),
        ),
        (
            "POST",
            path.clone(),
            r#"{"type": "A", "name": "x.example.org.", "content": "203.0.113.1"}"#,
            (400, 1004),
        ),
        (
            "POST",
            path.clone(),
            r#"{"type": "A", "name": "x", "content": "127.0.0.1"}"#,
            (400, 1004),
        ),
        ("GET", format!("{path}?per_page=100000"), "", (400, 1004)),
        ("GET", format!("{path}?page=0"), "", (400, 1004)),
        (
            "GET",
            format!("{path}/{}", "a".repeat(5000)),
            "",
            (404, 81044),
        ),
        (
            "GET",
            "/client/v4/zones/nope/dns_records".into(),
            "",
            (404, 7003),
        ),
        ("GET", "/client/v4/nothing".into(), "", (404, 7000)),
        ("POST", "/client/v4/zones".into(), "{}", (405, 7001)),
    ] {
        let body = (!body.is_empty()).then_some(body);
        assert_eq!(
            failed(&call(&d, method, &p, &bearer(&portal), body)),
            expected,
            "{method} {p} {body:?}"
        );
    }
    // Pages: two a page over every record shown, the last one short.
    let (_, _, page) = call(
        &d,
        "GET",
        &format!("{path}?per_page=2&page=1"),
        &bearer(&portal),
        None,
    );
    let total = page["result_info"]["total_count"].as_u64().unwrap();
    assert_eq!(
        page["result_info"]["total_pages"].as_u64().unwrap(),
        total.div_ceil(2)
    );
    assert_eq!(page["result"].as_array().unwrap().len(), 2);
    // The pages, read one after the other, are the whole list in its order, once each; a type
    // filter pages the same way. Neither shows the SOA or the audit anchor.
    let list = |query: &str| {
        let (status, _, body) = call(
            &d,
            "GET",
            &format!("{path}?{query}"),
            &bearer(&portal),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body
    };
    let ids = |body: &Value| -> Vec<String> {
        body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let whole = list("per_page=5000");
    assert_eq!(whole["result_info"]["total_count"].as_u64(), Some(total));
    for r in whole["result"].as_array().unwrap() {
        assert!(
            r["type"] != "SOA" && !r["name"].as_str().unwrap().starts_with("_audit."),
            "{r}"
        );
    }
    let mut paged = Vec::new();
    for n in 1..=total.div_ceil(2) {
        paged.extend(ids(&list(&format!("per_page=2&page={n}"))));
    }
    assert_eq!(paged, ids(&whole));
    assert!(ids(&list(&format!("per_page=2&page={}", total.div_ceil(2) + 1))).is_empty());
    let a_only: Vec<String> = whole["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "A")
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let first_a = list("type=A&per_page=3");
    assert_eq!(
        first_a["result_info"]["total_count"].as_u64(),
        Some(a_only.len() as u64)
    );
    assert_eq!(ids(&first_a), a_only[..3]);
    assert_eq!(list("type=SOA")["result_info"]["total_count"], 0);
    // The same record created by eight clients at once: one is written, the others are told
    // it exists (never a 404 or a 500).
    let body = json!({"type": "A", "name": "race.dinkes", "content": "203.0.113.77", "ttl": 300})
        .to_string();
    let outcomes: Vec<(u16, i64)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| call(&d, "POST", &path, &bearer(&dinkes), Some(&body))))
            .collect();
        calls
            .into_iter()
            .map(|c| {
                let reply = c.join().unwrap();
                if reply.0 == 200 {
                    (200, 0)
                } else {
                    failed(&reply)
                }
            })
            .collect()
    });
    assert_eq!(
        outcomes.iter().filter(|o| **o == (200, 0)).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == (400, 81057)).count(),
        7,
        "{outcomes:?}"
    );
    // A suspended name's records leave the list (one was added since `total`).
    let r = post_json(
        &d,
        "/api/v1/subdomains/dishub.example.go.id/suspend",
        &tokens[5],
        r#"{"reason": "Konten perjudian terdeteksi"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let after = list("per_page=5000");
    assert_eq!(after["result_info"]["total_count"].as_u64(), Some(total));
    assert!(
        after["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "dishub.example.go.id"),
        "{after}"
    );
}

/// The office turns the API's writes into requests: each write that passes the API's checks
/// opens a request for its name, entering the workflow at the configured step, and nothing
/// changes in DNS until that request's provisioning step is approved; then the write is made
/// on the name as it stands, with the id the API answered. A name an open request holds waits;
/// the office's names stay the office's; a token for all agencies writes new names for the
/// agency the office named.
#[test]
fn writes_turned_into_requests_enter_the_workflow_at_the_configured_step() {
    // The agency the office names must exist when the daemon starts: people first, then the
    // daemon again with writes turned into requests.
    let (tmp, mut d, tokens, portal, dinkes) = start("");
    d.shutdown();
    let config = "[cloudflare_api]\nwrites = \"request\"\nrequest_step = \"technical_review\"\n\
                  request_agency = \"DISHUB\"\n";
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
    let [andi, _, kadis, _, teknis, ops] = &tokens;
    let zones = call(
        &d,
        "GET",
        "/client/v4/zones?name=example.go.id",
        &bearer(&dinkes),
        None,
    )
    .2;
    let zone_id = zones["result"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/client/v4/zones/{zone_id}/dns_records");
    let send = |method: &str, at: &str, token: &str, body: Value| {
        call(&d, method, at, &bearer(token), Some(&body.to_string()))
    };
    // A write accepted as a request: 202, success, the request in a message (and in a
    // record's `meta`).
    let requested = |reply: &(u16, String, Value)| -> i64 {
        let (status, _, body) = reply;
        assert_eq!(*status, 202, "{body}");
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(body["messages"][0]["code"], 10100, "{body}");
        let message = body["messages"][0]["message"].as_str().unwrap();
        let id: i64 = message
            .strip_prefix("request ")
            .and_then(|m| m.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{body}"));
        assert!(message.contains("`technical_review`"), "{body}");
        if body["result"].get("meta").is_some() {
            assert_eq!(
                body["result"]["meta"]["ranah_request"],
                json!({"id": id, "step": "technical_review"}),
                "{body}"
            );
        }
        id
    };
    let request = |id: i64| {
        let r = curl(&d, "GET", &format!("/api/v1/requests/{id}"), Some(ops), &[]);
        assert_eq!(r.status, 200, "{}", r.json);
        r.json
    };
    let act = |id: i64, token: &str, what: &str, body: &str| {
        post_json(&d, &format!("/api/v1/requests/{id}/{what}"), token, body)
    };
    // The technical team approves (the records are written), then the head of office the
    // response.
    let approve = |id: i64| {
        for token in [teknis, kadis] {
            let r = act(id, token, "approve", "{}");
            assert_eq!(r.status, 200, "{}", r.json);
        }
    };
    let read = |id: &str| call(&d, "GET", &format!("{path}/{id}"), &bearer(&dinkes), None);
    let listed = |name: &str| {
        let (_, _, body) = call(
            &d,
            "GET",
            &format!("{path}?name={name}"),
            &bearer(&dinkes),
            None,
        );
        body["result"].as_array().unwrap().clone()
    };

    // A new name by DINKES's token: a request of DINKES's at the technical review; DNS does
    // not answer it, nor the API, until the technical team approves.
    let reply = send(
        "POST",
        &path,
        &dinkes,
        json!({"type": "A", "name": "layanan", "content": "203.0.113.60", "ttl": 300,
               "comment": "Portal layanan kesehatan"}),
    );
    let first = requested(&reply);
    let record_id = reply.2["result"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.2["result"]["name"], "layanan.example.go.id");
    let view = request(first);
    assert_eq!(
        (
            view["kind"].as_str(),
            view["status"].as_str(),
            view["step"].as_str(),
            view["agency"].as_str(),
            view["purpose"].as_str()
        ),
        (
            Some("create"),
            Some("in_review"),
            Some("technical_review"),
            Some("DINKES"),
            Some("Portal layanan kesehatan")
        ),
        "{view}"
    );
    assert_eq!(view["history"][0]["step"], "technical_review", "{view}");
    assert_eq!(a(&d, "layanan.example.go.id"), "");
    assert_eq!(failed(&read(&record_id)), (404, 81044));
    // The name is the open request's: another write there waits for its decision.
    let again = json!({"type": "A", "name": "layanan", "content": "203.0.113.61", "ttl": 300});
    assert_eq!(failed(&send("POST", &path, &dinkes, again)), (409, 1004));
    // The steps before the one it entered at are not its; the technical team's is.
    let r = act(first, kadis, "approve", "{}");
    assert_eq!(r.status, 409, "{}", r.json);
    let r = act(first, teknis, "approve", "{}");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(a(&d, "layanan.example.go.id"), "203.0.113.60");
    let (status, _, body) = read(&record_id);
    assert_eq!(
        (status, body["result"]["content"].as_str()),
        (200, Some("203.0.113.60")),
        "{body}"
    );
    assert_eq!(
        act(first, kadis, "approve", "{}").json["status"],
        "completed"
    );

    // A change by id: a change request; the record keeps its id. Sending the record as it is
    // asks nothing.
    let same = send(
        "PATCH",
        &format!("{path}/{record_id}"),
        &dinkes,
        json!({"content": "203.0.113.60"}),
    );
    assert_eq!(
        (same.0, same.2["messages"].clone()),
        (200, json!([])),
        "{}",
        same.2
    );
    let reply = send(
        "PATCH",
        &format!("{path}/{record_id}"),
        &dinkes,
        json!({"content": "203.0.113.62"}),
    );
    let second = requested(&reply);
    assert_eq!(reply.2["result"]["id"], record_id.as_str());
    let view = request(second);
    assert_eq!(view["kind"], "change");
    // What approval does is the write, shown to staff beside the set it gives.
    assert_eq!(
        view["write"],
        json!({"remove": {"type": "A", "value": "203.0.113.60", "ttl": 300},
               "add": {"type": "A", "value": "203.0.113.62", "ttl": 300}}),
        "{view}"
    );
    crate::console::set_password(&d, "teknis", "kata-sandi-tim-teknis");
    let browser = crate::console::Browser::new(&d);
    assert_eq!(
        browser.sign_in("teknis", "kata-sandi-tim-teknis").status,
        303
    );
    let page = browser.get(&format!("/requests/{second}"));
    assert_eq!(page.status, 200);
    for shown in [
        "Perubahan yang diminta melalui API",
        "<td>hapus</td><td>A</td><td>203.0.113.60</td>",
        "<td>tambah</td><td>A</td><td>203.0.113.62</td>",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert_eq!(a(&d, "layanan.example.go.id"), "203.0.113.60");
    // Returned, it is resubmitted as the write it is, not with other records.
    let r = act(
        second,
        teknis,
        "return",
        r#"{"note": "Periksa alamat", "reason": "technical"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let other = r#"{"records": [{"type": "A", "value": "203.0.113.99", "ttl": 300}]}"#;
    let r = act(second, andi, "resubmit", other);
    assert_eq!(r.status, 422, "{}", r.json);
    let r = act(second, andi, "resubmit", "{}");
    assert_eq!(r.status, 200, "{}", r.json);
    approve(second);
    assert_eq!(a(&d, "layanan.example.go.id"), "203.0.113.62");
    assert_eq!(read(&record_id).2["result"]["content"], "203.0.113.62");

    // A record added beside another with another TTL: the set takes the new TTL and the
    // record already there keeps its id. What changed at the name while the request was open
    // stays.
    let before = listed("dinkes");
    assert_eq!(before.len(), 1, "{before:?}");
    let kept = before[0]["id"].as_str().unwrap().to_owned();
    let reply = send(
        "POST",
        &path,
        &dinkes,
        json!({"type": "A", "name": "dinkes.example.go.id", "content": "203.0.113.22", "ttl": 600}),
    );
    let third = requested(&reply);
    let view = request(third);
    assert_eq!(view["kind"], "change");
    assert_eq!(view["records"].as_array().unwrap().len(), 2, "{view}");
    d.replace_zone(&format!(
        "{}dinkes TXT \"ditambahkan operator\"\nlayanan A 203.0.113.62\n",
        zone()
    ));
    approve(third);
    let after = listed("dinkes");
    assert_eq!(after.len(), 3, "{after:?}");
    for r in after.iter().filter(|r| r["type"] == "A") {
        assert_eq!(r["ttl"], 600, "{r}");
    }
    assert!(after.iter().any(|r| r["type"] == "TXT"), "{after:?}");
    let old = after
        .iter()
        .find(|r| r["content"] == "203.0.113.20")
        .unwrap();
    assert_eq!(old["id"], kept.as_str());
    // The operator's TXT made the name the office's (records of no agency beside the
    // agency's); the office gives it back.
    cli_ok(
        &d,
        &[
            "subdomain",
            "assign",
            "dinkes.example.go.id",
            "--agency",
            "DINKES",
        ],
    );
    // A record removed while the request was open: the approval fails and nothing changes.
    let txt = after.iter().find(|r| r["type"] == "TXT").unwrap();
    let txt_id = txt["id"].as_str().unwrap().to_owned();
    let reply = send(
        "PATCH",
        &format!("{path}/{txt_id}"),
        &dinkes,
        json!({"content": "diubah"}),
    );
    let fourth = requested(&reply);
    d.replace_zone(&format!(
        "{}layanan A 203.0.113.62\n",
        zone().replace(
            "dinkes A 203.0.113.20\n",
            "dinkes A 203.0.113.20\ndinkes A 203.0.113.22\n"
        )
    ));
    let r = act(fourth, teknis, "approve", "{}");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (409, Some("zone_rule")),
        "{}",
        r.json
    );
    let r = act(
        fourth,
        teknis,
        "reject",
        r#"{"note": "Rekaman sudah berubah", "reason": "technical"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);

    // A deletion by id of a name's last record: a delete request.
    let reply = call(
        &d,
        "DELETE",
        &format!("{path}/{record_id}"),
        &bearer(&dinkes),
        None,
    );
    let fifth = requested(&reply);
    assert_eq!(reply.2["result"]["id"], record_id.as_str());
    assert_eq!(request(fifth)["kind"], "delete");
    assert_eq!(a(&d, "layanan.example.go.id"), "203.0.113.62");
    approve(fifth);
    assert_eq!(a(&d, "layanan.example.go.id"), "");
    assert_eq!(failed(&read(&record_id)), (404, 81044));

    // A name suspended while its request was open stays suspended.
    let reply = send(
        "POST",
        &path,
        &dinkes,
        json!({"type": "TXT", "name": "dinkes", "content": "v=spf1 -all", "ttl": 600}),
    );
    let sixth = requested(&reply);
    let r = post_json(
        &d,
        "/api/v1/subdomains/dinkes.example.go.id/suspend",
        ops,
        r#"{"reason": "Konten perjudian terdeteksi"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let r = act(sixth, teknis, "approve", "{}");
    assert_eq!(r.status, 409, "{}", r.json);
    assert_eq!(a(&d, "dinkes.example.go.id"), "");

    // A request is for one name directly under the zone; a record does not move by one.
    let deeper = json!({"type": "A", "name": "www.dishub", "content": "203.0.113.63", "ttl": 300});
    assert_eq!(failed(&send("POST", &path, &portal, deeper)), (400, 1004));
    let dishub = listed("dishub")[0]["id"].as_str().unwrap().to_owned();
    let moved = json!({"name": "lain"});
    assert_eq!(
        failed(&send("PATCH", &format!("{path}/{dishub}"), &portal, moved)),
        (400, 1004)
    );
    // The record policy is the requests': a private address is refused at once.
    let private = json!({"type": "A", "name": "intra", "content": "10.0.0.1", "ttl": 300});
    assert_eq!(failed(&send("POST", &path, &dinkes, private)), (400, 1004));
    // The office's names stay the office's: no request gives one to an agency.
    let www = json!({"type": "A", "name": "www", "content": "203.0.113.65", "ttl": 300});
    assert_eq!(failed(&send("POST", &path, &portal, www)), (403, 9109));
    // Nor a name that stands above others' (`ent` above `host.ent`).
    let ent = json!({"type": "A", "name": "ent", "content": "203.0.113.66", "ttl": 300});
    assert_eq!(failed(&send("POST", &path, &portal, ent)), (403, 9109));
    // The portal's token (all agencies): a new name is the agency the office named's.
    let reply = send(
        "POST",
        &path,
        &portal,
        json!({"type": "A", "name": "baru", "content": "203.0.113.64", "ttl": 1}),
    );
    let seventh = requested(&reply);
    let view = request(seventh);
    assert_eq!(
        (view["agency"].as_str(), view["kind"].as_str()),
        (Some("DISHUB"), Some("create")),
        "{view}"
    );
    assert!(
        view["purpose"]
            .as_str()
            .unwrap()
            .starts_with("Diajukan melalui API kompatibel Cloudflare: tambah baru.example.go.id A"),
        "{view}"
    );
    // Each opening is in the audit trail with the integration as actor and the step.
    let r = curl(&d, "GET", "/api/v1/audit?limit=1000", Some(ops), &[]);
    let opened: Vec<&Value> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "request.submitted")
        .collect();
    assert_eq!(opened.len(), 7, "{opened:?}");
    assert_eq!(
        opened
            .iter()
            .filter(|e| e["actor"] == "portal-dinkes")
            .count(),
        6
    );
    for e in &opened {
        assert_eq!(e["summary"]["entered_at_step"], "technical_review", "{e}");
    }
}

/// A step the workflow lacks, one after the step that provisions, or an agency the store
/// lacks is a configuration error: the daemon does not start, and says which key.
#[test]
fn a_bad_request_step_or_agency_stops_the_start() {
    let tmp = Daemon::workdir("example.go.id.zone", &zone());
    for (variable, value, key, says) in [
        (
            "RANAH_CLOUDFLARE_API_REQUEST_STEP",
            "response",
            "cloudflare_api.request_step",
            "never be written",
        ),
        (
            "RANAH_CLOUDFLARE_API_REQUEST_STEP",
            "nowhere",
            "cloudflare_api.request_step",
            "has no step",
        ),
        (
            "RANAH_CLOUDFLARE_API_REQUEST_AGENCY",
            "NOPE",
            "cloudflare_api.request_agency",
            "no agency NOPE",
        ),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .current_dir(tmp.path())
            .env("RANAH_DATA_DIR", tmp.path().join("data"))
            .env("RANAH_ZONES_DIR", tmp.path().join("zones"))
            .env("RANAH_DNS_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("RANAH_API_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("RANAH_CLOUDFLARE_API_WRITES", "request")
            .env(variable, value)
            .env("RANAH_LOG", "warn")
            .env_remove("RANAH_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(key) && stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
