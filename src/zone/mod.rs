//! The zone's data without I/O: RFC 1035 master files (parsed with line numbers, written for
//! BIND, Knot and NSD) and the record diffs that a change makes. The store keeps them, the DNS
//! views apply them; neither depends on the other through this module.

pub mod anchor;
pub mod diff;
pub mod file;
pub mod name_key;
pub mod update;

pub use diff::ZoneDiff;

use hickory_proto::rr::RecordType;

/// The types ranah's DNSSEC signer makes: never the office's data (a change cannot carry
/// them, an import drops them, the store keeps them apart).
pub const DNSSEC_TYPES: [RecordType; 7] = [
    RecordType::RRSIG,
    RecordType::NSEC,
    RecordType::NSEC3,
    RecordType::NSEC3PARAM,
    RecordType::DNSKEY,
    RecordType::CDS,
    RecordType::CDNSKEY,
];

/// Whether records of this type are made by the signer.
pub fn is_dnssec_type(rtype: RecordType) -> bool {
    DNSSEC_TYPES.contains(&rtype)
}

/// Whether `id` has the form of a record's id in the Cloudflare-compatible API (32 hex
/// digits, lower case, as [`record_id`] and the store make them).
pub fn is_record_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The id a record has in the Cloudflare-compatible API until its content changes there: 32
/// hex digits of SHA-256 over its owner (absolute, lower case), type and master-file data, so
/// that the same record has the same id on every instance and after every restart.
pub fn record_id(owner: &str, rtype: u16, data: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(owner.to_ascii_lowercase().as_bytes());
    hash.update([0]);
    hash.update(rtype.to_be_bytes());
    hash.update([0]);
    hash.update(data.as_bytes());
    hex::encode(&hash.finalize()[..16])
}
