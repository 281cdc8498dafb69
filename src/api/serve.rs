//! Serving the router over HTTP/1.1 with limits, so that no client can take the API (or the
//! process's file descriptors) away from the others.
//!
//! `axum::serve` has no header-read or idle timeout and no limit on connections: 20,000 idle
//! connections took every descriptor, and then neither the API nor DNS over TCP answered. This
//! accept loop, on hyper's HTTP/1.1 server:
//!
//! - limits connections open at once in total (`api.max_connections`) and per source
//!   (`api.max_connections_per_source`: an IPv4 address, an IPv6 /64). Beyond a limit a new
//!   connection is **closed at once**, before anything is read: answering it would mean reading
//!   a request from a client we have no room for. Counted in `ranah_http_connections_refused`;
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
//! What it guarantees: a source holding its `max_connections_per_source` idle connections
//! does not keep anyone else out, and a connection that sends nothing gives its place back
//! after `header_read_timeout_secs`. Sources together holding `max_connections` can fill the
//! server until their connections time out; the limit exists to keep the process within its
//! descriptors (checked against the limit of open files at start).
//!
//! HTTP/2 is not served: a TLS front end speaks it to clients and HTTP/1.1 to ranah.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::timeout::{TimeoutBody, TimeoutError};

use super::problem::{Problem, ProblemRecord};
use crate::config::ApiConfig;
use crate::net::{AcceptBackoff, ConnectionLimiter, is_connection_error};
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
        let service = service.clone();
        let handler = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            service.clone().oneshot(request.map(Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), handler));
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                if error.is_timeout() {
                    metrics.http_header_timeouts.inc();
                }
                tracing::debug!(%peer, %error, "HTTP connection ended with an error");
            }
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
