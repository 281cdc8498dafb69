//! Certificates as the API offers them: the list and each certificate (public facts, as in CT
//! logs), its chain, the managed key for the owning agency (each download audited), and
//! orders. The ACME work itself is the worker's ([`crate::acme::Certificates`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::rr::{LowerName, Name};

use super::ServiceError;
use crate::acme::{Certificates as Worker, x509};
use crate::domain::access::{self, Actor};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::certificate::{
    self as cert, CertStatus, KeyMode, OwnCertificate, Transition, TransitionRefused, normal_name,
};
use crate::domain::policy::FieldError;
use crate::publish::Publisher;
pub use crate::store::CertificateRow;
use crate::store::{NewCertificate, OrderPlan, Store, StoreError};

/// Certificates for the API.
pub struct Certificates {
    store: Store,
    publisher: Arc<Publisher>,
    /// The ACME worker; `None` when no directory is configured.
    worker: Option<Arc<Worker>>,
}

/// Why an order or a key download is refused besides the common errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateRefusal {
    /// No ACME directory is configured.
    #[error("certificates are not issued here: no ACME directory is configured ([acme] directory)")]
    Off,
    /// An order for the name is in flight already.
    #[error("{0} is in flight already")]
    InFlight(String),
    /// The certificate has no chain yet.
    #[error("the certificate for {0} is not issued yet")]
    NotIssued(String),
    /// No managed key: CSR mode, or the first order has not made it yet.
    #[error("the certificate for {name} {why}")]
    NoManagedKey {
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
}

fn field(code: &'static str, field: &str, message: String) -> ServiceError {
    ServiceError::Validation(vec![FieldError {
        field: field.into(),
        code,
        message,
    }])
}

impl Certificates {
    /// The service over the store, the zones and the worker (if ACME is configured).
    pub fn new(store: Store, publisher: Arc<Publisher>, worker: Option<Arc<Worker>>) -> Self {
        Self {
            store,
            publisher,
            worker,
        }
    }

    /// Whether certificates are issued here (an ACME directory is configured).
    pub fn configured(&self) -> bool {
        self.worker.is_some()
    }

    /// What fires each time the worker stores an issued or renewed chain; `None` without ACME.
    pub fn issued_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.worker.as_ref().map(|w| w.issued_signal())
    }

    /// Order the API's own certificate (`api.tls.acme_name`) unless it has one issued or on
    /// its way; at start. The name must be in a served zone (it needs no records: DNS-01 only
    /// adds `_acme-challenge.<name>`), and its certificate, if any, must not be an agency's.
    /// The worker issues and renews it like any other.
    pub async fn ensure_api_certificate(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<CertificateRow, ServiceError> {
        let worker = self.worker.as_ref().ok_or(CertificateRefusal::Off)?;
        let name = normal_name(name);
        let zone = self.zone_of(&name)?;
        let current = self.store.certificate(&name).await?;
        let state = current
            .as_ref()
            .map(|c| (c.status, c.mode, c.agency_id, c.next_attempt_at.is_some()));
        match cert::own_certificate(state) {
            OwnCertificate::Keep => {}
            OwnCertificate::NotOurs => {
                return Err(field(
                    "name_taken",
                    "api.tls.acme_name",
                    format!(
                        "{name} has a certificate of an agency's: give the API a name of its own"
                    ),
                ));
            }
            OwnCertificate::Order => {
                let audit = AuditEntry::by(
                    &Attribution::system(),
                    "certificate.order",
                    format!("certificate/{name}"),
                    serde_json::json!({"mode": KeyMode::Managed.as_str(), "for": "api"}),
                );
                let plan = OrderPlan {
                    replaces: current.as_ref().map(CertificateRow::guard),
                    keep_key: current.as_ref().is_some_and(|c| {
                        cert::keeps_managed_key(
                            (c.mode, c.status, c.agency_id),
                            KeyMode::Managed,
                            None,
                        )
                    }),
                };
                let new = NewCertificate {
                    name: name.clone(),
                    zone,
                    agency_id: None,
                    request_id: None,
                    mode: KeyMode::Managed,
                    csr: None,
                };
                self.store
                    .order_certificate(&new, &plan, &audit, now)
                    .await?;
                worker.waker().notify_one();
            }
        }
        self.get(&name).await
    }

    /// The API's own certificate as it is to be served: its chain and managed key (PEM), once
    /// issued and while not revoked; `None` before.
    pub async fn api_certificate(
        &self,
        name: &str,
    ) -> Result<Option<(String, String)>, ServiceError> {
        let worker = self.worker.as_ref().ok_or(CertificateRefusal::Off)?;
        let Some(row) = self.store.certificate(&normal_name(name)).await? else {
            return Ok(None);
        };
        let (Some(chain), false) = (
            row.chain_pem.clone(),
            matches!(row.status, CertStatus::Revoking | CertStatus::Revoked),
        ) else {
            return Ok(None);
        };
        let key = worker
            .private_key_pem(&row)
            .map_err(|e| ServiceError::internal(format!("the stored key of {}", row.name), e))?;
        Ok(key.map(|key| (chain, key)))
    }

    /// The served zone `name` is in (its apex, with the trailing dot).
    fn zone_of(&self, name: &str) -> Result<String, ServiceError> {
        let lower = Name::from_ascii(format!("{name}."))
            .map(|n| LowerName::new(&n))
            .map_err(|e| field("invalid_name", "name", format!("{name}: {e}")))?;
        self.publisher
            .zones()
            .find(&lower)
            .map(|h| h.view().origin().to_ascii().to_ascii_lowercase())
            .ok_or_else(|| {
                field(
                    "no_such_zone",
                    "name",
                    format!("{name} is in no zone served here"),
                )
            })
    }

    /// Every certificate.
    pub async fn list(&self) -> Result<Vec<CertificateRow>, ServiceError> {
        Ok(self.store.certificates().await?)
    }

    /// The certificate of a name.
    pub async fn get(&self, name: &str) -> Result<CertificateRow, ServiceError> {
        let name = normal_name(name);
        self.store
            .certificate(&name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("certificate for {name}")))
    }

    /// The chain of a name's certificate, PEM, leaf first.
    pub async fn chain(&self, name: &str) -> Result<String, ServiceError> {
        let row = self.get(name).await?;
        row.chain_pem
            .ok_or_else(|| CertificateRefusal::NotIssued(row.name).into())
    }

    /// The managed private key of a name's certificate, for the owning agency only; each
    /// download is audited.
    pub async fn key(
        &self,
        caller: &Actor,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        let row = self.get(name).await?;
        if !access::may_download_key(caller, row.agency_id) {
            return Err(ServiceError::Forbidden(format!(
                "only the agency that owns {} may download its key",
                row.name
            )));
        }
        let worker = self.worker.as_ref().ok_or(CertificateRefusal::Off)?;
        let pem = worker
            .private_key_pem(&row)
            .map_err(|e| ServiceError::internal(format!("the stored key of {}", row.name), e))?
            .ok_or_else(|| CertificateRefusal::NoManagedKey {
                name: row.name.clone(),
                why: match row.mode {
                    KeyMode::Csr => "was made from the agency's CSR: its key never left the agency",
                    KeyMode::Managed => "has no key yet (its first order has not started)",
                },
            })?;
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "certificate.key_download",
            format!("certificate/{}", row.name),
            serde_json::json!({"serial": row.serial}),
        );
        self.store.audit(&audit, now).await?;
        Ok(pem)
    }

    /// Order a certificate for an existing name, by its agency or an admin: with the agency's
    /// CSR (PEM), or with a key ranah makes and keeps. The worker issues it in the background.
    pub async fn order(
        &self,
        caller: &Actor,
        name: &str,
        csr: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CertificateRow, ServiceError> {
        let worker = self.worker.as_ref().ok_or(CertificateRefusal::Off)?;
        let name = normal_name(name);
        let zone = self.zone_of(&name)?;
        let owners = self.store.owners_of(&zone, &format!("{name}.")).await?;
        if owners.is_empty() || format!("{name}.") == zone {
            return Err(field(
                "no_such_name",
                "name",
                format!("{name} has no records here: a certificate is for an existing subdomain"),
            ));
        }
        let agency = owners.iter().find_map(|o| *o);
        if !access::may_order_certificate(caller, agency) {
            return Err(ServiceError::Forbidden(format!(
                "only the agency that owns {name} or an admin may order its certificate"
            )));
        }
        let (mode, csr) = match csr {
            Some(pem_text) => (
                KeyMode::Csr,
                Some(
                    x509::check_csr(pem_text, &name)
                        .map_err(|e| field("invalid_csr", "csr", e.to_string()))?,
                ),
            ),
            None => (KeyMode::Managed, None),
        };
        let audit = AuditEntry::by(
            &Attribution::of(caller),
            "certificate.order",
            format!("certificate/{name}"),
            serde_json::json!({"mode": mode.as_str()}),
        );
        let current = self.store.certificate(&name).await?;
        match cert::next(current.as_ref().map(|c| c.status), Transition::Order, false) {
            Ok(_) => {}
            Err(TransitionRefused::Revoking) => {
                return Err(CertificateRefusal::InFlight(format!(
                    "the revocation of the certificate for {name}"
                ))
                .into());
            }
            Err(_) => {
                return Err(CertificateRefusal::InFlight(format!(
                    "an order for a certificate for {name}"
                ))
                .into());
            }
        }
        let plan = OrderPlan {
            replaces: current.as_ref().map(CertificateRow::guard),
            keep_key: current.as_ref().is_some_and(|c| {
                cert::keeps_managed_key((c.mode, c.status, c.agency_id), mode, agency)
            }),
        };
        let new = NewCertificate {
            name: name.clone(),
            zone,
            agency_id: agency,
            request_id: None,
            mode,
            csr,
        };
        match self.store.order_certificate(&new, &plan, &audit, now).await {
            Ok(()) => {}
            // Another order came first, between the read and the write.
            Err(StoreError::Conflict(_)) => {
                return Err(CertificateRefusal::InFlight(format!(
                    "an order for a certificate for {name}"
                ))
                .into());
            }
            Err(e) => return Err(e.into()),
        }
        worker.waker().notify_one();
        self.get(&name).await
    }
}
