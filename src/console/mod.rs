//! The web console at `/`: pages rendered on the server (askama templates compiled into the
//! binary, no script needed), in Bahasa Indonesia (English when the browser asks for it first).
//! A handler extracts, calls one service, and renders; signing in and sessions are
//! [`crate::service::signin`]'s, permissions the core's, as for the API.
//!
//! Cookies: the session (`__Host-ranah` over HTTPS, `ranah` on a loopback address over plain
//! HTTP), `HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS; every form carries a token that must
//! match the session's (or, on the sign-in form, a cookie of its own).

mod admin;
mod applicant;
mod complaints;
mod office;
mod pages;
mod text;

use std::net::IpAddr;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::AppState;
use crate::api::client::ClientAddr;
use crate::service::signin::Current;
pub use text::Lang;

/// The policy of the console's pages: everything from ranah itself, nothing inline, nothing
/// framing them; a PDF attachment may be shown in a frame of the request page.
const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-src 'self'; object-src 'self'; form-action 'self' https: http:; \
     frame-ancestors 'self'; base-uri 'none'";

/// The largest form with files: two files at the attachments' limit, and the fields.
const UPLOAD_LIMIT: usize = 2 * crate::domain::attachment::MAX_SIZE + 64 * 1024;

/// The stylesheet, from the binary.
const STYLESHEET: &str = include_str!("assets/console.css");

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/signin/password", post(pages::sign_in_with_password))
        .route("/signin/oidc", get(pages::sign_in_with_provider))
        .route("/signin/callback", get(pages::provider_callback))
        .route("/signout", post(pages::sign_out))
        .route("/inbox", get(pages::inbox))
        .route(
            "/requests",
            post(applicant::submit).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/requests/new", get(applicant::new_request))
        .route("/requests/{id}", get(pages::request))
        .route(
            "/requests/{id}/files",
            post(applicant::add_files).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route(
            "/requests/{id}/applicant",
            post(applicant::applicant_action),
        )
        .route("/register", get(applicant::register))
        .route("/register.csv", get(applicant::register_csv))
        .route("/register.pdf", get(applicant::register_pdf))
        .route("/confirmations", get(applicant::confirmations))
        .route("/confirmations/{name}", post(applicant::confirm))
        .route("/confirmations/{name}/retire", post(applicant::retire))
        .route("/subdomains/{name}", get(office::subdomain))
        .route("/subdomains/{name}/check", post(office::check))
        .route("/findings/{id}/suspend", post(office::suspend_for_finding))
        .route("/pengaduan", get(complaints::form).post(complaints::submit))
        .route("/complaints", get(complaints::list))
        .route(
            "/complaints/{id}",
            get(complaints::page).post(complaints::step),
        )
        .route("/certificates", get(office::certificates))
        .route("/zones", get(office::zones))
        .route("/report", get(office::report))
        .route("/report.csv", get(office::report_csv))
        .route("/audit", get(office::audit))
        .route("/admin", get(admin::admin))
        .route("/admin/users", post(admin::add_user))
        .route("/admin/users/{name}", post(admin::user_action))
        .route("/admin/tokens", post(admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/requests/{id}/decision", post(pages::decide))
        .route("/requests/{id}/files/{kind}", get(pages::attachment))
        .route("/assets/console.css", get(stylesheet))
        .route("/favicon.ico", get(icon))
        .route("/assets/console.js", get(script))
}

/// The script that makes the pages a little better (they work without it).
const SCRIPT: &str = include_str!("assets/console.js");

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The icon browsers ask for at `/favicon.ico` (an SVG: every current browser takes one).
const ICON: &str = include_str!("assets/icon.svg");

async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The cookies' names, by whether the console is served over HTTPS.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookieNames {
    session: &'static str,
    form: &'static str,
    browser: &'static str,
    https: bool,
}

impl CookieNames {
    fn of(state: &AppState) -> Self {
        let https = state.signin.origin().is_some_and(|o| o.https);
        if https {
            Self {
                session: "__Host-ranah",
                form: "__Host-ranah_form",
                browser: "__Host-ranah_signin",
                https,
            }
        } else {
            Self {
                session: "ranah",
                form: "ranah_form",
                browser: "ranah_signin",
                https,
            }
        }
    }

    /// A `Set-Cookie` value: host-only, whole site, script cannot read it, sent on top-level
    /// navigations from other sites (the provider's redirect back) but not on their forms.
    fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.https {
            cookie.push_str("; Secure");
        }
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        // Values are our own URL-safe base64; a name is a constant.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn clear(&self, name: &str) -> HeaderValue {
        self.set(name, "", Some(0))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A page: HTML with the console's policy, never cached (it shows one person's work).
fn page(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CONSOLE_CSP),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A template rendered as a page.
fn render(status: StatusCode, template: &impl Template) -> Response {
    page(status, template.render())
}

/// The person signed in, with their session's form token and the page's language.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    current: Current,
    lang: Lang,
}

/// Where a visitor without a session is sent.
pub(crate) struct ToSignIn;

impl IntoResponse for ToSignIn {
    fn into_response(self) -> Response {
        Redirect::to("/").into_response()
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match <Self as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(ToSignIn.into_response()),
            Err(r) => Err(r),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Response> {
        let lang = Lang::of(&parts.headers);
        let names = CookieNames::of(state);
        let Some(token) = cookie(&parts.headers, names.session) else {
            return Ok(None);
        };
        let client = client(parts);
        match state
            .signin
            .current(token, client, chrono::Utc::now())
            .await
        {
            Ok(Some(current)) if crate::service::signin::may_use_console(&current.actor) => {
                Ok(Some(Self { current, lang }))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(pages::failure(lang, e)),
        }
    }
}

/// A file to save (`attachment`, never cached): the register, the monthly report.
fn download(media: &'static str, filename: &str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Our own file names: letters, digits and hyphens.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

fn client(parts: &Parts) -> Option<IpAddr> {
    ClientAddr::of(&parts.extensions)
}

/// Whether a form's token is the one expected (compared in constant time).
fn same_token(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}
