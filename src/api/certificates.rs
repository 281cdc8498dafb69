//! Certificates over HTTP: the list and each certificate (public facts, as in CT logs), its
//! chain, the managed key for the owning agency (each download audited), and orders.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::problem::{Problem, ProblemDetails};
use super::time::Timestamp;
use crate::service::certificates::CertificateRow;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/certificates", get(list).post(order))
        .route("/api/v1/certificates/{name}", get(one))
        .route("/api/v1/certificates/{name}/chain.pem", get(chain))
        .route("/api/v1/certificates/{name}/key.pem", get(key))
}

/// The media type of a chain, as ACME serves one (RFC 8555 §9.1); the document and the answer
/// both use this constant.
const CHAIN_MEDIA_TYPE: &str = "application/pem-certificate-chain";

/// The media type of a managed key (PKCS#8 PEM).
const KEY_MEDIA_TYPE: &str = "application/x-pem-file";

/// A certificate: public facts, as in Certificate Transparency logs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertificateBody {
    /// The fully qualified name, without the trailing dot.
    pub name: String,
    /// Its zone.
    pub zone: String,
    /// `pending`, `issued`, `failed`, `revoking` or `revoked`.
    pub status: String,
    /// `managed` (ranah keeps the key) or `csr` (the agency's own key).
    pub mode: String,
    /// The request that asked for it.
    pub request: Option<i64>,
    /// The current chain's serial, hex.
    pub serial: Option<String>,
    /// Valid from.
    pub not_before: Option<Timestamp>,
    /// Valid until.
    pub not_after: Option<Timestamp>,
    /// The issuer's name.
    pub issuer: Option<String>,
    /// When the current chain was stored.
    pub issued_at: Option<Timestamp>,
    /// When it is renewed.
    pub renew_at: Option<Timestamp>,
    /// Attempts of the current order or revocation.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<Timestamp>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// Where the chain is, once issued.
    pub chain: Option<String>,
}

impl CertificateBody {
    fn of(c: &CertificateRow) -> Result<Self, Problem> {
        let at = |t: &Option<String>| Timestamp::stored_opt(t.as_deref(), "certificate time");
        Ok(Self {
            name: c.name.clone(),
            zone: c.zone.trim_end_matches('.').to_owned(),
            status: c.status.as_str().into(),
            mode: c.mode.as_str().into(),
            request: c.request_id,
            serial: c.serial.clone(),
            not_before: at(&c.not_before)?,
            not_after: at(&c.not_after)?,
            issuer: c.issuer.clone(),
            issued_at: at(&c.issued_at)?,
            renew_at: at(&c.renew_at)?,
            attempts: c.attempts,
            next_attempt_at: at(&c.next_attempt_at)?,
            last_error: c.last_error.clone(),
            revoked_at: at(&c.revoked_at)?,
            chain: c
                .chain_pem
                .as_ref()
                .map(|_| format!("/api/v1/certificates/{}/chain.pem", c.name)),
        })
    }
}

/// Every certificate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertificateList {
    /// The certificates, by name.
    pub items: Vec<CertificateBody>,
}

#[utoipa::path(get, path = "/api/v1/certificates", operation_id = "list_certificates", tag = "certificates",
    responses((status = 200, description = "Every certificate with its state and expiry", body = CertificateList)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<CertificateList>, Problem> {
    let rows = state.certificates.list().await?;
    Ok(Json(CertificateList {
        items: rows
            .iter()
            .map(CertificateBody::of)
            .collect::<Result<_, _>>()?,
    }))
}

#[utoipa::path(get, path = "/api/v1/certificates/{name}", operation_id = "get_certificate", tag = "certificates",
    params(("name" = String, Path, description = "the fully qualified name")),
    responses((status = 200, description = "status, serial, not_before, not_after, issuer, last_error", body = CertificateBody),
        (status = 404, description = "no certificate for that name", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn one(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CertificateBody>, Problem> {
    Ok(Json(CertificateBody::of(
        &state.certificates.get(&name).await?,
    )?))
}

#[utoipa::path(get, path = "/api/v1/certificates/{name}/chain.pem", operation_id = "get_certificate_chain", tag = "certificates",
    params(("name" = String, Path, description = "the fully qualified name")),
    responses((status = 200, description = "the chain, leaf first, as PEM (RFC 8555 §9.1)", content_type = CHAIN_MEDIA_TYPE, body = String),
        (status = 404, description = "no certificate issued for that name", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn chain(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let chain = state.certificates.chain(&name).await?;
    Ok(([(header::CONTENT_TYPE, CHAIN_MEDIA_TYPE)], chain).into_response())
}

#[utoipa::path(get, path = "/api/v1/certificates/{name}/key.pem", operation_id = "get_certificate_key", tag = "certificates",
    params(("name" = String, Path, description = "the fully qualified name")),
    responses((status = 200, description = "the managed private key, PKCS#8 PEM; the download is audited", content_type = KEY_MEDIA_TYPE, body = String),
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
            (header::CONTENT_TYPE, KEY_MEDIA_TYPE),
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
    pub(crate) name: String,
    /// A PEM CSR naming only that name; without it ranah makes and keeps the key.
    #[serde(default)]
    pub(crate) csr: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/certificates", operation_id = "order_certificate", tag = "certificates",
    request_body = OrderBody,
    responses((status = 202, description = "Ordered: the certificate is `pending`; issuance runs in the background", body = CertificateBody),
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
    Ok((StatusCode::ACCEPTED, Json(CertificateBody::of(&row)?)).into_response())
}
