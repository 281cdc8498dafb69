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
mod complaints;
mod confirmations;
mod dnssec;
pub mod feed;
mod files;
mod findings;
mod group;
mod instances;
mod known;
mod lease;
mod outbox;
mod people;
pub mod private;
mod requests;
mod secondaries;
mod sessions;
mod snapshots;
mod terms;
mod update_keys;
mod zones;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, Pool, Row};

use zones::Tx;

pub use audit::{AuditFilter, Checkpoint};
pub(crate) use audit::{append as append_audit, append_known as append_audit_known};
pub use backup::{SerialMove, latest_schema_version, sqlite_file};
pub use certificates::{CertGuard, CertificateRow, IssuedChain, NewCertificate, OrderPlan};
pub use complaints::{ComplaintChange, ComplaintFilter, ComplaintRow, NewComplaint};
pub use confirmations::ConfirmationRow;
pub use dnssec::{NewKey, SigningState, StoredKey};
pub use files::Files;
pub use findings::{CheckRecord, FindingRow, FoundNow};
pub use group::WriteGroup;
pub use instances::InstanceRow;
pub use lease::Leadership;
pub(crate) use outbox::enqueue as enqueue_messages;
pub use outbox::{OutboxMessage, QueuedMessage, REQUEST_ID_PLACEHOLDER};
pub use people::{
    Account, Agency, Assigned, Assignment, TOKEN_PREFIX, TokenInfo, UserRow, token_prefix,
};
pub use requests::{
    Attachment, CertificateCommit, HistoryEntry, NEW_REQUEST, RequestChange, RequestData,
    RequestFilter, StoredHistoryEntry, StoredRequest, ZoneChangeCommit,
};
pub use secondaries::{Lag, SecondaryState};
pub use sessions::{
    ExternalAccount, ExternalUser, NewSession, PasswordAccount, PendingSignIn, StoredSession,
    TakenSignIn, secret_hash,
};
pub use snapshots::Snapshot;
pub use terms::TermRow;
pub use update_keys::UpdateKeyRow;
pub use zones::{
    ChangeMeta, Completion, JournalEntry, LastChange, RecordRow, StoredZone, Suspension,
    ZoneSource, random_api_id,
};

/// Most values bound in one `IN (…)` list: SQLite allows 32,766 variables in a statement, and a
/// register of an imported zone may name more; longer lists are read in chunks.
const IN_LIST: usize = 500;

/// `$first, …`: `n` numbered placeholders, for an `IN (…)` list. Both databases take `$N`;
/// sqlx's `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL does not take.
fn placeholders(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 6);
    for i in first..first + n {
        if i > first {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&i.to_string());
    }
    out
}

/// `($1, …), ($k, …)`: the VALUES of `rows` rows of `columns` placeholders each.
fn values_rows(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&placeholders(1 + row * columns, columns));
        out.push(')');
    }
    out
}

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
    /// A bounded table is full (sign-ins in progress): the call may be made again later.
    #[error("too busy: {0}")]
    Busy(String),
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

/// PostgreSQL's SQLSTATE for a write that found the disk full (`disk_full`).
const PG_DISK_FULL: &str = "53100";

/// SQLSTATEs of PostgreSQL that say "not now" rather than "no": the connection went away
/// (class 08), the server is shutting down or starting (57P01–57P03), too many connections or
/// out of memory (53), a transaction that lost a serialization race or a deadlock (40001,
/// 40P01), a lock or statement that timed out (55P03, 57014), and a server that became a
/// read-only standby (25006, a failover under way): the same call retried can succeed.
fn pg_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03" | "57014" | "25006"
        )
}

impl StoreError {
    /// Whether the database cannot take the call now (a retry may succeed), rather than refused
    /// or failed a statement: it cannot be reached, or its disk is full.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Shared(e) => return e.is_unavailable(),
            Self::Abandoned => return true,
            Self::Database(sqlx::Error::Database(e)) if is_postgres(e.as_ref()) => {
                return e.code().is_some_and(|c| pg_transient(&c));
            }
            _ => {}
        }
        self.is_disk_full()
            || matches!(
                self,
                Self::Database(
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::WorkerCrashed
                )
            )
    }

    /// Whether the write failed because the disk of the database is full. SQLite then rolls
    /// the transaction back whole (nothing of it is kept), and the same write succeeds once
    /// space is freed; so does PostgreSQL's.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Shared(e) => e.is_disk_full(),
            Self::Database(sqlx::Error::Database(e)) if is_postgres(e.as_ref()) => {
                e.code().as_deref() == Some(PG_DISK_FULL)
            }
            Self::Database(sqlx::Error::Database(e)) => e
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| c & 0xff == SQLITE_FULL),
            Self::Database(sqlx::Error::Io(e)) => is_disk_full(e),
            _ => false,
        }
    }
}

/// Whether a database error came from PostgreSQL (its codes are SQLSTATEs, SQLite's numbers).
fn is_postgres(e: &dyn sqlx::error::DatabaseError) -> bool {
    e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
}

/// Whether an I/O error means that the disk (or the user's quota on it) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// A 0/1 flag column as a `bool`: both databases keep flags as integers, so that one SQL text
/// compares and binds them the same way.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Which database is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One file on this machine (the embedded default).
    Sqlite,
    /// A PostgreSQL server, which several instances can share.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if this build has it.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    /// Its name in messages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The key of the advisory lock every PostgreSQL write transaction takes first (`ranah` in
/// ASCII): writers take turns, across every instance on the database, as SQLite's one write
/// lock makes them take turns on one machine. What relies on it: a zone's serial moves one
/// step at a time, the audit trail's head has one successor, and what a group of changes
/// learned of the rows it wrote ([`known::Known`]) stays true until it commits.
const PG_WRITE_LOCK: i64 = 0x0072_616e_6168;

/// What every PostgreSQL session of ranah's sets first: the server notices a peer that
/// vanished (a host that died, a cut network) within about half a minute and ends its session,
/// which frees the locks it held (the write lock of an open transaction, the leader's lock),
/// rather than after the operating system's two hours; a transaction left idle is ended too.
pub(crate) const PG_SESSION: &str = "SET tcp_keepalives_idle = 10; \
    SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; \
    SET tcp_user_timeout = 30000; SET idle_in_transaction_session_timeout = 60000;";

/// How long a PostgreSQL writer waits for the write lock before it fails as unavailable (a
/// 503 to retry), as SQLite's busy timeout bounds the wait for its write lock.
const PG_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = 10000";

/// Connections a PostgreSQL pool keeps at most: the API's readers and the one writer, without
/// taking many of a server that other instances share.
const PG_MAX_CONNECTIONS: u32 = 10;

/// The database behind ranah.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool<Any>,
    backend: Backend,
    /// PostgreSQL's URL, for the connections of its own that listening takes.
    listen_url: Option<Redacted>,
}

/// A URL that may hold a password: never printed.
#[derive(Clone)]
struct Redacted(std::sync::Arc<str>);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
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
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => Self::connect_sqlite(url).await,
            Some(Backend::Postgres) => Self::connect_postgres(url).await,
            None => Err(StoreError::UnsupportedUrl(scheme_of(url))),
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?;
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
        Ok(Self {
            pool: sqlite_pool(url, SqliteJournal::Wal, 4).await?,
            backend: Backend::Sqlite,
            listen_url: None,
        })
    }

    async fn connect_postgres(url: &str) -> Result<Self, StoreError> {
        // The URL says everything else as libpq spells it (`sslmode`, `sslrootcert`, …);
        // TLS is rustls with the system's roots and any `sslrootcert`.
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(PG_MAX_CONNECTIONS)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(PG_SESSION).execute(conn).await?;
                    Ok(())
                })
            })
            // A statement waits this long for a connection while the server cannot be
            // reached, then fails as unavailable (a 503 to retry; DNS answers meanwhile).
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            backend: Backend::Postgres,
            listen_url: Some(Redacted(url.into())),
        })
    }

    /// The zone changes every instance commits, as they commit (PostgreSQL); `None` on
    /// SQLite, where nothing announces changes (see [`feed`]).
    pub fn change_feed(&self) -> Option<tokio::sync::mpsc::Receiver<feed::FeedEvent>> {
        let url = self.listen_url.as_ref()?;
        Some(feed::spawn(url.0.to_string()))
    }

    /// The database behind the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Apply pending migrations; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        let before = applied_count(&self.pool).await;
        // On PostgreSQL the migrator holds an advisory lock while it runs: instances that
        // start together migrate one after the other.
        migrator.run(&self.pool).await?;
        let after = applied_count(&self.pool).await;
        Ok(usize::try_from(after - before).unwrap_or(0))
    }

    /// Check that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction, which waits for every other writer to finish first (see
    /// [`known::Known`] for what relies on it).
    ///
    /// SQLite: its write lock, taken when the transaction begins (`BEGIN IMMEDIATE`), waiting
    /// up to the busy timeout for another writer; a transaction that began by reading (sqlx's
    /// default `BEGIN DEFERRED`) could not wait when it came to write after another
    /// connection had written, and failed at once with "database is locked".
    ///
    /// PostgreSQL: the write advisory lock, taken first and held until the transaction ends;
    /// each statement after it sees every write committed before (READ COMMITTED).
    pub(crate) async fn write(&self) -> Result<Tx<'static>, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query(PG_LOCK_TIMEOUT).execute(&mut *tx).await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// A transaction whose reads all see the database as of one moment (SQLite: any
    /// transaction; PostgreSQL: REPEATABLE READ, where READ COMMITTED would let each statement
    /// see a later moment).
    pub(crate) async fn read(&self) -> Result<Tx<'static>, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin().await?),
            Backend::Postgres => Ok(self
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .await?),
        }
    }

    fn pool(&self) -> &Pool<Any> {
        &self.pool
    }
}

/// How a SQLite database keeps its journal.
#[derive(Clone, Copy, Debug)]
enum SqliteJournal {
    /// Write-ahead log: readers never wait for the writer (the store's own file).
    Wal,
    /// A rollback journal, gone once the database is closed: the file alone holds everything
    /// (a backup's copy, a restore's staged store, which nothing else uses).
    Delete,
}

/// A pool of SQLite connections through the `Any` driver, each set up the store's way:
/// `synchronous = FULL`, so that a committed change survives a crash or a power loss; foreign
/// keys; a busy timeout, so that the CLI and the daemon can share the file.
async fn sqlite_pool(
    url: &str,
    journal: SqliteJournal,
    max_connections: u32,
) -> Result<Pool<Any>, StoreError> {
    sqlx::any::install_default_drivers();
    let pragmas = match journal {
        SqliteJournal::Wal => {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 10000;"
        }
        SqliteJournal::Delete => {
            "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;"
        }
    };
    Ok(AnyPoolOptions::new()
        .max_connections(max_connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(pragmas).execute(conn).await?;
                Ok(())
            })
        })
        // A connection goes back to the pool only outside a transaction. When a write fails
        // with the disk full, SQLite rolls the transaction back itself; sqlx's ROLLBACK on
        // drop then fails ("no transaction is active") and sqlx still counts the connection
        // as inside one, so every later `BEGIN IMMEDIATE` on it failed ("non-zero transaction
        // depth") until a restart. The ping waits for that queued rollback; a connection still
        // counted inside a transaction is closed, and the pool opens a fresh one when it
        // needs it.
        .after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::Connection;
                conn.ping().await?;
                Ok(!conn.is_in_transaction())
            })
        })
        .connect(url)
        .await?)
}

/// The `sqlite://` URL of a file (`%`, `?` and `#` escaped: sqlx decodes the path).
fn sqlite_url(path: &std::path::Path, mode: &str) -> String {
    let path = path
        .display()
        .to_string()
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    format!("sqlite://{path}?mode={mode}")
}

async fn applied_count(pool: &Pool<Any>) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => {
            format!("{scheme}:// (this build supports sqlite:// and postgres:// or postgresql://)")
        }
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
        before.run(store.pool()).await.unwrap();
        let setup = "INSERT INTO agencies (id, code, name, created_at) VALUES (1, 'A', 'A', 'x'); \
             INSERT INTO users (id, name, created_at) VALUES (1, 'u', 'x'); \
             INSERT INTO requests (id, kind, zone, name, agency_id, submitted_by, \
               registered_by_front_office, records, contact, purpose, certificate, workflow, \
               status, step, step_started_at, version, created_at, updated_at) VALUES \
             (1, 'create', 'example.go.id', 'kembar', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'in_review', 0, 'x', 0, 'x', 'x'), \
             (2, 'create', 'example.go.id', 'kembar', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'returned', 0, 'x', 0, 'x', 'x'), \
             (3, 'create', 'example.go.id', 'lain', 1, 1, 0, '[]', '{}', 'p', 0, 'kaltara', 'in_review', 0, 'x', 0, 'x', 'x');";
        sqlx::raw_sql(setup).execute(store.pool()).await.unwrap();
        store.migrate().await.unwrap();
        let marks: Vec<(i64, String, Option<i64>)> =
            sqlx::query_as("SELECT id, status, duplicate_of FROM requests ORDER BY id")
                .fetch_all(store.pool())
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
        .execute(store.pool())
        .await;
        assert!(third.is_err(), "{third:?}");
    }
}
