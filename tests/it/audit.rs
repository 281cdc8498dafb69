//! The audit trail against the real daemon: every kind of action lands in it, `_audit.<zone>`
//! carries its head, an independent script recomputes every hash, and an edit, a deletion or a
//! reordering of the stored rows (the guarding triggers dropped first, as an intruder would) is
//! found and named.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

/// Recompute every hash of the trail in the store at `argv[2]` (read with the database's own
/// client, `store_client.py` at `argv[1]`) with Python's json and hashlib: RFC 8785
/// canonical JSON of the fields other than `hash` (for these values, sorted keys and no
/// whitespace), SHA-256, the chain from 64 zeros. Prints `ok N` or `bad SEQ`.
const RECOMPUTE: &str = r#"
import hashlib, json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from store_client import connect
db = connect(sys.argv[2])
prev, n = "0" * 64, 0
for row in db.execute("SELECT seq, at, actor, role, action, target, summary, note, client, prev_hash, hash FROM audit_events ORDER BY seq").fetchall():
    seq, at, actor, role, action, target, summary, note, client, prev_hash, stored = row
    n += 1
    fields = {"seq": seq, "at": at, "actor": actor, "role": role, "action": action,
              "target": target, "summary": json.loads(summary), "note": note,
              "client": client, "prev_hash": prev_hash}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if seq != n or prev_hash != prev or digest != stored:
        print("bad", n)
        sys.exit(0)
    prev = stored
print("ok", n)
"#;

fn python(args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 is required for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The recomputation of the trail of the store of `dir` (see [`RECOMPUTE`]).
fn recompute(dir: &Path) -> String {
    let client = store_client();
    python(&[
        "-c",
        RECOMPUTE,
        client.to_str().unwrap(),
        &store_location(dir),
    ])
}

/// Run SQL on the store of `dir` as an intruder: the triggers that refuse changes to `table`
/// dropped (disabled) first.
fn tamper(dir: &Path, table: &str, sql: &str) {
    let out = store_exec(dir, sql, Some(table));
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify_cli(dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    let out = ranah_cli(dir, &all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json_end = stdout.find("\n}").map_or(stdout.len(), |i| i + 2);
    let json = serde_json::from_str(&stdout[..json_end]).unwrap_or(Value::Null);
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), json, text)
}

#[test]
fn every_action_is_in_a_verifiable_chain() {
    let mut d = Daemon::start_test_zone();
    let tokens = setup_people(&d);
    let ops = tokens[5].clone();
    let out = d.cli(&["user", "add", "inspektur", "--role", "auditor"]);
    assert!(out.status.success());
    let auditor = String::from_utf8_lossy(&d.cli(&["token", "create", "inspektur"]).stdout)
        .trim()
        .to_owned();

    // Actions of every kind: a request walked to provisioning (the API), a suspension and its
    // lifting, an owner assignment and a token revocation (the CLI).
    let id = provision(&d, &tokens, "sipd", "203.0.113.80");
    for action in ["suspend", "unsuspend"] {
        let r = post_json(
            &d,
            &format!("/api/v1/subdomains/sipd.example.go.id/{action}"),
            &ops,
            r#"{"reason": "Pemeriksaan keamanan"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert!(
        d.cli(&[
            "subdomain",
            "assign",
            "www.example.go.id",
            "--agency",
            "DISHUB"
        ])
        .status
        .success()
    );
    assert!(
        d.cli(&["user", "add", "sementara", "--role", "technical"])
            .status
            .success()
    );
    assert!(d.cli(&["token", "create", "sementara"]).status.success());
    let listed = String::from_utf8_lossy(&d.cli(&["token", "list"]).stdout).into_owned();
    let token_id = listed
        .lines()
        .find(|l| l.contains("sementara"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(d.cli(&["token", "revoke", &token_id]).status.success());
    assert!(d.cli(&["user", "disable", "sementara"]).status.success());

    // Only auditors and admins read the trail.
    let r = curl(&d, "GET", "/api/v1/audit", Some(&tokens[0]), &[]);
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = curl(&d, "GET", "/api/v1/audit?limit=1000", Some(&auditor), &[]);
    assert_eq!(r.status, 200, "{}", r.json);
    let events = r.json["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "zone.import",
        "agency.add",
        "user.add",
        "token.create",
        "request.submitted",
        "request.approved",
        "zone.change",
        "subdomain.assign",
        "request.attachment",
        "token.revoke",
        "user.disable",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    // The approvals of the request, in order, with actor, role, client and step.
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/audit?request={id}"),
        Some(&auditor),
        &[],
    );
    let steps: Vec<(&str, &str, &str)> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "request.attachment")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["role"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        steps[..4],
        [
            ("request.submitted", "andi", "applicant"),
            ("request.approved", "kadis", "head_of_office"),
            ("request.approved", "kabid", "head_of_division"),
            ("request.approved", "teknis", "technical"),
        ]
    );
    assert_eq!(r.json["items"][0]["client"], "127.0.0.1");
    assert_eq!(r.json["items"][0]["summary"]["name"], "sipd");
    // The provisioning change names the records and both serials; the suspension its reason.
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "zone.change")
        .collect();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0]["actor"], "teknis");
    assert_eq!(changes[0]["summary"]["request"], id);
    assert!(
        changes[0]["summary"]["added"]["records"][0]
            .as_str()
            .unwrap()
            .starts_with("sipd.example.go.id. 3600 A 203.0.113.80")
    );
    assert!(
        changes[0]["summary"]["serial_after"].as_u64()
            > changes[0]["summary"]["serial_before"].as_u64()
    );
    assert_eq!(
        (changes[1]["actor"].as_str(), changes[1]["role"].as_str()),
        (Some("ops"), Some("admin"))
    );
    assert!(
        changes[1]["summary"]["reason"]
            .as_str()
            .unwrap()
            .contains("Pemeriksaan keamanan")
    );
    // Paging.
    let r = curl(
        &d,
        "GET",
        "/api/v1/audit?limit=2&after=2",
        Some(&auditor),
        &[],
    );
    let seqs: Vec<i64> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!((seqs, r.json["next_after"].as_i64()), (vec![3, 4], Some(4)));
    let r = curl(&d, "GET", "/api/v1/audit?limit=0", Some(&auditor), &[]);
    assert_eq!(r.status, 400);

    // DNS serves the head as of the last zone change; it is in the chain.
    let txt = dig(d.dns, &["+short", "_audit.example.go.id.", "TXT"]);
    let txt = txt.trim().trim_matches('"');
    let (seq, head) = txt
        .strip_prefix("seq=")
        .and_then(|t| t.split_once(" head="))
        .unwrap_or_else(|| panic!("unexpected anchor {txt}"));
    let anchored = events
        .iter()
        .find(|e| e["seq"].as_i64() == seq.parse().ok())
        .unwrap();
    assert_eq!(anchored["hash"], head);
    assert_eq!(anchored["action"], "zone.change");
    let (ok, json, text) = verify_cli(&d.dir, &["--against", &format!("{head}@{seq}")]);
    assert!(ok, "{text}");
    assert_eq!(json["ok"], true);
    let (ok, _, text) = verify_cli(&d.dir, &["--against", &format!("{}@{seq}", "0".repeat(64))]);
    assert!(!ok && text.contains("NOT in the chain"), "{text}");

    // The API agrees, and so does an independent recomputation.
    let r = curl(&d, "GET", "/api/v1/audit/verify", Some(&auditor), &[]);
    let total = r.json["events"].as_u64().unwrap();
    assert_eq!(
        (r.json["ok"].as_bool(), r.json["first_bad"].is_null()),
        (Some(true), true)
    );
    assert!(total as usize >= events.len());
    d.shutdown();
    assert_eq!(recompute(&d.dir), format!("ok {total}"));
    assert_eq!(r.json["head"], json["head"]);

    // The store refuses UPDATE and DELETE of events.
    for sql in [
        "DELETE FROM audit_events WHERE seq = 1",
        "UPDATE audit_events SET note = 'x' WHERE seq = 1",
    ] {
        let refused = store_exec(&d.dir, sql, None);
        assert!(!refused.status.success(), "{sql}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("append-only"),
            "{sql}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }

    // An intruder edits, deletes or reorders rows: verify fails and names the sequence.
    let cases = [
        (
            "UPDATE audit_events SET note = 'disetujui' WHERE seq = 7",
            7,
        ),
        ("DELETE FROM audit_events WHERE seq = 5", 5),
        (
            "UPDATE audit_events SET seq = -1 WHERE seq = 9; \
             UPDATE audit_events SET seq = 9 WHERE seq = 10; \
             UPDATE audit_events SET seq = 10 WHERE seq = -1; \
             CREATE TABLE t AS SELECT * FROM audit_events ORDER BY seq; DELETE FROM audit_events; \
             INSERT INTO audit_events SELECT * FROM t; DROP TABLE t;",
            9,
        ),
    ];
    for (sql, bad) in cases {
        let copy = store_copy(&d.dir);
        tamper(copy.path(), "audit_events", sql);
        let (ok, json, text) = verify_cli(copy.path(), &[]);
        assert!(!ok, "{sql}: {text}");
        assert_eq!(json["first_bad"], bad, "{sql}: {text}");
        assert!(
            text.contains(&format!("broken at sequence {bad}")),
            "{text}"
        );
        assert_eq!(recompute(copy.path()), format!("bad {bad}"), "{sql}");
    }
}

/// An Ed25519 public key (hex) as a PEM file openssl reads.
fn public_pem(dir: &Path, hex_key: &str) -> PathBuf {
    use base64::Engine as _;
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend(hex::decode(hex_key).unwrap());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    let file = dir.join("audit-public.pem");
    std::fs::write(&file, pem).unwrap();
    file
}

/// Check a checkpoint's signature with openssl, not ranah's code.
fn openssl_verifies(dir: &Path, c: &Value) -> bool {
    let text = format!(
        "ranah-audit-checkpoint\n{} {}\nseq={}\nhead={}\n",
        c["kind"].as_str().unwrap(),
        c["label"].as_str().unwrap(),
        c["seq"],
        c["hash"].as_str().unwrap()
    );
    std::fs::write(dir.join("checkpoint.txt"), text).unwrap();
    std::fs::write(
        dir.join("checkpoint.sig"),
        hex::decode(c["signature"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let pem = public_pem(dir, c["public_key"].as_str().unwrap());
    Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&pem)
        .arg("-rawin")
        .arg("-in")
        .arg(dir.join("checkpoint.txt"))
        .arg("-sigfile")
        .arg(dir.join("checkpoint.sig"))
        .output()
        .expect("openssl is required for this test")
        .status
        .success()
}

#[test]
fn the_head_is_signed_daily_and_checked() {
    use base64::Engine as _;
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let seed = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let config = format!("[audit]\nsigning_key = \"{seed}\"\n");
    let dns: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut d = Daemon::start_configured(tmp.path(), dns, Some(&config));
    // The daily checkpoint is signed at start.
    assert!(eventually(10, || {
        let (ok, _, text) = verify_cli(&d.dir, &[]);
        ok && text.contains("signed checkpoints: 1 checked, 0 bad")
    }));
    d.shutdown();
    let rows = store_query(
        &d.dir,
        "SELECT kind, label, seq, hash, public_key, signature FROM audit_checkpoints",
    );
    let [row] = rows.as_slice() else {
        panic!("one checkpoint: {rows:?}");
    };
    let keys = ["kind", "label", "seq", "hash", "public_key", "signature"];
    let checkpoint: Value = keys
        .iter()
        .zip(row.as_array().unwrap())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(checkpoint["kind"], "daily");
    assert!(openssl_verifies(tmp.path(), &checkpoint), "{checkpoint}");

    // A forged checkpoint (another head) does not verify.
    let copy = store_copy(&d.dir);
    tamper(
        copy.path(),
        "audit_checkpoints",
        "UPDATE audit_checkpoints SET seq = seq - 1",
    );
    let (ok, _, text) = verify_cli(copy.path(), &[]);
    assert!(!ok && text.contains("do not verify"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_month_is_signed_in_its_report() {
    use base64::Engine as _;
    use chrono::TimeZone;
    let env = in_process().await;
    let store = &env.store;
    // Events in October (office time), then one in November.
    let october = chrono::Utc.with_ymd_and_hms(2026, 10, 20, 2, 0, 0).unwrap();
    for i in 0..3 {
        let entry = ranah::domain::audit::AuditEntry::cli(
            "test.event",
            format!("t/{i}"),
            serde_json::json!({}),
        );
        store.audit(&entry, october).await.unwrap();
    }
    let november = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap();
    let entry =
        ranah::domain::audit::AuditEntry::cli("test.event", "t/late", serde_json::json!({}));
    store.audit(&entry, november).await.unwrap();

    let signer = ranah::audit::checkpoint::Signer::from_base64(
        &base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
    )
    .unwrap();
    let workflow = ranah::domain::workflow::Workflow::preset("kaltara").unwrap();
    let calendar = ranah::domain::calendar::Calendar::default_wita([]);
    let report =
        ranah::service::reports::monthly(store, &workflow, &calendar, "2026-10", Some(&signer))
            .await
            .unwrap();
    let head = report.audit_head.unwrap();
    // The head at October's end is the last October event.
    let events = store
        .audit_events(&ranah::store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let last_october = events
        .iter()
        .rev()
        .find(|e| e.at.starts_with("2026-10"))
        .unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (last_october.seq, last_october.hash.as_str())
    );
    let c = serde_json::json!({
        "kind": "monthly", "label": "2026-10", "seq": head.seq, "hash": head.hash,
        "public_key": head.public_key.unwrap(), "signature": head.signature.unwrap(),
    });
    let dir = tempfile::tempdir().unwrap();
    assert!(openssl_verifies(dir.path(), &c));
    // The current month is not over: its head is not signed.
    let month = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let now = ranah::service::reports::monthly(store, &workflow, &calendar, &month, Some(&signer))
        .await
        .unwrap();
    assert!(now.audit_head.unwrap().signature.is_none());
}
