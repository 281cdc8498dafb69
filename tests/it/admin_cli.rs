//! Agencies, users and tokens through the command line.

use crate::harness::ranah_cli;

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = ranah_cli(dir, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn agencies_users_and_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (ok, out, err) = run(d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    assert!(ok, "{err}");
    assert!(out.contains("agency DINKES added"));
    let (ok, _, err) = run(d, &["agency", "add", "DINKES", "Again"]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");

    // An applicant needs an agency; roles come from the workflow.
    let (ok, _, err) = run(d, &["user", "add", "andi", "--role", "applicant"]);
    assert!(!ok);
    assert!(err.contains("--agency"), "{err}");
    let (ok, _, err) = run(d, &["user", "add", "x", "--role", "kepala"]);
    assert!(!ok);
    assert!(
        err.contains("unknown role `kepala`") && err.contains("head_of_office"),
        "{err}"
    );
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "add",
            "andi",
            "--role",
            "applicant",
            "--agency",
            "DINKES",
            "--email",
            "andi@dinkes.example",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        d,
        &[
            "user",
            "add",
            "budi",
            "--role",
            "head_of_division",
            "--role",
            "head_of_office@2026-12-01..2026-12-31",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(d, &["user", "add", "citra", "--role", "staff"]);
    assert!(
        !ok,
        "staff is a role of the tarakan workflow, not of the default one"
    );
    assert!(err.contains("unknown role"), "{err}");

    // The token alone on standard output.
    let (ok, out, err) = run(d, &["token", "create", "andi", "--expires", "2099-12-31"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let token = lines[0];
    assert!(token.starts_with("ranah_") && token.len() >= 40, "{token}");
    let (ok, _, _) = run(d, &["token", "create", "andi", "--expires", "2001-01-01"]);
    assert!(!ok, "an expiry in the past is refused");

    let (ok, list, _) = run(d, &["token", "list"]);
    assert!(ok);
    assert!(
        list.contains("andi") && list.contains("2100-01-01"),
        "{list}"
    );
    assert!(!list.contains(token), "the token itself is never listed");
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (ok, out, _) = run(d, &["token", "revoke", &id]);
    assert!(ok && out.contains("revoked"));
    let (ok, _, err) = run(d, &["token", "revoke", &id]);
    assert!(!ok, "{err}");

    let (ok, _, _) = run(d, &["user", "disable", "andi"]);
    assert!(ok);
    let (ok, _, err) = run(d, &["token", "create", "andi"]);
    assert!(!ok, "a disabled user gets no token: {err}");
    let (ok, _, _) = run(d, &["user", "disable", "nobody"]);
    assert!(!ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_names_get_owners_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let zone = d.join("example.go.id.zone");
    std::fs::write(&zone, crate::harness::test_zone()).unwrap();
    assert!(run(d, &["zone", "import", zone.to_str().unwrap()]).0);
    assert!(run(d, &["agency", "add", "DINKES", "Dinas Kesehatan"]).0);
    let owners = |name: &'static str| {
        let url = crate::harness::store_url(d);
        async move {
            let pool = crate::harness::store_pool(&url).await;
            let v: Vec<Option<i64>> =
                sqlx::query_scalar("SELECT DISTINCT agency_id FROM records WHERE owner = $1")
                    .bind(name)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            v
        }
    };
    assert_eq!(owners("portal.example.go.id.").await, vec![None]);

    // A CSV with one bad line changes nothing.
    let csv = d.join("owners.csv");
    std::fs::write(
        &csv,
        "name,agency\nportal.example.go.id,DINKES\nmissing.example.go.id,DINKES\n",
    )
    .unwrap();
    let (ok, _, err) = run(d, &["subdomain", "assign", "--csv", csv.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("missing.example.go.id"), "{err}");
    assert_eq!(owners("portal.example.go.id.").await, vec![None]);

    let (ok, out, err) = run(
        d,
        &[
            "subdomain",
            "assign",
            "Portal.Example.go.id",
            "--agency",
            "DINKES",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("1 name(s) assigned"), "{out}");
    assert_eq!(owners("portal.example.go.id.").await.len(), 1);
    assert!(owners("portal.example.go.id.").await[0].is_some());
    let (ok, _, err) = run(
        d,
        &["subdomain", "assign", "example.go.id", "--agency", "DINKES"],
    );
    assert!(!ok, "the apex is not a subdomain: {err}");
    let (ok, _, _) = run(
        d,
        &[
            "subdomain",
            "assign",
            "www.example.go.id",
            "--agency",
            "NOPE",
        ],
    );
    assert!(!ok);
}

/// `ranah audit verify | head -3`: a reader that goes away early ends the command quietly
/// (exit 0, nothing on standard error), never with a panic.
#[test]
fn output_into_a_closed_pipe_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (ok, _, err) = run(d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    assert!(ok, "{err}");
    // The pipe's reading end is closed before the command starts: its first write fails with
    // EPIPE, deterministically (Rust ignores SIGPIPE, so the write returns the error).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = crate::harness::store_env(&mut std::process::Command::new(crate::harness::BIN), d)
        .args(["audit", "verify"])
        .current_dir(d)
        .env("RANAH_DATA_DIR", d.join("data"))
        .env("RANAH_ZONES_DIR", d.join("zones"))
        .env("RANAH_LOG", "warn")
        .env_remove("RANAH_CONFIG")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}
