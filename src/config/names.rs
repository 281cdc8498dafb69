//! `[names]`: the name and record policy.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::policy::Policy;

/// `[names]`; the defaults are the core's [`Policy::default`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamesSettings {
    /// Labels nobody may request.
    pub reserved: Vec<String>,
    /// Accept private address ranges (internal applications).
    pub allow_private_addresses: bool,
    /// Most records of one type a request may put at its name.
    pub max_rrset_records: usize,
    /// Largest DNS answer (bytes, with the question and EDNS) a requested record set may
    /// make; the default keeps every answer within one UDP message of 1232 bytes.
    pub max_answer_bytes: usize,
}

impl Default for NamesSettings {
    fn default() -> Self {
        Self::of(&Policy::default())
    }
}

impl NamesSettings {
    /// The settings that describe `policy` (for `check-config`, and the defaults).
    pub(super) fn of(policy: &Policy) -> Self {
        Self {
            reserved: policy.reserved.clone(),
            allow_private_addresses: policy.allow_private_addresses,
            max_rrset_records: policy.max_rrset_records,
            max_answer_bytes: policy.max_answer_bytes,
        }
    }

    /// The policy: reserved labels compare in lower case; the limits in their ranges (an
    /// answer of at least 512 bytes, the size every DNS client takes, and at most 65,535, the
    /// largest DNS message).
    pub(super) fn resolve(&self) -> Result<Policy, ConfigError> {
        if self.max_rrset_records == 0 {
            return Err(ConfigError::Invalid {
                key: "names.max_rrset_records".into(),
                message: "must be at least 1".into(),
            });
        }
        if !(512..=65_535).contains(&self.max_answer_bytes) {
            return Err(ConfigError::Invalid {
                key: "names.max_answer_bytes".into(),
                message: "must be between 512 and 65535".into(),
            });
        }
        Ok(Policy {
            reserved: self
                .reserved
                .iter()
                .map(|r| r.to_ascii_lowercase())
                .collect(),
            allow_private_addresses: self.allow_private_addresses,
            max_rrset_records: self.max_rrset_records,
            max_answer_bytes: self.max_answer_bytes,
        })
    }
}
