//! The audit trail over HTTP: the events (filtered, paged) and the chain's check; for auditors
//! and admins.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::auth::AuthUser;
use super::problem::{Problem, ProblemDetails};
use super::time::Timestamp;
use crate::domain::audit::{AuditEvent, Verification};
use crate::service::audit::AuditQuery;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(list))
        .route("/api/v1/audit/verify", get(verify))
}

/// One event of the trail, as stored and hashed (docs/audit.md says how to recompute it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEventBody {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    /// When. Kept as the text the trail hashed (every event is written in the one format of
    /// [`Timestamp`], so it is that format), never rewritten: a client recomputes the hash from it.
    #[schema(value_type = Timestamp)]
    pub at: String,
    /// Who: a user name, `cli` or `system`.
    pub actor: String,
    /// The role acted in.
    pub role: Option<String>,
    /// What, e.g. `request.approved`, `zone.change`.
    pub action: String,
    /// On what, e.g. `request/42`.
    pub target: String,
    /// What changed.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// The note or reason.
    pub note: Option<String>,
    /// The client address, `cli` or `system`.
    pub client: String,
    /// The previous event's hash.
    pub prev_hash: String,
    /// SHA-256 (hex) of the JCS encoding of the other fields.
    pub hash: String,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(e: AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            role: e.role,
            action: e.action,
            target: e.target,
            summary: e.summary,
            note: e.note,
            client: e.client,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A page of the trail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Events in sequence order.
    pub items: Vec<AuditEventBody>,
    /// Give this as `after` for the next page; null on the last page.
    pub next_after: Option<i64>,
}

/// The check of the chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerificationBody {
    /// Whether every event is where and what it should be.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The head's hash.
    pub head: Option<String>,
    /// The first sequence number at which the chain breaks.
    pub first_bad: Option<i64>,
}

impl From<Verification> for VerificationBody {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.ok,
            events: v.events,
            head: v.head,
            first_bad: v.first_bad,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_events", tag = "audit",
    params(("request" = Option<i64>, Query, description = "events of this request"),
        ("actor" = Option<String>, Query, description = "a user name, `cli` or `system`"),
        ("action" = Option<String>, Query, description = "e.g. `request.approved`, `zone.change`"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("after" = Option<i64>, Query, description = "events after this sequence number (paging)"),
        ("limit" = Option<i64>, Query, description = "at most this many (default 100, at most 1000)")),
    responses((status = 200, description = "Events in sequence order, and where the next page starts", body = AuditPage),
        (status = 400, description = "`invalid_query`: a limit out of range, or a malformed parameter", body = ProblemDetails),
        (status = 403, description = "auditors and admins only", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    let (events, next_after) = state.audit.events(&user, &q).await?;
    Ok(Json(AuditPage {
        items: events.into_iter().map(AuditEventBody::from).collect(),
        next_after,
    }))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", operation_id = "verify_audit", tag = "audit",
    responses((status = 200, description = "Whether the chain holds, its length and head, and where it first breaks", body = VerificationBody),
        (status = 403, description = "auditors and admins only", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn verify(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<VerificationBody>, Problem> {
    Ok(Json(state.audit.verify(&user).await?.into()))
}
