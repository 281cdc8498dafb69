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
use super::problem::{Problem, ProblemDetails};
use crate::acme::x509;
use crate::domain::access;
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::certificate::{KeyMode, normal_name as normal};
use crate::domain::policy::FieldError;
use crate::service::requests::ServiceError;
use crate::store::{CertificateRow, NewCertificate, StoreError};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/certificates", get(list).post(order))
        .route("/api/v1/certificates/{name}", get(one))
        .route("/api/v1/certificates/{name}/chain.pem", get(chain))
        .route("/api/v1/certificates/{name}/key.pem", get(key))
}

fn not_found(name: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no certificate for {name}"),
    )
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

async fn load(state: &AppState, name: &str) -> Result<CertificateRow, Problem> {
    let name = normal(name);
    state
        .readiness
        .store
        .certificate(&name)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| not_found(&name))
}

#[utoipa::path(get, path = "/api/v1/certificates", operation_id = "list_certificates", tag = "certificates",
    responses((status = 200, description = "`items`: every certificate with its state and expiry", body = serde_json::Value)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(_user): AuthUser,
    State(state): State<AppState>,
) -> Result<Json<Value>, Problem> {
    let rows = state
        .readiness
        .store
        .certificates()
        .await
        .map_err(ServiceError::from)?;
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
    Ok(Json(certificate_json(&load(&state, &name).await?)))
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
    let row = load(&state, &name).await?;
    let chain = row.chain_pem.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_issued",
            format!("the certificate for {} is not issued yet", row.name),
        )
    })?;
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
    let row = load(&state, &name).await?;
    if !access::may_download_key(&user, row.agency_id) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "only the agency that owns {} may download its key",
                row.name
            ),
        ));
    }
    let certificates = state.certificates.as_ref().ok_or_else(acme_off)?;
    let pem = certificates
        .private_key_pem(&row)
        .map_err(|e| {
            tracing::error!(name = %row.name, error = %e, "cannot open a stored key");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            )
        })?
        .ok_or_else(|| {
            let why = match row.mode {
                KeyMode::Csr => "was made from the agency's CSR: its key never left the agency",
                KeyMode::Managed => "has no key yet (its first order has not started)",
            };
            Problem::new(
                StatusCode::NOT_FOUND,
                "no_managed_key",
                format!("the certificate for {} {why}", row.name),
            )
        })?;
    state
        .readiness
        .store
        .audit(
            &AuditEntry::by(
                &Attribution::of(&user),
                "certificate.key_download",
                format!("certificate/{}", row.name),
                json!({"serial": row.serial}),
            ),
            chrono::Utc::now(),
        )
        .await
        .map_err(ServiceError::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        pem,
    )
        .into_response())
}

fn acme_off() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "certificates_off",
        "certificates are not issued here: no ACME directory is configured ([acme] directory)",
    )
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
    bytes: axum::body::Bytes,
) -> Result<Response, Problem> {
    let body: OrderBody = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid: {e}"),
        )
    })?;
    let certificates = state.certificates.as_ref().ok_or_else(acme_off)?;
    let name = normal(&body.name);
    let field = |code: &'static str, field: &str, message: String| {
        Problem::validation(vec![FieldError {
            field: field.into(),
            code,
            message,
        }])
    };
    let zones = state.requests.publisher().zones();
    let lower = hickory_proto::rr::Name::from_ascii(format!("{name}."))
        .map(|n| hickory_proto::rr::LowerName::new(&n))
        .map_err(|e| field("invalid_name", "name", format!("{name}: {e}")))?;
    let zone = zones
        .find(&lower)
        .map(|h| h.view().origin().to_ascii().to_ascii_lowercase())
        .ok_or_else(|| {
            field(
                "no_such_zone",
                "name",
                format!("{name} is in no zone served here"),
            )
        })?;
    let owners = state
        .readiness
        .store
        .owners_of(&zone, &format!("{name}."))
        .await
        .map_err(ServiceError::from)?;
    if owners.is_empty() || format!("{name}.") == zone {
        return Err(field(
            "no_such_name",
            "name",
            format!("{name} has no records here: a certificate is for an existing subdomain"),
        ));
    }
    let agency = owners.iter().find_map(|o| *o);
    if !access::may_order_certificate(&user, agency) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("only the agency that owns {name} or an admin may order its certificate"),
        ));
    }
    let (mode, csr) = match &body.csr {
        Some(pem_text) => (
            KeyMode::Csr,
            Some(
                x509::check_csr(pem_text, &name)
                    .map_err(|e| field("invalid_csr", "csr", e.to_string()))?,
            ),
        ),
        None => (KeyMode::Managed, None),
    };
    let audit = AuditEntry::by(
        &Attribution::of(&user),
        "certificate.order",
        format!("certificate/{name}"),
        json!({"mode": mode.as_str()}),
    );
    let new = NewCertificate {
        name: name.clone(),
        zone,
        agency_id: agency,
        request_id: None,
        mode,
        csr,
    };
    match state
        .readiness
        .store
        .order_certificate(&new, &audit, chrono::Utc::now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(what)) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "order_in_flight",
                format!("{what} is in flight already"),
            ));
        }
        Err(e) => return Err(ServiceError::from(e).into()),
    }
    certificates.waker().notify_one();
    let row = load(&state, &name).await?;
    Ok((StatusCode::ACCEPTED, Json(certificate_json(&row))).into_response())
}
