//! The signer against a checker that trusts nothing of it: every signature verified with the
//! published DNSKEY, the NSEC3 (or NSEC) chain rebuilt from the names, and incremental signing
//! compared with signing the same data from scratch.

use std::collections::BTreeMap;

use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use super::*;
use crate::domain::dnssec::{Algorithm, KeyRole};
use crate::zone::file;

const ZONE: &str = r#"$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010101 3600 900 1209600 300
@ NS ns1
@ NS ns2
@ A 203.0.113.1
@ MX 10 mail
ns1 A 203.0.113.2
ns2 AAAA 2001:db8::2
mail A 203.0.113.3
www CNAME @
a.b.c A 203.0.113.5
*.wild TXT "wild"
child NS ns.child
ns.child A 203.0.113.4
secure NS ns1
secure DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"#;

const NOW: u32 = 1_800_000_000;

fn origin() -> Name {
    Name::from_ascii("example.go.id.").unwrap()
}

fn view() -> ZoneView {
    ZoneView::new(&file::parse(ZONE, "t", Some(&origin())).unwrap())
}

fn key(id: i64, role: KeyRole, algorithm: Algorithm) -> ZoneKey {
    let pkcs8 = keys::generate(algorithm).unwrap();
    let mut k = ZoneKey::from_pkcs8(id, role, algorithm, &pkcs8).unwrap();
    k.published = true;
    k.signs_keys = role.is_entry_point();
    k.signs_zone = role.signs_zone();
    k.submitted = role.is_entry_point();
    k
}

fn signer(denial: Denial, keys: Vec<ZoneKey>) -> ZoneSigner {
    let policy = SigningPolicy {
        denial,
        ..SigningPolicy::default()
    };
    ZoneSigner::new(&origin(), policy, keys, false)
}

fn dnskeys(view: &ZoneView) -> Vec<DNSKEY> {
    view.rrset(&LowerName::new(&origin()), RecordType::DNSKEY)
        .map(|s| {
            s.records()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every signature verifies with a published key; every authoritative set is signed by each
/// key that should sign it, and nothing else is signed.
fn check_signatures(view: &ZoneView, signer: &ZoneSigner) -> Result<usize, String> {
    let keys = dnskeys(view);
    let mut checked = 0;
    let mut sets: Vec<crate::dns::RecordSet> = view.rrsets().map(|s| s.decoded()).collect();
    sets.extend(view.soa_set().map(|s| s.decoded()));
    sets.extend(view.nsec3_sets().map(|s| s.decoded()));
    for set in sets {
        let owner = set.records[0].name.clone();
        let key = name_key::key_of(&owner);
        let authoritative = !view.is_occluded(&key)
            && (!view.is_cut(&key) || matches!(set.rtype, RecordType::DS | RecordType::NSEC));
        let wanted: Vec<&ZoneKey> = signer
            .keys()
            .iter()
            .filter(|k| {
                if matches!(
                    set.rtype,
                    RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY
                ) {
                    k.signs_keys
                } else {
                    k.signs_zone
                }
            })
            .collect();
        if !authoritative || !signer.is_signing() {
            if !set.sigs.is_empty() {
                return Err(format!("{owner} {} is signed but should not be", set.rtype));
            }
            continue;
        }
        if set.sigs.len() != wanted.len() {
            return Err(format!(
                "{owner} {}: {} signatures, {} keys sign it",
                set.rtype,
                set.sigs.len(),
                wanted.len()
            ));
        }
        for sig in &set.sigs {
            let RData::DNSSEC(DNSSECRData::RRSIG(ref rrsig)) = sig.data else {
                return Err("not an RRSIG".into());
            };
            let input = rrsig.input();
            if input.original_ttl != set.ttl || input.type_covered != set.rtype {
                return Err(format!("{owner} {}: signature fields", set.rtype));
            }
            let ok = keys.iter().any(|k| {
                k.calculate_key_tag().ok() == Some(input.key_tag)
                    && k.verify_rrsig(&owner, DNSClass::IN, rrsig, set.records.iter())
                        .is_ok()
            });
            if !ok {
                return Err(format!("{owner} {}: signature does not verify", set.rtype));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

/// The NSEC3 chain: exactly one record per authoritative name (empty non-terminals and
/// delegations included, nothing below a delegation), in a closed ring, with the right types.
fn check_nsec3(view: &ZoneView) -> Result<(), String> {
    let mut wanted: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for key in view.name_keys() {
        if !view.is_occluded(key) {
            wanted.insert(view.nsec3_hash(key).to_vec(), key.to_vec());
        }
    }
    let chain: Vec<crate::dns::RecordSet> = view.nsec3_sets().map(|s| s.decoded()).collect();
    if chain.len() != wanted.len() {
        return Err(format!(
            "{} NSEC3 records for {} names",
            chain.len(),
            wanted.len()
        ));
    }
    let hashes: Vec<&Vec<u8>> = wanted.keys().collect();
    for (i, set) in chain.iter().enumerate() {
        let RData::DNSSEC(DNSSECRData::NSEC3(n)) = &set.records[0].data else {
            return Err("not an NSEC3".into());
        };
        let next = hashes[(i + 1) % hashes.len()];
        if n.next_hashed_owner_name() != &next[..] {
            return Err(format!(
                "NSEC3 {} has the wrong next hash",
                set.records[0].name
            ));
        }
        if n.iterations() != 0 || !n.salt().is_empty() || n.opt_out() {
            return Err("NSEC3 parameters".into());
        }
        let name = &wanted[hashes[i]];
        let mut types: Vec<RecordType> = view
            .types_at(name)
            .into_iter()
            .filter(|t| *t != RecordType::RRSIG)
            .collect();
        let signed = !view.is_cut(name) || types.contains(&RecordType::DS);
        if !types.is_empty() && signed {
            types.push(RecordType::RRSIG);
        }
        types.sort_by_key(|t| u16::from(*t));
        let listed: Vec<RecordType> = n.type_bit_maps().collect();
        if listed != types {
            return Err(format!(
                "NSEC3 of {:?} lists {listed:?}, the name has {types:?}",
                name_key::to_name(name)
            ));
        }
    }
    Ok(())
}

fn chain_records(view: &ZoneView) -> Vec<String> {
    let mut v: Vec<String> = view
        .records()
        .filter(|r| matches!(r.record_type(), RecordType::NSEC3 | RecordType::NSEC))
        .map(|r| r.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_whole_zone_is_signed_and_chained() {
    for algorithm in [Algorithm::Ecdsap256sha256, Algorithm::Ed25519] {
        let s = signer(Denial::Nsec3, vec![key(1, KeyRole::Csk, algorithm)]);
        let mut v = view();
        let diff = s.reconcile(&mut v, Stale::all(), NOW).unwrap();
        assert!(diff.removed.is_empty());
        assert!(v.is_signed());
        let checked = check_signatures(&v, &s).unwrap();
        assert!(checked > 15, "{checked}");
        check_nsec3(&v).unwrap();
        // Signing again changes nothing: every signature is still good.
        let again = s.reconcile(&mut v, Stale::default(), NOW + 60).unwrap();
        assert!(
            again.added.is_empty() && again.removed.is_empty(),
            "{again:?}"
        );
        // The diff rebuilds the same view from the unsigned one.
        let mut rebuilt = view();
        rebuilt.apply(&diff);
        assert_eq!(rebuilt.record_count(), v.record_count());
        check_signatures(&rebuilt, &s).unwrap();
        // So does its snapshot, NSEC3 chain and parameters included.
        let back = ZoneView::from_snapshot(&origin(), &v.snapshot()).unwrap();
        assert_eq!(back.record_count(), v.record_count());
        check_signatures(&back, &s).unwrap();
        check_nsec3(&back).unwrap();
        let again = s
            .reconcile(&mut back.clone(), Stale::default(), NOW + 60)
            .unwrap();
        assert!(again.added.is_empty() && again.removed.is_empty());
    }
}

#[test]
fn ksk_and_zsk_divide_the_work() {
    let s = signer(
        Denial::Nsec3,
        vec![
            key(1, KeyRole::Ksk, Algorithm::Ecdsap256sha256),
            key(2, KeyRole::Zsk, Algorithm::Ecdsap256sha256),
        ],
    );
    let mut v = view();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    check_signatures(&v, &s).unwrap();
    assert_eq!(dnskeys(&v).len(), 2);
    let apex = LowerName::new(&origin());
    assert_eq!(v.rrset(&apex, RecordType::CDS).unwrap().len(), 1);
}

#[test]
fn nsec_chain() {
    let s = signer(Denial::Nsec, vec![key(1, KeyRole::Csk, Algorithm::Ed25519)]);
    let mut v = view();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    check_signatures(&v, &s).unwrap();
    assert_eq!(v.nsec3_sets().count(), 0);
    // One NSEC per authoritative name with data, in canonical order, in a ring.
    let nsec: Vec<String> = chain_records(&v);
    assert!(
        nsec.iter()
            .any(|r| r.starts_with("example.go.id.") && r.contains("NSEC"))
    );
    assert!(
        !nsec.iter().any(|r| r.starts_with("ns.child.")),
        "glue has no NSEC"
    );
    assert!(
        !nsec.iter().any(|r| r.starts_with("b.c.")),
        "no NSEC at an empty non-terminal"
    );
    let back = ZoneView::from_snapshot(&origin(), &v.snapshot()).unwrap();
    assert_eq!(chain_records(&back), nsec);
    check_signatures(&back, &s).unwrap();
    // Switching to NSEC3 replaces the chain.
    let s3 = ZoneSigner::new(
        &origin(),
        SigningPolicy::default(),
        s.keys().to_vec(),
        false,
    );
    s3.reconcile(&mut v, Stale::default(), NOW).unwrap();
    check_nsec3(&v).unwrap();
    assert!(chain_records(&v).iter().all(|r| !r.contains(" NSEC ")));
    check_signatures(&v, &s3).unwrap();
}

fn a(name: &str, last: u8) -> Record {
    Record::from_rdata(
        Name::from_ascii(name).unwrap(),
        300,
        RData::A(A::from(std::net::Ipv4Addr::new(203, 0, 113, last))),
    )
}

/// A change as the publisher makes it: the data diff with a new SOA, then the signer.
fn change(s: &ZoneSigner, v: &mut ZoneView, removed: Vec<Record>, added: Vec<Record>) -> ZoneDiff {
    let soa = v.soa_record().unwrap().clone();
    let serial = v.serial() + 1;
    let soa = file::soa_with_serial(&soa, serial).unwrap();
    let data = ZoneDiff {
        removed,
        added,
        soa: Some(soa),
    };
    let before = v.clone();
    v.apply(&data);
    s.sign_change(&before, v, &[&data], NOW + 60).unwrap()
}

#[test]
fn incremental_signing_matches_signing_from_scratch() {
    for denial in [Denial::Nsec3, Denial::Nsec] {
        let s = signer(denial, vec![key(1, KeyRole::Csk, Algorithm::Ed25519)]);
        let mut v = view();
        s.reconcile(&mut v, Stale::all(), NOW).unwrap();
        let steps: Vec<(Vec<Record>, Vec<Record>)> = vec![
            (vec![], vec![a("new.example.go.id.", 9)]),
            (vec![], vec![a("x.y.z.example.go.id.", 10)]),
            (vec![], vec![a("new.example.go.id.", 11)]),
            (vec![a("x.y.z.example.go.id.", 10)], vec![]),
            (
                vec![a("new.example.go.id.", 9), a("new.example.go.id.", 11)],
                vec![],
            ),
            (vec![], vec![a("deep.a.b.c.example.go.id.", 12)]),
            (vec![a("a.b.c.example.go.id.", 5)], vec![]),
        ];
        for (i, (removed, added)) in steps.into_iter().enumerate() {
            let diff = change(&s, &mut v, removed, added);
            assert!(
                !diff.added.is_empty(),
                "step {i}: the SOA at least is signed again"
            );
            check_signatures(&v, &s).unwrap_or_else(|e| panic!("{denial:?} step {i}: {e}"));
            if denial == Denial::Nsec3 {
                check_nsec3(&v).unwrap_or_else(|e| panic!("step {i}: {e}"));
            }
            // The same data signed from scratch has the same chain.
            let mut fresh = v.clone();
            s.reconcile(&mut fresh, Stale::all(), NOW).unwrap();
            assert_eq!(
                chain_records(&v),
                chain_records(&fresh),
                "{denial:?} step {i}"
            );
            assert_eq!(
                v.record_count(),
                fresh.record_count(),
                "{denial:?} step {i}"
            );
        }
    }
}

#[test]
fn one_change_signs_a_handful() {
    let s = signer(
        Denial::Nsec3,
        vec![key(1, KeyRole::Csk, Algorithm::Ecdsap256sha256)],
    );
    let mut v = view();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    let diff = change(&s, &mut v, vec![], vec![a("fresh.example.go.id.", 7)]);
    let sigs = diff
        .added
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .count();
    // The A set, the new NSEC3, its predecessor's NSEC3 and the SOA.
    assert_eq!(sigs, 4, "{:#?}", diff.added);
}

#[test]
fn a_delegation_above_names_rechains_them() {
    let s = signer(
        Denial::Nsec3,
        vec![key(1, KeyRole::Csk, Algorithm::Ed25519)],
    );
    let mut v = view();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    // b.c gets NS: a.b.c becomes glue, loses its NSEC3 and its signature.
    let ns = Record::from_rdata(
        Name::from_ascii("b.c.example.go.id.").unwrap(),
        300,
        RData::NS(hickory_proto::rr::rdata::NS(
            Name::from_ascii("ns1.example.go.id.").unwrap(),
        )),
    );
    change(&s, &mut v, vec![], vec![ns.clone()]);
    check_signatures(&v, &s).unwrap();
    check_nsec3(&v).unwrap();
    change(&s, &mut v, vec![ns], vec![]);
    check_signatures(&v, &s).unwrap();
    check_nsec3(&v).unwrap();
}

#[test]
fn refresh_remakes_what_falls_due_in_batches() {
    let s = signer(
        Denial::Nsec3,
        vec![key(1, KeyRole::Csk, Algorithm::Ed25519)],
    );
    let mut v = view();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    let total = check_signatures(&v, &s).unwrap();
    // Nothing is due a day later.
    let nothing = s.refresh(&mut v, NOW + 86_400, 5).unwrap();
    assert!(nothing.added.is_empty());
    // After validity − refresh + jitter, everything is due: 5 at a time.
    let later = NOW + s.policy().signature_validity - s.policy().signature_refresh + 86_400;
    let batch = s.refresh(&mut v, later, 5).unwrap();
    assert_eq!(batch.added.len(), 5);
    assert_eq!(batch.removed.len(), 5);
    let rest = s.refresh(&mut v, later, usize::MAX).unwrap();
    assert_eq!(rest.added.len(), total - 5);
    check_signatures(&v, &s).unwrap();
}

#[test]
fn unsigning_removes_every_dnssec_record() {
    let s = signer(
        Denial::Nsec3,
        vec![key(1, KeyRole::Csk, Algorithm::Ed25519)],
    );
    let mut v = view();
    let unsigned = v.record_count();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    let none = ZoneSigner::new(&origin(), SigningPolicy::default(), Vec::new(), false);
    let diff = none.reconcile(&mut v, Stale::default(), NOW).unwrap();
    assert!(diff.added.is_empty());
    assert_eq!(v.record_count(), unsigned);
    assert!(!v.is_signed());
    assert!(v.records().all(|r| !is_dnssec_type(r.record_type())));
}

#[test]
fn a_new_entry_key_signs_the_key_set_beside_the_old_one() {
    let ksk = key(1, KeyRole::Ksk, Algorithm::Ecdsap256sha256);
    let zsk = key(2, KeyRole::Zsk, Algorithm::Ecdsap256sha256);
    let s = signer(Denial::Nsec3, vec![ksk.clone(), zsk.clone()]);
    let mut v = view();
    s.reconcile(&mut v, Stale::all(), NOW).unwrap();
    let mut ksk2 = key(3, KeyRole::Ksk, Algorithm::Ecdsap256sha256);
    ksk2.submitted = false;
    let s2 = signer(Denial::Nsec3, vec![ksk, zsk, ksk2]);
    s2.reconcile(&mut v, Stale::default(), NOW + 10).unwrap();
    check_signatures(&v, &s2).unwrap();
    let apex = LowerName::new(&origin());
    assert_eq!(v.rrset(&apex, RecordType::DNSKEY).unwrap().sig_count(), 2);
}
