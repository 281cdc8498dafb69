//! Secrets: values that never appear in logs, `Debug` output or `ranah check-config`, and the
//! rule for a secret given either in the file or in a variable that a `*_env` key names.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The newtype name [`Secret`] deserializes under: the key tree (`keys.rs`) recognises it, so a
/// secret key is documented as one, and its value is never echoed in an error.
pub(super) const SECRET_NEWTYPE: &str = "Secret";

/// A string that must never appear in logs or debug output (passwords inside database URLs,
/// TSIG, SMTP, webhook, audit and ACME secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Secret, D::Error> {
                String::deserialize(deserializer).map(Secret)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Secret, E> {
                Ok(Secret(value.to_owned()))
            }
            fn visit_string<E: de::Error>(self, value: String) -> Result<Secret, E> {
                Ok(Secret(value))
            }
        }
        // A newtype rather than a bare string, only so that the key tree can see it.
        deserializer.deserialize_newtype_struct(SECRET_NEWTYPE, SecretVisitor)
    }
}

/// Serialize anything as `<redacted>` (`#[serde(serialize_with = …)]` for decoded secrets).
pub(super) fn redacted<S: serde::Serializer, T>(_: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("<redacted>")
}

/// A secret given in the file (`value`, under the key `section.name`) or in the variable it
/// names (`var`, under `section.name_env`); at most one of them.
pub(super) fn secret_from(
    section: &str,
    name: &str,
    value: Option<&Secret>,
    var: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, var) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            key: format!("{section}.{name}"),
            message: format!("set `{name}` or `{name}_env`, not both"),
        }),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(var)) => {
            env(var)
                .map(|v| Some(Secret::new(v)))
                .ok_or_else(|| ConfigError::Invalid {
                    key: format!("{section}.{name}_env"),
                    message: format!("the variable {var} is not set"),
                })
        }
        (None, None) => Ok(None),
    }
}
