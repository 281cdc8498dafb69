//! The HTTP API: health and readiness, and `/api/v1` (bearer tokens, RFC 9457 problems).

pub mod audit;
pub mod auth;
pub mod body;
pub mod certificates;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod reports;
pub mod requests;
pub mod zones;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::dns::Zones;
use crate::store::Store;

/// What `/readyz` checks.
pub struct Readiness {
    /// The store.
    pub store: Store,
    /// The served zones.
    pub zones: Arc<Zones>,
    /// Set once the DNS listeners are bound.
    pub dns_listening: AtomicBool,
    /// Set once the zones are loaded from the store.
    pub zones_loaded: AtomicBool,
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// Readiness inputs (and the store).
    pub readiness: Arc<Readiness>,
    /// The requests service.
    pub requests: Arc<crate::service::requests::Requests>,
    /// Suspensions.
    pub subdomains: Arc<crate::service::subdomains::Subdomains>,
    /// The office calendar.
    pub calendar: Arc<crate::domain::calendar::Calendar>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// The secondaries and their state.
    pub secondaries: Arc<crate::dns::secondaries::Secondaries>,
    /// The key that signs the audit trail's checkpoints, if configured.
    pub signer: Option<Arc<crate::audit::checkpoint::Signer>>,
    /// Certificates.
    pub certificates: Arc<crate::service::certificates::Certificates>,
}

/// The router: `/healthz`, `/readyz`, `/api/v1/…`; anything else is a 404 problem.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::viewer))
        .merge(requests::routes())
        .merge(zones::routes())
        .merge(audit::routes())
        .merge(reports::routes())
        .merge(certificates::routes())
        .fallback(not_found)
        .layer(axum::middleware::map_response(problem::ensure_problem))
        .with_state(state)
}

async fn not_found() -> problem::Problem {
    problem::Problem::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health", responses((status = 200, description = "alive", body = serde_json::Value)))]
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The store answers, DNS is listening and the zones are loaded.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses((status = 200, description = "ready, with the zones served", body = serde_json::Value),
        (status = 503, description = "not ready: which check failed", body = serde_json::Value)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let r = &state.readiness;
    let store_ok = r.store.ping().await.is_ok();
    let dns = r.dns_listening.load(Ordering::Acquire);
    let zones_loaded = r.zones_loaded.load(Ordering::Acquire);
    let ready = store_ok && dns && zones_loaded;
    let zones: Vec<serde_json::Value> = r
        .zones
        .origins()
        .iter()
        .filter_map(|o| r.zones.get(o))
        .map(|h| {
            let v = h.view();
            json!({"zone": v.origin().to_string(), "serial": v.serial(), "records": v.record_count()})
        })
        .collect();
    let body = Json(json!({
        "ready": ready,
        "checks": {"store": store_ok, "dns_listening": dns, "zones_loaded": zones_loaded},
        "zones": zones,
    }));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}
