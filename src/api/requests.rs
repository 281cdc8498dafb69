//! `/api/v1/requests`: submit, list, read, act on requests, and their attachments.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::problem::{Problem, ProblemDetails};
use crate::domain::access;
use crate::domain::attachment;
use crate::domain::request::{self, Command};
use crate::service::requests::{Changes, NewRequest, ServiceError, Upload};
use crate::store::StoredRequest;

/// The routes of this resource.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/requests", post(submit).get(list))
        .route("/api/v1/requests/{id}", get(read))
        .route(
            "/api/v1/requests/{id}/attachments",
            post(attach).layer(DefaultBodyLimit::max(attachment::MAX_SIZE + 64 * 1024)),
        )
        .route("/api/v1/requests/{id}/attachments/{kind}", get(download))
        .route("/api/v1/requests/{id}/resubmit", post(resubmit))
        .route("/api/v1/requests/{id}/{action}", post(act))
}

fn parse_id(raw: &str) -> Result<i64, Problem> {
    raw.parse().map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no request {raw}"),
        )
    })
}

/// The request as the API shows it.
async fn view(state: &AppState, stored: &StoredRequest) -> Result<Value, Problem> {
    let store = &state.readiness.store;
    let wf = state.requests.workflow();
    let history = store
        .request_history(stored.id)
        .await
        .map_err(ServiceError::from)?;
    let attachments = store
        .attachments(stored.id)
        .await
        .map_err(ServiceError::from)?;
    let agency = store
        .agency_by_id(stored.state.agency_id)
        .await
        .map_err(ServiceError::from)?
        .map(|a| a.code);
    let step = stored.state.step.and_then(|i| wf.steps.get(i));
    let certificate = if stored.data.certificate {
        store
            .certificate(&stored.data.fqdn())
            .await
            .map_err(ServiceError::from)?
            .filter(|c| c.request_id == Some(stored.id) || c.request_id.is_none())
    } else {
        None
    };
    let certificate_status = match (&certificate, stored.data.certificate) {
        (Some(c), _) => c.status.as_str(),
        (None, true) if !state.certificates.configured() => "not_configured",
        (None, true) => "not_started",
        (None, false) => "not_requested",
    };
    let due = request::due_at(&stored.state, wf, &state.calendar);
    let overdue = request::is_overdue(&stored.state, wf, &state.calendar, Utc::now());
    Ok(json!({
        "id": stored.id,
        "kind": match stored.data.kind {
            request::Kind::Create => "create",
            request::Kind::Change => "change",
            request::Kind::Delete => "delete",
        },
        "zone": stored.data.zone,
        "name": stored.data.name,
        "records": stored.data.records,
        "agency": agency,
        "status": stored.state.status.as_str(),
        "step": step.map(|s| s.id.clone()),
        "step_title": step.map(|s| s.title.clone()),
        "step_role": step.map(|s| s.role.to_string()),
        "due_at": due,
        "overdue": overdue,
        "certificate": stored.data.certificate,
        "certificate_status": certificate_status,
        "certificate_error": certificate.as_ref().and_then(|c| c.last_error.clone()),
        "contact": stored.data.contact,
        "purpose": stored.data.purpose,
        "recommendation_ref": stored.data.recommendation_ref,
        "letter_attached": stored.state.letter_attached,
        "attachments": attachments.iter().map(|a| json!({
            "kind": a.kind, "sha256": a.sha256, "media_type": a.media_type, "size": a.size,
            "uploaded_at": a.uploaded_at,
        })).collect::<Vec<_>>(),
        "history": history.iter().map(|h| json!({
            "seq": h.seq, "at": h.entry.at, "actor": h.actor_name, "action": h.entry.action,
            "step": h.entry.step, "note": h.entry.note, "reason": h.entry.reason,
        })).collect::<Vec<_>>(),
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
    }))
}

#[utoipa::path(post, path = "/api/v1/requests", operation_id = "submit_request", tag = "requests", request_body = NewRequest,
    responses((status = 201, description = "The request, at its first step", body = serde_json::Value),
        (status = 409, description = "`name_taken`", body = ProblemDetails),
        (status = 422, description = "`validation_failed` with field `errors`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn submit(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewRequest>,
) -> Result<Response, Problem> {
    let id = state.requests.submit(&user, input, Utc::now()).await?;
    let stored = state.requests.get(&user, id).await?;
    let body = view(&state, &stored).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/requests/{id}"))],
        Json(body),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    step: Option<String>,
    agency: Option<String>,
    overdue: Option<bool>,
    page: Option<usize>,
    per_page: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/requests", operation_id = "list_requests", tag = "requests",
    params(("status" = Option<String>, Query, description = "in_review, returned, completed, rejected, withdrawn"),
        ("step" = Option<String>, Query, description = "a step id of the workflow"),
        ("agency" = Option<String>, Query, description = "an agency code (office roles)"),
        ("overdue" = Option<bool>, Query), ("page" = Option<usize>, Query), ("per_page" = Option<usize>, Query)),
    responses((status = 200, description = "`items`, `page`, `per_page`, `total`", body = serde_json::Value)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, Problem> {
    let store = &state.readiness.store;
    let wf = state.requests.workflow();
    let agency_filter = match (access::request_scope(&user), &q.agency) {
        (access::Scope::Nothing, _) => {
            return Ok(Json(
                json!({"items": [], "page": 1, "per_page": 0, "total": 0}),
            ));
        }
        (access::Scope::Agency(own), _) => Some(own),
        (access::Scope::All, Some(code)) => {
            match store.agency(code).await.map_err(ServiceError::from)? {
                Some(a) => Some(a.id),
                None => {
                    return Ok(Json(
                        json!({"items": [], "page": 1, "per_page": 0, "total": 0}),
                    ));
                }
            }
        }
        (access::Scope::All, None) => None,
    };
    let step_index = match &q.step {
        Some(id) => match wf.step(id) {
            Some((i, _)) => Some(i),
            None => {
                return Err(Problem::validation(vec![
                    crate::domain::policy::FieldError {
                        field: "step".into(),
                        code: "unknown_step",
                        message: format!("no step `{id}` in workflow {}", wf.name),
                    },
                ]));
            }
        },
        None => None,
    };
    let now = Utc::now();
    let all = store
        .list_requests(q.status.as_deref(), agency_filter)
        .await
        .map_err(ServiceError::from)?;
    let matching: Vec<&StoredRequest> = all
        .iter()
        .filter(|r| step_index.is_none() || r.state.step == step_index)
        .filter(|r| {
            q.overdue
                .is_none_or(|o| request::is_overdue(&r.state, wf, &state.calendar, now) == o)
        })
        .collect();
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let page = q.page.unwrap_or(1).max(1);
    let mut items = Vec::new();
    for r in matching.iter().skip((page - 1) * per_page).take(per_page) {
        items.push(view(&state, r).await?);
    }
    Ok(Json(
        json!({"items": items, "page": page, "per_page": per_page, "total": matching.len()}),
    ))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", operation_id = "get_request", tag = "requests",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The request with its history, due time and overdue flag", body = serde_json::Value),
        (status = 404, description = "No such request, or another agency's", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn read(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let stored = state.requests.get(&user, parse_id(&id)?).await?;
    Ok(Json(view(&state, &stored).await?))
}

/// The body of approve, return and reject.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    /// A note (required for return and reject).
    note: Option<String>,
    /// A reason code (required for return and reject).
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/{action}", operation_id = "act_on_request", tag = "requests",
    params(("id" = i64, Path), ("action" = String, Path, description = "approve, return, reject or withdraw")),
    request_body(content = ActionBody, description = "approve: optional `note`; return and reject: `note` and `reason`; withdraw: none"),
    responses((status = 200, description = "The request after the action", body = serde_json::Value),
        (status = 403, description = "`not_your_step`, `own_request`, `forbidden`", body = ProblemDetails),
        (status = 409, description = "`invalid_state`, `letter_required`, `conflict`, `name_taken`", body = ProblemDetails),
        (status = 422, description = "`validation_failed`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn act(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    JsonBody(b): JsonBody<ActionBody>,
) -> Result<Json<Value>, Problem> {
    let id = parse_id(&id)?;
    let command = match action.as_str() {
        "approve" => Command::Approve { note: b.note },
        "return" | "reject" => {
            let note = b.note.unwrap_or_default();
            let reason = b.reason.unwrap_or_default();
            if action == "return" {
                Command::Return { note, reason }
            } else {
                Command::Reject { note, reason }
            }
        }
        "withdraw" => Command::Withdraw,
        other => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no action `{other}`"),
            ));
        }
    };
    state.requests.act(&user, id, command, Utc::now()).await?;
    let stored = state.requests.get(&user, id).await?;
    Ok(Json(view(&state, &stored).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/resubmit", operation_id = "resubmit_request", tag = "requests",
    params(("id" = i64, Path)),
    request_body(content = Changes, description = "optional changed `records`, `contact`, `purpose`, `recommendation_ref`; an empty body resubmits unchanged"),
    responses((status = 200, description = "The request, back at the step that returned it", body = serde_json::Value),
        (status = 403, description = "`forbidden`: not the requesting agency", body = ProblemDetails),
        (status = 409, description = "`invalid_state`: not returned", body = ProblemDetails),
        (status = 422, description = "`validation_failed`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn resubmit(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(changes): JsonBody<Changes>,
) -> Result<Json<Value>, Problem> {
    let id = parse_id(&id)?;
    state
        .requests
        .resubmit(&user, id, changes, Utc::now())
        .await?;
    let stored = state.requests.get(&user, id).await?;
    Ok(Json(view(&state, &stored).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/attachments", operation_id = "attach_files", tag = "requests",
    params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "fields `letter` and/or `recommendation`: PDF, PNG or JPEG, at most 10 MiB"),
    responses((status = 200, description = "The request with its attachments", body = serde_json::Value),
        (status = 413, description = "`too_large`", body = ProblemDetails),
        (status = 415, description = "`unsupported_media_type`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn attach(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Json<Value>, Problem> {
    let id = parse_id(&id)?;
    let bad = |m: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_upload", m);
    let mut uploads = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.to_string()))?
    {
        let kind = field
            .name()
            .and_then(attachment::Kind::parse)
            .ok_or_else(|| {
                bad(format!(
                    "unknown field {:?}: use `letter` or `recommendation`",
                    field.name()
                ))
            })?;
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "attachments are limited to 10 MiB",
                )
            } else {
                bad(e.to_string())
            }
        })?;
        uploads.push(Upload { kind, bytes });
    }
    if uploads.is_empty() {
        return Err(bad(
            "no file: send a multipart form with `letter` or `recommendation`".into(),
        ));
    }
    state
        .requests
        .attach(&user, id, uploads, Utc::now())
        .await?;
    let stored = state.requests.get(&user, id).await?;
    Ok(Json(view(&state, &stored).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/attachments/{kind}", operation_id = "download_attachment", tag = "requests",
    params(("id" = i64, Path), ("kind" = String, Path, description = "letter, recommendation or response_letter")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn download(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let (media_type, bytes) = state
        .requests
        .attachment(&user, parse_id(&id)?, &kind)
        .await?;
    Ok(([(header::CONTENT_TYPE, media_type)], bytes).into_response())
}

impl From<ServiceError> for Response {
    fn from(e: ServiceError) -> Self {
        Problem::from(e).into_response()
    }
}
