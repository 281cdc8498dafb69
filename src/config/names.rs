//! `[names]`: the name and record policy.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::domain::policy::{Outside, Policy, ZoneRanges};

/// `[names]`; the defaults are the core's [`Policy::default`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamesSettings {
    /// Labels nobody may request.
    pub reserved: Vec<String>,
    /// Accept private address ranges (internal applications).
    pub allow_private_addresses: bool,
    /// Accept loopback addresses: only for tests on one machine (the checker then probes
    /// servers on 127.0.0.0/8); never for a zone on the internet.
    pub allow_loopback_addresses: bool,
    /// Most records of one type a request may put at its name.
    pub max_rrset_records: usize,
    /// Largest DNS answer (bytes, with the question and EDNS) a requested record set may
    /// make; the default keeps every answer within one UDP message of 1232 bytes.
    pub max_answer_bytes: usize,
    /// The address ranges a zone's names are hosted in (`[[names.address_ranges]]`): an
    /// address outside them is refused, or accepted with a warning for the reviewers.
    pub address_ranges: Vec<AddressRangeSettings>,
}

/// One `[[names.address_ranges]]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRangeSettings {
    /// The zone.
    pub zone: String,
    /// Its ranges (`203.0.113.0/24`, `2001:db8:10::/48`).
    pub ranges: Vec<ipnet::IpNet>,
    /// `refuse` (default): an address outside is refused; `review`: accepted, and shown to
    /// the reviewers with a warning.
    #[serde(default = "refuse")]
    pub outside: Outside,
}

fn refuse() -> Outside {
    Outside::Refuse
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
            allow_loopback_addresses: policy.allow_loopback_addresses,
            max_rrset_records: policy.max_rrset_records,
            max_answer_bytes: policy.max_answer_bytes,
            address_ranges: policy
                .address_ranges
                .iter()
                .map(|r| AddressRangeSettings {
                    zone: r.zone.clone(),
                    ranges: r.ranges.clone(),
                    outside: r.outside,
                })
                .collect(),
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
        let mut address_ranges: Vec<ZoneRanges> = Vec::new();
        for set in &self.address_ranges {
            let invalid = |message: String| ConfigError::Invalid {
                key: "names.address_ranges".into(),
                message,
            };
            let zone = crate::domain::policy::normal_name(&set.zone)
                .map_err(|why| invalid(format!("`{}`: {why}", set.zone)))?;
            if address_ranges.iter().any(|r| r.zone == zone) {
                return Err(invalid(format!("{zone} has its ranges twice")));
            }
            if set.ranges.is_empty() {
                return Err(invalid(format!(
                    "{zone} names no ranges (leave the zone out to accept every address)"
                )));
            }
            for net in &set.ranges {
                // `203.0.113.7/16` is more likely a typo than a wish for 203.0.0.0/16.
                if net.trunc() != *net {
                    return Err(invalid(format!(
                        "{net} has host bits set: write its network, {}",
                        net.trunc()
                    )));
                }
                let private = matches!(
                    crate::domain::policy::classify(net.network()),
                    crate::domain::policy::AddressClass::Private
                );
                if private && !self.allow_private_addresses {
                    return Err(invalid(format!(
                        "{net} is a private range and names.allow_private_addresses is false: \
                         no address in it would be accepted"
                    )));
                }
            }
            address_ranges.push(ZoneRanges {
                zone,
                ranges: set.ranges.clone(),
                outside: set.outside,
            });
        }
        Ok(Policy {
            address_ranges,
            reserved: self
                .reserved
                .iter()
                .map(|r| r.to_ascii_lowercase())
                .collect(),
            allow_private_addresses: self.allow_private_addresses,
            allow_loopback_addresses: self.allow_loopback_addresses,
            max_rrset_records: self.max_rrset_records,
            max_answer_bytes: self.max_answer_bytes,
        })
    }
}
