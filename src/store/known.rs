//! What a write transaction has learned of the rows its changes touch, so that the next
//! change in the same transaction need not read them back.
//!
//! Every statement is a round trip to the database's thread, and a group of changes (see
//! `store::group`) runs them one after another under the write lock: reading the audit
//! trail's head and a zone's SOA row again for each change cost two of a single-name
//! change's twelve. Within one transaction that holds the write lock nobody else writes, so
//! what the transaction wrote last is what is there; the statements that rely on it still
//! check it (the audit sequence is a primary key, a zone's serial is compared), so a wrong
//! entry is refused, never written over.

use std::collections::HashMap;

use hickory_proto::rr::rdata::SOA;

/// Rows as the transaction last wrote them. A change that is undone (its savepoint rolled
/// back) must also undo what it taught: take a copy before, put it back after.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// The audit trail's head: sequence number and hash of the last event.
    pub(crate) audit_head: Option<(i64, String)>,
    /// Zones by name.
    zones: HashMap<String, KnownZone>,
}

/// A zone's row as the transaction last wrote it.
#[derive(Debug, Clone)]
pub(crate) struct KnownZone {
    /// Its row id.
    pub(crate) id: i64,
    /// The SOA record's TTL.
    pub(crate) soa_ttl: i64,
    /// The SOA written last.
    pub(crate) soa: SOA,
}

impl Known {
    /// The zone `name`'s row, if this transaction wrote it.
    pub(crate) fn zone(&self, name: &str) -> Option<&KnownZone> {
        self.zones.get(name)
    }

    /// Remember the zone `name`'s row as just written.
    pub(crate) fn set_zone(&mut self, name: String, zone: KnownZone) {
        self.zones.insert(name, zone);
    }
}
