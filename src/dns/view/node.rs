//! One name of a zone in its stored form: a single byte string holding the name's key, its
//! number of children, and every record set at the name in wire form (with the signatures that
//! cover each set).
//!
//! Why bytes and not decoded records: a decoded record (owner name, type, class, TTL and an
//! `RData` enum) takes about 280 bytes however small its data; an A record is 4 bytes of data.
//! Kept this way a name with one address takes about 50 bytes, answers are written by copying
//! its data (see [`super::super::message`]), and records are decoded only where something
//! needs them whole (signing, exports, the API).
//!
//! Layout (integers little-endian, except inside record data, which is wire form):
//!
//! ```text
//! node := children:u32 key_len:u8 key sets*
//! set  := type:u16 ttl:u32 count:u16 sig_count:u16 records_len:u32 sigs_len:u32
//!         (len:u16 data){count} (len:u16 data){sig_count}
//! ```
//!
//! Record data is uncompressed wire form, names lower-cased as the zone parser leaves them; the
//! data of one set are unique (a record's identity within its set is its data).

use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::super::name_key;

/// Bytes of a set's header.
const SET_HEADER: usize = 18;

/// One name's node, read from its stored bytes.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    blob: &'a [u8],
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("key", &self.key())
            .field("children", &self.children())
            .field("types", &self.sets().map(|s| s.rtype()).collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> Node<'a> {
    /// Read a node from bytes written by [`NodeBuf::encode`].
    pub(super) fn new(blob: &'a [u8]) -> Self {
        Self { blob }
    }

    /// The stored bytes.
    pub(super) fn bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// The name's lookup key.
    pub fn key(&self) -> &'a [u8] {
        let len = usize::from(self.blob.get(4).copied().unwrap_or(0));
        self.blob.get(5..5 + len).unwrap_or(&[])
    }

    /// Number of direct child names.
    pub fn children(&self) -> u32 {
        self.blob
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }

    fn sets_bytes(&self) -> &'a [u8] {
        let len = usize::from(self.blob.get(4).copied().unwrap_or(0));
        self.blob.get(5 + len..).unwrap_or(&[])
    }

    /// The record sets at the name, in the order they were added.
    pub fn sets(&self) -> Sets<'a> {
        Sets {
            owner: self.key(),
            rest: self.sets_bytes(),
        }
    }

    /// Whether the name holds no records (an empty non-terminal).
    pub fn is_empty(&self) -> bool {
        self.sets_bytes().is_empty()
    }

    /// The set of this type, if any.
    pub fn get(&self, rtype: RecordType) -> Option<RRset<'a>> {
        let code = u16::from(rtype);
        self.sets().find(|s| s.code == code)
    }
}

/// The sets of a node.
#[derive(Clone)]
pub struct Sets<'a> {
    owner: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Iterator for Sets<'a> {
    type Item = RRset<'a>;

    fn next(&mut self) -> Option<RRset<'a>> {
        let h = self.rest.get(..SET_HEADER)?;
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let records_len = u32_at(10) as usize;
        let sigs_len = u32_at(14) as usize;
        let body = self
            .rest
            .get(SET_HEADER..SET_HEADER + records_len + sigs_len)?;
        let set = RRset {
            owner: self.owner,
            code: u16_at(0),
            ttl: u32_at(2),
            count: u16_at(6),
            sig_count: u16_at(8),
            records: &body[..records_len],
            sigs: &body[records_len..],
        };
        self.rest = &self.rest[SET_HEADER + records_len + sigs_len..];
        Some(set)
    }
}

/// The records of one owner name and type, sharing one TTL, with the RRSIG records that cover
/// them: a view of stored bytes.
#[derive(Clone, Copy)]
pub struct RRset<'a> {
    owner: &'a [u8],
    code: u16,
    ttl: u32,
    count: u16,
    sig_count: u16,
    records: &'a [u8],
    sigs: &'a [u8],
}

impl std::fmt::Debug for RRset<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RRset")
            .field("owner", &name_key::to_name(self.owner))
            .field("type", &self.rtype())
            .field("ttl", &self.ttl)
            .field("count", &self.count)
            .field("sig_count", &self.sig_count)
            .finish()
    }
}

impl PartialEq for RRset<'_> {
    /// The same set: owner, type, TTL, records and signatures.
    fn eq(&self, other: &Self) -> bool {
        self.owner == other.owner
            && self.code == other.code
            && self.ttl == other.ttl
            && self.records == other.records
            && self.sigs == other.sigs
    }
}

impl<'a> RRset<'a> {
    /// The owner's lookup key.
    pub fn owner(&self) -> &'a [u8] {
        self.owner
    }

    /// The owner's name.
    pub fn owner_name(&self) -> Name {
        name_key::to_name(self.owner).unwrap_or_else(Name::root)
    }

    /// Type of every record in the set.
    pub fn rtype(&self) -> RecordType {
        RecordType::from(self.code)
    }

    /// The type's code.
    pub fn type_code(&self) -> u16 {
        self.code
    }

    /// The set's TTL.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the set has no records (never, for a stored set).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of signatures.
    pub fn sig_count(&self) -> usize {
        usize::from(self.sig_count)
    }

    /// The wire form of each record's data.
    pub fn rdatas(&self) -> Rdatas<'a> {
        Rdatas(self.records)
    }

    /// The wire form of each signature's data (RRSIG).
    pub fn sig_rdatas(&self) -> Rdatas<'a> {
        Rdatas(self.sigs)
    }

    /// The same set answered under another owner (a wildcard's, for the name asked).
    pub fn with_owner(self, owner: &'a [u8]) -> Self {
        Self { owner, ..self }
    }

    /// The same set with another TTL (the SOA of a negative answer, RFC 2308).
    pub fn with_ttl(self, ttl: u32) -> Self {
        Self { ttl, ..self }
    }

    /// The records, decoded (data that does not decode is left out: it was written by us).
    pub fn records(&self) -> Vec<Record> {
        self.decode(self.rtype(), self.rdatas())
    }

    /// The signatures, decoded.
    pub fn sigs(&self) -> Vec<Record> {
        self.decode(RecordType::RRSIG, self.sig_rdatas())
    }

    /// Whether the set holds a record with exactly this data (wire form).
    pub fn contains(&self, rdata: &[u8]) -> bool {
        self.rdatas().any(|d| d == rdata)
    }

    fn decode(&self, rtype: RecordType, rdatas: Rdatas<'_>) -> Vec<Record> {
        let owner = self.owner_name();
        rdatas
            .filter_map(|wire| crate::zone::file::rdata_from_wire(rtype, wire).ok())
            .map(|data| Record::from_rdata(owner.clone(), self.ttl, data))
            .collect()
    }
}

/// The data of each record of a set, in wire form.
#[derive(Clone)]
pub struct Rdatas<'a>(&'a [u8]);

impl<'a> Iterator for Rdatas<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(u16::from_le_bytes([*self.0.first()?, *self.0.get(1)?]));
        let data = self.0.get(2..2 + len)?;
        self.0 = &self.0[2 + len..];
        Some(data)
    }
}

/// A node being edited: decoded into its sets, then encoded again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct NodeBuf {
    pub key: Box<[u8]>,
    pub children: u32,
    pub sets: Vec<SetBuf>,
}

/// A set being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SetBuf {
    pub code: u16,
    pub ttl: u32,
    pub records: Vec<Box<[u8]>>,
    pub sigs: Vec<Box<[u8]>>,
}

impl NodeBuf {
    /// An empty node for this key.
    pub fn empty(key: &[u8]) -> Self {
        Self {
            key: key.into(),
            children: 0,
            sets: Vec::new(),
        }
    }

    /// Decode a stored node.
    pub fn decode(node: Node<'_>) -> Self {
        Self {
            key: node.key().into(),
            children: node.children(),
            sets: node
                .sets()
                .map(|s| SetBuf {
                    code: s.code,
                    ttl: s.ttl,
                    records: s.rdatas().map(Box::from).collect(),
                    sigs: s.sig_rdatas().map(Box::from).collect(),
                })
                .collect(),
        }
    }

    /// The set of this type, if any.
    pub fn set_mut(&mut self, code: u16) -> Option<&mut SetBuf> {
        self.sets.iter_mut().find(|s| s.code == code)
    }

    /// Add a record: to its set (whose TTL becomes the record's), or as a new set. `false`
    /// when the set already holds that data.
    pub fn add(&mut self, code: u16, ttl: u32, rdata: &[u8]) -> bool {
        match self.set_mut(code) {
            Some(set) => {
                if set.records.iter().any(|r| **r == *rdata) {
                    return false;
                }
                set.ttl = ttl;
                set.records.push(rdata.into());
            }
            None => self.sets.push(SetBuf {
                code,
                ttl,
                records: vec![rdata.into()],
                sigs: Vec::new(),
            }),
        }
        true
    }

    /// Remove a record. Returns whether it was there, and the number of signatures dropped
    /// with its set when it was the set's last record.
    pub fn remove(&mut self, code: u16, rdata: &[u8]) -> Option<usize> {
        let pos = self.sets.iter().position(|s| s.code == code)?;
        let set = &mut self.sets[pos];
        let before = set.records.len();
        set.records.retain(|r| **r != *rdata);
        if set.records.len() == before {
            return None;
        }
        if set.records.is_empty() {
            // The signatures of a set that is gone go with it.
            return Some(self.sets.remove(pos).sigs.len());
        }
        Some(0)
    }

    /// Encode for storage. Sets and records beyond what the format counts (65,535 records of
    /// one set) cannot occur: a zone's set is bounded by its message size.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// [`NodeBuf::encode`], appended to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(&self.children.to_le_bytes());
        out.push(self.key.len() as u8);
        out.extend_from_slice(&self.key);
        for set in &self.sets {
            let len = |v: &[Box<[u8]>]| v.iter().map(|d| 2 + d.len()).sum::<usize>() as u32;
            out.extend_from_slice(&set.code.to_le_bytes());
            out.extend_from_slice(&set.ttl.to_le_bytes());
            out.extend_from_slice(&(set.records.len() as u16).to_le_bytes());
            out.extend_from_slice(&(set.sigs.len() as u16).to_le_bytes());
            out.extend_from_slice(&len(&set.records).to_le_bytes());
            out.extend_from_slice(&len(&set.sigs).to_le_bytes());
            for d in set.records.iter().chain(&set.sigs) {
                out.extend_from_slice(&(d.len() as u16).to_le_bytes());
                out.extend_from_slice(d);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        5 + self.key.len()
            + self
                .sets
                .iter()
                .map(|s| {
                    SET_HEADER
                        + s.records
                            .iter()
                            .chain(&s.sigs)
                            .map(|d| 2 + d.len())
                            .sum::<usize>()
                })
                .sum::<usize>()
    }
}

/// The wire form of a record's data, for storage in a node. `None` for data that cannot be
/// encoded (hickory's own types always can).
pub(super) fn rdata_of(record: &Record) -> Option<Vec<u8>> {
    crate::zone::file::rdata_wire(&record.data).ok()
}

/// The type an RRSIG covers, from its wire data (the first two bytes).
pub fn covered_code(rrsig: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*rrsig.first()?, *rrsig.get(1)?]))
}

/// The expiration of an RRSIG (Unix seconds), from its wire data (RFC 4034 §3.1).
pub fn rrsig_expiration(rrsig: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(rrsig.get(8..12)?.try_into().ok()?))
}

/// The decoded data of a record, for callers that hold only the wire form.
pub fn decode_rdata(rtype: RecordType, wire: &[u8]) -> Option<RData> {
    crate::zone::file::rdata_from_wire(rtype, wire).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_read_edit() {
        let key = b"\x03www\x07example\x00";
        let mut n = NodeBuf::empty(key);
        n.children = 7;
        assert!(n.add(1, 300, &[203, 0, 113, 1]));
        assert!(n.add(1, 600, &[203, 0, 113, 2]));
        assert!(!n.add(1, 600, &[203, 0, 113, 2]));
        assert!(n.add(16, 60, b"\x05hello"));
        n.sets[0].sigs.push(vec![0, 1, 13, 2].into());
        let blob = n.encode();
        let node = Node::new(&blob);
        assert_eq!(node.key(), key);
        assert_eq!(node.children(), 7);
        let a = node.get(RecordType::A).unwrap();
        assert_eq!(a.ttl(), 600);
        assert_eq!(a.len(), 2);
        assert_eq!(a.sig_count(), 1);
        assert_eq!(
            a.rdatas().collect::<Vec<_>>(),
            [&[203, 0, 113, 1][..], &[203, 0, 113, 2][..]]
        );
        assert_eq!(covered_code(a.sig_rdatas().next().unwrap()), Some(1));
        assert_eq!(a.records().len(), 2);
        assert_eq!(a.records()[0].name.to_ascii(), "www.example.");
        let txt = node.get(RecordType::TXT).unwrap();
        assert_eq!(txt.ttl(), 60);
        assert!(node.get(RecordType::AAAA).is_none());
        assert_eq!(NodeBuf::decode(node), n);
        // Removing the last record of a set drops it and its signatures.
        assert_eq!(n.remove(1, &[203, 0, 113, 1]), Some(0));
        assert_eq!(n.remove(1, &[203, 0, 113, 9]), None);
        assert_eq!(n.remove(1, &[203, 0, 113, 2]), Some(1));
        assert_eq!(n.sets.len(), 1);
        // Truncated bytes read as less, never panic.
        for cut in 0..blob.len() {
            let node = Node::new(&blob[..cut]);
            let _ = (node.key(), node.children(), node.sets().count());
            for s in node.sets() {
                let _ = (s.rdatas().count(), s.sig_rdatas().count(), s.records());
            }
        }
    }
}
