//! RFC 2136 UPDATE at the protocol's edge: TSIG required, the message read, limits, the
//! answer written and signed. What a key may change and the change itself are the
//! [`UpdatePort`]'s (the `service` layer implements it; the daemon wires it in), so that the
//! DNS server never reaches past its own layer.
//!
//! The order of the answers follows RFC 2136 §3 and RFC 8945 §5: an unsigned update is
//! REFUSED; an unknown key or a bad MAC is NOTAUTH with BADKEY or BADSIG, unsigned; a late
//! clock NOTAUTH with BADTIME, signed; then, signed with the request's key, FORMERR for a
//! malformed message, NOTAUTH for a zone we do not serve, NOTZONE for a record outside it,
//! REFUSED for too many records or what the key may not change, YXDOMAIN, NXDOMAIN, YXRRSET
//! or NXRRSET for a prerequisite that does not hold, SERVFAIL when the change could not be
//! stored, and NOERROR once DNS answers the change.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{LowerName, Name};
use hickory_server::server::Request;

use super::handler::{Asked, Handler, code_message};
use super::tsig::{self, KeyRing, Rejection, TsigKey};
use crate::telemetry::metrics::{Metrics, UpdateLabels};
use crate::zone::update::{self, Update};

/// How long a request over TCP waits for a place of the update limit before SERVFAIL.
pub const WAIT_FOR_PLACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How many accepted updates' MACs are kept to refuse their replay (within the TSIG fudge);
/// beyond, the oldest are forgotten first.
const REPLAY_MEMORY: usize = 100_000;

/// A key that signs updates, as the port found it.
pub struct UpdateKey {
    /// The TSIG key (name, algorithm, secret).
    pub tsig: TsigKey,
    /// The port's id of it, handed back with the update.
    pub id: i64,
    /// The agency it belongs to (id, code), handed back with the update.
    pub agency: Option<(i64, String)>,
}

/// Decides and makes dynamic updates; implemented by the service layer.
#[async_trait::async_trait]
pub trait UpdatePort: Send + Sync {
    /// The live key of this name (absolute, lower case), if any; `Err` when it cannot be
    /// read now (answered SERVFAIL).
    async fn key(&self, name: &Name) -> Result<Option<UpdateKey>, ()>;
    /// Check `update` against the key's grant and apply it through the one change path;
    /// returns the answer's code. The zone is one this server serves.
    async fn apply(&self, key: &UpdateKey, update: Update, src: SocketAddr) -> ResponseCode;
}

/// Dynamic updates as the DNS server takes them: the port, and limits of our own.
pub struct Updates {
    port: Arc<dyn UpdatePort>,
    /// Updates in progress; one beyond is SERVFAIL at once.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Most records in the prerequisite and update sections together.
    max_records: usize,
    /// The runtime UDP workers (plain threads) hand updates to.
    runtime: tokio::runtime::Handle,
    metrics: Option<Arc<Metrics>>,
    /// MACs of the updates accepted within the TSIG fudge, with their time: a captured
    /// update sent again is refused.
    seen: parking_lot::Mutex<Seen>,
}

/// The MACs of accepted updates, oldest first, and as a set.
#[derive(Default)]
struct Seen {
    order: std::collections::VecDeque<(u64, Vec<u8>)>,
    macs: std::collections::HashSet<Vec<u8>>,
}

impl Updates {
    /// Updates through `port`, at most `max_in_flight` at once, each of at most
    /// `max_records` records; UDP's are run on `runtime`.
    pub fn new(
        port: Arc<dyn UpdatePort>,
        max_in_flight: usize,
        max_records: usize,
        runtime: tokio::runtime::Handle,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            port,
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
            max_records,
            runtime,
            metrics,
            seen: parking_lot::Mutex::default(),
        }
    }

    /// Whether this MAC was seen within the fudge (a replay); else remember it.
    fn replayed(&self, mac: &[u8], now: u64) -> bool {
        let mut seen = self.seen.lock();
        let horizon = now.saturating_sub(2 * u64::from(tsig::FUDGE));
        while seen.order.front().is_some_and(|(t, _)| *t < horizon)
            || seen.order.len() >= REPLAY_MEMORY
        {
            if let Some((_, old)) = seen.order.pop_front() {
                seen.macs.remove(&old);
            }
        }
        if !seen.macs.insert(mac.to_vec()) {
            return true;
        }
        seen.order.push_back((now, mac.to_vec()));
        false
    }

    /// The runtime UDP workers run updates on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// A place for one update, if one is free.
    pub fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.clone().try_acquire_owned().ok()
    }

    /// A place for one update, waiting at most `wait` for one.
    pub async fn admit_within(
        &self,
        wait: std::time::Duration,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(wait, self.in_flight.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The update key of this name as a ring of one, to check a signed query with; `None`
    /// when there is none or it cannot be read.
    pub async fn key(&self, name: &Name) -> Option<KeyRing> {
        match self.port.key(&name.to_lowercase()).await {
            Ok(Some(key)) => Some(KeyRing::new(vec![key.tsig])),
            _ => None,
        }
    }

    fn count(&self, code: ResponseCode) {
        if let Some(metrics) = &self.metrics {
            let rcode = rcode_word(code).to_owned();
            metrics
                .dns_updates
                .get_or_create(&UpdateLabels { rcode })
                .inc();
        }
    }
}

/// The RCODE's mnemonic in lower case, for the metric's label (a fixed set).
fn rcode_word(code: ResponseCode) -> &'static str {
    match code {
        ResponseCode::NoError => "noerror",
        ResponseCode::FormErr => "formerr",
        ResponseCode::ServFail => "servfail",
        ResponseCode::NXDomain => "nxdomain",
        ResponseCode::NotImp => "notimp",
        ResponseCode::Refused => "refused",
        ResponseCode::YXDomain => "yxdomain",
        ResponseCode::YXRRSet => "yxrrset",
        ResponseCode::NXRRSet => "nxrrset",
        ResponseCode::NotAuth => "notauth",
        ResponseCode::NotZone => "notzone",
        ResponseCode::BADVERS => "badvers",
        _ => "other",
    }
}

/// Whether a request is an UPDATE.
pub fn is_update(request: &Request) -> bool {
    request.metadata.op_code == OpCode::Update
}

impl Handler {
    /// Answer one UPDATE (a signed one holds a place from [`Updates::admit`]).
    pub async fn update(&self, request: &Request) -> Vec<u8> {
        let Some(updates) = self.updates() else {
            return self.unsigned(request, ResponseCode::NotImp);
        };
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            updates.count(ResponseCode::BADVERS);
            return self.unsigned(request, ResponseCode::BADVERS);
        }
        let (code, message) = self.update_inner(updates, request).await;
        updates.count(code);
        message
    }

    /// The answer to an UPDATE when no place is free.
    pub fn update_busy(&self, request: &Request) -> Vec<u8> {
        if let Some(updates) = self.updates()
            && is_update(request)
        {
            updates.count(ResponseCode::ServFail);
        }
        self.unsigned(request, ResponseCode::ServFail)
    }

    /// Count an UPDATE over UDP dropped for want of a place (`rcode="dropped"`).
    pub fn update_dropped(&self, request: &Request) {
        if let Some(metrics) = self.updates().and_then(|u| u.metrics.as_ref())
            && is_update(request)
        {
            metrics
                .dns_updates
                .get_or_create(&UpdateLabels {
                    rcode: "dropped".into(),
                })
                .inc();
        }
    }

    fn unsigned(&self, request: &Request, code: ResponseCode) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        code_message(&Asked::of(request), code, None, &mut out);
        out
    }

    async fn update_inner(&self, updates: &Updates, request: &Request) -> (ResponseCode, Vec<u8>) {
        // RFC 2136 §3.3: permission; ranah knows only keys, so an unsigned update has none
        // (after §3.1.1: a zone section that is not one SOA question is FORMERR).
        let Some(signature) = &request.signature else {
            let one_soa = matches!(request.queries.queries(), [q] if q.query_type() == hickory_proto::rr::RecordType::SOA);
            let code = if one_soa {
                ResponseCode::Refused
            } else {
                ResponseCode::FormErr
            };
            return (code, self.unsigned(request, code));
        };
        let key = match updates.port.key(&signature.name.to_lowercase()).await {
            Ok(Some(key)) => key,
            Ok(None) => {
                let bad = Rejection::unsigned(signature, TsigError::BadKey);
                return (ResponseCode::NotAuth, self.reject_tsig(request, bad));
            }
            Err(()) => {
                return (
                    ResponseCode::ServFail,
                    self.unsigned(request, ResponseCode::ServFail),
                );
            }
        };
        let ring = KeyRing::new(vec![key.tsig.clone()]);
        let mut session =
            match tsig::verify_request(&ring, request.as_slice(), signature, tsig::unix_now()) {
                Ok(session) => session,
                Err(rejection) => {
                    return (ResponseCode::NotAuth, self.reject_tsig(request, rejection));
                }
            };
        let code = if updates.replayed(&signature.data.mac, tsig::unix_now()) {
            // The same signed message again (its MAC covers the ID and the time): refused,
            // signed, whatever it asks.
            ResponseCode::Refused
        } else {
            self.decide(updates, &key, request).await
        };
        let mut out = Vec::with_capacity(128);
        code_message(&Asked::of(request), code, Some(&mut session), &mut out);
        (code, out)
    }

    async fn decide(&self, updates: &Updates, key: &UpdateKey, request: &Request) -> ResponseCode {
        if request.answers.len() + request.authorities.len() > updates.max_records {
            return ResponseCode::Refused;
        }
        let zone: Vec<_> = request
            .queries
            .queries()
            .iter()
            .map(|q| (q.name().clone().into(), q.query_type(), q.query_class()))
            .collect();
        let update = match update::read(&zone, &request.answers, &request.authorities) {
            Ok(update) => update,
            Err(code) => return code,
        };
        // §3.1.2: a zone this server is not authoritative for.
        let Some(served) = self.zones().get(&LowerName::new(&update.zone)) else {
            return ResponseCode::NotAuth;
        };
        if !served.view().is_stored() {
            // Answered from its file while the store takes it: the client tries again.
            return ResponseCode::ServFail;
        }
        updates.port.apply(key, update, request.src()).await
    }
}
