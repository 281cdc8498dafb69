//! The store behind the API: provisioning approvals over HTTP on SQLite and on PostgreSQL,
//! and how soon a second instance on the same PostgreSQL serves what the first committed.
//!
//! For each store, the daemon runs in process (its store, DNS and HTTP API on loopback) with a
//! zone of 10,000 names, unsigned (signing adds its own cost per change: `cargo bench --bench
//! sign`). Requests are prepared over HTTP up to their last step, then approved:
//!
//! - one at a time (each approval returns when DNS answers its records): p50, p99, max;
//! - by 8 clients at once: approvals a second (on PostgreSQL also with the clients spread over
//!   both instances);
//! - PostgreSQL only, with a second instance on the same database: after each one-at-a-time
//!   approval through the first, the second's DNS is asked every 0.2 ms until it answers the
//!   new name: the follow lag, p50, p99, max.
//!
//! PostgreSQL is a throwaway cluster on loopback (`tests/postgres/cluster.sh`, Debian's
//! `postgresql`), `fsync` on as in production, on the same machine and disk as SQLite.
//!
//! `cargo bench --bench instances [-- APPROVALS]` (default 300; 8 × that many at once).
//! `cargo test --bench instances` runs it small as a smoke test.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

mod support;
use support::{answered, http, summary};

const ORIGIN: &str = "bench.example";
const NAMES: usize = 10_000;
const CLIENTS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let approvals = if full {
        args.iter()
            .filter_map(|a| a.parse::<usize>().ok())
            .next()
            .unwrap_or(300)
            .clamp(10, 5_000)
    } else {
        10
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sqlite = tempfile::tempdir().expect("temporary directory");
        run("SQLite", sqlite.path(), None, approvals).await;
        let cluster = Cluster::start();
        let url = cluster.database("bench");
        let postgres = tempfile::tempdir().expect("temporary directory");
        run("PostgreSQL", postgres.path(), Some(&url), approvals).await;
    });
}

/// One store: the approvals one at a time and at once, and on PostgreSQL the follow lag.
async fn run(label: &str, dir: &Path, url: Option<&str>, approvals: usize) {
    let first = start(&dir.join("a"), url).await;
    let second = match url {
        Some(_) => Some(start(&dir.join("b"), url).await),
        None => None,
    };
    let (api, dns) = (first.api, first.dns[0]);
    let tokens = support::people(&first.database_url).await;
    let teknis = tokens[3].clone();

    // One at a time, each followed on the second instance.
    let mut ids = Vec::with_capacity(approvals);
    for i in 0..approvals {
        ids.push(support::prepare(api, &tokens, ORIGIN, &format!("one{i}")).await);
    }
    let mut latencies = Vec::with_capacity(approvals);
    let mut lags = Vec::with_capacity(approvals);
    for (i, id) in ids.iter().enumerate() {
        let path = format!("/api/v1/requests/{id}/approve");
        let sent = Instant::now();
        let (status, reply) = http(api, "POST", &path, &teknis, "application/json", b"{}").await;
        let returned = Instant::now();
        latencies.push(returned - sent);
        assert_eq!(status, 200, "{reply}");
        let name = format!("one{i}.{ORIGIN}.");
        assert!(answered(dns, &name).await, "{name} not answered on return");
        if let Some(other) = &second {
            let deadline = returned + Duration::from_secs(5);
            loop {
                if answered(other.dns[0], &name).await {
                    lags.push(returned.elapsed());
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the second instance never served {name}"
                );
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
    }

    // At once, from 8 clients: all through the first instance, then (PostgreSQL) half through
    // each, where the instances take turns at the database's write lock.
    let total = approvals * CLIENTS;
    let rate = at_once(&tokens, "many", &[api], approvals).await;
    let both_rate = match &second {
        Some(other) => Some(at_once(&tokens, "both", &[api, other.api], approvals).await),
        None => None,
    };

    println!("{label}, {NAMES} names, {approvals} approvals over HTTP one at a time:");
    println!(
        "  approval (HTTP, returned once DNS answers): {}",
        summary(&mut latencies)
    );
    println!("  {CLIENTS} clients at once, {total} approvals: {rate:.0} approvals/s");
    if let Some(both) = both_rate {
        println!(
            "  {CLIENTS} clients at once, half through each instance, {total} approvals: \
             {both:.0} approvals/s"
        );
    }
    if second.is_some() {
        println!(
            "  follow lag, return at the first instance -> answer at the second: {}",
            summary(&mut lags)
        );
    }
    if let Some(second) = second {
        second.running.shutdown().await;
    }
    first.running.shutdown().await;
}

/// Approvals a second from 8 clients at once, `per_client` each, the clients spread over the
/// instances at `apis` in turn (requests prepared through the first, named `prefix…`).
async fn at_once(tokens: &[String], prefix: &str, apis: &[SocketAddr], per_client: usize) -> f64 {
    let total = per_client * CLIENTS;
    let mut ids = Vec::with_capacity(total);
    for i in 0..total {
        ids.push(support::prepare(apis[0], tokens, ORIGIN, &format!("{prefix}{i}")).await);
    }
    let teknis = tokens[3].clone();
    let started = Instant::now();
    let clients: Vec<_> = ids
        .chunks(per_client)
        .enumerate()
        .map(|(client, chunk)| {
            let (chunk, teknis) = (chunk.to_vec(), teknis.clone());
            let api = apis[client % apis.len()];
            tokio::spawn(async move {
                for id in chunk {
                    let path = format!("/api/v1/requests/{id}/approve");
                    let (status, reply) =
                        http(api, "POST", &path, &teknis, "application/json", b"{}").await;
                    assert_eq!(status, 200, "{reply}");
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// A daemon in process.
struct Instance {
    running: ranah::daemon::Running,
    api: SocketAddr,
    dns: Vec<SocketAddr>,
    database_url: String,
}

/// Start a daemon in `dir` (the zone file written there) on the store at `url` (SQLite in
/// `dir` without one).
async fn start(dir: &Path, url: Option<&str>) -> Instance {
    let zones = dir.join("zones");
    support::write_zone(&zones, ORIGIN, NAMES);
    let config_file = dir.join("ranah.toml");
    std::fs::write(
        &config_file,
        "[dnssec]\nenabled = false\nkey_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n",
    )
    .expect("config");
    let mut vars = vec![
        ("RANAH_DATA_DIR", dir.join("data").display().to_string()),
        ("RANAH_ZONES_DIR", zones.display().to_string()),
        ("RANAH_DNS_LISTEN", "127.0.0.1:0".to_owned()),
        ("RANAH_API_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "RANAH_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
        ),
    ];
    if let Some(url) = url {
        vars.push(("RANAH_DATABASE_URL", url.to_owned()));
    }
    let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v));
    let (env, _) = ranah::config::ConfigLayer::from_env(vars).expect("environment");
    let config = ranah::config::ConfigLayer::from_file(&config_file)
        .expect("config file")
        .merge(env)
        .resolve()
        .expect("configuration");
    let database_url = config.database_url.expose().to_owned();
    let running = ranah::daemon::start(config).await.expect("daemon");
    Instance {
        api: running.api,
        dns: running.dns.clone(),
        running,
        database_url,
    }
}

/// A throwaway PostgreSQL cluster (tests/postgres/cluster.sh), stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    server: String,
}

impl Cluster {
    fn script() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres/cluster.sh")
    }

    fn start() -> Cluster {
        // Under /tmp: the server runs as `nobody` when this runs as root.
        let dir = tempfile::Builder::new()
            .prefix("ranah-bench-pg")
            .tempdir_in("/tmp")
            .expect("cluster directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let out = std::process::Command::new(Self::script())
            .arg("start")
            .arg(dir.path().join("cluster"))
            .arg(port.to_string())
            .output()
            .expect("tests/postgres/cluster.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Cluster { dir, server }
    }

    fn database(&self, name: &str) -> String {
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(format!("{}/postgres", self.server))
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("{}/{name}", self.server)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .arg("stop")
            .arg(self.dir.path().join("cluster"))
            .output();
    }
}
