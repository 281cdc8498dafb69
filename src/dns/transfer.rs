//! Zone transfers to secondaries: who may transfer (addresses and keys), and what a transfer
//! sends: AXFR (RFC 5936) of the current view in as many messages as needed, or IXFR (RFC
//! 1995) from the change journal.
//!
//! The answer of a transfer is decided here; sending it (message by message, each signed when
//! the request was) is the server's part.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::{LowerName, Name, RData, Record};
use ipnet::IpNet;

use super::ZoneView;
use super::tsig::{KeyRing, Session};
use crate::store::JournalEntry;

/// Record data per message: well under the 65,535 bytes of a TCP message, whatever
/// compression achieves, leaving room for the header, question and TSIG.
const MESSAGE_BUDGET: usize = 60 * 1024;

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

/// The records of a transfer, in order, cut into messages.
#[derive(Debug)]
pub struct TransferAnswer {
    /// What was sent.
    pub kind: TransferKind,
    /// The serial transferred.
    pub serial: u32,
    /// One list of records per message.
    pub messages: Vec<Vec<Record>>,
}

/// The AXFR of a view: SOA, every other record, SOA.
pub fn axfr(view: &ZoneView) -> TransferAnswer {
    let mut records = Vec::with_capacity(view.record_count() + 1);
    let soa = view.soa_record().cloned();
    records.extend(soa.clone());
    // Signatures, NSEC and NSEC3 included: a secondary serves the signed zone as it is.
    records.extend(view.records().cloned());
    records.extend(soa);
    TransferAnswer {
        kind: TransferKind::Axfr,
        serial: view.serial(),
        messages: split(records),
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
pub fn ixfr(
    view: &ZoneView,
    client_serial: u32,
    journal: &[JournalEntry],
    depth: usize,
) -> Option<TransferAnswer> {
    let soa = view.soa_record()?;
    let current = view.serial();
    if serial_at_or_ahead(client_serial, current) {
        return Some(TransferAnswer {
            kind: TransferKind::UpToDate,
            serial: current,
            messages: vec![vec![soa.clone()]],
        });
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
    let mut records = vec![soa.clone()];
    for change in journal {
        records.push(change_soa(
            change.soa_before.as_ref(),
            soa,
            change.serial_before,
        ));
        records.extend(change.removed.iter().cloned());
        records.push(change_soa(
            change.soa_after.as_ref(),
            soa,
            change.serial_after,
        ));
        records.extend(change.added.iter().cloned());
    }
    records.push(soa.clone());
    Some(TransferAnswer {
        kind: TransferKind::Ixfr,
        serial: current,
        messages: split(records),
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

/// Cut records into messages of at most [`MESSAGE_BUDGET`] bytes of uncompressed record data.
fn split(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut messages = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for record in records {
        let len = wire_len(&record);
        if size + len > MESSAGE_BUDGET && !current.is_empty() {
            messages.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(record);
    }
    if !current.is_empty() {
        messages.push(current);
    }
    messages
}

/// The uncompressed wire length of a record (name, type, class, TTL, length, data).
fn wire_len(record: &Record) -> usize {
    let rdata = crate::zone::file::rdata_wire(&record.data).map_or(512, |w| w.len());
    record.name.len() + 1 + 10 + rdata
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
        let records: Vec<&Record> = answer.messages.iter().flatten().collect();
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

    #[test]
    fn split_respects_budget() {
        let name = Name::from_ascii("host.example.go.id.").unwrap();
        let records: Vec<Record> = (0..5000u32)
            .map(|i| {
                Record::from_rdata(
                    name.clone(),
                    300,
                    RData::A(std::net::Ipv4Addr::from(i).into()),
                )
            })
            .collect();
        let messages = split(records);
        assert!(messages.len() > 1);
        assert_eq!(messages.iter().map(Vec::len).sum::<usize>(), 5000);
        for m in &messages {
            assert!(m.iter().map(wire_len).sum::<usize>() <= MESSAGE_BUDGET);
        }
    }
}
