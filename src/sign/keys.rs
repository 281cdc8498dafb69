//! Signing keys in memory: made (PKCS#8), read back, and what the zone publishes of them
//! (DNSKEY, CDS, CDNSKEY, the DS for the parent). The private half never leaves this type
//! except as the PKCS#8 bytes the key service seals for the store; `Debug` does not show it.

use std::sync::Arc;

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSKEY, DS};
use hickory_proto::dnssec::{self, DigestType, PublicKey, SigningKey, TBS};
use hickory_proto::rr::Name;
use rustls_pki_types::PrivatePkcs8KeyDer;

use crate::domain::dnssec::{Algorithm, KeyRole};

/// Why a key cannot be made or used.
#[derive(Debug, thiserror::Error)]
#[error("DNSSEC key: {0}")]
pub struct KeyError(String);

impl From<dnssec::DnsSecError> for KeyError {
    fn from(e: dnssec::DnsSecError) -> Self {
        Self(e.to_string())
    }
}

impl From<hickory_proto::ProtoError> for KeyError {
    fn from(e: hickory_proto::ProtoError) -> Self {
        Self(e.to_string())
    }
}

fn hickory_algorithm(algorithm: Algorithm) -> dnssec::Algorithm {
    match algorithm {
        Algorithm::Ecdsap256sha256 => dnssec::Algorithm::ECDSAP256SHA256,
        Algorithm::Ed25519 => dnssec::Algorithm::ED25519,
    }
}

/// A new private key of `algorithm`, as PKCS#8 DER.
pub fn generate(algorithm: Algorithm) -> Result<Vec<u8>, KeyError> {
    let der = match algorithm {
        Algorithm::Ecdsap256sha256 => {
            EcdsaSigningKey::generate_pkcs8(hickory_algorithm(algorithm))?
        }
        Algorithm::Ed25519 => Ed25519SigningKey::generate_pkcs8()?,
    };
    Ok(der.secret_pkcs8_der().to_vec())
}

/// A zone's key, ready to sign, with the role it has and what it does now.
#[derive(Clone)]
pub struct ZoneKey {
    /// The store's id.
    pub id: i64,
    /// The role.
    pub role: KeyRole,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The key tag (RFC 4034 appendix B).
    pub tag: u16,
    /// The DNSKEY record data.
    pub dnskey: DNSKEY,
    /// Its DNSKEY is in the zone.
    pub published: bool,
    /// It signs the DNSKEY, CDS and CDNSKEY sets.
    pub signs_keys: bool,
    /// It signs the rest of the zone.
    pub signs_zone: bool,
    /// Its CDS and CDNSKEY are in the zone.
    pub submitted: bool,
    signer: Arc<dyn SigningKey>,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("tag", &self.tag)
            .field("published", &self.published)
            .field("signs_keys", &self.signs_keys)
            .field("signs_zone", &self.signs_zone)
            .field("submitted", &self.submitted)
            .finish_non_exhaustive()
    }
}

impl ZoneKey {
    /// The key in these PKCS#8 bytes, in this role, doing nothing yet.
    pub fn from_pkcs8(
        id: i64,
        role: KeyRole,
        algorithm: Algorithm,
        pkcs8: &[u8],
    ) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from(pkcs8);
        let signer: Arc<dyn SigningKey> = match algorithm {
            Algorithm::Ecdsap256sha256 => Arc::new(EcdsaSigningKey::from_pkcs8(
                &der,
                hickory_algorithm(algorithm),
            )?),
            Algorithm::Ed25519 => Arc::new(Ed25519SigningKey::from_pkcs8(&der)?),
        };
        let dnskey = DNSKEY::with_flags(role.dnskey_flags(), signer.to_public_key()?);
        let tag = dnskey.calculate_key_tag()?;
        Ok(Self {
            id,
            role,
            algorithm,
            tag,
            dnskey,
            published: false,
            signs_keys: false,
            signs_zone: false,
            submitted: false,
            signer,
        })
    }

    /// The hickory algorithm of the key.
    pub fn hickory_algorithm(&self) -> dnssec::Algorithm {
        hickory_algorithm(self.algorithm)
    }

    /// Sign the to-be-signed data.
    pub fn sign(&self, tbs: &TBS) -> Result<Vec<u8>, KeyError> {
        Ok(self.signer.sign(tbs)?)
    }

    /// The DS the parent serves for this key (SHA-256, RFC 4509: what registries take).
    pub fn ds(&self, origin: &Name) -> Result<DS, KeyError> {
        let digest = self.dnskey.to_digest(origin, DigestType::SHA256)?;
        Ok(DS::new(
            self.tag,
            self.hickory_algorithm(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        ))
    }

    /// The CDS record data (RFC 7344): the DS the parent should serve.
    pub fn cds(&self, origin: &Name) -> Result<CDS, KeyError> {
        let ds = self.ds(origin)?;
        Ok(CDS::new(
            ds.key_tag(),
            Some(ds.algorithm()),
            ds.digest_type(),
            ds.digest().to_vec(),
        ))
    }

    /// The CDNSKEY record data (RFC 7344): the DNSKEY the parent should make its DS from.
    pub fn cdnskey(&self) -> CDNSKEY {
        CDNSKEY::with_flags(
            self.dnskey.flags(),
            Some(self.hickory_algorithm()),
            self.dnskey.public_key().public_bytes().to_vec(),
        )
    }
}

/// The delete CDS (RFC 8078 §4: `0 0 0 00`): the parent should remove the DS.
pub fn delete_cds() -> CDS {
    CDS::new(0, None, DigestType::Unknown(0), vec![0])
}

/// The delete CDNSKEY (RFC 8078 §4: `0 3 0 AA==`).
pub fn delete_cdnskey() -> CDNSKEY {
    CDNSKEY::with_flags(0, None, vec![0])
}
