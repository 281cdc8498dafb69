//! What the daemon last saw of each secondary: the serial it serves, the last NOTIFY and the
//! last transfer. Kept in the store so that `ranah status` (another process) shows the same as
//! the API.

use sqlx::Row;

use super::{Store, StoreError};

/// The state of one secondary of one zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SecondaryState {
    /// The zone's apex, absolute.
    pub zone: String,
    /// The secondary (its NOTIFY address).
    pub secondary: String,
    /// The serial its SOA answered at the last poll.
    pub served_serial: Option<u32>,
    /// When it was last polled.
    pub polled_at: Option<String>,
    /// Why the last poll failed, if it did.
    pub poll_error: Option<String>,
    /// When the last NOTIFY was sent.
    pub last_notify_at: Option<String>,
    /// The serial it announced.
    pub last_notify_serial: Option<u32>,
    /// `acknowledged`, or what went wrong.
    pub last_notify_result: Option<String>,
    /// When it last pulled a transfer.
    pub last_transfer_at: Option<String>,
    /// `axfr`, `ixfr` or `up_to_date`.
    pub last_transfer_kind: Option<String>,
    /// The serial transferred.
    pub last_transfer_serial: Option<u32>,
}

/// How far a secondary is behind, from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    /// Changes it does not have yet.
    pub changes: u64,
    /// When the first of them was made.
    pub since: Option<String>,
}

fn serial(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<u32>, StoreError> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .and_then(|v| u32::try_from(v).ok()))
}

impl Store {
    /// Write the state of one secondary (insert or replace).
    pub async fn save_secondary_state(&self, s: &SecondaryState) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secondary_state (zone, secondary, served_serial, polled_at, \
             poll_error, last_notify_at, last_notify_serial, last_notify_result, \
             last_transfer_at, last_transfer_kind, last_transfer_serial) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (zone, secondary) DO UPDATE SET served_serial = excluded.served_serial, \
             polled_at = excluded.polled_at, poll_error = excluded.poll_error, \
             last_notify_at = excluded.last_notify_at, \
             last_notify_serial = excluded.last_notify_serial, \
             last_notify_result = excluded.last_notify_result, \
             last_transfer_at = excluded.last_transfer_at, \
             last_transfer_kind = excluded.last_transfer_kind, \
             last_transfer_serial = excluded.last_transfer_serial",
        )
        .bind(&s.zone)
        .bind(&s.secondary)
        .bind(s.served_serial.map(i64::from))
        .bind(&s.polled_at)
        .bind(&s.poll_error)
        .bind(&s.last_notify_at)
        .bind(s.last_notify_serial.map(i64::from))
        .bind(&s.last_notify_result)
        .bind(&s.last_transfer_at)
        .bind(&s.last_transfer_kind)
        .bind(s.last_transfer_serial.map(i64::from))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The saved state of every secondary, or of one zone's.
    pub async fn secondary_states(
        &self,
        zone: Option<&str>,
    ) -> Result<Vec<SecondaryState>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM secondary_state WHERE ($1 IS NULL OR zone = $1) \
             ORDER BY zone, secondary",
        )
        .bind(zone)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SecondaryState {
                    zone: r.try_get("zone")?,
                    secondary: r.try_get("secondary")?,
                    served_serial: serial(r, "served_serial")?,
                    polled_at: r.try_get("polled_at")?,
                    poll_error: r.try_get("poll_error")?,
                    last_notify_at: r.try_get("last_notify_at")?,
                    last_notify_serial: serial(r, "last_notify_serial")?,
                    last_notify_result: r.try_get("last_notify_result")?,
                    last_transfer_at: r.try_get("last_transfer_at")?,
                    last_transfer_kind: r.try_get("last_transfer_kind")?,
                    last_transfer_serial: serial(r, "last_transfer_serial")?,
                })
            })
            .collect()
    }

    /// Forget secondaries no longer configured: keep only these `(zone, secondary)` pairs.
    pub async fn retain_secondaries(&self, keep: &[(String, String)]) -> Result<(), StoreError> {
        let saved = self.secondary_states(None).await?;
        for s in saved {
            if !keep
                .iter()
                .any(|(z, id)| *z == s.zone && *id == s.secondary)
            {
                sqlx::query("DELETE FROM secondary_state WHERE zone = $1 AND secondary = $2")
                    .bind(&s.zone)
                    .bind(&s.secondary)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// The changes of `zone` made after it reached `serial`: how many, and when the first was
    /// made. `None` when the journal does not know that serial.
    pub async fn changes_after(&self, zone: &str, serial: u32) -> Result<Option<Lag>, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT MAX(c.id) FROM zone_changes c WHERE c.zone_id = z.id \
             AND c.serial_after = $2) AS reached, z.soa_serial FROM zones z WHERE z.name = $1",
        )
        .bind(zone)
        .bind(i64::from(serial))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let current: i64 = row.try_get("soa_serial")?;
        if current == i64::from(serial) {
            return Ok(Some(Lag {
                changes: 0,
                since: None,
            }));
        }
        let Some(reached) = row.try_get::<Option<i64>, _>("reached")? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(c.changed_at) AS since FROM zone_changes c \
             JOIN zones z ON z.id = c.zone_id WHERE z.name = $1 AND c.id > $2",
        )
        .bind(zone)
        .bind(reached)
        .fetch_one(self.pool())
        .await?;
        Ok(Some(Lag {
            changes: u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
            since: row.try_get("since")?,
        }))
    }
}
