//! Certificates over HTTP: the list and each certificate (public facts, as in CT logs), its
//! chain, the managed key for the owning agency (each download audited), and orders.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::problem::{Problem, ProblemDetails};
use crate::service::certificates::CertificateRow;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/certificates", get(list).post(order))
        .route("/api/v1/certificates/{name}", get(one))
        .route("/api/v1/certificates/{name}/chain.pem", get(chain))
        .route("/api/v1/certificates/{name}/key.pem", get(key))
}

/// The JSON of a certificate.
pub(crate) fn certificate_json(c: &CertificateRow) -> Value {
    json!({
        "name": c.name,
        "zone": c.zone.trim_end_matches('.'),
        "status": c.status.as_str(),
        "mode": c.mode.as_str(),
        "request": c.request_id,
        "serial": c.serial,
        "not_before": c.not_before,
        "not_after": c.not_after,
        "issuer": c.issuer,
        "issued_at": c.issued_at,
        "renew_at": c.renew_at,
        "attempts": c.attempts,
        "next_attempt_at": c.next_attempt_at,
        "last_error": c.last_error,
        "revoked_at": c.revoked_at,
        "chain": c.chain_pem.as_ref().map(|_| format!("/api/v1/certificates/{}/chain.pem", c.name)),
    })
}

#[utoipa::path(get, path = "/api/v1/certificates", operation_id = "list_certificates", tag = "certificates",
    responses((status = 200, description = "`items`: every certificate with its state and expiry", body = serde_json::Value)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Value>, Problem> {
    let rows = state.certificates.list().await?;
    Ok(Json(
        json!({ "items": rows.iter().map(certificate_json).collect::<Vec<_>>() }),
    ))
}

#[utoipa::path(get, path = "/api/v1/certificates/{name}", operation_id = "get_certificate", tag = "certificates",
    params(("name" = String, Path, description = "the fully qualified name")),
    responses((status = 200, description = "status, serial, not_before, not_after, issuer, last_error", body = serde_json::Value),
        (status = 404, description = "no certificate for that name", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn one(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    Ok(Json(certificate_json(
        &state.certificates.get(&name).await?,
    )))
}

#[utoipa::path(get, path = "/api/v1/certificates/{name}/chain.pem", operation_id = "get_certificate_chain", tag = "certificates",
    params(("name" = String, Path, description = "the fully qualified name")),
    responses((status = 200, description = "the chain, leaf first (application/pem-certificate-chain)", body = String),
        (status = 404, description = "no certificate issued for that name", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn chain(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let chain = state.certificates.chain(&name).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        chain,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/certificates/{name}/key.pem", operation_id = "get_certificate_key", tag = "certificates",
    params(("name" = String, Path, description = "the fully qualified name")),
    responses((status = 200, description = "the managed private key, PKCS#8 PEM; the download is audited", body = String),
        (status = 403, description = "only the owning agency", body = ProblemDetails),
        (status = 404, description = "no managed key (CSR mode, or not made yet)", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn key(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let pem = state
        .certificates
        .key(&user, &name, chrono::Utc::now())
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        pem,
    )
        .into_response())
}

/// The body of an order.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderBody {
    /// The fully qualified name (it must exist, owned by the caller's agency).
    name: String,
    /// A PEM CSR naming only that name; without it ranah makes and keeps the key.
    #[serde(default)]
    csr: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/certificates", operation_id = "order_certificate", tag = "certificates",
    request_body = OrderBody,
    responses((status = 202, description = "Ordered: the certificate is `pending`; issuance runs in the background", body = serde_json::Value),
        (status = 403, description = "neither the owning agency nor an admin", body = ProblemDetails),
        (status = 409, description = "an order is in flight already, or ACME is not configured", body = ProblemDetails),
        (status = 422, description = "no such name, or the CSR names something else", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn order(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OrderBody>,
) -> Result<Response, Problem> {
    let row = state
        .certificates
        .order(&user, &body.name, body.csr.as_deref(), chrono::Utc::now())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(certificate_json(&row))).into_response())
}
