//! Zones as the API and the operators see them: each zone's serial, size, last change and
//! secondaries; its records with their provenance; its export as a master file; and the
//! register of subdomains (daftar subdomain) across the zones.

use std::collections::BTreeMap;
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name, RecordType};

use super::ServiceError;
use crate::dns::secondaries::{self, SecondaryReport};
use crate::domain::access::{self, Actor};
use crate::domain::policy;
use crate::publish::Publisher;
use crate::store::{CertificateRow, LastChange, Store, StoredRequest, Suspension};
use crate::zone::file;

/// A zone's state.
#[derive(Debug, Clone)]
pub struct ZoneState {
    /// The apex, without the trailing dot.
    pub zone: String,
    /// The SOA serial served now.
    pub serial: u32,
    /// Records served.
    pub records: usize,
    /// Names served.
    pub names: usize,
    /// The last change, if any.
    pub last_change: Option<LastChange>,
    /// The secondaries as last seen.
    pub secondaries: Vec<SecondaryReport>,
    /// DNSSEC: whether the zone is signed, its keys, and the DS for the registry.
    pub dnssec: ZoneDnssec,
}

/// A zone's DNSSEC state.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ZoneDnssec {
    /// Whether the zone is served signed.
    pub signed: bool,
    /// Its keys, removed ones included.
    pub keys: Vec<crate::service::dnssec::KeyReport>,
    /// The DS records to give the registry (master-file lines).
    pub ds: Vec<String>,
}

/// A record with its provenance.
#[derive(Debug, Clone)]
pub struct RecordEntry {
    /// Owner name, absolute.
    pub name: String,
    /// Type.
    pub rtype: String,
    /// TTL.
    pub ttl: u32,
    /// Data in master-file form.
    pub value: String,
    /// Owning agency's code.
    pub agency: Option<String>,
    /// The request that created it.
    pub request: Option<i64>,
}

/// One name of the register.
#[derive(Debug, Clone)]
pub struct RegisterEntry {
    /// The name, without the trailing dot.
    pub name: String,
    /// Its zone, without the trailing dot.
    pub zone: String,
    /// Owning agency's code.
    pub agency: Option<String>,
    /// Its records: type, TTL, value.
    pub records: Vec<(String, u32, String)>,
    /// The request that last made or changed it.
    pub request: Option<StoredRequest>,
    /// Whether the caller may see the request's contact.
    pub contact_visible: bool,
    /// The name's certificate.
    pub certificate: Option<CertificateRow>,
    /// The active suspension, if suspended.
    pub suspension: Option<Suspension>,
    /// When its first record was written.
    pub created_at: Option<String>,
    /// The kinds of its open findings (the oversight checker's).
    pub findings: Vec<String>,
}

/// Zones and the register.
pub struct Zones {
    store: Store,
    publisher: Arc<Publisher>,
    /// The office's letterhead, for the register as PDF.
    letterhead: Vec<String>,
    /// The calendar's time zone: the register's date.
    time_zone: chrono_tz::Tz,
    /// One PDF made at a time, off the runtime's threads: each takes a core for a moment (a
    /// register of 10,000 names is a few hundred pages).
    renders: Arc<tokio::sync::Semaphore>,
    /// The office's signer of the documents, when configured.
    signer: Option<Arc<crate::outbox::sign::PdfSigner>>,
}

fn not_found(zone: &str) -> ServiceError {
    ServiceError::NotFound(format!("zone {zone}"))
}

impl Zones {
    /// The service over the store and the served zones.
    pub fn new(store: Store, publisher: Arc<Publisher>) -> Self {
        Self {
            store,
            publisher,
            letterhead: crate::config::LetterConfig::default().letterhead,
            time_zone: chrono_tz::Asia::Makassar,
            renders: Arc::new(tokio::sync::Semaphore::new(1)),
            signer: None,
        }
    }

    /// The register's PDF with this letterhead, dated in this time zone.
    pub fn with_documents(mut self, letterhead: Vec<String>, time_zone: chrono_tz::Tz) -> Self {
        self.letterhead = letterhead;
        self.time_zone = time_zone;
        self
    }

    /// The register as the caller may see it, as PDF (the office's "daftar subdomain"), dated
    /// `now`.
    pub async fn register_pdf(
        &self,
        caller: &Actor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<u8>, ServiceError> {
        use crate::outbox::register::{RegisterRow, render};
        let entries = self.register(caller).await?;
        let mut zones: Vec<String> = self
            .publisher
            .zones()
            .origins()
            .into_iter()
            .map(|o| Name::from(o).to_ascii().trim_end_matches('.').to_owned())
            .collect();
        zones.sort();
        let rows: Vec<RegisterRow> = entries
            .iter()
            .map(|e| RegisterRow {
                name: e.name.clone(),
                agency: e.agency.clone().unwrap_or_else(|| "-".into()),
                records: e
                    .records
                    .iter()
                    .map(|(rtype, _, value)| format!("{rtype} {value}"))
                    .collect(),
                purpose: e
                    .request
                    .as_ref()
                    .map(|r| r.data.purpose.clone())
                    .unwrap_or_default(),
                certificate: match &e.certificate {
                    Some(c) => match &c.not_after {
                        Some(until) => format!(
                            "{} s.d. {}",
                            c.status.in_indonesian(),
                            until.get(..10).unwrap_or(until)
                        ),
                        None => c.status.in_indonesian().into(),
                    },
                    None => "-".into(),
                },
                state: match &e.suspension {
                    Some(s) => format!(
                        "ditangguhkan sejak {}",
                        s.suspended_at.get(..10).unwrap_or(&s.suspended_at)
                    ),
                    None => "aktif".into(),
                } + &if e.findings.is_empty() || !e.contact_visible {
                    String::new()
                } else {
                    format!("; temuan: {}", e.findings.join(", "))
                },
            })
            .collect();
        let fault = |e: String| ServiceError::internal("the register as PDF", e);
        let _turn = self
            .renders
            .acquire()
            .await
            .map_err(|e| fault(e.to_string()))?;
        let letterhead = self.letterhead.clone();
        let date = now.with_timezone(&self.time_zone);
        let signer = self.signer.clone();
        tokio::task::spawn_blocking(move || {
            let note = crate::outbox::sign::note(signer.as_deref());
            let pdf = render(&letterhead, &zones.join(", "), &date, &rows, &note)
                .map_err(|e| fault(e.to_string()))?;
            crate::outbox::sign::finish(pdf, signer.as_deref(), "Daftar subdomain", now)
                .map_err(|e| fault(e.to_string()))
        })
        .await
        .map_err(|e| fault(e.to_string()))?
    }

    /// Sign the documents it makes (the register as PDF) with the office's certificate.
    pub fn with_signer(mut self, signer: Option<Arc<crate::outbox::sign::PdfSigner>>) -> Self {
        self.signer = signer;
        self
    }

    /// The apex of a served zone given as text (any case, U-labels or A-labels, with or
    /// without one final dot: the policy's [`normal_name`](crate::domain::policy::normal_name)).
    fn served(&self, zone: &str) -> Result<Name, ServiceError> {
        let normal = crate::domain::policy::normal_name(zone).map_err(|_| not_found(zone))?;
        let n = Name::from_ascii(format!("{normal}.")).map_err(|_| not_found(zone))?;
        self.publisher
            .zones()
            .get(&LowerName::new(&n))
            .ok_or_else(|| not_found(zone))?;
        Ok(n)
    }

    async fn state(&self, origin: &Name) -> Result<ZoneState, ServiceError> {
        let handle = self
            .publisher
            .zones()
            .get(&LowerName::new(origin))
            .ok_or_else(|| not_found(&origin.to_ascii()))?;
        let view = handle.view();
        let apex = origin.to_ascii();
        Ok(ZoneState {
            zone: apex.trim_end_matches('.').to_owned(),
            serial: view.serial(),
            records: view.record_count(),
            names: view.name_count(),
            last_change: self.store.last_change(&apex).await?,
            secondaries: secondaries::reports(&self.store, &apex, view.serial()).await?,
            dnssec: ZoneDnssec {
                signed: view.is_signed(),
                keys: crate::service::dnssec::key_reports(&self.store, origin)
                    .await
                    .map_err(dnssec_fault)?,
                ds: crate::service::dnssec::ds_records(&self.store, origin)
                    .await
                    .map_err(dnssec_fault)?,
            },
        })
    }

    /// Every zone served.
    pub async fn list(&self) -> Result<Vec<ZoneState>, ServiceError> {
        let mut out = Vec::new();
        for o in self.publisher.zones().origins() {
            out.push(self.state(&Name::from(o)).await?);
        }
        Ok(out)
    }

    /// One zone.
    pub async fn get(&self, zone: &str) -> Result<ZoneState, ServiceError> {
        self.state(&self.served(zone)?).await
    }

    /// A zone's records with their provenance.
    pub async fn records(&self, zone: &str) -> Result<Vec<RecordEntry>, ServiceError> {
        let origin = self.served(zone)?;
        let rows = self.store.record_rows(Some(&origin.to_ascii())).await?;
        let codes = self.agency_codes().await?;
        Ok(rows
            .into_iter()
            .map(|r| RecordEntry {
                name: r.owner,
                rtype: RecordType::from(r.rtype).to_string(),
                ttl: r.ttl,
                value: r.data,
                agency: r.agency_id.and_then(|a| codes.get(&a).cloned()),
                request: r.request_id,
            })
            .collect())
    }

    /// A zone as an RFC 1035 master file: for admins.
    pub async fn export(&self, caller: &Actor, zone: &str) -> Result<String, ServiceError> {
        if !access::may_manage_zones(caller) {
            return Err(ServiceError::Forbidden(
                "only an admin exports zones".into(),
            ));
        }
        let origin = self.served(zone)?;
        let stored = self
            .store
            .load_zone(&origin)
            .await?
            .ok_or_else(|| not_found(zone))?;
        Ok(file::export(&stored.content))
    }

    async fn agency_codes(&self) -> Result<BTreeMap<i64, String>, ServiceError> {
        Ok(self
            .store
            .agencies()
            .await?
            .into_iter()
            .map(|a| (a.id, a.code))
            .collect())
    }

    /// The register (daftar subdomain): every name below a zone's apex that has records, with
    /// its agency, records, the request that made it, certificate and state; ranah's own
    /// records (the `_audit` anchor, ACME challenges: [`policy::own_record`]) are no agency's
    /// subdomain and are left out. Contacts only to the owning agency and the office.
    pub async fn register(&self, caller: &Actor) -> Result<Vec<RegisterEntry>, ServiceError> {
        let rows = self.store.record_rows(None).await?;
        let mut open: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in self.store.open_findings().await? {
            open.entry(f.owner).or_default().push(f.kind);
        }
        self.entries(caller, &rows, open).await
    }

    /// One name of the register (below a served zone's apex, with records).
    pub async fn subdomain(
        &self,
        caller: &Actor,
        name: &str,
    ) -> Result<RegisterEntry, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("subdomain {name}"));
        let normal = policy::normal_name(name).map_err(|_| not_found())?;
        let owner = Name::from_ascii(format!("{normal}.")).map_err(|_| not_found())?;
        let zone = self
            .publisher
            .zones()
            .find(&LowerName::new(&owner))
            .ok_or_else(not_found)?;
        let apex = Name::from(zone.view().origin().clone()).to_ascii();
        let owner = owner.to_ascii();
        let rows = self.store.record_rows_at(&apex, &owner).await?;
        let kinds = self.store.open_findings_of(&owner).await?;
        let open = BTreeMap::from([(owner, kinds.into_iter().map(|f| f.kind).collect())]);
        self.entries(caller, &rows, open)
            .await?
            .into_iter()
            .next()
            .ok_or_else(not_found)
    }

    /// The register's entries of these record rows, with the open findings' kinds by name.
    async fn entries(
        &self,
        caller: &Actor,
        rows: &[crate::store::RecordRow],
        mut open: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<RegisterEntry>, ServiceError> {
        let codes = self.agency_codes().await?;
        let mut by_name: BTreeMap<(String, String), Vec<&crate::store::RecordRow>> =
            BTreeMap::new();
        for r in rows {
            let own = policy::own_record(&r.zone, &r.owner, &RecordType::from(r.rtype).to_string());
            if r.owner != r.zone && own.is_none() {
                by_name
                    .entry((r.zone.clone(), r.owner.clone()))
                    .or_default()
                    .push(r);
            }
        }
        // The requests and certificates of every name at once, rather than one query per name.
        let ids: Vec<i64> = by_name
            .values()
            .filter_map(|rs| rs.iter().filter_map(|r| r.request_id).max())
            .collect();
        let mut requests: BTreeMap<i64, StoredRequest> = self
            .store
            .requests_by_id(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let names: Vec<String> = by_name
            .keys()
            .map(|(_, owner)| owner.trim_end_matches('.').to_owned())
            .collect();
        let mut certificates: BTreeMap<String, CertificateRow> = self
            .store
            .certificates_named(&names)
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let mut out = Vec::with_capacity(by_name.len());
        for ((zone, owner), records) in by_name {
            let agency = records.iter().find_map(|r| r.agency_id);
            let suspension = if records.iter().any(|r| r.suspension_id.is_some()) {
                self.store.active_suspension(&zone, &owner).await?
            } else {
                None
            };
            let request_id = records.iter().filter_map(|r| r.request_id).max();
            let name = owner.trim_end_matches('.').to_owned();
            out.push(RegisterEntry {
                zone: zone.trim_end_matches('.').to_owned(),
                agency: agency.and_then(|a| codes.get(&a).cloned()),
                records: records
                    .iter()
                    .map(|r| (RecordType::from(r.rtype).to_string(), r.ttl, r.data.clone()))
                    .collect(),
                request: request_id.and_then(|id| requests.remove(&id)),
                contact_visible: access::may_see_contacts(caller, agency),
                certificate: certificates.remove(&name),
                suspension,
                created_at: records.iter().map(|r| r.created_at.clone()).min(),
                findings: open.remove(&owner).unwrap_or_default(),
                name,
            });
        }
        Ok(out)
    }
}

/// The columns of the register as CSV (the office's "daftar subdomain").
const REGISTER_COLUMNS: [&str; 19] = [
    "name",
    "zone",
    "agency",
    "state",
    "records",
    "request",
    "purpose",
    "contact_name",
    "contact_email",
    "contact_phone",
    "certificate_status",
    "certificate_not_after",
    "suspended_since",
    "suspension_reason",
    "created_at",
    "open_findings",
    "letter_channel",
    "letter_number",
    "letter_date",
];

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
/// return first, after any spaces) begins with an apostrophe: what applicants wrote (a
/// purpose, a contact) is shown, never run, when staff open the file. A phone number written
/// `+62…` shows the apostrophe too: the price of never running one.
fn cell(text: &str) -> String {
    if text
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The register as CSV: one row per name, with what the caller may see of it (the contact
/// only where [`RegisterEntry::contact_visible`]).
pub fn register_csv(entries: &[RegisterEntry]) -> Result<String, ServiceError> {
    let fault = |e: csv::Error| ServiceError::internal("the register as CSV", e);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(REGISTER_COLUMNS).map_err(fault)?;
    for e in entries {
        let records = e
            .records
            .iter()
            .map(|(rtype, ttl, value)| format!("{rtype} {ttl} {value}"))
            .collect::<Vec<_>>()
            // One a line: a TXT's text may hold `;` or `,` (DMARC, SPF).
            .join("\n");
        let contact = e
            .request
            .as_ref()
            .filter(|_| e.contact_visible)
            .map(|r| &r.data.contact);
        let letter = e
            .request
            .as_ref()
            .filter(|_| e.contact_visible)
            .and_then(|r| r.data.letter.as_ref());
        let field = |key: &str| {
            contact
                .and_then(|c| c[key].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let row = [
            e.name.clone(),
            e.zone.clone(),
            e.agency.clone().unwrap_or_default(),
            if e.suspension.is_some() {
                "suspended"
            } else {
                "active"
            }
            .to_owned(),
            records,
            e.request
                .as_ref()
                .map(|r| r.id.to_string())
                .unwrap_or_default(),
            e.request
                .as_ref()
                .map(|r| r.data.purpose.clone())
                .unwrap_or_default(),
            field("name"),
            field("email"),
            field("phone"),
            e.certificate
                .as_ref()
                .map(|c| c.status.as_str().to_owned())
                .unwrap_or_default(),
            e.certificate
                .as_ref()
                .and_then(|c| c.not_after.clone())
                .unwrap_or_default(),
            e.suspension
                .as_ref()
                .map(|s| s.suspended_at.clone())
                .unwrap_or_default(),
            e.suspension
                .as_ref()
                .map(|s| s.reason.clone())
                .unwrap_or_default(),
            e.created_at.clone().unwrap_or_default(),
            if e.contact_visible {
                e.findings.join(" ")
            } else {
                String::new()
            },
            letter
                .map(|l| l.channel.as_str().to_owned())
                .unwrap_or_default(),
            letter.and_then(|l| l.number.clone()).unwrap_or_default(),
            letter
                .and_then(|l| l.date)
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ];
        out.write_record(row.iter().map(|c| cell(c)))
            .map_err(fault)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ServiceError::internal("the register as CSV", e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ServiceError::internal("the register as CSV", e))
}

fn dnssec_fault(e: crate::service::dnssec::DnssecError) -> ServiceError {
    ServiceError::Internal {
        what: "the zone's DNSSEC keys".into(),
        cause: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_cells_are_never_formulas() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for c in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(cell(c).starts_with('\''), "{c}");
        }
        assert_eq!(cell("Sistem informasi"), "Sistem informasi");
        assert_eq!(cell("  =1+1"), "'  =1+1");
        assert_eq!(cell(""), "");
        let empty = register_csv(&[]).unwrap();
        assert_eq!(empty.lines().count(), 1);
        assert!(
            empty.starts_with("name,zone,agency,state,records,"),
            "{empty}"
        );
    }
}
