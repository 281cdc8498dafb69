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

use std::sync::Arc;

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

/// The records of one owner name and type, sharing one TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// Type of every record in the set.
    pub rtype: RecordType,
    /// The set's TTL.
    pub ttl: u32,
    /// The records (owner name included).
    pub records: Vec<Record>,
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

    /// Iterate the records of a section.
    pub fn records(sets: &[Arc<RRset>]) -> impl Iterator<Item = &Record> + Send {
        sets.iter().flat_map(|s| s.records.iter())
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
            record_count: 0,
            answers: Arc::default(),
        };
        for record in &content.records {
            view.add(record);
        }
        view
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

    /// Number of records, the SOA included.
    pub fn record_count(&self) -> usize {
        self.record_count + 1
    }

    /// Number of owner names (nodes with records).
    pub fn name_count(&self) -> usize {
        self.nodes.values().filter(|n| !n.rrsets.is_empty()).count()
    }

    /// Every RRset except the SOA, in no particular order (for zone transfers).
    pub fn rrsets(&self) -> impl Iterator<Item = &Arc<RRset>> {
        self.nodes.values().flat_map(|n| n.rrsets.iter())
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
        for r in &diff.added {
            self.add(r);
        }
        if let Some(soa) = &diff.soa {
            let (s, n) = soa_sets(soa);
            self.soa = s;
            self.negative_soa = n;
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
            None => node.rrsets.push(Arc::new(RRset {
                rtype,
                ttl: record.ttl,
                records: vec![record.clone()],
            })),
        }
        self.record_count += 1;
        if rtype == RecordType::NS && name != self.origin_key {
            self.cuts.insert(name);
        }
    }

    fn remove(&mut self, record: &Record) {
        let rtype = record.record_type();
        let name = name_key::key_of(&record.name);
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
            node.rrsets.remove(pos);
            if rtype == RecordType::NS {
                self.cuts.remove(&*name);
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
        self.lookup_key(qname, &name_key::key_of(qname), qtype)
    }

    /// [`ZoneView::lookup`] with the name's key already computed.
    pub fn lookup_key(&self, qname: &Name, key: &[u8], qtype: RecordType) -> Answer {
        let mut answer = Answer::new();
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
        let node = match self.nodes.get(key) {
            Some(node) => node,
            None => match self.wildcard_for(key) {
                Some(wild) => {
                    synthesized = Node {
                        rrsets: wild
                            .rrsets
                            .iter()
                            .map(|s| Arc::new(with_owner(s, qname)))
                            .collect(),
                        children: 0,
                    };
                    &synthesized
                }
                None => {
                    answer.rcode = ResponseCode::NXDomain;
                    answer.authorities.push(self.negative_soa.clone());
                    return Step::Done;
                }
            },
        };

        if key == &*self.origin_key && matches!(qtype, RecordType::SOA | RecordType::ANY) {
            answer.answers.push(self.soa.clone());
            return Step::Done;
        }
        if let Some(cname) = node.get(RecordType::CNAME)
            && qtype != RecordType::CNAME
        {
            answer.answers.push(cname.clone());
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
            }
            None => answer.authorities.push(self.negative_soa.clone()),
        }
        Step::Done
    }

    /// The wildcard node that covers a name that does not exist, if any (RFC 4592: the
    /// source of synthesis is `*.` the closest encloser).
    fn wildcard_for(&self, key: &[u8]) -> Option<&Node> {
        let mut encloser = name_key::parent(key)?;
        while !self.nodes.contains_key(encloser) {
            if encloser.len() <= self.origin_key.len() {
                break;
            }
            encloser = name_key::parent(encloser)?;
        }
        self.nodes
            .get(&*name_key::wildcard_of(encloser))
            .filter(|n| !n.rrsets.is_empty())
    }

    /// The cut's NS in authority and their addresses in additional; AA is cleared only when
    /// the referral is the whole answer (no CNAME of ours before it).
    fn referral(&self, cut: &[u8], answer: &mut Answer) {
        if answer.answers.is_empty() {
            answer.authoritative = false;
        }
        if let Some(ns) = self.nodes.get(cut).and_then(|n| n.get(RecordType::NS)) {
            answer.authorities.push(ns.clone());
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

fn with_owner(set: &RRset, owner: &Name) -> RRset {
    let name = owner.clone();
    RRset {
        rtype: set.rtype,
        ttl: set.ttl,
        records: set
            .records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.name = name.clone();
                r
            })
            .collect(),
    }
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
        Arc::new(RRset {
            rtype: RecordType::SOA,
            ttl: soa.ttl,
            records: vec![soa.clone()],
        }),
        Arc::new(RRset {
            rtype: RecordType::SOA,
            ttl: negative.ttl,
            records: vec![negative],
        }),
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
