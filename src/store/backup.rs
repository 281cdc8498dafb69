//! What backups and restores need of the store: a consistent copy of the database while it
//! serves (`VACUUM INTO`, one read transaction), the schema's version, the stored files the
//! database refers to, a quick integrity check, and the one transaction that re-anchors a
//! restored store. The archive around the copy is [`super::archive`]'s.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hickory_proto::rr::Name;
use sqlx::sqlite::SqliteConnectOptions;

use super::zones::write_change;
use super::{Backend, ChangeMeta, Store, StoreError};
use crate::domain::audit::AuditEntry;
use crate::zone::ZoneDiff;

/// The zone change a restore commits for one zone: its serial moves from `serial_before` to
/// the SOA in `diff` (no record is added or removed), which also moves its `_audit` TXT.
#[derive(Debug, Clone)]
pub struct SerialMove {
    /// The zone's apex.
    pub origin: Name,
    /// Its serial in the restored copy.
    pub serial_before: u32,
    /// The new SOA (`diff.soa`), nothing else.
    pub diff: ZoneDiff,
    /// Why.
    pub meta: ChangeMeta,
    /// The change's `zone.change` entry.
    pub audit: AuditEntry,
}

/// The last migration this build knows: the schema it brings a store to.
pub fn latest_schema_version() -> i64 {
    sqlx::migrate!("migrations/sqlite")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// The file of a `sqlite://` URL (`None` for another scheme or an in-memory database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file.to_str() != Some(":memory:") && !file.as_os_str().is_empty()).then(|| file.to_owned())
}

impl Store {
    /// Open a database file that nothing else uses (a backup's copy, a restore's staged
    /// store): no WAL, so that the file alone holds everything once closed.
    pub async fn open_copy(path: &Path) -> Result<Self, StoreError> {
        // Mode `rw`: a copy that is not there is an error, not a new empty database.
        let url = super::sqlite_url(path, "rw");
        Ok(Self {
            pool: super::sqlite_pool(&url, super::SqliteJournal::Delete, 1).await?,
            backend: Backend::Sqlite,
            listen_url: None,
        })
    }

    /// Write a consistent copy of the whole database to `dest` (which must not exist) while
    /// others read and write: SQLite's `VACUUM INTO` reads in one transaction, so the copy is
    /// the database as of one commit, compacted, without WAL.
    pub async fn snapshot_to(&self, dest: &Path) -> Result<(), StoreError> {
        let dest = dest.to_str().ok_or_else(|| {
            StoreError::Corrupt(format!("{} is not a UTF-8 path", dest.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The last migration applied (`None` for a database without ranah's schema).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let catalog = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let table: Option<String> = sqlx::query_scalar(catalog)
            .fetch_optional(self.pool())
            .await?;
        if table.is_none() {
            return Ok(None);
        }
        Ok(
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The SHA-256 of every stored file the database refers to (attachments, response
    /// letters, files attached to queued messages), sorted.
    pub async fn stored_file_hashes(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT sha256 FROM attachments UNION \
             SELECT attachment_sha256 FROM outbox WHERE attachment_sha256 IS NOT NULL \
             ORDER BY 1",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// SQLite's own check of the file (`PRAGMA quick_check`): `ok`, or what is wrong.
    pub async fn quick_check(&self) -> Result<String, StoreError> {
        let lines: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(self.pool())
            .await?;
        Ok(lines.join("; "))
    }

    /// Commit a restore's re-anchoring in one transaction: `restored` (the `store.restored`
    /// event) is appended, then each zone's serial moves as `moves` says, each with its
    /// `zone.change` event, and its `_audit` TXT moves to that event.
    pub async fn commit_restore(
        &self,
        restored: &AuditEntry,
        moves: &[SerialMove],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let mut known = super::known::Known::default();
        super::append_audit_known(&mut tx, &mut known, restored, now).await?;
        for m in moves {
            write_change(
                &mut tx,
                &mut known,
                &m.origin,
                m.serial_before,
                &m.diff,
                &m.meta,
                &m.audit,
                now,
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
