//! Complaints (pengaduan): what was said and by whom, and each step of their handling, written
//! with its audit entry and its emails in one transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{OutboxMessage, Store, StoreError, append_audit, enqueue_messages, ts};
use crate::domain::audit::AuditEntry;

/// A complaint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintRow {
    /// Its number.
    pub id: i64,
    /// `light`, `normative`, `non_supervisory` or `supervisory`.
    pub category: String,
    /// `received`, `assigned`, `answered` or `closed`.
    pub status: String,
    /// What it is about, in a line.
    pub subject: String,
    /// The complaint.
    pub body: String,
    /// A subdomain or request it concerns.
    pub about: Option<String>,
    /// Who complains.
    pub complainant_name: String,
    /// Where the answer goes.
    pub complainant_email: String,
    /// A telephone number.
    pub complainant_phone: Option<String>,
    /// The account that submitted it; `None` for the public.
    pub submitted_by: Option<i64>,
    /// When received.
    pub received_at: String,
    /// When the answer is due.
    pub due_at: String,
    /// To whom it was given (a user's id) and that user's name.
    pub assigned_to: Option<(i64, String)>,
    /// When given.
    pub assigned_at: Option<String>,
    /// The answer.
    pub answer: Option<String>,
    /// When answered.
    pub answered_at: Option<String>,
    /// By whom (a user's name).
    pub answered_by: Option<String>,
    /// When closed.
    pub closed_at: Option<String>,
    /// When it was marked overdue.
    pub overdue_at: Option<String>,
}

/// A complaint to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaint {
    /// Its category.
    pub category: String,
    /// Its subject.
    pub subject: String,
    /// The complaint.
    pub body: String,
    /// What it concerns.
    pub about: Option<String>,
    /// Who complains.
    pub name: String,
    /// Where the answer goes.
    pub email: String,
    /// A telephone number.
    pub phone: Option<String>,
    /// The submitting account.
    pub submitted_by: Option<i64>,
    /// The challenge of its proof of work (spent once).
    pub proof: Option<String>,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// When the answer is due.
    pub due_at: DateTime<Utc>,
}

/// What a step changes in a complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComplaintChange {
    /// Given to a user, perhaps in another category with another due time.
    Assign {
        /// The user.
        to: i64,
        /// The category.
        category: String,
        /// The due time.
        due_at: DateTime<Utc>,
    },
    /// Answered by a user.
    Answer {
        /// The answer.
        text: String,
        /// By whom.
        by: i64,
    },
    /// Closed.
    Close,
}

/// A page of the complaints list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplaintFilter {
    /// Only these statuses (none: every one).
    pub statuses: Vec<String>,
    /// Only those a user submitted.
    pub submitted_by: Option<i64>,
    /// Only those given to a user.
    pub assigned_to: Option<i64>,
    /// Newest first, below this number (paging).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

const COLUMNS: &str = "c.id, c.category, c.status, c.subject, c.body, c.about, c.complainant_name, \
     c.complainant_email, c.complainant_phone, c.submitted_by, c.received_at, c.due_at, \
     c.assigned_to, a.name, c.assigned_at, c.answer, c.answered_at, b.name, c.closed_at, \
     c.overdue_at FROM complaints c LEFT JOIN users a ON a.id = c.assigned_to \
     LEFT JOIN users b ON b.id = c.answered_by";

fn row(r: &sqlx::any::AnyRow) -> Result<ComplaintRow, StoreError> {
    let assigned: Option<i64> = r.try_get(12)?;
    let assignee: Option<String> = r.try_get(13)?;
    Ok(ComplaintRow {
        id: r.try_get(0)?,
        category: r.try_get(1)?,
        status: r.try_get(2)?,
        subject: r.try_get(3)?,
        body: r.try_get(4)?,
        about: r.try_get(5)?,
        complainant_name: r.try_get(6)?,
        complainant_email: r.try_get(7)?,
        complainant_phone: r.try_get(8)?,
        submitted_by: r.try_get(9)?,
        received_at: r.try_get(10)?,
        due_at: r.try_get(11)?,
        assigned_to: assigned.map(|id| (id, assignee.unwrap_or_default())),
        assigned_at: r.try_get(14)?,
        answer: r.try_get(15)?,
        answered_at: r.try_get(16)?,
        answered_by: r.try_get(17)?,
        closed_at: r.try_get(18)?,
        overdue_at: r.try_get(19)?,
    })
}

impl Store {
    /// Store a complaint with what `announce` makes of its number: its emails and its audit
    /// entry, in one transaction. `None` when its proof of work was spent before.
    pub async fn insert_complaint(
        &self,
        c: &NewComplaint,
        announce: impl FnOnce(i64) -> (Vec<OutboxMessage>, AuditEntry),
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO complaints (category, status, subject, body, about, complainant_name, \
             complainant_email, complainant_phone, submitted_by, proof, received_at, due_at) \
             VALUES ($1, 'received', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (proof) DO NOTHING RETURNING id",
        )
        .bind(&c.category)
        .bind(&c.subject)
        .bind(&c.body)
        .bind(&c.about)
        .bind(&c.name)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(c.submitted_by)
        .bind(&c.proof)
        .bind(ts(c.received_at))
        .bind(ts(c.due_at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let (messages, audit) = announce(id);
        enqueue_messages(&mut tx, &messages, None, c.received_at).await?;
        append_audit(&mut tx, &audit, c.received_at).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// One complaint.
    pub async fn complaint(&self, id: i64) -> Result<Option<ComplaintRow>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE c.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Complaints, newest first.
    pub async fn complaints(&self, f: &ComplaintFilter) -> Result<Vec<ComplaintRow>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if !f.statuses.is_empty() {
            let marks: Vec<String> = f.statuses.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND c.status IN ({})", marks.join(", ")));
        }
        if f.submitted_by.is_some() {
            sql.push_str(&format!(" AND c.submitted_by = {}", next()));
        }
        if f.assigned_to.is_some() {
            sql.push_str(&format!(" AND c.assigned_to = {}", next()));
        }
        if f.before.is_some() {
            sql.push_str(&format!(" AND c.id < {}", next()));
        }
        sql.push_str(&format!(" ORDER BY c.id DESC LIMIT {}", next()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in &f.statuses {
            q = q.bind(s);
        }
        if let Some(u) = f.submitted_by {
            q = q.bind(u);
        }
        if let Some(u) = f.assigned_to {
            q = q.bind(u);
        }
        if let Some(b) = f.before {
            q = q.bind(b);
        }
        let rows = q.bind(f.limit).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }

    /// Take a step on complaint `id` from `status` (if it is still in it) to `next`: the
    /// change, its emails and its audit entry in one transaction. `false` when someone else
    /// took a step first.
    pub async fn complaint_step(
        &self,
        id: i64,
        (status, next): (&str, &str),
        change: &ComplaintChange,
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let at = ts(now);
        let done = match change {
            ComplaintChange::Assign {
                to,
                category,
                due_at,
            } => {
                sqlx::query(
                    "UPDATE complaints SET status = $1, assigned_to = $2, assigned_at = $3, \
                     category = $4, due_at = $5, \
                     overdue_at = CASE WHEN due_at = $5 THEN overdue_at ELSE NULL END \
                     WHERE id = $6 AND status = $7",
                )
                .bind(next)
                .bind(to)
                .bind(&at)
                .bind(category)
                .bind(ts(*due_at))
                .bind(id)
                .bind(status)
                .execute(&mut *tx)
                .await?
            }
            ComplaintChange::Answer { text, by } => {
                sqlx::query(
                    "UPDATE complaints SET status = $1, answer = $2, answered_at = $3, \
                     answered_by = $4 WHERE id = $5 AND status = $6",
                )
                .bind(next)
                .bind(text)
                .bind(&at)
                .bind(by)
                .bind(id)
                .bind(status)
                .execute(&mut *tx)
                .await?
            }
            ComplaintChange::Close => sqlx::query(
                "UPDATE complaints SET status = $1, closed_at = $2 WHERE id = $3 AND status = $4",
            )
            .bind(next)
            .bind(&at)
            .bind(id)
            .bind(status)
            .execute(&mut *tx)
            .await?,
        }
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        enqueue_messages(&mut tx, messages, None, now).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Complaints waiting for an answer past their due time and not marked yet.
    pub async fn complaints_overdue(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ComplaintRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} WHERE c.status IN ('received', 'assigned') AND c.due_at < $1 \
             AND c.overdue_at IS NULL ORDER BY c.id LIMIT 1000"
        )))
        .bind(ts(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }

    /// Mark a complaint overdue, once, with its emails and audit entry.
    pub async fn mark_complaint_overdue(
        &self,
        id: i64,
        messages: &[OutboxMessage],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE complaints SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL \
             AND status IN ('received', 'assigned')",
        )
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        enqueue_messages(&mut tx, messages, None, now).await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Complaints the month `[from, to)` counts: received before its end and not answered
    /// and closed before its start. (category, received, due, answered, closed).
    #[allow(clippy::type_complexity)]
    pub async fn complaints_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, String, String, Option<String>, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT category, received_at, due_at, answered_at, closed_at FROM complaints \
             WHERE received_at < $1 AND (closed_at IS NULL OR closed_at >= $2 \
             OR answered_at >= $2) ORDER BY id",
        )
        .bind(ts(to))
        .bind(ts(from))
        .fetch_all(self.pool())
        .await?)
    }

    /// Complaints waiting for an answer, by category, and how many of them are past due at
    /// `now` (for the metrics).
    pub async fn open_complaints(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT category, COUNT(*), SUM(CASE WHEN due_at < $1 THEN 1 ELSE 0 END) \
             FROM complaints WHERE status IN ('received', 'assigned') GROUP BY category",
        )
        .bind(ts(now))
        .fetch_all(self.pool())
        .await?)
    }

    /// Public complaints received since `since` (the daily cap).
    pub async fn public_complaints_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM complaints WHERE submitted_by IS NULL AND received_at >= $1",
        )
        .bind(ts(since))
        .fetch_one(self.pool())
        .await?)
    }
}
