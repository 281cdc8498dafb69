//! ranah on PostgreSQL, on clusters these tests start themselves (tests/postgres/cluster.sh):
//! the connection as libpq's `sslmode` says (TLS with rustls, the server's certificate
//! checked against `sslrootcert`), and what only a PostgreSQL store does. The rest of the
//! integration tests run against PostgreSQL too, in a second pass (tests/run-all.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::harness::*;

/// A PostgreSQL cluster of this test's own on a free loopback port, stopped and removed when
/// dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    /// `postgres://ranah:PASSWORD@127.0.0.1:PORT` (no database).
    pub server: String,
}

fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres/cluster.sh")
}

impl PgCluster {
    /// Start a cluster; with `tls`, the directory of a certificate for 127.0.0.1
    /// (`cert.pem`, `key.pem`) it also takes TLS with.
    pub fn start(tls: Option<&Path>) -> PgCluster {
        // Under /tmp: the server runs as `nobody` when the tests run as root, and must reach
        // its folder.
        let dir = tempfile::Builder::new()
            .prefix("ranah-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let port = free_port().to_string();
        let mut args = vec![
            "start".to_owned(),
            dir.path().join("cluster").display().to_string(),
            port,
        ];
        if let Some(tls) = tls {
            args.push(tls.join("cert.pem").display().to_string());
            args.push(tls.join("key.pem").display().to_string());
        }
        let out = Command::new(cluster_script()).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "cluster.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        PgCluster { dir, server }
    }

    /// A new database on it; returns its URL.
    pub fn database(&self, name: &str) -> String {
        create_database(&self.server, name);
        format!("{}/{name}", self.server)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cluster/server.log")).unwrap_or_default()
    }

    /// Stop the server (a fast shutdown: open sessions end).
    pub fn stop(&self) {
        let out = Command::new(cluster_script())
            .arg("stop")
            .arg(self.dir.path().join("cluster"))
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    /// Start it again after [`PgCluster::stop`], on the same port.
    pub fn resume(&self) {
        let out = Command::new(cluster_script())
            .arg("resume")
            .arg(self.dir.path().join("cluster"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new(cluster_script())
            .arg("stop")
            .arg(self.dir.path().join("cluster"))
            .output();
    }
}

/// `ranah ARGS` against the database at `url`, with the data of `dir`.
fn ranah_on(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("RANAH_DATA_DIR", dir.join("data"))
        .env("RANAH_ZONES_DIR", dir.join("zones"))
        .env("RANAH_DATABASE_URL", url)
        .env("RANAH_LOG", "warn")
        .env_remove("RANAH_CONFIG")
        .output()
        .unwrap()
}

/// `sslmode` as libpq spells it: `verify-full` with the server's CA connects over TLS (the
/// server logs the session as encrypted), without the CA it is refused with the reason,
/// `require` encrypts without checking, `disable` does not encrypt; a server without TLS
/// refuses `require`.
#[test]
fn sslmode_is_read_as_libpq_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    crate::pebble::listener_certificate(&pki);
    let pg = PgCluster::start(Some(&pki));
    let base = pg.database("ranah");
    let ca = pki.join("ca.pem");

    let verified = format!(
        "{base}?sslmode=verify-full&sslrootcert={}&application_name=verified",
        ca.display()
    );
    let out = ranah_on(tmp.path(), &verified, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migration(s) applied"));
    let encrypted = |name: &str| {
        pg.log().lines().any(|l| {
            l.contains("connection authorized")
                && l.contains(&format!("application_name={name}"))
                && l.contains("SSL enabled")
        })
    };
    assert!(encrypted("verified"), "{}", pg.log());

    // Without the CA, verify-full refuses the server's certificate, and says so.
    let unverified = format!("{base}?sslmode=verify-full");
    let out = ranah_on(tmp.path(), &unverified, &["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate") && !stderr.contains("panicked"),
        "{stderr}"
    );

    // `require` encrypts without checking; `disable` does not encrypt.
    let out = ranah_on(
        tmp.path(),
        &format!("{base}?sslmode=require&application_name=required"),
        &["migrate"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(encrypted("required"));
    let out = ranah_on(
        tmp.path(),
        &format!("{base}?sslmode=disable&application_name=plain"),
        &["migrate"],
    );
    assert!(out.status.success());
    assert!(!encrypted("plain"));
    assert!(
        pg.log()
            .lines()
            .any(|l| l.contains("connection authorized") && l.contains("application_name=plain")),
        "{}",
        pg.log()
    );

    // A server without TLS: `require` is refused, with the reason.
    let plain = PgCluster::start(None);
    let url = plain.database("ranah");
    let out = ranah_on(tmp.path(), &format!("{url}?sslmode=require"), &["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS") || stderr.contains("SSL") || stderr.contains("ssl"),
        "{stderr}"
    );
}

/// A wrong password or an unreachable server is one clear line and exit status 1, not a
/// panic.
#[test]
fn a_wrong_password_or_no_server_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgCluster::start(None);
    let url = pg.database("ranah");
    let wrong = url.replace(":ranah-test@", ":not-the-password@");
    let out = ranah_on(tmp.path(), &wrong, &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed") && !stderr.contains("panicked"),
        "{stderr}"
    );
    pg.stop();
    let out = ranah_on(tmp.path(), &url, &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Instances on one PostgreSQL must seal the zones' DNSSEC keys with the same key: without a
/// configured one, an instance that signs refuses to start and says what to set (a key of its
/// own, in its data directory, would seal keys the others cannot open); one that signs
/// nothing needs none.
#[test]
fn a_signing_instance_on_postgresql_needs_a_configured_key_encryption_key() {
    let (tmp, _pg, url) = workdir_on_postgresql();
    let serve = |signing: &str| {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .current_dir(tmp.path())
            .env("RANAH_DATA_DIR", tmp.path().join("data"))
            .env("RANAH_ZONES_DIR", tmp.path().join("zones"))
            .env("RANAH_DATABASE_URL", &url)
            .env("RANAH_DNS_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("RANAH_API_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("RANAH_DNSSEC_ENABLED", signing)
            .env("RANAH_LOG", "warn")
            .env_remove("RANAH_CONFIG")
            .env_remove("RANAH_DNSSEC_KEY_ENCRYPTION_KEY")
            .stdin(Stdio::null());
        command
    };
    let out = serve("true").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a PostgreSQL store needs dnssec.key_encryption_key")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!tmp.path().join("data/dnssec.kek").exists());
    // Signing off: it starts (and stops on SIGTERM).
    let mut child = serve("false").spawn().unwrap();
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(20) && !ready {
        ready = store_query(tmp.path(), "SELECT COUNT(*) FROM instances")
            .first()
            .and_then(|r| r[0].as_i64())
            .is_some_and(|n| n > 0);
        assert!(child.try_wait().unwrap().is_none(), "it stopped");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ready, "it never reported itself in the store");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

/// The behaviour tests' zone in a directory whose store is the database `ranah` on a cluster
/// of its own (returned with its URL: it runs until dropped).
fn workdir_on_postgresql() -> (tempfile::TempDir, PgCluster, String) {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let pg = PgCluster::start(None);
    let url = pg.database("ranah");
    std::fs::write(tmp.path().join(".database-url"), &url).unwrap();
    (tmp, pg, url)
}

/// `ranah backup` copies SQLite stores only: on PostgreSQL it says what to use instead, and
/// changes nothing.
#[test]
fn backup_on_postgresql_points_to_pg_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgCluster::start(None);
    let url = pg.database("ranah");
    let archive = tmp.path().join("b.tar");
    let out = ranah_on(tmp.path(), &url, &["backup", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!archive.exists());
}

/// The backup and restore of docs/operations.md, word for word: `pg_dump --format=custom`
/// while the instance serves, more approvals, then everything stopped and the dump restored
/// with `pg_restore --no-owner --role=ranah` into an empty database. The instance started on
/// it serves the zone as at the dump (the name approved after it is gone), the letter kept in
/// the database comes back byte for byte, the audit trail verifies, the append-only triggers
/// came back with the schema, and approvals go on from the restored serial.
#[test]
fn a_pg_dump_restored_with_pg_restore_serves_the_zone_as_dumped() {
    let (tmp, pg, url) = workdir_on_postgresql();
    let d = Daemon::start_in(tmp.path());
    let tokens = setup_people(&d);
    let before = provision(&d, &tokens, "sebelum", "203.0.113.10");
    let dumped_serial = serial(&d);
    let dump = tmp.path().join("ranah.dump");
    run_ok(
        Command::new("pg_dump")
            .args(["--format=custom", "--file"])
            .arg(&dump)
            .arg(&url),
    );
    provision(&d, &tokens, "sesudah", "203.0.113.11");
    assert!(serial(&d) > dumped_serial);
    drop(d);

    // Into an empty database (dropdb and createdb, as the guide does it, in a second one).
    let restored = pg.database("restored");
    run_ok(
        Command::new("pg_restore")
            .args(["--no-owner", "--role=ranah", "--exit-on-error", "--dbname"])
            .arg(&restored)
            .arg(&dump),
    );
    std::fs::write(tmp.path().join(".database-url"), &restored).unwrap();
    let d = Daemon::start_in(tmp.path());
    assert_eq!(serial(&d), dumped_serial);
    let a = |name: &str| {
        let m = query(d.dns, &format!("{name}.example.go.id."), RecordType::A, UDP);
        m.answers.first().map(|r| r.data.to_string())
    };
    assert_eq!(a("sebelum").as_deref(), Some("203.0.113.10"));
    assert_eq!(a("sesudah"), None);
    let letter = tmp.path().join("letter-back.pdf");
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{before}/attachments/letter"),
        Some(&tokens[0]),
        &["-o", letter.to_str().unwrap()],
    );
    assert_eq!(r.status, 200);
    assert_eq!(std::fs::read(&letter).unwrap(), LETTER_PDF);
    let verified = cli_ok(&d, &["audit", "verify"]);
    let report: serde_json::Value = verified
        .find('{')
        .zip(verified.rfind('}'))
        .and_then(|(start, end)| serde_json::from_str(&verified[start..=end]).ok())
        .unwrap_or_else(|| panic!("{verified}"));
    assert_eq!(report["ok"], true, "{verified}");
    let out = store_exec(tmp.path(), "DELETE FROM audit_events", None);
    assert!(!out.status.success(), "the append-only triggers came back");
    provision(&d, &tokens, "lagi", "203.0.113.12");
    assert!(serial(&d) > dumped_serial);
    assert_eq!(a("lagi").as_deref(), Some("203.0.113.12"));
}

/// The append-only rules hold in PostgreSQL itself, for any client: history and audit events
/// are never updated, deleted or truncated.
#[test]
fn history_and_audit_are_append_only_in_postgresql() {
    let (tmp, _pg, _url) = workdir_on_postgresql();
    let d = Daemon::start_in(tmp.path());
    let tokens = setup_people(&d);
    provision(&d, &tokens, "sipd", "203.0.113.10");
    drop(d);
    for (table, sql) in [
        (
            "audit_events",
            "UPDATE audit_events SET note = 'x' WHERE seq = 1",
        ),
        ("audit_events", "DELETE FROM audit_events WHERE seq = 1"),
        ("audit_events", "TRUNCATE audit_events"),
        ("request_events", "UPDATE request_events SET note = 'x'"),
        ("request_events", "DELETE FROM request_events"),
        ("request_events", "TRUNCATE request_events CASCADE"),
        ("audit_checkpoints", "TRUNCATE audit_checkpoints"),
    ] {
        let before = store_query(tmp.path(), &format!("SELECT COUNT(*) FROM {table}"));
        let out = store_exec(tmp.path(), sql, None);
        assert!(!out.status.success(), "{sql}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("append-only"), "{sql}: {stderr}");
        let after = store_query(tmp.path(), &format!("SELECT COUNT(*) FROM {table}"));
        assert_eq!(before, after, "{sql}");
    }
    // Other tables take changes as ever.
    let out = store_exec(tmp.path(), "UPDATE agencies SET name = name", None);
    assert!(out.status.success());
}

/// An instance whose view is behind the store (another instance removed a record a moment
/// ago) asked to add that record finds "nothing to do" on its view: on a shared store it
/// decides again on the zone as stored, and the record is written, not reported done with
/// nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_instance_decides_nothing_to_do_on_the_zone_as_stored() {
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record};
    use ranah::publish::{ChangeOp, ChangeSet, Publisher};
    use std::sync::Arc;

    let pg = PgCluster::start(None);
    let url = pg.database("ranah");
    let first = in_process_on(Some(url.clone())).await;
    let store = ranah::store::Store::open(&url).await.unwrap();
    let second = Publisher::new(store, Arc::new(ranah::dns::Zones::new()));
    second.sync_from_store(chrono::Utc::now()).await.unwrap();
    let www = Record::from_rdata(
        Name::from_ascii("www.example.go.id.").unwrap(),
        3600,
        RData::A(A::new(203, 0, 113, 10)),
    );
    let change = |op: ChangeOp| ChangeSet {
        zone: origin(),
        ops: vec![op],
        meta: ranah::store::ChangeMeta {
            reason: "test".into(),
            ..Default::default()
        },
    };
    let removed = first
        .publisher
        .apply(&change(ChangeOp::Remove(www.clone())), chrono::Utc::now())
        .await
        .unwrap();
    // The second has not followed (no follower runs here): it still serves www.
    let added = second
        .apply(&change(ChangeOp::Add(www)), chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        added.serial_before, removed.serial,
        "decided on the zone as stored"
    );
    assert!(added.serial > added.serial_before, "{added:?}");
    assert_eq!(added.diff.added.len(), 1, "{added:?}");
    first
        .publisher
        .sync_from_store(chrono::Utc::now())
        .await
        .unwrap();
    let m = query(first.dns, "www.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.answers.len(), 1, "the store has www again");
}
