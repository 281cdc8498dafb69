//! The `_audit.<zone>` TXT record: the audit trail's head, published in every zone at every
//! change (its text is the core's, `domain::audit::anchor_text`).

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record};

/// Label of the TXT record that carries the audit trail's head in every zone.
pub const LABEL: &str = crate::domain::policy::AUDIT_ANCHOR_LABEL;
/// TTL of the `_audit` TXT record.
pub const TTL: u32 = 300;

/// The anchor record of `origin` for the head after event `seq` with hash `hash`.
pub fn record(origin: &Name, seq: i64, hash: &str) -> Result<Record, String> {
    let name = Name::from_ascii(LABEL)
        .and_then(|l| l.append_domain(origin))
        .map_err(|e| format!("anchor name: {e}"))?;
    let text = crate::domain::audit::anchor_text(seq, hash);
    Ok(Record::from_rdata(
        name,
        TTL,
        RData::TXT(TXT::new(vec![text])),
    ))
}
