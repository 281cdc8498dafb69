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
//! managed keys are sealed in the store ([`crate::acme::sealing`]).

mod account;
mod challenge;
mod order;
pub mod sealing;
mod worker;
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

use crate::acme::sealing::{KeyCipher, SealError};
use crate::config::AcmeConfig;
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::certificate::{self, CertStatus, KeyMode, Transition};
use crate::domain::time;
use crate::publish::{ChangeOp, ChangeSet, PublishError, Publisher};
use crate::store::{CertificateRow, ChangeMeta, IssuedChain, OutboxMessage, Store, StoreError};
use crate::telemetry::metrics::Metrics;

/// TTL of the challenge TXT records: short, they live for seconds.
pub(super) const CHALLENGE_TTL: u32 = 60;

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
    issued: Arc<Notify>,
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
            issued: Arc::new(Notify::new()),
            account: Mutex::new(None),
        })
    }

    /// What wakes the worker when new work is stored.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// What the worker signals each time it stores an issued or renewed chain (the API's own
    /// certificate is loaded from the store then, not at the next check).
    pub fn issued_signal(&self) -> Arc<Notify> {
        self.issued.clone()
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
}

pub(super) fn key_label(name: &str) -> String {
    format!("certificate-key:{name}")
}

pub(super) fn target(name: &str) -> String {
    format!("certificate/{name}")
}
