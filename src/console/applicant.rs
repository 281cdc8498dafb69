//! What an applicant does in the console: submit a request with its letter and recommendation,
//! add files, resubmit a returned request, withdraw one; and the subdomain register, which
//! every role reads.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::pages::{Frame, failure, failure_back, forged};
use super::{Signed, render, same_token};
use crate::api::AppState;
use crate::domain::access::Role;
use crate::domain::attachment;
use crate::domain::request::Command;
use crate::service::ServiceError;
use crate::service::requests::{Changes, Contact, LetterInput, NewRequest, RecordInput, Upload};

/// The most characters a text field of the form may have (the service checks each field's
/// own rule; this keeps a hostile form from holding memory).
const MAX_FIELD: usize = 4096;

#[derive(Template)]
#[template(path = "new_request.html", config = "src/console/askama.toml")]
struct NewRequestPage {
    frame: Frame,
    zones: Vec<String>,
    front_office: bool,
    max_files_mib: usize,
    /// How a letter may have come (value, words).
    channels: Vec<(&'static str, &'static str)>,
}

/// `GET /requests/new`: the form.
pub(super) async fn new_request(signed: Signed, State(state): State<AppState>) -> Response {
    let zones = match state.zones.list().await {
        Ok(z) => z
            .into_iter()
            .map(|z| z.zone.trim_end_matches('.').to_owned())
            .collect(),
        Err(e) => return failure(signed.lang, e),
    };
    render(
        StatusCode::OK,
        &NewRequestPage {
            front_office: signed.current.actor.has(&Role::FrontOffice),
            frame: Frame::of(&signed),
            zones,
            max_files_mib: attachment::MAX_SIZE / (1024 * 1024),
            channels: crate::domain::letter::Channel::ALL
                .iter()
                .map(|c| (c.as_str(), signed.lang.text().channel_of(*c)))
                .collect(),
        },
    )
}

/// The fields and files of a multipart form, read within limits.
#[derive(Default)]
struct Posted {
    fields: std::collections::HashMap<String, String>,
    uploads: Vec<Upload>,
}

impl Posted {
    async fn read(multipart: &mut Multipart, max_files: usize) -> Result<Self, ServiceError> {
        let bad = |m: String| ServiceError::InvalidQuery(m);
        let mut posted = Self::default();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| bad(format!("the form could not be read: {e}")))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            if let Some(kind) = attachment::Kind::parse(&name) {
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ServiceError::TooLarge("attachments are limited to 10 MiB".into())
                    } else {
                        bad(e.to_string())
                    }
                })?;
                // A file input left empty is sent as a part without bytes.
                if !bytes.is_empty() {
                    if posted.uploads.len() == max_files {
                        return Err(ServiceError::TooManyAttachments(format!(
                            "a form has at most {max_files} files"
                        )));
                    }
                    posted.uploads.push(Upload { kind, bytes });
                }
            } else {
                let text = field
                    .text()
                    .await
                    .map_err(|e| bad(format!("field {name}: {e}")))?;
                if text.len() > MAX_FIELD || posted.fields.len() >= 64 {
                    return Err(bad(format!("field {name} is too long")));
                }
                posted.fields.insert(name, text);
            }
        }
        Ok(posted)
    }

    fn text(&self, name: &str) -> String {
        self.fields
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    }

    fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// The record lines the form has (`type_N`, `value_N`, `ttl_N` for N = 1, 2, 3).
    fn records(&self) -> Vec<RecordInput> {
        (1..=3)
            .filter_map(|n| {
                let value = self.optional(&format!("value_{n}"))?;
                Some(RecordInput {
                    rtype: self.text(&format!("type_{n}")),
                    value,
                    ttl: self.text(&format!("ttl_{n}")).parse().unwrap_or(3600),
                })
            })
            .collect()
    }
}

/// `POST /requests`: submit, with the files.
pub(super) async fn submit(
    signed: Signed,
    State(state): State<AppState>,
    mut multipart: Multipart,
) -> Response {
    let posted = match Posted::read(&mut multipart, state.requests.attachment_limit()).await {
        Ok(p) => p,
        Err(e) => return failure_back(signed.lang, e, "/requests/new".into()),
    };
    if !same_token(&posted.text("csrf"), &signed.current.csrf) {
        return forged(&signed);
    }
    let input = NewRequest {
        kind: "create".into(),
        zone: posted.text("zone"),
        name: posted.text("name"),
        records: posted.records(),
        contact: Contact {
            name: posted.text("contact_name"),
            email: posted.text("contact_email"),
            phone: posted.optional("contact_phone"),
        },
        purpose: posted.text("purpose"),
        recommendation_ref: posted.optional("recommendation_ref"),
        certificate: posted.text("certificate") == "on",
        agency: posted.optional("agency"),
        // The front office says how the letter came; an applicant's own form is the web.
        letter: posted
            .optional("letter_channel")
            .map(|channel| LetterInput {
                channel,
                number: posted.optional("letter_number"),
                date: posted.optional("letter_date"),
            }),
    };
    match state
        .requests
        .submit_with_files(&signed.current.actor, input, posted.uploads, Utc::now())
        .await
    {
        Ok(id) => Redirect::to(&format!("/requests/{id}?saved=1")).into_response(),
        Err(e) => failure_back(signed.lang, e, "/requests/new".into()),
    }
}

/// `POST /requests/{id}/files`: add files (a new letter for a returned request).
pub(super) async fn add_files(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return failure(signed.lang, ServiceError::NotFound(format!("request {id}")));
    };
    let back = format!("/requests/{id}");
    let posted = match Posted::read(&mut multipart, state.requests.attachment_limit()).await {
        Ok(p) => p,
        Err(e) => return failure_back(signed.lang, e, back),
    };
    if !same_token(&posted.text("csrf"), &signed.current.csrf) {
        return forged(&signed);
    }
    if posted.uploads.is_empty() {
        return failure_back(
            signed.lang,
            ServiceError::InvalidQuery("choose a file to attach".into()),
            back,
        );
    }
    match state
        .requests
        .attach(&signed.current.actor, id, posted.uploads, Utc::now())
        .await
    {
        Ok(()) => Redirect::to(&format!("{back}?saved=1")).into_response(),
        Err(e) => failure_back(signed.lang, e, back),
    }
}

#[derive(Deserialize)]
pub(super) struct ResubmitForm {
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    purpose: String,
}

/// `POST /requests/{id}/applicant`: resubmit a returned request, or withdraw one.
pub(super) async fn applicant_action(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<ResubmitForm>, FormRejection>,
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
    let back = format!("/requests/{id}");
    let now = Utc::now();
    let actor = &signed.current.actor;
    let done = match form.action.as_str() {
        "resubmit" => {
            let changes = Changes {
                purpose: Some(form.purpose.trim().to_owned()).filter(|p| !p.is_empty()),
                ..Changes::default()
            };
            state
                .requests
                .resubmit(actor, id, changes, now)
                .await
                .map(|_| ())
        }
        "withdraw" => state
            .requests
            .act(actor, id, Command::Withdraw, now)
            .await
            .map(|_| ()),
        _ => return forged(&signed),
    };
    match done {
        Ok(()) => Redirect::to(&format!("{back}?saved=1")).into_response(),
        Err(e) => failure_back(signed.lang, e, back),
    }
}

struct RegisterLine {
    name: String,
    agency: String,
    records: String,
    request: Option<i64>,
    certificate: String,
    suspended: bool,
    created: String,
    /// Open findings of the oversight checker (0 where the reader may not see them).
    findings: usize,
}

#[derive(Template)]
#[template(path = "register.html", config = "src/console/askama.toml")]
struct RegisterPage {
    frame: Frame,
    lines: Vec<RegisterLine>,
    q: String,
    agency: String,
    agencies: Vec<String>,
    total: usize,
}

#[derive(Deserialize, Default)]
pub(super) struct RegisterQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    agency: String,
}

/// `GET /register.csv`: the whole register as the signed-in person may see it, as CSV to save
/// (the office's "daftar subdomain").
pub(super) async fn register_csv(signed: Signed, State(state): State<AppState>) -> Response {
    let csv = match state.zones.register(&signed.current.actor).await {
        Ok(entries) => crate::service::zones::register_csv(&entries),
        Err(e) => Err(e),
    };
    match csv {
        Ok(csv) => super::download("text/csv; charset=utf-8", "daftar-subdomain.csv", csv),
        Err(e) => failure(signed.lang, e),
    }
}

/// `GET /register.pdf`: the whole register as the signed-in person may see it, as PDF to print
/// (the office's letterhead and a table of the names).
pub(super) async fn register_pdf(signed: Signed, State(state): State<AppState>) -> Response {
    match state
        .zones
        .register_pdf(&signed.current.actor, chrono::Utc::now())
        .await
    {
        Ok(pdf) => super::download("application/pdf", "daftar-subdomain.pdf", pdf),
        Err(e) => failure(signed.lang, e),
    }
}

/// `GET /register`: the subdomain register, searched by name and filtered by agency.
pub(super) async fn register(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<RegisterQuery>, QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let entries = match state.zones.register(&signed.current.actor).await {
        Ok(e) => e,
        Err(e) => return failure(signed.lang, e),
    };
    let total = entries.len();
    let mut agencies: Vec<String> = entries.iter().filter_map(|e| e.agency.clone()).collect();
    agencies.sort();
    agencies.dedup();
    let t = signed.lang.text();
    let needle = query.q.trim().to_lowercase();
    let lines = entries
        .into_iter()
        .filter(|e| needle.is_empty() || e.name.to_lowercase().contains(&needle))
        .filter(|e| query.agency.is_empty() || e.agency.as_deref() == Some(query.agency.as_str()))
        .map(|e| RegisterLine {
            records: e
                .records
                .iter()
                .map(|(t, _, v)| format!("{t} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            request: e.request.as_ref().map(|r| r.id),
            certificate: e
                .certificate
                .as_ref()
                .map(|c| {
                    let state = t.certificate_of(c.status.as_str());
                    match &c.not_after {
                        Some(until) => format!("{state} ({until})"),
                        None => state.to_owned(),
                    }
                })
                .unwrap_or_default(),
            suspended: e.suspension.is_some(),
            created: e.created_at.clone().unwrap_or_default(),
            findings: if e.contact_visible {
                e.findings.len()
            } else {
                0
            },
            agency: e.agency.unwrap_or_default(),
            name: e.name,
        })
        .collect();
    render(
        StatusCode::OK,
        &RegisterPage {
            frame: Frame::of(&signed),
            lines,
            q: query.q,
            agency: query.agency,
            agencies,
            total,
        },
    )
}

struct ConfirmationLine {
    name: String,
    agency: String,
    due_on: String,
    state: String,
    late: bool,
    confirmed_at: Option<String>,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    purpose: String,
    may_confirm: bool,
    may_retire: bool,
}

#[derive(Template)]
#[template(path = "confirmations.html", config = "src/console/askama.toml")]
struct ConfirmationsPage {
    frame: Frame,
    lines: Vec<ConfirmationLine>,
    saved: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /confirmations`: the yearly confirmation of the names the signed-in person looks
/// after (an applicant: its agency's) or oversees, each with its form; and the retirement of a
/// name no longer in use, from the same screen.
pub(super) async fn confirmations(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Response {
    let Query(query) = query.unwrap_or_default();
    let actor = &signed.current.actor;
    let views = match state.confirmations.list(actor, Utc::now()).await {
        Ok(v) => v,
        Err(e) => return failure(signed.lang, e),
    };
    let t = signed.lang.text();
    let field = |c: &Option<serde_json::Value>, key: &str| {
        c.as_ref()
            .and_then(|c| c[key].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let lines = views
        .into_iter()
        .map(|v| ConfirmationLine {
            state: t.confirmation_of(v.state).to_owned(),
            late: matches!(v.state, "unconfirmed" | "suspended" | "due"),
            contact_name: field(&v.contact, "name"),
            contact_email: field(&v.contact, "email"),
            contact_phone: field(&v.contact, "phone"),
            purpose: v.purpose.unwrap_or_default(),
            // The agency's own people confirm; the office oversees.
            may_confirm: actor.has(&Role::Applicant),
            // A suspended name cannot be asked to be deleted (the office lifts it first);
            // confirming restores one suspended for the lack of a confirmation.
            may_retire: actor.has(&Role::Applicant) && v.state != "suspended",
            agency: v.agency.unwrap_or_default(),
            due_on: v.due_on,
            confirmed_at: v.confirmed_at,
            name: v.name,
        })
        .collect();
    render(
        StatusCode::OK,
        &ConfirmationsPage {
            frame: Frame::of(&signed),
            lines,
            saved: query.saved.is_some(),
        },
    )
}

/// The confirmation form.
#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    csrf: String,
    contact_name: String,
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    purpose: String,
}

/// `POST /confirmations/{name}`: confirm a name for another year.
pub(super) async fn confirm(
    signed: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    if !same_token(&form.csrf, &signed.current.csrf) {
        return forged(&signed);
    }
    let contact = Contact {
        name: form.contact_name,
        email: form.contact_email,
        phone: Some(form.contact_phone).filter(|p| !p.trim().is_empty()),
    };
    match state
        .confirmations
        .confirm(
            &signed.current.actor,
            &name,
            &contact,
            &form.purpose,
            Utc::now(),
        )
        .await
    {
        Ok(_) => Redirect::to("/confirmations?saved=1").into_response(),
        Err(e) => failure_back(signed.lang, e, "/confirmations".into()),
    }
}

/// `POST /confirmations/{name}/retire`: the name is no longer in use: a delete request for
/// it, with the contact of its last confirmation (or request), then the request's page to
/// attach the letter.
pub(super) async fn retire(
    signed: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: Result<Form<super::admin::CsrfForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    if !same_token(&form.csrf, &signed.current.csrf) {
        return forged(&signed);
    }
    let actor = &signed.current.actor;
    let t = signed.lang.text();
    let view = match state.confirmations.of(&name, Utc::now()).await {
        Ok(v) => v,
        Err(e) => return failure_back(signed.lang, e, "/confirmations".into()),
    };
    let entry = match state.zones.subdomain(actor, &name).await {
        Ok(e) => e,
        Err(e) => return failure_back(signed.lang, e, "/confirmations".into()),
    };
    let from_request = entry
        .request
        .as_ref()
        .filter(|_| entry.contact_visible)
        .and_then(|r| serde_json::from_value::<Contact>(r.data.contact.clone()).ok());
    let contact = view
        .and_then(|v| v.contact)
        .and_then(|c| serde_json::from_value::<Contact>(c).ok())
        .or(from_request);
    let Some(contact) = contact else {
        return failure_back(
            signed.lang,
            ServiceError::Validation(vec![crate::domain::policy::FieldError {
                field: "contact".into(),
                code: "required",
                message: "confirm the name once (with its contact) before retiring it".into(),
            }]),
            "/confirmations".into(),
        );
    };
    let label = entry
        .name
        .strip_suffix(&format!(".{}", entry.zone))
        .unwrap_or(&entry.name)
        .to_owned();
    let input = NewRequest {
        kind: "delete".into(),
        zone: entry.zone.clone(),
        name: label,
        records: Vec::new(),
        contact,
        purpose: t.retired_purpose.into(),
        recommendation_ref: None,
        certificate: false,
        agency: None,
        letter: None,
    };
    match state.requests.submit(actor, input, Utc::now()).await {
        Ok(id) => Redirect::to(&format!("/requests/{id}")).into_response(),
        Err(e) => failure_back(signed.lang, e, "/confirmations".into()),
    }
}
