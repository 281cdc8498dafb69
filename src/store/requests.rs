//! Subdomain requests and their append-only history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hickory_proto::rr::Name;
use sqlx::Row;

use super::flag;
use super::known::Known;
use super::zones::{Tx, write_change};
use super::{
    ChangeMeta, OutboxMessage, Store, StoreError, append_audit, append_audit_known,
    enqueue_messages, ts,
};
use crate::domain::audit::AuditEntry;
use crate::domain::request::{Kind, Request, Status};
use crate::zone::ZoneDiff;

/// The fields of a request that the workflow does not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestData {
    /// Create, change or delete.
    pub kind: Kind,
    /// The zone's apex, without the trailing dot.
    pub zone: String,
    /// The label under the zone.
    pub name: String,
    /// The requested records, JSON `[{"type", "value", "ttl"}]`.
    pub records: serde_json::Value,
    /// Contact person, JSON `{"name", "email", "phone"}`.
    pub contact: serde_json::Value,
    /// What the subdomain is for.
    pub purpose: String,
    /// Reference of the recommendation letter.
    pub recommendation_ref: Option<String>,
    /// Whether a certificate is wanted.
    pub certificate: bool,
    /// The workflow's name when submitted.
    pub workflow: String,
    /// For a request an integration's write opened: that write (JSON), provisioned as a change
    /// on the name as it stands then rather than as the whole set.
    pub integration_write: Option<serde_json::Value>,
    /// How the request letter arrived and what it states, when the front office said.
    pub letter: Option<crate::domain::letter::IncomingLetter>,
}

impl RequestData {
    /// The fully qualified name, lower case, without the trailing dot (a certificate's key).
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.name, self.zone).to_ascii_lowercase()
    }
}

/// A stored request.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    /// Id.
    pub id: i64,
    /// Its data.
    pub data: RequestData,
    /// Its workflow state.
    pub state: Request,
    /// The agency's code.
    pub agency: Option<String>,
    /// Submitted.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

/// One entry of a request's history, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (none for the system).
    pub actor_id: Option<i64>,
    /// `submitted`, `approved`, `returned`, `rejected`, `resubmitted`, `withdrawn`.
    pub action: String,
    /// The step's id, where one applies.
    pub step: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// Reason code.
    pub reason: Option<String>,
    /// The role the actor acted in (for the audit trail; not kept in the history).
    pub role: Option<String>,
    /// The client address (for the audit trail; not kept in the history).
    pub client: Option<String>,
}

/// A history entry as read back, with its sequence number and the actor's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHistoryEntry {
    /// 1, 2, 3, … per request.
    pub seq: i64,
    /// The entry.
    pub entry: HistoryEntry,
    /// The actor's user name.
    pub actor_name: Option<String>,
}

/// A request's move to a new state, decided on `expected_version`, with the history entries
/// and the messages that go with it.
#[derive(Debug, Clone, Copy)]
pub struct RequestChange<'a> {
    /// The request.
    pub id: i64,
    /// The version its new state was decided on.
    pub expected_version: u32,
    /// The new state.
    pub state: &'a Request,
    /// When the new state's step is due (none unless in review).
    pub due_at: Option<DateTime<Utc>>,
    /// The history entries to append.
    pub history: &'a [HistoryEntry],
    /// The audit trail's entries for the change, in order.
    pub audit: &'a [AuditEntry],
    /// The messages that announce the change.
    pub outbox: &'a [OutboxMessage],
    /// Files the change attaches to the request (the response letter), already stored.
    pub attachments: &'a [Attachment],
    /// A certificate ordered or withdrawn with the change (a provisioning approval).
    pub certificate: Option<&'a CertificateCommit>,
}

/// What a provisioning approval does to the name's certificate, in the same transaction.
#[derive(Debug, Clone)]
pub enum CertificateCommit {
    /// Order one (the request asked for it), as planned on the certificate's current state.
    Order(super::NewCertificate, super::OrderPlan, AuditEntry),
    /// The name is deleted: move its certificate (read in the guard's state) to the given
    /// state (revoking, or revoked when no chain was ever issued) and stop renewing it.
    Withdraw(
        String,
        super::CertGuard,
        crate::domain::certificate::CertStatus,
        AuditEntry,
    ),
}

/// A zone change that must commit together with a request's state.
pub struct ZoneChangeCommit<'a> {
    /// The zone.
    pub origin: &'a Name,
    /// The serial the change was computed from.
    pub serial_before: u32,
    /// The exact records removed and added, and the new SOA.
    pub diff: &'a ZoneDiff,
    /// Why, and provenance.
    pub meta: &'a ChangeMeta,
    /// The change's audit entry.
    pub audit: &'a AuditEntry,
    /// Completes the change in the transaction (the publisher signs it there).
    pub complete: Option<super::zones::Completion<'a>>,
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {s}: {e}")))
}

fn kind_of(s: &str) -> Result<Kind, StoreError> {
    Kind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("request kind {s}")))
}

fn status_of(s: &str) -> Result<Status, StoreError> {
    Ok(match s {
        "in_review" => Status::InReview,
        "returned" => Status::Returned,
        "completed" => Status::Completed,
        "rejected" => Status::Rejected,
        "withdrawn" => Status::Withdrawn,
        other => return Err(StoreError::Corrupt(format!("request status {other}"))),
    })
}

/// A request from its row.
fn request_from_row(r: &sqlx::any::AnyRow) -> Result<StoredRequest, StoreError> {
    let json = |col: &str| -> Result<serde_json::Value, StoreError> {
        let s: String = r.try_get(col)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    };
    let step: Option<i64> = r.try_get("step")?;
    let returned_at: Option<String> = r.try_get("returned_at")?;
    Ok(StoredRequest {
        id: r.try_get("id")?,
        data: RequestData {
            kind: kind_of(r.try_get("kind")?)?,
            zone: r.try_get("zone")?,
            name: r.try_get("name")?,
            records: json("records")?,
            contact: json("contact")?,
            purpose: r.try_get("purpose")?,
            recommendation_ref: r.try_get("recommendation_ref")?,
            certificate: flag(r, "certificate")?,
            workflow: r.try_get("workflow")?,
            integration_write: match r.try_get::<Option<String>, _>("integration_write")? {
                Some(s) => Some(
                    serde_json::from_str(&s)
                        .map_err(|e| StoreError::Corrupt(format!("integration_write: {e}")))?,
                ),
                None => None,
            },
            letter: match r.try_get::<Option<String>, _>("letter")? {
                Some(s) => Some(
                    serde_json::from_str(&s)
                        .map_err(|e| StoreError::Corrupt(format!("letter: {e}")))?,
                ),
                None => None,
            },
        },
        state: Request {
            kind: kind_of(r.try_get("kind")?)?,
            agency_id: r.try_get("agency_id")?,
            submitted_by: r.try_get("submitted_by")?,
            registered_by_front_office: flag(r, "registered_by_front_office")?,
            status: status_of(r.try_get("status")?)?,
            step: step.and_then(|s| usize::try_from(s).ok()),
            step_started_at: parse_ts(r.try_get("step_started_at")?)?,
            returned_at: returned_at.as_deref().map(parse_ts).transpose()?,
            letter_attached: flag(r, "letter_attached")?,
            version: u32::try_from(r.try_get::<i64, _>("version")?).unwrap_or(0),
        },
        agency: r.try_get("agency_code")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Append history entries.
async fn append_history(
    tx: &mut Tx<'_>,
    request_id: i64,
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    let next: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM request_events WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_one(&mut **tx)
    .await?;
    for (i, e) in entries.iter().enumerate() {
        sqlx::query(
            "INSERT INTO request_events (request_id, seq, at, actor_id, action, step, note, \
             reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(request_id)
        .bind(next + i as i64)
        .bind(ts(e.at))
        .bind(e.actor_id)
        .bind(&e.action)
        .bind(&e.step)
        .bind(&e.note)
        .bind(&e.reason)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The audit target of a request not stored yet: the store puts in its id.
pub const NEW_REQUEST: &str = "request/new";

/// Append audit entries at `at`; a target of [`NEW_REQUEST`] becomes `request/<request_id>`.
async fn append_audits(
    tx: &mut Tx<'_>,
    known: &mut Known,
    request_id: i64,
    entries: &[AuditEntry],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    for e in entries {
        if e.target == NEW_REQUEST {
            let mut e = e.clone();
            e.target = format!("request/{request_id}");
            append_audit_known(tx, known, &e, at).await?;
        } else {
            append_audit_known(tx, known, e, at).await?;
        }
    }
    Ok(())
}

/// The open request (in review or returned) that holds a name, if any.
async fn open_request_for(
    conn: &mut sqlx::AnyConnection,
    zone: &str,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM requests WHERE zone = $1 AND name = $2 \
         AND status IN ('in_review', 'returned') ORDER BY id LIMIT 1",
    )
    .bind(zone)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?)
}

impl Store {
    /// The request letters of the requests submitted in `[from, to)`: how each came (JSON, as
    /// stored; none where not said).
    pub async fn letters_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Option<String>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT letter FROM requests WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(self.pool())
        .await?)
    }

    /// Store a new request with its first history entry; returns its id. A name may be held by
    /// one open request only: if another holds it, nothing is stored and the answer is
    /// [`StoreError::NameHeld`] with that request (decided inside the transaction, and backed by
    /// a unique index over open requests' names).
    pub async fn insert_request(
        &self,
        data: &RequestData,
        state: &Request,
        due_at: Option<DateTime<Utc>>,
        submitted: &HistoryEntry,
        audit: &[AuditEntry],
        outbox: &[OutboxMessage],
    ) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        if let Some(held) = open_request_for(&mut tx, &data.zone, &data.name).await? {
            return Err(StoreError::NameHeld(held));
        }
        let now = ts(submitted.at);
        let inserted = sqlx::query_scalar(
            "INSERT INTO requests (kind, zone, name, agency_id, submitted_by, \
             registered_by_front_office, records, contact, purpose, recommendation_ref, \
             certificate, workflow, status, step, step_started_at, returned_at, letter_attached, \
             version, created_at, updated_at, due_at, integration_write, letter) VALUES ($1, $2, \
             $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, \
             $20, $21, $22) RETURNING id",
        )
        .bind(data.kind.as_str())
        .bind(&data.zone)
        .bind(&data.name)
        .bind(state.agency_id)
        .bind(state.submitted_by)
        .bind(i64::from(state.registered_by_front_office))
        .bind(data.records.to_string())
        .bind(data.contact.to_string())
        .bind(&data.purpose)
        .bind(&data.recommendation_ref)
        .bind(i64::from(data.certificate))
        .bind(&data.workflow)
        .bind(state.status.as_str())
        .bind(state.step.map(|s| s as i64))
        .bind(ts(state.step_started_at))
        .bind(state.returned_at.map(ts))
        .bind(i64::from(state.letter_attached))
        .bind(i64::from(state.version))
        .bind(&now)
        .bind(due_at.map(ts))
        .bind(data.integration_write.as_ref().map(|w| w.to_string()))
        .bind(
            data.letter
                .as_ref()
                .map(|l| serde_json::to_string(l).unwrap_or_default()),
        )
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                let holder = self.open_request_id(&data.zone, &data.name).await?;
                return Err(holder.map_or_else(
                    || StoreError::Conflict(format!("{}.{}", data.name, data.zone)),
                    StoreError::NameHeld,
                ));
            }
            Err(e) => return Err(e.into()),
        };
        append_history(&mut tx, id, std::slice::from_ref(submitted)).await?;
        append_audits(&mut tx, &mut Known::default(), id, audit, submitted.at).await?;
        enqueue_messages(&mut tx, outbox, Some(id), submitted.at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// How many requests there are by state and step (the step's index, if at one).
    pub async fn request_counts(&self) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT status, step, COUNT(*) AS n FROM requests GROUP BY status, step")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("step")?, r.try_get("n")?)))
            .collect()
    }

    /// The ids and final states of the requests that finished in `[from, to)`.
    pub async fn finished_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, status FROM requests WHERE status IN ('completed', 'rejected', \
             'withdrawn') AND updated_at >= $1 AND updated_at < $2 ORDER BY id",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("status")?)))
            .collect()
    }

    /// One request.
    pub async fn load_request(&self, id: i64) -> Result<Option<StoredRequest>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_REQUEST} WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// The history of a request, oldest first.
    pub async fn request_history(&self, id: i64) -> Result<Vec<StoredHistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.seq, e.at, e.actor_id, u.name AS actor_name, e.action, e.step, e.note, \
             e.reason FROM request_events e LEFT JOIN users u ON u.id = e.actor_id \
             WHERE e.request_id = $1 ORDER BY e.seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(history_from_row).collect()
    }

    /// The open request (in review or returned) that holds a name, if any (`zone` without
    /// the final dot, `name` the label under it).
    pub async fn open_request_id(&self, zone: &str, name: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        open_request_for(&mut conn, zone, name).await
    }

    /// Replace the changeable fields of a request (records, contact, purpose, recommendation)
    /// and move it to `state`, with its history: a resubmission with changes, one transaction.
    pub async fn commit_resubmission(
        &self,
        change: &RequestChange<'_>,
        data: &RequestData,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let RequestChange {
            id,
            expected_version,
            state,
            due_at,
            history,
            audit,
            outbox,
            ..
        } = *change;
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE requests SET records = $1, contact = $2, purpose = $3, recommendation_ref = $4, \
             status = $5, step = $6, step_started_at = $7, returned_at = $8, version = $9, \
             updated_at = $10, due_at = $13 WHERE id = $11 AND version = $12",
        )
        .bind(data.records.to_string())
        .bind(data.contact.to_string())
        .bind(&data.purpose)
        .bind(&data.recommendation_ref)
        .bind(state.status.as_str())
        .bind(state.step.map(|s| s as i64))
        .bind(ts(state.step_started_at))
        .bind(state.returned_at.map(ts))
        .bind(i64::from(state.version))
        .bind(ts(now))
        .bind(id)
        .bind(i64::from(expected_version))
        .bind(due_at.map(ts))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("request {id}")));
        }
        append_history(&mut tx, id, history).await?;
        append_audits(&mut tx, &mut Known::default(), id, audit, now).await?;
        enqueue_messages(&mut tx, outbox, Some(id), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Move a request to `state` (decided on `expected_version`), append its history, and, when
    /// given, commit a zone change in the same transaction. A concurrent change of the request
    /// is [`StoreError::Conflict`] and nothing is written.
    pub async fn commit_request(
        &self,
        change: &RequestChange<'_>,
        zone_change: Option<ZoneChangeCommit<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::zone::ZoneDiff>, StoreError> {
        let mut tx = self.write().await?;
        let anchor =
            write_request(&mut tx, &mut Known::default(), change, zone_change, now).await?;
        tx.commit().await?;
        Ok(anchor)
    }
}

/// Move a request to its new state and write the zone change with it, in the caller's
/// transaction (see [`Store::commit_request`]).
pub(crate) async fn write_request(
    tx: &mut Tx<'_>,
    known: &mut Known,
    change: &RequestChange<'_>,
    zone_change: Option<ZoneChangeCommit<'_>>,
    now: DateTime<Utc>,
) -> Result<Option<crate::zone::ZoneDiff>, StoreError> {
    let RequestChange {
        id,
        expected_version,
        state,
        due_at,
        history,
        audit,
        outbox,
        attachments,
        certificate,
    } = *change;
    // Claim the request first: this write takes SQLite's write lock and settles which of
    // two simultaneous actions wins.
    let updated = sqlx::query(
        "UPDATE requests SET status = $1, step = $2, step_started_at = $3, returned_at = $4, \
         letter_attached = $5, version = $6, updated_at = $7, due_at = $10 \
         WHERE id = $8 AND version = $9",
    )
    .bind(state.status.as_str())
    .bind(state.step.map(|s| s as i64))
    .bind(ts(state.step_started_at))
    .bind(state.returned_at.map(ts))
    .bind(i64::from(state.letter_attached))
    .bind(i64::from(state.version))
    .bind(ts(now))
    .bind(id)
    .bind(i64::from(expected_version))
    .bind(due_at.map(ts))
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!("request {id}")));
    }
    // The request's own events come first in the trail, then the zone change they cause.
    append_audits(tx, known, id, audit, now).await?;
    let anchor = match zone_change {
        Some(z) => Some(
            write_change(
                tx,
                known,
                z.origin,
                z.serial_before,
                z.diff,
                z.meta,
                z.audit,
                now,
                z.complete,
            )
            .await?,
        ),
        None => None,
    };
    append_history(tx, id, history).await?;
    enqueue_messages(tx, outbox, Some(id), now).await?;
    match certificate {
        Some(CertificateCommit::Order(new, plan, audit)) => {
            super::certificates::order(tx, new, plan, audit, now).await?;
        }
        Some(CertificateCommit::Withdraw(name, guard, to, audit)) => {
            super::certificates::withdraw(tx, name, *guard, *to, audit, now).await?;
        }
        None => {}
    }
    for a in attachments {
        sqlx::query(
            "INSERT INTO attachments (request_id, kind, sha256, media_type, size, \
             uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&a.kind)
        .bind(&a.sha256)
        .bind(&a.media_type)
        .bind(a.size)
        .bind(
            history
                .iter()
                .rev()
                .find_map(|h| h.actor_id)
                .unwrap_or(state.submitted_by),
        )
        .bind(&a.uploaded_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(anchor)
}

impl Store {
    /// Record that the request letter is attached (the attachment itself is stored by the
    /// caller); moves the version like any change of the request.
    pub async fn mark_letter_attached(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE requests SET letter_attached = 1, version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("request {id}")));
        }
        Ok(())
    }

    /// The agencies that own the records at a name (`None` for records imported without an
    /// owner); empty when the name has no records.
    pub async fn owners_of(&self, zone: &str, owner: &str) -> Result<Vec<Option<i64>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT r.agency_id FROM records r JOIN zones z ON z.id = r.zone_id \
             WHERE z.name = $1 AND r.owner = $2",
        )
        .bind(zone)
        .bind(owner)
        .fetch_all(self.pool())
        .await?)
    }
}

/// A stored attachment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attachment {
    /// `letter` or `recommendation`.
    pub kind: String,
    /// SHA-256 of the bytes, hex: also the file's name under `attachments/`.
    pub sha256: String,
    /// `application/pdf`, `image/png` or `image/jpeg`.
    pub media_type: String,
    /// Bytes.
    pub size: i64,
    /// When.
    pub uploaded_at: String,
}

impl Store {
    /// Record an attachment (the caller has written the file) with its audit entry; a letter
    /// also marks the request's letter as attached. One transaction.
    pub async fn add_attachment(
        &self,
        request_id: i64,
        attachment: &Attachment,
        uploaded_by: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO attachments (request_id, kind, sha256, media_type, size, uploaded_by, \
             uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request_id)
        .bind(&attachment.kind)
        .bind(&attachment.sha256)
        .bind(&attachment.media_type)
        .bind(attachment.size)
        .bind(uploaded_by)
        .bind(&attachment.uploaded_at)
        .execute(&mut *tx)
        .await?;
        if attachment.kind == "letter" {
            sqlx::query(
                "UPDATE requests SET letter_attached = 1, version = version + 1 WHERE id = $1",
            )
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a row refers to the stored file `sha256`: an attachment, or a queued message's
    /// file.
    pub async fn refers_to_file(&self, sha256: &str) -> Result<bool, StoreError> {
        let referred: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1) \
             OR EXISTS (SELECT 1 FROM outbox WHERE attachment_sha256 = $1) THEN 1 ELSE 0 END",
        )
        .bind(sha256)
        .fetch_one(self.pool())
        .await?;
        Ok(referred != 0)
    }

    /// The attachments of a request, latest of each kind last.
    pub async fn attachments(&self, request_id: i64) -> Result<Vec<Attachment>, StoreError> {
        Ok(sqlx::query_as::<_, Attachment>(
            "SELECT kind, sha256, media_type, size, uploaded_at FROM attachments \
             WHERE request_id = $1 ORDER BY id",
        )
        .bind(request_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// One page of the requests that match `filter` (newest first), and how many match in all.
    pub async fn page_requests(
        &self,
        filter: &RequestFilter,
        now: DateTime<Utc>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<StoredRequest>, i64), StoreError> {
        // One WHERE clause for both the page and the count: the filters are optional, and
        // `overdue` compares the stored due time with `now`.
        const WHERE: &str = "($1 IS NULL OR r.status = $1) AND ($2 IS NULL OR r.step = $2) \
             AND ($3 IS NULL OR r.agency_id = $3) \
             AND ($4 IS NULL OR $4 = (r.status = 'in_review' AND r.due_at IS NOT NULL \
                                      AND r.due_at < $5))";
        let status = filter.status.map(Status::as_str);
        let step = filter.step.map(|s| s as i64);
        let now = ts(now);
        let mut conn = self.pool().acquire().await?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM requests r WHERE {WHERE}"
        )))
        .bind(status)
        .bind(step)
        .bind(filter.agency_id)
        .bind(filter.overdue)
        .bind(&now)
        .fetch_one(&mut *conn)
        .await?;
        if limit == 0 {
            return Ok((Vec::new(), total));
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_REQUEST} WHERE {WHERE} ORDER BY r.id DESC LIMIT $6 OFFSET $7"
        )))
        .bind(status)
        .bind(step)
        .bind(filter.agency_id)
        .bind(filter.overdue)
        .bind(&now)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
        let page = rows
            .iter()
            .map(request_from_row)
            .collect::<Result<_, _>>()?;
        Ok((page, total))
    }

    /// Every request in `status`, oldest first (the sweeper's and the due times' work list).
    pub async fn requests_in(&self, status: Status) -> Result<Vec<StoredRequest>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_REQUEST} WHERE r.status = $1 ORDER BY r.id"
        )))
        .bind(status.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Requests by id (those that exist).
    pub async fn requests_by_id(&self, ids: &[i64]) -> Result<Vec<StoredRequest>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::IN_LIST) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT_REQUEST} WHERE r.id IN ({})",
                super::placeholders(1, chunk.len())
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(self.pool()).await? {
                out.push(request_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Store the due times the service computed (the daemon's start, after a calendar change).
    pub async fn set_due_times(
        &self,
        due: &[(i64, Option<DateTime<Utc>>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for (id, at) in due {
            sqlx::query("UPDATE requests SET due_at = $1 WHERE id = $2")
                .bind(at.map(ts))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The histories and attachments of several requests, in two queries.
    pub async fn request_details(
        &self,
        ids: &[i64],
    ) -> Result<
        (
            HashMap<i64, Vec<StoredHistoryEntry>>,
            HashMap<i64, Vec<Attachment>>,
        ),
        StoreError,
    > {
        let mut histories: HashMap<i64, Vec<StoredHistoryEntry>> = HashMap::new();
        let mut attachments: HashMap<i64, Vec<Attachment>> = HashMap::new();
        if ids.is_empty() {
            return Ok((histories, attachments));
        }
        let mut conn = self.pool().acquire().await?;
        for chunk in ids.chunks(super::IN_LIST) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT e.request_id, e.seq, e.at, e.actor_id, u.name AS actor_name, e.action, \
                 e.step, e.note, e.reason FROM request_events e \
                 LEFT JOIN users u ON u.id = e.actor_id WHERE e.request_id IN ({}) \
                 ORDER BY e.request_id, e.seq",
                super::placeholders(1, chunk.len())
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *conn).await? {
                histories
                    .entry(r.try_get("request_id")?)
                    .or_default()
                    .push(history_from_row(&r)?);
            }
        }
        for chunk in ids.chunks(super::IN_LIST) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT request_id, kind, sha256, media_type, size, uploaded_at FROM attachments \
                 WHERE request_id IN ({}) ORDER BY id",
                super::placeholders(1, chunk.len())
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *conn).await? {
                attachments
                    .entry(r.try_get("request_id")?)
                    .or_default()
                    .push(Attachment {
                        kind: r.try_get("kind")?,
                        sha256: r.try_get("sha256")?,
                        media_type: r.try_get("media_type")?,
                        size: r.try_get("size")?,
                        uploaded_at: r.try_get("uploaded_at")?,
                    });
            }
        }
        Ok((histories, attachments))
    }
}

/// Which requests a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only in this state.
    pub status: Option<Status>,
    /// Only at this step (its index in the workflow).
    pub step: Option<usize>,
    /// Only of this agency.
    pub agency_id: Option<i64>,
    /// Only those past (or not past) their step's due time.
    pub overdue: Option<bool>,
}

/// A request row with its agency's code.
const SELECT_REQUEST: &str =
    "SELECT r.*, a.code AS agency_code FROM requests r LEFT JOIN agencies a ON a.id = r.agency_id";

fn history_from_row(r: &sqlx::any::AnyRow) -> Result<StoredHistoryEntry, StoreError> {
    Ok(StoredHistoryEntry {
        seq: r.try_get("seq")?,
        actor_name: r.try_get("actor_name")?,
        entry: HistoryEntry {
            role: None,
            client: None,
            at: parse_ts(r.try_get("at")?)?,
            actor_id: r.try_get("actor_id")?,
            action: r.try_get("action")?,
            step: r.try_get("step")?,
            note: r.try_get("note")?,
            reason: r.try_get("reason")?,
        },
    })
}
