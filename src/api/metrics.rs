//! `GET /metrics`: Prometheus text format, open by default, behind a bearer token when
//! `[metrics] token` (or `token_file`) is set, and on its own address when `[metrics] listen`
//! is (then the API's address does not serve it).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::problem::{Problem, ProblemDetails};
use crate::config::MetricsConfig;

/// Prometheus metrics in the text format; state gauges are set from the current state first.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format: zones, secondaries, NOTIFY, transfers, TSIG failures, requests, outbox, audit, certificates", content_type = "text/plain", body = String),
        (status = 401, description = "`unauthorized`: `[metrics] token` is set and the request does not carry it as `Authorization: Bearer TOKEN`", body = ProblemDetails),
        (status = 404, description = "`not_found`: `[metrics] listen` serves the metrics on an address of their own, not on the API's", body = ProblemDetails)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.health.metrics().await,
    )
        .into_response()
}

/// The `/metrics` route, behind the token if `config` sets one.
pub fn routes(config: &MetricsConfig) -> Router<AppState> {
    let route = Router::new().route("/metrics", get(metrics));
    match &config.token {
        Some(token) => route.route_layer(middleware::from_fn_with_state(
            Arc::new(Sha256::digest(token.expose().as_bytes())),
            require_token,
        )),
        None => route,
    }
}

/// A 401 unless the request carries the token. The digests are compared in constant time, so
/// the time of a refusal tells nothing of the token.
async fn require_token(
    State(expected): State<Arc<sha2::digest::Output<Sha256>>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::auth::bearer_token);
    match given {
        Some(token) if bool::from(Sha256::digest(token.as_bytes()).ct_eq(&expected)) => {
            next.run(request).await
        }
        _ => Problem::unauthorized().into_response(),
    }
}
