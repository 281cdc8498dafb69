//! `[[tsig_keys]]` and `[[secondaries]]`: the secondaries that transfer the zones, and the
//! TSIG keys that sign their transfers.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::secret::{redacted, secret_from};
use super::{ConfigError, Secret};

/// One `[[tsig_keys]]` entry as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKeySettings {
    /// The key's name as the secondaries know it.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    #[serde(default = "default_tsig_algorithm")]
    pub algorithm: String,
    /// The secret, base64.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The environment variable holding the secret (base64), instead of `secret`.
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
}

/// One `[[secondaries]]` entry as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecondarySettings {
    /// The zone it serves.
    pub zone: String,
    /// Where NOTIFY goes (and where its serial is polled), `ADDRESS:PORT`.
    pub notify: SocketAddr,
    /// Addresses or prefixes it may transfer from (`127.0.0.1`, `192.0.2.0/24`).
    pub allow_transfer: Vec<String>,
    /// The key its transfers must be signed with.
    #[serde(default)]
    pub tsig_key: Option<String>,
}

/// A TSIG key, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct TsigKeyConfig {
    /// Name.
    pub name: String,
    /// Algorithm name.
    pub algorithm: String,
    /// The decoded secret (redacted in output).
    #[serde(serialize_with = "redacted")]
    pub secret: Vec<u8>,
}

/// A secondary, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct SecondaryConfig {
    /// The zone's apex, absolute (`example.go.id.`).
    pub zone: String,
    /// NOTIFY address.
    pub notify: SocketAddr,
    /// Prefixes it may transfer from.
    pub allow_transfer: Vec<ipnet::IpNet>,
    /// Its key's name.
    pub tsig_key: Option<String>,
}

pub(super) type Transfers = (Vec<TsigKeyConfig>, Vec<SecondaryConfig>);

/// Check the keys and secondaries: decodable secrets from exactly one source, supported
/// algorithms, prefixes, and keys that exist. `env` looks up `secret_env` variables.
pub(super) fn resolve_transfers(
    keys: &[TsigKeySettings],
    secondaries: &[SecondarySettings],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Transfers, ConfigError> {
    use base64::Engine as _;
    let mut resolved_keys = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("tsig_keys[{i}] ({})", key.name),
            message,
        };
        let encoded = secret_from(
            &format!("tsig_keys[{i}] ({})", key.name),
            "secret",
            key.secret.as_ref(),
            key.secret_env.as_deref(),
            &env,
        )?
        .ok_or_else(|| invalid("set exactly one of `secret` and `secret_env`".into()))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(encoded.expose().trim())
            .map_err(|e| invalid(format!("the secret is not base64: {e}")))?;
        crate::dns::tsig::TsigKey::new(&key.name, &key.algorithm, secret.clone())
            .map_err(|e| invalid(e.to_string()))?;
        if resolved_keys
            .iter()
            .any(|k: &TsigKeyConfig| k.name.eq_ignore_ascii_case(&key.name))
        {
            return Err(invalid("a key with this name is already defined".into()));
        }
        resolved_keys.push(TsigKeyConfig {
            name: key.name.clone(),
            algorithm: key.algorithm.clone(),
            secret,
        });
    }
    let mut resolved = Vec::new();
    for (i, secondary) in secondaries.iter().enumerate() {
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("secondaries[{i}] ({} {})", secondary.zone, secondary.notify),
            message,
        };
        let mut zone = secondary.zone.trim().to_ascii_lowercase();
        if !zone.ends_with('.') {
            zone.push('.');
        }
        hickory_proto::rr::Name::from_ascii(&zone)
            .map_err(|e| invalid(format!("zone `{}`: {e}", secondary.zone)))?;
        let allow_transfer = secondary
            .allow_transfer
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(format!("allow_transfer `{p}` is not an address or prefix"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(key) = &secondary.tsig_key
            && !resolved_keys
                .iter()
                .any(|k| k.name.eq_ignore_ascii_case(key))
        {
            return Err(invalid(format!(
                "tsig_key `{key}` is not defined in [[tsig_keys]]"
            )));
        }
        resolved.push(SecondaryConfig {
            zone,
            notify: secondary.notify,
            allow_transfer,
            tsig_key: secondary.tsig_key.clone(),
        });
    }
    Ok((resolved_keys, resolved))
}
