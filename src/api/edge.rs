//! What every HTTP answer carries and every request is checked for, whatever the route:
//! security headers, control characters in the query string, and CORS (closed unless
//! configured). See docs/api.md, "Headers" and "Validation".

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::body::control_error;
use super::problem::Problem;
use crate::domain::policy::control_character;

/// The policy of every answer but the documentation viewer: nothing may load, run or frame
/// it. An API answer is data, never a page.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The headers every answer carries (unless the route set its own).
const ALWAYS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CONTENT_SECURITY_POLICY, API_CSP),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// Add the security headers to every answer (problems, `/metrics` and the OpenAPI document
/// included); an answer to a request that carried credentials is not to be cached.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let authenticated = request.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in ALWAYS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if authenticated {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuse a query string with a control character in a parameter's name or value (after
/// percent-decoding): `422 validation_failed`, `control_character`, naming the parameter.
pub async fn query_text(request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query() {
        let mut errors = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if errors.len() >= 20 {
                break;
            }
            if let Some(c) = control_character(&name).or_else(|| control_character(&value)) {
                errors.push(control_error(&name, c));
            }
        }
        if !errors.is_empty() {
            return Problem::validation(errors).into_response();
        }
    }
    next.run(request).await
}

/// CORS for the configured origins (`api.cors_allowed_origins`); `None` when there are none:
/// then no answer carries CORS headers, and a browser keeps other sites' pages from reading
/// the API. The origins were checked with the configuration.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The router with CORS for `origins` (none: unchanged).
pub fn with_cors(router: axum::Router, origins: &[String]) -> axum::Router {
    match cors(origins) {
        // The preflight answers come from the CORS layer: they get the headers too.
        Some(layer) => router
            .layer(layer)
            .layer(axum::middleware::from_fn(security_headers)),
        None => router,
    }
}
