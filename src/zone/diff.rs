//! What one change did to a zone, record by record.

use hickory_proto::rr::Record;

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
