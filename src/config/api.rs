//! `[api]`: the HTTP API.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Origins whose web pages may call the API from a browser (CORS), e.g.
    /// `["https://portal.example.go.id"]`; empty: none (no CORS headers are sent).
    pub cors_allowed_origins: Vec<String>,
}

impl ApiConfig {
    /// Each allowed origin is `http(s)://host[:port]`, nothing more (no path, no `*`).
    pub(super) fn check(&self) -> Result<(), super::ConfigError> {
        for origin in &self.cors_allowed_origins {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let ok = rest.is_some_and(|host| {
                !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
            });
            if !ok {
                return Err(super::ConfigError::Invalid {
                    key: "api.cors_allowed_origins".into(),
                    message: format!(
                        "`{origin}` is not an origin: write scheme://host[:port], as a browser \
                         sends it"
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cors_allowed_origins: Vec::new(),
        }
    }
}
