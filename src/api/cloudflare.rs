//! The Cloudflare-compatible API under `/client/v4`: the subset of Cloudflare's v4 API a DNS
//! client needs (zones found by name, DNS records listed, created, changed and deleted), in
//! Cloudflare's envelope (`success`, `errors` with `code` and `message`, `messages`,
//! `result`, `result_info`), so that a portal or tool written for Cloudflare changes only its
//! base URL and token. Tokens are ranah's own, of the `integration` role. The mapping of
//! fields and errors is in docs/integrations.md.
//!
//! Answers here are never RFC 9457 problems (Cloudflare's clients read the envelope):
//! [`Enveloped`] marks them, and `problem::ensure_problem` lets them through.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use super::auth::bearer_token;
use super::problem::{Problem, ProblemRecord};
use crate::domain::access::Actor;
use crate::service::cloudflare::{
    CfRecord, CfZone, CloudflareError, RecordFilter, RecordInput, Written,
};

/// Marks an answer in Cloudflare's envelope: not to be turned into a problem.
#[derive(Debug, Clone, Copy)]
pub struct Enveloped;

/// The routes, nested under `/client/v4`.
pub fn routes() -> Router<AppState> {
    let v4 = Router::new()
        .route("/zones", get(zones))
        .route("/zones/{zone}", get(zone))
        .route("/zones/{zone}/dns_records", get(list).post(create))
        .route(
            "/zones/{zone}/dns_records/{id}",
            get(read).put(replace).patch(edit).delete(delete),
        )
        .fallback(|| async { failure(StatusCode::NOT_FOUND, 7000, "No route for that URI") })
        .method_not_allowed_fallback(|| async {
            failure(
                StatusCode::METHOD_NOT_ALLOWED,
                7001,
                "Method not allowed for this URL",
            )
        });
    Router::new().nest("/client/v4", v4)
}

/// An answer in the envelope.
fn enveloped(status: StatusCode, body: Value, record: Option<ProblemRecord>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(Enveloped);
    if let Some(record) = record {
        response.extensions_mut().insert(record);
    }
    response
}

fn success(result: Value, info: Option<Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(info) = info {
        body["result_info"] = info;
    }
    enveloped(StatusCode::OK, body, None)
}

/// The code of the message that says a write became a request (Cloudflare's messages carry a
/// code; this one is ranah's own, outside the ranges Cloudflare's errors use).
pub const REQUESTED: u32 = 10100;

/// A write's answer: 200 when written; 202 Accepted when it became a request, with the
/// result as it will be, a message saying which request, and the request in the record's
/// `meta`.
fn written<T>(written: Written<T>, shown: impl FnOnce(T) -> Value) -> Response {
    match written {
        Written::Applied(result) => success(shown(result), None),
        Written::Requested {
            result,
            request,
            step,
        } => {
            let mut result = shown(result);
            let message = format!(
                "request {request} opened at step `{step}`: the zone changes when it is approved"
            );
            if result.get("meta").is_some() {
                result["meta"]["ranah_request"] = json!({"id": request, "step": step});
            }
            enveloped(
                StatusCode::ACCEPTED,
                json!({"success": true, "errors": [],
                       "messages": [{"code": REQUESTED, "message": message}],
                       "result": result}),
                None,
            )
        }
    }
}

/// A failure: its status, Cloudflare's code and message (counted and logged as problems are,
/// under the code `cloudflare`).
fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    let record = ProblemRecord {
        status: status.as_u16(),
        code: "cloudflare",
        detail: message.to_owned(),
        cause: None,
    };
    enveloped(
        status,
        json!({"success": false, "errors": [{"code": code, "message": message}],
               "messages": [], "result": null}),
        Some(record),
    )
}

impl IntoResponse for CloudflareError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code) = match self {
            Self::Service(e) => return service_failure(e),
            Self::NotAnIntegration => (StatusCode::FORBIDDEN, 10000),
            Self::ZoneNotFound => (StatusCode::NOT_FOUND, 7003),
            Self::RecordNotFound => (StatusCode::NOT_FOUND, 81044),
            Self::Invalid(_) | Self::ZoneRule(_) => (StatusCode::BAD_REQUEST, 1004),
            Self::Proxied => (StatusCode::BAD_REQUEST, 9041),
            Self::BadBody(_) => (StatusCode::BAD_REQUEST, 9207),
            Self::Exists => (StatusCode::BAD_REQUEST, 81057),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, 9109),
            Self::Held(_) => (StatusCode::CONFLICT, 1004),
            Self::TooManyWrites => (StatusCode::TOO_MANY_REQUESTS, 971),
        };
        failure(status, code, &message)
    }
}

/// The store's failure or ours: the status, words and log line of the problem it is
/// elsewhere (a 503 with Retry-After, a 500 that shows no cause), in the envelope.
fn service_failure(e: crate::service::requests::ServiceError) -> Response {
    let problem = Problem::from(e).into_response();
    let status = problem.status();
    let record = problem.extensions().get::<ProblemRecord>().cloned();
    let retry = problem.headers().get(header::RETRY_AFTER).cloned();
    let detail = record
        .as_ref()
        .map(|r| r.detail.clone())
        .unwrap_or_else(|| "internal error".into());
    let code = if status == StatusCode::SERVICE_UNAVAILABLE {
        10001
    } else {
        10002
    };
    let mut response = enveloped(
        status,
        json!({"success": false, "errors": [{"code": code, "message": detail}],
               "messages": [], "result": null}),
        record,
    );
    if let Some(retry) = retry {
        response.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    response
}

/// The caller: a bearer token of ranah's (an integration's, as the service checks).
pub struct Caller(Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
        else {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                6003,
                "Invalid request headers: an Authorization: Bearer token is required",
            ));
        };
        match state.people.authenticate(token, Utc::now()).await {
            Ok(Some(mut user)) => {
                user.client =
                    super::client::ClientAddr::of(&parts.extensions).map(|ip| ip.to_string());
                Ok(Self(user))
            }
            Ok(None) => Err(failure(StatusCode::FORBIDDEN, 9109, "Invalid access token")),
            Err(e) => Err(service_failure(e)),
        }
    }
}

type Params = Query<HashMap<String, String>>;

/// The page asked for: `page` (from 1) and `per_page` (default `default`, at most `max`).
fn page_asked(
    params: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<(usize, usize), CloudflareError> {
    let number = |key: &str, fallback: usize| -> Result<usize, CloudflareError> {
        match params.get(key) {
            None => Ok(fallback),
            Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                CloudflareError::Invalid(format!("{key} must be a whole number from 1"))
            }),
        }
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", default)?;
    if per_page > max {
        return Err(CloudflareError::Invalid(format!(
            "per_page must be at most {max}"
        )));
    }
    Ok((page, per_page))
}

/// Cloudflare's `result_info` of a page of `count` items out of `total`.
fn page_info(page: usize, per_page: usize, count: usize, total: u64) -> Value {
    json!({
        "page": page, "per_page": per_page, "count": count, "total_count": total,
        "total_pages": total.div_ceil(per_page as u64),
    })
}

/// A page of `items`, and its `result_info`.
fn page<T>(
    items: Vec<T>,
    params: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<(Vec<T>, Value), CloudflareError> {
    let (page, per_page) = page_asked(params, default, max)?;
    let total = items.len();
    let items: Vec<T> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let info = page_info(page, per_page, items.len(), total as u64);
    Ok((items, info))
}

fn zone_json(z: &CfZone) -> Value {
    json!({
        "id": z.id, "name": z.name, "status": "active", "paused": false, "type": "full",
        "development_mode": 0, "name_servers": z.name_servers,
        "original_name_servers": null, "original_registrar": null, "original_dnshost": null,
        "account": {"id": "ranah", "name": "ranah"},
        "owner": {"id": null, "type": "organization", "name": null},
        "permissions": ["#zone:read", "#dns_records:read", "#dns_records:edit"],
        "plan": null,
    })
}

fn record_json(r: &CfRecord) -> Value {
    let mut v = json!({
        "id": r.id, "zone_id": r.zone_id, "zone_name": r.zone_name, "name": r.name,
        "type": r.rtype, "content": r.content, "proxiable": false, "proxied": false,
        "ttl": r.ttl, "locked": false, "settings": {},
        "meta": {"auto_added": false, "managed_by_apps": false,
                 "managed_by_argo_tunnel": false, "source": "primary"},
        "comment": null, "tags": [], "created_on": r.created_on, "modified_on": r.created_on,
    });
    if let Some(priority) = r.priority {
        v["priority"] = priority.into();
    }
    v
}

async fn zones(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(params): Params,
) -> Response {
    let result = state
        .cloudflare
        .zones(&caller, params.get("name").map(String::as_str))
        .and_then(|zones| page(zones, &params, 20, 50));
    match result {
        Ok((zones, info)) => success(zones.iter().map(zone_json).collect(), Some(info)),
        Err(e) => e.into_response(),
    }
}

async fn zone(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.cloudflare.zone(&caller, &id) {
        Ok(z) => success(zone_json(&z), None),
        Err(e) => e.into_response(),
    }
}

/// A filter's value: `name=…` or `name.exact=…` (the official SDKs send the latter).
fn filter_value(params: &HashMap<String, String>, key: &str) -> Option<String> {
    params
        .get(key)
        .or_else(|| params.get(&format!("{key}.exact")))
        .cloned()
}

/// The query parameters a record list understands; any other is refused rather than ignored
/// (a client that deletes what a filter matched must never be handed every record).
const LIST_PARAMETERS: [&str; 10] = [
    "type",
    "name",
    "name.exact",
    "content",
    "content.exact",
    "page",
    "per_page",
    "order",
    "direction",
    "match",
];

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(zone): Path<String>,
    Query(params): Params,
) -> Response {
    if let Some(unknown) = params
        .keys()
        .find(|k| !LIST_PARAMETERS.contains(&k.as_str()))
    {
        return CloudflareError::Invalid(format!("the filter `{unknown}` is not supported here"))
            .into_response();
    }
    if params.get("match").is_some_and(|m| m != "all") {
        return CloudflareError::Invalid("only match=all is supported".into()).into_response();
    }
    let filter = RecordFilter {
        rtype: params.get("type").cloned(),
        name: filter_value(&params, "name"),
        content: filter_value(&params, "content"),
    };
    let (page, per_page) = match page_asked(&params, 100, 5000) {
        Ok(asked) => asked,
        Err(e) => return e.into_response(),
    };
    let result = state
        .cloudflare
        .records(&caller, &zone, &filter, page, per_page)
        .await
        .map(|(records, total)| {
            let info = page_info(page, per_page, records.len(), total);
            (records, info)
        });
    match result {
        Ok((records, info)) => success(records.iter().map(record_json).collect(), Some(info)),
        Err(e) => e.into_response(),
    }
}

async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((zone, id)): Path<(String, String)>,
) -> Response {
    match state.cloudflare.record(&caller, &zone, &id).await {
        Ok(r) => success(record_json(&r), None),
        Err(e) => e.into_response(),
    }
}

/// A record in a request's body; a body that is not one is Cloudflare's 9207.
fn input(body: &Bytes) -> Result<RecordInput, CloudflareError> {
    serde_json::from_slice(body).map_err(|e| CloudflareError::BadBody(e.to_string()))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(zone): Path<String>,
    body: Bytes,
) -> Response {
    let input = match input(&body) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    match state
        .cloudflare
        .create(&caller, &zone, input, Utc::now())
        .await
    {
        Ok(w) => written(w, |r| record_json(&r)),
        Err(e) => e.into_response(),
    }
}

async fn change(
    state: AppState,
    caller: Actor,
    zone: String,
    id: String,
    body: Bytes,
    partial: bool,
) -> Response {
    let input = match input(&body) {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    match state
        .cloudflare
        .update(&caller, &zone, &id, input, partial, Utc::now())
        .await
    {
        Ok(w) => written(w, |r| record_json(&r)),
        Err(e) => e.into_response(),
    }
}

async fn replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((zone, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change(state, caller, zone, id, body, false).await
}

async fn edit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((zone, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change(state, caller, zone, id, body, true).await
}

async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((zone, id)): Path<(String, String)>,
) -> Response {
    match state
        .cloudflare
        .delete(&caller, &zone, &id, Utc::now())
        .await
    {
        Ok(w) => written(w, |id| json!({ "id": id })),
        Err(e) => e.into_response(),
    }
}
