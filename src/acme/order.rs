//! One order at the CA: new order, DNS-01 challenges, finalization with the agency's CSR or a
//! managed key, the chain, and the renewal window the CA suggests (ARI).

use super::*;

impl Certificates {
    /// One attempt at an order, bounded in time; the challenge TXT is removed afterwards
    /// whatever happened.
    pub(super) async fn order(&self, row: CertificateRow) {
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
                        "serial": chain.serial, "not_before": time::stamp(chain.not_before),
                        "not_after": time::stamp(chain.not_after), "issuer": chain.issuer,
                    }),
                );
                let outbox = self.notices(&row, &chain, renewal).await;
                match self
                    .store
                    .certificate_issued(row.id, row.guard(), &chain, &audit, &outbox, now)
                    .await
                {
                    Ok(true) => {
                        self.metrics.certificates_issued.inc();
                        self.issued.notify_one();
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
                    serde_json::json!({"error": text, "attempts": attempts,
                        "retry_at": next.map(time::stamp)}),
                );
                self.record_failure(&row, &text, next, &audit, now).await;
            }
        }
    }

    /// Order and fetch a chain, registering the account again once if the CA forgot it.
    pub(super) async fn issue(&self, row: &CertificateRow) -> Result<IssuedChain, AcmeError> {
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

    pub(super) async fn issue_with(
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
    pub(super) async fn ari_window_start(
        &self,
        account: &Account,
        leaf_der: &[u8],
    ) -> Option<DateTime<Utc>> {
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
    pub(super) async fn managed_key(&self, row: &CertificateRow) -> Result<String, AcmeError> {
        if let Some(key) = self.private_key_pem(row)? {
            return Ok(key);
        }
        let key = x509::new_key()?;
        let sealed = self.cipher.seal(key.as_bytes(), &key_label(&row.name))?;
        self.store.set_certificate_key(row.id, &sealed).await?;
        Ok(key)
    }
}

/// Why an order went invalid: the first challenge error the CA reports.
pub(super) async fn invalid_reason(order: &mut instant_acme::Order) -> String {
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
