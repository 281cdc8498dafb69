//! SIGKILL while work is in flight: several clients walk requests (creations, changes and
//! deletions of names, each to provisioning and completion) and a certificate order waits on the
//! CA, and the daemon is killed and restarted on the same data directory, again and again,
//! until at least [`MIN_PROVISIONINGS`] provisionings were acknowledged. Every acknowledged
//! change must be in the store and answered by DNS after each restart, the SOA serial must never
//! go back (polled throughout, across restarts), the audit trail must verify, and the order must
//! complete after the restart.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::client::{self, Answer};
use crate::harness::*;
use crate::pebble::*;

/// Clients walking requests at the same time.
const CLIENTS: usize = 4;
/// Provisionings (approvals that change the zone) acknowledged with HTTP 200 before the test ends.
const MIN_PROVISIONINGS: usize = 100;
/// Kills while work is in flight; one more, idle, before the final check.
const KILLS: usize = 5;
/// The whole test's time limit.
const LIMIT: Duration = Duration::from_secs(600);
/// The certificate's name.
const CERT_NAME: &str = "sertifikat";
/// The roles that act at the kaltara workflow's four steps, as indices into `setup_people`'s
/// tokens (kadis, kabid, teknis, kadis); the third step provisions.
const STEP_TOKENS: [usize; 4] = [2, 3, 4, 2];
const STEPS: [&str; 4] = ["disposition", "assignment", "technical_review", "response"];
const PROVISION_STEP: usize = 2;

/// What the clients and the killer share.
struct Shared {
    api: Mutex<SocketAddr>,
    /// Set by the killer from the kill until the restarted daemon is checked.
    paused: Mutex<bool>,
    resumed: Condvar,
    parked: AtomicUsize,
    finished: AtomicUsize,
    stop: AtomicBool,
    tokens: [String; 6],
    letter: PathBuf,
    dns: SocketAddr,
    /// HTTP 200/201 answers to changes (submissions, letters, approvals).
    acked: AtomicUsize,
    /// Of those, approvals that provisioned.
    acked_provisionings: AtomicUsize,
    /// Calls cut by a kill (no answer); their outcome is read back after the restart.
    cut: AtomicUsize,
    /// Of those, the ones that had committed (found done after the restart).
    cut_committed: AtomicUsize,
    names: Mutex<BTreeMap<String, NameState>>,
    /// Acknowledged submissions → the steps whose approval was acknowledged.
    approvals: Mutex<HashMap<i64, Vec<&'static str>>>,
    violations: Mutex<Vec<String>>,
}

/// What a name must answer.
#[derive(Debug, Clone, Default)]
struct NameState {
    /// Its address after the last provisioning known to have committed (None: no such name).
    committed: Option<Ipv4Addr>,
    /// While a provisioning's call has no answer: what it would make of the name.
    in_flight: Option<Option<Ipv4Addr>>,
}

impl Shared {
    fn api(&self) -> SocketAddr {
        *self.api.lock().unwrap()
    }

    fn violation(&self, v: String) {
        eprintln!("VIOLATION: {v}");
        self.violations.lock().unwrap().push(v);
    }

    /// Before each call: wait while the daemon is being killed and restarted.
    fn wait_if_paused(&self) {
        let mut paused = self.paused.lock().unwrap();
        if *paused {
            self.parked.fetch_add(1, Ordering::SeqCst);
            while *paused {
                paused = self.resumed.wait(paused).unwrap();
            }
            self.parked.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A call had no answer: it must be because of a kill. Wait for the restart (a daemon that
    /// stops answering without being killed is a failure).
    fn after_no_answer(&self, what: &str) {
        self.cut.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !*self.paused.lock().unwrap() {
            if Instant::now() > deadline {
                self.violation(format!("{what}: no answer, and the daemon was not killed"));
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.wait_if_paused();
    }
}

/// One request's walk, started or continued from its state in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Submit,
    Attach,
    Approve(usize),
    Done,
}

/// Walk one request for `name` (kind `kind`, address `address`) to completion.
fn walk(s: &Shared, name: &str, kind: &str, address: Ipv4Addr, certificate: bool) {
    let andi = &s.tokens[0];
    let body = request_body(kind, name, &address.to_string(), certificate);
    let target = (kind != "delete").then_some(address);
    let mut id = 0i64;
    let mut stage = Stage::Submit;
    let mut rounds = 0;
    while stage != Stage::Done {
        rounds += 1;
        assert!(rounds < 100, "{name}: no progress: {stage:?}");
        s.wait_if_paused();
        let api = s.api();
        match stage {
            Stage::Submit => {
                let r = client::post(api, "/api/v1/requests", andi, &body);
                match r.status {
                    201 => {
                        s.acked.fetch_add(1, Ordering::SeqCst);
                        id = r.json["id"].as_i64().unwrap();
                        s.approvals.lock().unwrap().entry(id).or_default();
                        stage = Stage::Attach;
                    }
                    // A submission cut by a kill had committed: the name is held by it.
                    409 if r.json["code"] == "name_taken" && r.json["held_by"].is_i64() => {
                        s.cut_committed.fetch_add(1, Ordering::SeqCst);
                        id = r.json["held_by"].as_i64().unwrap();
                        stage = read_stage(s, api, id);
                    }
                    0 => s.after_no_answer(&format!("submit {name}")),
                    _ => panic!("submit {name}: {} {}", r.status, r.json),
                }
            }
            Stage::Attach => {
                let r = client::attach(api, andi, id, &s.letter);
                match r.status {
                    200 => {
                        s.acked.fetch_add(1, Ordering::SeqCst);
                        stage = Stage::Approve(0);
                    }
                    // Attached again after a kill: harmless (one more copy of the letter).
                    0 => s.after_no_answer(&format!("attach to {id}")),
                    _ => panic!("attach to {id}: {} {}", r.status, r.json),
                }
            }
            Stage::Approve(step) => {
                let provisions = step == PROVISION_STEP;
                if provisions {
                    s.names
                        .lock()
                        .unwrap()
                        .entry(name.to_owned())
                        .or_default()
                        .in_flight = Some(target);
                }
                let token = &s.tokens[STEP_TOKENS[step]];
                let r = client::post(api, &format!("/api/v1/requests/{id}/approve"), token, "{}");
                match r.status {
                    200 => {
                        s.acked.fetch_add(1, Ordering::SeqCst);
                        s.approvals
                            .lock()
                            .unwrap()
                            .entry(id)
                            .or_default()
                            .push(STEPS[step]);
                        if provisions {
                            s.acked_provisionings.fetch_add(1, Ordering::SeqCst);
                            settle(s, name, true);
                            // Answered as soon as the approval returned (unless a kill came
                            // between: no answer is not a wrong answer).
                            if let Some(a) =
                                client::lookup_a(s.dns, &format!("{name}.example.go.id."), false)
                                && a != Answer::of(target)
                                && !*s.paused.lock().unwrap()
                            {
                                s.violation(format!(
                                    "{name}: approval {id} returned, DNS answered {a:?}"
                                ));
                            }
                        }
                        stage = if step + 1 < STEPS.len() {
                            Stage::Approve(step + 1)
                        } else {
                            Stage::Done
                        };
                    }
                    0 => {
                        s.after_no_answer(&format!("approve {id} at {}", STEPS[step]));
                        // Did it commit? The store says.
                        let now = read_stage(s, s.api(), id);
                        if now != stage {
                            s.cut_committed.fetch_add(1, Ordering::SeqCst);
                            if provisions {
                                settle(s, name, true);
                            }
                        } else if provisions {
                            settle(s, name, false);
                        }
                        stage = now;
                    }
                    _ => panic!("approve {id} at {}: {} {}", STEPS[step], r.status, r.json),
                }
            }
            Stage::Done => {}
        }
    }
}

/// A provisioning's outcome is known: it committed (the name holds what it was to hold) or not.
fn settle(s: &Shared, name: &str, committed: bool) {
    let mut names = s.names.lock().unwrap();
    let n = names.entry(name.to_owned()).or_default();
    if let Some(target) = n.in_flight.take()
        && committed
    {
        n.committed = target;
    }
}

/// Where request `id` stands, read back from the store.
fn read_stage(s: &Shared, api: SocketAddr, id: i64) -> Stage {
    let r = client::get(api, &format!("/api/v1/requests/{id}"), &s.tokens[2]);
    assert_eq!(r.status, 200, "request {id}: {}", r.json);
    if r.json["status"] == "completed" {
        return Stage::Done;
    }
    assert_eq!(r.json["status"], "in_review", "request {id}: {}", r.json);
    if r.json["letter_attached"] != true {
        return Stage::Attach;
    }
    let step = r.json["step"].as_str().unwrap_or("");
    Stage::Approve(
        STEPS
            .iter()
            .position(|s| *s == step)
            .unwrap_or_else(|| panic!("request {id} at an unknown step: {}", r.json)),
    )
}

/// A client: names of its own, each created, changed and (every other one) deleted, until told
/// to stop. Client 0 first asks for a certificate.
fn client(s: &Shared, n: usize) {
    if n == 0 {
        walk(
            s,
            CERT_NAME,
            "create",
            Ipv4Addr::new(203, 0, 113, 250),
            true,
        );
    }
    let mut i = 0u8;
    while !s.stop.load(Ordering::SeqCst) {
        let name = format!("k{n}x{i}");
        let a = (n as u8 * 61).wrapping_add(i.wrapping_mul(7)) % 240 + 1;
        walk(s, &name, "create", Ipv4Addr::new(203, 0, 113, a), false);
        walk(s, &name, "change", Ipv4Addr::new(203, 0, 113, a + 1), false);
        if i.is_multiple_of(2) {
            walk(s, &name, "delete", Ipv4Addr::new(203, 0, 113, a + 1), false);
        }
        i += 1;
    }
    s.finished.fetch_add(1, Ordering::SeqCst);
}

/// Every name answers what its last committed provisioning made of it (or, while a
/// provisioning's outcome is unknown, what that one would make of it). Returns names checked.
fn check_names(s: &Shared, when: &str) -> usize {
    let names = s.names.lock().unwrap().clone();
    for (name, state) in &names {
        let fqdn = format!("{name}.example.go.id.");
        let answer = client::lookup_a(s.dns, &fqdn, false);
        let allowed: Vec<Answer> = std::iter::once(Answer::of(state.committed))
            .chain(state.in_flight.map(Answer::of))
            .collect();
        match answer {
            Some(a) if allowed.contains(&a) => {}
            other => s.violation(format!(
                "{when}: {name} answered {other:?}, expected one of {allowed:?}"
            )),
        }
    }
    names.len()
}

/// The daemon with pebble as its CA.
fn start(dir: &Path, dns: SocketAddr, pebble: &Pebble) -> Daemon {
    let config = format!(
        r#"
[acme]
directory = "{}"
ca_file = "{}"
email = "ops@example.go.id"
key_encryption_key = "{KEY_ENCRYPTION_KEY}"
retry_base_secs = 1
retry_max_secs = 2
check_interval_secs = 1
order_timeout_secs = 30
"#,
        pebble.directory(),
        pebble.dir.join("ca.pem").display()
    );
    Daemon::start_process(dir, dns, Some(&config))
}

#[test]
fn sigkill_during_approvals_changes_and_an_order_loses_nothing_acknowledged() {
    let _serial = crate::one_at_a_time();
    for (tool, package) in [
        ("pebble", "pebble"),
        ("openssl", "openssl"),
        ("curl", "curl"),
    ] {
        client::require_tool(tool, package);
    }
    let started = Instant::now();
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dir = tmp.path().to_owned();
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    listener_certificate(&pki);
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let pebble = Pebble::start(&pki, free_port(), free_port(), dns, None);
    let mut daemon = start(&dir, dns, &pebble);
    let tokens = setup_people(&daemon);
    let letter = dir.join("surat.pdf");
    std::fs::write(&letter, client::LETTER).unwrap();

    // The SOA serial, polled throughout: it never goes back, across restarts too.
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let polling = polling.clone();
        std::thread::spawn(move || {
            let (mut highest, mut polls, mut answered, mut backwards) = (0u32, 0u64, 0u64, vec![]);
            while polling.load(Ordering::SeqCst) {
                polls += 1;
                if let Some(serial) =
                    client::soa_serial(dns, "example.go.id.", Duration::from_millis(300))
                {
                    answered += 1;
                    if serial < highest {
                        backwards.push((highest, serial));
                    }
                    highest = highest.max(serial);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (highest, polls, answered, backwards)
        })
    };

    // The CA hangs while the certificate's request is walked: its order is in flight at the
    // first kill.
    pebble.signal("-STOP");
    let shared = Arc::new(Shared {
        api: Mutex::new(daemon.api),
        paused: Mutex::new(false),
        resumed: Condvar::new(),
        parked: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        tokens: tokens.clone(),
        letter,
        dns,
        acked: AtomicUsize::new(0),
        acked_provisionings: AtomicUsize::new(0),
        cut: AtomicUsize::new(0),
        cut_committed: AtomicUsize::new(0),
        names: Mutex::new(BTreeMap::new()),
        approvals: Mutex::new(HashMap::new()),
        violations: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let s = shared.clone();
            std::thread::spawn(move || client(&s, n))
        })
        .collect();

    let cert_provisioned = || {
        shared
            .names
            .lock()
            .unwrap()
            .get(CERT_NAME)
            .is_some_and(|n| n.committed.is_some())
    };
    let mut kill_points = Vec::new();
    for round in 1..=KILLS + 1 {
        let last = round > KILLS;
        if last {
            // The work ends; every client finishes the request it walks; then one more kill.
            shared.stop.store(true, Ordering::SeqCst);
            while shared.finished.load(Ordering::SeqCst) < CLIENTS {
                assert!(started.elapsed() < LIMIT, "the clients did not finish");
                let panicked = clients.iter().filter(|c| c.is_finished()).count()
                    > shared.finished.load(Ordering::SeqCst);
                assert!(!panicked, "a client failed");
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            // Kill once this round's share of provisionings is acknowledged, plus a delay that
            // differs per round so that the kill falls at different points of the work.
            let target = round * MIN_PROVISIONINGS / KILLS;
            while shared.acked_provisionings.load(Ordering::SeqCst) < target
                || (round == 1 && !cert_provisioned())
            {
                assert!(started.elapsed() < LIMIT, "too slow: round {round}");
                assert!(!clients.iter().any(|c| c.is_finished()), "a client failed");
                std::thread::sleep(Duration::from_millis(5));
            }
            if round == 1 {
                // The CA does not answer: the order is in flight when the daemon dies.
                let fqdn = format!("{CERT_NAME}.example.go.id");
                let cert = client::get(
                    daemon.api,
                    &format!("/api/v1/certificates/{fqdn}"),
                    &tokens[5],
                );
                assert_eq!(cert.json["status"], "pending", "{}", cert.json);
            }
            std::thread::sleep(Duration::from_millis((round as u64 * 37) % 100));
        }
        kill_points.push(shared.acked.load(Ordering::SeqCst));
        drop(daemon); // SIGKILL, and wait for the process to end
        *shared.paused.lock().unwrap() = true;
        while shared.parked.load(Ordering::SeqCst) + shared.finished.load(Ordering::SeqCst)
            < CLIENTS
        {
            assert!(started.elapsed() < LIMIT, "the clients did not stop");
            assert!(
                last || !clients.iter().any(|c| c.is_finished()),
                "a client failed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        daemon = start(&dir, dns, &pebble);
        if round == 1 {
            pebble.signal("-CONT");
        }
        // After the restart, before any client goes on: what was acknowledged is answered.
        check_names(&shared, &format!("after kill {round}"));
        *shared.api.lock().unwrap() = daemon.api;
        *shared.paused.lock().unwrap() = false;
        shared.resumed.notify_all();
    }
    for c in clients {
        c.join().expect("a client panicked");
    }

    // Everything acknowledged is in the store: each request's history holds each acknowledged
    // approval, and every name answers exactly what its last provisioning made of it.
    let ops = &tokens[5];
    let approvals = shared.approvals.lock().unwrap().clone();
    for (id, steps) in &approvals {
        let r = client::get(daemon.api, &format!("/api/v1/requests/{id}"), ops);
        assert_eq!(r.status, 200, "request {id}: {}", r.json);
        let approved: Vec<&str> = r.json["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["action"] == "approved")
            .filter_map(|h| h["step"].as_str())
            .collect();
        for step in steps {
            assert!(
                approved.contains(step),
                "request {id}: the acknowledged approval at {step} is not in the store: {}",
                r.json
            );
        }
        assert_eq!(r.json["status"], "completed", "request {id}: {}", r.json);
    }
    let names = shared.names.lock().unwrap().clone();
    assert!(
        names.values().all(|n| n.in_flight.is_none()),
        "every outcome is known"
    );
    let checked = check_names(&shared, "at the end");

    // The trail verifies.
    let out = ranah_cli(&dir, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "ranah audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The order that was in flight at the first kill completes, and its chain verifies.
    let fqdn = format!("{CERT_NAME}.example.go.id");
    let mut cert = serde_json::Value::Null;
    let issued = eventually(90, || {
        cert = client::get(daemon.api, &format!("/api/v1/certificates/{fqdn}"), ops).json;
        cert["status"] == "issued"
    });
    assert!(
        issued,
        "the order did not complete after the restarts: {cert}"
    );
    let (code, chain) = text(
        &daemon,
        &tokens[0],
        &format!("/api/v1/certificates/{fqdn}/chain.pem"),
    );
    assert_eq!(code, 200);
    verify_chain(&dir, &chain, &pebble.root(), &fqdn);

    polling.store(false, Ordering::SeqCst);
    let (highest, polls, answered, backwards) = poller.join().unwrap();
    assert!(
        backwards.is_empty(),
        "the SOA serial went back: {backwards:?}"
    );
    let violations = shared.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{violations:#?}");
    let acked_provisionings = shared.acked_provisionings.load(Ordering::SeqCst);
    assert!(acked_provisionings >= MIN_PROVISIONINGS);
    println!(
        "crash test: {} kills (at {:?} acknowledged changes), {} acknowledged changes \
         (submissions, letters, approvals), {} of them provisionings; {} calls cut by a kill, \
         {} of which had committed; {} requests, {} names checked in DNS after every restart; \
         SOA polled {} times ({} answered, highest serial {}), never backwards; the order \
         issued after the restart (serial {}); {:.1} s",
        kill_points.len(),
        kill_points,
        shared.acked.load(Ordering::SeqCst),
        acked_provisionings,
        shared.cut.load(Ordering::SeqCst),
        shared.cut_committed.load(Ordering::SeqCst),
        approvals.len(),
        checked,
        polls,
        answered,
        highest,
        cert["serial"],
        started.elapsed().as_secs_f64()
    );
}
