//! `[audit]`: the key that signs the audit trail's checkpoints.

use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, Secret};

/// `[audit]` as written: without a key no checkpoint is signed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Ed25519 seed (base64 of 32 bytes) that signs the trail's head daily and per month.
    pub signing_key: Option<Secret>,
    /// The variable holding the seed, instead of `signing_key`.
    pub signing_key_env: Option<String>,
}

/// The signing key, checked to be a usable seed. `env` looks up `signing_key_env`.
pub(super) fn resolve_audit(
    settings: &AuditSettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    let key = secret_from(
        "audit",
        "signing_key",
        settings.signing_key.as_ref(),
        settings.signing_key_env.as_deref(),
        &env,
    )?;
    if let Some(key) = &key {
        crate::audit::checkpoint::Signer::from_base64(key.expose()).map_err(|e| {
            ConfigError::Invalid {
                key: "audit.signing_key".into(),
                message: e.to_string(),
            }
        })?;
    }
    Ok(key)
}
