//! Serving the router over HTTP/1.1 with limits, so that no client can take the API (or the
//! process's file descriptors) away from the others.
//!
//! `axum::serve` has no header-read or idle timeout and no limit on connections: 20,000 idle
//! connections took every descriptor, and then neither the API nor DNS over TCP answered. This
//! accept loop, on hyper's HTTP/1.1 server:
//!
//! - limits connections open at once in total (`api.max_connections`) and per source
//!   (`api.max_connections_per_source`: an IPv4 address, an IPv6 /64). At the total limit the
//!   connection idle for longest (no request in progress: its headers not sent yet, or kept
//!   alive between requests) is closed to make room (`ranah_http_connections_reclaimed`); when
//!   every connection has a request in progress, or the source is at its own limit, the new
//!   connection is **closed at once**, before anything is read: answering it would mean reading
//!   a request from a client we have no room for (`ranah_http_connections_refused`);
//! - closes a connection whose request headers do not arrive within
//!   `api.header_read_timeout_secs`, counted from the connection's start or the end of the
//!   previous response, so an idle kept-alive connection is closed after as long;
//! - answers 408 (`request_timeout`) when a request body pauses longer than
//!   `api.body_read_timeout_secs` between two reads;
//! - answers 503 (`overloaded`, with `Retry-After`) to a request beyond
//!   `api.max_requests_in_flight` handled at once, without queueing it;
//! - after an accept error that is not about one connection (out of descriptors) waits 10 ms,
//!   doubling to 1 s ([`crate::net::AcceptBackoff`]), never spinning;
//! - over HTTPS (`[api.tls]`, with a [`TlsAcceptor`] from [`super::tls`]), does the TLS
//!   handshake inside the connection's task, under the same limits: the handshake and the
//!   first request's headers together must come within `api.header_read_timeout_secs` of the
//!   connection's start, a handshaking connection is idle and can be reclaimed, and every
//!   answer carries `Strict-Transport-Security` (`api.tls.hsts_max_age_secs`);
//! - gives handlers the peer's address (`ConnectInfo<SocketAddr>`), as `axum::serve` did, and
//!   the client's ([`ClientAddr`]: the peer, or the address a trusted proxy names);
//! - logs and counts every problem answered (`ranah_http_problems`), at most one log line per
//!   interval and code (`log.repeat_interval_secs`).
//!
//! What it guarantees: a new connection is refused only when its source already holds
//! `max_connections_per_source` connections, or when all `max_connections` have a request in
//! progress (and at most `max_requests_in_flight` of those are handled, the rest answered 503
//! at once). Idle connections, however many sources hold them, never keep a client out: the
//! oldest makes room, and each is closed after `header_read_timeout_secs` anyway. A connection
//! reclaimed at the moment its request arrives is closed like any idle kept-alive connection
//! (clients retry those). The total limit keeps the process within its file descriptors
//! (checked against the limit of open files at start).
//!
//! HTTP/2 is not served (ALPN offers `http/1.1` only): a TLS front end that wants it speaks it
//! to clients and HTTP/1.1 to ranah.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::timeout::{TimeoutBody, TimeoutError};

use super::client::{ClientAddr, ClientRule};
use super::problem::{Problem, ProblemRecord};
use crate::config::ApiConfig;
use crate::net::{AcceptBackoff, ConnectionLimiter, Refusal, Slot, is_connection_error};
use crate::telemetry::metrics::{Metrics, ProblemLabels, inc_reason};

/// How long a shutdown waits for requests in progress before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve `router` on `listener` (over TLS with `tls`) with the limits of `[api]` until
/// `shutdown` turns true, then close idle connections at once and give requests in progress
/// [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    config: ApiConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let clients = Arc::new(ClientRule::new(&config));
    let header_timeout = Duration::from_secs(config.header_read_timeout_secs);
    // HSTS only over HTTPS: a browser ignores it over plain HTTP anyway (RFC 6797 §8.1).
    let hsts = match (&tls, config.tls.hsts_max_age_secs) {
        (Some(_), secs) if secs > 0 => HeaderValue::from_str(&format!("max-age={secs}")).ok(),
        _ => None,
    };
    let service = ServiceBuilder::new()
        // Outermost: every answer, the 503s of the limit included, passes here once.
        .layer(middleware::from_fn_with_state(
            metrics.clone(),
            record_problems,
        ))
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.max_requests_in_flight,
        ))
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(config.body_read_timeout_secs),
            limit_body_pauses,
        ))
        .service(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let limiter = ConnectionLimiter::new(
        config.max_connections,
        config.max_connections_per_source,
        metrics.http_connections.clone(),
    );
    let open = OpenConnections::default();
    let graceful = GracefulShutdown::new();
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(error) => {
                let delay = backoff.next_delay();
                if let Some(suppressed) = metrics.log.admit("http_accept_error") {
                    tracing::warn!(%error, retry_ms = delay.as_millis() as u64, suppressed, "HTTP accept failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => continue,
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
        };
        let slot = match limiter.acquire(peer.ip()) {
            Ok(slot) => Ok(slot),
            // At the total limit, the connection idle for longest makes room.
            Err(Refusal::Total) if open.reclaim_idle() => {
                metrics.http_connections_reclaimed.inc();
                limiter.acquire(peer.ip())
            }
            Err(refusal) => Err(refusal),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(refusal) => {
                drop(stream);
                inc_reason(&metrics.http_connections_refused, refusal.reason());
                if let Some(suppressed) = metrics.log.admit("http_connection_refused") {
                    tracing::info!(%peer, limit = refusal.reason(), suppressed, "HTTP connection refused");
                }
                continue;
            }
        };
        // A TLS connection writes the handshake's last flight, session tickets and the answer
        // in several writes: with Nagle's algorithm the later ones wait for the client's
        // delayed ACK (40 ms on Linux).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
        }
        let (id, busy, reclaimed) = open.insert(slot);
        // The handshake and the first request's headers come within the header timeout of
        // the connection's start; hyper's own timer then bounds each later request's headers.
        let deadline = Instant::now() + header_timeout;
        let started = Arc::new(AtomicBool::new(false));
        let handler = {
            let (service, clients, hsts, started) = (
                service.clone(),
                clients.clone(),
                hsts.clone(),
                started.clone(),
            );
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                started.store(true, Ordering::Release);
                let client = clients.client(peer.ip(), request.headers());
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(ClientAddr(client));
                let in_progress = Busy::new(busy.clone());
                let response = service.clone().oneshot(request.map(Body::new));
                let hsts = hsts.clone();
                async move {
                    let mut response = response.await;
                    drop(in_progress);
                    if let (Ok(response), Some(hsts)) = (response.as_mut(), hsts) {
                        response
                            .headers_mut()
                            .insert(header::STRICT_TRANSPORT_SECURITY, hsts);
                    }
                    response
                }
            })
        };
        let watcher = graceful.watcher();
        let http = http.clone();
        let tls = tls.clone();
        let metrics = metrics.clone();
        let open = open.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let served = async {
                let result = match tls {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), handler))
                            .await
                    }
                    Some(tls) => {
                        let handshake = tokio::select! {
                            handshake = tokio::time::timeout_at(deadline, tls.accept(stream)) => handshake,
                            _ = stop.wait_for(|stop| *stop) => return,
                        };
                        match handshake {
                            Ok(Ok(stream)) => {
                                watcher
                                    .watch(http.serve_connection(TokioIo::new(stream), handler))
                                    .await
                            }
                            Ok(Err(error)) => {
                                handshake_failed(&metrics, peer, &error);
                                return;
                            }
                            Err(_) => {
                                metrics.http_header_timeouts.inc();
                                return;
                            }
                        }
                    }
                };
                if let Err(error) = result {
                    if error.is_timeout() {
                        metrics.http_header_timeouts.inc();
                    }
                    tracing::debug!(%peer, %error, "HTTP connection ended with an error");
                }
            };
            tokio::select! {
                _ = served => {}
                // Reclaimed while idle: dropping the connection closes it.
                _ = reclaimed.notified() => {}
                _ = first_request_within(deadline, started) => {
                    metrics.http_header_timeouts.inc();
                }
            }
            open.remove(id);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP requests still in progress at shutdown were cut");
    }
}

/// Ends at `deadline` unless a request has started by then (its headers read), else never:
/// what bounds a connection that completes a TLS handshake slowly and then sends nothing.
async fn first_request_within(deadline: Instant, started: Arc<AtomicBool>) {
    tokio::time::sleep_until(deadline).await;
    if started.load(Ordering::Acquire) {
        std::future::pending::<()>().await;
    }
}

/// Count and log (at most once per interval) a TLS handshake that failed. Without a certificate
/// loaded yet (an ACME certificate not issued), every handshake fails this way.
fn handshake_failed(metrics: &Metrics, peer: SocketAddr, error: &std::io::Error) {
    let no_certificate = error.get_ref().is_some_and(|e| {
        matches!(
            e.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::General(text)) if text.contains("no server certificate")
        )
    });
    let reason = if no_certificate {
        "no_certificate"
    } else {
        "protocol"
    };
    inc_reason(&metrics.http_tls_handshake_failures, reason);
    if no_certificate {
        if let Some(suppressed) = metrics.log.admit("tls_no_certificate") {
            tracing::warn!(%peer, suppressed,
                "TLS handshake refused: the API has no certificate yet (see [api.tls])");
        }
    } else if let Some(suppressed) = metrics.log.admit("tls_handshake_failed") {
        tracing::info!(%peer, %error, suppressed, "TLS handshake failed");
    }
}

/// Plain HTTP that only redirects to HTTPS (`api.tls.redirect_listen`): every request gets a
/// 308 to the same path and query at `https://HOST[:PORT]`, HOST being `name` (the API's ACME
/// name) or else the host the request named, PORT the HTTPS port (left out when 443). Nothing
/// else is served, so no token is ever answered over plain HTTP.
pub fn redirect_to_https(name: Option<String>, https_port: u16) -> Router {
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let target = Arc::new((name, port));
    Router::new()
        .fallback(move |request: Request| {
            let target = target.clone();
            async move { redirect(&target.0, &target.1, &request) }
        })
        .layer(axum::middleware::map_response(
            super::problem::ensure_problem,
        ))
}

fn redirect(name: &Option<String>, port: &str, request: &Request) -> Response {
    let asked = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host());
    let Some(host) = name.as_deref().or_else(|| asked.and_then(host_of)) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "plain HTTP only redirects to HTTPS, and the request names no valid host",
        )
        .into_response();
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    match HeaderValue::from_str(&format!("https://{host}{port}{path}")) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request's target cannot be redirected",
        )
        .into_response(),
    }
}

/// The host part of a `Host` header (`name`, `name:80`, `192.0.2.1`, `[2001:db8::1]:80`), if it
/// is a host name or an address literal.
fn host_of(host: &str) -> Option<&str> {
    let host = host.trim();
    let name = if host.starts_with('[') {
        let end = host.find(']')?;
        let literal = &host[..=end];
        literal[1..end].parse::<std::net::Ipv6Addr>().ok()?;
        literal
    } else {
        host.split(':').next()?
    };
    let ok = !name.is_empty()
        && name.len() <= 253
        && (name.starts_with('[')
            || name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    ok.then_some(name)
}

/// The connections open, oldest first, each with its place under the limits, whether it has a
/// request in progress, and the signal that closes it when it is reclaimed.
#[derive(Clone, Default)]
struct OpenConnections(Arc<Mutex<OpenMap>>);

#[derive(Default)]
struct OpenMap {
    next: u64,
    by_age: BTreeMap<u64, OpenConnection>,
}

struct OpenConnection {
    _slot: Slot,
    /// Requests in progress on it (0 or 1 over HTTP/1.1).
    busy: Arc<AtomicUsize>,
    reclaim: Arc<Notify>,
}

impl OpenConnections {
    /// Keep `slot` for a new connection: its id, its count of requests in progress, and what
    /// tells it it was reclaimed.
    fn insert(&self, slot: Slot) -> (u64, Arc<AtomicUsize>, Arc<Notify>) {
        let mut map = self.0.lock();
        let id = map.next;
        map.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let reclaim = Arc::new(Notify::new());
        map.by_age.insert(
            id,
            OpenConnection {
                _slot: slot,
                busy: busy.clone(),
                reclaim: reclaim.clone(),
            },
        );
        (id, busy, reclaim)
    }

    /// The connection ended: give its place back (if it was not reclaimed already).
    fn remove(&self, id: u64) {
        self.0.lock().by_age.remove(&id);
    }

    /// Close the oldest connection with no request in progress (one that has not sent its
    /// headers yet, or is kept alive between requests) and give its place back at once.
    /// `false` when every connection has a request in progress.
    fn reclaim_idle(&self) -> bool {
        let mut map = self.0.lock();
        let Some(id) = map
            .by_age
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some(victim) = map.by_age.remove(&id) {
            // notify_one keeps the signal if the task is not waiting yet.
            victim.reclaim.notify_one();
        }
        true
    }
}

/// A request in progress on a connection, for as long as this lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The only error under the request limit is its refusal (the router's is `Infallible`).
async fn overloaded(_: tower::BoxError) -> Problem {
    Problem::overloaded()
}

/// The request body may pause at most `timeout` between two reads (tower-http's
/// `TimeoutBody`); when it did, whatever the handler made of the failed read, the answer is a
/// 408 problem.
async fn limit_body_pauses(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let request = request.map(|body| {
        Body::new(TimeoutBody::new(timeout, body).map_err(move |e| {
            if e.is::<TimeoutError>() {
                flag.store(true, Ordering::Relaxed);
            }
            e
        }))
    });
    let response = next.run(request).await;
    if timed_out.load(Ordering::Relaxed) {
        return Problem::request_timeout().into_response();
    }
    response
}

/// Count every problem answered and log it, no more than once per interval and code: a client
/// can cause as many 401s or 404s as it sends requests.
async fn record_problems(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let client = ClientAddr::of(request.extensions());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let Some(problem) = response.extensions().get::<ProblemRecord>() else {
        return response;
    };
    metrics
        .http_problems
        .get_or_create(&ProblemLabels {
            status: problem.status.to_string(),
            code: problem.code.to_owned(),
        })
        .inc();
    let Some(suppressed) = metrics.log.admit(problem.code) else {
        return response;
    };
    let client = client.map(|c| c.to_string()).unwrap_or_default();
    // Faults of ours (a 500, or an answer with a cause kept for the log) are errors; a refusal,
    // the 503 of the request limit included, is a warning.
    if problem.status == 500 || problem.cause.is_some() {
        let cause = problem.cause.as_deref().unwrap_or(&problem.detail);
        tracing::error!(code = problem.code, status = problem.status, cause, %method, path, client, suppressed, "request failed");
    } else {
        tracing::warn!(code = problem.code, status = problem.status, detail = %problem.detail, %method, path, client, suppressed, "request refused");
    }
    response
}
