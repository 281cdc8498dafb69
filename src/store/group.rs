//! Group commit: several changes written in one transaction, each in a savepoint of its own.
//!
//! A commit waits for the disk (SQLite's WAL with `synchronous = FULL` syncs at every commit);
//! changes that arrive while one commits share the next: each is written, and refused alone
//! if it must be (a request decided on an old version, a zone changed meanwhile), and the
//! transaction commits them all with one sync. The publisher decides who joins a group and
//! when it commits.

use chrono::{DateTime, Utc};
use sqlx::Acquire;

use super::known::Known;
use super::requests::{RequestChange, ZoneChangeCommit, write_request};
use super::zones::{Tx, write_change};
use super::{Store, StoreError};
use crate::zone::ZoneDiff;

/// A write transaction shared by several changes, committed once.
pub struct WriteGroup {
    tx: Tx<'static>,
    /// Set when a change's failure took the whole transaction with it (SQLite rolls the
    /// transaction back itself on a full disk or an I/O error): nothing can be committed.
    broken: bool,
    /// The rows the group's changes wrote last (the audit head, each zone's SOA), so that a
    /// change need not read back what the one before it wrote.
    known: Known,
}

impl std::fmt::Debug for WriteGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteGroup")
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Begin a group (takes the database's write lock until it commits or is dropped).
    pub async fn begin_group(&self) -> Result<WriteGroup, StoreError> {
        Ok(WriteGroup {
            tx: self.write().await?,
            broken: false,
            known: Known::default(),
        })
    }
}

impl WriteGroup {
    /// Write a zone change (see [`Store::commit_change`]). When it fails, nothing of it is
    /// kept and the group goes on, unless [`WriteGroup::is_broken`].
    pub async fn change(
        &mut self,
        change: ZoneChangeCommit<'_>,
        now: DateTime<Utc>,
    ) -> Result<ZoneDiff, StoreError> {
        let Self { tx, broken, known } = self;
        let mut savepoint = savepoint(tx, broken).await?;
        let before = known.clone();
        let written = write_change(
            &mut savepoint,
            known,
            change.origin,
            change.serial_before,
            change.diff,
            change.meta,
            change.audit,
            now,
            change.complete,
        )
        .await;
        settle(broken, known, before, savepoint, written).await
    }

    /// Write a request's new state with its zone change, if any (see
    /// [`Store::commit_request`]); refused alone like [`WriteGroup::change`].
    pub async fn request(
        &mut self,
        change: &RequestChange<'_>,
        zone_change: Option<ZoneChangeCommit<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Option<ZoneDiff>, StoreError> {
        let Self { tx, broken, known } = self;
        let mut savepoint = savepoint(tx, broken).await?;
        let before = known.clone();
        let written = write_request(&mut savepoint, known, change, zone_change, now).await;
        settle(broken, known, before, savepoint, written).await
    }

    /// Whether a failure took the transaction with it: the group can only be dropped.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Commit every change written and kept.
    pub async fn commit(self) -> Result<(), StoreError> {
        if self.broken {
            return Err(StoreError::Corrupt(
                "a group whose transaction was lost cannot commit".into(),
            ));
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// A savepoint in the group's transaction, for one change.
async fn savepoint<'t>(tx: &'t mut Tx<'static>, broken: &mut bool) -> Result<Tx<'t>, StoreError> {
    if *broken {
        return Err(StoreError::Corrupt(
            "the group's transaction was lost".into(),
        ));
    }
    match tx.begin().await {
        Ok(savepoint) => Ok(savepoint),
        Err(e) => {
            *broken = true;
            Err(e.into())
        }
    }
}

/// Keep a change written in `savepoint`, or undo it alone, and what it taught `known` with it
/// (back to `before`); a failed undo (the transaction is gone) breaks the group.
async fn settle<T>(
    broken: &mut bool,
    known: &mut Known,
    before: Known,
    savepoint: Tx<'_>,
    written: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match written {
        Ok(value) => match savepoint.commit().await {
            Ok(()) => Ok(value),
            Err(e) => {
                *broken = true;
                Err(e.into())
            }
        },
        Err(error) => {
            *known = before;
            if savepoint.rollback().await.is_err() {
                *broken = true;
            }
            Err(error)
        }
    }
}
