//! The data directory's disk fills while the daemon runs: submissions, approvals and uploads
//! fail with a 503 problem that says so (not a 500, not a hang) and leave nothing half-written,
//! DNS keeps answering, and once space is freed the same calls succeed without a restart.
//!
//! The data directory is a small tmpfs mounted for the test: that takes root (and the right to
//! mount, CAP_SYS_ADMIN, which CI's root has). Without it the test fails and says why.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::client::{self, Answer};
use crate::harness::*;

/// The store's connections (its pool's size).
const POOL: usize = 4;

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let uid = Command::new("id").arg("-u").output().expect("id");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test mounts a small tmpfs as the data directory: run it as root (CI does)"
        );
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (root needs CAP_SYS_ADMIN for this test): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: whatever still holds a file there, the mount goes.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Empty the write-ahead log into the database and truncate it, so that the next write needs
/// new space on the disk (a log that kept its size from earlier writes would take a few more
/// writes before the disk's fullness shows).
fn truncate_wal(db: &Path) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for _ in 0..100 {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the write-ahead log could not be checkpointed");
    });
    assert_eq!(
        std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len()),
        0
    );
}

/// Write `file` until the disk is full; its size.
fn fill(file: &Path) -> u64 {
    let mut f = std::fs::File::create(file).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let block = vec![0x55u8; chunk];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", file.display()),
            }
        }
    }
    written
}

/// The refusal a full disk must give.
fn assert_full(what: &str, r: &Reply) {
    assert_eq!(r.status, 503, "{what} on a full disk: {}", r.json);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{what}: {}",
        r.content_type
    );
    assert_eq!(r.json["code"], "store_unavailable", "{what}: {}", r.json);
    let detail = r.json["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("disk") && detail.contains("full"),
        "{what}: the detail says the disk is full: {detail}"
    );
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_disk_refuses_writes_with_503_keeps_dns_answering_and_recovers() {
    let _serial = crate::one_at_a_time();
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mount = Tmpfs::mount(&data, "8m");
    let d = Daemon::start_in(tmp.path());
    let tokens = setup_people(&d);
    let [andi, _, kadis, kabid, teknis, ops] = &tokens;

    // A request at the step that provisions, its letter attached; and the state to compare.
    let r = post_json(
        &d,
        "/api/v1/requests",
        andi,
        &request_body("create", "penuh", "203.0.113.70", false),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    let path = format!("/api/v1/requests/{id}");
    attach_letter(&d, andi, id);
    for token in [kadis, kabid] {
        assert_eq!(
            post_json(&d, &format!("{path}/approve"), token, "{}").status,
            200
        );
    }
    let request_before = curl(&d, "GET", &path, Some(ops), &[]).json;
    assert_eq!(request_before["step"], "technical_review");
    let list =
        |d: &Daemon| curl(d, "GET", "/api/v1/requests", Some(ops), &[]).json["total"].clone();
    let trail = |d: &Daemon| {
        curl(d, "GET", "/api/v1/audit?limit=1000", Some(ops), &[]).json["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let (requests_before, trail_before) = (list(&d), trail(&d));
    let dns = d.dns;
    let serial = || client::soa_serial(dns, "example.go.id.", Duration::from_secs(2));
    let serial_before = serial().expect("the SOA");
    let attachments = data.join("attachments");
    let files_before = files(&attachments);

    // DNS answers throughout, from here to the end.
    let asking = Arc::new(AtomicBool::new(true));
    let asker = {
        let asking = asking.clone();
        std::thread::spawn(move || {
            let (mut asked, mut wrong) = (0u64, Vec::new());
            while asking.load(Ordering::SeqCst) {
                asked += 1;
                let a = client::lookup_a(dns, "www.example.go.id.", false);
                if a != Some(Answer::of(Some([203, 0, 113, 10].into()))) {
                    wrong.push(a);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (asked, wrong)
        })
    };

    // The disk fills.
    truncate_wal(&data.join("ranah.db"));
    let filler = data.join("filler");
    let filled = fill(&filler);

    // Every write is refused, and says why; more of them than the store has connections, so
    // that each connection meets the full disk at least once.
    for i in 0..POOL + 1 {
        let r = post_json(
            &d,
            "/api/v1/requests",
            andi,
            &request_body("create", &format!("baru{i}"), "203.0.113.71", false),
        );
        assert_full("a submission", &r);
        let r = post_json(&d, &format!("{path}/approve"), teknis, "{}");
        assert_full("an approval", &r);
    }
    let upload = tmp.path().join("rekomendasi.png");
    // Bytes not stored yet (a stored file is kept once), so the upload has to write.
    std::fs::write(&upload, SCAN_PNG).unwrap();
    let r = curl(
        &d,
        "POST",
        &format!("{path}/attachments"),
        Some(andi),
        &["-F", &format!("recommendation=@{}", upload.display())],
    );
    assert_full("an upload", &r);

    // Nothing half-written: the request, the zone, the trail and the files are as before.
    let request_now = curl(&d, "GET", &path, Some(ops), &[]).json;
    for field in ["status", "step", "history", "attachments", "updated_at"] {
        assert_eq!(
            request_now[field], request_before[field],
            "{field} changed on a full disk"
        );
    }
    assert_eq!(
        client::lookup_a(d.dns, "penuh.example.go.id.", false),
        Some(Answer::NoSuchName)
    );
    assert_eq!(serial(), Some(serial_before), "the serial moved");
    assert_eq!(list(&d), requests_before);
    assert_eq!(trail(&d), trail_before);
    assert_eq!(
        files(&attachments),
        files_before,
        "a file was left on a full disk"
    );

    // Space returns: the same calls succeed, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let r = post_json(&d, &format!("{path}/approve"), teknis, "{}");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["step"], "response");
    assert_eq!(
        client::lookup_a(d.dns, "penuh.example.go.id.", false),
        Some(Answer::of(Some([203, 0, 113, 70].into())))
    );
    // Every connection of the store works again (one that met the full disk inside a
    // transaction is not handed out again).
    for i in 0..2 * POOL {
        let r = post_json(
            &d,
            "/api/v1/requests",
            andi,
            &request_body("create", &format!("baru{i}"), "203.0.113.71", false),
        );
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let r = curl(
        &d,
        "POST",
        &format!("{path}/attachments"),
        Some(andi),
        &["-F", &format!("recommendation=@{}", upload.display())],
    );
    assert_eq!(r.status, 200, "{}", r.json);

    asking.store(false, Ordering::SeqCst);
    let (asked, wrong) = asker.join().unwrap();
    assert!(wrong.is_empty(), "DNS did not answer: {wrong:?}");

    // The trail verifies (the daemon is stopped first so that the check reads a quiet store).
    drop(d);
    let out = ranah_cli(tmp.path(), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "ranah audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "disk full: {filled} bytes of filler on an 8 MiB tmpfs; {n} submissions, {n} approvals and \
         an upload each refused with 503 store_unavailable (disk full), nothing written; {asked} \
         DNS queries during the test, all answered; after the filler was removed the approval, \
         {m} submissions and the upload succeeded without a restart; the trail verifies",
        n = POOL + 1,
        m = 2 * POOL
    );
    drop(mount);
}
