//! `[dnssec]`: the signing policy of every zone, and `[[dnssec.zones]]` for one zone's
//! differences (see docs/dnssec.md).

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

use super::secret::secret_from;
use super::{ConfigError, Secret, at_least_one};
use crate::domain::dnssec::{Algorithm, Denial, KeyModel, SigningPolicy};

/// `[dnssec]` as written: the policy of every zone (on by default), and what ranah needs to
/// carry it out.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnssecSettings {
    /// Whether zones are signed.
    pub enabled: bool,
    /// The algorithm of new keys: `ecdsap256sha256` (13) or `ed25519` (15).
    pub algorithm: Algorithm,
    /// `csk` (one combined key) or `ksk-zsk`.
    pub keys: KeyModel,
    /// `nsec3` (no salt, no extra iterations, no opt-out: RFC 9276) or `nsec`.
    pub denial: Denial,
    /// How long a new signature is valid.
    pub signature_validity_secs: u32,
    /// A signature is made again when less than this remains of it.
    pub signature_refresh_secs: u32,
    /// Up to this much is added to each signature's validity, so that refreshes spread out.
    pub signature_jitter_secs: u32,
    /// TTL of the DNSKEY, CDS and CDNSKEY sets (an RRSIG takes the TTL of the set it covers,
    /// NSEC3 and NSEC the zone's negative TTL: RFC 4034 §3, RFC 9077).
    pub dnskey_ttl: u32,
    /// How long a zone-signing key signs before it is rolled (0: never).
    pub zsk_lifetime_secs: u32,
    /// How long a key-signing or combined key signs before it is rolled (0: never).
    pub ksk_lifetime_secs: u32,
    /// How long a change takes to reach every secondary; added to every wait of a roll.
    pub propagation_delay_secs: u32,
    /// The TTL of the DS at the parent: how long resolvers may keep an old DS.
    pub parent_ds_ttl_secs: u32,
    /// The largest TTL of the zone's records (Knot's `zone-max-ttl`): how long an old
    /// zone-signing key stays after it stopped signing. 0: the largest TTL ranah serves.
    pub zone_max_ttl_secs: u32,
    /// The parent zone's name servers (`ADDRESS` or `ADDRESS:PORT`), asked for the zone's
    /// DS before a key-signing key is withdrawn. Empty: the system's resolvers
    /// (/etc/resolv.conf).
    pub parent_servers: Vec<String>,
    /// How often the parent is asked while a DS is awaited.
    pub parent_check_interval_secs: u64,
    /// How often ranah looks for signatures that fall due and key steps that are due.
    pub maintenance_interval_secs: u64,
    /// Most signatures made again in one change (the rest wait for the next round).
    pub refresh_batch: usize,
    /// The key (base64, 32 bytes) that seals the private keys in the store. Without it and
    /// without `acme.key_encryption_key`, ranah keeps one in `data_dir/dnssec.kek`.
    pub key_encryption_key: Option<Secret>,
    /// The variable holding `key_encryption_key`, instead.
    pub key_encryption_key_env: Option<String>,
    /// One zone's differences from the above (`[[dnssec.zones]]`).
    pub zones: Vec<DnssecZoneSettings>,
}

impl Default for DnssecSettings {
    fn default() -> Self {
        let p = SigningPolicy::default();
        Self {
            enabled: p.enabled,
            algorithm: p.algorithm,
            keys: p.keys,
            denial: p.denial,
            signature_validity_secs: p.signature_validity,
            signature_refresh_secs: p.signature_refresh,
            signature_jitter_secs: p.signature_jitter,
            dnskey_ttl: p.dnskey_ttl,
            zsk_lifetime_secs: p.zsk_lifetime,
            ksk_lifetime_secs: p.ksk_lifetime,
            propagation_delay_secs: p.propagation_delay,
            parent_ds_ttl_secs: p.parent_ds_ttl,
            zone_max_ttl_secs: p.zone_max_ttl,
            parent_servers: Vec::new(),
            parent_check_interval_secs: 3600,
            maintenance_interval_secs: 60,
            refresh_batch: 10_000,
            key_encryption_key: None,
            key_encryption_key_env: None,
            zones: Vec::new(),
        }
    }
}

/// One `[[dnssec.zones]]` entry: a zone, and the keys of `[dnssec]` it sets otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecZoneSettings {
    /// The zone.
    pub zone: String,
    /// Whether it is signed.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Algorithm of its new keys.
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    /// Its key model.
    #[serde(default)]
    pub keys: Option<KeyModel>,
    /// Its denial of existence.
    #[serde(default)]
    pub denial: Option<Denial>,
    /// Its zone-signing key lifetime.
    #[serde(default)]
    pub zsk_lifetime_secs: Option<u32>,
    /// Its key-signing key lifetime.
    #[serde(default)]
    pub ksk_lifetime_secs: Option<u32>,
    /// Its DS TTL at the parent.
    #[serde(default)]
    pub parent_ds_ttl_secs: Option<u32>,
    /// Its parent's name servers.
    #[serde(default)]
    pub parent_servers: Option<Vec<String>>,
}

/// `[dnssec]`, resolved: a policy per zone.
#[derive(Clone, Debug, Serialize)]
pub struct DnssecConfig {
    /// The policy of a zone not listed in `zones`.
    pub default: SigningPolicy,
    /// The parent's name servers of such a zone (empty: the system's resolvers).
    pub parent_servers: Vec<SocketAddr>,
    /// Zones with a policy of their own.
    pub zones: Vec<ZonePolicy>,
    /// How often the parent is asked while a DS is awaited.
    pub parent_check_interval_secs: u64,
    /// How often signatures and keys are looked after.
    pub maintenance_interval_secs: u64,
    /// Most signatures made again in one change.
    pub refresh_batch: usize,
    /// The key that seals private keys (redacted in output); `None`: the ACME one, else the
    /// file in the data directory.
    pub key_encryption_key: Option<Secret>,
}

/// One zone's policy.
#[derive(Clone, Debug, Serialize)]
pub struct ZonePolicy {
    /// The zone, lower-cased and absolute.
    pub zone: String,
    /// Its policy.
    pub policy: SigningPolicy,
    /// Its parent's name servers.
    pub parent_servers: Vec<SocketAddr>,
}

impl DnssecConfig {
    /// The policy of `zone`.
    pub fn policy_for(&self, zone: &Name) -> &SigningPolicy {
        self.zone_entry(zone)
            .map(|z| &z.policy)
            .unwrap_or(&self.default)
    }

    /// The parent's name servers of `zone` (empty: the system's resolvers).
    pub fn parent_servers_for(&self, zone: &Name) -> &[SocketAddr] {
        self.zone_entry(zone)
            .map(|z| &z.parent_servers[..])
            .unwrap_or(&self.parent_servers)
    }

    /// Whether any zone may be signed (the default policy or a zone's own).
    pub fn signs_any(&self) -> bool {
        self.default.enabled || self.zones.iter().any(|z| z.policy.enabled)
    }

    fn zone_entry(&self, zone: &Name) -> Option<&ZonePolicy> {
        let name = zone.to_lowercase().to_ascii();
        self.zones.iter().find(|z| z.zone == name)
    }
}

fn servers(key: &str, list: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    list.iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| ConfigError::Invalid {
                    key: key.into(),
                    message: format!("`{s}` is not an address or ADDRESS:PORT"),
                })
        })
        .collect()
}

/// Check `[dnssec]`; `env` looks up `key_encryption_key_env`.
pub(super) fn resolve_dnssec(
    s: &DnssecSettings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<DnssecConfig, ConfigError> {
    let default = SigningPolicy {
        enabled: s.enabled,
        algorithm: s.algorithm,
        keys: s.keys,
        denial: s.denial,
        signature_validity: s.signature_validity_secs,
        signature_refresh: s.signature_refresh_secs,
        signature_jitter: s.signature_jitter_secs,
        dnskey_ttl: s.dnskey_ttl,
        zsk_lifetime: s.zsk_lifetime_secs,
        ksk_lifetime: s.ksk_lifetime_secs,
        propagation_delay: s.propagation_delay_secs,
        parent_ds_ttl: s.parent_ds_ttl_secs,
        zone_max_ttl: s.zone_max_ttl_secs,
    };
    default.check().map_err(|message| ConfigError::Invalid {
        key: "dnssec".into(),
        message,
    })?;
    let parent_servers = servers("dnssec.parent_servers", &s.parent_servers)?;
    let mut zones: Vec<ZonePolicy> = Vec::new();
    for z in &s.zones {
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("dnssec.zones[{}]", z.zone),
            message,
        };
        let name =
            Name::from_ascii(&z.zone).map_err(|e| invalid(format!("not a zone name: {e}")))?;
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        let zone = name.to_ascii();
        if zones.iter().any(|p| p.zone == zone) {
            return Err(invalid("listed twice".into()));
        }
        let policy = SigningPolicy {
            enabled: z.enabled.unwrap_or(default.enabled),
            algorithm: z.algorithm.unwrap_or(default.algorithm),
            keys: z.keys.unwrap_or(default.keys),
            denial: z.denial.unwrap_or(default.denial),
            zsk_lifetime: z.zsk_lifetime_secs.unwrap_or(default.zsk_lifetime),
            ksk_lifetime: z.ksk_lifetime_secs.unwrap_or(default.ksk_lifetime),
            parent_ds_ttl: z.parent_ds_ttl_secs.unwrap_or(default.parent_ds_ttl),
            ..default.clone()
        };
        policy.check().map_err(invalid)?;
        let parent = match &z.parent_servers {
            Some(list) => servers(&format!("dnssec.zones[{}].parent_servers", z.zone), list)?,
            None => parent_servers.clone(),
        };
        zones.push(ZonePolicy {
            zone,
            policy,
            parent_servers: parent,
        });
    }
    let key_encryption_key = secret_from(
        "dnssec",
        "key_encryption_key",
        s.key_encryption_key.as_ref(),
        s.key_encryption_key_env.as_deref(),
        env,
    )?;
    if let Some(k) = &key_encryption_key {
        crate::acme::sealing::KeyCipher::from_base64(k.expose()).map_err(|e| {
            ConfigError::Invalid {
                key: "dnssec.key_encryption_key".into(),
                message: e.to_string(),
            }
        })?;
    }
    Ok(DnssecConfig {
        default,
        parent_servers,
        zones,
        parent_check_interval_secs: at_least_one(
            "dnssec.parent_check_interval_secs",
            s.parent_check_interval_secs,
        )?,
        maintenance_interval_secs: at_least_one(
            "dnssec.maintenance_interval_secs",
            s.maintenance_interval_secs,
        )?,
        refresh_batch: at_least_one("dnssec.refresh_batch", s.refresh_batch)?,
        key_encryption_key,
    })
}
