//! What one change did to a zone, record by record.

use hickory_proto::rr::{RData, Record};

use super::file;

/// Records listed in a change's audit summary; larger changes list this many and count the
/// rest.
const AUDIT_RECORDS_LISTED: usize = 200;

/// The records of one change, as the store committed them.
#[derive(Debug, Clone, Default)]
pub struct ZoneDiff {
    /// Records removed (exact matches of owner, type and data).
    pub removed: Vec<Record>,
    /// Records added.
    pub added: Vec<Record>,
    /// The new SOA (with the new serial).
    pub soa: Option<Record>,
}

impl ZoneDiff {
    /// The serial the change moves the zone to, if it sets a new SOA.
    pub fn new_serial(&self) -> Option<u32> {
        self.soa.as_ref().and_then(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
    }

    /// The records removed and added, as the audit trail lists them: a count and up to 200
    /// master-file lines each.
    pub fn audit_summary(&self) -> (serde_json::Value, serde_json::Value) {
        (listed(&self.removed), listed(&self.added))
    }
}

fn listed(records: &[Record]) -> serde_json::Value {
    let lines: Vec<String> = records
        .iter()
        .take(AUDIT_RECORDS_LISTED)
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.name.to_ascii(),
                r.ttl,
                r.record_type(),
                file::presentation(&r.data)
            )
        })
        .collect();
    serde_json::json!({ "count": records.len(), "records": lines })
}
