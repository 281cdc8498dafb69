//! `/api/v1/requests`: submit, list, read, act on requests, and their attachments.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::problem::{Problem, ProblemDetails};
use super::time::Timestamp;
use crate::domain::access::Actor;
use crate::domain::attachment;
use crate::domain::request::{self, Command};
use crate::service::ServiceError;
use crate::service::requests::{
    Changes, Contact, IntegrationWrite, ListQuery, NewRequest, RecordInput, RequestView, Upload,
};

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
    number(raw, "request")
}

/// The number of a `what` in a path: one that is no number names nothing (404).
pub(super) fn number(raw: &str, what: &str) -> Result<i64, Problem> {
    raw.parse().map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} {raw}"),
        )
    })
}

/// A requested record, as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordBody {
    /// `A`, `AAAA`, `CNAME`, `TXT`, `MX`, `NS` or `DS`; in a request opened through the
    /// Cloudflare-compatible API, also the other types the name holds (`CAA`, `SRV`, …).
    #[serde(rename = "type")]
    pub rtype: String,
    /// The value.
    pub value: String,
    /// TTL in seconds.
    pub ttl: u32,
}

/// A file attached to a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttachmentBody {
    /// `letter`, `recommendation`, `response_letter`, or a document a step made (its
    /// template's name: `handover_minutes`, `confirmation_letter`, …).
    pub kind: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// `application/pdf`, `image/png` or `image/jpeg`.
    pub media_type: String,
    /// Bytes.
    pub size: i64,
    /// When.
    pub uploaded_at: Timestamp,
}

/// One entry of a request's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryBody {
    /// 1, 2, 3, …
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// The user who acted; null for ranah itself.
    pub actor: Option<String>,
    /// `submitted`, `approved`, `returned`, `rejected`, `resubmitted`, `withdrawn`,
    /// `response_due`.
    pub action: String,
    /// The step acted on.
    pub step: Option<String>,
    /// The note.
    pub note: Option<String>,
    /// The reason code (return, reject).
    pub reason: Option<String>,
}

/// How a request letter arrived and what it states.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LetterBody {
    /// `paper`, `srikandi`, `email` or `web`.
    pub channel: String,
    /// Its number, as it states it.
    pub number: Option<String>,
    /// Its date (`YYYY-MM-DD`), as it states it.
    pub date: Option<String>,
}

impl LetterBody {
    /// The letter as recorded.
    pub fn of(l: &crate::domain::letter::IncomingLetter) -> Self {
        Self {
            channel: l.channel.as_str().into(),
            number: l.number.clone(),
            date: l.date.map(|d| d.to_string()),
        }
    }
}

/// The write a request opened through the Cloudflare-compatible API keeps: approving its
/// provisioning step makes it on the name's records as they are then.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WriteBody {
    /// The record it removes (a change or deletion by id).
    pub remove: Option<RecordBody>,
    /// The record it adds (a creation or change).
    pub add: Option<RecordBody>,
}

/// A subdomain request with its history, due time and certificate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestBody {
    /// The request's number.
    pub id: i64,
    /// `create`, `change` or `delete`.
    pub kind: String,
    /// The zone, without the trailing dot.
    pub zone: String,
    /// The label under the zone.
    pub name: String,
    /// The requested records.
    pub records: Vec<RecordBody>,
    /// The requesting agency's code.
    pub agency: Option<String>,
    /// `in_review`, `returned`, `completed`, `rejected` or `withdrawn`.
    pub status: String,
    /// The current step's id (null when finished).
    pub step: Option<String>,
    /// The current step's title, in Bahasa Indonesia.
    pub step_title: Option<String>,
    /// The role that acts at the current step.
    pub step_role: Option<String>,
    /// When the current step is due (null unless in review).
    pub due_at: Option<Timestamp>,
    /// Whether the current step is past its due time.
    pub overdue: bool,
    /// When the whole service is due: the workflow's whole-service standard from submission,
    /// the clock stopped while the request was returned.
    pub service_due_at: Option<Timestamp>,
    /// Whether the whole service is past that (measured now while in review, at the return
    /// while returned, at completion once completed).
    pub service_overdue: bool,
    /// Whether a certificate was asked for.
    pub certificate: bool,
    /// `not_requested`, `not_configured`, `not_started`, `pending`, `issued`, `failed`,
    /// `revoking` or `revoked`.
    pub certificate_status: String,
    /// Why the last certificate attempt failed, if it did.
    pub certificate_error: Option<String>,
    /// The contact person.
    pub contact: Contact,
    /// What the subdomain is for.
    pub purpose: String,
    /// The recommendation's reference.
    pub recommendation_ref: Option<String>,
    /// How the request letter arrived and the number and date it states, as the front office
    /// recorded them; null when not said.
    pub letter: Option<LetterBody>,
    /// Whether the signed request letter is attached.
    pub letter_attached: bool,
    /// The attached files.
    pub attachments: Vec<AttachmentBody>,
    /// What happened, oldest first.
    pub history: Vec<HistoryBody>,
    /// Submitted.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// For a request opened through the Cloudflare-compatible API: the write it keeps, which
    /// approval makes on the name as it is then (`records` shows the set the name was to
    /// have when the request was opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteBody>,
    /// What the reviewers are warned of: `address_outside_ranges` for an address outside the
    /// ranges the zone's names are hosted in, where the office reviews those rather than
    /// refusing them.
    pub warnings: Vec<super::problem::FieldProblem>,
}

impl RequestBody {
    fn of(v: RequestView) -> Result<Self, Problem> {
        let r = v.request;
        let corrupt = |what: &str, e: serde_json::Error| {
            Problem::from(ServiceError::internal(
                format!("stored {what} of request {}", r.id),
                e,
            ))
        };
        let records: Vec<RecordInput> =
            serde_json::from_value(r.data.records.clone()).map_err(|e| corrupt("records", e))?;
        let contact: Contact =
            serde_json::from_value(r.data.contact.clone()).map_err(|e| corrupt("contact", e))?;
        let body = |x: RecordInput| RecordBody {
            rtype: x.rtype,
            value: x.value,
            ttl: x.ttl,
        };
        let write = IntegrationWrite::of(&r.data)?.map(|(remove, add)| WriteBody {
            remove: remove.map(body),
            add: add.map(body),
        });
        Ok(Self {
            id: r.id,
            kind: match r.data.kind {
                request::Kind::Create => "create",
                request::Kind::Change => "change",
                request::Kind::Delete => "delete",
            }
            .into(),
            zone: r.data.zone,
            name: r.data.name,
            records: records.into_iter().map(body).collect(),
            agency: r.agency,
            status: r.state.status.as_str().into(),
            step: v.step.as_ref().map(|s| s.id.clone()),
            step_title: v.step.as_ref().map(|s| s.title.clone()),
            step_role: v.step.as_ref().map(|s| s.role.to_string()),
            due_at: v.due_at.map(Timestamp),
            overdue: v.overdue,
            service_due_at: v.service_due_at.map(Timestamp::from),
            service_overdue: v.service_overdue,
            certificate: r.data.certificate,
            certificate_status: v.certificate_status.into(),
            certificate_error: v.certificate.and_then(|c| c.last_error),
            contact,
            purpose: r.data.purpose,
            recommendation_ref: r.data.recommendation_ref,
            letter: r.data.letter.as_ref().map(LetterBody::of),
            letter_attached: r.state.letter_attached,
            attachments: v
                .attachments
                .into_iter()
                .map(|a| {
                    Ok(AttachmentBody {
                        uploaded_at: Timestamp::stored(&a.uploaded_at, "attachment time")?,
                        kind: a.kind,
                        sha256: a.sha256,
                        media_type: a.media_type,
                        size: a.size,
                    })
                })
                .collect::<Result<_, Problem>>()?,
            history: v
                .history
                .into_iter()
                .map(|h| HistoryBody {
                    seq: h.seq,
                    at: Timestamp(h.entry.at),
                    actor: h.actor_name,
                    action: h.entry.action,
                    step: h.entry.step,
                    note: h.entry.note,
                    reason: h.entry.reason,
                })
                .collect(),
            created_at: Timestamp::stored(&r.created_at, "request time")?,
            updated_at: Timestamp::stored(&r.updated_at, "request time")?,
            write,
            warnings: v
                .warnings
                .into_iter()
                .map(|w| super::problem::FieldProblem {
                    field: w.field,
                    code: w.code.into(),
                    message: w.message,
                })
                .collect(),
        })
    }
}

/// One page of requests.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestPage {
    /// The requests on this page, newest first.
    pub items: Vec<RequestBody>,
    /// The page, from 1.
    pub page: u32,
    /// Requests per page.
    pub per_page: u32,
    /// Requests on all pages.
    pub total: u64,
}

/// The request `id` as the caller sees it, as a response body.
async fn shown(state: &AppState, user: &Actor, id: i64) -> Result<RequestBody, Problem> {
    RequestBody::of(state.requests.view(user, id, Utc::now()).await?)
}

#[utoipa::path(post, path = "/api/v1/requests", operation_id = "submit_request", tag = "requests", request_body = NewRequest,
    responses((status = 201, description = "The request, at its first step", body = RequestBody),
        (status = 403, description = "`not_your_agency`: an applicant named an agency other than its own", body = ProblemDetails),
        (status = 409, description = "`name_taken`; `zone_rule`: the records would break a rule of the zone (an MX naming an alias, a CNAME beside other data), as the approval would find", body = ProblemDetails),
        (status = 422, description = "`validation_failed` with field `errors` (codes such as `invalid_label`, `invalid_host`, `control_character`, `rrset_too_large`, `answer_too_large`)", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn submit(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewRequest>,
) -> Result<Response, Problem> {
    let id = state.requests.submit(&user, input, Utc::now()).await?;
    let body = shown(&state, &user, id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/requests/{id}"))],
        Json(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/requests", operation_id = "list_requests", tag = "requests",
    params(("status" = Option<String>, Query, description = "in_review, returned, completed, rejected, withdrawn"),
        ("step" = Option<String>, Query, description = "a step id of the workflow"),
        ("agency" = Option<String>, Query, description = "an agency code (office roles and auditors)"),
        ("overdue" = Option<bool>, Query, description = "only requests past (true) or within (false) their step's due time"),
        ("page" = Option<u32>, Query, minimum = 1, maximum = 2147483647, description = "from 1"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 200, description = "default 50, at most 200")),
    responses((status = 200, description = "One page of the requests the caller may see, newest first", body = RequestPage),
        (status = 400, description = "`invalid_query`: a page or page size out of range; `bad_request`: a query parameter that cannot be read", body = ProblemDetails),
        (status = 403, description = "`not_your_agency`: an applicant filtered by an agency other than its own", body = ProblemDetails),
        (status = 422, description = "`validation_failed`: an unknown status or step, or a control character in a parameter", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<RequestPage>, Problem> {
    let page = state.requests.list(&user, &q, Utc::now()).await?;
    Ok(Json(RequestPage {
        items: page
            .items
            .into_iter()
            .map(RequestBody::of)
            .collect::<Result<_, _>>()?,
        page: page.page,
        per_page: page.per_page,
        total: page.total,
    }))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", operation_id = "get_request", tag = "requests",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The request with its history, due time and overdue flag", body = RequestBody),
        (status = 404, description = "No such request, or another agency's", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn read(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RequestBody>, Problem> {
    Ok(Json(shown(&state, &user, parse_id(&id)?).await?))
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
    responses((status = 200, description = "The request after the action", body = RequestBody),
        (status = 403, description = "`not_your_step`, `own_request`, `forbidden`", body = ProblemDetails),
        (status = 409, description = "`invalid_state`, `letter_required`, `conflict`, `name_taken`", body = ProblemDetails),
        (status = 422, description = "`validation_failed`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn act(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    JsonBody(b): JsonBody<ActionBody>,
) -> Result<Json<RequestBody>, Problem> {
    let id = parse_id(&id)?;
    let command = command(&action, b)?;
    state.requests.act(&user, id, command, Utc::now()).await?;
    Ok(Json(shown(&state, &user, id).await?))
}

/// The command an action and its body ask for.
pub(crate) fn command(action: &str, b: ActionBody) -> Result<Command, Problem> {
    Ok(match action {
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
    })
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/resubmit", operation_id = "resubmit_request", tag = "requests",
    params(("id" = i64, Path)),
    request_body(content = Changes, description = "optional changed `records`, `contact`, `purpose`, `recommendation_ref`; an empty body resubmits unchanged"),
    responses((status = 200, description = "The request, back at the step that returned it", body = RequestBody),
        (status = 403, description = "`forbidden`: not the requesting agency", body = ProblemDetails),
        (status = 409, description = "`invalid_state`: not returned; `zone_rule`: the changed records would break a rule of the zone", body = ProblemDetails),
        (status = 422, description = "`validation_failed`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn resubmit(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(changes): JsonBody<Changes>,
) -> Result<Json<RequestBody>, Problem> {
    let id = parse_id(&id)?;
    state
        .requests
        .resubmit(&user, id, changes, Utc::now())
        .await?;
    Ok(Json(shown(&state, &user, id).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/attachments", operation_id = "attach_files", tag = "requests",
    params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "fields `letter` and/or `recommendation`: PDF, PNG or JPEG, at most 10 MiB"),
    responses((status = 200, description = "The request with its attachments", body = RequestBody),
        (status = 409, description = "`too_many_attachments`: the request would hold more files than `attachments.max_per_request`; `invalid_state`: the request is finished", body = ProblemDetails),
        (status = 413, description = "`too_large`", body = ProblemDetails),
        (status = 415, description = "`unsupported_media_type`: not a PDF, PNG or JPEG file as a whole (a PDF that does not parse, an image that does not decode, something appended)", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn attach(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Json<RequestBody>, Problem> {
    let id = parse_id(&id)?;
    let bad = |m: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_upload", m);
    let mut uploads = Vec::new();
    let limit = state.requests.attachment_limit();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.to_string()))?
    {
        // The upload is refused whole. The rest of the body is read and thrown away first
        // (the route's body limit bounds it): answering while the client still sends makes
        // the connection close with unread data, and a reset can cost the client the answer.
        if uploads.len() == limit {
            drop(field);
            while let Ok(Some(mut rest)) = multipart.next_field().await {
                while let Ok(Some(_)) = rest.chunk().await {}
            }
            return Err(ServiceError::TooManyAttachments(format!(
                "an upload has at most {limit} files (attachments.max_per_request)"
            ))
            .into());
        }
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
    Ok(Json(shown(&state, &user, id).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/attachments/{kind}", operation_id = "download_attachment", tag = "requests",
    params(("id" = i64, Path), ("kind" = String, Path, description = "letter, recommendation, response_letter, or a document a step made (handover_minutes, confirmation_letter, …): its latest version")),
    responses((status = 200, description = "The file, as the type it was recognised as when it was attached, to save (`Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`)",
            content(("application/pdf"), ("image/png"), ("image/jpeg")),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"request-ID-KIND.EXT\"`"))),
        (status = 404, description = "`not_found`", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn download(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = parse_id(&id)?;
    let (media_type, bytes) = state.requests.attachment(&user, id, &kind).await?;
    // Saved, never shown in the browser: a file is the applicant's, not ours to render. The
    // name is ours (the kind was found among the request's files, so it is a known word).
    let extension = match media_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "bin",
    };
    let kind: String = kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"request-{id}-{kind}.{extension}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

impl From<ServiceError> for Response {
    fn from(e: ServiceError) -> Self {
        Problem::from(e).into_response()
    }
}
