//! The cost of a lookup (hit and miss) and of one record change, at 1,000 and 100,000 names.
//!
//! `cargo bench --bench view`. A miss must cost about the same at 100,000 names as at 1,000
//! (no scan of the zone); one change must update the served view in well under a millisecond.
//! The store-commit variant includes SQLite's durable commit (fsync) on this machine's disk.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use ranah::dns::{ZoneView, Zones};
use ranah::publish::{ChangeOp, ChangeSet, Publisher};
use ranah::store::{ChangeMeta, Store};
use ranah::zone::ZoneDiff;
use ranah::zone::file::ZoneContent;

const SIZES: [usize; 2] = [1_000, 100_000];

fn zone(names: usize) -> ZoneContent {
    let origin = Name::from_ascii("bench.example.").unwrap();
    let soa = Record::from_rdata(
        origin.clone(),
        3600,
        RData::SOA(SOA::new(
            Name::from_ascii("ns1.bench.example.").unwrap(),
            Name::from_ascii("hostmaster.bench.example.").unwrap(),
            2026010100,
            3600,
            900,
            1209600,
            300,
        )),
    );
    let mut records = vec![Record::from_rdata(
        origin.clone(),
        3600,
        RData::NS(NS(Name::from_ascii("ns1.bench.example.").unwrap())),
    )];
    for i in 0..names {
        let name = Name::from_ascii(format!("host{i}.bench.example.")).unwrap();
        let ip = Ipv4Addr::from(0xCB00_7100u32 + (i as u32 % 256));
        records.push(Record::from_rdata(name, 3600, RData::A(A::from(ip))));
    }
    ZoneContent {
        origin,
        soa,
        records,
    }
}

/// A new A record, a different name each call.
fn new_record(i: u32) -> Record {
    Record::from_rdata(
        Name::from_ascii(format!("new{i}.bench.example.")).unwrap(),
        300,
        RData::A(A::from(Ipv4Addr::new(203, 0, 113, 7))),
    )
}

fn lower(s: &str) -> LowerName {
    LowerName::from(Name::from_ascii(s).unwrap())
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for size in SIZES {
        let zones = Zones::new();
        zones.insert(ZoneView::new(&zone(size)));
        let hit = lower(&format!("host{}.bench.example.", size / 2));
        let miss = lower("nonexistent-name.bench.example.");
        let deep_miss = lower("a.b.c.d.nonexistent.bench.example.");
        group.bench_with_input(BenchmarkId::new("hit", size), &hit, |b, q| {
            b.iter(|| black_box(zones.resolve(q, RecordType::A, false)))
        });
        group.bench_with_input(BenchmarkId::new("miss", size), &miss, |b, q| {
            b.iter(|| black_box(zones.resolve(q, RecordType::A, false)))
        });
        group.bench_with_input(BenchmarkId::new("deep_miss", size), &deep_miss, |b, q| {
            b.iter(|| black_box(zones.resolve(q, RecordType::A, false)))
        });
        group.bench_with_input(BenchmarkId::new("nodata", size), &hit, |b, q| {
            b.iter(|| black_box(zones.resolve(q, RecordType::TXT, false)))
        });
    }
    group.finish();
}

fn view_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("change_view_update");
    for size in SIZES {
        let view = Arc::new(ZoneView::new(&zone(size)));
        let mut i = 0u32;
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                // What the publisher does: clone the served view (O(1)), apply, publish.
                i = i.wrapping_add(1);
                let record = new_record(i);
                let mut next = ZoneView::clone(&view);
                next.apply(&ZoneDiff {
                    removed: Vec::new(),
                    added: vec![record],
                    soa: None,
                });
                black_box(next)
            })
        });
    }
    group.finish();
}

fn change_with_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("change_with_store_commit");
    group.sample_size(30);
    for size in SIZES {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", tmp.path().join("b.db").display());
        let content = zone(size);
        let publisher = rt.block_on(async {
            let store = Store::open(&url).await.unwrap();
            store
                .create_zone(
                    &content,
                    None,
                    &ranah::domain::audit::AuditEntry::cli(
                        "zone.import",
                        "zone/bench",
                        serde_json::json!({}),
                    ),
                    Utc::now(),
                )
                .await
                .unwrap();
            let zones = Arc::new(Zones::new());
            let p = Publisher::new(store, zones);
            p.sync_from_store(chrono::Utc::now()).await.unwrap();
            p
        });
        let mut i = 0u32;
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let record = new_record(i);
                let change = ChangeSet {
                    zone: content.origin.clone(),
                    ops: vec![ChangeOp::Add(record)],
                    meta: ChangeMeta {
                        reason: "bench".into(),
                        ..Default::default()
                    },
                };
                rt.block_on(publisher.apply(&change, Utc::now())).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookups, view_update, change_with_commit);
criterion_main!(benches);
