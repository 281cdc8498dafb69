//! The oversight checker against servers the test starts on loopback: a real Knot (the resolver
//! asked about names outside the zone, and the server of a delegated child), web servers on
//! 127.0.0.x (plain HTTP and HTTPS, certificates made here, pages the test changes), and a real
//! SMTP server for the emails. Names point at 127.0.0.x through the name policy's test setting.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::*;
use crate::notifications::Smtp;

/// What a web server answers: status, extra headers, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn page(body: &str) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

struct WebState {
    answer: Mutex<Answer>,
    certificate: Mutex<Arc<rustls::sign::CertifiedKey>>,
    open: AtomicUsize,
    peak: AtomicUsize,
    served: AtomicUsize,
}

#[derive(Debug)]
struct CurrentCertificate(Arc<WebState>);

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebState")
    }
}

impl rustls::server::ResolvesServerCert for CurrentCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.certificate.lock().unwrap().clone())
    }
}

/// A certificate for `names`, valid now, or expired since 2021 when `expired`.
fn certificate(names: &[&str], expired: bool) -> Arc<rustls::sign::CertifiedKey> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.self_signed(&key).unwrap();
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
    Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    ))
}

/// A web server on `ip`: HTTP on one port, HTTPS on another, answering every request with the
/// current [`Answer`] and closing; counts the connections open at once.
struct Web {
    rt: Option<tokio::runtime::Runtime>,
    state: Arc<WebState>,
}

async fn answer<S>(mut io: S, state: Arc<WebState>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let now = state.open.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(now, Ordering::SeqCst);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
        match tokio::time::timeout(Duration::from_secs(5), io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let a = state.answer.lock().unwrap().clone();
    let mut text = format!(
        "HTTP/1.1 {} X\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        a.status,
        a.body.len()
    );
    for (k, v) in &a.headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&a.body);
    let _ = io.write_all(text.as_bytes()).await;
    let _ = io.shutdown().await;
    state.served.fetch_add(1, Ordering::SeqCst);
    state.open.fetch_sub(1, Ordering::SeqCst);
}

impl Web {
    fn start(ip: [u8; 4], http_port: u16, https_port: Option<u16>, cert: &[&str]) -> Web {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(WebState {
            answer: Mutex::new(Answer::page("<h1>Dinas Kesehatan</h1>")),
            certificate: Mutex::new(certificate(cert, false)),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        });
        let http: SocketAddr = (ip, http_port).into();
        let https: SocketAddr = (ip, https_port.unwrap_or(0)).into();
        rt.block_on(async {
            let plain = tokio::net::TcpListener::bind(http).await.unwrap();
            let s = state.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = plain.accept().await {
                    tokio::spawn(answer(tcp, s.clone()));
                }
            });
            if https_port.is_some() {
                let secure = tokio::net::TcpListener::bind(https).await.unwrap();
                let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(CurrentCertificate(state.clone())));
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
                let s = state.clone();
                tokio::spawn(async move {
                    while let Ok((tcp, _)) = secure.accept().await {
                        let (acceptor, s) = (acceptor.clone(), s.clone());
                        tokio::spawn(async move {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                answer(tls, s).await;
                            }
                        });
                    }
                });
            }
        });
        Web {
            rt: Some(rt),
            state,
        }
    }

    fn set(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = answer;
    }

    fn serve_certificate(&self, names: &[&str], expired: bool) {
        *self.state.certificate.lock().unwrap() = certificate(names, expired);
    }

    /// Stop listening and answering.
    fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Knot serving `zones` (name, master-file text) on 127.0.0.1:`port`; killed when dropped.
struct Knot(Child);

impl Knot {
    fn start(dir: &Path, port: u16, zones: &[(&str, String)]) -> Knot {
        let dir = dir.join(format!("knot-{port}-{}", zones.len()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut zone_conf = String::from("zone:\n");
        for (name, text) in zones {
            let file = dir.join(format!("{name}.zone"));
            std::fs::write(&file, text).unwrap();
            zone_conf.push_str(&format!(
                "  - domain: {name}\n    file: {}\n",
                file.display()
            ));
        }
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\nlog:\n  - target: {d}/knot.log\n    any: info\n\
             database:\n    storage: {d}\ntemplate:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    journal-content: none\n{zone_conf}",
            d = dir.display()
        );
        let file = dir.join("knot.conf");
        std::fs::write(&file, conf).unwrap();
        let sbin = Path::new("/usr/sbin/knotd");
        let program = if sbin.exists() {
            sbin
        } else {
            Path::new("knotd")
        };
        let child = Command::new(program)
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("knotd is required for this test; the README's test command installs it");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let first = zones[0].0;
        assert!(
            eventually(10, || dig(addr, &[first, "SOA", "+short"])
                .contains("hostmaster")),
            "Knot did not serve {first}"
        );
        Knot(child)
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hosting_zone(with_app: bool) -> String {
    let mut z = String::from(
        "$ORIGIN hosting.test.\n$TTL 60\n@ SOA ns hostmaster 1 60 60 600 60\n@ NS ns\nns A 127.0.0.1\n",
    );
    if with_app {
        z.push_str("app A 127.0.0.2\n");
    }
    z
}

fn child_zone() -> String {
    "$ORIGIN sub.example.go.id.\n$TTL 60\n@ SOA ns hostmaster 1 60 60 600 60\n@ NS ns\nns A 127.0.0.1\nwww A 203.0.113.80\n"
        .to_owned()
}

const CONSOLE_PASSWORD: &str = "kata-sandi-pengawas";

const SPAM: &str = "<title>SLOT GACOR Hari Ini</title><p>Situs slot online maxwin, deposit pulsa tanpa potongan</p>";

fn kinds(findings: &Value, open_only: bool) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !open_only || f["resolved_at"].is_null())
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn check(d: &Daemon, token: &str, name: &str) -> Value {
    let r = post_json(d, &format!("/api/v1/subdomains/{name}/check"), token, "");
    assert_eq!(r.status, 200, "{name}: {}", r.json);
    r.json["findings"].clone()
}

/// The messages whose subject holds `what`.
fn mails(smtp: &Smtp, what: &str) -> Vec<(String, String)> {
    smtp.received()
        .into_iter()
        .filter(|(_, s)| s.contains(what))
        .collect()
}

#[test]
fn findings_appear_once_are_emailed_once_clear_when_fixed_and_suspend_a_name() {
    let started = chrono::Utc::now();
    let knot_port = free_port();
    let (http_port, https_port, smtp_port) = (free_port(), free_port(), free_port());
    let zone = String::from(
        "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1 hostmaster 2026010100 3600 900 1209600 300\n\
         @ NS ns1\nns1 A 203.0.113.2\n\
         web A 127.0.0.2\n\
         alias CNAME app.hosting.test.\n\
         mail MX 10 mx.hosting.test.\n\
         sub NS ns.sub\nns.sub A 127.0.0.1\n\
         loop1 CNAME loop2\nloop2 CNAME loop1\n\
         smtp A 127.0.0.9\n",
    );
    let tmp = Daemon::workdir("example.go.id.zone", &zone);
    let mut knot = Some(Knot::start(
        tmp.path(),
        knot_port,
        &[
            ("hosting.test", hosting_zone(true)),
            ("sub.example.go.id", child_zone()),
        ],
    ));
    let mut web = Web::start(
        [127, 0, 0, 2],
        http_port,
        Some(https_port),
        &["web.example.go.id", "alias.example.go.id"],
    );
    let config = format!(
        "[names]\nallow_loopback_addresses = true\n\
         [checker]\nenabled = false\nresolvers = [\"127.0.0.1:{knot_port}\"]\ntimeout_secs = 1\n\
         ports = {{ dns = {knot_port}, http = {http_port}, https = {https_port} }}\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nretry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let smtp = Smtp::start(smtp_port, &tmp.path().join("smtp.log"));
    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    cli_ok(&d, &["agency", "add", "DISHUB", "Dinas Perhubungan"]);
    for (user, role, email) in [
        ("andi", "applicant", "andi@dinkes.example"),
        ("ops", "admin", "ops@kominfo.example"),
        ("kadis", "head_of_office", "kadis@kominfo.example"),
        ("dewi", "applicant", "dewi@dishub.example"),
    ] {
        let mut args = vec!["user", "add", user, "--role", role, "--email", email];
        let agency = if user == "dewi" { "DISHUB" } else { "DINKES" };
        if role == "applicant" {
            args.extend(["--agency", agency]);
        }
        cli_ok(&d, &args);
    }
    let [andi, ops, kadis, dewi] =
        ["andi", "ops", "kadis", "dewi"].map(|u| cli_ok(&d, &["token", "create", u]));
    for name in ["web", "alias", "mail", "sub"] {
        cli_ok(
            &d,
            &[
                "subdomain",
                "assign",
                &format!("{name}.example.go.id"),
                "--agency",
                "DINKES",
            ],
        );
    }

    // Who may check: the office's staff; names that are not subdomains are not found.
    let r = post_json(&d, "/api/v1/subdomains/web.example.go.id/check", &andi, "");
    assert_eq!(r.status, 403, "{}", r.json);
    let r = post_json(
        &d,
        "/api/v1/subdomains/nothing.example.go.id/check",
        &ops,
        "",
    );
    assert_eq!(r.status, 404, "{}", r.json);
    let r = post_json(&d, "/api/v1/subdomains/example.go.id/check", &ops, "");
    assert_eq!(r.status, 404, "{}", r.json);

    // Everything as it should be: nothing found. A CNAME loop is no finding (and no crash);
    // a host that never answered on the web (a mail relay) is no site that stopped.
    for name in ["web", "alias", "sub", "loop1", "smtp"] {
        let f = check(&d, &kadis, &format!("{name}.example.go.id"));
        assert!(kinds(&f, true).is_empty(), "{name}: {f}");
    }
    // An MX to a name that does not exist.
    let f = check(&d, &ops, "mail.example.go.id");
    assert_eq!(kinds(&f, true), ["dangling_mx"], "{f}");
    assert!(
        f[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("mx.hosting.test"),
        "{f}"
    );

    // The page turns to gambling spam: found once, however often checked.
    web.set(Answer::page(SPAM));
    let first = check(&d, &ops, "web.example.go.id");
    assert_eq!(kinds(&first, true), ["abuse_content"], "{first}");
    let evidence = first[0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("slot gacor") && evidence.contains("maxwin"),
        "{evidence}"
    );
    std::thread::sleep(Duration::from_millis(20));
    let again = check(&d, &ops, "web.example.go.id");
    assert_eq!(kinds(&again, false), ["abuse_content"], "{again}");
    assert_eq!(again[0]["id"], first[0]["id"]);
    assert_eq!(again[0]["first_seen"], first[0]["first_seen"]);
    assert_ne!(again[0]["last_seen"], first[0]["last_seen"]);
    let abuse_id = first[0]["id"].as_i64().unwrap();

    // Another name's certificate, then an expired one; a redirect to another domain.
    web.serve_certificate(&["other.example.org"], false);
    let f = check(&d, &ops, "web.example.go.id");
    assert_eq!(kinds(&f, true), ["abuse_content", "tls_mismatch"], "{f}");
    web.serve_certificate(&["web.example.go.id"], true);
    web.set(Answer {
        status: 302,
        headers: vec![("Location".into(), "https://slot-gacor.example/".into())],
        body: String::new(),
    });
    let f = check(&d, &ops, "web.example.go.id");
    assert_eq!(kinds(&f, true), ["tls_expired", "foreign_redirect"], "{f}");
    // Fixed: each clears.
    web.serve_certificate(&["web.example.go.id", "alias.example.go.id"], false);
    web.set(Answer::page("<h1>Dinas Kesehatan</h1>"));
    let f = check(&d, &ops, "web.example.go.id");
    assert!(kinds(&f, true).is_empty(), "{f}");
    assert_eq!(
        kinds(&f, false),
        [
            "abuse_content",
            "tls_mismatch",
            "tls_expired",
            "foreign_redirect"
        ],
        "{f}"
    );
    assert!(
        f.as_array()
            .unwrap()
            .iter()
            .all(|x| !x["resolved_at"].is_null()),
        "{f}"
    );
    let r = post_json(
        &d,
        &format!("/api/v1/findings/{abuse_id}/suspend"),
        &ops,
        "",
    );
    assert_eq!(
        r.status, 409,
        "a resolved finding suspends nothing: {}",
        r.json
    );

    // The hosting's name goes away and the child's server stops serving it.
    drop(knot.take());
    let _knot = Knot::start(
        tmp.path(),
        knot_port,
        &[("hosting.test", hosting_zone(false))],
    );
    let f = check(&d, &ops, "alias.example.go.id");
    assert_eq!(kinds(&f, true), ["dangling_cname"], "{f}");
    assert!(
        f[0]["evidence"].as_str().unwrap().contains("NXDOMAIN"),
        "{f}"
    );
    let f = check(&d, &ops, "sub.example.go.id");
    assert_eq!(kinds(&f, true), ["lame_delegation"], "{f}");
    assert!(
        f[0]["evidence"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("refused"),
        "{f}"
    );

    // The web server stops.
    web.stop();
    let f = check(&d, &ops, "web.example.go.id");
    assert_eq!(kinds(&f, true), ["unreachable"], "{f}");

    // The register and the name show the open findings, to the agency and the office only.
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/web.example.go.id",
        Some(&dewi),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["findings"], serde_json::json!([]));
    assert_eq!(r.json["open_findings"], serde_json::json!([]));
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/web.example.go.id",
        Some(&andi),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["open_findings"], serde_json::json!(["unreachable"]));
    assert_eq!(kinds(&r.json["findings"], true), ["unreachable"]);
    assert_eq!(r.json["findings"].as_array().unwrap().len(), 5);
    let r = curl(&d, "GET", "/api/v1/subdomains", Some(&ops), &[]);
    let alias = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "alias.example.go.id")
        .unwrap()
        .clone();
    assert_eq!(
        alias["open_findings"],
        serde_json::json!(["dangling_cname"])
    );

    // /metrics counts the open findings by kind.
    let (_, metrics) = http_get(d.api, "/metrics").unwrap();
    for (kind, n) in [
        ("dangling_cname", 1),
        ("dangling_mx", 1),
        ("lame_delegation", 1),
        ("unreachable", 1),
        ("abuse_content", 0),
    ] {
        let line = format!("ranah_findings_open{{kind=\"{kind}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // One email per finding to the agency's people and the office's admins, not per check.
    assert!(
        eventually(20, || mails(&smtp, "Temuan pengawasan").len() >= 2 * 8),
        "{:?}",
        smtp.received()
    );
    std::thread::sleep(Duration::from_secs(2));
    let all = mails(&smtp, "Temuan pengawasan");
    assert_eq!(all.len(), 2 * 8, "{all:?}");
    let spam = mails(&smtp, "judi");
    assert_eq!(spam.len(), 2, "{spam:?}");
    let to: Vec<&str> = spam.iter().map(|(to, _)| to.as_str()).collect();
    assert!(
        to.contains(&"andi@dinkes.example") && to.contains(&"ops@kominfo.example"),
        "{to:?}"
    );

    // Suspended from a serious finding in one step, by an admin only, with it as the reason.
    let f = check(&d, &ops, "alias.example.go.id");
    let dangling = f[0]["id"].as_i64().unwrap();
    assert_eq!(f[0]["serious"], true);
    let r = post_json(
        &d,
        &format!("/api/v1/findings/{dangling}/suspend"),
        &kadis,
        "",
    );
    assert_eq!(r.status, 403, "{}", r.json);
    let unreachable = curl(
        &d,
        "GET",
        "/api/v1/subdomains/web.example.go.id",
        Some(&ops),
        &[],
    )
    .json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "unreachable")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = post_json(
        &d,
        &format!("/api/v1/findings/{unreachable}/suspend"),
        &ops,
        "",
    );
    assert_eq!(r.status, 409, "not a takeover: {}", r.json);
    let r = post_json(
        &d,
        &format!("/api/v1/findings/{dangling}/suspend"),
        &ops,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.json["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("temuan #{dangling} (dangling_cname)"))
    );
    let answer = query(d.dns, "alias.example.go.id.", RecordType::CNAME, UDP);
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
    let r = post_json(
        &d,
        &format!("/api/v1/findings/{dangling}/suspend"),
        &ops,
        "",
    );
    assert_eq!(r.status, 409, "{}", r.json);
    let r = post_json(&d, "/api/v1/subdomains/alias.example.go.id/check", &ops, "");
    assert_eq!(
        r.status, 409,
        "a suspended name serves nothing to check: {}",
        r.json
    );
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/alias.example.go.id",
        Some(&ops),
        &[],
    );
    assert_eq!(r.json["state"], "suspended");
    assert_eq!(r.json["findings"][0]["suspended"], true);
    let audit = curl(
        &d,
        "GET",
        "/api/v1/audit?action=zone.change",
        Some(&ops),
        &[],
    );
    assert!(
        audit
            .json
            .to_string()
            .contains(&format!("temuan #{dangling}")),
        "{}",
        audit.json
    );
    let audit = curl(
        &d,
        "GET",
        "/api/v1/audit?action=finding.open",
        Some(&ops),
        &[],
    );
    assert_eq!(
        audit.json["items"].as_array().unwrap().len(),
        8,
        "{}",
        audit.json
    );

    // The monthly service report counts them: 8 opened, 4 resolved (in the month the test
    // started, and the next should it run across the month's end).
    let months: std::collections::BTreeSet<String> = [started, chrono::Utc::now()]
        .iter()
        .map(|t| {
            t.with_timezone(&chrono_tz::Asia::Makassar)
                .format("%Y-%m")
                .to_string()
        })
        .collect();
    let (mut opened, mut resolved) = (0, 0);
    for month in &months {
        let r = curl(
            &d,
            "GET",
            &format!("/api/v1/reports/service?month={month}"),
            Some(&ops),
            &[],
        );
        assert_eq!(r.status, 200, "{}", r.json);
        let o = &r.json["oversight"];
        opened += o["findings_opened"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>();
        resolved += o["findings_resolved"].as_u64().unwrap();
        let csv = Command::new("curl")
            .args([
                "-s",
                "-H",
                &format!("Authorization: Bearer {ops}"),
                "-H",
                "Accept: text/csv",
            ])
            .arg(format!(
                "http://{}/api/v1/reports/service?month={month}",
                d.api
            ))
            .output()
            .unwrap();
        let csv = String::from_utf8_lossy(&csv.stdout);
        assert!(csv.contains("finding_resolved,,hours,"), "{csv}");
    }
    assert_eq!((opened, resolved), (8, 4));

    // The console: the register marks names with findings; a name's page lists them, checks
    // on demand for the office, and suspends from a serious finding for an admin.
    for user in ["ops", "kadis", "dewi"] {
        crate::console::set_password(&d, user, CONSOLE_PASSWORD);
    }
    let admin = crate::console::Browser::new(&d);
    assert_eq!(admin.sign_in("ops", CONSOLE_PASSWORD).status, 303);
    let register = admin.get("/register");
    assert!(
        register
            .body
            .contains("href=\"/subdomains/web.example.go.id\""),
        "{}",
        register.body
    );
    assert!(register.body.contains("1 temuan"), "{}", register.body);
    let page = admin.get("/subdomains/web.example.go.id");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("situs tidak dapat dihubungi"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Periksa sekarang"), "{}", page.body);
    let csrf = page.hidden("csrf");
    let checked = admin.post("/subdomains/mail.example.go.id/check", &[("csrf", &csrf)]);
    assert_eq!(checked.status, 303, "{}", checked.body);
    let mail_page = admin.get("/subdomains/mail.example.go.id?saved=1");
    assert!(
        mail_page.body.contains("Pemeriksaan selesai."),
        "{}",
        mail_page.body
    );
    let forged = admin.post(
        "/subdomains/mail.example.go.id/check",
        &[("csrf", "forged")],
    );
    assert_eq!(forged.status, 403);
    let sub = admin.get("/subdomains/sub.example.go.id");
    let lame = curl(
        &d,
        "GET",
        "/api/v1/subdomains/sub.example.go.id",
        Some(&ops),
        &[],
    )
    .json["findings"][0]["id"]
        .as_i64()
        .unwrap();
    assert!(
        sub.body
            .contains(&format!("action=\"/findings/{lame}/suspend\"")),
        "{}",
        sub.body
    );
    let approver = crate::console::Browser::new(&d);
    approver.sign_in("kadis", CONSOLE_PASSWORD);
    let seen = approver.get("/subdomains/sub.example.go.id");
    assert!(
        seen.body.contains("Periksa sekarang") && !seen.body.contains("/suspend\""),
        "{}",
        seen.body
    );
    let other = crate::console::Browser::new(&d);
    other.sign_in("dewi", CONSOLE_PASSWORD);
    let hidden = other.get("/subdomains/web.example.go.id");
    assert!(
        hidden.body.contains("Tidak ada temuan.") && !hidden.body.contains("Periksa sekarang"),
        "{}",
        hidden.body
    );
    let done = admin.post(&format!("/findings/{lame}/suspend"), &[("csrf", &csrf)]);
    assert_eq!(done.status, 303, "{}", done.body);
    let after = admin.get("/subdomains/sub.example.go.id");
    assert!(
        after
            .body
            .contains(&format!("temuan #{lame} (lame_delegation)")),
        "{}",
        after.body
    );

    // The command line: the findings of one name, exit status 1 while any is open.
    let out = d.cli(&["--config", "ranah.toml", "check", "mail.example.go.id"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 open finding") && text.contains("dangling_mx"),
        "{text}"
    );
}

#[test]
fn scheduled_runs_check_every_name_without_being_asked() {
    let zone = "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 2026010100 3600 900 1209600 300\n\
                @ NS ns1.example.net.\ngone CNAME nowhere.example.go.id.\nok A 203.0.113.9\n";
    let tmp = Daemon::workdir("example.go.id.zone", zone);
    let config = "[checker]\nfirst_run_delay_secs = 0\nevery_secs = 3600\nbudget_secs = 2\n\
                  resolvers = [\"127.0.0.1:9\"]\ntimeout_secs = 1\n";
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(config));
    let ops = {
        cli_ok(&d, &["user", "add", "ops", "--role", "admin"]);
        cli_ok(&d, &["token", "create", "ops"])
    };
    assert!(
        eventually(15, || {
            let r = curl(
                &d,
                "GET",
                "/api/v1/subdomains/gone.example.go.id",
                Some(&ops),
                &[],
            );
            kinds(&r.json["findings"], true) == ["dangling_cname"]
        }),
        "the run did not find the dangling CNAME"
    );
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/ok.example.go.id",
        Some(&ops),
        &[],
    );
    assert!(kinds(&r.json["findings"], false).is_empty(), "{}", r.json);
    // Both names were checked, spread over the budget (a second apart), by the run.
    assert!(
        eventually(10, || {
            let (_, m) = http_get(d.api, "/metrics").unwrap();
            m.contains("ranah_checks_total{reason=\"checked\"} 2")
        }),
        "{}",
        http_get(d.api, "/metrics").unwrap().1
    );
}

#[test]
fn a_run_over_ten_thousand_names_keeps_to_its_budget_and_its_connection_limit() {
    const NAMES: usize = 10_000;
    const LIMIT: usize = 16;
    let (http_port, https_port) = (free_port(), free_port());
    // The name servers are outside the zone: the names checked are the 10,000.
    let mut zone = String::from(
        "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 2026010100 3600 900 1209600 300\n\
         @ NS ns1.example.net.\n",
    );
    for i in 0..NAMES {
        zone.push_str(&format!("h{i:05} A 127.0.0.5\n"));
    }
    let tmp = Daemon::workdir("example.go.id.zone", &zone);
    // Plain HTTP only: each check is refused on 443 and reads the page on 80.
    let web = Web::start([127, 0, 0, 5], http_port, None, &["unused"]);
    let budget = 300;
    let config = format!(
        "[names]\nallow_loopback_addresses = true\n\
         [checker]\nenabled = false\nmax_connections = {LIMIT}\nbudget_secs = {budget}\ntimeout_secs = 5\n\
         resolvers = [\"127.0.0.1:9\"]\nports = {{ http = {http_port}, https = {https_port} }}\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let out = d.cli(&["--config", "ranah.toml", "check", "--all"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figure = |before: &str| -> f64 {
        let at = text
            .find(before)
            .unwrap_or_else(|| panic!("{before} in {text}"));
        text[..at]
            .split_whitespace()
            .last()
            .unwrap()
            .trim_start_matches('(')
            .parse()
            .unwrap()
    };
    assert!(
        text.starts_with(&format!("checked {NAMES} of {NAMES} names")),
        "{text}"
    );
    assert!(text.contains("0 left for the next run, 0 failed"), "{text}");
    assert!(figure(" s (") < f64::from(budget), "{text}");
    let peak = text
        .split("at most ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(peak.parse::<usize>().unwrap() <= LIMIT, "{text}");
    // What the server saw: every page asked for, never more than the limit at once.
    assert_eq!(web.state.served.load(Ordering::SeqCst), NAMES);
    let seen = web.state.peak.load(Ordering::SeqCst);
    assert!(seen <= LIMIT && seen > 1, "{seen} connections at once");
    println!("{text}");
}

#[test]
fn a_name_given_for_a_time_is_told_suspended_and_removed_each_step_audited() {
    let smtp_port = free_port();
    let zone = "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 2026010100 3600 900 1209600 300\n\
                @ NS ns1.example.net.\nacara A 203.0.113.50\nproyek A 203.0.113.51\n";
    let tmp = Daemon::workdir("example.go.id.zone", zone);
    let config = format!(
        "[checker]\nenabled = false\n[expiry]\ngrace_days = 30\nevery_secs = 86400\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nretry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let smtp = Smtp::start(smtp_port, &tmp.path().join("smtp.log"));
    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    cli_ok(&d, &["agency", "add", "DISHUB", "Dinas Perhubungan"]);
    for (user, role, agency) in [
        ("andi", "applicant", Some("DINKES")),
        ("dewi", "applicant", Some("DISHUB")),
        ("ops", "admin", None),
    ] {
        let email = format!("{user}@example.go.id");
        let mut args = vec!["user", "add", user, "--role", role, "--email", &email];
        if let Some(a) = agency {
            args.extend(["--agency", a]);
        }
        cli_ok(&d, &args);
    }
    let [andi, dewi, ops] = ["andi", "dewi", "ops"].map(|u| cli_ok(&d, &["token", "create", u]));
    for name in ["acara", "proyek"] {
        cli_ok(
            &d,
            &[
                "subdomain",
                "assign",
                &format!("{name}.example.go.id"),
                "--agency",
                "DINKES",
            ],
        );
    }
    let put = |token: &str, name: &str, body: &str| {
        curl(
            &d,
            "PUT",
            &format!("/api/v1/subdomains/{name}/end_date"),
            Some(token),
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };
    let now = chrono::Utc::now();
    let today = now.with_timezone(&chrono_tz::Asia::Makassar).date_naive();
    let ends = today + chrono::Duration::days(40);
    let body = format!("{{\"end_date\": \"{ends}\"}}");

    // Who may, and what: an admin (an end removes the name without a delete request); a day
    // from tomorrow.
    assert_eq!(put(&dewi, "acara.example.go.id", &body).status, 403);
    assert_eq!(put(&andi, "acara.example.go.id", &body).status, 403);
    let r = put(
        &ops,
        "acara.example.go.id",
        &format!("{{\"end_date\": \"{today}\"}}"),
    );
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(
        put(
            &ops,
            "acara.example.go.id",
            "{\"end_date\": \"31/12/2027\"}"
        )
        .status,
        422
    );
    assert_eq!(put(&ops, "acara.example.go.id", "{\"end\": 1}").status, 422);
    let r = put(&ops, "acara.example.go.id", &body);
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["end_date"], ends.to_string());
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/acara.example.go.id",
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["end_date"], ends.to_string());
    // Another name's end taken away again.
    assert_eq!(put(&ops, "proyek.example.go.id", &body).status, 200);
    let r = curl(
        &d,
        "DELETE",
        "/api/v1/subdomains/proyek.example.go.id/end_date",
        Some(&ops),
        &[],
    );
    assert_eq!(r.status, 204);
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/proyek.example.go.id",
        Some(&ops),
        &[],
    );
    assert!(r.json["end_date"].is_null(), "{}", r.json);

    // The clock moves on: notices 30, 7 and 1 days before the end, each once.
    let tick = |days: i64| {
        d.block_on(
            d.running()
                .expiry()
                .tick(now + chrono::Duration::days(days)),
        )
        .unwrap()
    };
    let pass = |notices, suspended, removed| ranah::service::expiry::Pass {
        notices,
        suspended,
        removed,
    };
    assert_eq!(tick(10), pass(0, 0, 0));
    assert_eq!(tick(11), pass(1, 0, 0));
    assert_eq!(tick(12), pass(0, 0, 0));
    assert_eq!(tick(34), pass(1, 0, 0));
    assert_eq!(tick(40), pass(1, 0, 0));
    let answer = query(d.dns, "acara.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NoError
    );
    // The day after the last: suspended.
    assert_eq!(tick(41), pass(0, 1, 0));
    let answer = query(d.dns, "acara.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/acara.example.go.id",
        Some(&ops),
        &[],
    );
    assert_eq!(r.json["state"], "suspended");
    assert!(
        r.json["suspension"]["reason"]
            .as_str()
            .unwrap()
            .contains(&ends.to_string())
    );
    assert_eq!(put(&ops, "acara.example.go.id", &body).status, 409);
    let r = curl(
        &d,
        "DELETE",
        "/api/v1/subdomains/acara.example.go.id/end_date",
        Some(&ops),
        &[],
    );
    assert_eq!(r.status, 409, "the term's suspension holds it: {}", r.json);
    // The grace period, then removed.
    assert_eq!(tick(70), pass(0, 0, 0));
    assert_eq!(tick(71), pass(0, 0, 1));
    assert_eq!(tick(72), pass(0, 0, 0));
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/acara.example.go.id",
        Some(&ops),
        &[],
    );
    assert_eq!(r.status, 404, "{}", r.json);
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/proyek.example.go.id",
        Some(&ops),
        &[],
    );
    assert_eq!(r.status, 200, "the other name stays: {}", r.json);

    // Every step in the trail; every notice to the agency.
    let audit = |action: &str| {
        curl(
            &d,
            "GET",
            &format!("/api/v1/audit?action={action}"),
            Some(&ops),
            &[],
        )
        .json["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(audit("subdomain.end_date"), 3);
    assert_eq!(audit("subdomain.end_notice"), 3);
    assert_eq!(audit("subdomain.remove"), 1);
    let zone_changes = curl(
        &d,
        "GET",
        "/api/v1/audit?action=zone.change",
        Some(&ops),
        &[],
    );
    assert!(
        zone_changes
            .json
            .to_string()
            .contains("masa berlaku berakhir"),
        "{}",
        zone_changes.json
    );
    // The notices were queued at the moved clock's times: the courier's clock moves on too.
    let out = store_exec(
        tmp.path(),
        "UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000Z' WHERE sent_at IS NULL",
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(30, || mails(&smtp, "acara.example.go.id").len() >= 5),
        "{:?}",
        smtp.received()
    );
    let to_andi: Vec<String> = mails(&smtp, "acara.example.go.id")
        .into_iter()
        .filter(|(to, _)| to.contains("andi@"))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(to_andi.len(), 5, "{to_andi:?}");
    for (i, days) in ["30 hari", "7 hari", "1 hari"].iter().enumerate() {
        assert!(to_andi[i].contains(days), "{to_andi:?}");
    }
    assert!(
        to_andi[3].contains("ditangguhkan") && to_andi[4].contains("dihapus"),
        "{to_andi:?}"
    );
}

#[test]
fn each_name_is_confirmed_yearly_reminded_marked_suspended_restored_or_retired() {
    let smtp_port = free_port();
    let zone = "$ORIGIN example.go.id.\n$TTL 300\n@ SOA ns1.example.net. hostmaster 2026010100 3600 900 1209600 300\n\
                @ NS ns1.example.net.\nacara A 203.0.113.50\nproyek A 203.0.113.51\n";
    let tmp = Daemon::workdir("example.go.id.zone", zone);
    let config = format!(
        "[checker]\nenabled = false\n[confirmation]\nenabled = false\nevery_days = 365\nnotice_days = 30\ngrace_days = 30\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nretry_base_secs = 1\nretry_max_secs = 2\n"
    );
    let d = Daemon::start_configured(tmp.path(), ([127, 0, 0, 1], 0).into(), Some(&config));
    let smtp = Smtp::start(smtp_port, &tmp.path().join("smtp.log"));
    cli_ok(&d, &["agency", "add", "DINKES", "Dinas Kesehatan"]);
    cli_ok(&d, &["agency", "add", "DISHUB", "Dinas Perhubungan"]);
    for (user, role, agency) in [
        ("andi", "applicant", Some("DINKES")),
        ("dewi", "applicant", Some("DISHUB")),
        ("ops", "admin", None),
    ] {
        let email = format!("{user}@example.go.id");
        let mut args = vec!["user", "add", user, "--role", role, "--email", &email];
        if let Some(a) = agency {
            args.extend(["--agency", a]);
        }
        cli_ok(&d, &args);
    }
    let [andi, dewi, ops] = ["andi", "dewi", "ops"].map(|u| cli_ok(&d, &["token", "create", u]));
    for name in ["acara", "proyek"] {
        cli_ok(
            &d,
            &[
                "subdomain",
                "assign",
                &format!("{name}.example.go.id"),
                "--agency",
                "DINKES",
            ],
        );
    }
    let now = chrono::Utc::now();
    let tick = |days: i64| {
        d.block_on(
            d.running()
                .confirmations()
                .tick(now + chrono::Duration::days(days)),
        )
        .unwrap()
    };
    let states = |token: &str| -> Vec<(String, String)> {
        let r = curl(&d, "GET", "/api/v1/confirmations", Some(token), &[]);
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_owned(),
                    i["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // The names were made years ago (the job is off: the test runs each pass itself): they are
    // tracked, with a notice period before their first due day.
    let out = store_exec(
        tmp.path(),
        "UPDATE records SET created_at = '2020-01-01T00:00:00.000Z'",
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tick(0).tracked, 2);
    let today = now.with_timezone(&chrono_tz::Asia::Makassar).date_naive();
    let r = curl(&d, "GET", "/api/v1/confirmations", Some(&andi), &[]);
    assert_eq!(
        r.json["items"][0]["due_on"],
        (today + chrono::Duration::days(30)).to_string()
    );
    assert_eq!(
        states(&andi),
        [
            ("acara.example.go.id".into(), "awaiting".into()),
            ("proyek.example.go.id".into(), "awaiting".into())
        ]
    );
    assert!(
        states(&dewi).is_empty(),
        "another agency's names are not dewi's to see"
    );
    assert_eq!(states(&ops).len(), 2);

    // Reminders 30 and 7 days before, each once.
    assert_eq!(tick(1).reminders, 2);
    assert_eq!(tick(2).reminders, 0);
    assert_eq!(tick(24).reminders, 2);
    // proyek is confirmed: for another year; dewi may not, nor without a person.
    let body = r#"{"contact": {"name": "Budi Santoso", "email": "budi@dinkes.example", "phone": "0812"}, "purpose": "Sistem informasi kesehatan"}"#;
    let r = post_json(
        &d,
        "/api/v1/subdomains/proyek.example.go.id/confirm",
        &dewi,
        body,
    );
    assert_eq!(r.status, 403, "{}", r.json);
    let r = post_json(
        &d,
        "/api/v1/subdomains/proyek.example.go.id/confirm",
        &andi,
        r#"{"contact": {"name": "", "email": "x"}, "purpose": "x"}"#,
    );
    assert_eq!(r.status, 422, "{}", r.json);
    let r = post_json(
        &d,
        "/api/v1/subdomains/proyek.example.go.id/confirm",
        &andi,
        body,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["state"], "confirmed");
    assert_eq!(
        r.json["due_on"],
        (today + chrono::Duration::days(365)).to_string()
    );
    assert_eq!(r.json["contact"]["name"], "Budi Santoso");

    // acara: the last reminder, then marked, then suspended after the grace period.
    assert_eq!(tick(30).reminders, 1);
    assert_eq!(tick(31).marked, 1);
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/acara.example.go.id",
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["confirmation"]["state"], "unconfirmed", "{}", r.json);
    assert_eq!(tick(60).suspended, 0);
    assert_eq!(tick(61).suspended, 1);
    let answer = query(d.dns, "acara.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
    let r = curl(
        &d,
        "GET",
        "/api/v1/subdomains/acara.example.go.id",
        Some(&andi),
        &[],
    );
    assert_eq!(r.json["state"], "suspended");
    assert_eq!(r.json["confirmation"]["state"], "suspended");
    assert_eq!(tick(62), Default::default());

    // The agency confirms it: restored.
    let r = post_json(
        &d,
        "/api/v1/subdomains/acara.example.go.id/confirm",
        &andi,
        body,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let answer = query(d.dns, "acara.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NoError
    );

    // Every step in the trail, and the emails to the agency.
    let audit = |action: &str| {
        curl(
            &d,
            "GET",
            &format!("/api/v1/audit?action={action}"),
            Some(&ops),
            &[],
        )
        .json["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(audit("subdomain.confirmation_reminder"), 5);
    assert_eq!(audit("subdomain.unconfirmed"), 1);
    assert_eq!(audit("subdomain.unconfirmed_suspend"), 1);
    assert_eq!(audit("subdomain.confirm"), 2);
    let out = store_exec(
        tmp.path(),
        "UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00.000Z' WHERE sent_at IS NULL",
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(30, || mails(&smtp, "acara.example.go.id").len() >= 5),
        "{:?}",
        smtp.received()
    );
    let acara = mails(&smtp, "acara.example.go.id");
    assert_eq!(acara.len(), 5, "{acara:?}");
    assert!(
        acara.iter().all(|(to, _)| to.contains("andi@")),
        "{acara:?}"
    );
    assert!(
        acara[3].1.contains("belum dikonfirmasi") && acara[4].1.contains("ditangguhkan"),
        "{acara:?}"
    );

    // The console: the agency confirms, or retires a name from the same screen.
    crate::console::set_password(&d, "andi", CONSOLE_PASSWORD);
    let browser = crate::console::Browser::new(&d);
    assert_eq!(browser.sign_in("andi", CONSOLE_PASSWORD).status, 303);
    let page = browser.get("/confirmations");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("id=\"confirm-proyek.example.go.id\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Budi Santoso"), "{}", page.body);
    let csrf = page.hidden("csrf");
    let done = browser.post(
        "/confirmations/acara.example.go.id",
        &[
            ("csrf", &csrf),
            ("contact_name", "Sari"),
            ("contact_email", "sari@dinkes.example"),
            ("purpose", "Situs acara tahunan"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(audit("subdomain.confirm"), 3);
    let retired = browser.post(
        "/confirmations/proyek.example.go.id/retire",
        &[("csrf", &csrf)],
    );
    assert_eq!(retired.status, 303, "{}", retired.body);
    let location = retired.header("location").unwrap();
    let id = location.trim_start_matches("/requests/");
    let r = curl(
        &d,
        "GET",
        &format!("/api/v1/requests/{id}"),
        Some(&andi),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["kind"], "delete");
    assert_eq!(r.json["name"], "proyek");

    // An admin's suspension is not the confirmation's to lift.
    let r = post_json(
        &d,
        "/api/v1/subdomains/acara.example.go.id/suspend",
        &ops,
        r#"{"reason": "konten judi"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let r = post_json(
        &d,
        "/api/v1/subdomains/acara.example.go.id/confirm",
        &andi,
        body,
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let answer = query(d.dns, "acara.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        answer.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );
}
