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
//! - gives handlers the client's address (`ConnectInfo<SocketAddr>`), as `axum::serve` did;
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
//! HTTP/2 is not served: a TLS front end speaks it to clients and HTTP/1.1 to ranah.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

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

use super::problem::{Problem, ProblemRecord};
use crate::config::ApiConfig;
use crate::net::{AcceptBackoff, ConnectionLimiter, Refusal, Slot, is_connection_error};
use crate::telemetry::metrics::{Metrics, ProblemLabels, inc_reason};

/// How long a shutdown waits for requests in progress before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve `router` on `listener` with the limits of `[api]` until `shutdown` turns true, then
/// close idle connections at once and give requests in progress [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ApiConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
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
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_secs))
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
        let (id, busy, reclaimed) = open.insert(slot);
        let service = service.clone();
        let handler = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_progress = Busy::new(busy.clone());
            let response = service.clone().oneshot(request.map(Body::new));
            async move {
                let response = response.await;
                drop(in_progress);
                response
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), handler));
        let metrics = metrics.clone();
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        if error.is_timeout() {
                            metrics.http_header_timeouts.inc();
                        }
                        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
                    }
                }
                // Reclaimed while idle: dropping the connection closes it.
                _ = reclaimed.notified() => {}
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
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
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
