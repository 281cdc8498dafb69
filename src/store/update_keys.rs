//! The TSIG keys of dynamic update: each stored with its secret sealed (the caller seals and
//! opens), its agency, and when it was made, last used and revoked.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;

use super::{Store, StoreError, append_audit};
use crate::domain::audit::AuditEntry;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stored update key; its secret is still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateKeyRow {
    /// Id.
    pub id: i64,
    /// The key's name, lower case, without the final dot.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// The sealed secret.
    pub sealed: Vec<u8>,
    /// The agency's id, for an agency's key.
    pub agency_id: Option<i64>,
    /// The agency's code.
    pub agency: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// When it was last used for an accepted update.
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

const COLUMNS: &str = "k.id, k.name, k.algorithm, k.secret, k.agency_id, a.code, \
                       k.created_at, k.last_used_at, k.revoked_at \
                       FROM update_keys k LEFT JOIN agencies a ON a.id = k.agency_id";

fn row(r: &sqlx::any::AnyRow) -> Result<UpdateKeyRow, StoreError> {
    Ok(UpdateKeyRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        algorithm: r.try_get(2)?,
        sealed: r.try_get(3)?,
        agency_id: r.try_get(4)?,
        agency: r.try_get(5)?,
        created_at: r.try_get(6)?,
        last_used_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
    })
}

impl Store {
    /// Store a new key with its audit entry (the summary gets the key's id as `key_id`).
    /// A name taken already, by a live or a revoked key, is a conflict: a name once given
    /// never means another secret.
    pub async fn create_update_key(
        &self,
        name: &str,
        algorithm: &str,
        sealed: &[u8],
        agency_id: Option<i64>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM update_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "an update key named {name}"
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO update_keys (name, algorithm, secret, agency_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(algorithm)
        .bind(sealed)
        .bind(agency_id)
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await?;
        let mut entry = audit.clone();
        if let Some(map) = entry.summary.as_object_mut() {
            map.insert("key_id".into(), id.into());
        }
        append_audit(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every key, live and revoked, by name.
    pub async fn update_keys(&self) -> Result<Vec<UpdateKeyRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} ORDER BY k.name"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// The live (unrevoked) key of this name.
    pub async fn live_update_key(&self, name: &str) -> Result<Option<UpdateKeyRow>, StoreError> {
        // Only constants are spliced in; the name is bound.
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE k.name = $1 AND k.revoked_at IS NULL"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Revoke a live key, with its audit entry: it verifies nothing from now on.
    pub async fn revoke_update_key(
        &self,
        name: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE update_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("live update key {name}")));
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Note that a key made an accepted update (shown by `ranah key list`: keys never used
    /// are candidates for revocation).
    pub async fn touch_update_key(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE update_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(ts(now))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The agencies whose served records stand at each of these names of a zone (`names`
    /// lower case and absolute, at most a few hundred; the caller lists each name's
    /// ancestors below the apex and picks the closest). Names beginning with `_` are left
    /// out: records at a challenge's name never make it anyone's.
    pub async fn holders(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT DISTINCT r.owner, r.agency_id FROM records r JOIN zones z ON z.id = r.zone_id \
             WHERE z.name = $1 AND r.agency_id IS NOT NULL AND r.suspension_id IS NULL \
             AND r.owner NOT LIKE '\\_%' ESCAPE '\\' AND r.owner IN ({})",
            placeholders.join(", ")
        );
        // Only numbered placeholders are spliced in; every name is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(zone);
        for n in names {
            query = query.bind(n);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    /// The agency (or none) of every record at each of these names of a zone that has
    /// records (`names` absolute, lower case, a few hundred at most).
    pub async fn agencies_at(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        let mut out = Vec::new();
        for chunk in names.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            // Only numbered placeholders are spliced in; every name is bound.
            let sql = format!(
                "SELECT DISTINCT r.owner, r.agency_id FROM records r \
                 JOIN zones z ON z.id = r.zone_id WHERE z.name = $1 AND r.owner IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(zone);
            for n in chunk {
                query = query.bind(n);
            }
            for r in query.fetch_all(self.pool()).await? {
                out.push((r.try_get::<String, _>(0)?, r.try_get::<Option<i64>, _>(1)?));
            }
        }
        Ok(out)
    }

    /// Which of these names of a zone are suspended now.
    pub async fn suspended_among(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for chunk in names.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            // Only numbered placeholders are spliced in; every name is bound.
            let sql = format!(
                "SELECT DISTINCT owner FROM suspensions WHERE zone = $1 AND lifted_at IS NULL \
                 AND owner IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(zone);
            for n in chunk {
                query = query.bind(n);
            }
            out.extend(query.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    /// How many `_acme-challenge` names hold records of this agency.
    pub async fn challenge_names_of(&self, agency_id: i64) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT owner) FROM records \
             WHERE agency_id = $1 AND owner LIKE '\\_acme-challenge.%' ESCAPE '\\'",
        )
        .bind(agency_id)
        .fetch_one(self.pool())
        .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
