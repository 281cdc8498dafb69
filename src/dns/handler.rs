//! The DNS server's request handler, in front of the zone views; ranah's own UDP and TCP
//! listeners (`udp`, `tcp`) call it.
//!
//! The handler applies the protocol rules that do not depend on zone data: one question, class
//! IN (or ANY, answered as IN), opcode QUERY, EDNS version 0 (BADVERS otherwise), our EDNS
//! buffer size of 1232 (the DNS flag day 2020 value), a UDP answer cut to the client's buffer
//! (see [`write_answer`]), and REFUSED for names outside our zones. Responses are written
//! straight from the view's stored records by [`super::message`]. A request signed with TSIG is
//! checked first (NOTAUTH with the TSIG error when it fails) and its response is signed. Zone
//! transfers (AXFR, IXFR) go to secondaries only, as [`super::transfer`] decides, in as many
//! messages as the zone needs. Opcode UPDATE goes to [`super::update`] when dynamic update is
//! on (else NOTIMP); it, and a request signed with an update key rather than a transfer key,
//! waits on the store, under the update limit. Malformed packets get FORMERR from the
//! listeners before they reach us.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::tsig::{TSIG, TsigError};
use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use super::message::{self, Section, Writer};
use super::transfer::{self, Denial, TransferAnswer, TransferKind, TransferPolicy};
use super::tsig::{self, Rejection, Session};
use super::{Answer, Zones, name_key};
use crate::store::Store;

/// The EDNS UDP payload size ranah advertises and the most it sends over UDP.
pub const EDNS_UDP_SIZE: u16 = 1232;

/// Room left in a UDP answer for the TSIG record of a signed response.
const TSIG_ROOM: u16 = 160;

/// What happened to a transfer request, for metrics, the log and the secondaries' state.
///
/// Refusals and TSIG failures are caused by whoever sends a packet: the observer counts them
/// under our own names only (`zone` is a zone we serve, or `None`; reasons and errors are fixed
/// words) and logs them no more than once per interval.
pub trait TransferObserver: Send + Sync {
    /// A transfer was sent to `secondary`.
    fn served(&self, zone: &LowerName, secondary: &str, kind: TransferKind, serial: u32);
    /// A transfer of `asked` was refused; `zone` is the served zone `asked` falls in, if any.
    fn refused(&self, refusal: &TransferRefusal<'_>);
    /// A signed request failed its TSIG check (`BADKEY`, `BADSIG`, `BADTIME`).
    fn tsig_failed(&self, error: &'static str, src: SocketAddr);
}

/// A refused transfer, as told to the [`TransferObserver`].
#[derive(Debug)]
pub struct TransferRefusal<'r> {
    /// The served zone the name asked for falls in; `None` outside every zone.
    pub zone: Option<LowerName>,
    /// The name asked for (for the log only: never a label).
    pub asked: &'r LowerName,
    /// AXFR or IXFR.
    pub qtype: RecordType,
    /// Why, a fixed word.
    pub reason: &'static str,
    /// Who asked.
    pub src: SocketAddr,
}

/// Zone transfers: who may transfer, the journal IXFR reads, and who is told.
#[derive(Default)]
pub struct Transfers {
    /// Secondaries and keys.
    pub policy: TransferPolicy,
    /// The change journal; without it every IXFR is answered with AXFR.
    pub store: Option<Store>,
    /// Told about every transfer served or refused.
    pub observer: Option<Arc<dyn TransferObserver>>,
}

/// Answers DNS requests from [`Zones`].
#[derive(Clone)]
pub struct Handler {
    zones: Arc<Zones>,
    transfers: Arc<Transfers>,
    /// Response rate limiting of UDP answers, when on.
    rrl: Option<Arc<super::rrl::Limiter>>,
    /// Dynamic updates, when taken (else UPDATE is NOTIMP).
    updates: Option<Arc<super::update::Updates>>,
}

impl Handler {
    /// A handler over these zones, with no secondaries and no keys.
    pub fn new(zones: Arc<Zones>) -> Self {
        Self::with_transfers(zones, Arc::default())
    }

    /// A handler over these zones that serves transfers as `transfers` says.
    pub fn with_transfers(zones: Arc<Zones>, transfers: Arc<Transfers>) -> Self {
        Self {
            zones,
            transfers,
            rrl: None,
            updates: None,
        }
    }

    /// This handler, taking dynamic updates through `updates`.
    pub fn with_updates(mut self, updates: Arc<super::update::Updates>) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Dynamic updates, when taken.
    pub fn updates(&self) -> Option<&super::update::Updates> {
        self.updates.as_deref()
    }

    /// This handler, with its UDP answers rate limited by `limiter`.
    pub fn with_rrl(mut self, limiter: Arc<super::rrl::Limiter>) -> Self {
        self.rrl = Some(limiter);
        self
    }

    /// A UDP worker's handle on the rate limiter, when it is on.
    pub fn rrl_worker(&self) -> Option<super::rrl::Worker> {
        self.rrl.as_ref().map(super::rrl::Limiter::worker)
    }

    /// The zones answered from.
    pub fn zones(&self) -> &Zones {
        &self.zones
    }
}

/// Where responses go: UDP keeps the one message; TCP writes each, length-prefixed.
pub trait Sink: Send {
    /// Send one message; `false` when it could not be (the connection is lost).
    fn send(&mut self, message: Vec<u8>) -> impl Future<Output = bool> + Send;
}

/// What to send: an answer from the zones, a transfer, or an error code with no records.
enum Reply {
    Query { qtype: RecordType, dnssec: bool },
    Transfer(TransferRequest),
    Error(ResponseCode),
}

struct TransferRequest {
    zone: LowerName,
    qtype: RecordType,
}

impl Handler {
    /// Answer one request: each response message goes to `sink`.
    pub async fn handle_request<S: Sink>(&self, request: &Request, sink: &mut S) {
        if let Some(updates) = self.updates.as_deref()
            && self.needs_store(request)
        {
            // Over TCP the client waits a little for a place; then SERVFAIL.
            let Some(place) = updates.admit_within(super::update::WAIT_FOR_PLACE).await else {
                sink.send(self.update_busy(request)).await;
                return;
            };
            if super::update::is_update(request) {
                // The place is given back before the answer is written: a client that does
                // not read holds no place.
                let message = self.update(request).await;
                drop(place);
                sink.send(message).await;
                return;
            }
            return self.handle_admitted(request, sink).await;
        }
        self.handle_admitted(request, sink).await
    }

    /// Whether answering waits on the store, under the update limit: a signed UPDATE, or a
    /// request signed with a key that is not a transfer key (an update key's, read from the
    /// store). An unsigned UPDATE is answered at once.
    pub fn needs_store(&self, request: &Request) -> bool {
        self.updates.is_some()
            && request.signature.as_ref().is_some_and(|s| {
                super::update::is_update(request)
                    || self.transfers.policy.keys().get(&s.name).is_none()
            })
    }

    /// [`Handler::handle_request`] once a request that [`Handler::needs_store`] holds a
    /// place of the update limit.
    pub async fn handle_admitted<S: Sink>(&self, request: &Request, sink: &mut S) {
        if super::update::is_update(request) && self.updates.is_some() {
            sink.send(self.update(request).await).await;
            return;
        }
        let mut session = None;
        if let Some(signature) = &request.signature {
            // A key of the transfers, else an update key (a certificate client signs its
            // queries for the zone's apex with the key it updates with).
            let update_key = match self.updates.as_deref() {
                Some(updates) if self.transfers.policy.keys().get(&signature.name).is_none() => {
                    updates.key(&signature.name).await
                }
                _ => None,
            };
            let ring = match &update_key {
                Some(ring) => ring,
                None => self.transfers.policy.keys(),
            };
            match tsig::verify_request(ring, request.as_slice(), signature, tsig::unix_now()) {
                Ok(s) => session = Some(s),
                Err(rejection) => {
                    sink.send(self.reject_tsig(request, rejection)).await;
                    return;
                }
            }
        }
        let reply = match &request.edns {
            Some(edns) if edns.version() > 0 => Reply::Error(ResponseCode::BADVERS),
            _ => self.reply(request),
        };
        let message = match reply {
            Reply::Transfer(xfr) => return self.transfer(request, xfr, session, sink).await,
            Reply::Error(code) => code_reply(request, code, session.as_mut()),
            Reply::Query { qtype, dnssec } => {
                let mut out = Vec::with_capacity(512);
                self.answer_query(request, qtype, dnssec, session.as_mut(), &mut out);
                out
            }
        };
        sink.send(message).await;
    }

    /// Look the question up and write the answer.
    fn answer_query(
        &self,
        request: &Request,
        qtype: RecordType,
        dnssec: bool,
        session: Option<&mut Session>,
        out: &mut Vec<u8>,
    ) {
        let Some(query) = request.queries.queries().first() else {
            return;
        };
        let key = name_key::key_of(query.name());
        match self.zones.find_key(&key) {
            Some(zone) => {
                let view = zone.view();
                let answer = view.lookup(&key, qtype, dnssec);
                write_answer(&Asked::of(request), &answer, session, out);
            }
            None => write_answer(&Asked::of(request), &Answer::refused(), session, out),
        }
    }
}

/// What a response needs of its query: parsed by hickory ([`Asked::of`]), or read straight
/// from the packet by the UDP fast path.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'q> {
    /// The query's ID.
    pub id: u16,
    /// Its opcode.
    pub opcode: u8,
    /// RD, copied.
    pub recursion_desired: bool,
    /// CD, copied.
    pub checking_disabled: bool,
    /// The question section's bytes, echoed as sent.
    pub question: &'q [u8],
    /// Number of questions in it.
    pub questions: u16,
    /// With EDNS: the client's buffer size and the DO bit.
    pub edns: Option<(u16, bool)>,
    /// Over UDP (answers cut to the buffer) or TCP.
    pub udp: bool,
}

impl<'q> Asked<'q> {
    /// What a parsed request asks.
    pub fn of(request: &'q Request) -> Self {
        Self {
            id: request.metadata.id,
            opcode: u8::from(request.metadata.op_code),
            recursion_desired: request.metadata.recursion_desired,
            checking_disabled: request.metadata.checking_disabled,
            question: request.queries.as_bytes(),
            questions: request.queries.len() as u16,
            edns: request
                .edns
                .as_ref()
                .map(|e| (e.max_payload(), e.flags().dnssec_ok)),
            udp: request.protocol() == Protocol::Udp,
        }
    }

    /// The header of our response (ID, opcode, RD and CD copied).
    fn header(&self, rcode: ResponseCode, authoritative: bool) -> message::Header {
        message::Header {
            id: self.id,
            opcode: self.opcode,
            authoritative,
            truncated: false,
            recursion_desired: self.recursion_desired,
            checking_disabled: self.checking_disabled,
            rcode: u16::from(rcode),
        }
    }

    /// Our OPT record, for a request that carried one: a responder answers OPT with OPT (RFC
    /// 6891 §7), whatever the answer, and copies the DO bit (RFC 3225 §3).
    fn opt(&self) -> Option<message::Opt> {
        self.edns.map(|(_, dnssec_ok)| message::Opt {
            size: EDNS_UDP_SIZE,
            dnssec_ok,
        })
    }

    /// The most bytes of a response: the client's EDNS buffer (at least 512, at most ours)
    /// over UDP, 512 without EDNS, a whole TCP message otherwise; less room for a TSIG when
    /// signed.
    fn limit(&self, signed: bool) -> usize {
        let limit = if self.udp {
            match self.edns {
                Some((size, _)) => size.clamp(512, EDNS_UDP_SIZE),
                None => 512,
            }
        } else {
            u16::MAX
        };
        usize::from(limit) - if signed { usize::from(TSIG_ROOM) } else { 0 }
    }

    /// Start a response: header, the question as asked, room for OPT.
    fn begin<'b>(&self, out: &'b mut Vec<u8>, header: message::Header, limit: usize) -> Writer<'b> {
        let mut w = Writer::new(out, header, self.opt(), limit);
        if !w.question(self.question, self.questions) {
            // A question longer than the limit cannot come in a query that fits in it.
            w.question(&[], 0);
        }
        w
    }
}

/// Write an answer as its sections allow. Over UDP, when it does not fit the limit: the
/// additional section gives way first, whole RRsets from its end, without TC (RFC 2181 §9),
/// unless a referral's in-domain glue is lost (RFC 9471); and when the answer and authority
/// sections alone do not fit, TC with no records, and the client asks again over TCP (RFC
/// 1035 §4.2.1, RFC 6891 §7). Knot answers the same way; NSD too, except that it never sets
/// TC for glue. Over TCP an answer too large for a message is SERVFAIL.
pub fn write_answer(
    asked: &Asked<'_>,
    answer: &Answer<'_>,
    session: Option<&mut Session>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let header = asked.header(answer.rcode, answer.authoritative);
    let mut w = asked.begin(out, header, asked.limit(session.is_some()));
    let question_end = w.len();
    let sigs = answer.dnssec;
    let fits = answer
        .answers
        .iter()
        .all(|s| w.set(Section::Answer, s, sigs))
        && answer
            .authorities
            .iter()
            .all(|s| w.set(Section::Authority, s, sigs));
    if fits {
        for (i, set) in answer.additionals.iter().enumerate() {
            if !w.set(Section::Additional, set, sigs) {
                w.header_mut().truncated = i < answer.required_glue;
                break;
            }
        }
    } else {
        w.clear_records(question_end);
        if asked.udp {
            w.header_mut().truncated = true;
        } else {
            tracing::debug!("a DNS answer does not fit in a TCP message");
            let h = w.header_mut();
            h.rcode = u16::from(ResponseCode::ServFail);
            h.authoritative = false;
        }
    }
    w.finish();
    if let Some(session) = session {
        sign(session, out, start);
    }
}

/// A response with this code and no records (signed when the request was).
pub fn code_message(
    asked: &Asked<'_>,
    code: ResponseCode,
    session: Option<&mut Session>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let limit = asked.limit(session.is_some());
    asked.begin(out, asked.header(code, false), limit).finish();
    if let Some(session) = session {
        sign(session, out, start);
    }
}

/// [`code_message`] for a parsed request, as a new message.
fn code_reply(request: &Request, code: ResponseCode, session: Option<&mut Session>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    code_message(&Asked::of(request), code, session, &mut out);
    out
}

/// Sign the message that starts at `start` in `out` and append its TSIG record.
fn sign(session: &mut Session, out: &mut Vec<u8>, start: usize) {
    let signature = session.sign(&out[start..], tsig::unix_now());
    append_tsig(out, start, &signature);
}

/// Append a TSIG record to the message at `start` and count it.
fn append_tsig(out: &mut Vec<u8>, start: usize, signature: &Record<TSIG>) {
    let mut record = Vec::with_capacity(128);
    if signature.emit(&mut BinEncoder::new(&mut record)).is_err() {
        return;
    }
    out.extend_from_slice(&record);
    let count = u16::from_be_bytes([out[start + 10], out[start + 11]]).saturating_add(1);
    out[start + 10..start + 12].copy_from_slice(&count.to_be_bytes());
}

/// How one question of an opcode QUERY message is served.
pub enum Served {
    /// Looked up in the zones.
    Lookup,
    /// A zone transfer.
    Transfer,
    /// An error code, no records.
    Error(ResponseCode),
}

/// How a question of this class and type is served. Our zones are class IN. A question of
/// class ANY (RFC 1035 §3.2.5) is answered from them as one of class IN, as NSD and Knot do;
/// the records keep class IN and the question is echoed as asked. Zone transfers are of class
/// IN only; OPT, TSIG and SIG are not questions.
pub fn served(class: DNSClass, qtype: RecordType) -> Served {
    if class != DNSClass::IN && class != DNSClass::ANY {
        return Served::Error(ResponseCode::Refused);
    }
    match qtype {
        RecordType::AXFR | RecordType::IXFR if class != DNSClass::IN => {
            Served::Error(ResponseCode::Refused)
        }
        RecordType::AXFR | RecordType::IXFR => Served::Transfer,
        RecordType::OPT | RecordType::TSIG | RecordType::SIG => {
            Served::Error(ResponseCode::FormErr)
        }
        _ => Served::Lookup,
    }
}

impl Handler {
    fn reply(&self, request: &Request) -> Reply {
        if request.metadata.op_code != hickory_proto::op::OpCode::Query {
            return Reply::Error(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return Reply::Error(ResponseCode::FormErr);
        };
        match served(query.query_class(), query.query_type()) {
            Served::Error(code) => Reply::Error(code),
            Served::Transfer => Reply::Transfer(TransferRequest {
                zone: query.name().clone(),
                qtype: query.query_type(),
            }),
            Served::Lookup => Reply::Query {
                qtype: query.query_type(),
                dnssec: request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            },
        }
    }

    /// NOTAUTH with the TSIG error of a request whose signature failed.
    pub(super) fn reject_tsig(&self, request: &Request, rejection: Rejection) -> Vec<u8> {
        if let Some(observer) = &self.transfers.observer {
            observer.tsig_failed(rejection.name(), request.src());
        }
        let mut out = Vec::with_capacity(128);
        let asked = Asked::of(request);
        let header = asked.header(ResponseCode::NotAuth, false);
        asked
            .begin(&mut out, header, usize::from(u16::MAX))
            .finish();
        let signature = rejection.answer_tsig(&out, tsig::unix_now());
        append_tsig(&mut out, 0, &signature);
        out
    }

    /// Serve an AXFR or IXFR request.
    async fn transfer<S: Sink>(
        &self,
        request: &Request,
        xfr: TransferRequest,
        mut session: Option<Session>,
        sink: &mut S,
    ) {
        let src = request.src();
        let refuse = |reason: &'static str| {
            if let Some(observer) = &self.transfers.observer {
                observer.refused(&TransferRefusal {
                    zone: self
                        .zones
                        .find(&xfr.zone)
                        .map(|zone| zone.view().origin().clone()),
                    asked: &xfr.zone,
                    qtype: xfr.qtype,
                    reason,
                    src,
                });
            }
        };
        let udp = request.protocol() == Protocol::Udp;
        let zone = match self.zones.get(&xfr.zone) {
            Some(zone) if !(udp && xfr.qtype == RecordType::AXFR) => zone,
            _ => {
                refuse(if udp {
                    "axfr_over_udp"
                } else if self.zones.find(&xfr.zone).is_some() {
                    "not_a_zone_apex"
                } else {
                    "not_our_zone"
                });
                let refused = code_reply(request, ResponseCode::Refused, session.as_mut());
                sink.send(refused).await;
                return;
            }
        };
        let rule = match self
            .transfers
            .policy
            .authorize(&xfr.zone, src.ip(), session.as_ref())
        {
            Ok(rule) => rule,
            Err(denial) => {
                refuse(denial.reason());
                if denial == Denial::WrongKey {
                    // A good signature with a key this secondary does not use: BADKEY.
                    if let Some(signature) = &request.signature {
                        let bad = Rejection::unsigned(signature, TsigError::BadKey);
                        sink.send(self.reject_tsig(request, bad)).await;
                        return;
                    }
                }
                let refused = code_reply(request, ResponseCode::Refused, session.as_mut());
                sink.send(refused).await;
                return;
            }
        };
        let view = zone.view();
        if !view.is_stored() {
            // Answered from its file while the store takes it: the secondary asks again.
            refuse("zone_not_stored");
            let busy = code_reply(request, ResponseCode::ServFail, session.as_mut());
            sink.send(busy).await;
            return;
        }
        let journal;
        let answer = if xfr.qtype == RecordType::IXFR {
            let client_serial = request.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            });
            let Some(client_serial) = client_serial else {
                refuse("ixfr_without_soa");
                let formerr = code_reply(request, ResponseCode::FormErr, session.as_mut());
                sink.send(formerr).await;
                return;
            };
            if udp {
                // Over UDP only the current SOA is sent: the secondary asks again over TCP
                // when it is behind (RFC 1995 §2).
                transfer::up_to_date(&view)
            } else {
                journal = self.journal(&view, client_serial).await;
                let depth = self.transfers.policy.journal_depth();
                transfer::ixfr(&view, client_serial, &journal, depth)
                    .unwrap_or_else(|| transfer::axfr(&view))
            }
        } else {
            transfer::axfr(&view)
        };
        let started = std::time::Instant::now();
        let messages = transfer_messages(request, &answer, session.as_mut());
        let mut sent = !messages.is_empty();
        let count = messages.len();
        for (i, message) in messages.into_iter().enumerate() {
            if !sink.send(message).await {
                tracing::warn!(
                    %src, zone = %xfr.zone, message = i, of = count,
                    "zone transfer aborted: the secondary did not take it"
                );
                sent = false;
                break;
            }
        }
        if sent {
            tracing::info!(
                %src, zone = %xfr.zone, secondary = %rule.id, kind = answer.kind.as_str(),
                serial = answer.serial, messages = count,
                elapsed_ms = started.elapsed().as_millis() as u64, "zone transfer served"
            );
            if let Some(observer) = &self.transfers.observer {
                observer.served(&xfr.zone, &rule.id, answer.kind, answer.serial);
            }
        }
    }

    /// The journal from `client_serial` on (empty when it cannot be read: AXFR is sent).
    async fn journal(
        &self,
        view: &super::ZoneView,
        client_serial: u32,
    ) -> Vec<crate::store::JournalEntry> {
        let depth = self.transfers.policy.journal_depth();
        match &self.transfers.store {
            Some(store) if !transfer::serial_at_or_ahead(client_serial, view.serial()) => {
                let origin = view.origin().clone().into();
                match store.journal(&origin, client_serial, depth + 1).await {
                    Ok(journal) => journal,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the change journal; sending AXFR");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        }
    }
}

/// A transfer's records cut into messages, each with the question, the first with EDNS, each
/// signed in turn when the request was.
fn transfer_messages(
    request: &Request,
    answer: &TransferAnswer<'_>,
    mut session: Option<&mut Session>,
) -> Vec<Vec<u8>> {
    let asked = Asked::of(request);
    let limit = if asked.udp {
        asked.limit(session.is_some())
    } else {
        transfer::MESSAGE_LIMIT
    };
    let mut messages = Vec::new();
    let mut records = answer.records.iter().peekable();
    loop {
        let mut out = Vec::with_capacity(if limit > 4096 { 16 * 1024 } else { 512 });
        let header = asked.header(ResponseCode::NoError, true);
        let mut w = if messages.is_empty() {
            asked.begin(&mut out, header, limit)
        } else {
            // EDNS goes in the first message only.
            let mut w = Writer::new(&mut out, header, None, limit);
            w.question(asked.question, asked.questions);
            w
        };
        let mut written = 0;
        while let Some(r) = records.peek() {
            if !w.one(Section::Answer, &r.owner, r.code, r.ttl, &r.rdata) {
                break;
            }
            written += 1;
            records.next();
        }
        if written == 0 && records.peek().is_some() {
            // One record larger than a message (cannot be stored; never loop on it).
            tracing::warn!("a record does not fit in a transfer message; transfer cut short");
            w.finish();
            break;
        }
        w.finish();
        if let Some(session) = session.as_deref_mut() {
            sign(session, &mut out, 0);
        }
        messages.push(out);
        if records.peek().is_none() {
            break;
        }
    }
    messages
}
