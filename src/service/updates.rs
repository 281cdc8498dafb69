//! Dynamic updates (RFC 2136) and their keys: `ranah key create/list/revoke`, and the
//! [`UpdatePort`] the DNS server hands signed updates to.
//!
//! An update is decided here with the core's policy ([`domain::update`]): the key's grant,
//! the names its agency holds (from the store), the TTL range and the size of a set; then it
//! goes through [`Publisher::apply`] like every other change: one transaction with the
//! journal and the audit trail (the key's agency as actor), a new serial, the served view,
//! NOTIFY to the secondaries. The prerequisites are checked there, under the write lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::rate::PerMinute;
use super::requests::ServiceError;
use crate::acme::sealing::KeyCipher;
use crate::config::{Config, DynamicUpdateSettings};
use crate::dns::tsig::TsigKey;
use crate::dns::update::{UpdateKey, UpdatePort};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::policy::{OwnRecord, TTL_RANGE, own_record};
use crate::domain::update::{Grant, Touch, challenge_for};
use crate::publish::{ChangeOp, ChangeSet, PublishError, Publisher};
use crate::store::{ChangeMeta, Store, StoreError, UpdateKeyRow};
use crate::telemetry::throttle::LogThrottle;
use crate::zone::update::{Operation, Update};

/// How often a key's last use is written at most (`ranah key list` shows it to the minute).
const TOUCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The most bytes of one added record's data (the record policy's limit of a TXT).
const MAX_RDATA_BYTES: usize = 2048;

/// Names asked of the store at once when looking for their holders.
const HOLDER_QUERY_NAMES: usize = 500;

/// Whether every label of `name` is a host name's (letters, digits, `-`; `_` first, as in
/// `_acme-challenge`), or a wildcard's `*` in front: no escaped dot or other byte that would
/// make a name read as another in text.
fn plain_labels(name: &Name) -> bool {
    name.iter().enumerate().all(|(i, label)| {
        (i == 0 && label == b"*")
            || (!label.is_empty()
                && label
                    .iter()
                    .enumerate()
                    .all(|(j, &b)| b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && j == 0)))
    })
}

/// The names an update's holders and suspensions are looked up for: each owner, each
/// challenge's target, and every name above them up to the apex (not the apex).
struct Chains {
    zone: Name,
    names: Vec<String>,
}

impl Chains {
    fn of(zone: &Name, operations: &[Operation]) -> Self {
        let mut seen = std::collections::HashSet::new();
        let mut names = Vec::new();
        for op in operations {
            let owner = op.name();
            let mut starts = vec![owner.clone()];
            if let Some(target) = challenge_for(&owner.to_ascii())
                && let Ok(target) = Name::from_ascii(target)
            {
                starts.push(target);
            }
            for mut at in starts {
                while zone.zone_of(&at) && at != *zone {
                    if !seen.insert(at.clone()) {
                        break;
                    }
                    names.push(at.to_ascii());
                    at = at.base_name();
                }
            }
        }
        Self {
            zone: zone.clone(),
            names,
        }
    }

    /// The agency holding `name`: that of the closest name at or above it (below the apex)
    /// that one agency's records stand at.
    fn holder(&self, name: &str, holders: &HashMap<String, Option<i64>>) -> Option<i64> {
        let mut at = Name::from_ascii(name).ok()?;
        while self.zone.zone_of(&at) && at != self.zone {
            if let Some(agency) = holders.get(&at.to_ascii()) {
                return *agency;
            }
            at = at.base_name();
        }
        None
    }
}

/// The algorithm of the keys ranah makes.
pub const KEY_ALGORITHM: &str = "hmac-sha256";

/// Bytes of a new key's secret (the size of the HMAC's hash, RFC 8945 §6).
const SECRET_BYTES: usize = 32;

/// Most `_acme-challenge` names one agency's keys may hold at once: each new one costs a
/// name in the zone, and an agency has as many as it has certificates in progress.
pub const MAX_CHALLENGE_NAMES: usize = 100;

/// What the store's label binds a sealed secret to: a secret copied into another key's row
/// does not open there.
fn seal_label(name: &str) -> String {
    format!("update-key:{name}")
}

/// The cipher that seals update keys: the same key as the zones' DNSSEC keys. On a store
/// other instances share, a key of this machine's own would seal secrets no other instance
/// can open: a configured one is required.
pub fn key_cipher(config: &Config, shared_store: bool) -> Result<KeyCipher, ServiceError> {
    let configured = config.dnssec.key_encryption_key.is_some() || config.acme.is_some();
    if shared_store && !configured {
        return Err(ServiceError::Conflict(
            "a PostgreSQL store needs dnssec.key_encryption_key (or dnssec.key_encryption_key_env) \
             to seal update keys: every instance opens them with the same key (make one with \
             `head -c 32 /dev/urandom | base64`)"
                .into(),
        ));
    }
    crate::service::dnssec::key_cipher(config, false).map_err(|e| ServiceError::Internal {
        what: "the key-encryption key".into(),
        cause: e.to_string(),
    })
}

/// A key's name as given: a domain name of letters, digits and `-`, lower case, no final dot.
fn key_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !ok {
        return Err(ServiceError::InvalidQuery(format!(
            "`{name}` is not a key name: labels of letters, digits, `-` and `_`, separated by dots"
        )));
    }
    Ok(name)
}

/// A key as `ranah key list` shows it.
pub type KeyListing = UpdateKeyRow;

/// The keys: made, listed, revoked.
pub struct UpdateKeys {
    store: Store,
    cipher: KeyCipher,
    /// Names of the transfer keys of the configuration: an update key never takes one.
    transfer_keys: Vec<String>,
}

impl UpdateKeys {
    /// The keys of this store, sealed with `cipher`.
    pub fn new(store: Store, cipher: KeyCipher, config: &Config) -> Self {
        let transfer_keys = config
            .tsig_keys
            .iter()
            .map(|k| k.name.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        Self {
            store,
            cipher,
            transfer_keys,
        }
    }

    /// Make a key for an agency (by code), or one of no agency (an operator's, with what
    /// `[[dynamic_update.grants]]` gives it). Returns the line `nsupdate -y` and certbot
    /// take: `hmac-sha256:NAME:BASE64SECRET`; the secret is shown this once.
    pub async fn create(
        &self,
        agency: Option<&str>,
        name: Option<&str>,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        let agency = match agency {
            Some(code) => Some(
                self.store
                    .agency(code)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(format!("agency {code}")))?,
            ),
            None => None,
        };
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).map_err(|e| ServiceError::Internal {
            what: "a key's name".into(),
            cause: e.to_string(),
        })?;
        let name = match (name, &agency) {
            (Some(name), _) => key_name(name)?,
            (None, Some(a)) => key_name(&format!("{}-{}", a.code, hex::encode(suffix)))?,
            (None, None) => {
                return Err(ServiceError::InvalidQuery(
                    "a key of no agency needs a name (--name), the one its grant names".into(),
                ));
            }
        };
        if self.transfer_keys.contains(&name) {
            return Err(ServiceError::Conflict(format!(
                "{name} is a transfer key of the configuration ([[tsig_keys]])"
            )));
        }
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| ServiceError::Internal {
            what: "a key's secret".into(),
            cause: e.to_string(),
        })?;
        let sealed =
            self.cipher
                .seal(&secret, &seal_label(&name))
                .map_err(|e| ServiceError::Internal {
                    what: "sealing a key".into(),
                    cause: e.to_string(),
                })?;
        let audit = AuditEntry::by(
            by,
            "update_key.create",
            format!("update_key/{name}"),
            serde_json::json!({
                "name": name,
                "algorithm": KEY_ALGORITHM,
                "agency": agency.as_ref().map(|a| a.code.clone()),
            }),
        );
        self.store
            .create_update_key(
                &name,
                KEY_ALGORITHM,
                &sealed,
                agency.as_ref().map(|a| a.id),
                &audit,
                now,
            )
            .await?;
        let secret = base64::engine::general_purpose::STANDARD.encode(secret);
        Ok(format!("{KEY_ALGORITHM}:{name}:{secret}"))
    }

    /// Every key, live and revoked (never a secret).
    pub async fn list(&self) -> Result<Vec<KeyListing>, ServiceError> {
        Ok(self.store.update_keys().await?)
    }

    /// Revoke a key: the next update it signs is NOTAUTH (BADKEY).
    pub async fn revoke(
        &self,
        name: &str,
        by: &Attribution,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let name = key_name(name)?;
        let audit = AuditEntry::by(
            by,
            "update_key.revoke",
            format!("update_key/{name}"),
            serde_json::json!({ "name": name }),
        );
        self.store.revoke_update_key(&name, &audit, now).await?;
        Ok(())
    }

    /// The live key of this name with its secret opened.
    async fn open(&self, name: &str) -> Result<Option<(UpdateKeyRow, TsigKey)>, ServiceError> {
        let Some(row) = self.store.live_update_key(name).await? else {
            return Ok(None);
        };
        let secret = self
            .cipher
            .open(&row.sealed, &seal_label(&row.name))
            .map_err(|e| ServiceError::Internal {
                what: format!("opening update key {}", row.name),
                cause: e.to_string(),
            })?;
        let key = TsigKey::new(&row.name, &row.algorithm, secret).map_err(|e| {
            ServiceError::Internal {
                what: format!("update key {}", row.name),
                cause: e.to_string(),
            }
        })?;
        Ok(Some((row, key)))
    }
}

/// What an accepted key holds while its update is decided.
struct KeyHolder {
    id: i64,
    name: String,
    agency: Option<(i64, String)>,
}

/// Dynamic updates: the [`UpdatePort`] of the DNS server.
pub struct DynamicUpdates {
    keys: UpdateKeys,
    store: Store,
    publisher: Arc<Publisher>,
    settings: DynamicUpdateSettings,
    /// The most records of one type at a name (the record policy's).
    max_set: usize,
    /// The record policy (the address ranges a zone's names are hosted in).
    policy: crate::domain::policy::Policy,
    limits: PerMinute,
    /// Refusals are logged once per interval (a key holder can send as many as it likes).
    log: Arc<LogThrottle>,
    /// When each key's last use was written: at most once a minute, not a write per update.
    touched: parking_lot::Mutex<HashMap<i64, Instant>>,
}

impl DynamicUpdates {
    /// Updates over these keys, decided with the configuration's grants and limits.
    pub fn new(
        keys: UpdateKeys,
        publisher: Arc<Publisher>,
        config: &Config,
        log: Arc<LogThrottle>,
    ) -> Self {
        Self {
            log,
            touched: parking_lot::Mutex::default(),
            store: keys.store.clone(),
            keys,
            publisher,
            settings: config.dynamic_update.clone(),
            max_set: config.policy.max_rrset_records,
            policy: config.policy.clone(),
            limits: PerMinute::new(config.dynamic_update.per_key_per_minute),
        }
    }

    /// What a key may change.
    fn grant(&self, holder: &KeyHolder) -> Grant {
        match (&holder.agency, self.settings.grant_of(&holder.name)) {
            (Some((agency, _)), _) => Grant::Agency(*agency),
            (None, Some(g)) => Grant::Names {
                names: g.names.clone(),
                types: g.types.clone(),
            },
            (None, None) => Grant::Nothing,
        }
    }

    /// Decide and apply one update; the code to answer.
    async fn decide(
        &self,
        holder: &KeyHolder,
        update: Update,
        src: SocketAddr,
    ) -> Result<ResponseCode, ServiceError> {
        let refused = |why: String| {
            if let Some(suppressed) = self.log.admit("dns_update_refused") {
                tracing::info!(key = %holder.name, %src, why, suppressed, "dynamic update refused");
            }
            Ok(ResponseCode::Refused)
        };
        // Every verified update of the key counts, refused ones too.
        if !self.limits.take(holder.id, Instant::now()) {
            return refused(format!(
                "more than {} updates in a minute",
                self.settings.per_key_per_minute
            ));
        }
        // RFC 2136 §3.2 before §3.3: prerequisites first, on the zone served now (and again
        // under the write lock when the change is applied).
        if !update.prerequisites.is_empty() {
            let check = ChangeSet {
                zone: update.zone.clone(),
                ops: update
                    .prerequisites
                    .iter()
                    .cloned()
                    .map(ChangeOp::Require)
                    .collect(),
                meta: ChangeMeta::default(),
            };
            match self.publisher.check(&check) {
                Err(PublishError::Prerequisite(p)) => return Ok(p.failure()),
                Err(PublishError::UnknownZone(_)) => return Ok(ResponseCode::NotAuth),
                _ => {}
            }
        }
        let grant = self.grant(holder);
        let zone = update.zone.to_ascii();
        // What may never be changed this way, whatever the grant.
        for op in &update.operations {
            let owner = op.name();
            if !plain_labels(owner) {
                return refused(format!(
                    "{} has a label that is not a host name's",
                    owner.to_ascii()
                ));
            }
            if own_record(&zone, &owner.to_ascii(), "TXT") == Some(OwnRecord::AuditAnchor) {
                return refused(format!("{} is ranah's audit anchor", owner.to_ascii()));
            }
            if let Some(t) = op.record_type()
                && (t == RecordType::SOA || !crate::zone::file::SUPPORTED_TYPES.contains(&t))
            {
                return refused(format!("{t} records are not changed by update here"));
            }
        }
        // A deletion of every set at a name deletes only the sets the key may change.
        let mut operations = Vec::with_capacity(update.operations.len());
        for op in update.operations {
            match (op, grant.types()) {
                (Operation::DeleteName(name), Some(types)) => {
                    for t in types {
                        if let Ok(rtype) = t.parse::<RecordType>() {
                            operations.push(Operation::DeleteRrset(name.clone(), rtype));
                        }
                    }
                }
                (op, _) => operations.push(op),
            }
        }
        let chains = Chains::of(&update.zone, &operations);
        let suspended = self.store.suspended_among(&zone, &chains.names).await?;
        if let Some(name) = suspended.first() {
            return refused(format!("{name} is suspended"));
        }
        let holders = self.holders(&zone, &chains.names).await?;
        let holder_of = |name: &str| chains.holder(name, &holders);
        for op in &operations {
            let owner = op.name().to_ascii();
            let rtype = op.record_type().map(|t| t.to_string());
            let touch = Touch {
                owner: &owner,
                rtype: rtype.as_deref(),
            };
            if let Err(refusal) = grant.permits(&zone, touch, holder_of) {
                return refused(refusal.to_string());
            }
            if let Operation::Add(record) = op
                && let Some(why) = self.unfit(holder, &zone, record)
            {
                return refused(why);
            }
        }
        if let Some(why) = self
            .beyond_limits(holder, &update.zone, &operations)
            .await?
        {
            return refused(why);
        }
        // The records' agency: the key's; for an operator's key, the agency holding every name
        // it adds to (one agency's records stay one agency's), else none.
        let agency_id = match &holder.agency {
            Some((id, _)) => Some(*id),
            None => {
                let mut added = operations.iter().filter_map(|op| match op {
                    Operation::Add(r) => Some(holder_of(&r.name.to_ascii())),
                    _ => None,
                });
                match added.next() {
                    Some(first) if added.all(|h| h == first) => first,
                    _ => None,
                }
            }
        };
        let mut ops: Vec<ChangeOp> = update
            .prerequisites
            .into_iter()
            .map(ChangeOp::Require)
            .collect();
        ops.extend(operations.into_iter().map(|op| match op {
            Operation::Add(r) => ChangeOp::Add(r),
            Operation::DeleteRecord(r) => ChangeOp::Remove(r),
            Operation::DeleteRrset(n, t) => ChangeOp::RemoveRRset(n, t),
            Operation::DeleteName(n) => ChangeOp::RemoveName(n),
        }));
        let (actor, reason) = match &holder.agency {
            Some((_, code)) => (
                code.clone(),
                format!("dynamic update with key {} of agency {code}", holder.name),
            ),
            None => (
                format!("key:{}", holder.name),
                format!("dynamic update with key {}", holder.name),
            ),
        };
        let change = ChangeSet {
            zone: update.zone.clone(),
            ops,
            meta: ChangeMeta {
                reason,
                agency_id,
                actor: Some(Attribution {
                    name: actor,
                    role: Some("update-key".into()),
                    client: src.ip().to_string(),
                }),
                ..Default::default()
            },
        };
        let now = Utc::now();
        match self.publisher.apply(&change, now).await {
            Ok(applied) => {
                tracing::info!(
                    key = %holder.name, %src, zone = %zone, serial = applied.serial,
                    added = applied.diff.added.len(), removed = applied.diff.removed.len(),
                    "dynamic update applied"
                );
                if self.due_for_touch(holder.id)
                    && let Err(error) = self.store.touch_update_key(holder.id, now).await
                {
                    tracing::warn!(%error, key = %holder.name, "cannot note the key's last use");
                }
                Ok(ResponseCode::NoError)
            }
            Err(PublishError::Prerequisite(p)) => Ok(p.failure()),
            Err(PublishError::OutsideZone { .. }) => Ok(ResponseCode::NotZone),
            Err(PublishError::UnknownZone(_)) => Ok(ResponseCode::NotAuth),
            Err(PublishError::Store(e)) => Err(e.into()),
            Err(rule) => refused(rule.to_string()),
        }
    }

    /// Why an added record is not one an update may add: a type not served here, a TTL out
    /// of the record policy's range, data beyond the policy's 2048 bytes, an address outside
    /// the ranges the zone's names are hosted in (where those refuse), or, for an
    /// agency's key, a challenge that is not one string of at most 255 bytes (a DNS-01 value
    /// is 43).
    fn unfit(&self, holder: &KeyHolder, zone: &str, record: &Record) -> Option<String> {
        if record.ttl < TTL_RANGE.0 || record.ttl > TTL_RANGE.1 {
            return Some(format!(
                "TTL {} outside {}..{}",
                record.ttl, TTL_RANGE.0, TTL_RANGE.1
            ));
        }
        let size = crate::zone::file::rdata_wire(&record.data)
            .map(|w| w.len())
            .unwrap_or(usize::MAX);
        if size > MAX_RDATA_BYTES {
            return Some(format!("data of {size} bytes; at most {MAX_RDATA_BYTES}"));
        }
        let address = match &record.data {
            RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
            _ => None,
        };
        if let Some(why) = address.and_then(|ip| self.policy.address_refused(ip, zone)) {
            return Some(why);
        }
        if holder.agency.is_some() {
            let one_string = match &record.data {
                RData::TXT(txt) => txt.txt_data.len() == 1,
                _ => false,
            };
            if !one_string {
                return Some("a challenge is one TXT string of at most 255 bytes".into());
            }
        }
        None
    }

    /// The agency holding each name of `names` that one agency's records stand at (names
    /// that begin with `_` hold nothing: a challenge's own records never make a name
    /// anyone's). A name with records of several agencies is nobody's.
    async fn holders(
        &self,
        zone: &str,
        names: &[String],
    ) -> Result<HashMap<String, Option<i64>>, StoreError> {
        let mut out: HashMap<String, Option<i64>> = HashMap::new();
        for chunk in names.chunks(HOLDER_QUERY_NAMES) {
            for (owner, agency) in self.store.holders(zone, chunk).await? {
                match out.get(&owner) {
                    Some(Some(a)) if *a != agency => {
                        out.insert(owner, None);
                    }
                    Some(_) => {}
                    None => {
                        out.insert(owner, Some(agency));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether the key's last use is to be written now (its first use here, or a minute on).
    fn due_for_touch(&self, key: i64) -> bool {
        let now = Instant::now();
        let mut touched = self.touched.lock();
        match touched.get(&key) {
            Some(at) if now.saturating_duration_since(*at) < TOUCH_INTERVAL => false,
            _ => {
                touched.insert(key, now);
                true
            }
        }
    }

    /// Why the change would grow the zone past what a key may: a set over the record
    /// policy's size, or an agency holding too many challenge names.
    async fn beyond_limits(
        &self,
        holder: &KeyHolder,
        zone: &Name,
        operations: &[Operation],
    ) -> Result<Option<String>, ServiceError> {
        let Some(served) = self.publisher.zones().get(&LowerName::new(zone)) else {
            return Ok(None);
        };
        let view = served.view();
        let mut added: HashMap<(LowerName, RecordType), usize> = HashMap::new();
        let mut new_names = 0;
        for op in operations {
            let Operation::Add(record) = op else { continue };
            let key = LowerName::new(&record.name);
            let existing = view
                .rrset(&key, record.record_type())
                .map(|s| s.records().len())
                .unwrap_or(0);
            if existing == 0 && !added.keys().any(|(n, _)| *n == key) && !view.name_exists(&key) {
                new_names += 1;
            }
            let count = added.entry((key, record.record_type())).or_insert(existing);
            *count += 1;
            if *count > self.max_set {
                return Ok(Some(format!(
                    "{} {} would hold more than {} records",
                    record.name,
                    record.record_type(),
                    self.max_set
                )));
            }
        }
        if let (Some((agency, _)), true) = (&holder.agency, new_names > 0) {
            let held = self.store.challenge_names_of(*agency).await?;
            if held + new_names > MAX_CHALLENGE_NAMES {
                return Ok(Some(format!(
                    "the agency holds {held} challenge names; at most {MAX_CHALLENGE_NAMES}"
                )));
            }
        }
        Ok(None)
    }
}

#[async_trait::async_trait]
impl UpdatePort for DynamicUpdates {
    async fn key(&self, name: &Name) -> Result<Option<UpdateKey>, ()> {
        let text = name.to_ascii();
        let text = text.trim_end_matches('.');
        match self.keys.open(text).await {
            Ok(Some((row, tsig))) => Ok(Some(UpdateKey {
                tsig,
                id: row.id,
                agency: row.agency_id.zip(row.agency),
            })),
            Ok(None) => Ok(None),
            Err(error) => {
                if let Some(suppressed) = self.log.admit("dns_update_key_unreadable") {
                    tracing::error!(%error, key = text, suppressed, "cannot read an update key");
                }
                Err(())
            }
        }
    }

    async fn apply(&self, key: &UpdateKey, update: Update, src: SocketAddr) -> ResponseCode {
        let holder = KeyHolder {
            id: key.id,
            name: key.tsig.name.to_ascii().trim_end_matches('.').to_owned(),
            agency: key.agency.clone(),
        };
        match self.decide(&holder, update, src).await {
            Ok(code) => code,
            Err(error) => {
                tracing::warn!(%error, key = %holder.name, %src, "dynamic update failed");
                ResponseCode::ServFail
            }
        }
    }
}
