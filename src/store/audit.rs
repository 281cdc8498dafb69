//! The audit trail in the store: appended inside the transaction of the change it records,
//! read back for the API and checked with [`crate::domain::audit::verify`].

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::known::Known;
use super::zones::Tx;
use super::{Store, StoreError, ts};
use crate::domain::audit::{self, AuditEntry, AuditEvent, GENESIS, Verification};

/// Filters of the trail's listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events on this target (`request/42`).
    pub target: Option<String>,
    /// By this actor.
    pub actor: Option<String>,
    /// This action.
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// Events after this sequence number (paging).
    pub after_seq: i64,
    /// At most this many.
    pub limit: i64,
}

fn event_from_row(r: &sqlx::any::AnyRow) -> Result<AuditEvent, StoreError> {
    let summary: String = r.try_get("summary")?;
    Ok(AuditEvent {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        role: r.try_get("role")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        // A summary that no longer parses is kept as a string: verify then reports the break.
        summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::String(summary)),
        note: r.try_get("note")?,
        client: r.try_get("client")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Append an event in the caller's transaction; returns it (its hash is the new head).
pub(crate) async fn append(
    tx: &mut Tx<'_>,
    entry: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<AuditEvent, StoreError> {
    append_known(tx, &mut Known::default(), entry, now).await
}

/// [`append`], after the head `known` holds when this transaction wrote it (else read), and
/// keeping the new head there.
pub(crate) async fn append_known(
    tx: &mut Tx<'_>,
    known: &mut Known,
    entry: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<AuditEvent, StoreError> {
    // Taken: if this append fails, the next one reads the head again.
    let (seq, prev_hash) = match known.audit_head.take() {
        Some((seq, hash)) => (seq + 1, hash),
        None => {
            let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
            match last {
                Some(r) => (r.try_get::<i64, _>("seq")? + 1, r.try_get("hash")?),
                None => (1, GENESIS.to_owned()),
            }
        }
    };
    let event = entry.chain(seq, prev_hash, ts(now));
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor, role, action, target, summary, note, client, \
         prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(event.seq)
    .bind(&event.at)
    .bind(&event.actor)
    .bind(&event.role)
    .bind(&event.action)
    .bind(&event.target)
    .bind(event.summary.to_string())
    .bind(&event.note)
    .bind(&event.client)
    .bind(&event.prev_hash)
    .bind(&event.hash)
    .execute(&mut **tx)
    .await?;
    known.audit_head = Some((event.seq, event.hash.clone()));
    Ok(event)
}

impl Store {
    /// Append one event on its own (for actions without another write).
    pub async fn audit(
        &self,
        entry: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<AuditEvent, StoreError> {
        // The write transaction waits for every other writer: two appenders cannot pick the
        // same sequence.
        let mut tx = self.write().await?;
        let event = append(&mut tx, entry, now).await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Events matching `filter`, in sequence order.
    pub async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_events WHERE seq > $1 \
             AND ($2 IS NULL OR target = $2) AND ($3 IS NULL OR actor = $3) \
             AND ($4 IS NULL OR action = $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at < $6) ORDER BY seq LIMIT $7",
        )
        .bind(filter.after_seq)
        .bind(&filter.target)
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.since)
        .bind(&filter.until)
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The last event before `t`: its sequence number and hash (the head at that time).
    pub async fn audit_head_before(
        &self,
        t: DateTime<Utc>,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(ts(t))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((r.try_get("seq")?, r.try_get("hash")?)))
            .transpose()
    }

    /// How many events of each of `actions` the trail holds in `[from, to)`.
    pub async fn audit_actions_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        actions: &[&str],
    ) -> Result<std::collections::BTreeMap<String, usize>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for action in actions {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND at >= $2 AND at < $3",
            )
            .bind(*action)
            .bind(ts(from))
            .bind(ts(to))
            .fetch_one(self.pool())
            .await?;
            out.insert((*action).to_owned(), usize::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Number of events (the last sequence number).
    pub async fn audit_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_events")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Check the whole chain, in stored order.
    pub async fn verify_audit(&self) -> Result<Verification, StoreError> {
        // By sequence (SQLite's rowid is the sequence itself): rows whose order was changed
        // break the chain, since each event's hash covers the one before it.
        let rows = sqlx::query("SELECT * FROM audit_events ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(audit::verify(&events))
    }

    /// Whether the event `seq` exists with this hash (an anchor seen earlier is in the chain).
    pub async fn audit_has(&self, seq: i64, hash: &str) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
                .bind(seq)
                .fetch_optional(self.pool())
                .await?;
        Ok(found.as_deref() == Some(hash))
    }
}

/// A signed checkpoint of the trail's head.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checkpoint {
    /// `daily` or `monthly`.
    pub kind: String,
    /// The date or month.
    pub label: String,
    /// The head's sequence number.
    pub seq: i64,
    /// The head's hash.
    pub hash: String,
    /// When it was signed.
    pub signed_at: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// Signature over [`crate::domain::audit::checkpoint_text`], hex.
    pub signature: String,
}

impl Store {
    /// Keep a checkpoint; `false` when one of that kind and label exists already.
    pub async fn save_checkpoint(&self, c: &Checkpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (kind, label, seq, hash, signed_at, public_key, \
             signature) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, label) DO NOTHING",
        )
        .bind(&c.kind)
        .bind(&c.label)
        .bind(c.seq)
        .bind(&c.hash)
        .bind(&c.signed_at)
        .bind(&c.public_key)
        .bind(&c.signature)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The checkpoint of this kind and label.
    pub async fn checkpoint(
        &self,
        kind: &str,
        label: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self
            .checkpoints()
            .await?
            .into_iter()
            .find(|c| c.kind == kind && c.label == label))
    }

    /// Every checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    kind: r.try_get("kind")?,
                    label: r.try_get("label")?,
                    seq: r.try_get("seq")?,
                    hash: r.try_get("hash")?,
                    signed_at: r.try_get("signed_at")?,
                    public_key: r.try_get("public_key")?,
                    signature: r.try_get("signature")?,
                })
            })
            .collect()
    }

    /// The current head: the last event's sequence number and hash.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((r.try_get("seq")?, r.try_get("hash")?)))
            .transpose()
    }
}
