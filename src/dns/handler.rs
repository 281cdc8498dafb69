//! The DNS server's request handler, in front of the zone views; ranah's own UDP and TCP
//! listeners (`udp`, `tcp`) call it.
//!
//! The handler applies the protocol rules that do not depend on zone data: one question, class
//! IN (or ANY, answered as IN), opcode QUERY, EDNS version 0 (BADVERS otherwise), our EDNS
//! buffer size of 1232 (the DNS flag day 2020 value), a UDP answer cut to the client's buffer
//! (see `fit_udp`), and REFUSED for names outside our zones. A request signed with TSIG is
//! checked first (NOTAUTH with the TSIG error when it fails) and its response is signed. Zone
//! transfers (AXFR, IXFR) go to secondaries only, as [`super::transfer`] decides, in as many
//! messages as the zone needs. Malformed packets get FORMERR from the listeners before they
//! reach us.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigError};
use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::transfer::{self, Denial, TransferAnswer, TransferKind, TransferPolicy};
use super::tsig::{self, Rejection, Session};
use super::{Answer, Zones};
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
        }
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

/// What to send: an answer from the zones, a transfer, or an error code with no records.
enum Reply {
    Answer(Answer),
    Transfer(TransferRequest),
    Error(ResponseCode),
}

struct TransferRequest {
    zone: LowerName,
    qtype: RecordType,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut session = None;
        if let Some(signature) = &request.signature {
            match tsig::verify_request(
                self.transfers.policy.keys(),
                request.as_slice(),
                signature,
                tsig::unix_now(),
            ) {
                Ok(s) => session = Some(s),
                Err(rejection) => {
                    return self.reject_tsig(request, rejection, response_handle).await;
                }
            }
        }

        let response_edns = response_edns(request);
        let reply = match &request.edns {
            Some(req_edns) => {
                if req_edns.version() > 0 {
                    Reply::Error(ResponseCode::BADVERS)
                } else {
                    self.reply(request)
                }
            }
            None => self.reply(request),
        };

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.message_type = MessageType::Response;
        let answer = match reply {
            Reply::Answer(answer) => answer,
            Reply::Transfer(xfr) => {
                return self
                    .transfer(
                        request,
                        xfr,
                        metadata,
                        response_edns.as_ref(),
                        session,
                        response_handle,
                    )
                    .await;
            }
            Reply::Error(code) => Answer {
                rcode: code,
                ..Answer::refused()
            },
        };
        metadata.response_code = answer.rcode;
        metadata.authoritative = answer.authoritative;

        let answers: Vec<&Record> = answer.section(&answer.answers).collect();
        let authorities: Vec<&Record> = answer.section(&answer.authorities).collect();
        let additionals: Vec<&Record> = answer.section(&answer.additionals).collect();
        let sections = if request.protocol() == Protocol::Udp {
            let mut limit = match &request.edns {
                Some(e) => e.max_payload().clamp(512, EDNS_UDP_SIZE),
                None => 512,
            };
            if session.is_some() {
                limit -= TSIG_ROOM;
            }
            let all = Sections {
                answers: &answers,
                authorities: &authorities,
                additionals: &additionals,
            };
            let (sections, truncated) = fit_udp(
                request,
                &metadata,
                response_edns.as_ref(),
                all,
                &answer,
                limit,
            );
            metadata.truncation = truncated;
            sections
        } else {
            Sections {
                answers: &answers,
                authorities: &authorities,
                additionals: &additionals,
            }
        };
        let result = send(
            &mut response_handle,
            request,
            metadata,
            response_edns.as_ref(),
            sections,
            session.as_mut(),
        )
        .await;
        finish(request, result)
    }
}

/// Our OPT record, for a request that carried one: a responder answers OPT with OPT (RFC 6891
/// §7), whatever the answer, and copies the DO bit (RFC 3225 §3).
fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|asked| {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_UDP_SIZE);
        edns.set_version(0);
        edns.set_dnssec_ok(asked.flags().dnssec_ok);
        edns
    })
}

/// The records of one response message, by section.
#[derive(Clone, Copy)]
struct Sections<'s, 'a> {
    answers: &'s [&'a Record],
    authorities: &'s [&'a Record],
    additionals: &'s [&'a Record],
}

impl Sections<'_, '_> {
    const EMPTY: Sections<'static, 'static> = Sections {
        answers: &[],
        authorities: &[],
        additionals: &[],
    };
}

/// What of an answer goes into a UDP message of at most `limit` bytes, and whether it is
/// truncated (TC). Everything when it fits. Otherwise the additional section gives way first,
/// whole RRsets from its end, without TC (RFC 2181 §9), unless a referral's in-domain glue is
/// lost (RFC 9471); and when the answer and authority sections alone do not fit, TC with no
/// records, and the client asks again over TCP (RFC 1035 §4.2.1, RFC 6891 §7). Knot answers
/// the same way; NSD too, except that it never sets TC for glue.
fn fit_udp<'s, 'a>(
    request: &Request,
    metadata: &Metadata,
    edns: Option<&Edns>,
    all: Sections<'s, 'a>,
    answer: &Answer,
    limit: u16,
) -> (Sections<'s, 'a>, bool) {
    let fits = |s: Sections<'_, '_>| encode(request, metadata, edns, s, None, limit).is_some();
    if fits(all) {
        return (all, false);
    }
    // The additional records up to the end of each set, so that sets are kept whole.
    let mut ends = Vec::with_capacity(answer.additionals.len() + 1);
    ends.push(0);
    for set in &answer.additionals {
        ends.push(ends[ends.len() - 1] + answer.set_len(set));
    }
    let with = |sets: usize| Sections {
        additionals: &all.additionals[..ends[sets]],
        ..all
    };
    if !fits(with(0)) {
        return (Sections::EMPTY, true);
    }
    // The most sets that fit: `lo` fits, `hi` does not (every set adds bytes).
    let (mut lo, mut hi) = (0, answer.additionals.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(with(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (with(lo), lo < answer.required_glue)
}

/// The message's encoding, or `None` when it does not fit in `limit` bytes.
fn encode(
    request: &Request,
    metadata: &Metadata,
    edns: Option<&Edns>,
    sections: Sections<'_, '_>,
    signature: Option<Box<Record<TSIG>>>,
    limit: u16,
) -> Option<Vec<u8>> {
    let builder = MessageResponseBuilder::new(&request.queries, edns);
    let mut response = builder.build(
        *metadata,
        sections.answers.iter().copied(),
        sections.authorities.iter().copied(),
        std::iter::empty::<&Record>(),
        sections.additionals.iter().copied(),
    );
    if let Some(signature) = signature {
        response.set_signature(signature);
    }
    let mut buf = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(limit);
    match response.destructive_emit(&mut encoder) {
        Ok(info) if !info.truncation => Some(buf),
        _ => None,
    }
}

/// Send one message, signed when the request was.
async fn send<R: ResponseHandler>(
    handle: &mut R,
    request: &Request,
    metadata: Metadata,
    edns: Option<&Edns>,
    sections: Sections<'_, '_>,
    session: Option<&mut Session>,
) -> Result<ResponseInfo, NetError> {
    let builder = MessageResponseBuilder::new(&request.queries, edns);
    let mut response = builder.build(
        metadata,
        sections.answers.iter().copied(),
        sections.authorities.iter().copied(),
        std::iter::empty::<&Record>(),
        sections.additionals.iter().copied(),
    );
    if let Some(session) = session {
        let unsigned =
            encode(request, &metadata, edns, sections, None, u16::MAX).unwrap_or_default();
        response.set_signature(session.sign(&unsigned, tsig::unix_now()));
    }
    handle.send_response(response).await
}

/// An answer with this code and no records (signed when the request was).
async fn reply_code<R: ResponseHandler>(
    handle: &mut R,
    request: &Request,
    mut metadata: Metadata,
    edns: Option<&Edns>,
    session: Option<&mut Session>,
    code: ResponseCode,
) -> ResponseInfo {
    metadata.response_code = code;
    let result = send(handle, request, metadata, edns, Sections::EMPTY, session).await;
    finish(request, result)
}

fn finish(request: &Request, result: Result<ResponseInfo, NetError>) -> ResponseInfo {
    match result {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "cannot send DNS response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}

impl Handler {
    fn reply(&self, request: &Request) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::Error(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return Reply::Error(ResponseCode::FormErr);
        };
        // Our zones are class IN. A question of class ANY (RFC 1035 §3.2.5) is answered from
        // them as one of class IN, as NSD and Knot do; the records keep class IN and the
        // question is echoed as asked. Zone transfers are of class IN only.
        let class = query.query_class();
        if class != DNSClass::IN && class != DNSClass::ANY {
            return Reply::Error(ResponseCode::Refused);
        }
        match query.query_type() {
            RecordType::AXFR | RecordType::IXFR if class != DNSClass::IN => {
                Reply::Error(ResponseCode::Refused)
            }
            qtype @ (RecordType::AXFR | RecordType::IXFR) => Reply::Transfer(TransferRequest {
                zone: query.name().clone(),
                qtype,
            }),
            RecordType::OPT | RecordType::TSIG | RecordType::SIG => {
                Reply::Error(ResponseCode::FormErr)
            }
            qtype => {
                let dnssec = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
                Reply::Answer(self.zones.resolve(query.name(), qtype, dnssec))
            }
        }
    }

    /// NOTAUTH with the TSIG error of a request whose signature failed.
    async fn reject_tsig<R: ResponseHandler>(
        &self,
        request: &Request,
        rejection: Rejection,
        mut handle: R,
    ) -> ResponseInfo {
        if let Some(observer) = &self.transfers.observer {
            observer.tsig_failed(rejection.name(), request.src());
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.message_type = MessageType::Response;
        metadata.response_code = ResponseCode::NotAuth;
        let edns = response_edns(request);
        let unsigned = encode(
            request,
            &metadata,
            edns.as_ref(),
            Sections::EMPTY,
            None,
            u16::MAX,
        )
        .unwrap_or_default();
        let signature = rejection.answer_tsig(&unsigned, tsig::unix_now());
        let mut response =
            MessageResponseBuilder::new(&request.queries, edns.as_ref()).build_no_records(metadata);
        response.set_signature(signature);
        finish(request, handle.send_response(response).await)
    }

    /// Serve an AXFR or IXFR request.
    async fn transfer<R: ResponseHandler>(
        &self,
        request: &Request,
        xfr: TransferRequest,
        mut metadata: Metadata,
        edns: Option<&Edns>,
        mut session: Option<Session>,
        mut handle: R,
    ) -> ResponseInfo {
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
                return reply_code(
                    &mut handle,
                    request,
                    metadata,
                    edns,
                    session.as_mut(),
                    ResponseCode::Refused,
                )
                .await;
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
                        return self.reject_tsig(request, bad, handle).await;
                    }
                }
                return reply_code(
                    &mut handle,
                    request,
                    metadata,
                    edns,
                    session.as_mut(),
                    ResponseCode::Refused,
                )
                .await;
            }
        };
        let view = zone.view();
        let answer = if xfr.qtype == RecordType::IXFR {
            let client_serial = request.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            });
            let Some(client_serial) = client_serial else {
                refuse("ixfr_without_soa");
                return reply_code(
                    &mut handle,
                    request,
                    metadata,
                    edns,
                    session.as_mut(),
                    ResponseCode::FormErr,
                )
                .await;
            };
            if udp {
                // Over UDP only the current SOA is sent: the secondary asks again over TCP
                // when it is behind (RFC 1995 §2).
                let soa = view.soa_record().cloned();
                TransferAnswer {
                    kind: TransferKind::UpToDate,
                    serial: view.serial(),
                    messages: vec![soa.into_iter().collect()],
                }
            } else {
                self.ixfr_or_axfr(&view, client_serial).await
            }
        } else {
            transfer::axfr(&view)
        };
        metadata.response_code = ResponseCode::NoError;
        metadata.authoritative = true;
        let started = std::time::Instant::now();
        let mut result = Err(NetError::from("empty transfer"));
        for (i, message) in answer.messages.iter().enumerate() {
            let records: Vec<&Record> = message.iter().collect();
            let sections = Sections {
                answers: &records,
                authorities: &[],
                additionals: &[],
            };
            let edns = if i == 0 { edns } else { None };
            result = send(
                &mut handle,
                request,
                metadata,
                edns,
                sections,
                session.as_mut(),
            )
            .await;
            if let Err(error) = &result {
                tracing::warn!(
                    %src, zone = %xfr.zone, message = i, of = answer.messages.len(), %error,
                    "zone transfer aborted"
                );
                break;
            }
        }
        if result.is_ok() {
            tracing::info!(
                %src, zone = %xfr.zone, secondary = %rule.id, kind = answer.kind.as_str(),
                serial = answer.serial, messages = answer.messages.len(),
                elapsed_ms = started.elapsed().as_millis() as u64, "zone transfer served"
            );
            if let Some(observer) = &self.transfers.observer {
                observer.served(&xfr.zone, &rule.id, answer.kind, answer.serial);
            }
        }
        finish(request, result)
    }

    /// The IXFR from `client_serial`, or the AXFR when the journal does not reach it.
    async fn ixfr_or_axfr(&self, view: &super::ZoneView, client_serial: u32) -> TransferAnswer {
        let depth = self.transfers.policy.journal_depth();
        let journal = match &self.transfers.store {
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
        };
        transfer::ixfr(view, client_serial, &journal, depth).unwrap_or_else(|| transfer::axfr(view))
    }
}
