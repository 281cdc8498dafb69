//! Names given for a time: their last day and how far their ending has gone.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{OutboxMessage, Store, StoreError, append_audit, enqueue_messages, ts};
use crate::domain::audit::AuditEntry;

/// A stored term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermRow {
    /// The name, absolute, lower case.
    pub owner: String,
    /// Its zone's apex, absolute.
    pub zone: String,
    /// The last day served (YYYY-MM-DD).
    pub ends_on: String,
    /// The agency that held the name when it was set.
    pub agency_id: Option<i64>,
    /// Who set it.
    pub set_by: i64,
    /// When.
    pub set_at: String,
    /// Notices sent (days before the end).
    pub notified: Vec<i64>,
    /// The suspension at the end.
    pub suspension_id: Option<i64>,
    /// When the name was removed.
    pub removed_at: Option<String>,
}

const COLUMNS: &str = "owner, zone, ends_on, set_by, set_at, notified, suspension_id, \
                       removed_at, agency_id FROM name_terms";

fn row(r: &sqlx::any::AnyRow) -> Result<TermRow, StoreError> {
    let notified: String = r.try_get(5)?;
    Ok(TermRow {
        owner: r.try_get(0)?,
        zone: r.try_get(1)?,
        ends_on: r.try_get(2)?,
        set_by: r.try_get(3)?,
        set_at: r.try_get(4)?,
        notified: notified
            .split(',')
            .filter_map(|d| d.trim().parse().ok())
            .collect(),
        suspension_id: r.try_get(6)?,
        removed_at: r.try_get(7)?,
        agency_id: r.try_get(8)?,
    })
}

impl Store {
    /// Set (or move) a name's last day, with its audit entry: the notices and the ending start
    /// over.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_term(
        &self,
        zone: &str,
        owner: &str,
        ends_on: &str,
        agency_id: Option<i64>,
        by: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO name_terms (owner, zone, ends_on, set_by, set_at, notified, agency_id) \
             VALUES ($1, $2, $3, $4, $5, '', $6) \
             ON CONFLICT (owner) DO UPDATE SET zone = excluded.zone, ends_on = excluded.ends_on, \
             set_by = excluded.set_by, set_at = excluded.set_at, notified = '', \
             suspension_id = NULL, removed_at = NULL, agency_id = excluded.agency_id",
        )
        .bind(owner)
        .bind(zone)
        .bind(ends_on)
        .bind(by)
        .bind(ts(now))
        .bind(agency_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Take away the term `term` (as read: one set again meanwhile stays), with its audit
    /// entry: the name lost its records, changed hands, or its suspension was lifted.
    pub async fn drop_term(
        &self,
        term: &TermRow,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "DELETE FROM name_terms WHERE owner = $1 AND set_at = $2 AND removed_at IS NULL",
        )
        .bind(&term.owner)
        .bind(&term.set_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            append_audit(&mut tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Take a name's last day away, with its audit entry; false when it had none.
    pub async fn clear_term(
        &self,
        owner: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM name_terms WHERE owner = $1 AND removed_at IS NULL")
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done > 0 {
            append_audit(&mut tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// A name's term, if it has one.
    pub async fn term(&self, owner: &str) -> Result<Option<TermRow>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE owner = $1"
        )))
        .bind(owner)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// The terms whose ending is not over.
    pub async fn live_terms(&self) -> Result<Vec<TermRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE removed_at IS NULL ORDER BY ends_on, owner"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Record a notice sent (the days it stands for), queue its emails and its audit entry,
    /// unless the term changed meanwhile (another end date set).
    pub async fn term_notified(
        &self,
        term: &TermRow,
        notified: &[i64],
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let text = notified
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let done = sqlx::query(
            "UPDATE name_terms SET notified = $1 WHERE owner = $2 AND set_at = $3 \
             AND notified = $4 AND removed_at IS NULL",
        )
        .bind(text)
        .bind(&term.owner)
        .bind(&term.set_at)
        .bind(
            term.notified
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            enqueue_messages(&mut tx, messages, None, now).await?;
            append_audit(&mut tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Note the suspension made at the end of `term` (as read), queue its emails and append
    /// its audit entry; false
    /// when the term was set again or taken away meanwhile (the caller undoes the suspension).
    pub async fn term_suspended(
        &self,
        term: &TermRow,
        suspension_id: i64,
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE name_terms SET suspension_id = $1 WHERE owner = $2 AND set_at = $3 \
             AND suspension_id IS NULL AND removed_at IS NULL",
        )
        .bind(suspension_id)
        .bind(&term.owner)
        .bind(&term.set_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            enqueue_messages(&mut tx, messages, None, now).await?;
            append_audit(&mut tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Remove a name whose term ended and whose grace period passed: its records, held out
    /// of the zone by the suspension, are deleted (nothing served changes), the suspension
    /// closed, the term marked removed; with the audit entry and the emails, in one
    /// transaction; the name's certificate withdrawn with them (`certificate`: its name, as
    /// read, its next state, the audit entry). False when the suspension is not the active one
    /// any more (lifted) or the term changed.
    #[allow(clippy::too_many_arguments)]
    pub async fn remove_ended(
        &self,
        term: &TermRow,
        suspension_id: i64,
        certificate: Option<(
            &str,
            super::CertGuard,
            crate::domain::certificate::CertStatus,
            &AuditEntry,
        )>,
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT set_at FROM name_terms WHERE owner = $1 AND removed_at IS NULL",
        )
        .bind(&term.owner)
        .fetch_optional(&mut *tx)
        .await?;
        if current.as_deref() != Some(term.set_at.as_str()) {
            tx.commit().await?;
            return Ok(false);
        }
        let active: Option<i64> =
            sqlx::query_scalar("SELECT id FROM suspensions WHERE id = $1 AND lifted_at IS NULL")
                .bind(suspension_id)
                .fetch_optional(&mut *tx)
                .await?;
        if active.is_none() {
            tx.commit().await?;
            return Ok(false);
        }
        let removed = sqlx::query("DELETE FROM records WHERE suspension_id = $1")
            .bind(suspension_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // The suspension ends with what it held (by ranah: no person lifted it): the name may
        // be asked for again.
        sqlx::query("UPDATE suspensions SET lifted_at = $1, lifted_by = NULL WHERE id = $2")
            .bind(ts(now))
            .bind(suspension_id)
            .execute(&mut *tx)
            .await?;
        if let Some((name, guard, to, audit)) = certificate {
            super::certificates::withdraw(&mut tx, name, guard, to, audit, now).await?;
        }
        sqlx::query("UPDATE name_terms SET removed_at = $1 WHERE owner = $2")
            .bind(ts(now))
            .bind(&term.owner)
            .execute(&mut *tx)
            .await?;
        let mut entry = audit.clone();
        if let Some(map) = entry.summary.as_object_mut() {
            map.insert("records".into(), removed.into());
        }
        append_audit(&mut tx, &entry, now).await?;
        enqueue_messages(&mut tx, messages, None, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
