//! The Cloudflare-compatible API's service: zones and DNS records in the shape of
//! Cloudflare's v4 API, for the portals and tools that write there (an office's portal, the
//! official SDKs, Terraform, octoDNS, external-dns, lego).
//!
//! Only a token of the `integration` role calls it. Each write is decided with the core: who
//! may write at the name ([`domain::integration`]), the record policy (the same
//! [`Policy::check_records`] as a request), then applied through [`Publisher::apply`] like
//! every other change: one transaction with the journal and the audit trail (the token's user
//! as actor), a new serial, the served view, NOTIFY. Added records carry the token's user and
//! the agency that holds the name. A new record's id is random and stored with it (records
//! stored before ids were are known by one derived from their content,
//! [`crate::zone::record_id`]).
//!
//! Where the office has writes turned into requests (`[cloudflare_api] writes = "request"`),
//! a write that passes the same checks opens a request for its name instead
//! ([`Requests::open_for_integration`]): the write itself (shown with the set the name will
//! have), entering the workflow at the configured step, for the agency the core names
//! ([`request_agency`]). When that request's provisioning step is approved the write is made
//! on the name as it stands, and the record carries the id the API answered with.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::requests::{
    AddedRecord, IntegrationWrite, Opening, Requests, ServiceError, WrittenRecord, rdata,
};
use crate::domain::access::{self, Actor, Binding};
use crate::domain::audit::Attribution;
use crate::domain::integration::{Holder, NoAgency, may_write, request_agency, request_kind};
use crate::domain::policy::{self, Policy, RequestedRecord};
use crate::publish::{ChangeOp, ChangeSet, PublishError, Publisher};
use crate::store::{ChangeMeta, RecordRow, Store};

/// Writes one integration's token may make in a minute (each is a new serial, a journal
/// entry, an audit event and NOTIFYs): an office portal makes a few a day.
pub const WRITES_PER_MINUTE: u32 = 120;

/// Types the API writes and lists: those a request may hold, but DS (a delegation's, made by
/// request only).
pub const TYPES: [&str; 6] = ["A", "AAAA", "CNAME", "TXT", "MX", "NS"];

/// Why a call is refused; the API maps each to Cloudflare's envelope.
#[derive(Debug, thiserror::Error)]
pub enum CloudflareError {
    /// Not an integration's token.
    #[error("this API is for tokens of the integration role")]
    NotAnIntegration,
    /// No such zone (or not a zone id).
    #[error("no zone with that identifier")]
    ZoneNotFound,
    /// No such record in the zone.
    #[error("record does not exist")]
    RecordNotFound,
    /// The body is not a record in JSON.
    #[error("Request body is invalid: {0}")]
    BadBody(String),
    /// A field is missing or wrong.
    #[error("{0}")]
    Invalid(String),
    /// `proxied: true`: ranah serves DNS, it is not a proxy.
    #[error(
        "proxied records are not available: this server answers DNS only, it is not a proxy; send proxied: false"
    )]
    Proxied,
    /// The same record exists already.
    #[error("record already exists")]
    Exists,
    /// The zone's rules refuse the change (a CNAME beside other records, …).
    #[error("{0}")]
    ZoneRule(String),
    /// The token may not write there.
    #[error("{0}")]
    Forbidden(String),
    /// An open request holds the name: a request for it waits for that one's decision.
    #[error("{0}")]
    Held(String),
    /// More writes of the token in a minute than [`WRITES_PER_MINUTE`].
    #[error("more than {WRITES_PER_MINUTE} writes in a minute: wait and write more slowly")]
    TooManyWrites,
    /// Anything else (the store, a fault of ours).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::StoreError> for CloudflareError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// A zone as the API shows it.
#[derive(Debug, Clone)]
pub struct CfZone {
    /// Its id: 32 hex digits derived from its name.
    pub id: String,
    /// The apex, without the final dot.
    pub name: String,
    /// The name servers at the apex.
    pub name_servers: Vec<String>,
}

/// A record as the API shows it.
#[derive(Debug, Clone)]
pub struct CfRecord {
    /// Its id.
    pub id: String,
    /// The zone's id.
    pub zone_id: String,
    /// The zone's name.
    pub zone_name: String,
    /// The owner, without the final dot.
    pub name: String,
    /// The type.
    pub rtype: String,
    /// The content as Cloudflare writes it (targets without the final dot; MX without its
    /// priority; TXT's text unquoted).
    pub content: String,
    /// MX's preference.
    pub priority: Option<u16>,
    /// TTL in seconds.
    pub ttl: u32,
    /// When it was written.
    pub created_on: String,
}

impl CfRecord {
    /// Whether both stand for the same record: owner, type and data (MX's priority too).
    pub fn same_record(&self, other: &CfRecord) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.rtype == other.rtype
            && self.content == other.content
            && self.priority == other.priority
    }
}

/// A record as a client sends it (POST, PUT, PATCH): every field optional, checked per call.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RecordInput {
    /// The type.
    #[serde(rename = "type")]
    pub rtype: Option<String>,
    /// The owner: absolute (`www.example.go.id`), relative (`www`) or `@`.
    pub name: Option<String>,
    /// The content.
    pub content: Option<String>,
    /// TTL; 1 is the zone's default.
    pub ttl: Option<u32>,
    /// Must be false (or absent).
    pub proxied: Option<bool>,
    /// MX's preference.
    pub priority: Option<u16>,
    /// Accepted and ignored (Cloudflare's note on a record).
    pub comment: Option<String>,
    /// Accepted and ignored.
    pub tags: Option<Vec<String>>,
}

/// Filters of a record list (each exact, case-insensitive), and the page.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Type.
    pub rtype: Option<String>,
    /// Owner, absolute without the final dot.
    pub name: Option<String>,
    /// Content as shown.
    pub content: Option<String>,
}

/// What a write did.
#[derive(Debug, Clone)]
pub enum Written<T> {
    /// Written into the zone: DNS answers it.
    Applied(T),
    /// Turned into a request; `result` is what the write will be once that request is
    /// approved at its provisioning step.
    Requested {
        /// The record as it will be (or the deleted record's id).
        result: T,
        /// The request's number.
        request: i64,
        /// The step it entered at.
        step: String,
    },
}

/// With writes turned into requests: where they enter the workflow.
pub struct RequestWrites {
    /// The requests service that opens them.
    pub requests: Arc<Requests>,
    /// The step they enter at ([`crate::domain::workflow::Workflow::entry_step`]).
    pub step: usize,
    /// The agency (its id) of requests for new names by tokens for all agencies.
    pub agency: Option<i64>,
}

/// The longest `comment` taken as a request's purpose.
const MAX_COMMENT: usize = 500;

/// The Cloudflare-compatible API's service.
pub struct Cloudflare {
    store: Store,
    publisher: Arc<Publisher>,
    policy: Arc<Policy>,
    writes: super::rate::PerMinute,
    requests: Option<RequestWrites>,
}

/// The id of a zone: 32 hex digits of SHA-256 over its name.
pub fn zone_id(apex: &str) -> String {
    use sha2::{Digest, Sha256};
    let name = apex.trim_end_matches('.').to_ascii_lowercase();
    hex::encode(&Sha256::digest(format!("zone\0{name}").as_bytes())[..16])
}

fn binding(caller: &Actor) -> Result<Binding, CloudflareError> {
    access::integration_binding(caller).ok_or(CloudflareError::NotAnIntegration)
}

impl Cloudflare {
    /// The service over the store, the publisher and the record policy.
    pub fn new(store: Store, publisher: Arc<Publisher>, policy: Arc<Policy>) -> Self {
        Self {
            store,
            publisher,
            policy,
            writes: super::rate::PerMinute::new(WRITES_PER_MINUTE),
            requests: None,
        }
    }

    /// Writes turned into requests that enter the workflow as `writes` says.
    pub fn with_requests(mut self, writes: RequestWrites) -> Self {
        self.requests = Some(writes);
        self
    }

    /// Every served zone (or the one named), by name.
    pub fn zones(
        &self,
        caller: &Actor,
        name: Option<&str>,
    ) -> Result<Vec<CfZone>, CloudflareError> {
        binding(caller)?;
        let wanted = name.map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase());
        let mut zones: Vec<CfZone> = self
            .publisher
            .zones()
            .origins()
            .into_iter()
            .map(|o| Name::from(o).to_ascii())
            .filter(|apex| {
                wanted
                    .as_deref()
                    .is_none_or(|w| apex.trim_end_matches('.') == w)
            })
            .filter_map(|apex| self.zone_of(&apex))
            .collect();
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(zones)
    }

    /// One zone by id.
    pub fn zone(&self, caller: &Actor, id: &str) -> Result<CfZone, CloudflareError> {
        binding(caller)?;
        self.find_zone(id)
    }

    fn zone_of(&self, apex: &str) -> Option<CfZone> {
        let origin = Name::from_ascii(apex).ok()?;
        let handle = self.publisher.zones().get(&LowerName::new(&origin))?;
        let view = handle.view();
        let name_servers = view
            .rrset(&LowerName::new(&origin), RecordType::NS)
            .map(|s| {
                s.records()
                    .into_iter()
                    .filter_map(|r| match r.data {
                        RData::NS(ns) => Some(ns.0.to_ascii().trim_end_matches('.').to_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(CfZone {
            id: zone_id(apex),
            name: apex.trim_end_matches('.').to_owned(),
            name_servers,
        })
    }

    fn find_zone(&self, id: &str) -> Result<CfZone, CloudflareError> {
        self.publisher
            .zones()
            .origins()
            .into_iter()
            .map(|o| Name::from(o).to_ascii())
            .find(|apex| zone_id(apex) == id)
            .and_then(|apex| self.zone_of(&apex))
            .ok_or(CloudflareError::ZoneNotFound)
    }

    /// One page of the zone's records that the API shows (not the SOA, the signer's or
    /// ranah's anchor; not suspended ones), filtered: the records of page `page` (from 1) of
    /// `per_page`, and how many match in all.
    pub async fn records(
        &self,
        caller: &Actor,
        zone_id: &str,
        filter: &RecordFilter,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<CfRecord>, u64), CloudflareError> {
        binding(caller)?;
        let zone = self.find_zone(zone_id)?;
        let apex = format!("{}.", zone.name);
        let offset = page.saturating_sub(1).saturating_mul(per_page);
        if filter.name.is_none() && filter.content.is_none() {
            // The whole zone, or one type of it: the database pages.
            let rtype = match filter.rtype.as_deref() {
                None => None,
                Some(t) => match type_asked(t).parse::<RecordType>() {
                    Ok(t) if TYPES.contains(&t.to_string().as_str()) => Some(u16::from(t)),
                    // A type the API does not show matches nothing.
                    _ => return Ok((Vec::new(), 0)),
                },
            };
            let types: Vec<u16> = TYPES
                .iter()
                .filter_map(|t| t.parse::<RecordType>().ok())
                .map(u16::from)
                .collect();
            let anchor = format!("{}.{apex}", policy::AUDIT_ANCHOR_LABEL);
            let (rows, total) = self
                .store
                .record_rows_page(&apex, &types, rtype, &anchor, per_page, offset)
                .await?;
            return Ok((rows.iter().filter_map(|r| shown(&zone, r)).collect(), total));
        }
        let all = self.filtered(&zone, &apex, filter).await?;
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        Ok((all.into_iter().skip(offset).take(per_page).collect(), total))
    }

    /// The records a name or content filter picks (a name is read alone; a content filter
    /// reads the zone: the content as shown is not what the store holds).
    async fn filtered(
        &self,
        zone: &CfZone,
        apex: &str,
        filter: &RecordFilter,
    ) -> Result<Vec<CfRecord>, CloudflareError> {
        // A name asked for is read alone (a portal asks for its name; the zone may be large).
        let owner = filter
            .name
            .as_deref()
            .and_then(|n| owner_in(n, &zone.name).ok());
        if filter.name.is_some() && owner.is_none() {
            return Err(CloudflareError::Invalid(
                "name: not a name in the zone".into(),
            ));
        }
        let rows = match &owner {
            Some(owner) => self.store.record_rows_at(apex, owner).await?,
            None => self.store.record_rows(Some(apex)).await?,
        };
        let rtype = filter.rtype.as_deref().map(type_asked);
        Ok(rows
            .iter()
            .filter_map(|r| shown(zone, r))
            .filter(|r| {
                // The name asked for picked the rows (in any of the forms a client writes it).
                rtype.as_ref().is_none_or(|t| r.rtype == *t)
                    && filter.content.as_deref().is_none_or(|c| r.content == c)
            })
            .collect())
    }

    /// One record by id.
    pub async fn record(
        &self,
        caller: &Actor,
        zone_id: &str,
        id: &str,
    ) -> Result<CfRecord, CloudflareError> {
        binding(caller)?;
        let zone = self.find_zone(zone_id)?;
        // Ids are 32 hex digits: anything else is no record's, without asking the store.
        if !crate::zone::is_record_id(&id.to_ascii_lowercase()) {
            return Err(CloudflareError::RecordNotFound);
        }
        let row = self
            .store
            .record_row_by_api_id(&format!("{}.", zone.name), id)
            .await?;
        row.as_ref()
            .and_then(|r| shown(&zone, r))
            .ok_or(CloudflareError::RecordNotFound)
    }

    /// Refuse a record that another one of the zone already is (owner, type, data), but the
    /// one of id `but` (the record being changed).
    async fn refuse_twin(
        &self,
        zone: &CfZone,
        record: &Record,
        but: Option<&str>,
    ) -> Result<(), CloudflareError> {
        let same = to_shown(zone, record);
        let at_owner = self
            .store
            .record_rows_at(&format!("{}.", zone.name), &record.name.to_ascii())
            .await?;
        if at_owner
            .iter()
            .filter_map(|r| shown(zone, r))
            .any(|r| Some(r.id.as_str()) != but && r.same_record(&same))
        {
            return Err(CloudflareError::Exists);
        }
        Ok(())
    }

    /// Refuse a change whose set would hold more records than the record policy allows.
    fn within_set_limit(&self, change: &ChangeSet, record: &Record) -> Result<(), CloudflareError> {
        let next = self.publisher.check(change).map_err(refusal)?;
        let size = next
            .rrset(&LowerName::new(&record.name), record.record_type())
            .map(|s| s.records().len())
            .unwrap_or(0);
        if size > self.policy.max_rrset_records {
            return Err(CloudflareError::Invalid(format!(
                "{} would hold {size} {} records; at most {}",
                record.name.to_ascii().trim_end_matches('.'),
                record.record_type(),
                self.policy.max_rrset_records
            )));
        }
        Ok(())
    }

    /// Create a record (POST).
    pub async fn create(
        &self,
        caller: &Actor,
        zone_id: &str,
        input: RecordInput,
        now: DateTime<Utc>,
    ) -> Result<Written<CfRecord>, CloudflareError> {
        let binding = binding(caller)?;
        let zone = self.find_zone(zone_id)?;
        let (record, holder) = self.checked(binding, &zone, &input).await?;
        self.refuse_twin(&zone, &record, None).await?;
        let id = crate::store::random_api_id()?;
        let change = self.change(
            caller,
            binding,
            &zone,
            holder,
            vec![ChangeOp::Add(record.clone())],
            &record,
            &id,
            "create",
        );
        self.within_set_limit(&change, &record)?;
        if self.requests.is_some() {
            let write = RequestedWrite {
                binding,
                holder,
                removed: None,
                added: Some((&record, &id)),
                comment: input.comment.as_deref(),
                verb: "tambah",
            };
            return self
                .open_request(
                    caller,
                    &zone,
                    write,
                    proposed(&zone, &record, &id, now),
                    now,
                )
                .await;
        }
        self.apply(change, now).await?;
        match self.record(caller, zone_id, &id).await {
            Ok(record) => Ok(Written::Applied(record)),
            // The same record was written meanwhile (with its own id), so this one changed
            // nothing: what a client that had come second anyway is told.
            Err(CloudflareError::RecordNotFound) => Err(CloudflareError::Exists),
            Err(e) => Err(e),
        }
    }

    /// Replace (PUT, `partial` false: every field as given) or edit (PATCH, `partial`: the
    /// fields given over the record's) a record; it keeps its id.
    pub async fn update(
        &self,
        caller: &Actor,
        zone_id: &str,
        id: &str,
        input: RecordInput,
        partial: bool,
        now: DateTime<Utc>,
    ) -> Result<Written<CfRecord>, CloudflareError> {
        let binding = binding(caller)?;
        let zone = self.find_zone(zone_id)?;
        let old = self.record(caller, zone_id, id).await?;
        let old_record = self.stored(&zone, &old)?;
        self.may_change(binding, &zone, &old.name).await?;
        let input = if partial {
            RecordInput {
                rtype: input.rtype.or(Some(old.rtype.clone())),
                name: input.name.or(Some(old.name.clone())),
                content: input.content.or(Some(old.content.clone())),
                ttl: input.ttl.or(Some(old.ttl)),
                proxied: input.proxied,
                priority: input.priority.or(old.priority),
                comment: input.comment,
                tags: input.tags,
            }
        } else {
            input
        };
        let (record, holder) = self.checked(binding, &zone, &input).await?;
        // Another record with the new owner, type and data: this one would merge into it.
        self.refuse_twin(&zone, &record, Some(&old.id)).await?;
        let change = self.change(
            caller,
            binding,
            &zone,
            holder,
            vec![
                ChangeOp::RequirePresent(old_record.clone()),
                ChangeOp::Remove(old_record.clone()),
                ChangeOp::Add(record.clone()),
            ],
            &record,
            id,
            if partial { "edit" } else { "update" },
        );
        self.within_set_limit(&change, &record)?;
        if self.requests.is_some() {
            // The record as it is (a client that sends what it holds again, as Terraform
            // and external-dns do): nothing to ask.
            if record == old_record {
                return Ok(Written::Applied(old));
            }
            if record.name != old_record.name {
                return Err(CloudflareError::Invalid(
                    "a record moves to another name by two requests: delete it, and create \
                     it at the new name"
                        .into(),
                ));
            }
            let write = RequestedWrite {
                binding,
                holder,
                removed: Some((&old_record, id)),
                added: Some((&record, id)),
                comment: input.comment.as_deref(),
                verb: "ubah",
            };
            return self
                .open_request(caller, &zone, write, proposed(&zone, &record, id, now), now)
                .await;
        }
        self.apply(change, now).await?;
        Ok(Written::Applied(self.record(caller, zone_id, id).await?))
    }

    /// Delete a record; its id.
    pub async fn delete(
        &self,
        caller: &Actor,
        zone_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Written<String>, CloudflareError> {
        let binding = binding(caller)?;
        let zone = self.find_zone(zone_id)?;
        let old = self.record(caller, zone_id, id).await?;
        let record = self.stored(&zone, &old)?;
        let holder = self.may_change(binding, &zone, &old.name).await?;
        let change = self.change(
            caller,
            binding,
            &zone,
            holder,
            vec![
                ChangeOp::RequirePresent(record.clone()),
                ChangeOp::Remove(record.clone()),
            ],
            &record,
            id,
            "delete",
        );
        if self.requests.is_some() {
            // The zone's rules as the deletion would leave the zone now.
            self.publisher.check(&change).map_err(refusal)?;
            let write = RequestedWrite {
                binding,
                holder,
                removed: Some((&record, id)),
                added: None,
                comment: None,
                verb: "hapus",
            };
            return self
                .open_request(caller, &zone, write, id.to_owned(), now)
                .await;
        }
        self.apply(change, now).await?;
        Ok(Written::Applied(id.to_owned()))
    }

    /// Open the request a write makes, where writes are turned into requests: the write
    /// itself, shown with the whole set of records its name will have. Its number and the
    /// step it entered at.
    async fn open_request<T>(
        &self,
        caller: &Actor,
        zone: &CfZone,
        write: RequestedWrite<'_>,
        result: T,
        now: DateTime<Utc>,
    ) -> Result<Written<T>, CloudflareError> {
        let Some(writes) = &self.requests else {
            return Err(CloudflareError::Service(ServiceError::internal(
                "a request for a write",
                "writes are applied here, not requested",
            )));
        };
        let apex = format!("{}.", zone.name);
        let Some((written, _)) = write.added.or(write.removed) else {
            return Err(CloudflareError::Invalid("the write changes nothing".into()));
        };
        let owner = written.name.to_lowercase().to_ascii();
        let shown = owner.trim_end_matches('.').to_owned();
        let label = owner
            .strip_suffix(&format!(".{apex}"))
            .filter(|l| !l.is_empty() && !l.contains('.'))
            .ok_or_else(|| {
                CloudflareError::Invalid(format!(
                    "{shown}: a request is for one name directly under {} (its records are \
                     written when the request is approved); names deeper down and the apex \
                     are not requested this way",
                    zone.name
                ))
            })?
            .to_owned();
        let comment = write.comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
            return Err(CloudflareError::Invalid(format!(
                "comment: at most {MAX_COMMENT} characters"
            )));
        }
        let agency = request_agency(write.binding, write.holder, writes.agency).map_err(|why| {
            CloudflareError::Forbidden(match why {
                NoAgency::OfficeName => format!(
                    "{shown} is the office's (its records are no single agency's): a \
                         request is an agency's, so the office changes it in ranah itself"
                ),
                NoAgency::NoneNamed => format!(
                    "{shown} is held by no agency, and a request is always an agency's: \
                         write with a token bound to the agency, or have the office name one \
                         (cloudflare_api.request_agency)"
                ),
            })
        })?;
        // A name nobody holds that stands above others' names (an empty non-terminal) is the
        // office's to give, not a request's to hand to an agency.
        if write.holder == Holder::Nobody
            && self
                .publisher
                .zones()
                .get(&LowerName::new(
                    &Name::from_ascii(&apex).map_err(|_| CloudflareError::ZoneNotFound)?,
                ))
                .is_some_and(|h| h.view().name_exists(&LowerName::new(&written.name)))
        {
            return Err(CloudflareError::Forbidden(format!(
                "{shown} stands above other names; it is the office's to give"
            )));
        }
        if !self.writes.take(caller.user_id, std::time::Instant::now()) {
            return Err(CloudflareError::TooManyWrites);
        }
        // What the name will hold, for staff to read: its records now, the write made on them
        // (a record written with another TTL gives its set that TTL, as the zone will).
        let rows = self.store.record_rows_at(&apex, &owner).await?;
        let removed_id = write.removed.map(|(_, id)| id);
        let mut records: Vec<super::requests::RecordInput> = rows
            .iter()
            .filter(|r| r.suspension_id.is_none() && Some(r.api_id.as_str()) != removed_id)
            .map(|r| request_input(&RecordType::from(r.rtype).to_string(), &r.data, r.ttl))
            .collect();
        let had = rows.iter().any(|r| r.suspension_id.is_none());
        let mut what = String::new();
        let mut add = None;
        if let Some((record, id)) = write.added {
            let rtype = record.record_type().to_string();
            let data = crate::zone::file::presentation(&record.data);
            what = format!("{rtype} {}", content_of(&rtype, &data).0);
            for r in records.iter_mut().filter(|r| r.rtype == rtype) {
                r.ttl = record.ttl;
            }
            let input = request_input(&rtype, &data, record.ttl);
            records.push(input.clone());
            add = Some(AddedRecord {
                record: input,
                api_id: id.to_owned(),
            });
        }
        let kind = request_kind(had, !records.is_empty())
            .ok_or_else(|| CloudflareError::Invalid("the write changes nothing".into()))?;
        let remove = match write.removed {
            Some((record, _)) => Some(WrittenRecord::of(record)?),
            None => None,
        };
        let purpose = match comment {
            Some(c) => c.to_owned(),
            None => format!(
                "Diajukan melalui API kompatibel Cloudflare: {} {shown} {what}",
                write.verb
            )
            .trim_end()
            .to_owned(),
        };
        let opening = Opening {
            kind,
            zone: zone.name.clone(),
            label,
            records,
            write: IntegrationWrite { remove, add },
            agency_id: agency,
            purpose,
            step: writes.step,
        };
        let request = writes
            .requests
            .open_for_integration(caller, opening, now)
            .await
            .map_err(|e| match e {
                ServiceError::Validation(fields) => CloudflareError::Invalid(
                    fields
                        .iter()
                        .map(|f| f.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                ServiceError::NameTaken { message, .. } => CloudflareError::Held(format!(
                    "{message}: a request for the name waits for that one's decision"
                )),
                ServiceError::Publish(e) => refusal(e),
                other => CloudflareError::Service(other),
            })?;
        let step = writes
            .requests
            .workflow()
            .steps
            .get(writes.step)
            .map(|s| s.id.clone())
            .unwrap_or_default();
        Ok(Written::Requested {
            result,
            request,
            step,
        })
    }

    /// The change, with its provenance and audit attribution.
    #[allow(clippy::too_many_arguments)]
    fn change(
        &self,
        caller: &Actor,
        binding: Binding,
        zone: &CfZone,
        holder: Holder,
        ops: Vec<ChangeOp>,
        record: &Record,
        id: &str,
        verb: &str,
    ) -> ChangeSet {
        let agency_id = match (binding, holder) {
            (Binding::Agency(a), _) => Some(a),
            (Binding::All, Holder::Agency(a)) => Some(a),
            (Binding::All, _) => None,
        };
        let key = (
            record.name.to_ascii(),
            u16::from(record.record_type()),
            crate::zone::file::presentation(&record.data),
        );
        ChangeSet {
            zone: Name::from_ascii(format!("{}.", zone.name)).unwrap_or_else(|_| Name::root()),
            ops,
            meta: ChangeMeta {
                reason: format!(
                    "Cloudflare-compatible API: {verb} {} {} ({id})",
                    record.record_type(),
                    record.name.to_ascii().trim_end_matches('.')
                ),
                agency_id,
                user_id: Some(caller.user_id),
                actor: Some(Attribution::of(caller)),
                api_ids: vec![(key, id.to_owned())],
                ..ChangeMeta::default()
            },
        }
    }

    async fn apply(&self, change: ChangeSet, now: DateTime<Utc>) -> Result<(), CloudflareError> {
        let user = change.meta.user_id.unwrap_or(0);
        if !self.writes.take(user, std::time::Instant::now()) {
            return Err(CloudflareError::TooManyWrites);
        }
        match self.publisher.apply(&change, now).await {
            Ok(_) => Ok(()),
            Err(e) => Err(refusal(e)),
        }
    }

    /// Who holds a name: that of its base (the name without its service labels: what
    /// stands above the highest label that begins with `_`, so that `_dmarc.x` and
    /// `sel._domainkey.x` are `x`'s), the closest name at or above it (below the apex) with
    /// records; records at names with a `_` label never make a name anyone's. A suspended
    /// name, or one below it, is refused.
    async fn holder(&self, zone: &CfZone, owner: &str) -> Result<(Holder, Name), CloudflareError> {
        let apex_name = Name::from_ascii(format!("{}.", zone.name))
            .map_err(|_| CloudflareError::ZoneNotFound)?;
        let apex = apex_name.to_ascii();
        let owner =
            Name::from_ascii(owner).map_err(|e| CloudflareError::Invalid(format!("name: {e}")))?;
        let base = base_of(&owner);
        let mut names = Vec::new();
        let mut at = owner.clone();
        while apex_name.zone_of(&at) && at != apex_name {
            names.push(at.to_ascii());
            at = at.base_name();
        }
        if let Some(name) = self.store.suspended_among(&apex, &names).await?.first() {
            return Err(CloudflareError::Forbidden(format!(
                "{} is suspended",
                name.trim_end_matches('.')
            )));
        }
        let mut chain = Vec::new();
        let mut at = base.clone();
        while apex_name.zone_of(&at) && at != apex_name {
            chain.push(at.to_ascii());
            at = at.base_name();
        }
        let found = self.store.agencies_at(&apex, &chain).await?;
        for name in &chain {
            let agencies: Vec<Option<i64>> = found
                .iter()
                .filter(|(o, _)| o == name)
                .map(|(_, a)| *a)
                .collect();
            if agencies.is_empty() {
                continue;
            }
            // Records of one agency make the name its; any other mix is the office's.
            return Ok((
                match agencies.as_slice() {
                    [Some(a)] => Holder::Agency(*a),
                    _ => Holder::Office,
                },
                base,
            ));
        }
        Ok((Holder::Nobody, base))
    }

    /// Whether the caller may change what stands at `name` (shown form); who holds it.
    async fn may_change(
        &self,
        binding: Binding,
        zone: &CfZone,
        name: &str,
    ) -> Result<Holder, CloudflareError> {
        let apex = format!("{}.", zone.name);
        let owner = format!("{}.", name.trim_end_matches('.'));
        let (holder, base) = self.holder(zone, &owner).await?;
        let forbidden = |why: String| Err(CloudflareError::Forbidden(why));
        if let Binding::Agency(_) = binding {
            // A name under the apex's own service labels is the office's (`_dmarc`,
            // `_acme-challenge`, `sel._domainkey` of the zone).
            if base.to_ascii() == apex {
                return forbidden(format!(
                    "{} belongs to the zone itself, the office's",
                    owner.trim_end_matches('.')
                ));
            }
            if holder == Holder::Nobody {
                // A new name: not a reserved label, not one an open request holds, not an
                // empty non-terminal above others' names.
                let top = top_label(&base, zone);
                if self
                    .policy
                    .reserved
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&top))
                {
                    return forbidden(format!("`{top}` is reserved"));
                }
                if let Some(request) = self.store.open_request_id(&zone.name, &top).await? {
                    return Err(CloudflareError::Held(format!(
                        "{top} is held by open request {request}: a write there waits for \
                         that request's decision"
                    )));
                }
                let exists = self
                    .publisher
                    .zones()
                    .get(&LowerName::new(
                        &Name::from_ascii(&apex).map_err(|_| CloudflareError::ZoneNotFound)?,
                    ))
                    .is_some_and(|h| h.view().name_exists(&LowerName::new(&base)));
                if exists {
                    return forbidden(format!(
                        "{} stands above other names; it is the office's to give",
                        base.to_ascii().trim_end_matches('.')
                    ));
                }
            }
        }
        may_write(binding, &apex, &owner, holder)
            .map_err(|e| CloudflareError::Forbidden(e.to_string()))?;
        Ok(holder)
    }

    /// A client's record, checked: its owner in the zone and the caller's to write, its type,
    /// content and TTL by the record policy.
    async fn checked(
        &self,
        binding: Binding,
        zone: &CfZone,
        input: &RecordInput,
    ) -> Result<(Record, Holder), CloudflareError> {
        if input.proxied == Some(true) {
            return Err(CloudflareError::Proxied);
        }
        let missing = |f: &str| CloudflareError::Invalid(format!("{f} is required"));
        let rtype = input
            .rtype
            .as_deref()
            .ok_or_else(|| missing("type"))?
            .trim()
            .to_ascii_uppercase();
        if !TYPES.contains(&rtype.as_str()) {
            return Err(CloudflareError::Invalid(format!(
                "type `{rtype}` is not served here (A, AAAA, CNAME, TXT, MX, NS)"
            )));
        }
        if rtype == "NS" && binding != Binding::All {
            return Err(CloudflareError::Forbidden(
                "a delegation (NS) is the office's to make, not an agency's token's".into(),
            ));
        }
        let name = input.name.as_deref().ok_or_else(|| missing("name"))?.trim();
        let owner = owner_in(name, &zone.name)?;
        let holder = self.may_change(binding, zone, &owner).await?;
        let content = input.content.as_deref().ok_or_else(|| missing("content"))?;
        let ttl = match input.ttl {
            None | Some(1) => self.default_ttl(zone),
            Some(t) => t,
        };
        let value = match rtype.as_str() {
            "MX" => {
                let priority = input.priority.ok_or_else(|| missing("priority"))?;
                format!("{priority} {}", absolute(content))
            }
            "CNAME" | "NS" => absolute(content),
            "TXT" => unquoted(content),
            _ => content.trim().to_owned(),
        };
        let requested = [RequestedRecord {
            rtype: rtype.clone(),
            value,
            ttl,
        }];
        let mut values = self
            .policy
            .check_records(&requested, &zone.name)
            .map_err(|errors| {
                CloudflareError::Invalid(
                    errors
                        .iter()
                        .map(|e| e.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        let (value, ttl) = values.pop().ok_or_else(|| missing("content"))?;
        let data = rdata(value)?;
        let owner =
            Name::from_ascii(&owner).map_err(|e| CloudflareError::Invalid(format!("name: {e}")))?;
        Ok((Record::from_rdata(owner, ttl, data), holder))
    }

    /// The zone's default TTL (`ttl: 1`, "automatic"): its SOA's.
    fn default_ttl(&self, zone: &CfZone) -> u32 {
        Name::from_ascii(format!("{}.", zone.name))
            .ok()
            .and_then(|n| self.publisher.zones().get(&LowerName::new(&n)))
            .and_then(|h| h.view().soa_record())
            .map(|soa| soa.ttl.clamp(policy::TTL_RANGE.0, policy::TTL_RANGE.1))
            .unwrap_or(3600)
    }

    /// The stored record a shown one stands for.
    fn stored(&self, zone: &CfZone, shown: &CfRecord) -> Result<Record, CloudflareError> {
        let origin = Name::from_ascii(format!("{}.", zone.name))
            .map_err(|_| CloudflareError::ZoneNotFound)?;
        let handle = self
            .publisher
            .zones()
            .get(&LowerName::new(&origin))
            .ok_or(CloudflareError::ZoneNotFound)?;
        let owner = Name::from_ascii(format!("{}.", shown.name))
            .map_err(|_| CloudflareError::RecordNotFound)?;
        let rtype: RecordType = shown
            .rtype
            .parse()
            .map_err(|_| CloudflareError::RecordNotFound)?;
        handle
            .view()
            .rrset(&LowerName::new(&owner), rtype)
            .and_then(|set| {
                set.records()
                    .into_iter()
                    .find(|r| to_shown(zone, r).same_record(shown))
            })
            .ok_or(CloudflareError::RecordNotFound)
    }
}

/// A `type` filter as the type's name (`a`, ` A ` and `A.` are `A`).
fn type_asked(t: &str) -> String {
    t.trim().trim_end_matches('.').to_ascii_uppercase()
}

/// A write to be turned into a request: at one name, the record `removed` goes, the record
/// `added` comes (each with its API id).
struct RequestedWrite<'a> {
    binding: Binding,
    holder: Holder,
    removed: Option<(&'a Record, &'a str)>,
    added: Option<(&'a Record, &'a str)>,
    comment: Option<&'a str>,
    /// What the write does, in the words staff read (`tambah`, `ubah`, `hapus`).
    verb: &'static str,
}

/// A record as a request holds it: its type, the value as a submission writes it (TXT as its
/// text), its TTL.
fn request_input(rtype: &str, data: &str, ttl: u32) -> super::requests::RecordInput {
    super::requests::RecordInput {
        rtype: rtype.to_owned(),
        value: if rtype == "TXT" {
            txt_text(data)
        } else {
            data.to_owned()
        },
        ttl,
    }
}

/// A record as it will be once a request writes it, with the id it will have.
fn proposed(zone: &CfZone, record: &Record, id: &str, now: DateTime<Utc>) -> CfRecord {
    CfRecord {
        id: id.to_owned(),
        created_on: crate::domain::time::stamp(now),
        ..to_shown(zone, record)
    }
}

/// What a refusal of the change path means here: the zone's rules are the client's to keep
/// (400); a record gone meanwhile is a 404; anything else is ours (500).
fn refusal(e: PublishError) -> CloudflareError {
    match e {
        PublishError::Store(e) => e.into(),
        PublishError::RecordGone(_) => CloudflareError::RecordNotFound,
        rule @ (PublishError::OutsideZone { .. }
        | PublishError::SoaManaged
        | PublishError::CnameConflict(_)
        | PublishError::CnameAtApex
        | PublishError::NameExists(_)
        | PublishError::MxToCname(_)
        | PublishError::ApexWithoutNs
        | PublishError::DnssecManaged(_)) => CloudflareError::ZoneRule(rule.to_string()),
        other => CloudflareError::Service(ServiceError::Internal {
            what: "a change through the Cloudflare-compatible API".into(),
            cause: other.to_string(),
        }),
    }
}

/// A name without its service labels: what stands above the highest label that begins with
/// `_` (`sel._domainkey.x.zone.` → `x.zone.`); the name itself when it has none.
fn base_of(name: &Name) -> Name {
    let labels: Vec<&[u8]> = name.iter().collect();
    match labels.iter().rposition(|l| l.first() == Some(&b'_')) {
        Some(i) => {
            let mut base = name.clone();
            for _ in 0..=i {
                base = base.base_name();
            }
            base
        }
        None => name.clone(),
    }
}

/// The label directly under the apex on a name's path (`sipd` of `www.sipd.zone.`).
fn top_label(name: &Name, zone: &CfZone) -> String {
    let depth = zone.name.split('.').count();
    let labels: Vec<&[u8]> = name.iter().collect();
    labels
        .len()
        .checked_sub(depth + 1)
        .and_then(|i| labels.get(i))
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .unwrap_or_default()
}

/// The owner a client names: `@` for the apex, a name in the zone, or one relative to it.
fn owner_in(name: &str, zone: &str) -> Result<String, CloudflareError> {
    let invalid = |why: &str| CloudflareError::Invalid(format!("name `{name}`: {why}"));
    if name == "@" || name.trim_end_matches('.').eq_ignore_ascii_case(zone) {
        return Ok(format!("{zone}."));
    }
    let normal = policy::owner_name(name).map_err(invalid)?;
    let suffix = format!(".{zone}");
    if normal.ends_with(&suffix) {
        Ok(format!("{normal}."))
    } else if name.ends_with('.') {
        Err(invalid("not in the zone"))
    } else {
        Ok(format!("{normal}.{zone}."))
    }
}

/// A host name as Cloudflare writes it (absolute, without the final dot), as a master file
/// reads it.
fn absolute(content: &str) -> String {
    let c = content.trim();
    if c.ends_with('.') {
        c.to_owned()
    } else {
        format!("{c}.")
    }
}

/// TXT content as a client sends it: its text, or one quoted string (newer clients quote).
fn unquoted(content: &str) -> String {
    let c = content.trim();
    match c.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(inner) if !inner.contains('"') => inner.to_owned(),
        _ => c.to_owned(),
    }
}

/// A stored record as the API shows it; `None` for what it does not show.
fn shown(zone: &CfZone, r: &RecordRow) -> Option<CfRecord> {
    let rtype = RecordType::from(r.rtype).to_string();
    if !TYPES.contains(&rtype.as_str())
        || r.suspension_id.is_some()
        || policy::own_record(&zone.name, &r.owner, &rtype) == Some(policy::OwnRecord::AuditAnchor)
    {
        return None;
    }
    let (content, priority) = content_of(&rtype, &r.data);
    Some(CfRecord {
        id: r.api_id.clone(),
        zone_id: zone.id.clone(),
        zone_name: zone.name.clone(),
        name: r.owner.trim_end_matches('.').to_owned(),
        rtype,
        content,
        priority,
        ttl: r.ttl,
        created_on: r.created_at.clone(),
    })
}

fn to_shown(zone: &CfZone, r: &Record) -> CfRecord {
    let rtype = r.record_type().to_string();
    let (content, priority) = content_of(&rtype, &crate::zone::file::presentation(&r.data));
    CfRecord {
        id: String::new(),
        zone_id: zone.id.clone(),
        zone_name: zone.name.clone(),
        name: r.name.to_ascii().trim_end_matches('.').to_owned(),
        rtype,
        content,
        priority,
        ttl: r.ttl,
        created_on: String::new(),
    }
}

/// Master-file data as Cloudflare's `content` (and MX's `priority`).
fn content_of(rtype: &str, data: &str) -> (String, Option<u16>) {
    match rtype {
        "CNAME" | "NS" => (data.trim_end_matches('.').to_owned(), None),
        "MX" => match data.split_once(' ') {
            Some((p, host)) => (host.trim_end_matches('.').to_owned(), p.parse().ok()),
            None => (data.to_owned(), None),
        },
        "TXT" => (txt_text(data), None),
        _ => (data.to_owned(), None),
    }
}

/// The text of a TXT record's master-file data: its strings, unquoted and unescaped, joined.
fn txt_text(data: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = data.bytes().peekable();
    let mut quoted = false;
    while let Some(b) = bytes.next() {
        match b {
            b'"' => quoted = !quoted,
            b'\\' => {
                let digits: Vec<u8> = std::iter::from_fn(|| bytes.next_if(u8::is_ascii_digit))
                    .take(3)
                    .collect();
                if digits.len() == 3 {
                    let n = digits
                        .iter()
                        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                } else if let Some(d) = digits.first() {
                    out.push(*d);
                } else if let Some(next) = bytes.next() {
                    out.push(next);
                }
            }
            b' ' | b'\t' if !quoted => {}
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_data_reads_back_as_its_text() {
        assert_eq!(txt_text("\"v=spf1 mx -all\""), "v=spf1 mx -all");
        assert_eq!(txt_text("\"a\" \"b c\""), "ab c");
        assert_eq!(txt_text("\"say \\\"hi\\\"\""), "say \"hi\"");
        assert_eq!(txt_text("\"caf\\195\\169\""), "café");
    }

    #[test]
    fn owners_are_absolute_relative_or_the_apex() {
        let z = "example.go.id";
        assert_eq!(owner_in("@", z).unwrap(), "example.go.id.");
        assert_eq!(owner_in("Example.Go.Id", z).unwrap(), "example.go.id.");
        assert_eq!(
            owner_in("www.example.go.id", z).unwrap(),
            "www.example.go.id."
        );
        assert_eq!(owner_in("www", z).unwrap(), "www.example.go.id.");
        assert_eq!(
            owner_in("_acme-challenge.www", z).unwrap(),
            "_acme-challenge.www.example.go.id."
        );
        assert!(owner_in("www.example.org.", z).is_err());
        assert!(owner_in("bad name", z).is_err());
        assert_eq!(zone_id("example.go.id."), zone_id("EXAMPLE.go.id"));
        assert_eq!(zone_id("example.go.id").len(), 32);
    }

    #[test]
    fn content_as_cloudflare_writes_it() {
        assert_eq!(
            content_of("MX", "10 mail.example.go.id."),
            ("mail.example.go.id".into(), Some(10))
        );
        assert_eq!(
            content_of("CNAME", "www.example.go.id."),
            ("www.example.go.id".into(), None)
        );
        assert_eq!(unquoted("\"token\""), "token");
        assert_eq!(unquoted("plain text"), "plain text");
        assert_eq!(absolute("mail.example.org"), "mail.example.org.");
    }
}
