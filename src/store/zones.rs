//! Zones, records and the change journal.

use chrono::{DateTime, Utc};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sqlx::Row;

use super::known::{Known, KnownZone};
use super::{Store, StoreError, ts};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::zone::ZoneDiff;
use crate::zone::anchor;
use crate::zone::file::{self, ZoneContent};

/// Where a zone was imported from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSource {
    /// The file's path as given.
    pub file: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
}

/// A zone as stored, with its origin file.
#[derive(Debug, Clone)]
pub struct StoredZone {
    /// The records.
    pub content: ZoneContent,
    /// The file it was first imported from, if any.
    pub source: Option<ZoneSource>,
}

/// Why a change was made, and on whose behalf (provenance of the added records).
#[derive(Debug, Clone, Default)]
pub struct ChangeMeta {
    /// Short reason, e.g. `zone import` or `request 42 approved`.
    pub reason: String,
    /// The agency the added records belong to.
    pub agency_id: Option<i64>,
    /// The request that caused the change.
    pub request_id: Option<i64>,
    /// Set when the change suspends a name: its records are kept, marked, not deleted.
    pub suspension_id: Option<i64>,
    /// Who made the change, for the audit trail (ranah itself when not set).
    pub actor: Option<Attribution>,
    /// The user whose token wrote the added records (an integration's).
    pub user_id: Option<i64>,
    /// Ids the Cloudflare-compatible API gives added records, where not the one derived from
    /// their content ([`crate::zone::record_id`]): a record whose content changed keeps its
    /// id. By (owner, type, master-file data).
    pub api_ids: Vec<((String, u16, String), String)>,
}

/// Completes a zone change inside its transaction once the store knows its last record (the
/// `_audit` anchor, given to it): the publisher signs the change there, so that the
/// signatures commit and journal with it. It returns the DNSSEC records to remove and add;
/// they are always deleted and inserted (never suspended) and carry no provenance.
pub type Completion<'a> = Box<dyn FnOnce(&ZoneDiff) -> Result<ZoneDiff, String> + Send + 'a>;

/// Record the change in the audit trail and take the zone's `_audit` TXT off the old head, in
/// the caller's transaction. Returns the anchor's change (old TXT removed, new one to add):
/// the caller inserts and journals the new TXT with the change's other records (one
/// statement for all), and applies the change to the served view too.
async fn move_anchor(
    tx: &mut Tx<'_>,
    known: &mut Known,
    zone_id: i64,
    origin: &Name,
    entry: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<ZoneDiff, StoreError> {
    let event = super::append_audit_known(tx, known, entry, now).await?;
    let anchor = anchor::record(origin, event.seq, &event.hash).map_err(StoreError::Corrupt)?;
    let owner = anchor.name.to_ascii();
    // One statement removes the old anchor and returns it (each statement is a round trip to
    // the database's thread: a change's cost under the write lock).
    let old = sqlx::query(
        "DELETE FROM records WHERE zone_id = $1 AND owner = $2 AND rtype = $3 \
         RETURNING owner, rtype, ttl, rdata",
    )
    .bind(zone_id)
    .bind(&owner)
    .bind(i64::from(u16::from(RecordType::TXT)))
    .fetch_all(&mut **tx)
    .await?;
    let removed = old.iter().map(record_of).collect::<Result<Vec<_>, _>>()?;
    Ok(ZoneDiff {
        removed,
        added: vec![anchor],
        soa: None,
    })
}

/// One change in the journal.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    /// Serial before the change.
    pub serial_before: u32,
    /// Serial after it.
    pub serial_after: u32,
    /// When.
    pub changed_at: String,
    /// Why.
    pub reason: String,
    /// Records removed.
    pub removed: Vec<Record>,
    /// Records added.
    pub added: Vec<Record>,
    /// The SOA before the change (absent for changes journaled before it was kept).
    pub soa_before: Option<Record>,
    /// The SOA after it.
    pub soa_after: Option<Record>,
}

fn soa_of(content: &ZoneContent) -> Result<&SOA, StoreError> {
    content
        .soa_data()
        .ok_or_else(|| StoreError::Corrupt(format!("zone {} has no SOA data", content.origin)))
}

/// The record in a row with the columns `owner`, `rtype`, `ttl` and `rdata`.
fn record_of(r: &sqlx::any::AnyRow) -> Result<Record, StoreError> {
    record_from_row(
        r.try_get("owner")?,
        r.try_get("rtype")?,
        r.try_get("ttl")?,
        r.try_get("rdata")?,
    )
}

fn record_from_row(owner: &str, rtype: i64, ttl: i64, rdata: &[u8]) -> Result<Record, StoreError> {
    let corrupt = |m: String| StoreError::Corrupt(format!("record {owner}: {m}"));
    let rtype = RecordType::from(u16::try_from(rtype).map_err(|e| corrupt(e.to_string()))?);
    let ttl = u32::try_from(ttl).map_err(|e| corrupt(e.to_string()))?;
    let name = Name::from_ascii(owner).map_err(|e| corrupt(e.to_string()))?;
    let data = file::rdata_from_wire(rtype, rdata).map_err(corrupt)?;
    Ok(Record::from_rdata(name, ttl, data))
}

/// The SOA data of a `zones` row (its `soa_*` columns).
fn soa_from_row(row: &sqlx::any::AnyRow) -> Result<SOA, StoreError> {
    let name = |col: &str| -> Result<Name, StoreError> {
        let s: String = row.try_get(col)?;
        Name::from_ascii(&s).map_err(|e| StoreError::Corrupt(format!("{col} {s}: {e}")))
    };
    let int = |col: &str| -> Result<i64, StoreError> { Ok(row.try_get::<i64, _>(col)?) };
    Ok(SOA::new(
        name("soa_mname")?,
        name("soa_rname")?,
        u32::try_from(int("soa_serial")?).unwrap_or(0),
        i32::try_from(int("soa_refresh")?).unwrap_or(i32::MAX),
        i32::try_from(int("soa_retry")?).unwrap_or(i32::MAX),
        i32::try_from(int("soa_expire")?).unwrap_or(i32::MAX),
        u32::try_from(int("soa_minimum")?).unwrap_or(0),
    ))
}

pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

async fn journal_record(
    tx: &mut Tx<'_>,
    change_id: i64,
    seq: i64,
    op: &str,
    record: &Record,
) -> Result<(), StoreError> {
    let wire = file::rdata_wire(&record.data).map_err(StoreError::Corrupt)?;
    sqlx::query(
        "INSERT INTO zone_change_records (change_id, seq, op, owner, rtype, ttl, rdata) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(change_id)
    .bind(seq)
    .bind(op)
    .bind(record.name.to_ascii())
    .bind(i64::from(u16::from(record.record_type())))
    .bind(i64::from(record.ttl))
    .bind(wire)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Rows per multi-row INSERT: a statement per record costs a round trip to the database
/// thread each (most of the time of a large import, measured); 500 rows of 9 values stay
/// well under SQLite's 32,766 bound parameters.
const ROWS_PER_INSERT: usize = 500;

/// Add many records (a zone's import, a first signing), all with the same provenance.
async fn insert_records(
    tx: &mut Tx<'_>,
    zone_id: i64,
    records: &[Record],
    meta: &ChangeMeta,
    now: &str,
) -> Result<(), StoreError> {
    let rows: Vec<(&Record, &ChangeMeta)> = records.iter().map(|r| (r, meta)).collect();
    insert_rows(tx, zone_id, &rows, now).await
}

/// A new record's id in the Cloudflare-compatible API: 128 random bits in hex.
pub fn random_api_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Add records, each with its provenance, many rows per statement (a record already there
/// gets the new TTL and leaves any suspension).
async fn insert_rows(
    tx: &mut Tx<'_>,
    zone_id: i64,
    records: &[(&Record, &ChangeMeta)],
    now: &str,
) -> Result<(), StoreError> {
    let (signed, plain): (Vec<_>, Vec<_>) = records
        .iter()
        .partition(|(r, _)| crate::zone::is_dnssec_type(r.record_type()));
    let wire = |r: &Record| file::rdata_wire(&r.data).map_err(StoreError::Corrupt);
    for chunk in plain.chunks(ROWS_PER_INSERT) {
        let rows = chunk
            .iter()
            .map(|(r, meta)| Ok((*r, *meta, wire(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO records (zone_id, owner, rtype, ttl, rdata, data, agency_id, \
             request_id, created_at, api_id, user_id) VALUES {} \
             ON CONFLICT (zone_id, owner, rtype, rdata) DO UPDATE SET ttl = excluded.ttl, \
             suspension_id = NULL, api_id = COALESCE(records.api_id, excluded.api_id)",
            super::values_rows(rows.len(), 11)
        )));
        for (r, meta, wire) in rows {
            let owner = r.name.to_ascii();
            let rtype = u16::from(r.record_type());
            let data = file::presentation(&r.data);
            let key = (owner, rtype, data);
            // A new row's id is random: an id derived from content would be given again to
            // the same content once a record that kept it had changed (rows written before
            // ids were stored have theirs derived when read).
            let api_id = match meta.api_ids.iter().find(|(k, _)| *k == key) {
                Some((_, id)) => id.clone(),
                None => random_api_id()?,
            };
            let (owner, rtype, data) = key;
            q = q
                .bind(zone_id)
                .bind(owner)
                .bind(i64::from(rtype))
                .bind(i64::from(r.ttl))
                .bind(wire)
                .bind(data)
                .bind(meta.agency_id)
                .bind(meta.request_id)
                .bind(now.to_owned())
                .bind(api_id)
                .bind(meta.user_id);
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in signed.chunks(ROWS_PER_INSERT) {
        let rows = chunk
            .iter()
            .map(|(r, _)| Ok((*r, wire(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dnssec_records (zone_id, owner, rtype, ttl, rdata) VALUES {} \
             ON CONFLICT (zone_id, owner, rtype, rdata) DO UPDATE SET ttl = excluded.ttl",
            super::values_rows(rows.len(), 5)
        )));
        for (r, wire) in rows {
            q = q
                .bind(zone_id)
                .bind(r.name.to_ascii())
                .bind(i64::from(u16::from(r.record_type())))
                .bind(i64::from(r.ttl))
                .bind(wire);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Journal many records of one change from `seq` on, many rows per statement.
async fn journal_records(
    tx: &mut Tx<'_>,
    change_id: i64,
    seq: i64,
    op: &str,
    records: &[Record],
) -> Result<(), StoreError> {
    let ops: Vec<(&str, &Record)> = records.iter().map(|r| (op, r)).collect();
    journal_ops(tx, change_id, seq, &ops).await
}

/// Journal records removed (`del`) and added (`add`), numbered from `seq` in the order given,
/// many rows per statement.
async fn journal_ops(
    tx: &mut Tx<'_>,
    change_id: i64,
    seq: i64,
    ops: &[(&str, &Record)],
) -> Result<(), StoreError> {
    for (n, chunk) in ops.chunks(ROWS_PER_INSERT).enumerate() {
        let first = seq + (n * ROWS_PER_INSERT) as i64;
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(i, (op, r))| {
                let wire = file::rdata_wire(&r.data).map_err(StoreError::Corrupt)?;
                Ok((first + i as i64, *op, *r, wire))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO zone_change_records (change_id, seq, op, owner, rtype, ttl, rdata) \
             VALUES {}",
            super::values_rows(rows.len(), 7)
        )));
        for (seq, op, r, wire) in rows {
            q = q
                .bind(change_id)
                .bind(seq)
                .bind(op)
                .bind(r.name.to_ascii())
                .bind(i64::from(u16::from(r.record_type())))
                .bind(i64::from(r.ttl))
                .bind(wire);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Every zone's apex, serial and number of served records (the SOA included).
    pub async fn zone_summaries(&self) -> Result<Vec<(String, u32, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT z.name, z.soa_serial, (SELECT COUNT(*) FROM records r WHERE r.zone_id = z.id \
             AND r.suspension_id IS NULL) AS records FROM zones z ORDER BY z.name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    u32::try_from(r.try_get::<i64, _>("soa_serial")?).unwrap_or(0),
                    u64::try_from(r.try_get::<i64, _>("records")?).unwrap_or(0) + 1,
                ))
            })
            .collect()
    }

    /// One zone's serial in the store, if it is there.
    pub async fn zone_serial(&self, origin: &Name) -> Result<Option<u32>, StoreError> {
        let serial: Option<i64> =
            sqlx::query_scalar("SELECT soa_serial FROM zones WHERE name = $1")
                .bind(origin.to_ascii())
                .fetch_optional(self.pool())
                .await?;
        Ok(serial.and_then(|s| u32::try_from(s).ok()))
    }

    /// Every zone's apex and serial (cheap: used to notice changes by other processes).
    pub async fn zone_serials(&self) -> Result<Vec<(Name, u32)>, StoreError> {
        let rows = sqlx::query("SELECT name, soa_serial FROM zones ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                let serial: i64 = row.try_get("soa_serial")?;
                let origin = Name::from_ascii(&name)
                    .map_err(|e| StoreError::Corrupt(format!("zone name {name}: {e}")))?;
                Ok((origin, u32::try_from(serial).unwrap_or(0)))
            })
            .collect()
    }

    /// Whether a zone exists, and the file it was imported from (cheap: no records read).
    pub async fn zone_source(
        &self,
        origin: &Name,
    ) -> Result<Option<Option<ZoneSource>>, StoreError> {
        let row = sqlx::query("SELECT source_file, source_sha256 FROM zones WHERE name = $1")
            .bind(origin.to_ascii())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(
            match (
                row.try_get::<Option<String>, _>("source_file")?,
                row.try_get::<Option<String>, _>("source_sha256")?,
            ) {
                (Some(file), Some(sha256)) => Some(ZoneSource { file, sha256 }),
                _ => None,
            },
        ))
    }

    /// Load one zone with all its records (in no particular order).
    pub async fn load_zone(&self, origin: &Name) -> Result<Option<StoredZone>, StoreError> {
        // One snapshot for the zone's row and its records: a change committed between the two
        // reads would leave a view with one serial and the records of the next.
        let mut tx = self.read().await?;
        let Some(row) = sqlx::query("SELECT * FROM zones WHERE name = $1")
            .bind(origin.to_ascii())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let zone_id: i64 = row.try_get("id")?;
        let soa = soa_from_row(&row)?;
        let soa_ttl = u32::try_from(row.try_get::<i64, _>("soa_ttl")?).unwrap_or(0);
        let source = match (
            row.try_get::<Option<String>, _>("source_file")?,
            row.try_get::<Option<String>, _>("source_sha256")?,
        ) {
            (Some(file), Some(sha256)) => Some(ZoneSource { file, sha256 }),
            _ => None,
        };

        let rows = sqlx::query(
            "SELECT owner, rtype, ttl, rdata FROM records WHERE zone_id = $1 \
             AND suspension_id IS NULL \
             UNION ALL SELECT owner, rtype, ttl, rdata FROM dnssec_records WHERE zone_id = $1",
        )
        .bind(zone_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let records = rows.iter().map(record_of).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(StoredZone {
            content: ZoneContent {
                origin: origin.clone(),
                soa: Record::from_rdata(origin.clone(), soa_ttl, RData::SOA(soa)),
                records,
            },
            source,
        }))
    }

    /// Store a new zone with all its records, in one transaction. Returns the `_audit` anchor
    /// it starts with (the records added beside the content's).
    pub async fn create_zone(
        &self,
        content: &ZoneContent,
        source: Option<&ZoneSource>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<ZoneDiff, StoreError> {
        let soa = soa_of(content)?;
        let now_utc = now;
        let now = ts(now);
        let mut tx = self.write().await?;
        let result = sqlx::query(
            "INSERT INTO zones (name, soa_ttl, soa_mname, soa_rname, soa_serial, soa_refresh, \
             soa_retry, soa_expire, soa_minimum, source_file, source_sha256, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(content.origin.to_ascii())
        .bind(i64::from(content.soa.ttl))
        .bind(soa.mname.to_ascii())
        .bind(soa.rname.to_ascii())
        .bind(i64::from(soa.serial))
        .bind(i64::from(soa.refresh))
        .bind(i64::from(soa.retry))
        .bind(i64::from(soa.expire))
        .bind(i64::from(soa.minimum))
        .bind(source.map(|s| s.file.clone()))
        .bind(source.map(|s| s.sha256.clone()))
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = result else {
            return Err(StoreError::ZoneExists(content.origin.to_ascii()));
        };
        let zone_id: i64 = row.try_get(0)?;
        super::feed::announce(
            &mut tx,
            &content.origin.to_ascii(),
            soa.serial,
            now_utc.timestamp_millis(),
        )
        .await?;
        let mut known = Known::default();
        let anchor = move_anchor(
            &mut tx,
            &mut known,
            zone_id,
            &content.origin,
            audit,
            now_utc,
        )
        .await?;
        let plain = ChangeMeta::default();
        let rows: Vec<(&Record, &ChangeMeta)> = content
            .records
            .iter()
            .chain(&anchor.added)
            .map(|r| (r, &plain))
            .collect();
        insert_rows(&mut tx, zone_id, &rows, &now).await?;
        tx.commit().await?;
        Ok(anchor)
    }

    /// Commit one change: move the serial from `serial_before` to the new SOA's serial (or fail
    /// with [`StoreError::Conflict`] if another writer moved it), remove and add the records,
    /// and journal it, in one transaction; with `complete`, also the records it returns.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_change(
        &self,
        origin: &Name,
        serial_before: u32,
        diff: &ZoneDiff,
        meta: &ChangeMeta,
        audit: &AuditEntry,
        now: DateTime<Utc>,
        complete: Option<Completion<'_>>,
    ) -> Result<ZoneDiff, StoreError> {
        let mut tx = self.write().await?;
        let anchor = write_change(
            &mut tx,
            &mut Known::default(),
            origin,
            serial_before,
            diff,
            meta,
            audit,
            now,
            complete,
        )
        .await?;
        tx.commit().await?;
        Ok(anchor)
    }

    /// Write a signer's records for a zone at its current serial, without a new change (a
    /// zone nobody was served at that serial yet), and mark it signed at that serial. The
    /// records join the journal of the change that made the serial, if there is one, so that
    /// its IXFR carries them.
    pub async fn commit_signatures(
        &self,
        origin: &Name,
        serial: u32,
        signed: &ZoneDiff,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let zone_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM zones WHERE name = $1 AND soa_serial = $2")
                .bind(origin.to_ascii())
                .bind(i64::from(serial))
                .fetch_optional(&mut *tx)
                .await?;
        let Some(zone_id) = zone_id else {
            return Err(StoreError::Conflict(origin.to_ascii()));
        };
        let now = ts(Utc::now());
        let last: Option<(i64, i64)> = sqlx::query_as(
            "SELECT c.id, COALESCE((SELECT MAX(seq) + 1 FROM zone_change_records \
             WHERE change_id = c.id), 0) FROM zone_changes c \
             WHERE c.zone_id = $1 AND c.serial_after = $2 ORDER BY c.id DESC LIMIT 1",
        )
        .bind(zone_id)
        .bind(i64::from(serial))
        .fetch_optional(&mut *tx)
        .await?;
        let mut seq = last.map_or(0, |(_, seq)| seq);
        for record in &signed.removed {
            delete_record(&mut tx, zone_id, record).await?;
            if let Some((change_id, _)) = last {
                journal_record(&mut tx, change_id, seq, "del", record).await?;
                seq += 1;
            }
        }
        insert_records(
            &mut tx,
            zone_id,
            &signed.added,
            &ChangeMeta::default(),
            &now,
        )
        .await?;
        if let Some((change_id, _)) = last {
            journal_records(&mut tx, change_id, seq, "add", &signed.added).await?;
        }
        super::dnssec::mark_signed(&mut tx, zone_id, serial).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The journal of a zone from the change that left `since_serial` on, in order, at most
    /// `limit` changes. Empty when no change left that serial.
    pub async fn journal(
        &self,
        origin: &Name,
        since_serial: u32,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let pool = self.pool();
        let changes = sqlx::query(
            "SELECT c.id, c.serial_before, c.serial_after, c.changed_at, c.reason, \
             c.soa_before, c.soa_after, c.soa_ttl \
             FROM zone_changes c JOIN zones z ON z.id = c.zone_id \
             WHERE z.name = $1 AND c.id >= (SELECT MAX(c2.id) FROM zone_changes c2 \
             WHERE c2.zone_id = z.id AND c2.serial_before = $2) ORDER BY c.id LIMIT $3",
        )
        .bind(origin.to_ascii())
        .bind(i64::from(since_serial))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
        let mut entries = Vec::with_capacity(changes.len());
        for c in &changes {
            let id: i64 = c.try_get("id")?;
            let rows = sqlx::query(
                "SELECT op, owner, rtype, ttl, rdata FROM zone_change_records \
                 WHERE change_id = $1 ORDER BY seq",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            let mut removed = Vec::new();
            let mut added = Vec::new();
            for r in &rows {
                let op: &str = r.try_get("op")?;
                let record = record_of(r)?;
                if op == "del" {
                    removed.push(record);
                } else {
                    added.push(record);
                }
            }
            let soa_ttl: Option<i64> = c.try_get("soa_ttl")?;
            let soa = |col: &str| -> Result<Option<Record>, StoreError> {
                let wire: Option<Vec<u8>> = c.try_get(col)?;
                match (wire, soa_ttl) {
                    (Some(wire), Some(ttl)) => {
                        record_from_row(&origin.to_ascii(), 6, ttl, &wire).map(Some)
                    }
                    _ => Ok(None),
                }
            };
            entries.push(JournalEntry {
                soa_before: soa("soa_before")?,
                soa_after: soa("soa_after")?,
                serial_before: u32::try_from(c.try_get::<i64, _>("serial_before")?).unwrap_or(0),
                serial_after: u32::try_from(c.try_get::<i64, _>("serial_after")?).unwrap_or(0),
                changed_at: c.try_get("changed_at")?,
                reason: c.try_get("reason")?,
                removed,
                added,
            });
        }
        Ok(entries)
    }
}

/// The writes of one zone change, inside the caller's transaction (so that an approval and
/// the records it provisions commit together). With `complete`, the records it returns are
/// written and journaled too, and the zone's signatures are marked right at the new serial.
///
/// A change of one name is six statements when `known` already holds the zone and the audit
/// head (the second change of a group on), eight otherwise: the zone's row, the journal's
/// change, the audit event (and its head), the old anchor off, every record added and every
/// journal row each in one statement; plus one per record removed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_change(
    tx: &mut Tx<'_>,
    known: &mut Known,
    origin: &Name,
    serial_before: u32,
    diff: &ZoneDiff,
    meta: &ChangeMeta,
    audit: &AuditEntry,
    now: DateTime<Utc>,
    complete: Option<Completion<'_>>,
) -> Result<ZoneDiff, StoreError> {
    let zone = origin.to_ascii();
    let new_soa = match diff.soa.as_ref().map(|r| &r.data) {
        Some(RData::SOA(soa)) => soa,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "change to {zone} without a SOA"
            )));
        }
    };
    let now_utc = now;
    let now = ts(now);
    let (zone_id, soa_ttl, old_soa) =
        move_serial(tx, known, &zone, serial_before, new_soa, &now).await?;
    super::feed::announce(tx, &zone, new_soa.serial, now_utc.timestamp_millis()).await?;

    let soa_wire =
        |soa: &SOA| file::rdata_wire(&RData::SOA(soa.clone())).map_err(StoreError::Corrupt);
    let change_id: i64 = sqlx::query_scalar(
        "INSERT INTO zone_changes (zone_id, serial_before, serial_after, changed_at, reason, \
         agency_id, request_id, soa_before, soa_after, soa_ttl) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(zone_id)
    .bind(i64::from(serial_before))
    .bind(i64::from(new_soa.serial))
    .bind(&now)
    .bind(&meta.reason)
    .bind(meta.agency_id)
    .bind(meta.request_id)
    .bind(soa_wire(&old_soa)?)
    .bind(soa_wire(new_soa)?)
    .bind(soa_ttl)
    .fetch_one(&mut **tx)
    .await?;

    // Records removed and added again with another TTL (one TTL per set: a record written
    // with a new TTL re-adds its set's others), keyed as their rows are.
    // The rows of the records removed (none for the signer's, kept apart).
    let removed_keys = diff
        .removed
        .iter()
        .map(|r| {
            if crate::zone::is_dnssec_type(r.record_type()) {
                Ok(None)
            } else {
                row_key(r).map(Some)
            }
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let readded = ttl_changes(&removed_keys, diff, meta)?;
    let mut in_place = std::collections::HashSet::new();
    for (record, key) in diff.removed.iter().zip(removed_keys) {
        let Some(key) = key else {
            // An import that replaces a signed zone's records drops its signatures too.
            delete_record(tx, zone_id, record).await?;
            continue;
        };
        if let Some((i, new)) = readded
            .get(&key)
            .and_then(|&i| Some((i, diff.added.get(i)?)))
        {
            // Only its TTL changes: the row stays, with its id (one derived from its content
            // if it had none stored) and its provenance.
            let (owner, rtype, wire) = &key;
            let (owner, rtype) = (owner.clone(), *rtype);
            let data = file::presentation(&new.data);
            let id = meta
                .api_ids
                .iter()
                .find(|((o, t, d), _)| *o == owner && *t == rtype && *d == data)
                .map(|(_, id)| id.clone())
                .unwrap_or_else(|| crate::zone::record_id(&owner, rtype, &data));
            let updated = sqlx::query(
                "UPDATE records SET ttl = $1, api_id = COALESCE(api_id, $2) WHERE zone_id = $3 \
                 AND owner = $4 AND rtype = $5 AND rdata = $6",
            )
            .bind(i64::from(new.ttl))
            .bind(id)
            .bind(zone_id)
            .bind(owner)
            .bind(i64::from(rtype))
            .bind(wire.clone())
            .execute(&mut **tx)
            .await?;
            if updated.rows_affected() > 0 {
                in_place.insert(i);
                continue;
            }
            // No row (the store behind the view): the insert below writes it.
        }
        let (_, _, wire) = key;
        // A suspension keeps the rows, marked; any other change deletes them.
        let query = match meta.suspension_id {
            Some(suspension) => sqlx::query(
                "UPDATE records SET suspension_id = $5 WHERE zone_id = $1 AND owner = $2 \
                 AND rtype = $3 AND rdata = $4",
            )
            .bind(zone_id)
            .bind(record.name.to_ascii())
            .bind(i64::from(u16::from(record.record_type())))
            .bind(wire)
            .bind(suspension),
            None => sqlx::query(
                "DELETE FROM records WHERE zone_id = $1 AND owner = $2 AND rtype = $3 \
                 AND rdata = $4",
            )
            .bind(zone_id)
            .bind(record.name.to_ascii())
            .bind(i64::from(u16::from(record.record_type())))
            .bind(wire),
        };
        query.execute(&mut **tx).await?;
    }
    let anchor = move_anchor(tx, known, zone_id, origin, audit, now_utc).await?;
    // The records added and the new anchor in one statement; the journal in the order of the
    // change: its removals, its additions, then the anchor's.
    let plain = ChangeMeta::default();
    // Those whose TTL alone changed were updated in place above.
    let rows: Vec<(&Record, &ChangeMeta)> = diff
        .added
        .iter()
        .enumerate()
        .filter(|(i, _)| !in_place.contains(i))
        .map(|(_, r)| (r, meta))
        .chain(anchor.added.iter().map(|r| (r, &plain)))
        .collect();
    insert_rows(tx, zone_id, &rows, &now).await?;
    let ops: Vec<(&str, &Record)> = diff
        .removed
        .iter()
        .map(|r| ("del", r))
        .chain(diff.added.iter().map(|r| ("add", r)))
        .chain(anchor.removed.iter().map(|r| ("del", r)))
        .chain(anchor.added.iter().map(|r| ("add", r)))
        .collect();
    journal_ops(tx, change_id, 0, &ops).await?;
    let mut seq = i64::try_from(ops.len()).unwrap_or(i64::MAX);
    if let Some(complete) = complete {
        let signed = complete(&anchor).map_err(StoreError::Corrupt)?;
        for record in &signed.removed {
            delete_record(tx, zone_id, record).await?;
            journal_record(tx, change_id, seq, "del", record).await?;
            seq += 1;
        }
        insert_records(tx, zone_id, &signed.added, &ChangeMeta::default(), &now).await?;
        journal_records(tx, change_id, seq, "add", &signed.added).await?;
        super::dnssec::mark_signed(tx, zone_id, new_soa.serial).await?;
    }
    Ok(anchor)
}

/// A row's key: owner as stored, type, wire data.
type RowKey = (String, u16, Vec<u8>);

/// A record's row key: owner as stored, type, wire data.
fn row_key(r: &Record) -> Result<RowKey, StoreError> {
    Ok((
        r.name.to_ascii(),
        u16::from(r.record_type()),
        file::rdata_wire(&r.data).map_err(StoreError::Corrupt)?,
    ))
}

/// The records of a change that are removed (their rows' keys given, `None` for the
/// signer's) and added again with another TTL (not under a suspension, which keeps rows
/// marked instead): the position of each in `diff.added`, by the key of its row.
fn ttl_changes(
    removed: &[Option<RowKey>],
    diff: &ZoneDiff,
    meta: &ChangeMeta,
) -> Result<std::collections::HashMap<RowKey, usize>, StoreError> {
    let removed: std::collections::HashSet<&RowKey> = removed.iter().flatten().collect();
    let mut out = std::collections::HashMap::new();
    if meta.suspension_id.is_some() || removed.is_empty() {
        return Ok(out);
    }
    for (i, r) in diff.added.iter().enumerate() {
        if crate::zone::is_dnssec_type(r.record_type()) {
            continue;
        }
        let k = row_key(r)?;
        if removed.contains(&k) {
            out.insert(k, i);
        }
    }
    Ok(out)
}

const SET_SOA: &str = "UPDATE zones SET soa_serial = $1, soa_mname = $2, soa_rname = $3, \
    soa_refresh = $4, soa_retry = $5, soa_expire = $6, soa_minimum = $7, updated_at = $8 \
    WHERE id = $9";
const SET_SOA_IF_SERIAL: &str = "UPDATE zones SET soa_serial = $1, soa_mname = $2, \
    soa_rname = $3, soa_refresh = $4, soa_retry = $5, soa_expire = $6, soa_minimum = $7, \
    updated_at = $8 WHERE id = $9 AND soa_serial = $10";

/// Move the zone's serial from `serial_before` to `new_soa`'s (or fail with
/// [`StoreError::Conflict`] if another writer moved it). Returns the zone's row id, its SOA
/// TTL and the SOA it had, which the journal keeps for IXFR.
async fn move_serial(
    tx: &mut Tx<'_>,
    known: &mut Known,
    zone: &str,
    serial_before: u32,
    new_soa: &SOA,
    now: &str,
) -> Result<(i64, i64, SOA), StoreError> {
    let bind_soa = |sql: &'static str| {
        sqlx::query(sql)
            .bind(i64::from(new_soa.serial))
            .bind(new_soa.mname.to_ascii())
            .bind(new_soa.rname.to_ascii())
            .bind(i64::from(new_soa.refresh))
            .bind(i64::from(new_soa.retry))
            .bind(i64::from(new_soa.expire))
            .bind(i64::from(new_soa.minimum))
            .bind(now.to_owned())
    };
    let moved = match known.zone(zone) {
        // Written earlier in this transaction: what it holds is known, one statement.
        Some(k) if k.soa.serial == serial_before => {
            let (id, soa_ttl, old) = (k.id, k.soa_ttl, k.soa.clone());
            let done = bind_soa(SET_SOA_IF_SERIAL)
                .bind(id)
                .bind(i64::from(serial_before))
                .execute(&mut **tx)
                .await?;
            (done.rows_affected() == 1).then_some((id, soa_ttl, old))
        }
        // The first statement writes, so SQLite takes the write lock at once (no deferred
        // upgrade that could deadlock against another writer); it also returns the SOA the
        // change moves from.
        _ => {
            let before = sqlx::query(
                "UPDATE zones SET updated_at = $1 WHERE name = $2 AND soa_serial = $3 \
                 RETURNING id, soa_ttl, soa_mname, soa_rname, soa_serial, soa_refresh, \
                 soa_retry, soa_expire, soa_minimum",
            )
            .bind(now.to_owned())
            .bind(zone.to_owned())
            .bind(i64::from(serial_before))
            .fetch_optional(&mut **tx)
            .await?;
            match before {
                Some(before) => {
                    let id: i64 = before.try_get("id")?;
                    let soa_ttl: i64 = before.try_get("soa_ttl")?;
                    let old = soa_from_row(&before)?;
                    bind_soa(SET_SOA).bind(id).execute(&mut **tx).await?;
                    Some((id, soa_ttl, old))
                }
                None => None,
            }
        }
    };
    let Some((id, soa_ttl, old)) = moved else {
        return Err(StoreError::Conflict(zone.to_owned()));
    };
    known.set_zone(
        zone.to_owned(),
        KnownZone {
            id,
            soa_ttl,
            soa: new_soa.clone(),
        },
    );
    Ok((id, soa_ttl, old))
}

/// Delete one record the signer made.
async fn delete_record(tx: &mut Tx<'_>, zone_id: i64, record: &Record) -> Result<(), StoreError> {
    let wire = file::rdata_wire(&record.data).map_err(StoreError::Corrupt)?;
    sqlx::query(
        "DELETE FROM dnssec_records WHERE zone_id = $1 AND owner = $2 AND rtype = $3 \
         AND rdata = $4",
    )
    .bind(zone_id)
    .bind(record.name.to_ascii())
    .bind(i64::from(u16::from(record.record_type())))
    .bind(wire)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A record as listed, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The zone's apex.
    pub zone: String,
    /// Owner name.
    pub owner: String,
    /// Type code.
    pub rtype: u16,
    /// TTL.
    pub ttl: u32,
    /// Master-file text of the data.
    pub data: String,
    /// Owning agency (NULL for imported records without an owner).
    pub agency_id: Option<i64>,
    /// The request that created it.
    pub request_id: Option<i64>,
    /// When it was written.
    pub created_at: String,
    /// The suspension that holds it out of the zone, if any.
    pub suspension_id: Option<i64>,
    /// Its id in the Cloudflare-compatible API.
    pub api_id: String,
    /// The user whose token wrote it, if one did.
    pub user_id: Option<i64>,
}

/// A [`RecordRow`] from a row of the columns [`Store::record_rows`] selects.
fn record_row(r: &sqlx::any::AnyRow) -> Result<RecordRow, StoreError> {
    let owner: String = r.try_get("owner")?;
    let rtype = u16::try_from(r.try_get::<i64, _>("rtype")?).unwrap_or(0);
    let data: String = r.try_get("data")?;
    let api_id = r
        .try_get::<Option<String>, _>("api_id")?
        .unwrap_or_else(|| crate::zone::record_id(&owner, rtype, &data));
    Ok(RecordRow {
        zone: r.try_get("zone")?,
        owner,
        rtype,
        ttl: u32::try_from(r.try_get::<i64, _>("ttl")?).unwrap_or(0),
        data,
        agency_id: r.try_get("agency_id")?,
        request_id: r.try_get("request_id")?,
        created_at: r.try_get("created_at")?,
        suspension_id: r.try_get("suspension_id")?,
        api_id,
        user_id: r.try_get("user_id")?,
    })
}

/// The last change of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastChange {
    /// Serial it produced.
    pub serial: u32,
    /// When.
    pub at: String,
    /// Why.
    pub reason: String,
    /// The request, if one caused it.
    pub request_id: Option<i64>,
}

impl Store {
    /// Records with their provenance, of one zone or all, by owner name.
    pub async fn record_rows(&self, zone: Option<&str>) -> Result<Vec<RecordRow>, StoreError> {
        self.record_rows_where(zone, None, None).await
    }

    /// The records of a zone at one owner (absolute, lower case).
    pub async fn record_rows_at(
        &self,
        zone: &str,
        owner: &str,
    ) -> Result<Vec<RecordRow>, StoreError> {
        self.record_rows_where(Some(zone), Some(owner), None).await
    }

    /// The record of a zone with this id of the Cloudflare-compatible API, if any (a row
    /// written before ids were stored has its id derived: those are read to find it).
    pub async fn record_row_by_api_id(
        &self,
        zone: &str,
        id: &str,
    ) -> Result<Option<RecordRow>, StoreError> {
        if let Some(row) = self
            .record_rows_where(Some(zone), None, Some(Some(id)))
            .await?
            .into_iter()
            .next()
        {
            return Ok(Some(row));
        }
        Ok(self
            .record_rows_where(Some(zone), None, Some(None))
            .await?
            .into_iter()
            .find(|r| r.api_id == id))
    }

    /// One page of a zone's records that are served (not suspended) of the types `types`
    /// (or the one `rtype`), but the TXT at `hidden_txt` (the audit anchor), in the order of
    /// [`Store::record_rows`]: the rows from `offset` on, at most `limit`, and how many there
    /// are in all. The database pages, so that a client that reads a large zone page by page
    /// does not make each page read the whole zone.
    pub async fn record_rows_page(
        &self,
        zone: &str,
        types: &[u16],
        rtype: Option<u16>,
        hidden_txt: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<RecordRow>, u64), StoreError> {
        // Only numbers of ours are spliced in; every value a client gives is bound.
        let types = types
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let filter = format!(
            "FROM records r JOIN zones z ON z.id = r.zone_id WHERE z.name = $1 \
             AND r.suspension_id IS NULL AND r.rtype IN ({types}) \
             AND NOT (r.owner = $2 AND r.rtype = 16) AND ($3 IS NULL OR r.rtype = $3)"
        );
        let mut tx = self.read().await?;
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
                .bind(zone)
                .bind(hidden_txt)
                .bind(rtype.map(i64::from))
                .fetch_one(&mut *tx)
                .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT z.name AS zone, r.owner, r.rtype, r.ttl, r.data, r.agency_id, r.request_id, \
             r.created_at, r.suspension_id, r.api_id, r.user_id {filter} \
             ORDER BY z.name, r.owner, r.rtype, r.id LIMIT $4 OFFSET $5"
        )))
        .bind(zone)
        .bind(hidden_txt)
        .bind(rtype.map(i64::from))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let rows = rows.iter().map(record_row).collect::<Result<_, _>>()?;
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }

    /// Records by zone, owner and stored id (`Some(None)`: rows without one).
    async fn record_rows_where(
        &self,
        zone: Option<&str>,
        owner: Option<&str>,
        api_id: Option<Option<&str>>,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let id_clause = match api_id {
            None => "",
            Some(None) => " AND r.api_id IS NULL",
            Some(Some(_)) => " AND r.api_id = $3",
        };
        // Only fixed clauses are spliced in; every value is bound.
        let sql = format!(
            "SELECT z.name AS zone, r.owner, r.rtype, r.ttl, r.data, r.agency_id, r.request_id, \
             r.created_at, r.suspension_id, r.api_id, r.user_id \
             FROM records r JOIN zones z ON z.id = r.zone_id \
             WHERE ($1 IS NULL OR z.name = $1) AND ($2 IS NULL OR r.owner = $2){id_clause} \
             ORDER BY z.name, r.owner, r.rtype, r.id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(zone).bind(owner);
        if let Some(Some(id)) = api_id {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(record_row).collect()
    }

    /// The latest change of a zone, if it changed since it was imported.
    pub async fn last_change(&self, zone: &str) -> Result<Option<LastChange>, StoreError> {
        let row = sqlx::query(
            "SELECT c.serial_after, c.changed_at, c.reason, c.request_id FROM zone_changes c \
             JOIN zones z ON z.id = c.zone_id WHERE z.name = $1 ORDER BY c.id DESC LIMIT 1",
        )
        .bind(zone)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(LastChange {
                serial: u32::try_from(r.try_get::<i64, _>("serial_after")?).unwrap_or(0),
                at: r.try_get("changed_at")?,
                reason: r.try_get("reason")?,
                request_id: r.try_get("request_id")?,
            })
        })
        .transpose()
    }
}

/// A suspension of a name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Suspension {
    /// Id.
    pub id: i64,
    /// Zone apex.
    pub zone: String,
    /// The name.
    pub owner: String,
    /// Why.
    pub reason: String,
    /// Who suspended it.
    pub suspended_by: Option<i64>,
    /// When.
    pub suspended_at: String,
    /// Who lifted it.
    pub lifted_by: Option<i64>,
    /// When it was lifted.
    pub lifted_at: Option<String>,
}

impl Store {
    /// Open a suspension record (before the zone change that takes the records out).
    pub async fn create_suspension(
        &self,
        zone: &str,
        owner: &str,
        reason: &str,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO suspensions (zone, owner, reason, suspended_by, suspended_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(zone)
        .bind(owner)
        .bind(reason)
        .bind(by)
        .bind(ts(now))
        .fetch_one(self.pool())
        .await?)
    }

    /// Remove a suspension record whose zone change failed.
    pub async fn discard_suspension(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM suspensions WHERE id = $1 AND lifted_at IS NULL")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The suspension in force for a name, if any.
    pub async fn active_suspension(
        &self,
        zone: &str,
        owner: &str,
    ) -> Result<Option<Suspension>, StoreError> {
        Ok(sqlx::query_as::<_, Suspension>(
            "SELECT * FROM suspensions WHERE zone = $1 AND owner = $2 AND lifted_at IS NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(zone)
        .bind(owner)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every suspension of a name, oldest first.
    pub async fn suspensions(
        &self,
        zone: &str,
        owner: &str,
    ) -> Result<Vec<Suspension>, StoreError> {
        Ok(sqlx::query_as::<_, Suspension>(
            "SELECT * FROM suspensions WHERE zone = $1 AND owner = $2 ORDER BY id",
        )
        .bind(zone)
        .bind(owner)
        .fetch_all(self.pool())
        .await?)
    }

    /// The records a suspension holds out of the zone.
    pub async fn suspended_records(&self, suspension_id: i64) -> Result<Vec<Record>, StoreError> {
        let rows =
            sqlx::query("SELECT owner, rtype, ttl, rdata FROM records WHERE suspension_id = $1")
                .bind(suspension_id)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(record_of).collect()
    }

    /// Mark a suspension lifted.
    pub async fn lift_suspension(
        &self,
        id: i64,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE suspensions SET lifted_by = $2, lifted_at = $3 WHERE id = $1")
            .bind(id)
            .bind(by)
            .bind(ts(now))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
