//! Snapshots of the served zones, so that a restart is quick: the view of a zone as bytes,
//! kept in the store with its serial, and loaded back with the journal since.
//!
//! Loading every record of a zone means one row, one decoded record and one insert per record
//! (measured at 100,000 names: 1.2 s, most of it in the database driver and the allocator);
//! a snapshot is one value, its nodes copied into the table as they are. It is only a cache:
//! a snapshot that does not join the stored zone (the journal since it does not lead to the
//! stored serial, or does not account for every record added or removed since) is ignored,
//! and the zone is loaded from its records.

use hickory_proto::rr::{LowerName, Name};

use super::{PublishError, Publisher};
use crate::dns::ZoneView;
use crate::store::JournalEntry;
use crate::zone::ZoneDiff;

/// The most journaled changes replayed onto a snapshot; beyond, the records are read.
const MAX_REPLAY: usize = 10_000;

/// Apply the journal's changes to `view` until it is at `serial`, or say why it cannot be: a
/// change without its SOA, a gap, or a journal that stops short.
pub(super) fn replay(
    view: &mut ZoneView,
    journal: &[JournalEntry],
    serial: u32,
) -> Result<(), &'static str> {
    let mut at = view.serial();
    for change in journal {
        if at == serial {
            break;
        }
        let Some(soa) = &change.soa_after else {
            return Err("the journal since lacks a change's SOA");
        };
        if change.serial_before != at {
            return Err("the journal since has a gap");
        }
        view.apply(&ZoneDiff {
            removed: change.removed.clone(),
            added: change.added.clone(),
            soa: Some(soa.clone()),
        });
        at = change.serial_after;
    }
    if at != serial || view.serial() != serial {
        return Err("the journal since does not reach the stored serial");
    }
    Ok(())
}

impl Publisher {
    /// The view of a stored zone: from its snapshot and the journal since when they join the
    /// stored zone, else from its records.
    pub(super) async fn load_view(&self, origin: &Name) -> Result<Option<ZoneView>, PublishError> {
        match self.view_from_snapshot(origin).await? {
            Ok(view) => {
                tracing::debug!(zone = %origin, serial = view.serial(), "zone loaded from its snapshot");
                return Ok(Some(view));
            }
            Err(why) => tracing::info!(zone = %origin, why, "loading the zone from its records"),
        }
        let Some(stored) = self.store.load_zone(origin).await? else {
            return Ok(None);
        };
        Ok(Some(ZoneView::new(&stored.content)))
    }

    /// The snapshot brought up to the stored serial, or why it cannot be.
    async fn view_from_snapshot(
        &self,
        origin: &Name,
    ) -> Result<Result<ZoneView, &'static str>, PublishError> {
        let Some(snapshot) = self.store.load_snapshot(origin).await? else {
            return Ok(Err("no snapshot"));
        };
        let Some((serial, stored_records)) = self.store.stored_record_count(origin).await? else {
            return Ok(Err("no such zone"));
        };
        let Ok(mut view) = ZoneView::from_snapshot(origin, &snapshot.data) else {
            return Ok(Err("the snapshot is unreadable"));
        };
        if view.serial() != snapshot.serial {
            return Ok(Err("the snapshot is not of its serial"));
        }
        let base = view.record_count();
        if snapshot.serial != serial {
            let journal = self
                .store
                .journal(origin, snapshot.serial, MAX_REPLAY)
                .await?;
            if let Err(why) = replay(&mut view, &journal, serial) {
                return Ok(Err(why));
            }
        }
        // Every record added to or removed from the store since is in the journal.
        let view_delta = view.record_count() as i64 - base as i64;
        let store_delta = stored_records as i64 - snapshot.store_records as i64;
        if view_delta != store_delta {
            return Ok(Err("records changed without a journal entry"));
        }
        self.snapshots
            .lock()
            .insert(LowerName::new(origin), snapshot.serial);
        Ok(Ok(view))
    }

    /// Keep a snapshot of every served zone whose serial moved since its last one; returns
    /// how many were written. Under the write lock, so that each is of a committed serial.
    pub async fn snapshot_zones(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, PublishError> {
        let _guard = self.gate.exclusive().await;
        let mut written = 0;
        for origin in self.zones.origins() {
            let Some(handle) = self.zones.get(&origin) else {
                continue;
            };
            let view = handle.view();
            if !view.is_stored() || self.snapshots.lock().get(&origin) == Some(&view.serial()) {
                continue;
            }
            let serial = view.serial();
            // Off the async threads: at a million names this takes a good part of a second.
            let Ok(data) = tokio::task::spawn_blocking(move || view.snapshot()).await else {
                continue;
            };
            let name = Name::from(origin.clone());
            if self
                .store
                .save_snapshot(&name, serial, &data, &now.to_rfc3339())
                .await?
            {
                self.snapshots.lock().insert(origin.clone(), serial);
                written += 1;
                tracing::debug!(zone = %origin, serial, bytes = data.len(), "zone snapshot kept");
            }
        }
        Ok(written)
    }
}
