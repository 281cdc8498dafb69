//! `[signing]`: the office's certificate and key that sign the documents ranah makes (PAdES;
//! see `outbox::sign` and docs/documents.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[signing]`: without both files, documents are made unsigned and say so.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// The signing certificate (PEM), the signer's first and then the chain above it: the
    /// office's, for example one issued for electronic signatures.
    pub certificate_file: Option<PathBuf>,
    /// Its private key (PEM, PKCS#8, unencrypted; ECDSA P-256 or RSA), readable by ranah only.
    pub key_file: Option<PathBuf>,
}

impl SigningSettings {
    /// Both files or neither.
    pub(super) fn resolve(self) -> Result<Self, ConfigError> {
        match (&self.certificate_file, &self.key_file) {
            (Some(_), None) | (None, Some(_)) => Err(ConfigError::Invalid {
                key: "signing".into(),
                message: "give both certificate_file and key_file, or neither".into(),
            }),
            _ => Ok(self),
        }
    }
}
