//! The one JSON-body extractor of `/api/v1`. Every route that takes a JSON body takes it
//! through [`JsonBody`], so that every route answers the same way (docs/api.md, "Errors"):
//!
//! - an empty body is read as `{}` (the bodies of approve, withdraw or suspend are optional,
//!   and a body that needs fields then names the missing one);
//! - a body that is not declared JSON (`Content-Type: application/json` or `…+json`) is
//!   `415 unsupported_media_type`;
//! - a body that is not JSON at all is `400 invalid_json`;
//! - JSON of the wrong shape (a missing or unknown field, a wrong type) is
//!   `422 validation_failed`, naming the field;
//! - a body over the route's limit is `413 too_large`;
//! - a string anywhere in the body (a value or a member's name) with a control character (C0,
//!   DEL or C1: NUL, line breaks, escapes) is `422 validation_failed` with the code
//!   `control_character`, naming the field: text fields are single lines of printable text
//!   (a PEM document, the `csr` of a certificate order, may have line breaks).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::domain::policy::FieldError;

/// A JSON body of type `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

fn declared_json(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence[..essence.len() - 5].starts_with("application/")
            && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Read `bytes` as `T` with the answers above (the content type already checked).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // Syntax first, over the whole body: a body that is not JSON at all is a 400, whatever T
    // is (a typed read would stop at the first unknown field of a truncated body and say 422).
    let value = match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(value) => value,
        Err(e) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    let mut errors = Vec::new();
    control_characters(&value, &mut String::new(), &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = e.into_inner().to_string();
        // serde's message ends with the position; the field says where.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        Problem::validation(vec![FieldError {
            field,
            code: "invalid",
            message,
        }])
    })
}

/// Top-level fields whose text is lines, where line breaks are the format's and not a control
/// character smuggled into text: a PEM document (RFC 7468: lines of base64), a complaint and
/// its answer (paragraphs a person writes). The core checks each for the other controls.
const MULTILINE_FIELDS: &[&str] = &["csr", "body", "answer"];

/// Every string in `value` with a control character, as field errors (`path` is where
/// `value` is: `contact.name`, `records[0].value`).
fn control_characters(value: &serde_json::Value, path: &mut String, errors: &mut Vec<FieldError>) {
    // Bounded: a body is at most the route's limit, and one error per field is enough to
    // show; more than a few would only repeat.
    const MOST: usize = 20;
    match value {
        serde_json::Value::String(text) => {
            let lines = MULTILINE_FIELDS.iter().any(|f| path == f);
            let found = if lines {
                crate::domain::policy::control_character_in_lines(text)
            } else {
                crate::domain::policy::control_character(text)
            };
            if errors.len() < MOST
                && let Some(c) = found
            {
                errors.push(control_error(path, c));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                control_characters(item, path, errors);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(members) => {
            for (name, item) in members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                if errors.len() < MOST
                    && let Some(c) = crate::domain::policy::control_character(name)
                {
                    errors.push(control_error(path, c));
                }
                control_characters(item, path, errors);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The field error of a control character found at `field`.
pub fn control_error(field: &str, c: char) -> FieldError {
    FieldError {
        field: field.escape_default().to_string(),
        code: "control_character",
        message: format!(
            "a control character ({}) is not accepted in text",
            c.escape_unicode()
        ),
    }
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = declared_json(&req);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the body is larger than this route accepts",
                )
            } else {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
            }
        })?;
        if !declared && !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
            ));
        }
        parse(&bytes).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        #[serde(default)]
        note: Option<String>,
    }

    fn status(r: Result<Body, Problem>) -> (u16, &'static str, String) {
        match r {
            Ok(_) => (200, "", String::new()),
            Err(p) => (
                p.status,
                p.code,
                p.errors
                    .first()
                    .map(|e| e.field.clone())
                    .unwrap_or_default(),
            ),
        }
    }

    #[test]
    fn answers() {
        assert_eq!(status(parse(br#"{"name": "a"}"#)).0, 200);
        assert_eq!(
            status(parse(b"name=a")),
            (400, "invalid_json", String::new())
        );
        assert_eq!(
            status(parse(b"{\"name\": ")),
            (400, "invalid_json", String::new())
        );
        assert_eq!(
            status(parse(b"")),
            (422, "validation_failed", String::new())
        );
        assert_eq!(
            status(parse(br#"{"name": 1}"#)),
            (422, "validation_failed", "name".into())
        );
        assert_eq!(
            status(parse(br#"{"name": "a", "agency": "X"}"#)).1,
            "validation_failed"
        );
    }

    #[test]
    fn control_characters_anywhere() {
        for (body, field) in [
            (r#"{"name": "a\u0000b"}"#, "name"),
            (r#"{"name": "a\nb"}"#, "name"),
            (r#"{"name": "a", "note": "\u001b[31m"}"#, "note"),
            ("{\"name\": \"a\u{7f}\"}", "name"),
            ("{\"name\": \"a\u{85}\"}", "name"),
        ] {
            assert_eq!(
                status(parse(body.as_bytes())),
                (422, "validation_failed", field.to_owned()),
                "{body}"
            );
            let p = parse::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(p.errors[0].code, "control_character");
        }
        // Nested fields are named by their path; member names are checked too.
        let p = parse::<serde_json::Value>(
            br#"{"records": [{"value": "ok"}, {"value": "x\ty"}], "a\u0001": 1}"#,
        )
        .unwrap_err();
        let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a\\u{1}", "records[1].value"]);
        // A PEM document keeps its lines, and only them.
        assert!(
            parse::<serde_json::Value>(
                br#"{"csr": "-----BEGIN X-----\nMIIB\r\n-----END X-----\n"}"#
            )
            .is_ok()
        );
        assert!(parse::<serde_json::Value>(br#"{"csr": "MIIB\u0000"}"#).is_err());
        assert!(parse::<serde_json::Value>(br#"{"note": "MIIB\n"}"#).is_err());
        // Printable text of any script passes.
        assert_eq!(
            status(parse("{\"name\": \"Dinas Pariwisata — ñ 😀\"}".as_bytes())).0,
            200
        );
    }

    #[test]
    fn content_types() {
        let req = |ct: Option<&str>| {
            let mut b = Request::builder();
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct);
            }
            b.body(axum::body::Body::empty()).unwrap()
        };
        assert!(declared_json(&req(Some("application/json"))));
        assert!(declared_json(&req(Some("Application/JSON; charset=utf-8"))));
        assert!(declared_json(&req(Some("application/merge-patch+json"))));
        assert!(!declared_json(&req(Some("text/plain"))));
        assert!(!declared_json(&req(Some(
            "application/x-www-form-urlencoded"
        ))));
        assert!(!declared_json(&req(None)));
    }
}
