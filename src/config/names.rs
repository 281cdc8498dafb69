//! `[names]`: the name and record policy.

use serde::{Deserialize, Serialize};

use crate::domain::policy::Policy;

/// `[names]`; the defaults are the core's [`Policy::default`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamesSettings {
    /// Labels nobody may request.
    pub reserved: Vec<String>,
    /// Accept private address ranges (internal applications).
    pub allow_private_addresses: bool,
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
        }
    }

    /// The policy: reserved labels compare in lower case.
    pub(super) fn resolve(&self) -> Policy {
        Policy {
            reserved: self
                .reserved
                .iter()
                .map(|r| r.to_ascii_lowercase())
                .collect(),
            allow_private_addresses: self.allow_private_addresses,
        }
    }
}
