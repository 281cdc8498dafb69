//! Snapshots of served zones: bytes the store keeps as given (the DNS side writes and reads
//! them), with the serial and the number of stored records they stand for.

use hickory_proto::rr::Name;
use sqlx::Row;

use super::{Store, StoreError};

/// A zone's snapshot as stored.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The zone's serial it was taken at.
    pub serial: u32,
    /// The zone's stored records then (see [`Store::stored_record_count`]).
    pub store_records: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Store {
    /// Keep a snapshot of a zone, replacing its earlier one. `store_records` is counted here,
    /// in the same transaction, so that it is the count at `serial` if the zone is still at
    /// `serial`; if it has moved on, nothing is kept (`false`).
    pub async fn save_snapshot(
        &self,
        origin: &Name,
        serial: u32,
        data: &[u8],
        now: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.read().await?;
        let zone_id = match zone_at(&mut tx, origin).await? {
            Some((zone_id, at)) if at == serial => zone_id,
            _ => return Ok(false),
        };
        let count = record_count(&mut tx, zone_id).await?;
        sqlx::query(
            "INSERT INTO zone_snapshots (zone_id, serial, store_records, data, taken_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (zone_id) DO UPDATE SET \
             serial = excluded.serial, store_records = excluded.store_records, \
             data = excluded.data, taken_at = excluded.taken_at",
        )
        .bind(zone_id)
        .bind(i64::from(serial))
        .bind(count)
        .bind(data)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A zone's snapshot, if one was kept.
    pub async fn load_snapshot(&self, origin: &Name) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT s.serial, s.store_records, s.data FROM zone_snapshots s \
             JOIN zones z ON z.id = s.zone_id WHERE z.name = $1",
        )
        .bind(origin.to_ascii())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            serial: u32::try_from(row.try_get::<i64, _>("serial")?).unwrap_or(0),
            store_records: u64::try_from(row.try_get::<i64, _>("store_records")?).unwrap_or(0),
            data: row.try_get("data")?,
        }))
    }

    /// A zone's serial and the number of its stored records (records not suspended, and
    /// DNSSEC records; not the SOA, kept with the zone), read together.
    pub async fn stored_record_count(
        &self,
        origin: &Name,
    ) -> Result<Option<(u32, u64)>, StoreError> {
        let mut tx = self.read().await?;
        let Some((zone_id, serial)) = zone_at(&mut tx, origin).await? else {
            return Ok(None);
        };
        let count = record_count(&mut tx, zone_id).await?;
        tx.commit().await?;
        Ok(Some((serial, u64::try_from(count).unwrap_or(0))))
    }
}

/// A zone's id and serial.
async fn zone_at(
    tx: &mut super::zones::Tx<'_>,
    origin: &Name,
) -> Result<Option<(i64, u32)>, StoreError> {
    let row = sqlx::query("SELECT id, soa_serial FROM zones WHERE name = $1")
        .bind(origin.to_ascii())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let serial = u32::try_from(row.try_get::<i64, _>("soa_serial")?).unwrap_or(0);
    Ok(Some((row.try_get("id")?, serial)))
}

async fn record_count(tx: &mut super::zones::Tx<'_>, zone_id: i64) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM records WHERE zone_id = $1 AND suspension_id IS NULL) \
         + (SELECT COUNT(*) FROM dnssec_records WHERE zone_id = $1) AS n",
    )
    .bind(zone_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}
