//! Signed checkpoints of the audit trail (Ed25519): every day, and for each month that a
//! service report covers, the head is signed with the office's key, so that the head at that
//! time can be shown later even if the whole database were rewritten.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use tokio::sync::watch;

use crate::domain::audit::checkpoint_text;
use crate::domain::calendar::Calendar;
use crate::store::{Checkpoint, Store, StoreError};

/// How often the daemon checks that today's checkpoint exists.
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Errors reading the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not base64 of 32 bytes.
    #[error("the audit signing key must be the base64 of 32 bytes (an Ed25519 seed)")]
    Invalid,
}

/// The office's signing key.
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// A signer from the base64 of a 32-byte Ed25519 seed.
    pub fn from_base64(seed: &str) -> Result<Self, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(seed.trim())
            .map_err(|_| KeyError::Invalid)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Invalid)?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// A checkpoint of `seq`/`hash` for `kind` and `label`.
    pub fn sign(
        &self,
        kind: &str,
        label: &str,
        seq: i64,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Checkpoint {
        let text = checkpoint_text(kind, label, seq, hash);
        let signature = self.key.sign(text.as_bytes());
        Checkpoint {
            kind: kind.into(),
            label: label.into(),
            seq,
            hash: hash.into(),
            signed_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            public_key: self.public_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Sign today's head (in the office's time zone) unless today has a checkpoint already.
    pub async fn sign_daily(
        &self,
        store: &Store,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let today = now
            .with_timezone(&calendar.time_zone())
            .date_naive()
            .to_string();
        if store.checkpoint("daily", &today).await?.is_some() {
            return Ok(None);
        }
        let Some((seq, hash)) = store.audit_head().await? else {
            return Ok(None);
        };
        let c = self.sign("daily", &today, seq, &hash, now);
        Ok(store.save_checkpoint(&c).await?.then_some(c))
    }

    /// Sign the daily checkpoint at start and then every hour, until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        store: Store,
        calendar: Arc<Calendar>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            match self.sign_daily(&store, &calendar, Utc::now()).await {
                Ok(Some(c)) => tracing::info!(label = %c.label, seq = c.seq, "audit head signed"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot sign the audit head"),
            }
        }
    }
}

/// Whether a checkpoint's signature is good for its own public key.
pub fn signature_valid(c: &Checkpoint) -> bool {
    let key = hex::decode(&c.public_key)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .and_then(|k| VerifyingKey::from_bytes(&k).ok());
    let signature = hex::decode(&c.signature)
        .ok()
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .map(|s| Signature::from_bytes(&s));
    match (key, signature) {
        (Some(key), Some(signature)) => key
            .verify(
                checkpoint_text(&c.kind, &c.label, c.seq, &c.hash).as_bytes(),
                &signature,
            )
            .is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let s = Signer::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
            .unwrap();
        let c = s.sign("daily", "2026-11-23", 42, "ab", Utc::now());
        assert!(signature_valid(&c));
        let mut forged = c.clone();
        forged.seq = 41;
        assert!(!signature_valid(&forged));
        assert!(Signer::from_base64("c2hvcnQ=").is_err());
    }
}
