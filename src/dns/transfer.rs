//! Zone transfers to secondaries: who may transfer (addresses and keys), and what a transfer
//! sends: AXFR (RFC 5936) of the current view in as many messages as needed, or IXFR (RFC
//! 1995) from the change journal.
//!
//! The answer of a transfer is decided here; sending it (message by message, each signed when
//! the request was) is the server's part.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use ipnet::IpNet;

use super::tsig::{KeyRing, Session};
use super::view::decode_rdata;
use super::{ZoneView, name_key};
use crate::store::JournalEntry;

/// The most bytes of one transfer message: well under the 65,535 of a TCP message, leaving
/// room for a TSIG.
pub const MESSAGE_LIMIT: usize = 60 * 1024;

/// One secondary of one zone, as the transfer rules see it.
#[derive(Debug, Clone)]
pub struct SecondaryRule {
    /// How the secondary is named in logs, metrics and the API (its NOTIFY address).
    pub id: String,
    /// Addresses it may transfer from.
    pub allow_transfer: Vec<IpNet>,
    /// The key its transfers must carry.
    pub tsig_key: Option<Name>,
}

/// Why a transfer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No secondary of the zone may transfer from this address: REFUSED.
    AddressNotAllowed,
    /// The secondary has a key and the request was not signed: REFUSED.
    MissingSignature,
    /// Signed with a valid key that is not this secondary's: NOTAUTH with BADKEY.
    WrongKey,
}

impl Denial {
    /// The label used in logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::AddressNotAllowed => "address_not_allowed",
            Self::MissingSignature => "missing_tsig",
            Self::WrongKey => "wrong_key",
        }
    }
}

/// The transfer rules of every zone, and the keys.
#[derive(Debug, Default)]
pub struct TransferPolicy {
    zones: HashMap<LowerName, Vec<SecondaryRule>>,
    keys: KeyRing,
    journal_depth: usize,
}

impl TransferPolicy {
    /// Rules per zone apex, the key ring, and how many journal changes IXFR may reach back.
    pub fn new(
        zones: HashMap<LowerName, Vec<SecondaryRule>>,
        keys: KeyRing,
        journal_depth: usize,
    ) -> Self {
        Self {
            zones,
            keys,
            journal_depth,
        }
    }

    /// The keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// How many changes IXFR may reach back before falling back to AXFR.
    pub fn journal_depth(&self) -> usize {
        self.journal_depth
    }

    /// May `src`, with this verified signature (or none), transfer `zone`? The secondary it
    /// is, when yes. Addresses are checked first, so that an address not allowed learns
    /// nothing about keys.
    pub fn authorize(
        &self,
        zone: &LowerName,
        src: IpAddr,
        session: Option<&Session>,
    ) -> Result<&SecondaryRule, Denial> {
        let src = canonical(src);
        let mut candidates = self
            .zones
            .get(zone)
            .into_iter()
            .flatten()
            .filter(|s| s.allow_transfer.iter().any(|net| net.contains(&src)))
            .peekable();
        if candidates.peek().is_none() {
            return Err(Denial::AddressNotAllowed);
        }
        let mut denial = Denial::AddressNotAllowed;
        for rule in candidates {
            match (&rule.tsig_key, session) {
                (None, _) => return Ok(rule),
                (Some(want), Some(s)) if s.key().name.to_ascii() == want.to_ascii() => {
                    return Ok(rule);
                }
                (Some(_), Some(_)) => denial = Denial::WrongKey,
                (Some(_), None) => {
                    if denial != Denial::WrongKey {
                        denial = Denial::MissingSignature;
                    }
                }
            }
        }
        Err(denial)
    }
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What kind of transfer was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// The whole zone.
    Axfr,
    /// Differences from the journal.
    Ixfr,
    /// IXFR asked by a secondary that already has the current serial: only the SOA.
    UpToDate,
}

impl TransferKind {
    /// The label used in logs, metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Axfr => "axfr",
            Self::Ixfr => "ixfr",
            Self::UpToDate => "up_to_date",
        }
    }
}

/// One record of a transfer in wire form: borrowed from the view, or from the journal.
#[derive(Debug, Clone)]
pub struct WireRecord<'a> {
    /// The owner's key (lower-cased wire form).
    pub owner: Cow<'a, [u8]>,
    /// The type.
    pub code: u16,
    /// The TTL.
    pub ttl: u32,
    /// The data, uncompressed.
    pub rdata: Cow<'a, [u8]>,
}

impl WireRecord<'_> {
    /// A decoded record in wire form (`None` if its data cannot be encoded).
    pub fn from_record(record: &Record) -> Option<WireRecord<'static>> {
        Some(WireRecord {
            owner: Cow::Owned(name_key::key_of(&record.name).into_vec()),
            code: u16::from(record.record_type()),
            ttl: record.ttl,
            rdata: Cow::Owned(crate::zone::file::rdata_wire(&record.data).ok()?),
        })
    }

    /// The record decoded (for tests and logs).
    pub fn to_record(&self) -> Option<Record> {
        let rtype = RecordType::from(self.code);
        Some(Record::from_rdata(
            name_key::to_name(&self.owner)?,
            self.ttl,
            decode_rdata(rtype, &self.rdata)?,
        ))
    }
}

/// The records of a transfer, in order; the server cuts them into messages.
#[derive(Debug)]
pub struct TransferAnswer<'a> {
    /// What was sent.
    pub kind: TransferKind,
    /// The serial transferred.
    pub serial: u32,
    /// The records, in order.
    pub records: Vec<WireRecord<'a>>,
}

/// The current SOA record, in wire form.
fn soa_of(view: &ZoneView) -> Option<WireRecord<'_>> {
    let set = view.soa_set()?;
    Some(WireRecord {
        owner: Cow::Borrowed(set.owner()),
        code: set.type_code(),
        ttl: set.ttl(),
        rdata: Cow::Borrowed(set.rdatas().next()?),
    })
}

/// The reply to an IXFR over UDP, or from a secondary that is up to date: the current SOA.
pub fn up_to_date(view: &ZoneView) -> TransferAnswer<'_> {
    TransferAnswer {
        kind: TransferKind::UpToDate,
        serial: view.serial(),
        records: soa_of(view).into_iter().collect(),
    }
}

/// The AXFR of a view: SOA, every other record, SOA.
pub fn axfr(view: &ZoneView) -> TransferAnswer<'_> {
    let mut records = Vec::with_capacity(view.record_count() + 1);
    let soa = soa_of(view);
    records.extend(soa.clone());
    // Signatures, NSEC and NSEC3 included: a secondary serves the signed zone as it is.
    for (set, sigs_only) in view.wire_sets() {
        let owner = set.owner();
        let data = if sigs_only { None } else { Some(set.rdatas()) };
        for rdata in data.into_iter().flatten() {
            records.push(WireRecord {
                owner: Cow::Borrowed(owner),
                code: set.type_code(),
                ttl: set.ttl(),
                rdata: Cow::Borrowed(rdata),
            });
        }
        for rdata in set.sig_rdatas() {
            records.push(WireRecord {
                owner: Cow::Borrowed(owner),
                code: u16::from(RecordType::RRSIG),
                ttl: set.ttl(),
                rdata: Cow::Borrowed(rdata),
            });
        }
    }
    records.extend(soa);
    TransferAnswer {
        kind: TransferKind::Axfr,
        serial: view.serial(),
        records,
    }
}

/// Whether serial `a` is at or ahead of `b` in serial arithmetic (RFC 1982).
pub fn serial_at_or_ahead(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d == 0 || d < (1 << 31)
}

/// The IXFR from `client_serial` to the view's serial, from `journal` (the changes from the
/// client's serial on, in order). `None` when the journal does not join the client's serial to
/// the view's without a gap, or reaches back further than `depth` changes: then AXFR is sent.
pub fn ixfr<'v>(
    view: &'v ZoneView,
    client_serial: u32,
    journal: &[JournalEntry],
    depth: usize,
) -> Option<TransferAnswer<'v>> {
    let soa = view.soa_record()?;
    let current = view.serial();
    if serial_at_or_ahead(client_serial, current) {
        return Some(up_to_date(view));
    }
    if journal.is_empty() || journal.len() > depth {
        return None;
    }
    let mut at = client_serial;
    for change in journal {
        if change.serial_before != at {
            return None;
        }
        at = change.serial_after;
    }
    if at != current {
        return None;
    }
    let wire = |r: &Record| WireRecord::from_record(r);
    let mut records: Vec<WireRecord<'v>> = Vec::new();
    records.extend(soa_of(view));
    for change in journal {
        records.extend(wire(&change_soa(
            change.soa_before.as_ref(),
            &soa,
            change.serial_before,
        )));
        records.extend(change.removed.iter().filter_map(wire));
        records.extend(wire(&change_soa(
            change.soa_after.as_ref(),
            &soa,
            change.serial_after,
        )));
        records.extend(change.added.iter().filter_map(wire));
    }
    records.extend(soa_of(view));
    Some(TransferAnswer {
        kind: TransferKind::Ixfr,
        serial: current,
        records,
    })
}

/// The SOA a change moved from or to: as journaled, or (for changes journaled before the SOA
/// was kept) the current SOA with that serial.
fn change_soa(journaled: Option<&Record>, current: &Record, serial: u32) -> Record {
    if let Some(soa) = journaled {
        return soa.clone();
    }
    let mut soa = current.clone();
    if let RData::SOA(data) = &mut soa.data {
        data.serial = serial;
    }
    soa
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::tsig::TsigKey;

    fn rule(id: &str, nets: &[&str], key: Option<&str>) -> SecondaryRule {
        SecondaryRule {
            id: id.into(),
            allow_transfer: nets.iter().map(|n| n.parse().unwrap()).collect(),
            tsig_key: key.map(|k| Name::from_ascii(k).unwrap()),
        }
    }

    fn policy() -> TransferPolicy {
        let zone = LowerName::from(Name::from_ascii("example.go.id.").unwrap());
        let mut zones = HashMap::new();
        zones.insert(
            zone,
            vec![
                rule("a", &["127.0.0.2/32"], Some("xfr-key.")),
                rule("b", &["127.0.0.3/32", "2001:db8::/32"], None),
            ],
        );
        let keys = KeyRing::new(vec![
            TsigKey::new("xfr-key", "hmac-sha256", vec![1; 32]).unwrap(),
        ]);
        TransferPolicy::new(zones, keys, 100)
    }

    #[test]
    fn addresses_then_keys() {
        let p = policy();
        let zone = LowerName::from(Name::from_ascii("example.go.id.").unwrap());
        let other = LowerName::from(Name::from_ascii("other.go.id.").unwrap());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            p.authorize(&zone, ip("127.0.0.9"), None).unwrap_err(),
            Denial::AddressNotAllowed
        );
        assert_eq!(
            p.authorize(&other, ip("127.0.0.3"), None).unwrap_err(),
            Denial::AddressNotAllowed
        );
        assert_eq!(
            p.authorize(&zone, ip("127.0.0.2"), None).unwrap_err(),
            Denial::MissingSignature
        );
        assert_eq!(p.authorize(&zone, ip("127.0.0.3"), None).unwrap().id, "b");
        assert_eq!(p.authorize(&zone, ip("2001:db8::5"), None).unwrap().id, "b");
        assert_eq!(
            p.authorize(&zone, ip("::ffff:127.0.0.3"), None).unwrap().id,
            "b"
        );
    }

    #[test]
    fn serial_arithmetic() {
        assert!(serial_at_or_ahead(5, 5));
        assert!(serial_at_or_ahead(6, 5));
        assert!(!serial_at_or_ahead(4, 5));
        assert!(serial_at_or_ahead(1, u32::MAX));
        assert!(!serial_at_or_ahead(u32::MAX, 1));
    }

    fn journal_entry(before: u32, after: u32, added: &str) -> JournalEntry {
        JournalEntry {
            serial_before: before,
            serial_after: after,
            changed_at: String::new(),
            reason: String::new(),
            removed: Vec::new(),
            added: vec![Record::from_rdata(
                Name::from_ascii(added).unwrap(),
                300,
                RData::A(std::net::Ipv4Addr::new(203, 0, 113, 7).into()),
            )],
            soa_before: None,
            soa_after: None,
        }
    }

    #[test]
    fn ixfr_from_a_contiguous_journal_or_none() {
        let text = "$ORIGIN example.go.id.\n@ 3600 IN SOA ns1 hostmaster 3 3600 900 1209600 300\n\
                    @ 3600 IN NS ns1\nns1 3600 IN A 203.0.113.2\n";
        let content = crate::zone::file::parse(
            text,
            "t.zone",
            Some(&Name::from_ascii("example.go.id.").unwrap()),
        )
        .unwrap();
        let view = ZoneView::new(&content);
        let j = [
            journal_entry(1, 2, "a.example.go.id."),
            journal_entry(2, 3, "b.example.go.id."),
        ];
        let answer = ixfr(&view, 1, &j, 10).unwrap();
        assert_eq!(answer.kind, TransferKind::Ixfr);
        let records: Vec<Record> = answer
            .records
            .iter()
            .map(|r| r.to_record().unwrap())
            .collect();
        let serials: Vec<u32> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::SOA(s) => Some(s.serial),
                _ => None,
            })
            .collect();
        // Current, then each change's old and new SOA, then current again.
        assert_eq!(serials, [3, 1, 2, 2, 3, 3]);
        assert_eq!(records.len(), 8);
        // Up to date: the SOA alone. A gap, too deep, or not reaching the current serial: None.
        assert_eq!(
            ixfr(&view, 3, &[], 10).unwrap().kind,
            TransferKind::UpToDate
        );
        assert!(ixfr(&view, 1, &j[1..], 10).is_none());
        assert!(ixfr(&view, 1, &j, 1).is_none());
        assert!(ixfr(&view, 1, &j[..1], 10).is_none());
        assert!(ixfr(&view, 1, &[], 10).is_none());
    }
}
