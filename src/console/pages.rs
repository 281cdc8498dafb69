//! The console's pages and forms.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::text::Text;
use super::{CookieNames, Lang, Signed, cookie, render, same_token};
use crate::api::AppState;
use crate::api::client::ClientAddr;
use crate::domain::access::Role;
use crate::domain::request::{Command, Status};
use crate::service::ServiceError;
use crate::service::requests::RequestView;
use crate::service::signin::SignInError;

/// Seconds the provider has to send the browser back.
const SIGN_IN_COOKIE_SECS: i64 = 600;

/// What every page shows around its content.
pub(super) struct Frame {
    pub(super) lang: &'static str,
    pub(super) t: &'static Text,
    /// The signed-in user's name, and the form token of their session.
    pub(super) user: Option<(String, String)>,
    /// Whether the menu offers a new request (applicants and the front office).
    pub(super) submits: bool,
    /// Whether it offers certificates and zones (the office's staff and auditors).
    pub(super) office: bool,
    /// Whether it offers the monthly report.
    pub(super) reports: bool,
    /// Whether it offers the audit trail.
    pub(super) audit: bool,
    /// Whether it offers the administration of people.
    pub(super) admin: bool,
}

impl Frame {
    pub(super) fn visitor(lang: Lang) -> Self {
        Self {
            lang: lang.code(),
            t: lang.text(),
            user: None,
            submits: false,
            office: false,
            reports: false,
            audit: false,
            admin: false,
        }
    }

    pub(super) fn of(signed: &Signed) -> Self {
        let actor = &signed.current.actor;
        Self {
            submits: actor.has(&Role::Applicant) || actor.has(&Role::FrontOffice),
            office: actor
                .roles
                .iter()
                .any(|r| r.is_office() || *r == Role::Auditor),
            reports: crate::domain::access::may_read_reports(actor),
            audit: crate::domain::access::may_read_audit(actor),
            admin: crate::domain::access::may_administer_people(actor),
            lang: signed.lang.code(),
            t: signed.lang.text(),
            user: Some((
                signed.current.actor.name.clone(),
                signed.current.csrf.clone(),
            )),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html", config = "src/console/askama.toml")]
struct SignInPage {
    frame: Frame,
    form_token: String,
    passwords: bool,
    single_sign_on: bool,
    possible: bool,
    message: Option<String>,
    name: String,
}

#[derive(Template)]
#[template(path = "message.html", config = "src/console/askama.toml")]
struct MessagePage {
    frame: Frame,
    title: String,
    message: String,
    back: String,
}

/// A request as a row of the inbox.
struct Row {
    id: i64,
    name: String,
    kind: String,
    agency: String,
    step: String,
    due: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "inbox.html", config = "src/console/askama.toml")]
struct InboxPage {
    frame: Frame,
    rows: Vec<Row>,
}

struct RecordLine {
    rtype: String,
    value: String,
    ttl: String,
}

struct FileLine {
    kind: String,
    title: String,
    media_type: String,
    size: String,
    pdf: bool,
}

struct HistoryLine {
    when: String,
    who: String,
    action: String,
    step: String,
    note: String,
}

#[derive(Template)]
#[template(path = "request.html", config = "src/console/askama.toml")]
struct RequestPage {
    frame: Frame,
    id: i64,
    name: String,
    kind: String,
    agency: String,
    status: String,
    step: String,
    due: String,
    overdue: bool,
    purpose: String,
    /// How the request letter came, its number and date.
    letter: String,
    contact: String,
    records: Vec<RecordLine>,
    /// The write a request opened through the Cloudflare-compatible API keeps: what approval
    /// does, each line with its verb.
    write: Vec<(String, RecordLine)>,
    /// What the reviewers are warned of.
    warnings: Vec<String>,
    files: Vec<FileLine>,
    history: Vec<HistoryLine>,
    certificate: String,
    may_decide: bool,
    /// The step is the requesting agency's own: approve (sign) only.
    signs: bool,
    reasons: Vec<String>,
    saved: bool,
    /// The requesting agency's applicant (or the front office) may add files and withdraw.
    applicant: bool,
    returned: bool,
    open: bool,
    max_files_mib: usize,
    /// The request's audit events, for those who read the trail.
    events: Vec<(i64, String, String, String)>,
}

/// `GET /`: the inbox for someone signed in, the sign-in page for a visitor.
pub(super) async fn home(
    signed: Option<Signed>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    if signed.is_some() {
        return Redirect::to("/inbox").into_response();
    }
    let kept = cookie(&headers, CookieNames::of(&state).form);
    sign_in_page_with(
        &state,
        Lang::of(&headers),
        StatusCode::OK,
        None,
        String::new(),
        kept,
    )
}

/// The sign-in page, with a fresh form token in its cookie.
fn sign_in_page(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    message: Option<String>,
    name: String,
) -> Response {
    sign_in_page_with(state, lang, status, message, name, None)
}

/// The sign-in page; `kept` is the form cookie the browser already holds (a second tab keeps
/// the first one's form working).
fn sign_in_page_with(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    message: Option<String>,
    name: String,
    kept: Option<&str>,
) -> Response {
    let names = CookieNames::of(state);
    let reusable = |k: &&str| {
        k.len() == 43
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let form_token = match kept.filter(reusable) {
        Some(k) => k.to_owned(),
        None => match random() {
            Ok(t) => t,
            Err(e) => return failure(lang, e),
        },
    };
    let possible = state.signin.origin().is_some();
    let page = SignInPage {
        frame: Frame::visitor(lang),
        form_token: form_token.clone(),
        passwords: state.signin.passwords_on(),
        single_sign_on: state.signin.single_sign_on(),
        possible,
        message,
        name,
    };
    let mut response = render(status, &page);
    response
        .headers_mut()
        .append(header::SET_COOKIE, names.set(names.form, &form_token, None));
    response
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    name: String,
    password: String,
    form: String,
}

/// `POST /signin/password`.
pub(super) async fn sign_in_with_password(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let lang = Lang::of(&headers);
    let t = lang.text();
    let names = CookieNames::of(&state);
    let Ok(Form(form)) = form else {
        return sign_in_page(
            &state,
            lang,
            StatusCode::BAD_REQUEST,
            Some(t.form_expired.into()),
            String::new(),
        );
    };
    // The sign-in form's own token (no session yet): the cookie set with the page.
    if !cookie(&headers, names.form).is_some_and(|c| same_token(&form.form, c)) {
        return sign_in_page(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some(t.form_expired.into()),
            form.name,
        );
    }
    if state.signin.origin().is_none() {
        return sign_in_page(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some(t.no_sign_in.into()),
            String::new(),
        );
    }
    match state
        .signin
        .password(form.name.trim(), &form.password, Some(client), Utc::now())
        .await
    {
        Ok(opened) => signed_in(&names, &opened.token),
        Err(e) => {
            let (status, message) = sign_in_refusal(t, e);
            sign_in_page(&state, lang, status, Some(message), form.name)
        }
    }
}

/// `GET /signin/oidc`: off to the provider.
pub(super) async fn sign_in_with_provider(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let names = CookieNames::of(&state);
    match state
        .signin
        .begin_single_sign_on(Some(client), Utc::now())
        .await
    {
        Ok(begun) => {
            let mut response = Redirect::to(&begun.url).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                names.set(names.browser, &begun.browser, Some(SIGN_IN_COOKIE_SECS)),
            );
            response
        }
        Err(e) => {
            let (status, message) = sign_in_refusal(lang.text(), e);
            sign_in_page(&state, lang, status, Some(message), String::new())
        }
    }
}

#[derive(Deserialize)]
pub(super) struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /signin/callback`: back from the provider.
pub(super) async fn provider_callback(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Response {
    let lang = Lang::of(&headers);
    let t = lang.text();
    let names = CookieNames::of(&state);
    let Ok(Query(q)) = query else {
        return sign_in_page(
            &state,
            lang,
            StatusCode::BAD_REQUEST,
            Some(t.sso_unknown.into()),
            String::new(),
        );
    };
    let error = q.error.map(|e| match q.error_description {
        Some(d) => format!("{e}: {d}"),
        None => e,
    });
    let answer = match (&q.code, &error) {
        (_, Some(error)) => Err(error.as_str()),
        (Some(code), None) => Ok(code.as_str()),
        (None, None) => Err("no code"),
    };
    let result = state
        .signin
        .finish_single_sign_on(
            q.state.as_deref().unwrap_or(""),
            answer,
            cookie(&headers, names.browser),
            Some(client),
            Utc::now(),
        )
        .await;
    let mut response = match result {
        Ok(opened) => signed_in(&names, &opened.token),
        Err(e) => {
            let (status, message) = sign_in_refusal(t, e);
            sign_in_page(&state, lang, status, Some(message), String::new())
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, names.clear(names.browser));
    response
}

/// The answer to a sign-in: the session cookie, on to the inbox.
fn signed_in(names: &CookieNames, token: &str) -> Response {
    let mut response = Redirect::to("/inbox").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, names.set(names.session, token, None));
    headers.append(header::SET_COOKIE, names.clear(names.form));
    response
}

/// What a refused sign-in tells the browser, in the page's language.
fn sign_in_refusal(t: &Text, e: SignInError) -> (StatusCode, String) {
    match e {
        SignInError::WrongPassword => (StatusCode::UNAUTHORIZED, t.wrong_password.into()),
        SignInError::Locked(until) => (StatusCode::FORBIDDEN, format!("{} {until}.", t.locked)),
        e @ (SignInError::PasswordsOff | SignInError::NoSingleSignOn) => {
            (StatusCode::NOT_FOUND, e.to_string())
        }
        SignInError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, t.too_many.into()),
        // What the provider's address or network said stays in the log, not on a page anyone
        // can open; what was wrong with its answer (a check the ID token failed) is shown.
        SignInError::Provider(p @ crate::oidc::OidcError::IdToken(_)) => {
            (StatusCode::BAD_GATEWAY, format!("{} {p}", t.sso_refused))
        }
        SignInError::Provider(p) => {
            tracing::warn!(error = %p, "single sign-on failed");
            (StatusCode::BAD_GATEWAY, t.sso_unavailable.into())
        }
        SignInError::ProviderRefused(p) => {
            (StatusCode::FORBIDDEN, format!("{} {p}", t.sso_refused))
        }
        SignInError::Replayed => (StatusCode::BAD_REQUEST, t.sso_replayed.into()),
        SignInError::UnknownState => (StatusCode::BAD_REQUEST, t.sso_unknown.into()),
        SignInError::Disabled(_) => (StatusCode::FORBIDDEN, t.disabled.into()),
        SignInError::Unmapped(why) => (StatusCode::FORBIDDEN, format!("{} {why}", t.unmapped)),
        SignInError::Service(s) => service_refusal(t, s),
    }
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    csrf: String,
}

/// `POST /signout`.
pub(super) async fn sign_out(
    signed: Signed,
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let names = CookieNames::of(&state);
    if !form.is_ok_and(|Form(f)| same_token(&f.csrf, &signed.current.csrf)) {
        return forged(&signed);
    }
    let token = cookie(&headers, names.session).unwrap_or_default();
    let next = match state.signin.logout(token, Some(client), Utc::now()).await {
        Ok(next) => next.unwrap_or_else(|| "/".into()),
        Err(e) => return failure(signed.lang, e),
    };
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, names.clear(names.session));
    response
}

/// `GET /inbox`.
pub(super) async fn inbox(signed: Signed, State(state): State<AppState>) -> Response {
    let zone = state.signin.time_zone();
    match state
        .requests
        .inbox(&signed.current.actor, Utc::now())
        .await
    {
        Ok(views) => {
            let rows = views
                .iter()
                .map(|v| Row {
                    id: v.request.id,
                    name: v.request.data.fqdn(),
                    kind: signed.lang.text().kind_of(v.request.data.kind).into(),
                    agency: v.request.agency.clone().unwrap_or_default(),
                    step: step_title(v),
                    due: v.due_at.map(|d| local(d, zone)).unwrap_or_default(),
                    overdue: v.overdue,
                })
                .collect();
            render(
                StatusCode::OK,
                &InboxPage {
                    frame: Frame::of(&signed),
                    rows,
                },
            )
        }
        Err(e) => failure(signed.lang, e),
    }
}

#[derive(Deserialize)]
pub(super) struct RequestQuery {
    saved: Option<u8>,
}

/// `GET /requests/{id}`.
pub(super) async fn request(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RequestQuery>, QueryRejection>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return failure(signed.lang, ServiceError::NotFound(format!("request {id}")));
    };
    let view = match state
        .requests
        .view(&signed.current.actor, id, Utc::now())
        .await
    {
        Ok(v) => v,
        Err(e) => return failure(signed.lang, e),
    };
    // The trail of the request, for those who may read it (auditors, admins).
    let events = if crate::domain::access::may_read_audit(&signed.current.actor) {
        let q = crate::service::audit::AuditQuery {
            request: Some(id),
            limit: Some(100),
            ..Default::default()
        };
        match state.audit.events(&signed.current.actor, &q).await {
            Ok((events, _)) => events
                .into_iter()
                .map(|e| (e.seq, e.at, e.actor, e.action))
                .collect(),
            Err(e) => return failure(signed.lang, e),
        }
    } else {
        Vec::new()
    };
    let zone = state.signin.time_zone();
    let t = signed.lang.text();
    let data = &view.request.data;
    let records = data
        .records
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|r| RecordLine {
                    rtype: json_text(&r["type"]),
                    value: json_text(&r["value"]),
                    ttl: json_text(&r["ttl"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let line = |r: crate::service::requests::RecordInput| RecordLine {
        rtype: r.rtype,
        value: r.value,
        ttl: r.ttl.to_string(),
    };
    let write = match crate::service::requests::IntegrationWrite::of(data) {
        Ok(Some((remove, add))) => remove
            .map(|r| (t.write_remove.to_owned(), line(r)))
            .into_iter()
            .chain(add.map(|r| (t.write_add.to_owned(), line(r))))
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return failure(signed.lang, e),
    };
    let contact = &data.contact;
    let contact = [&contact["name"], &contact["email"], &contact["phone"]]
        .iter()
        .map(|v| json_text(v))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    let status = view.request.state.status;
    let applicant =
        crate::domain::access::may_attach(&signed.current.actor, view.request.state.agency_id);
    let may_decide = status == Status::InReview
        && view.step.as_ref().is_some_and(|s| {
            crate::domain::access::may_act_at(
                &signed.current.actor,
                s,
                view.request.state.agency_id,
            )
        });
    // At the agency's own step it approves (signs) or withdraws: nothing to return or reject.
    let signs = view.step.as_ref().is_some_and(|s| s.by_applicant());
    let page = RequestPage {
        id,
        name: data.fqdn(),
        kind: t.kind_of(data.kind).into(),
        agency: view.request.agency.clone().unwrap_or_default(),
        status: t.status_of(view.request.state.status.as_str()).to_owned(),
        step: step_title(&view),
        due: view.due_at.map(|d| local(d, zone)).unwrap_or_default(),
        overdue: view.overdue,
        purpose: data.purpose.clone(),
        letter: data
            .letter
            .as_ref()
            .map(|l| {
                let mut words = vec![t.channel_of(l.channel).to_owned()];
                if let Some(n) = &l.number {
                    words.push(format!("{} {n}", t.letter_number));
                }
                if let Some(d) = l.date {
                    words.push(format!("{} {}", t.letter_date, d.format("%d-%m-%Y")));
                }
                words.join(", ")
            })
            .unwrap_or_default(),
        contact,
        records,
        write,
        warnings: view.warnings.iter().map(|w| w.message.clone()).collect(),
        files: view
            .attachments
            .iter()
            .map(|a| FileLine {
                title: t.file_of(&a.kind).to_owned(),
                kind: a.sha256.clone(),
                media_type: a.media_type.clone(),
                size: format!("{} KiB", (a.size + 1023) / 1024),
                pdf: a.media_type == "application/pdf",
            })
            .collect(),
        history: view
            .history
            .iter()
            .map(|h| HistoryLine {
                when: local(h.entry.at, zone),
                who: h.actor_name.clone().unwrap_or_else(|| "sistem".into()),
                action: t.action_of(&h.entry.action).to_owned(),
                step: h.entry.step.clone().unwrap_or_default(),
                note: [h.entry.reason.clone(), h.entry.note.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": "),
            })
            .collect(),
        certificate: t.certificate_of(view.certificate_status).to_owned(),
        may_decide,
        signs,
        reasons: state.requests.workflow().reason_codes.clone(),
        saved: query.is_ok_and(|Query(q)| q.saved == Some(1)),
        applicant,
        returned: status == Status::Returned,
        open: !status.is_final(),
        max_files_mib: crate::domain::attachment::MAX_SIZE / (1024 * 1024),
        events,
        frame: Frame::of(&signed),
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    csrf: String,
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
}

/// `POST /requests/{id}/decision`: approve, return or reject.
pub(super) async fn decide(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    if !same_token(&form.csrf, &signed.current.csrf) {
        return forged(&signed);
    }
    let Ok(id) = id.parse::<i64>() else {
        return failure(signed.lang, ServiceError::NotFound(format!("request {id}")));
    };
    let note = Some(form.note.trim().to_owned()).filter(|n| !n.is_empty());
    let command = match form.action.as_str() {
        "approve" => Command::Approve { note },
        "return" => Command::Return {
            note: note.unwrap_or_default(),
            reason: form.reason,
        },
        "reject" => Command::Reject {
            note: note.unwrap_or_default(),
            reason: form.reason,
        },
        _ => return forged(&signed),
    };
    match state
        .requests
        .act(&signed.current.actor, id, command, Utc::now())
        .await
    {
        Ok(_) => Redirect::to(&format!("/requests/{id}?saved=1")).into_response(),
        Err(e) => failure_back(signed.lang, e, format!("/requests/{id}")),
    }
}

/// `GET /requests/{id}/files/{kind}`: an attachment, shown in the browser.
pub(super) async fn attachment(
    signed: Signed,
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return failure(signed.lang, ServiceError::NotFound(format!("request {id}")));
    };
    match state
        .requests
        .attachment_file(&signed.current.actor, id, &kind)
        .await
    {
        Ok((media_type, bytes)) => {
            // The file is the applicant's: an image runs in a sandbox; a PDF cannot (the
            // browser's viewer is refused there), and runs nothing of ours either way.
            let policy = if media_type == "application/pdf" {
                "default-src 'none'; frame-ancestors 'self'"
            } else {
                "sandbox; default-src 'none'; frame-ancestors 'self'"
            };
            let media = HeaderValue::from_str(&media_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (header::CONTENT_TYPE, media),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_static("inline"),
                    ),
                    // The file is the applicant's: whatever it holds runs nothing of ours.
                    (
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(policy),
                    ),
                    (
                        header::X_FRAME_OPTIONS,
                        HeaderValue::from_static("SAMEORIGIN"),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => failure(signed.lang, e),
    }
}

/// A form without its session's token: refused, and the person told to reload.
pub(super) fn forged(signed: &Signed) -> Response {
    let t = signed.lang.text();
    tracing::warn!(user = %signed.current.actor.name, "a console form came without its token");
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            frame: Frame::of(signed),
            title: t.error_title.into(),
            message: t.form_expired.into(),
            back: "/inbox".into(),
        },
    )
}

/// A service's refusal or failure as a page.
pub(super) fn failure(lang: Lang, e: ServiceError) -> Response {
    failure_back(lang, e, "/".into())
}

pub(super) fn failure_back(lang: Lang, e: ServiceError, back: String) -> Response {
    let t = lang.text();
    let (status, message) = service_refusal(t, e);
    render(
        status,
        &MessagePage {
            frame: Frame::visitor(lang),
            title: t.error_title.into(),
            message,
            back,
        },
    )
}

/// The status and message of a service error, as the API would answer it (one mapping: the
/// problem's), with the page's words where the API's would not help a person.
fn service_refusal(t: &Text, e: ServiceError) -> (StatusCode, String) {
    let words = match &e {
        ServiceError::Internal { .. } => Some(t.internal),
        ServiceError::Unavailable { .. } => Some(t.unavailable),
        ServiceError::NotFound(_) => Some(t.not_found),
        _ => None,
    };
    let problem = crate::api::problem::Problem::from(e);
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = words.map_or_else(|| problem.detail.clone(), str::to_owned);
    for field in &problem.errors {
        message.push_str(&format!(" {}: {}.", field.field, field.message));
    }
    (status, message)
}

fn step_title(v: &RequestView) -> String {
    v.step.as_ref().map(|s| s.title.clone()).unwrap_or_default()
}

pub(super) fn local(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone)
        .format("%d-%m-%Y %H:%M %Z")
        .to_string()
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn random() -> Result<String, ServiceError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::internal("randomness", e))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
