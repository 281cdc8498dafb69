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
use hickory_proto::rr::{LowerName, Name, RecordType};

use super::requests::ServiceError;
use crate::acme::sealing::KeyCipher;
use crate::config::{Config, DynamicUpdateSettings};
use crate::dns::tsig::TsigKey;
use crate::dns::update::{UpdateKey, UpdatePort};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::policy::TTL_RANGE;
use crate::domain::update::{Grant, Touch, at_or_below, challenge_for};
use crate::publish::{ChangeOp, ChangeSet, PublishError, Publisher};
use crate::store::{ChangeMeta, Store, StoreError, UpdateKeyRow};
use crate::telemetry::throttle::LogThrottle;
use crate::zone::update::{Operation, Update};

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

/// Accepted updates per key in the last minute, as a token bucket: `per_minute` at most,
/// refilled evenly.
struct RateLimits {
    per_minute: f64,
    buckets: parking_lot::Mutex<HashMap<i64, (f64, Instant)>>,
}

impl RateLimits {
    fn take(&self, key: i64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock();
        let (tokens, at) = buckets.entry(key).or_insert((self.per_minute, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.per_minute / 60.0;
        *tokens = (*tokens + refill).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Dynamic updates: the [`UpdatePort`] of the DNS server.
pub struct DynamicUpdates {
    keys: UpdateKeys,
    store: Store,
    publisher: Arc<Publisher>,
    settings: DynamicUpdateSettings,
    /// The most records of one type at a name (the record policy's).
    max_set: usize,
    limits: RateLimits,
    /// Refusals are logged once per interval (a key holder can send as many as it likes).
    log: Arc<LogThrottle>,
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
            store: keys.store.clone(),
            keys,
            publisher,
            settings: config.dynamic_update.clone(),
            max_set: config.policy.max_rrset_records,
            limits: RateLimits {
                per_minute: f64::from(config.dynamic_update.per_key_per_minute),
                buckets: parking_lot::Mutex::default(),
            },
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
        if !self.limits.take(holder.id, Instant::now()) {
            return refused(format!(
                "more than {} updates in a minute",
                self.settings.per_key_per_minute
            ));
        }
        let grant = self.grant(holder);
        let zone = update.zone.to_ascii();
        // A deletion of every set at a name deletes only the sets the key may change.
        let mut operations = Vec::with_capacity(update.operations.len());
        for op in update.operations {
            match (op, grant.types()) {
                (Operation::DeleteName(name), Some(types)) => {
                    for t in types {
                        let rtype = t.parse::<RecordType>().unwrap_or(RecordType::TXT);
                        operations.push(Operation::DeleteRrset(name.clone(), rtype));
                    }
                }
                (op, _) => operations.push(op),
            }
        }
        let holders = self.holders_of(&update.zone, &operations).await?;
        let holder_of = |name: &str| {
            let mut at = name.to_owned();
            loop {
                if let Some(agency) = holders.get(&at) {
                    return Some(*agency);
                }
                match at.split_once('.') {
                    Some((_, parent)) if at_or_below(parent, &zone) && parent != zone => {
                        at = parent.to_owned();
                    }
                    _ => return None,
                }
            }
        };
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
            if let Operation::Add(record) = op {
                if !crate::zone::file::SUPPORTED_TYPES.contains(&record.record_type()) {
                    return refused(format!(
                        "{} records are not served here",
                        record.record_type()
                    ));
                }
                if record.ttl < TTL_RANGE.0 || record.ttl > TTL_RANGE.1 {
                    return refused(format!(
                        "TTL {} outside {}..{}",
                        record.ttl, TTL_RANGE.0, TTL_RANGE.1
                    ));
                }
            }
        }
        if let Some(why) = self
            .beyond_limits(holder, &update.zone, &operations)
            .await?
        {
            return refused(why);
        }
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
                agency_id: holder.agency.as_ref().map(|(id, _)| *id),
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
                if let Err(error) = self.store.touch_update_key(holder.id, now).await {
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

    /// The agencies holding the names challenges are asked for, and each name above them
    /// up to the apex.
    async fn holders_of(
        &self,
        zone: &Name,
        operations: &[Operation],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut names = Vec::new();
        for op in operations {
            let owner = op.name().to_ascii();
            let Some(target) = challenge_for(&owner) else {
                continue;
            };
            let mut at = Name::from_ascii(target).unwrap_or_else(|_| zone.clone());
            while zone.zone_of(&at) && at != *zone {
                let text = at.to_ascii();
                if !names.contains(&text) {
                    names.push(text);
                }
                at = at.base_name();
            }
        }
        let zone_text = zone.to_ascii();
        Ok(self
            .store
            .holders(&zone_text, &names)
            .await?
            .into_iter()
            .collect())
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
                tracing::error!(%error, key = text, "cannot read an update key");
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
