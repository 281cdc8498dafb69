//! `[confirmation]`: the yearly confirmation of each name (see `service::confirmation` and
//! docs/oversight.md).

use serde::{Deserialize, Serialize};

use super::{ConfigError, at_least_one};

/// `[confirmation]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfirmationSettings {
    /// Whether names must be confirmed (reminders, marks and suspensions run).
    pub enabled: bool,
    /// Days between confirmations.
    pub every_days: u32,
    /// The first due day of a name is never sooner than this many days after the
    /// confirmation began for it (an office starting with old names gives notice).
    pub notice_days: u32,
    /// Days after the due day an unconfirmed name is suspended.
    pub grace_days: u32,
    /// How often the names are looked at (seconds).
    pub every_secs: u64,
}

impl Default for ConfirmationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            every_days: 365,
            notice_days: 30,
            grace_days: 30,
            every_secs: 3600,
        }
    }
}

impl ConfirmationSettings {
    /// Checked values.
    pub(super) fn resolve(self) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: format!("confirmation.{key}"),
            message: message.into(),
        };
        at_least_one("confirmation.every_secs", self.every_secs)?;
        if !(30..=1096).contains(&self.every_days) {
            return Err(invalid("every_days", "must be from 30 to 1096"));
        }
        // At least a week: an office turning the confirmation on for old names must not
        // suspend them before their agencies heard of it.
        if !(7..=366).contains(&self.notice_days) {
            return Err(invalid("notice_days", "must be from 7 to 366"));
        }
        if self.grace_days > 366 {
            return Err(invalid("grace_days", "must be at most 366"));
        }
        if self.every_secs > 86_400 {
            return Err(invalid("every_secs", "must be at most 86400 (a day)"));
        }
        Ok(self)
    }
}
