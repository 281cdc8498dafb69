//! Changes at scale: the daemon in process (its store, DNS and HTTP API on loopback) serves a
//! zone of 100,000 names while record changes arrive through the publisher at a fixed rate
//! (by default 1,000 records a second for 10 s, one name added per change; open loop: a change
//! is sent on time whether or not the ones before are done), and single provisioning
//! approvals are posted over HTTP one at a time beside them (20 a second). Every name a change
//! adds is asked for over UDP the moment its `apply` returns. Prints the rate reached, the
//! time from sending a change to its return and to its DNS answers (percentiles, and whether
//! every first question after the return was answered), how many changes shared a commit,
//! and the approvals' latency.
//!
//! `cargo bench --bench changes [-- RATE SECONDS BATCH]`: RATE records a second (1..=20000),
//! SECONDS (1..=60), BATCH records per change (1..=1000; 100: a bulk import of a list of names
//! in changes of 100). `cargo test --bench changes` runs it small as a smoke test.

use std::time::{Duration, Instant};

use chrono::Utc;
use hickory_proto::rr::{Name, RData, Record};

use ranah::publish::{ChangeOp, ChangeSet};
use ranah::store::ChangeMeta;

mod support;
use support::{answered, http, summary};

const ORIGIN: &str = "bench.example";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (names, rate, seconds, batch, approvals_per_s) = if full {
        (
            100_000,
            numbers.first().copied().unwrap_or(1000).clamp(1, 20_000),
            numbers.get(1).copied().unwrap_or(10).clamp(1, 60),
            numbers.get(2).copied().unwrap_or(1).clamp(1, 1000),
            20,
        )
    } else {
        (1_000, 200, 1, 1, 10)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(names, rate, seconds, batch, approvals_per_s));
}

async fn run(names: usize, rate: u64, seconds: u64, batch: u64, approvals_per_s: u64) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let zones = tmp.path().join("zones");
    support::write_zone(&zones, ORIGIN, names);
    let config_file = tmp.path().join("ranah.toml");
    // Unsigned: the figure is the change path's; signing adds its own cost per change
    // (`cargo bench --bench sign`).
    std::fs::write(&config_file, "[dnssec]\nenabled = false\n").expect("config");
    let vars = [
        (
            "RANAH_DATA_DIR",
            tmp.path().join("data").display().to_string(),
        ),
        ("RANAH_ZONES_DIR", zones.display().to_string()),
        ("RANAH_DNS_LISTEN", "127.0.0.1:0".to_owned()),
        ("RANAH_API_LISTEN", "127.0.0.1:0".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let (env, _) = ranah::config::ConfigLayer::from_env(vars).expect("environment");
    let config = ranah::config::ConfigLayer::from_file(&config_file)
        .expect("config file")
        .merge(env)
        .resolve()
        .expect("configuration");
    let url = config.database_url.expose().to_owned();
    let running = ranah::daemon::start(config).await.expect("daemon");
    let (dns, api) = (running.dns[0], running.api);
    let publisher = running.publisher().clone();

    // People and tokens, through a second pool on the same database (as the command line).
    let tokens = support::people(&url).await;

    // Requests waiting at the technical step, for the approvals beside the load.
    let approvals = (approvals_per_s * seconds) as usize;
    let mut ids = Vec::with_capacity(approvals);
    for i in 0..approvals {
        ids.push(support::prepare(api, &tokens, ORIGIN, &format!("app{i}")).await);
    }

    let before = publisher.commit_counts();
    let origin = Name::from_ascii(format!("{ORIGIN}.")).expect("origin");
    let total = (rate * seconds / batch).max(1) as usize;
    let batch = batch as usize;
    let started = Instant::now();

    // The approvals, one at a time, on their own schedule.
    let teknis = tokens[3].clone();
    let approver = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(ids.len());
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / approvals_per_s));
        for (i, id) in ids.iter().enumerate() {
            tick.tick().await;
            let path = format!("/api/v1/requests/{id}/approve");
            let sent = Instant::now();
            let (status, reply) =
                http(api, "POST", &path, &teknis, "application/json", b"{}").await;
            latencies.push(sent.elapsed());
            assert_eq!(status, 200, "{reply}");
            assert!(
                answered(dns, &format!("app{i}.{ORIGIN}.")).await,
                "app{i} not answered"
            );
        }
        latencies
    });

    // The changes, open loop.
    let mut tasks = tokio::task::JoinSet::new();
    let period = Duration::from_secs(batch as u64) / u32::try_from(rate).unwrap_or(1000);
    let mut next = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(next).await;
        next += period;
        let publisher = publisher.clone();
        let owners: Vec<Name> = (i * batch..(i + 1) * batch)
            .map(|n| Name::from_ascii(format!("bulk{n}.{ORIGIN}.")).expect("name"))
            .collect();
        let change = ChangeSet {
            zone: origin.clone(),
            ops: owners
                .iter()
                .enumerate()
                .map(|(n, owner)| {
                    ChangeOp::Add(Record::from_rdata(
                        owner.clone(),
                        3600,
                        RData::A(std::net::Ipv4Addr::new(203, 0, 113, (n % 250 + 1) as u8).into()),
                    ))
                })
                .collect(),
            meta: ChangeMeta {
                reason: "bulk import".into(),
                ..ChangeMeta::default()
            },
        };
        tasks.spawn(async move {
            let sent = Instant::now();
            publisher.apply(&change, Utc::now()).await.expect("change");
            let returned = sent.elapsed();
            let mut first = true;
            for owner in &owners {
                first &= answered(dns, &owner.to_ascii()).await;
            }
            (returned, sent.elapsed(), first)
        });
    }
    let mut returned = Vec::with_capacity(total);
    let mut answered_at = Vec::with_capacity(total);
    let mut missed = 0;
    while let Some(done) = tasks.join_next().await {
        let (r, a, first) = done.expect("change task");
        returned.push(r);
        answered_at.push(a);
        missed += usize::from(!first);
    }
    let elapsed = started.elapsed();
    let approval_latencies = approver.await.expect("approvals");
    let after = publisher.commit_counts();

    let commits = after.commits - before.commits;
    let committed = after.changes - before.changes;
    println!(
        "changes at {names} names: {total} changes of {batch} records sent at {rate} records/s over {seconds} s, all done in {:.2} s ({:.0} records/s)",
        elapsed.as_secs_f64(),
        (total * batch) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  sent -> apply returned (committed, served):  {}",
        summary(&mut returned)
    );
    println!(
        "  sent -> DNS answered over UDP (every name): {}",
        summary(&mut answered_at)
    );
    println!(
        "  changes whose names all answered the first question after the return: {} of {total}",
        total - missed
    );
    println!(
        "  commits: {commits} for {committed} changes and decisions ({:.1} a commit)",
        committed as f64 / commits.max(1) as f64
    );
    println!(
        "  commit -> DNS serving it (the views swapped), slowest of all commits: {:.3} ms",
        after.slowest_publish_us as f64 / 1000.0
    );
    let mut approvals = approval_latencies;
    println!(
        "  single approvals over HTTP beside the load ({} at {approvals_per_s}/s): {}",
        approvals.len(),
        summary(&mut approvals)
    );
    assert_eq!(
        missed, 0,
        "a change was not answered right after its return"
    );
    running.shutdown().await;
}
