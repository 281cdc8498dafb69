//! Every reply the integration tests receive through [`crate::harness::curl`] is held against
//! the OpenAPI document the daemon serves: the status must be documented for the operation,
//! the media type must be the documented one, and a JSON body must validate against the
//! documented schema (JSON Schema 2020-12, as OpenAPI 3.1 uses). A response the document does
//! not describe fails the test that received it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

/// The document (it is the same for every daemon of this build).
static DOCUMENT: OnceLock<Value> = OnceLock::new();
/// Compiled validators by schema reference.
static VALIDATORS: OnceLock<Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>> =
    OnceLock::new();
/// How many replies were checked, for the summary test.
pub static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn document(api: SocketAddr) -> &'static Value {
    DOCUMENT.get_or_init(|| {
        let (status, body) = crate::harness::http_get(api, "/openapi.json").expect("openapi.json");
        assert_eq!(status, 200, "GET /openapi.json");
        serde_json::from_str(&body).expect("the OpenAPI document is JSON")
    })
}

/// The document's path template that `path` falls under: literal segments beat parameters.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter_map(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            if ts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (a, b) in ts.iter().zip(&segments) {
                if a.starts_with('{') && a.ends_with('}') {
                    if b.is_empty() {
                        return None;
                    }
                } else if a == b {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, t.as_str()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, t)| t)
}

fn validator(doc: &Value, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
    let key = schema.to_string();
    let cache = VALIDATORS.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    // The schema with the document's components beside it, so that its references resolve.
    let mut root = schema.clone();
    if let Some(map) = root.as_object_mut() {
        map.insert("components".into(), doc["components"].clone());
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
    }
    let compiled = std::sync::Arc::new(
        jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("the document's schema {key} does not compile: {e}")),
    );
    cache.lock().unwrap().insert(key, compiled.clone());
    compiled
}

/// Check one reply against the document.
pub fn check(api: SocketAddr, method: &str, path: &str, status: u16, media: &str, body: &Value) {
    if status == 0 {
        return; // no reply (curl could not connect): the test's own assertion says so
    }
    let doc = document(api);
    let Some(template) = template(doc, path) else {
        // Not an operation of the API (a fallback 404): nothing is documented for it.
        assert_eq!(
            status, 404,
            "{method} {path} answered {status} but is not in the document"
        );
        return;
    };
    let Some(op) = doc["paths"][template].get(method.to_ascii_lowercase()) else {
        // A method the path does not have: axum's 405, outside any operation.
        assert_eq!(
            status, 405,
            "{method} {path}: {status} for a method not in the document"
        );
        return;
    };
    let responses = &op["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| {
            panic!(
                "{method} {template} answered {status}, which the document does not list (it lists {:?})",
                responses.as_object().map(|m| m.keys().collect::<Vec<_>>())
            )
        });
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some(content) = response["content"].as_object() else {
        return;
    };
    if !essence.ends_with("json") {
        // Files and text (a chain, a key, a zone, a CSV, a letter): the media type served must
        // be one the document names for that status.
        assert!(
            essence.is_empty() || content.contains_key(&essence),
            "{method} {template} {status} answered {essence}, the document says {:?}",
            content.keys().collect::<Vec<_>>()
        );
    } else {
        let Some(media_type) = content.get(&essence) else {
            panic!(
                "{method} {template} {status} answered {essence}, the document says {:?}",
                content.keys().collect::<Vec<_>>()
            );
        };
        let Some(schema) = media_type.get("schema") else {
            return;
        };
        let v = validator(doc, schema);
        let errors: Vec<String> = v
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: the body does not match the document: {errors:?}\n{body}"
        );
    }
    CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
