//! Complaints in the console: the form anyone may use at `/pengaduan` (a visitor's browser
//! solves the proof of work in the console's script; a signed-in user needs none), the list
//! and each complaint's page, where the office gives it to someone, answers and closes it.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::pages::{Frame, failure, failure_back, forged, local, random};
use super::{CookieNames, Lang, Signed, cookie, render, same_token};
use crate::api::AppState;
use crate::api::client::ClientAddr;
use crate::domain::complaint::{Category, Submission};
use crate::service::ServiceError;
use crate::service::complaints::{ComplaintQuery, ComplaintView, Proof};

/// What the form holds (kept when it comes back with a message).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ComplaintForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    proof_challenge: String,
    #[serde(default)]
    proof_nonce: String,
}

#[derive(Template)]
#[template(path = "complaint_form.html", config = "src/console/askama.toml")]
struct FormPage {
    frame: Frame,
    csrf: String,
    /// For a visitor: the challenge and its bits.
    challenge: Option<(String, u32)>,
    categories: Vec<(&'static str, &'static str, u32)>,
    form: ComplaintForm,
    message: Option<String>,
    /// Once received: its number and when the answer is due.
    received: Option<(i64, String)>,
}

fn categories(lang: Lang) -> Vec<(&'static str, &'static str, u32)> {
    Category::ALL
        .iter()
        .map(|c| {
            (
                c.as_str(),
                lang.text().complaint_category_of(*c),
                c.working_days(),
            )
        })
        .collect()
}

/// The form's page: for a visitor, with a fresh challenge and the form token in its cookie.
fn form_page(
    state: &AppState,
    signed: Option<&Signed>,
    lang: Lang,
    status: StatusCode,
    form: ComplaintForm,
    message: Option<String>,
) -> Response {
    let (frame, csrf, challenge) = match signed {
        Some(s) => (Frame::of(s), s.current.csrf.clone(), None),
        None => {
            let token = match random() {
                Ok(t) => t,
                Err(e) => return failure(lang, e),
            };
            let challenge = match state.complaints.challenge(Utc::now()) {
                Ok(c) => c,
                Err(e) => return failure(lang, e),
            };
            (
                Frame::visitor(lang),
                token,
                Some((challenge.challenge, challenge.bits)),
            )
        }
    };
    let visitor = signed.is_none();
    let page = FormPage {
        frame,
        csrf: csrf.clone(),
        challenge,
        categories: categories(lang),
        form,
        message,
        received: None,
    };
    let mut response = render(status, &page);
    if visitor {
        let names = CookieNames::of(state);
        response
            .headers_mut()
            .append(header::SET_COOKIE, names.set(names.form, &csrf, None));
    }
    response
}

/// `GET /pengaduan`.
pub(super) async fn form(
    signed: Option<Signed>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let lang = signed
        .as_ref()
        .map_or_else(|| Lang::of(&headers), |s| s.lang);
    let mut form = ComplaintForm::default();
    if let Some(s) = &signed {
        form.name = s.current.actor.name.clone();
    }
    form_page(&state, signed.as_ref(), lang, StatusCode::OK, form, None)
}

/// `POST /pengaduan`.
pub(super) async fn submit(
    signed: Option<Signed>,
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<ComplaintForm>, FormRejection>,
) -> Response {
    let lang = signed
        .as_ref()
        .map_or_else(|| Lang::of(&headers), |s| s.lang);
    let t = lang.text();
    let Ok(Form(form)) = form else {
        return form_page(
            &state,
            signed.as_ref(),
            lang,
            StatusCode::BAD_REQUEST,
            ComplaintForm::default(),
            Some(t.form_expired.into()),
        );
    };
    let token_ok = match &signed {
        Some(s) => same_token(&form.csrf, &s.current.csrf),
        None => cookie(&headers, CookieNames::of(&state).form)
            .is_some_and(|c| same_token(&form.csrf, c)),
    };
    if !token_ok {
        return match &signed {
            Some(s) => forged(s),
            None => form_page(
                &state,
                None,
                lang,
                StatusCode::FORBIDDEN,
                form,
                Some(t.form_expired.into()),
            ),
        };
    }
    let submission = Submission {
        category: form.category.clone(),
        subject: form.subject.clone(),
        body: form.body.clone(),
        about: Some(form.about.trim().to_owned()).filter(|a| !a.is_empty()),
        name: form.name.clone(),
        email: form.email.clone(),
        phone: Some(form.phone.clone()).filter(|p| !p.trim().is_empty()),
    };
    // A visitor's proof; without the script that solves it, the form says why.
    let proof = (!form.proof_challenge.is_empty() && !form.proof_nonce.is_empty()).then(|| Proof {
        challenge: form.proof_challenge.clone(),
        nonce: form.proof_nonce.clone(),
    });
    if signed.is_none() && proof.is_none() {
        return form_page(
            &state,
            None,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            Some(t.proof_needs_script.into()),
        );
    }
    let caller = signed.as_ref().map(|s| &s.current.actor);
    match state
        .complaints
        .submit(
            caller,
            &submission,
            proof.as_ref(),
            Some(client),
            Utc::now(),
        )
        .await
    {
        Ok(v) => {
            let due = crate::domain::time::parse(&v.row.due_at)
                .map(|d| local(d, state.signin.time_zone()))
                .unwrap_or_default();
            let frame = match &signed {
                Some(s) => Frame::of(s),
                None => Frame::visitor(lang),
            };
            render(
                StatusCode::CREATED,
                &FormPage {
                    frame,
                    csrf: String::new(),
                    challenge: None,
                    categories: Vec::new(),
                    form: ComplaintForm::default(),
                    message: None,
                    received: Some((v.row.id, due)),
                },
            )
        }
        Err(e) => {
            let (status, message) = refusal(e);
            form_page(&state, signed.as_ref(), lang, status, form, Some(message))
        }
    }
}

/// A refusal as the form shows it: the problem's detail and its fields.
fn refusal(e: ServiceError) -> (StatusCode, String) {
    let problem = crate::api::problem::Problem::from(e);
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = problem.detail.clone();
    for f in &problem.errors {
        message.push_str(&format!(" {}: {}.", f.field, f.message));
    }
    (status, message)
}

struct Line {
    id: i64,
    received: String,
    category: &'static str,
    subject: String,
    status: &'static str,
    due: String,
    overdue: bool,
    assigned_to: String,
}

#[derive(Template)]
#[template(path = "complaints.html", config = "src/console/askama.toml")]
struct ListPage {
    frame: Frame,
    lines: Vec<Line>,
    open_only: bool,
    next: Option<i64>,
}

/// Which complaints the list shows.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    before: Option<i64>,
}

const PAGE: i64 = 50;

/// `GET /complaints`: every complaint for the office and auditors, one's own for anyone else.
pub(super) async fn list(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Query(q) = query.unwrap_or_default();
    let open_only = q.status.as_deref() == Some("open");
    let views = match state
        .complaints
        .list(
            &signed.current.actor,
            &ComplaintQuery {
                status: open_only.then(|| "open".into()),
                mine: false,
                before: q.before,
                limit: Some(PAGE),
            },
            Utc::now(),
        )
        .await
    {
        Ok(v) => v,
        Err(e) => return failure(signed.lang, e),
    };
    let t = signed.lang.text();
    let zone = state.signin.time_zone();
    let when = |s: &str| {
        crate::domain::time::parse(s)
            .map(|d| local(d, zone))
            .unwrap_or_default()
    };
    let next = (views.len() as i64 == PAGE)
        .then(|| views.last().map(|v| v.row.id))
        .flatten();
    let lines = views
        .into_iter()
        .map(|v| Line {
            received: when(&v.row.received_at),
            due: when(&v.row.due_at),
            category: t.complaint_category_of(v.category),
            status: t.complaint_status_of(v.status.as_str()),
            overdue: v.overdue,
            assigned_to: v.row.assigned_to.map(|a| a.1).unwrap_or_default(),
            subject: v.row.subject,
            id: v.row.id,
        })
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            frame: Frame::of(&signed),
            lines,
            open_only,
            next,
        },
    )
}

#[derive(Template)]
#[template(path = "complaint.html", config = "src/console/askama.toml")]
struct ComplaintPage {
    frame: Frame,
    id: i64,
    category: &'static str,
    category_value: &'static str,
    categories: Vec<(&'static str, &'static str, u32)>,
    status: &'static str,
    subject: String,
    body: String,
    about: String,
    contact: String,
    received: String,
    due: String,
    overdue: bool,
    assigned_to: String,
    answer: String,
    answered: String,
    closed: String,
    /// The users it may be given to (empty: the caller does not give complaints).
    handlers: Vec<String>,
    may_assign: bool,
    may_answer: bool,
    may_close: bool,
    saved: bool,
}

/// Whether the page follows a step just taken.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SavedQuery {
    saved: Option<String>,
}

/// `GET /complaints/{id}`.
pub(super) async fn page(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    let Query(q) = query.unwrap_or_default();
    let actor = &signed.current.actor;
    let Ok(id) = id.parse::<i64>() else {
        return failure(
            signed.lang,
            ServiceError::NotFound(format!("complaint {id}")),
        );
    };
    let now = Utc::now();
    let v = match state.complaints.get(actor, id, now).await {
        Ok(v) => v,
        Err(e) => return failure(signed.lang, e),
    };
    let handlers = match state.complaints.handlers(actor, now).await {
        Ok(h) => h,
        Err(e) => return failure(signed.lang, e),
    };
    render(
        StatusCode::OK,
        &complaint_page(&state, &signed, v, handlers, q.saved.is_some()),
    )
}

fn complaint_page(
    state: &AppState,
    signed: &Signed,
    v: ComplaintView,
    handlers: Vec<String>,
    saved: bool,
) -> ComplaintPage {
    let t = signed.lang.text();
    let zone = state.signin.time_zone();
    let when = |s: Option<&str>| {
        s.and_then(crate::domain::time::parse)
            .map(|d| local(d, zone))
            .unwrap_or_default()
    };
    let r = v.row;
    let waiting = v.status.awaits_answer();
    let mut contact = format!("{} <{}>", r.complainant_name, r.complainant_email);
    if let Some(p) = &r.complainant_phone {
        contact.push_str(&format!(", {p}"));
    }
    let assigned = r.assigned_to.as_ref().map(|a| a.0);
    ComplaintPage {
        frame: Frame::of(signed),
        id: r.id,
        category: t.complaint_category_of(v.category),
        category_value: v.category.as_str(),
        categories: categories(signed.lang),
        status: t.complaint_status_of(v.status.as_str()),
        received: when(Some(&r.received_at)),
        due: when(Some(&r.due_at)),
        answered: when(r.answered_at.as_deref()),
        closed: when(r.closed_at.as_deref()),
        overdue: v.overdue,
        may_assign: v.may_handle && waiting,
        may_answer: waiting
            && crate::domain::access::may_answer_complaint(&signed.current.actor, assigned),
        may_close: v.may_handle && v.status == crate::domain::complaint::Status::Answered,
        handlers,
        assigned_to: r.assigned_to.map(|a| a.1).unwrap_or_default(),
        answer: r.answer.unwrap_or_default(),
        about: r.about.unwrap_or_default(),
        subject: r.subject,
        body: r.body,
        contact,
        saved,
    }
}

/// A step on a complaint.
#[derive(Debug, Deserialize)]
pub(super) struct StepForm {
    csrf: String,
    action: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    answer: String,
}

/// `POST /complaints/{id}`: give, answer or close.
pub(super) async fn step(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<StepForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    if !same_token(&form.csrf, &signed.current.csrf) {
        return forged(&signed);
    }
    let Ok(id) = id.parse::<i64>() else {
        return failure(
            signed.lang,
            ServiceError::NotFound(format!("complaint {id}")),
        );
    };
    let actor = &signed.current.actor;
    let now = Utc::now();
    let done = match form.action.as_str() {
        "assign" => {
            let category = Some(form.category.as_str()).filter(|c| !c.is_empty());
            state
                .complaints
                .assign(actor, id, &form.assignee, category, now)
                .await
        }
        "answer" => state.complaints.answer(actor, id, &form.answer, now).await,
        "close" => state.complaints.close(actor, id, now).await,
        _ => Err(ServiceError::Validation(vec![
            crate::domain::policy::FieldError {
                field: "action".into(),
                code: "unknown_action",
                message: "assign, answer or close".into(),
            },
        ])),
    };
    match done {
        Ok(_) => Redirect::to(&format!("/complaints/{id}?saved=1")).into_response(),
        Err(e) => failure_back(signed.lang, e, format!("/complaints/{id}")),
    }
}
