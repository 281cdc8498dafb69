//! The in-memory view of one zone that DNS answers come from, and the lookup rules.
//!
//! The view is a persistent (structurally shared) hash map from owner name to node, so that:
//! - a lookup is a handful of hash probes, independent of the zone's size: the exact name, then
//!   for a miss its ancestors (closest encloser, wildcard) and the delegation points above it;
//!   nothing ever scans the zone;
//! - a change clones the view in O(1) and edits only the names it touches (O(log n) each), then
//!   the new view is published atomically: readers never lock and never see half a change.
//!
//! Every ancestor of an owner name down from the apex exists as a node; a node without record
//! sets is an empty non-terminal, so NODATA versus NXDOMAIN (RFC 8020) is one probe.
//!
//! A signed zone's records are in the view too, where answers need them: each RRSIG with the
//! set it covers, NSEC with the other sets of its name (and in a canonical-order index, for
//! proofs), NSEC3 outside the name tree in hash order (its owner names are not names of the
//! zone to a query). A query with DO gets the signatures and the proofs of denial; one without
//! gets the unsigned answer, byte for byte as before.

use std::sync::Arc;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::cache::AnswerCache;
use super::name_key::{self, Key};
use crate::zone::ZoneDiff;
use crate::zone::file::ZoneContent;

type NodeMap =
    imbl::GenericHashMap<Key, Node, rustc_hash::FxBuildHasher, imbl::shared_ptr::DefaultSharedPtr>;
type KeySet =
    imbl::GenericHashSet<Key, rustc_hash::FxBuildHasher, imbl::shared_ptr::DefaultSharedPtr>;
/// NSEC3 sets by their owner's hash (decoded from its first label), in hash order.
type Nsec3Map = imbl::OrdMap<Box<[u8]>, Arc<RRset>>;
/// Names with an NSEC set, by canonical order (`name_key::canonical`), to their keys.
type NsecMap = imbl::OrdMap<Box<[u8]>, Key>;

/// The records of one owner name and type, sharing one TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// Type of every record in the set.
    pub rtype: RecordType,
    /// The set's TTL.
    pub ttl: u32,
    /// The records (owner name included).
    pub records: Vec<Record>,
    /// The RRSIG records that cover the set (none in an unsigned zone).
    pub sigs: Vec<Record>,
}

impl RRset {
    fn new(rtype: RecordType, ttl: u32, records: Vec<Record>) -> Self {
        Self {
            rtype,
            ttl,
            records,
            sigs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    rrsets: Vec<Arc<RRset>>,
    /// Number of direct child nodes: a node stays while it has records or children.
    children: u32,
}

impl Node {
    fn get(&self, rtype: RecordType) -> Option<&Arc<RRset>> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// What a lookup found, before encoding.
#[derive(Debug, Clone)]
pub struct Answer {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// AA flag: clear on referrals.
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Arc<RRset>>,
    /// Authority section (SOA for negative answers, NS for referrals).
    pub authorities: Vec<Arc<RRset>>,
    /// Additional section (addresses of name servers and mail exchangers in the zone).
    pub additionals: Vec<Arc<RRset>>,
    /// How many of the first `additionals` are a referral's in-domain glue (addresses of name
    /// servers at or below the cut): a UDP answer that cannot carry them all is truncated (RFC
    /// 9471). Any other additional set may be left out of a UDP answer that cannot carry it.
    pub required_glue: usize,
    /// Whether the sets' signatures go with them (the query had DO and the zone is signed).
    pub dnssec: bool,
}

impl Answer {
    fn new() -> Self {
        Self {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            required_glue: 0,
            dnssec: false,
        }
    }

    /// REFUSED: not our zone.
    pub fn refused() -> Self {
        Self {
            rcode: ResponseCode::Refused,
            authoritative: false,
            ..Self::new()
        }
    }

    /// Iterate the records of a section, without signatures.
    pub fn records(sets: &[Arc<RRset>]) -> impl Iterator<Item = &Record> + Send {
        sets.iter().flat_map(|s| s.records.iter())
    }

    /// Iterate the records of a section as this answer sends them: each set followed by its
    /// signatures when the answer carries DNSSEC.
    pub fn section<'s>(&self, sets: &'s [Arc<RRset>]) -> impl Iterator<Item = &'s Record> + Send {
        let dnssec = self.dnssec;
        sets.iter().flat_map(move |s| {
            let sigs: &[Record] = if dnssec { &s.sigs } else { &[] };
            s.records.iter().chain(sigs)
        })
    }

    /// Number of records a set contributes to a section of this answer.
    pub fn set_len(&self, set: &RRset) -> usize {
        set.records.len() + if self.dnssec { set.sigs.len() } else { 0 }
    }

    /// Add a set to the authority section once (proofs may name the same NSEC3 twice).
    fn add_proof(&mut self, set: Option<Arc<RRset>>) {
        if let Some(set) = set
            && !self.authorities.iter().any(|s| Arc::ptr_eq(s, &set))
        {
            self.authorities.push(set);
        }
    }
}

/// Longest CNAME chain followed inside the zone; longer chains (and loops) stop there.
const MAX_CNAME_CHAIN: usize = 8;

/// One zone, ready to answer.
#[derive(Debug, Clone)]
pub struct ZoneView {
    origin: LowerName,
    origin_key: Key,
    soa: Arc<RRset>,
    negative_soa: Arc<RRset>,
    nodes: NodeMap,
    cuts: KeySet,
    /// The denial records of a signed zone, indexed for proofs.
    nsec3: Nsec3Map,
    nsec: NsecMap,
    /// NSEC3 hashing as the zone's NSEC3PARAM says (RFC 9276: no salt, no extra iterations).
    nsec3_salt: Box<[u8]>,
    nsec3_iterations: u16,
    record_count: usize,
    /// Encoded UDP answers made from this view (see `udp`); a new view starts empty.
    answers: Arc<AnswerCache>,
}

impl ZoneView {
    /// Build the view of a whole zone.
    pub fn new(content: &ZoneContent) -> Self {
        let origin = LowerName::new(&content.origin);
        let origin_key = name_key::key_of(&content.origin);
        let (soa, negative_soa) = soa_sets(&content.soa);
        let mut nodes = NodeMap::default();
        nodes.insert(origin_key.clone(), Node::default());
        let mut view = Self {
            origin,
            origin_key,
            soa,
            negative_soa,
            nodes,
            cuts: KeySet::default(),
            nsec3: Nsec3Map::default(),
            nsec: NsecMap::default(),
            nsec3_salt: Box::default(),
            nsec3_iterations: 0,
            record_count: 0,
            answers: Arc::default(),
        };
        // Signatures after the sets they cover.
        for record in content.records.iter().filter(|r| !is_rrsig(r)) {
            view.add(record);
        }
        for record in content.records.iter().filter(|r| is_rrsig(r)) {
            view.add(record);
        }
        view
    }

    /// Whether the zone is signed (its apex has a DNSKEY set).
    pub fn is_signed(&self) -> bool {
        self.nodes
            .get(&*self.origin_key)
            .is_some_and(|n| n.get(RecordType::DNSKEY).is_some())
    }

    /// The apex.
    pub fn origin(&self) -> &LowerName {
        &self.origin
    }

    /// The apex's lookup key.
    pub fn origin_key(&self) -> &[u8] {
        &self.origin_key
    }

    /// The current SOA serial.
    pub fn serial(&self) -> u32 {
        match self.soa.records.first().map(|r| &r.data) {
            Some(RData::SOA(soa)) => soa.serial,
            _ => 0,
        }
    }

    /// The SOA record.
    pub fn soa_record(&self) -> Option<&Record> {
        self.soa.records.first()
    }

    /// Number of records, the SOA and the DNSSEC records included.
    pub fn record_count(&self) -> usize {
        self.record_count + 1 + self.soa.sigs.len()
    }

    /// Number of owner names (nodes with records).
    pub fn name_count(&self) -> usize {
        self.nodes.values().filter(|n| !n.rrsets.is_empty()).count()
    }

    /// Every RRset except the SOA, in no particular order (NSEC3 sets are not among them).
    pub fn rrsets(&self) -> impl Iterator<Item = &Arc<RRset>> {
        self.nodes.values().flat_map(|n| n.rrsets.iter())
    }

    /// Every record except the SOA itself, signatures and NSEC3 included, in no particular
    /// order (for zone transfers and exports).
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        let sets = self.rrsets().chain(self.nsec3.values());
        self.soa
            .sigs
            .iter()
            .chain(sets.flat_map(|s| s.records.iter().chain(&s.sigs)))
    }

    /// The NSEC3 sets in hash order.
    pub fn nsec3_sets(&self) -> impl Iterator<Item = &Arc<RRset>> {
        self.nsec3.values()
    }

    /// The NSEC3 set whose owner has this hash.
    pub fn nsec3_at(&self, hash: &[u8]) -> Option<&Arc<RRset>> {
        self.nsec3.get(hash)
    }

    /// The hash after `hash` in the NSEC3 chain, wrapping to the first (or `hash` itself when
    /// it is alone). `None` when the chain is empty.
    pub fn nsec3_next(&self, hash: &[u8]) -> Option<&[u8]> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.nsec3
            .range::<_, [u8]>((Excluded(hash), Unbounded))
            .next()
            .or_else(|| self.nsec3.iter().next())
            .map(|(h, _)| &**h)
    }

    /// The hash before `hash` in the NSEC3 chain, wrapping to the last.
    pub fn nsec3_previous(&self, hash: &[u8]) -> Option<&[u8]> {
        self.nsec3
            .range::<_, [u8]>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(hash)))
            .next_back()
            .or_else(|| self.nsec3.iter().next_back())
            .map(|(h, _)| &**h)
    }

    /// The NSEC3 hash of a name of this zone, with the zone's parameters.
    pub fn nsec3_hash(&self, key: &[u8]) -> [u8; 20] {
        name_key::nsec3_hash(key, &self.nsec3_salt, self.nsec3_iterations)
    }

    /// The name after this one (by key) among those with NSEC sets, in canonical order,
    /// wrapping to the apex. `None` when no name has one.
    pub fn nsec_next(&self, key: &[u8]) -> Option<&[u8]> {
        use std::ops::Bound::{Excluded, Unbounded};
        let c = name_key::canonical(key);
        self.nsec
            .range::<_, [u8]>((Excluded(&*c), Unbounded))
            .next()
            .or_else(|| self.nsec.iter().next())
            .map(|(_, k)| &**k)
    }

    /// The name before this one (by key) among those with NSEC sets, wrapping to the last.
    pub fn nsec_previous(&self, key: &[u8]) -> Option<&[u8]> {
        let c = name_key::canonical(key);
        self.nsec
            .range::<_, [u8]>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(&*c)))
            .next_back()
            .or_else(|| self.nsec.iter().next_back())
            .map(|(_, k)| &**k)
    }

    /// The types at a name, by key (empty for an empty non-terminal or a missing name).
    pub fn types_at(&self, key: &[u8]) -> Vec<RecordType> {
        let mut types: Vec<RecordType> = self
            .nodes
            .get(key)
            .map(|n| n.rrsets.iter().map(|s| s.rtype).collect())
            .unwrap_or_default();
        if key == &*self.origin_key {
            types.push(RecordType::SOA);
        }
        types
    }

    /// Whether a node (by key) has children.
    pub fn has_children(&self, key: &[u8]) -> bool {
        self.nodes.get(key).is_some_and(|n| n.children > 0)
    }

    /// Whether the name (by key) is a delegation point (NS below the apex).
    pub fn is_cut(&self, key: &[u8]) -> bool {
        self.cuts.contains(key)
    }

    /// Whether the name (by key) lies strictly below a delegation point (glue, or occluded
    /// data): not authoritative, never signed, no NSEC or NSEC3 of its own.
    pub fn is_occluded(&self, key: &[u8]) -> bool {
        match name_key::parent(key) {
            Some(p) if key.len() > self.origin_key.len() => self.enclosing_cut(p).is_some(),
            _ => false,
        }
    }

    /// Every name (by key) of the zone, empty non-terminals included.
    pub fn name_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.nodes.keys().map(|k| &**k)
    }

    /// When the first of the zone's signatures expires (Unix seconds), if it is signed.
    pub fn first_expiry(&self) -> Option<u32> {
        self.records()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().sig_expiration.get()),
                _ => None,
            })
            .min()
    }

    /// The largest TTL in the zone: how long a resolver may keep anything of it.
    pub fn max_ttl(&self) -> u32 {
        self.rrsets()
            .map(|s| s.ttl)
            .chain([self.soa.ttl])
            .max()
            .unwrap_or(0)
    }

    /// The TTL of negative answers: the lesser of the SOA's TTL and its MINIMUM (RFC 2308),
    /// also the TTL of NSEC and NSEC3 records (RFC 9077).
    pub fn negative_ttl(&self) -> u32 {
        self.negative_soa.ttl
    }

    /// The set of a type at a name, by key (the SOA at the apex included).
    pub fn rrset_by_key(&self, key: &[u8], rtype: RecordType) -> Option<&Arc<RRset>> {
        self.rrset_at(key, rtype)
    }

    /// The signatures of the set of a type at a name, by key.
    pub fn signatures_of(&self, key: &[u8], rtype: RecordType) -> Vec<Record> {
        self.rrset_at(key, rtype)
            .map(|s| s.sigs.clone())
            .unwrap_or_default()
    }

    /// Remove and add records (the signer's edits, one set at a time): signatures after the
    /// sets they cover, as in [`ZoneView::apply`].
    pub fn edit(&mut self, removed: &[Record], added: &[Record]) {
        self.answers = Arc::default();
        for r in removed {
            self.remove(r);
        }
        for r in added.iter().filter(|r| !is_rrsig(r)) {
            self.add(r);
        }
        for r in added.iter().filter(|r| is_rrsig(r)) {
            self.add(r);
        }
    }

    /// The SOA set (with its signatures).
    pub fn soa_set(&self) -> &Arc<RRset> {
        &self.soa
    }

    /// The encoded answers made from this view.
    pub fn answers(&self) -> &AnswerCache {
        &self.answers
    }

    /// Apply one committed change: O(names touched), never O(zone).
    pub fn apply(&mut self, diff: &ZoneDiff) {
        self.answers = Arc::default();
        for r in &diff.removed {
            self.remove(r);
        }
        if let Some(soa) = &diff.soa {
            // A new SOA drops the old one's signatures; the change brings the new ones.
            let (s, n) = soa_sets(soa);
            self.soa = s;
            self.negative_soa = n;
        }
        for r in diff.added.iter().filter(|r| !is_rrsig(r)) {
            self.add(r);
        }
        for r in diff.added.iter().filter(|r| is_rrsig(r)) {
            self.add(r);
        }
    }

    /// Whether the view holds exactly this record (owner, type and data).
    pub fn contains(&self, record: &Record) -> bool {
        self.rrset(&LowerName::new(&record.name), record.record_type())
            .is_some_and(|s| s.records.iter().any(|r| r.data == record.data))
    }

    /// The record set at a name, if any.
    pub fn rrset(&self, name: &LowerName, rtype: RecordType) -> Option<&Arc<RRset>> {
        self.rrset_at(&name_key::key_of(name), rtype)
    }

    fn rrset_at(&self, key: &[u8], rtype: RecordType) -> Option<&Arc<RRset>> {
        if rtype == RecordType::SOA && key == &*self.origin_key {
            return Some(&self.soa);
        }
        self.nodes.get(key).and_then(|n| n.get(rtype))
    }

    /// Whether a name exists in the zone (with records, or as an empty non-terminal).
    pub fn name_exists(&self, name: &LowerName) -> bool {
        self.nodes.contains_key(&*name_key::key_of(name))
    }

    /// Whether the name with this key (lower-cased wire form) is a node of the zone.
    pub fn has_name_key(&self, key: &[u8]) -> bool {
        self.nodes.contains_key(key)
    }

    /// The delegation point at or above the name with this key, if it lies in delegated
    /// space (rate limiting keys referrals by it).
    pub fn delegation_of<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        self.enclosing_cut(key)
    }

    /// The delegation point at or above `key` (below the apex), if `key` lies in delegated
    /// space.
    fn enclosing_cut<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        if self.cuts.is_empty() {
            return None;
        }
        let mut k = key;
        while k.len() > self.origin_key.len() {
            if self.cuts.contains(k) {
                return Some(k);
            }
            k = name_key::parent(k)?;
        }
        None
    }

    fn add(&mut self, record: &Record) {
        let rtype = record.record_type();
        if rtype == RecordType::SOA {
            let (s, n) = soa_sets(record);
            self.soa = s;
            self.negative_soa = n;
            return;
        }
        let name = name_key::key_of(&record.name);
        if !name_key::is_within(&name, &self.origin_key) {
            return;
        }
        match rtype {
            RecordType::RRSIG => return self.add_sig(&name, record),
            RecordType::NSEC3 => return self.add_nsec3(&name, record),
            _ => {}
        }
        self.ensure_node(&name);
        let Some(node) = self.nodes.get_mut(&*name) else {
            return;
        };
        match node.rrsets.iter_mut().find(|s| s.rtype == rtype) {
            Some(set) => {
                if set.records.iter().any(|r| r.data == record.data) {
                    return;
                }
                let set = Arc::make_mut(set);
                set.ttl = record.ttl;
                for r in &mut set.records {
                    r.ttl = record.ttl;
                }
                set.records.push(record.clone());
            }
            None => node.rrsets.push(Arc::new(RRset::new(
                rtype,
                record.ttl,
                vec![record.clone()],
            ))),
        }
        self.record_count += 1;
        match rtype {
            RecordType::NS if name != self.origin_key => {
                self.cuts.insert(name);
            }
            RecordType::NSEC => {
                self.nsec.insert(name_key::canonical(&name), name);
            }
            RecordType::NSEC3PARAM if name == self.origin_key => self.nsec3_params(record),
            _ => {}
        }
    }

    /// Take the NSEC3 hashing parameters from an NSEC3PARAM record.
    fn nsec3_params(&mut self, record: &Record) {
        if let RData::DNSSEC(DNSSECRData::NSEC3PARAM(p)) = &record.data {
            self.nsec3_salt = p.salt().into();
            self.nsec3_iterations = p.iterations();
        }
    }

    /// An RRSIG goes with the set it covers (the SOA's also to the negative SOA, with its
    /// TTL); one for a set the view does not hold is not kept.
    fn add_sig(&mut self, name: &[u8], record: &Record) {
        let Some(covered) = covered_type(record) else {
            return;
        };
        let push = |set: &mut Arc<RRset>, sig: Record| {
            if !set.sigs.iter().any(|s| s.data == sig.data) {
                Arc::make_mut(set).sigs.push(sig);
                true
            } else {
                false
            }
        };
        let added = match covered {
            RecordType::SOA if name == &*self.origin_key => {
                let mut negative = record.clone();
                negative.ttl = self.negative_soa.ttl;
                push(&mut self.negative_soa, negative);
                push(&mut self.soa, record.clone())
            }
            RecordType::NSEC3 => match nsec3_owner_hash(name, &self.origin_key) {
                Some(hash) => match self.nsec3.get_mut(&hash) {
                    Some(set) => push(set, record.clone()),
                    None => false,
                },
                None => false,
            },
            _ => match self
                .nodes
                .get_mut(name)
                .and_then(|n| n.rrsets.iter_mut().find(|s| s.rtype == covered))
            {
                Some(set) => push(set, record.clone()),
                None => false,
            },
        };
        if added && covered != RecordType::SOA {
            self.record_count += 1;
        }
    }

    fn remove_sig(&mut self, name: &[u8], record: &Record) {
        let Some(covered) = covered_type(record) else {
            return;
        };
        let pull = |set: &mut Arc<RRset>, sig: &Record| {
            if set.sigs.iter().any(|s| s.data == sig.data) {
                Arc::make_mut(set).sigs.retain(|s| s.data != sig.data);
                true
            } else {
                false
            }
        };
        let removed = match covered {
            RecordType::SOA if name == &*self.origin_key => {
                pull(&mut self.negative_soa, record);
                pull(&mut self.soa, record)
            }
            RecordType::NSEC3 => match nsec3_owner_hash(name, &self.origin_key) {
                Some(hash) => match self.nsec3.get_mut(&hash) {
                    Some(set) => pull(set, record),
                    None => false,
                },
                None => false,
            },
            _ => match self
                .nodes
                .get_mut(name)
                .and_then(|n| n.rrsets.iter_mut().find(|s| s.rtype == covered))
            {
                Some(set) => pull(set, record),
                None => false,
            },
        };
        if removed && covered != RecordType::SOA {
            self.record_count -= 1;
        }
    }

    /// An NSEC3 record (one per owner) replaces any other at its hash.
    fn add_nsec3(&mut self, name: &[u8], record: &Record) {
        let Some(hash) = nsec3_owner_hash(name, &self.origin_key) else {
            return;
        };
        let set = Arc::new(RRset::new(
            RecordType::NSEC3,
            record.ttl,
            vec![record.clone()],
        ));
        if let Some(old) = self.nsec3.insert(hash, set) {
            self.record_count -= old.records.len() + old.sigs.len();
        }
        self.record_count += 1;
    }

    fn remove_nsec3(&mut self, name: &[u8], record: &Record) {
        let Some(hash) = nsec3_owner_hash(name, &self.origin_key) else {
            return;
        };
        if self
            .nsec3
            .get(&hash)
            .is_some_and(|s| s.records.iter().any(|r| r.data == record.data))
            && let Some(old) = self.nsec3.remove(&hash)
        {
            self.record_count -= old.records.len() + old.sigs.len();
        }
    }

    fn remove(&mut self, record: &Record) {
        let rtype = record.record_type();
        let name = name_key::key_of(&record.name);
        match rtype {
            RecordType::RRSIG => return self.remove_sig(&name, record),
            RecordType::NSEC3 => return self.remove_nsec3(&name, record),
            _ => {}
        }
        let Some(node) = self.nodes.get_mut(&*name) else {
            return;
        };
        let Some(pos) = node.rrsets.iter().position(|s| s.rtype == rtype) else {
            return;
        };
        let set = Arc::make_mut(&mut node.rrsets[pos]);
        let before = set.records.len();
        set.records.retain(|r| r.data != record.data);
        if set.records.len() == before {
            return;
        }
        self.record_count -= 1;
        if set.records.is_empty() {
            let set = node.rrsets.remove(pos);
            // The signatures of a set that is gone go with it.
            self.record_count -= set.sigs.len();
            match rtype {
                RecordType::NS => {
                    self.cuts.remove(&*name);
                }
                RecordType::NSEC => {
                    self.nsec.remove(&*name_key::canonical(&name));
                }
                RecordType::NSEC3PARAM => {
                    self.nsec3_salt = Box::default();
                    self.nsec3_iterations = 0;
                }
                _ => {}
            }
        }
        self.prune(&name);
    }

    /// Create `key` and any missing ancestors as nodes (the caller checked it is in the zone).
    fn ensure_node(&mut self, key: &[u8]) {
        if self.nodes.contains_key(key) {
            return;
        }
        let Some(parent) = name_key::parent(key) else {
            return;
        };
        self.ensure_node(parent);
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children += 1;
        }
        self.nodes.insert(key.into(), Node::default());
    }

    /// Remove `key` and then its ancestors while they hold nothing.
    fn prune(&mut self, key: &[u8]) {
        let mut k = key;
        while k.len() > self.origin_key.len() {
            match self.nodes.get(k) {
                Some(n) if n.rrsets.is_empty() && n.children == 0 => {}
                _ => return,
            }
            self.nodes.remove(k);
            let Some(parent) = name_key::parent(k) else {
                return;
            };
            k = parent;
            if let Some(p) = self.nodes.get_mut(k) {
                p.children = p.children.saturating_sub(1);
            }
        }
    }

    /// Answer a query for a name inside this zone (RFC 1034 §4.3.2, with RFC 2308 negative
    /// answers, RFC 8020 empty non-terminals, RFC 8482 minimal ANY).
    pub fn lookup(&self, qname: &LowerName, qtype: RecordType) -> Answer {
        self.lookup_key(qname, &name_key::key_of(qname), qtype, false)
    }

    /// [`ZoneView::lookup`] with the name's key already computed; with `dnssec` (the query's
    /// DO bit), a signed zone's answer carries its signatures and proofs of denial (RFC 4035
    /// §3.1, RFC 5155 §7.2).
    pub fn lookup_key(&self, qname: &Name, key: &[u8], qtype: RecordType, dnssec: bool) -> Answer {
        let mut answer = Answer::new();
        answer.dnssec = dnssec && self.is_signed();
        let mut step = self.lookup_step(qname, key, qtype, &mut answer);
        for _ in 1..MAX_CNAME_CHAIN {
            let Step::FollowCname(target) = step else {
                break;
            };
            let target_key = name_key::key_of(&target);
            if !name_key::is_within(&target_key, &self.origin_key) {
                break;
            }
            step = self.lookup_step(&target, &target_key, qtype, &mut answer);
        }
        answer
    }

    fn lookup_step(
        &self,
        qname: &Name,
        key: &[u8],
        qtype: RecordType,
        answer: &mut Answer,
    ) -> Step {
        // Delegated space: a referral (RFC 1034 §4.3.2 step 3b), also at the end of a CNAME
        // chain that led here, as NSD and Knot answer: the CNAMEs stay in the answer section
        // (and the answer authoritative), the cut's NS and glue follow. DS at the cut belongs
        // to the parent side, so it is answered here (NODATA).
        if let Some(cut) = self.enclosing_cut(key)
            && !(qtype == RecordType::DS && cut == key)
        {
            self.referral(cut, answer);
            return Step::Done;
        }

        let synthesized;
        // When the answer comes from a wildcard: the closest encloser and the wildcard's key.
        let mut wildcard: Option<(&[u8], Key)> = None;
        let node = match self.nodes.get(key) {
            Some(node) => node,
            None => {
                let encloser = self.closest_encloser(key);
                let wild_key = name_key::wildcard_of(encloser);
                match self.nodes.get(&*wild_key).filter(|n| !n.rrsets.is_empty()) {
                    Some(wild) => {
                        synthesized = Node {
                            rrsets: wild
                                .rrsets
                                .iter()
                                .map(|s| Arc::new(with_owner(s, qname)))
                                .collect(),
                            children: 0,
                        };
                        wildcard = Some((encloser, wild_key));
                        &synthesized
                    }
                    None => {
                        answer.rcode = ResponseCode::NXDomain;
                        answer.authorities.push(self.negative_soa.clone());
                        if answer.dnssec {
                            self.deny_name(encloser, key, answer);
                        }
                        return Step::Done;
                    }
                }
            }
        };

        if key == &*self.origin_key && matches!(qtype, RecordType::SOA | RecordType::ANY) {
            answer.answers.push(self.soa.clone());
            return Step::Done;
        }
        if let Some(cname) = node.get(RecordType::CNAME)
            && qtype != RecordType::CNAME
        {
            answer.answers.push(cname.clone());
            if answer.dnssec
                && let Some((encloser, _)) = &wildcard
            {
                self.prove_expansion(encloser, key, answer);
            }
            return match cname.records.first().map(|r| &r.data) {
                Some(RData::CNAME(target)) if qtype != RecordType::ANY => {
                    // A loop back to a name already in the chain stops here.
                    if answer.answers.iter().any(|s| s.records[0].name == target.0) {
                        Step::Done
                    } else {
                        Step::FollowCname(target.0.clone())
                    }
                }
                _ => Step::Done,
            };
        }
        let found = if qtype == RecordType::ANY {
            // RFC 8482: one set; the lowest type, so the choice does not depend on history.
            node.rrsets.iter().min_by_key(|s| u16::from(s.rtype))
        } else {
            node.get(qtype)
        };
        match found {
            Some(set) => {
                answer.answers.push(set.clone());
                self.add_addresses_for(set, answer, |_| true);
                if answer.dnssec
                    && let Some((encloser, _)) = &wildcard
                {
                    self.prove_expansion(encloser, key, answer);
                }
            }
            None => {
                answer.authorities.push(self.negative_soa.clone());
                if answer.dnssec {
                    match &wildcard {
                        Some((encloser, wild_key)) => {
                            self.prove_expansion(encloser, key, answer);
                            self.deny_type(wild_key, answer);
                            if !self.nsec3.is_empty() {
                                answer.add_proof(self.nsec3_matching(encloser));
                            }
                        }
                        None => self.deny_type(key, answer),
                    }
                }
            }
        }
        Step::Done
    }

    /// The closest encloser of a name that does not exist (RFC 4592): its nearest ancestor
    /// that does, the apex at the latest. The source of synthesis is `*.` that name.
    fn closest_encloser<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        let mut encloser = key;
        while let Some(parent) = name_key::parent(encloser) {
            encloser = parent;
            if self.nodes.contains_key(encloser) || encloser.len() <= self.origin_key.len() {
                break;
            }
        }
        encloser
    }

    /// The NSEC3 set whose owner is the hash of this name.
    fn nsec3_matching(&self, key: &[u8]) -> Option<Arc<RRset>> {
        self.nsec3.get(&self.nsec3_hash(key)[..]).cloned()
    }

    /// The NSEC3 set whose owner hash comes last at or before this name's hash, wrapping
    /// around: the one that covers a name that does not exist.
    fn nsec3_covering(&self, key: &[u8]) -> Option<Arc<RRset>> {
        use std::ops::Bound::{Included, Unbounded};
        let hash = self.nsec3_hash(key);
        self.nsec3
            .range::<_, [u8]>((Unbounded, Included(&hash[..])))
            .next_back()
            .or_else(|| self.nsec3.iter().next_back())
            .map(|(_, set)| set.clone())
    }

    /// The NSEC set of the name at or before this one in canonical order, wrapping around.
    fn nsec_covering(&self, key: &[u8]) -> Option<Arc<RRset>> {
        use std::ops::Bound::{Included, Unbounded};
        let c = name_key::canonical(key);
        let (_, owner) = self
            .nsec
            .range::<_, [u8]>((Unbounded, Included(&*c)))
            .next_back()
            .or_else(|| self.nsec.iter().next_back())?;
        self.nodes.get(owner)?.get(RecordType::NSEC).cloned()
    }

    /// NXDOMAIN's proof: the closest encloser exists, the next closer name does not, and no
    /// wildcard could have answered (RFC 5155 §7.2.2; RFC 4035 §3.1.3.2 with NSEC).
    fn deny_name(&self, encloser: &[u8], key: &[u8], answer: &mut Answer) {
        let wild = name_key::wildcard_of(encloser);
        if !self.nsec3.is_empty() {
            answer.add_proof(self.nsec3_matching(encloser));
            answer.add_proof(self.nsec3_covering(name_key::next_closer(key, encloser)));
            answer.add_proof(self.nsec3_covering(&wild));
        } else if !self.nsec.is_empty() {
            answer.add_proof(self.nsec_covering(key));
            answer.add_proof(self.nsec_covering(&wild));
        }
    }

    /// NODATA's proof: the name's own NSEC3 or NSEC, whose type bitmap lacks the type (an
    /// empty non-terminal has an NSEC3; with NSEC, the record that covers it).
    fn deny_type(&self, key: &[u8], answer: &mut Answer) {
        if !self.nsec3.is_empty() {
            answer.add_proof(self.nsec3_matching(key));
        } else if !self.nsec.is_empty() {
            let own = self
                .nodes
                .get(key)
                .and_then(|n| n.get(RecordType::NSEC))
                .cloned();
            answer.add_proof(own.or_else(|| self.nsec_covering(key)));
        }
    }

    /// A wildcard expansion's proof that the name asked does not exist itself (RFC 5155
    /// §7.2.6; RFC 4035 §3.1.3.3).
    fn prove_expansion(&self, encloser: &[u8], key: &[u8], answer: &mut Answer) {
        if !self.nsec3.is_empty() {
            answer.add_proof(self.nsec3_covering(name_key::next_closer(key, encloser)));
        } else if !self.nsec.is_empty() {
            answer.add_proof(self.nsec_covering(key));
        }
    }

    /// The cut's NS in authority and their addresses in additional; AA is cleared only when
    /// the referral is the whole answer (no CNAME of ours before it).
    fn referral(&self, cut: &[u8], answer: &mut Answer) {
        if answer.answers.is_empty() {
            answer.authoritative = false;
        }
        if let Some(ns) = self.nodes.get(cut).and_then(|n| n.get(RecordType::NS)) {
            answer.authorities.push(ns.clone());
            // A signed referral carries the DS (signed), or the proof that there is none: the
            // delegation is insecure (RFC 4035 §3.1.4, RFC 5155 §7.2.7).
            if answer.dnssec {
                match self.nodes.get(cut).and_then(|n| n.get(RecordType::DS)) {
                    Some(ds) => answer.authorities.push(ds.clone()),
                    None => self.deny_type(cut, answer),
                }
            }
            // In-domain glue first (the delegation cannot be followed without it), then the
            // addresses of the other name servers in the zone (sibling glue, optional). A
            // referral ends the lookup and only a CNAME can come before it, so the additional
            // section is still empty here and the required sets are its first ones.
            self.add_addresses_for(ns, answer, |target| name_key::is_within(target, cut));
            answer.required_glue = answer.additionals.len();
            self.add_addresses_for(ns, answer, |target| !name_key::is_within(target, cut));
        }
    }

    /// Addresses (glue) for the name servers, mail exchangers or service targets in a set,
    /// for every target inside this zone that `wanted` accepts.
    fn add_addresses_for(&self, set: &RRset, answer: &mut Answer, wanted: impl Fn(&[u8]) -> bool) {
        for record in &set.records {
            let target = match &record.data {
                RData::NS(ns) => &ns.0,
                RData::MX(mx) => &mx.exchange,
                RData::SRV(srv) => &srv.target,
                _ => return,
            };
            let target = name_key::key_of(target);
            if !name_key::is_within(&target, &self.origin_key) || !wanted(&target) {
                continue;
            }
            if let Some(node) = self.nodes.get(&*target) {
                for rtype in [RecordType::A, RecordType::AAAA] {
                    if let Some(addrs) = node.get(rtype)
                        && !answer.additionals.iter().any(|s| Arc::ptr_eq(s, addrs))
                    {
                        answer.additionals.push(addrs.clone());
                    }
                }
            }
        }
    }
}

enum Step {
    Done,
    FollowCname(Name),
}

/// A wildcard's set as synthesized for `owner`: records and signatures take the name asked
/// (the signatures keep their label count, which tells a validator they were expanded).
fn with_owner(set: &RRset, owner: &Name) -> RRset {
    let renamed = |records: &[Record]| -> Vec<Record> {
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.name = owner.clone();
                r
            })
            .collect()
    };
    RRset {
        rtype: set.rtype,
        ttl: set.ttl,
        records: renamed(&set.records),
        sigs: renamed(&set.sigs),
    }
}

fn is_rrsig(record: &Record) -> bool {
    record.record_type() == RecordType::RRSIG
}

/// The type an RRSIG record covers.
pub fn covered_type(record: &Record) -> Option<RecordType> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().type_covered),
        _ => None,
    }
}

/// The hash an NSEC3 owner name carries (its first label, base32hex), if the name is one
/// label below the apex and the label decodes to a SHA-1 hash.
fn nsec3_owner_hash(name: &[u8], origin: &[u8]) -> Option<Box<[u8]>> {
    if name_key::parent(name)? != origin {
        return None;
    }
    let label = name_key::first_label(name)?;
    let hash = data_encoding::BASE32HEX_NOPAD
        .decode(&label.to_ascii_uppercase())
        .ok()?;
    (hash.len() == 20).then(|| hash.into_boxed_slice())
}

/// The SOA as answered, and as carried in negative answers with RFC 2308's TTL (the lesser of
/// the SOA's TTL and its MINIMUM field).
fn soa_sets(soa: &Record) -> (Arc<RRset>, Arc<RRset>) {
    let minimum = match &soa.data {
        RData::SOA(SOA { minimum, .. }) => *minimum,
        _ => soa.ttl,
    };
    let mut negative = soa.clone();
    negative.ttl = soa.ttl.min(minimum);
    (
        Arc::new(RRset::new(RecordType::SOA, soa.ttl, vec![soa.clone()])),
        Arc::new(RRset::new(RecordType::SOA, negative.ttl, vec![negative])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::file;

    const ZONE: &str = r#"$ORIGIN example.go.id.
$TTL 3600
@ SOA ns1 hostmaster 2026010101 3600 900 1209600 300
@ NS ns1
@ NS ns2
@ A 203.0.113.1
@ MX 10 mail
ns1 A 203.0.113.2
ns2 AAAA 2001:db8::2
mail A 203.0.113.3
www CNAME @
alias CNAME www
loop1 CNAME loop2
loop2 CNAME loop1
out CNAME example.org.
todeleg CNAME www.child
tocut CNAME child
a.b.c A 203.0.113.5
*.wild TXT "wild"
child NS ns.child
child NS ns1
ns.child A 203.0.113.4
"#;

    fn view() -> ZoneView {
        let origin = Name::from_ascii("example.go.id.").unwrap();
        ZoneView::new(&file::parse(ZONE, "t", Some(&origin)).unwrap())
    }

    fn q(v: &ZoneView, name: &str, t: RecordType) -> Answer {
        v.lookup(&LowerName::from(Name::from_ascii(name).unwrap()), t)
    }

    fn types(sets: &[Arc<RRset>]) -> Vec<RecordType> {
        sets.iter().map(|s| s.rtype).collect()
    }

    #[test]
    fn positive_answer() {
        let a = q(&view(), "ns1.example.go.id.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert!(a.authoritative);
        assert_eq!(types(&a.answers), vec![RecordType::A]);
    }

    #[test]
    fn case_insensitive() {
        let a = q(&view(), "NS1.Example.GO.id.", RecordType::A);
        assert_eq!(types(&a.answers), vec![RecordType::A]);
    }

    #[test]
    fn nxdomain_and_nodata_carry_rfc2308_soa() {
        let v = view();
        let a = q(&v, "nope.example.go.id.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NXDomain);
        assert_eq!(a.authorities[0].ttl, 300);
        let a = q(&v, "ns1.example.go.id.", RecordType::TXT);
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert!(a.answers.is_empty());
        assert_eq!(a.authorities[0].rtype, RecordType::SOA);
        assert_eq!(a.authorities[0].ttl, 300);
    }

    #[test]
    fn empty_non_terminal_is_nodata() {
        let v = view();
        for name in ["b.c.example.go.id.", "c.example.go.id."] {
            let a = q(&v, name, RecordType::A);
            assert_eq!(a.rcode, ResponseCode::NoError, "{name}");
            assert!(a.answers.is_empty());
        }
    }

    #[test]
    fn cname_chain_followed_and_loops_stop() {
        let v = view();
        let a = q(&v, "alias.example.go.id.", RecordType::A);
        assert_eq!(
            types(&a.answers),
            vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]
        );
        let a = q(&v, "loop1.example.go.id.", RecordType::A);
        assert_eq!(
            types(&a.answers),
            vec![RecordType::CNAME, RecordType::CNAME]
        );
        let a = q(&v, "out.example.go.id.", RecordType::A);
        assert_eq!(types(&a.answers), vec![RecordType::CNAME]);
        assert_eq!(a.rcode, ResponseCode::NoError);
    }

    #[test]
    fn referral_below_cut_with_glue() {
        let v = view();
        for name in ["child.example.go.id.", "deep.www.child.example.go.id."] {
            let a = q(&v, name, RecordType::A);
            assert!(!a.authoritative, "{name}");
            assert!(a.answers.is_empty());
            assert_eq!(types(&a.authorities), vec![RecordType::NS]);
            assert_eq!(types(&a.additionals), vec![RecordType::A, RecordType::A]);
        }
        let a = q(&v, "child.example.go.id.", RecordType::DS);
        assert!(a.authoritative);
    }

    #[test]
    fn cname_into_a_delegation_ends_with_its_referral() {
        // RFC 1034 §4.3.2 step 3b at the end of the chain: the CNAME stays authoritative, the
        // cut's NS and glue follow (as NSD and Knot answer).
        let v = view();
        for name in ["todeleg.example.go.id.", "tocut.example.go.id."] {
            let a = q(&v, name, RecordType::A);
            assert_eq!(a.rcode, ResponseCode::NoError, "{name}");
            assert!(a.authoritative, "{name}");
            assert_eq!(types(&a.answers), vec![RecordType::CNAME], "{name}");
            assert_eq!(types(&a.authorities), vec![RecordType::NS], "{name}");
            assert_eq!(
                a.authorities[0].records[0].name.to_ascii(),
                "child.example.go.id."
            );
            assert_eq!(types(&a.additionals), vec![RecordType::A, RecordType::A]);
        }
    }

    #[test]
    fn in_domain_glue_comes_first_and_is_required() {
        // child's servers: ns.child (below the cut: required) and ns1 (a sibling: optional).
        let a = q(&view(), "x.child.example.go.id.", RecordType::A);
        assert_eq!(a.required_glue, 1);
        let glue: Vec<String> = Answer::records(&a.additionals)
            .map(|r| r.name.to_ascii())
            .collect();
        assert_eq!(glue, ["ns.child.example.go.id.", "ns1.example.go.id."]);
        // Nothing else is required.
        assert_eq!(
            q(&view(), "example.go.id.", RecordType::NS).required_glue,
            0
        );
    }

    #[test]
    fn ns_answer_glues_every_server() {
        let a = q(&view(), "example.go.id.", RecordType::NS);
        assert_eq!(types(&a.answers), vec![RecordType::NS]);
        assert_eq!(types(&a.additionals), vec![RecordType::A, RecordType::AAAA]);
    }

    #[test]
    fn wildcard_synthesis() {
        let v = view();
        let a = q(&v, "x.y.wild.example.go.id.", RecordType::TXT);
        assert_eq!(types(&a.answers), vec![RecordType::TXT]);
        assert_eq!(
            a.answers[0].records[0].name.to_ascii(),
            "x.y.wild.example.go.id."
        );
    }

    #[test]
    fn any_is_minimal() {
        let a = q(&view(), "example.go.id.", RecordType::ANY);
        assert_eq!(a.answers.len(), 1);
    }

    #[test]
    fn incremental_changes_keep_structure() {
        let mut v = view();
        let rec = |name: &str, ip: [u8; 4]| {
            Record::from_rdata(
                Name::from_ascii(name).unwrap(),
                60,
                RData::A(hickory_proto::rr::rdata::A::from(std::net::Ipv4Addr::from(
                    ip,
                ))),
            )
        };
        let deep = rec("x.y.z.example.go.id.", [203, 0, 113, 9]);
        v.apply(&ZoneDiff {
            added: vec![deep.clone()],
            ..Default::default()
        });
        assert!(v.contains(&deep));
        assert!(v.name_exists(&LowerName::from(
            Name::from_ascii("y.z.example.go.id.").unwrap()
        )));
        v.apply(&ZoneDiff {
            removed: vec![deep.clone()],
            ..Default::default()
        });
        assert!(!v.name_exists(&LowerName::from(
            Name::from_ascii("z.example.go.id.").unwrap()
        )));
        let a = q(&v, "z.example.go.id.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NXDomain);
        // Removing a delegation removes the cut.
        let child_ns: Vec<Record> = v
            .rrset(
                &LowerName::from(Name::from_ascii("child.example.go.id.").unwrap()),
                RecordType::NS,
            )
            .unwrap()
            .records
            .clone();
        v.apply(&ZoneDiff {
            removed: child_ns,
            ..Default::default()
        });
        let a = q(&v, "ns.child.example.go.id.", RecordType::A);
        assert!(a.authoritative);
        assert_eq!(types(&a.answers), vec![RecordType::A]);
    }
}

#[cfg(test)]
mod prop {
    //! The incremental view must answer exactly like a view built from scratch from the same
    //! records, whatever the order of changes.
    use super::*;
    use crate::zone::file;
    use hickory_proto::rr::rdata::{A, CNAME, NS};
    use proptest::prelude::*;

    const ZONE: &str =
        "$ORIGIN z.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
    const LABELS: [&str; 4] = ["a", "b", "c", "*"];

    fn name(parts: &[usize]) -> Name {
        let mut s = String::new();
        for p in parts {
            s.push_str(LABELS[*p]);
            s.push('.');
        }
        s.push_str("z.example.");
        Name::from_ascii(&s).unwrap()
    }

    fn record(kind: u8, owner: Name, v: u8) -> Record {
        let data = match kind {
            0 => RData::A(A::from(std::net::Ipv4Addr::new(192, 0, 2, v))),
            1 => RData::NS(NS(Name::from_ascii("ns.z.example.").unwrap())),
            _ => RData::CNAME(CNAME(name(&[usize::from(v % 3)]))),
        };
        Record::from_rdata(owner, 60, data)
    }

    fn op() -> impl Strategy<Value = (bool, u8, Vec<usize>, u8)> {
        (
            any::<bool>(),
            0u8..3,
            proptest::collection::vec(0usize..4, 1..4),
            0u8..3,
        )
    }

    fn base() -> ZoneContent {
        file::parse(ZONE, "t", None).unwrap()
    }

    proptest! {
        #[test]
        fn incremental_equals_rebuilt(ops in proptest::collection::vec(op(), 1..40)) {
            let mut view = ZoneView::new(&base());
            let mut records: Vec<Record> = base().records;
            for (add, kind, parts, v) in ops {
                let r = record(kind, name(&parts), v);
                let exists = records.iter().any(|x| x.name == r.name && x.data == r.data);
                let diff = if add && !exists {
                    records.push(r.clone());
                    ZoneDiff { added: vec![r], ..Default::default() }
                } else if !add && exists {
                    records.retain(|x| !(x.name == r.name && x.data == r.data));
                    ZoneDiff { removed: vec![r], ..Default::default() }
                } else {
                    continue;
                };
                let mut next = view.clone();
                next.apply(&diff);
                view = next;
            }
            let rebuilt = ZoneView::new(&ZoneContent { records, ..base() });
            prop_assert_eq!(view.record_count(), rebuilt.record_count());
            prop_assert_eq!(view.nodes.len(), rebuilt.nodes.len());
            // Every name that could be asked, every type: the same answer.
            let mut names = vec![Name::from_ascii("z.example.").unwrap()];
            for a in 0..4 { for b in 0..4 { for c in 0..4 {
                names.push(name(&[a]));
                names.push(name(&[a, b]));
                names.push(name(&[a, b, c]));
            }}}
            names.push(name(&[0, 1, 2, 0]));
            for n in &names {
                let q = LowerName::new(n);
                for t in [RecordType::A, RecordType::NS, RecordType::CNAME, RecordType::TXT, RecordType::ANY] {
                    let (x, y) = (view.lookup(&q, t), rebuilt.lookup(&q, t));
                    prop_assert_eq!(x.rcode, y.rcode, "{} {}", n, t);
                    prop_assert_eq!(x.authoritative, y.authoritative, "{} {}", n, t);
                    let set = |s: &[Arc<RRset>]| {
                        let mut v: Vec<String> = Answer::records(s).map(|r| r.to_string()).collect();
                        v.sort();
                        v
                    };
                    prop_assert_eq!(set(&x.answers), set(&y.answers), "{} {}", n, t);
                    prop_assert_eq!(set(&x.authorities), set(&y.authorities), "{} {}", n, t);
                    prop_assert_eq!(set(&x.additionals), set(&y.additionals), "{} {}", n, t);
                }
            }
        }
    }
}
