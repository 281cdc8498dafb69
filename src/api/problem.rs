//! RFC 9457 problem details: every error the API returns, with a stable `code` and, for
//! validation, the list of field errors. The one place where service errors become HTTP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::policy::FieldError;
use crate::domain::request::DomainError;
use crate::publish::PublishError;
use crate::service::ServiceError;
use crate::service::certificates::CertificateRefusal;

/// A field error as sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field.
    pub field: String,
    /// Stable code.
    pub code: String,
    /// For people.
    pub message: String,
}

/// An `application/problem+json` response (boxed: handlers return it as their error, and it
/// should not make every `Result` large). A fault of ours keeps its cause for the log, never
/// for the client.
#[derive(Debug, Clone)]
pub struct Problem(Box<(ProblemDetails, Option<String>)>);

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.0.serialize(s)
    }
}

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;
    fn deref(&self) -> &ProblemDetails {
        &self.0.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0.0
    }
}

/// The members of a problem (RFC 9457 §3, plus `code`, `errors` and `held_by`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened.
    pub detail: String,
    /// Stable code.
    pub code: &'static str,
    /// Field errors (validation only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// The open request that holds a name (`name_taken` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<i64>,
}

impl Problem {
    /// A problem with a status, a code and a detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new((
            ProblemDetails {
                kind: format!("https://ranah.dev/problems/{}", code.replace('_', "-")),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                code,
                errors: Vec::new(),
                held_by: None,
            },
            None,
        )))
    }

    /// 500 for a fault of ours: the client learns nothing of it; `cause` is logged once, when
    /// the response is sent.
    pub fn internal(cause: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        );
        p.0.1 = Some(cause.into());
        p
    }

    /// 422 with field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the request has invalid fields",
        );
        p.errors = errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field,
                code: e.code.to_owned(),
                message: e.message,
            })
            .collect();
        p
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }
}

/// Seconds a client is told to wait (`Retry-After`) before it retries a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

/// What the log needs of a problem answered: put in the response's extensions by
/// [`Problem::into_response`], logged and counted once per response by the server
/// (`api::serve`), where the limit of one log line per interval and kind applies.
#[derive(Debug, Clone)]
pub struct ProblemRecord {
    /// The HTTP status.
    pub status: u16,
    /// The stable code.
    pub code: &'static str,
    /// The detail sent.
    pub detail: String,
    /// A fault's cause (never sent).
    pub cause: Option<String>,
}

impl Problem {
    /// 503 for a request beyond `api.max_requests_in_flight`.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in progress; retry later",
        )
    }

    /// 408 for a request body that stopped arriving (`api.body_read_timeout_secs`).
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (details, cause) = *self.0;
        let record = ProblemRecord {
            status: details.status,
            code: details.code,
            detail: details.detail.clone(),
            cause,
        };
        let mut response = (status, axum::Json(details)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // Every 503 says when to come back (RFC 9110 §10.2.3).
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            // A limit per period: a minute is long enough for a bucket to give a call back.
            StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(60u32));
            }
            // The rest of the body will not be read: the connection cannot be reused.
            StatusCode::REQUEST_TIMEOUT => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response.extensions_mut().insert(record);
        response
    }
}

/// Rejections made by axum's own extractors (a body over the limit, a malformed query string,
/// a wrong method) come as plain text: turn every error response that is not already a problem
/// into one, so that clients see one error format.
pub async fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // An answer in Cloudflare's envelope (`/client/v4`), whose clients read that.
    if response
        .extensions()
        .get::<super::cloudflare::Enveloped>()
        .is_some()
    {
        return response;
    }
    // A problem already, or a page of the console (which answers browsers in HTML).
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"text/html")
        });
    if is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let mut problem = Problem::new(status, code, detail).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        let detail = e.to_string();
        match e {
            ServiceError::Domain(d) => match d {
                DomainError::NotYourStep { .. } => {
                    Self::new(StatusCode::FORBIDDEN, "not_your_step", detail)
                }
                DomainError::InvalidState(_)
                | DomainError::MovedOn { .. }
                | DomainError::NotDue
                | DomainError::ApplicantStep(_) => {
                    Self::new(StatusCode::CONFLICT, "invalid_state", detail)
                }
                DomainError::OwnRequest => Self::new(StatusCode::FORBIDDEN, "own_request", detail),
                DomainError::LetterRequired => {
                    Self::new(StatusCode::CONFLICT, "letter_required", detail)
                }
                DomainError::NoteRequired => Self::validation(vec![FieldError {
                    field: "note".into(),
                    code: "required",
                    message: detail,
                }]),
                DomainError::UnknownReason(_) => Self::validation(vec![FieldError {
                    field: "reason".into(),
                    code: "unknown_reason",
                    message: detail,
                }]),
                DomainError::NotTheApplicant => {
                    Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
                }
            },
            ServiceError::Validation(errors) => Self::validation(errors),
            ServiceError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", detail),
            ServiceError::InvalidQuery(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_query", detail)
            }
            ServiceError::TooLarge(_) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", detail)
            }
            ServiceError::UnsupportedMediaType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                detail,
            ),
            ServiceError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", detail),
            ServiceError::NotYourAgency(_) => {
                Self::new(StatusCode::FORBIDDEN, "not_your_agency", detail)
            }
            ServiceError::TooManyAttachments(_) => {
                Self::new(StatusCode::CONFLICT, "too_many_attachments", detail)
            }
            ServiceError::NameTaken { held_by, .. } => {
                let mut p = Self::new(StatusCode::CONFLICT, "name_taken", detail);
                p.held_by = held_by;
                p
            }
            ServiceError::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            ServiceError::TooManyRequests(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", detail)
            }
            ServiceError::Certificate(c) => match c {
                CertificateRefusal::Off => {
                    Self::new(StatusCode::CONFLICT, "certificates_off", detail)
                }
                CertificateRefusal::InFlight(_) => {
                    Self::new(StatusCode::CONFLICT, "order_in_flight", detail)
                }
                CertificateRefusal::NotIssued(_) => {
                    Self::new(StatusCode::NOT_FOUND, "not_issued", detail)
                }
                CertificateRefusal::NoManagedKey { .. } => {
                    Self::new(StatusCode::NOT_FOUND, "no_managed_key", detail)
                }
            },
            ServiceError::Publish(PublishError::Store(_)) | ServiceError::Internal { .. } => {
                Self::internal(detail)
            }
            ServiceError::Unavailable { detail: told, .. } => {
                let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", told);
                p.0.1 = Some(detail);
                p
            }
            ServiceError::Publish(PublishError::NameExists(_)) => {
                Self::new(StatusCode::CONFLICT, "name_taken", detail)
            }
            ServiceError::Publish(p) => Self::new(StatusCode::CONFLICT, "zone_rule", p.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(p: Problem) -> serde_json::Value {
        serde_json::to_value(p).unwrap()
    }

    /// The wire form of each problem is part of the contract: golden values.
    #[test]
    fn golden_problems() {
        let v = json(Problem::from(ServiceError::Domain(
            DomainError::NotYourStep {
                step: "disposition".into(),
                role: "head_of_office".into(),
            },
        )));
        assert_eq!(
            v,
            serde_json::json!({
                "type": "https://ranah.dev/problems/not-your-step",
                "title": "Forbidden",
                "status": 403,
                "detail": "step `disposition` is acted on by the role `head_of_office`",
                "code": "not_your_step",
            })
        );
        let v = json(Problem::from(ServiceError::NameTaken {
            message: "sipd.kaltaraprov.go.id. is held by open request 7".into(),
            held_by: Some(7),
        }));
        assert_eq!(v["status"], 409);
        assert_eq!(v["code"], "name_taken");
        assert_eq!(v["held_by"], 7);
        let v = json(Problem::from(ServiceError::Domain(
            DomainError::InvalidState("completed"),
        )));
        assert_eq!(
            (v["status"].as_u64(), v["code"].as_str()),
            (Some(409), Some("invalid_state"))
        );
        let v = json(Problem::validation(vec![FieldError {
            field: "records[0].value".into(),
            code: "address_not_allowed",
            message: "private address".into(),
        }]));
        assert_eq!(v["status"], 422);
        assert_eq!(
            v["errors"],
            serde_json::json!([{"field": "records[0].value", "code": "address_not_allowed", "message": "private address"}])
        );
    }

    /// A 503 says when to retry, a 408 closes the connection, and every problem carries what
    /// the log needs (the cause of a fault included) for the server to log it once.
    #[test]
    fn headers_and_the_record_for_the_log() {
        let r = Problem::overloaded().into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let record = r.extensions().get::<ProblemRecord>().unwrap();
        assert_eq!((record.status, record.code), (503, "overloaded"));
        let r = Problem::request_timeout().into_response();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = Problem::from(ServiceError::Unavailable {
            detail: "the store cannot be reached; retry later",
            cause: "pool timed out".into(),
        })
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let record = r.extensions().get::<ProblemRecord>().unwrap();
        assert_eq!(
            record.cause.as_deref(),
            Some("the store cannot be reached; retry later: pool timed out")
        );
        let r = Problem::unauthorized().into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }

    /// Every service error maps to one status and code; faults of ours are 500s without their
    /// cause, real conflicts stay 409s.
    #[test]
    fn each_mapping() {
        let cases: Vec<(ServiceError, u16, &str)> = vec![
            (ServiceError::Validation(vec![]), 422, "validation_failed"),
            (ServiceError::NotFound("request 9".into()), 404, "not_found"),
            (ServiceError::Forbidden("no".into()), 403, "forbidden"),
            (
                ServiceError::NotYourAgency("agency X".into()),
                403,
                "not_your_agency",
            ),
            (
                ServiceError::TooManyAttachments("20".into()),
                409,
                "too_many_attachments",
            ),
            (
                ServiceError::Conflict("request 9 was changed".into()),
                409,
                "conflict",
            ),
            (
                ServiceError::TooManyRequests("5 an hour".into()),
                429,
                "too_many_requests",
            ),
            (ServiceError::TooLarge("10 MiB".into()), 413, "too_large"),
            (
                ServiceError::Unavailable {
                    detail: "the store cannot be reached; retry later",
                    cause: "pool timed out".into(),
                },
                503,
                "store_unavailable",
            ),
            (
                ServiceError::InvalidQuery("limit".into()),
                400,
                "invalid_query",
            ),
            (
                ServiceError::UnsupportedMediaType("x".into()),
                415,
                "unsupported_media_type",
            ),
            (DomainError::LetterRequired.into(), 409, "letter_required"),
            (DomainError::OwnRequest.into(), 403, "own_request"),
            (DomainError::NotTheApplicant.into(), 403, "forbidden"),
            (DomainError::NoteRequired.into(), 422, "validation_failed"),
            (
                ServiceError::Publish(PublishError::CnameAtApex),
                409,
                "zone_rule",
            ),
            (
                ServiceError::Publish(PublishError::NameExists("a.".into())),
                409,
                "name_taken",
            ),
            (CertificateRefusal::Off.into(), 409, "certificates_off"),
            (
                CertificateRefusal::InFlight("a".into()).into(),
                409,
                "order_in_flight",
            ),
            (
                CertificateRefusal::NotIssued("a".into()).into(),
                404,
                "not_issued",
            ),
            (
                ServiceError::internal(
                    "cannot store the response letter",
                    "Permission denied (os error 13): /var/lib/ranah/attachments/ab12",
                ),
                500,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            let what = format!("{error:?}");
            let p = Problem::from(error);
            let v = json(p.clone());
            assert_eq!(
                (v["status"].as_u64(), v["code"].as_str()),
                (Some(status as u64), Some(code)),
                "{what}"
            );
            if status == 500 {
                assert_eq!(v["detail"], "internal error; see the server log", "{what}");
                assert!(!v.to_string().contains("var/lib") && !v.to_string().contains("request 9"));
                // The cause is kept for the log.
                assert!(p.0.1.is_some(), "{what}");
            }
        }
    }
}
