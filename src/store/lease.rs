//! Which instance runs the background jobs: the one that holds a PostgreSQL advisory lock on a
//! connection of its own. The lock is the session's: it goes when the session does, whether the
//! instance stops, dies or loses the server, and another instance takes it.

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use super::{Store, StoreError};

/// The key of the leader's advisory lock (`ranahL` in ASCII; the write lock's is `ranah`).
const LEADER_LOCK: i64 = 0x7261_6e61_684c;

/// How long the leader waits for the server to answer its check.
const CHECK_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The lock held: this instance leads while it is held. Dropping it ends its session, which
/// frees the lock.
#[derive(Debug)]
pub struct Leadership {
    connection: PgConnection,
}

impl Leadership {
    /// Whether the session (and so the lock) is still there: the server answers on it.
    pub async fn check(&mut self) -> Result<(), StoreError> {
        // A server that does not answer within the check's time is one the lock may be lost
        // on (its session ended on the other side of a cut): stop leading rather than wait.
        match tokio::time::timeout(CHECK_WITHIN, self.connection.ping()).await {
            Ok(pinged) => Ok(pinged?),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Give the lock up now.
    pub async fn release(self) {
        let _ = self.connection.close().await;
    }
}

impl Store {
    /// Take the leader's lock if no other session holds it: `Ok(None)` when another does. Only
    /// for a shared store ([`Store::is_shared`]): SQLite's one instance leads without a lock.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, StoreError> {
        let Some(url) = self.listen_url.as_ref() else {
            return Ok(None);
        };
        let mut connection = PgConnection::connect(&url.0).await?;
        sqlx::raw_sql(super::PG_SESSION)
            .execute(&mut connection)
            .await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut connection)
            .await?;
        if taken {
            Ok(Some(Leadership { connection }))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }

    /// Whether several instances can share this store (PostgreSQL), so that one of them must
    /// be chosen to run the background jobs.
    pub fn is_shared(&self) -> bool {
        self.listen_url.is_some()
    }
}
