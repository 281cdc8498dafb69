//! HTTPS for the API (a certificate ranah orders for its own name from pebble, or one from
//! files, reloaded on change and on SIGHUP), the redirect from plain HTTP, the connection
//! limits over TLS, the trusted-proxy rule in the audit trail, and access to `/metrics`. Every
//! client is a real one: curl (with the CA to trust, never `-k`) and openssl.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::pebble::*;

/// The API's own name: in the test zone, with no records of its own (DNS-01 needs none).
const API_NAME: &str = "api.example.go.id";

/// A token for `/metrics`.
const METRICS_TOKEN: &str = "m3trics-0123456789abcdef0123456789";

/// curl over HTTPS: `-s`, the status and the response headers; `extra` adds arguments.
fn https(url: &str, ca: &Path, extra: &[&str]) -> (Output, u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", "10", "--cacert"])
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (out, status, text.to_ascii_lowercase())
}

/// The in-process daemon's address for `name` at `addr`, for curl's `--resolve`.
fn resolve(name: &str, addr: SocketAddr) -> String {
    format!("{name}:{}:{}", addr.port(), addr.ip())
}

/// A throwaway CA (`ca.pem`) and a certificate for 127.0.0.1 and localhost (`cert.pem`,
/// `key.pem`) in `dir`, made with openssl.
fn files_in(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    listener_certificate(dir);
    dir.to_owned()
}

fn metrics_text(addr: SocketAddr, token: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "-w", "\n%{http_code}"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(format!("http://{addr}/metrics"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The value of a metric line `name` (exact series) in Prometheus text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_api_serves_https_with_its_own_certificate_from_pebble() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path();
    let pki = files_in(&dir.join("pki"));
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let pebble = Pebble::start(&pki, free_port(), free_port(), dns, None);
    let config = format!(
        r#"
[api.tls]
acme_name = "{API_NAME}"
redirect_listen = "127.0.0.1:0"
hsts_max_age_secs = 600

[acme]
directory = "{}"
ca_file = "{}"
key_encryption_key = "{KEY_ENCRYPTION_KEY}"
retry_base_secs = 1
retry_max_secs = 2
check_interval_secs = 1
order_timeout_secs = 30
"#,
        pebble.directory(),
        pki.join("ca.pem").display()
    );
    let d = Daemon::start_configured(dir, dns, Some(&config));
    let redirect = d.running().api_redirect.expect("the redirect listener");
    let root = dir.join("pebble-root.pem");
    std::fs::write(&root, pebble.root()).unwrap();
    let url = format!("https://{API_NAME}:{}/healthz", d.api.port());
    let to_api = resolve(API_NAME, d.api);

    // The worker orders the certificate (pebble checks the DNS-01 TXT on ranah's own DNS
    // port) and the API serves it as soon as it is stored.
    let started = Instant::now();
    let mut last = String::new();
    assert!(
        eventually(60, || {
            let (out, status, _) = https(&url, &root, &["--resolve", &to_api]);
            last = format!("{status} {}", String::from_utf8_lossy(&out.stderr));
            status == 200
        }),
        "HTTPS never answered with pebble's certificate: {last}"
    );
    eprintln!(
        "the API's certificate was issued and served {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    let (_, status, headers) = https(&url, &root, &["--resolve", &to_api]);
    assert_eq!(status, 200);
    assert!(
        headers.contains("strict-transport-security: max-age=600"),
        "{headers}"
    );
    // TLS 1.2 as well as 1.3; ALPN gives http/1.1 even to a client that prefers h2.
    let (out, status, _) = https(
        &url,
        &root,
        &["--resolve", &to_api, "--tls-max", "1.2", "-v"],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLSv1.2"));
    let (out, status, _) = https(&url, &root, &["--resolve", &to_api, "--http2", "-v"]);
    assert_eq!(status, 200);
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(verbose.contains("TLSv1.3"), "{verbose}");
    assert!(
        verbose.contains("ALPN: server accepted http/1.1"),
        "{verbose}"
    );
    // The certificate is for the API's name only, verified against pebble's root by openssl.
    let certificate = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &d.api.to_string(),
            "-servername",
            API_NAME,
        ])
        .args(["-showcerts", "-verify_return_error", "-CAfile"])
        .arg(&root)
        .args(["-verify_hostname", API_NAME])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&certificate.stdout);
    assert!(
        shown.contains("Verify return code: 0 (ok)"),
        "{shown}{}",
        String::from_utf8_lossy(&certificate.stderr)
    );
    // A wrong CA is refused by the client: nothing is served that the client did not verify.
    let (_, status, _) = https(&url, &pki.join("ca.pem"), &["--resolve", &to_api]);
    assert_eq!(status, 0, "curl must refuse a certificate it cannot verify");

    // Plain HTTP answers only with a redirect, to the API's name, path and query kept; the
    // redirect carries no HSTS (a browser ignores it over HTTP).
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--max-time", "10"])
        .arg(format!(
            "http://{redirect}/api/v1/requests?status=returned&page=2"
        ))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 308"), "{head}");
    let location = format!(
        "location: https://{API_NAME}:{}/api/v1/requests?status=returned&page=2",
        d.api.port()
    );
    assert!(head.contains(&location), "{head}");
    assert!(!head.contains("strict-transport-security"), "{head}");
    let (status, _) = http_get(redirect, "/healthz").unwrap();
    assert_eq!(status, 308, "plain HTTP serves nothing but redirects");
    // Followed, the redirect ends at the API over HTTPS.
    let (_, status, _) = https(
        &format!("http://{redirect}/healthz"),
        &root,
        &["-L", "--resolve", &to_api],
    );
    assert_eq!(status, 200);

    // The certificate is the API's own (no agency), issued and to be renewed by the worker
    // like the others, ordered by ranah itself (audited); the served one is the stored one.
    cli_ok(&d, &["user", "add", "ops", "--role", "admin"]);
    let ops = cli_ok(&d, &["token", "create", "ops"]);
    let get = |path: &str| -> Value {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "--cacert"])
            .arg(&root)
            .args([
                "--resolve",
                &to_api,
                "-H",
                &format!("Authorization: Bearer {ops}"),
            ])
            .arg(format!("https://{API_NAME}:{}{path}", d.api.port()))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let cert = get(&format!("/api/v1/certificates/{API_NAME}"));
    assert_eq!(cert["status"], "issued", "{cert}");
    assert_eq!(cert["mode"], "managed", "{cert}");
    assert!(cert["request"].is_null(), "{cert}");
    assert!(cert["renew_at"].is_string(), "{cert}");
    // Nobody may download its key: no agency owns it.
    let key = get(&format!("/api/v1/certificates/{API_NAME}/key.pem"));
    assert_eq!(key["status"], 403, "{key}");
    let serial = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(shown.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    let stored = cert["serial"].as_str().unwrap().to_ascii_lowercase();
    assert_eq!(
        serial.trim_start_matches('0'),
        stored.trim_start_matches('0'),
        "the served certificate is the stored one"
    );
    let audit = get("/api/v1/audit?limit=1000");
    let events: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == format!("certificate/{API_NAME}").as_str())
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for action in ["certificate.order", "certificate.issued"] {
        assert!(
            events.contains(&(action.to_owned(), "system".to_owned())),
            "{action} by system not in {events:?}"
        );
    }
    // The expiry is exported for alerting.
    let metrics = Command::new("curl")
        .args(["-s", "--max-time", "10", "--cacert"])
        .arg(&root)
        .args(["--resolve", &to_api])
        .arg(format!("https://{API_NAME}:{}/metrics", d.api.port()))
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metric(&metrics, "ranah_api_certificate_expiry_timestamp_seconds")
            .is_some_and(|t| t > 1.7e9),
        "{metrics}"
    );
}

#[test]
fn until_the_certificate_is_issued_handshakes_fail_and_http_only_redirects() {
    // The CA cannot be reached: the API's certificate is never issued in this test.
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path();
    let pki = files_in(&dir.join("pki"));
    let config = format!(
        r#"
[api.tls]
acme_name = "{API_NAME}"
redirect_listen = "127.0.0.1:0"

[metrics]
listen = "127.0.0.1:0"

[acme]
directory = "https://127.0.0.1:9/dir"
ca_file = "{}"
key_encryption_key = "{KEY_ENCRYPTION_KEY}"
retry_base_secs = 60
"#,
        pki.join("ca.pem").display()
    );
    let d = Daemon::start_configured(dir, ([127, 0, 0, 1], 0).into(), Some(&config));
    let running = d.running();
    let metrics_addr = running.metrics_listen.expect("metrics listener");
    let redirect = running.api_redirect.expect("redirect listener");
    // No placeholder certificate: the handshake fails with an alert (curl exit 35).
    let (out, status, _) = https(
        &format!("https://{API_NAME}:{}/healthz", d.api.port()),
        &pki.join("ca.pem"),
        &["--resolve", &resolve(API_NAME, d.api)],
    );
    assert_eq!(status, 0);
    assert_eq!(out.status.code(), Some(35), "a TLS handshake failure");
    let (status, _) = http_get(redirect, "/api/v1/requests").unwrap();
    assert_eq!(status, 308);
    let (code, text) = metrics_text(metrics_addr, None);
    assert_eq!(code, 200);
    assert!(
        metric(
            &text,
            "ranah_http_tls_handshake_failures_total{reason=\"no_certificate\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "ranah_api_certificate_expiry_timestamp_seconds"),
        Some(0.0)
    );
    // The order is the API's, in the store, waiting for the CA.
    assert!(
        text.contains("ranah_certificates{status=\"failed\"} 1")
            || text.contains("ranah_certificates{status=\"pending\"} 1"),
        "{text}"
    );
}

#[test]
fn an_api_name_outside_the_served_zones_stops_the_start() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path();
    let pki = files_in(&dir.join("pki"));
    let file = dir.join("ranah.toml");
    std::fs::write(
        &file,
        format!(
            "[api.tls]\nacme_name = \"api.example.org\"\n\n[acme]\ndirectory = \"https://127.0.0.1:9/dir\"\n\
             ca_file = \"{}\"\nkey_encryption_key = \"{KEY_ENCRYPTION_KEY}\"\n",
            pki.join("ca.pem").display()
        ),
    )
    .unwrap();
    let out = store_env(&mut Command::new(BIN), dir)
        .arg("serve")
        .current_dir(dir)
        .env("RANAH_CONFIG", &file)
        .env("RANAH_DATA_DIR", dir.join("data"))
        .env("RANAH_ZONES_DIR", dir.join("zones"))
        .env("RANAH_DNS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("RANAH_API_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("RANAH_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("api.tls.acme_name = api.example.org")
            && stderr.contains("is in no zone served here"),
        "{stderr}"
    );
}

#[test]
fn https_from_files_reloads_when_they_change_and_plain_http_is_off() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path();
    let first = files_in(&dir.join("first"));
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let install = |from: &Path| {
        // As certbot or an operator would: write beside, then rename over.
        for f in ["cert.pem", "key.pem"] {
            std::fs::copy(from.join(f), tls.join(format!("{f}.new"))).unwrap();
            std::fs::rename(tls.join(format!("{f}.new")), tls.join(f)).unwrap();
        }
    };
    install(&first);
    let config = format!(
        r#"
[api]
header_read_timeout_secs = 2
max_connections_per_source = 2

[api.tls]
cert_file = "{0}/cert.pem"
key_file = "{0}/key.pem"
reload_check_secs = 1
"#,
        tls.display()
    );
    let d = Daemon::start_configured(dir, ([127, 0, 0, 1], 0).into(), Some(&config));
    assert!(d.running().api_redirect.is_none());
    let url = format!("https://127.0.0.1:{}/healthz", d.api.port());
    let (_, status, headers) = https(&url, &first.join("ca.pem"), &[]);
    assert_eq!(status, 200);
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );
    // The API's port speaks HTTPS only: a plain request gets no HTTP answer.
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://127.0.0.1:{}/healthz", d.api.port()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "000");

    // A new certificate from another CA is served after the next check, without a restart.
    let second = files_in(&dir.join("second"));
    install(&second);
    assert!(
        eventually(15, || https(&url, &second.join("ca.pem"), &[]).1 == 200),
        "the new files were not loaded"
    );
    assert_eq!(https(&url, &first.join("ca.pem"), &[]).1, 0);

    // The connection limits hold over TLS. A connection that never starts its handshake is
    // closed at the header timeout (2 s), and counted as one.
    let mut silent = TcpStream::connect(d.api).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let opened = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(silent.read(&mut buf).unwrap_or(0), 0);
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "closed after {waited:?}"
    );
    // One that completes its handshake and then sends nothing is closed at the same deadline:
    // the handshake counts as header time.
    let mut handshaken = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &d.api.to_string(),
            "-CAfile",
        ])
        .arg(second.join("ca.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let opened = Instant::now();
    let ended = eventually(10, || matches!(handshaken.try_wait(), Ok(Some(_))));
    let _ = handshaken.kill();
    let _ = handshaken.wait();
    assert!(ended, "an idle TLS connection was kept open");
    assert!(opened.elapsed() >= Duration::from_millis(1500));
    // Per source: a third connection from 127.0.0.1 is closed at once, before any handshake,
    // while two are open (the kernel queues connections in order, so it is the third taken).
    let a = TcpStream::connect(d.api).unwrap();
    let b = TcpStream::connect(d.api).unwrap();
    let mut c = TcpStream::connect(d.api).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let asked = Instant::now();
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "{:?}",
        asked.elapsed()
    );
    // The first is open, waiting for its handshake.
    a.set_nonblocking(true).unwrap();
    let pending = (&a).read(&mut buf);
    assert!(
        matches!(&pending, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{pending:?}"
    );
    drop((a, b));
}

#[test]
fn sighup_loads_new_certificate_files_in_the_real_binary() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path();
    let first = files_in(&dir.join("first"));
    let second = files_in(&dir.join("second"));
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(first.join(f), tls.join(f)).unwrap();
    }
    let api: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let file = dir.join("ranah.toml");
    // No periodic check within the test: only the signal can load the new files.
    std::fs::write(
        &file,
        format!(
            "[api.tls]\ncert_file = \"{0}/cert.pem\"\nkey_file = \"{0}/key.pem\"\nreload_check_secs = 3600\n",
            tls.display()
        ),
    )
    .unwrap();
    let mut child = store_env(&mut Command::new(BIN), dir)
        .arg("serve")
        .current_dir(dir)
        .env("RANAH_CONFIG", &file)
        .env("RANAH_DATA_DIR", dir.join("data"))
        .env("RANAH_ZONES_DIR", dir.join("zones"))
        .env("RANAH_DNS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("RANAH_API_LISTEN", api.to_string())
        .env("RANAH_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/readyz", api.port());
    let ready = eventually(20, || https(&url, &first.join("ca.pem"), &[]).1 == 200);
    let result = std::panic::catch_unwind(|| {
        assert!(ready, "ranah did not serve HTTPS within 20 s");
        for f in ["cert.pem", "key.pem"] {
            std::fs::copy(second.join(f), tls.join(f)).unwrap();
        }
        assert_eq!(https(&url, &second.join("ca.pem"), &[]).1, 0, "not yet");
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(
            eventually(10, || https(&url, &second.join("ca.pem"), &[]).1 == 200),
            "SIGHUP did not load the new files"
        );
    });
    let still_running = matches!(child.try_wait(), Ok(None));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(still_running, "SIGHUP ended the daemon");
    assert!(status.success(), "{status}");
}

/// Without `[api.tls]` SIGHUP must not end the daemon either (its default action would): the
/// log says what it reloads, and DNS and the API go on.
#[test]
fn sighup_without_tls_leaves_the_daemon_serving() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let log = tmp.path().join("ranah.log");
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut d = Daemon::start_process_logging(tmp.path(), dns, None, &log);
    let pid = d.pid().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        eventually(10, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("SIGHUP")),
        "no log line for SIGHUP"
    );
    assert_eq!(http_get(d.api, "/readyz").unwrap().0, 200);
    let soa = dig(d.dns, &["example.go.id", "SOA"]);
    assert!(
        soa.contains("status: NOERROR") && soa.contains("flags: qr aa"),
        "{soa}"
    );
    d.shutdown();
}

/// The client recorded for the first event of request `id` in the audit trail.
fn audited_client(d: &Daemon, ops: &str, id: i64) -> String {
    let r = curl(d, "GET", "/api/v1/audit?limit=1000", Some(ops), &[]);
    let target = format!("request/{id}");
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target"] == target.as_str())
        .and_then(|e| e["client"].as_str())
        .unwrap_or_else(|| panic!("no event for {target}: {}", r.json))
        .to_owned()
}

/// Submit a request for `name` as `token` from `source`, with `headers`; its id.
fn submit_from(d: &Daemon, token: &str, name: &str, source: &str, headers: &[&str]) -> i64 {
    let body = request_body("create", name, "203.0.113.10", false);
    let mut args = vec![
        "--interface",
        source,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &body,
    ];
    for h in headers {
        args.extend(["-H", h]);
    }
    let r = curl(d, "POST", "/api/v1/requests", Some(token), &args);
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["id"].as_i64().unwrap()
}

#[test]
fn the_audit_trail_records_the_client_a_trusted_proxy_names() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let config = r#"
[api]
trusted_proxies = ["127.0.0.2/32", "10.0.0.0/8"]
"#;
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
    let tokens = setup_people(&d);
    let [andi, _, _, _, _, ops] = &tokens;
    let xff = |v: &str| format!("X-Forwarded-For: {v}");

    // Through the proxy at 127.0.0.2: the nearest untrusted hop, not what the client wrote
    // to the left of it, and not the proxy.
    let id = submit_from(
        &d,
        andi,
        "proxied",
        "127.0.0.2",
        &[&xff("192.0.2.66, 198.51.100.23, 10.1.2.3")],
    );
    assert_eq!(audited_client(&d, ops, id), "198.51.100.23");
    // IPv6 with brackets and a port.
    let id = submit_from(
        &d,
        andi,
        "proxied6",
        "127.0.0.2",
        &[&xff("[2001:db8::7]:4711")],
    );
    assert_eq!(audited_client(&d, ops, id), "2001:db8::7");
    // From 127.0.0.1, which is not trusted, the header is ignored.
    let id = submit_from(&d, andi, "direct", "127.0.0.1", &[&xff("198.51.100.99")]);
    assert_eq!(audited_client(&d, ops, id), "127.0.0.1");
    // The other header is not read (the proxy would pass it through as the client wrote it).
    let id = submit_from(
        &d,
        andi,
        "otherheader",
        "127.0.0.2",
        &["Forwarded: for=198.51.100.77"],
    );
    assert_eq!(audited_client(&d, ops, id), "127.0.0.2");
    // Hostile headers: garbage is not an address (the proxy is the client then); a thousand
    // hops are read no further than the limit; neither fails the request.
    let id = submit_from(
        &d,
        andi,
        "garbage",
        "127.0.0.2",
        &[&xff("'; DROP TABLE, <x>")],
    );
    assert_eq!(audited_client(&d, ops, id), "127.0.0.2");
    let mut hops = vec!["198.51.100.66".to_owned()];
    hops.extend((0..1000).map(|i| format!("10.9.{}.{}", i / 200, i % 200)));
    let id = submit_from(&d, andi, "manyhops", "127.0.0.2", &[&xff(&hops.join(","))]);
    let client = audited_client(&d, ops, id);
    assert!(client.starts_with("10.9."), "{client}");
}

#[test]
fn forwarded_is_read_when_configured() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let config = r#"
[api]
trusted_proxies = ["127.0.0.2"]
proxy_header = "forwarded"
"#;
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
    let tokens = setup_people(&d);
    let [andi, _, _, _, _, ops] = &tokens;
    let id = submit_from(
        &d,
        andi,
        "fwd6",
        "127.0.0.2",
        &[r#"Forwarded: for="[2001:db8::1]:4711";proto=https"#],
    );
    assert_eq!(audited_client(&d, ops, id), "2001:db8::1");
    let id = submit_from(
        &d,
        andi,
        "fwdxff",
        "127.0.0.2",
        &["X-Forwarded-For: 198.51.100.5"],
    );
    assert_eq!(audited_client(&d, ops, id), "127.0.0.2");
}

#[test]
fn metrics_behind_a_token() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let config = format!("[metrics]\ntoken = \"{METRICS_TOKEN}\"\n");
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    // Through the harness's curl: each reply is checked against the OpenAPI document.
    let r = curl(&d, "GET", "/metrics", None, &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json["code"], "unauthorized");
    let r = curl(&d, "GET", "/metrics", Some("wrong-token-0123456789"), &[]);
    assert_eq!(r.status, 401);
    let (code, text) = metrics_text(d.api, Some(METRICS_TOKEN));
    assert_eq!(code, 200);
    assert!(text.contains("ranah_zone_serial"), "{text}");
    // The rest of the API is unchanged.
    assert_eq!(http_get(d.api, "/healthz").unwrap().0, 200);
    // check-config shows the token redacted.
    let shown = Command::new(BIN)
        .arg("check-config")
        .env("RANAH_CONFIG", tmp.path().join("ranah.toml"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(!shown.contains(METRICS_TOKEN), "{shown}");
    assert!(shown.contains("[metrics]"), "{shown}");
}

#[test]
fn metrics_on_their_own_address() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let token_file = tmp.path().join("metrics.token");
    std::fs::write(&token_file, format!("{METRICS_TOKEN}\n")).unwrap();
    let config = format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
        token_file.display()
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let metrics_addr = d.running().metrics_listen.expect("metrics listener");
    // Not on the API's address any more.
    let r = curl(&d, "GET", "/metrics", Some(METRICS_TOKEN), &[]);
    assert_eq!(r.status, 404);
    // On its own, behind the token from the file.
    assert_eq!(metrics_text(metrics_addr, None).0, 401);
    let (code, text) = metrics_text(metrics_addr, Some(METRICS_TOKEN));
    assert_eq!(code, 200);
    assert!(text.contains("ranah_http_connections"), "{text}");
    // Nothing else is served there.
    let (status, body) = http_get(metrics_addr, "/api/v1/requests").unwrap();
    assert_eq!(status, 404, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "not_found");
}
