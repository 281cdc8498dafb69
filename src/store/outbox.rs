//! The outbox: messages written with the change they announce, delivered later.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::zones::Tx;
use super::{Store, StoreError, ts};
use crate::domain::access::Grant;

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// Email address, or the webhook's URL.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// An attached file from the attachments store: its SHA-256 and file name.
    pub attachment: Option<(String, String)>,
}

impl OutboxMessage {
    /// An email without an attachment.
    pub fn email(recipient: impl Into<String>, subject: String, body: String) -> Self {
        Self {
            channel: "email",
            recipient: recipient.into(),
            subject,
            body,
            attachment: None,
        }
    }
}

/// A queued message, as the sender reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Id.
    pub id: i64,
    /// `email` or `webhook`.
    pub channel: String,
    /// Email address, or the webhook's URL.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Attempts so far.
    pub attempts: u32,
    /// An attached file: its SHA-256 and file name.
    pub attachment: Option<(String, String)>,
}

/// In a queued message's subject and body, this (with its quotes) becomes the request's number:
/// a submission's messages are made before the insert assigns it.
pub const REQUEST_ID_PLACEHOLDER: &str = "\"{{request_id}}\"";

/// Queue messages in the caller's transaction.
pub(crate) async fn enqueue(
    tx: &mut Tx<'_>,
    messages: &[OutboxMessage],
    request_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for m in messages {
        let fill = |text: &str| match request_id {
            Some(id) => text.replace(REQUEST_ID_PLACEHOLDER, &id.to_string()),
            None => text.to_owned(),
        };
        sqlx::query(
            "INSERT INTO outbox (channel, recipient, subject, body, request_id, created_at, \
             next_attempt_at, attachment_sha256, attachment_name) \
             VALUES ($6, $1, $2, $3, $4, $5, $5, $7, $8)",
        )
        .bind(&m.recipient)
        .bind(fill(&m.subject))
        .bind(fill(&m.body))
        .bind(request_id)
        .bind(ts(now))
        .bind(m.channel)
        .bind(m.attachment.as_ref().map(|a| a.0.clone()))
        .bind(m.attachment.as_ref().map(|a| a.1.clone()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Claim a due message for one attempt until `until`: false when it is not due any more
    /// (sent, or claimed by another worker meanwhile: two instances that both believe they
    /// lead for a moment never deliver it twice). A claim that is never settled (the worker
    /// died mid-attempt) lapses at `until`, and the message is due again.
    pub async fn claim_message(
        &self,
        id: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $3 WHERE id = $1 AND sent_at IS NULL \
             AND next_attempt_at <= $2",
        )
        .bind(id)
        .bind(ts(now))
        .bind(ts(until))
        .execute(self.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Messages due for (another) attempt, oldest first.
    pub async fn due_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, channel, recipient, subject, body, attempts, attachment_sha256, \
             attachment_name FROM outbox WHERE sent_at IS NULL \
             AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(ts(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QueuedMessage {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(0),
                    attachment: match (
                        r.try_get::<Option<String>, _>("attachment_sha256")?,
                        r.try_get::<Option<String>, _>("attachment_name")?,
                    ) {
                        (Some(sha), Some(name)) => Some((sha, name)),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    /// A message went out.
    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET sent_at = $2, attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .bind(ts(now))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An attempt failed: try again at `next`.
    pub async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        next: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(ts(next))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Unsent messages, and how many of them have failed at least once.
    pub async fn outbox_backlog(&self) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS failing FROM outbox \
             WHERE sent_at IS NULL",
        )
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("pending")?, row.try_get("failing")?))
    }

    /// The enabled users with an email address who were granted `role`, each with their grants
    /// of it (whether it is in effect on a day is the caller's to decide); one query.
    pub async fn holders_of(&self, role: &str) -> Result<Vec<(String, Vec<Grant>)>, StoreError> {
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT u.id, u.email, r.valid_from, r.valid_until FROM users u \
             JOIN user_roles r ON r.user_id = u.id \
             WHERE r.role = $1 AND u.disabled = 0 AND u.email IS NOT NULL AND u.email <> '' \
             ORDER BY u.email, u.id",
        )
        .bind(role)
        .fetch_all(self.pool())
        .await?;
        let parsed = crate::domain::access::Role::parse(role)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let date = |d: Option<String>| -> Result<Option<chrono::NaiveDate>, StoreError> {
            d.map(|d| {
                d.parse()
                    .map_err(|_| StoreError::Corrupt(format!("role date {d}")))
            })
            .transpose()
        };
        let mut out: Vec<(i64, String, Vec<Grant>)> = Vec::new();
        for (id, email, from, until) in rows {
            let grant = Grant {
                role: parsed.clone(),
                from: date(from)?,
                until: date(until)?,
            };
            match out.last_mut() {
                Some((last, _, grants)) if *last == id => grants.push(grant),
                _ => out.push((id, email, vec![grant])),
            }
        }
        Ok(out.into_iter().map(|(_, e, g)| (e, g)).collect())
    }
}
