//! `/api/v1/complaints`: complaints (pengaduan) from accounts and from the public (with a proof
//! of work), and their handling by the office.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AuthUser;
use super::body::JsonBody;
use super::client::ClientAddr;
use super::problem::{Problem, ProblemDetails};
use super::requests::number;
use super::time::Timestamp;
use crate::domain::complaint::Submission;
use crate::service::complaints::{ComplaintQuery, ComplaintView, Proof};
use crate::service::requests::Contact;

/// The routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/complaints", post(submit).get(list))
        .route("/api/v1/complaints/challenge", get(challenge))
        .route("/api/v1/complaints/{id}", get(read))
        .route("/api/v1/complaints/{id}/assign", post(assign))
        .route("/api/v1/complaints/{id}/answer", post(answer))
        .route("/api/v1/complaints/{id}/close", post(close))
}

/// A challenge for the proof of work.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChallengeBody {
    /// The challenge: send it back as `proof.challenge`.
    pub challenge: String,
    /// Always `sha256`.
    pub algorithm: &'static str,
    /// Find a `nonce` (1 to 32 letters, digits, `-`, `_`) such that SHA-256 of
    /// `challenge + ":" + nonce` begins with this many zero bits.
    pub bits: u32,
    /// Until when the challenge is accepted.
    pub expires_at: Timestamp,
}

#[utoipa::path(get, path = "/api/v1/complaints/challenge", operation_id = "complaint_challenge", tag = "complaints",
    responses((status = 200, description = "A challenge for a complaint without an account", body = ChallengeBody),
        (status = 403, description = "the office takes complaints from signed-in users only", body = ProblemDetails)))]
pub(crate) async fn challenge(State(state): State<AppState>) -> Result<Response, Problem> {
    let c = state.complaints.challenge(Utc::now())?;
    let body = ChallengeBody {
        challenge: c.challenge,
        algorithm: "sha256",
        bits: c.bits,
        expires_at: c.expires_at.into(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// A proof of work.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofInput {
    /// The challenge, as given.
    pub challenge: String,
    /// The nonce that solves it.
    pub nonce: String,
}

/// A complaint as submitted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComplaint {
    /// `light` or `normative` (answered within 5 working days), `non_supervisory` (14) or
    /// `supervisory` (with supervisory content that needs examination: 60).
    pub category: String,
    /// What it is about, in a line (at most 200 characters).
    pub subject: String,
    /// The complaint (at most 5,000 characters).
    pub body: String,
    /// A subdomain or a request number it concerns.
    #[serde(default)]
    pub about: Option<String>,
    /// Who complains, and where the answer goes.
    pub contact: Contact,
    /// Without an account: the proof of work.
    #[serde(default)]
    pub proof: Option<ProofInput>,
}

/// A complaint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintBody {
    /// Its number.
    pub id: i64,
    /// `light`, `normative`, `non_supervisory` or `supervisory`.
    pub category: String,
    /// The category as the standards word it.
    pub category_title: String,
    /// Working days to answer it.
    pub standard_days: u32,
    /// `received`, `assigned`, `answered` or `closed`.
    pub status: String,
    /// What it is about.
    pub subject: String,
    /// The complaint.
    pub body: String,
    /// A subdomain or request it concerns.
    pub about: Option<String>,
    /// Who complains (confidential: the office, auditors and the complainant see it).
    pub contact: Contact,
    /// `account` or `public`.
    pub origin: &'static str,
    /// When received.
    pub received_at: Timestamp,
    /// When the answer is due (the category's working days from receipt, in the office's
    /// calendar).
    pub due_at: Timestamp,
    /// Past its due time without an answer, or answered after it.
    pub overdue: bool,
    /// The user it was given to.
    pub assigned_to: Option<String>,
    /// When it was given.
    pub assigned_at: Option<Timestamp>,
    /// The answer.
    pub answer: Option<String>,
    /// When answered.
    pub answered_at: Option<Timestamp>,
    /// By whom.
    pub answered_by: Option<String>,
    /// When closed.
    pub closed_at: Option<Timestamp>,
}

impl ComplaintBody {
    fn of(v: ComplaintView) -> Result<Self, Problem> {
        let r = v.row;
        let t = |s: &str| Timestamp::stored(s, "complaint time");
        let opt = |s: Option<&str>| Timestamp::stored_opt(s, "complaint time");
        Ok(Self {
            id: r.id,
            category: v.category.as_str().into(),
            category_title: v.category.title().into(),
            standard_days: v.category.working_days(),
            status: v.status.as_str().into(),
            received_at: t(&r.received_at)?,
            due_at: t(&r.due_at)?,
            assigned_at: opt(r.assigned_at.as_deref())?,
            answered_at: opt(r.answered_at.as_deref())?,
            closed_at: opt(r.closed_at.as_deref())?,
            overdue: v.overdue,
            origin: if r.submitted_by.is_some() {
                "account"
            } else {
                "public"
            },
            subject: r.subject,
            body: r.body,
            about: r.about,
            contact: Contact {
                name: r.complainant_name,
                email: r.complainant_email,
                phone: r.complainant_phone,
            },
            assigned_to: r.assigned_to.map(|a| a.1),
            answer: r.answer,
            answered_by: r.answered_by,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/complaints", operation_id = "submit_complaint", tag = "complaints",
    request_body = NewComplaint,
    responses((status = 201, description = "Received: the complaint with its due time", body = ComplaintBody),
        (status = 401, description = "a token that is not good (send none to complain as the public)", body = ProblemDetails),
        (status = 403, description = "an integration's token, or the office takes complaints from signed-in users only", body = ProblemDetails),
        (status = 422, description = "a field is missing or wrong, or the proof of work is missing, wrong, expired or spent", body = ProblemDetails),
        (status = 429, description = "too many complaints from one address this hour, or from the public today", body = ProblemDetails)),
    security((), ("bearer" = [])))]
pub(crate) async fn submit(
    user: Option<AuthUser>,
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(input): JsonBody<NewComplaint>,
) -> Result<Response, Problem> {
    let submission = Submission {
        category: input.category,
        subject: input.subject,
        body: input.body,
        about: input.about,
        name: input.contact.name,
        email: input.contact.email,
        phone: input.contact.phone,
    };
    let proof = input.proof.map(|p| Proof {
        challenge: p.challenge,
        nonce: p.nonce,
    });
    let caller = user.map(|u| u.0);
    let view = state
        .complaints
        .submit(
            caller.as_ref(),
            &submission,
            proof.as_ref(),
            Some(client),
            Utc::now(),
        )
        .await?;
    let id = view.row.id;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/complaints/{id}"))],
        Json(ComplaintBody::of(view)?),
    )
        .into_response())
}

/// Which complaints to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open` (received or assigned), `received`, `assigned`, `answered` or `closed`.
    pub status: Option<String>,
    /// Only those given to the caller.
    pub mine: Option<bool>,
    /// Numbers below this one (the next page: the last number of this one).
    pub before: Option<i64>,
    /// At most this many (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Complaints, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintList {
    /// The complaints.
    pub items: Vec<ComplaintBody>,
}

#[utoipa::path(get, path = "/api/v1/complaints", operation_id = "list_complaints", tag = "complaints",
    params(ListQuery),
    responses((status = 200, description = "Every complaint for the office and auditors; one's own for anyone else", body = ComplaintList),
        (status = 400, description = "a status or limit out of range", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ComplaintList>, Problem> {
    let query = ComplaintQuery {
        status: q.status,
        mine: q.mine.unwrap_or(false),
        before: q.before,
        limit: q.limit,
    };
    let items = state
        .complaints
        .list(&user, &query, Utc::now())
        .await?
        .into_iter()
        .map(ComplaintBody::of)
        .collect::<Result<_, _>>()?;
    Ok(Json(ComplaintList { items }))
}

#[utoipa::path(get, path = "/api/v1/complaints/{id}", operation_id = "get_complaint", tag = "complaints",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The complaint", body = ComplaintBody),
        (status = 404, description = "no such complaint, or another's", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn read(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ComplaintBody>, Problem> {
    let id = number(&id, "complaint")?;
    let view = state.complaints.get(&user, id, Utc::now()).await?;
    Ok(Json(ComplaintBody::of(view)?))
}

/// Whom to give a complaint to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The user's name (someone with a role of the office).
    pub assignee: String,
    /// Another category, when it was classified wrongly: the due time is counted again from
    /// receipt.
    #[serde(default)]
    pub category: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/complaints/{id}/assign", operation_id = "assign_complaint", tag = "complaints",
    params(("id" = i64, Path)), request_body = AssignBody,
    responses((status = 200, description = "Given to the user", body = ComplaintBody),
        (status = 403, description = "the office's staff only", body = ProblemDetails),
        (status = 404, description = "no such complaint", body = ProblemDetails),
        (status = 409, description = "answered or closed already, or changed meanwhile", body = ProblemDetails),
        (status = 422, description = "no such user among the office's staff, or an unknown category", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn assign(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignBody>,
) -> Result<Json<ComplaintBody>, Problem> {
    let id = number(&id, "complaint")?;
    let view = state
        .complaints
        .assign(
            &user,
            id,
            &body.assignee,
            body.category.as_deref(),
            Utc::now(),
        )
        .await?;
    Ok(Json(ComplaintBody::of(view)?))
}

/// The answer to a complaint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// What the complainant is told (at most 5,000 characters).
    pub answer: String,
}

#[utoipa::path(post, path = "/api/v1/complaints/{id}/answer", operation_id = "answer_complaint", tag = "complaints",
    params(("id" = i64, Path)), request_body = AnswerBody,
    responses((status = 200, description = "Answered: the answer goes to the complainant by email", body = ComplaintBody),
        (status = 403, description = "the one it was given to (or an admin) answers it", body = ProblemDetails),
        (status = 404, description = "no such complaint", body = ProblemDetails),
        (status = 409, description = "answered or closed already, or changed meanwhile", body = ProblemDetails),
        (status = 422, description = "an answer is required", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn answer(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AnswerBody>,
) -> Result<Json<ComplaintBody>, Problem> {
    let id = number(&id, "complaint")?;
    let view = state
        .complaints
        .answer(&user, id, &body.answer, Utc::now())
        .await?;
    Ok(Json(ComplaintBody::of(view)?))
}

#[utoipa::path(post, path = "/api/v1/complaints/{id}/close", operation_id = "close_complaint", tag = "complaints",
    params(("id" = i64, Path)),
    responses((status = 200, description = "Closed", body = ComplaintBody),
        (status = 403, description = "the office's staff only", body = ProblemDetails),
        (status = 404, description = "no such complaint", body = ProblemDetails),
        (status = 409, description = "not answered yet, closed already, or changed meanwhile", body = ProblemDetails)),
    security(("bearer" = [])))]
pub(crate) async fn close(
    AuthUser(user): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ComplaintBody>, Problem> {
    let id = number(&id, "complaint")?;
    let view = state.complaints.close(&user, id, Utc::now()).await?;
    Ok(Json(ComplaintBody::of(view)?))
}
