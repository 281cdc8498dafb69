//! `GET /metrics`: Prometheus text format.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Prometheus metrics in the text format; state gauges are set from the current state first.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format: zones, secondaries, NOTIFY, transfers, TSIG failures, requests, outbox, audit, certificates", content_type = "text/plain", body = String)))]
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
