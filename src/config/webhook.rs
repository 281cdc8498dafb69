//! `[webhook]`: a webhook called on every request transition.

use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, RETRY_BASE_SECS, RETRY_MAX_SECS, Secret, retry_delays};

/// `[webhook]` as written: without `url` no webhook is called.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Where the JSON is POSTed; without it no webhook is called.
    pub url: Option<String>,
    /// The HMAC-SHA256 key of the `X-Ranah-Signature` header.
    pub secret: Option<Secret>,
    /// The variable holding the key, instead of `secret`.
    pub secret_env: Option<String>,
    /// First retry delay in seconds (doubles with each failure).
    pub retry_base_secs: u64,
    /// Longest retry delay in seconds.
    pub retry_max_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            secret: None,
            secret_env: None,
            retry_base_secs: RETRY_BASE_SECS,
            retry_max_secs: RETRY_MAX_SECS,
        }
    }
}

/// `[webhook]`, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookConfig {
    /// URL.
    pub url: String,
    /// HMAC key (redacted in output).
    pub secret: Secret,
    /// First retry delay.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
}

/// The webhook in force, or `None` without a URL. Calls are always signed, so a URL needs a
/// secret. `env` looks up `secret_env`.
pub(super) fn resolve_webhook(
    settings: &WebhookSettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<WebhookConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("webhook.{key}"),
        message,
    };
    let Some(url) = settings.url.clone().filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(invalid("url", format!("`{url}` is not an http(s) URL")));
    }
    let secret = secret_from(
        "webhook",
        "secret",
        settings.secret.as_ref(),
        settings.secret_env.as_deref(),
        &env,
    )?
    .ok_or_else(|| {
        invalid(
            "secret",
            "set exactly one of `secret` and `secret_env`: calls are signed".into(),
        )
    })?;
    let (retry_base_secs, retry_max_secs) =
        retry_delays("webhook", settings.retry_base_secs, settings.retry_max_secs)?;
    Ok(Some(WebhookConfig {
        url,
        secret,
        retry_base_secs,
        retry_max_secs,
    }))
}
