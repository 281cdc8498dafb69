//! `ranah backup` and `ranah restore` with the real binary: a backup taken while approvals
//! stream restores to a consistent store; a restore that would go behind a real Knot secondary
//! is refused, `--force` restores it with the serial moved past the secondary's, which then
//! transfers the zone again, and the audit trail and its `_audit` anchor continue; a store at
//! an older schema is backed up before it is migrated.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::secondaries::{SECRET, start_knot};

/// Response rate limiting off: the tests ask many questions from 127.0.0.1.
const NO_RRL: &str = "[dns.rrl]\nenabled = false\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `ranah ARGS` in `dir`; it must succeed; its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ranah_cli(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The manifest of an archive, read with `tar` (the format needs no ranah to inspect).
fn manifest(archive: &Path) -> Value {
    let out = tool(
        "tar",
        &[
            "-xOf",
            archive.to_str().unwrap(),
            "--auto-compress",
            "manifest.json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The audit trail's head as `(seq, hash)`, from `ranah audit verify` in `dir` (which must
/// pass).
fn verified_head(dir: &Path) -> (i64, String) {
    let out = ok(dir, &["audit", "verify"]);
    let start = out.find('{').unwrap();
    let end = out.rfind('}').unwrap();
    let v: Value = serde_json::from_str(&out[start..=end]).unwrap();
    assert_eq!(v["ok"], true, "{out}");
    (
        v["events"].as_i64().unwrap(),
        v["head"].as_str().unwrap().to_owned(),
    )
}

fn soa_serial(addr: SocketAddr) -> Option<u32> {
    dig(addr, &["example.go.id.", "SOA", "+short"])
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
}

fn anchor(addr: SocketAddr) -> String {
    dig(addr, &["_audit.example.go.id.", "TXT", "+short"])
        .trim()
        .trim_matches('"')
        .to_owned()
}

/// A fresh directory holding the test zone's file.
/// A working directory whose store is SQLite whatever the run: `ranah backup` and `restore`
/// copy SQLite stores (a PostgreSQL store is backed up with pg_dump; `postgres::` tests that
/// the commands say so).
fn workdir() -> tempfile::TempDir {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    pin_sqlite(tmp.path());
    tmp
}

/// Every request of the store a daemon serves: name → whether its records are provisioned.
/// In the kaltara workflow the technical team's approval provisions them, and the request then
/// waits at the `response` step (the response letter) until it is completed.
fn requests(d: &Daemon, token: &str) -> BTreeMap<String, bool> {
    let mut all = BTreeMap::new();
    for page in 1.. {
        let path = format!("/api/v1/requests?per_page=100&page={page}");
        let r = curl(d, "GET", &path, Some(token), &[]);
        assert_eq!(r.status, 200, "{}", r.json);
        let items = r.json["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        for i in items {
            all.insert(
                i["name"].as_str().unwrap().to_owned(),
                i["status"] == "completed" || i["step"] == "response",
            );
        }
    }
    all
}

/// How many requests wait at the `response` step (provisioned, not completed).
fn provisioned(d: &Daemon, token: &str) -> usize {
    let r = curl(
        d,
        "GET",
        "/api/v1/requests?step=response&per_page=1",
        Some(token),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["total"].as_u64().unwrap() as usize
}

/// Most requests the approval stream makes (each one address in 203.0.113.0/24).
const STREAM: usize = 150;

/// Backups taken while approvals stream (each a submission, a letter and three approvals, from
/// another thread) restore each into a new directory to a consistent store: the trail
/// verifies, every request the copy holds as completed is answered in DNS with its record, and
/// every other is not; what was approved after the copy is not there.
#[test]
fn backups_while_approvals_stream_restore_consistently() {
    let tmp = workdir();
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(NO_RRL));
    let tokens = setup_people(&d);
    let [andi, _, kadis, ..] = &tokens;
    let stop = AtomicBool::new(false);
    let mut archives: Vec<PathBuf> = Vec::new();
    let mut took = Vec::new();
    let approved = std::thread::scope(|s| {
        let streaming = s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut n = 0;
            while n < STREAM && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                provision(
                    &d,
                    &tokens,
                    &format!("app{n:03}"),
                    &format!("203.0.113.{}", 10 + n),
                );
                n += 1;
            }
            n
        });
        // Three backups while requests move (one of them compressed), after 1, 21 and 41
        // requests were provisioned.
        for (i, name) in ["one.tar", "two.tar.gz", "three.tar"].iter().enumerate() {
            assert!(
                eventually(90, || provisioned(&d, kadis) > i * 20),
                "the approvals stalled"
            );
            let file = tmp.path().join(name);
            let started = Instant::now();
            let out = ok(tmp.path(), &["backup", file.to_str().unwrap()]);
            took.push(started.elapsed());
            assert!(out.contains("backup written to"), "{out}");
            archives.push(file);
            assert!(
                !streaming.is_finished(),
                "the approvals ended before backup {name} did"
            );
        }
        stop.store(true, Ordering::Relaxed);
        streaming.join().unwrap()
    });
    assert!(approved > 40, "only {approved} requests streamed");
    let live = requests(&d, kadis);
    drop(d);
    // Nothing of the backups is left beside them.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ranah"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    for archive in &archives {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(archive).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", archive.display());
        let m = manifest(archive);
        assert_eq!(m["format"], "ranah-backup/1");
        assert_eq!(m["zones"][0]["zone"], "example.go.id.");
        let files = m["files"].as_array().unwrap();
        assert_eq!(files[0]["path"], "ranah.db");
        assert!(
            files.len() > 1,
            "the letters are in the backup: {}",
            m["files"]
        );

        let restored = workdir();
        let out = ok(restored.path(), &["restore", archive.to_str().unwrap()]);
        assert!(out.contains("now "), "{out}");
        verified_head(restored.path());
        let r = Daemon::start_configured(restored.path(), ([127, 0, 0, 1], 0).into(), Some(NO_RRL));
        let held = requests(&r, kadis);
        assert!(!held.is_empty());
        assert!(held.len() <= live.len());
        for (name, provisioned) in &held {
            let fqdn = format!("{name}.example.go.id.");
            let answer = dig(r.dns, &[&fqdn, "A", "+short"]);
            if *provisioned {
                assert!(
                    answer.trim().starts_with("203.0.113."),
                    "{} has {name} provisioned without its record: {answer:?}",
                    archive.display()
                );
            } else {
                assert_eq!(
                    answer.trim(),
                    "",
                    "{} has {name} in review with a record",
                    archive.display()
                );
            }
        }
        assert!(held.values().any(|p| *p), "{}", archive.display());
        // Its stored letters came back: the first request's letter downloads.
        let r2 = curl(
            &r,
            "GET",
            "/api/v1/requests/1/attachments/letter",
            Some(andi),
            &[],
        );
        assert_eq!(r2.status, 200, "{}", archive.display());
    }
    eprintln!(
        "backups of {} requests took {:?}; archives {:?} bytes",
        live.len(),
        took,
        archives
            .iter()
            .map(|a| std::fs::metadata(a).unwrap().len())
            .collect::<Vec<_>>()
    );
}

/// A restore that would put the zone behind a real Knot secondary is refused, naming it and
/// both serials; so is a restore while the daemon runs. With `--force` the store is restored:
/// the serial moves past Knot's, Knot transfers the zone again after the restart, the audit
/// trail verifies with `store.restored` naming the backup's and the replaced trail's heads, and
/// the `_audit` TXT published (by ranah and by Knot) is the new head.
#[test]
fn restore_refused_behind_a_secondary_then_forced() {
    let tmp = workdir();
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let knot_port = free_port();
    let config = format!(
        r#"[dns]
secondary_poll_secs = 1

[dns.rrl]
enabled = false

[[tsig_keys]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "{SECRET}"

[[secondaries]]
zone = "example.go.id"
notify = "127.0.0.1:{knot_port}"
allow_transfer = ["127.0.0.2"]
tsig_key = "xfr-key"
"#
    );
    let dir = tmp.path();
    let mut d = Daemon::start_configured(dir, dns, Some(&config));
    let tokens = setup_people(&d);
    let knot = start_knot(dir, knot_port, dns);
    let follows = |serial: Option<u32>| eventually(30, || knot.serial() == serial);
    provision(&d, &tokens, "satu", "203.0.113.81");
    let s1 = soa_serial(dns);
    assert!(follows(s1), "Knot did not follow to {s1:?}");

    let archive = dir.join("before-dua.tar");
    ok(dir, &["backup", archive.to_str().unwrap()]);
    assert_eq!(manifest(&archive)["zones"][0]["serial"], s1.unwrap());
    let backup_head = manifest(&archive)["audit_head"].clone();

    provision(&d, &tokens, "dua", "203.0.113.82");
    let s2 = soa_serial(dns).unwrap();
    assert!(follows(Some(s2)), "Knot did not follow to {s2}");

    let restore = |force: bool| {
        let mut args = vec![
            "--config",
            "ranah.toml",
            "restore",
            archive.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        ranah_cli(dir, &args)
    };
    // While the daemon runs: refused, nothing changed.
    let out = restore(true);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    assert_eq!(soa_serial(dns), Some(s2));

    d.shutdown();
    let replaced_head = verified_head(dir);
    // Knot is ahead of the backup: refused, naming it and both serials.
    let out = restore(false);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let e = stderr(&out);
    for needle in [
        format!("secondary 127.0.0.1:{knot_port}"),
        format!("serial {s2}"),
        format!("backup's serial {}", s1.unwrap()),
        "--force".to_owned(),
    ] {
        assert!(e.contains(&needle), "{needle:?} not in {e}");
    }
    assert_eq!(
        verified_head(dir),
        replaced_head,
        "a refusal changes nothing"
    );

    // Forced: restored, and the serial moves past Knot's.
    let started = Instant::now();
    let out = restore(true);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("overridden with --force"), "{said}");
    let saved: Vec<String> = std::fs::read_dir(dir.join("data/backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        saved.len() == 1 && saved[0].starts_with("pre-restore-"),
        "{saved:?}"
    );
    let (seq, head) = verified_head(dir);
    assert!(seq > backup_head["seq"].as_i64().unwrap());

    let d = Daemon::start_configured(dir, dns, Some(&config));
    let s3 = soa_serial(dns).unwrap();
    let ahead = s3.wrapping_sub(s2);
    assert!(
        ahead > 0 && ahead < 1 << 31,
        "restored serial {s3} is not ahead of Knot's {s2}"
    );
    assert!(
        follows(Some(s3)),
        "Knot did not transfer the restored zone ({:?})",
        knot.serial()
    );
    // The restored zone: what the backup held, not what came after.
    assert_eq!(
        dig(dns, &["satu.example.go.id.", "A", "+short"]).trim(),
        "203.0.113.81"
    );
    assert_eq!(dig(dns, &["dua.example.go.id.", "A", "+short"]).trim(), "");
    assert!(eventually(30, || dig(
        knot.addr,
        &["dua.example.go.id.", "A", "+short"]
    )
    .trim()
    .is_empty()));
    // The anchor is the new head, in ranah and in Knot, and in the chain.
    let expected = format!("seq={seq} head={head}");
    assert_eq!(anchor(dns), expected);
    assert!(eventually(30, || anchor(knot.addr) == expected));
    ok(
        dir,
        &["audit", "verify", "--against", &format!("{head}@{seq}")],
    );
    // The event that records the restore.
    let r = curl(
        &d,
        "GET",
        "/api/v1/audit?action=store.restored",
        Some(&tokens[5]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let event = &r.json["items"][0];
    let summary = &event["summary"];
    assert_eq!(summary["backup_head"], backup_head);
    assert_eq!(summary["replaced_head"]["seq"], replaced_head.0);
    assert_eq!(summary["replaced_head"]["hash"], replaced_head.1);
    assert_eq!(summary["forced"], true);
    assert_eq!(summary["secondaries"][0]["serial"], s2);
    assert_eq!(summary["serials"][0]["restored"], s3);
    assert_eq!(summary["manifest_sha256"].as_str().unwrap().len(), 64);
    eprintln!("restore (forced, one secondary asked, store saved first) took {took:?}");
}

/// A store at the schema before the latest is backed up when the daemon starts, before it is
/// migrated; the backup restores (and is migrated then).
#[test]
fn migrations_back_up_first() {
    let tmp = workdir();
    let dir = tmp.path();
    let latest = ranah::store::latest_schema_version();
    let db = dir.join("data/ranah.db");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection as _;
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let all = sqlx::migrate!("migrations/sqlite");
        let mut before = sqlx::migrate::Migrator::with_migrations(
            all.iter().filter(|m| m.version < latest).cloned().collect(),
        );
        before.locking = false;
        before.run(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO agencies (code, name, created_at) VALUES \
             ('LAMA', 'Dinas Lama', '2026-01-01T00:00:00.000Z')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });

    let d = Daemon::start_configured(dir, ([127, 0, 0, 1], 0).into(), Some(NO_RRL));
    let backups: Vec<PathBuf> = std::fs::read_dir(dir.join("data/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let prefix = format!("pre-migration-{:04}-{latest:04}-", latest - 1);
    assert!(name.starts_with(&prefix), "{name}");
    let m = manifest(&backups[0]);
    assert_eq!(m["schema_version"], latest - 1);
    // Started a second time: nothing pending, no new backup.
    drop(d);
    let d = Daemon::start_configured(dir, ([127, 0, 0, 1], 0).into(), Some(NO_RRL));
    assert_eq!(
        std::fs::read_dir(dir.join("data/backups")).unwrap().count(),
        1
    );
    drop(d);

    let restored = workdir();
    let out = ok(restored.path(), &["restore", backups[0].to_str().unwrap()]);
    assert!(out.contains(&format!("schema {}", latest - 1)), "{out}");
    // The restored store holds the agency, at the latest schema.
    let out = ranah_cli(restored.path(), &["agency", "add", "LAMA", "Lagi"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    verified_head(restored.path());

    // A damaged archive is refused with what is wrong, and changes nothing.
    let mut bytes = std::fs::read(&backups[0]).unwrap();
    bytes.truncate(bytes.len() / 2);
    let cut = dir.join("cut.tar");
    std::fs::write(&cut, bytes).unwrap();
    let before = verified_head(restored.path());
    let out = ranah_cli(restored.path(), &["restore", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a usable ranah backup"),
        "{}",
        stderr(&out)
    );
    assert_eq!(verified_head(restored.path()), before);
}
