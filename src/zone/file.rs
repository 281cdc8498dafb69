//! RFC 1035 master files: import with line numbers, export that BIND, Knot and NSD accept.
//!
//! hickory-proto's `Parser` parses record data well but reports errors without a line number
//! and silently drops a record line that has no type (hickory-dns issue 3952). So this module
//! splits the file into entries itself (tracking lines, parentheses, quotes and comments),
//! works out owner, TTL, class and type of each entry, and hands hickory one normalised,
//! single-line record at a time to parse the record data. Any error names the file and the
//! line where the entry starts.
//!
//! Supported: `$ORIGIN`, `$TTL`, `@`, relative and absolute names, blank owners, TTL units
//! (`1h`), parentheses across lines, quoted strings with spaces and escapes, several strings per
//! TXT. Not supported (a clear error): `$INCLUDE`, `$GENERATE`, classes other than IN, record
//! types outside [`SUPPORTED_TYPES`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::str::FromStr;

use hickory_proto::rr::rdata::{SOA, TXT};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

use super::name_key::{self, Key};

/// Record types ranah imports, stores and serves.
pub const SUPPORTED_TYPES: &[RecordType] = &[
    RecordType::SOA,
    RecordType::NS,
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::PTR,
    RecordType::DS,
];

/// An error in a zone file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ZoneFileError {
    /// The file (or label) being parsed.
    pub file: String,
    /// 1-based line where the offending entry starts (0 for whole-file problems).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The contents of one zone: its SOA and every other record, names lower-cased.
#[derive(Debug, Clone)]
pub struct ZoneContent {
    /// The apex.
    pub origin: Name,
    /// The SOA record (owner = origin).
    pub soa: Record,
    /// All other records (in no particular order: [`write`] sorts).
    pub records: Vec<Record>,
}

/// The same zone: the same apex, SOA and records, in whatever order.
impl PartialEq for ZoneContent {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |records: &[Record]| {
            let mut records = records.to_vec();
            sort_canonical(&mut records);
            records
        };
        self.origin == other.origin
            && self.soa == other.soa
            && self.records.len() == other.records.len()
            && sorted(&self.records) == sorted(&other.records)
    }
}

impl Eq for ZoneContent {}

impl ZoneContent {
    /// The SOA's data.
    pub fn soa_data(&self) -> Option<&SOA> {
        match &self.soa.data {
            RData::SOA(soa) => Some(soa),
            _ => None,
        }
    }
}

/// `soa` (a SOA record) with another serial; `None` if it is not a SOA.
pub fn soa_with_serial(soa: &Record, serial: u32) -> Option<Record> {
    let RData::SOA(s) = &soa.data else {
        return None;
    };
    let data = SOA::new(
        s.mname.clone(),
        s.rname.clone(),
        serial,
        s.refresh,
        s.retry,
        s.expire,
        s.minimum,
    );
    Some(Record::from_rdata(
        soa.name.clone(),
        soa.ttl,
        RData::SOA(data),
    ))
}

/// Parse a master file. `file` labels errors; `origin` is the zone's apex when known (from the
/// command line or the file name), otherwise the owner of the SOA decides it.
pub fn parse(text: &str, file: &str, origin: Option<&Name>) -> Result<ZoneContent, ZoneFileError> {
    parse_signed(text, file, origin).map(|(content, _)| content)
}

/// [`parse`], for a file that may come from another signer: its DNSSEC records (RRSIG, NSEC,
/// NSEC3, NSEC3PARAM, DNSKEY, CDS, CDNSKEY) are dropped, because ranah signs the zone with its
/// own keys; returns how many were dropped. DS records are the zone's data and stay.
pub fn parse_signed(
    text: &str,
    file: &str,
    origin: Option<&Name>,
) -> Result<(ZoneContent, usize), ZoneFileError> {
    let mut dropped = 0;
    let err = |line: usize, message: String| ZoneFileError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut current_origin: Option<Name> = origin.map(|o| lower_fqdn(o.clone()));
    let mut default_ttl: Option<u32> = None;
    let mut last_ttl: Option<u32> = None;
    let mut last_owner: Option<Name> = None;
    // About one record a line: sized once, a large zone is not copied as the vector grows.
    let lines = text.bytes().filter(|&b| b == b'\n').count();
    let mut parsed: Vec<(Record, usize)> = Vec::with_capacity(lines);

    for entry in Entries::new(text) {
        let entry = entry.map_err(|(line, m)| err(line, m))?;
        let line = entry.line;
        let tokens = &entry.tokens;
        let Some(first) = tokens.first() else {
            continue;
        };
        if !entry.owner_blank && first.starts_with('$') {
            let directive = first.to_ascii_uppercase();
            match directive.as_str() {
                "$ORIGIN" => {
                    let [_, name] = tokens.as_slice() else {
                        return Err(err(line, "$ORIGIN takes exactly one name".into()));
                    };
                    let name = parse_name(name, current_origin.as_ref())
                        .map_err(|m| err(line, format!("$ORIGIN: {m}")))?;
                    current_origin = Some(name);
                }
                "$TTL" => {
                    let [_, ttl] = tokens.as_slice() else {
                        return Err(err(line, "$TTL takes exactly one value".into()));
                    };
                    default_ttl =
                        Some(parse_ttl(ttl).map_err(|e| err(line, format!("$TTL `{ttl}`: {e}")))?);
                }
                other => {
                    return Err(err(line, format!("the directive {other} is not supported")));
                }
            }
            continue;
        }

        // Owner.
        let mut rest = tokens.as_slice();
        let owner = if entry.owner_blank {
            last_owner
                .clone()
                .ok_or_else(|| err(line, "the first record has no owner name".into()))?
        } else {
            rest = &rest[1..];
            if *first == "@" {
                current_origin
                    .clone()
                    .ok_or_else(|| err(line, "`@` used before any $ORIGIN is known".into()))?
            } else {
                parse_name(first, current_origin.as_ref()).map_err(|m| err(line, m))?
            }
        };
        last_owner = Some(owner.clone());

        // TTL and class in either order, then the type.
        let mut ttl: Option<u32> = None;
        let mut rtype: Option<RecordType> = None;
        while let Some(tok) = rest.first() {
            rest = &rest[1..];
            if tok.as_bytes()[0].is_ascii_digit() && ttl.is_none() {
                ttl = Some(parse_ttl(tok).map_err(|e| err(line, format!("TTL `{tok}`: {e}")))?);
                continue;
            }
            // Most files write classes and types in capitals: no copy for them.
            let upper: std::borrow::Cow<'_, str> = if tok.bytes().any(|b| b.is_ascii_lowercase()) {
                tok.to_ascii_uppercase().into()
            } else {
                (*tok).into()
            };
            if let Ok(class) = DNSClass::from_str(&upper) {
                if class != DNSClass::IN {
                    return Err(err(
                        line,
                        format!("class {upper} is not supported (only IN)"),
                    ));
                }
                continue;
            }
            match RecordType::from_str(&upper) {
                Ok(t) if SUPPORTED_TYPES.contains(&t) || crate::zone::is_dnssec_type(t) => {
                    rtype = Some(t);
                    break;
                }
                Ok(t) => return Err(err(line, format!("record type {t} is not supported"))),
                Err(_) => return Err(err(line, format!("unknown record type `{tok}`"))),
            }
        }
        let Some(rtype) = rtype else {
            return Err(err(line, "record has no type".into()));
        };
        if crate::zone::is_dnssec_type(rtype) {
            dropped += 1;
            continue;
        }
        if rest.is_empty() {
            return Err(err(line, format!("{rtype} record has no data")));
        }
        let ttl = match ttl {
            Some(t) => {
                last_ttl = Some(t);
                t
            }
            None => default_ttl.or(last_ttl).ok_or_else(|| {
                err(
                    line,
                    "record has no TTL and no $TTL or earlier TTL applies".into(),
                )
            })?,
        };

        let record = parse_record(&owner, ttl, rtype, rest, current_origin.as_ref())
            .map_err(|m| err(line, m))?;
        parsed.push((record, line));
    }

    build_zone(parsed, origin, file).map(|zone| (zone, dropped))
}

/// Parse one record's data through hickory's parser, from normalised single-line text.
fn parse_record(
    owner: &Name,
    ttl: u32,
    rtype: RecordType,
    rdata: &[&str],
    origin: Option<&Name>,
) -> Result<Record, String> {
    if rtype == RecordType::TXT {
        // Text is bytes: read here, where `\DDD` means what RFC 1035 says (see
        // `character_string`).
        let strings = rdata
            .iter()
            .map(|tok| character_string(tok))
            .collect::<Result<Vec<_>, _>>()?;
        let data = RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()));
        return Ok(Record::from_rdata(lower_fqdn(owner.clone()), ttl, data));
    }
    let origin = origin.cloned().unwrap_or_else(|| owner.clone());
    if let Some(data) = common_rdata(rtype, rdata, &origin) {
        return Ok(Record::from_rdata(lower_fqdn(owner.clone()), ttl, data?));
    }
    let mut line = format!("{} {ttl} IN {rtype}", owner.to_ascii());
    for tok in rdata {
        line.push(' ');
        // hickory's lexer takes a lone `@` only as an owner; in data it means the origin.
        if *tok == "@" {
            line.push_str(&origin.to_ascii());
        } else if tok.starts_with('"') {
            // A quoted string (a CAA value): decoded here, given to hickory with no escape
            // but `\"` and `\\`, which its lexer reads correctly.
            let bytes = character_string(tok)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{rtype} data: the string {tok} is not UTF-8 text"))?;
            line.push('"');
            for c in text.chars() {
                if c == '"' || c == '\\' {
                    line.push('\\');
                }
                line.push(c);
            }
            line.push('"');
        } else {
            line.push_str(tok);
        }
    }
    line.push('\n');
    let (_, sets) = Parser::new(line, None, Some(origin))
        .parse()
        .map_err(|e| format!("{rtype} data: {e}"))?;
    let mut records = sets.into_values().flat_map(|set| {
        set.records_without_rrsigs()
            .cloned()
            .collect::<Vec<Record>>()
    });
    let mut record = records
        .next()
        .ok_or_else(|| format!("{rtype} record was not understood"))?;
    record.name = lower_fqdn(record.name);
    record.data = lower_rdata_names(record.data);
    Ok(record)
}

/// The data of the most common types, read here: hickory's text parser is made for whole
/// files, and given one record at a time it costs a lexer and a map for each. `None` for the
/// other types (and for the wrong number of fields, which hickory then reports).
fn common_rdata(rtype: RecordType, data: &[&str], origin: &Name) -> Option<Result<RData, String>> {
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SRV};
    let name = |text: &str| match text {
        "@" => Ok(lower_fqdn(origin.clone())),
        text => parse_name(text, Some(origin)).map_err(|m| format!("{rtype} data: {m}")),
    };
    let number = |text: &str, what: &str| {
        text.parse::<u16>().map_err(|_| {
            format!("{rtype} data: the {what} `{text}` is not a number from 0 to 65535")
        })
    };
    let address = |text: &str| {
        format!(
            "{rtype} data: `{text}` is not an IPv{} address",
            if rtype == RecordType::A { 4 } else { 6 }
        )
    };
    Some(match (rtype, data) {
        (RecordType::A, [text]) => text
            .parse()
            .map(|a| RData::A(A(a)))
            .map_err(|_| address(text)),
        (RecordType::AAAA, [text]) => text
            .parse()
            .map(|a| RData::AAAA(AAAA(a)))
            .map_err(|_| address(text)),
        (RecordType::NS, [target]) => name(target).map(|n| RData::NS(NS(n))),
        (RecordType::CNAME, [target]) => name(target).map(|n| RData::CNAME(CNAME(n))),
        (RecordType::PTR, [target]) => name(target).map(|n| RData::PTR(PTR(n))),
        (RecordType::MX, [preference, exchange]) => (|| {
            Ok(RData::MX(MX::new(
                number(preference, "preference")?,
                name(exchange)?,
            )))
        })(),
        (RecordType::SRV, [priority, weight, port, target]) => (|| {
            Ok(RData::SRV(SRV::new(
                number(priority, "priority")?,
                number(weight, "weight")?,
                number(port, "port")?,
                name(target)?,
            )))
        })(),
        _ => return None,
    })
}

/// A `<character-string>` as a master file writes it (RFC 1035 §5.1): quoted or not, `\X` for
/// the character X and `\DDD` for the byte of decimal value DDD, at most 255 bytes. hickory's
/// lexer reads `\DDD` as three digits in base 256 (`\195` becomes U+10905), which would turn
/// text ranah exports (every byte outside printable ASCII is written `\DDD`) into other text
/// or an error on import; so ranah reads strings itself.
fn character_string(token: &str) -> Result<Vec<u8>, String> {
    let inner = match token.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| format!("unterminated string {token}"))?,
        None => token,
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(d) if d.is_ascii_digit() => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    match bytes.next() {
                        Some(d) if d.is_ascii_digit() => value = value * 10 + u32::from(d - b'0'),
                        _ => return Err(format!("`\\DDD` needs three digits in {token}")),
                    }
                }
                let byte = u8::try_from(value)
                    .map_err(|_| format!("`\\{value}` is not a byte (0-255) in {token}"))?;
                out.push(byte);
            }
            Some(c) => out.push(c),
            None => return Err(format!("a lone `\\` ends {token}")),
        }
    }
    if out.len() > 255 {
        return Err(format!(
            "a string of {} bytes: at most 255 (RFC 1035 §3.3)",
            out.len()
        ));
    }
    Ok(out)
}

/// Check the whole zone: one SOA at the apex, NS at the apex, names inside the zone, CNAME
/// alone, one TTL per RRset (RFC 2181 §5.2), no data hidden below a delegation except glue.
fn build_zone(
    parsed: Vec<(Record, usize)>,
    origin: Option<&Name>,
    file: &str,
) -> Result<ZoneContent, ZoneFileError> {
    let err = |line: usize, message: String| ZoneFileError {
        file: file.to_owned(),
        line,
        message,
    };
    let soas: Vec<&(Record, usize)> = parsed
        .iter()
        .filter(|(r, _)| r.record_type() == RecordType::SOA)
        .collect();
    let (soa, soa_line) = match soas.as_slice() {
        [] => return Err(err(0, "the zone has no SOA record".into())),
        [one] => (one.0.clone(), one.1),
        [_, second, ..] => return Err(err(second.1, "a second SOA record".into())),
    };
    let apex = match origin {
        Some(o) => lower_fqdn(o.clone()),
        None => soa.name.clone(),
    };
    if soa.name != apex {
        return Err(err(
            soa_line,
            format!("the SOA is at {} but the zone is {}", soa.name, apex),
        ));
    }

    // What the file holds at each name: its sets, with their TTL, the line of their first
    // record, and their records (places in `parsed`). Keyed by the name's bytes (the names are
    // lower-case already), hashed with foldhash, which is seeded per process like the std
    // hasher and several times faster on names. A name's sets, and a set's records, are lists
    // threaded through two flat vectors: a vector per name and per set was an allocation each,
    // and growing and freeing them was a third of a large file's read.
    let sets = SetLists::group(&parsed, &apex).map_err(|(line, m)| err(line, m))?;

    let apex_key = name_key::key_of(&apex);
    if !sets.of(&apex_key).any(|s| s.rtype == RecordType::NS) {
        return Err(err(
            soa_line,
            "the zone has no NS records at its apex".into(),
        ));
    }
    let cuts: HashSet<&[u8], foldhash::fast::RandomState> = sets
        .names
        .iter()
        .filter(|(key, _)| **key != apex_key)
        .filter(|(_, first)| sets.chain(**first).any(|s| s.rtype == RecordType::NS))
        .map(|(key, _)| &key[..])
        .collect();
    for (at, (record, line)) in parsed.iter().enumerate() {
        if !sets.kept[at] {
            continue;
        }
        let rtype = record.record_type();
        if rtype != RecordType::CNAME && cuts.is_empty() {
            continue;
        }
        let key = name_key::key_of(&record.name);
        if rtype == RecordType::CNAME {
            if sets.of(&key).count() > 1 {
                return Err(err(
                    *line,
                    format!("{} has a CNAME and other data", record.name),
                ));
            }
            if key == apex_key {
                return Err(err(*line, "a CNAME cannot stand at the zone apex".into()));
            }
            if sets.of(&key).any(|s| s.len > 1) {
                return Err(err(
                    *line,
                    format!("{} has more than one CNAME", record.name),
                ));
            }
        }
        if let Some(cut) = enclosing_cut(&key, &apex_key, &cuts) {
            let at_cut = cut == &key[..];
            let glue = matches!(rtype, RecordType::A | RecordType::AAAA);
            // The DS at a cut is the parent side's: it belongs to this zone (RFC 4034 §5).
            if !(glue || (at_cut && matches!(rtype, RecordType::NS | RecordType::DS))) {
                let cut = name_key::to_name(cut)
                    .map(|n| n.to_ascii())
                    .unwrap_or_default();
                return Err(err(
                    *line,
                    format!(
                        "{} {} lies below the delegation at {}: only NS and DS at the cut and address \
                         glue are allowed there",
                        record.name, rtype, cut
                    ),
                ));
            }
        }
    }

    // In the file's order (`write` sorts for exports, and nothing else needs an order), moved
    // once: the SOA and exact duplicates are left out.
    let kept = sets.kept;
    let records: Vec<Record> = parsed
        .into_iter()
        .zip(kept)
        .filter_map(|((record, _), keep)| keep.then_some(record))
        .collect();
    Ok(ZoneContent {
        origin: apex,
        soa,
        records,
    })
}

/// No next entry in a list of [`SetLists`].
const END: u32 = u32::MAX;

/// One record set of a zone file being read.
struct Set {
    rtype: RecordType,
    ttl: u32,
    /// The line of its first record.
    line: usize,
    /// Records in it (the SOA set counts none).
    len: u32,
    /// Its latest record (a place in the parsed records); the others follow in `next_record`.
    head: u32,
    /// The next set of the same name.
    next: u32,
}

/// The sets of every name of a zone file, as lists threaded through flat vectors.
struct SetLists {
    /// Each name's first set.
    names: HashMap<Key, u32, foldhash::fast::RandomState>,
    sets: Vec<Set>,
    /// Per parsed record: the record of its set before it.
    next_record: Vec<u32>,
    /// Per parsed record: whether the zone keeps it (not the SOA, not an exact duplicate).
    kept: Vec<bool>,
}

impl SetLists {
    /// Group the records by name and type, checking that each set has one TTL (RFC 2181 §5.2)
    /// and that every name is in the zone; an exact duplicate is the same record (RFC 2181 §5).
    fn group(parsed: &[(Record, usize)], apex: &Name) -> Result<Self, (usize, String)> {
        let mut lists = SetLists {
            names: HashMap::with_capacity_and_hasher(parsed.len(), Default::default()),
            sets: Vec::with_capacity(parsed.len()),
            next_record: vec![END; parsed.len()],
            kept: vec![false; parsed.len()],
        };
        let mut key = Vec::new();
        for (at, (record, line)) in parsed.iter().enumerate() {
            let line = *line;
            if !apex.zone_of(&record.name) {
                return Err((
                    line,
                    format!("{} is outside the zone {}", record.name, apex),
                ));
            }
            let rtype = record.record_type();
            name_key::write_key(&record.name, &mut key);
            let first = lists.names.get(&key[..]).copied().unwrap_or(END);
            let mut found = first;
            while found != END && lists.sets[found as usize].rtype != rtype {
                found = lists.sets[found as usize].next;
            }
            if found == END {
                found = lists.sets.len() as u32;
                lists.sets.push(Set {
                    rtype,
                    ttl: record.ttl,
                    line,
                    len: 0,
                    head: END,
                    next: first,
                });
                match lists.names.get_mut(&key[..]) {
                    Some(first) => *first = found,
                    None => {
                        lists.names.insert(key.as_slice().into(), found);
                    }
                }
            }
            let set = &lists.sets[found as usize];
            if set.ttl != record.ttl {
                return Err((
                    line,
                    format!(
                        "TTL {} differs from TTL {} of the same {} set on line {} (RFC 2181 §5.2)",
                        record.ttl, set.ttl, rtype, set.line
                    ),
                ));
            }
            if rtype == RecordType::SOA {
                continue;
            }
            // Names in data are lower-case, so equal data is the same record.
            let mut member = set.head;
            while member != END {
                if parsed[member as usize].0.data == record.data {
                    break;
                }
                member = lists.next_record[member as usize];
            }
            if member != END {
                continue;
            }
            // The order within a set does not matter (`kept` keeps the file's order).
            let set = &mut lists.sets[found as usize];
            lists.next_record[at] = set.head;
            set.head = at as u32;
            set.len += 1;
            lists.kept[at] = true;
        }
        Ok(lists)
    }

    /// The sets of a name (none for a name the file does not hold).
    fn of(&self, key: &[u8]) -> impl Iterator<Item = &Set> {
        self.chain(self.names.get(key).copied().unwrap_or(END))
    }

    /// The sets from `first` on.
    fn chain(&self, first: u32) -> impl Iterator<Item = &Set> {
        let mut at = first;
        std::iter::from_fn(move || {
            let set = self.sets.get(at as usize)?;
            at = set.next;
            Some(set)
        })
    }
}

/// The delegation point at or above `key` (below the apex), if any.
fn enclosing_cut<'c>(
    key: &[u8],
    apex: &[u8],
    cuts: &HashSet<&'c [u8], foldhash::fast::RandomState>,
) -> Option<&'c [u8]> {
    if cuts.is_empty() {
        return None;
    }
    let mut k = key;
    while k.len() > apex.len() {
        if let Some(cut) = cuts.get(k) {
            return Some(cut);
        }
        k = name_key::parent(k)?;
    }
    None
}

/// Sort records by owner (DNSSEC canonical order), type, then data, so that exports are stable.
pub fn sort_canonical(records: &mut Vec<Record>) {
    let mut keyed: Vec<(Vec<u8>, Record)> = records
        .drain(..)
        .map(|r| (rdata_wire(&r.data).unwrap_or_default(), r))
        .collect();
    keyed.sort_by(|(wa, a), (wb, b)| {
        a.name
            .cmp(&b.name)
            .then_with(|| u16::from(a.record_type()).cmp(&u16::from(b.record_type())))
            .then_with(|| wa.cmp(wb))
    });
    records.extend(keyed.into_iter().map(|(_, r)| r));
}

/// Uncompressed wire form of record data: the identity of a record within its RRset.
pub fn rdata_wire(data: &RData) -> Result<Vec<u8>, String> {
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    data.emit(&mut enc)
        .map_err(|e| format!("cannot encode record data: {e}"))?;
    Ok(buf)
}

/// Decode record data from its wire form (as stored).
pub fn rdata_from_wire(rtype: RecordType, wire: &[u8]) -> Result<RData, String> {
    use hickory_proto::serialize::binary::{BinDecoder, Restrict};
    let len = u16::try_from(wire.len()).map_err(|_| "record data too long".to_string())?;
    let mut dec = BinDecoder::new(wire);
    RData::read(&mut dec, rtype, Restrict::new(len))
        .map_err(|e| format!("stored {rtype} data is corrupt: {e}"))
}

fn parse_name(text: &str, origin: Option<&Name>) -> Result<Name, String> {
    let invalid = |e: hickory_proto::ProtoError| format!("invalid name `{text}`: {e}");
    // An ASCII name is read as ASCII: the Unicode path (IDNA mapping) costs more than the rest
    // of a record, and would only lower-case it, which `lower_fqdn` does.
    let name = if text.is_ascii() {
        let name = Name::from_ascii(text).map_err(invalid)?;
        match origin {
            Some(origin) if !name.is_fqdn() => name.append_domain(origin).map_err(invalid)?,
            _ => name,
        }
    } else {
        Name::parse(text, origin).map_err(invalid)?
    };
    if !name.is_fqdn() {
        return Err(format!(
            "`{text}` is relative but no $ORIGIN is known (give the zone's origin)"
        ));
    }
    Ok(lower_fqdn(name))
}

fn lower_fqdn(mut name: Name) -> Name {
    name.set_fqdn(true);
    name.to_lowercase()
}

/// Lower-case the names inside record data, so that stored data compares simply.
fn lower_rdata_names(data: RData) -> RData {
    use hickory_proto::rr::rdata::{CNAME, MX, NS, PTR, SRV};
    match data {
        RData::NS(NS(n)) => RData::NS(NS(n.to_lowercase())),
        RData::CNAME(CNAME(n)) => RData::CNAME(CNAME(n.to_lowercase())),
        RData::PTR(PTR(n)) => RData::PTR(PTR(n.to_lowercase())),
        RData::MX(mx) => RData::MX(MX::new(mx.preference, mx.exchange.to_lowercase())),
        RData::SRV(srv) => RData::SRV(SRV::new(
            srv.priority,
            srv.weight,
            srv.port,
            srv.target.to_lowercase(),
        )),
        RData::SOA(soa) => RData::SOA(SOA::new(
            soa.mname.to_lowercase(),
            soa.rname.to_lowercase(),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum,
        )),
        other => other,
    }
}

/// Whether `record` is one ranah manages itself: the `_audit.<zone>` TXT that carries the
/// audit trail's head, by the core's rule of ranah's own records
/// ([`own_record`](crate::domain::policy::own_record)). Exports leave it out and imports ignore
/// it, because its value belongs to this installation's trail (a re-import starts a new one).
/// ACME challenges, the rule's other kind, live only while an order waits: a file keeps them.
pub fn is_managed(record: &Record, origin: &Name) -> bool {
    record.record_type() == RecordType::TXT
        && crate::domain::policy::own_record(&origin.to_ascii(), &record.name.to_ascii(), "TXT")
            == Some(crate::domain::policy::OwnRecord::AuditAnchor)
}

/// The zone as a master file for export: [`write()`] without the records ranah manages. A
/// signed zone is written whole, as it is served: its signatures and NSEC3 chain cover the
/// `_audit` record too, and a checker (`kzonecheck -d on`, `ldns-verify-zone`) must see it; an
/// import ignores it either way.
pub fn export(zone: &ZoneContent) -> String {
    let signed = zone
        .records
        .iter()
        .any(|r| r.record_type() == RecordType::DNSKEY);
    if signed {
        return write(zone);
    }
    let mut zone = zone.clone();
    let origin = zone.origin.clone();
    zone.records.retain(|r| !is_managed(r, &origin));
    write(&zone)
}

/// Write a zone as an RFC 1035 master file: `$ORIGIN`, the SOA first, then every record in
/// canonical order with explicit TTL and class, owners relative to the origin.
pub fn write(zone: &ZoneContent) -> String {
    let origin = zone.origin.to_ascii();
    let mut out = String::new();
    let _ = writeln!(out, "$ORIGIN {origin}");
    let mut records = zone.records.clone();
    sort_canonical(&mut records);
    let mut all = Vec::with_capacity(records.len() + 1);
    all.push(&zone.soa);
    all.extend(records.iter());
    for record in all {
        let owner = relative_owner(&record.name.to_ascii(), &origin);
        let _ = writeln!(
            out,
            "{owner}\t{}\tIN\t{}\t{}",
            record.ttl,
            record.record_type(),
            presentation(&record.data)
        );
    }
    out
}

fn relative_owner(name: &str, origin: &str) -> String {
    if name.eq_ignore_ascii_case(origin) {
        return "@".into();
    }
    match name.strip_suffix(origin) {
        Some(prefix) if prefix.ends_with('.') && origin != "." => {
            prefix.trim_end_matches('.').to_owned()
        }
        _ => name.to_owned(),
    }
}

/// Record data in master-file syntax. hickory's `Display` serves most types; TXT and CAA are
/// written here because hickory prints them unquoted or unescaped.
pub fn presentation(data: &RData) -> String {
    match data {
        RData::TXT(txt) => {
            let parts: Vec<String> = txt.txt_data.iter().map(|s| quote(s)).collect();
            parts.join(" ")
        }
        RData::CAA(caa) => {
            let flags = (if caa.issuer_critical { 128u8 } else { 0 }) | caa.reserved_flags;
            format!("{flags} {} {}", caa.tag, quote(&caa.value))
        }
        other => other.to_string(),
    }
}

/// A `<character-string>` in quotes, with `"` and `\` escaped and non-printable bytes as `\DDD`.
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s.push('"');
    s
}

/// One logical entry of a master file.
struct Entry<'a> {
    /// Line where it starts.
    line: usize,
    /// The line started with white space: the owner is the previous one.
    owner_blank: bool,
    /// Tokens, as written in the file: quoted strings keep their quotes and escapes,
    /// parentheses are gone.
    tokens: Vec<&'a str>,
}

/// The entries of a master file, one at a time (a large file is never held twice): newlines
/// inside parentheses or quotes continue an entry, `;` starts a comment outside quotes.
struct Entries<'a> {
    text: &'a str,
    /// Where the next byte is read.
    pos: usize,
    line: usize,
    failed: bool,
}

impl<'a> Entries<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            line: 1,
            failed: false,
        }
    }

    /// The next entry, or `None` at the end of the text. Every byte the scanner acts on is
    /// ASCII, so tokens are cut at character boundaries.
    fn entry(&mut self) -> Result<Option<Entry<'a>>, (usize, String)> {
        let bytes = self.text.as_bytes();
        loop {
            let Some(&first) = bytes.get(self.pos) else {
                return Ok(None);
            };
            let mut entry = Entry {
                line: self.line,
                owner_blank: first == b' ' || first == b'\t',
                tokens: Vec::new(),
            };
            let mut depth = 0usize;
            let mut paren_line = 0usize;
            while let Some(&c) = bytes.get(self.pos) {
                match c {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        while bytes.get(self.pos).is_some_and(|&b| b != b'\n') {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if depth == 0 {
                            paren_line = self.line;
                        }
                        depth += 1;
                        self.pos += 1;
                    }
                    b')' => {
                        if depth == 0 {
                            return Err((self.line, "`)` without `(`".into()));
                        }
                        depth -= 1;
                        self.pos += 1;
                    }
                    b'"' => {
                        let start = self.pos;
                        let start_line = self.line;
                        self.pos += 1;
                        let mut closed = false;
                        while let Some(&n) = bytes.get(self.pos) {
                            self.pos += 1;
                            match n {
                                b'\\' => {
                                    if bytes.get(self.pos) == Some(&b'\n') {
                                        self.line += 1;
                                    }
                                    self.pos = (self.pos + 1).min(bytes.len());
                                }
                                b'"' => {
                                    closed = true;
                                    break;
                                }
                                b'\n' => self.line += 1,
                                _ => {}
                            }
                        }
                        if !closed {
                            return Err((start_line, "unterminated quoted string".into()));
                        }
                        entry.tokens.push(&self.text[start..self.pos]);
                    }
                    _ => {
                        let start = self.pos;
                        while let Some(&n) = bytes.get(self.pos) {
                            if self.pos > start
                                && matches!(
                                    n,
                                    b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"'
                                )
                            {
                                break;
                            }
                            self.pos += 1;
                            if n == b'\\' && self.pos < bytes.len() {
                                // The escaped character is part of the token, whatever it is;
                                // a multi-byte one is skipped whole.
                                let len = self.text[self.pos..]
                                    .chars()
                                    .next()
                                    .map_or(1, char::len_utf8);
                                self.pos += len;
                            }
                        }
                        entry.tokens.push(&self.text[start..self.pos]);
                    }
                }
            }
            if depth > 0 {
                return Err((paren_line, "`(` is never closed".into()));
            }
            if !entry.tokens.is_empty() {
                return Ok(Some(entry));
            }
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, (usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.entry().transpose();
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

/// Group records by owner and type (used by the store and the DNS view).
pub fn group_rrsets(records: &[Record]) -> BTreeMap<(LowerName, RecordType), Vec<&Record>> {
    let mut sets: BTreeMap<(LowerName, RecordType), Vec<&Record>> = BTreeMap::new();
    for r in records {
        sets.entry((LowerName::new(&r.name), r.record_type()))
            .or_default()
            .push(r);
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What hickory's own text parser makes of one record's data (`None`: an error).
    fn hickory_rdata(rtype: RecordType, data: &str, origin: &Name) -> Option<RData> {
        let line = format!("{} 300 IN {rtype} {data}\n", origin.to_ascii());
        let (_, sets) = Parser::new(line, None, Some(origin.clone())).parse().ok()?;
        let record = sets
            .into_values()
            .next()?
            .records_without_rrsigs()
            .next()?
            .clone();
        Some(lower_rdata_names(record.data))
    }

    #[test]
    fn the_common_types_read_as_hickory_reads_them() {
        let origin = Name::from_ascii("example.go.id.").unwrap();
        let cases = [
            (RecordType::A, "203.0.113.7"),
            (RecordType::A, "203.0.113.256"),
            (RecordType::A, "2001:db8::1"),
            (RecordType::AAAA, "2001:db8::1"),
            (RecordType::AAAA, "::ffff:203.0.113.7"),
            (RecordType::AAAA, "203.0.113.7"),
            (RecordType::NS, "ns1"),
            (RecordType::NS, "NS1.Example.NET."),
            (RecordType::CNAME, "www.example.net."),
            (RecordType::CNAME, "sub.domain"),
            (RecordType::CNAME, "a\\.b"),
            (RecordType::PTR, "host"),
            (RecordType::MX, "10 mail"),
            (RecordType::MX, "0 ."),
            (RecordType::MX, "65536 mail"),
            (RecordType::MX, "x mail"),
            (RecordType::SRV, "10 60 5060 sip.Example.NET."),
            (RecordType::SRV, "0 0 0 ."),
            (RecordType::SRV, "1 2 70000 sip"),
        ];
        for (rtype, text) in cases {
            let tokens: Vec<&str> = text.split(' ').collect();
            let ours = common_rdata(rtype, &tokens, &origin)
                .expect("a common type")
                .ok();
            assert_eq!(ours, hickory_rdata(rtype, text, &origin), "{rtype} {text}");
        }
        // Another number of fields is left to hickory, which names the problem.
        assert!(common_rdata(RecordType::MX, &["10"], &origin).is_none());
        assert!(common_rdata(RecordType::TXT, &["x"], &origin).is_none());
    }

    #[test]
    fn dnssec_records_of_another_signer_are_dropped() {
        let text = r#"$ORIGIN example.go.id.
$TTL 300
@ SOA ns1 hostmaster 1 3600 900 1209600 300
@ NS ns1
@ DNSKEY 257 3 13 ( mdsswUyr3DPW132mOi8V9xESWE8jTo0d
    xCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )
@ RRSIG SOA 13 3 300 20270101000000 20261201000000 12345 example.go.id. ( AAAA )
ns1 A 203.0.113.2
secure NS ns1
secure DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
0p9mhaveqvm6t7vbl5lop2u3t2rp3tom NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG
@ NSEC3PARAM 1 0 0 -
"#;
        let (zone, dropped) = parse_signed(text, "t", None).unwrap();
        assert_eq!(dropped, 4);
        let types: Vec<RecordType> = zone.records.iter().map(|r| r.record_type()).collect();
        assert!(types.contains(&RecordType::DS));
        assert!(!types.iter().any(|t| crate::zone::is_dnssec_type(*t)));
        assert_eq!(zone.records.len(), 4);
    }

    fn origin() -> Name {
        Name::from_ascii("example.go.id.").unwrap()
    }

    const GOOD: &str = r#"$ORIGIN example.go.id.
$TTL 1h
@   IN SOA ns1 hostmaster (
        2026010101 ; serial
        3600 900 1209600 300 )
    IN NS ns1
    IN NS ns2.example.go.id.
    IN A 203.0.113.1
ns1 IN A 203.0.113.2
ns2 300 IN AAAA 2001:db8::2
WWW IN CNAME example.go.id.
@   IN MX 10 mail
mail IN A 203.0.113.3
@   IN TXT "v=spf1 mx -all" "second string"
info IN TXT "a \"quoted\" word; not a comment"
child IN NS ns.child
ns.child IN A 203.0.113.4
"#;

    #[test]
    fn parses_a_typical_zone() {
        let z = parse(GOOD, "good.zone", Some(&origin())).unwrap();
        assert_eq!(z.origin, origin());
        assert_eq!(z.soa_data().unwrap().serial, 2026010101);
        assert_eq!(z.soa_data().unwrap().minimum, 300);
        assert_eq!(z.soa.ttl, 3600);
        let www = z
            .records
            .iter()
            .find(|r| r.record_type() == RecordType::CNAME)
            .unwrap();
        assert_eq!(www.name.to_ascii(), "www.example.go.id.");
        let ns2 = z
            .records
            .iter()
            .find(|r| r.record_type() == RecordType::AAAA)
            .unwrap();
        assert_eq!(ns2.ttl, 300);
        let txt: Vec<String> = z
            .records
            .iter()
            .filter(|r| r.record_type() == RecordType::TXT)
            .map(|r| presentation(&r.data))
            .collect();
        assert!(txt.contains(&"\"v=spf1 mx -all\" \"second string\"".to_string()));
        assert!(txt.contains(&"\"a \\\"quoted\\\" word; not a comment\"".to_string()));
    }

    #[test]
    fn round_trip_is_a_fixed_point() {
        let z = parse(GOOD, "good.zone", Some(&origin())).unwrap();
        let text = write(&z);
        let z2 = parse(&text, "export", None).unwrap();
        assert_eq!(z, z2);
        assert_eq!(write(&z2), text);
    }

    fn line_of(text: &str) -> usize {
        parse(text, "bad.zone", Some(&origin())).unwrap_err().line
    }

    #[test]
    fn errors_name_the_line() {
        let head = "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 203.0.113.1\n";
        // A record line without a type is an error, not silently dropped.
        assert_eq!(line_of(&format!("{head}www 300 IN\n")), 5);
        assert_eq!(line_of(&format!("{head}\n\nwww IN A 999.1.1.1\n")), 7);
        assert_eq!(line_of(&format!("{head}www IN BOGUS x\n")), 5);
        assert_eq!(line_of(&format!("{head}www CH A 1.2.3.4\n")), 5);
        assert_eq!(line_of(&format!("{head}x IN TXT \"open\n\n")), 5);
        assert_eq!(line_of(&format!("{head}x IN MX ( 10\n mail\n")), 5);
        assert_eq!(line_of(&format!("{head}$INCLUDE other.zone\n")), 5);
        assert_eq!(line_of(&format!("{head}www.other.id. A 203.0.113.9\n")), 5);
        assert_eq!(line_of(&format!("{head}c CNAME x\nc A 203.0.113.9\n")), 5);
        assert_eq!(
            line_of(&format!("{head}a 60 A 203.0.113.9\na 70 A 203.0.113.8\n")),
            6
        );
        assert_eq!(line_of(&format!("{head}d NS ns1\nx.d TXT \"hidden\"\n")), 6);
        assert_eq!(line_of(&format!("{head}@ SOA ns1 h 1 2 3 4 5\n")), 5);
        let err = parse("www A 203.0.113.1\n", "nosoa.zone", Some(&origin())).unwrap_err();
        assert!(err.message.contains("no TTL") || err.message.contains("SOA"));
        let err = parse(
            "$TTL 1\n@ SOA a b 1 2 3 4 5\n",
            "nons.zone",
            Some(&origin()),
        )
        .unwrap_err();
        assert!(err.message.contains("NS"), "{err}");
    }

    #[test]
    fn sets_are_grouped_by_name_and_type_whatever_the_order_of_lines() {
        let head = "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 203.0.113.1\n";
        // One name's sets interleaved with another's; an exact duplicate is one record, and
        // the records stay in the file's order.
        let text = format!(
            "{head}a A 203.0.113.10\nb A 203.0.113.20\na AAAA 2001:db8::1\n\
             a A 203.0.113.11\nB A 203.0.113.20\na A 203.0.113.10\n"
        );
        let zone = parse(&text, "sets.zone", Some(&origin())).unwrap();
        let owners: Vec<String> = zone
            .records
            .iter()
            .map(|r| format!("{} {}", r.name, r.record_type()))
            .collect();
        assert_eq!(
            owners[2..],
            [
                "a.example.go.id. A",
                "b.example.go.id. A",
                "a.example.go.id. AAAA",
                "a.example.go.id. A",
            ]
        );
        assert_eq!(zone.records.len(), 6, "{owners:?}");
        // The TTL of a set is its first record's, found across other names' lines.
        let e = parse(
            &format!("{head}a 60 A 203.0.113.9\nb 60 A 203.0.113.9\na 70 A 203.0.113.8\n"),
            "ttl.zone",
            Some(&origin()),
        )
        .unwrap_err();
        assert_eq!((e.line, e.message.contains("on line 5")), (7, true), "{e}");
        // Two CNAMEs at a name; a CNAME at the apex (where the SOA and NS already are).
        assert_eq!(
            line_of(&format!("{head}c CNAME x\nd A 203.0.113.9\nc CNAME y\n")),
            5
        );
        let e = parse(&format!("{head}@ CNAME x\n"), "apex.zone", Some(&origin())).unwrap_err();
        assert_eq!(
            (e.line, e.message.contains("CNAME and other data")),
            (5, true),
            "{e}"
        );
        // At a cut: NS, DS and address glue below it are the zone's; nothing else is.
        let cut = format!(
            "{head}d NS ns.d\nd DS 12345 13 2 {}\nns.d A 203.0.113.53\nns.d AAAA 2001:db8::53\n",
            "ab".repeat(32)
        );
        assert_eq!(
            parse(&cut, "cut.zone", Some(&origin()))
                .unwrap()
                .records
                .len(),
            6
        );
        assert_eq!(line_of(&format!("{cut}d TXT \"at the cut\"\n")), 9);
    }

    #[test]
    fn error_message_has_file_and_line() {
        let e = parse(
            "$TTL 60\n@ SOA a b 1 2 3 4 5\nfoo\n",
            "z.zone",
            Some(&origin()),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "z.zone:3: record has no type");
    }

    /// Found by the `policy` fuzz target: a TXT value with text outside ASCII (accepted at
    /// submission) exported as `\DDD` and imported as other text, or not at all.
    #[test]
    fn text_outside_ascii_survives_export_and_import() {
        let zone = format!(
            "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n\
             t TXT \"Dinas Kesehatan \\226\\128\\148 layanan\" caf\\195\\169 \"\\255\\000\\\"\\\\x\\065\"\n\
             c CAA 0 issue \"ca.example.net; account=\\195\\169\"\n\
             u TXT \"{}\"\n",
            "é".repeat(127)
        );
        let z = parse(&zone, "utf8.zone", Some(&origin())).unwrap();
        let txt = |name: &str| match &z
            .records
            .iter()
            .find(|r| r.name.to_ascii().starts_with(name))
            .unwrap()
            .data
        {
            RData::TXT(t) => t.txt_data.iter().map(|s| s.to_vec()).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            txt("t."),
            vec![
                "Dinas Kesehatan — layanan".as_bytes().to_vec(),
                "café".as_bytes().to_vec(),
                b"\xff\0\"\\xA".to_vec()
            ]
        );
        assert_eq!(txt("u."), vec!["é".repeat(127).into_bytes()]);
        let caa = z
            .records
            .iter()
            .find(|r| r.record_type() == RecordType::CAA)
            .unwrap();
        assert!(
            presentation(&caa.data).contains("account=\\195\\169"),
            "{caa}"
        );
        // Exported, then imported: the same zone.
        let text = write(&z);
        assert_eq!(parse(&text, "export", None).unwrap(), z, "{text}");
    }

    #[test]
    fn strings_are_read_as_rfc_1035_says() {
        assert_eq!(character_string("\"a\\065\\\\\\\"\"").unwrap(), b"aA\\\"");
        assert_eq!(character_string("plain\\032word").unwrap(), b"plain word");
        assert_eq!(character_string("\"\"").unwrap(), b"");
        assert!(character_string("\"\\256\"").is_err());
        assert!(character_string("\"\\12\"").is_err());
        assert!(character_string("x\\").is_err());
        assert!(character_string(&format!("\"{}\"", "x".repeat(256))).is_err());
        assert_eq!(
            line_of("$TTL 1\n@ SOA a b 1 2 3 4 5\n@ NS a\nx TXT \"\\999\"\n"),
            4
        );
    }

    #[test]
    fn quoting_escapes_what_must_be_escaped() {
        assert_eq!(quote(b"a\"b\\c\x01"), "\"a\\\"b\\\\c\\001\"");
    }
}
