//! The provisioning approval end to end in process: decide, one SQLite transaction with the
//! request's state, history and the records, the served view swapped, and DNS answering. Prints
//! the median, p90, p99 and maximum over a batch of requests in a zone of 100,000 names, and the
//! approvals per second.
//!
//! `cargo bench --bench approve` (HTTP adds the request parsing and JSON on top of this).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hickory_proto::rr::{LowerName, Name};

use ranah::dns::Zones;
use ranah::domain::access::{Grant, Role};
use ranah::domain::audit::Attribution;
use ranah::domain::calendar::Calendar;
use ranah::domain::policy::Policy;
use ranah::domain::request::Command;
use ranah::domain::workflow::Workflow;
use ranah::publish::Publisher;
use ranah::service::requests::{Contact, NewRequest, RecordInput, Requests};
use ranah::store::Store;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as a quick smoke test.
    let full = std::env::args().any(|a| a == "--bench");
    let (names, requests) = if full { (100_000, 300) } else { (1_000, 10) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(names, requests));
}

async fn run(names: usize, requests: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", tmp.path().join("b.db").display());
    let store = Store::open(&url).await.unwrap();
    let mut zone = String::from(
        "$ORIGIN bench.example.\n$TTL 3600\n@ SOA ns1 h 1 3600 900 1209600 300\n@ NS ns1\nns1 A 203.0.113.1\n",
    );
    for i in 0..names {
        zone.push_str(&format!("host{i} A 203.0.113.{}\n", i % 250 + 1));
    }
    let file = tmp.path().join("bench.example.zone");
    std::fs::write(&file, zone).unwrap();
    ranah::publish::import::import_file(
        &store,
        &file,
        None,
        false,
        &Attribution::cli(),
        Utc::now(),
    )
    .await
    .unwrap();
    let zones = Arc::new(Zones::new());
    let publisher = Arc::new(Publisher::new(store.clone(), zones.clone()));
    publisher.sync_from_store(chrono::Utc::now()).await.unwrap();
    let service = Requests::new(
        store.clone(),
        ranah::store::Files::new(&std::env::temp_dir().join("ranah-test-files")),
        publisher,
        Arc::new(Workflow::preset("kaltara").unwrap()),
        Arc::new(Calendar::default_wita([])),
        Policy::default(),
    );
    let staff =
        ranah::service::people::People::new(store.clone(), Arc::new(Calendar::default_wita([])));
    let agency = staff
        .add_agency("A", "Agency", &Attribution::cli(), Utc::now())
        .await
        .unwrap();
    let mut people = Vec::new();
    for (name, role, agency) in [
        ("app", "applicant", Some(agency)),
        ("head", "head_of_office", None),
        ("div", "head_of_division", None),
        ("tech", "technical", None),
    ] {
        let grant = Grant::permanent(Role::parse(role).unwrap());
        staff
            .add_user(
                name,
                None,
                agency,
                &[grant],
                &Attribution::cli(),
                Utc::now(),
            )
            .await
            .unwrap();
        let (_, token) = staff
            .create_token(name, None, &Attribution::cli(), Utc::now())
            .await
            .unwrap();
        people.push(
            store
                .authenticate(&token, Utc::now())
                .await
                .unwrap()
                .unwrap()
                .on(Utc::now().date_naive()),
        );
    }
    // Requests waiting at the technical step.
    let mut ids = Vec::with_capacity(requests);
    for i in 0..requests {
        let input = NewRequest {
            kind: "create".into(),
            zone: "bench.example".into(),
            name: format!("new{i}"),
            records: vec![RecordInput {
                rtype: "A".into(),
                value: "203.0.113.7".into(),
                ttl: 3600,
            }],
            contact: Contact {
                name: "A".into(),
                email: "a@bench.example".into(),
                phone: None,
            },
            purpose: "benchmark".into(),
            recommendation_ref: None,
            certificate: false,
            agency: None,
            letter: None,
        };
        let id = service.submit(&people[0], input, Utc::now()).await.unwrap();
        store.mark_letter_attached(id).await.unwrap();
        for who in [&people[1], &people[2]] {
            service
                .act(who, id, Command::Approve { note: None }, Utc::now())
                .await
                .unwrap();
        }
        ids.push(id);
    }
    let mut latencies = Vec::with_capacity(requests);
    let start = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let t = Instant::now();
        service
            .act(&people[3], *id, Command::Approve { note: None }, Utc::now())
            .await
            .unwrap();
        latencies.push(t.elapsed());
        // Served the moment the approval returned.
        let name = LowerName::from(Name::from_ascii(format!("new{i}.bench.example.")).unwrap());
        assert_eq!(
            zones
                .resolve(&name, hickory_proto::rr::RecordType::A, false)
                .answers
                .len(),
            1
        );
    }
    let total = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "provisioning approval at {names} names, {requests} requests: median {:?}, p90 {:?}, p99 {:?}, max {:?}; {:.0} approvals/s",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies[latencies.len() - 1],
        requests as f64 / total.as_secs_f64()
    );
}
