//! The audit trail over HTTP: the events (filtered, paged) and the chain's check; for auditors
//! and admins.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::AuthUser;
use super::problem::{Problem, ProblemDetails};
use crate::domain::access::{self, Actor};
use crate::service::requests::ServiceError;
use crate::store::AuditFilter;

/// Most events per page.
const MAX_PAGE: i64 = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(list))
        .route("/api/v1/audit/verify", get(verify))
}

fn allowed(user: &Actor) -> Result<(), Problem> {
    if access::may_read_audit(user) {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "the audit trail is for auditors and admins",
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    request: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    after: Option<i64>,
    limit: Option<i64>,
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_events", tag = "audit",
    params(("request" = Option<i64>, Query, description = "events of this request"),
        ("actor" = Option<String>, Query, description = "a user name, `cli` or `system`"),
        ("action" = Option<String>, Query, description = "e.g. `request.approved`, `zone.change`"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("after" = Option<i64>, Query, description = "events after this sequence number (paging)"),
        ("limit" = Option<i64>, Query, description = "at most this many (default 100, at most 1000)")),
    responses((status = 200, description = "`items` (events in sequence order) and `next_after`", body = serde_json::Value),
        (status = 403, description = "auditors and admins only", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, Problem> {
    allowed(&user)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let filter = AuditFilter {
        target: q.request.map(|id| format!("request/{id}")),
        actor: q.actor,
        action: q.action,
        since: q.since.map(stamp),
        until: q.until.map(stamp),
        after_seq: q.after.unwrap_or(0),
        limit,
    };
    let events = state
        .readiness
        .store
        .audit_events(&filter)
        .await
        .map_err(ServiceError::from)?;
    let next_after = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({ "items": events, "next_after": next_after })))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", operation_id = "verify_audit", tag = "audit",
    responses((status = 200, description = "`{\"ok\", \"events\", \"head\", \"first_bad\"}`", body = serde_json::Value),
        (status = 403, description = "auditors and admins only", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn verify(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Value>, Problem> {
    allowed(&user)?;
    let v = state
        .readiness
        .store
        .verify_audit()
        .await
        .map_err(ServiceError::from)?;
    Ok(Json(json!(v)))
}
