//! Certificates and the ACME account. Every state change of a certificate is one transaction
//! with its audit event (and, for an issued chain, the messages that announce it).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::zones::Tx;
use super::{OutboxMessage, Store, StoreError, append_audit, enqueue_messages, ts};
use crate::domain::audit::AuditEntry;
use crate::domain::certificate::{CertStatus, KeyMode};

/// A certificate as stored.
#[derive(Debug, Clone)]
pub struct CertificateRow {
    /// Id.
    pub id: i64,
    /// Fully qualified name, lower case, no trailing dot.
    pub name: String,
    /// The zone's apex, with the trailing dot.
    pub zone: String,
    /// The owning agency.
    pub agency_id: Option<i64>,
    /// The request that asked for it.
    pub request_id: Option<i64>,
    /// Who holds the key.
    pub mode: KeyMode,
    /// The agency's CSR (DER), in CSR mode.
    pub csr: Option<Vec<u8>>,
    /// The managed key, sealed.
    pub private_key: Option<Vec<u8>>,
    /// State.
    pub status: CertStatus,
    /// The issued chain (PEM), leaf first.
    pub chain_pem: Option<String>,
    /// The leaf's serial number, hex.
    pub serial: Option<String>,
    /// Validity start.
    pub not_before: Option<String>,
    /// Validity end.
    pub not_after: Option<String>,
    /// The issuer's distinguished name.
    pub issuer: Option<String>,
    /// When the renewal is due.
    pub renew_at: Option<String>,
    /// The ACME order in flight.
    pub order_url: Option<String>,
    /// The generation of the current order (see the migration).
    pub order_gen: i64,
    /// Failed attempts of the current order.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<String>,
    /// The last error (the CA's problem text).
    pub last_error: Option<String>,
    /// When the current chain was stored.
    pub issued_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// What a new order is for.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    /// Fully qualified name, lower case, no trailing dot.
    pub name: String,
    /// The zone's apex, with the trailing dot.
    pub zone: String,
    /// The owning agency.
    pub agency_id: Option<i64>,
    /// The request that asked for it.
    pub request_id: Option<i64>,
    /// Who holds the key.
    pub mode: KeyMode,
    /// The CSR (DER) in CSR mode.
    pub csr: Option<Vec<u8>>,
}

/// The leaf of an issued chain, as stored.
#[derive(Debug, Clone)]
pub struct IssuedChain {
    /// The chain, PEM.
    pub chain_pem: String,
    /// Serial, hex.
    pub serial: String,
    /// Validity start.
    pub not_before: DateTime<Utc>,
    /// Validity end.
    pub not_after: DateTime<Utc>,
    /// Issuer DN.
    pub issuer: String,
    /// When to renew.
    pub renew_at: DateTime<Utc>,
}

fn row_of(r: &sqlx::sqlite::SqliteRow) -> Result<CertificateRow, StoreError> {
    let status: String = r.try_get("status")?;
    let mode: String = r.try_get("mode")?;
    let name: String = r.try_get("name")?;
    Ok(CertificateRow {
        id: r.try_get("id")?,
        status: CertStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("certificate {name}: status {status}")))?,
        mode: KeyMode::parse(&mode)
            .ok_or_else(|| StoreError::Corrupt(format!("certificate {name}: mode {mode}")))?,
        name,
        zone: r.try_get("zone")?,
        agency_id: r.try_get("agency_id")?,
        request_id: r.try_get("request_id")?,
        csr: r.try_get("csr")?,
        private_key: r.try_get("private_key")?,
        chain_pem: r.try_get("chain_pem")?,
        serial: r.try_get("serial")?,
        not_before: r.try_get("not_before")?,
        not_after: r.try_get("not_after")?,
        issuer: r.try_get("issuer")?,
        renew_at: r.try_get("renew_at")?,
        order_url: r.try_get("order_url")?,
        order_gen: r.try_get("order_gen")?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        issued_at: r.try_get("issued_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Order a certificate in the caller's transaction: a new row, or a new order for an existing
/// one (its current chain stays until the new one is stored). Refused while an order or a
/// revocation is due or in flight for the name. With `only_if_absent` (a provisioning), a name
/// that has a live certificate keeps it and nothing is written. Returns whether it ordered.
pub(crate) async fn order(
    tx: &mut Tx<'_>,
    new: &NewCertificate,
    audit: &AuditEntry,
    now: DateTime<Utc>,
    only_if_absent: bool,
) -> Result<bool, StoreError> {
    let stamp = ts(now);
    let existing: Option<String> =
        sqlx::query_scalar("SELECT status FROM certificates WHERE name = $1")
            .bind(&new.name)
            .fetch_optional(&mut **tx)
            .await?;
    let existing = existing.as_deref().and_then(CertStatus::parse);
    if only_if_absent && existing.is_some_and(|s| s != CertStatus::Revoked) {
        return Ok(false);
    }
    match existing {
        Some(CertStatus::Pending) => {
            return Err(StoreError::AlreadyExists(format!(
                "an order for a certificate for {}",
                new.name
            )));
        }
        Some(CertStatus::Revoking) => {
            return Err(StoreError::AlreadyExists(format!(
                "the revocation of the certificate for {}",
                new.name
            )));
        }
        _ => {}
    }
    // A managed key is kept for a new order of the same agency; a new owner, a CSR, or a
    // revoked certificate starts without one.
    sqlx::query(
        "INSERT INTO certificates (name, zone, agency_id, request_id, mode, csr, status, \
         attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
         ON CONFLICT (name) DO UPDATE SET zone = excluded.zone, agency_id = excluded.agency_id, \
         request_id = COALESCE(excluded.request_id, certificates.request_id), \
         private_key = CASE WHEN excluded.mode = 'managed' AND certificates.mode = 'managed' \
                       AND certificates.status <> 'revoked' \
                       AND certificates.agency_id IS excluded.agency_id \
                       THEN certificates.private_key ELSE NULL END, \
         mode = excluded.mode, csr = excluded.csr, status = 'pending', attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, last_error = NULL, order_url = NULL, \
         order_gen = certificates.order_gen + 1, updated_at = excluded.updated_at",
    )
    .bind(&new.name)
    .bind(&new.zone)
    .bind(new.agency_id)
    .bind(new.request_id)
    .bind(new.mode.as_str())
    .bind(&new.csr)
    .bind(&stamp)
    .execute(&mut **tx)
    .await?;
    append_audit(tx, audit, now).await?;
    Ok(true)
}

/// Stop a name's certificate in the caller's transaction (its name is deleted): an issued
/// chain is revoked at the CA by the worker; an order not yet issued is cancelled. Returns
/// whether there was a certificate.
pub(crate) async fn withdraw(
    tx: &mut Tx<'_>,
    name: &str,
    audit: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let stamp = ts(now);
    let updated = sqlx::query(
        "UPDATE certificates SET \
         status = CASE WHEN chain_pem IS NOT NULL THEN 'revoking' ELSE 'revoked' END, \
         revoked_at = CASE WHEN chain_pem IS NOT NULL THEN NULL ELSE $2 END, \
         attempts = 0, next_attempt_at = $2, renew_at = NULL, order_url = NULL, updated_at = $2, \
         order_gen = order_gen + 1 \
         WHERE name = $1 AND status NOT IN ('revoking', 'revoked')",
    )
    .bind(name)
    .bind(&stamp)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    append_audit(tx, audit, now).await?;
    Ok(true)
}

impl Store {
    /// The sealed credentials of the ACME account at `directory`.
    pub async fn acme_account(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT credentials FROM acme_accounts WHERE directory = $1")
                .bind(directory)
                .fetch_optional(self.sqlite())
                .await?,
        )
    }

    /// Store (or replace) the sealed credentials of the account at `directory`, audited.
    pub async fn save_acme_account(
        &self,
        directory: &str,
        sealed: &[u8],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO acme_accounts (directory, credentials, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (directory) DO UPDATE SET credentials = excluded.credentials, \
             created_at = excluded.created_at",
        )
        .bind(directory)
        .bind(sealed)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Order a certificate (see [`order`]) on its own.
    pub async fn order_certificate(
        &self,
        new: &NewCertificate,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        order(&mut tx, new, audit, now, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One certificate by name (lower case, no trailing dot).
    pub async fn certificate(&self, name: &str) -> Result<Option<CertificateRow>, StoreError> {
        sqlx::query("SELECT * FROM certificates WHERE name = $1")
            .bind(name)
            .fetch_optional(self.sqlite())
            .await?
            .as_ref()
            .map(row_of)
            .transpose()
    }

    /// The certificates of these names.
    pub async fn certificates_named(
        &self,
        names: &[String],
    ) -> Result<Vec<CertificateRow>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::new("SELECT * FROM certificates WHERE name IN (");
        let mut list = q.separated(", ");
        for n in names {
            list.push_bind(n.as_str());
        }
        q.push(")");
        q.build()
            .fetch_all(self.sqlite())
            .await?
            .iter()
            .map(row_of)
            .collect()
    }

    /// Every certificate, by name.
    pub async fn certificates(&self) -> Result<Vec<CertificateRow>, StoreError> {
        sqlx::query("SELECT * FROM certificates ORDER BY name")
            .fetch_all(self.sqlite())
            .await?
            .iter()
            .map(row_of)
            .collect()
    }

    /// Work due at `now`: orders and retries, revocations, and issued certificates whose
    /// renewal time has come.
    pub async fn due_certificates(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<CertificateRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM certificates WHERE \
             (status IN ('pending', 'failed', 'revoking') AND next_attempt_at <= $1) \
             OR (status = 'issued' AND renew_at <= $1) ORDER BY id",
        )
        .bind(ts(now))
        .fetch_all(self.sqlite())
        .await?
        .iter()
        .map(row_of)
        .collect()
    }

    /// Start a renewal now (the renewal time came, or `ranah cert renew`): the current chain
    /// stays served until the new one is stored.
    pub async fn renew_certificate(
        &self,
        name: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET status = 'pending', attempts = 0, next_attempt_at = $2, \
             last_error = NULL, order_url = NULL, updated_at = $2, order_gen = order_gen + 1 \
             WHERE name = $1 AND status IN ('issued', 'failed', 'pending')",
        )
        .bind(name)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "certificate for {name} that can be renewed (revoked or unknown)"
            )));
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remember the order in flight (to resume it after a restart).
    pub async fn set_certificate_order(&self, id: i64, url: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE certificates SET order_url = $2 WHERE id = $1")
            .bind(id)
            .bind(url)
            .execute(self.sqlite())
            .await?;
        Ok(())
    }

    /// Store the sealed managed key made for a certificate.
    pub async fn set_certificate_key(&self, id: i64, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE certificates SET private_key = $2 WHERE id = $1")
            .bind(id)
            .bind(sealed)
            .execute(self.sqlite())
            .await?;
        Ok(())
    }

    /// Store an issued chain, with its audit event and the messages that announce it, if the
    /// order of generation `order_gen` is still the current one. Returns `false` (and writes
    /// nothing) when it was superseded meanwhile: a new order, a renewal or a withdrawal.
    pub async fn certificate_issued(
        &self,
        id: i64,
        order_gen: i64,
        chain: &IssuedChain,
        audit: &AuditEntry,
        outbox: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET chain_pem = $2, serial = $3, not_before = $4, \
             not_after = $5, issuer = $6, renew_at = $7, issued_at = $8, updated_at = $8, \
             status = 'issued', next_attempt_at = NULL, attempts = 0, last_error = NULL, \
             order_url = NULL WHERE id = $1 AND order_gen = $9 AND status IN ('pending', 'failed')",
        )
        .bind(id)
        .bind(&chain.chain_pem)
        .bind(&chain.serial)
        .bind(ts(chain.not_before))
        .bind(ts(chain.not_after))
        .bind(&chain.issuer)
        .bind(ts(chain.renew_at))
        .bind(ts(now))
        .bind(order_gen)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit, now).await?;
        enqueue_messages(&mut tx, outbox, None, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Record a failed attempt of generation `order_gen` (an order, or a revocation, which
    /// stays `revoking`); `next_attempt` is `None` when retries ran out. The order's URL is
    /// dropped: the next attempt orders afresh. Returns `false` (and writes nothing) when the
    /// attempt was superseded meanwhile.
    pub async fn certificate_failed(
        &self,
        id: i64,
        order_gen: i64,
        error: &str,
        next_attempt: Option<DateTime<Utc>>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET \
             status = CASE WHEN status = 'revoking' THEN 'revoking' ELSE 'failed' END, \
             attempts = attempts + 1, next_attempt_at = $3, last_error = $2, updated_at = $4, \
             order_url = NULL WHERE id = $1 AND order_gen = $5 \
             AND status IN ('pending', 'failed', 'revoking')",
        )
        .bind(id)
        .bind(error)
        .bind(next_attempt.map(ts))
        .bind(ts(now))
        .bind(order_gen)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Record that the CA revoked the certificate (of generation `order_gen`).
    pub async fn certificate_revoked(
        &self,
        id: i64,
        order_gen: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET status = 'revoked', revoked_at = $2, next_attempt_at = NULL, \
             renew_at = NULL, last_error = NULL, updated_at = $2 \
             WHERE id = $1 AND order_gen = $3 AND status = 'revoking'",
        )
        .bind(id)
        .bind(ts(now))
        .bind(order_gen)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The email addresses of an agency's enabled users.
    pub async fn agency_emails(&self, agency_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT email FROM users WHERE agency_id = $1 AND disabled = 0 \
             AND email IS NOT NULL AND email <> '' ORDER BY email",
        )
        .bind(agency_id)
        .fetch_all(self.sqlite())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        (dir, Store::open(&url).await.unwrap())
    }

    fn audit(action: &str) -> AuditEntry {
        AuditEntry::cli(action, "certificate/a.example", serde_json::json!({}))
    }

    fn chain(serial: &str, now: DateTime<Utc>) -> IssuedChain {
        IssuedChain {
            chain_pem: format!("chain {serial}"),
            serial: serial.into(),
            not_before: now,
            not_after: now + chrono::Duration::days(90),
            issuer: "CN=test".into(),
            renew_at: now + chrono::Duration::days(60),
        }
    }

    async fn new_order(
        s: &Store,
        agency: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let new = NewCertificate {
            name: "a.example".into(),
            zone: "example.".into(),
            agency_id: agency,
            request_id: None,
            mode: KeyMode::Managed,
            csr: None,
        };
        s.order_certificate(&new, &audit("certificate.order"), now)
            .await
    }

    async fn withdraw_now(s: &Store, now: DateTime<Utc>) -> bool {
        let mut tx = s.write().await.unwrap();
        let w = withdraw(&mut tx, "a.example", &audit("certificate.withdraw"), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        w
    }

    #[tokio::test]
    async fn a_superseded_order_writes_nothing() {
        let (_dir, s) = store().await;
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
        new_order(&s, None, now).await.unwrap();
        let first = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(first.status, CertStatus::Pending);
        // A second order while one is pending is refused.
        assert!(matches!(
            new_order(&s, None, now).await,
            Err(StoreError::AlreadyExists(_))
        ));
        // The name is deleted while the order is in flight: no chain yet, so it is cancelled,
        // and the order's outcome (issued or failed) no longer lands.
        assert!(withdraw_now(&s, now).await);
        let none: &[OutboxMessage] = &[];
        assert!(
            !s.certificate_issued(
                first.id,
                first.order_gen,
                &chain("01", now),
                &audit("i"),
                none,
                now
            )
            .await
            .unwrap()
        );
        assert!(
            !s.certificate_failed(first.id, first.order_gen, "x", Some(now), &audit("f"), now)
                .await
                .unwrap()
        );
        let row = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(row.status, CertStatus::Revoked);
        assert!(row.chain_pem.is_none());
    }

    #[tokio::test]
    async fn issue_renew_withdraw_revoke() {
        let (_dir, s) = store().await;
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
        new_order(&s, None, now).await.unwrap();
        let row = s.certificate("a.example").await.unwrap().unwrap();
        s.set_certificate_key(row.id, b"sealed").await.unwrap();
        let none: &[OutboxMessage] = &[];
        assert!(
            s.certificate_issued(
                row.id,
                row.order_gen,
                &chain("01", now),
                &audit("i"),
                none,
                now
            )
            .await
            .unwrap()
        );
        // Not due before its renewal time; due after it.
        assert!(s.due_certificates(now).await.unwrap().is_empty());
        let later = now + chrono::Duration::days(61);
        assert_eq!(s.due_certificates(later).await.unwrap().len(), 1);
        // A renewal keeps the chain and the key until the new one is stored.
        s.renew_certificate("a.example", &audit("r"), later)
            .await
            .unwrap();
        let renewing = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(renewing.status, CertStatus::Pending);
        assert_eq!(renewing.chain_pem.as_deref(), Some("chain 01"));
        assert_eq!(renewing.private_key.as_deref(), Some(&b"sealed"[..]));
        assert!(renewing.order_gen > row.order_gen);
        // The name is deleted during the renewal: the old chain is to be revoked, the
        // renewal's outcome is discarded, a new order is refused until the revocation is done.
        assert!(withdraw_now(&s, later).await);
        assert!(
            !s.certificate_issued(
                renewing.id,
                renewing.order_gen,
                &chain("02", later),
                &audit("i"),
                none,
                later
            )
            .await
            .unwrap()
        );
        let revoking = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(revoking.status, CertStatus::Revoking);
        assert_eq!(revoking.chain_pem.as_deref(), Some("chain 01"));
        assert!(matches!(
            new_order(&s, None, later).await,
            Err(StoreError::AlreadyExists(_))
        ));
        // A failed revocation stays `revoking`, with its error.
        assert!(
            s.certificate_failed(
                revoking.id,
                revoking.order_gen,
                "CA down",
                Some(later),
                &audit("f"),
                later
            )
            .await
            .unwrap()
        );
        let still = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(
            (still.status, still.last_error.as_deref()),
            (CertStatus::Revoking, Some("CA down"))
        );
        assert!(
            s.certificate_revoked(still.id, still.order_gen, &audit("v"), later)
                .await
                .unwrap()
        );
        let revoked = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(revoked.status, CertStatus::Revoked);
        assert!(
            s.renew_certificate("a.example", &audit("r"), later)
                .await
                .is_err()
        );
        // A new order after the revocation starts without the old key.
        new_order(&s, None, later).await.unwrap();
        let fresh = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(fresh.status, CertStatus::Pending);
        assert!(fresh.private_key.is_none());
    }
}
