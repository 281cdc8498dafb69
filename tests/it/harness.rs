//! Starts the real `ranah` binary on free loopback ports, and talks to it with a DNS client
//! built on hickory-proto, with `dig`/`kdig`, and with plain HTTP.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};

pub const BIN: &str = env!("CARGO_BIN_EXE_ranah");

/// A real one-page PDF (a request letter), a PNG and a JPEG scan: attachments are checked
/// whole, so tests upload real files.
pub const LETTER_PDF: &[u8] = include_bytes!("../fixtures/letter.pdf");
pub const SCAN_PNG: &[u8] = include_bytes!("../fixtures/scan.png");
pub const SCAN_JPEG: &[u8] = include_bytes!("../fixtures/scan.jpg");

/// The zone the behaviour tests serve: the shipped zone's kinds of records plus the cases the
/// rules need (empty non-terminal, CNAME chain and loop, wildcard, a large answer).
pub fn test_zone() -> String {
    let mut z = String::from(
        r#"$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010100 3600 900 1209600 300
@ NS ns1
@ NS ns2
@ A 203.0.113.1
@ MX 10 mail
@ TXT "v=spf1 mx -all"
ns1 A 203.0.113.2
ns1 AAAA 2001:db8::2
ns2 A 203.0.113.3
mail A 203.0.113.25
www A 203.0.113.10
portal CNAME www
alias CNAME portal
loop1 CNAME loop2
loop2 CNAME loop1
outside CNAME www.example.org.
a.b.c A 203.0.113.5
*.wild TXT "wildcard"
child NS ns1.child
child NS ns2.child
ns1.child A 203.0.113.51
ns2.child A 203.0.113.52
"#,
    );
    for i in 0..40 {
        z.push_str(&format!("big TXT \"{i:02} {}\"\n", "x".repeat(90)));
    }
    z
}

pub fn origin() -> Name {
    Name::from_ascii("example.go.id.").unwrap()
}

/// A free port on 127.0.0.1 for both UDP and TCP, held for this test process alone.
///
/// Ports come from below the kernel's ephemeral range (32768 and up on Linux). A daemon on an
/// ephemeral port is not alone on it: ranah binds UDP with `SO_REUSEPORT`, and so do `dig` and
/// `delv` for their own sockets, so the kernel may give a client of the same user the daemon's
/// port, and that client then receives its own query instead of the answer.
///
/// Test processes run in parallel: each port is claimed with a lock on a file named after it,
/// held until the process ends, so two processes never hand out the same port (two daemons on
/// one port would both bind it, `SO_REUSEPORT`, and share its queries).
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static CLAIMED: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("ranah-test-ports");
    std::fs::create_dir_all(&dir).unwrap();
    // Ports 10000..30000, each process starting at its own place.
    let start = std::process::id() % 1000 * 20;
    for _ in 0..20_000 {
        let port = 10_000 + ((start + NEXT.fetch_add(1, Ordering::Relaxed)) % 20_000) as u16;
        let Ok(file) = std::fs::File::create(dir.join(port.to_string())) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // another test process holds it
        }
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            CLAIMED.lock().unwrap().push(file);
            return port;
        }
    }
    panic!("no free port");
}

/// The database URL of the store in `dir`, when the tests run against PostgreSQL
/// (`TEST_POSTGRES_URL` names a server, as `postgres://USER:PASSWORD@HOST:PORT`): a database
/// of its own there, created the first time `dir` is used and remembered in it
/// (`.database-url`, which a test may also write itself), so that a restart and the CLI find
/// the same store. `None`: SQLite under `dir/data`, the default.
pub fn database_url(dir: &Path) -> Option<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let file = dir.join(".database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return (url != PINNED_SQLITE).then_some(url);
    }
    let server = std::env::var("TEST_POSTGRES_URL").ok()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    create_database(&server, &name);
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&file, &url).unwrap();
    Some(url)
}

/// Point `command` (ranah) at the store of `dir`: the PostgreSQL database of the run, or the
/// default SQLite under its data directory. On PostgreSQL, with the key that seals DNSSEC
/// keys such a store requires (every instance on it has the same: [`SHARED_STORE_KEK`]).
pub fn store_env<'c>(command: &'c mut Command, dir: &Path) -> &'c mut Command {
    match database_url(dir) {
        Some(url) => command
            .env("RANAH_DATABASE_URL", url)
            .env("RANAH_DNSSEC_KEY_ENCRYPTION_KEY", SHARED_STORE_KEK),
        None => command
            .env_remove("RANAH_DATABASE_URL")
            .env_remove("RANAH_DNSSEC_KEY_ENCRYPTION_KEY"),
    }
}

/// Run `command` (a tool the test needs), which must succeed; its output.
pub fn run_ok(command: &mut Command) -> std::process::Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The key that seals DNSSEC keys in a PostgreSQL store the tests use (base64, 32 bytes).
pub const SHARED_STORE_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// What `.database-url` holds for a directory whose store is SQLite whatever the run.
const PINNED_SQLITE: &str = "sqlite";

/// Keep the store of `dir` on SQLite in every run (for what only SQLite has: the files of
/// `ranah backup`, the database file's modes).
pub fn pin_sqlite(dir: &Path) {
    std::fs::write(dir.join(".database-url"), PINNED_SQLITE).unwrap();
}

/// Where the store of `dir` is for a client of the database's own: its PostgreSQL URL, or its
/// SQLite file.
pub fn store_location(dir: &Path) -> String {
    database_url(dir).unwrap_or_else(|| dir.join("data/ranah.db").display().to_string())
}

/// The URL of the store of `dir` (as the daemon and the CLI there use it).
pub fn store_url(dir: &Path) -> String {
    database_url(dir)
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("data/ranah.db").display()))
}

/// A pool on the store at `url`, whichever database it is, behind ranah's back.
pub async fn store_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

/// The script that reaches a store behind ranah's back (tests/fixtures/store_client.py).
pub fn store_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store_client.py")
}

fn run_store_client(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(store_client())
        .args(args)
        .output()
        .expect("python3 (the test environment's) is required")
}

/// The rows `sql` selects from the store of `dir`, each as its JSON list of values.
pub fn store_query(dir: &Path, sql: &str) -> Vec<Value> {
    let out = run_store_client(&["query", &store_location(dir), sql]);
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Run `sql` on the store of `dir` as someone with the database's own client would; with
/// `untrigger`, that table's guarding triggers are dropped (disabled) first, as an intruder
/// would. Returns the client's output (the caller asserts success or refusal).
pub fn store_exec(dir: &Path, sql: &str, untrigger: Option<&str>) -> std::process::Output {
    let location = store_location(dir);
    let mut args = vec!["exec", &location, sql];
    if let Some(table) = untrigger {
        args.extend(["--untrigger", table]);
    }
    run_store_client(&args)
}

/// A copy of the store of `dir` (stopped) and of its data directory's files, in a new
/// directory: another database on the same PostgreSQL server, or the copied SQLite file.
pub fn store_copy(dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    for entry in std::fs::read_dir(dir.join("data")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(
                entry.path(),
                tmp.path().join("data").join(entry.file_name()),
            )
            .unwrap();
        }
    }
    if let (Some(url), Ok(server)) = (database_url(dir), std::env::var("TEST_POSTGRES_URL")) {
        let (_, from) = url.rsplit_once('/').unwrap();
        let to = format!("{from}_copy{}", std::process::id());
        let to = format!("{to}_{}", tmp.path().file_name().unwrap().to_string_lossy());
        let to: String = to
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        psql(&server, &format!("CREATE DATABASE {to} TEMPLATE {from}"));
        std::fs::write(
            tmp.path().join(".database-url"),
            format!("{}/{to}", server.trim_end_matches('/')),
        )
        .unwrap();
    }
    tmp
}

/// Create the database `name` on the PostgreSQL server at `server`.
pub fn create_database(server: &str, name: &str) {
    psql(server, &format!("CREATE DATABASE {name}"));
}

/// Run `sql` on the `postgres` database of `server`.
fn psql(server: &str, sql: &str) {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &format!("{}/postgres", server.trim_end_matches('/')),
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running ranah: in this process (the default: started on port 0 where the test lets it,
/// ready when `start` returns, stopped when dropped), or as the real binary (for what only a
/// process shows: signals, exit codes, a crash).
pub struct Daemon {
    pub dir: PathBuf,
    pub dns: SocketAddr,
    pub api: SocketAddr,
    child: Option<Child>,
    in_process: Option<(tokio::runtime::Runtime, ranah::daemon::Running)>,
    _tmp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// A new working directory with `zones/<origin>zone` holding `zone`.
    pub fn workdir(zone_file: &str, zone: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("zones")).unwrap();
        std::fs::write(tmp.path().join("zones").join(zone_file), zone).unwrap();
        tmp
    }

    /// Start with the test zone in a fresh directory.
    pub fn start_test_zone() -> Daemon {
        let tmp = Self::workdir("example.go.id.zone", &test_zone());
        let mut d = Self::start_in(tmp.path());
        d._tmp = Some(tmp);
        d
    }

    /// Start with the test zone in a fresh directory and `config` as its configuration file.
    pub fn start_test_zone_configured(config: &str) -> Daemon {
        let tmp = Self::workdir("example.go.id.zone", &test_zone());
        let mut d = Self::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
        d._tmp = Some(tmp);
        d
    }

    /// Start in `dir` (data under dir/data, zones from dir/zones), DNS on a free port, the API
    /// on a port the kernel chooses.
    pub fn start_in(dir: &Path) -> Daemon {
        Self::start_configured(dir, ([127, 0, 0, 1], 0).into(), None)
    }

    /// Start in this process in `dir` with DNS on `dns` (port 0: a [`free_port`], never one from
    /// the kernel's ephemeral range, where clients can land on it) and, if given,
    /// `dir/ranah.toml` as the configuration file (for what only the file sets: keys,
    /// secondaries). Ready when this returns.
    pub fn start_configured(dir: &Path, dns: SocketAddr, config: Option<&str>) -> Daemon {
        if dns.port() != 0 {
            return Self::try_start_configured(dir, dns, config)
                .unwrap_or_else(|e| panic!("ranah did not start: {e}"));
        }
        // A free port can still be taken between its check and the daemon's bind (once in a
        // whole run, seen in CI, by a TCP listener whose owner was not found): another port.
        let mut last = String::new();
        for _ in 0..5 {
            let dns = SocketAddr::new(dns.ip(), free_port());
            match Self::try_start_configured(dir, dns, config) {
                Ok(d) => return d,
                Err(e) if e.contains("Address already in use") => last = e,
                Err(e) => panic!("ranah did not start: {e}"),
            }
        }
        panic!("ranah did not start: {last}");
    }

    pub fn try_start_configured(
        dir: &Path,
        dns: SocketAddr,
        config: Option<&str>,
    ) -> Result<Daemon, String> {
        let mut file_layer = ranah::config::ConfigLayer::default();
        if let Some(text) = config {
            let file = dir.join("ranah.toml");
            std::fs::write(&file, text).unwrap();
            file_layer = ranah::config::ConfigLayer::from_file(&file).unwrap();
        }
        let vars = [
            ("RANAH_DATA_DIR", dir.join("data").display().to_string()),
            ("RANAH_ZONES_DIR", dir.join("zones").display().to_string()),
            ("RANAH_DNS_LISTEN", dns.to_string()),
            ("RANAH_API_LISTEN", "127.0.0.1:0".to_owned()),
            ("RANAH_DNS_STORE_POLL_SECS", "1".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into_iter()
        .chain(database_url(dir).into_iter().flat_map(|url| {
            [
                ("RANAH_DATABASE_URL".to_owned(), url),
                (
                    "RANAH_DNSSEC_KEY_ENCRYPTION_KEY".to_owned(),
                    SHARED_STORE_KEK.to_owned(),
                ),
            ]
        }));
        let (env_layer, unknown) = ranah::config::ConfigLayer::from_env(vars).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let config = file_layer.merge(env_layer).resolve().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = rt
            .block_on(ranah::daemon::start(config))
            .map_err(|e| format!("{e:#}"))?;
        Ok(Daemon {
            dir: dir.to_owned(),
            dns: running.dns[0],
            api: running.api,
            child: None,
            in_process: Some((rt, running)),
            _tmp: None,
        })
    }

    /// Start the real binary in `dir` with DNS on `dns`, and wait until it is ready.
    pub fn start_process(dir: &Path, dns: SocketAddr, config: Option<&str>) -> Daemon {
        Self::spawn_process(dir, dns, config, None, None)
    }

    /// Start the real binary in `dir` under the file-creation mask `umask` (through `sh`'s
    /// `umask`), and wait until it is ready.
    pub fn start_process_with_umask(dir: &Path, dns: SocketAddr, umask: &str) -> Daemon {
        Self::spawn_process(dir, dns, None, None, Some(umask))
    }

    /// Start the real binary logging at `info` into the file `log` (for tests that read the
    /// log), and wait until it is ready.
    pub fn start_process_logging(
        dir: &Path,
        dns: SocketAddr,
        config: Option<&str>,
        log: &Path,
    ) -> Daemon {
        Self::spawn_process(dir, dns, config, Some(log), None)
    }

    fn spawn_process(
        dir: &Path,
        dns: SocketAddr,
        config: Option<&str>,
        log: Option<&Path>,
        umask: Option<&str>,
    ) -> Daemon {
        let api: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut command = match umask {
            // `exec`: the process is still ranah's, for signals and its exit status.
            Some(umask) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\""), BIN]);
                sh
            }
            None => Command::new(BIN),
        };
        if let Some(text) = config {
            let file = dir.join("ranah.toml");
            std::fs::write(&file, text).unwrap();
            command.env("RANAH_CONFIG", file);
        } else {
            command.env_remove("RANAH_CONFIG");
        }
        store_env(&mut command, dir)
            .arg("serve")
            .current_dir(dir)
            .env("RANAH_DATA_DIR", dir.join("data"))
            .env("RANAH_ZONES_DIR", dir.join("zones"))
            .env("RANAH_DNS_LISTEN", dns.to_string())
            .env("RANAH_API_LISTEN", api.to_string())
            .env("RANAH_DNS_STORE_POLL_SECS", "1")
            .env("RANAH_LOG", if log.is_some() { "info" } else { "warn" })
            .stdin(Stdio::null());
        if let Some(log) = log {
            command.stderr(std::fs::File::create(log).expect("create the log file"));
        }
        let child = command.spawn().expect("start ranah");
        let mut d = Daemon {
            dir: dir.to_owned(),
            dns,
            api,
            child: Some(child),
            in_process: None,
            _tmp: None,
        };
        d.wait_ready();
        d
    }

    /// The process id of the real binary (None in process).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The real binary with the test zone in a fresh directory.
    pub fn start_process_test_zone() -> Daemon {
        let tmp = Self::workdir("example.go.id.zone", &test_zone());
        let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut d = Self::start_process(tmp.path(), dns, None);
        d._tmp = Some(tmp);
        d
    }

    /// Stop the daemon and wait until it has stopped (in process: a clean shutdown; the binary:
    /// SIGTERM, which must end it with success).
    pub fn shutdown(&mut self) {
        if let Some((rt, running)) = self.in_process.take() {
            rt.block_on(running.shutdown());
            rt.shutdown_timeout(Duration::from_secs(5));
        } else if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "{status}");
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("ranah exited before it was ready: {status}");
            }
            if let Ok((200, _)) = http_get(self.api, "/readyz") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("ranah was not ready within 20 s");
    }

    /// SIGKILL to the binary (a crash, a power cut), and wait until it is gone.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM to the binary, and its exit status (within 10 s).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ranah did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replace the served test zone with `text` through `ranah zone import --replace`, as an
    /// operator would while the daemon runs.
    pub fn replace_zone(&self, text: &str) {
        let file = self.dir.join("replacement.zone");
        std::fs::write(&file, text).unwrap();
        let out = self.cli(&[
            "zone",
            "import",
            file.to_str().unwrap(),
            "--origin",
            "example.go.id",
            "--replace",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run `work` on the runtime of the daemon running in this process (a service called as
    /// its background job would, with a clock the test moves on).
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        self.in_process
            .as_ref()
            .expect("a daemon in this process")
            .0
            .block_on(work)
    }

    /// The daemon running in this process (for its other addresses: the redirect to HTTPS,
    /// `/metrics` on its own).
    pub fn running(&self) -> &ranah::daemon::Running {
        &self
            .in_process
            .as_ref()
            .expect("a daemon in this process")
            .1
    }

    /// Run a `ranah` command against this daemon's store.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        ranah_cli(&self.dir, args)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some((rt, running)) = self.in_process.take() {
            rt.block_on(running.shutdown());
            rt.shutdown_timeout(Duration::from_secs(5));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run `ranah ARGS` with the data and zones of `dir`.
pub fn ranah_cli(dir: &Path, args: &[&str]) -> std::process::Output {
    store_env(&mut Command::new(BIN), dir)
        .args(args)
        .current_dir(dir)
        .env("RANAH_DATA_DIR", dir.join("data"))
        .env("RANAH_ZONES_DIR", dir.join("zones"))
        .env("RANAH_LOG", "warn")
        .env_remove("RANAH_CONFIG")
        .output()
        .expect("run ranah")
}

/// A minimal HTTP/1.1 GET: status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Options of a query.
#[derive(Clone, Copy)]
pub struct Q {
    pub edns: Option<u16>,
    pub tcp: bool,
}

pub const UDP: Q = Q {
    edns: Some(1232),
    tcp: false,
};
pub const UDP_PLAIN: Q = Q {
    edns: None,
    tcp: false,
};
pub const TCP: Q = Q {
    edns: Some(1232),
    tcp: true,
};

pub fn build_query(name: &str, rtype: RecordType, q: Q) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(size) = q.edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.edns = Some(e);
    }
    m
}

/// Send raw bytes, return the raw reply.
pub fn exchange_raw(addr: SocketAddr, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if tcp {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        let len = u16::try_from(bytes.len()).ok()?.to_be_bytes();
        s.write_all(&len).ok()?;
        s.write_all(bytes).ok()?;
        let mut lb = [0u8; 2];
        s.read_exact(&mut lb).ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lb))];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    } else {
        // Like every DNS client over UDP, try again when no answer comes: a datagram can be
        // dropped on a loaded machine (a server that never answers still fails the test).
        let s = UdpSocket::bind("127.0.0.1:0").ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut buf = vec![0u8; 65535];
        for _ in 0..3 {
            s.send_to(bytes, addr).ok()?;
            if let Ok((n, _)) = s.recv_from(&mut buf) {
                buf.truncate(n);
                return Some(buf);
            }
        }
        None
    }
}

pub fn send(addr: SocketAddr, m: &Message, tcp: bool) -> Message {
    let bytes = m.to_vec().unwrap();
    let reply = exchange_raw(addr, &bytes, tcp).expect("no DNS reply");
    let msg = Message::from_vec(&reply).expect("reply does not parse");
    assert_eq!(msg.metadata.id, m.metadata.id, "reply id");
    msg
}

pub fn query(addr: SocketAddr, name: &str, rtype: RecordType, q: Q) -> Message {
    send(addr, &build_query(name, rtype, q), q.tcp)
}

/// Run a tool (dig, kdig, named-checkzone, kzonecheck): it must be installed.
pub fn tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program} is required for this test ({e}); the README's test command installs it"
            )
        })
}

/// The serial of the test zone's SOA as the daemon serves it.
pub fn serial(d: &Daemon) -> u32 {
    let m = query(d.dns, "example.go.id.", RecordType::SOA, UDP);
    match &m.answers[0].data {
        hickory_proto::rr::RData::SOA(s) => s.serial,
        other => panic!("{other:?}"),
    }
}

pub fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let server = format!("@{}", addr.ip());
    let port = addr.port().to_string();
    let mut all = vec![server.as_str(), "-p", port.as_str(), "+time=2", "+tries=1"];
    all.extend_from_slice(args);
    let out = tool("dig", &all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn kdig(addr: SocketAddr, args: &[&str]) -> String {
    let server = format!("@{}", addr.ip());
    let port = addr.port().to_string();
    let mut all = vec![server.as_str(), "-p", port.as_str(), "+time=2", "+retry=0"];
    all.extend_from_slice(args);
    let out = tool("kdig", &all);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Poll `f` until it returns true, for at most `secs` seconds.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The library in process: a store with the test zone imported, the publisher, and a DNS
/// server on a free port answering from it.
pub struct InProcess {
    /// Holds the store's directory.
    pub _tmp: tempfile::TempDir,
    /// The store's URL.
    pub url: String,
    /// The store.
    pub store: ranah::store::Store,
    /// The change entry point.
    pub publisher: std::sync::Arc<ranah::publish::Publisher>,
    /// Where DNS answers.
    pub dns: SocketAddr,
    /// The running server.
    pub _server: ranah::dns::listen::DnsServer,
}

pub async fn in_process() -> InProcess {
    in_process_on(None).await
}

/// [`in_process`] on the store at `url` (the run's own choice without one).
pub async fn in_process_on(url: Option<String>) -> InProcess {
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| store_url(tmp.path()));
    let store = ranah::store::Store::open(&url).await.unwrap();
    let file = tmp.path().join("example.go.id.zone");
    std::fs::write(&file, test_zone()).unwrap();
    ranah::publish::import::import_file(
        &store,
        &file,
        None,
        false,
        &ranah::domain::audit::Attribution::cli(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let zones = Arc::new(ranah::dns::Zones::new());
    let publisher = Arc::new(ranah::publish::Publisher::new(store.clone(), zones.clone()));
    publisher.sync_from_store(chrono::Utc::now()).await.unwrap();
    // As `Daemon::start_configured`: another free port if this one was taken meanwhile.
    let mut attempts = 0;
    let (dns, server) = loop {
        let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let config = ranah::config::DnsConfig {
            listen: vec![dns],
            tcp_idle_timeout_secs: 5,
            udp_workers: 1,
            ..Default::default()
        };
        match ranah::dns::listen::start(
            ranah::dns::handler::Handler::new(zones.clone()),
            &config,
            Arc::new(ranah::telemetry::metrics::Metrics::new()),
        )
        .await
        {
            Ok(server) => break (dns, server),
            Err(e) if attempts < 5 && e.to_string().contains("Address already in use") => {
                attempts += 1;
            }
            Err(e) => panic!("{e}"),
        }
    };
    InProcess {
        _tmp: tmp,
        url,
        store,
        publisher,
        dns,
        _server: server,
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub json: Value,
}

pub fn curl(d: &Daemon, method: &str, path: &str, token: Option<&str>, args: &[&str]) -> Reply {
    let url = format!("http://{}{}", d.api, path);
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-X",
        method,
        "-w",
        "\n%{http_code} %{content_type}",
        "--max-time",
        "20",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    cmd.args(args).arg(&url);
    let out = cmd.output().expect("curl is required for this test");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut tail = tail.splitn(2, ' ');
    let status = tail.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_type = tail.next().unwrap_or("").to_owned();
    let reply = Reply {
        status,
        content_type,
        json: serde_json::from_str(body).unwrap_or(Value::Null),
    };
    crate::contract::check(
        d.api,
        method,
        path,
        reply.status,
        &reply.content_type,
        &reply.json,
    );
    reply
}

pub fn post_json(d: &Daemon, path: &str, token: &str, body: &str) -> Reply {
    curl(
        d,
        "POST",
        path,
        Some(token),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ],
    )
}

/// Run `ranah ARGS` against the daemon's store; it must succeed. Its standard output, trimmed.
pub fn cli_ok(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Two agencies, their applicants and the kaltara office roles; their tokens: andi, dewi,
/// kadis, kabid, teknis, ops.
pub fn setup_people(d: &Daemon) -> [String; 6] {
    let ok = |args: &[&str]| cli_ok(d, args);
    ok(&["agency", "add", "DINKES", "Dinas Kesehatan"]);
    ok(&["agency", "add", "DISHUB", "Dinas Perhubungan"]);
    ok(&[
        "user",
        "add",
        "andi",
        "--role",
        "applicant",
        "--agency",
        "DINKES",
    ]);
    ok(&[
        "user",
        "add",
        "dewi",
        "--role",
        "applicant",
        "--agency",
        "DISHUB",
    ]);
    ok(&["user", "add", "kadis", "--role", "head_of_office"]);
    ok(&["user", "add", "kabid", "--role", "head_of_division"]);
    ok(&["user", "add", "teknis", "--role", "technical"]);
    ok(&["user", "add", "ops", "--role", "admin"]);
    ["andi", "dewi", "kadis", "kabid", "teknis", "ops"].map(|u| ok(&["token", "create", u]))
}

/// Give `dinkes` and `dishub` of the test zone (which must hold them) to DINKES and DISHUB,
/// the agencies [`setup_people`] makes.
pub fn assign_agency_names(d: &Daemon) {
    for (name, agency) in [("dinkes", "DINKES"), ("dishub", "DISHUB")] {
        cli_ok(
            d,
            &[
                "subdomain",
                "assign",
                &format!("{name}.example.go.id"),
                "--agency",
                agency,
            ],
        );
    }
}

/// Walk a `create` request for `name` with one A record through the kaltara chain until it
/// is provisioned (andi submits for DINKES; kadis, kabid, teknis approve). Returns its id.
pub fn provision(d: &Daemon, tokens: &[String; 6], name: &str, address: &str) -> i64 {
    walk_request(d, tokens, &request_body("create", name, address, false))
}

/// A request body for `name` in example.go.id with one A record.
pub fn request_body(kind: &str, name: &str, address: &str, certificate: bool) -> String {
    format!(
        r#"{{"kind": "{kind}", "zone": "example.go.id", "name": "{name}",
        "records": [{{"type": "A", "value": "{address}", "ttl": 3600}}],
        "contact": {{"name": "Andi", "email": "andi@dinkes.example", "phone": "+62 811 000"}},
        "purpose": "Aplikasi layanan", "recommendation_ref": "REK/001/2026",
        "certificate": {certificate}}}"#
    )
}

/// Attach a (minimal) signed request letter to request `id` as `token`; it must be accepted.
pub fn attach_letter(d: &Daemon, token: &str, id: i64) {
    let pdf = d.dir.join(format!("surat-{id}.pdf"));
    std::fs::write(&pdf, crate::harness::LETTER_PDF).unwrap();
    let r = curl(
        d,
        "POST",
        &format!("/api/v1/requests/{id}/attachments"),
        Some(token),
        &["-F", &format!("letter=@{}", pdf.display())],
    );
    assert_eq!(r.status, 200, "{}", r.json);
}

/// Walk a request (submitted by andi for DINKES, with its letter) through kadis, kabid and
/// teknis until it is provisioned. Returns its id.
pub fn walk_request(d: &Daemon, tokens: &[String; 6], body: &str) -> i64 {
    let [andi, _, kadis, kabid, teknis, _] = tokens;
    let r = post_json(d, "/api/v1/requests", andi, body);
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    let path = format!("/api/v1/requests/{id}");
    attach_letter(d, andi, id);
    for token in [kadis, kabid, teknis] {
        let r = post_json(d, &format!("{path}/approve"), token, "{}");
        assert_eq!(r.status, 200, "{}", r.json);
    }
    id
}
