//! The zone signer: the RRSIGs of a zone's sets, its NSEC3 (or NSEC) chain, and the DNSKEY,
//! CDS, CDNSKEY and NSEC3PARAM sets at its apex, kept right as the zone changes.
//!
//! The signer works on a [`ZoneView`]: it edits the view and returns the same edits as a
//! [`ZoneDiff`] of DNSSEC records, which the publisher commits and journals with the change
//! that caused them (so secondaries receive signatures by IXFR like any record).
//!
//! - [`ZoneSigner::sign_change`] follows one change: it re-signs only the sets the change
//!   touched, and edits the chain only at the names it added or removed and their neighbours:
//!   a handful of signatures, whatever the zone's size. (A delegation added above existing
//!   names changes which names are authoritative: then the whole chain is checked.)
//! - [`ZoneSigner::reconcile`] makes a whole zone right: the first signing, a key that starts
//!   or stops signing, a zone changed outside the signer (an import, a restore), unsigning. It
//!   keeps every signature that is still good.
//! - [`ZoneSigner::refresh`] makes again the signatures that fall due, a bounded batch at a
//!   time.
//!
//! What a key does (publish, sign the keys, sign the zone, be submitted to the parent) is the
//! key service's decision ([`crate::domain::dnssec::plan`]); the signer only carries it out.

pub mod keys;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3, NSEC3PARAM, RRSIG};
use hickory_proto::dnssec::{Nsec3HashAlgorithm, TBS};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use crate::dns::ZoneView;
use crate::dns::name_key::{self, Key};
use crate::domain::dnssec::{Denial, SigningPolicy};
use crate::zone::ZoneDiff;
pub use keys::{KeyError, ZoneKey};

/// Why the signer failed (a key that cannot sign: a fault of ours, never of the change).
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A record could not be made.
    #[error("cannot sign {0}")]
    Record(String),
}

/// The sets at the apex that the signer owns.
const APEX_TYPES: [RecordType; 4] = [
    RecordType::DNSKEY,
    RecordType::CDS,
    RecordType::CDNSKEY,
    RecordType::NSEC3PARAM,
];

pub use crate::zone::{DNSSEC_TYPES, is_dnssec_type};

/// One zone's signer: its policy and keys as they stand.
#[derive(Debug, Clone)]
pub struct ZoneSigner {
    origin: Name,
    origin_key: Key,
    policy: SigningPolicy,
    keys: Vec<ZoneKey>,
    unsigning: bool,
}

/// Which sets' data changed, so that their signatures are made again whatever their age.
#[derive(Debug, Clone, Default)]
pub struct Stale {
    all: bool,
    sets: HashSet<(Key, RecordType)>,
}

impl Stale {
    /// Every set (the data of the zone is not known to match its signatures).
    pub fn all() -> Self {
        Self {
            all: true,
            sets: HashSet::new(),
        }
    }

    /// The sets the records of these diffs belong to.
    pub fn of(diffs: &[&ZoneDiff]) -> Self {
        let mut sets = HashSet::new();
        for diff in diffs {
            for r in diff.removed.iter().chain(&diff.added).chain(&diff.soa) {
                sets.insert((name_key::key_of(&r.name), r.record_type()));
            }
        }
        Self { all: false, sets }
    }

    fn contains(&self, key: &[u8], rtype: RecordType) -> bool {
        self.all || self.sets.contains(&(Key::from(key), rtype))
    }
}

impl ZoneSigner {
    /// A signer for `origin` with these keys; `unsigning` publishes the delete CDS.
    pub fn new(origin: &Name, policy: SigningPolicy, keys: Vec<ZoneKey>, unsigning: bool) -> Self {
        Self {
            origin: origin.clone(),
            origin_key: name_key::key_of(origin),
            policy,
            keys,
            unsigning,
        }
    }

    /// The zone's policy.
    pub fn policy(&self) -> &SigningPolicy {
        &self.policy
    }

    /// The keys.
    pub fn keys(&self) -> &[ZoneKey] {
        &self.keys
    }

    /// What this signer does, as a digest: the policy, which keys are published, sign keys,
    /// sign the zone or are submitted, and whether it unsigns. Two signers with one
    /// fingerprint leave a zone with the same records, so a zone the store says was left
    /// right by this fingerprint at its serial needs no work at start.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut work: Vec<_> = self
            .keys
            .iter()
            .map(|k| (k.id, k.published, k.signs_keys, k.signs_zone, k.submitted))
            .collect();
        work.sort_unstable();
        let policy = serde_json::to_string(&self.policy).unwrap_or_default();
        let text = format!("{policy}|{work:?}|{}", self.unsigning);
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Whether the zone is signed at all (some key is published).
    pub fn is_signing(&self) -> bool {
        self.keys.iter().any(|k| k.published)
    }

    /// Re-sign after one change. `before` is the view before it, `after` the view with the
    /// change's data applied; `after` takes the DNSSEC edits, which are returned.
    pub fn sign_change(
        &self,
        before: &ZoneView,
        after: &mut ZoneView,
        changes: &[&ZoneDiff],
        now: u32,
    ) -> Result<ZoneDiff, SignError> {
        let stale = Stale::of(changes);
        // A name that became or stopped being a delegation with names below it changes which
        // names are authoritative below it: check the whole zone (rare: an office delegates
        // a new name). So does a new negative TTL (every NSEC3 carries it).
        let cuts_moved = stale.sets.iter().any(|(key, rtype)| {
            *rtype == RecordType::NS
                && before.is_cut(key) != after.is_cut(key)
                && (before.has_children(key) || after.has_children(key))
        });
        if cuts_moved || before.negative_ttl() != after.negative_ttl() {
            return self.run(before, after, stale, Scope::All, now, None);
        }
        let mut names: BTreeSet<Key> = BTreeSet::new();
        for (key, _) in &stale.sets {
            let mut k: &[u8] = key;
            // The name and its ancestors up to the apex: empty non-terminals come and go.
            loop {
                names.insert(Key::from(k));
                if k.len() <= self.origin_key.len() {
                    break;
                }
                match name_key::parent(k) {
                    Some(p) => k = p,
                    None => break,
                }
            }
        }
        self.run(before, after, stale, Scope::Names(names), now, None)
    }

    /// Make the whole zone right. `stale` names the sets whose signatures cannot be trusted
    /// (a zone changed outside the signer); every other good signature is kept.
    pub fn reconcile(
        &self,
        view: &mut ZoneView,
        stale: Stale,
        now: u32,
    ) -> Result<ZoneDiff, SignError> {
        let before = view.clone();
        self.run(&before, view, stale, Scope::All, now, None)
    }

    /// Make again the signatures that fall due, at most `budget` of them (the others wait for
    /// the next batch: they are still valid).
    pub fn refresh(
        &self,
        view: &mut ZoneView,
        now: u32,
        budget: usize,
    ) -> Result<ZoneDiff, SignError> {
        let before = view.clone();
        self.run(
            &before,
            view,
            Stale::default(),
            Scope::All,
            now,
            Some(budget),
        )
    }

    fn run(
        &self,
        before: &ZoneView,
        view: &mut ZoneView,
        stale: Stale,
        scope: Scope,
        now: u32,
        budget: Option<usize>,
    ) -> Result<ZoneDiff, SignError> {
        let mut run = Run {
            signer: self,
            view,
            diff: ZoneDiff::default(),
            stale,
            now,
            budget,
        };
        run.apex()?;
        // The sets whose signatures to look at.
        let sets: Vec<(Key, RecordType)> = match &scope {
            Scope::All => {
                let mut sets: Vec<(Key, RecordType)> = run
                    .view
                    .name_keys()
                    .flat_map(|k| {
                        let key = Key::from(k);
                        run.view
                            .types_at(k)
                            .into_iter()
                            .map(move |t| (key.clone(), t))
                    })
                    .collect();
                // The sets the change removed altogether: their signatures go too.
                sets.extend(run.stale.sets.iter().cloned());
                sets.sort();
                sets.dedup();
                sets
            }
            Scope::Names(names) => {
                let mut sets: BTreeSet<(Key, RecordType)> =
                    run.stale.sets.clone().into_iter().collect();
                for t in APEX_TYPES {
                    sets.insert((self.origin_key.clone(), t));
                }
                sets.insert((self.origin_key.clone(), RecordType::SOA));
                // At a name that became or stopped being a delegation, every set's signing
                // changes.
                for key in names {
                    if before.is_cut(key) != run.view.is_cut(key) {
                        for t in run.view.types_at(key) {
                            sets.insert((key.clone(), t));
                        }
                    }
                }
                sets.into_iter().collect()
            }
        };
        for (key, rtype) in &sets {
            if matches!(
                rtype,
                RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG
            ) {
                continue;
            }
            let gone = before.signatures_of(key, *rtype);
            run.sign_set(key, *rtype, gone)?;
        }
        match self.policy.denial {
            _ if !self.is_signing() => {
                run.nsec3_chain(&scope, false)?;
                run.nsec_chain(&scope, false)?;
            }
            Denial::Nsec3 => {
                run.nsec_chain(&scope, false)?;
                run.nsec3_chain(&scope, true)?;
            }
            Denial::Nsec => {
                run.nsec3_chain(&scope, false)?;
                run.nsec_chain(&scope, true)?;
            }
        }
        Ok(run.diff)
    }
}

/// Where the signer looks.
enum Scope {
    /// Every name of the zone.
    All,
    /// These names (a change's names and their ancestors).
    Names(BTreeSet<Key>),
}

/// One signing pass: the view it edits and the edits made.
struct Run<'a> {
    signer: &'a ZoneSigner,
    view: &'a mut ZoneView,
    diff: ZoneDiff,
    stale: Stale,
    now: u32,
    /// New signatures the refresh may still make; `None`: no limit.
    budget: Option<usize>,
}

impl Run<'_> {
    fn remove(&mut self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        self.view.edit(&records, &[]);
        self.diff.removed.extend(records);
    }

    fn add(&mut self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        self.view.edit(&[], &records);
        self.diff.added.extend(records);
    }

    /// The apex sets the keys make: DNSKEY, CDS, CDNSKEY, and NSEC3PARAM with NSEC3.
    fn apex(&mut self) -> Result<(), SignError> {
        let s = self.signer;
        let origin = &s.origin;
        let ttl = s.policy.dnskey_ttl;
        let signing = s.is_signing();
        let mut wanted: Vec<Record> = Vec::new();
        let rec = |data: DNSSECRData| Record::from_rdata(origin.clone(), ttl, RData::DNSSEC(data));
        for k in s.keys.iter().filter(|k| k.published) {
            wanted.push(rec(DNSSECRData::DNSKEY(k.dnskey.clone())));
        }
        if signing {
            if s.unsigning {
                wanted.push(rec(DNSSECRData::CDS(keys::delete_cds())));
                wanted.push(rec(DNSSECRData::CDNSKEY(keys::delete_cdnskey())));
            } else {
                for k in s.keys.iter().filter(|k| k.submitted && k.published) {
                    wanted.push(rec(DNSSECRData::CDS(k.cds(origin)?)));
                    wanted.push(rec(DNSSECRData::CDNSKEY(k.cdnskey())));
                }
            }
            if s.policy.denial == Denial::Nsec3 {
                let mut param = Record::from_rdata(
                    origin.clone(),
                    0,
                    RData::DNSSEC(DNSSECRData::NSEC3PARAM(NSEC3PARAM::new(
                        Nsec3HashAlgorithm::SHA1,
                        false,
                        0,
                        Vec::new(),
                    ))),
                );
                param.ttl = self.view.negative_ttl();
                wanted.push(param);
            }
        }
        let origin_key = s.origin_key.clone();
        for rtype in APEX_TYPES {
            let current: Vec<Record> = self
                .view
                .rrset_by_key(&origin_key, rtype)
                .map(|set| set.records())
                .unwrap_or_default();
            let want: Vec<Record> = wanted
                .iter()
                .filter(|r| r.record_type() == rtype)
                .cloned()
                .collect();
            let same = current.len() == want.len()
                && want
                    .iter()
                    .all(|w| current.iter().any(|c| c.data == w.data && c.ttl == w.ttl));
            if same {
                continue;
            }
            self.stale.sets.insert((origin_key.clone(), rtype));
            // The set is replaced whole; its signatures go with it.
            let sigs = self.view.signatures_of(&origin_key, rtype);
            self.diff.removed.extend(sigs);
            self.remove(current);
            self.add(want);
        }
        Ok(())
    }

    /// Whether a set is signed: authoritative data, and at a delegation only the DS (RFC
    /// 4035 §2.2); the NSEC and NSEC3 chain signs its own.
    fn should_sign(&self, key: &[u8], rtype: RecordType) -> bool {
        if !self.signer.is_signing() || self.view.is_occluded(key) {
            return false;
        }
        !self.view.is_cut(key) || rtype == RecordType::DS
    }

    /// Keep the good signatures of a set, drop the others and make the missing ones. `gone`:
    /// the set's signatures before the change (those no longer in the view are removed).
    fn sign_set(
        &mut self,
        key: &[u8],
        rtype: RecordType,
        gone: Vec<Record>,
    ) -> Result<(), SignError> {
        let set = self.view.rrset_by_key(key, rtype).map(|s| s.decoded());
        let current: Vec<Record> = set.as_ref().map(|s| s.sigs.clone()).unwrap_or_default();
        // Signatures the view already dropped with their set: removed in the diff only.
        for sig in gone {
            if !current.iter().any(|c| c.data == sig.data) {
                self.diff.removed.push(sig);
            }
        }
        let Some(set) = set else {
            return Ok(());
        };
        let signers: Vec<&ZoneKey> = if self.should_sign(key, rtype) {
            let s = self.signer;
            s.keys
                .iter()
                .filter(|k| {
                    if matches!(
                        rtype,
                        RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY
                    ) {
                        k.signs_keys
                    } else {
                        k.signs_zone
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let stale = self.stale.contains(key, rtype);
        let (keep, drop) = self.judge(&current, &signers, set.ttl, stale);
        let mut made = Vec::new();
        for k in signers {
            if !keep.iter().any(|s| signed_by(s, k)) {
                made.push(self.sign(key, rtype, set.ttl, &set.records, k)?);
            }
        }
        self.remove(drop);
        self.add(made);
        Ok(())
    }

    /// Which of a set's signatures stay and which go: one per signing key, made with the
    /// set's TTL over its data as it is, and not yet due (or due, but the batch is spent).
    fn judge(
        &mut self,
        sigs: &[Record],
        signers: &[&ZoneKey],
        ttl: u32,
        stale: bool,
    ) -> (Vec<Record>, Vec<Record>) {
        let mut keep: Vec<Record> = Vec::new();
        let mut drop = Vec::new();
        for sig in sigs {
            let Some(input) = sig_input(sig) else {
                drop.push(sig.clone());
                continue;
            };
            let by_signer = signers.iter().any(|k| signed_by(sig, k));
            let duplicate = keep.iter().any(|s| {
                sig_input(s)
                    .is_some_and(|i| i.key_tag == input.key_tag && i.algorithm == input.algorithm)
            });
            let good = by_signer && !stale && !duplicate && input.original_ttl == ttl;
            let due = self
                .signer
                .policy
                .refresh_due(input.sig_expiration.get(), self.now);
            let expired = input.sig_expiration.get() <= self.now;
            let keep_it = good
                && (!due
                    || (!expired
                        && match &mut self.budget {
                            Some(0) => true,
                            Some(b) => {
                                *b -= 1;
                                false
                            }
                            None => false,
                        }));
            if keep_it {
                keep.push(sig.clone());
            } else {
                drop.push(sig.clone());
            }
        }
        (keep, drop)
    }

    /// An RRSIG over `records` by `key`.
    fn sign(
        &self,
        key_bytes: &[u8],
        rtype: RecordType,
        ttl: u32,
        records: &[Record],
        key: &ZoneKey,
    ) -> Result<Record, SignError> {
        let Some(first) = records.first() else {
            return Err(SignError::Record(format!("an empty {rtype} set")));
        };
        let owner = &first.name;
        let mut hasher = rustc_hash::FxHasher::default();
        key_bytes.hash(&mut hasher);
        u16::from(rtype).hash(&mut hasher);
        let validity = self.signer.policy.validity(self.now, hasher.finish());
        let input = SigInput {
            type_covered: rtype,
            algorithm: key.hickory_algorithm(),
            num_labels: owner.num_labels(),
            original_ttl: ttl,
            sig_expiration: SerialNumber::new(validity.expiration),
            sig_inception: SerialNumber::new(validity.inception),
            key_tag: key.tag,
            signer_name: self.signer.origin.clone(),
        };
        let tbs = TBS::from_input(owner, DNSClass::IN, &input, records.iter())
            .map_err(|e| SignError::Record(format!("{owner} {rtype}: {e}")))?;
        let signature = key.sign(&tbs)?;
        Ok(Record::from_rdata(
            owner.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
        ))
    }

    /// The types an NSEC3 or NSEC record lists for a name: its sets, and RRSIG when any of
    /// them is signed.
    fn bitmap(&self, key: &[u8], with: Option<RecordType>) -> Vec<RecordType> {
        let mut types: Vec<RecordType> = self
            .view
            .types_at(key)
            .into_iter()
            .filter(|t| !matches!(t, RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG))
            .collect();
        let signed = types.iter().any(|t| self.should_sign(key, *t));
        types.extend(with);
        if signed || with.is_some() {
            types.push(RecordType::RRSIG);
        }
        types.sort_by_key(|t| u16::from(*t));
        types.dedup();
        types
    }

    /// Keep the NSEC3 chain right at the names in scope (or remove it when `on` is false).
    fn nsec3_chain(&mut self, scope: &Scope, on: bool) -> Result<(), SignError> {
        let ttl = self.view.negative_ttl();
        // Which names should have an NSEC3: every authoritative name, empty non-terminals
        // and insecure delegations included (no opt-out).
        let candidates: Vec<Key> = match scope {
            Scope::All => self.view.name_keys().map(Key::from).collect(),
            Scope::Names(names) => names.iter().cloned().collect(),
        };
        // Hash → name, for the names in scope that belong in the chain.
        let mut members: HashMap<Box<[u8]>, Key> = HashMap::new();
        let mut leaving: Vec<Box<[u8]>> = Vec::new();
        if on {
            for key in candidates {
                let hash: Box<[u8]> = self.view.nsec3_hash(&key).into();
                let wanted = self.view.has_name_key(&key) && !self.view.is_occluded(&key);
                if wanted {
                    members.insert(hash, key);
                } else if self.view.nsec3_at(&hash).is_some() {
                    leaving.push(hash);
                }
            }
        }
        if matches!(scope, Scope::All) {
            // Every record of the chain not for a wanted name leaves.
            let stray: Vec<Box<[u8]>> = self
                .view
                .nsec3_sets()
                .filter_map(|set| {
                    let hash = nsec3_hash_of(set.records().first()?, &self.signer.origin_key)?;
                    (!members.contains_key(&hash)).then_some(hash)
                })
                .collect();
            leaving.extend(stray);
        }
        // Membership first, so that the next hashes below are those of the final chain.
        let mut dirty: BTreeSet<Box<[u8]>> = BTreeSet::new();
        let mut placeholders: HashSet<Box<[u8]>> = HashSet::new();
        for hash in &leaving {
            if let Some(set) = self.view.nsec3_at(hash).map(|s| s.decoded()) {
                let mut records = set.records.clone();
                records.extend(set.sigs.iter().cloned());
                self.remove(records);
            }
        }
        for hash in members.keys() {
            if self.view.nsec3_at(hash).is_none() {
                let owner = self.nsec3_owner(hash)?;
                let placeholder = Record::from_rdata(
                    owner,
                    ttl,
                    RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
                        Nsec3HashAlgorithm::SHA1,
                        false,
                        0,
                        Vec::new(),
                        hash.to_vec(),
                        Vec::new(),
                    ))),
                );
                self.view.edit(&[], &[placeholder]);
                placeholders.insert(hash.clone());
            }
            dirty.insert(hash.clone());
        }
        for hash in leaving.iter().chain(placeholders.iter()) {
            if let Some(previous) = self.view.nsec3_previous(hash) {
                dirty.insert(previous.into());
            }
        }
        for hash in dirty {
            let Some(set) = self.view.nsec3_at(&hash).map(|s| s.decoded()) else {
                continue;
            };
            let Some(current) = set.records.first() else {
                continue;
            };
            let types: Vec<RecordType> = match members.get(&hash) {
                Some(key) => self.bitmap(key, None),
                // A neighbour outside the scope: its types are as they were.
                None => match &current.data {
                    RData::DNSSEC(DNSSECRData::NSEC3(n)) => n.type_bit_maps().collect(),
                    _ => Vec::new(),
                },
            };
            let next = self.view.nsec3_next(&hash).unwrap_or_else(|| hash.to_vec());
            let data = RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                false,
                0,
                Vec::new(),
                next,
                types,
            )));
            let placeholder = placeholders.contains(&hash);
            let id = name_key::key_of(&current.name);
            self.settle_chain_record(&id, current, &set.sigs, data, ttl, placeholder)?;
        }
        Ok(())
    }

    /// A new chain record's signatures, one per key that signs the zone.
    fn sign_by_zone_keys(
        &self,
        id: &[u8],
        ttl: u32,
        record: &Record,
    ) -> Result<Vec<Record>, SignError> {
        let mut sigs = Vec::new();
        for k in self.signer.keys.iter().filter(|k| k.signs_zone) {
            sigs.push(self.sign(
                id,
                record.record_type(),
                ttl,
                std::slice::from_ref(record),
                k,
            )?);
        }
        Ok(sigs)
    }

    /// Keep a chain record's good signatures, make the missing ones.
    fn sign_chain_record(
        &mut self,
        id: &[u8],
        rtype: RecordType,
        sigs: &[Record],
        ttl: u32,
        record: &Record,
    ) -> Result<(), SignError> {
        let signers: Vec<&ZoneKey> = self.signer.keys.iter().filter(|k| k.signs_zone).collect();
        let (keep, drop) = self.judge(sigs, &signers, ttl, false);
        let mut made = Vec::new();
        for k in signers {
            if !keep.iter().any(|s| signed_by(s, k)) {
                made.push(self.sign(id, rtype, ttl, std::slice::from_ref(record), k)?);
            }
        }
        self.remove(drop);
        self.add(made);
        Ok(())
    }

    fn nsec3_owner(&self, hash: &[u8]) -> Result<Name, SignError> {
        let label = data_encoding::BASE32HEX_NOPAD
            .encode(hash)
            .to_ascii_lowercase();
        Name::from_ascii(&label)
            .and_then(|l| l.append_domain(&self.signer.origin))
            .map_err(|e| SignError::Record(format!("NSEC3 owner: {e}")))
    }

    /// Keep the NSEC chain right at the names in scope (or remove it when `on` is false).
    fn nsec_chain(&mut self, scope: &Scope, on: bool) -> Result<(), SignError> {
        let ttl = self.view.negative_ttl();
        let candidates: Vec<Key> = match scope {
            Scope::All => self.view.name_keys().map(Key::from).collect(),
            Scope::Names(names) => names.iter().cloned().collect(),
        };
        let mut members: HashSet<Key> = HashSet::new();
        let mut leaving: Vec<Key> = Vec::new();
        for key in candidates {
            let has_nsec = self.view.rrset_by_key(&key, RecordType::NSEC).is_some();
            let wanted = on
                && !self.view.is_occluded(&key)
                && self
                    .view
                    .types_at(&key)
                    .iter()
                    .any(|t| !matches!(t, RecordType::NSEC));
            if wanted {
                members.insert(key);
            } else if has_nsec {
                leaving.push(key);
            }
        }
        let mut dirty: BTreeSet<Key> = BTreeSet::new();
        let mut placeholders: HashSet<Key> = HashSet::new();
        for key in &leaving {
            if let Some(set) = self
                .view
                .rrset_by_key(key, RecordType::NSEC)
                .map(|s| s.decoded())
            {
                let mut records = set.records.clone();
                records.extend(set.sigs.iter().cloned());
                self.remove(records);
            }
        }
        for key in &members {
            if self.view.rrset_by_key(key, RecordType::NSEC).is_none() {
                let Some(name) = name_key::to_name(key) else {
                    continue;
                };
                let placeholder = Record::from_rdata(
                    name.clone(),
                    ttl,
                    RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(name, Vec::new()))),
                );
                self.view.edit(&[], &[placeholder]);
                placeholders.insert(key.clone());
            }
            dirty.insert(key.clone());
        }
        for key in leaving.iter().chain(placeholders.iter()) {
            if let Some(previous) = self.view.nsec_previous(key) {
                dirty.insert(previous.into());
            }
        }
        for key in dirty {
            let Some(set) = self
                .view
                .rrset_by_key(&key, RecordType::NSEC)
                .map(|s| s.decoded())
            else {
                continue;
            };
            let Some(current) = set.records.first() else {
                continue;
            };
            let next = self
                .view
                .nsec_next(&key)
                .and_then(name_key::to_name)
                .unwrap_or_else(|| current.name.clone());
            let data = RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                next,
                self.bitmap(&key, Some(RecordType::NSEC)),
            )));
            let placeholder = placeholders.contains(&key);
            self.settle_chain_record(&key, current, &set.sigs, data, ttl, placeholder)?;
        }
        Ok(())
    }

    /// Make a chain record (NSEC3 or NSEC) hold `data`: a record that already does keeps
    /// its good signatures; any other (or a placeholder put in to compute the chain) is
    /// replaced and signed anew.
    fn settle_chain_record(
        &mut self,
        id: &[u8],
        current: &Record,
        sigs: &[Record],
        data: RData,
        ttl: u32,
        placeholder: bool,
    ) -> Result<(), SignError> {
        if !placeholder && current.data == data && current.ttl == ttl {
            return self.sign_chain_record(id, current.record_type(), sigs, ttl, current);
        }
        let record = Record::from_rdata(current.name.clone(), ttl, data);
        if placeholder {
            self.view.edit(std::slice::from_ref(current), &[]);
        } else {
            let mut old = vec![current.clone()];
            old.extend(sigs.iter().cloned());
            self.remove(old);
        }
        let made = self.sign_by_zone_keys(id, ttl, &record)?;
        let mut new = vec![record];
        new.extend(made);
        self.add(new);
        Ok(())
    }
}

/// The hash in an NSEC3 record's owner name.
fn nsec3_hash_of(record: &Record, origin: &[u8]) -> Option<Box<[u8]>> {
    let key = name_key::key_of(&record.name);
    if name_key::parent(&key)? != origin {
        return None;
    }
    let label = name_key::first_label(&key)?;
    data_encoding::BASE32HEX_NOPAD
        .decode(&label.to_ascii_uppercase())
        .ok()
        .map(Vec::into_boxed_slice)
}

fn sig_input(record: &Record) -> Option<&SigInput> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input()),
        _ => None,
    }
}

/// Whether `sig` was made by `key` (tag and algorithm).
fn signed_by(sig: &Record, key: &ZoneKey) -> bool {
    sig_input(sig).is_some_and(|i| i.key_tag == key.tag && i.algorithm == key.hickory_algorithm())
}

#[cfg(test)]
mod tests;
