//! Certificates through ACME (instant-acme), with DNS-01 answered by ranah's own zones.
//!
//! The store holds the work: a certificate row is `pending` when an order is due (a
//! provisioning, an agency's or admin's `POST /api/v1/certificates`, `ranah cert renew`, or its
//! renewal time), `revoking` when its name was deleted. [`Certificates::run`] takes due rows
//! one at a time: it orders, publishes `_acme-challenge.<name>` TXT through the
//! [`Publisher`] (so DNS answers it before the CA is told), waits for the secondaries, lets the
//! CA validate, finalizes with the agency's CSR or a managed ECDSA P-256 key, stores the chain
//! and removes the TXT. A failed attempt is retried with a doubling delay up to a cap; a
//! restart finds the row still due and resumes its order. The account's credentials and the
//! managed keys are sealed in the store ([`crate::sealing`]).

pub mod x509;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy, RevocationReason,
    RevocationRequest,
};
use tokio::sync::{Mutex, Notify, watch};

use crate::config::AcmeConfig;
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::certificate::{self, CertStatus, KeyMode};
use crate::metrics::Metrics;
use crate::publish::{ChangeOp, ChangeSet, PublishError, Publisher};
use crate::sealing::{KeyCipher, SealError};
use crate::store::{CertificateRow, ChangeMeta, IssuedChain, OutboxMessage, Store, StoreError};

/// TTL of the challenge TXT records: short, they live for seconds.
const CHALLENGE_TTL: u32 = 60;

/// Why an attempt failed; the text is what the certificate shows as `last_error`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The CA answered with a problem, or could not be reached.
    #[error("ACME server {directory}: {detail}")]
    Acme {
        /// The directory URL.
        directory: String,
        /// What instant-acme reported, with its causes (the CA's problem text, or why the
        /// connection failed).
        detail: String,
        /// The error itself.
        #[source]
        source: Box<instant_acme::Error>,
    },
    /// The CA found the challenge wrong.
    #[error("the CA refused the DNS-01 challenge for {name}: {detail}")]
    Challenge {
        /// The name.
        name: String,
        /// The CA's problem text.
        detail: String,
    },
    /// The order ended in an unexpected state.
    #[error("the order for {name} ended {status}")]
    Order {
        /// The name.
        name: String,
        /// Its state.
        status: String,
    },
    /// The attempt took longer than `order_timeout_secs`.
    #[error("the order took longer than {0} s")]
    Timeout(u64),
    /// The name's zone is not served any more.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key does not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A key, CSR or chain problem.
    #[error(transparent)]
    X509(#[from] x509::X509Error),
    /// Stored data ranah cannot use (names the part).
    #[error("{0}")]
    Invalid(String),
}

impl AcmeError {
    /// The error of a call to the CA at `directory`, its causes spelled out ("client error
    /// (Connect): Connection refused" rather than "client error (Connect)").
    fn acme(directory: &str, source: instant_acme::Error) -> Self {
        let mut detail = source.to_string();
        let mut cause = std::error::Error::source(&source);
        while let Some(c) = cause {
            let text = c.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            cause = c.source();
        }
        Self::Acme {
            directory: directory.to_owned(),
            detail,
            source: Box::new(source),
        }
    }

    /// Whether the CA no longer knows the account (a CA reset, or a test CA restarted).
    fn account_unknown(&self) -> bool {
        match self {
            Self::Acme { source, .. } => matches!(&**source, instant_acme::Error::Api(p)
                if p.r#type.as_deref().is_some_and(|t| t.ends_with(":accountDoesNotExist"))),
            _ => false,
        }
    }
}

/// Where a notice about a certificate goes.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Emails are queued (an SMTP server is configured).
    pub email: bool,
    /// The webhook URL, if any.
    pub webhook: Option<String>,
}

/// The certificate service and its background worker.
pub struct Certificates {
    store: Store,
    publisher: Arc<Publisher>,
    config: AcmeConfig,
    cipher: KeyCipher,
    metrics: Arc<Metrics>,
    delivery: Delivery,
    wake: Arc<Notify>,
    account: Mutex<Option<Account>>,
}

impl Certificates {
    /// The service for `config`.
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        config: AcmeConfig,
        metrics: Arc<Metrics>,
        delivery: Delivery,
    ) -> Result<Self, SealError> {
        let cipher = KeyCipher::from_base64(config.key_encryption_key.expose())?;
        Ok(Self {
            store,
            publisher,
            config,
            cipher,
            metrics,
            delivery,
            wake: Arc::new(Notify::new()),
            account: Mutex::new(None),
        })
    }

    /// What wakes the worker when new work is stored.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The managed private key of a certificate, PEM (`None` in CSR mode or before the first
    /// order made it).
    pub fn private_key_pem(&self, row: &CertificateRow) -> Result<Option<String>, AcmeError> {
        let Some(sealed) = &row.private_key else {
            return Ok(None);
        };
        let plain = self.cipher.open(sealed, &key_label(&row.name))?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| AcmeError::Invalid(format!("the stored key of {} is not PEM", row.name)))
    }

    /// Work through due certificates until shutdown: at every `check_interval_secs`, and at
    /// once when woken.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let interval = Duration::from_secs(self.config.check_interval_secs);
        self.clear_leftover_challenges().await;
        loop {
            match self.store.due_certificates(Utc::now()).await {
                Ok(due) => {
                    for row in due {
                        if *shutdown.borrow() {
                            return;
                        }
                        // The list is a snapshot: take the row as it is now, if still due.
                        let row = match self.store.certificate(&row.name).await {
                            Ok(Some(row)) if is_due(&row, Utc::now()) => row,
                            Ok(_) => continue,
                            Err(e) => {
                                tracing::warn!(name = %row.name, error = %e, "cannot reload");
                                continue;
                            }
                        };
                        tokio::select! {
                            _ = self.work(row) => {}
                            // An order cut short here stays due and resumes after the restart.
                            _ = shutdown.wait_for(|stop| *stop) => return,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the due certificates"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Remove challenge TXT records that an order cut short (a shutdown mid-order, a failed
    /// removal) left behind. Names without a left-over record change nothing.
    async fn clear_leftover_challenges(&self) {
        match self.store.certificates().await {
            Ok(rows) => {
                for row in rows.iter().filter(|r| r.status != CertStatus::Pending) {
                    if let Err(e) = self.clear_challenge(row).await {
                        tracing::debug!(name = %row.name, error = %e, "no challenge to clear");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list the certificates"),
        }
    }

    async fn work(&self, row: CertificateRow) {
        match row.status {
            CertStatus::Revoking => self.revoke(row).await,
            CertStatus::Issued => {
                // The renewal time came: a new order; the current chain stays until replaced.
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    "certificate.renew",
                    target(&row.name),
                    serde_json::json!({"reason": "renewal due", "renew_at": row.renew_at}),
                );
                if let Err(e) = self
                    .store
                    .renew_certificate(&row.name, &audit, Utc::now())
                    .await
                {
                    tracing::warn!(name = %row.name, error = %e, "cannot start the renewal");
                    return;
                }
                match self.store.certificate(&row.name).await {
                    Ok(Some(row)) => self.order(row).await,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(name = %row.name, error = %e, "cannot reload"),
                }
            }
            CertStatus::Pending | CertStatus::Failed => self.order(row).await,
            CertStatus::Revoked => {}
        }
    }

    /// One attempt at an order, bounded in time; the challenge TXT is removed afterwards
    /// whatever happened.
    async fn order(&self, row: CertificateRow) {
        let renewal = row.chain_pem.is_some();
        tracing::info!(name = %row.name, renewal, attempt = row.attempts + 1, "ordering a certificate");
        let limit = Duration::from_secs(self.config.order_timeout_secs);
        let result = match tokio::time::timeout(limit, self.issue(&row)).await {
            Ok(result) => result,
            Err(_) => Err(AcmeError::Timeout(self.config.order_timeout_secs)),
        };
        if let Err(e) = self.clear_challenge(&row).await {
            tracing::warn!(name = %row.name, error = %e, "cannot remove the challenge TXT");
        }
        let now = Utc::now();
        match result {
            Ok(chain) => {
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    if renewal {
                        "certificate.renewed"
                    } else {
                        "certificate.issued"
                    },
                    target(&row.name),
                    serde_json::json!({
                        "serial": chain.serial, "not_before": chain.not_before,
                        "not_after": chain.not_after, "issuer": chain.issuer,
                    }),
                );
                let outbox = self.notices(&row, &chain, renewal).await;
                match self
                    .store
                    .certificate_issued(row.id, row.order_gen, &chain, &audit, &outbox, now)
                    .await
                {
                    Ok(true) => {
                        self.metrics.certificates_issued.inc();
                        tracing::info!(name = %row.name, serial = %chain.serial,
                            not_after = %chain.not_after, "certificate stored");
                    }
                    Ok(false) => self.revoke_superseded(&row, &chain).await,
                    Err(e) => {
                        tracing::error!(name = %row.name, error = %e, "cannot store the issued certificate")
                    }
                }
            }
            Err(e) => {
                if renewal {
                    self.metrics.certificate_renewal_failures.inc();
                } else {
                    self.metrics.certificate_issuance_failures.inc();
                }
                let attempts = row.attempts + 1;
                let next = self.next_attempt(attempts, now);
                let text = e.to_string();
                tracing::warn!(name = %row.name, attempts, retry_at = ?next, error = %text,
                    "certificate order failed");
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    "certificate.failed",
                    target(&row.name),
                    serde_json::json!({"error": text, "attempts": attempts, "retry_at": next}),
                );
                if let Err(e) = self
                    .store
                    .certificate_failed(row.id, row.order_gen, &text, next, &audit, now)
                    .await
                {
                    tracing::error!(name = %row.name, error = %e, "cannot record the failure");
                }
            }
        }
    }

    /// When to try again after `attempts` failures; `None` once they reach the cap.
    fn next_attempt(&self, attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        certificate::retry_delay(
            attempts,
            self.config.retry_base_secs,
            self.config.retry_max_secs,
            self.config.max_attempts,
        )
        .map(|d| now + d)
    }

    /// A chain issued for an order that was superseded meanwhile (a new order, or the name was
    /// deleted): nobody will use it, so it is revoked at once, and the event is audited.
    async fn revoke_superseded(&self, row: &CertificateRow, chain: &IssuedChain) {
        let outcome = match x509::leaf_of(&chain.chain_pem) {
            Ok(leaf) => self
                .revoke_at_ca(leaf.der, RevocationReason::Superseded)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        tracing::info!(name = %row.name, serial = %chain.serial, ?outcome,
            "an order was superseded while in flight: its certificate is revoked");
        let audit = AuditEntry::by(
            &Attribution::system(),
            "certificate.superseded",
            target(&row.name),
            serde_json::json!({"serial": chain.serial, "revoked": outcome.is_ok(),
                "error": outcome.err()}),
        );
        if let Err(e) = self.store.audit(&audit, Utc::now()).await {
            tracing::error!(name = %row.name, error = %e, "cannot audit the superseded order");
        }
    }

    /// Revoke a certificate (DER) at the CA; one the CA revoked already counts as revoked.
    async fn revoke_at_ca(&self, der: Vec<u8>, reason: RevocationReason) -> Result<(), AcmeError> {
        let der = rustls_pki_types::CertificateDer::from(der);
        let account = self.account(false).await?;
        let request = RevocationRequest {
            certificate: &der,
            reason: Some(reason),
        };
        match account.revoke(&request).await {
            Ok(()) => Ok(()),
            Err(instant_acme::Error::Api(p))
                if p.r#type
                    .as_deref()
                    .is_some_and(|t| t.ends_with(":alreadyRevoked")) =>
            {
                Ok(())
            }
            Err(source) => Err(AcmeError::acme(&self.config.directory, source)),
        }
    }

    /// Order and fetch a chain, registering the account again once if the CA forgot it.
    async fn issue(&self, row: &CertificateRow) -> Result<IssuedChain, AcmeError> {
        let account = self.account(false).await?;
        match self.issue_with(&account, row).await {
            Err(e) if e.account_unknown() => {
                tracing::warn!(directory = %self.config.directory,
                    "the CA does not know ranah's account any more: registering again");
                let account = self.account(true).await?;
                // The old order belonged to the old account.
                let mut fresh = row.clone();
                fresh.order_url = None;
                self.issue_with(&account, &fresh).await
            }
            other => other,
        }
    }

    async fn issue_with(
        &self,
        account: &Account,
        row: &CertificateRow,
    ) -> Result<IssuedChain, AcmeError> {
        let acme = |source| AcmeError::acme(&self.config.directory, source);
        let identifiers = [Identifier::Dns(row.name.clone())];
        // Resume the order in flight before a restart, if the CA still has it usable.
        let resumed = match &row.order_url {
            Some(url) => match account.order(url.clone()).await {
                Ok(mut o) => (!matches!(o.state().status, OrderStatus::Invalid)).then_some(o),
                Err(_) => None,
            },
            None => None,
        };
        let mut order = match resumed {
            Some(o) => {
                tracing::info!(name = %row.name, "resuming the order in flight");
                o
            }
            None => account
                .new_order(&NewOrder::new(&identifiers))
                .await
                .map_err(acme)?,
        };
        self.store
            .set_certificate_order(row.id, order.url())
            .await?;

        let polling = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_secs(self.config.order_timeout_secs));
        // A resumed order may be past its challenges already (ready, processing or valid).
        let mut status = order.state().status;
        if matches!(status, OrderStatus::Pending) {
            let mut authorizations = order.authorizations();
            while let Some(authz) = authorizations.next().await {
                let mut authz = authz.map_err(acme)?;
                match authz.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => {
                        return Err(AcmeError::Order {
                            name: row.name.clone(),
                            status: format!("with an authorization {other:?}"),
                        });
                    }
                }
                let mut challenge =
                    authz
                        .challenge(ChallengeType::Dns01)
                        .ok_or_else(|| AcmeError::Order {
                            name: row.name.clone(),
                            status: "without a DNS-01 challenge".into(),
                        })?;
                let value = challenge.key_authorization().dns_value();
                self.publish_challenge(row, &[value]).await?;
                challenge.set_ready().await.map_err(acme)?;
            }
            status = order.poll_ready(&polling).await.map_err(acme)?;
        }
        match status {
            OrderStatus::Ready => {
                let csr = match row.mode {
                    KeyMode::Csr => row.csr.clone().ok_or_else(|| {
                        AcmeError::Invalid(format!("the CSR of {} is missing", row.name))
                    })?,
                    KeyMode::Managed => {
                        let key = self.managed_key(row).await?;
                        x509::csr_for(&row.name, &key)?
                    }
                };
                order.finalize_csr(&csr).await.map_err(acme)?;
            }
            OrderStatus::Valid | OrderStatus::Processing => {}
            OrderStatus::Invalid => {
                return Err(AcmeError::Challenge {
                    name: row.name.clone(),
                    detail: invalid_reason(&mut order).await,
                });
            }
            other => {
                return Err(AcmeError::Order {
                    name: row.name.clone(),
                    status: format!("{other:?}"),
                });
            }
        }
        let chain_pem = order.poll_certificate(&polling).await.map_err(acme)?;
        let leaf = x509::leaf_of(&chain_pem)?;
        if leaf.names != [row.name.clone()] {
            return Err(AcmeError::Invalid(format!(
                "the CA issued a certificate for {:?}, not for {}",
                leaf.names, row.name
            )));
        }
        let ari_start = self.ari_window_start(account, &leaf.der).await;
        Ok(IssuedChain {
            renew_at: certificate::renewal_time(leaf.not_before, leaf.not_after, ari_start),
            chain_pem,
            serial: leaf.serial,
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            issuer: leaf.issuer,
        })
    }

    /// The start of the CA's suggested renewal window (ARI), where the CA offers it.
    async fn ari_window_start(&self, account: &Account, leaf_der: &[u8]) -> Option<DateTime<Utc>> {
        let der = rustls_pki_types::CertificateDer::from(leaf_der.to_vec());
        let id = instant_acme::CertificateIdentifier::try_from(&der).ok()?;
        match account.renewal_info(&id).await {
            Ok((info, _)) => {
                DateTime::from_timestamp(info.suggested_window.start.unix_timestamp(), 0)
            }
            Err(e) => {
                tracing::debug!(error = %e, "no renewal information from the CA");
                None
            }
        }
    }

    /// The managed key of a certificate, made (and sealed in the store) on first use.
    async fn managed_key(&self, row: &CertificateRow) -> Result<String, AcmeError> {
        if let Some(key) = self.private_key_pem(row)? {
            return Ok(key);
        }
        let key = x509::new_key()?;
        let sealed = self.cipher.seal(key.as_bytes(), &key_label(&row.name))?;
        self.store.set_certificate_key(row.id, &sealed).await?;
        Ok(key)
    }

    /// Publish the challenge values at `_acme-challenge.<name>` (replacing older ones) through
    /// the one change path; returns when ranah's DNS answers them and the secondaries serve
    /// them (or the propagation timeout passed).
    async fn publish_challenge(
        &self,
        row: &CertificateRow,
        values: &[String],
    ) -> Result<(), AcmeError> {
        let (zone, owner) = self.challenge_names(row)?;
        let mut ops = vec![ChangeOp::RemoveRRset(owner.clone(), RecordType::TXT)];
        for value in values {
            ops.push(ChangeOp::Add(Record::from_rdata(
                owner.clone(),
                CHALLENGE_TTL,
                RData::TXT(TXT::new(vec![value.clone()])),
            )));
        }
        let applied = self
            .publisher
            .apply(
                &ChangeSet {
                    zone,
                    ops,
                    meta: ChangeMeta {
                        reason: format!("ACME challenge for {}", row.name),
                        actor: Some(Attribution::system()),
                        ..ChangeMeta::default()
                    },
                },
                Utc::now(),
            )
            .await?;
        // `apply` returns once the view is published; ask the view the DNS server answers
        // from, as a resolver would, so that the CA is told only what DNS says.
        let answer = self
            .publisher
            .zones()
            .resolve(&hickory_proto::rr::LowerName::new(&owner), RecordType::TXT);
        let served: Vec<String> = answer
            .answers
            .iter()
            .flat_map(|set| set.records.iter())
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(txt.to_string()),
                _ => None,
            })
            .collect();
        if let Some(missing) = values.iter().find(|v| !served.contains(v)) {
            return Err(AcmeError::Invalid(format!(
                "DNS does not answer the challenge {missing} at {owner} after publishing it"
            )));
        }
        self.wait_for_secondaries(&row.zone, applied.serial).await;
        Ok(())
    }

    async fn clear_challenge(&self, row: &CertificateRow) -> Result<(), AcmeError> {
        let (zone, owner) = self.challenge_names(row)?;
        self.publisher
            .apply(
                &ChangeSet {
                    zone,
                    ops: vec![ChangeOp::RemoveRRset(owner, RecordType::TXT)],
                    meta: ChangeMeta {
                        reason: format!("ACME challenge for {} done", row.name),
                        actor: Some(Attribution::system()),
                        ..ChangeMeta::default()
                    },
                },
                Utc::now(),
            )
            .await?;
        Ok(())
    }

    fn challenge_names(&self, row: &CertificateRow) -> Result<(Name, Name), AcmeError> {
        let bad = |e: hickory_proto::ProtoError| AcmeError::Invalid(format!("{}: {e}", row.name));
        let zone = Name::from_ascii(&row.zone).map_err(bad)?;
        let owner = Name::from_ascii(format!("{}.", certificate::challenge_owner(&row.name)))
            .map_err(bad)?;
        Ok((zone, owner))
    }

    /// Wait until every secondary of the zone serves `serial` or later, at most
    /// `propagation_timeout_secs` (then go on: the CA asks ranah itself, secondaries are a
    /// courtesy to CAs that ask other name servers).
    async fn wait_for_secondaries(&self, zone: &str, serial: u32) {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.config.propagation_timeout_secs);
        loop {
            let behind = match self.store.secondary_states(Some(zone)).await {
                Ok(states) => states
                    .iter()
                    .filter(|s| {
                        s.served_serial
                            .is_none_or(|x| !crate::dns::transfer::serial_at_or_ahead(x, serial))
                    })
                    .count(),
                Err(_) => 0,
            };
            if behind == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    zone,
                    serial,
                    behind,
                    "secondaries do not serve the challenge yet; going on"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Revoke the certificate of a deleted name at the CA.
    async fn revoke(&self, row: CertificateRow) {
        let now = Utc::now();
        if let Err(e) = self.clear_challenge(&row).await {
            tracing::debug!(name = %row.name, error = %e, "no challenge to clear");
        }
        let result = async {
            let chain = row
                .chain_pem
                .as_deref()
                .ok_or_else(|| AcmeError::Invalid("no chain to revoke".into()))?;
            let leaf = x509::leaf_of(chain)?;
            self.revoke_at_ca(leaf.der, RevocationReason::CessationOfOperation)
                .await?;
            Ok::<_, AcmeError>(leaf.serial)
        }
        .await;
        match result {
            Ok(serial) => {
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    "certificate.revoked",
                    target(&row.name),
                    serde_json::json!({"serial": serial, "reason": "cessationOfOperation"}),
                );
                match self
                    .store
                    .certificate_revoked(row.id, row.order_gen, &audit, now)
                    .await
                {
                    Ok(true) => tracing::info!(name = %row.name, %serial, "certificate revoked"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(name = %row.name, error = %e, "cannot record the revocation")
                    }
                }
            }
            Err(e) => {
                let attempts = row.attempts + 1;
                // A revocation is never given up: after the cap it is retried at the longest delay.
                let longest = chrono::Duration::seconds(
                    i64::try_from(self.config.retry_max_secs).unwrap_or(i64::MAX),
                );
                let next = Some(self.next_attempt(attempts, now).unwrap_or(now + longest));
                let text = e.to_string();
                tracing::warn!(name = %row.name, error = %text, "revocation failed");
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    "certificate.revoke_failed",
                    target(&row.name),
                    serde_json::json!({"error": text, "attempts": attempts}),
                );
                if let Err(e) = self
                    .store
                    .certificate_failed(row.id, row.order_gen, &text, next, &audit, now)
                    .await
                {
                    tracing::error!(name = %row.name, error = %e, "cannot record the failure");
                }
            }
        }
    }

    /// The account: from memory, else from the store, else (or when `fresh`) registered anew
    /// and stored sealed.
    async fn account(&self, fresh: bool) -> Result<Account, AcmeError> {
        let mut slot = self.account.lock().await;
        if !fresh && let Some(account) = &*slot {
            return Ok(account.clone());
        }
        let directory = self.config.directory.clone();
        let acme = |source| AcmeError::acme(&directory, source);
        let label = format!("acme-account:{directory}");
        let stored = if fresh {
            None
        } else {
            self.store.acme_account(&directory).await?
        };
        let account = match stored {
            Some(sealed) => {
                let json = self.cipher.open(&sealed, &label)?;
                let credentials: AccountCredentials = serde_json::from_slice(&json)
                    .map_err(|e| AcmeError::Invalid(format!("stored ACME account: {e}")))?;
                self.builder()
                    .map_err(acme)?
                    .from_credentials(credentials)
                    .await
                    .map_err(acme)?
            }
            None => {
                let contact = self.config.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let eab = match (&self.config.eab_kid, &self.config.eab_hmac_key) {
                    (Some(kid), Some(key)) => {
                        use base64::Engine as _;
                        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(key.expose().trim().trim_end_matches('='))
                            .map_err(|_| {
                                // The decoder's message quotes a byte of the key: not shown.
                                AcmeError::Invalid("acme.eab_hmac_key is not base64url".into())
                            })?;
                        Some(ExternalAccountKey::new(kid.clone(), &bytes))
                    }
                    _ => None,
                };
                let (account, credentials) = self
                    .builder()
                    .map_err(acme)?
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        directory.clone(),
                        eab.as_ref(),
                    )
                    .await
                    .map_err(acme)?;
                let json = serde_json::to_vec(&credentials)
                    .map_err(|e| AcmeError::Invalid(format!("ACME account: {e}")))?;
                let sealed = self.cipher.seal(&json, &label)?;
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    "acme.account_registered",
                    format!("acme/{directory}"),
                    serde_json::json!({"account": account.id(), "contact": contact}),
                );
                self.store
                    .save_acme_account(&directory, &sealed, &audit, Utc::now())
                    .await?;
                tracing::info!(%directory, account = account.id(), "ACME account registered");
                account
            }
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, instant_acme::Error> {
        match &self.config.ca_file {
            Some(file) => Account::builder_with_root(file),
            None => Account::builder(),
        }
    }

    /// The messages that tell the owning agency its (new) chain is ready to fetch.
    async fn notices(
        &self,
        row: &CertificateRow,
        chain: &IssuedChain,
        renewal: bool,
    ) -> Vec<OutboxMessage> {
        let mut out = Vec::new();
        let (subject, body) = certificate::issued_notice(
            &row.name,
            &chain.serial,
            chain.not_after,
            renewal,
            row.mode,
        );
        if self.delivery.email
            && let Some(agency) = row.agency_id
        {
            match self.store.agency_emails(agency).await {
                Ok(emails) => out.extend(emails.into_iter().map(|to| OutboxMessage {
                    channel: "email",
                    recipient: to,
                    subject: subject.clone(),
                    body: body.clone(),
                    attachment: None,
                })),
                Err(e) => tracing::warn!(error = %e, "cannot read the agency's addresses"),
            }
        }
        if let Some(url) = &self.delivery.webhook {
            out.push(OutboxMessage {
                channel: "webhook",
                recipient: url.clone(),
                subject: if renewal {
                    "certificate.renewed"
                } else {
                    "certificate.issued"
                }
                .into(),
                body: serde_json::json!({
                    "type": if renewal { "certificate.renewed" } else { "certificate.issued" },
                    "name": row.name, "serial": chain.serial,
                    "not_before": chain.not_before, "not_after": chain.not_after,
                    "chain": format!("/api/v1/certificates/{}/chain.pem", row.name),
                })
                .to_string(),
                attachment: None,
            });
        }
        out
    }
}

/// Why an order went invalid: the first challenge error the CA reports.
async fn invalid_reason(order: &mut instant_acme::Order) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if let Ok(state) = authz.refresh().await
            && let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref())
        {
            return problem.to_string();
        }
    }
    "the order is invalid (no reason given)".into()
}

/// Whether the worker should act on `row` at `now` (the due list is a snapshot).
fn is_due(row: &CertificateRow, now: DateTime<Utc>) -> bool {
    let passed = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t <= now)
    };
    match row.status {
        CertStatus::Pending | CertStatus::Failed | CertStatus::Revoking => {
            passed(&row.next_attempt_at)
        }
        CertStatus::Issued => passed(&row.renew_at),
        CertStatus::Revoked => false,
    }
}

fn key_label(name: &str) -> String {
    format!("certificate-key:{name}")
}

fn target(name: &str) -> String {
    format!("certificate/{name}")
}
