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
