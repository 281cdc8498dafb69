//! `[checker]`: the oversight checker that looks at what every subdomain points to (see
//! `service::oversight` and docs/oversight.md).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{ConfigError, at_least_one};
use crate::domain::finding::{self, ClaimableService};

/// Longest time between runs: 30 days.
const MAX_EVERY_SECS: u64 = 30 * 86_400;
/// Most bytes of pages read at once (`max_body_bytes` × `max_connections`).
const MAX_PAGES_BYTES: usize = 256 << 20;
/// Largest page read for the abuse patterns.
const MAX_BODY_BYTES: usize = 4 << 20;

/// The ports the checker connects to. Only tests change them: real name servers and web
/// servers listen on 53, 80 and 443.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckerPorts {
    /// A delegation's name servers.
    pub dns: u16,
    /// Plain HTTP.
    pub http: u16,
    /// HTTPS.
    pub https: u16,
}

impl Default for CheckerPorts {
    fn default() -> Self {
        Self {
            dns: 53,
            http: 80,
            https: 443,
        }
    }
}

/// `[checker]` as written and, once checked, as in force.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckerSettings {
    /// Whether names are checked on a schedule (on demand they always can be).
    pub enabled: bool,
    /// The first run starts this long after the daemon (seconds): a restart does not begin
    /// with a burst of checks while the service settles.
    pub first_run_delay_secs: u64,
    /// A run over every name starts this often (seconds).
    pub every_secs: u64,
    /// A run's checks start spread evenly over this many seconds (at most `every_secs`): a
    /// day's checks do not all leave at once. Names not started by then wait for the next
    /// run, least recently checked first.
    pub budget_secs: u64,
    /// Most sockets the checker holds open at once (queries, connections), in all.
    pub max_connections: usize,
    /// How long one query, connection, handshake or page may take (seconds).
    pub timeout_secs: u64,
    /// The resolvers asked about names outside the served zones (`address` or
    /// `address:port`); empty: those of `/etc/resolv.conf`.
    pub resolvers: Vec<String>,
    /// Ports connected to.
    pub ports: CheckerPorts,
    /// Most bytes of a page read.
    pub max_body_bytes: usize,
    /// The `User-Agent` the checker's requests carry.
    pub user_agent: String,
    /// Text whose presence (any case) marks a page as abuse; defaults: Indonesian gambling
    /// spam.
    pub abuse_keywords: Vec<String>,
    /// Regular expressions matched against the page in lower case.
    pub abuse_patterns: Vec<String>,
    /// How many keywords and patterns must match for `abuse_content`.
    pub abuse_min_matches: usize,
    /// Domains a redirect may go to besides the served zones (the name itself always).
    pub redirects_allowed: Vec<String>,
    /// Cloud and hosting services whose names anyone can claim when unused
    /// (`[[checker.claimable]]`: `suffix`, `fingerprint`).
    pub claimable: Vec<ClaimableService>,
}

impl Default for CheckerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            first_run_delay_secs: 300,
            every_secs: 86_400,
            budget_secs: 72_000,
            max_connections: 32,
            timeout_secs: 5,
            resolvers: Vec::new(),
            ports: CheckerPorts::default(),
            max_body_bytes: 262_144,
            user_agent: "Mozilla/5.0 (compatible; ranah-checker)".into(),
            abuse_keywords: finding::default_abuse_keywords(),
            abuse_patterns: Vec::new(),
            abuse_min_matches: 3,
            redirects_allowed: vec!["go.id".into()],
            claimable: finding::default_claimable_services(),
        }
    }
}

impl CheckerSettings {
    /// Checked values.
    pub(super) fn resolve(mut self) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("checker.{key}"),
            message,
        };
        at_least_one("checker.every_secs", self.every_secs)?;
        at_least_one("checker.max_connections", self.max_connections)?;
        at_least_one("checker.timeout_secs", self.timeout_secs)?;
        at_least_one("checker.abuse_min_matches", self.abuse_min_matches)?;
        if self.budget_secs > self.every_secs {
            return Err(invalid(
                "budget_secs",
                "must be at most every_secs: a run ends before the next one".into(),
            ));
        }
        if self.every_secs > MAX_EVERY_SECS {
            return Err(invalid(
                "every_secs",
                format!("must be at most {MAX_EVERY_SECS} (30 days)"),
            ));
        }
        // Each open connection may hold a page being read (and its text, lower-cased): the
        // product is what the checker may hold at once.
        if self.max_body_bytes.saturating_mul(self.max_connections) > MAX_PAGES_BYTES {
            return Err(invalid(
                "max_body_bytes",
                format!("max_body_bytes × max_connections must be at most {MAX_PAGES_BYTES} bytes"),
            ));
        }
        if self.user_agent.trim().is_empty()
            || self.user_agent.len() > 200
            || self.user_agent.chars().any(|c| c.is_control())
        {
            return Err(invalid(
                "user_agent",
                "must be 1 to 200 printable characters".into(),
            ));
        }
        if self.max_connections > 4096 {
            return Err(invalid("max_connections", "must be at most 4096".into()));
        }
        if self.timeout_secs > 120 {
            return Err(invalid("timeout_secs", "must be at most 120".into()));
        }
        if !(1024..=MAX_BODY_BYTES).contains(&self.max_body_bytes) {
            return Err(invalid(
                "max_body_bytes",
                format!("must be from 1024 to {MAX_BODY_BYTES}"),
            ));
        }
        for r in &self.resolvers {
            if parse_resolver(r).is_none() {
                return Err(invalid(
                    "resolvers",
                    format!("`{r}` is not an address or address:port"),
                ));
            }
        }
        for p in &self.abuse_patterns {
            if let Err(e) = regex::Regex::new(p) {
                return Err(invalid("abuse_patterns", format!("`{p}`: {e}")));
            }
        }
        for k in &mut self.abuse_keywords {
            *k = k.trim().to_lowercase();
        }
        self.abuse_keywords.retain(|k| !k.is_empty());
        for domain in &mut self.redirects_allowed {
            *domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        }
        for s in &mut self.claimable {
            s.suffix = s.suffix.trim().trim_end_matches('.').to_ascii_lowercase();
            if s.suffix.is_empty() || !s.suffix.contains('.') {
                return Err(invalid(
                    "claimable",
                    format!("`{}` is not a domain", s.suffix),
                ));
            }
        }
        Ok(self)
    }

    /// The resolvers (checked by `resolve`); empty when none is configured.
    pub fn resolver_addresses(&self) -> Vec<SocketAddr> {
        self.resolvers
            .iter()
            .filter_map(|r| parse_resolver(r))
            .collect()
    }

    /// The abuse patterns, compiled (checked by `resolve`).
    pub fn compiled_patterns(&self) -> Vec<regex::Regex> {
        self.abuse_patterns
            .iter()
            .filter_map(|p| regex::Regex::new(p).ok())
            .collect()
    }
}

/// `192.0.2.53`, `192.0.2.53:5353`, `[2001:db8::53]:53` or `2001:db8::53`.
fn parse_resolver(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}
