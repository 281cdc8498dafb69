//! The cost of DNSSEC signing: one change re-signed at 10,000 and 100,000 names (the issue's
//! bound: under 1 ms at 100,000), and the whole zone signed once (the first start).
//!
//! `cargo bench --bench sign`. One change adds a new name with one A record and moves the
//! SOA: the signer makes the A's signature, the new name's NSEC3 and its predecessor's, and
//! the SOA's, four ECDSA P-256 signatures (or Ed25519 ones).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};

use ranah::dns::ZoneView;
use ranah::domain::dnssec::{Algorithm, KeyRole, SigningPolicy};
use ranah::sign::keys::generate;
use ranah::sign::{Stale, ZoneKey, ZoneSigner};
use ranah::zone::ZoneDiff;
use ranah::zone::file::{self, ZoneContent};

const SIZES: [usize; 2] = [10_000, 100_000];
const NOW: u32 = 1_800_000_000;

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

fn signer(algorithm: Algorithm) -> ZoneSigner {
    let pkcs8 = generate(algorithm).unwrap();
    let mut key = ZoneKey::from_pkcs8(1, KeyRole::Csk, algorithm, &pkcs8).unwrap();
    key.published = true;
    key.signs_keys = true;
    key.signs_zone = true;
    key.submitted = true;
    ZoneSigner::new(
        &Name::from_ascii("bench.example.").unwrap(),
        SigningPolicy::default(),
        vec![key],
        false,
    )
}

fn one_change(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign_one_change");
    for algorithm in [Algorithm::Ecdsap256sha256, Algorithm::Ed25519] {
        for names in SIZES {
            let s = signer(algorithm);
            let mut view = ZoneView::new(&zone(names));
            let started = Instant::now();
            s.reconcile(&mut view, Stale::all(), NOW).unwrap();
            eprintln!(
                "{algorithm:?}: whole zone of {names} names signed in {:?} ({} records)",
                started.elapsed(),
                view.record_count()
            );
            let mut i = 0u32;
            group.bench_with_input(
                BenchmarkId::new(format!("{algorithm:?}"), names),
                &names,
                |b, _| {
                    b.iter_batched(
                        || {
                            i += 1;
                            let soa =
                                file::soa_with_serial(&view.soa_record().unwrap(), 2026010100 + i)
                                    .unwrap();
                            let data = ZoneDiff {
                                added: vec![Record::from_rdata(
                                    Name::from_ascii(format!("new{i}.bench.example.")).unwrap(),
                                    300,
                                    RData::A(A::from(Ipv4Addr::new(203, 0, 113, 9))),
                                )],
                                removed: Vec::new(),
                                soa: Some(soa),
                            };
                            let mut after = view.clone();
                            after.apply(&data);
                            (after, data)
                        },
                        |(mut after, data)| {
                            black_box(
                                s.sign_change(&view, &mut after, &[&data], NOW + 60)
                                    .unwrap(),
                            )
                        },
                        BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, one_change);
criterion_main!(benches);
