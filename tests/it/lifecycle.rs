//! Start, readiness, configuration, restart and shutdown of the real daemon.

use hickory_proto::rr::RecordType;

use crate::harness::*;

#[test]
fn serves_the_shipped_zone_on_defaults() {
    // The repository's zones/ directory, as `cargo run -- serve` uses it.
    let tmp = tempfile::tempdir().unwrap();
    let zones = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    std::fs::create_dir_all(tmp.path().join("zones")).unwrap();
    for entry in std::fs::read_dir(zones).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, tmp.path().join("zones").join(p.file_name().unwrap())).unwrap();
    }
    let d = Daemon::start_in(tmp.path());
    let out = dig(d.dns, &["kaltaraprov.go.id", "SOA", "+norec"]);
    assert!(out.contains("flags: qr aa;"), "{out}");
    assert!(out.contains("status: NOERROR"), "{out}");
    let m = query(d.dns, "www.kaltaraprov.go.id.", RecordType::A, UDP);
    assert_eq!(m.answers.len(), 1);
    let m = query(d.dns, "x.bulungan.kaltaraprov.go.id.", RecordType::A, UDP);
    assert!(!m.metadata.authoritative);
    assert_eq!(m.additionals.len(), 2);
}

#[test]
fn health_and_readiness() {
    let d = Daemon::start_test_zone();
    let (status, body) = http_get(d.api, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(d.api, "/readyz").unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["zones"][0]["zone"], "example.go.id.");
    assert_eq!(v["zones"][0]["serial"], 2026010100);
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut d = Daemon::start_process_test_zone();
    let status = d.stop();
    assert!(status.success(), "{status}");
    // The ports are free again.
    assert!(std::net::TcpListener::bind(d.dns).is_ok());
    assert!(std::net::TcpListener::bind(d.api).is_ok());
}

#[test]
fn serial_moves_forward_across_restarts_and_cli_changes() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let mut d = Daemon::start_process(tmp.path(), ([127, 0, 0, 1], free_port()).into(), None);
    assert_eq!(serial(&d), 2026010100);

    // An operator replaces the zone from an edited file while the daemon runs: the daemon
    // picks the change up from the store, and the serial moves to today's.
    d.replace_zone(&test_zone().replace("www A 203.0.113.10", "www A 203.0.113.11"));
    let today: u32 = chrono::Utc::now()
        .format("%Y%m%d")
        .to_string()
        .parse::<u32>()
        .unwrap()
        * 100;
    assert!(
        eventually(10, || serial(&d) >= today),
        "the daemon did not pick up the change"
    );
    let after_change = serial(&d);
    let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.answers[0].data.to_string(), "203.0.113.11");
    assert!(d.stop().success());

    // Restart: same serial, same data; the zone file in zones/ is not imported again.
    let mut d = Daemon::start_process(tmp.path(), ([127, 0, 0, 1], free_port()).into(), None);
    assert_eq!(serial(&d), after_change);
    let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
    assert_eq!(m.answers[0].data.to_string(), "203.0.113.11");

    // Another change after the restart moves on from there, never back.
    d.replace_zone(&test_zone());
    assert!(eventually(10, || serial(&d) == after_change + 1));
    assert!(d.stop().success());
}

#[test]
fn edited_zone_file_is_reported_not_applied() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let mut d = Daemon::start_process(tmp.path(), ([127, 0, 0, 1], free_port()).into(), None);
    assert!(d.stop().success());
    let path = tmp.path().join("zones/example.go.id.zone");
    std::fs::write(&path, test_zone().replace("203.0.113.10", "203.0.113.99")).unwrap();
    let out = ranah_cli(tmp.path(), &["zone", "import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replace"));
    let d = Daemon::start_in(tmp.path());
    let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
    assert_eq!(
        m.answers[0].data.to_string(),
        "203.0.113.10",
        "the store stays the truth"
    );
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("ranah.toml");
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    std::fs::write(&cfg, format!("data_dir = \"/from/file\"\n[api]\nlisten = \"127.0.0.1:9999\"\n[audit]\nsigning_key = \"{key}\"\n")).unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--api-listen",
            "127.0.0.1:7777",
            "check-config",
        ])
        .env("RANAH_DNS_LISTEN", "127.0.0.1:5353")
        .env_remove("RANAH_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("data_dir = \"/from/file\""), "{text}");
    assert!(
        text.contains("127.0.0.1:5353"),
        "env overrides file: {text}"
    );
    assert!(
        text.contains("listen = \"127.0.0.1:7777\""),
        "flag overrides file: {text}"
    );
    assert!(!text.contains(key), "secret redacted: {text}");
    // The database follows data_dir, and its URL is shown (it has no password to hide).
    assert!(
        text.contains("database_url = \"sqlite:///from/file/ranah.db?mode=rwc\""),
        "{text}"
    );
}

#[test]
fn unknown_config_key_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("ranah.toml");
    std::fs::write(&cfg, "[dns]\nlisten_address = \"127.0.0.1:53\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .env("RANAH_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_address"));
}

#[test]
fn migrate_creates_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ranah_cli(tmp.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backend = if database_url(tmp.path()).is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let migrations = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend),
    )
    .unwrap()
    .count();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("{migrations} migration(s) applied")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        tmp.path().join("data/ranah.db").exists(),
        backend == "sqlite"
    );
    let out = ranah_cli(tmp.path(), &["migrate"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 migration(s) applied"));
}

#[test]
fn json_logs_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["zone", "export", "missing.example"])
        .env("RANAH_DATA_DIR", tmp.path().join("data"))
        .env("RANAH_LOG_FORMAT", "json")
        .env("RANAH_UNKNOWN_THING", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warn = stderr
        .lines()
        .find(|l| l.contains("RANAH_UNKNOWN_THING"))
        .expect(&stderr);
    let v: serde_json::Value = serde_json::from_str(warn).unwrap();
    assert_eq!(v["level"], "WARN");
    assert!(!out.status.success());
}

/// A restart loads each zone from the snapshot kept when the daemon stopped and replays the
/// journal of the changes made since (here by the CLI while the daemon was down), without
/// reading every record. Records changed in the store without a journal entry make it read
/// the records instead. Either way DNS answers what the store holds.
#[test]
fn a_restart_loads_the_snapshot_and_the_changes_since() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let start = |log: &str| {
        let log = tmp.path().join(log);
        let d = Daemon::start_process_logging(
            tmp.path(),
            ([127, 0, 0, 1], free_port()).into(),
            None,
            &log,
        );
        (d, log)
    };
    let www = |d: &Daemon| {
        let m = query(d.dns, "www.example.go.id.", RecordType::A, UDP);
        (
            m.metadata.response_code,
            m.answers
                .iter()
                .map(|r| r.data.to_string())
                .collect::<Vec<_>>(),
        )
    };
    let read = |log: &std::path::Path| std::fs::read_to_string(log).unwrap();
    let (mut d, first) = start("first.log");
    assert!(
        read(&first).contains("loading the zone from its records"),
        "{}",
        read(&first)
    );
    assert!(d.stop().success());

    // Changed while the daemon is down, through the CLI: journaled.
    d.replace_zone(&test_zone().replace("www A 203.0.113.10", "www A 203.0.113.11"));
    let (mut d, second) = start("second.log");
    assert_eq!(www(&d).1, ["203.0.113.11"]);
    let log = read(&second);
    assert!(!log.contains("loading the zone from its records"), "{log}");
    let serial_before = serial(&d);
    assert!(d.stop().success());

    // A record removed behind ranah's back, without a journal entry: the snapshot does not
    // account for it, so the zone is read from its records.
    let deleted = store_query(
        tmp.path(),
        "DELETE FROM records WHERE owner LIKE 'www.example.go.id%' AND rtype = 1 RETURNING id",
    );
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    let (mut d, third) = start("third.log");
    let log = read(&third);
    assert!(
        log.contains("records changed without a journal entry"),
        "{log}"
    );
    // (The signer drops the removed set's signature: a change of its own, at the next serial.)
    assert!(serial(&d) >= serial_before);
    assert!(
        www(&d).1.is_empty(),
        "the store's truth: www has no address"
    );
    assert!(d.stop().success());
}

/// A zone imported at first start is answered from its file before the store holds it, but
/// not transferred: a secondary gets SERVFAIL and asks again. Once stored, its `_audit` record
/// joins it at the same serial and AXFR carries the whole zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_answered_from_its_file_is_transferred_once_stored() {
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let url = store_url(tmp.path());
    let store = ranah::store::Store::open(&url).await.unwrap();
    let content = ranah::zone::file::parse(&test_zone(), "example.go.id.zone", None).unwrap();
    let zones = Arc::new(ranah::dns::Zones::new());
    let publisher = Arc::new(ranah::publish::Publisher::new(store.clone(), zones.clone()));
    publisher.serve_unstored(&content);

    let dns: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let secondary = ranah::config::SecondaryConfig {
        zone: "example.go.id.".into(),
        notify: ([127, 0, 0, 1], free_port()).into(),
        allow_transfer: vec!["127.0.0.1/32".parse().unwrap()],
        tsig_key: None,
    };
    let (policy, _) = ranah::dns::secondaries::from_config(&[], &[secondary], 100).unwrap();
    let handler = ranah::dns::handler::Handler::with_transfers(
        zones.clone(),
        Arc::new(ranah::dns::handler::Transfers {
            policy,
            store: Some(store.clone()),
            observer: None,
        }),
    );
    let config = ranah::config::DnsConfig {
        listen: vec![dns],
        udp_workers: 1,
        ..Default::default()
    };
    let _server = ranah::dns::listen::start(
        handler,
        &config,
        Arc::new(ranah::telemetry::metrics::Metrics::new()),
    )
    .await
    .unwrap();
    let ask = |args: &'static [&'static str]| tokio::task::spawn_blocking(move || dig(dns, args));

    let www = ask(&["+short", "www.example.go.id.", "A"]).await.unwrap();
    assert_eq!(www.trim(), "203.0.113.10");
    let soa = ask(&["+short", "example.go.id.", "SOA"]).await.unwrap();
    let axfr =
        tokio::task::spawn_blocking(move || query(dns, "example.go.id.", RecordType::AXFR, TCP))
            .await
            .unwrap();
    assert_eq!(
        axfr.metadata.response_code,
        hickory_proto::op::ResponseCode::ServFail
    );
    let audit = ask(&["_audit.example.go.id.", "TXT"]).await.unwrap();
    assert!(audit.contains("NXDOMAIN"), "{audit}");

    let zone = ranah::publish::import::NewZone {
        content,
        source: ranah::store::ZoneSource {
            file: "example.go.id.zone".into(),
            sha256: "0".repeat(64),
        },
    };
    let anchor = ranah::publish::import::store_new_zone(
        &store,
        &zone,
        &ranah::domain::audit::Attribution::system(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    publisher.stored(&zone.content.origin, Some(&anchor)).await;

    assert_eq!(
        ask(&["+short", "example.go.id.", "SOA"]).await.unwrap(),
        soa
    );
    let axfr = ask(&["+onesoa", "example.go.id.", "AXFR"]).await.unwrap();
    assert!(!axfr.contains("SERVFAIL"), "{axfr}");
    let audit_line = axfr
        .lines()
        .find(|l| l.starts_with("_audit.example.go.id."))
        .unwrap_or_else(|| panic!("{axfr}"));
    assert!(audit_line.contains("TXT"), "{audit_line}");
    assert!(axfr.contains("www.example.go.id."), "{axfr}");
}

/// The daemon's first start with a zone that is not signed: DNS answers it from the file
/// before the store has it, the store then takes it with its `_audit` record, and its
/// snapshot is kept, so that the next start neither reads the file nor the records.
#[test]
fn a_first_start_answers_the_file_then_stores_it() {
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let config = "[dnssec]\nenabled = false\n";
    let start = |log: &str| {
        let log = tmp.path().join(log);
        let d = Daemon::start_process_logging(
            tmp.path(),
            ([127, 0, 0, 1], free_port()).into(),
            Some(config),
            &log,
        );
        (d, std::fs::read_to_string(&log).unwrap())
    };
    let (mut d, first) = start("first.log");
    assert!(
        first.contains("DNS answers the new zones from their files"),
        "{first}"
    );
    let answered = first.find("serving DNS over UDP and TCP").unwrap();
    let imported = first.find("zone imported").unwrap();
    assert!(answered < imported, "{first}");
    let audit = query(d.dns, "_audit.example.go.id.", RecordType::TXT, UDP);
    assert_eq!(audit.answers.len(), 1, "{audit:?}");
    let serial_first = serial(&d);
    assert!(d.stop().success());

    let (d, second) = start("second.log");
    assert!(
        !second.contains("loading the zone from its records"),
        "{second}"
    );
    assert!(!second.contains("DNS answers the new zones"), "{second}");
    assert_eq!(serial(&d), serial_first);
    let audit_again = query(d.dns, "_audit.example.go.id.", RecordType::TXT, UDP);
    assert_eq!(audit_again.answers, audit.answers);
}
