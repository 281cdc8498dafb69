//! The keys of signed zones, looked after: made when the policy wants them, moved through
//! their lives as the planner ([`crate::domain::dnssec::plan`]) says, each step audited; the
//! parent's DS asked for while a key waits on it; the zone's signer kept to the keys; due
//! signatures made again in bounded batches.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use crate::acme::sealing::KeyCipher;
use crate::config::{Config, DnssecConfig};
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::dnssec::{
    Algorithm, KeyContext, KeyRecord, KeyRole, KeyStep, KeyTimes, ParentDs, plan,
};
use crate::publish::{Maintenance, Publisher};
use crate::sign::{self, Stale, ZoneKey, ZoneSigner};
use crate::store::{NewKey, Store, StoredKey};

/// Why looking after a zone's keys failed.
#[derive(Debug, thiserror::Error)]
pub enum DnssecError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The change could not be published.
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    /// A key could not be made, sealed or opened.
    #[error("{0}")]
    Key(String),
    /// No such zone.
    #[error("no zone {0}")]
    UnknownZone(String),
}

/// A key as `ranah status`, the zone's API resource and `/metrics` show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyReport {
    /// The key's id.
    pub id: i64,
    /// `csk`, `ksk` or `zsk`.
    pub role: String,
    /// The key tag.
    pub tag: u16,
    /// The algorithm's number.
    pub algorithm: u8,
    /// Where it is in its life: `created`, `published`, `active`, `retired`, `removed`.
    pub state: String,
    /// Whether its DS is asked of the parent (its CDS is published).
    pub submitted: bool,
    /// Whether the parent was seen serving its DS.
    pub ds_seen: bool,
    /// When it was made and reached each stage (RFC 3339).
    pub times: KeyTimesReport,
}

/// A key's stages, RFC 3339.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyTimesReport {
    /// Made.
    pub created: String,
    /// DNSKEY published.
    pub published: Option<String>,
    /// Began to sign.
    pub active: Option<String>,
    /// Stopped signing the zone's data.
    pub retired: Option<String>,
    /// CDS published.
    pub submitted: Option<String>,
    /// DS seen at the parent.
    pub ds_seen: Option<String>,
    /// DNSKEY withdrawn.
    pub removed: Option<String>,
}

fn rfc3339(t: u32) -> String {
    DateTime::<Utc>::from_timestamp(i64::from(t), 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

impl KeyReport {
    fn of(key: &StoredKey) -> Self {
        let t = key.times;
        let state = if t.removed.is_some() {
            "removed"
        } else if t.retired.is_some() {
            "retired"
        } else if t.active.is_some() {
            "active"
        } else if t.published.is_some() {
            "published"
        } else {
            "created"
        };
        Self {
            id: key.id,
            role: key.role.as_str().into(),
            tag: key.tag,
            algorithm: key.algorithm,
            state: state.into(),
            submitted: t.submitted.is_some() && t.removed.is_none(),
            ds_seen: t.ds_seen.is_some(),
            times: KeyTimesReport {
                created: rfc3339(t.created),
                published: t.published.map(rfc3339),
                active: t.active.map(rfc3339),
                retired: t.retired.map(rfc3339),
                submitted: t.submitted.map(rfc3339),
                ds_seen: t.ds_seen.map(rfc3339),
                removed: t.removed.map(rfc3339),
            },
        }
    }
}

/// The key that seals private DNSSEC keys: `dnssec.key_encryption_key`, else the ACME one,
/// else `dnssec.kek` in the data directory (made on first use, readable by ranah only).
///
/// On a store other instances share (`shared_store`), a key of one instance's own would seal
/// keys no other instance can open (a follower signing a change, a new leader): where zones
/// are signed, a configured key is required.
pub fn key_cipher(config: &Config, shared_store: bool) -> Result<KeyCipher, DnssecError> {
    let configured = config
        .dnssec
        .key_encryption_key
        .as_ref()
        .or(config.acme.as_ref().map(|a| &a.key_encryption_key));
    let text = match configured {
        Some(k) => k.expose().to_string(),
        None if shared_store && config.dnssec.signs_any() => {
            return Err(DnssecError::Key(
                "a PostgreSQL store needs dnssec.key_encryption_key (or \
                 dnssec.key_encryption_key_env): every instance on it seals and opens the \
                 zones' keys with the same key (make one with `head -c 32 /dev/urandom | base64`)"
                    .into(),
            ));
        }
        None => kek_file(&config.data_dir)?,
    };
    KeyCipher::from_base64(text.trim()).map_err(|e| DnssecError::Key(e.to_string()))
}

fn kek_file(data_dir: &Path) -> Result<String, DnssecError> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data_dir.join(crate::domain::backup::KEY_ENCRYPTION_KEY);
    let err = |e: std::io::Error| DnssecError::Key(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DnssecError::Key(e.to_string()))?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    tracing::info!(file = %path.display(), "made the key that seals DNSSEC keys");
    Ok(text)
}

fn seal_label(origin: &Name, role: KeyRole, tag: u16, created: u32) -> String {
    format!(
        "dnssec-key:{}:{}:{tag}:{created}",
        origin.to_ascii(),
        role.as_str()
    )
}

fn unix(now: DateTime<Utc>) -> u32 {
    u32::try_from(now.timestamp()).unwrap_or(u32::MAX)
}

/// Looks after the keys of every zone.
pub struct DnssecService {
    store: Store,
    publisher: Arc<Publisher>,
    config: DnssecConfig,
    cipher: KeyCipher,
    /// When each zone's parent was last asked for its DS.
    parent_asked: parking_lot::Mutex<HashMap<Name, u32>>,
    /// When each zone's first signature falls due for refresh, as last seen: a refresh round
    /// before then has nothing to do, and is skipped rather than run over the whole zone. New
    /// signatures only expire later, so the time stays a lower bound until a refresh runs.
    refresh_due: parking_lot::Mutex<HashMap<Name, u32>>,
}

impl DnssecService {
    /// The service over the store and the publisher.
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        config: DnssecConfig,
        cipher: KeyCipher,
    ) -> Self {
        Self {
            store,
            publisher,
            config,
            cipher,
            parent_asked: parking_lot::Mutex::default(),
            refresh_due: parking_lot::Mutex::default(),
        }
    }

    /// Every zone of the store, looked after once (at start, before DNS answers).
    pub async fn start(&self, now: DateTime<Utc>) -> Result<(), DnssecError> {
        for (origin, _) in self.store.zone_serials().await? {
            self.look_after(&origin, now).await?;
        }
        Ok(())
    }

    /// Every zone of the store given the signer its stored keys make, changing nothing: an
    /// instance that does not lead the others on a shared store (the leader makes the keys,
    /// takes their steps and signs; see `cluster::leader`).
    pub async fn follow_all(&self) -> Result<(), DnssecError> {
        for (origin, _) in self.store.zone_serials().await? {
            self.follow_keys(&origin).await?;
        }
        Ok(())
    }

    /// The signer the zone's stored keys make, given to the publisher when it differs from
    /// the one it has (the leader made, rolled or retired a key), so that the changes this
    /// instance makes are signed as the leader's are. Reads only.
    pub async fn follow_keys(&self, origin: &Name) -> Result<(), DnssecError> {
        let keys = self.store.dnssec_keys(origin).await?;
        let state = self.store.signing_state(origin).await?;
        let policy = self.config.policy_for(origin).clone();
        let signer = self.signer_of(origin, &keys, policy.clone(), state.unsigning_since)?;
        if self
            .publisher
            .signer(origin)
            .is_some_and(|b| b.fingerprint() == signer.fingerprint())
        {
            return Ok(());
        }
        if policy.enabled || signer.is_signing() || self.zone_has_dnssec(origin) {
            self.publisher.set_signer(origin, Some(signer));
        } else {
            self.publisher.set_signer(origin, None);
        }
        Ok(())
    }

    /// One round over every served zone: key steps, the parent's DS, due signatures.
    pub async fn tick(&self, now: DateTime<Utc>) {
        for origin in self.publisher.zones().origins() {
            let origin = Name::from(origin);
            if let Err(error) = self.tick_zone(&origin, now).await {
                tracing::warn!(zone = %origin, %error, "DNSSEC maintenance failed");
            }
        }
    }

    async fn tick_zone(&self, origin: &Name, now: DateTime<Utc>) -> Result<(), DnssecError> {
        self.check_parent(origin, now, false).await?;
        self.look_after(origin, now).await?;
        let at = unix(now);
        let due = *self
            .refresh_due
            .lock()
            .entry(origin.clone())
            .or_insert_with(|| self.first_refresh(origin));
        if at < due {
            return Ok(());
        }
        self.publisher
            .maintain(
                origin,
                Maintenance::Refresh(self.config.refresh_batch),
                "dnssec: signatures refreshed",
                now,
            )
            .await?;
        let next = self.first_refresh(origin);
        self.refresh_due.lock().insert(origin.clone(), next);
        Ok(())
    }

    /// When the zone's first signature falls due for refresh (now, for a zone without any).
    fn first_refresh(&self, origin: &Name) -> u32 {
        let refresh = self.config.policy_for(origin).signature_refresh;
        self.publisher
            .zones()
            .get(&LowerName::new(origin))
            .and_then(|h| h.view().first_expiry())
            .map_or(0, |expiry| expiry.saturating_sub(refresh))
    }

    /// Carry out the key steps due for a zone, give the publisher the signer its keys make,
    /// and sign the zone again where they changed what signs.
    pub async fn look_after(&self, origin: &Name, now: DateTime<Utc>) -> Result<(), DnssecError> {
        let stepped = self.run_plan(origin, now).await?;
        let keys = self.store.dnssec_keys(origin).await?;
        let state = self.store.signing_state(origin).await?;
        let policy = self.config.policy_for(origin).clone();
        let signer = self.signer_of(origin, &keys, policy.clone(), state.unsigning_since)?;
        let before = self.publisher.signer(origin);
        let fingerprint = signer.fingerprint();
        let unchanged = before
            .as_ref()
            .is_some_and(|b| b.fingerprint() == fingerprint);
        let needed = policy.enabled || signer.is_signing() || self.zone_has_dnssec(origin);
        if !needed {
            self.publisher.set_signer(origin, None);
            return Ok(());
        }
        self.publisher.set_signer(origin, Some(signer));
        // A zone new to the signer (loaded at start, before the signers were set) that this
        // signer left right at the serial served needs nothing: checking every signature of
        // a large zone takes seconds. Otherwise it is made right as a loaded zone is.
        let served = self
            .publisher
            .zones()
            .get(&LowerName::new(origin))
            .map(|h| h.view().serial());
        let left_right = state.signed_serial.is_some() && state.signed_serial == served;
        let same_signer = state.signed_with.as_deref() == Some(fingerprint.as_str());
        let adopted = before.is_none() && !(left_right && same_signer);
        if adopted {
            // Adopting reconciles every set with this signer.
            self.publisher.adopt(origin, now).await?;
            self.store.set_signed_with(origin, &fingerprint).await?;
        } else if before.is_none() {
            tracing::info!(
                zone = %origin, serial = ?served,
                "signatures kept: the same signer left the zone right at this serial"
            );
        }
        let whole = before.is_some() && !unchanged;
        if stepped || whole {
            self.publisher
                .maintain(
                    origin,
                    Maintenance::Whole(Stale::default()),
                    "dnssec: keys changed",
                    now,
                )
                .await?;
            self.store.set_signed_with(origin, &fingerprint).await?;
        }
        Ok(())
    }

    fn zone_has_dnssec(&self, origin: &Name) -> bool {
        self.publisher
            .zones()
            .get(&LowerName::new(origin))
            .is_some_and(|h| {
                let view = h.view();
                view.is_signed() || view.nsec3_sets().next().is_some()
            })
    }

    /// Run the planner until nothing is due. Returns whether any step was taken.
    async fn run_plan(&self, origin: &Name, now: DateTime<Utc>) -> Result<bool, DnssecError> {
        let policy = self.config.policy_for(origin).clone();
        let at = unix(now);
        let max_ttl = match policy.zone_max_ttl {
            0 => self
                .publisher
                .zones()
                .get(&LowerName::new(origin))
                .map(|h| h.view().max_ttl())
                .unwrap_or(86_400),
            set => set,
        };
        let mut stepped = false;
        // Each round records what the one before did; a handful settle any state.
        for _ in 0..8 {
            let stored = self.store.dnssec_keys(origin).await?;
            let state = self.store.signing_state(origin).await?;
            let records: Vec<KeyRecord> = stored
                .iter()
                .map(|k| KeyRecord {
                    id: k.id,
                    role: k.role,
                    times: k.times,
                })
                .collect();
            let due = plan(&KeyContext {
                policy: &policy,
                keys: &records,
                now: at,
                max_ttl,
                parent: state.parent.as_ref(),
                unsigning_since: state.unsigning_since,
            });
            if due.steps.is_empty() {
                return Ok(stepped);
            }
            stepped = true;
            let mut times: HashMap<i64, KeyTimes> =
                stored.iter().map(|k| (k.id, k.times)).collect();
            let mut unsigning = state.unsigning_since;
            let mut audit = Vec::new();
            for step in due.steps {
                match step {
                    KeyStep::Create(role) => {
                        let newest = stored.iter().map(|k| k.id).max();
                        self.create_key(origin, role, policy.algorithm, newest, now)
                            .await?;
                        continue;
                    }
                    KeyStep::StartUnsigning => {
                        unsigning = Some(at);
                        audit.push(zone_event(origin, "dnssec.unsigning.start", None));
                        continue;
                    }
                    KeyStep::StopUnsigning => {
                        unsigning = None;
                        audit.push(zone_event(origin, "dnssec.unsigning.stop", None));
                        continue;
                    }
                    _ => {}
                }
                let Some(id) = step.key() else {
                    continue;
                };
                let Some(action) = times.get_mut(&id).and_then(|t| t.record(step, at)) else {
                    continue;
                };
                let key = stored.iter().find(|k| k.id == id);
                audit.push(zone_event(
                    origin,
                    &format!("dnssec.key.{action}"),
                    key.map(|k| {
                        serde_json::json!({
                            "key_id": k.id, "tag": k.tag, "role": k.role.as_str(),
                            "algorithm": k.algorithm,
                        })
                    }),
                ));
                tracing::info!(zone = %origin, key = id, step = action, "DNSSEC key step");
            }
            let changed: Vec<(i64, KeyTimes)> = times
                .into_iter()
                .filter(|(id, t)| stored.iter().any(|k| k.id == *id && k.times != *t))
                .collect();
            if !changed.is_empty() || unsigning != state.unsigning_since || !audit.is_empty() {
                self.store
                    .record_key_steps(origin, &changed, unsigning, &audit, now)
                    .await?;
            }
        }
        Ok(stepped)
    }

    async fn create_key(
        &self,
        origin: &Name,
        role: KeyRole,
        algorithm: Algorithm,
        decided_after: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<i64, DnssecError> {
        let pkcs8 = sign::keys::generate(algorithm).map_err(|e| DnssecError::Key(e.to_string()))?;
        let key = ZoneKey::from_pkcs8(0, role, algorithm, &pkcs8)
            .map_err(|e| DnssecError::Key(e.to_string()))?;
        let created = unix(now);
        let sealed = self
            .cipher
            .seal(&pkcs8, &seal_label(origin, role, key.tag, created))
            .map_err(|e| DnssecError::Key(e.to_string()))?;
        let dnskey =
            crate::zone::file::rdata_wire(&RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey.clone())))
                .map_err(DnssecError::Key)?;
        let audit = zone_event(
            origin,
            "dnssec.key.create",
            Some(serde_json::json!({
                "tag": key.tag, "role": role.as_str(), "algorithm": algorithm.number(),
            })),
        );
        let id = self
            .store
            .insert_dnssec_key(
                origin,
                &NewKey {
                    role,
                    algorithm: algorithm.number(),
                    tag: key.tag,
                    dnskey: &dnskey,
                    sealed: &sealed,
                    created,
                    decided_after,
                },
                &audit,
                now,
            )
            .await?;
        tracing::info!(zone = %origin, key = id, tag = key.tag, role = role.as_str(), "DNSSEC key made");
        Ok(id)
    }

    /// The signer of a zone's live keys, each doing what its stage says.
    fn signer_of(
        &self,
        origin: &Name,
        keys: &[StoredKey],
        policy: crate::domain::dnssec::SigningPolicy,
        unsigning_since: Option<u32>,
    ) -> Result<ZoneSigner, DnssecError> {
        // The CDS lists the newest submitted entry point only: the parent replaces its DS.
        let submitted = keys
            .iter()
            .filter(|k| {
                k.role.is_entry_point() && k.times.submitted.is_some() && k.times.removed.is_none()
            })
            .max_by_key(|k| (k.times.submitted, k.id))
            .map(|k| k.id);
        let mut zone_keys = Vec::new();
        for k in keys.iter().filter(|k| k.times.removed.is_none()) {
            let record = KeyRecord {
                id: k.id,
                role: k.role,
                times: k.times,
            };
            let algorithm = Algorithm::from_number(k.algorithm).ok_or_else(|| {
                DnssecError::Key(format!("key {}: algorithm {}", k.id, k.algorithm))
            })?;
            let pkcs8 = self
                .cipher
                .open(
                    &k.sealed,
                    &seal_label(origin, k.role, k.tag, k.times.created),
                )
                .map_err(|e| DnssecError::Key(format!("key {} of {origin}: {e}", k.id)))?;
            let mut zk = ZoneKey::from_pkcs8(k.id, k.role, algorithm, &pkcs8)
                .map_err(|e| DnssecError::Key(e.to_string()))?;
            zk.published = record.published();
            zk.signs_keys = record.signs_keys();
            zk.signs_zone = record.signs_zone();
            zk.submitted = submitted == Some(k.id);
            zone_keys.push(zk);
        }
        Ok(ZoneSigner::new(
            origin,
            policy,
            zone_keys,
            unsigning_since.is_some(),
        ))
    }

    /// Ask the parent's name servers for the zone's DS when a key waits on it (or always,
    /// with `force`), at most once per `parent_check_interval_secs`.
    pub async fn check_parent(
        &self,
        origin: &Name,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<Option<ParentDs>, DnssecError> {
        let at = unix(now);
        let keys = self.store.dnssec_keys(origin).await?;
        let state = self.store.signing_state(origin).await?;
        let waiting = state.unsigning_since.is_some()
            || keys.iter().any(|k| {
                k.role.is_entry_point()
                    && k.times.removed.is_none()
                    && k.times.submitted.is_some()
                    && k.times.ds_seen.is_none()
            });
        if !force && !waiting {
            return Ok(None);
        }
        {
            let asked = self.parent_asked.lock();
            if !force
                && asked.get(origin).is_some_and(|last| {
                    u64::from(at.saturating_sub(*last)) < self.config.parent_check_interval_secs
                })
            {
                return Ok(None);
            }
        }
        self.parent_asked.lock().insert(origin.clone(), at);
        let mut servers = self.config.parent_servers_for(origin).to_vec();
        if servers.is_empty() {
            servers = crate::dns::client::system_resolvers();
        }
        let mut answer = None;
        for server in &servers {
            match crate::dns::client::query(*server, origin, RecordType::DS).await {
                Ok(m) => {
                    answer = Some(m);
                    break;
                }
                Err(error) => {
                    tracing::info!(zone = %origin, %server, %error, "parent name server did not answer");
                }
            }
        }
        let Some(answer) = answer else {
            return Ok(None);
        };
        let served: Vec<hickory_proto::dnssec::rdata::DS> = answer
            .answers
            .iter()
            .filter(|r| r.name.to_lowercase() == origin.to_lowercase())
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
                _ => None,
            })
            .collect();
        let mut key_ids = Vec::new();
        for k in keys
            .iter()
            .filter(|k| k.role.is_entry_point() && k.times.removed.is_none())
        {
            let Ok(RData::DNSSEC(DNSSECRData::DNSKEY(dnskey))) =
                crate::zone::file::rdata_from_wire(RecordType::DNSKEY, &k.dnskey)
            else {
                continue;
            };
            if served.iter().any(|ds| ds_matches(ds, origin, &dnskey)) {
                key_ids.push(k.id);
            }
        }
        let none_since = if served.is_empty() {
            state
                .parent
                .as_ref()
                .and_then(|p| p.none_since)
                .or(Some(at))
        } else {
            None
        };
        let seen = ParentDs {
            checked_at: at,
            key_ids,
            none_since,
        };
        self.store.record_parent_ds(origin, &seen).await?;
        tracing::info!(zone = %origin, ds = served.len(), ours = ?seen.key_ids, "parent DS checked");
        Ok(Some(seen))
    }

    /// The keys of a zone, for status.
    pub async fn keys(&self, origin: &Name) -> Result<Vec<KeyReport>, DnssecError> {
        key_reports(&self.store, origin).await
    }
}

/// The keys of a zone as reported.
pub async fn key_reports(store: &Store, origin: &Name) -> Result<Vec<KeyReport>, DnssecError> {
    Ok(store
        .dnssec_keys(origin)
        .await?
        .iter()
        .map(KeyReport::of)
        .collect())
}

/// The DS records (SHA-256) of a zone's submitted entry-point keys, as master-file lines: what
/// the office gives its registry.
pub async fn ds_records(store: &Store, origin: &Name) -> Result<Vec<String>, DnssecError> {
    let keys = store.dnssec_keys(origin).await?;
    let mut lines = Vec::new();
    for k in keys.iter().filter(|k| {
        k.role.is_entry_point() && k.times.removed.is_none() && k.times.published.is_some()
    }) {
        let Ok(RData::DNSSEC(DNSSECRData::DNSKEY(dnskey))) =
            crate::zone::file::rdata_from_wire(RecordType::DNSKEY, &k.dnskey)
        else {
            return Err(DnssecError::Key(format!(
                "key {}: stored DNSKEY unreadable",
                k.id
            )));
        };
        let digest = dnskey
            .to_digest(origin, hickory_proto::dnssec::DigestType::SHA256)
            .map_err(|e| DnssecError::Key(e.to_string()))?;
        lines.push(format!(
            "{} IN DS {} {} 2 {}",
            origin.to_ascii(),
            k.tag,
            k.algorithm,
            hex::encode_upper(digest.as_ref())
        ));
    }
    Ok(lines)
}

fn ds_matches(ds: &hickory_proto::dnssec::rdata::DS, origin: &Name, key: &DNSKEY) -> bool {
    ds.covers(origin, key).unwrap_or(false)
}

/// Whether two signers' keys do the same work (then nothing needs signing again).
fn zone_event(origin: &Name, action: &str, summary: Option<serde_json::Value>) -> AuditEntry {
    AuditEntry::by(
        &Attribution::system(),
        action,
        format!("zone/{}", origin.to_ascii().trim_end_matches('.')),
        summary.unwrap_or_else(|| serde_json::json!({})),
    )
}
