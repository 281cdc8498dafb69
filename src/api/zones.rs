//! `/api/v1/zones` (zone state and records) and `/api/v1/subdomains` (the register).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hickory_proto::rr::{LowerName, Name, RecordType};
use serde_json::{Value, json};

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::problem::{Problem, ProblemDetails};
use crate::domain::access::{self, Actor};
use crate::service::requests::ServiceError;

/// The routes of these resources.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/zones", get(list))
        .route("/api/v1/zones/{zone}", get(one))
        .route("/api/v1/zones/{zone}/records", get(records))
        .route("/api/v1/zones/{zone}/export", get(export))
        .route("/api/v1/subdomains", get(subdomains))
        .route(
            "/api/v1/subdomains/{name}/suspend",
            axum::routing::post(suspend),
        )
        .route(
            "/api/v1/subdomains/{name}/unsuspend",
            axum::routing::post(unsuspend),
        )
}

fn origin(raw: &str) -> Result<Name, Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no zone {raw}"));
    let mut n = Name::from_ascii(raw).map_err(|_| not_found())?;
    n.set_fqdn(true);
    Ok(n.to_lowercase())
}

/// The served zone with this apex, or a 404 problem.
fn served(
    state: &AppState,
    origin: &Name,
) -> Result<std::sync::Arc<crate::dns::ZoneHandle>, Problem> {
    state
        .requests
        .publisher()
        .zones()
        .get(&LowerName::new(origin))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no zone {origin}"),
            )
        })
}

async fn zone_json(state: &AppState, origin: &Name) -> Result<Value, Problem> {
    let handle = served(state, origin)?;
    let view = handle.view();
    let last = state
        .readiness
        .store
        .last_change(&origin.to_ascii())
        .await
        .map_err(ServiceError::from)?;
    let secondaries =
        crate::dns::secondaries::reports(&state.readiness.store, &origin.to_ascii(), view.serial())
            .await
            .map_err(ServiceError::from)?;
    Ok(json!({
        "zone": origin.to_ascii().trim_end_matches('.'),
        "serial": view.serial(),
        "records": view.record_count(),
        "names": view.name_count(),
        "last_change": last.map(|c| json!({
            "serial": c.serial, "at": c.at, "reason": c.reason, "request": c.request_id,
        })),
        "secondaries": secondaries,
    }))
}

#[utoipa::path(get, path = "/api/v1/zones", operation_id = "list_zones", tag = "zones",
    responses((status = 200, description = "Every zone: serial, records, names, last change", body = serde_json::Value)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    _user: AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Value>, Problem> {
    let mut zones = Vec::new();
    for o in state.requests.publisher().zones().origins() {
        zones.push(zone_json(&state, &Name::from(o)).await?);
    }
    Ok(Json(json!({ "items": zones })))
}

#[utoipa::path(get, path = "/api/v1/zones/{zone}", operation_id = "get_zone", tag = "zones", params(("zone" = String, Path)),
    responses((status = 200, description = "The zone's state", body = serde_json::Value),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn one(
    _user: AuthUser,
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<Value>, Problem> {
    Ok(Json(zone_json(&state, &origin(&zone)?).await?))
}

#[utoipa::path(get, path = "/api/v1/zones/{zone}/records", operation_id = "list_records", tag = "zones", params(("zone" = String, Path)),
    responses((status = 200, description = "The records with their owning agency and request", body = serde_json::Value),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn records(
    _user: AuthUser,
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Json<Value>, Problem> {
    let origin = origin(&zone)?;
    served(&state, &origin)?;
    let store = &state.readiness.store;
    let rows = store
        .record_rows(Some(&origin.to_ascii()))
        .await
        .map_err(ServiceError::from)?;
    let codes = agency_codes(&state).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.owner, "type": RecordType::from(r.rtype).to_string(), "ttl": r.ttl,
                "value": r.data, "agency": r.agency_id.and_then(|a| codes.get(&a).cloned()),
                "request": r.request_id,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[utoipa::path(get, path = "/api/v1/zones/{zone}/export", operation_id = "export_zone", tag = "zones", params(("zone" = String, Path)),
    responses((status = 200, description = "The zone as an RFC 1035 master file", content_type = "text/dns"),
        (status = 403, description = "admins only", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn export(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(zone): Path<String>,
) -> Result<Response, Problem> {
    if !access::may_manage_zones(&user) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an admin exports zones",
        ));
    }
    let origin = origin(&zone)?;
    let stored = state
        .readiness
        .store
        .load_zone(&origin)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no zone {origin}"),
            )
        })?;
    Ok((
        [(header::CONTENT_TYPE, "text/dns; charset=utf-8")],
        crate::zone::file::export(&stored.content),
    )
        .into_response())
}

async fn agency_codes(state: &AppState) -> Result<BTreeMap<i64, String>, Problem> {
    Ok(state
        .readiness
        .store
        .agencies()
        .await
        .map_err(ServiceError::from)?
        .into_iter()
        .map(|a| (a.id, a.code))
        .collect())
}

fn sees_contacts(user: &Actor, agency: Option<i64>) -> bool {
    access::may_see_contacts(user, agency)
}

/// The register (daftar subdomain): every name below a zone's apex that has records, with its
/// agency, records, the request that made it, purpose and dates.
#[utoipa::path(get, path = "/api/v1/subdomains", operation_id = "list_subdomains", tag = "subdomains",
    responses((status = 200, description = "The register (daftar subdomain)", body = serde_json::Value)),
    security(("bearer" = [])))]
pub(crate) async fn subdomains(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Value>, Problem> {
    let store = &state.readiness.store;
    let rows = store.record_rows(None).await.map_err(ServiceError::from)?;
    let codes = agency_codes(&state).await?;
    // Every request once, rather than one query per name.
    let requests: BTreeMap<i64, crate::store::StoredRequest> = store
        .list_requests(None, None)
        .await
        .map_err(ServiceError::from)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let certificates: BTreeMap<String, crate::store::CertificateRow> = store
        .certificates()
        .await
        .map_err(ServiceError::from)?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let mut by_name: BTreeMap<(String, String), Vec<&crate::store::RecordRow>> = BTreeMap::new();
    for r in &rows {
        if r.owner != r.zone {
            by_name
                .entry((r.zone.clone(), r.owner.clone()))
                .or_default()
                .push(r);
        }
    }
    let mut items = Vec::with_capacity(by_name.len());
    for ((zone, owner), records) in by_name {
        let agency = records.iter().find_map(|r| r.agency_id);
        let suspended = records.iter().any(|r| r.suspension_id.is_some());
        let suspension = if suspended {
            store
                .active_suspension(&zone, &owner)
                .await
                .map_err(ServiceError::from)?
        } else {
            None
        };
        let request_id = records.iter().filter_map(|r| r.request_id).max();
        let request = request_id.and_then(|id| requests.get(&id));
        let contact = request
            .as_ref()
            .filter(|_| sees_contacts(&user, agency))
            .map(|r| r.data.contact.clone());
        items.push(json!({
            "name": owner.trim_end_matches('.'),
            "zone": zone.trim_end_matches('.'),
            "agency": agency.and_then(|a| codes.get(&a).cloned()),
            "records": records.iter().map(|r| json!({
                "type": RecordType::from(r.rtype).to_string(), "ttl": r.ttl, "value": r.data,
            })).collect::<Vec<_>>(),
            "request": request_id,
            "purpose": request.as_ref().map(|r| r.data.purpose.clone()),
            "contact": contact,
            // The name's certificate (state and expiry), or null when it has none.
            "certificate": certificates.get(owner.trim_end_matches('.')).map(|c| json!({
                "status": c.status.as_str(), "serial": c.serial, "not_after": c.not_after,
            })),
            "certificate_requested": request.as_ref().map(|r| r.data.certificate),
            "state": if suspended { "suspended" } else { "active" },
            "suspension": suspension.map(|s| json!({
                "reason": s.reason, "since": s.suspended_at,
            })),
            "created_at": records.iter().map(|r| r.created_at.clone()).min(),
        }));
    }
    Ok(Json(json!({ "items": items })))
}

/// The body of a suspension.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuspendBody {
    /// Why (required).
    reason: Option<String>,
}

fn suspension_json(s: &crate::store::Suspension) -> Value {
    json!({
        "name": s.owner.trim_end_matches('.'), "reason": s.reason, "suspended_at": s.suspended_at,
        "lifted_at": s.lifted_at,
    })
}

#[utoipa::path(post, path = "/api/v1/subdomains/{name}/suspend", operation_id = "suspend_subdomain", tag = "subdomains", params(("name" = String, Path)),
    request_body = SuspendBody,
    responses((status = 200, description = "Suspended: the records left the zone", body = serde_json::Value),
        (status = 403, description = "admins only", body = ProblemDetails),
        (status = 409, description = "suspended already", body = ProblemDetails),
        (status = 422, description = "a reason is required", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn suspend(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SuspendBody>,
) -> Result<Json<Value>, Problem> {
    let s = state
        .subdomains
        .suspend(
            &user,
            &name,
            body.reason.as_deref().unwrap_or(""),
            chrono::Utc::now(),
        )
        .await?;
    Ok(Json(suspension_json(&s)))
}

#[utoipa::path(post, path = "/api/v1/subdomains/{name}/unsuspend", operation_id = "unsuspend_subdomain", tag = "subdomains", params(("name" = String, Path)),
    responses((status = 200, description = "Lifted: the records are back", body = serde_json::Value),
        (status = 409, description = "not suspended", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn unsuspend(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    let s = state
        .subdomains
        .lift(&user, &name, chrono::Utc::now())
        .await?;
    Ok(Json(suspension_json(&s)))
}
