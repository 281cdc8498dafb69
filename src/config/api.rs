//! `[api]`: the HTTP API and the limits that keep it answering under load.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::rrl::parse_prefix;
use super::tls::ApiTlsConfig;
use super::{ConfigError, at_least_one};

/// The header a trusted reverse proxy names the client in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, Apache, Caddy by default).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// HTTP connections open at once; at the limit the one idle for longest makes room, and a
    /// new connection is closed at once only when every one has a request in progress.
    pub max_connections: usize,
    /// HTTP connections open at once from one source (an IPv4 address, an IPv6 /64). Behind a
    /// reverse proxy every connection comes from the proxy: raise it to `max_connections`.
    pub max_connections_per_source: usize,
    /// Seconds a client may take to send a request's headers, counted from the connection's
    /// start or from the end of the previous response: also how long an idle kept-alive
    /// connection is kept.
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may pause between two reads (a stalled upload gets a 408).
    pub body_read_timeout_secs: u64,
    /// Requests handled at once; beyond it a request gets a 503 with `Retry-After`.
    pub max_requests_in_flight: usize,
    /// Origins whose web pages may call the API from a browser (CORS), e.g.
    /// `["https://portal.example.go.id"]`; empty: none (no CORS headers are sent).
    pub cors_allowed_origins: Vec<String>,
    /// Reverse proxies (addresses or prefixes, e.g. `["127.0.0.1/32"]`) whose `proxy_header`
    /// names the client; from any other peer the header is ignored. Empty: the client is
    /// always the peer.
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies set, and the only one read: the other is passed through
    /// by the proxy as the client wrote it.
    pub proxy_header: ProxyHeader,
    /// HTTPS (`[api.tls]`).
    pub tls: ApiTlsConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cors_allowed_origins: Vec::new(),
            max_connections: 512,
            max_connections_per_source: 64,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_requests_in_flight: 64,
            trusted_proxies: Vec::new(),
            proxy_header: ProxyHeader::XForwardedFor,
            tls: ApiTlsConfig::default(),
        }
    }
}

impl ApiConfig {
    /// Every limit at least 1 (a limit of 0 would refuse everything or spin); the proxies are
    /// addresses or prefixes; `[api.tls]` is whole (`acme_on`: an ACME directory is configured).
    pub(super) fn resolve(mut self, acme_on: bool) -> Result<Self, ConfigError> {
        at_least_one("api.max_connections", self.max_connections)?;
        at_least_one(
            "api.max_connections_per_source",
            self.max_connections_per_source,
        )?;
        at_least_one(
            "api.header_read_timeout_secs",
            self.header_read_timeout_secs,
        )?;
        at_least_one("api.body_read_timeout_secs", self.body_read_timeout_secs)?;
        at_least_one("api.max_requests_in_flight", self.max_requests_in_flight)?;
        self.check_origins()?;
        for entry in &self.trusted_proxies {
            if parse_prefix(entry).is_none() {
                return Err(ConfigError::Invalid {
                    key: "api.trusted_proxies".into(),
                    message: format!("`{entry}` is not an address or prefix"),
                });
            }
        }
        self.tls = self.tls.resolve(acme_on)?;
        Ok(self)
    }

    /// The trusted proxies' prefixes (checked by `resolve`).
    pub fn trusted_proxy_prefixes(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|e| parse_prefix(e))
            .collect()
    }

    /// Each allowed origin is `http(s)://host[:port]`, nothing more (no path, no `*`).
    fn check_origins(&self) -> Result<(), ConfigError> {
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
                return Err(ConfigError::Invalid {
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
