//! The ACME account: registered once, sealed in the store, registered again when the CA no
//! longer knows it.

use super::*;

impl Certificates {
    /// The account: from memory, else from the store, else (or when `fresh`) registered anew
    /// and stored sealed.
    pub(super) async fn account(&self, fresh: bool) -> Result<Account, AcmeError> {
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

    pub(super) fn builder(&self) -> Result<instant_acme::AccountBuilder, instant_acme::Error> {
        match &self.config.ca_file {
            Some(file) => Account::builder_with_root(file),
            None => Account::builder(),
        }
    }
}
