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

fn row_of(r: &sqlx::any::AnyRow) -> Result<CertificateRow, StoreError> {
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

/// Which state of a certificate a decision was made on: its order generation and status. A
/// write guarded by it changes nothing (and says so) if the certificate moved on meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertGuard {
    /// The order generation.
    pub order_gen: i64,
    /// The status.
    pub status: CertStatus,
}

impl CertificateRow {
    /// The state this row was read in.
    pub fn guard(&self) -> CertGuard {
        CertGuard {
            order_gen: self.order_gen,
            status: self.status,
        }
    }
}

/// A new order decided by the core: on which state (none: there is no certificate yet) and
/// whether the managed key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPlan {
    /// The state the order replaces.
    pub replaces: Option<CertGuard>,
    /// Whether the current managed key is kept.
    pub keep_key: bool,
}

/// Store a new order in the caller's transaction, as `plan` says. A certificate that appeared
/// or moved on since the plan was made is [`StoreError::Conflict`].
pub(crate) async fn order(
    tx: &mut Tx<'_>,
    new: &NewCertificate,
    plan: &OrderPlan,
    audit: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stamp = ts(now);
    let written =
        match plan.replaces {
            None => sqlx::query(
                "INSERT INTO certificates (name, zone, agency_id, request_id, mode, csr, status, \
             attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
             ON CONFLICT (name) DO NOTHING",
            )
            .bind(&new.name)
            .bind(&new.zone)
            .bind(new.agency_id)
            .bind(new.request_id)
            .bind(new.mode.as_str())
            .bind(&new.csr)
            .bind(&stamp)
            .execute(&mut **tx)
            .await?,
            Some(guard) => {
                sqlx::query(
                    "UPDATE certificates SET zone = $2, agency_id = $3, \
             request_id = COALESCE($4, request_id), \
             private_key = CASE WHEN $8 THEN private_key ELSE NULL END, \
             mode = $5, csr = $6, status = 'pending', attempts = 0, next_attempt_at = $7, \
             last_error = NULL, order_url = NULL, order_gen = order_gen + 1, updated_at = $7 \
             WHERE name = $1 AND order_gen = $9 AND status = $10",
                )
                .bind(&new.name)
                .bind(&new.zone)
                .bind(new.agency_id)
                .bind(new.request_id)
                .bind(new.mode.as_str())
                .bind(&new.csr)
                .bind(&stamp)
                .bind(plan.keep_key)
                .bind(guard.order_gen)
                .bind(guard.status.as_str())
                .execute(&mut **tx)
                .await?
            }
        };
    if written.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "the certificate for {}",
            new.name
        )));
    }
    append_audit(tx, audit, now).await?;
    // The leader's worker takes it at once, whichever instance took the order (so for a
    // renewal and a revocation below).
    super::feed::announce_job(tx, super::feed::Job::Certificates).await?;
    Ok(())
}

/// Stop a name's certificate in the caller's transaction (its name is deleted), moving it to
/// `to` (`revoking`: the worker revokes its chain at the CA; `revoked`: an order that never
/// issued is cancelled), if it is still as `guard` says.
pub(crate) async fn withdraw(
    tx: &mut Tx<'_>,
    name: &str,
    guard: CertGuard,
    to: CertStatus,
    audit: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stamp = ts(now);
    let revoked_at = (to == CertStatus::Revoked).then(|| stamp.clone());
    let updated = sqlx::query(
        "UPDATE certificates SET status = $2, revoked_at = $3, attempts = 0, \
         next_attempt_at = $4, renew_at = NULL, order_url = NULL, updated_at = $4, \
         order_gen = order_gen + 1 WHERE name = $1 AND order_gen = $5 AND status = $6",
    )
    .bind(name)
    .bind(to.as_str())
    .bind(revoked_at)
    .bind(&stamp)
    .bind(guard.order_gen)
    .bind(guard.status.as_str())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!("the certificate for {name}")));
    }
    append_audit(tx, audit, now).await?;
    super::feed::announce_job(tx, super::feed::Job::Certificates).await?;
    Ok(())
}

impl Store {
    /// The sealed credentials of the ACME account at `directory`.
    pub async fn acme_account(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT credentials FROM acme_accounts WHERE directory = $1")
                .bind(directory)
                .fetch_optional(self.pool())
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

    /// Order a certificate (as a provisioning does, see `order`) on its own.
    pub async fn order_certificate(
        &self,
        new: &NewCertificate,
        plan: &OrderPlan,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        order(&mut tx, new, plan, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One certificate by name (lower case, no trailing dot).
    pub async fn certificate(&self, name: &str) -> Result<Option<CertificateRow>, StoreError> {
        sqlx::query("SELECT * FROM certificates WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
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
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(super::IN_LIST) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM certificates WHERE name IN ({})",
                super::placeholders(1, chunk.len())
            )));
            for n in chunk {
                q = q.bind(n.as_str());
            }
            for row in q.fetch_all(self.pool()).await? {
                out.push(row_of(&row)?);
            }
        }
        Ok(out)
    }

    /// Every certificate, by name.
    pub async fn certificates(&self) -> Result<Vec<CertificateRow>, StoreError> {
        sqlx::query("SELECT * FROM certificates ORDER BY name")
            .fetch_all(self.pool())
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
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(row_of)
        .collect()
    }

    /// Claim a due order (or revocation) for one attempt until `until`: false when the row
    /// moved on or another worker claimed it meanwhile. Only the leader runs the worker, one
    /// row at a time; the claim keeps a worker that has just lost the lead (and not noticed
    /// yet) and the new leader off the same order: the new one takes it once the claim
    /// lapses. An attempt that outlives its claim is harmless while one worker runs.
    pub async fn claim_certificate(
        &self,
        name: &str,
        guard: CertGuard,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE certificates SET next_attempt_at = $5 WHERE name = $1 AND order_gen = $2 \
             AND status = $3 AND next_attempt_at <= $4",
        )
        .bind(name)
        .bind(guard.order_gen)
        .bind(guard.status.as_str())
        .bind(ts(now))
        .bind(ts(until))
        .execute(self.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Start a renewal now (the renewal time came, or `ranah cert renew`): the current chain
    /// stays served until the new one is stored.
    pub async fn renew_certificate(
        &self,
        name: &str,
        guard: CertGuard,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET status = 'pending', attempts = 0, next_attempt_at = $2, \
             last_error = NULL, order_url = NULL, updated_at = $2, order_gen = order_gen + 1 \
             WHERE name = $1 AND order_gen = $3 AND status = $4",
        )
        .bind(name)
        .bind(ts(now))
        .bind(guard.order_gen)
        .bind(guard.status.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("the certificate for {name}")));
        }
        append_audit(&mut tx, audit, now).await?;
        super::feed::announce_job(&mut tx, super::feed::Job::Certificates).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remember the order in flight (to resume it after a restart).
    pub async fn set_certificate_order(&self, id: i64, url: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE certificates SET order_url = $2 WHERE id = $1")
            .bind(id)
            .bind(url)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Store the sealed managed key made for a certificate.
    pub async fn set_certificate_key(&self, id: i64, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE certificates SET private_key = $2 WHERE id = $1")
            .bind(id)
            .bind(sealed)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Store an issued chain, with its audit event and the messages that announce it, if the
    /// order of generation `order_gen` is still the current one. Returns `false` (and writes
    /// nothing) when it was superseded meanwhile: a new order, a renewal or a withdrawal.
    pub async fn certificate_issued(
        &self,
        id: i64,
        guard: CertGuard,
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
             order_url = NULL WHERE id = $1 AND order_gen = $9 AND status = $10",
        )
        .bind(id)
        .bind(&chain.chain_pem)
        .bind(&chain.serial)
        .bind(ts(chain.not_before))
        .bind(ts(chain.not_after))
        .bind(&chain.issuer)
        .bind(ts(chain.renew_at))
        .bind(ts(now))
        .bind(guard.order_gen)
        .bind(guard.status.as_str())
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
        (guard, to): (CertGuard, CertStatus),
        error: &str,
        next_attempt: Option<DateTime<Utc>>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET status = $7, \
             attempts = attempts + 1, next_attempt_at = $3, last_error = $2, updated_at = $4, \
             order_url = NULL WHERE id = $1 AND order_gen = $5 AND status = $6",
        )
        .bind(id)
        .bind(error)
        .bind(next_attempt.map(ts))
        .bind(ts(now))
        .bind(guard.order_gen)
        .bind(guard.status.as_str())
        .bind(to.as_str())
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
        guard: CertGuard,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE certificates SET status = 'revoked', revoked_at = $2, next_attempt_at = NULL, \
             renew_at = NULL, last_error = NULL, updated_at = $2 \
             WHERE id = $1 AND order_gen = $3 AND status = $4",
        )
        .bind(id)
        .bind(ts(now))
        .bind(guard.order_gen)
        .bind(guard.status.as_str())
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
        .fetch_all(self.pool())
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

    use crate::domain::certificate::{self as cert, Transition, TransitionRefused};

    /// A new order as the services make one: decided by the core on the current state,
    /// written guarded by it.
    async fn new_order(
        s: &Store,
        agency: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionRefused> {
        let current = s.certificate("a.example").await.unwrap();
        cert::next(current.as_ref().map(|c| c.status), Transition::Order, false)?;
        let new = NewCertificate {
            name: "a.example".into(),
            zone: "example.".into(),
            agency_id: agency,
            request_id: None,
            mode: KeyMode::Managed,
            csr: None,
        };
        let plan = OrderPlan {
            replaces: current.as_ref().map(CertificateRow::guard),
            keep_key: current.as_ref().is_some_and(|c| {
                cert::keeps_managed_key((c.mode, c.status, c.agency_id), KeyMode::Managed, agency)
            }),
        };
        s.order_certificate(&new, &plan, &audit("certificate.order"), now)
            .await
            .unwrap();
        Ok(())
    }

    /// The name is deleted: the withdrawal the core decides, if any.
    async fn withdraw_now(s: &Store, now: DateTime<Utc>) -> bool {
        let Some(c) = s.certificate("a.example").await.unwrap() else {
            return false;
        };
        let Ok(to) = cert::next(Some(c.status), Transition::Withdraw, c.chain_pem.is_some()) else {
            return false;
        };
        let mut tx = s.write().await.unwrap();
        withdraw(
            &mut tx,
            "a.example",
            c.guard(),
            to,
            &audit("certificate.withdraw"),
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        true
    }

    /// A write guarded by a state the certificate left is refused, and writes nothing.
    #[tokio::test]
    async fn writes_guarded_by_a_stale_state_are_conflicts() {
        let (_dir, s) = store().await;
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
        new_order(&s, None, now).await.unwrap();
        let stale = s.certificate("a.example").await.unwrap().unwrap();
        assert!(withdraw_now(&s, now).await);
        let new = NewCertificate {
            name: "a.example".into(),
            zone: "example.".into(),
            agency_id: None,
            request_id: None,
            mode: KeyMode::Managed,
            csr: None,
        };
        let plan = OrderPlan {
            replaces: Some(stale.guard()),
            keep_key: false,
        };
        assert!(matches!(
            s.order_certificate(&new, &plan, &audit("o"), now).await,
            Err(StoreError::Conflict(_))
        ));
        // An order planned on no certificate, when one exists meanwhile.
        let plan = OrderPlan {
            replaces: None,
            keep_key: false,
        };
        assert!(matches!(
            s.order_certificate(&new, &plan, &audit("o"), now).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.renew_certificate("a.example", stale.guard(), &audit("r"), now)
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.certificate("a.example").await.unwrap().unwrap().status,
            CertStatus::Revoked
        );
    }

    #[tokio::test]
    async fn a_superseded_order_writes_nothing() {
        let (_dir, s) = store().await;
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
        new_order(&s, None, now).await.unwrap();
        let first = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(first.status, CertStatus::Pending);
        // A second order while one is pending is refused.
        assert_eq!(
            new_order(&s, None, now).await,
            Err(TransitionRefused::InFlight)
        );
        // The name is deleted while the order is in flight: no chain yet, so it is cancelled,
        // and the order's outcome (issued or failed) no longer lands.
        assert!(withdraw_now(&s, now).await);
        let none: &[OutboxMessage] = &[];
        assert!(
            !s.certificate_issued(
                first.id,
                first.guard(),
                &chain("01", now),
                &audit("i"),
                none,
                now
            )
            .await
            .unwrap()
        );
        assert!(
            !s.certificate_failed(
                first.id,
                (first.guard(), CertStatus::Failed),
                "x",
                Some(now),
                &audit("f"),
                now
            )
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
                row.guard(),
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
        let issued = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(
            cert::next(Some(issued.status), Transition::Renew, true),
            Ok(CertStatus::Pending)
        );
        s.renew_certificate("a.example", issued.guard(), &audit("r"), later)
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
                renewing.guard(),
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
        assert_eq!(
            new_order(&s, None, later).await,
            Err(TransitionRefused::Revoking)
        );
        // A failed revocation stays `revoking`, with its error.
        assert!(
            s.certificate_failed(
                revoking.id,
                (
                    revoking.guard(),
                    cert::next(Some(revoking.status), Transition::Failed, true).unwrap()
                ),
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
            s.certificate_revoked(still.id, still.guard(), &audit("v"), later)
                .await
                .unwrap()
        );
        let revoked = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(revoked.status, CertStatus::Revoked);
        assert_eq!(
            cert::next(Some(revoked.status), Transition::Renew, true),
            Err(TransitionRefused::Revoked)
        );
        // A new order after the revocation starts without the old key.
        new_order(&s, None, later).await.unwrap();
        let fresh = s.certificate("a.example").await.unwrap().unwrap();
        assert_eq!(fresh.status, CertStatus::Pending);
        assert!(fresh.private_key.is_none());
    }
}
