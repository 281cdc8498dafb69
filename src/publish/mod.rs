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
//!
//! A signed zone has a [`ZoneSigner`]: each change is signed inside its store transaction
//! (once the `_audit` anchor is known), so the signatures commit, journal and publish with the
//! change, and DNS never serves the change unsigned. [`Publisher::maintain`] commits the
//! signer's own changes (a first signing, key events, refreshed signatures) the same way.

mod group;
pub use group::CommitCounts;
pub mod import;
mod snapshot;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::dns::name_key::{self, Key};
use crate::dns::{ZoneView, Zones};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::serial::next_serial;
use crate::sign::{Stale, ZoneSigner};
use crate::store::{ChangeMeta, Completion, Store, StoreError, ZoneChangeCommit};
use crate::zone::ZoneDiff;
use crate::zone::file;
use crate::zone::update::Prerequisite;

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
    /// Refuse the whole change unless this holds of the zone as the operations before it
    /// leave it (RFC 2136 §3.2: a dynamic update's prerequisites, placed first), checked
    /// under the write lock.
    Require(Prerequisite),
    /// Refuse the whole change unless this record (owner, type and data) is in the zone: a
    /// change of a record read earlier fails if another change removed it meanwhile.
    RequirePresent(Record),
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

/// A change written under the write lock.
enum Written {
    /// It changes nothing (and had nothing to commit).
    Unchanged(Applied),
    /// Written into the open group: done once the group commits.
    Pending(tokio::sync::oneshot::Receiver<group::Outcome>, Applied),
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
    /// DNSSEC records are made by ranah's signer, never changed directly.
    #[error("{0} records are made by ranah's DNSSEC signer; they cannot be changed directly")]
    DnssecManaged(String),
    /// A record the change is about is gone (another change removed it meanwhile).
    #[error("{0} is no longer in the zone")]
    RecordGone(String),
    /// A dynamic update's prerequisite does not hold (answered with its own code).
    #[error("the prerequisite on {} does not hold", .0.name())]
    Prerequisite(Prerequisite),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The most journaled changes a served zone follows at once ([`Publisher::sync_from_store`]);
/// beyond, it is loaded whole.
const FOLLOW_MAX_CHANGES: usize = 10_000;

/// How often a change that met another writer's is decided again, each time on the zone as
/// that writer left it, before the conflict is the caller's.
const CATCH_UPS: usize = 5;

/// How [`Publisher::sync_from_store`] brought a zone up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// The served view took this many journaled changes.
    Followed(usize),
    /// The zone was loaded whole (new here, or its journal does not lead on from the served
    /// serial).
    Loaded,
}

/// Applies changes: store first, then the served view.
pub struct Publisher {
    store: Store,
    zones: Arc<Zones>,
    /// The write lock, with group commit (see `group`).
    gate: Arc<group::Gate>,
    /// The signer of each zone that has one (by the apex's key).
    signers: parking_lot::RwLock<HashMap<Key, Arc<ZoneSigner>>>,
    /// The serial of each zone's last snapshot kept or loaded (see `snapshot`).
    snapshots: parking_lot::Mutex<HashMap<LowerName, u32>>,
    /// Whether this instance signs what it loads unsigned (see [`Publisher::set_leading`]).
    leading: std::sync::atomic::AtomicBool,
    /// Zones served as loaded, without the signatures the leader has still to add at that
    /// serial (by zone, the serial): loaded again once the store has them.
    awaiting_signatures: parking_lot::Mutex<HashMap<LowerName, u32>>,
}

/// What [`Publisher::maintain`] does.
#[derive(Debug, Clone)]
pub enum Maintenance {
    /// Make the whole zone right (the first signing, a key event, a zone changed outside
    /// the signer); `Stale` names the sets whose signatures cannot be trusted.
    Whole(Stale),
    /// Make again at most this many signatures that fall due.
    Refresh(usize),
}

impl Publisher {
    /// A publisher over the store and the served zones.
    pub fn new(store: Store, zones: Arc<Zones>) -> Self {
        Self {
            store,
            zones,
            gate: group::Gate::new(),
            signers: parking_lot::RwLock::default(),
            snapshots: parking_lot::Mutex::default(),
            leading: true.into(),
            awaiting_signatures: parking_lot::Mutex::default(),
        }
    }

    /// Whether this instance leads the instances that share the store (always, on SQLite):
    /// only the leader signs a zone whose last change its writer did not sign (an import by
    /// the command line), with a change of its own that the others follow; the others serve
    /// it as stored meanwhile, so that two instances never sign it both.
    pub fn set_leading(&self, leading: bool) {
        self.leading
            .store(leading, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sign the zone with `signer` from its next change on (`None`: the zone is not signed
    /// and has no DNSSEC records to remove). The caller follows with [`Publisher::maintain`]
    /// when what the signer does changed.
    pub fn set_signer(&self, origin: &Name, signer: Option<ZoneSigner>) {
        let key = name_key::key_of(origin);
        let mut signers = self.signers.write();
        match signer {
            Some(s) => {
                signers.insert(key, Arc::new(s));
            }
            None => {
                signers.remove(&key);
            }
        }
    }

    /// The signer of a zone.
    pub fn signer(&self, origin: &Name) -> Option<Arc<ZoneSigner>> {
        self.signers.read().get(&name_key::key_of(origin)).cloned()
    }

    /// The served zones.
    pub fn zones(&self) -> &Arc<Zones> {
        &self.zones
    }

    /// How many commits the changes applied so far took (group commit shares one among the
    /// changes that arrive together).
    pub fn commit_counts(&self) -> CommitCounts {
        self.gate.counts()
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
        let mut again = false;
        let mut caught_up = 0;
        loop {
            // A second attempt waits for the open group's commit and starts the next one.
            let mut writer = if again {
                self.gate.exclusive().await
            } else {
                self.gate.for_change().await
            };
            let uncommitted = writer.group().is_some_and(|g| g.has_members());
            let written = self
                .write(&mut writer, &handle, &zone_name, change, request, now)
                .await;
            let (done, applied) = match written {
                Ok(Written::Unchanged(applied)) => return Ok(applied),
                Ok(Written::Pending(done, applied)) => (done, applied),
                // Refused against changes not committed yet: once they are (or are not),
                // decide again, so that a refusal always rests on what the store holds.
                Err(e)
                    if uncommitted
                        && !again
                        && !matches!(e, PublishError::Store(StoreError::Shared(_))) =>
                {
                    again = true;
                    continue;
                }
                // Another writer (an instance on the same PostgreSQL, the CLI) moved the
                // zone's serial: serve what it committed, then decide again on that.
                Err(PublishError::Store(StoreError::Conflict(z)))
                    if z == zone_name.to_ascii() && caught_up < CATCH_UPS =>
                {
                    caught_up += 1;
                    drop(writer);
                    self.catch_up(&zone_name, now).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            drop(writer);
            committed(done).await?;
            tracing::info!(
                zone = %zone_name, serial_before = applied.serial_before, serial = applied.serial,
                removed = applied.diff.removed.len(), added = applied.diff.added.len(),
                reason = %change.meta.reason, "zone changed"
            );
            return Ok(applied);
        }
    }

    /// Decide a change against the zone as the changes before it leave it, and write it into
    /// the open group (under the write lock).
    async fn write(
        &self,
        writer: &mut group::WriterGuard<'_>,
        handle: &Arc<crate::dns::ZoneHandle>,
        zone_name: &Name,
        change: &ChangeSet,
        request: Option<RequestCommit<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Written, PublishError> {
        // The zone as the changes before this one leave it: those of an open group (not
        // committed yet; committed before this one if at all) or the one served.
        let (mut view, from_group) = match writer.group().and_then(|g| g.view(handle)) {
            Some(v) => (v.clone(), true),
            None => (ZoneView::clone(&handle.view()), false),
        };
        if !from_group && self.store.is_shared() {
            // Other instances write too: the group's transaction takes the store's write lock
            // first, and the change is decided on the zone as stored under it, so that no
            // other instance's change comes between the decision and the write (deciding
            // first and retrying on a conflict starves under a steady stream from the
            // others). A refusal or "nothing to do" rests on it as well.
            writer.join(&self.store).await?;
            view = self.as_stored(handle, zone_name, view).await?;
        }
        let serial_before = view.serial();
        let mut diff = resolve(&view, zone_name, &change.ops)?;
        if diff.added.is_empty() && diff.removed.is_empty() {
            let unchanged = Applied {
                serial_before,
                serial: serial_before,
                diff,
            };
            if request.is_none() && !from_group {
                return Ok(Written::Unchanged(unchanged));
            }
            let group = writer.join(&self.store).await?;
            if let Some(r) = request {
                let written = group.writing().request(&r, None, now).await;
                if let Err(e) = settled(writer, written) {
                    return Err(self.refused(writer, e).into());
                }
            }
            // Nothing to write, or only the request's state; it rests on the group's
            // changes (it may find the zone as they left it), so it is done when they are.
            let done = writer.join(&self.store).await?.wait();
            return Ok(Written::Pending(done, unchanged));
        }
        let new_soa = bump_serial(&view, now)?;
        let serial = match &new_soa.data {
            RData::SOA(s) => s.serial,
            _ => serial_before,
        };
        diff.soa = Some(new_soa);
        // The store also moves the zone's `_audit` TXT to the trail's new head, in the same
        // transaction and serial; the view takes that change too.
        let audit = change_audit(zone_name, serial_before, &diff, &change.meta);
        let signer = self.signer(zone_name);
        let mut signed: Option<ZoneView> = None;
        let complete = signer
            .as_deref()
            .map(|s| sign_in_transaction(s, &view, &diff, unix(now), &mut signed));
        let zone_change = ZoneChangeCommit {
            origin: zone_name,
            serial_before,
            diff: &diff,
            meta: &change.meta,
            audit: &audit,
            complete,
        };
        let group = writer.join(&self.store).await?;
        let written = match request {
            None => group.writing().change(zone_change, now).await,
            Some(r) => group
                .writing()
                .request(&r, Some(zone_change), now)
                .await
                .map(Option::unwrap_or_default),
        };
        let anchor = match settled(writer, written) {
            Ok(anchor) => anchor,
            Err(e) => return Err(self.refused(writer, e).into()),
        };
        let next = match signed {
            Some(next) => next,
            None => {
                let mut next = view;
                next.apply(&diff);
                next.apply(&anchor);
                next
            }
        };
        let done = writer.join(&self.store).await?.enter(handle, next);
        Ok(Written::Pending(
            done,
            Applied {
                serial_before,
                serial,
                diff,
            },
        ))
    }

    /// The zone as stored, for a writer holding the store's write lock on a store other
    /// instances share: `view` when it is at the stored serial; else the changes committed
    /// since by the others, followed through the journal (and served at once). A
    /// [`StoreError::Conflict`] when they cannot be followed so (a zone loaded whole, or
    /// changed without its signatures): the caller catches up without the lock and decides
    /// again.
    async fn as_stored(
        &self,
        handle: &Arc<crate::dns::ZoneHandle>,
        zone_name: &Name,
        view: ZoneView,
    ) -> Result<ZoneView, PublishError> {
        let Some(stored) = self.store.zone_serial(zone_name).await? else {
            return Ok(view);
        };
        if stored == view.serial() {
            return Ok(view);
        }
        let followed = match self.signed_as_stored(zone_name, stored).await? {
            true => self.followed(zone_name, &view, stored).await?,
            false => None,
        };
        match followed {
            Some((next, _)) => {
                handle.publish(next.clone());
                Ok(next)
            }
            None => Err(StoreError::Conflict(zone_name.to_ascii()).into()),
        }
    }

    /// Whether the zone's signatures are at the stored `serial` (always so for an unsigned
    /// zone): its writer signed each change in its transaction, so the journal carries them
    /// and the zone may follow it; a change made without its signer (an import by the
    /// command line) is signed on the whole zone instead.
    async fn signed_as_stored(&self, origin: &Name, serial: u32) -> Result<bool, PublishError> {
        Ok(match self.signer(origin) {
            Some(_) => self.store.signing_state(origin).await?.signed_serial == Some(serial),
            None => true,
        })
    }

    /// `current` brought to the stored `serial` through the journal, when the changes since
    /// can be followed (a stored view; the caller checked [`Publisher::signed_as_stored`]),
    /// with how many changes it took.
    async fn followed(
        &self,
        origin: &Name,
        current: &ZoneView,
        serial: u32,
    ) -> Result<Option<(ZoneView, usize)>, PublishError> {
        if !current.is_stored() {
            return Ok(None);
        }
        let journal = self
            .store
            .journal(origin, current.serial(), FOLLOW_MAX_CHANGES)
            .await?;
        let mut next = ZoneView::clone(current);
        match snapshot::replay(&mut next, &journal, serial) {
            Ok(()) => Ok(Some((next, journal.len()))),
            Err(why) => {
                tracing::info!(zone = %origin, why, "loading the zone whole");
                Ok(None)
            }
        }
    }

    /// A change the store refused: it alone, unless the refusal took the open group's
    /// transaction with it.
    fn refused(&self, writer: &mut group::WriterGuard<'_>, error: StoreError) -> StoreError {
        match writer.group() {
            Some(g) if g.is_broken() => writer.fail(error),
            _ => error,
        }
    }

    /// Serve every zone in the store whose serial differs from the one served: new zones, and
    /// changes committed by another process (the CLI, another instance on the same
    /// PostgreSQL). A zone served from the store already follows the journal from its serial,
    /// change by change, as they were committed (their signatures with them); a new zone, or
    /// one whose journal does not lead from the served serial to the stored one, is loaded
    /// whole, and a signed one is first made right ([`Publisher::adopt`]). Returns the zones
    /// served anew, each with how it was brought up to date.
    pub async fn sync_from_store(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Name, Synced)>, PublishError> {
        let _guard = self.gate.exclusive().await;
        let mut synced = Vec::new();
        for (origin, serial) in self.store.zone_serials().await? {
            if let Some(how) = self.sync_zone(&origin, serial, now).await? {
                synced.push((origin, how));
            }
        }
        if synced.iter().any(|(_, how)| *how == Synced::Loaded) {
            crate::telemetry::memory::release_free_pages();
        }
        Ok(synced)
    }

    /// Bring one zone up to the store (see [`Publisher::sync_from_store`]): when another
    /// writer moved its serial since this instance last served it, a change decided here
    /// meets a conflict, and is decided again once the zone has caught up.
    async fn catch_up(&self, origin: &Name, now: DateTime<Utc>) -> Result<(), PublishError> {
        let _guard = self.gate.exclusive().await;
        let stored = self.store.zone_serials().await?;
        if let Some((_, serial)) = stored.iter().find(|(o, _)| o == origin) {
            self.sync_zone(origin, *serial, now).await?;
        }
        Ok(())
    }

    /// Serve `origin` at the stored `serial` (the caller holds the write lock): followed from
    /// the served serial through the journal, or loaded whole. `None`: served at it already.
    async fn sync_zone(
        &self,
        origin: &Name,
        serial: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Synced>, PublishError> {
        let key = LowerName::new(origin);
        let served = self.zones.get(&key).map(|h| h.view());
        if served.as_ref().map(|v| v.serial()) == Some(serial) {
            // Served as stored, unless it waits for signatures the leader adds in place.
            let waiting = self.awaiting_signatures.lock().get(&key) == Some(&serial);
            if !waiting || self.store.signing_state(origin).await?.signed_serial != Some(serial) {
                return Ok(None);
            }
            self.awaiting_signatures.lock().remove(&key);
            let Some(view) = self.load_view(origin).await? else {
                return Ok(None);
            };
            self.zones.insert(view);
            return Ok(Some(Synced::Loaded));
        }
        let signed_as_stored = self.signed_as_stored(origin, serial).await?;
        if signed_as_stored
            && let Some(current) = &served
            && let Some((next, steps)) = self.followed(origin, current, serial).await?
        {
            self.zones.insert(next);
            return Ok(Some(Synced::Followed(steps)));
        }
        let Some(mut view) = self.load_view(origin).await? else {
            return Ok(None);
        };
        if let Some(signer) = self.signer(origin) {
            if self.leading.load(std::sync::atomic::Ordering::Relaxed) {
                view = self.sign_loaded(&signer, view, now).await?;
            } else if !signed_as_stored {
                // The leader signs it, perhaps at this very serial: load it again then.
                self.awaiting_signatures.lock().insert(key, serial);
            }
        }
        self.zones.insert(view);
        Ok(Some(Synced::Loaded))
    }

    /// Serve a zone read from its file at first start before the store holds it (only a zone
    /// that is not to be signed: a signed zone is served once signed). It is answered, not
    /// transferred, until [`Publisher::stored`].
    pub fn serve_unstored(&self, content: &file::ZoneContent) {
        self.zones.insert(ZoneView::new(content).not_stored());
    }

    /// The store now holds a zone served from its file (with this `_audit` anchor, which joins
    /// the view at the same serial), or could not take it (`None`: it is served no more, since
    /// nothing would keep its changes).
    pub async fn stored(&self, origin: &Name, anchor: Option<&ZoneDiff>) {
        let _guard = self.gate.exclusive().await;
        let key = LowerName::new(&lower(origin));
        let Some(handle) = self.zones.get(&key) else {
            return;
        };
        match anchor {
            Some(anchor) => {
                let mut view = ZoneView::clone(&handle.view());
                view.apply(anchor);
                handle.publish(view.now_stored());
            }
            None => self.zones.remove(&key),
        }
    }

    /// Make a zone that just got its signer right (the zones loaded before the signers were
    /// set, at start), as [`Publisher::sync_from_store`] does for one loaded later.
    pub async fn adopt(&self, origin: &Name, now: DateTime<Utc>) -> Result<(), PublishError> {
        let zone_name = lower(origin);
        let (Some(handle), Some(signer)) = (
            self.zones.get(&LowerName::new(&zone_name)),
            self.signer(&zone_name),
        ) else {
            return Ok(());
        };
        let _guard = self.gate.exclusive().await;
        let view = ZoneView::clone(&handle.view());
        let signed = self.sign_loaded(&signer, view, now).await?;
        handle.publish(signed);
        Ok(())
    }

    /// Sign a view just loaded from the store, which DNS has not served yet (the caller holds
    /// the write lock). Where the signer left the zone at an older serial, an import or a
    /// restore changed it since: what the journal says changed is signed again and the
    /// signatures are added to the last change, at its serial (DNS serves that serial for the
    /// first time now, signed; its IXFR carries them). A zone never changed and never served
    /// (just imported) is signed at its own serial. Only a zone served unsigned before (signing
    /// turned on for an existing zone) needs a change of its own, with a new serial.
    async fn sign_loaded(
        &self,
        signer: &ZoneSigner,
        view: ZoneView,
        now: DateTime<Utc>,
    ) -> Result<ZoneView, PublishError> {
        let origin = Name::from(view.origin().clone());
        let zone = origin.to_ascii();
        let serial = view.serial();
        let state = self.store.signing_state(&origin).await?;
        let in_place = match state.signed_serial {
            Some(signed) => signed != serial,
            None => {
                let changed = self.store.last_change(&zone).await?.is_some();
                let served = self
                    .store
                    .secondary_states(Some(&zone))
                    .await?
                    .iter()
                    .any(|s| s.served_serial.is_some());
                !changed && !served
            }
        };
        let stale = self
            .changes_since(&origin, state.signed_serial, serial)
            .await?;
        if !in_place {
            let reason = "dnssec: zone signed";
            return Ok(self
                .commit_maintenance(signer, &view, Maintenance::Whole(stale), reason, now)
                .await?
                .unwrap_or(view));
        }
        let mut next = view;
        let signed = signer
            .reconcile(&mut next, stale, unix(now))
            .map_err(|e| PublishError::Store(StoreError::Corrupt(e.to_string())))?;
        self.store
            .commit_signatures(&origin, serial, &signed)
            .await?;
        tracing::info!(
            zone = %origin, serial, added = signed.added.len(), removed = signed.removed.len(),
            "zone signed at its serial"
        );
        Ok(next)
    }

    /// The sets changed since the signer last left the zone right (by the journal), or all
    /// of them when the journal does not reach back.
    pub async fn unsigned_changes(&self, origin: &Name, serial: u32) -> Result<Stale, StoreError> {
        let state = self.store.signing_state(origin).await?;
        self.changes_since(origin, state.signed_serial, serial)
            .await
    }

    /// The sets the journal changed from `signed` (the serial the signer last left right) to
    /// `serial`; all of them without one, or when the journal does not reach back.
    async fn changes_since(
        &self,
        origin: &Name,
        signed: Option<u32>,
        serial: u32,
    ) -> Result<Stale, StoreError> {
        match signed {
            Some(signed) if signed == serial => Ok(Stale::default()),
            Some(signed) => {
                let journal = self.store.journal(origin, signed, 100_000).await?;
                let reaches = journal.last().is_some_and(|e| e.serial_after == serial);
                if !reaches {
                    return Ok(Stale::all());
                }
                let diffs: Vec<ZoneDiff> = journal
                    .into_iter()
                    .map(|e| ZoneDiff {
                        removed: e.removed,
                        added: e.added,
                        soa: e.soa_after,
                    })
                    .collect();
                let refs: Vec<&ZoneDiff> = diffs.iter().collect();
                Ok(Stale::of(&refs))
            }
            None => Ok(Stale::all()),
        }
    }

    /// Commit what the zone's signer wants done to the served zone (nothing when it wants
    /// nothing). Returns the change made, if any.
    pub async fn maintain(
        &self,
        origin: &Name,
        work: Maintenance,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Applied>, PublishError> {
        let zone_name = lower(origin);
        let handle = self
            .zones
            .get(&LowerName::new(&zone_name))
            .ok_or_else(|| PublishError::UnknownZone(zone_name.to_ascii()))?;
        let Some(signer) = self.signer(&zone_name) else {
            return Ok(None);
        };
        let _guard = self.gate.exclusive().await;
        let view = handle.view();
        let serial_before = view.serial();
        let Some(next) = self
            .commit_maintenance(&signer, &view, work, reason, now)
            .await?
        else {
            return Ok(None);
        };
        let serial = next.serial();
        handle.publish(next);
        tracing::info!(zone = %zone_name, serial_before, serial, %reason, "zone signed");
        Ok(Some(Applied {
            serial_before,
            serial,
            diff: ZoneDiff::default(),
        }))
    }

    /// The signer's work on `view` as a change of its own (a new serial, journaled), under
    /// the write lock the caller holds. `None` when there is nothing to do.
    async fn commit_maintenance(
        &self,
        signer: &ZoneSigner,
        view: &ZoneView,
        work: Maintenance,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ZoneView>, PublishError> {
        let at = unix(now);
        // First on a copy, to see whether there is anything to do at all: a refresh round
        // that finds nothing due must not move the serial.
        let mut worked = view.clone();
        let done = match work {
            Maintenance::Whole(stale) => signer.reconcile(&mut worked, stale, at),
            Maintenance::Refresh(budget) => signer.refresh(&mut worked, at, budget),
        }
        .map_err(|e| PublishError::Store(StoreError::Corrupt(e.to_string())))?;
        if done.removed.is_empty() && done.added.is_empty() {
            return Ok(None);
        }
        let origin = Name::from(view.origin().clone());
        let data = ZoneDiff {
            soa: Some(bump_serial(view, now)?),
            ..ZoneDiff::default()
        };
        let meta = ChangeMeta {
            reason: reason.into(),
            ..ChangeMeta::default()
        };
        let audit = change_audit(&origin, view.serial(), &data, &meta);
        let mut signed: Option<ZoneView> = None;
        let complete: Completion<'_> = {
            let out = &mut signed;
            let data = &data;
            let worked = &worked;
            Box::new(move |anchor: &ZoneDiff| {
                let mut next = worked.clone();
                next.apply(data);
                next.apply(anchor);
                let more = signer
                    .sign_change(worked, &mut next, &[data, anchor], at)
                    .map_err(|e| e.to_string())?;
                *out = Some(next);
                Ok(done.merge(more))
            })
        };
        self.store
            .commit_change(
                &origin,
                view.serial(),
                &data,
                &meta,
                &audit,
                now,
                Some(complete),
            )
            .await?;
        Ok(signed)
    }
}

/// A change's writes are over (kept or undone alone): the group may be committed without
/// them being half done.
fn settled<T>(
    writer: &mut group::WriterGuard<'_>,
    written: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if let Some(group) = writer.group() {
        group.written();
    }
    written
}

/// Wait for a group's commit: when it returns, DNS answers the change.
async fn committed(
    done: tokio::sync::oneshot::Receiver<group::Outcome>,
) -> Result<(), PublishError> {
    match done.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(PublishError::Store(StoreError::Shared(e))),
        Err(_) => Err(PublishError::Store(StoreError::Corrupt(
            "the commit of a group ended without an outcome".into(),
        ))),
    }
}

/// The completion that signs a change inside its transaction: the view with the change and
/// the anchor applied, signed, goes to `out`; the DNSSEC records go to the store.
fn sign_in_transaction<'a>(
    signer: &'a ZoneSigner,
    view: &'a ZoneView,
    diff: &'a ZoneDiff,
    now: u32,
    out: &'a mut Option<ZoneView>,
) -> Completion<'a> {
    Box::new(move |anchor: &ZoneDiff| {
        let mut next = view.clone();
        next.apply(diff);
        next.apply(anchor);
        let signed = signer
            .sign_change(view, &mut next, &[diff, anchor], now)
            .map_err(|e| e.to_string())?;
        *out = Some(next);
        Ok(signed)
    })
}

/// Unix seconds as an RRSIG counts them (serial arithmetic over 32 bits, RFC 4034 §3.1.5).
fn unix(now: DateTime<Utc>) -> u32 {
    u32::try_from(now.timestamp()).unwrap_or(u32::MAX)
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
    file::soa_with_serial(&soa, next_serial(data.serial, now.date_naive()))
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
                if crate::sign::is_dnssec_type(record.record_type()) {
                    return Err(PublishError::DnssecManaged(
                        record.record_type().to_string(),
                    ));
                }
                let mut record = record.clone();
                record.name = check_owner(&record.name)?;
                let key = LowerName::new(&record.name);
                touched.insert(key.clone());
                let existing = scratch
                    .rrset(&key, record.record_type())
                    .map(|s| s.decoded());
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
                if crate::sign::is_dnssec_type(record.record_type()) {
                    return Err(PublishError::DnssecManaged(
                        record.record_type().to_string(),
                    ));
                }
                let name = check_owner(&record.name)?;
                let key = LowerName::new(&name);
                touched.insert(key.clone());
                if let Some(set) = scratch
                    .rrset(&key, record.record_type())
                    .map(|s| s.decoded())
                {
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
                if crate::sign::is_dnssec_type(*rtype) {
                    return Err(PublishError::DnssecManaged(rtype.to_string()));
                }
                let name = check_owner(name)?;
                let key = LowerName::new(&name);
                touched.insert(key.clone());
                if let Some(set) = scratch.rrset(&key, *rtype).map(|s| s.decoded()) {
                    step(&mut scratch, set.records.clone(), Vec::new());
                }
            }
            ChangeOp::RequireAbsent(name) => {
                let name = check_owner(name)?;
                if scratch.name_exists(&LowerName::new(&name)) {
                    return Err(PublishError::NameExists(name.to_ascii()));
                }
            }
            ChangeOp::RequirePresent(record) => {
                let name = check_owner(&record.name)?;
                let present = scratch
                    .rrset(&LowerName::new(&name), record.record_type())
                    .is_some_and(|set| set.records().iter().any(|r| r.data == record.data));
                if !present {
                    return Err(PublishError::RecordGone(format!(
                        "{} {}",
                        name.to_ascii(),
                        record.record_type()
                    )));
                }
            }
            ChangeOp::Require(prerequisite) => {
                let name = check_owner(prerequisite.name())?;
                if !holds(&scratch, &name, prerequisite) {
                    return Err(PublishError::Prerequisite(prerequisite.clone()));
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
                        removed.extend(set.records());
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
                .is_some_and(|s| s.len() > 1);
            if others || several {
                return Err(PublishError::CnameConflict(name.to_string()));
            }
        }
        if *name == apex && !has(RecordType::NS) {
            return Err(PublishError::ApexWithoutNs);
        }
        if let Some(mx) = scratch.rrset(name, RecordType::MX) {
            for r in &mx.records() {
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

/// Whether a prerequisite holds of the zone (RFC 2136 §3.2.5): a name is in use when it owns
/// records (an empty non-terminal owns none); a set equals the given records when both hold
/// the same data, whatever the TTLs.
fn holds(view: &ZoneView, name: &Name, prerequisite: &Prerequisite) -> bool {
    let key = LowerName::new(name);
    let data = |rtype: RecordType| {
        view.rrset(&key, rtype).map(|set| {
            set.records()
                .into_iter()
                .map(|r| r.data)
                .collect::<Vec<_>>()
        })
    };
    match prerequisite {
        Prerequisite::RrsetExists(_, rtype) => view.rrset(&key, *rtype).is_some(),
        Prerequisite::RrsetAbsent(_, rtype) => view.rrset(&key, *rtype).is_none(),
        Prerequisite::RrsetEquals(_, rtype, wanted) => data(*rtype).is_some_and(|have| {
            have.iter().all(|d| wanted.contains(d)) && wanted.iter().all(|d| have.contains(d))
        }),
        Prerequisite::NameInUse(_) => !view.types_at(&name_key::key_of(name)).is_empty(),
        Prerequisite::NameNotInUse(_) => view.types_at(&name_key::key_of(name)).is_empty(),
    }
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
