//! The monthly service report over HTTP: JSON, or CSV with `Accept: text/csv`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::auth::AuthUser;
use super::problem::{Problem, ProblemDetails};
use crate::service::reports;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/reports/service", get(service))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    month: String,
}

#[utoipa::path(get, path = "/api/v1/reports/service", operation_id = "service_report", tag = "reports",
    params(("month" = String, Query, description = "YYYY-MM, in the calendar's time zone")),
    responses((status = 200, description = "Per step and in total: count, median and p90 working minutes, share within standard; returns and rejections by reason; the audit head at the month's end. CSV with `Accept: text/csv`.", body = serde_json::Value),
        (status = 403, description = "office roles and auditors only", body = ProblemDetails),
        (status = 422, description = "`validation_failed`: month is not YYYY-MM", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn service(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Result<Response, Problem> {
    if !crate::domain::access::may_read_reports(&user) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the service report is for the office and auditors",
        ));
    }
    let report = reports::monthly(
        &state.readiness.store,
        state.requests.workflow(),
        &state.calendar,
        &q.month,
        state.signer.as_deref(),
    )
    .await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            reports::to_csv(&report),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
