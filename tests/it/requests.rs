//! The request workflow through the service, with a real store, the real publisher and a real
//! DNS server: provisioning is visible in DNS when the approval returns.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use ranah::domain::access::{Actor, Grant, Role};
use ranah::domain::audit::Attribution;
use ranah::domain::calendar::Calendar;
use ranah::domain::policy::Policy;
use ranah::domain::request::{Command, DomainError, Status};
use ranah::domain::workflow::Workflow;
use ranah::publish::Publisher;
use ranah::service::requests::{Contact, NewRequest, RecordInput, Requests, ServiceError};
use ranah::store::Store;

use crate::harness::{self, UDP};

struct Env {
    _base: harness::InProcess,
    url: String,
    store: Store,
    service: Arc<Requests>,
    publisher: Arc<Publisher>,
    dns: SocketAddr,
    applicant: Actor,
    other_applicant: Actor,
    head: Actor,
    division: Actor,
    technical: Actor,
}

async fn user(store: &Store, name: &str, roles: &[&str], agency: Option<i64>) -> Actor {
    let grants: Vec<Grant> = roles
        .iter()
        .map(|r| Grant::permanent(Role::parse(r).unwrap()))
        .collect();
    let people = people(store);
    people
        .add_user(name, None, agency, &grants, &Attribution::cli(), Utc::now())
        .await
        .unwrap();
    let (_, token) = people
        .create_token(name, None, &Attribution::cli(), Utc::now())
        .await
        .unwrap();
    store
        .authenticate(&token, Utc::now())
        .await
        .unwrap()
        .unwrap()
        .on(Utc::now().date_naive())
}

fn people(store: &Store) -> ranah::service::people::People {
    ranah::service::people::People::new(store.clone(), Arc::new(Calendar::default_wita([])))
}

async fn env() -> Env {
    env_with("kaltara").await
}

async fn env_with(workflow: &str) -> Env {
    let base = harness::in_process().await;
    let (store, publisher, dns, url) = (
        base.store.clone(),
        base.publisher.clone(),
        base.dns,
        base.url.clone(),
    );
    let dinkes = people(&store)
        .add_agency("DINKES", "Dinas Kesehatan", &Attribution::cli(), Utc::now())
        .await
        .unwrap();
    let dishub = people(&store)
        .add_agency(
            "DISHUB",
            "Dinas Perhubungan",
            &Attribution::cli(),
            Utc::now(),
        )
        .await
        .unwrap();
    let service = Arc::new(Requests::new(
        store.clone(),
        ranah::store::Files::new(&std::env::temp_dir().join("ranah-test-files")),
        publisher.clone(),
        Arc::new(Workflow::preset(workflow).unwrap()),
        Arc::new(Calendar::default_wita([])),
        Policy::default(),
    ));
    Env {
        applicant: user(&store, "andi", &["applicant"], Some(dinkes)).await,
        other_applicant: user(&store, "dewi", &["applicant"], Some(dishub)).await,
        head: user(&store, "kadis", &["head_of_office"], None).await,
        division: user(&store, "kabid", &["head_of_division"], None).await,
        technical: user(&store, "teknis", &["technical"], None).await,
        _base: base,
        url,
        store,
        service,
        publisher,
        dns,
    }
}

fn new_request(name: &str, ip: &str) -> NewRequest {
    NewRequest {
        kind: "create".into(),
        zone: "example.go.id".into(),
        name: name.into(),
        records: vec![RecordInput {
            rtype: "A".into(),
            value: ip.into(),
            ttl: 3600,
        }],
        contact: Contact {
            name: "Andi".into(),
            email: "andi@dinkes.example".into(),
            phone: None,
        },
        purpose: "Sistem informasi pelayanan kesehatan".into(),
        recommendation_ref: Some("REK/045/2026".into()),
        certificate: false,
        agency: None,
        letter: None,
    }
}

fn approve() -> Command {
    Command::Approve { note: None }
}

async fn ask(dns: SocketAddr, name: &str) -> hickory_proto::op::Message {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || harness::query(dns, &name, RecordType::A, UDP))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_goes_through_every_step_and_is_provisioned() {
    let e = env().await;
    let s = &e.service;
    let id = s
        .submit(
            &e.applicant,
            new_request("SIPD", "203.0.113.80"),
            Utc::now(),
        )
        .await
        .unwrap();

    // The name is held while the request is open.
    match s
        .submit(
            &e.other_applicant,
            new_request("sipd", "203.0.113.81"),
            Utc::now(),
        )
        .await
    {
        Err(ServiceError::NameTaken { held_by, .. }) => assert_eq!(held_by, Some(id)),
        other => panic!("{other:?}"),
    }
    // Another agency cannot see it.
    assert!(matches!(
        s.get(&e.other_applicant, id).await,
        Err(ServiceError::NotFound(_))
    ));

    // The letter first; then only the step's role acts.
    assert!(matches!(
        s.act(&e.head, id, approve(), Utc::now()).await,
        Err(ServiceError::Domain(DomainError::LetterRequired))
    ));
    e.store.mark_letter_attached(id).await.unwrap();
    assert!(matches!(
        s.act(&e.applicant, id, approve(), Utc::now()).await,
        Err(ServiceError::Domain(DomainError::NotYourStep { .. }))
    ));
    s.act(&e.head, id, approve(), Utc::now()).await.unwrap();
    s.act(&e.division, id, approve(), Utc::now()).await.unwrap();

    let m = ask(e.dns, "sipd.example.go.id.").await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NXDomain,
        "not before the technical step"
    );
    let state = s
        .act(
            &e.technical,
            id,
            Command::Approve {
                note: Some("OK".into()),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(state.step, Some(3));
    // Answered the moment the approval returned.
    let m = ask(e.dns, "sipd.example.go.id.").await;
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].data.to_string(), "203.0.113.80");
    // With its provenance.
    let owners = e
        .store
        .owners_of("example.go.id.", "sipd.example.go.id.")
        .await
        .unwrap();
    assert_eq!(owners, vec![Some(e.applicant.agency_id.unwrap())]);

    let state = s.act(&e.head, id, approve(), Utc::now()).await.unwrap();
    assert_eq!(state.status, Status::Completed);
    let history = e.store.request_history(id).await.unwrap();
    let actions: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|h| (h.entry.action.as_str(), h.entry.step.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("submitted", None),
            ("approved", Some("disposition")),
            ("approved", Some("assignment")),
            ("approved", Some("technical_review")),
            ("approved", Some("response")),
            ("response_due", None),
        ]
    );
    assert_eq!(history[3].entry.note.as_deref(), Some("OK"));
    assert_eq!(history[3].actor_name.as_deref(), Some("teknis"));

    // The history is append-only in the store itself.
    let pool = harness::store_pool(&e.url).await;
    for sql in [
        "UPDATE request_events SET note = 'x'",
        "DELETE FROM request_events",
    ] {
        let err = sqlx::query(sql)
            .execute(&pool)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("append-only"), "{err}");
    }

    // Finished is final; the name now exists.
    assert!(matches!(
        s.act(&e.head, id, approve(), Utc::now()).await,
        Err(ServiceError::Domain(DomainError::InvalidState("completed")))
    ));
    assert!(matches!(
        s.submit(
            &e.applicant,
            new_request("sipd", "203.0.113.82"),
            Utc::now()
        )
        .await,
        Err(ServiceError::NameTaken { held_by: None, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_simultaneous_approvals_one_wins() {
    let e = env().await;
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("race", "203.0.113.90"),
            Utc::now(),
        )
        .await
        .unwrap();
    e.store.mark_letter_attached(id).await.unwrap();
    let head2 = user(&e.store, "plt_kadis", &["head_of_office"], None).await;
    let (a, b) = tokio::join!(
        e.service.act(&e.head, id, approve(), Utc::now()),
        e.service.act(&head2, id, approve(), Utc::now())
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    // Whether the loser decided on the same version as the winner (the store refuses its
    // stale decision) or loaded the request after the winner moved it on, it is told the
    // request moved on: 409 `invalid_state`, as the contract says.
    let loser = if a.is_ok() { b } else { a };
    assert!(
        matches!(
            loser,
            Err(ServiceError::Domain(DomainError::MovedOn { ref step })) if step == "assignment"
        ),
        "{loser:?}"
    );
    let history = e.store.request_history(id).await.unwrap();
    assert_eq!(history.len(), 2, "one approval recorded");
}

/// At the step that writes the records, the winner's records make the loser's look like a
/// taken name; the loser is still told the request moved on, not that the name is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_simultaneous_provisions_one_wins_and_the_other_is_told_it_moved_on() {
    let e = env().await;
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("race-prov", "203.0.113.92"),
            Utc::now(),
        )
        .await
        .unwrap();
    e.store.mark_letter_attached(id).await.unwrap();
    e.service
        .act(&e.head, id, approve(), Utc::now())
        .await
        .unwrap();
    e.service
        .act(&e.division, id, approve(), Utc::now())
        .await
        .unwrap();
    let technical2 = user(&e.store, "teknis2", &["technical"], None).await;
    for _ in 0..3 {
        // The first round is the race; later rounds meet a request that moved on already.
        let (a, b) = tokio::join!(
            e.service.act(&e.technical, id, approve(), Utc::now()),
            e.service.act(&technical2, id, approve(), Utc::now())
        );
        let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
        assert!(wins <= 1, "{a:?} {b:?}");
        for r in [a, b].into_iter().filter(Result::is_err) {
            assert!(
                matches!(r, Err(ServiceError::Domain(DomainError::MovedOn { .. }))),
                "{r:?}"
            );
        }
    }
    let provisioned = e
        .store
        .request_history(id)
        .await
        .unwrap()
        .iter()
        .filter(|h| h.entry.step.as_deref() == Some("technical_review"))
        .count();
    assert_eq!(provisioned, 1, "one provisioning recorded");
}

/// Two decisions made on one version of a request, committed at once: exactly one commits, the
/// other is a conflict and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_on_one_version_one_conflicts() {
    use ranah::store::{HistoryEntry, RequestChange};
    let e = env().await;
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("race2", "203.0.113.91"),
            Utc::now(),
        )
        .await
        .unwrap();
    let stored = e.store.load_request(id).await.unwrap().unwrap();
    let mut state = stored.state.clone();
    state.step = Some(1);
    state.version += 1;
    let entry = |by: i64| HistoryEntry {
        at: Utc::now(),
        actor_id: Some(by),
        action: "approved".into(),
        step: Some("disposition".into()),
        note: None,
        reason: None,
        role: None,
        client: None,
    };
    let (h1, h2) = ([entry(e.head.user_id)], [entry(e.division.user_id)]);
    let change = |history| RequestChange {
        id,
        expected_version: stored.state.version,
        state: &state,
        due_at: None,
        history,
        audit: &[],
        outbox: &[],
        attachments: &[],
        certificate: None,
    };
    let (c1, c2) = (change(&h1), change(&h2));
    let (a, b) = tokio::join!(
        e.store.commit_request(&c1, None, Utc::now()),
        e.store.commit_request(&c2, None, Utc::now())
    );
    let outcomes = [&a, &b];
    assert_eq!(
        outcomes.iter().filter(|r| r.is_ok()).count(),
        1,
        "{a:?} {b:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|r| matches!(r, Err(ranah::store::StoreError::Conflict(_)))),
        "{a:?} {b:?}"
    );
    assert_eq!(e.store.request_history(id).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_and_delete_need_ownership_and_replace_the_records() {
    let e = env().await;
    let s = &e.service;
    let e = &e;
    let run = |id| async move {
        e.store.mark_letter_attached(id).await.unwrap();
        for who in [&e.head, &e.division, &e.technical, &e.head] {
            e.service.act(who, id, approve(), Utc::now()).await.unwrap();
        }
    };
    let id = s
        .submit(&e.applicant, new_request("app", "203.0.113.5"), Utc::now())
        .await
        .unwrap();
    run(id).await;

    // Another agency may not change it; an imported name (no owner) may not be changed either.
    let mut change = new_request("app", "203.0.113.6");
    change.kind = "change".into();
    assert!(matches!(
        s.submit(&e.other_applicant, change.clone(), Utc::now())
            .await,
        Err(ServiceError::Forbidden(_))
    ));
    let mut www = change.clone();
    www.name = "mail".into();
    assert!(
        matches!(
            s.submit(&e.applicant, www, Utc::now()).await,
            Err(ServiceError::Validation(_))
        ),
        "reserved"
    );
    let mut imported = change.clone();
    imported.name = "portal".into();
    assert!(matches!(
        s.submit(&e.applicant, imported, Utc::now()).await,
        Err(ServiceError::Forbidden(_))
    ));

    // A change replaces the record set at once.
    let cid = s.submit(&e.applicant, change, Utc::now()).await.unwrap();
    run(cid).await;
    let m = ask(e.dns, "app.example.go.id.").await;
    let values: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(values, ["203.0.113.6"]);

    // A delete removes the name.
    let mut delete = new_request("app", "203.0.113.6");
    delete.kind = "delete".into();
    delete.records.clear();
    let did = s.submit(&e.applicant, delete, Utc::now()).await.unwrap();
    run(did).await;
    let m = ask(e.dns, "app.example.go.id.").await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_list_every_problem() {
    let e = env().await;
    let mut bad = new_request("-bad-", "10.0.0.1");
    bad.records.push(RecordInput {
        rtype: "SRV".into(),
        value: "x".into(),
        ttl: 5,
    });
    bad.contact.email = "nope".into();
    match e.service.submit(&e.applicant, bad, Utc::now()).await {
        Err(ServiceError::Validation(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "name",
                    "records[0].value",
                    "records[1].ttl",
                    "records[1].value",
                    "contact.email"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    // Officials other than applicants and the front office do not submit.
    assert!(matches!(
        e.service
            .submit(&e.head, new_request("x", "203.0.113.1"), Utc::now())
            .await,
        Err(ServiceError::Forbidden(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_taken_meanwhile_fails_the_approval_and_changes_nothing() {
    let e = env().await;
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("late", "203.0.113.70"),
            Utc::now(),
        )
        .await
        .unwrap();
    e.store.mark_letter_attached(id).await.unwrap();
    e.service
        .act(&e.head, id, approve(), Utc::now())
        .await
        .unwrap();
    e.service
        .act(&e.division, id, approve(), Utc::now())
        .await
        .unwrap();
    // Someone creates the name by another way before the technical approval.
    let record = hickory_proto::rr::Record::from_rdata(
        hickory_proto::rr::Name::from_ascii("late.example.go.id.").unwrap(),
        60,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(203, 0, 113, 71)),
    );
    let change = ranah::publish::ChangeSet {
        zone: harness::origin(),
        ops: vec![ranah::publish::ChangeOp::Add(record)],
        meta: Default::default(),
    };
    e.publisher.apply(&change, Utc::now()).await.unwrap();
    let before = e.store.load_request(id).await.unwrap().unwrap();
    let err = e
        .service
        .act(&e.technical, id, approve(), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::Publish(ranah::publish::PublishError::NameExists(_))
        ),
        "{err:?}"
    );
    let after = e.store.load_request(id).await.unwrap().unwrap();
    assert_eq!(before.state, after.state, "the request did not move");
    assert_eq!(e.store.request_history(id).await.unwrap().len(), 3);
    let m = ask(e.dns, "late.example.go.id.").await;
    assert_eq!(
        m.answers[0].data.to_string(),
        "203.0.113.71",
        "the other record stands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_left_returned_too_long_are_withdrawn() {
    let e = env().await;
    let cal = Calendar::default_wita([]);
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("stale", "203.0.113.60"),
            Utc::now(),
        )
        .await
        .unwrap();
    let returned_at = Utc::now();
    e.service
        .act(
            &e.head,
            id,
            Command::Return {
                note: "Lengkapi".into(),
                reason: "incomplete_documents".into(),
            },
            returned_at,
        )
        .await
        .unwrap();
    let almost = cal.add_working_days(returned_at, 13);
    assert!(
        e.service
            .withdraw_stale_returns(almost)
            .await
            .unwrap()
            .is_empty()
    );
    let due = cal.add_working_days(returned_at, 14);
    assert_eq!(
        e.service.withdraw_stale_returns(due).await.unwrap(),
        vec![id]
    );
    let stored = e.store.load_request(id).await.unwrap().unwrap();
    assert_eq!(stored.state.status, Status::Withdrawn);
    let history = e.store.request_history(id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.entry.action.as_str(), last.entry.actor_id),
        ("withdrawn", None)
    );
    assert!(
        last.entry
            .note
            .as_deref()
            .unwrap_or("")
            .contains("14 hari kerja")
    );
    // Once withdrawn, the name is free again.
    assert!(
        e.service
            .submit(
                &e.applicant,
                new_request("stale", "203.0.113.60"),
                Utc::now()
            )
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_is_final_and_frees_the_name() {
    let e = env().await;
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("nope", "203.0.113.61"),
            Utc::now(),
        )
        .await
        .unwrap();
    let r = e
        .service
        .act(
            &e.head,
            id,
            Command::Reject {
                note: "Nama tidak sesuai".into(),
                reason: "name_policy".into(),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, Status::Rejected);
    assert!(matches!(
        e.service
            .act(&e.applicant, id, Command::Resubmit, Utc::now())
            .await,
        Err(ServiceError::Domain(DomainError::InvalidState("rejected")))
    ));
    let h = e.store.request_history(id).await.unwrap();
    assert_eq!(h[1].entry.reason.as_deref(), Some("name_policy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_office_registers_for_an_agency() {
    let e = env().await;
    let front = user(&e.store, "loket", &["front_office"], None).await;
    let mut input = new_request("loket-app", "203.0.113.62");
    assert!(matches!(
        e.service.submit(&front, input.clone(), Utc::now()).await,
        Err(ServiceError::Validation(_))
    ));
    input.agency = Some("NOPE".into());
    assert!(matches!(
        e.service.submit(&front, input.clone(), Utc::now()).await,
        Err(ServiceError::Validation(_))
    ));
    input.agency = Some("DINKES".into());
    let id = e.service.submit(&front, input, Utc::now()).await.unwrap();
    let stored = e.service.get(&e.applicant, id).await.unwrap();
    assert_eq!(stored.state.agency_id, e.applicant.agency_id.unwrap());
    assert!(stored.state.registered_by_front_office);
    // The agency's applicant may withdraw what the front office registered for it.
    let r = e
        .service
        .act(&e.applicant, id, Command::Withdraw, Utc::now())
        .await
        .unwrap();
    assert_eq!(r.status, Status::Withdrawn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tarakan_chain_runs_to_the_end() {
    let e = env_with("tarakan").await;
    let subco = user(&e.store, "subko", &["sub_coordinator"], None).await;
    let staff = user(&e.store, "staf", &["staff"], None).await;
    let id = e
        .service
        .submit(
            &e.applicant,
            new_request("tarakan-app", "203.0.113.63"),
            Utc::now(),
        )
        .await
        .unwrap();
    e.store.mark_letter_attached(id).await.unwrap();
    let chain = [
        &e.head,
        &e.division,
        &subco,
        &staff,
        &subco,
        &e.division,
        &e.head,
    ];
    for (i, who) in chain.iter().enumerate() {
        let r = e.service.act(who, id, approve(), Utc::now()).await.unwrap();
        let provisioned = ask(e.dns, "tarakan-app.example.go.id.").await.answers.len() == 1;
        assert_eq!(provisioned, i >= 3, "after step {i}");
        assert_eq!(r.status == Status::Completed, i == 6);
    }
    let steps: Vec<String> = e
        .store
        .request_history(id)
        .await
        .unwrap()
        .iter()
        .filter_map(|h| h.entry.step.clone())
        .collect();
    assert_eq!(
        steps,
        [
            "disposition",
            "division_disposition",
            "assignment",
            "creation",
            "register",
            "division_report",
            "response"
        ]
    );
}
