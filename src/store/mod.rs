//! Persistence: zones, records and the change journal, through sqlx.
//!
//! [`Store::open`] picks the backend from the URL. SQLite is the embedded default: one file
//! under the data directory, WAL journal, `synchronous = FULL` so that a committed change
//! survives a crash or power loss, a busy timeout so that the CLI and the daemon can share the
//! file. Migrations live in `migrations/<backend>/` and run at start and with `ranah migrate`.
//! Callers only see [`Store`]'s methods; a PostgreSQL backend slots in behind the same methods.
//!
//! Every change is one transaction: the zone's serial moves only if it still has the value the
//! change was computed from (a compare-and-set that turns a concurrent writer into
//! [`StoreError::Conflict`]), the records are added and removed, and the journal gets the
//! change with each record it removed and added.

pub mod archive;
mod audit;
mod backup;
mod certificates;
mod dnssec;
mod files;
mod group;
mod known;
mod outbox;
mod people;
pub mod private;
mod requests;
mod secondaries;
mod snapshots;
mod zones;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

pub use audit::{AuditFilter, Checkpoint};
pub(crate) use audit::{append as append_audit, append_known as append_audit_known};
pub use backup::{SerialMove, latest_schema_version, sqlite_file};
pub use certificates::{CertGuard, CertificateRow, IssuedChain, NewCertificate, OrderPlan};
pub use dnssec::{NewKey, SigningState, StoredKey};
pub use files::Files;
pub use group::WriteGroup;
pub(crate) use outbox::enqueue as enqueue_messages;
pub use outbox::{OutboxMessage, QueuedMessage, REQUEST_ID_PLACEHOLDER};
pub use people::{Account, Agency, Assigned, Assignment, TOKEN_PREFIX, TokenInfo, token_prefix};
pub use requests::{
    Attachment, CertificateCommit, HistoryEntry, NEW_REQUEST, RequestChange, RequestData,
    RequestFilter, StoredHistoryEntry, StoredRequest, ZoneChangeCommit,
};
pub use secondaries::{Lag, SecondaryState};
pub use snapshots::Snapshot;
pub use zones::{
    ChangeMeta, Completion, JournalEntry, LastChange, RecordRow, StoredZone, Suspension, ZoneSource,
};

/// Most values bound in one `IN (…)` list: SQLite allows 32,766 variables in a statement, and a
/// register of an imported zone may name more; longer lists are read in chunks.
const IN_LIST: usize = 500;

/// How the store writes instants: the core's one format, RFC 3339, UTC, milliseconds (so that
/// text order is time order).
pub(crate) fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::domain::time::stamp(t)
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names a backend this build does not have, or is malformed.
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// The database could not be opened or a statement failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory or the database file could not be created (or made private).
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another writer changed the zone first.
    #[error("zone {0} was changed concurrently; retry")]
    Conflict(String),
    /// The zone already exists.
    #[error("zone {0} already exists")]
    ZoneExists(String),
    /// No such zone.
    #[error("no zone {0}")]
    NoSuchZone(String),
    /// Something with that name or code exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// No such thing.
    #[error("no {0}")]
    NotFound(String),
    /// An open request holds the name already.
    #[error("the name is held by open request {0}")]
    NameHeld(i64),
    /// Stored data cannot be read back (should never happen; names the row).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A change that shared this one's transaction was abandoned midway (its caller went
    /// away): nothing of the transaction was kept; the change may be made again.
    #[error(
        "the change was not saved: another change in the same transaction was abandoned; retry"
    )]
    Abandoned,
    /// One failure reported to every change of a group that shared the transaction it
    /// failed (see [`WriteGroup`]).
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
}

/// SQLite's primary result code for a write that found the disk full (`SQLITE_FULL`); extended
/// codes carry it in their low byte.
const SQLITE_FULL: i32 = 13;

impl StoreError {
    /// Whether the database cannot take the call now (a retry may succeed), rather than refused
    /// or failed a statement: it cannot be reached, or its disk is full.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Shared(e) => return e.is_unavailable(),
            Self::Abandoned => return true,
            _ => {}
        }
        self.is_disk_full()
            || matches!(
                self,
                Self::Database(
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
                )
            )
    }

    /// Whether the write failed because the disk of the database is full. SQLite then rolls
    /// the transaction back whole (nothing of it is kept), and the same write succeeds once
    /// space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Shared(e) => e.is_disk_full(),
            Self::Database(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| c & 0xff == SQLITE_FULL),
            Self::Database(sqlx::Error::Io(e)) => is_disk_full(e),
            _ => false,
        }
    }
}

/// Whether an I/O error means that the disk (or the user's quota on it) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// The database behind ranah.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(Pool<Sqlite>),
}

impl Store {
    /// Open (creating if needed) the database at `url` and bring its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Open without migrating (for `ranah migrate`, which reports what it applies).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(scheme_of(url)));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let file = options.get_filename();
        if file.to_str() != Some(":memory:") {
            // The folder 0700 and the file 0600 before SQLite creates them with the umask's
            // modes (its -wal and -shm take the database file's): see `private`.
            if let Some(dir) = file.parent()
                && !dir.as_os_str().is_empty()
            {
                private::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                    path: dir.to_owned(),
                    source,
                })?;
                private::warn_if_shared(dir);
            }
            private::prepare_database_file(file).map_err(|source| StoreError::CreateDir {
                path: file.to_owned(),
                source,
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection goes back to the pool only outside a transaction. When a write
            // fails with the disk full, SQLite rolls the transaction back itself; sqlx's
            // ROLLBACK on drop then fails ("no transaction is active") and sqlx still counts
            // the connection as inside one, so every later `BEGIN IMMEDIATE` on it failed
            // ("non-zero transaction depth") until a restart. The ping waits for that queued
            // rollback; a connection still counted inside a transaction is closed, and the
            // pool opens a fresh one when it needs it.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection;
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            backend: Backend::Sqlite(pool),
        })
    }

    /// Apply pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let migrator = sqlx::migrate!("migrations/sqlite");
                let before: i64 = applied_count(pool).await;
                migrator.run(pool).await?;
                let after: i64 = applied_count(pool).await;
                Ok(usize::try_from(after - before).unwrap_or(0))
            }
        }
    }

    /// Check that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Close the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    /// A write transaction. It takes SQLite's write lock when it begins (`BEGIN IMMEDIATE`),
    /// waiting up to the busy timeout for another writer: a transaction that began by reading
    /// (sqlx's default `BEGIN DEFERRED`) could not wait when it came to write after another
    /// connection had written, and failed at once with "database is locked".
    pub(crate) async fn write(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(self.sqlite().begin_with("BEGIN IMMEDIATE").await?)
    }

    fn sqlite(&self) -> &Pool<Sqlite> {
        match &self.backend {
            Backend::Sqlite(pool) => pool,
        }
    }
}

async fn applied_count(pool: &Pool<Sqlite>) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}:// (only sqlite:// is supported by this build)"),
        None => "a URL without a scheme".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database from before migration 13 that holds two open requests for one name (the race
    /// it closes) migrates: the later twin is marked, nothing else changes, and the name stays
    /// held by the earlier one.
    #[tokio::test]
    async fn twins_from_before_the_unique_index_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        let all = sqlx::migrate!("migrations/sqlite");
        let mut before = sqlx::migrate::Migrator::with_migrations(
            all.iter().filter(|m| m.version < 13).cloned().collect(),
        );
        before.locking = false;
        before.run(store.sqlite()).await.unwrap();
        let setup = "INSERT INTO agencies (id, code, name, created_at) VALUES (1, 'A', 'A', 'x'); \
             INSERT INTO users (id, name, created_at) VALUES (1, 'u', 'x'); \
             INSERT INTO requests (id, kind, zone, name, agency_id, submitted_by, \
               registered_by_front_office, records, contact, purpose, certificate, workflow, \
               status, step, step_started_at, version, created_at, updated_at) VALUES \
             (1, 'create', 'example.go.id', 'kembar', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'in_review', 0, 'x', 0, 'x', 'x'), \
             (2, 'create', 'example.go.id', 'kembar', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'returned', 0, 'x', 0, 'x', 'x'), \
             (3, 'create', 'example.go.id', 'lain', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'in_review', 0, 'x', 0, 'x', 'x');";
        sqlx::raw_sql(setup).execute(store.sqlite()).await.unwrap();
        store.migrate().await.unwrap();
        let marks: Vec<(i64, String, Option<i64>)> =
            sqlx::query_as("SELECT id, status, duplicate_of FROM requests ORDER BY id")
                .fetch_all(store.sqlite())
                .await
                .unwrap();
        assert_eq!(
            marks,
            [
                (1, "in_review".into(), None),
                (2, "returned".into(), Some(1)),
                (3, "in_review".into(), None)
            ]
        );
        // A third open request for the name is still refused by the index.
        let third = sqlx::raw_sql(
            "INSERT INTO requests (kind, zone, name, agency_id, submitted_by, \
               registered_by_front_office, records, contact, purpose, certificate, workflow, \
               status, step, step_started_at, version, created_at, updated_at) VALUES \
             ('create', 'example.go.id', 'kembar', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'in_review', 0, 'x', 0, 'x', 'x')",
        )
        .execute(store.sqlite())
        .await;
        assert!(third.is_err(), "{third:?}");
    }
}
