//! Writing DNS response messages straight from the zone view's stored records.
//!
//! The view keeps record data in wire form (see [`super::view`]), so a response is written by
//! copying it: the header, the question as the client sent it, then whole RRsets with their
//! owner names compressed (RFC 1035 §4.1.4) and the names inside the data of the types RFC
//! 1035 defines compressed too (NS, CNAME, PTR, MX, SOA: RFC 3597 §4 forbids it for any
//! other), and EDNS's OPT last. A set is written whole or not at all: a message that would
//! grow past its limit keeps what it had, and the caller decides about truncation.

use hickory_proto::rr::RecordType;

use super::view::RRset;

/// The four sections of a message, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Answer.
    Answer = 1,
    /// Authority.
    Authority = 2,
    /// Additional.
    Additional = 3,
}

/// Bytes of an OPT record without options.
pub const OPT_LEN: usize = 11;

/// Names remembered for compression; a message with more names (a zone transfer's) compresses
/// against the first ones only.
const MAX_POINTERS: usize = 512;

/// The header fields of a response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    /// The query's ID.
    pub id: u16,
    /// The query's opcode.
    pub opcode: u8,
    /// Authoritative answer.
    pub authoritative: bool,
    /// Truncated.
    pub truncated: bool,
    /// Recursion desired, copied from the query.
    pub recursion_desired: bool,
    /// Checking disabled, copied from the query.
    pub checking_disabled: bool,
    /// The response code (its upper bits go in OPT).
    pub rcode: u16,
}

impl Header {
    fn flags(&self) -> u16 {
        0x8000
            | (u16::from(self.opcode & 0xf) << 11)
            | (u16::from(self.authoritative) << 10)
            | (u16::from(self.truncated) << 9)
            | u16::from(self.recursion_desired) << 8
            | (u16::from(self.checking_disabled) << 4)
            | (self.rcode & 0xf)
    }
}

/// EDNS of a response (RFC 6891): our buffer size, the DO bit copied (RFC 3225).
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The UDP payload size we accept.
    pub size: u16,
    /// DNSSEC OK.
    pub dnssec_ok: bool,
}

/// A response being written into a buffer.
pub struct Writer<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
    /// The most bytes the message may take, room for OPT already set aside.
    limit: usize,
    header: Header,
    opt: Option<Opt>,
    counts: [u16; 4],
    /// (hash of a name's lower-cased tail, its offset in the message) for compression.
    pointers: Vec<(u32, u16)>,
}

/// Where a writer was, to return there when a set does not fit.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    counts: [u16; 4],
    pointers: usize,
}

impl<'b> Writer<'b> {
    /// Start a response at the end of `buf`, at most `limit` bytes long with the OPT record
    /// when there is one.
    pub fn new(buf: &'b mut Vec<u8>, header: Header, opt: Option<Opt>, limit: usize) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0; 12]);
        let reserve = if opt.is_some() { OPT_LEN } else { 0 };
        Self {
            buf,
            start,
            limit: limit.saturating_sub(reserve),
            header,
            opt,
            counts: [0; 4],
            pointers: Vec::new(),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing but the header is written.
    pub fn is_empty(&self) -> bool {
        self.len() == 12
    }

    /// The header, to change before [`Writer::finish`].
    pub fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// Copy the question section as the query had it (`count` questions), and remember its
    /// first name for compression. `false` (nothing written) if it does not fit.
    pub fn question(&mut self, bytes: &[u8], count: u16) -> bool {
        if self.len() + bytes.len() > self.limit {
            return false;
        }
        let at = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.counts[0] = count;
        if count > 0 {
            self.remember_plain_name(at);
        }
        true
    }

    /// Remember the name written (uncompressed labels only) at `at` and each of its tails.
    fn remember_plain_name(&mut self, mut at: usize) {
        let end = self.buf.len();
        let mut labels = Vec::new();
        while at < end {
            let len = usize::from(self.buf[at]);
            if len == 0 {
                break;
            }
            if len > 63 || at + 1 + len > end {
                return;
            }
            labels.push(at);
            at += 1 + len;
        }
        if at >= end {
            return;
        }
        for &label in &labels {
            let tail = self.buf[label..=at].to_ascii_lowercase();
            self.remember(&tail, label);
        }
    }

    fn remember(&mut self, tail: &[u8], at: usize) {
        let offset = at - self.start;
        if offset < 0x4000 && self.pointers.len() < MAX_POINTERS {
            self.pointers.push((hash(tail), offset as u16));
        }
    }

    /// The offset of an earlier name equal to `tail` (lower-case wire form), if any.
    fn find(&self, tail: &[u8]) -> Option<u16> {
        let h = hash(tail);
        self.pointers
            .iter()
            .find(|(ph, offset)| *ph == h && self.name_equals(usize::from(*offset), tail))
            .map(|(_, offset)| *offset)
    }

    /// Whether the name at `offset` in the message (following pointers) equals `tail`,
    /// ignoring case.
    fn name_equals(&self, offset: usize, mut tail: &[u8]) -> bool {
        let msg = &self.buf[self.start..];
        let mut at = offset;
        let mut jumps = 0;
        loop {
            let Some(&len) = msg.get(at) else {
                return false;
            };
            if len & 0xc0 == 0xc0 {
                let Some(&low) = msg.get(at + 1) else {
                    return false;
                };
                at = (usize::from(len & 0x3f) << 8) | usize::from(low);
                jumps += 1;
                if jumps > 64 {
                    return false;
                }
                continue;
            }
            let len = usize::from(len);
            let (Some(label), Some(want)) = (msg.get(at..at + 1 + len), tail.get(..1 + len)) else {
                return false;
            };
            if !label.eq_ignore_ascii_case(want) {
                return false;
            }
            if len == 0 {
                return tail.len() == 1;
            }
            at += 1 + len;
            tail = &tail[1 + len..];
        }
    }

    /// Write a name (lower-case wire form, as keys and stored data are), compressed against
    /// the names before it.
    fn name(&mut self, name: &[u8]) {
        let mut at = 0;
        while let Some(&len) = name.get(at) {
            if len == 0 {
                break;
            }
            let tail = &name[at..];
            if let Some(offset) = self.find(tail) {
                self.buf.extend_from_slice(&(0xc000 | offset).to_be_bytes());
                return;
            }
            let here = self.buf.len();
            self.buf
                .extend_from_slice(&name[at..(at + 1 + usize::from(len)).min(name.len())]);
            self.remember(tail, here);
            at += 1 + usize::from(len);
        }
        self.buf.push(0);
    }

    fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            counts: self.counts,
            pointers: self.pointers.len(),
        }
    }

    fn rollback(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.counts = mark.counts;
        self.pointers.truncate(mark.pointers);
    }

    /// One record: owner, type, class IN, TTL, data (with its names compressed when the type
    /// allows it).
    fn record(&mut self, owner: &[u8], code: u16, ttl: u32, rdata: &[u8]) {
        self.name(owner);
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&1u16.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        match RecordType::from(code) {
            RecordType::NS | RecordType::CNAME | RecordType::PTR => self.name(rdata),
            RecordType::MX if rdata.len() > 2 => {
                self.buf.extend_from_slice(&rdata[..2]);
                self.name(&rdata[2..]);
            }
            RecordType::SOA => match soa_names_end(rdata) {
                Some((mname_end, rname_end)) => {
                    self.name(&rdata[..mname_end]);
                    self.name(&rdata[mname_end..rname_end]);
                    self.buf.extend_from_slice(&rdata[rname_end..]);
                }
                None => self.buf.extend_from_slice(rdata),
            },
            _ => self.buf.extend_from_slice(rdata),
        }
        let len = (self.buf.len() - len_at - 2) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Write a whole set, and its signatures with `sigs`, in `section` (sections in order).
    /// `false`, and nothing written, when it would pass the limit.
    pub fn set(&mut self, section: Section, set: &RRset<'_>, sigs: bool) -> bool {
        let mark = self.mark();
        let mut n = 0u16;
        for rdata in set.rdatas() {
            self.record(set.owner(), set.type_code(), set.ttl(), rdata);
            n += 1;
        }
        if sigs {
            for rdata in set.sig_rdatas() {
                self.record(set.owner(), u16::from(RecordType::RRSIG), set.ttl(), rdata);
                n += 1;
            }
        }
        if self.len() > self.limit {
            self.rollback(mark);
            return false;
        }
        self.counts[section as usize] += n;
        true
    }

    /// Write one record (a zone transfer's) in `section`; `false`, and nothing written, when
    /// it would pass the limit.
    pub fn one(
        &mut self,
        section: Section,
        owner: &[u8],
        code: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> bool {
        let mark = self.mark();
        self.record(owner, code, ttl, rdata);
        if self.len() > self.limit {
            self.rollback(mark);
            return false;
        }
        self.counts[section as usize] += 1;
        true
    }

    /// Append an already encoded record (a TSIG) to the additional section.
    pub fn raw_additional(&mut self, record: &[u8]) {
        self.buf.extend_from_slice(record);
        self.counts[Section::Additional as usize] += 1;
    }

    /// Remove every record written after the question.
    pub fn clear_records(&mut self, question_end: usize) {
        self.buf.truncate(self.start + question_end);
        self.counts[1..].fill(0);
        self.pointers
            .retain(|(_, offset)| usize::from(*offset) < question_end);
    }

    /// Write the OPT record and the header's counts: the message is complete.
    pub fn finish(mut self) -> usize {
        if let Some(opt) = self.opt {
            self.buf.push(0);
            self.buf.extend_from_slice(&41u16.to_be_bytes());
            self.buf.extend_from_slice(&opt.size.to_be_bytes());
            // Extended RCODE (the upper 8 bits of 12), version 0, DO.
            self.buf.push((self.header.rcode >> 4) as u8);
            self.buf.push(0);
            let flags: u16 = if opt.dnssec_ok { 0x8000 } else { 0 };
            self.buf.extend_from_slice(&flags.to_be_bytes());
            self.buf.extend_from_slice(&[0, 0]);
            self.counts[3] += 1;
        }
        let h = self.start;
        self.buf[h..h + 2].copy_from_slice(&self.header.id.to_be_bytes());
        self.buf[h + 2..h + 4].copy_from_slice(&self.header.flags().to_be_bytes());
        for (i, count) in self.counts.iter().enumerate() {
            self.buf[h + 4 + 2 * i..h + 6 + 2 * i].copy_from_slice(&count.to_be_bytes());
        }
        self.len()
    }
}

/// Where the two names of SOA data end (they are stored uncompressed).
fn soa_names_end(rdata: &[u8]) -> Option<(usize, usize)> {
    let name_end = |mut at: usize| -> Option<usize> {
        loop {
            let len = usize::from(*rdata.get(at)?);
            if len > 63 {
                return None;
            }
            at += 1 + len;
            if len == 0 {
                return Some(at);
            }
        }
    };
    let mname = name_end(0)?;
    let rname = name_end(mname)?;
    (rdata.len() == rname + 20).then_some((mname, rname))
}

fn hash(tail: &[u8]) -> u32 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(tail) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::ZoneView;
    use crate::dns::name_key;
    use hickory_proto::op::Message;
    use hickory_proto::rr::Name;
    use hickory_proto::serialize::binary::BinDecodable;

    fn view() -> ZoneView {
        let text = "$ORIGIN example.go.id.\n$TTL 300\n\
            @ SOA ns1 hostmaster 7 3600 900 1209600 300\n@ NS ns1\n@ NS ns2\n@ MX 10 mail\n\
            ns1 A 203.0.113.2\nns2 A 203.0.113.3\nmail A 203.0.113.25\nwww CNAME @\n\
            big TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n";
        let origin = Name::from_ascii("example.go.id.").unwrap();
        ZoneView::new(&crate::zone::file::parse(text, "t", Some(&origin)).unwrap())
    }

    /// The question as a client in mixed case sends it.
    fn question(name: &str, rtype: u16) -> Vec<u8> {
        let mut q = Vec::new();
        for label in name.trim_end_matches('.').split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&rtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn compressed_answers_decode_as_hickory_reads_them() {
        let v = view();
        let key = name_key::key_of(&Name::from_ascii("Example.GO.id.").unwrap());
        let answer = v.lookup(&key, RecordType::MX, false);
        let mut buf = vec![0xee; 3]; // a message may start after other bytes
        let header = Header {
            id: 0x1234,
            authoritative: true,
            recursion_desired: true,
            ..Header::default()
        };
        let opt = Some(Opt {
            size: 1232,
            dnssec_ok: true,
        });
        let mut w = Writer::new(&mut buf, header, opt, 512);
        assert!(w.question(&question("Example.GO.id.", 15), 1));
        for set in &answer.answers {
            assert!(w.set(Section::Answer, set, false));
        }
        for set in &answer.additionals {
            assert!(w.set(Section::Additional, set, false));
        }
        let len = w.finish();
        let msg = &buf[3..];
        assert_eq!(msg.len(), len);
        let m = Message::from_bytes(msg).unwrap();
        assert_eq!(m.metadata.id, 0x1234);
        assert!(m.metadata.authoritative && m.metadata.recursion_desired);
        assert_eq!(m.answers.len(), 1);
        // Names compressed against the question take its letters, as NSD's and Knot's do.
        assert_eq!(
            m.answers[0].to_string(),
            "Example.GO.id. 300 IN MX 10 mail.Example.GO.id."
        );
        assert_eq!(m.additionals.len(), 1);
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);
        // The owner is a pointer to the question; the exchange's tail too.
        assert_eq!(&msg[12 + 19..12 + 21], &[0xc0, 12]);
        assert!(len < 12 + 19 + 12 + 2 + 2 + 7 + 12 + 4 + 11 + 16);
    }

    #[test]
    fn a_set_that_does_not_fit_is_left_out_whole() {
        let v = view();
        let key = name_key::key_of(&Name::from_ascii("big.example.go.id.").unwrap());
        let answer = v.lookup(&key, RecordType::TXT, false);
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, Header::default(), None, 60);
        assert!(w.question(&question("big.example.go.id", 16), 1));
        let before = w.len();
        assert!(!w.set(Section::Answer, &answer.answers[0], false));
        assert_eq!(w.len(), before);
        w.finish();
        let m = Message::from_bytes(&buf).unwrap();
        assert!(m.answers.is_empty());
        // SOA data: both names compressed against the question.
        let key = name_key::key_of(&Name::from_ascii("example.go.id.").unwrap());
        let answer = v.lookup(&key, RecordType::SOA, false);
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, Header::default(), None, 512);
        w.question(&question("example.go.id", 6), 1);
        assert!(w.set(Section::Answer, &answer.answers[0], false));
        w.finish();
        let m = Message::from_bytes(&buf).unwrap();
        assert_eq!(
            m.answers[0].to_string(),
            "example.go.id. 300 IN SOA ns1.example.go.id. hostmaster.example.go.id. 7 3600 900 1209600 300"
        );
    }
}
