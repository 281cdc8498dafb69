//! Two ranah processes on one PostgreSQL, as two sites would run them: each answers DNS and
//! the API from memory, and serves what the other commits within a second.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::harness::*;
use crate::postgres::PgCluster;

/// Two instances, each in a directory of its own (its data, the same zone file), on one
/// database of a cluster of the test's own.
struct Pair {
    // (Dropped in this order: the instances before their database.)
    a: Daemon,
    b: Daemon,
    _pg: PgCluster,
    _dirs: [tempfile::TempDir; 2],
}

fn pair() -> Pair {
    let pg = PgCluster::start(None);
    let url = pg.database("ranah");
    let dirs = [(); 2].map(|_| {
        let dir = Daemon::workdir("example.go.id.zone", &test_zone());
        std::fs::write(dir.path().join(".database-url"), &url).unwrap();
        dir
    });
    // Instances that share a store share the key that seals its DNSSEC keys.
    let config =
        "[dnssec]\nkey_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
    let start = |dir: &tempfile::TempDir| {
        let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Daemon::start_process(dir.path(), dns, Some(config))
    };
    let a = start(&dirs[0]);
    let b = start(&dirs[1]);
    Pair {
        a,
        b,
        _pg: pg,
        _dirs: dirs,
    }
}

/// The A record `name` has at `d`, if any.
fn address(d: &Daemon, name: &str) -> Option<String> {
    let m = query(d.dns, &format!("{name}.example.go.id."), RecordType::A, UDP);
    (m.response_code == ResponseCode::NoError)
        .then(|| m.answers.first().map(|r| r.data.to_string()))
        .flatten()
}

/// An approval through A is answered by A when its response returns, and by B's DNS within a
/// second (the test prints how long B took).
#[test]
fn an_approval_through_one_instance_is_answered_by_the_other_within_a_second() {
    let p = pair();
    let tokens = setup_people(&p.a);
    let mut lags = Vec::new();
    for i in 0..5 {
        let name = format!("ikut{i}");
        provision(&p.a, &tokens, &name, "203.0.113.10");
        let approved = Instant::now();
        assert_eq!(address(&p.a, &name).as_deref(), Some("203.0.113.10"));
        let mut answered = None;
        while approved.elapsed() < Duration::from_secs(5) {
            if address(&p.b, &name).is_some() {
                answered = Some(approved.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let lag = answered.unwrap_or_else(|| panic!("B never answered {name}"));
        assert!(
            lag < Duration::from_secs(1),
            "B answered {name} after {lag:?}"
        );
        lags.push(lag);
    }
    lags.sort();
    println!(
        "follow lag, approval answered by A -> answered by B: median {:?}, max {:?}",
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    assert_eq!(serial(&p.a), serial(&p.b));
    // B measured it too.
    let (code, text) = http_get(p.b.api, "/metrics").unwrap();
    assert_eq!(code, 200);
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("ranah_follow_lag_seconds_count "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(count >= 5.0, "{count}");
}

/// 200 provisioning approvals sent alternately to both instances, two at a time, end with
/// 200 distinct serial steps, one after the other, both instances at the last, and one
/// unbroken audit chain.
#[test]
fn approvals_through_both_instances_step_the_serial_once_each() {
    const REQUESTS: usize = 200;
    let p = pair();
    let tokens = setup_people(&p.a);
    let [andi, _, kadis, kabid, teknis, _] = &tokens;
    let before = serial(&p.a);
    // Each request submitted and approved up to its last step through the instance that will
    // provision it (its letter is kept there).
    let prepare = |d: &Daemon, parity: usize| -> Vec<i64> {
        (0..REQUESTS)
            .filter(|i| i % 2 == parity)
            .map(|i| {
                let body = request_body("create", &format!("n{i}"), "203.0.113.20", false);
                let r = post_json(d, "/api/v1/requests", andi, &body);
                assert_eq!(r.status, 201, "{}", r.json);
                let id = r.json["id"].as_i64().unwrap();
                attach_letter(d, andi, id);
                for token in [kadis, kabid] {
                    let r = post_json(d, &format!("/api/v1/requests/{id}/approve"), token, "{}");
                    assert_eq!(r.status, 200, "{}", r.json);
                }
                id
            })
            .collect()
    };
    let (ids_a, ids_b) = std::thread::scope(|s| {
        let a = s.spawn(|| prepare(&p.a, 0));
        let b = s.spawn(|| prepare(&p.b, 1));
        (a.join().unwrap(), b.join().unwrap())
    });
    // The provisioning approvals, both instances at once.
    let started = Instant::now();
    let approve = |d: &Daemon, ids: &[i64]| {
        for id in ids {
            let r = post_json(d, &format!("/api/v1/requests/{id}/approve"), teknis, "{}");
            assert_eq!(r.status, 200, "{}", r.json);
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| approve(&p.a, &ids_a));
        s.spawn(|| approve(&p.b, &ids_b));
    });
    println!(
        "{REQUESTS} provisioning approvals through two instances in {:?}",
        started.elapsed()
    );

    // The journal: 200 provisioning changes, each its own serial step, chained.
    let rows = store_query(
        &p.a.dir,
        "SELECT serial_before, serial_after, reason FROM zone_changes ORDER BY id",
    );
    let steps: Vec<(u64, u64)> = rows
        .iter()
        .filter(|r| r[2].as_str().is_some_and(|s| s.contains("request")))
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    assert_eq!(steps.len(), REQUESTS, "{rows:?}");
    let mut serials: Vec<u64> = steps.iter().map(|s| s.1).collect();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), REQUESTS, "distinct serials");
    let all: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    for w in all.windows(2) {
        assert_eq!(w[0].1, w[1].0, "each change moves on from the one before");
    }
    let last = all.last().unwrap().1 as u32;
    assert!(last > before);
    // Both serve the last serial and every name.
    assert!(eventually(2, || serial(&p.a) == last && serial(&p.b) == last));
    for i in (0..REQUESTS).step_by(17) {
        let name = format!("n{i}");
        assert_eq!(address(&p.a, &name).as_deref(), Some("203.0.113.20"));
        assert_eq!(address(&p.b, &name).as_deref(), Some("203.0.113.20"));
    }
    // One unbroken audit chain.
    let out = p.b.cli(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
