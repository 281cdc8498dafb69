//! Subdomain requests: submit, and act on them (approve, return, reject, resubmit, withdraw),
//! provisioning the records in the same transaction as the approval of the `provision` step.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use serde::{Deserialize, Serialize};

use crate::domain::access::{self, Actor, AgencyFilter, Named, Refusal};
use crate::domain::attachment;
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::calendar::Calendar;
use crate::domain::notice;
use crate::domain::policy::{
    self, Carried, FieldError, Policy, RecordValue, RequestedRecord, wire_len,
};
use crate::domain::request::{self, Command, DomainError, Event, Kind, Request};
use crate::domain::workflow::{Effect, Workflow};
use crate::publish::{ChangeOp, ChangeSet, Publisher, RequestCommit};
use crate::store::{
    Attachment, ChangeMeta, Files, HistoryEntry, OutboxMessage, RequestData, Store, StoreError,
    StoredRequest,
};

pub use super::error::ServiceError;

/// Most requests on one page of a list.
pub const MAX_PER_PAGE: u32 = 200;
/// The highest page number of a list (the document's `int32`).
pub const MAX_PAGE_NUMBER: u32 = i32::MAX as u32;

/// The filters and page of a request list, as the caller gives them. Unknown parameters are
/// ignored (a cache-buster such as `?_=123` must not break a list).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// `in_review`, `returned`, `completed`, `rejected` or `withdrawn`.
    pub status: Option<String>,
    /// A step id of the workflow.
    pub step: Option<String>,
    /// An agency's code (office roles and auditors; an applicant sees its own agency only).
    pub agency: Option<String>,
    /// Only requests past (true) or within (false) their step's due time.
    pub overdue: Option<bool>,
    /// The page, from 1 (a page out of range is refused).
    pub page: Option<u32>,
    /// Requests per page (default 50, at most 200; more is refused).
    pub per_page: Option<u32>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The page, from 1.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items on all pages.
    pub total: u64,
}

/// A request as it is shown: with its history, attachments, certificate and due time.
#[derive(Debug, Clone)]
pub struct RequestView {
    /// The request.
    pub request: StoredRequest,
    /// Its history, oldest first.
    pub history: Vec<crate::store::StoredHistoryEntry>,
    /// Its attachments, oldest first.
    pub attachments: Vec<Attachment>,
    /// The current step, while in review or returned.
    pub step: Option<crate::domain::workflow::Step>,
    /// When the current step is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Whether it is past that.
    pub overdue: bool,
    /// When the whole service is due (the workflow's whole-service standard from submission,
    /// the clock stopped while returned).
    pub service_due_at: Option<DateTime<Utc>>,
    /// Whether the whole service is (or was, when completed) past that.
    pub service_overdue: bool,
    /// The name's certificate, if the request asked for one and it exists.
    pub certificate: Option<crate::store::CertificateRow>,
    /// `not_requested`, `not_configured`, `not_started`, or the certificate's status.
    pub certificate_status: &'static str,
    /// What the reviewers are warned of (addresses outside the zone's ranges, where those are
    /// reviewed rather than refused).
    pub warnings: Vec<crate::domain::policy::Warning>,
}

/// A file sent with a request.
#[derive(Debug, Clone)]
pub struct Upload {
    /// What it is.
    pub kind: attachment::Kind,
    /// Its bytes.
    pub bytes: bytes::Bytes,
}

/// The contact person of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
}

/// A requested record as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordInput {
    /// `A`, `AAAA`, `CNAME`, `TXT` or `MX`.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The value.
    pub value: String,
    /// TTL (default 3600).
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

/// A request an integration opens ([`Requests::open_for_integration`]) for one write at a
/// name directly under the zone, already decided by the Cloudflare-compatible API's service.
#[derive(Debug, Clone)]
pub struct Opening {
    /// What the write asks of the name.
    pub kind: Kind,
    /// The zone, without the final dot.
    pub zone: String,
    /// The label under the zone.
    pub label: String,
    /// The records the name will have, as staff read the request (none for a deletion).
    pub records: Vec<RecordInput>,
    /// The write itself: what approving the request does.
    pub write: IntegrationWrite,
    /// The agency the request is for.
    pub agency_id: i64,
    /// What it is for (the record's comment, or what the write was).
    pub purpose: String,
    /// Where it enters the workflow ([`Workflow::entry_step`]).
    pub step: usize,
}

/// The write a request opened by an integration stands for
/// ([`RequestData::integration_write`]): approved, the record `remove` (if it is still there;
/// else the approval fails) is removed and `add` added at the request's name, whatever else
/// changed at the name meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationWrite {
    /// The record it removes, as it was read.
    pub remove: Option<WrittenRecord>,
    /// The record it adds, as a submission writes it, with the API id it will have.
    pub add: Option<AddedRecord>,
}

/// A record an integration's write removes: its type, TTL and data in wire form (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenRecord {
    /// The type's number.
    pub rtype: u16,
    /// The TTL.
    pub ttl: u32,
    /// The data in wire form, hex.
    pub rdata: String,
}

impl WrittenRecord {
    /// The record as it is written down.
    pub fn of(record: &Record) -> Result<Self, ServiceError> {
        Ok(Self {
            rtype: u16::from(record.record_type()),
            ttl: record.ttl,
            rdata: hex::encode(
                crate::zone::file::rdata_wire(&record.data)
                    .map_err(|e| ServiceError::internal("a record in wire form", e))?,
            ),
        })
    }

    /// The record as staff read it: type, value in master-file form, TTL.
    pub fn shown(&self) -> Result<RecordInput, String> {
        let rtype = RecordType::from(self.rtype);
        let wire = hex::decode(&self.rdata).map_err(|e| e.to_string())?;
        let data = crate::zone::file::rdata_from_wire(rtype, &wire)?;
        Ok(RecordInput {
            rtype: rtype.to_string(),
            value: crate::zone::file::presentation(&data),
            ttl: self.ttl,
        })
    }

    /// The record at `owner`.
    fn record(&self, owner: &Name) -> Result<Record, String> {
        let wire = hex::decode(&self.rdata).map_err(|e| e.to_string())?;
        let data = crate::zone::file::rdata_from_wire(RecordType::from(self.rtype), &wire)?;
        Ok(Record::from_rdata(owner.clone(), self.ttl, data))
    }
}

/// An integration's write as staff read it: the record it removes, the record it adds.
pub type WriteShown = (Option<RecordInput>, Option<RecordInput>);

impl IntegrationWrite {
    /// The write a request keeps (`None` for a request not opened by an integration): the
    /// record it removes and the record it adds, as staff read them.
    pub fn of(data: &RequestData) -> Result<Option<WriteShown>, ServiceError> {
        let Some(write) = &data.integration_write else {
            return Ok(None);
        };
        let corrupt = |e: String| ServiceError::internal("the stored write of a request", e);
        let write: Self =
            serde_json::from_value(write.clone()).map_err(|e| corrupt(e.to_string()))?;
        let removed = write
            .remove
            .as_ref()
            .map(WrittenRecord::shown)
            .transpose()
            .map_err(corrupt)?;
        Ok(Some((removed, write.add.map(|a| a.record))))
    }
}

/// A record an integration's write adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedRecord {
    /// The record as a submission writes it.
    pub record: RecordInput,
    /// Its id in the Cloudflare-compatible API.
    pub api_id: String,
}

/// A record as the policy checks it.
fn requested(r: &RecordInput) -> RequestedRecord {
    RequestedRecord {
        rtype: r.rtype.clone(),
        value: r.value.clone(),
        ttl: r.ttl,
    }
}

/// The records as the policy checks them.
pub(crate) fn requested_records(records: &[RecordInput]) -> Vec<RequestedRecord> {
    records.iter().map(requested).collect()
}

fn default_ttl() -> u32 {
    3600
}

/// A new request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// create, change or delete.
    pub kind: String,
    /// The zone.
    pub zone: String,
    /// The label under the zone.
    pub name: String,
    /// The records (not for delete).
    #[serde(default)]
    pub records: Vec<RecordInput>,
    /// Contact person.
    pub contact: Contact,
    /// Purpose.
    pub purpose: String,
    /// Recommendation reference.
    #[serde(default)]
    pub recommendation_ref: Option<String>,
    /// Whether a certificate is wanted.
    #[serde(default)]
    pub certificate: bool,
    /// The agency's code, when the front office registers on its behalf.
    #[serde(default)]
    pub agency: Option<String>,
    /// How the request letter arrived and what it states (the front office records it when it
    /// registers a letter on paper or through SRIKANDI).
    #[serde(default)]
    pub letter: Option<LetterInput>,
}

/// The request letter as received.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    /// `paper`, `srikandi` (the national letter system), `email` or `web`.
    pub channel: String,
    /// Its number, as the letter states it (required on paper and through SRIKANDI).
    #[serde(default)]
    pub number: Option<String>,
    /// Its date (`YYYY-MM-DD`), as the letter states it (required on paper and through
    /// SRIKANDI).
    #[serde(default)]
    pub date: Option<String>,
}

/// What a resubmission may change (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// New records.
    pub records: Option<Vec<RecordInput>>,
    /// New contact.
    pub contact: Option<Contact>,
    /// New purpose.
    pub purpose: Option<String>,
    /// New recommendation reference.
    pub recommendation_ref: Option<String>,
}

/// The requests service.
pub struct Requests {
    store: Store,
    publisher: Arc<Publisher>,
    workflow: Arc<Workflow>,
    calendar: Arc<Calendar>,
    policy: Policy,
    /// Whether transitions queue emails (an SMTP server is configured).
    notifications: bool,
    /// The webhook called on each transition, if any.
    webhook: Option<String>,
    /// Attachments and response letters.
    files: Files,
    /// The response letter's settings, if ranah makes the letter.
    letters: Option<crate::config::LetterConfig>,
    /// The office's signer of the documents, when configured.
    signer: Option<Arc<crate::outbox::sign::PdfSigner>>,
    /// The templates of the documents steps make.
    templates: Arc<crate::outbox::document::Templates>,
    /// Wakes the certificate worker when a provisioning orders a certificate (`None`: no ACME
    /// directory is configured, so no certificate is ordered).
    certificates: Option<Arc<tokio::sync::Notify>>,
    /// Most files a request holds.
    max_attachments: usize,
    /// One file checked at a time: decoding an image takes up to a few hundred MB, so the
    /// checks queue rather than add up.
    file_checks: Arc<tokio::sync::Semaphore>,
}

fn field(field: &str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        code,
        message: message.into(),
    }
}

impl Requests {
    /// The service over a store, the zones' publisher, a workflow, a calendar and a policy.
    pub fn new(
        store: Store,
        files: Files,
        publisher: Arc<Publisher>,
        workflow: Arc<Workflow>,
        calendar: Arc<Calendar>,
        policy: Policy,
    ) -> Self {
        Self {
            store,
            files,
            publisher,
            workflow,
            calendar,
            policy,
            notifications: false,
            webhook: None,
            letters: None,
            signer: None,
            templates: Arc::new(crate::outbox::document::Templates::load(None).unwrap_or_default()),
            certificates: None,
            max_attachments: attachment::DEFAULT_MAX_PER_REQUEST,
            file_checks: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Order certificates when a request that asks for one is provisioned, waking the worker
    /// through `wake`.
    pub fn with_certificates(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.certificates = Some(wake);
        self
    }

    /// What a provisioning does to the name's certificate: a deletion withdraws it, a request
    /// that asks for one orders it. The store skips what does not apply (no certificate to
    /// withdraw; a live certificate already there) in the provisioning's transaction.
    async fn certificate_commit(
        &self,
        stored: &StoredRequest,
        caller: &Actor,
    ) -> Result<Option<crate::store::CertificateCommit>, ServiceError> {
        use crate::domain::certificate::{self as cert, KeyMode, Transition};
        use crate::store::{CertificateCommit, NewCertificate, OrderPlan};
        let d = &stored.data;
        let fqdn = d.fqdn();
        let who = Attribution::of(caller);
        let target = format!("certificate/{fqdn}");
        // Decided on the certificate as it is now; the store writes the decision only if it
        // is still so when the approval commits (else the approval is a conflict).
        let current = self.store.certificate(&fqdn).await?;
        if d.kind == Kind::Delete {
            let Some(c) = current else {
                return Ok(None);
            };
            // An integration's deletion removes one record: records written at the name while
            // the request was open keep it in use, and its certificate with it.
            if d.integration_write.is_some() && !self.leaves_name_empty(stored)? {
                return Ok(None);
            }
            let Ok(to) = cert::next(Some(c.status), Transition::Withdraw, c.chain_pem.is_some())
            else {
                return Ok(None); // withdrawn already
            };
            let audit = AuditEntry::by(
                &who,
                "certificate.withdraw",
                target,
                serde_json::json!({"request": stored.id, "reason": "name deleted"}),
            );
            return Ok(Some(CertificateCommit::Withdraw(
                fqdn,
                c.guard(),
                to,
                audit,
            )));
        }
        if !d.certificate || self.certificates.is_none() {
            return Ok(None);
        }
        // A name that holds a live certificate keeps it; the approval goes on.
        if current
            .as_ref()
            .is_some_and(|c| c.status != cert::CertStatus::Revoked)
        {
            return Ok(None);
        }
        let agency_id = Some(stored.state.agency_id);
        let plan = OrderPlan {
            replaces: current.as_ref().map(|c| c.guard()),
            keep_key: current.as_ref().is_some_and(|c| {
                cert::keeps_managed_key(
                    (c.mode, c.status, c.agency_id),
                    KeyMode::Managed,
                    agency_id,
                )
            }),
        };
        let audit = AuditEntry::by(
            &who,
            "certificate.order",
            target,
            serde_json::json!({"request": stored.id, "mode": "managed"}),
        );
        Ok(Some(CertificateCommit::Order(
            NewCertificate {
                name: fqdn,
                zone: format!("{}.", d.zone.to_ascii_lowercase()),
                agency_id,
                request_id: Some(stored.id),
                mode: KeyMode::Managed,
                csr: None,
            },
            plan,
            audit,
        )))
    }

    /// At most `n` files a request (`attachments.max_per_request`).
    pub fn with_attachment_limit(mut self, n: usize) -> Self {
        self.max_attachments = n.max(1);
        self
    }

    /// Most files a request holds.
    pub fn attachment_limit(&self) -> usize {
        self.max_attachments
    }

    /// Make the response letter (PDF) at the `notify` step, keeping it with the attachments.
    pub fn with_letters(mut self, config: crate::config::LetterConfig) -> Self {
        self.letters = Some(config);
        self
    }

    /// The office's templates of the documents steps make.
    pub fn with_templates(mut self, templates: Arc<crate::outbox::document::Templates>) -> Self {
        self.templates = templates;
        self
    }

    /// Sign the documents it makes (the response letter) with the office's certificate.
    pub fn with_signer(mut self, signer: Option<Arc<crate::outbox::sign::PdfSigner>>) -> Self {
        self.signer = signer;
        self
    }

    /// The document the approval of step `index` by `caller` makes (its template's), rendered
    /// with the approvals so far, signed when a certificate is configured, and stored; the
    /// attachment to record, and whether every signature it asks for is now given.
    async fn step_document(
        &self,
        stored: &StoredRequest,
        index: usize,
        caller: &Actor,
        history: &[crate::store::StoredHistoryEntry],
        now: DateTime<Utc>,
    ) -> Result<Option<(Attachment, bool, String)>, ServiceError> {
        let (Some(config), Some(step)) = (&self.letters, self.workflow.steps.get(index)) else {
            return Ok(None);
        };
        let Some(name) = step.makes() else {
            return Ok(None);
        };
        let template = self
            .templates
            .get(name)
            .map_err(|e| ServiceError::internal("a step's document", e))?;
        let d = &stored.data;
        let (fqdn, agency) = self.about(d, stored.state.agency_id).await?;
        let records: Vec<String> = d
            .records
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{} {}",
                            r.get("type").and_then(|v| v.as_str()).unwrap_or(""),
                            r.get("value").and_then(|v| v.as_str()).unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Who approved which step, and when: the history, and this approval.
        let mut approvals: Vec<(String, String, DateTime<Utc>)> = history
            .iter()
            .filter(|h| h.entry.action == "approved")
            .filter_map(|h| {
                Some((
                    h.entry.step.clone()?,
                    h.actor_name.clone().unwrap_or_default(),
                    h.entry.at,
                ))
            })
            .collect();
        approvals.push((step.id.clone(), caller.name.clone(), now));
        // The document is dated when it was drawn up (the first of its signatures): a version
        // made again at a later signature keeps its date and number.
        let signing: Vec<&str> = template
            .signatures
            .iter()
            .map(|spec| spec.step.as_deref().unwrap_or(&step.id))
            .collect();
        let drawn = approvals
            .iter()
            .filter(|(s, _, _)| signing.contains(&s.as_str()))
            .map(|(_, _, at)| *at)
            .min()
            .unwrap_or(now);
        let date = drawn.with_timezone(&self.calendar.time_zone());
        let values: std::collections::BTreeMap<&str, String> = [
            ("agency", agency),
            ("fqdn", fqdn),
            ("records", records.join("\n")),
            ("purpose", d.purpose.clone()),
            ("certificate", self.certificate_words(d).await?),
            ("request_id", stored.id.to_string()),
            (
                "number",
                crate::outbox::letter::letter_number(&config.number_format, stored.id, &date),
            ),
            ("date", crate::outbox::letter::tanggal(&date)),
            ("day", crate::outbox::letter::hari(&date).to_owned()),
            ("city", config.city.clone()),
            ("signatory_title", config.signatory_title.clone()),
            ("signatory_name", config.signatory_name.clone()),
            (
                "signatory_id",
                config.signatory_id.clone().unwrap_or_default(),
            ),
        ]
        .into_iter()
        .collect();
        let zone = self.calendar.time_zone();
        let mut complete = true;
        let signatures: Vec<crate::outbox::document::Signature> = template
            .signatures
            .iter()
            .map(|spec| {
                let by = spec.step.as_deref().unwrap_or(&step.id);
                let approval = approvals.iter().rev().find(|(s, _, _)| s == by);
                complete &= approval.is_some();
                let fixed = spec
                    .name
                    .as_deref()
                    .map(|n| crate::outbox::document::fill(n, &values).trim().to_owned());
                crate::outbox::document::Signature {
                    title: crate::outbox::document::fill(&spec.title, &values),
                    name: fixed
                        .or_else(|| approval.map(|a| a.1.clone()))
                        .unwrap_or_default(),
                    approval: match approval {
                        Some((_, who, at)) => format!(
                            "Disetujui secara elektronik oleh {who} pada {}",
                            at.with_timezone(&zone).format("%d-%m-%Y %H:%M %Z")
                        ),
                        None => "(belum ditandatangani)".into(),
                    },
                }
            })
            .collect();
        let note = crate::outbox::sign::note(self.signer.as_deref());
        let pdf = crate::outbox::document::render(&crate::outbox::document::Content {
            letterhead: &config.letterhead,
            template,
            values: &values,
            signatures: &signatures,
            signature_note: &note,
        })
        .map_err(|e| ServiceError::internal(format!("cannot render the {name}"), e))?;
        let title = crate::outbox::document::fill(&template.title, &values);
        let pdf = crate::outbox::sign::finish(
            pdf,
            self.signer.as_deref(),
            &format!("{title}, permohonan {}", stored.id),
            now,
        )
        .map_err(|e| ServiceError::internal(format!("cannot sign the {name}"), e))?;
        let sha256 = self
            .files
            .put(&pdf)
            .await
            .map_err(|e| ServiceError::file(format!("cannot store the {name}"), e))?;
        Ok(Some((
            Attachment {
                kind: name.to_owned(),
                sha256,
                media_type: "application/pdf".into(),
                size: pdf.len() as i64,
                uploaded_at: crate::domain::time::stamp(now),
            },
            complete,
            title,
        )))
    }

    /// The certificate's state for the response letter, in Indonesian.
    async fn certificate_words(&self, d: &RequestData) -> Result<String, ServiceError> {
        if !d.certificate {
            return Ok("tidak diminta".into());
        }
        if self.certificates.is_none() {
            return Ok("diminta; diterbitkan terpisah oleh pengelola".into());
        }
        Ok(match self.store.certificate(&d.fqdn()).await? {
            Some(c) => match (c.status, &c.not_after) {
                (crate::domain::certificate::CertStatus::Issued, Some(until)) => format!(
                    "{}, berlaku s.d. {}",
                    c.status.in_indonesian(),
                    until.get(..10).unwrap_or(until)
                ),
                _ => c.status.in_indonesian().into(),
            },
            None => "diminta, belum diterbitkan".into(),
        })
    }

    /// Call this webhook (through the outbox) on each transition.
    pub fn with_webhook(mut self, url: Option<String>) -> Self {
        self.webhook = url;
        self
    }

    /// The webhook call announcing a transition: the request, its state, and the history
    /// entries the transition appended. `id` is `None` for a submission (the store fills it in).
    fn webhook_message(
        &self,
        id: Option<i64>,
        data: &RequestData,
        state: &Request,
        history: &[HistoryEntry],
    ) -> Option<OutboxMessage> {
        let url = self.webhook.clone()?;
        let action = history.last().map_or("changed", |h| h.action.as_str());
        let request = match id {
            Some(id) => serde_json::json!(id),
            None => serde_json::json!("{{request_id}}"),
        };
        let payload = serde_json::json!({
            "type": format!("request.{action}"),
            "request": request,
            "zone": data.zone,
            "name": format!("{}.{}", data.name, data.zone),
            "status": state.status.as_str(),
            "step": state.step.and_then(|i| self.workflow.steps.get(i)).map(|s| s.id.clone()),
            "events": history.iter().map(|h| serde_json::json!({
                "action": h.action, "step": h.step, "reason": h.reason, "note": h.note,
                "at": crate::domain::time::stamp(h.at),
            })).collect::<Vec<_>>(),
        });
        Some(OutboxMessage {
            channel: "webhook",
            recipient: url,
            subject: format!("request.{action}"),
            body: payload.to_string(),
            attachment: None,
        })
    }

    /// Queue emails on each transition (when an SMTP server is configured).
    pub fn with_notifications(mut self, on: bool) -> Self {
        self.notifications = on;
        self
    }

    /// The emails that announce `notices` about a request: to the holders of a role today, or
    /// to the request's contact. `letter` (its SHA-256 and file name) goes with the notices
    /// that carry the response letter.
    async fn messages(
        &self,
        notices: Vec<notice::Notice>,
        data: &RequestData,
        agency_id: i64,
        letter: Option<(String, String)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let today = now.with_timezone(&self.calendar.time_zone()).date_naive();
        let mut out = Vec::new();
        for n in notices {
            let recipients = match &n.audience {
                notice::Audience::Role(role) => {
                    let mut emails: Vec<String> = self
                        .store
                        .holders_of(role)
                        .await?
                        .into_iter()
                        .filter(|(_, grants)| access::holds_on(grants, role, today))
                        .map(|(email, _)| email)
                        .collect();
                    emails.dedup();
                    emails
                }
                notice::Audience::Applicant => contact_email(data).into_iter().collect(),
                notice::Audience::Agency => {
                    let mut emails = self.store.agency_emails(agency_id).await?;
                    emails.extend(contact_email(data));
                    emails.retain(|e| e.contains('@'));
                    emails.sort();
                    emails.dedup();
                    emails
                }
            };
            for recipient in recipients {
                out.push(OutboxMessage {
                    channel: "email",
                    recipient,
                    subject: n.subject.clone(),
                    body: n.body.clone(),
                    attachment: letter.clone().filter(|_| n.with_letter),
                });
            }
        }
        Ok(out)
    }

    /// What the notices name: the request, its full name and its agency.
    async fn about(
        &self,
        data: &RequestData,
        agency_id: i64,
    ) -> Result<(String, String), ServiceError> {
        let agency = self
            .store
            .agency_by_id(agency_id)
            .await?
            .map_or_else(|| format!("instansi {agency_id}"), |a| a.name);
        Ok((format!("{}.{}", data.name, data.zone), agency))
    }

    async fn event_messages(
        &self,
        id: i64,
        data: &RequestData,
        agency_id: i64,
        events: &[Event],
        letter: Option<(String, String)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let (fqdn, agency) = self.about(data, agency_id).await?;
        let about = notice::About {
            id: Some(id),
            fqdn: &fqdn,
            agency: &agency,
        };
        let notices = events
            .iter()
            .flat_map(|e| notice::on_event(&self.workflow, e, about))
            .collect();
        self.messages(notices, data, agency_id, letter, now).await
    }

    /// A document made at a step (the handover minutes, every signature given), emailed to
    /// the requesting agency's users and the request's contact.
    async fn document_messages(
        &self,
        id: i64,
        stored: &StoredRequest,
        title: &str,
        file: (String, String),
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        if !self.notifications {
            return Ok(Vec::new());
        }
        let (fqdn, _) = self.about(&stored.data, stored.state.agency_id).await?;
        let notice = notice::Notice {
            audience: notice::Audience::Agency,
            subject: format!("[ranah] Permohonan #{id} {fqdn}: {title}"),
            body: format!(
                "Yth. Bapak/Ibu,\n\n{title} permohonan subdomain {fqdn} telah ditandatangani \
                 dan terlampir.\n\nPesan ini dikirim otomatis oleh ranah.\n"
            ),
            with_letter: true,
        };
        self.messages(
            vec![notice],
            &stored.data,
            stored.state.agency_id,
            Some(file),
            now,
        )
        .await
    }

    /// The zones' publisher.
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// The workflow in force.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// The workflow in force, shared.
    pub fn workflow_arc(&self) -> Arc<Workflow> {
        self.workflow.clone()
    }

    /// Submit a request; returns its id.
    pub async fn submit(
        &self,
        caller: &Actor,
        input: NewRequest,
        now: DateTime<Utc>,
    ) -> Result<i64, ServiceError> {
        let named = match input.agency.as_deref() {
            None => Named::Nothing,
            Some(code) => match self.store.agency(code).await? {
                Some(a) => Named::Agency(a.id),
                None => Named::Unknown,
            },
        };
        let code = input.agency.as_deref().unwrap_or_default();
        let agency_id = match access::submission_agency(caller, named) {
            Ok(id) => id,
            Err(Refusal::AgencyRequired) => {
                return Err(ServiceError::Validation(vec![field(
                    "agency",
                    "required",
                    "the front office names the agency it registers for",
                )]));
            }
            Err(Refusal::UnknownAgency) => {
                return Err(ServiceError::Validation(vec![field(
                    "agency",
                    "unknown_agency",
                    format!("no agency {code}"),
                )]));
            }
            Err(Refusal::NotYourAgency) => {
                return Err(ServiceError::NotYourAgency(format!(
                    "`{code}` is not your agency: an applicant submits for its own agency \
                     (leave `agency` out)"
                )));
            }
            Err(Refusal::NoAgency) => {
                return Err(ServiceError::Forbidden(
                    "the applicant has no agency".into(),
                ));
            }
            Err(Refusal::Forbidden(why)) => return Err(ServiceError::Forbidden(why.into())),
        };

        let mut errors = Vec::new();
        let kind = Kind::parse(&input.kind);
        if kind.is_none() {
            errors.push(field(
                "kind",
                "invalid_kind",
                format!("`{}`: create, change or delete", input.kind),
            ));
        }
        let zone = match policy::normal_name(&input.zone) {
            Ok(zone) => Some(zone),
            Err(why) => {
                errors.push(field(
                    "zone",
                    "invalid_name",
                    format!("`{}`: {why}", input.zone.trim()),
                ));
                None
            }
        };
        let served = zone.as_ref().and_then(|zone| {
            let name = Name::from_ascii(format!("{zone}.")).ok()?;
            self.publisher.zones().get(&LowerName::new(&name))
        });
        if let (Some(zone), None) = (&zone, &served) {
            errors.push(field(
                "zone",
                "unknown_zone",
                format!("ranah does not serve {zone}"),
            ));
        }
        let zone = zone.unwrap_or_default();
        let label = match self.policy.check_label(&input.name, &zone) {
            Ok(l) => Some(l),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let mut values = Vec::new();
        if kind != Some(Kind::Delete) {
            let requested = requested_records(&input.records);
            match self.policy.check_records(&requested, &zone) {
                Ok(v) => values = v,
                Err(mut e) => errors.append(&mut e),
            }
        }
        if input.contact.name.trim().is_empty() {
            errors.push(field(
                "contact.name",
                "required",
                "the contact person's name is required",
            ));
        }
        if !input.contact.email.contains('@') {
            errors.push(field(
                "contact.email",
                "invalid_email",
                "the contact's email address is required",
            ));
        }
        if input.purpose.trim().is_empty() {
            errors.push(field(
                "purpose",
                "required",
                "say what the subdomain is for",
            ));
        }
        let (Some(kind), Some(label), Some(view)) = (kind, label, served.map(|s| s.view())) else {
            return Err(ServiceError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }

        let fqdn = format!("{label}.{zone}.");
        let exists = Name::from_ascii(&fqdn)
            .map(|n| view.name_exists(&LowerName::new(&n)))
            .unwrap_or(false);
        let stored_owners = self.store.owners_of(&format!("{zone}."), &fqdn).await?;
        match kind {
            Kind::Create if exists || !stored_owners.is_empty() => {
                return Err(ServiceError::NameTaken {
                    message: format!("{fqdn} already exists"),
                    held_by: None,
                });
            }
            Kind::Change | Kind::Delete => {
                if self
                    .store
                    .active_suspension(&format!("{zone}."), &fqdn)
                    .await?
                    .is_some()
                {
                    return Err(ServiceError::Conflict(format!(
                        "{fqdn} is suspended; an admin must lift the suspension first"
                    )));
                }
                let owners = stored_owners;
                if owners.is_empty() {
                    return Err(ServiceError::Validation(vec![field(
                        "name",
                        "no_such_name",
                        format!("{fqdn} does not exist"),
                    )]));
                }
                if owners.iter().any(|o| *o != Some(agency_id)) {
                    return Err(ServiceError::Forbidden(format!(
                        "{fqdn} is not owned by this agency (an admin assigns owners of imported names)"
                    )));
                }
            }
            Kind::Create => {}
        }

        let records = self.zone_rules(kind, &zone, &label, &input.records, &values)?;
        let letter = match &input.letter {
            Some(l) => Some(
                crate::domain::letter::check(
                    &l.channel,
                    l.number.as_deref(),
                    l.date.as_deref(),
                    now.with_timezone(&self.calendar.time_zone()).date_naive(),
                )
                .map_err(ServiceError::Validation)?,
            ),
            None => None,
        };
        let state = request::submit(kind, agency_id, caller, false, now);
        let data = RequestData {
            kind,
            zone,
            name: label,
            records: serde_json::to_value(&records).unwrap_or_default(),
            contact: serde_json::to_value(&input.contact).unwrap_or_default(),
            purpose: input.purpose.trim().to_owned(),
            recommendation_ref: input.recommendation_ref,
            certificate: input.certificate,
            workflow: self.workflow.name.clone(),
            integration_write: None,
            letter,
        };
        self.open(caller, data, state, None, now).await
    }

    /// A request an integration opens for its write through the Cloudflare-compatible API
    /// (the office has such writes turned into requests): the whole set of records its name
    /// is to have, checked like a submission's, entering the workflow at `opening.step`. The
    /// records keep the ids the API gave them, so that the ids a client holds name them once
    /// they are written.
    pub async fn open_for_integration(
        &self,
        caller: &Actor,
        opening: Opening,
        now: DateTime<Utc>,
    ) -> Result<i64, ServiceError> {
        // A new name is one a submission could ask for; an existing one is taken as it is.
        let label = if opening.kind == Kind::Create {
            self.policy
                .check_label(&opening.label, &opening.zone)
                .map_err(|e| ServiceError::Validation(vec![e]))?
        } else {
            opening.label
        };
        if let Some(added) = &opening.write.add {
            self.policy
                .check_records(
                    std::slice::from_ref(&requested(&added.record)),
                    &opening.zone,
                )
                .map_err(ServiceError::Validation)?;
        }
        let contact = Contact {
            name: caller.name.clone(),
            email: self
                .store
                .user_email(caller.user_id)
                .await?
                .unwrap_or_default(),
            phone: None,
        };
        let state = request::submit_at(
            opening.kind,
            opening.agency_id,
            caller,
            false,
            opening.step,
            now,
        );
        let data = RequestData {
            kind: opening.kind,
            zone: opening.zone,
            name: label,
            records: serde_json::to_value(&opening.records).unwrap_or_default(),
            contact: serde_json::to_value(&contact).unwrap_or_default(),
            purpose: opening.purpose,
            recommendation_ref: None,
            certificate: false,
            workflow: self.workflow.name.clone(),
            integration_write: Some(
                serde_json::to_value(&opening.write)
                    .map_err(|e| ServiceError::internal("an integration's write as JSON", e))?,
            ),
            letter: None,
        };
        let entered = self.workflow.steps.get(opening.step).map(|s| s.id.clone());
        self.open(caller, data, state, entered, now).await
    }

    /// Store a new request with its first history entry, audit event, notices and webhook.
    /// `entered` is the step it entered at when not the first (an integration's request).
    async fn open(
        &self,
        caller: &Actor,
        data: RequestData,
        state: Request,
        entered: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<i64, ServiceError> {
        let fqdn = format!("{}.{}.", data.name, data.zone);
        let step = state.step.unwrap_or(0);
        let submitted = HistoryEntry {
            at: now,
            actor_id: Some(caller.user_id),
            action: "submitted".into(),
            step: entered.clone(),
            note: None,
            reason: None,
            role: caller.roles.first().map(|r| r.to_string()),
            client: caller.client.clone(),
        };
        let outbox = if self.notifications {
            let (fqdn, agency) = self.about(&data, state.agency_id).await?;
            let about = notice::About {
                id: None,
                fqdn: &fqdn,
                agency: &agency,
            };
            self.messages(
                notice::on_submission(&self.workflow, step, about),
                &data,
                state.agency_id,
                None,
                now,
            )
            .await?
        } else {
            Vec::new()
        };
        let mut outbox = outbox;
        outbox.extend(self.webhook_message(None, &data, &state, std::slice::from_ref(&submitted)));
        let mut details = serde_json::json!({
            "kind": data.kind.as_str(), "zone": data.zone, "name": data.name,
            "records": data.records, "purpose": data.purpose,
            "recommendation_ref": data.recommendation_ref, "certificate": data.certificate,
        });
        if let Some(entered) = entered {
            details["entered_at_step"] = entered.into();
        }
        let audit = audit_entries(
            crate::store::NEW_REQUEST,
            std::slice::from_ref(&submitted),
            Some(caller),
            Some(details),
        );
        let due = request::due_at(&state, &self.workflow, &self.calendar);
        match self
            .store
            .insert_request(&data, &state, due, &submitted, &audit, &outbox)
            .await
        {
            Ok(id) => Ok(id),
            Err(StoreError::NameHeld(held)) => Err(ServiceError::NameTaken {
                message: format!("{fqdn} is held by open request {held}"),
                held_by: Some(held),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Attach files to a request: its agency's applicants and the front office, while the
    /// request is open. Each file is kept, then recorded with its audit entry.
    pub async fn attach(
        &self,
        caller: &Actor,
        id: i64,
        uploads: Vec<Upload>,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let stored = self.get(caller, id).await?;
        if !access::may_attach(caller, stored.state.agency_id) {
            return Err(ServiceError::Forbidden(
                "only the requesting agency or the front office attach files".into(),
            ));
        }
        if stored.state.status.is_final() {
            return Err(DomainError::InvalidState(stored.state.status.as_str()).into());
        }
        let held = self.store.attachments(id).await?.len();
        if held + uploads.len() > self.max_attachments {
            return Err(ServiceError::TooManyAttachments(format!(
                "request {id} holds {held} files and this upload has {}: a request holds at \
                 most {} (attachments.max_per_request)",
                uploads.len(),
                self.max_attachments
            )));
        }
        let types = self.check_uploads(&uploads).await?;
        for (u, media_type) in uploads.iter().zip(types) {
            let (sha256, written) = self
                .files
                .put_new(&u.bytes)
                .await
                .map_err(|e| ServiceError::file("cannot store an attachment", e))?;
            let a = Attachment {
                kind: u.kind.as_str().into(),
                sha256,
                media_type: media_type.into(),
                size: u.bytes.len() as i64,
                uploaded_at: crate::domain::time::stamp(now),
            };
            let audit = AuditEntry::by(
                &Attribution::of(caller),
                "request.attachment",
                format!("request/{id}"),
                serde_json::json!({
                    "kind": a.kind, "sha256": a.sha256, "media_type": a.media_type, "size": a.size,
                }),
            );
            if let Err(e) = self
                .store
                .add_attachment(id, &a, caller.user_id, &audit, now)
                .await
            {
                // Not recorded (a full disk, say): a file this call wrote and nothing refers to
                // would be left behind for good. (Another upload of the same bytes may have
                // recorded it meanwhile: then it stays.)
                if written
                    && matches!(self.store.refers_to_file(&a.sha256).await, Ok(false))
                    && let Err(rm) = self.files.remove(&a.sha256).await
                {
                    tracing::warn!(error = %rm, sha256 = %a.sha256, "an unrecorded upload's file stays");
                }
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Submit a request with its files at once (the console's form). The files are checked
    /// first, so that one that would be refused stops the submission before anything is kept.
    pub async fn submit_with_files(
        &self,
        caller: &Actor,
        input: NewRequest,
        uploads: Vec<Upload>,
        now: DateTime<Utc>,
    ) -> Result<i64, ServiceError> {
        self.check_uploads(&uploads).await?;
        let id = self.submit(caller, input, now).await?;
        if !uploads.is_empty() {
            self.attach(caller, id, uploads, now).await?;
        }
        Ok(id)
    }

    /// Every file checked, whole (size, type, that it parses), before any is kept: the media
    /// type of each.
    async fn check_uploads(&self, uploads: &[Upload]) -> Result<Vec<&'static str>, ServiceError> {
        let mut checked = Vec::with_capacity(uploads.len());
        for u in uploads {
            if u.bytes.len() > attachment::MAX_SIZE {
                return Err(ServiceError::TooLarge(
                    "attachments are limited to 10 MiB".into(),
                ));
            }
            let permit = self
                .file_checks
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| ServiceError::internal("the file checks' queue", e))?;
            let bytes = u.bytes.clone();
            let result = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                attachment::check(&bytes)
            })
            .await
            .map_err(|e| ServiceError::internal("checking an attachment", e))?;
            let media_type = result.map_err(|why| {
                ServiceError::UnsupportedMediaType(format!("`{}`: {why}", u.kind.as_str()))
            })?;
            checked.push(media_type);
        }
        Ok(checked)
    }

    /// A file of a request the caller may see, named by its SHA-256 (hex) or, for the latest of
    /// a kind, by the kind: its media type and bytes.
    pub async fn attachment_file(
        &self,
        caller: &Actor,
        id: i64,
        file: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let is_hash = file.len() == 64 && file.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hash {
            self.file_where(caller, id, |a| a.sha256 == file, &format!("file {file}"))
                .await
        } else {
            self.attachment(caller, id, file).await
        }
    }

    /// The latest file of `kind` attached to a request the caller may see: its media type and
    /// bytes.
    pub async fn attachment(
        &self,
        caller: &Actor,
        id: i64,
        kind: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        self.file_where(caller, id, |a| a.kind == kind, kind).await
    }

    /// The latest file of a request the caller may see that `wanted` picks; `what` names it
    /// when there is none.
    async fn file_where(
        &self,
        caller: &Actor,
        id: i64,
        wanted: impl Fn(&Attachment) -> bool,
        what: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        self.get(caller, id).await?;
        let attachments = self.store.attachments(id).await?;
        let a = attachments
            .iter()
            .rev()
            .find(|a| wanted(a))
            .ok_or_else(|| ServiceError::NotFound(format!("{what} (request {id})")))?;
        let bytes = self.files.get(&a.sha256).await.map_err(|e| {
            ServiceError::internal(format!("the file {} of request {id}", a.sha256), e)
        })?;
        Ok((a.media_type.clone(), bytes))
    }

    /// A request as the caller sees it, with its history, attachments and certificate.
    pub async fn view(
        &self,
        caller: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<RequestView, ServiceError> {
        let stored = self.get(caller, id).await?;
        let mut views = self.views(vec![stored], now).await?;
        views
            .pop()
            .ok_or_else(|| ServiceError::NotFound(format!("request {id}")))
    }

    /// The requests waiting for the caller, the one due first on top: in review at a step
    /// whose role they hold today (the office's staff), and, for an applicant, their agency's
    /// requests returned to it. At most [`MAX_PER_PAGE`] of each step.
    pub async fn inbox(
        &self,
        caller: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestView>, ServiceError> {
        let mut queries = Vec::new();
        for step in &self.workflow.steps {
            if access::acts_at(caller, step) {
                queries.push(ListQuery {
                    status: Some("in_review".into()),
                    step: Some(step.id.clone()),
                    per_page: Some(MAX_PER_PAGE),
                    ..ListQuery::default()
                });
            }
        }
        if caller.has(&access::Role::Applicant) {
            queries.push(ListQuery {
                status: Some("returned".into()),
                per_page: Some(MAX_PER_PAGE),
                ..ListQuery::default()
            });
        }
        let mut waiting = Vec::new();
        for q in &queries {
            waiting.extend(self.list(caller, q, now).await?.items);
        }
        waiting.sort_by_key(|v| (v.due_at, v.request.id));
        waiting.dedup_by_key(|v| v.request.id);
        Ok(waiting)
    }

    /// One page of the requests the caller may see that match `q`, newest first.
    pub async fn list(
        &self,
        caller: &Actor,
        q: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<RequestView>, ServiceError> {
        let per_page = q.per_page.unwrap_or(50);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ServiceError::InvalidQuery(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        let page = q.page.unwrap_or(1);
        if !(1..=MAX_PAGE_NUMBER).contains(&page) {
            return Err(ServiceError::InvalidQuery(format!(
                "page must be between 1 and {MAX_PAGE_NUMBER}"
            )));
        }
        let empty = || Page {
            items: Vec::new(),
            page,
            per_page,
            total: 0,
        };
        let mut errors = Vec::new();
        let status = match q.status.as_deref() {
            None => None,
            Some(s) => match request::Status::parse(s) {
                Some(s) => Some(s),
                None => {
                    errors.push(field(
                        "status",
                        "unknown_status",
                        format!("`{s}`: in_review, returned, completed, rejected or withdrawn"),
                    ));
                    None
                }
            },
        };
        let step = match q.step.as_deref() {
            None => None,
            Some(id) => match self.workflow.step(id) {
                Some((i, _)) => Some(i),
                None => {
                    errors.push(field(
                        "step",
                        "unknown_step",
                        format!("no step `{id}` in workflow {}", self.workflow.name),
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let named = match q.agency.as_deref() {
            None => Named::Nothing,
            Some(code) => match self.store.agency(code).await? {
                Some(a) => Named::Agency(a.id),
                None => Named::Unknown,
            },
        };
        let agency_id = match access::agency_filter(caller, named) {
            Ok(AgencyFilter::Nothing) => return Ok(empty()),
            Ok(AgencyFilter::All) => None,
            Ok(AgencyFilter::Agency(a)) => Some(a),
            Err(_) => {
                return Err(ServiceError::NotYourAgency(format!(
                    "`{}` is not your agency: an applicant lists its own agency's requests \
                     (leave `agency` out)",
                    q.agency.as_deref().unwrap_or_default()
                )));
            }
        };
        let filter = crate::store::RequestFilter {
            status,
            step,
            agency_id,
            overdue: q.overdue,
        };
        let offset = i64::from(page - 1) * i64::from(per_page);
        let (stored, total) = self
            .store
            .page_requests(&filter, now, offset, i64::from(per_page))
            .await?;
        Ok(Page {
            items: self.views(stored, now).await?,
            page,
            per_page,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// The views of several requests: their details in three queries, whatever their number.
    async fn views(
        &self,
        requests: Vec<StoredRequest>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestView>, ServiceError> {
        let ids: Vec<i64> = requests.iter().map(|r| r.id).collect();
        let (mut histories, mut attachments) = self.store.request_details(&ids).await?;
        let names: Vec<String> = requests
            .iter()
            .filter(|r| r.data.certificate)
            .map(|r| r.data.fqdn())
            .collect();
        let certificates: std::collections::HashMap<String, crate::store::CertificateRow> = self
            .store
            .certificates_named(&names)
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        Ok(requests
            .into_iter()
            .map(|r| {
                let certificate = if r.data.certificate {
                    certificates
                        .get(&r.data.fqdn())
                        .filter(|c| c.request_id == Some(r.id) || c.request_id.is_none())
                        .cloned()
                } else {
                    None
                };
                let certificate_status = match (&certificate, r.data.certificate) {
                    (Some(c), _) => c.status.as_str(),
                    (None, true) if self.certificates.is_none() => "not_configured",
                    (None, true) => "not_started",
                    (None, false) => "not_requested",
                };
                let records = r
                    .data
                    .records
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let warnings = self.policy.warnings(
                    records.iter().map(|x| {
                        (
                            x["type"].as_str().unwrap_or_default(),
                            x["value"].as_str().unwrap_or_default(),
                        )
                    }),
                    &r.data.zone,
                );
                let history = histories.remove(&r.id).unwrap_or_default();
                let (service_due_at, service_overdue) = self.service_time(&r, &history, now);
                RequestView {
                    warnings,
                    service_due_at,
                    service_overdue,
                    history,
                    attachments: attachments.remove(&r.id).unwrap_or_default(),
                    step: r
                        .state
                        .step
                        .and_then(|i| self.workflow.steps.get(i))
                        .cloned(),
                    due_at: request::due_at(&r.state, &self.workflow, &self.calendar),
                    overdue: request::is_overdue(&r.state, &self.workflow, &self.calendar, now),
                    certificate,
                    certificate_status,
                    request: r,
                }
            })
            .collect())
    }

    /// When the whole service is due for a request, and whether it is past it: while in
    /// review, now; while returned, when it was returned (the clock stands still); once
    /// completed, at its completion.
    fn service_time(
        &self,
        r: &StoredRequest,
        history: &[crate::store::StoredHistoryEntry],
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, bool) {
        let events: Vec<(&str, DateTime<Utc>)> = history
            .iter()
            .map(|h| (h.entry.action.as_str(), h.entry.at))
            .collect();
        let Some(due) = self.workflow.service_due(&self.calendar, &events) else {
            return (None, false);
        };
        let measured = match r.state.status {
            request::Status::InReview => Some(now),
            request::Status::Returned => r.state.returned_at,
            request::Status::Completed => events
                .iter()
                .rev()
                .find(|(action, _)| *action == "approved")
                .map(|(_, at)| *at),
            _ => None,
        };
        (Some(due), measured.is_some_and(|t| t > due))
    }

    /// Compute the due time of every request in review again (at start: the calendar or the
    /// workflow may have changed since it was stored). Returns how many there are.
    pub async fn refresh_due_times(&self) -> Result<usize, ServiceError> {
        let open = self.store.requests_in(request::Status::InReview).await?;
        let due: Vec<(i64, Option<DateTime<Utc>>)> = open
            .iter()
            .map(|r| {
                (
                    r.id,
                    request::due_at(&r.state, &self.workflow, &self.calendar),
                )
            })
            .collect();
        self.store.set_due_times(&due).await?;
        Ok(due.len())
    }

    /// How many requests in review are past their step's due time at `now`.
    pub async fn overdue_count(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let filter = crate::store::RequestFilter {
            overdue: Some(true),
            ..Default::default()
        };
        let (_, total) = self.store.page_requests(&filter, now, 0, 0).await?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// Requests in review past the whole service's due time (for the metrics).
    pub async fn service_overdue_count(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let open = self.store.requests_in(request::Status::InReview).await?;
        let ids: Vec<i64> = open.iter().map(|r| r.id).collect();
        let (histories, _) = self.store.request_details(&ids).await?;
        let empty = Vec::new();
        Ok(open
            .iter()
            .filter(|r| {
                self.service_time(r, histories.get(&r.id).unwrap_or(&empty), now)
                    .1
            })
            .count() as u64)
    }

    /// A request as the caller may see it (applicants: their agency's only).
    pub async fn get(&self, caller: &Actor, id: i64) -> Result<StoredRequest, ServiceError> {
        let stored = self
            .store
            .load_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("request {id}")))?;
        if !access::request_scope(caller).covers(Some(stored.state.agency_id)) {
            return Err(ServiceError::NotFound(format!("request {id}")));
        }
        Ok(stored)
    }

    /// Act on a request. An approval of the `provision` step writes the records and the new
    /// state in one transaction and returns when DNS answers them.
    pub async fn act(
        &self,
        caller: &Actor,
        id: i64,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Request, ServiceError> {
        let stored = self.get(caller, id).await?;
        let events = request::decide(
            &stored.state,
            &command,
            caller,
            &self.workflow,
            &self.calendar,
            now,
        )?;
        let mut state = stored.state.clone();
        let mut history = Vec::with_capacity(events.len());
        let mut provision = false;
        for e in &events {
            request::apply(&mut state, e);
            history.push(self.history_entry(e, Some(caller)));
            provision |= matches!(
                e,
                Event::Approved {
                    effect: Some(Effect::Provision),
                    ..
                }
            );
            if let Event::Approved {
                effect: Some(Effect::Notify),
                at,
                ..
            } = e
            {
                // The history says what ranah sends and what is still due by hand, so that
                // nobody assumes a response went that did not.
                let due = match (self.notifications, self.letters.is_some()) {
                    (true, true) => {
                        "Email pemberitahuan dengan surat tanggapan (PDF) terlampir dikirim oleh \
                         ranah."
                    }
                    (false, true) => {
                        "Surat tanggapan (PDF) dibuat oleh ranah dan dilampirkan pada permohonan; \
                         email belum dikirim oleh ranah, sampaikan kepada pemohon secara manual."
                    }
                    (true, false) => {
                        "Email pemberitahuan dikirim oleh ranah; surat tanggapan belum dibuat oleh \
                         ranah, kirimkan secara manual."
                    }
                    (false, false) => {
                        "Tanggapan kepada pemohon (email dan surat tanggapan) belum dikirim oleh \
                         ranah; kirimkan secara manual."
                    }
                };
                history.push(HistoryEntry {
                    at: *at,
                    actor_id: None,
                    action: "response_due".into(),
                    role: None,
                    client: None,
                    step: None,
                    note: Some(due.into()),
                    reason: None,
                });
            }
        }
        let notify = events.iter().any(|e| {
            matches!(
                e,
                Event::Approved {
                    effect: Some(Effect::Notify),
                    ..
                }
            )
        });
        // The document the approved step makes (the response letter, the handover minutes, …).
        let approved = events.iter().find_map(|e| match e {
            Event::Approved { step, .. } => Some(*step),
            _ => None,
        });
        let document = match approved.filter(|i| {
            self.workflow
                .steps
                .get(*i)
                .and_then(|s| s.makes())
                .is_some()
        }) {
            Some(i) => {
                let earlier = self.store.request_history(id).await?;
                self.step_document(&stored, i, caller, &earlier, now)
                    .await?
            }
            None => None,
        };
        let file = document.as_ref().map(|(a, _, _)| {
            let stem = self
                .templates
                .get(&a.kind)
                .map_or(a.kind.as_str(), |t| t.file_name.as_str());
            (a.sha256.clone(), format!("{stem}-{id}.pdf"))
        });
        let mut outbox = self
            .event_messages(
                id,
                &stored.data,
                stored.state.agency_id,
                &events,
                file.clone().filter(|_| notify),
                now,
            )
            .await?;
        // A document of another step goes to the applicant once every signature is given.
        if let (Some((_, true, title)), Some(file), false) = (&document, file, notify) {
            outbox.extend(
                self.document_messages(id, &stored, title, file, now)
                    .await?,
            );
        }
        outbox.extend(self.webhook_message(Some(id), &stored.data, &state, &history));
        let attachments: Vec<Attachment> = document.into_iter().map(|(a, _, _)| a).collect();
        let certificate = if provision {
            self.certificate_commit(&stored, caller).await?
        } else {
            None
        };
        let mut audit = audit_entries(&format!("request/{id}"), &history, Some(caller), None);
        audit.extend(attachments.iter().map(|a| {
            AuditEntry::by(
                &Attribution::system(),
                "request.attachment",
                format!("request/{id}"),
                serde_json::json!({
                    "kind": a.kind, "sha256": a.sha256, "media_type": a.media_type, "size": a.size,
                }),
            )
        }));
        let commit = RequestCommit {
            id,
            expected_version: stored.state.version,
            state: &state,
            due_at: request::due_at(&state, &self.workflow, &self.calendar),
            history: &history,
            audit: &audit,
            outbox: &outbox,
            attachments: &attachments,
            certificate: certificate.as_ref(),
        };
        let committed: Result<(), ServiceError> = if provision {
            // A name suspended since the request was made stays suspended: its records are
            // not written over it.
            let d = &stored.data;
            if d.kind != Kind::Delete
                && self
                    .store
                    .active_suspension(&format!("{}.", d.zone), &format!("{}.{}.", d.name, d.zone))
                    .await?
                    .is_some()
            {
                return Err(ServiceError::Conflict(format!(
                    "{}.{} is suspended; an admin must lift the suspension before \
                     the records are written",
                    d.name, d.zone
                )));
            }
            let mut change = self.provisioning(&stored)?;
            let mut who = Attribution::of(caller);
            who.role = history.iter().rev().find_map(|h| h.role.clone());
            change.meta.actor = Some(who);
            self.publisher
                .apply_with_request(&change, commit, now)
                .await
                .map(drop)
                .map_err(ServiceError::from)
        } else {
            self.store
                .commit_request(&commit, None, now)
                .await
                .map(drop)
                .map_err(ServiceError::from)
        };
        if let Err(e) = committed {
            return Err(self.lost_race(id, stored.state.version, e).await);
        }
        if let (true, Some(_), Some(wake)) = (provision, &certificate, &self.certificates) {
            wake.notify_one();
        }
        Ok(state)
    }

    /// What to tell an approver whose action could not be committed: when the request itself
    /// moved on meanwhile (another holder of the role approved first; at `provision` the
    /// winner's records make the loser's look like a taken name), that is the state
    /// conflict the contract names, 409 `invalid_state`; any other failure stands.
    async fn lost_race(&self, id: i64, version: u32, error: ServiceError) -> ServiceError {
        if !matches!(
            error,
            ServiceError::Conflict(_) | ServiceError::NameTaken { .. } | ServiceError::Publish(_)
        ) {
            return error;
        }
        match self.store.load_request(id).await {
            Ok(Some(now)) if now.state.version != version => {
                let step = match (now.state.status, now.state.step) {
                    (request::Status::InReview, Some(i)) => self
                        .workflow
                        .steps
                        .get(i)
                        .map_or_else(|| i.to_string(), |s| s.id.clone()),
                    (status, _) => status.as_str().to_string(),
                };
                DomainError::MovedOn { step }.into()
            }
            _ => error,
        }
    }

    /// Resubmit a returned request, with changed fields if any: checked like a submission,
    /// stored with the state change in one transaction.
    pub async fn resubmit(
        &self,
        caller: &Actor,
        id: i64,
        changes: Changes,
        now: DateTime<Utc>,
    ) -> Result<Request, ServiceError> {
        if changes == Changes::default() {
            return self.act(caller, id, Command::Resubmit, now).await;
        }
        let stored = self.get(caller, id).await?;
        let events = request::decide(
            &stored.state,
            &Command::Resubmit,
            caller,
            &self.workflow,
            &self.calendar,
            now,
        )?;
        let mut data = stored.data.clone();
        let mut errors = Vec::new();
        if let Some(records) = changes.records {
            if data.kind == Kind::Delete {
                errors.push(field(
                    "records",
                    "not_allowed",
                    "a delete request carries no records",
                ));
            }
            if data.integration_write.is_some() {
                // Its records are one write on the name, with the id the client was given.
                errors.push(field(
                    "records",
                    "not_allowed",
                    "a request opened by a write through the Cloudflare-compatible API keeps \
                     that write: resubmit it unchanged, or withdraw it and write again",
                ));
            }
            let requested = requested_records(&records);
            match self.policy.check_records(&requested, &data.zone) {
                Ok(values) if errors.is_empty() => {
                    let records =
                        self.zone_rules(data.kind, &data.zone, &data.name, &records, &values)?;
                    data.records = serde_json::to_value(&records).unwrap_or_default();
                }
                Ok(_) => {}
                Err(mut e) => errors.append(&mut e),
            }
        }
        if let Some(contact) = changes.contact {
            if contact.name.trim().is_empty() || !contact.email.contains('@') {
                errors.push(field(
                    "contact",
                    "invalid_contact",
                    "name and email are required",
                ));
            }
            data.contact = serde_json::to_value(&contact).unwrap_or_default();
        }
        if let Some(purpose) = changes.purpose {
            if purpose.trim().is_empty() {
                errors.push(field(
                    "purpose",
                    "required",
                    "say what the subdomain is for",
                ));
            }
            data.purpose = purpose.trim().to_owned();
        }
        if let Some(r) = changes.recommendation_ref {
            data.recommendation_ref = Some(r);
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let mut state = stored.state.clone();
        let mut history = Vec::new();
        for e in &events {
            request::apply(&mut state, e);
            let mut entry = self.history_entry(e, Some(caller));
            entry.note = Some("diajukan kembali dengan perubahan".into());
            history.push(entry);
        }
        let mut outbox = self
            .event_messages(id, &data, stored.state.agency_id, &events, None, now)
            .await?;
        outbox.extend(self.webhook_message(Some(id), &data, &state, &history));
        let details = serde_json::json!({
            "records": data.records, "purpose": data.purpose,
            "recommendation_ref": data.recommendation_ref,
        });
        let audit = audit_entries(
            &format!("request/{id}"),
            &history,
            Some(caller),
            Some(details),
        );
        self.store
            .commit_resubmission(
                &RequestCommit {
                    id,
                    expected_version: stored.state.version,
                    state: &state,
                    due_at: request::due_at(&state, &self.workflow, &self.calendar),
                    history: &history,
                    audit: &audit,
                    outbox: &outbox,
                    attachments: &[],
                    certificate: None,
                },
                &data,
                now,
            )
            .await?;
        Ok(state)
    }

    /// Withdraw every request left returned longer than the workflow allows (in working days
    /// from its return). Returns the ids withdrawn. Run periodically by the daemon.
    pub async fn withdraw_stale_returns(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, ServiceError> {
        let system = Actor::system();
        let mut withdrawn = Vec::new();
        for stored in self.store.requests_in(request::Status::Returned).await? {
            let events = match request::decide(
                &stored.state,
                &Command::AutoWithdraw,
                &system,
                &self.workflow,
                &self.calendar,
                now,
            ) {
                Ok(events) => events,
                Err(DomainError::NotDue) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut state = stored.state.clone();
            let mut history = Vec::new();
            for e in &events {
                request::apply(&mut state, e);
                let mut entry = self.history_entry(e, None);
                entry.note = Some(format!(
                    "ditarik otomatis: dikembalikan lebih dari {} hari kerja",
                    self.workflow.auto_withdraw_after_days
                ));
                history.push(entry);
            }
            let webhook: Vec<OutboxMessage> = self
                .webhook_message(Some(stored.id), &stored.data, &state, &history)
                .into_iter()
                .collect();
            let audit = audit_entries(&format!("request/{}", stored.id), &history, None, None);
            match self
                .store
                .commit_request(
                    &RequestCommit {
                        id: stored.id,
                        expected_version: stored.state.version,
                        state: &state,
                        due_at: None,
                        history: &history,
                        audit: &audit,
                        outbox: &webhook,
                        attachments: &[],
                        certificate: None,
                    },
                    None,
                    now,
                )
                .await
            {
                Ok(_) => withdrawn.push(stored.id),
                // Resubmitted or withdrawn meanwhile: nothing to do.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(withdrawn)
    }

    /// The history entry of an event; `caller` is who caused it (none for ranah itself), whose
    /// role and address go to the audit trail.
    fn history_entry(&self, e: &Event, caller: Option<&Actor>) -> HistoryEntry {
        let step = |i: &usize| self.workflow.steps.get(*i).map(|s| s.id.clone());
        let step_role = match e {
            Event::Approved { step: s, .. }
            | Event::Returned { step: s, .. }
            | Event::Rejected { step: s, .. } => {
                self.workflow.steps.get(*s).map(|s| s.role.to_string())
            }
            _ => None,
        };
        let (at, actor_id, action, step, note, reason) = match e {
            Event::Approved {
                step: s,
                by,
                note,
                at,
                ..
            } => (*at, Some(*by), "approved", step(s), note.clone(), None),
            Event::Returned {
                step: s,
                by,
                note,
                reason,
                at,
            }
            | Event::Rejected {
                step: s,
                by,
                note,
                reason,
                at,
            } => (
                *at,
                Some(*by),
                if matches!(e, Event::Returned { .. }) {
                    "returned"
                } else {
                    "rejected"
                },
                step(s),
                Some(note.clone()),
                Some(reason.clone()),
            ),
            Event::Resubmitted { step: s, by, at } => {
                (*at, Some(*by), "resubmitted", step(s), None, None)
            }
            Event::Withdrawn { by, at } => (*at, *by, "withdrawn", None, None, None),
        };
        HistoryEntry {
            at,
            actor_id,
            action: action.into(),
            step,
            note,
            reason,
            role: step_role.or_else(|| caller.and_then(|c| c.roles.first().map(|r| r.to_string()))),
            client: caller.and_then(|c| c.client.clone()),
        }
    }

    /// The rules a request's records must keep in its zone, checked at submission and
    /// resubmission with the code the approval runs: the zone's rules (a CNAME alone, no MX
    /// at an alias, ...) on the zone as the request would leave it, and the size of every
    /// answer the name would give. Returns the records as they will be published (host
    /// names absolute, addresses in canonical form).
    fn zone_rules(
        &self,
        kind: Kind,
        zone: &str,
        label: &str,
        inputs: &[RecordInput],
        values: &[(RecordValue, u32)],
    ) -> Result<Vec<RecordInput>, ServiceError> {
        if kind == Kind::Delete {
            return Ok(Vec::new());
        }
        let fqdn = format!("{label}.{zone}.");
        let bad = |e: hickory_proto::ProtoError| {
            ServiceError::Validation(vec![field("name", "invalid_name", e.to_string())])
        };
        let owner = Name::from_ascii(&fqdn).map_err(bad)?;
        let change = ChangeSet {
            zone: Name::from_ascii(format!("{zone}.")).map_err(bad)?,
            ops: change_ops(kind, &owner, values.to_vec())?,
            meta: ChangeMeta::default(),
        };
        let next = self.publisher.check(&change)?;
        self.policy
            .check_answer_sizes(&fqdn, values, &ViewCarried(&next))
            .map_err(ServiceError::Validation)?;
        Ok(inputs
            .iter()
            .zip(values)
            .map(|(input, (value, ttl))| RecordInput {
                rtype: value.type_name().into(),
                value: match value {
                    RecordValue::A(ip) => ip.to_string(),
                    RecordValue::Aaaa(ip) => ip.to_string(),
                    RecordValue::Cname(target) => target.clone(),
                    RecordValue::Mx {
                        preference,
                        exchange,
                    } => format!("{preference} {exchange}"),
                    RecordValue::Txt(_) => input.value.trim().to_owned(),
                    RecordValue::Ns(host) => host.clone(),
                    RecordValue::Ds {
                        key_tag,
                        algorithm,
                        digest_type,
                        digest,
                    } => format!(
                        "{key_tag} {algorithm} {digest_type} {}",
                        hex::encode_upper(digest)
                    ),
                },
                ttl: *ttl,
            })
            .collect())
    }

    /// Whether the request's provisioning, made now, leaves its name without records.
    fn leaves_name_empty(&self, stored: &StoredRequest) -> Result<bool, ServiceError> {
        let change = self.provisioning(stored)?;
        let next = self.publisher.check(&change)?;
        let owner = LowerName::new(&Name::from_ascii(stored.data.fqdn() + ".").map_err(|e| {
            ServiceError::internal(format!("the name of request {}", stored.id), e)
        })?);
        Ok(!crate::zone::file::SUPPORTED_TYPES
            .iter()
            .any(|t| next.rrset(&owner, *t).is_some()))
    }

    /// The zone change a request makes when provisioned.
    fn provisioning(&self, stored: &StoredRequest) -> Result<ChangeSet, ServiceError> {
        let d = &stored.data;
        let zone = Name::from_ascii(format!("{}.", d.zone)).map_err(|e| {
            ServiceError::internal(
                format!("stored zone {} of request {}", d.zone, stored.id),
                e,
            )
        })?;
        let owner = Name::from_ascii(format!("{}.{}.", d.name, d.zone)).map_err(|e| {
            ServiceError::internal(
                format!("stored name {} of request {}", d.name, stored.id),
                e,
            )
        })?;
        let meta = ChangeMeta {
            reason: format!("request {} approved", stored.id),
            agency_id: Some(stored.state.agency_id),
            request_id: Some(stored.id),
            suspension_id: None,
            actor: None,
            ..ChangeMeta::default()
        };
        if let Some(write) = &d.integration_write {
            return self.integration_provisioning(stored.id, write, zone, owner, &d.zone, meta);
        }
        let inputs: Vec<RecordInput> = serde_json::from_value(d.records.clone()).map_err(|e| {
            ServiceError::internal(format!("stored records of request {}", stored.id), e)
        })?;
        let requested = requested_records(&inputs);
        let values = if d.kind == Kind::Delete {
            Vec::new()
        } else {
            // The policy is checked again: it may have changed since submission.
            self.policy
                .check_records(&requested, &d.zone)
                .map_err(ServiceError::Validation)?
        };
        Ok(ChangeSet {
            zone,
            ops: change_ops(d.kind, &owner, values)?,
            meta,
        })
    }

    /// The zone change of a request an integration's write opened: that write, on the name as
    /// it stands now (the record it removes must still be there), the added record checked by
    /// the policy again and given the id the API answered.
    fn integration_provisioning(
        &self,
        id: i64,
        write: &serde_json::Value,
        zone: Name,
        owner: Name,
        apex: &str,
        mut meta: ChangeMeta,
    ) -> Result<ChangeSet, ServiceError> {
        let corrupt =
            |e: String| ServiceError::internal(format!("the stored write of request {id}"), e);
        let write: IntegrationWrite =
            serde_json::from_value(write.clone()).map_err(|e| corrupt(e.to_string()))?;
        let mut ops = Vec::new();
        if let Some(removed) = &write.remove {
            let record = removed.record(&owner).map_err(corrupt)?;
            ops.push(ChangeOp::RequirePresent(record.clone()));
            ops.push(ChangeOp::Remove(record));
        }
        if let Some(added) = &write.add {
            let values = self
                .policy
                .check_records(std::slice::from_ref(&requested(&added.record)), apex)
                .map_err(ServiceError::Validation)?;
            for (value, ttl) in values {
                let record = Record::from_rdata(owner.clone(), ttl, rdata(value)?);
                meta.api_ids.push((
                    (
                        record.name.to_lowercase().to_ascii(),
                        u16::from(record.record_type()),
                        crate::zone::file::presentation(&record.data),
                    ),
                    added.api_id.clone(),
                ));
                ops.push(ChangeOp::Add(record));
            }
        }
        Ok(ChangeSet { zone, ops, meta })
    }
}

/// The audit trail's entries for history entries on `target` (`request.<action>`), by
/// `caller` (ranah itself for entries without an actor), with `details` (the submitted data)
/// in the first entry's summary.
fn audit_entries(
    target: &str,
    history: &[HistoryEntry],
    caller: Option<&Actor>,
    details: Option<serde_json::Value>,
) -> Vec<AuditEntry> {
    history
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut summary = serde_json::json!({ "step": e.step, "reason": e.reason });
            if i == 0
                && let (Some(serde_json::Value::Object(extra)), Some(map)) =
                    (&details, summary.as_object_mut())
            {
                map.extend(extra.clone());
            }
            let actor = match (e.actor_id, caller) {
                (Some(_), Some(c)) => c.name.clone(),
                _ => "system".into(),
            };
            AuditEntry {
                actor,
                role: e.role.clone(),
                action: format!("request.{}", e.action),
                target: target.to_owned(),
                summary,
                note: e.note.clone(),
                client: e.client.clone().unwrap_or_else(|| "system".into()),
            }
        })
        .collect()
}

fn host(name: &str) -> Result<Name, ServiceError> {
    Name::from_ascii(name)
        .map_err(|e| ServiceError::internal(format!("checked host name {name}"), e))
}

/// The record data provisioning publishes for a value the policy accepted.
pub(crate) fn rdata(value: RecordValue) -> Result<RData, ServiceError> {
    Ok(match value {
        RecordValue::A(ip) => RData::A(A::from(ip)),
        RecordValue::Aaaa(ip) => RData::AAAA(AAAA::from(ip)),
        RecordValue::Cname(target) => RData::CNAME(CNAME(host(&target)?)),
        RecordValue::Mx {
            preference,
            exchange,
        } => RData::MX(MX::new(preference, host(&exchange)?)),
        RecordValue::Txt(parts) => RData::TXT(TXT::new(parts)),
        RecordValue::Ns(target) => RData::NS(hickory_proto::rr::rdata::NS(host(&target)?)),
        RecordValue::Ds {
            key_tag,
            algorithm,
            digest_type,
            digest,
        } => RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::DS(
            hickory_proto::dnssec::rdata::DS::new(
                key_tag,
                hickory_proto::dnssec::Algorithm::from_u8(algorithm),
                hickory_proto::dnssec::DigestType::from(digest_type),
                digest,
            ),
        )),
    })
}

/// The operations that provision a request at `owner`: a new name must still be absent; a
/// change or a deletion replaces whatever the name holds.
fn change_ops(
    kind: Kind,
    owner: &Name,
    values: Vec<(RecordValue, u32)>,
) -> Result<Vec<ChangeOp>, ServiceError> {
    let mut ops = vec![match kind {
        // Taken meanwhile (an import, another change): the approval fails, nothing changes.
        Kind::Create => ChangeOp::RequireAbsent(owner.clone()),
        Kind::Change | Kind::Delete => ChangeOp::RemoveName(owner.clone()),
    }];
    if kind != Kind::Delete {
        for (value, ttl) in values {
            ops.push(ChangeOp::Add(Record::from_rdata(
                owner.clone(),
                ttl,
                rdata(value)?,
            )));
        }
    }
    Ok(ops)
}

/// What a zone view holds at the targets of requested records, for the size of answers.
struct ViewCarried<'v>(&'v crate::dns::ZoneView);

impl ViewCarried<'_> {
    /// Bytes of each set at `target` with its types, as whole records with uncompressed
    /// owners (the answer compresses them; this is the most they take).
    fn sets(&self, target: &str) -> Vec<(RecordType, usize)> {
        let Ok(name) = Name::from_ascii(target) else {
            return Vec::new();
        };
        let name = LowerName::new(&name);
        crate::zone::file::SUPPORTED_TYPES
            .iter()
            .filter_map(|t| {
                let set = self.0.rrset(&name, *t)?;
                let bytes = set
                    .records()
                    .iter()
                    .map(|r| wire_len(target) + 10 + r.data.to_bytes().map_or(0, |b| b.len()))
                    .sum();
                Some((*t, bytes))
            })
            .collect()
    }
}

impl Carried for ViewCarried<'_> {
    fn addresses(&self, target: &str) -> usize {
        self.sets(target)
            .into_iter()
            .filter(|(t, _)| matches!(t, RecordType::A | RecordType::AAAA))
            .map(|(_, b)| b)
            .sum()
    }

    fn largest_set(&self, target: &str) -> usize {
        self.sets(target)
            .into_iter()
            .map(|(_, b)| b)
            .max()
            .unwrap_or(0)
    }
}

/// The email address of a request's contact, when it has one.
fn contact_email(data: &RequestData) -> Option<String> {
    data.contact
        .get("email")
        .and_then(|e| e.as_str())
        .filter(|e| e.contains('@'))
        .map(str::to_owned)
}
