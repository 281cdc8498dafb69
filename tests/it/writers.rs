//! Every writer of the store at once, from several connections pools (the daemon's background
//! tasks and the command line are separate pools, or separate processes, on one SQLite file):
//! none may fail with "database is locked", and the audit chain must not fork.

use chrono::Utc;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};

use ranah::domain::audit::{Attribution, AuditEntry};
use ranah::domain::certificate::KeyMode;
use ranah::publish::{ChangeOp, ChangeSet};
use ranah::store::{ChangeMeta, NewCertificate, SecondaryState, Store};

use crate::harness;

const ROUNDS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_writer_at_once_never_meets_a_locked_database() {
    let e = harness::in_process().await;
    // Two more pools on the same file: the command line and the certificate worker.
    let cli = Store::open(&e.url).await.unwrap();
    let worker = Store::open(&e.url).await.unwrap();
    let publisher = e.publisher.clone();
    let mut tasks = tokio::task::JoinSet::new();

    // The change path: records, journal, serial and audit in one transaction.
    tasks.spawn(async move {
        for i in 0..ROUNDS {
            let owner = Name::from_ascii(format!("w{i}.example.go.id.")).unwrap();
            let change = ChangeSet {
                zone: harness::origin(),
                ops: vec![ChangeOp::Add(Record::from_rdata(
                    owner,
                    600,
                    RData::A(A::new(203, 0, 113, 90)),
                ))],
                meta: ChangeMeta {
                    reason: "writers test".into(),
                    agency_id: None,
                    request_id: None,
                    suspension_id: None,
                    actor: None,
                    ..ChangeMeta::default()
                },
            };
            publisher
                .apply(&change, Utc::now())
                .await
                .map_err(|e| format!("publish {i}: {e}"))?;
        }
        Ok::<_, String>("publish")
    });
    // The command line: agencies, users and tokens (each read-then-write, audited).
    let s = ranah::service::people::People::new(
        cli.clone(),
        std::sync::Arc::new(ranah::domain::calendar::Calendar::default_wita([])),
    );
    tasks.spawn(async move {
        for i in 0..ROUNDS {
            let who = Attribution::cli();
            s.add_agency(&format!("A{i}"), "Dinas", &who, Utc::now())
                .await
                .map_err(|e| format!("agency {i}: {e}"))?;
            s.add_user(&format!("u{i}"), None, None, &[], &who, Utc::now())
                .await
                .map_err(|e| format!("user {i}: {e}"))?;
            s.create_token(&format!("u{i}"), None, &who, Utc::now())
                .await
                .map_err(|e| format!("token {i}: {e}"))?;
        }
        Ok("cli")
    });
    // The certificate worker: orders and their outcomes.
    let s = worker.clone();
    tasks.spawn(async move {
        for i in 0..ROUNDS {
            let name = format!("c{i}.example.go.id");
            let new = NewCertificate {
                name: name.clone(),
                zone: "example.go.id.".into(),
                agency_id: None,
                request_id: None,
                mode: KeyMode::Managed,
                csr: None,
            };
            let audit = AuditEntry::by(
                &Attribution::system(),
                "certificate.order",
                format!("certificate/{name}"),
                serde_json::json!({}),
            );
            let plan = ranah::store::OrderPlan {
                replaces: None,
                keep_key: false,
            };
            s.order_certificate(&new, &plan, &audit, Utc::now())
                .await
                .map_err(|e| format!("order {i}: {e}"))?;
            let row = s
                .certificate(&name)
                .await
                .map_err(|e| format!("read {i}: {e}"))?
                .ok_or("no row")?;
            s.certificate_failed(
                row.id,
                (row.guard(), ranah::domain::certificate::CertStatus::Failed),
                "CA away",
                None,
                &audit,
                Utc::now(),
            )
            .await
            .map_err(|e| format!("failed {i}: {e}"))?;
        }
        Ok("certificates")
    });
    // Stand-alone audit appends (key downloads), from the daemon's pool.
    let s = e.store.clone();
    tasks.spawn(async move {
        for i in 0..ROUNDS {
            s.audit(
                &AuditEntry::cli("test.event", format!("t/{i}"), serde_json::json!({})),
                Utc::now(),
            )
            .await
            .map_err(|e| format!("audit {i}: {e}"))?;
        }
        Ok("audit")
    });
    // The secondaries' poller.
    let s = cli.clone();
    tasks.spawn(async move {
        for i in 0..ROUNDS {
            s.save_secondary_state(&SecondaryState {
                zone: "example.go.id.".into(),
                secondary: "127.0.0.1:5301".into(),
                served_serial: Some(i as u32),
                polled_at: Some(Utc::now().to_rfc3339()),
                poll_error: None,
                last_notify_at: None,
                last_notify_serial: None,
                last_notify_result: None,
                last_transfer_at: None,
                last_transfer_kind: None,
                last_transfer_serial: None,
            })
            .await
            .map_err(|e| format!("secondary {i}: {e}"))?;
        }
        Ok("secondaries")
    });

    let mut done = Vec::new();
    while let Some(r) = tasks.join_next().await {
        done.push(
            r.unwrap()
                .unwrap_or_else(|e| panic!("a writer failed: {e}")),
        );
    }
    assert_eq!(done.len(), 5);
    let v = e.store.verify_audit().await.unwrap();
    assert!(v.ok, "{v:?}");
    // publish + 3 per CLI round + order and failure + the appends, after the import's events.
    assert!(v.events >= (ROUNDS * 7) as u64, "{v:?}");
}
