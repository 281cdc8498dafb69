//! The approver's client: the API's requests, subdomains and certificates from the command line
//! (`ranah client …`), as the person whose token it is may see and act on them. It speaks HTTP
//! to a running ranah like any other API client and knows nothing of the store: what it may do
//! is the server's to decide, and a refusal comes back as the server's problem body.

pub mod render;

use std::time::Duration;

use serde_json::Value;

/// The most of a response the client reads (a page of 200 requests with their histories is far
/// below it); a larger answer is refused rather than held.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// One call of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, from `/api/v1/…`.
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(&'static str, String)>,
    /// A JSON body (POST).
    pub body: Option<Value>,
}

impl Call {
    /// A GET of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    /// A POST of `body` to `path`.
    pub fn post(path: impl Into<String>, body: Value) -> Self {
        Self {
            method: "POST",
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
        }
    }

    /// With the query parameter `key` when `value` is set.
    pub fn with(mut self, key: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((key, value.to_string()));
        }
        self
    }

    /// The URL on `server` (its scheme, host and any path prefix).
    pub fn url(&self, server: &str) -> String {
        let mut url = format!("{}{}", server.trim_end_matches('/'), self.path);
        if !self.query.is_empty() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &self.query {
                query.append_pair(k, v);
            }
            url.push('?');
            url.push_str(&query.finish());
        }
        url
    }

    /// The call as a `curl` command line (`--api`): the token stays in the variable it is
    /// read from, never printed.
    pub fn as_curl(&self, server: &str) -> String {
        let mut line = format!("curl -sS -X {}", self.method);
        line.push_str(" -H \"Authorization: Bearer $RANAH_TOKEN\"");
        if let Some(body) = &self.body {
            line.push_str(" -H 'Content-Type: application/json' --data ");
            line.push_str(&shell_quote(&body.to_string()));
        }
        line.push(' ');
        line.push_str(&shell_quote(&self.url(server)));
        line
    }
}

/// `text` in single quotes for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Why a call did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No token was given.
    #[error(
        "no API token: give --token or set RANAH_TOKEN (an administrator makes one with `ranah token create`)"
    )]
    NoToken,
    /// The server's address is not a URL the client can call.
    #[error("--server {0}: give the API's URL, e.g. https://ranah.example.go.id")]
    BadServer(String),
    /// The CA file could not be read or holds no certificate.
    #[error("--ca-file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The server could not be reached, or the connection failed.
    #[error("cannot reach {server}: {reason}")]
    Unreachable {
        /// The server.
        server: String,
        /// What failed.
        reason: String,
    },
    /// The server refused, with an RFC 9457 problem.
    #[error("{status} {title}: {detail}{}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        errors.iter().map(|e| format!("\n  {e}")).collect::<String>())]
    Problem {
        /// The HTTP status.
        status: u16,
        /// The problem's title.
        title: String,
        /// What the server said.
        detail: String,
        /// ranah's problem code (`not_your_step`, `name_taken`, …).
        code: Option<String>,
        /// Each field a validation refused: `field: message (code)`.
        errors: Vec<String>,
    },
    /// An answer that is neither the resource nor a problem (not ranah, or a proxy's page).
    #[error("{server} answered {status} with something other than ranah's JSON: {excerpt}")]
    Unexpected {
        /// The server.
        server: String,
        /// The HTTP status.
        status: u16,
        /// The beginning of the body.
        excerpt: String,
    },
}

/// A connection to one ranah.
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl Client {
    /// A client of `server` acting with `token`; `ca_file` (PEM) adds CAs to trust (an
    /// office's own).
    pub fn new(
        server: &str,
        token: Option<&str>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        let token = token
            .filter(|t| !t.trim().is_empty())
            .ok_or(ClientError::NoToken)?;
        if !(server.starts_with("http://") || server.starts_with("https://"))
            || reqwest::Url::parse(server).is_err()
        {
            return Err(ClientError::BadServer(server.to_owned()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("ranah-client/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let bad = |reason: String| ClientError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certificates =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
            if certificates.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(|e| ClientError::Unreachable {
            server: server.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }

    /// Make `call`; the resource's JSON, or why not.
    pub async fn send(&self, call: &Call) -> Result<Value, ClientError> {
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            server: self.server.clone(),
            // With its causes ("…: tcp connect error: Connection refused").
            reason: format!("{:#}", anyhow::Error::new(e)),
        };
        let mut request = match call.method {
            "POST" => self.http.post(call.url(&self.server)),
            _ => self.http.get(call.url(&self.server)),
        }
        .bearer_auth(&self.token)
        .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE {
                return Err(ClientError::Unexpected {
                    server: self.server.clone(),
                    status,
                    excerpt: format!("an answer larger than {MAX_RESPONSE} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        match json {
            Some(value) if (200..300).contains(&status) => Ok(value),
            Some(problem) if problem.get("title").is_some() => Err(ClientError::Problem {
                status,
                title: text(&problem, "title"),
                detail: text(&problem, "detail"),
                code: problem
                    .get("code")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                errors: problem
                    .get("errors")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        format!(
                            "{}: {} ({})",
                            text(e, "field"),
                            text(e, "message"),
                            text(e, "code")
                        )
                    })
                    .collect(),
            }),
            _ => Err(ClientError::Unexpected {
                server: self.server.clone(),
                status,
                excerpt: String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    .trim()
                    .to_owned(),
            }),
        }
    }
}

/// A string field of `value`, or "".
fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_printed_as_curl_without_the_token() {
        let call = Call::post(
            "/api/v1/requests/7/return",
            serde_json::json!({"note": "It's incomplete", "reason": "incomplete"}),
        );
        let line = call.as_curl("https://ranah.example.go.id/");
        assert_eq!(
            line,
            "curl -sS -X POST -H \"Authorization: Bearer $RANAH_TOKEN\" -H 'Content-Type: \
             application/json' --data '{\"note\":\"It'\\''s incomplete\",\"reason\":\"incomplete\"}' \
             'https://ranah.example.go.id/api/v1/requests/7/return'"
        );
        let list = Call::get("/api/v1/requests")
            .with("status", Some("in_review"))
            .with("agency", None::<String>)
            .with("page", Some(2));
        assert_eq!(
            list.url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/api/v1/requests?status=in_review&page=2"
        );
    }

    #[test]
    fn a_client_needs_a_token_and_a_url() {
        assert!(matches!(
            Client::new("http://127.0.0.1:8080", None, None),
            Err(ClientError::NoToken)
        ));
        assert!(matches!(
            Client::new("127.0.0.1:8080", Some("t"), None),
            Err(ClientError::BadServer(_))
        ));
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), "not a pem").unwrap();
        assert!(matches!(
            Client::new("https://x.example", Some("t"), Some(ca.path())),
            Err(ClientError::CaFile { .. })
        ));
    }
}
