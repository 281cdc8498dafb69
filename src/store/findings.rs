//! The oversight checker's findings and when each name was last checked.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{OutboxMessage, Store, StoreError, append_audit, enqueue_messages, ts};
use crate::domain::audit::AuditEntry;

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    /// Id.
    pub id: i64,
    /// The zone's apex, absolute.
    pub zone: String,
    /// The name, absolute, lower case.
    pub owner: String,
    /// Its kind (`domain::finding::FindingKind::as_str`).
    pub kind: String,
    /// What was asked and what came back, at the last check that found it.
    pub evidence: String,
    /// When first found.
    pub first_seen: String,
    /// When last found.
    pub last_seen: String,
    /// When a check found it clear.
    pub resolved_at: Option<String>,
    /// The suspension an admin made from it.
    pub suspension_id: Option<i64>,
}

const COLUMNS: &str = "id, zone, owner, kind, evidence, first_seen, last_seen, resolved_at, \
                       suspension_id FROM findings";

fn row(r: &sqlx::any::AnyRow) -> Result<FindingRow, StoreError> {
    Ok(FindingRow {
        id: r.try_get(0)?,
        zone: r.try_get(1)?,
        owner: r.try_get(2)?,
        kind: r.try_get(3)?,
        evidence: r.try_get(4)?,
        first_seen: r.try_get(5)?,
        last_seen: r.try_get(6)?,
        resolved_at: r.try_get(7)?,
        suspension_id: r.try_get(8)?,
    })
}

/// A finding a check made, with what announces it should it be new.
#[derive(Debug, Clone)]
pub struct FoundNow {
    /// Its kind.
    pub kind: &'static str,
    /// The evidence.
    pub evidence: String,
    /// The emails that announce it, queued only if it is new.
    pub messages: Vec<OutboxMessage>,
    /// Its audit entry, appended only if it is new.
    pub audit: AuditEntry,
}

/// What one check of a name found: written in one transaction.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    /// The zone's apex, absolute.
    pub zone: String,
    /// The name, absolute, lower case.
    pub owner: String,
    /// What it found.
    pub found: Vec<FoundNow>,
    /// Open findings it found clear, each with its audit entry.
    pub resolved: Vec<(i64, AuditEntry)>,
    /// Whether the site answered on 80 or 443 (a site that stops answering is a finding; one
    /// that never answered is no site).
    pub web_answered: bool,
}

/// The name's last check, and its site's last answer when it answered.
async fn checked(
    tx: &mut super::zones::Tx<'_>,
    zone: &str,
    owner: &str,
    at: &str,
    web_answered: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO name_checks (owner, zone, checked_at, web_seen_at) \
         VALUES ($1, $2, $3, CASE WHEN $4 = 1 THEN $3 ELSE NULL END) \
         ON CONFLICT (owner) DO UPDATE SET zone = excluded.zone, \
         checked_at = excluded.checked_at, \
         web_seen_at = COALESCE(excluded.web_seen_at, name_checks.web_seen_at)",
    )
    .bind(owner)
    .bind(zone)
    .bind(at)
    .bind(i64::from(web_answered))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Record a check of a name at `now`: its findings (a kind open already is seen again and
    /// keeps its first sighting; a new one is inserted, announced and audited, once however
    /// many checks run at the same moment), the findings it cleared, and the time checked.
    /// Returns the ids of the findings opened.
    pub async fn record_name_check(
        &self,
        check: &CheckRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let at = ts(now);
        let mut tx = self.write().await?;
        let mut opened = Vec::new();
        for f in &check.found {
            // One open finding per name and kind: the partial unique index decides.
            let new: Option<i64> = sqlx::query_scalar(
                "INSERT INTO findings (zone, owner, kind, evidence, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (owner, kind) WHERE resolved_at IS NULL DO NOTHING RETURNING id",
            )
            .bind(&check.zone)
            .bind(&check.owner)
            .bind(f.kind)
            .bind(&f.evidence)
            .bind(&at)
            .fetch_optional(&mut *tx)
            .await?;
            match new {
                Some(id) => {
                    opened.push(id);
                    enqueue_messages(&mut tx, &f.messages, None, now).await?;
                    let mut entry = f.audit.clone();
                    if let Some(map) = entry.summary.as_object_mut() {
                        map.insert("finding".into(), id.into());
                    }
                    entry.target = format!("finding/{id}");
                    append_audit(&mut tx, &entry, now).await?;
                }
                None => {
                    sqlx::query(
                        "UPDATE findings SET last_seen = $1, evidence = $2 \
                         WHERE owner = $3 AND kind = $4 AND resolved_at IS NULL",
                    )
                    .bind(&at)
                    .bind(&f.evidence)
                    .bind(&check.owner)
                    .bind(f.kind)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for (id, audit) in &check.resolved {
            let done: Option<i64> = sqlx::query_scalar(
                "UPDATE findings SET resolved_at = $1 WHERE id = $2 AND resolved_at IS NULL \
                 RETURNING id",
            )
            .bind(&at)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if done.is_some() {
                append_audit(&mut tx, audit, now).await?;
            }
        }
        checked(&mut tx, &check.zone, &check.owner, &at, check.web_answered).await?;
        tx.commit().await?;
        Ok(opened)
    }

    /// Note that a name was checked at `now` and nothing judged (its check ran out of time).
    pub async fn name_checked(
        &self,
        zone: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        checked(&mut tx, zone, owner, &ts(now), false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Close findings (of names that have no records any more), each with its audit entry.
    pub async fn resolve_findings(
        &self,
        findings: &[(i64, AuditEntry)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for (id, audit) in findings {
            let done: Option<i64> = sqlx::query_scalar(
                "UPDATE findings SET resolved_at = $1 WHERE id = $2 AND resolved_at IS NULL \
                 RETURNING id",
            )
            .bind(ts(now))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if done.is_some() {
                append_audit(&mut tx, audit, now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// When the name's site last answered on 80 or 443, if ever.
    pub async fn web_seen_at(&self, owner: &str) -> Result<Option<String>, StoreError> {
        let seen: Option<Option<String>> =
            sqlx::query_scalar("SELECT web_seen_at FROM name_checks WHERE owner = $1")
                .bind(owner)
                .fetch_optional(self.pool())
                .await?;
        Ok(seen.flatten())
    }

    /// The open findings of a name.
    pub async fn open_findings_of(&self, owner: &str) -> Result<Vec<FindingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE owner = $1 AND resolved_at IS NULL ORDER BY id"
        )))
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// A name's findings, open and resolved, the newest `limit` of them, oldest first.
    pub async fn findings_of(
        &self,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<FindingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE owner = $1 ORDER BY id DESC LIMIT $2"
        )))
        .bind(owner)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// Every open finding, by name.
    pub async fn open_findings(&self) -> Result<Vec<FindingRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE resolved_at IS NULL ORDER BY owner, id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// One finding.
    pub async fn finding(&self, id: i64) -> Result<Option<FindingRow>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Note the suspension an admin made from a finding.
    pub async fn finding_suspended(&self, id: i64, suspension_id: i64) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE findings SET suspension_id = $1 WHERE id = $2")
            .bind(suspension_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// When each name was last checked (owner → time), for the names checked at least once.
    pub async fn last_checks(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT owner, checked_at FROM name_checks")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The findings that overlap `[from, to)` (first found before its end, not resolved
    /// before its start): kind, first found, resolved.
    pub async fn findings_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, first_seen, resolved_at FROM findings WHERE first_seen < $2 \
             AND (resolved_at IS NULL OR resolved_at >= $1)",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Open findings by kind.
    pub async fn open_finding_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) FROM findings WHERE resolved_at IS NULL GROUP BY kind",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
