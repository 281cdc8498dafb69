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

    /// Whether the diff changes nothing.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.soa.is_none()
    }

    /// This diff followed by `later`, as one: a record added here and removed there (or
    /// removed here and added back) cancels out, so that the result can be journaled as one
    /// change (removals before additions).
    pub fn merge(mut self, later: ZoneDiff) -> ZoneDiff {
        use std::collections::HashMap;
        type Id = (
            hickory_proto::rr::Name,
            hickory_proto::rr::RecordType,
            Vec<u8>,
        );
        let id = |r: &Record| -> Id {
            (
                r.name.to_lowercase(),
                r.record_type(),
                file::rdata_wire(&r.data).unwrap_or_default(),
            )
        };
        let mut added: HashMap<Id, usize> = self
            .added
            .iter()
            .enumerate()
            .map(|(i, r)| (id(r), i))
            .collect();
        let mut removed: HashMap<Id, usize> = self
            .removed
            .iter()
            .enumerate()
            .map(|(i, r)| (id(r), i))
            .collect();
        let mut gone_added = vec![false; self.added.len()];
        let mut gone_removed = vec![false; self.removed.len()];
        let mut extra_removed = Vec::new();
        let mut extra_added = Vec::new();
        for r in later.removed {
            match added.remove(&id(&r)) {
                Some(i) => gone_added[i] = true,
                None => extra_removed.push(r),
            }
        }
        for a in later.added {
            let key = id(&a);
            match removed.get(&key) {
                Some(&i) if self.removed[i].ttl == a.ttl => {
                    removed.remove(&key);
                    gone_removed[i] = true;
                }
                _ => extra_added.push(a),
            }
        }
        let keep = |records: Vec<Record>, gone: &[bool]| -> Vec<Record> {
            records
                .into_iter()
                .zip(gone)
                .filter(|(_, g)| !**g)
                .map(|(r, _)| r)
                .collect()
        };
        self.added = keep(self.added, &gone_added);
        self.removed = keep(self.removed, &gone_removed);
        self.added.extend(extra_added);
        self.removed.extend(extra_removed);
        if later.soa.is_some() {
            self.soa = later.soa;
        }
        self
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
