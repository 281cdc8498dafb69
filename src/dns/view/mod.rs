//! The in-memory view of one zone that DNS answers come from, and the lookup rules.
//!
//! The view is a hash table from owner name to node ([`table`]), each node one byte string
//! with the name's record sets in wire form ([`node`]), so that:
//! - a lookup is a handful of hash probes, independent of the zone's size: the exact name, then
//!   for a miss its ancestors (closest encloser, wildcard) and the delegation points above it;
//!   nothing ever scans the zone;
//! - a change clones the view cheaply (the table's pages are shared) and edits only the names
//!   it touches, then the new view is published atomically: readers never lock and never see
//!   half a change;
//! - a name costs its bytes, not a tree of decoded records, and an answer is written by
//!   copying record data (see [`super::message`]).
//!
//! Every ancestor of an owner name down from the apex exists as a node; a node without record
//! sets is an empty non-terminal, so NODATA versus NXDOMAIN (RFC 8020) is one probe.
//!
//! A signed zone's records are in the view too, where answers need them: each RRSIG with the
//! set it covers, NSEC with the other sets of its name (and in a canonical-order index, for
//! proofs), NSEC3 in a table of their own with an index in hash order (their owner names are
//! not names of the zone to a query). A query with DO gets the signatures and the proofs of
//! denial; one without gets the unsigned answer.

mod node;
mod table;

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{LowerName, RData, Record, RecordType};

pub use node::{RRset, Rdatas, covered_code, decode_rdata, rrsig_expiration};

use super::cache::AnswerCache;
use super::name_key::{self, Key};
use crate::zone::ZoneDiff;
use crate::zone::file::ZoneContent;
use node::{Node, NodeBuf};
use table::NameTable;

type KeySet =
    imbl::GenericHashSet<Key, rustc_hash::FxBuildHasher, imbl::shared_ptr::DefaultSharedPtr>;
/// Names with an NSEC set, by canonical order (`name_key::canonical`), to their keys.
type NsecMap = imbl::OrdMap<Box<[u8]>, Key>;

/// Length of an NSEC3 hash (SHA-1).
const NSEC3_HASH_LEN: usize = 20;
type Nsec3Hash = [u8; NSEC3_HASH_LEN];

/// An RRset decoded, for code that edits or signs records rather than answering with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    /// Type of every record in the set.
    pub rtype: RecordType,
    /// The set's TTL.
    pub ttl: u32,
    /// The records (owner name included).
    pub records: Vec<Record>,
    /// The RRSIG records that cover the set (none in an unsigned zone).
    pub sigs: Vec<Record>,
}

impl RRset<'_> {
    /// The set decoded.
    pub fn decoded(&self) -> RecordSet {
        RecordSet {
            rtype: self.rtype(),
            ttl: self.ttl(),
            records: self.records(),
            sigs: self.sigs(),
        }
    }

    /// Whether two sets are the same stored set (owner and type).
    fn same(&self, other: &RRset<'_>) -> bool {
        self.type_code() == other.type_code() && self.owner() == other.owner()
    }
}

/// What a lookup found, before encoding: sets borrowed from the view (and, for a wildcard's
/// synthesized answer, owned by the name asked).
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// AA flag: clear on referrals.
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<RRset<'a>>,
    /// Authority section (SOA for negative answers, NS for referrals).
    pub authorities: Vec<RRset<'a>>,
    /// Additional section (addresses of name servers and mail exchangers in the zone).
    pub additionals: Vec<RRset<'a>>,
    /// How many of the first `additionals` are a referral's in-domain glue (addresses of name
    /// servers at or below the cut): a UDP answer that cannot carry them all is truncated (RFC
    /// 9471). Any other additional set may be left out of a UDP answer that cannot carry it.
    pub required_glue: usize,
    /// Whether the sets' signatures go with them (the query had DO and the zone is signed).
    pub dnssec: bool,
}

impl<'a> Answer<'a> {
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

    /// The records of a section, decoded, without signatures (for checks and tests).
    pub fn records(sets: &[RRset<'_>]) -> Vec<Record> {
        sets.iter().flat_map(|s| s.records()).collect()
    }

    /// Number of records a set contributes to a section of this answer.
    pub fn set_len(&self, set: &RRset<'_>) -> usize {
        set.len() + if self.dnssec { set.sig_count() } else { 0 }
    }

    /// Add a set to the authority section once (proofs may name the same NSEC3 twice).
    fn add_proof(&mut self, set: Option<RRset<'a>>) {
        if let Some(set) = set
            && !self.authorities.iter().any(|s| s.same(&set))
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
    /// The apex's SOA set and its signatures, stored as a node of its own.
    soa: Box<[u8]>,
    /// The TTL of negative answers' SOA (RFC 2308).
    negative_ttl: u32,
    nodes: NameTable,
    cuts: KeySet,
    /// The NSEC3 records of a signed zone, by owner, and their hashes in order (for proofs).
    nsec3: NameTable,
    nsec3_order: imbl::OrdSet<Nsec3Hash>,
    nsec: NsecMap,
    /// NSEC3 hashing as the zone's NSEC3PARAM says (RFC 9276: no salt, no extra iterations).
    nsec3_salt: Box<[u8]>,
    nsec3_iterations: u16,
    record_count: usize,
    /// Encoded UDP answers made from this view (see `udp`); a new view starts empty.
    answers: Arc<AnswerCache>,
    /// Whether the store holds this view's records. A zone imported at first start is
    /// answered from its file while the store takes it; until then it is not transferred
    /// (its `_audit` record joins it once stored, at the same serial).
    stored: bool,
}

impl ZoneView {
    /// Build the view of a whole zone.
    pub fn new(content: &ZoneContent) -> Self {
        let origin_key = name_key::key_of(&content.origin);
        if let Some(view) = unsigned_view(content, &origin_key) {
            return view;
        }
        Self::built(content, &origin_key)
    }

    /// [`ZoneView::new`] through [`Builder`], which takes any zone.
    fn built(content: &ZoneContent, origin_key: &[u8]) -> Self {
        let origin_key: Key = origin_key.into();
        let mut build = Builder {
            origin_key: &origin_key,
            nodes: HashMap::with_capacity(content.records.len()),
            nsec3: HashMap::new(),
            soa: soa_node(&origin_key, &content.soa),
        };
        build
            .nodes
            .insert(origin_key.clone(), NodeBuf::empty(&origin_key));
        // Signatures after the sets they cover.
        for record in content.records.iter().filter(|r| !is_rrsig(r)) {
            build.add(record);
        }
        for record in content.records.iter().filter(|r| is_rrsig(r)) {
            build.add(record);
        }
        build.finish(LowerName::new(&content.origin))
    }

    /// This view, read from a file the store does not hold yet (see [`ZoneView::is_stored`]).
    pub fn not_stored(mut self) -> Self {
        self.stored = false;
        self
    }

    /// This view, now that the store holds its records.
    pub fn now_stored(mut self) -> Self {
        self.stored = true;
        self
    }

    /// Whether the store holds this view's records (a zone being imported at first start
    /// does not, yet).
    pub fn is_stored(&self) -> bool {
        self.stored
    }

    /// Whether the zone is signed (its apex has a DNSKEY set).
    pub fn is_signed(&self) -> bool {
        self.nodes
            .get(&self.origin_key)
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
        self.soa_set()
            .and_then(|s| s.rdatas().next())
            .and_then(soa_serial)
            .unwrap_or(0)
    }

    /// The SOA record.
    pub fn soa_record(&self) -> Option<Record> {
        self.soa_set()?.records().into_iter().next()
    }

    /// Number of records, the SOA and the DNSSEC records included.
    pub fn record_count(&self) -> usize {
        self.record_count + 1 + self.soa_set().map_or(0, |s| s.sig_count())
    }

    /// Number of owner names (nodes with records).
    pub fn name_count(&self) -> usize {
        self.nodes.nodes().filter(|n| !n.is_empty()).count()
    }

    /// Every RRset except the SOA, in no particular order (NSEC3 sets are not among them).
    pub fn rrsets(&self) -> impl Iterator<Item = RRset<'_>> {
        self.nodes.nodes().flat_map(|n| n.sets())
    }

    /// Every record except the SOA itself, signatures and NSEC3 included, in no particular
    /// order (for exports), decoded.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.wire_sets().flat_map(|(set, sigs_only)| {
            let mut records = if sigs_only { Vec::new() } else { set.records() };
            records.extend(set.sigs());
            records
        })
    }

    /// Every stored set as [`ZoneView::records`] lists them: the SOA's signatures (the flag
    /// says: its signatures only), then every other set, NSEC3 included.
    pub fn wire_sets(&self) -> impl Iterator<Item = (RRset<'_>, bool)> {
        self.soa_set().into_iter().map(|s| (s, true)).chain(
            self.rrsets()
                .chain(self.nsec3.nodes().flat_map(|n| n.sets()))
                .map(|s| (s, false)),
        )
    }

    /// The NSEC3 sets in hash order.
    pub fn nsec3_sets(&self) -> impl Iterator<Item = RRset<'_>> {
        self.nsec3_order.iter().filter_map(|h| self.nsec3_at(h))
    }

    /// The NSEC3 set whose owner has this hash.
    pub fn nsec3_at(&self, hash: &[u8]) -> Option<RRset<'_>> {
        self.nsec3
            .get(&self.nsec3_key(hash))?
            .get(RecordType::NSEC3)
    }

    /// The owner key of the NSEC3 record with this hash: its base32hex form, below the apex.
    fn nsec3_key(&self, hash: &[u8]) -> Key {
        let label = data_encoding::BASE32HEX_NOPAD
            .encode(hash)
            .to_ascii_lowercase();
        let mut key = Vec::with_capacity(1 + label.len() + self.origin_key.len());
        key.push(label.len() as u8);
        key.extend_from_slice(label.as_bytes());
        key.extend_from_slice(&self.origin_key);
        key.into_boxed_slice()
    }

    /// The hash after `hash` in the NSEC3 chain, wrapping to the first (or `hash` itself when
    /// it is alone). `None` when the chain is empty.
    pub fn nsec3_next(&self, hash: &[u8]) -> Option<Vec<u8>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let hash: Nsec3Hash = hash.try_into().ok()?;
        self.nsec3_order
            .range((Excluded(hash), Unbounded))
            .next()
            .or_else(|| self.nsec3_order.iter().next())
            .map(|h| h.to_vec())
    }

    /// The hash before `hash` in the NSEC3 chain, wrapping to the last.
    pub fn nsec3_previous(&self, hash: &[u8]) -> Option<Vec<u8>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let hash: Nsec3Hash = hash.try_into().ok()?;
        self.nsec3_order
            .range((Unbounded, Excluded(hash)))
            .next_back()
            .or_else(|| self.nsec3_order.iter().next_back())
            .map(|h| h.to_vec())
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
            .map(|n| n.sets().map(|s| s.rtype()).collect())
            .unwrap_or_default();
        if key == &*self.origin_key {
            types.push(RecordType::SOA);
        }
        types
    }

    /// Whether a node (by key) has children.
    pub fn has_children(&self, key: &[u8]) -> bool {
        self.nodes.get(key).is_some_and(|n| n.children() > 0)
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
        self.nodes.nodes().map(|n| n.key())
    }

    /// When the first of the zone's signatures expires (Unix seconds), if it is signed.
    pub fn first_expiry(&self) -> Option<u32> {
        self.wire_sets()
            .flat_map(|(s, _)| s.sig_rdatas())
            .filter_map(rrsig_expiration)
            .min()
    }

    /// The largest TTL in the zone: how long a resolver may keep anything of it.
    pub fn max_ttl(&self) -> u32 {
        self.rrsets()
            .map(|s| s.ttl())
            .chain(self.soa_set().map(|s| s.ttl()))
            .max()
            .unwrap_or(0)
    }

    /// The TTL of negative answers: the lesser of the SOA's TTL and its MINIMUM (RFC 2308),
    /// also the TTL of NSEC and NSEC3 records (RFC 9077).
    pub fn negative_ttl(&self) -> u32 {
        self.negative_ttl
    }

    /// The set of a type at a name, by key (the SOA at the apex included).
    pub fn rrset_by_key(&self, key: &[u8], rtype: RecordType) -> Option<RRset<'_>> {
        if rtype == RecordType::SOA && key == &*self.origin_key {
            return self.soa_set();
        }
        self.nodes.get(key).and_then(|n| n.get(rtype))
    }

    /// The signatures of the set of a type at a name, by key.
    pub fn signatures_of(&self, key: &[u8], rtype: RecordType) -> Vec<Record> {
        self.rrset_by_key(key, rtype)
            .map(|s| s.sigs())
            .unwrap_or_default()
    }

    /// Remove and add records (the signer's edits, one set at a time): signatures after the
    /// sets they cover, as in [`ZoneView::apply`].
    pub fn edit(&mut self, removed: &[Record], added: &[Record]) {
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
    pub fn soa_set(&self) -> Option<RRset<'_>> {
        Node::new(&self.soa).get(RecordType::SOA)
    }

    /// The SOA set as negative answers carry it (RFC 2308's TTL).
    fn negative_soa(&self) -> Option<RRset<'_>> {
        self.soa_set().map(|s| s.with_ttl(self.negative_ttl))
    }

    /// The encoded answers made from this view.
    pub fn answers(&self) -> &AnswerCache {
        &self.answers
    }

    /// This view with an empty answer cache of its own (a view is published with a new cache:
    /// no answer outlives the data it was made from).
    pub fn with_cache(mut self, cache: AnswerCache) -> Self {
        self.answers = Arc::new(cache);
        self
    }

    /// Apply one committed change: O(names touched), never O(zone).
    pub fn apply(&mut self, diff: &ZoneDiff) {
        for r in &diff.removed {
            self.remove(r);
        }
        if let Some(soa) = &diff.soa {
            // A new SOA drops the old one's signatures; the change brings the new ones.
            self.set_soa(soa);
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
        let Some(rdata) = node::rdata_of(record) else {
            return false;
        };
        self.rrset_by_key(&name_key::key_of(&record.name), record.record_type())
            .is_some_and(|s| s.contains(&rdata))
    }

    /// The record set at a name, if any.
    pub fn rrset(&self, name: &LowerName, rtype: RecordType) -> Option<RRset<'_>> {
        self.rrset_by_key(&name_key::key_of(name), rtype)
    }

    /// Whether a name exists in the zone (with records, or as an empty non-terminal).
    pub fn name_exists(&self, name: &LowerName) -> bool {
        self.nodes.contains(&name_key::key_of(name))
    }

    /// Whether the name with this key (lower-cased wire form) is a node of the zone.
    pub fn has_name_key(&self, key: &[u8]) -> bool {
        self.nodes.contains(key)
    }

    /// The delegation point at or above the name with this key, if it lies in delegated
    /// space (rate limiting keys referrals by it).
    pub fn delegation_of<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        self.enclosing_cut(key)
    }

    /// Bytes the view's names take (its tables), for the memory gauge.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.heap_bytes() + self.nsec3.heap_bytes() + self.soa.len()
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

    fn set_soa(&mut self, soa: &Record) {
        if let Some((node, negative_ttl)) = soa_node(&self.origin_key, soa) {
            self.soa = node.encode().into_boxed_slice();
            self.negative_ttl = negative_ttl;
        }
    }

    /// Edit the node of `key` in `table`, if it exists, and store it again when `edit` says it
    /// changed.
    fn edit_node<R>(
        table: &mut NameTable,
        key: &[u8],
        edit: impl FnOnce(&mut NodeBuf) -> Option<R>,
    ) -> Option<R> {
        let mut buf = NodeBuf::decode(table.get(key)?);
        let result = edit(&mut buf)?;
        table.insert(&buf.encode());
        Some(result)
    }

    fn add(&mut self, record: &Record) {
        let rtype = record.record_type();
        if rtype == RecordType::SOA {
            return self.set_soa(record);
        }
        let name = name_key::key_of(&record.name);
        if !name_key::is_within(&name, &self.origin_key) {
            return;
        }
        let Some(rdata) = node::rdata_of(record) else {
            return;
        };
        match rtype {
            RecordType::RRSIG => return self.add_sig(&name, &rdata),
            RecordType::NSEC3 => return self.add_nsec3(&name, record.ttl, &rdata),
            _ => {}
        }
        self.ensure_node(&name);
        let code = u16::from(rtype);
        let added = Self::edit_node(&mut self.nodes, &name, |n| {
            n.add(code, record.ttl, &rdata).then_some(())
        });
        if added.is_none() {
            return;
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
        use hickory_proto::dnssec::rdata::DNSSECRData;
        if let RData::DNSSEC(DNSSECRData::NSEC3PARAM(p)) = &record.data {
            self.nsec3_salt = p.salt().into();
            self.nsec3_iterations = p.iterations();
        }
    }

    /// An RRSIG goes with the set it covers; one for a set the view does not hold is not
    /// kept.
    fn add_sig(&mut self, name: &[u8], rdata: &[u8]) {
        let added = self.edit_sigs(name, rdata, |sigs| {
            (!sigs.iter().any(|s| **s == *rdata)).then(|| sigs.push(rdata.into()))
        });
        if added {
            self.record_count += 1;
        }
    }

    fn remove_sig(&mut self, name: &[u8], rdata: &[u8]) {
        let removed = self.edit_sigs(name, rdata, |sigs| {
            let before = sigs.len();
            sigs.retain(|s| **s != *rdata);
            (sigs.len() < before).then_some(())
        });
        if removed {
            self.record_count -= 1;
        }
    }

    /// Edit the signatures of the set an RRSIG covers, wherever that set is kept (the SOA's
    /// node, the NSEC3 table, the names). Whether `edit` changed a set counted in
    /// `record_count` (the SOA's signatures are counted apart).
    fn edit_sigs(
        &mut self,
        name: &[u8],
        rrsig: &[u8],
        edit: impl FnOnce(&mut Vec<Box<[u8]>>) -> Option<()>,
    ) -> bool {
        let Some(covered) = covered_code(rrsig) else {
            return false;
        };
        let edit = |n: &mut NodeBuf| edit(&mut n.set_mut(covered)?.sigs);
        if covered == u16::from(RecordType::SOA) && name == &*self.origin_key {
            let mut soa = NodeBuf::decode(Node::new(&self.soa));
            if edit(&mut soa).is_some() {
                self.soa = soa.encode().into_boxed_slice();
            }
            return false;
        }
        let table = if covered == u16::from(RecordType::NSEC3) {
            &mut self.nsec3
        } else {
            &mut self.nodes
        };
        Self::edit_node(table, name, edit).is_some()
    }

    /// An NSEC3 record (one per owner) replaces any other at its hash.
    fn add_nsec3(&mut self, name: &[u8], ttl: u32, rdata: &[u8]) {
        let Some(hash) = nsec3_owner_hash(name, &self.origin_key) else {
            return;
        };
        if let Some(old) = self.nsec3.get(name) {
            self.record_count -= old.sets().map(|s| s.len() + s.sig_count()).sum::<usize>();
        }
        let mut node = NodeBuf::empty(name);
        node.add(u16::from(RecordType::NSEC3), ttl, rdata);
        self.nsec3.insert(&node.encode());
        self.nsec3_order.insert(hash);
        self.record_count += 1;
    }

    fn remove_nsec3(&mut self, name: &[u8], rdata: &[u8]) {
        let Some(hash) = nsec3_owner_hash(name, &self.origin_key) else {
            return;
        };
        let Some(set) = self
            .nsec3
            .get(name)
            .and_then(|n| n.get(RecordType::NSEC3))
            .filter(|s| s.contains(rdata))
        else {
            return;
        };
        self.record_count -= set.len() + set.sig_count();
        self.nsec3.remove(name);
        self.nsec3_order.remove(&hash);
    }

    fn remove(&mut self, record: &Record) {
        let rtype = record.record_type();
        let name = name_key::key_of(&record.name);
        let Some(rdata) = node::rdata_of(record) else {
            return;
        };
        match rtype {
            RecordType::RRSIG => return self.remove_sig(&name, &rdata),
            RecordType::NSEC3 => return self.remove_nsec3(&name, &rdata),
            _ => {}
        }
        let code = u16::from(rtype);
        let mut set_gone = false;
        let removed = Self::edit_node(&mut self.nodes, &name, |n| {
            let sigs = n.remove(code, &rdata)?;
            set_gone = n.set_mut(code).is_none();
            Some(sigs)
        });
        let Some(sigs_dropped) = removed else {
            return;
        };
        self.record_count -= 1 + sigs_dropped;
        if set_gone {
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
        if self.nodes.contains(key) {
            return;
        }
        let Some(parent) = name_key::parent(key) else {
            return;
        };
        self.ensure_node(parent);
        Self::edit_node(&mut self.nodes, parent, |p| {
            p.children += 1;
            Some(())
        });
        self.nodes.insert(&NodeBuf::empty(key).encode());
    }

    /// Remove `key` and then its ancestors while they hold nothing.
    fn prune(&mut self, key: &[u8]) {
        let mut k = key;
        while k.len() > self.origin_key.len() {
            match self.nodes.get(k) {
                Some(n) if n.is_empty() && n.children() == 0 => {}
                _ => return,
            }
            self.nodes.remove(k);
            let Some(parent) = name_key::parent(k) else {
                return;
            };
            k = parent;
            Self::edit_node(&mut self.nodes, k, |p| {
                p.children = p.children.saturating_sub(1);
                Some(())
            });
        }
    }

    /// Answer a query for a name inside this zone (RFC 1034 §4.3.2, with RFC 2308 negative
    /// answers, RFC 8020 empty non-terminals, RFC 8482 minimal ANY), by the name's key
    /// (lower-cased wire form, see [`name_key`]). With `dnssec` (the query's DO bit), a signed
    /// zone's answer carries its signatures and proofs of denial (RFC 4035 §3.1, RFC 5155
    /// §7.2). A set synthesized from a wildcard is owned by `key`: the answer borrows it.
    pub fn lookup<'a>(&'a self, key: &'a [u8], qtype: RecordType, dnssec: bool) -> Answer<'a> {
        let mut answer = Answer::new();
        answer.dnssec = dnssec && self.is_signed();
        let mut step = self.lookup_step(key, qtype, &mut answer);
        for _ in 1..MAX_CNAME_CHAIN {
            let Step::FollowCname(target) = step else {
                break;
            };
            if !name_key::is_within(target, &self.origin_key) {
                break;
            }
            step = self.lookup_step(target, qtype, &mut answer);
        }
        answer
    }

    fn lookup_step<'a>(
        &'a self,
        key: &'a [u8],
        qtype: RecordType,
        answer: &mut Answer<'a>,
    ) -> Step<'a> {
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

        // When the answer comes from a wildcard: the closest encloser and the wildcard's key.
        let mut wildcard: Option<(&'a [u8], &'a [u8])> = None;
        let node = match self.nodes.get(key) {
            Some(node) => node,
            None => {
                let encloser = self.closest_encloser(key);
                let wild_key = name_key::wildcard_of(encloser);
                match self.nodes.get(&wild_key).filter(|n| !n.is_empty()) {
                    Some(wild) => {
                        wildcard = Some((encloser, wild.key()));
                        wild
                    }
                    None => {
                        answer.rcode = ResponseCode::NXDomain;
                        answer.authorities.extend(self.negative_soa());
                        if answer.dnssec {
                            self.deny_name(encloser, key, answer);
                        }
                        return Step::Done;
                    }
                }
            }
        };
        // A wildcard's sets are answered as the name asked's (their signatures keep their
        // label count, which tells a validator they were expanded).
        let own = |set: RRset<'a>| match wildcard {
            Some(_) => set.with_owner(key),
            None => set,
        };

        if key == &*self.origin_key && matches!(qtype, RecordType::SOA | RecordType::ANY) {
            answer.answers.extend(self.soa_set());
            return Step::Done;
        }
        if let Some(cname) = node.get(RecordType::CNAME)
            && qtype != RecordType::CNAME
        {
            answer.answers.push(own(cname));
            if answer.dnssec
                && let Some((encloser, _)) = wildcard
            {
                self.prove_expansion(encloser, key, answer);
            }
            if qtype == RecordType::ANY {
                return Step::Done;
            }
            return match cname.rdatas().next().and_then(|t| self.target_key(t)) {
                // A loop back to a name already in the chain stops here.
                Some(target) if !answer.answers.iter().any(|s| s.owner() == target) => {
                    Step::FollowCname(target)
                }
                _ => Step::Done,
            };
        }
        let found = if qtype == RecordType::ANY {
            // RFC 8482: one set; the lowest type, so the choice does not depend on history.
            node.sets().min_by_key(|s| s.type_code())
        } else {
            node.get(qtype)
        };
        match found {
            Some(set) => {
                answer.answers.push(own(set));
                self.add_addresses_for(set, answer, |_| true);
                if answer.dnssec
                    && let Some((encloser, _)) = wildcard
                {
                    self.prove_expansion(encloser, key, answer);
                }
            }
            None => {
                answer.authorities.extend(self.negative_soa());
                if answer.dnssec {
                    match wildcard {
                        Some((encloser, wild_key)) => {
                            self.prove_expansion(encloser, key, answer);
                            self.deny_type(wild_key, answer);
                            if !self.nsec3_order.is_empty() {
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

    /// The key of a name in record data (a CNAME's target, a server's name), borrowed from the
    /// view: the data itself when it is lower-case (as the zone parser leaves names), else the
    /// key of the node of that name. `None` for a name the zone does not hold in another case.
    fn target_key<'a>(&'a self, name: &'a [u8]) -> Option<&'a [u8]> {
        if !name.iter().any(u8::is_ascii_uppercase) {
            return Some(name);
        }
        self.nodes.get(&name.to_ascii_lowercase()).map(|n| n.key())
    }

    /// The closest encloser of a name that does not exist (RFC 4592): its nearest ancestor
    /// that does, the apex at the latest. The source of synthesis is `*.` that name.
    fn closest_encloser<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        let mut encloser = key;
        while let Some(parent) = name_key::parent(encloser) {
            encloser = parent;
            if self.nodes.contains(encloser) || encloser.len() <= self.origin_key.len() {
                break;
            }
        }
        encloser
    }

    /// The NSEC3 set whose owner is the hash of this name.
    fn nsec3_matching(&self, key: &[u8]) -> Option<RRset<'_>> {
        self.nsec3_at(&self.nsec3_hash(key))
    }

    /// The NSEC3 set whose owner hash comes last at or before this name's hash, wrapping
    /// around: the one that covers a name that does not exist.
    fn nsec3_covering(&self, key: &[u8]) -> Option<RRset<'_>> {
        use std::ops::Bound::{Included, Unbounded};
        let hash = self.nsec3_hash(key);
        let at = self
            .nsec3_order
            .range((Unbounded, Included(hash)))
            .next_back()
            .or_else(|| self.nsec3_order.iter().next_back())?;
        self.nsec3_at(at)
    }

    /// The NSEC set of the name at or before this one in canonical order, wrapping around.
    fn nsec_covering(&self, key: &[u8]) -> Option<RRset<'_>> {
        use std::ops::Bound::{Included, Unbounded};
        let c = name_key::canonical(key);
        let (_, owner) = self
            .nsec
            .range::<_, [u8]>((Unbounded, Included(&*c)))
            .next_back()
            .or_else(|| self.nsec.iter().next_back())?;
        self.nodes.get(owner)?.get(RecordType::NSEC)
    }

    /// NXDOMAIN's proof: the closest encloser exists, the next closer name does not, and no
    /// wildcard could have answered (RFC 5155 §7.2.2; RFC 4035 §3.1.3.2 with NSEC).
    fn deny_name<'a>(&'a self, encloser: &[u8], key: &[u8], answer: &mut Answer<'a>) {
        let wild = name_key::wildcard_of(encloser);
        if !self.nsec3_order.is_empty() {
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
    fn deny_type<'a>(&'a self, key: &[u8], answer: &mut Answer<'a>) {
        if !self.nsec3_order.is_empty() {
            answer.add_proof(self.nsec3_matching(key));
        } else if !self.nsec.is_empty() {
            let own = self.nodes.get(key).and_then(|n| n.get(RecordType::NSEC));
            answer.add_proof(own.or_else(|| self.nsec_covering(key)));
        }
    }

    /// A wildcard expansion's proof that the name asked does not exist itself (RFC 5155
    /// §7.2.6; RFC 4035 §3.1.3.3).
    fn prove_expansion<'a>(&'a self, encloser: &[u8], key: &[u8], answer: &mut Answer<'a>) {
        if !self.nsec3_order.is_empty() {
            answer.add_proof(self.nsec3_covering(name_key::next_closer(key, encloser)));
        } else if !self.nsec.is_empty() {
            answer.add_proof(self.nsec_covering(key));
        }
    }

    /// The cut's NS in authority and their addresses in additional; AA is cleared only when
    /// the referral is the whole answer (no CNAME of ours before it).
    fn referral<'a>(&'a self, cut: &[u8], answer: &mut Answer<'a>) {
        if answer.answers.is_empty() {
            answer.authoritative = false;
        }
        let Some(node) = self.nodes.get(cut) else {
            return;
        };
        if let Some(ns) = node.get(RecordType::NS) {
            answer.authorities.push(ns);
            // A signed referral carries the DS (signed), or the proof that there is none: the
            // delegation is insecure (RFC 4035 §3.1.4, RFC 5155 §7.2.7).
            if answer.dnssec {
                match node.get(RecordType::DS) {
                    Some(ds) => answer.authorities.push(ds),
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
    fn add_addresses_for<'a>(
        &'a self,
        set: RRset<'a>,
        answer: &mut Answer<'a>,
        wanted: impl Fn(&[u8]) -> bool,
    ) {
        // Where the target name starts in each type's data.
        let skip = match set.rtype() {
            RecordType::NS => 0,
            RecordType::MX => 2,
            RecordType::SRV => 6,
            _ => return,
        };
        for rdata in set.rdatas() {
            let Some(target) = rdata.get(skip..).and_then(|t| self.target_key(t)) else {
                continue;
            };
            if !name_key::is_within(target, &self.origin_key) || !wanted(target) {
                continue;
            }
            if let Some(node) = self.nodes.get(target) {
                for rtype in [RecordType::A, RecordType::AAAA] {
                    if let Some(addrs) = node.get(rtype)
                        && !answer.additionals.iter().any(|s| s.same(&addrs))
                    {
                        answer.additionals.push(addrs);
                    }
                }
            }
        }
    }
}

enum Step<'a> {
    Done,
    FollowCname(&'a [u8]),
}

/// Collects a whole zone's records by name, then stores each node once.
struct Builder<'o> {
    origin_key: &'o [u8],
    nodes: HashMap<Key, NodeBuf>,
    nsec3: HashMap<Key, NodeBuf>,
    soa: Option<(NodeBuf, u32)>,
}

impl Builder<'_> {
    fn add(&mut self, record: &Record) {
        let rtype = record.record_type();
        if rtype == RecordType::SOA {
            if let Some(soa) = soa_node(self.origin_key, record) {
                self.soa = Some(soa);
            }
            return;
        }
        let key = name_key::key_of(&record.name);
        if !name_key::is_within(&key, self.origin_key) {
            return;
        }
        let Some(rdata) = node::rdata_of(record) else {
            return;
        };
        let code = u16::from(rtype);
        match rtype {
            RecordType::RRSIG => {
                let Some(covered) = covered_code(&rdata) else {
                    return;
                };
                let node = if covered == u16::from(RecordType::SOA) && *key == *self.origin_key {
                    self.soa.as_mut().map(|(n, _)| n)
                } else if covered == u16::from(RecordType::NSEC3) {
                    self.nsec3.get_mut(&key)
                } else {
                    self.nodes.get_mut(&key)
                };
                if let Some(set) = node.and_then(|n| n.set_mut(covered))
                    && !set.sigs.iter().any(|s| **s == *rdata)
                {
                    set.sigs.push(rdata.into());
                }
            }
            RecordType::NSEC3 => {
                if nsec3_owner_hash(&key, self.origin_key).is_some() {
                    let mut node = NodeBuf::empty(&key);
                    node.add(code, record.ttl, &rdata);
                    self.nsec3.insert(key, node);
                }
            }
            _ => {
                self.nodes
                    .entry(key)
                    .or_insert_with_key(|key| NodeBuf::empty(key))
                    .add(code, record.ttl, &rdata);
            }
        }
    }

    fn finish(mut self, origin: LowerName) -> ZoneView {
        // Every ancestor of a name down from the apex is a node, counting its children. The
        // names are only borrowed: a large zone's names share few parents, which alone are
        // copied.
        let mut children: HashMap<Key, u32> = HashMap::new();
        for key in self.nodes.keys() {
            let mut k: &[u8] = key;
            while k.len() > self.origin_key.len() {
                let Some(parent) = name_key::parent(k) else {
                    break;
                };
                let new_parent = !self.nodes.contains_key(parent) && !children.contains_key(parent);
                *children.entry(parent.into()).or_insert(0) += 1;
                if !new_parent {
                    break;
                }
                k = parent;
            }
        }
        for (parent, count) in children {
            self.nodes
                .entry(parent)
                .or_insert_with_key(|key| NodeBuf::empty(key))
                .children += count;
        }
        let origin_key: Key = self.origin_key.into();
        let soa = self
            .soa
            .take()
            .map(|(soa, _)| soa)
            .unwrap_or_else(|| NodeBuf::empty(&origin_key));
        // Encoded one after another into one buffer, then copied into the table's pages.
        let encode_all = |nodes: &HashMap<Key, NodeBuf>| {
            let mut buf = Vec::new();
            let mut ends = Vec::with_capacity(nodes.len());
            for node in nodes.values() {
                node.encode_into(&mut buf);
                ends.push(buf.len());
            }
            (buf, ends)
        };
        let nodes = encode_all(&self.nodes);
        drop(std::mem::take(&mut self.nodes));
        let nsec3 = encode_all(&self.nsec3);
        ZoneView::from_nodes(
            origin,
            origin_key,
            &soa.encode(),
            node_slices(&nodes.0, &nodes.1).into_iter(),
            node_slices(&nsec3.0, &nsec3.1).into_iter(),
        )
    }
}

/// One record of an unsigned zone on its way into a node (see [`unsigned_view`]): where its
/// owner's key and its data lie in the two buffers, and the order it came in.
struct Plain {
    hash: u64,
    key: (u32, u8),
    code: u16,
    ttl: u32,
    data: (u32, u16),
    order: u32,
}

/// The view of a zone without DNSSEC records (`None` for one with RRSIG, NSEC3 or an SOA among
/// its records, which [`Builder`] handles), built without a buffer per name, set or record:
/// every owner's key and every record's data are appended to one buffer each, the records are
/// sorted by their owner's hash, key, type and order, and each name's node is encoded from
/// its run. A first import of 100,000 names spent most of the view's time in the allocator.
/// The sets and records come out as [`Builder`] makes them: a duplicate is dropped, a set takes
/// the TTL of its last record.
fn unsigned_view(content: &ZoneContent, origin_key: &[u8]) -> Option<ZoneView> {
    use std::hash::BuildHasher as _;
    let special = [RecordType::SOA, RecordType::RRSIG, RecordType::NSEC3];
    if content
        .records
        .iter()
        .any(|r| special.contains(&r.record_type()))
    {
        return None;
    }
    let hasher = foldhash::fast::FixedState::with_seed(0x7261_6e61_6821);
    let mut keys: Vec<u8> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut plain: Vec<Plain> = Vec::with_capacity(content.records.len());
    let mut key = Vec::new();
    for (order, record) in content.records.iter().enumerate() {
        name_key::write_key(&record.name, &mut key);
        if !name_key::is_within(&key, origin_key) {
            continue;
        }
        let Some(rdata) = node::rdata_of(record) else {
            continue;
        };
        let (Ok(key_at), Ok(data_at), Ok(key_len), Ok(data_len), Ok(order)) = (
            u32::try_from(keys.len()),
            u32::try_from(data.len()),
            u8::try_from(key.len()),
            u16::try_from(rdata.len()),
            u32::try_from(order),
        ) else {
            // Beyond 4 GiB of names or data: the general builder.
            return None;
        };
        plain.push(Plain {
            hash: hasher.hash_one(&key[..]),
            key: (key_at, key_len),
            code: u16::from(record.record_type()),
            ttl: record.ttl,
            data: (data_at, data_len),
            order,
        });
        keys.extend_from_slice(&key);
        data.extend_from_slice(&rdata);
    }
    let key_of = |p: &Plain| &keys[p.key.0 as usize..p.key.0 as usize + usize::from(p.key.1)];
    let data_of = |p: &Plain| &data[p.data.0 as usize..p.data.0 as usize + usize::from(p.data.1)];
    plain.sort_unstable_by(|a, b| {
        a.hash
            .cmp(&b.hash)
            .then_with(|| key_of(a).cmp(key_of(b)))
            .then(a.code.cmp(&b.code))
            .then(a.order.cmp(&b.order))
    });

    // Each name's node, encoded with no children yet; `named` maps its key to its place.
    let mut out: Vec<u8> = Vec::with_capacity(keys.len() + data.len() + 16 * plain.len());
    let mut starts: Vec<usize> = Vec::new();
    let mut named: HashMap<&[u8], usize, foldhash::fast::FixedState> =
        HashMap::with_capacity_and_hasher(plain.len(), hasher.clone());
    let mut records: Vec<&[u8]> = Vec::new();
    for run in plain.chunk_by(|a, b| a.hash == b.hash && key_of(a) == key_of(b)) {
        let key = key_of(&run[0]);
        named.insert(key, starts.len());
        starts.push(out.len());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.push(run[0].key.1);
        out.extend_from_slice(key);
        for set in run.chunk_by(|a, b| a.code == b.code) {
            records.clear();
            let mut ttl = set[0].ttl;
            for p in set {
                let d = data_of(p);
                if !records.contains(&d) {
                    records.push(d);
                    ttl = p.ttl;
                }
            }
            let len: usize = records.iter().map(|d| 2 + d.len()).sum();
            out.extend_from_slice(&set[0].code.to_le_bytes());
            out.extend_from_slice(&ttl.to_le_bytes());
            out.extend_from_slice(&(records.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&(len as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            for d in &records {
                out.extend_from_slice(&(d.len() as u16).to_le_bytes());
                out.extend_from_slice(d);
            }
        }
    }
    starts.push(out.len());

    // Children: each name counts in its parent; a parent without records of its own (an
    // empty non-terminal, or the apex) becomes a node, and counts in its own parent.
    let mut children = vec![0u32; named.len()];
    let mut empty: HashMap<&[u8], u32, foldhash::fast::FixedState> = HashMap::with_hasher(hasher);
    for &name in named.keys() {
        let mut k = name;
        while k.len() > origin_key.len() {
            let Some(parent) = name_key::parent(k) else {
                break;
            };
            if let Some(&at) = named.get(parent) {
                children[at] += 1;
                break;
            }
            let count = empty.entry(parent).or_insert(0);
            *count += 1;
            if *count > 1 {
                break;
            }
            k = parent;
        }
    }
    for (at, count) in children.iter().enumerate() {
        out[starts[at]..starts[at] + 4].copy_from_slice(&count.to_le_bytes());
    }
    let mut empties: Vec<Vec<u8>> = Vec::with_capacity(empty.len());
    for (key, count) in &empty {
        let mut node = NodeBuf::empty(key);
        node.children = *count;
        empties.push(node.encode());
    }
    let soa = soa_node(origin_key, &content.soa)
        .map(|(soa, _)| soa)
        .unwrap_or_else(|| NodeBuf::empty(origin_key));
    let nodes: Vec<&[u8]> = starts
        .windows(2)
        .map(|w| &out[w[0]..w[1]])
        .chain(empties.iter().map(Vec::as_slice))
        .collect();
    Some(ZoneView::from_nodes(
        LowerName::new(&content.origin),
        origin_key.into(),
        &soa.encode(),
        nodes.into_iter(),
        std::iter::empty::<&[u8]>(),
    ))
}

/// The nodes `Builder::finish` encoded one after another into `buf`, each ending at its end.
fn node_slices<'b>(buf: &'b [u8], ends: &[usize]) -> Vec<&'b [u8]> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let node = &buf[start..end];
            start = end;
            node
        })
        .collect()
}

/// The start of a snapshot ([`ZoneView::snapshot`]), and its format's version.
const SNAPSHOT_MAGIC: &[u8; 8] = b"ranah\x00v\x01";

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the zone snapshot is unreadable ({0})")]
pub struct SnapshotError(&'static str);

impl ZoneView {
    /// A view of stored nodes: the SOA's node, the names' nodes (every ancestor included, with
    /// their counts of children) and the NSEC3 records' nodes. The indexes (delegation points,
    /// the NSEC and NSEC3 orders, the NSEC3 parameters, the record count) are derived here.
    fn from_nodes<'n>(
        origin: LowerName,
        origin_key: Key,
        soa: &[u8],
        nodes: impl ExactSizeIterator<Item = &'n [u8]>,
        nsec3: impl ExactSizeIterator<Item = &'n [u8]>,
    ) -> ZoneView {
        let soa_set = Node::new(soa).get(RecordType::SOA);
        let negative_ttl = soa_set
            .and_then(|s| Some((s.ttl(), s.rdatas().next().and_then(soa_minimum)?)))
            .map_or(0, |(ttl, minimum)| ttl.min(minimum));
        let mut view = ZoneView {
            origin,
            origin_key: origin_key.clone(),
            soa: soa.into(),
            negative_ttl,
            nodes: NameTable::with_capacity(nodes.len()),
            cuts: KeySet::default(),
            nsec3: NameTable::with_capacity(nsec3.len()),
            nsec3_order: imbl::OrdSet::new(),
            nsec: NsecMap::default(),
            nsec3_salt: Box::default(),
            nsec3_iterations: 0,
            record_count: 0,
            answers: Arc::default(),
            stored: true,
        };
        let count = |n: &Node<'_>| n.sets().map(|s| s.len() + s.sig_count()).sum::<usize>();
        for blob in nodes {
            let node = Node::new(blob);
            let key = node.key();
            view.record_count += count(&node);
            for set in node.sets() {
                match set.rtype() {
                    RecordType::NS if key != &*origin_key => {
                        view.cuts.insert(key.into());
                    }
                    RecordType::NSEC => {
                        view.nsec.insert(name_key::canonical(key), key.into());
                    }
                    _ => {}
                }
            }
            view.nodes.insert(blob);
        }
        for blob in nsec3 {
            let node = Node::new(blob);
            view.record_count += count(&node);
            if let Some(hash) = nsec3_owner_hash(node.key(), &origin_key) {
                view.nsec3_order.insert(hash);
            }
            view.nsec3.insert(blob);
        }
        if !view.nodes.contains(&origin_key) {
            view.nodes.insert(&NodeBuf::empty(&origin_key).encode());
        }
        let param = view
            .nodes
            .get(&origin_key)
            .and_then(|n| n.get(RecordType::NSEC3PARAM))
            .and_then(|s| s.records().into_iter().next());
        if let Some(param) = param {
            view.nsec3_params(&param);
        }
        view
    }

    /// The whole view as bytes, to be stored beside the records so that a restart reads one
    /// value instead of decoding every record ([`ZoneView::from_snapshot`]).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.heap_bytes() + 64);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        let mut put = |blob: &[u8]| {
            out.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            out.extend_from_slice(blob);
        };
        put(&self.origin_key);
        put(&self.soa);
        let nodes: Vec<Node<'_>> = self.nodes.nodes().collect();
        let nsec3: Vec<Node<'_>> = self.nsec3.nodes().collect();
        for list in [&nodes, &nsec3] {
            put(&(list.len() as u32).to_le_bytes());
            for node in list {
                put(node.bytes());
            }
        }
        out
    }

    /// A view from [`ZoneView::snapshot`]'s bytes, for the zone `origin`.
    pub fn from_snapshot(
        origin: &hickory_proto::rr::Name,
        bytes: &[u8],
    ) -> Result<Self, SnapshotError> {
        let mut rest = bytes
            .strip_prefix(&SNAPSHOT_MAGIC[..])
            .ok_or(SnapshotError("not a snapshot of this version"))?;
        let mut take = || -> Result<&[u8], SnapshotError> {
            let len = rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or(SnapshotError("cut short"))? as usize;
            let blob = rest.get(4..4 + len).ok_or(SnapshotError("cut short"))?;
            rest = &rest[4 + len..];
            Ok(blob)
        };
        let origin_key = name_key::key_of(origin);
        if take()? != &*origin_key {
            return Err(SnapshotError("of another zone"));
        }
        let soa = take()?;
        let mut lists: [Vec<&[u8]>; 2] = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let count = take()?
                .try_into()
                .map(u32::from_le_bytes)
                .map_err(|_| SnapshotError("bad count"))? as usize;
            list.reserve(count.min(bytes.len() / 8));
            for _ in 0..count {
                list.push(take()?);
            }
        }
        let [nodes, nsec3] = lists;
        if !rest.is_empty() {
            return Err(SnapshotError("bytes after the end"));
        }
        Ok(Self::from_nodes(
            LowerName::new(origin),
            origin_key,
            soa,
            nodes.into_iter(),
            nsec3.into_iter(),
        ))
    }
}

fn is_rrsig(record: &Record) -> bool {
    record.record_type() == RecordType::RRSIG
}

/// The type an RRSIG record covers.
pub fn covered_type(record: &Record) -> Option<RecordType> {
    use hickory_proto::dnssec::rdata::DNSSECRData;
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.input().type_covered),
        _ => None,
    }
}

/// The hash an NSEC3 owner name carries (its first label, base32hex), if the name is one
/// label below the apex and the label decodes to a SHA-1 hash.
fn nsec3_owner_hash(name: &[u8], origin: &[u8]) -> Option<Nsec3Hash> {
    if name_key::parent(name)? != origin {
        return None;
    }
    let label = name_key::first_label(name)?;
    let hash = data_encoding::BASE32HEX_NOPAD
        .decode(&label.to_ascii_uppercase())
        .ok()?;
    hash.try_into().ok()
}

/// The SOA's node (the apex holding the SOA set alone) and the TTL of negative answers: the
/// lesser of the SOA's TTL and its MINIMUM field (RFC 2308).
fn soa_node(origin_key: &[u8], soa: &Record) -> Option<(NodeBuf, u32)> {
    let minimum = match &soa.data {
        RData::SOA(SOA { minimum, .. }) => *minimum,
        _ => soa.ttl,
    };
    let rdata = node::rdata_of(soa)?;
    let mut node = NodeBuf::empty(origin_key);
    node.add(u16::from(RecordType::SOA), soa.ttl, &rdata);
    Some((node, soa.ttl.min(minimum)))
}

/// The MINIMUM in an SOA's wire data: its last 32-bit field.
fn soa_minimum(rdata: &[u8]) -> Option<u32> {
    let at = rdata.len().checked_sub(4)?;
    Some(u32::from_be_bytes(rdata.get(at..)?.try_into().ok()?))
}

/// The serial in an SOA's wire data: after two names, the first 32-bit field.
fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let mut at = 0;
    for _ in 0..2 {
        loop {
            let len = usize::from(*rdata.get(at)?);
            at += 1 + len;
            if len == 0 {
                break;
            }
        }
    }
    Some(u32::from_be_bytes(rdata.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests;
