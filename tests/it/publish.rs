//! The runtime change path, in process: store commit, then the served view, then DNS answers.

use std::net::SocketAddr;

use chrono::{TimeZone, Utc};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use ranah::publish::{ChangeOp, ChangeSet, PublishError};
use ranah::store::{ChangeMeta, Store, StoreError};

use crate::harness::{self, UDP};

type Env = harness::InProcess;

async fn env() -> Env {
    harness::in_process().await
}

fn a(name: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record::from_rdata(
        Name::from_ascii(name).unwrap(),
        ttl,
        RData::A(A::from(std::net::Ipv4Addr::from(ip))),
    )
}

fn change(ops: Vec<ChangeOp>) -> ChangeSet {
    ChangeSet {
        zone: harness::origin(),
        ops,
        meta: ChangeMeta {
            reason: "test".into(),
            agency_id: Some(7),
            request_id: Some(42),
            actor: None,
            suspension_id: None,
            ..ChangeMeta::default()
        },
    }
}

async fn ask(dns: SocketAddr, name: &str, t: RecordType) -> hickory_proto::op::Message {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || harness::query(dns, &name, t, UDP))
        .await
        .unwrap()
}

fn at(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_answered_when_apply_returns_and_is_stored() {
    let e = env().await;
    let applied = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "sipd.example.go.id.",
                [203, 0, 113, 80],
                600,
            ))]),
            at(2026, 11, 23),
        )
        .await
        .unwrap();
    assert_eq!(applied.serial_before, 2026010100);
    assert_eq!(applied.serial, 2026112300);
    // No waiting: the answer is there the moment apply returned.
    let m = ask(e.dns, "sipd.example.go.id.", RecordType::A).await;
    assert_eq!(m.answers.len(), 1);
    assert!(m.metadata.authoritative);
    let m = ask(e.dns, "example.go.id.", RecordType::SOA).await;
    match &m.answers[0].data {
        RData::SOA(s) => assert_eq!(s.serial, 2026112300),
        other => panic!("{other:?}"),
    }
    // Stored, with the journal entry, across a reopen of the store.
    e.store.close().await;
    let store = Store::open(&e.url).await.unwrap();
    let zone = store.load_zone(&harness::origin()).await.unwrap().unwrap();
    assert!(
        zone.content
            .records
            .iter()
            .any(|r| r.name.to_ascii() == "sipd.example.go.id.")
    );
    assert_eq!(zone.content.soa_data().unwrap().serial, 2026112300);
    let journal = store
        .journal(&harness::origin(), 2026010100, 1000)
        .await
        .unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].serial_after, 2026112300);
    // The record, and the zone's `_audit` TXT moved to the audit trail's new head.
    let added: Vec<String> = journal[0].added.iter().map(|r| r.name.to_ascii()).collect();
    assert_eq!(added, ["sipd.example.go.id.", "_audit.example.go.id."]);
    assert_eq!(journal[0].removed.len(), 1, "the previous anchor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_is_date_based_and_falls_through() {
    let e = env().await;
    let day = at(2026, 11, 23);
    let mut serials = Vec::new();
    for i in 0..3u8 {
        let r = a("s.example.go.id.", [203, 0, 113, i], 60);
        serials.push(
            e.publisher
                .apply(&change(vec![ChangeOp::Add(r)]), day)
                .await
                .unwrap()
                .serial,
        );
    }
    assert_eq!(serials, vec![2026112300, 2026112301, 2026112302]);
    // A later day starts at its own base; an earlier clock never moves the serial back.
    let next = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "s.example.go.id.",
                [203, 0, 113, 9],
                60,
            ))]),
            at(2026, 11, 24),
        )
        .await
        .unwrap();
    assert_eq!(next.serial, 2026112400);
    let back = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "s.example.go.id.",
                [203, 0, 113, 10],
                60,
            ))]),
            at(2026, 1, 1),
        )
        .await
        .unwrap();
    assert_eq!(back.serial, 2026112401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_take_effect_at_once() {
    let e = env().await;
    e.publisher
        .apply(
            &change(vec![ChangeOp::RemoveName(
                Name::from_ascii("www.example.go.id.").unwrap(),
            )]),
            Utc::now(),
        )
        .await
        .unwrap();
    let m = ask(e.dns, "www.example.go.id.", RecordType::A).await;
    // portal and alias point at www; www itself is gone.
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let m = ask(e.dns, "alias.example.go.id.", RecordType::A).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NXDomain,
        "rcode of the chain's end"
    );
    assert_eq!(m.answers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ttl_per_rrset() {
    let e = env().await;
    e.publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "t.example.go.id.",
                [203, 0, 113, 1],
                60,
            ))]),
            Utc::now(),
        )
        .await
        .unwrap();
    let applied = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "t.example.go.id.",
                [203, 0, 113, 2],
                120,
            ))]),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.diff.removed.len(),
        1,
        "the old record leaves with its old TTL"
    );
    let m = ask(e.dns, "t.example.go.id.", RecordType::A).await;
    assert_eq!(m.answers.len(), 2);
    assert!(m.answers.iter().all(|r| r.ttl == 120));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_breaking_changes_change_nothing() {
    let e = env().await;
    let before = e
        .publisher
        .zones()
        .get(&harness::origin().into())
        .unwrap()
        .view()
        .serial();
    let cname = Record::from_rdata(
        Name::from_ascii("www.example.go.id.").unwrap(),
        60,
        RData::CNAME(CNAME(harness::origin())),
    );
    let err = e
        .publisher
        .apply(&change(vec![ChangeOp::Add(cname)]), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::CnameConflict(_)), "{err}");
    let err = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "x.example.org.",
                [203, 0, 113, 1],
                60,
            ))]),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::OutsideZone { .. }), "{err}");
    let err = e
        .publisher
        .apply(
            &change(vec![ChangeOp::RemoveRRset(
                harness::origin(),
                RecordType::NS,
            )]),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::ApexWithoutNs), "{err}");
    let mx = Record::from_rdata(
        harness::origin(),
        60,
        RData::MX(hickory_proto::rr::rdata::MX::new(
            20,
            Name::from_ascii("portal.example.go.id.").unwrap(),
        )),
    );
    let err = e
        .publisher
        .apply(&change(vec![ChangeOp::Add(mx)]), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::MxToCname(_)), "{err}");
    let after = e
        .publisher
        .zones()
        .get(&harness::origin().into())
        .unwrap()
        .view()
        .serial();
    assert_eq!(before, after);
    let stored = e
        .store
        .load_zone(&harness::origin())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.content.soa_data().unwrap().serial, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_are_serialised() {
    let e = env().await;
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let p = e.publisher.clone();
        tasks.push(tokio::spawn(async move {
            p.apply(
                &change(vec![ChangeOp::Add(a(
                    &format!("c{i}.example.go.id."),
                    [203, 0, 113, i],
                    60,
                ))]),
                at(2026, 11, 23),
            )
            .await
        }));
    }
    let mut serials = Vec::new();
    for t in tasks {
        serials.push(t.await.unwrap().unwrap().serial);
    }
    serials.sort();
    let expected: Vec<u32> = (0..20).map(|i| 2026112300 + i).collect();
    assert_eq!(serials, expected);
    let journal = e
        .store
        .journal(&harness::origin(), 2026010100, 1000)
        .await
        .unwrap();
    assert_eq!(journal.len(), 20);
}

/// A change decided on a zone another writer (another process, another instance on the same
/// PostgreSQL) has moved since it was served here meets a conflict in the store; the zone is
/// brought up to date from the journal and the change decided again on it: added after the
/// other writer's change, or refused for what that change made of the zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_behind_the_store_catches_up_and_decides_again() {
    let e = env().await;
    // Another process commits changes directly to the store.
    let other = Store::open(&e.url).await.unwrap();
    let commit_elsewhere = |serial_before: u32, serial: u32, added: Vec<Record>| {
        let other = other.clone();
        let publisher = e.publisher.clone();
        async move {
            let view = publisher
                .zones()
                .get(&harness::origin().into())
                .unwrap()
                .view();
            let mut new_soa = view.soa_record().unwrap().clone();
            if let RData::SOA(s) = &mut new_soa.data {
                s.serial = serial;
            }
            let diff = ranah::zone::ZoneDiff {
                removed: vec![],
                added,
                soa: Some(new_soa),
            };
            let meta = ChangeMeta::default();
            let audit =
                ranah::publish::change_audit(&harness::origin(), serial_before, &diff, &meta);
            other
                .commit_change(
                    &harness::origin(),
                    serial_before,
                    &diff,
                    &meta,
                    &audit,
                    Utc::now(),
                    None,
                )
                .await
                .unwrap();
        }
    };
    commit_elsewhere(
        2026010100,
        2026112350,
        vec![a("ext.example.go.id.", [203, 0, 113, 5], 60)],
    )
    .await;
    let m = ask(e.dns, "ext.example.go.id.", RecordType::A).await;
    assert_eq!(
        m.answers.len(),
        0,
        "not followed yet (no poll in this test)"
    );

    let applied = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "mine.example.go.id.",
                [203, 0, 113, 6],
                60,
            ))]),
            at(2026, 11, 23),
        )
        .await
        .unwrap();
    assert_eq!(
        (applied.serial_before, applied.serial),
        (2026112350, 2026112351)
    );
    for name in ["ext.example.go.id.", "mine.example.go.id."] {
        let m = ask(e.dns, name, RecordType::A).await;
        assert_eq!(m.answers.len(), 1, "{name}");
    }
    let journal = e
        .store
        .journal(&harness::origin(), 2026010100, 10)
        .await
        .unwrap();
    let steps: Vec<(u32, u32)> = journal
        .iter()
        .map(|j| (j.serial_before, j.serial_after))
        .collect();
    assert_eq!(steps, [(2026010100, 2026112350), (2026112350, 2026112351)]);

    // The other writer makes `alias` a CNAME; an address for it, decided on the zone as it
    // was here, is refused once decided again, and nothing of it is applied.
    let cname = Record::from_rdata(
        Name::from_ascii("alias2.example.go.id.").unwrap(),
        60,
        RData::CNAME(CNAME(Name::from_ascii("www.example.go.id.").unwrap())),
    );
    commit_elsewhere(2026112351, 2026112352, vec![cname]).await;
    let err = e
        .publisher
        .apply(
            &change(vec![ChangeOp::Add(a(
                "alias2.example.go.id.",
                [203, 0, 113, 7],
                60,
            ))]),
            at(2026, 11, 23),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::CnameConflict(_)), "{err}");
    let m = ask(e.dns, "alias2.example.go.id.", RecordType::CNAME).await;
    assert_eq!(m.answers.len(), 1, "the other writer's change is served");
    let synced = e.publisher.sync_from_store(Utc::now()).await.unwrap();
    assert!(synced.is_empty(), "{synced:?}");
}

/// Changes that arrive together share a commit (group commit), and each is still answered by
/// DNS when its own `apply` returns, with a serial and a journal entry of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_arrive_together_share_commits_and_each_is_answered_on_return() {
    let e = env().await;
    let before = e.publisher.commit_counts();
    let count = 200u32;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let p = e.publisher.clone();
        let dns = e.dns;
        tasks.spawn(async move {
            let name = format!("g{i}.example.go.id.");
            let applied = p
                .apply(
                    &change(vec![ChangeOp::Add(a(&name, [203, 0, 113, 7], 60))]),
                    at(2026, 11, 23),
                )
                .await
                .unwrap();
            // Answered the moment the change is back, not some time later.
            let answer = ask(dns, &name, RecordType::A).await;
            assert_eq!(
                answer.metadata.response_code,
                ResponseCode::NoError,
                "{name}"
            );
            assert_eq!(answer.answers.len(), 1, "{name}");
            applied.serial
        });
    }
    let mut serials = Vec::new();
    while let Some(serial) = tasks.join_next().await {
        serials.push(serial.unwrap());
    }
    serials.sort();
    let expected: Vec<u32> = (0..count).map(|i| 2026112300 + i).collect();
    assert_eq!(serials, expected);
    let journal = e
        .store
        .journal(&harness::origin(), 2026010100, 1000)
        .await
        .unwrap();
    assert_eq!(journal.len(), count as usize);
    let after = e.publisher.commit_counts();
    let (commits, changes) = (
        after.commits - before.commits,
        after.changes - before.changes,
    );
    assert_eq!(changes, u64::from(count));
    assert!(
        commits < changes / 2,
        "{commits} commits for {changes} changes: they did not share"
    );
    let trail = e.store.verify_audit().await.unwrap();
    assert!(trail.ok, "{trail:?}");
}

/// In a group, a change the store refuses (computed from a serial the zone has left) is
/// undone alone: the changes before and after it commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_refused_inside_a_group_leaves_the_others() {
    use ranah::domain::audit::AuditEntry;
    use ranah::store::ZoneChangeCommit;
    use ranah::zone::ZoneDiff;
    let e = env().await;
    let origin = harness::origin();
    let view = e
        .publisher
        .zones()
        .get(&origin.clone().into())
        .unwrap()
        .view();
    let soa = view.soa_record().unwrap().clone();
    let s0 = view.serial();
    let at_serial = |n: u32| ranah::zone::file::soa_with_serial(&soa, n).unwrap();
    let diff = |name: &str, serial: u32| ZoneDiff {
        removed: vec![],
        added: vec![a(name, [203, 0, 113, 8], 60)],
        soa: Some(at_serial(serial)),
    };
    let meta = ChangeMeta {
        reason: "group test".into(),
        ..ChangeMeta::default()
    };
    let audit = AuditEntry::cli("zone.change", "zone/example.go.id", serde_json::json!({}));
    fn commit<'a>(
        origin: &'a Name,
        meta: &'a ChangeMeta,
        audit: &'a AuditEntry,
        serial_before: u32,
        diff: &'a ZoneDiff,
    ) -> ZoneChangeCommit<'a> {
        ZoneChangeCommit {
            origin,
            serial_before,
            diff,
            meta,
            audit,
            complete: None,
        }
    }
    let commit = |serial_before, diff| commit(&origin, &meta, &audit, serial_before, diff);
    let (first, stale, third) = (
        diff("r1.example.go.id.", s0 + 1),
        diff("r2.example.go.id.", s0 + 1),
        diff("r3.example.go.id.", s0 + 2),
    );
    let now = Utc::now();
    let mut group = e.store.begin_group().await.unwrap();
    group.change(commit(s0, &first), now).await.unwrap();
    let refused = group.change(commit(s0, &stale), now).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert!(!group.is_broken());
    group.change(commit(s0 + 1, &third), now).await.unwrap();
    // Refused late, after its serial, audit event and anchor were written (its completion
    // fails, as a signer could): what the group remembered of them goes with it, so the next
    // change moves the serial from where the kept ones left it and chains its event after
    // theirs.
    let (late, fifth) = (
        diff("r4.example.go.id.", s0 + 3),
        diff("r5.example.go.id.", s0 + 3),
    );
    let failing = ZoneChangeCommit {
        complete: Some(Box::new(
            |_: &ZoneDiff| Err("the signer failed".to_string()),
        )),
        ..commit(s0 + 2, &late)
    };
    let refused = group.change(failing, now).await;
    assert!(
        matches!(refused, Err(StoreError::Corrupt(_))),
        "{refused:?}"
    );
    group.change(commit(s0 + 2, &fifth), now).await.unwrap();
    group.commit().await.unwrap();

    let stored = e.store.load_zone(&origin).await.unwrap().unwrap();
    assert_eq!(stored.content.soa_data().unwrap().serial, s0 + 3);
    let owners: Vec<String> = stored
        .content
        .records
        .iter()
        .map(|r| r.name.to_ascii())
        .collect();
    assert!(owners.contains(&"r1.example.go.id.".to_string()));
    assert!(!owners.contains(&"r2.example.go.id.".to_string()));
    assert!(owners.contains(&"r3.example.go.id.".to_string()));
    assert!(!owners.contains(&"r4.example.go.id.".to_string()));
    assert!(owners.contains(&"r5.example.go.id.".to_string()));
    let journal = e.store.journal(&origin, s0, 10).await.unwrap();
    let serials: Vec<(u32, u32)> = journal
        .iter()
        .map(|c| (c.serial_before, c.serial_after))
        .collect();
    assert_eq!(
        serials,
        vec![(s0, s0 + 1), (s0 + 1, s0 + 2), (s0 + 2, s0 + 3)]
    );
    // Each kept change journaled its record, then the anchor's move; the SOA before each is
    // the one the change before it left.
    for (c, name) in journal.iter().zip(["r1", "r3", "r5"]) {
        let added: Vec<String> = c.added.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(added[0], format!("{name}.example.go.id."));
        assert!(added[1].starts_with("_audit."), "{added:?}");
        let before = c.soa_before.as_ref().unwrap();
        let serial = match &before.data {
            hickory_proto::rr::RData::SOA(soa) => soa.serial,
            other => panic!("{other:?}"),
        };
        assert_eq!(serial, c.serial_before, "{c:?}");
    }
    let trail = e.store.verify_audit().await.unwrap();
    assert!(trail.ok, "{trail:?}");
}
