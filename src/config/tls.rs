//! `[api.tls]`: HTTPS for the API, with a certificate from files or one ranah orders for its
//! own name through `[acme]`; plain HTTP then only redirects, or is off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, at_least_one};

/// A year: the HSTS lifetime most sites send, long enough that a browser that saw the API once
/// never tries plain HTTP again before its next visit.
const HSTS_DEFAULT_SECS: u64 = 31_536_000;

/// `[api.tls]`: off unless a certificate source is set (`cert_file` and `key_file`, or
/// `acme_name`); then `api.listen` speaks HTTPS only.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiTlsConfig {
    /// The certificate chain for HTTPS (PEM, the server's certificate first), with `key_file`.
    /// Read again when it changes (checked every `reload_check_secs`) and on SIGHUP.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM: PKCS #8, SEC 1 or PKCS #1).
    pub key_file: Option<PathBuf>,
    /// A name in a served zone (`ranah.example.go.id`): ranah orders the API's certificate for
    /// it through `[acme]` (DNS-01 from its own zone), serves it and renews it like the others.
    /// Instead of `cert_file` and `key_file`.
    pub acme_name: Option<String>,
    /// Address for plain HTTP, which answers every request with a 308 redirect to the same
    /// path and query over HTTPS and serves nothing else; unset: no plain HTTP at all.
    pub redirect_listen: Option<SocketAddr>,
    /// `Strict-Transport-Security: max-age=` on every HTTPS answer, in seconds; 0: no header.
    pub hsts_max_age_secs: u64,
    /// Seconds between checks of the certificate source for a new certificate (changed files,
    /// a renewal stored); an ACME renewal is also picked up at once.
    pub reload_check_secs: u64,
}

impl Default for ApiTlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            acme_name: None,
            redirect_listen: None,
            hsts_max_age_secs: HSTS_DEFAULT_SECS,
            reload_check_secs: 60,
        }
    }
}

/// Where the API's certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource<'a> {
    /// PEM files, read again when they change.
    Files {
        /// The chain.
        cert: &'a Path,
        /// Its key.
        key: &'a Path,
    },
    /// ranah orders it through ACME for this name (lower case, no trailing dot).
    Acme(&'a str),
}

impl ApiTlsConfig {
    /// Whether the API speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.source().is_some()
    }

    /// The certificate source (checked by `resolve`); `None`: plain HTTP.
    pub fn source(&self) -> Option<TlsSource<'_>> {
        match (&self.cert_file, &self.key_file, &self.acme_name) {
            (Some(cert), Some(key), None) => Some(TlsSource::Files { cert, key }),
            (None, None, Some(name)) => Some(TlsSource::Acme(name)),
            _ => None,
        }
    }

    /// Check the keys together: one source, whole; ACME needs `[acme]`; a redirect needs HTTPS.
    /// `acme_on` says whether an ACME directory is configured.
    pub(super) fn resolve(mut self, acme_on: bool) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("api.tls.{key}"),
            message,
        };
        at_least_one("api.tls.reload_check_secs", self.reload_check_secs)?;
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => {
                return Err(invalid("key_file", "required with cert_file".into()));
            }
            (None, Some(_)) => {
                return Err(invalid("cert_file", "required with key_file".into()));
            }
            (Some(cert), Some(key)) => {
                if self.acme_name.is_some() {
                    return Err(invalid(
                        "acme_name",
                        "set either cert_file and key_file, or acme_name, not both".into(),
                    ));
                }
                for (name, file) in [("cert_file", cert), ("key_file", key)] {
                    if !file.is_file() {
                        return Err(invalid(
                            name,
                            format!("{} is not a readable file", file.display()),
                        ));
                    }
                }
            }
            (None, None) => {}
        }
        if let Some(name) = &self.acme_name {
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            let labels_ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').count() >= 2
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !labels_ok {
                return Err(invalid(
                    "acme_name",
                    format!("`{name}` is not a host name (letters, digits, inner hyphens)"),
                ));
            }
            if !acme_on {
                return Err(invalid(
                    "acme_name",
                    "needs [acme] directory (and its key_encryption_key): the certificate is \
                     ordered through it"
                        .into(),
                ));
            }
            self.acme_name = Some(name);
        }
        if self.redirect_listen.is_some() && !self.enabled() {
            return Err(invalid(
                "redirect_listen",
                "redirects to HTTPS, which needs cert_file and key_file, or acme_name".into(),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_whole_source_and_a_redirect_only_with_https() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("x.pem");
        std::fs::write(&pem, "x").unwrap();
        let err = |c: ApiTlsConfig, acme: bool| c.resolve(acme).unwrap_err().to_string();
        let off = ApiTlsConfig::default().resolve(false).unwrap();
        assert!(!off.enabled());
        let files = ApiTlsConfig {
            cert_file: Some(pem.clone()),
            key_file: Some(pem.clone()),
            ..Default::default()
        };
        assert!(files.clone().resolve(false).unwrap().enabled());
        let half = ApiTlsConfig {
            key_file: None,
            ..files.clone()
        };
        assert!(err(half, false).contains("api.tls.key_file"));
        let missing = ApiTlsConfig {
            key_file: Some(dir.path().join("none.pem")),
            ..files.clone()
        };
        assert!(err(missing, false).contains("none.pem"));
        let both = ApiTlsConfig {
            acme_name: Some("api.example.go.id".into()),
            ..files
        };
        assert!(err(both, true).contains("not both"));
        let acme = ApiTlsConfig {
            acme_name: Some("API.Example.go.id.".into()),
            ..Default::default()
        };
        assert!(err(acme.clone(), false).contains("[acme]"));
        let acme = acme.resolve(true).unwrap();
        assert_eq!(acme.source(), Some(TlsSource::Acme("api.example.go.id")));
        for bad in ["localhost", "a..b", "-a.example", "a b.example", ""] {
            let c = ApiTlsConfig {
                acme_name: Some(bad.into()),
                ..Default::default()
            };
            assert!(err(c, true).contains("acme_name"), "{bad}");
        }
        let redirect = ApiTlsConfig {
            redirect_listen: Some(SocketAddr::from(([127, 0, 0, 1], 80))),
            ..Default::default()
        };
        assert!(err(redirect, false).contains("redirect_listen"));
    }
}
