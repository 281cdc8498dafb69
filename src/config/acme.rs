//! `[acme]`: certificates through ACME.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, RETRY_BASE_SECS, RETRY_MAX_SECS, Secret, at_least_one, retry_delays};

/// `[acme]` as written: certificates are off without `directory`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeSettings {
    /// The ACME directory URL (Let's Encrypt, its staging, or a private CA).
    pub directory: Option<String>,
    /// A root certificate (PEM) to trust for the directory's TLS, for a private CA.
    pub ca_file: Option<PathBuf>,
    /// The account's contact address.
    pub email: Option<String>,
    /// External account binding: the key id the CA gave.
    pub eab_kid: Option<String>,
    /// External account binding: the HMAC key (base64url) the CA gave.
    pub eab_hmac_key: Option<Secret>,
    /// The variable holding `eab_hmac_key`, instead.
    pub eab_hmac_key_env: Option<String>,
    /// The key (base64, 32 bytes) that encrypts private keys in the store.
    pub key_encryption_key: Option<Secret>,
    /// The variable holding `key_encryption_key`, instead.
    pub key_encryption_key_env: Option<String>,
    /// First delay after a failed order (seconds); it doubles up to `retry_max_secs`.
    pub retry_base_secs: u64,
    /// Longest delay between attempts.
    pub retry_max_secs: u64,
    /// Failed attempts after which ranah stops retrying by itself.
    pub max_attempts: u32,
    /// How long one order may take before it counts as failed.
    pub order_timeout_secs: u64,
    /// How long to wait for the secondaries to serve a challenge before going on.
    pub propagation_timeout_secs: u64,
    /// Seconds between checks for due orders, renewals and revocations.
    pub check_interval_secs: u64,
}

impl Default for AcmeSettings {
    fn default() -> Self {
        Self {
            directory: None,
            ca_file: None,
            email: None,
            eab_kid: None,
            eab_hmac_key: None,
            eab_hmac_key_env: None,
            key_encryption_key: None,
            key_encryption_key_env: None,
            retry_base_secs: RETRY_BASE_SECS,
            retry_max_secs: RETRY_MAX_SECS,
            max_attempts: 10,
            order_timeout_secs: 300,
            propagation_timeout_secs: 120,
            check_interval_secs: 30,
        }
    }
}

/// `[acme]`, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct AcmeConfig {
    /// The directory URL.
    pub directory: String,
    /// A root to trust for the directory's TLS.
    pub ca_file: Option<PathBuf>,
    /// Contact address.
    pub email: Option<String>,
    /// External account binding key id.
    pub eab_kid: Option<String>,
    /// External account binding HMAC key (redacted in output).
    pub eab_hmac_key: Option<Secret>,
    /// The key that encrypts private keys in the store (redacted in output).
    pub key_encryption_key: Secret,
    /// First retry delay.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// Failed attempts before automatic retries stop.
    pub max_attempts: u32,
    /// Time limit of one order.
    pub order_timeout_secs: u64,
    /// Time limit of the wait for secondaries.
    pub propagation_timeout_secs: u64,
    /// Interval of the check for due work.
    pub check_interval_secs: u64,
}

/// The ACME settings in force, or `None` without a directory. A directory needs an https URL
/// and a usable key-encryption key; `env` looks up the `*_env` variables.
pub(super) fn resolve_acme(
    settings: &AcmeSettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<AcmeConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("acme.{key}"),
        message,
    };
    let Some(directory) = settings.directory.clone() else {
        return Ok(None);
    };
    if !directory.starts_with("https://") {
        return Err(invalid(
            "directory",
            format!("`{directory}` is not an https:// URL"),
        ));
    }
    if let Some(file) = &settings.ca_file
        && !file.is_file()
    {
        return Err(invalid(
            "ca_file",
            format!("{} is not a readable file", file.display()),
        ));
    }
    let key_encryption_key = secret_from(
        "acme",
        "key_encryption_key",
        settings.key_encryption_key.as_ref(),
        settings.key_encryption_key_env.as_deref(),
        &env,
    )?
    .ok_or_else(|| {
        invalid(
            "key_encryption_key",
            "required with acme.directory: 32 random bytes in base64 (`openssl rand -base64 \
             32`), in the file or in the variable named by key_encryption_key_env"
                .into(),
        )
    })?;
    crate::acme::sealing::KeyCipher::from_base64(key_encryption_key.expose())
        .map_err(|e| invalid("key_encryption_key", e.to_string()))?;
    let eab_hmac_key = secret_from(
        "acme",
        "eab_hmac_key",
        settings.eab_hmac_key.as_ref(),
        settings.eab_hmac_key_env.as_deref(),
        &env,
    )?;
    if eab_hmac_key.is_some() != settings.eab_kid.is_some() {
        return Err(invalid(
            "eab_kid",
            "external account binding needs both eab_kid and eab_hmac_key".into(),
        ));
    }
    let (retry_base_secs, retry_max_secs) =
        retry_delays("acme", settings.retry_base_secs, settings.retry_max_secs)?;
    Ok(Some(AcmeConfig {
        directory,
        ca_file: settings.ca_file.clone(),
        email: settings.email.clone(),
        eab_kid: settings.eab_kid.clone(),
        eab_hmac_key,
        key_encryption_key,
        retry_base_secs,
        retry_max_secs,
        max_attempts: at_least_one("acme.max_attempts", settings.max_attempts)?,
        order_timeout_secs: at_least_one("acme.order_timeout_secs", settings.order_timeout_secs)?,
        propagation_timeout_secs: at_least_one(
            "acme.propagation_timeout_secs",
            settings.propagation_timeout_secs,
        )?,
        check_interval_secs: at_least_one(
            "acme.check_interval_secs",
            settings.check_interval_secs,
        )?,
    }))
}
