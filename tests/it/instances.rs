//! Two ranah processes on one PostgreSQL, as two sites would run them: each answers DNS and
//! the API from memory, and serves what the other commits within a second.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::harness::*;
use crate::postgres::PgCluster;
use crate::validate::{self, Denial, Validation};

/// Two instances, each in a directory of its own (its data, the same zone file), on one
/// database of a cluster of the test's own.
struct Pair {
    // (Dropped in this order: the instances before their database.)
    a: Daemon,
    b: Daemon,
    pg: PgCluster,
    _dirs: [tempfile::TempDir; 2],
}

fn pair() -> Pair {
    pair_with("")
}

/// Two instances with the configuration `extra` (besides the key that seals DNSSEC keys, the
/// same for both: [`store_env`] gives it to every instance on PostgreSQL).
fn pair_with(extra: &str) -> Pair {
    pair_on(extra, [(); 2].map(|_| ([127, 0, 0, 1], free_port()).into()))
}

/// Two instances with the configuration `extra`, DNS on `dns`; the first is started (and
/// leads) before the second starts.
fn pair_on(extra: &str, dns: [SocketAddr; 2]) -> Pair {
    pair_serving(&test_zone(), extra, dns)
}

/// [`pair_on`] with the zone file `zone`.
fn pair_serving(zone: &str, extra: &str, dns: [SocketAddr; 2]) -> Pair {
    let pg = PgCluster::start(None);
    let url = pg.database("ranah");
    let dirs = [(); 2].map(|_| {
        let dir = Daemon::workdir("example.go.id.zone", zone);
        std::fs::write(dir.path().join(".database-url"), &url).unwrap();
        dir
    });
    let start = |dir: &tempfile::TempDir, dns: SocketAddr| {
        Daemon::start_process(dir.path(), dns, Some(extra))
    };
    let a = start(&dirs[0], dns[0]);
    assert!(
        eventually(5, || metric(&a, "ranah_instance_leader") == 1.0),
        "the first instance leads"
    );
    let b = start(&dirs[1], dns[1]);
    Pair {
        a,
        b,
        pg,
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
    // Signed alike: a name approved through B (signed with the keys as B read them from the
    // store) and one through A validate on both instances.
    provision(&p.b, &tokens, "lewat-b", "203.0.113.11");
    assert!(eventually(2, || address(&p.a, "lewat-b").is_some()));
    let anchor = crate::validate::trust_anchor(p.a.dns, "example.go.id");
    for d in [&p.a, &p.b] {
        for name in ["ikut0.example.go.id.", "lewat-b.example.go.id."] {
            crate::validate::assert_validated(d.dns, &anchor, name, "A");
        }
    }
    // `ranah status` lists both, one leading, each serving every zone as stored.
    let listed = |status: &str| {
        let rows: Vec<&str> = status
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect();
        rows.len() == 2
            && rows.iter().filter(|l| l.contains(" leader ")).count() == 1
            && rows.iter().filter(|l| l.contains(" follower ")).count() == 1
            && rows.iter().all(|l| l.ends_with("as stored"))
            && [&p.a, &p.b]
                .iter()
                .all(|d| rows.iter().any(|l| l.contains(&d.api.to_string())))
    };
    let mut status = String::new();
    assert!(
        eventually(12, || {
            status = cli_ok(&p.a, &["status"]);
            listed(&status)
        }),
        "{status}"
    );
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

/// The zone-signing key rolls on the leader (short timings) while requests are approved
/// through the other instance: the follower takes each key step as the leader stores it, so
/// that at every moment what either instance answers validates with the zone's DS (a ZSK roll
/// leaves it as it is), and the keys are made once, by the leader.
#[test]
fn a_key_rolls_on_the_leader_while_approvals_go_through_the_other() {
    let zone = "$ORIGIN example.go.id.\n$TTL 60\n@ SOA ns1 hostmaster 2026010100 60 60 600 60\n\
                @ NS ns1\nns1 A 203.0.113.2\nwww A 203.0.113.10\n";
    let config = "[dnssec]\nkeys = \"ksk-zsk\"\ndnskey_ttl = 2\npropagation_delay_secs = 1\n\
                  zsk_lifetime_secs = 12\nksk_lifetime_secs = 31536000\nzone_max_ttl_secs = 60\n\
                  maintenance_interval_secs = 1\n";
    let p = pair_serving(
        zone,
        config,
        [(); 2].map(|_| ([127, 0, 0, 1], free_port()).into()),
    );
    let dnskeys = |d: &Daemon| {
        let mut v: Vec<String> = dig(d.dns, &["example.go.id.", "DNSKEY", "+short"])
            .lines()
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    // The key set before the roll begins (a lifetime after the start).
    let initial = dnskeys(&p.a);
    assert_eq!(initial.len(), 2, "{initial:?}");
    let old_zsk = initial
        .iter()
        .find(|k| k.starts_with("256 "))
        .unwrap()
        .clone();
    let mut sets = std::collections::BTreeSet::from([initial]);
    let tokens = setup_people(&p.a);
    let anchor = crate::validate::trust_anchor(p.a.dns, "example.go.id");
    let first = crate::dnssec::keys(&p.b);
    assert_eq!(first.len(), 2, "{first:?}");
    let first_zsk = first.iter().find(|k| k.role == "zsk").unwrap().tag;
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut approved = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the roll did not finish: {:?}",
            crate::dnssec::keys(&p.b)
        );
        // Through the follower: it signs with the keys as the leader last stored them.
        let name = format!("roll{approved}");
        let body = request_body("create", &name, "203.0.113.80", false)
            .replace("\"ttl\": 3600", "\"ttl\": 60");
        walk_request(&p.b, &tokens, &body);
        approved += 1;
        assert!(eventually(2, || address(&p.a, &name).is_some()));
        // Both instances serve the same key set within a second or two of each other's steps.
        assert!(
            eventually(3, || dnskeys(&p.a) == dnskeys(&p.b)),
            "A: {:?}\nB: {:?}",
            dnskeys(&p.a),
            dnskeys(&p.b)
        );
        sets.insert(dnskeys(&p.a));
        for d in [&p.a, &p.b] {
            for (qname, qtype, want) in [
                ("example.go.id.".to_string(), "SOA", Validation::Validated),
                (
                    "example.go.id.".to_string(),
                    "DNSKEY",
                    Validation::Validated,
                ),
                (format!("{name}.example.go.id."), "A", Validation::Validated),
                (
                    "nope.example.go.id.".to_string(),
                    "A",
                    Validation::Negative(Denial::NxDomain),
                ),
            ] {
                validate::assert_delv(d.dns, &anchor, &qname, qtype, want);
            }
        }
        let now = crate::dnssec::keys(&p.b);
        let done = now
            .iter()
            .any(|k| k.tag == first_zsk && k.state == "removed");
        if done && approved >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Both instances serve the key set without the old ZSK, and what they answer validates.
    let mut last = Vec::new();
    assert!(
        eventually(3, || {
            last = dnskeys(&p.a);
            last == dnskeys(&p.b) && !last.contains(&old_zsk)
        }),
        "{last:?}"
    );
    sets.insert(last);
    for d in [&p.a, &p.b] {
        validate::assert_delv(
            d.dns,
            &anchor,
            "example.go.id.",
            "DNSKEY",
            Validation::Validated,
        );
        validate::assert_delv(
            d.dns,
            &anchor,
            "www.example.go.id.",
            "A",
            Validation::Validated,
        );
    }
    // The key sets served went through the roll: the first (taken at start, a lifetime
    // before the roll begins), the new ZSK beside the old, the old one gone.
    assert!(sets.len() >= 3, "{sets:?}");
    // Each key made once, by the leader: as many made as stored, the KSK alone of its role,
    // each ZSK a lifetime after the one before (the 12 s lifetime starts further rolls while the
    // first old key waits out the zone's TTL).
    let made = store_query(
        &p.a.dir,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'dnssec.key.create'",
    );
    let stored = store_query(
        &p.a.dir,
        "SELECT role, created_at FROM dnssec_keys ORDER BY id",
    );
    assert_eq!(made[0][0].as_u64(), Some(stored.len() as u64), "{stored:?}");
    let ksks = stored.iter().filter(|r| r[0] == "ksk").count();
    assert_eq!(ksks, 1, "{stored:?}");
    let zsk_made: Vec<i64> = stored
        .iter()
        .filter(|r| r[0] == "zsk")
        .map(|r| r[1].as_i64().unwrap())
        .collect();
    assert!(zsk_made.len() >= 2, "{stored:?}");
    for w in zsk_made.windows(2) {
        assert!(
            w[1] - w[0] >= 8,
            "two ZSKs made {}s apart: {stored:?}",
            w[1] - w[0]
        );
    }
    println!("ZSK roll across two instances: {approved} approvals through the follower");
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

/// A metric's value in `d`'s `/metrics` (0 when absent).
fn metric(d: &Daemon, series: &str) -> f64 {
    let Ok((200, text)) = http_get(d.api, "/metrics") else {
        return f64::NAN;
    };
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// While PostgreSQL is stopped both instances answer DNS from memory, `/readyz` says not
/// ready, and a write is a 503 problem; once it is back, both are ready again without a
/// restart, and a change through one is answered by the other.
#[test]
fn without_postgresql_dns_answers_and_writes_wait() {
    let p = pair();
    let tokens = setup_people(&p.a);
    provision(&p.a, &tokens, "sebelum", "203.0.113.30");
    assert!(eventually(2, || address(&p.b, "sebelum").is_some()));
    let ready = |d: &Daemon| http_get(d.api, "/readyz").map(|(code, _)| code).ok();
    assert_eq!((ready(&p.a), ready(&p.b)), (Some(200), Some(200)));

    p.pg.stop();
    for d in [&p.a, &p.b] {
        assert!(eventually(10, || ready(d) == Some(503)), "{:?}", ready(d));
        assert_eq!(address(d, "sebelum").as_deref(), Some("203.0.113.30"));
        assert_eq!(address(d, "www").as_deref(), Some("203.0.113.10"));
        let started = Instant::now();
        let r = post_json(
            d,
            "/api/v1/requests",
            &tokens[0],
            &request_body("create", "selama", "203.0.113.31", false),
        );
        assert_eq!(
            (r.status, r.content_type.as_str()),
            (503, "application/problem+json"),
            "{}",
            r.json
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    p.pg.resume();
    for d in [&p.a, &p.b] {
        assert!(eventually(20, || ready(d) == Some(200)), "{:?}", ready(d));
    }
    provision(&p.b, &tokens, "sesudah", "203.0.113.32");
    assert!(eventually(2, || address(&p.a, "sesudah").is_some()));
}

/// A DNS endpoint that records the NOTIFY messages it gets and acknowledges each.
struct NotifyListener {
    port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl NotifyListener {
    fn start() -> NotifyListener {
        use hickory_proto::op::{Message, MessageType};
        let port = free_port();
        let socket = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Ok(mut m) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let serial = m.answers.iter().find_map(|r| match &r.data {
                    hickory_proto::rr::RData::SOA(soa) => Some(soa.serial),
                    _ => None,
                });
                seen.lock().unwrap().push(serial.unwrap_or(0));
                m.metadata.message_type = MessageType::Response;
                m.answers.clear();
                if let Ok(bytes) = m.to_vec() {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        NotifyListener { port, got }
    }

    fn serials(&self) -> Vec<u32> {
        self.got.lock().unwrap().clone()
    }
}

/// Exactly one instance runs the background jobs. Killed (SIGKILL), it hands them to the
/// other within seconds: emails are sent and secondaries notified by the survivor, and no
/// email is sent twice.
#[test]
fn killing_the_leader_hands_the_jobs_to_the_other() {
    let smtp_port = free_port();
    let notify = NotifyListener::start();
    let extra = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\n\
         from = \"Diskominfo <noreply@example.go.id>\"\nretry_base_secs = 1\nretry_max_secs = 2\n\n\
         [[secondaries]]\nzone = \"example.go.id\"\nnotify = \"127.0.0.1:{}\"\n\
         allow_transfer = [\"127.0.0.1\"]\n",
        notify.port
    );
    let mut p = pair_with(&extra);
    let log = p.a.dir.join("smtp.log");
    let smtp = crate::notifications::Smtp::start(smtp_port, &log);
    let leader = |d: &Daemon| metric(d, "ranah_instance_leader");
    assert!(
        eventually(5, || leader(&p.a) + leader(&p.b) == 1.0),
        "{} {}",
        leader(&p.a),
        leader(&p.b)
    );
    let ok = |args: &[&str]| cli_ok(&p.a, args);
    ok(&["agency", "add", "DINKES", "Dinas Kesehatan"]);
    let mut tokens = Vec::new();
    for (name, role) in [
        ("andi", "applicant"),
        ("dewi", "applicant"),
        ("kadis", "head_of_office"),
        ("kabid", "head_of_division"),
        ("teknis", "technical"),
        ("ops", "admin"),
    ] {
        let email = format!("{name}@example.go.id");
        let mut args = vec!["user", "add", name, "--role", role, "--email", &email];
        if role == "applicant" {
            args.extend(["--agency", "DINKES"]);
        }
        ok(&args);
        tokens.push(ok(&["token", "create", name]));
    }
    let tokens: [String; 6] = tokens.try_into().unwrap();

    // Through the instance that does not lead: the leader sends the emails and the NOTIFY.
    let (follower, dead) = if leader(&p.a) == 1.0 {
        (&p.b, "a")
    } else {
        (&p.a, "b")
    };
    provision(follower, &tokens, "pertama", "203.0.113.40");
    let first = serial(follower);
    assert!(eventually(10, || notify.serials().contains(&first)));
    assert!(
        eventually(10, || smtp.received().len() >= 3),
        "{:?}",
        smtp.received()
    );
    // Every queued message sent, and received as often as the outbox says it was sent.
    let store_dir = p.a.dir.clone();
    let count = |sql: &str| {
        store_query(&store_dir, sql)[0][0]
            .as_u64()
            .unwrap_or(u64::MAX)
    };
    let settled = || {
        eventually(15, || {
            count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == 0
                && count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL")
                    == smtp.received().len() as u64
        })
    };
    assert!(settled(), "{:?}", smtp.received());
    let before = smtp.received().len();

    // The leader dies.
    let killed = Instant::now();
    if dead == "a" {
        p.a.kill();
    } else {
        p.b.kill();
    }
    let survivor = if dead == "a" { &p.b } else { &p.a };
    assert!(eventually(10, || leader(survivor) == 1.0));
    let took_over = killed.elapsed();
    println!("the survivor leads {took_over:?} after the leader was killed");
    assert!(took_over < Duration::from_secs(5), "{took_over:?}");

    provision(survivor, &tokens, "kedua", "203.0.113.41");
    let second = serial(survivor);
    assert!(eventually(10, || notify.serials().contains(&second)));
    assert!(eventually(10, || smtp.received().len() > before));
    // Every queued message sent, each once.
    assert!(settled(), "{:?}", smtp.received());
    let mut got = smtp.received();
    let sent = got.len();
    got.sort();
    got.dedup();
    assert_eq!(
        got.len(),
        sent,
        "an email was sent twice: {:?}",
        smtp.received()
    );
    let subjects = smtp.received();
    assert!(
        subjects.iter().any(|(_, s)| s.contains("kedua")),
        "{subjects:?}"
    );
}

/// The leader dies (SIGKILL) while a certificate order waits on the CA: the other instance
/// takes the order over, the certificate is issued once and its chain verifies.
#[test]
fn killing_the_leader_mid_order_hands_acme_to_the_other() {
    use crate::pebble::{KEY_ENCRYPTION_KEY, Pebble, listener_certificate, text, verify_chain};
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    listener_certificate(&pki);
    let dns: [SocketAddr; 2] = [(); 2].map(|_| ([127, 0, 0, 1], free_port()).into());
    // The CA asks the instance that will survive for the DNS-01 record.
    let pebble = Pebble::start(&pki, free_port(), free_port(), dns[1], None);
    let extra = format!(
        "[acme]\ndirectory = \"{}\"\nca_file = \"{}\"\nemail = \"ops@example.go.id\"\n\
         key_encryption_key = \"{KEY_ENCRYPTION_KEY}\"\nretry_base_secs = 1\nretry_max_secs = 2\n\
         check_interval_secs = 1\norder_timeout_secs = 30\n",
        pebble.directory(),
        pki.join("ca.pem").display()
    );
    let mut p = pair_on(&extra, dns);
    let tokens = setup_people(&p.a);
    let [andi, _, _, _, _, ops] = &tokens;
    let name = "layanan.example.go.id";

    // The CA hangs; a request with a certificate is approved through the instance that does
    // not lead; the leader's worker takes the order and waits on the CA.
    pebble.signal("-STOP");
    walk_request(
        &p.b,
        &tokens,
        &request_body("create", "layanan", "203.0.113.30", true),
    );
    let pending = crate::certificates::certificate(&p.b, andi, name).json;
    assert_eq!(pending["status"], "pending", "{pending}");
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Instant::now();
    p.a.kill();
    pebble.signal("-CONT");
    assert!(eventually(10, || metric(&p.b, "ranah_instance_leader") == 1.0));
    println!(
        "the survivor leads {:?} after the leader was killed",
        killed.elapsed()
    );

    let issued = crate::certificates::wait_status(&p.b, andi, name, "issued", None);
    let (_, chain) = text(
        &p.b,
        andi,
        &format!("/api/v1/certificates/{name}/chain.pem"),
    );
    verify_chain(tmp.path(), &chain, &pebble.root(), name);
    assert!(issued["serial"].is_string(), "{issued}");
    // One issuance: one certificate in the store, one `certificate.issued` event.
    let actions = crate::certificates::audit_actions(&p.b, ops);
    let issued_events = actions
        .iter()
        .filter(|a| a.starts_with("certificate.issued") && a.contains(name))
        .count();
    assert_eq!(issued_events, 1, "{actions:?}");
}
