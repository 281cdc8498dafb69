//! `[complaints]`: complaints (pengaduan) from the public, and their overdue marks (see
//! `service::complaints` and docs/oversight.md).

use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, Secret, at_least_one};

/// `[complaints]` as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplaintSettings {
    /// Whether the public may complain without an account (with a proof of work); accounts
    /// always may.
    pub public: bool,
    /// Leading zero bits the proof of work's hash must have: each bit doubles the work (20 is
    /// about a million hashes, a second or two in a phone's browser).
    pub proof_bits: u32,
    /// Seconds a challenge stays valid.
    pub challenge_secs: u64,
    /// Public complaints from one address (an IPv4 address, an IPv6 /64) per hour.
    pub per_address_per_hour: u32,
    /// Public complaints in all per day: beyond it the form is closed until the next day.
    pub public_per_day: u32,
    /// Complaints from one account per hour.
    pub per_account_per_hour: u32,
    /// The key (at least 32 characters) that signs the challenges. Several instances behind
    /// one address share it; without it each instance makes its own at start (and challenges
    /// from before a restart are refused).
    pub proof_key: Option<Secret>,
    /// The variable holding the key, instead of `proof_key`.
    pub proof_key_env: Option<String>,
    /// How often complaints are looked at for their due time (seconds).
    pub every_secs: u64,
}

impl Default for ComplaintSettings {
    fn default() -> Self {
        Self {
            public: true,
            proof_bits: 20,
            challenge_secs: 600,
            per_address_per_hour: 5,
            public_per_day: 200,
            per_account_per_hour: 20,
            proof_key: None,
            proof_key_env: None,
            every_secs: 900,
        }
    }
}

impl ComplaintSettings {
    /// Checked values, the key taken from its variable when `proof_key_env` names one.
    pub(super) fn resolve(
        mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: format!("complaints.{key}"),
            message: message.into(),
        };
        at_least_one("complaints.every_secs", self.every_secs)?;
        at_least_one("complaints.per_address_per_hour", self.per_address_per_hour)?;
        at_least_one("complaints.public_per_day", self.public_per_day)?;
        at_least_one("complaints.per_account_per_hour", self.per_account_per_hour)?;
        if !(8..=28).contains(&self.proof_bits) {
            return Err(invalid("proof_bits", "must be from 8 to 28"));
        }
        if !(60..=3600).contains(&self.challenge_secs) {
            return Err(invalid("challenge_secs", "must be from 60 to 3600"));
        }
        if self.every_secs > 86_400 {
            return Err(invalid("every_secs", "must be at most 86400 (a day)"));
        }
        let key = secret_from(
            "complaints",
            "proof_key",
            self.proof_key.as_ref(),
            self.proof_key_env.as_deref(),
            &env,
        )?;
        if key.as_ref().is_some_and(|k| k.expose().len() < 32) {
            return Err(invalid("proof_key", "must be at least 32 characters"));
        }
        self.proof_key = key;
        self.proof_key_env = None;
        Ok(self)
    }
}
