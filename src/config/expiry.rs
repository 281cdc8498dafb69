//! `[expiry]`: names given for a time (see `service::expiry` and docs/oversight.md).

use serde::{Deserialize, Serialize};

use super::{ConfigError, at_least_one};

/// `[expiry]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpirySettings {
    /// Days between a name's suspension at the end of its term and its removal.
    pub grace_days: u32,
    /// How often the terms are looked at (seconds).
    pub every_secs: u64,
}

impl Default for ExpirySettings {
    fn default() -> Self {
        Self {
            grace_days: 30,
            every_secs: 3600,
        }
    }
}

impl ExpirySettings {
    /// Checked values.
    pub(super) fn resolve(self) -> Result<Self, ConfigError> {
        at_least_one("expiry.every_secs", self.every_secs)?;
        if self.grace_days > 366 {
            return Err(ConfigError::Invalid {
                key: "expiry.grace_days".into(),
                message: "must be at most 366".into(),
            });
        }
        if self.every_secs > 86_400 {
            return Err(ConfigError::Invalid {
                key: "expiry.every_secs".into(),
                message: "must be at most 86400 (a day)".into(),
            });
        }
        Ok(self)
    }
}
