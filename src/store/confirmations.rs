//! The yearly confirmation of each name: when it is due, what the agency said, and the
//! reminders, the mark and the suspension when it does not.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{OutboxMessage, Store, StoreError, append_audit, enqueue_messages, ts};
use crate::domain::audit::AuditEntry;

/// A name's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationRow {
    /// The name, absolute, lower case.
    pub owner: String,
    /// Its zone's apex, absolute.
    pub zone: String,
    /// The agency that held it when its confirmation began.
    pub agency_id: Option<i64>,
    /// The day the confirmation began for it.
    pub tracked_since: String,
    /// The last day to confirm (YYYY-MM-DD).
    pub due_on: String,
    /// When it was last confirmed.
    pub confirmed_at: Option<String>,
    /// By whom (a user's id).
    pub confirmed_by: Option<i64>,
    /// The person responsible then (JSON: name, email, phone).
    pub contact: Option<serde_json::Value>,
    /// What the name is for, as said then.
    pub purpose: Option<String>,
    /// Reminders sent for the confirmation due (days before).
    pub reminded: Vec<i64>,
    /// When it was marked unconfirmed.
    pub marked_at: Option<String>,
    /// The suspension made for the lack of it.
    pub suspension_id: Option<i64>,
}

const COLUMNS: &str = "owner, zone, tracked_since, due_on, confirmed_at, confirmed_by, contact, \
                       purpose, reminded, marked_at, suspension_id, agency_id \
                       FROM name_confirmations";

fn days(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn row(r: &sqlx::any::AnyRow) -> Result<ConfirmationRow, StoreError> {
    let reminded: String = r.try_get(8)?;
    let contact: Option<String> = r.try_get(6)?;
    Ok(ConfirmationRow {
        owner: r.try_get(0)?,
        zone: r.try_get(1)?,
        tracked_since: r.try_get(2)?,
        due_on: r.try_get(3)?,
        confirmed_at: r.try_get(4)?,
        confirmed_by: r.try_get(5)?,
        contact: contact.and_then(|c| serde_json::from_str(&c).ok()),
        purpose: r.try_get(7)?,
        reminded: reminded
            .split(',')
            .filter_map(|d| d.trim().parse().ok())
            .collect(),
        marked_at: r.try_get(9)?,
        suspension_id: r.try_get(10)?,
        agency_id: r.try_get(11)?,
    })
}

impl Store {
    /// Begin the confirmation of names not tracked yet: (zone, owner, agency, first due day),
    /// on `since`.
    pub async fn track_confirmations(
        &self,
        names: &[(String, String, i64, String)],
        since: &str,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        let mut added = 0;
        for (zone, owner, agency, due_on) in names {
            added += sqlx::query(
                "INSERT INTO name_confirmations (owner, zone, tracked_since, due_on, agency_id) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner) DO NOTHING",
            )
            .bind(owner)
            .bind(zone)
            .bind(since)
            .bind(due_on)
            .bind(agency)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(usize::try_from(added).unwrap_or(usize::MAX))
    }

    /// Every name's confirmation, by name.
    pub async fn confirmations(&self) -> Result<Vec<ConfirmationRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} ORDER BY owner"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// One name's confirmation.
    pub async fn confirmation(&self, owner: &str) -> Result<Option<ConfirmationRow>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE owner = $1"
        )))
        .bind(owner)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Start a name's confirmation over from `due_on` (an admin lifted the suspension made for
    /// the lack of it: the agency gets a new notice period), with its audit entry.
    pub async fn restart_confirmation(
        &self,
        row: &ConfirmationRow,
        due_on: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE name_confirmations SET due_on = $1, reminded = '', marked_at = NULL, \
             suspension_id = NULL WHERE owner = $2 AND suspension_id = $3",
        )
        .bind(due_on)
        .bind(&row.owner)
        .bind(row.suspension_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            append_audit(&mut tx, audit, now).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Forget the confirmations of names that have no records any more (or changed hands).
    pub async fn forget_confirmations(&self, owners: &[String]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for owner in owners {
            sqlx::query("DELETE FROM name_confirmations WHERE owner = $1")
                .bind(owner)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record a confirmation: what was said, by whom, the next due day; the reminders and the
    /// mark start over. With its audit entry.
    #[allow(clippy::too_many_arguments)]
    pub async fn confirm_name(
        &self,
        zone: &str,
        owner: &str,
        agency_id: Option<i64>,
        by: i64,
        contact: &serde_json::Value,
        purpose: &str,
        (today, next_due): (&str, &str),
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO name_confirmations (owner, zone, tracked_since, due_on, confirmed_at, \
             confirmed_by, contact, purpose, agency_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (owner) DO UPDATE SET zone = excluded.zone, due_on = excluded.due_on, \
             confirmed_at = excluded.confirmed_at, confirmed_by = excluded.confirmed_by, \
             contact = excluded.contact, purpose = excluded.purpose, reminded = '', \
             marked_at = NULL, suspension_id = NULL, agency_id = excluded.agency_id",
        )
        .bind(owner)
        .bind(zone)
        .bind(today)
        .bind(next_due)
        .bind(ts(now))
        .bind(by)
        .bind(contact.to_string())
        .bind(purpose)
        .bind(agency_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a step for a name's confirmation due (a reminder, the mark, the suspension),
    /// queue its emails and append its audit entry, unless the name was confirmed meanwhile
    /// (its due day moved).
    #[allow(clippy::too_many_arguments)]
    pub async fn confirmation_step(
        &self,
        row: &ConfirmationRow,
        reminded: &[i64],
        marked: bool,
        suspension_id: Option<i64>,
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        // Each step once: a reminder moves `reminded`; the mark needs none yet; the
        // suspension needs none held yet.
        let done = sqlx::query(
            "UPDATE name_confirmations SET reminded = $1, \
             marked_at = CASE WHEN $2 = 1 THEN COALESCE(marked_at, $3) ELSE marked_at END, \
             suspension_id = COALESCE($4, suspension_id) \
             WHERE owner = $5 AND due_on = $6 AND reminded = $7 \
             AND ($2 = 0 OR $4 IS NOT NULL OR marked_at IS NULL) \
             AND ($4 IS NULL OR suspension_id IS NULL)",
        )
        .bind(days(reminded))
        .bind(i64::from(marked))
        .bind(ts(now))
        .bind(suspension_id)
        .bind(&row.owner)
        .bind(&row.due_on)
        .bind(days(&row.reminded))
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
}
