//! ranah's own DNS-over-TCP listener (RFC 7766), with limits.
//!
//! hickory-server's TCP listener has no limit on connections and retries a failed accept at
//! once, so a flood of idle connections took every file descriptor and then nothing answered.
//! Here:
//!
//! - connections are limited in total and per source ([`crate::net::ConnectionLimiter`]: an
//!   IPv4 address, an IPv6 /64); beyond a limit a new connection is closed at once, and counted
//!   (`ranah_dns_tcp_refused`);
//! - a connection waits at most `dns.tcp_idle_timeout_secs` for the first byte of its next
//!   message, and a message must arrive whole within `dns.tcp_message_timeout_secs` of its first
//!   byte (one byte a second does not keep a connection);
//! - each response message must be written within `dns.tcp_write_timeout_secs`: a client that
//!   stops reading cannot hold a zone transfer, or the memory it is sent from, for longer;
//! - an accept error that is not about one connection (out of descriptors) is followed by a
//!   growing wait ([`crate::net::AcceptBackoff`]), never a busy loop.
//!
//! Messages have the 2-byte length prefix of RFC 1035 §4.2.2, are parsed with hickory's
//! `Request::from_bytes` and answered, one after another, by [`Handler::handle_request`], each
//! response message written as soon as it is made. A message that does not parse gets FORMERR, as over UDP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::MessageType;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::handler::{Handler, Sink};
use crate::config::DnsConfig;
use crate::net::{AcceptBackoff, ConnectionLimiter, Slot, is_connection_error};
use crate::telemetry::metrics::{Metrics, inc_reason};

/// How long a shutdown waits for connections in the middle of an answer (a transfer) before
/// it cuts them; connections waiting for a message close at once.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The limits of DNS over TCP (`[dns]`).
#[derive(Clone, Debug)]
pub struct TcpLimits {
    /// The wait for the first byte of the next message.
    pub idle: Duration,
    /// The time from a message's first byte to its last.
    pub message: Duration,
    /// The time to write one response message.
    pub write: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one source.
    pub max_connections_per_source: usize,
}

impl TcpLimits {
    /// The limits `[dns]` sets.
    pub fn of(config: &DnsConfig) -> Self {
        Self {
            idle: Duration::from_secs(config.tcp_idle_timeout_secs),
            message: Duration::from_secs(config.tcp_message_timeout_secs),
            write: Duration::from_secs(config.tcp_write_timeout_secs),
            max_connections: config.tcp_max_connections,
            max_connections_per_source: config.tcp_max_connections_per_source,
        }
    }
}

/// What every connection of every listener shares.
#[derive(Clone)]
pub(super) struct Shared {
    handler: Handler,
    limits: Arc<TcpLimits>,
    limiter: ConnectionLimiter,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    /// One limiter for all the listeners: the limits are the server's, not each address's.
    pub(super) fn new(
        handler: Handler,
        limits: TcpLimits,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            limiter: ConnectionLimiter::new(
                limits.max_connections,
                limits.max_connections_per_source,
                metrics.dns_tcp_connections.clone(),
            ),
            handler,
            limits: Arc::new(limits),
            metrics,
            stop,
        }
    }
}

/// Accept connections on `listener` until the stop signal, then wait for the connections (at
/// most [`SHUTDOWN_GRACE`] for those in the middle of an answer).
pub(super) async fn serve(listener: TcpListener, shared: Shared) {
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    let mut stop = shared.stop.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                match shared.limiter.acquire(peer.ip()) {
                    Ok(slot) => {
                        connections.spawn(connection(stream, peer, shared.clone(), slot));
                    }
                    Err(refusal) => {
                        // Closed at once: nothing is read or written for it.
                        drop(stream);
                        inc_reason(&shared.metrics.dns_tcp_refused, refusal.reason());
                        if let Some(suppressed) = shared.metrics.log.admit("dns_tcp_refused") {
                            tracing::info!(
                                %peer, limit = refusal.reason(), suppressed,
                                "DNS TCP connection refused"
                            );
                        }
                    }
                }
            }
            Err(e) if is_connection_error(&e) => {}
            Err(error) => {
                let delay = backoff.next_delay();
                if let Some(suppressed) = shared.metrics.log.admit("dns_tcp_accept_error") {
                    tracing::warn!(%error, retry_ms = delay.as_millis() as u64, suppressed, "DNS TCP accept failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
            }
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "DNS TCP connections still answering at shutdown were cut"
        );
    }
}

/// Why a connection ended, when ranah ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    Idle,
    MessageTimeout,
    Malformed,
    WriteFailed,
}

impl Closed {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::MessageTimeout => "message_timeout",
            Self::Malformed => "malformed",
            Self::WriteFailed => "write_failed",
        }
    }
}

/// Serve one connection; its slot under the limits is given back when it ends.
async fn connection(stream: TcpStream, peer: SocketAddr, shared: Shared, _slot: Slot) {
    if let Some(closed) = answer_messages(stream, peer, &shared).await {
        inc_reason(&shared.metrics.dns_tcp_closed, closed.reason());
    }
}

/// Read and answer messages until the client closes, a limit is hit or the server stops.
async fn answer_messages(stream: TcpStream, peer: SocketAddr, shared: &Shared) -> Option<Closed> {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    answer_stream(
        reader,
        writer,
        peer,
        &shared.handler,
        &shared.limits,
        shared.stop.clone(),
    )
    .await
}

/// The connection loop, over any byte stream (a TCP connection; the fuzz target's bytes in
/// memory, see [`crate::fuzzing`]).
pub(crate) async fn answer_stream<R, W>(
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    handler: &Handler,
    limits: &TcpLimits,
    mut stop: watch::Receiver<bool>,
) -> Option<Closed>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut responder = TcpResponder {
        writer: Arc::new(tokio::sync::Mutex::new(writer)),
        timeout: limits.write,
        failed: Arc::new(AtomicBool::new(false)),
    };
    loop {
        // The first byte of the next message, within the idle timeout.
        let mut prefix = [0u8; 2];
        let first = tokio::select! {
            read = tokio::time::timeout(limits.idle, reader.read(&mut prefix[..1])) => read,
            _ = stop.wait_for(|stop| *stop) => return None,
        };
        match first {
            Err(_) => return Some(Closed::Idle),
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(_)) => {}
        }
        // The rest of the message, within the message timeout.
        let rest = async {
            reader.read_exact(&mut prefix[1..]).await?;
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            reader.read_exact(&mut message).await?;
            Ok::<_, std::io::Error>(message)
        };
        let message = match tokio::time::timeout(limits.message, rest).await {
            Err(_) => return Some(Closed::MessageTimeout),
            Ok(Err(_)) => return None,
            Ok(Ok(message)) => message,
        };
        // Shorter than a header: not DNS, and nothing to answer with.
        let Some(head) = message.get(..3).filter(|_| message.len() >= 12) else {
            return Some(Closed::Malformed);
        };
        let head = [head[0], head[1], head[2]];
        match Request::from_bytes(message, peer, Protocol::Tcp) {
            // A response is never answered (it could be a reflection).
            Ok(request) if request.metadata.message_type == MessageType::Response => {}
            Ok(request) => {
                handler.handle_request(&request, &mut responder).await;
            }
            Err(_) => {
                let mut reply = Vec::with_capacity(12);
                if super::udp::formerr(&head, &mut reply) {
                    responder.write(&reply).await;
                }
            }
        }
        if responder.failed.load(Ordering::Acquire) {
            return Some(Closed::WriteFailed);
        }
    }
}

/// Writes each response message, length-prefixed, as soon as the handler sends it.
struct TcpResponder<W> {
    writer: Arc<tokio::sync::Mutex<W>>,
    timeout: Duration,
    /// Set when a write failed or timed out: the connection is closed after this request.
    failed: Arc<AtomicBool>,
}

// Not derived: `W` itself need not be `Clone`.
impl<W> Clone for TcpResponder<W> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            timeout: self.timeout,
            failed: self.failed.clone(),
        }
    }
}

impl<W: AsyncWrite + Unpin + Send> TcpResponder<W> {
    /// Write one message with its length prefix; `false` (and the connection marked failed)
    /// when it could not be written within the timeout.
    async fn write(&self, message: &[u8]) -> bool {
        if self.failed.load(Ordering::Acquire) {
            return false;
        }
        let Ok(len) = u16::try_from(message.len()) else {
            self.failed.store(true, Ordering::Release);
            return false;
        };
        let mut frame = Vec::with_capacity(message.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(message);
        let mut writer = self.writer.lock().await;
        let written = tokio::time::timeout(self.timeout, writer.write_all(&frame)).await;
        let ok = matches!(written, Ok(Ok(())));
        if !ok {
            self.failed.store(true, Ordering::Release);
        }
        ok
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Sink for TcpResponder<W> {
    async fn send(&mut self, message: Vec<u8>) -> bool {
        self.write(&message).await
    }
}
