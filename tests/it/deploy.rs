//! What a production install relies on, with the real binary: the state private to ranah's user
//! whatever the umask, and one clear error naming the capability when port 53 cannot be bound.
//! The package and the unit themselves: tests/deploy/check.sh.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// Under a shell's usual umask (0022, which leaves files world-readable) the data directory is
/// 0700 and everything ranah writes in it 0600: the database, its WAL and shared memory (while
/// the daemon runs), the attachments' folder, an uploaded letter and the response letter.
#[test]
fn data_files_are_private_whatever_the_umask() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    // The files of a SQLite store and its attachments (a PostgreSQL store keeps both in its
    // server, whose folder is PostgreSQL's).
    pin_sqlite(tmp.path());
    let dns = ([127, 0, 0, 1], free_port()).into();
    let mut d = Daemon::start_process_with_umask(tmp.path(), dns, "0022");
    let tokens = setup_people(&d);
    let id = provision(&d, &tokens, "sipd", "203.0.113.10");
    // The head of office completes it: the response letter is written beside the upload.
    let r = post_json(
        &d,
        &format!("/api/v1/requests/{id}/approve"),
        &tokens[2],
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "completed", "{}", r.json);

    let data = tmp.path().join("data");
    assert_eq!(mode(&data), 0o700, "the data directory");
    for name in ["ranah.db", "ranah.db-wal", "ranah.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let attachments = data.join("attachments");
    assert_eq!(mode(&attachments), 0o700, "the attachments' folder");
    let files: Vec<_> = std::fs::read_dir(&attachments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        2,
        "the letter and the response letter: {files:?}"
    );
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    d.shutdown();
    // Nothing else was left behind with another mode (temporary files, a journal).
    for entry in walk(&data) {
        let m = mode(&entry);
        let expected = if entry.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(m, expected, "{}: {m:o}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// A user without CAP_NET_BIND_SERVICE (nobody, run through setpriv with no capability when the
/// tests run as root; the test's own user otherwise) cannot bind 127.0.0.1:53: ranah says so
/// once, names the capability and both fixes, and exits with 1.
#[test]
fn port_53_without_the_capability_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
        .unwrap()
        .trim()
        == "0";
    let mut command = if root {
        // nobody must be able to reach the data directory: the store opens before DNS binds.
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
        ]);
        c
    } else {
        Command::new(BIN)
    };
    let out = command
        .arg("serve")
        .current_dir(tmp.path())
        .env_remove("RANAH_CONFIG")
        .env("RANAH_DATA_DIR", tmp.path().join("data"))
        .env("RANAH_ZONES_DIR", tmp.path().join("zones"))
        .env("RANAH_DNS_LISTEN", "127.0.0.1:53")
        .env("RANAH_API_LISTEN", "127.0.0.1:0")
        .env("RANAH_LOG", "error")
        .output()
        .expect("run ranah");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot listen for DNS on udp 127.0.0.1:53: permission denied"),
        "{stderr}"
    );
    assert!(stderr.contains("CAP_NET_BIND_SERVICE"), "{stderr}");
    assert!(stderr.contains("AmbientCapabilities="), "{stderr}");
    assert!(
        stderr.contains(&format!("setcap cap_net_bind_service=+ep {BIN}")),
        "{stderr}"
    );
    assert_eq!(
        stderr.to_lowercase().matches("permission denied").count(),
        1,
        "said once: {stderr}"
    );
}

/// The configurations of the two-instance layout (deploy/two-sites/) load as an instance would
/// load them, with the secrets of `ranah.env.example` in its environment: PostgreSQL as the
/// store, each host's own addresses, no unknown key or variable.
#[test]
fn the_two_site_configurations_load() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = std::fs::read_to_string(repo.join("deploy/two-sites/ranah.env.example")).unwrap();
    let vars: Vec<(String, String)> = env
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let v = match k {
                "RANAH_KEY_ENCRYPTION_KEY" => "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                "RANAH_TSIG_XFR_KEY" => "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAxMjM=",
                _ => v,
            };
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(vars.len(), 3, "{vars:?}");
    for (host, address) in [("ns1", "203.0.113.53"), ("ns2", "203.0.113.54")] {
        let file = repo.join(format!("deploy/two-sites/ranah-{host}.toml"));
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&file)
            .arg("check-config")
            .env_clear()
            .envs(vars.iter().cloned())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{host}: {stderr}");
        assert!(!stderr.contains("unknown"), "{host}: {stderr}");
        assert!(
            stdout.contains(&format!("\"{address}:53\"")),
            "{host}: {stdout}"
        );
        assert!(stdout.contains("database_url"), "{stdout}");
        assert!(!stdout.contains("CHANGE-ME"), "a secret is shown: {stdout}");
    }
}
