//! The worker: takes due certificates one at a time (orders, renewals, revocations), retries
//! with a doubling delay, and tells the agency when a certificate is issued or renewed.

use super::*;

impl Certificates {
    /// Work through due certificates until shutdown: at every `check_interval_secs`, and at
    /// once when woken.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        /// How long a claimed order is not due for another worker (see
        /// `Store::claim_certificate`).
        const CLAIM: chrono::Duration = chrono::Duration::seconds(10);
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
                        // An order or a revocation is claimed first (a renewal's start is a
                        // compare-and-set of its own).
                        if row.status != CertStatus::Issued {
                            let now = Utc::now();
                            match self
                                .store
                                .claim_certificate(&row.name, row.guard(), now, now + CLAIM)
                                .await
                            {
                                Ok(true) => {}
                                Ok(false) => continue,
                                Err(e) => {
                                    tracing::warn!(name = %row.name, error = %e, "cannot claim the order");
                                    continue;
                                }
                            }
                        }
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
    pub(super) async fn clear_leftover_challenges(&self) {
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

    pub(super) async fn work(&self, row: CertificateRow) {
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
                    .renew_certificate(&row.name, row.guard(), &audit, Utc::now())
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

    /// When to try again after `attempts` failures; `None` once they reach the cap.
    pub(super) fn next_attempt(&self, attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
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
    pub(super) async fn revoke_superseded(&self, row: &CertificateRow, chain: &IssuedChain) {
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
    pub(super) async fn revoke_at_ca(
        &self,
        der: Vec<u8>,
        reason: RevocationReason,
    ) -> Result<(), AcmeError> {
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

    /// Revoke the certificate of a deleted name at the CA.
    pub(super) async fn revoke(&self, row: CertificateRow) {
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
                    .certificate_revoked(row.id, row.guard(), &audit, now)
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
                self.record_failure(&row, &text, next, &audit, now).await;
            }
        }
    }

    /// Record a failed attempt (an order's or a revocation's) as the core's lifecycle says: a
    /// failed order is `failed`, a revocation stays `revoking`.
    pub(super) async fn record_failure(
        &self,
        row: &CertificateRow,
        error: &str,
        next: Option<DateTime<Utc>>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) {
        let Ok(to) = certificate::next(
            Some(row.status),
            Transition::Failed,
            row.chain_pem.is_some(),
        ) else {
            return;
        };
        if let Err(e) = self
            .store
            .certificate_failed(row.id, (row.guard(), to), error, next, audit, now)
            .await
        {
            tracing::error!(name = %row.name, error = %e, "cannot record the failure");
        }
    }

    /// The messages that tell the owning agency its (new) chain is ready to fetch.
    pub(super) async fn notices(
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
                    "not_before": time::stamp(chain.not_before),
                    "not_after": time::stamp(chain.not_after),
                    "chain": format!("/api/v1/certificates/{}/chain.pem", row.name),
                })
                .to_string(),
                attachment: None,
            });
        }
        out
    }
}

/// Whether the worker should act on `row` at `now` (the due list is a snapshot).
pub(super) fn is_due(row: &CertificateRow, now: DateTime<Utc>) -> bool {
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
