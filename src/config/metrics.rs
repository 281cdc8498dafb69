//! `[metrics]`: who may read `GET /metrics`, and where it is served.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// `[metrics]` as written. By default `/metrics` is served on the API's address to anyone who
/// reaches it (docs/operations.md, "Metrics access", says what that exposes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `/metrics` on this address (plain HTTP) instead of the API's: e.g. a loopback or
    /// management address only the monitoring host reaches. Unset: on the API's address.
    pub listen: Option<SocketAddr>,
    /// A bearer token `/metrics` requires (`Authorization: Bearer TOKEN`); unset: none.
    pub token: Option<Secret>,
    /// A file holding the token (its first line), instead of `token`; read at start.
    pub token_file: Option<PathBuf>,
}

/// `[metrics]`, resolved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MetricsConfig {
    /// Where `/metrics` is served; `None`: on the API's address.
    pub listen: Option<SocketAddr>,
    /// The token `/metrics` requires, if any (redacted in output).
    pub token: Option<Secret>,
    /// The file it was read from, if any.
    pub token_file: Option<PathBuf>,
}

/// Fewest characters of a token: a short one is guessed.
const MIN_TOKEN_LEN: usize = 16;

impl MetricsSettings {
    /// The token from `token` or `token_file` (at most one), long enough to be secret.
    pub(super) fn resolve(&self) -> Result<MetricsConfig, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("metrics.{key}"),
            message,
        };
        let token = match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "token",
                    "set `token` or `token_file`, not both".into(),
                ));
            }
            (Some(token), None) => Some((token.expose().trim().to_owned(), "token")),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    invalid("token_file", format!("cannot read {}: {e}", file.display()))
                })?;
                let first = text.lines().next().unwrap_or("").trim().to_owned();
                Some((first, "token_file"))
            }
            (None, None) => None,
        };
        let token = match token {
            Some((token, key)) => {
                if token.len() < MIN_TOKEN_LEN || !token.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(invalid(
                        key,
                        format!(
                            "the token must be at least {MIN_TOKEN_LEN} printable characters \
                             without spaces (`openssl rand -hex 32` makes one)"
                        ),
                    ));
                }
                Some(Secret::new(token))
            }
            None => None,
        };
        Ok(MetricsConfig {
            listen: self.listen,
            token,
            token_file: self.token_file.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_the_file_or_the_key_never_both_never_short() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "0123456789abcdef0123\n").unwrap();
        let from_file = MetricsSettings {
            token_file: Some(file.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            from_file.token.as_ref().map(Secret::expose),
            Some("0123456789abcdef0123")
        );
        let both = MetricsSettings {
            token: Some(Secret::new("0123456789abcdef0123")),
            token_file: Some(file),
            ..Default::default()
        };
        assert!(both.resolve().unwrap_err().to_string().contains("not both"));
        let short = MetricsSettings {
            token: Some(Secret::new("s3cret")),
            ..Default::default()
        };
        let e = short.resolve().unwrap_err().to_string();
        assert!(e.contains("metrics.token") && !e.contains("s3cret"), "{e}");
        let missing = MetricsSettings {
            token_file: Some(dir.path().join("none")),
            ..Default::default()
        };
        assert!(missing.resolve().unwrap_err().to_string().contains("none"));
        assert!(
            MetricsSettings::default()
                .resolve()
                .unwrap()
                .token
                .is_none()
        );
    }

    #[test]
    fn check_config_shows_the_token_redacted() {
        let settings = super::super::Settings {
            metrics: MetricsSettings {
                token: Some(Secret::new("0123456789abcdef-s3cret")),
                ..Default::default()
            },
            ..Default::default()
        };
        let config = settings.resolve(|_| None).unwrap();
        let shown = config.to_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(
            shown.contains("[metrics]") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
