//! The DNS server: hickory-server's listeners with ranah's own request handler in front of the
//! zone views.
//!
//! The handler applies the protocol rules that do not depend on zone data: one question, class
//! IN, opcode QUERY, EDNS version 0 (BADVERS otherwise), our EDNS buffer size of 1232 (the DNS
//! flag day 2020 value), TC with an empty answer when a UDP answer does not fit the client's
//! buffer, REFUSED for zone transfers (they come with the secondaries work) and for names
//! outside our zones. Malformed packets get FORMERR from hickory-server before they reach us.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::TcpListener;

use super::{Answer, Zones};

/// The EDNS UDP payload size ranah advertises and the most it sends over UDP.
pub const EDNS_UDP_SIZE: u16 = 1232;

/// Answers DNS requests from [`Zones`].
#[derive(Clone)]
pub struct Handler {
    zones: Arc<Zones>,
}

impl Handler {
    /// A handler over these zones.
    pub fn new(zones: Arc<Zones>) -> Self {
        Self { zones }
    }

    /// The zones answered from.
    pub fn zones(&self) -> &Zones {
        &self.zones
    }
}

/// What to send: an answer from the zones, or an error code with no records.
enum Reply {
    Answer(Answer),
    Error(ResponseCode),
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut response_edns = None;
        let reply = match &request.edns {
            Some(req_edns) => {
                let mut edns = Edns::new();
                edns.set_max_payload(EDNS_UDP_SIZE);
                edns.set_version(0);
                response_edns = Some(edns);
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
            Reply::Error(code) => Answer {
                rcode: code,
                ..Answer::refused()
            },
        };
        metadata.response_code = answer.rcode;
        metadata.authoritative = answer.authoritative;

        // UDP: a reply that does not fit the client's buffer goes out as TC with no records,
        // and the client retries over TCP (RFC 1035 §4.2.1, RFC 6891 §6.2.5).
        let mut truncated = false;
        if request.protocol() == Protocol::Udp {
            let limit = match &request.edns {
                Some(e) => e.max_payload().clamp(512, EDNS_UDP_SIZE),
                None => 512,
            };
            truncated = !fits(request, &metadata, response_edns.as_ref(), &answer, limit);
        }
        let builder = MessageResponseBuilder::new(&request.queries, response_edns.as_ref());
        let result = if truncated {
            metadata.truncation = true;
            let none: [&Record; 0] = [];
            let response = builder.build(metadata, none, none, none, none);
            response_handle.send_response(response).await
        } else {
            let response = builder.build(
                metadata,
                Answer::records(&answer.answers),
                Answer::records(&answer.authorities),
                std::iter::empty::<&Record>(),
                Answer::records(&answer.additionals),
            );
            response_handle.send_response(response).await
        };
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
}

impl Handler {
    fn reply(&self, request: &Request) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::Error(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return Reply::Error(ResponseCode::FormErr);
        };
        if query.query_class() != DNSClass::IN {
            return Reply::Error(ResponseCode::Refused);
        }
        match query.query_type() {
            RecordType::AXFR | RecordType::IXFR => Reply::Error(ResponseCode::Refused),
            RecordType::OPT | RecordType::TSIG | RecordType::SIG => {
                Reply::Error(ResponseCode::FormErr)
            }
            qtype => Reply::Answer(self.zones.resolve(query.name(), qtype)),
        }
    }
}

/// Whether the whole reply fits in `limit` bytes.
fn fits(
    request: &Request,
    metadata: &Metadata,
    edns: Option<&Edns>,
    answer: &Answer,
    limit: u16,
) -> bool {
    let builder = MessageResponseBuilder::new(&request.queries, edns);
    let response = builder.build(
        *metadata,
        Answer::records(&answer.answers),
        Answer::records(&answer.authorities),
        std::iter::empty::<&Record>(),
        Answer::records(&answer.additionals),
    );
    let mut buf = Vec::with_capacity(usize::from(limit));
    let mut encoder = BinEncoder::new(&mut buf);
    encoder.set_max_size(limit);
    match response.destructive_emit(&mut encoder) {
        Ok(info) => !info.truncation,
        Err(_) => false,
    }
}

/// Errors starting the DNS server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsServerError {
    /// A listen address could not be bound.
    #[error("cannot listen for DNS on {proto} {addr}: {source}")]
    Bind {
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The running DNS server: ranah's UDP workers and hickory-server's TCP listeners.
pub struct DnsServer {
    tcp: Server<Handler>,
    udp: Vec<super::udp::UdpWorkers>,
}

impl DnsServer {
    /// Stop accepting queries and wait for the workers.
    pub async fn shutdown(mut self) {
        if let Err(e) = self.tcp.shutdown_gracefully().await {
            tracing::warn!(error = %e, "DNS TCP server did not stop cleanly");
        }
        let udp = std::mem::take(&mut self.udp);
        let _ = tokio::task::spawn_blocking(move || {
            for workers in udp {
                workers.stop();
            }
        })
        .await;
    }
}

/// Bind UDP (`udp_workers` sockets per address) and TCP on every address and start serving.
pub async fn start(
    zones: Arc<Zones>,
    listen: &[SocketAddr],
    tcp_idle_timeout: Duration,
    udp_workers: usize,
) -> Result<DnsServer, DnsServerError> {
    let handler = Handler::new(zones);
    let mut server = Server::new(handler.clone());
    let mut udp = Vec::new();
    for addr in listen {
        udp.push(
            super::udp::start(*addr, udp_workers, handler.clone()).map_err(|source| {
                DnsServerError::Bind {
                    proto: "udp",
                    addr: *addr,
                    source,
                }
            })?,
        );
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| DnsServerError::Bind {
                proto: "tcp",
                addr: *addr,
                source,
            })?;
        tracing::info!(%addr, udp_workers, "serving DNS over UDP and TCP");
        server.register_listener(tcp, tcp_idle_timeout, 64);
    }
    Ok(DnsServer { tcp: server, udp })
}
