//! `[smtp]`: outgoing mail.

use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, RETRY_BASE_SECS, RETRY_MAX_SECS, Secret, retry_delays};

/// `[smtp]` as written: without `host` no email is queued.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// The mail server; without it no email is queued.
    pub host: Option<String>,
    /// Its port.
    pub port: u16,
    /// `starttls`, `tls` (implicit, port 465) or `none` (a relay on the same host).
    pub tls: SmtpTls,
    /// Login.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// The variable holding the password, instead of `password`.
    pub password_env: Option<String>,
    /// The sender, e.g. `"Diskominfo <noreply@example.go.id>"`; default `ranah <ranah@HOST>`.
    pub from: Option<String>,
    /// First retry delay in seconds (doubles with each failure).
    pub retry_base_secs: u64,
    /// Longest retry delay in seconds.
    pub retry_max_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            password_env: None,
            from: None,
            retry_base_secs: RETRY_BASE_SECS,
            retry_max_secs: RETRY_MAX_SECS,
        }
    }
}

/// How SMTP is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// No TLS: only for a relay on the same machine or network.
    None,
    /// STARTTLS (required) on the submission port.
    Starttls,
    /// TLS from the first byte.
    Tls,
}

/// `[smtp]`, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct SmtpConfig {
    /// Server.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: SmtpTls,
    /// Login.
    pub username: Option<String>,
    /// Password (redacted in output).
    pub password: Option<Secret>,
    /// Sender.
    pub from: String,
    /// First retry delay.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
}

/// The mail settings in force, or `None` without a host. `env` looks up `password_env`.
pub(super) fn resolve_smtp(
    settings: &SmtpSettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<SmtpConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("smtp.{key}"),
        message,
    };
    let Some(host) = settings.host.clone().filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    let password = secret_from(
        "smtp",
        "password",
        settings.password.as_ref(),
        settings.password_env.as_deref(),
        &env,
    )?;
    let from = settings
        .from
        .clone()
        .unwrap_or_else(|| format!("ranah <ranah@{host}>"));
    if !from.contains('@') {
        return Err(invalid("from", format!("`{from}` is not an email address")));
    }
    let (retry_base_secs, retry_max_secs) =
        retry_delays("smtp", settings.retry_base_secs, settings.retry_max_secs)?;
    Ok(Some(SmtpConfig {
        host,
        port: settings.port,
        tls: settings.tls,
        username: settings.username.clone(),
        password,
        from,
        retry_base_secs,
        retry_max_secs,
    }))
}
