//! The one way records change while ranah runs.
//!
//! [`Publisher::apply`] takes a [`ChangeSet`], resolves it against the zone's current view into
//! the exact records to remove and add, checks the zone's rules, moves the SOA serial forward,
//! commits everything to the store in one transaction, and only then publishes the new view to
//! the DNS server. When it returns, DNS answers the new data. Changes to one daemon's zones
//! are serialised by one lock, so the store's order and the view's order are the same.
//!
//! The same lock guards [`Publisher::sync_from_store`], which picks up zones created or changed
//! by another process (`ranah zone import` while the daemon runs).

pub mod import;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use tokio::sync::Mutex;

use crate::dns::{ZoneView, Zones};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::serial::next_serial;
use crate::store::{ChangeMeta, Store, StoreError, ZoneChangeCommit};
use crate::zone::ZoneDiff;
use crate::zone::file;

/// One requested change to a zone's records.
#[derive(Debug, Clone)]
pub enum ChangeOp {
    /// Add a record (to its set; the set takes the record's TTL).
    Add(Record),
    /// Remove one record (owner, type and data must match).
    Remove(Record),
    /// Remove every record of a type at a name.
    RemoveRRset(Name, RecordType),
    /// Remove every record at a name.
    RemoveName(Name),
    /// Refuse the whole change if the name exists (with records or as an empty non-terminal):
    /// checked under the write lock, so a name taken meanwhile fails the change.
    RequireAbsent(Name),
}

/// A change to one zone, applied whole or not at all.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    /// The zone's apex.
    pub zone: Name,
    /// The operations, in order.
    pub ops: Vec<ChangeOp>,
    /// Why, and on whose behalf.
    pub meta: ChangeMeta,
}

/// A request's new state committed with a zone change (see [`Publisher::apply_with_request`]).
pub type RequestCommit<'a> = crate::store::RequestChange<'a>;

/// What a change did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Serial before.
    pub serial_before: u32,
    /// Serial now served (equal to `serial_before` when the change changed nothing).
    pub serial: u32,
    /// The exact records removed and added.
    pub diff: ZoneDiff,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// ranah does not serve that zone.
    #[error("no zone {0}")]
    UnknownZone(String),
    /// A record's owner is not inside the zone.
    #[error("{name} is not inside the zone {zone}")]
    OutsideZone {
        /// The owner.
        name: String,
        /// The zone.
        zone: String,
    },
    /// The SOA is managed by ranah itself.
    #[error("the SOA record is managed by ranah; it cannot be changed directly")]
    SoaManaged,
    /// A CNAME would stand together with other data (RFC 1034 §3.6.2, RFC 2181 §10.1).
    #[error("{0} would have a CNAME together with other records")]
    CnameConflict(String),
    /// A CNAME at the apex.
    #[error("a CNAME cannot stand at the zone apex")]
    CnameAtApex,
    /// The name exists already.
    #[error("{0} exists already")]
    NameExists(String),
    /// An MX points at a name that is a CNAME in this zone (RFC 2181 §10.3).
    #[error("the mail exchanger {0} is an alias (CNAME); an MX must name a host")]
    MxToCname(String),
    /// The apex would have no name servers.
    #[error("the zone apex must keep at least one NS record")]
    ApexWithoutNs,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies changes: store first, then the served view.
pub struct Publisher {
    store: Store,
    zones: Arc<Zones>,
    write_lock: Mutex<()>,
}

impl Publisher {
    /// A publisher over the store and the served zones.
    pub fn new(store: Store, zones: Arc<Zones>) -> Self {
        Self {
            store,
            zones,
            write_lock: Mutex::new(()),
        }
    }

    /// The served zones.
    pub fn zones(&self) -> &Arc<Zones> {
        &self.zones
    }

    /// Apply a change at time `now` (which dates the serial). Returns when DNS answers it.
    pub async fn apply(
        &self,
        change: &ChangeSet,
        now: DateTime<Utc>,
    ) -> Result<Applied, PublishError> {
        self.apply_inner(change, None, now).await
    }

    /// The zone as `change` would leave it, without changing anything: the same resolution
    /// and the same rules as [`Publisher::apply`] (so a submission is refused with the error
    /// its approval would get), against the view served now. Another change may still come
    /// first; `apply` checks again under the lock.
    pub fn check(&self, change: &ChangeSet) -> Result<ZoneView, PublishError> {
        let zone_name = lower(&change.zone);
        let handle = self
            .zones
            .get(&LowerName::new(&zone_name))
            .ok_or_else(|| PublishError::UnknownZone(zone_name.to_ascii()))?;
        let view = handle.view();
        let diff = resolve(&view, &zone_name, &change.ops)?;
        let mut next = ZoneView::clone(&view);
        next.apply(&diff);
        Ok(next)
    }

    /// Apply a change and a request's new state in one store transaction (an approval that
    /// provisions): both commit or neither does. Returns when DNS answers the change.
    pub async fn apply_with_request(
        &self,
        change: &ChangeSet,
        request: RequestCommit<'_>,
        now: DateTime<Utc>,
    ) -> Result<Applied, PublishError> {
        self.apply_inner(change, Some(request), now).await
    }

    async fn apply_inner(
        &self,
        change: &ChangeSet,
        request: Option<RequestCommit<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Applied, PublishError> {
        let zone_name = lower(&change.zone);
        let handle = self
            .zones
            .get(&LowerName::new(&zone_name))
            .ok_or_else(|| PublishError::UnknownZone(zone_name.to_ascii()))?;
        let _guard = self.write_lock.lock().await;
        let view = handle.view();
        let serial_before = view.serial();
        let mut diff = resolve(&view, &zone_name, &change.ops)?;
        if diff.added.is_empty() && diff.removed.is_empty() {
            if let Some(r) = request {
                self.store.commit_request(&r, None, now).await?;
            }
            return Ok(Applied {
                serial_before,
                serial: serial_before,
                diff,
            });
        }
        let new_soa = bump_serial(&view, now)?;
        let serial = match &new_soa.data {
            RData::SOA(s) => s.serial,
            _ => serial_before,
        };
        diff.soa = Some(new_soa);
        // The store also moves the zone's `_audit` TXT to the trail's new head, in the same
        // transaction and serial; the view takes that change too.
        let audit = change_audit(&zone_name, serial_before, &diff, &change.meta);
        let anchor = match request {
            None => {
                self.store
                    .commit_change(&zone_name, serial_before, &diff, &change.meta, &audit, now)
                    .await?
            }
            Some(r) => {
                let zone_change = ZoneChangeCommit {
                    origin: &zone_name,
                    serial_before,
                    diff: &diff,
                    meta: &change.meta,
                    audit: &audit,
                };
                self.store
                    .commit_request(&r, Some(zone_change), now)
                    .await?
                    .unwrap_or_default()
            }
        };
        let mut next = ZoneView::clone(&view);
        next.apply(&diff);
        next.apply(&anchor);
        handle.publish(next);
        tracing::info!(
            zone = %zone_name, serial_before, serial,
            removed = diff.removed.len(), added = diff.added.len(),
            reason = %change.meta.reason, "zone changed"
        );
        Ok(Applied {
            serial_before,
            serial,
            diff,
        })
    }

    /// Serve every zone in the store whose serial differs from the one served (new zones, or
    /// changes committed by another process). Returns the zones reloaded.
    pub async fn sync_from_store(&self) -> Result<Vec<Name>, StoreError> {
        let _guard = self.write_lock.lock().await;
        let mut reloaded = Vec::new();
        for (origin, serial) in self.store.zone_serials().await? {
            let served = self
                .zones
                .get(&LowerName::new(&origin))
                .map(|h| h.view().serial());
            if served == Some(serial) {
                continue;
            }
            if let Some(stored) = self.store.load_zone(&origin).await? {
                self.zones.insert(ZoneView::new(&stored.content));
                reloaded.push(origin);
            }
        }
        Ok(reloaded)
    }
}

fn lower(name: &Name) -> Name {
    let mut n = name.to_lowercase();
    n.set_fqdn(true);
    n
}

/// The SOA with the next serial.
fn bump_serial(view: &ZoneView, now: DateTime<Utc>) -> Result<Record, PublishError> {
    let soa = view
        .soa_record()
        .ok_or_else(|| PublishError::UnknownZone(view.origin().to_string()))?;
    let RData::SOA(data) = &soa.data else {
        return Err(PublishError::UnknownZone(view.origin().to_string()));
    };
    file::soa_with_serial(soa, next_serial(data.serial, now.date_naive()))
        .ok_or_else(|| PublishError::UnknownZone(view.origin().to_string()))
}

/// Turn requested operations into the exact records removed and added, and check the rules
/// the zone must keep afterwards.
fn resolve(view: &ZoneView, zone: &Name, ops: &[ChangeOp]) -> Result<ZoneDiff, PublishError> {
    // Work on a scratch copy of the view: cheap (structural sharing), and it lets every later
    // operation see the earlier ones.
    let mut scratch = view.clone();
    let mut diff = ZoneDiff::default();
    let mut touched: HashSet<LowerName> = HashSet::new();
    let check_owner = |name: &Name| -> Result<Name, PublishError> {
        let name = lower(name);
        if !zone.zone_of(&name) {
            return Err(PublishError::OutsideZone {
                name: name.to_ascii(),
                zone: zone.to_ascii(),
            });
        }
        Ok(name)
    };
    let mut step = |scratch: &mut ZoneView, removed: Vec<Record>, added: Vec<Record>| {
        let d = ZoneDiff {
            removed,
            added,
            soa: None,
        };
        scratch.apply(&d);
        for r in d.removed {
            // Removing what this same change added cancels out.
            if let Some(pos) = diff.added.iter().position(|a| same_record(a, &r)) {
                diff.added.remove(pos);
            } else {
                diff.removed.push(r);
            }
        }
        for a in d.added {
            if let Some(pos) = diff
                .removed
                .iter()
                .position(|r| same_record(r, &a) && r.ttl == a.ttl)
            {
                diff.removed.remove(pos);
            } else {
                diff.added.push(a);
            }
        }
    };

    for op in ops {
        match op {
            ChangeOp::Add(record) => {
                if record.record_type() == RecordType::SOA {
                    return Err(PublishError::SoaManaged);
                }
                let mut record = record.clone();
                record.name = check_owner(&record.name)?;
                let key = LowerName::new(&record.name);
                touched.insert(key.clone());
                let existing = scratch.rrset(&key, record.record_type()).cloned();
                if existing.as_ref().is_some_and(|s| {
                    s.records.iter().any(|r| r.data == record.data) && s.ttl == record.ttl
                }) {
                    continue;
                }
                // One TTL per set (RFC 2181 §5.2): re-add the set's other records with the new
                // TTL.
                let mut removed = Vec::new();
                let mut added = Vec::new();
                if let Some(set) = existing {
                    for r in &set.records {
                        if r.ttl != record.ttl || r.data == record.data {
                            removed.push(r.clone());
                            if r.data != record.data {
                                let mut r = r.clone();
                                r.ttl = record.ttl;
                                added.push(r);
                            }
                        }
                    }
                }
                added.push(record);
                step(&mut scratch, removed, added);
            }
            ChangeOp::Remove(record) => {
                if record.record_type() == RecordType::SOA {
                    return Err(PublishError::SoaManaged);
                }
                let name = check_owner(&record.name)?;
                let key = LowerName::new(&name);
                touched.insert(key.clone());
                if let Some(set) = scratch.rrset(&key, record.record_type()).cloned() {
                    let removed: Vec<Record> = set
                        .records
                        .iter()
                        .filter(|r| r.data == record.data)
                        .cloned()
                        .collect();
                    step(&mut scratch, removed, Vec::new());
                }
            }
            ChangeOp::RemoveRRset(name, rtype) => {
                if *rtype == RecordType::SOA {
                    return Err(PublishError::SoaManaged);
                }
                let name = check_owner(name)?;
                let key = LowerName::new(&name);
                touched.insert(key.clone());
                if let Some(set) = scratch.rrset(&key, *rtype).cloned() {
                    step(&mut scratch, set.records.clone(), Vec::new());
                }
            }
            ChangeOp::RequireAbsent(name) => {
                let name = check_owner(name)?;
                if scratch.name_exists(&LowerName::new(&name)) {
                    return Err(PublishError::NameExists(name.to_ascii()));
                }
            }
            ChangeOp::RemoveName(name) => {
                let name = check_owner(name)?;
                let key = LowerName::new(&name);
                touched.insert(key.clone());
                let mut removed = Vec::new();
                for rtype in crate::zone::file::SUPPORTED_TYPES {
                    if *rtype == RecordType::SOA {
                        continue;
                    }
                    if let Some(set) = scratch.rrset(&key, *rtype) {
                        removed.extend(set.records.iter().cloned());
                    }
                }
                step(&mut scratch, removed, Vec::new());
            }
        }
    }

    // The rules every touched name must keep.
    let apex = LowerName::new(zone);
    for name in &touched {
        let has = |t: RecordType| scratch.rrset(name, t).is_some();
        if has(RecordType::CNAME) {
            if *name == apex {
                return Err(PublishError::CnameAtApex);
            }
            let others = crate::zone::file::SUPPORTED_TYPES
                .iter()
                .filter(|t| **t != RecordType::CNAME && **t != RecordType::SOA)
                .any(|t| has(*t));
            let several = scratch
                .rrset(name, RecordType::CNAME)
                .is_some_and(|s| s.records.len() > 1);
            if others || several {
                return Err(PublishError::CnameConflict(name.to_string()));
            }
        }
        if *name == apex && !has(RecordType::NS) {
            return Err(PublishError::ApexWithoutNs);
        }
        if let Some(mx) = scratch.rrset(name, RecordType::MX) {
            for r in &mx.records {
                if let RData::MX(m) = &r.data
                    && scratch
                        .rrset(&LowerName::new(&m.exchange), RecordType::CNAME)
                        .is_some()
                {
                    return Err(PublishError::MxToCname(m.exchange.to_ascii()));
                }
            }
        }
    }
    Ok(diff)
}

fn same_record(a: &Record, b: &Record) -> bool {
    a.name == b.name && a.record_type() == b.record_type() && a.data == b.data
}

/// The audit trail's entry for a zone change: who made it (ranah itself when nobody is named),
/// the serials, why, its provenance and the records removed and added.
pub fn change_audit(
    origin: &Name,
    serial_before: u32,
    diff: &ZoneDiff,
    meta: &ChangeMeta,
) -> AuditEntry {
    let actor = meta.actor.clone().unwrap_or_else(Attribution::system);
    let (removed, added) = diff.audit_summary();
    AuditEntry::by(
        &actor,
        "zone.change",
        format!("zone/{}", origin.to_ascii().trim_end_matches('.')),
        serde_json::json!({
            "serial_before": serial_before,
            "serial_after": diff.new_serial().unwrap_or(serial_before),
            "reason": meta.reason,
            "request": meta.request_id,
            "suspension": meta.suspension_id,
            "removed": removed,
            "added": added,
        }),
    )
}
