//! Private keys at rest: AES-256-GCM with a key from the configuration.
//!
//! A sealed value is `version (1 byte) || nonce (12 bytes) || ciphertext and tag`. The caller
//! passes associated data that names what the value is (e.g. `certificate-key:sipd.example.`),
//! so that a sealed key copied into another row does not open there.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The configured key is not 32 bytes of base64.
    #[error("the key must be 32 bytes in base64 ({0})")]
    BadKey(String),
    /// The value was not sealed with this key and label, or was altered.
    #[error("cannot decrypt the stored key: wrong key_encryption_key, or the data was altered")]
    Open,
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Random(String),
}

/// Seals and opens values with one AES-256-GCM key.
#[derive(Clone)]
pub struct KeyCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for KeyCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCipher(<redacted>)")
    }
}

impl KeyCipher {
    /// The cipher for a base64 key of 32 bytes.
    pub fn from_base64(key: &str) -> Result<Self, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|e| SealError::BadKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey(format!("{} bytes given", bytes.len())));
        }
        let cipher =
            Aes256Gcm::new_from_slice(&bytes).map_err(|e| SealError::BadKey(e.to_string()))?;
        Ok(Self { cipher })
    }

    /// Encrypt `plain`, bound to `label`.
    pub fn seal(&self, plain: &[u8], label: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypt a value sealed with [`KeyCipher::seal`] under the same `label`.
    pub fn open(&self, sealed: &[u8], label: &str) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn round_trip_and_tampering() {
        let c = KeyCipher::from_base64(KEY).unwrap();
        let sealed = c.seal(b"-----BEGIN PRIVATE KEY-----", "key:a").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"BEGIN"));
        assert_eq!(
            c.open(&sealed, "key:a").unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );
        // Another label (row) does not open it.
        assert!(matches!(c.open(&sealed, "key:b"), Err(SealError::Open)));
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(c.open(&altered, "key:a").is_err());
        // Another key does not open it.
        let other =
            KeyCipher::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .unwrap();
        assert!(other.open(&sealed, "key:a").is_err());
        // Two seals of the same value differ (fresh nonce).
        assert_ne!(c.seal(b"x", "l").unwrap(), c.seal(b"x", "l").unwrap());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(KeyCipher::from_base64("c2hvcnQ=").is_err());
        assert!(KeyCipher::from_base64("not base64!").is_err());
    }
}
