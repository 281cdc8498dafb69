//! The HTTP API: health and readiness, and `/api/v1` (bearer tokens, RFC 9457 problems).

pub mod audit;
pub mod auth;
pub mod body;
pub mod certificates;
pub mod client;
pub mod cloudflare;
pub mod complaints;
pub mod edge;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod problem;
pub mod reports;
pub mod requests;
pub mod serve;
pub mod time;
pub mod tls;
pub mod zones;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::config::MetricsConfig;
use crate::service::audit::Audit;
use crate::service::certificates::Certificates;
use crate::service::health::Health;
use crate::service::people::People;
use crate::service::reports::Reports;
use crate::service::requests::Requests;
use crate::service::subdomains::Subdomains;
use crate::service::zones::Zones;

/// Shared state of the HTTP handlers: the services, and nothing else (handlers never reach
/// the store or the zones themselves).
#[derive(Clone)]
pub struct AppState {
    /// Tokens and the roles in effect.
    pub people: Arc<People>,
    /// Subdomain requests.
    pub requests: Arc<Requests>,
    /// Suspensions.
    pub subdomains: Arc<Subdomains>,
    /// Zones and the register.
    pub zones: Arc<Zones>,
    /// Certificates.
    pub certificates: Arc<Certificates>,
    /// The audit trail.
    pub audit: Arc<Audit>,
    /// The monthly service report.
    pub reports: Arc<Reports>,
    /// Health, readiness and the metrics.
    pub health: Arc<Health>,
    /// Signing in to the console, and its sessions.
    pub signin: Arc<crate::service::signin::SignIn>,
    /// The Cloudflare-compatible API.
    pub cloudflare: Arc<crate::service::cloudflare::Cloudflare>,
    /// The oversight checker.
    pub oversight: Arc<crate::service::oversight::Oversight>,
    /// Names given for a time.
    pub expiry: Arc<crate::service::expiry::Expiry>,
    /// The yearly confirmation of each name.
    pub confirmations: Arc<crate::service::confirmation::Confirmations>,
    /// Complaints.
    pub complaints: Arc<crate::service::complaints::Complaints>,
}

/// The router: `/healthz`, `/readyz`, `/metrics` (unless `[metrics] listen` serves it
/// elsewhere), `/api/v1/…`; anything else is a 404 problem. Every answer carries the security
/// headers of [`edge`]; CORS is added by [`edge::with_cors`].
pub fn router(state: AppState, metrics_access: &MetricsConfig) -> Router {
    let router = Router::new();
    let router = match metrics_access.listen {
        Some(_) => router,
        None => router.merge(metrics::routes(metrics_access)),
    };
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::viewer))
        .route("/docs/assets/{file}", get(openapi::viewer_file))
        .merge(requests::routes())
        .merge(zones::routes())
        .merge(audit::routes())
        .merge(reports::routes())
        .merge(certificates::routes())
        .merge(complaints::routes())
        .merge(cloudflare::routes())
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(axum::middleware::map_response(problem::ensure_problem))
        .layer(axum::middleware::from_fn(edge::query_text))
        .layer(axum::middleware::from_fn(edge::security_headers))
        .with_state(state)
}

/// `/metrics` alone, for its own address (`[metrics] listen`); anything else is a 404 problem.
pub fn metrics_router(state: AppState, metrics_access: &MetricsConfig) -> Router {
    metrics::routes(metrics_access)
        .fallback(not_found)
        .layer(axum::middleware::map_response(problem::ensure_problem))
        .layer(axum::middleware::from_fn(edge::security_headers))
        .with_state(state)
}

async fn not_found() -> problem::Problem {
    problem::Problem::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

/// The process is alive.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alive {
    /// Always `ok`.
    pub status: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health", responses((status = 200, description = "alive", body = Alive)))]
pub(crate) async fn healthz() -> Json<Alive> {
    Json(Alive {
        status: "ok".into(),
    })
}

/// The checks of readiness.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadyChecks {
    /// The store answers.
    pub store: bool,
    /// DNS is listening.
    pub dns_listening: bool,
    /// The zones are loaded.
    pub zones_loaded: bool,
}

/// A zone served.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServedZone {
    /// Its apex, absolute.
    pub zone: String,
    /// Its serial.
    pub serial: u32,
    /// Its records.
    pub records: usize,
}

/// Readiness: the checks and the zones served.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Whether every check passed.
    pub ready: bool,
    /// The checks.
    pub checks: ReadyChecks,
    /// The zones served.
    pub zones: Vec<ServedZone>,
}

/// The store answers, DNS is listening and the zones are loaded.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses((status = 200, description = "ready, with the zones served", body = Ready),
        (status = 503, description = "not ready: which check failed", body = Ready)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let r = state.health.readiness().await;
    let body = Ready {
        ready: r.ready,
        checks: ReadyChecks {
            store: r.store,
            dns_listening: r.dns_listening,
            zones_loaded: r.zones_loaded,
        },
        zones: r
            .zones
            .into_iter()
            .map(|(zone, serial, records)| ServedZone {
                zone,
                serial,
                records,
            })
            .collect(),
    };
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
