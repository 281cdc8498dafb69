//! DNS under load while approvals stream: dnsperf measures what the daemon answers flat out,
//! then sends half of that for [`LOAD_SECS`] seconds (bounded) from a source exempt from rate
//! limiting, while a client walks requests to provisioning through the API and a checker asks
//! for each name as soon as its approval returned. No query may be lost, and no answer may be
//! older than an approval that had already returned.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{self, Answer};
use crate::harness::*;

/// How long dnsperf loads the daemon at half its capacity.
const LOAD_SECS: u64 = 60;
/// How long the capacity is measured.
const MEASURE_SECS: u64 = 5;

/// dnsperf sends from 127.0.0.1, the exempt source of the test: response rate limiting
/// would otherwise slip most of one source's 25,000 queries a second (which the RRL test
/// checks).
const CONFIG: Option<&str> = Some("[dns.rrl]\nexempt = [\"127.0.0.1/32\"]\n");

/// What dnsperf reported.
#[derive(Debug, Default)]
struct Run {
    sent: u64,
    completed: u64,
    lost: u64,
    qps: f64,
    latency: String,
    stddev: String,
}

fn dnsperf(dns: SocketAddr, queries: &std::path::Path, args: &[&str]) -> Run {
    let out = Command::new("dnsperf")
        .args(["-s", &dns.ip().to_string(), "-p", &dns.port().to_string()])
        .arg("-d")
        .arg(queries)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("dnsperf is required (Debian package dnsperf); tests/run-all.sh installs it");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "dnsperf {args:?}: {text}");
    let field = |label: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("dnsperf did not report `{label}`: {text}"))
            .trim()
            .to_owned()
    };
    let count = |label: &str| -> u64 {
        field(label)
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("`{label}` in {text}"))
    };
    Run {
        sent: count("Queries sent:"),
        completed: count("Queries completed:"),
        lost: count("Queries lost:"),
        qps: field("Queries per second:").parse().unwrap(),
        latency: field("Average Latency (s):"),
        stddev: field("Latency StdDev (s):"),
    }
}

#[test]
fn dnsperf_at_half_capacity_loses_nothing_while_approvals_stream() {
    let _serial = crate::one_at_a_time();
    client::require_tool("dnsperf", "dnsperf");
    client::require_tool("curl", "curl");
    let tmp = Daemon::workdir("example.go.id.zone", &test_zone());
    let dns: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = Daemon::start_process(tmp.path(), dns, CONFIG);
    let tokens = setup_people(&d);
    let [andi, _, kadis, kabid, teknis, _] = &tokens;
    let letter = tmp.path().join("surat.pdf");
    std::fs::write(&letter, client::LETTER).unwrap();

    // Names of the zone, of every kind of answer, and the names the approvals will create
    // (NXDOMAIN until then).
    let mut queries = String::from(
        "example.go.id SOA\nexample.go.id NS\nexample.go.id MX\nwww.example.go.id A\n\
         mail.example.go.id A\nns1.example.go.id AAAA\nportal.example.go.id A\n\
         a.b.c.example.go.id A\nx.wild.example.go.id TXT\nb.c.example.go.id A\n\
         nope.example.go.id A\nhost.child.example.go.id A\n",
    );
    for i in 0..200 {
        queries.push_str(&format!("beban{i}.example.go.id A\n"));
    }
    let file = tmp.path().join("queries.txt");
    std::fs::write(&file, queries).unwrap();

    // Capacity: flat out for a few seconds.
    let capacity = dnsperf(dns, &file, &["-l", &MEASURE_SECS.to_string()]);
    let rate = (capacity.qps / 2.0).max(100.0) as u64;

    // Half of it, for LOAD_SECS, in the background.
    let load = {
        let file = file.clone();
        std::thread::spawn(move || {
            dnsperf(
                dns,
                &file,
                &["-Q", &rate.to_string(), "-l", &LOAD_SECS.to_string()],
            )
        })
    };

    // Meanwhile a checker keeps asking for every name provisioned so far: each answers its
    // records every time.
    let provisioned: Arc<Mutex<Vec<(String, Ipv4Addr)>>> = Arc::default();
    let checking = Arc::new(AtomicBool::new(true));
    let checker = {
        let (provisioned, checking) = (provisioned.clone(), checking.clone());
        std::thread::spawn(move || {
            let (mut asked, mut wrong) = (0u64, Vec::new());
            while checking.load(Ordering::SeqCst) {
                let names = provisioned.lock().unwrap().clone();
                for (name, address) in names {
                    asked += 1;
                    let a = client::lookup_a(dns, &name, false);
                    if a != Some(Answer::of(Some(address))) {
                        wrong.push((name, a));
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (asked, wrong)
        })
    };

    // Approvals stream through the API until the load ends: each request walked to
    // provisioning and completion; its name asked for at once after the approval returned.
    let started = Instant::now();
    let (mut walked, mut right_after, mut approve_ms) = (0usize, 0usize, Vec::new());
    while !load.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(LOAD_SECS + 60),
            "dnsperf did not end"
        );
        let name = format!("beban{walked}");
        let address = Ipv4Addr::new(203, 0, 113, (walked % 200) as u8 + 20);
        let r = client::post(
            d.api,
            "/api/v1/requests",
            andi,
            &request_body("create", &name, &address.to_string(), false),
        );
        assert_eq!(r.status, 201, "{}", r.json);
        let id = r.json["id"].as_i64().unwrap();
        let path = format!("/api/v1/requests/{id}");
        assert_eq!(client::attach(d.api, andi, id, &letter).status, 200);
        for token in [kadis, kabid] {
            let r = client::post(d.api, &format!("{path}/approve"), token, "{}");
            assert_eq!(r.status, 200, "{}", r.json);
        }
        let t = Instant::now();
        let r = client::post(d.api, &format!("{path}/approve"), teknis, "{}");
        approve_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.status, 200, "{}", r.json);
        let fqdn = format!("{name}.example.go.id.");
        for tcp in [false, false, false, true] {
            let a = client::lookup_a(dns, &fqdn, tcp);
            assert_eq!(
                a,
                Some(Answer::of(Some(address))),
                "{fqdn} right after its approval returned (tcp: {tcp})"
            );
            right_after += 1;
        }
        provisioned.lock().unwrap().push((fqdn, address));
        let r = client::post(d.api, &format!("{path}/approve"), kadis, "{}");
        assert_eq!(r.status, 200, "{}", r.json);
        walked += 1;
    }
    let run = load.join().expect("dnsperf");
    checking.store(false, Ordering::SeqCst);
    let (asked, wrong) = checker.join().unwrap();

    assert_eq!(run.lost, 0, "dnsperf lost queries: {run:?}");
    assert_eq!(run.completed, run.sent, "{run:?}");
    assert!(wrong.is_empty(), "stale or missing answers: {wrong:?}");
    assert!(walked > 0, "no approval went through under load");
    approve_ms.sort_by(f64::total_cmp);
    println!(
        "dnsperf: capacity {:.0} queries/s ({} s flat out, latency {}); at -Q {rate} for {LOAD_SECS} s: \
         {} sent, {} completed, {} lost, {:.0} queries/s, latency {} (stddev {}); meanwhile {walked} \
         requests walked to provisioning (approval that provisions: median {:.1} ms, max {:.1} ms), \
         {right_after} lookups right after their approval and {asked} rechecks, all with the new records",
        capacity.qps,
        MEASURE_SECS,
        capacity.latency,
        run.sent,
        run.completed,
        run.lost,
        run.qps,
        run.latency,
        run.stddev,
        approve_ms[approve_ms.len() / 2],
        approve_ms.last().unwrap(),
    );
}
