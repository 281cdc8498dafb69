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

/// Serialize a database URL with only its password as `<redacted>` (`#[serde(serialize_with
/// = …)]`): `ranah check-config` must show where the database is.
pub(super) fn url_password_redacted<S: serde::Serializer>(
    url: &Secret,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url_password(url.expose()))
}

/// `url` with its password, and only that, replaced by `<redacted>`: the one in the user
/// information (`postgres://ranah:PASSWORD@db.example/ranah`) and a `password=` query
/// parameter (libpq's). A URL without a password (SQLite's) is returned whole.
pub(super) fn redact_url_password(url: &str) -> String {
    const REDACTED: &str = "<redacted>";
    let (head, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    // The authority ends at the path, the query or the fragment.
    let (authority, tail) = if head.is_empty() {
        ("", rest)
    } else {
        rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()))
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let tail = match before_fragment.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => before_fragment.to_owned(),
    };
    let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
    format!("{head}{authority}{tail}{fragment}")
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

#[cfg(test)]
mod tests {
    use super::redact_url_password;

    #[test]
    fn only_the_password_of_a_url_is_redacted() {
        for (url, shown) in [
            (
                "sqlite:///var/lib/ranah/ranah.db?mode=rwc",
                "sqlite:///var/lib/ranah/ranah.db?mode=rwc",
            ),
            ("sqlite://./data/ranah.db", "sqlite://./data/ranah.db"),
            (
                "postgres://ranah:s3cr:et@db.example.go.id:5432/ranah?sslmode=require",
                "postgres://ranah:<redacted>@db.example.go.id:5432/ranah?sslmode=require",
            ),
            (
                "postgres://ranah@db.example.go.id/ranah",
                "postgres://ranah@db.example.go.id/ranah",
            ),
            (
                "postgres://db.example.go.id/ranah?user=ranah&password=s3cret#x",
                "postgres://db.example.go.id/ranah?user=ranah&password=<redacted>#x",
            ),
            // An `@` in the password (not percent-encoded) stays hidden too.
            (
                "postgres://ranah:p@ss@db.example.go.id/ranah",
                "postgres://ranah:<redacted>@db.example.go.id/ranah",
            ),
        ] {
            assert_eq!(redact_url_password(url), shown, "{url}");
        }
    }
}
