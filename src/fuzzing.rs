//! Entry points for the fuzz targets (`tests/fuzz`) and the test that replays their corpora
//! (`tests/it/fuzz.rs`), for what the library does not already offer: the DNS-over-TCP
//! connection loop over bytes in memory ([`dns_tcp_connection`]), and each JSON body the API
//! accepts, read and checked as its handler and service would before they reach the store
//! ([`json_body`]). Not an interface: hidden from the documentation, and free to change with the
//! listener and the handlers.
//!
//! What a handler does after the checks (load the request, the name's owners, write) needs a
//! store and is left out; everything before it runs here with the same functions: the one
//! body extractor ([`crate::api::body::parse`]), the handler's own mapping to a command, the
//! name and record policy, the domain's decision, the CSR check, and the conversion of checked
//! records into the records provisioning publishes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hickory_proto::rr::{Name, RData, Record};
use parking_lot::Mutex;

use crate::api::certificates::OrderBody;
use crate::api::problem::Problem;
use crate::api::requests::{self, ActionBody};
use crate::api::zones::SuspendBody;
use crate::dns::handler::Handler;
use crate::dns::tcp::{TcpLimits, answer_stream};
use crate::domain::access::{Actor, Role};
use crate::domain::calendar::Calendar;
use crate::domain::policy::{FieldError, Policy, RecordValue};
use crate::domain::request::{self, Kind};
use crate::domain::workflow::Workflow;
use crate::service::ServiceError;
use crate::service::requests::{Changes, Contact, NewRequest, RecordInput};

/// What ranah's DNS-over-TCP listener did with the bytes a client sent on one connection.
#[derive(Debug)]
pub struct TcpConnection {
    /// Everything written back: each response message after its two-byte length.
    pub output: Vec<u8>,
    /// Why ranah closed the connection (`malformed`, ...), or `None` when the client's bytes
    /// simply ended.
    pub closed: Option<&'static str>,
}

/// Serve `input` (a client's bytes on one connection, to their end) from `peer` with the
/// connection loop of the TCP listener ([`crate::dns::tcp`]) and `handler`, on a runtime of
/// this thread's own.
pub fn dns_tcp_connection(
    handler: &Handler,
    peer: SocketAddr,
    input: &[u8],
) -> std::io::Result<TcpConnection> {
    thread_local! {
        static RUNTIME: std::io::Result<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().enable_time().build();
    }
    // The timeouts never fire: the input is all there, and the output is taken at once.
    let limits = TcpLimits {
        idle: Duration::from_secs(60),
        message: Duration::from_secs(60),
        write: Duration::from_secs(60),
        max_connections: 1,
        max_connections_per_source: 1,
    };
    let sink = Sink::default();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let closed = RUNTIME.with(|runtime| match runtime {
        Ok(runtime) => Ok(runtime.block_on(answer_stream(
            input,
            sink.clone(),
            peer,
            handler,
            &limits,
            stop_rx,
        ))),
        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
    })?;
    let output = std::mem::take(&mut *sink.0.lock());
    Ok(TcpConnection {
        output,
        closed: closed.map(|c| c.reason()),
    })
}

/// A writer that keeps what is written (shared: the listener's responder owns one handle).
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.lock().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The routes that take a JSON body, by the name a fuzz input starts with.
pub const ROUTES: &[&str] = &[
    "submit", "resubmit", "approve", "return", "reject", "withdraw", "order", "suspend",
];

/// What a body that passed every check would lead to.
#[derive(Debug, Default)]
pub struct Accepted {
    /// The records provisioning would publish (submissions with records).
    pub records: Vec<Record>,
}

/// Read `body` as route `route` does and check it as far as no store is needed. `None` for a
/// route not in [`ROUTES`]. An `Err` is the problem the client would get.
pub fn json_body(route: &str, body: &[u8]) -> Option<Result<Accepted, Problem>> {
    let policy = Policy::default();
    Some(match route {
        "submit" => crate::api::body::parse::<NewRequest>(body).and_then(|b| submit(&policy, b)),
        "resubmit" => crate::api::body::parse::<Changes>(body).and_then(|b| resubmit(&policy, b)),
        "approve" | "return" | "reject" | "withdraw" => {
            crate::api::body::parse::<ActionBody>(body).and_then(|b| act(route, b))
        }
        "order" => crate::api::body::parse::<OrderBody>(body).and_then(order),
        "suspend" => crate::api::body::parse::<SuspendBody>(body).and_then(|b| {
            match b.reason.as_deref().map(str::trim) {
                Some(r) if !r.is_empty() => Ok(Accepted::default()),
                _ => Err(invalid("reason", "required", "a suspension needs a reason")),
            }
        }),
        _ => return None,
    })
}

fn invalid(field: &str, code: &'static str, message: &str) -> Problem {
    Problem::from(ServiceError::Validation(vec![FieldError {
        field: field.into(),
        code,
        message: message.into(),
    }]))
}

fn validation(errors: Vec<FieldError>) -> Problem {
    Problem::from(ServiceError::Validation(errors))
}

fn submit(policy: &Policy, input: NewRequest) -> Result<Accepted, Problem> {
    // The zone as the service reads it; any zone that is a name could be served.
    let zone = crate::domain::policy::normal_name(&input.zone)
        .map_err(|why| invalid("zone", "invalid_name", why))?;
    Name::from_ascii(format!("{zone}."))
        .map_err(|e| Problem::from(ServiceError::internal("a checked zone", e)))?;
    let label = policy
        .check_label(&input.name, &zone)
        .map_err(|e| validation(vec![e]))?;
    stored_round_trip(&input.records, &input.contact)?;
    if input.kind == "delete" {
        return Ok(Accepted::default());
    }
    // The owner provisioning builds from what was stored.
    let owner = Name::from_ascii(format!("{label}.{zone}."))
        .map_err(|e| Problem::from(ServiceError::internal("owner of a checked name", e)))?;
    provision(policy, &owner, &zone, &input.records)
}

fn resubmit(policy: &Policy, changes: Changes) -> Result<Accepted, Problem> {
    let contact = changes.contact.unwrap_or_else(|| Contact {
        name: "Contoh".into(),
        email: "contoh@example.go.id".into(),
        phone: None,
    });
    let records = changes.records.unwrap_or_default();
    stored_round_trip(&records, &contact)?;
    if records.is_empty() {
        return Ok(Accepted::default());
    }
    let owner = Name::from_ascii("sipd.example.go.id.")
        .map_err(|e| Problem::from(ServiceError::internal("owner", e)))?;
    provision(policy, &owner, "example.go.id", &records)
}

/// The records and the contact are stored as JSON and read back to show and provision the
/// request: what was accepted must read back as it was.
fn stored_round_trip(records: &[RecordInput], contact: &Contact) -> Result<(), Problem> {
    let stored = serde_json::to_value(records).unwrap_or_default();
    let back: Vec<RecordInput> = serde_json::from_value(stored)
        .map_err(|e| Problem::from(ServiceError::internal("stored records", e)))?;
    let stored = serde_json::to_value(contact).unwrap_or_default();
    let contact_back: Contact = serde_json::from_value(stored)
        .map_err(|e| Problem::from(ServiceError::internal("stored contact", e)))?;
    if back != records || contact_back != *contact {
        return Err(Problem::from(ServiceError::internal(
            "stored request data",
            std::io::Error::other("reads back differently"),
        )));
    }
    Ok(())
}

/// The policy's check, then the records provisioning makes of what it accepted.
fn provision(
    policy: &Policy,
    owner: &Name,
    zone: &str,
    inputs: &[RecordInput],
) -> Result<Accepted, Problem> {
    let values = policy
        .check_records(&crate::service::requests::requested_records(inputs), zone)
        .map_err(validation)?;
    let mut records = Vec::with_capacity(values.len());
    for (value, ttl) in values {
        let data = record_data(value).map_err(Problem::from)?;
        records.push(Record::from_rdata(owner.clone(), ttl, data));
    }
    Ok(Accepted { records })
}

/// The record data provisioning publishes for a value the policy accepted.
pub fn record_data(value: RecordValue) -> Result<RData, ServiceError> {
    crate::service::requests::rdata(value)
}

fn act(action: &str, body: ActionBody) -> Result<Accepted, Problem> {
    let command = requests::command(action, body)?;
    // A request at its first step, and someone who holds that step's role.
    let workflow = Workflow::preset("kaltara")
        .map_err(|e| Problem::from(ServiceError::internal("workflow preset", e)))?;
    let calendar = Calendar::default_wita([]);
    let now: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 3, 2, 2, 0, 0)
        .single()
        .unwrap_or_default();
    let applicant = actor(1, Some(7), Role::Applicant);
    let req = request::submit(Kind::Create, 7, &applicant, true, now);
    let caller = match command {
        request::Command::Withdraw => applicant,
        _ => actor(2, None, Role::Step(workflow.steps[0].role.clone())),
    };
    request::decide(&req, &command, &caller, &workflow, &calendar, now)
        .map_err(|e| Problem::from(ServiceError::from(e)))?;
    Ok(Accepted::default())
}

fn actor(user_id: i64, agency_id: Option<i64>, role: Role) -> Actor {
    Actor {
        user_id,
        name: format!("user{user_id}"),
        agency_id,
        roles: vec![role],
        client: None,
    }
}

fn order(body: OrderBody) -> Result<Accepted, Problem> {
    if let Some(csr) = body.csr.as_deref() {
        crate::acme::x509::check_csr(csr, &body.name)
            .map_err(|e| invalid("csr", "invalid_csr", &e.to_string()))?;
    }
    Ok(Accepted::default())
}
