//! The administrators' page: users with their roles, sign-in method and lock; adding a user,
//! changing roles, giving a password, disabling; tokens made (shown once) and revoked. Every
//! change goes through the people and sign-in services, which check that the caller is an
//! admin and record it in the audit trail.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::pages::{Frame, failure, failure_back, forged};
use super::{Signed, render, same_token};
use crate::api::AppState;
use crate::domain::access::Grant;
use crate::domain::audit::Attribution;
use crate::domain::signin::valid_user_name;
use crate::service::ServiceError;

struct UserLine {
    name: String,
    email: String,
    agency: String,
    roles: String,
    method: String,
    disabled: bool,
    locked: bool,
}

struct TokenLine {
    id: i64,
    user: String,
    prefix: String,
    created: String,
    expires: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "admin.html", config = "src/console/askama.toml")]
struct AdminPage {
    frame: Frame,
    users: Vec<UserLine>,
    tokens: Vec<TokenLine>,
    /// A token just made, shown this once.
    new_token: Option<(String, String)>,
    saved: bool,
}

async fn page(
    signed: &Signed,
    state: &AppState,
    new_token: Option<(String, String)>,
    saved: bool,
) -> Response {
    if let Err(e) = state.people.administrator(&signed.current.actor) {
        return failure(signed.lang, e);
    }
    let t = signed.lang.text();
    let (users, tokens) = match (state.people.users().await, state.people.tokens().await) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return failure(signed.lang, e),
    };
    let now = Utc::now().to_rfc3339();
    let users = users
        .into_iter()
        .map(|u| UserLine {
            roles: u
                .grants
                .iter()
                .map(Grant::text)
                .collect::<Vec<_>>()
                .join(", "),
            method: match (u.single_sign_on, u.password) {
                (true, _) => t.method_sso.into(),
                (false, true) => t.method_password.into(),
                (false, false) => t.method_token.into(),
            },
            locked: u.locked_until.as_deref().is_some_and(|l| l > now.as_str()),
            disabled: u.disabled,
            email: u.email.unwrap_or_default(),
            agency: u.agency.unwrap_or_default(),
            name: u.name,
        })
        .collect();
    let tokens = tokens
        .into_iter()
        .map(|k| TokenLine {
            id: k.id,
            user: k.user,
            prefix: k.prefix,
            created: k.created_at,
            expires: k.expires_at.unwrap_or_default(),
            revoked: k.revoked_at.is_some(),
        })
        .collect();
    render(
        StatusCode::OK,
        &AdminPage {
            frame: Frame::of(signed),
            users,
            tokens,
            new_token,
            saved,
        },
    )
}

#[derive(Deserialize, Default)]
pub(super) struct Saved {
    saved: Option<u8>,
}

/// `GET /admin`.
pub(super) async fn admin(
    signed: Signed,
    State(state): State<AppState>,
    query: Result<Query<Saved>, QueryRejection>,
) -> Response {
    let saved = query.is_ok_and(|Query(q)| q.saved == Some(1));
    page(&signed, &state, None, saved).await
}

#[derive(Deserialize)]
pub(super) struct UserForm {
    csrf: String,
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    roles: String,
}

/// The administrator behind a form: its token must be the session's, and the caller an admin;
/// else the page that says why.
#[allow(clippy::result_large_err)] // the page is the answer at once, not carried further
fn administrator(signed: &Signed, state: &AppState, csrf: &str) -> Result<Attribution, Response> {
    if !same_token(csrf, &signed.current.csrf) {
        return Err(forged(signed));
    }
    state
        .people
        .administrator(&signed.current.actor)
        .map_err(|e| failure(signed.lang, e))
}

/// A field of the form that cannot be taken: 422, naming the field.
fn invalid(field: &str, message: String) -> ServiceError {
    ServiceError::Validation(vec![crate::domain::policy::FieldError {
        field: field.into(),
        code: "invalid",
        message,
    }])
}

/// The grants a roles field names: separated by commas or spaces.
fn grants(state: &AppState, roles: &str) -> Result<Vec<Grant>, ServiceError> {
    let workflow = state.requests.workflow();
    roles
        .split([',', ' '])
        .filter(|r| !r.trim().is_empty())
        .take(20)
        .map(|r| Grant::parse(r, workflow).map_err(|e| invalid("roles", e.to_string())))
        .collect()
}

/// `POST /admin/users`: add a user.
pub(super) async fn add_user(
    signed: Signed,
    State(state): State<AppState>,
    form: Result<Form<UserForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    let back = "/admin".to_owned();
    let by = match administrator(&signed, &state, &form.csrf) {
        Ok(by) => by,
        Err(page) => return page,
    };
    let name = form.name.trim();
    if !valid_user_name(name) {
        let e = invalid(
            "name",
            format!("`{name}` is not a user name: 1 to 64 letters, digits, `.`, `_`, `-`, `@`"),
        );
        return failure_back(signed.lang, e, back);
    }
    let grants = match grants(&state, &form.roles) {
        Ok(g) if !g.is_empty() => g,
        Ok(_) => {
            let e = invalid("roles", "give the user at least one role".into());
            return failure_back(signed.lang, e, back);
        }
        Err(e) => return failure_back(signed.lang, e, back),
    };
    let agency = match form.agency.trim() {
        "" => None,
        code => match state.people.agency(code).await {
            Ok(Some(a)) => Some(a.id),
            Ok(None) => {
                let e = ServiceError::NotFound(format!("agency {code}"));
                return failure_back(signed.lang, e, back);
            }
            Err(e) => return failure_back(signed.lang, e, back),
        },
    };
    let email = Some(form.email.trim()).filter(|e| !e.is_empty());
    match state
        .people
        .add_user(name, email, agency, &grants, &by, Utc::now())
        .await
    {
        Ok(_) => Redirect::to("/admin?saved=1").into_response(),
        Err(e) => failure_back(signed.lang, e, back),
    }
}

#[derive(Deserialize)]
pub(super) struct UserActionForm {
    csrf: String,
    action: String,
    #[serde(default)]
    roles: String,
    #[serde(default)]
    password: String,
}

/// `POST /admin/users/{name}`: change roles, give a password, or disable.
pub(super) async fn user_action(
    signed: Signed,
    State(state): State<AppState>,
    Path(name): Path<String>,
    form: Result<Form<UserActionForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    let back = "/admin".to_owned();
    let by = match administrator(&signed, &state, &form.csrf) {
        Ok(by) => by,
        Err(page) => return page,
    };
    let now = Utc::now();
    let done = match form.action.as_str() {
        "roles" => match grants(&state, &form.roles) {
            Ok(g) => state.people.set_roles(&name, &g, &by, now).await,
            Err(e) => Err(e),
        },
        "password" => {
            state
                .signin
                .set_password(&name, Some(&form.password), &by, now)
                .await
        }
        "disable" => state
            .people
            .disable_user(&name, &by, now)
            .await
            .map_err(ServiceError::from),
        _ => return forged(&signed),
    };
    match done {
        Ok(()) => Redirect::to("/admin?saved=1").into_response(),
        Err(e) => failure_back(signed.lang, e, back),
    }
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    csrf: String,
    user: String,
    #[serde(default)]
    expires: String,
}

/// `POST /admin/tokens`: make a token; the page shows it this once.
pub(super) async fn create_token(
    signed: Signed,
    State(state): State<AppState>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    let back = "/admin".to_owned();
    let by = match administrator(&signed, &state, &form.csrf) {
        Ok(by) => by,
        Err(page) => return page,
    };
    // The last valid day, through its end in UTC, as `ranah token create --expires` reads it.
    let expires = match form.expires.trim() {
        "" => None,
        d => match d
            .parse::<chrono::NaiveDate>()
            .ok()
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            Some(t) => Some(t.and_utc()),
            None => {
                let e = ServiceError::InvalidQuery(format!("`{d}`: write YYYY-MM-DD"));
                return failure_back(signed.lang, e, back);
            }
        },
    };
    let user = form.user.trim().to_owned();
    match state
        .people
        .create_token(&user, expires, &by, Utc::now())
        .await
    {
        Ok((_, token)) => page(&signed, &state, Some((user, token)), false).await,
        Err(e) => failure_back(signed.lang, e.into(), back),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: String,
}

/// `POST /admin/tokens/{id}/revoke`.
pub(super) async fn revoke_token(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return forged(&signed);
    };
    let by = match administrator(&signed, &state, &form.csrf) {
        Ok(by) => by,
        Err(page) => return page,
    };
    match state.people.revoke_token(id, &by, Utc::now()).await {
        Ok(()) => Redirect::to("/admin?saved=1").into_response(),
        Err(e) => failure_back(signed.lang, e.into(), "/admin".into()),
    }
}
