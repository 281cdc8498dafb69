//! The instances that use the store, as each last reported itself.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, flag, ts};

/// An instance as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    /// Host name and the API's port.
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// ranah's version there.
    pub version: String,
    /// Its DNS listen addresses.
    pub dns: String,
    /// Its API's address.
    pub api: String,
    /// Whether it ran the background jobs.
    pub leader: bool,
    /// Each zone's serial served there (a JSON object).
    pub serials: String,
    /// When it started.
    pub started_at: String,
    /// When it last reported.
    pub seen_at: String,
}

/// How long rows of instances that stopped reporting are kept.
const KEEP: chrono::Duration = chrono::Duration::days(1);

impl Store {
    /// Record how this instance is now (and prune the rows of instances gone a day).
    pub async fn report_instance(
        &self,
        row: &InstanceRow,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO instances (id, host, version, dns, api, leader, serials, started_at, \
             seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE \
             SET version = excluded.version, dns = excluded.dns, leader = excluded.leader, \
             serials = excluded.serials, started_at = excluded.started_at, \
             seen_at = excluded.seen_at",
        )
        .bind(&row.id)
        .bind(&row.host)
        .bind(&row.version)
        .bind(&row.dns)
        .bind(&row.api)
        .bind(i64::from(row.leader))
        .bind(&row.serials)
        .bind(&row.started_at)
        .bind(ts(now))
        .execute(self.pool())
        .await?;
        sqlx::query("DELETE FROM instances WHERE seen_at < $1")
            .bind(ts(now - KEEP))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Remove this instance's row (it stops).
    pub async fn forget_instance(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every instance that reported in the last day, the latest first.
    pub async fn instances(&self) -> Result<Vec<InstanceRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM instances ORDER BY seen_at DESC, id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InstanceRow {
                    id: r.try_get("id")?,
                    host: r.try_get("host")?,
                    version: r.try_get("version")?,
                    dns: r.try_get("dns")?,
                    api: r.try_get("api")?,
                    leader: flag(r, "leader")?,
                    serials: r.try_get("serials")?,
                    started_at: r.try_get("started_at")?,
                    seen_at: r.try_get("seen_at")?,
                })
            })
            .collect()
    }
}
