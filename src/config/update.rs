//! `[dynamic_update]`: RFC 2136 UPDATE signed with ranah's update keys (`ranah key create`):
//! limits, and the grants of keys that belong to no agency.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[dynamic_update]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicUpdateSettings {
    /// Accept UPDATE messages; `false` answers them NOTIMP, as before ranah had keys.
    pub enabled: bool,
    /// Most records in one UPDATE's prerequisite and update sections together; a longer
    /// message is refused whole.
    pub max_records: usize,
    /// Updates per key and minute (on each instance), refused ones included; beyond,
    /// REFUSED until the minute has room again.
    pub per_key_per_minute: u32,
    /// Signed UPDATE messages (and queries signed with an update key) handled at once: each
    /// reads the store, so keep it below the database's connections. One more waits up to
    /// 2 s over TCP, then SERVFAIL; over UDP it is dropped and the client asks again.
    pub max_in_flight: usize,
    /// What keys without an agency may change (`[[dynamic_update.grants]]`).
    pub grants: Vec<UpdateGrantSettings>,
}

/// One `[[dynamic_update.grants]]`: what a key without an agency may change.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateGrantSettings {
    /// The key's name (as `ranah key create --name` gave it).
    pub key: String,
    /// Names the key may change, each with every name below it.
    pub names: Vec<String>,
    /// Types it may change (`TXT`, `A`…); empty or left out: every type but the SOA and
    /// the signer's.
    #[serde(default)]
    pub types: Vec<String>,
}

impl Default for DynamicUpdateSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_records: 64,
            per_key_per_minute: 60,
            max_in_flight: 4,
            grants: Vec::new(),
        }
    }
}

/// The most updates handled at once, whatever the configuration says (each holds a database
/// connection while it reads its key).
const MAX_IN_FLIGHT_LIMIT: usize = 64;

/// The most records an UPDATE may carry, whatever the configuration says.
const MAX_RECORDS_LIMIT: usize = 1000;

impl DynamicUpdateSettings {
    /// Checked: limits in range, each grant naming a key once, names that are domain names
    /// (made absolute and lower case), types ranah serves.
    pub(super) fn resolve(mut self) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("dynamic_update.{key}"),
            message,
        };
        if self.max_records == 0 || self.max_records > MAX_RECORDS_LIMIT {
            return Err(invalid(
                "max_records",
                format!("must be from 1 to {MAX_RECORDS_LIMIT}"),
            ));
        }
        super::at_least_one("dynamic_update.per_key_per_minute", self.per_key_per_minute)?;
        if self.max_in_flight == 0 || self.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            return Err(invalid(
                "max_in_flight",
                format!("must be from 1 to {MAX_IN_FLIGHT_LIMIT}"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for grant in &mut self.grants {
            let key = grant.key.trim().trim_end_matches('.').to_ascii_lowercase();
            if key.is_empty() || !seen.insert(key.clone()) {
                return Err(invalid(
                    "grants",
                    format!("`{}`: each grant names one key, once", grant.key),
                ));
            }
            grant.key = key;
            if grant.names.is_empty() {
                return Err(invalid(
                    "grants",
                    format!("the grant of `{}` names no names", grant.key),
                ));
            }
            for name in &mut grant.names {
                let mut parsed = hickory_proto::rr::Name::from_ascii(name.trim())
                    .map_err(|_| invalid("grants", format!("`{name}` is not a domain name")))?;
                parsed.set_fqdn(true);
                *name = parsed.to_lowercase().to_ascii();
            }
            for t in &mut grant.types {
                let upper = t.trim().to_ascii_uppercase();
                let known = crate::zone::file::SUPPORTED_TYPES
                    .iter()
                    .any(|s| s.to_string() == upper && upper != "SOA");
                if !known {
                    return Err(invalid(
                        "grants",
                        format!("`{t}` is not a type an update may change here"),
                    ));
                }
                *t = upper;
            }
        }
        Ok(self)
    }

    /// The grant configured for a key without an agency.
    pub fn grant_of(&self, key: &str) -> Option<&UpdateGrantSettings> {
        let key = key.trim_end_matches('.');
        self.grants.iter().find(|g| g.key.eq_ignore_ascii_case(key))
    }
}
