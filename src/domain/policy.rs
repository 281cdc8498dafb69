//! The name and record policy for requested subdomains (product.md, "Names and records").
//!
//! Every check returns field errors (`field`, stable `code`, message) so that the API can list
//! all of them at once in a `validation_failed` problem.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, e.g. `name` or `records[1].value`.
    pub field: String,
    /// Stable code, e.g. `invalid_label`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// The reserved labels by default.
pub const DEFAULT_RESERVED: &[&str] = &[
    "@",
    "www",
    "mail",
    "ns",
    "ns1",
    "ns2",
    "ns3",
    "ns4",
    "ns5",
    "ns6",
    "ns7",
    "ns8",
    "ns9",
    "mx",
    ACME_CHALLENGE_LABEL,
    AUDIT_ANCHOR_LABEL,
    "autodiscover",
];

/// The label of the TXT record at every zone's apex that carries the audit trail's head
/// (`_audit.<zone>`, docs/audit.md).
pub const AUDIT_ANCHOR_LABEL: &str = "_audit";

/// The first label of an ACME DNS-01 challenge's TXT record (`_acme-challenge.<name>`, RFC 8555
/// §8.4), which ranah publishes while a certificate order waits for the CA.
pub const ACME_CHALLENGE_LABEL: &str = "_acme-challenge";

/// A record ranah writes for itself, never an agency's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnRecord {
    /// `_audit.<zone>` TXT: the audit trail's head.
    AuditAnchor,
    /// `_acme-challenge.<name>` TXT: a DNS-01 challenge.
    AcmeChallenge,
}

/// Whether the records of type `rtype` at `owner` in `zone` are ranah's own (names with or
/// without the final dot, in any case): the one rule that keeps them out of the register of
/// subdomains, and the anchor out of exports and imports. Neither is a subdomain: no agency
/// asked for it, and both labels are reserved.
pub fn own_record(zone: &str, owner: &str, rtype: &str) -> Option<OwnRecord> {
    if !rtype.eq_ignore_ascii_case("TXT") {
        return None;
    }
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    let owner = owner.trim_end_matches('.').to_ascii_lowercase();
    let (first, parent) = owner.split_once('.')?;
    if first == AUDIT_ANCHOR_LABEL && parent == zone {
        return Some(OwnRecord::AuditAnchor);
    }
    let in_zone = parent == zone || parent.ends_with(&format!(".{zone}"));
    (first == ACME_CHALLENGE_LABEL && in_zone).then_some(OwnRecord::AcmeChallenge)
}

/// Lowest and highest TTL a request may ask for (one minute, one day).
pub const TTL_RANGE: (u32, u32) = (60, 86_400);

/// The policy's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Labels nobody may request.
    pub reserved: Vec<String>,
    /// Accept private ranges (RFC 1918, fc00::/7) for internal applications.
    pub allow_private_addresses: bool,
    /// Accept loopback addresses (127.0.0.0/8, ::1): for tests on one machine, whose servers
    /// listen on loopback only; never for a zone on the internet.
    pub allow_loopback_addresses: bool,
    /// Most records of one type a request may put at its name.
    pub max_rrset_records: usize,
    /// Largest UDP answer (bytes, with the question and EDNS) a requested set may make.
    pub max_answer_bytes: usize,
    /// The address ranges a zone's names are hosted in, where the office has set them.
    pub address_ranges: Vec<ZoneRanges>,
}

/// What becomes of an address outside the ranges a zone's names are hosted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outside {
    /// Refused, with an error naming the ranges.
    Refuse,
    /// Accepted, and shown to the reviewers with a warning.
    Review,
}

/// The ranges an office hosts a zone's names in (its own data centre, its hosting): a
/// province may require every address to be in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRanges {
    /// The zone, lower case, without the final dot.
    pub zone: String,
    /// The ranges.
    pub ranges: Vec<ipnet::IpNet>,
    /// What becomes of an address outside them.
    pub outside: Outside,
}

/// A warning on an accepted request, for its reviewers: which field, a stable code, what.
pub type Warning = FieldError;

/// Most records of one type at a requested name, by default.
pub const DEFAULT_MAX_RRSET_RECORDS: usize = 16;

/// Largest answer a requested set may make, by default: the EDNS buffer size of the DNS flag
/// day 2020, which ranah advertises and never exceeds over UDP, so that no answer of a
/// requested name needs TCP.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 1232;

impl Default for Policy {
    fn default() -> Self {
        Self {
            reserved: DEFAULT_RESERVED.iter().map(|s| s.to_string()).collect(),
            allow_private_addresses: false,
            allow_loopback_addresses: false,
            max_rrset_records: DEFAULT_MAX_RRSET_RECORDS,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            address_ranges: Vec::new(),
        }
    }
}

/// A record a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordValue {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias to another name (absolute, lower-case, with the trailing dot).
    Cname(String),
    /// Text (one or more strings of at most 255 bytes).
    Txt(Vec<String>),
    /// Mail exchanger.
    Mx {
        /// Preference.
        preference: u16,
        /// Exchange host (absolute, lower-case, trailing dot).
        exchange: String,
    },
    /// A name server of a delegated child zone (absolute, lower-case, trailing dot).
    Ns(String),
    /// The DS of a signed child zone (RFC 4034 §5), beside its NS.
    Ds {
        /// Key tag.
        key_tag: u16,
        /// The key's algorithm number.
        algorithm: u8,
        /// 2 (SHA-256) or 4 (SHA-384).
        digest_type: u8,
        /// The digest.
        digest: Vec<u8>,
    },
}

/// DNSSEC algorithms a child's DS may name: those RFC 8624 says to validate (RSA/SHA-256 and
/// SHA-512, ECDSA P-256 and P-384, Ed25519 and Ed448).
const DS_ALGORITHMS: [u8; 6] = [8, 10, 13, 14, 15, 16];

/// A requested record: type and value as given, TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedRecord {
    /// `A`, `AAAA`, `CNAME`, `TXT` or `MX`.
    pub rtype: String,
    /// The value as text (`203.0.113.10`, `10 mail.example.go.id.`, …).
    pub value: String,
    /// TTL in seconds.
    pub ttl: u32,
}

impl Policy {
    /// Check a requested label under `zone` (`sipd` under `kaltaraprov.go.id`); returns it
    /// as an A-label in lower case (a U-label such as `bücher` becomes `xn--bcher-kva`).
    pub fn check_label(&self, label: &str, zone: &str) -> Result<String, FieldError> {
        // Spaces around are forgiven; control characters (which `trim` would also take)
        // are not.
        let raw = label.trim_matches(' ');
        let bad = |m: String| FieldError::new("name", "invalid_label", m);
        if raw.contains('.') {
            return Err(bad(
                "a label has no dots: name one label under the zone".into()
            ));
        }
        let label = a_label(raw, false).map_err(|m| bad(m.to_owned()))?;
        if self.reserved.iter().any(|r| r.eq_ignore_ascii_case(&label)) {
            return Err(FieldError::new(
                "name",
                "reserved_name",
                format!("`{label}` is reserved"),
            ));
        }
        let full = label.len() + 1 + zone.trim_end_matches('.').len();
        if full > 253 {
            return Err(bad(
                "the whole name would be longer than 253 characters".into()
            ));
        }
        Ok(label)
    }

    /// Check an address against the special-purpose registries.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), &'static str> {
        match classify(ip) {
            AddressClass::Global | AddressClass::Documentation => Ok(()),
            AddressClass::Private if self.allow_private_addresses => Ok(()),
            AddressClass::Private => {
                Err("private address (set allow_private_addresses for internal applications)")
            }
            AddressClass::Loopback if self.allow_loopback_addresses => Ok(()),
            AddressClass::Loopback => Err("loopback address"),
            AddressClass::LinkLocal => Err("link-local address"),
            AddressClass::Multicast => Err("multicast address"),
            AddressClass::Unspecified => Err("unspecified address"),
            AddressClass::Shared => Err("shared address space (100.64.0.0/10)"),
            AddressClass::Reserved => Err("reserved special-purpose address"),
        }
    }

    /// Where `zone`'s names are hosted, and `ip` is outside: what becomes of it, and why.
    fn outside_ranges(&self, ip: IpAddr, zone: &str) -> Option<(Outside, String)> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let set = self.address_ranges.iter().find(|r| r.zone == zone)?;
        if set.ranges.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        let ranges = set
            .ranges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Some((
            set.outside,
            format!("{ip} is outside the addresses {zone}'s names are hosted in ({ranges})"),
        ))
    }

    /// The warnings reviewers see on a request's records in `zone` (each `(type, value)` as
    /// stored): addresses outside the zone's ranges, where such are reviewed; and where they
    /// are refused, those of a request made before the ranges were (its approval will fail).
    pub fn warnings<'r>(
        &self,
        records: impl IntoIterator<Item = (&'r str, &'r str)>,
        zone: &str,
    ) -> Vec<Warning> {
        records
            .into_iter()
            .enumerate()
            .filter_map(|(i, (rtype, value))| {
                let ip: IpAddr = match rtype.to_ascii_uppercase().as_str() {
                    "A" | "AAAA" => value.trim().parse().ok()?,
                    _ => return None,
                };
                let (outside, message) = self.outside_ranges(ip, zone)?;
                let message = match outside {
                    Outside::Review => message,
                    Outside::Refuse => format!("{message}; the approval will refuse it"),
                };
                Some(FieldError::new(
                    format!("records[{i}].value"),
                    "address_outside_ranges",
                    message,
                ))
            })
            .collect()
    }

    /// Why `zone`'s ranges refuse `ip`, where they do (dynamic updates, which nobody reviews,
    /// accept what reviewed ranges would warn of).
    pub fn address_refused(&self, ip: IpAddr, zone: &str) -> Option<String> {
        match self.outside_ranges(ip, zone) {
            Some((Outside::Refuse, message)) => Some(message),
            _ => None,
        }
    }

    /// An address the zone's ranges refuse.
    fn within_ranges(&self, ip: IpAddr, zone: &str) -> Result<(), (&'static str, String)> {
        match self.outside_ranges(ip, zone) {
            Some((Outside::Refuse, message)) => Err(("address_outside_ranges", message)),
            _ => Ok(()),
        }
    }

    /// Check the records of a request in `zone`: types, values, TTLs, CNAME alone, one TTL
    /// per type, at most `max_rrset_records` of a type. Host names in values are read as in a
    /// master file whose origin is the zone: `portal` is `portal.<zone>.`, `mail.example.com.`
    /// (with the trailing dot) is itself. Returns the parsed values, or every problem found.
    pub fn check_records(
        &self,
        records: &[RequestedRecord],
        zone: &str,
    ) -> Result<Vec<(RecordValue, u32)>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut values = Vec::new();
        if records.is_empty() {
            errors.push(FieldError::new(
                "records",
                "required",
                "at least one record is required",
            ));
        }
        for (i, r) in records.iter().enumerate() {
            let field = format!("records[{i}]");
            if r.ttl < TTL_RANGE.0 || r.ttl > TTL_RANGE.1 {
                errors.push(FieldError::new(
                    format!("{field}.ttl"),
                    "invalid_ttl",
                    format!(
                        "TTL must be between {} and {} seconds",
                        TTL_RANGE.0, TTL_RANGE.1
                    ),
                ));
            }
            match self.parse_value(&r.rtype, &r.value, zone) {
                Ok(v) => values.push((v, r.ttl)),
                Err((code, message)) => {
                    errors.push(FieldError::new(format!("{field}.value"), code, message))
                }
            }
        }
        let has = |t: fn(&RecordValue) -> bool| values.iter().filter(|(v, _)| t(v)).count();
        let cnames = has(|v| matches!(v, RecordValue::Cname(_)));
        if cnames > 0 && values.len() > 1 {
            errors.push(FieldError::new(
                "records",
                "cname_not_alone",
                "a CNAME stands alone: no other record at the same name",
            ));
        }
        // A delegation: NS, with DS when the child is signed, and nothing else (the name
        // belongs to the child zone; RFC 1034 §4.2.1, RFC 4035 §2.4).
        let ns = has(|v| matches!(v, RecordValue::Ns(_)));
        let ds = has(|v| matches!(v, RecordValue::Ds { .. }));
        if ds > 0 && ns == 0 {
            errors.push(FieldError::new(
                "records",
                "ds_without_ns",
                "a DS belongs to a delegation: give the child zone's NS records with it",
            ));
        }
        if ns > 0 && ns + ds < values.len() {
            errors.push(FieldError::new(
                "records",
                "delegation_not_alone",
                "a delegated name holds only its NS (and DS) records",
            ));
        }
        for (i, (v, ttl)) in values.iter().enumerate() {
            let of_type = values[..i].iter().filter(|(w, _)| same_type(v, w)).count();
            if of_type == self.max_rrset_records {
                errors.push(FieldError::new(
                    format!("records[{i}]"),
                    "rrset_too_large",
                    format!(
                        "at most {} records of one type at a name (names.max_rrset_records)",
                        self.max_rrset_records
                    ),
                ));
            }
            if values[..i].iter().any(|(w, t)| same_type(v, w) && t != ttl) {
                errors.push(FieldError::new(
                    format!("records[{i}].ttl"),
                    "ttl_mismatch",
                    "all records of one type share one TTL (RFC 2181)",
                ));
            }
            if values[..i].iter().any(|(w, _)| w == v) {
                errors.push(FieldError::new(
                    format!("records[{i}]"),
                    "duplicate",
                    "the same record twice",
                ));
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }

    fn parse_value(
        &self,
        rtype: &str,
        value: &str,
        zone: &str,
    ) -> Result<RecordValue, (&'static str, String)> {
        let value = value.trim();
        match rtype.to_ascii_uppercase().as_str() {
            "A" => {
                let ip: Ipv4Addr = value.parse().map_err(|_| {
                    (
                        "invalid_address",
                        format!("`{value}` is not an IPv4 address"),
                    )
                })?;
                self.check_address(IpAddr::V4(ip))
                    .map_err(|m| ("address_not_allowed", m.to_string()))?;
                self.within_ranges(IpAddr::V4(ip), zone)?;
                Ok(RecordValue::A(ip))
            }
            "AAAA" => {
                let ip: Ipv6Addr = value.parse().map_err(|_| {
                    (
                        "invalid_address",
                        format!("`{value}` is not an IPv6 address"),
                    )
                })?;
                self.check_address(IpAddr::V6(ip))
                    .map_err(|m| ("address_not_allowed", m.to_string()))?;
                self.within_ranges(IpAddr::V6(ip), zone)?;
                Ok(RecordValue::Aaaa(ip))
            }
            "CNAME" => Ok(RecordValue::Cname(host_name(value, zone)?)),
            "MX" => {
                let (pref, host) = value
                    .split_once(char::is_whitespace)
                    .ok_or(("invalid_mx", "write `PREFERENCE HOST`".to_string()))?;
                let preference = pref.parse().map_err(|_| {
                    (
                        "invalid_mx",
                        format!("`{pref}` is not a preference (0-65535)"),
                    )
                })?;
                Ok(RecordValue::Mx {
                    preference,
                    exchange: host_name(host.trim(), zone)?,
                })
            }
            "TXT" => {
                if value.is_empty() {
                    return Err(("invalid_txt", "TXT needs some text".into()));
                }
                if value.len() > 2048 {
                    return Err(("invalid_txt", "TXT is limited to 2048 bytes".into()));
                }
                // Longer text is split into 255-byte strings (RFC 1035 character-strings),
                // on character boundaries.
                let mut parts = Vec::new();
                let mut current = String::new();
                for c in value.chars() {
                    if current.len() + c.len_utf8() > 255 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.push(c);
                }
                parts.push(current);
                Ok(RecordValue::Txt(parts))
            }
            "NS" => Ok(RecordValue::Ns(host_name(value, zone)?)),
            "DS" => parse_ds(value),
            other => Err((
                "unsupported_type",
                format!(
                    "record type `{other}` cannot be requested (A, AAAA, CNAME, TXT, MX, and NS \
                     with DS for a delegation)"
                ),
            )),
        }
    }
}

/// A DS value: `KEY-TAG ALGORITHM DIGEST-TYPE DIGEST` (the digest in hex, spaces allowed).
/// SHA-1 digests are refused (RFC 8624: must not be used for DS).
fn parse_ds(value: &str) -> Result<RecordValue, (&'static str, String)> {
    let bad = |why: String| ("invalid_ds", why);
    let mut fields = value.split_whitespace();
    let (Some(tag), Some(algorithm), Some(digest_type)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(bad("write `KEY-TAG ALGORITHM DIGEST-TYPE DIGEST`".into()));
    };
    let key_tag: u16 = tag
        .parse()
        .map_err(|_| bad(format!("`{tag}` is not a key tag (0-65535)")))?;
    let algorithm: u8 = algorithm
        .parse()
        .ok()
        .filter(|a| DS_ALGORITHMS.contains(a))
        .ok_or_else(|| {
            bad(format!(
                "algorithm `{algorithm}` is not one validators use (8, 10, 13, 14, 15, 16)"
            ))
        })?;
    let (digest_type, length) = match digest_type {
        "2" => (2, 32),
        "4" => (4, 48),
        other => {
            return Err(bad(format!(
                "digest type `{other}`: use 2 (SHA-256) or 4 (SHA-384)"
            )));
        }
    };
    let hex: String = fields.collect();
    let digest = hex::decode(&hex).map_err(|_| bad(format!("`{hex}` is not hexadecimal")))?;
    if digest.len() != length {
        return Err(bad(format!(
            "a digest of type {digest_type} has {length} bytes, not {}",
            digest.len()
        )));
    }
    Ok(RecordValue::Ds {
        key_tag,
        algorithm,
        digest_type,
        digest,
    })
}

fn same_type(a: &RecordValue, b: &RecordValue) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// A host name as a record target, read as in a master file whose origin is `zone`: with a
/// trailing dot it is absolute, without one it is relative to the zone (`portal` is
/// `portal.<zone>.`, `@` is the zone itself). Returns it absolute, in A-labels, lower-case,
/// with the trailing dot.
fn host_name(value: &str, zone: &str) -> Result<String, (&'static str, String)> {
    let value = value.trim_matches(' ');
    let bad = |why: &str| {
        (
            "invalid_host",
            format!("`{value}` is not a host name: {why}"),
        )
    };
    let zone = zone.trim_end_matches('.');
    let absolute = if value == "@" {
        format!("{zone}.")
    } else if let Some(name) = value.strip_suffix('.') {
        format!("{}.", name_of(name, true).map_err(bad)?)
    } else {
        format!("{}.{zone}.", name_of(value, true).map_err(bad)?)
    };
    if absolute.len() > 254 {
        return Err(bad("longer than 253 characters"));
    }
    Ok(absolute)
}

/// A domain name as ranah keeps it: A-labels, lower case, without the trailing dot. At most
/// one trailing dot is accepted (`kaltaraprov.go.id.` but not `kaltaraprov.go.id..`); every
/// label must be a valid IDNA 2008 label (see [`a_label`]). Names given as U-labels are
/// converted. Used for zones, owner names and record targets, wherever a name is accepted.
pub fn normal_name(input: &str) -> Result<String, &'static str> {
    let input = input.trim_matches(' ');
    let name = input.strip_suffix('.').unwrap_or(input);
    name_of(name, false)
}

/// Every label of `name` (no trailing dot) through [`a_label`], joined again.
/// An owner name as written by an API client (any case, U-labels or A-labels, one final dot
/// at most), as A-labels in lower case without the dot; labels may start with `_` (a
/// challenge's `_acme-challenge`, `_dmarc`).
pub fn owner_name(input: &str) -> Result<String, &'static str> {
    let input = input.trim_matches(' ');
    name_of(input.strip_suffix('.').unwrap_or(input), true)
}

fn name_of(name: &str, underscore: bool) -> Result<String, &'static str> {
    if name.is_empty() {
        return Err("an empty name");
    }
    if name.ends_with('.') {
        return Err("more than one trailing dot");
    }
    let labels: Vec<String> = name
        .split('.')
        .map(|l| a_label(l, underscore))
        .collect::<Result<_, _>>()?;
    let joined = labels.join(".");
    if joined.len() > 253 {
        return Err("longer than 253 characters");
    }
    Ok(joined)
}

/// One label as a valid IDNA 2008 A-label (RFC 5890), lower case: letters, digits and inner
/// hyphens in ASCII (no `--` in the third and fourth place unless it is an A-label that
/// decodes), or a U-label converted to its A-label. UTS 46 (the `idna` crate, without
/// transitional mapping) maps and checks the label, refusing invalid Punycode (`xn--zz`),
/// bidi and joiner errors; RFC 5892's categories are then checked on the Unicode form, since
/// UTS 46 still lets through symbols and punctuation that IDNA 2008 disallows (`☃`).
/// `underscore` admits ASCII labels that start with `_` (service and attribute labels, RFC
/// 8552, in record targets, such as `_dmarc`), which are DNS names but not host names. An
/// underscore elsewhere in a label (`mail_1`) is refused: it names neither, and a master file
/// reads it back only at a label's start (hickory, as `ranah zone import` uses it), so a record
/// with it could be served but its zone's export not imported.
pub fn a_label(label: &str, underscore: bool) -> Result<String, &'static str> {
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    if label.is_empty() {
        return Err("an empty label");
    }
    if control_character(label).is_some() {
        return Err("a label has no control characters");
    }
    if label.len() > 255 {
        return Err("a label has at most 63 characters");
    }
    if underscore && label.contains('_') && !label.starts_with('_') {
        return Err("an underscore only starts a label (a service label such as `_dmarc`)");
    }
    if underscore
        && label.starts_with('_')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        if label.len() > 63 {
            return Err("a label has at most 63 characters");
        }
        return Ok(label.to_ascii_lowercase());
    }
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            label.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Ignore,
        )
        .map_err(|_| {
            if label.is_ascii() && label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--") {
                "not a valid IDNA A-label (invalid Punycode or a disallowed character)"
            } else {
                "a label has only letters, digits and inner hyphens (IDNA 2008)"
            }
        })?;
    if ascii.is_empty() || ascii.contains('.') {
        return Err("a label has only letters, digits and inner hyphens (IDNA 2008)");
    }
    if ascii.len() > 63 {
        return Err("a label has at most 63 characters");
    }
    if let Some(_encoded) = ascii.strip_prefix("xn--") {
        let (unicode, ok) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
        if ok.is_err() || !unicode.chars().all(idna2008_valid) {
            return Err("not a valid IDNA 2008 label (a disallowed character)");
        }
    }
    Ok(ascii.into_owned())
}

/// Whether a code point may stand in an IDNA 2008 U-label (RFC 5892 §2: letters, marks and
/// digits, the exceptions of §2.6, the joiners UTS 46 has checked in context, and ASCII's
/// hyphen and LDH).
fn idna2008_valid(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    if c.is_ascii() {
        return c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    }
    // RFC 5892 §2.6: exceptions.
    match c {
        '\u{df}' | '\u{3c2}' | '\u{6fd}' | '\u{6fe}' | '\u{f0b}' | '\u{3007}' => return true,
        '\u{640}' | '\u{7fa}' | '\u{302e}' | '\u{302f}' | '\u{3031}'..='\u{3035}' | '\u{303b}' => {
            return false;
        }
        '\u{200c}' | '\u{200d}' => return true,
        _ => {}
    }
    matches!(
        get_general_category(c),
        G::LowercaseLetter
            | G::OtherLetter
            | G::ModifierLetter
            | G::NonspacingMark
            | G::SpacingMark
            | G::DecimalNumber
    )
}

/// The first control character in `text` (C0, DEL or C1, Unicode's category Cc), if any.
/// Every text field the API accepts is refused with one (`control_character`).
pub fn control_character(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control())
}

/// The first control character in `text` other than a line break (CR, LF): for PEM
/// documents (a CSR), which are lines by definition (RFC 7468).
pub fn control_character_in_lines(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r'))
}

/// Bytes of a name in DNS wire form without compression (`a.b.` is 5).
pub fn wire_len(fqdn: &str) -> usize {
    let name = fqdn.trim_end_matches('.');
    if name.is_empty() { 1 } else { name.len() + 2 }
}

/// The DNS message header.
const HEADER_BYTES: usize = 12;
/// The EDNS OPT record ranah adds to an answer to an EDNS query (root owner, type, class,
/// TTL, empty RDATA: RFC 6891 §6.1.2).
const OPT_BYTES: usize = 11;
/// Type, class, TTL and RDLENGTH of a resource record.
const RR_FIXED_BYTES: usize = 10;
/// A compressed owner name (a pointer to the first answer's owner).
const POINTER_BYTES: usize = 2;

impl RecordValue {
    /// Bytes of its RDATA (names uncompressed).
    pub fn rdata_len(&self) -> usize {
        match self {
            Self::A(_) => 4,
            Self::Aaaa(_) => 16,
            Self::Cname(target) => wire_len(target),
            Self::Mx { exchange, .. } => 2 + wire_len(exchange),
            Self::Txt(parts) => parts.iter().map(|p| 1 + p.len()).sum(),
            Self::Ns(host) => wire_len(host),
            Self::Ds { digest, .. } => 4 + digest.len(),
        }
    }

    /// The record type's name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::A(_) => "A",
            Self::Aaaa(_) => "AAAA",
            Self::Cname(_) => "CNAME",
            Self::Mx { .. } => "MX",
            Self::Txt(_) => "TXT",
            Self::Ns(_) => "NS",
            Self::Ds { .. } => "DS",
        }
    }
}

/// What the zone holds at other names that an answer carries along, as the caller knows it
/// (the zone as it will be once the request is provisioned). Both are in bytes of whole
/// resource records with uncompressed owners, and 0 for names outside the zone.
pub trait Carried {
    /// The address records (A and AAAA) at `target`: the additional data of an MX answer.
    fn addresses(&self, target: &str) -> usize;
    /// The largest record set at `target`: the rest of the answer that follows a CNAME.
    fn largest_set(&self, target: &str) -> usize;
}

/// The size of the largest UDP answer to a query (with EDNS) for the type of `set` at `owner`:
/// the header, the question (the name as asked and its type and class), the set (the first
/// owner in full, the others compressed), what the set makes the answer carry (the addresses of
/// in-zone mail exchangers, the target's records after a CNAME), and the OPT record. Positive
/// answers carry nothing in the authority section (ranah answers minimally), so nothing is
/// counted there; a negative answer's SOA does not depend on the request.
pub fn answer_size(owner: &str, set: &[&RecordValue], carried: &dyn Carried) -> usize {
    let question = wire_len(owner) + 4;
    // The question goes out as the client wrote it, so the first record's owner is written
    // in full (no earlier name to point to) and the others point to it.
    let records: usize = set
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let owner = if i == 0 {
                wire_len(owner)
            } else {
                POINTER_BYTES
            };
            owner + RR_FIXED_BYTES + v.rdata_len()
        })
        .sum();
    let mut targets: Vec<&str> = Vec::new();
    let mut extra = 0;
    for v in set {
        let target = match v {
            RecordValue::Mx { exchange, .. } => exchange,
            RecordValue::Cname(target) => target,
            _ => continue,
        };
        if targets.contains(&target.as_str()) {
            continue;
        }
        targets.push(target);
        extra += match v {
            RecordValue::Cname(_) => carried.largest_set(target),
            _ => carried.addresses(target),
        };
    }
    HEADER_BYTES + question + records + extra + OPT_BYTES
}

impl Policy {
    /// Check that no set of `values` at `owner` makes an answer larger than
    /// `max_answer_bytes` (the error names the limit and the size).
    pub fn check_answer_sizes(
        &self,
        owner: &str,
        values: &[(RecordValue, u32)],
        carried: &dyn Carried,
    ) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        for (v, _) in values {
            let t = v.type_name();
            if seen.contains(&t) {
                continue;
            }
            seen.push(t);
            let set: Vec<&RecordValue> = values
                .iter()
                .map(|(w, _)| w)
                .filter(|w| same_type(v, w))
                .collect();
            let size = answer_size(owner, &set, carried);
            if size > self.max_answer_bytes {
                errors.push(FieldError::new(
                    "records",
                    "answer_too_large",
                    format!(
                        "the answer for the {t} records would be {size} bytes; the limit is {} \
                         bytes (names.max_answer_bytes), so that every answer fits one UDP \
                         message",
                        self.max_answer_bytes
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// What an address is, by IANA's special-purpose registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally reachable.
    Global,
    /// Documentation ranges (accepted so examples and tests can use them).
    Documentation,
    /// RFC 1918, fc00::/7.
    Private,
    /// 127/8, ::1.
    Loopback,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 100.64.0.0/10.
    Shared,
    /// Anything else special-purpose.
    Reserved,
}

fn in4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in6(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

/// Classify an address.
pub fn classify(ip: IpAddr) -> AddressClass {
    use AddressClass::*;
    match ip {
        IpAddr::V4(v4) => {
            let table: &[([u8; 4], u32, AddressClass)] = &[
                ([192, 0, 2, 0], 24, Documentation),
                ([198, 51, 100, 0], 24, Documentation),
                ([203, 0, 113, 0], 24, Documentation),
                ([0, 0, 0, 0], 32, Unspecified),
                ([0, 0, 0, 0], 8, Reserved),
                ([10, 0, 0, 0], 8, Private),
                ([100, 64, 0, 0], 10, Shared),
                ([127, 0, 0, 0], 8, Loopback),
                ([169, 254, 0, 0], 16, LinkLocal),
                ([172, 16, 0, 0], 12, Private),
                ([192, 0, 0, 0], 24, Reserved),
                ([192, 88, 99, 0], 24, Reserved),
                ([192, 168, 0, 0], 16, Private),
                ([198, 18, 0, 0], 15, Reserved),
                ([224, 0, 0, 0], 4, Multicast),
                ([240, 0, 0, 0], 4, Reserved),
            ];
            table
                .iter()
                .find(|(net, len, _)| in4(v4, *net, *len))
                .map_or(Global, |(_, _, class)| *class)
        }
        IpAddr::V6(v6) => {
            let n = |s: &str| s.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED);
            let table: &[(&str, u32, AddressClass)] = &[
                ("2001:db8::", 32, Documentation),
                ("::", 128, Unspecified),
                ("::1", 128, Loopback),
                ("::ffff:0:0", 96, Reserved),
                ("64:ff9b:1::", 48, Reserved),
                ("100::", 64, Reserved),
                ("2001::", 23, Reserved),
                ("2002::", 16, Reserved),
                ("3fff::", 20, Reserved),
                ("5f00::", 16, Reserved),
                ("fc00::", 7, Private),
                ("fe80::", 10, LinkLocal),
                ("ff00::", 8, Multicast),
            ];
            if !in6(v6, n("2000::"), 3) && !in6(v6, n("64:ff9b::"), 96) {
                // Outside global unicast (2000::/3) and the NAT64 prefix: special-purpose
                // or unallocated, unless a row below says otherwise.
                return table
                    .iter()
                    .find(|(net, len, _)| in6(v6, n(net), *len))
                    .map_or(Reserved, |(_, _, class)| *class);
            }
            table
                .iter()
                .find(|(net, len, _)| in6(v6, n(net), *len))
                .map_or(Global, |(_, _, class)| *class)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_records_are_the_anchor_and_challenges() {
        let z = "kaltaraprov.go.id.";
        assert_eq!(
            own_record(z, "_audit.kaltaraprov.go.id.", "TXT"),
            Some(OwnRecord::AuditAnchor)
        );
        assert_eq!(
            own_record("Kaltaraprov.go.id", "_AUDIT.kaltaraprov.go.id", "txt"),
            Some(OwnRecord::AuditAnchor)
        );
        assert_eq!(
            own_record(z, "_acme-challenge.sipd.kaltaraprov.go.id.", "TXT"),
            Some(OwnRecord::AcmeChallenge)
        );
        assert_eq!(
            own_record(z, "_acme-challenge.kaltaraprov.go.id.", "TXT"),
            Some(OwnRecord::AcmeChallenge)
        );
        // Not ranah's: another type at those names, the anchor label deeper down, other
        // underscore names an agency keeps (DMARC, DKIM), and names outside the zone.
        for (owner, rtype) in [
            ("_audit.kaltaraprov.go.id.", "A"),
            ("_acme-challenge.sipd.kaltaraprov.go.id.", "CNAME"),
            ("_audit.sipd.kaltaraprov.go.id.", "TXT"),
            ("_dmarc.kaltaraprov.go.id.", "TXT"),
            ("sipd.kaltaraprov.go.id.", "TXT"),
            ("_acme-challenge.example.org.", "TXT"),
            ("_audit.xkaltaraprov.go.id.", "TXT"),
            ("kaltaraprov.go.id.", "TXT"),
        ] {
            assert_eq!(own_record(z, owner, rtype), None, "{owner} {rtype}");
        }
    }

    #[test]
    fn labels() {
        let p = Policy::default();
        assert_eq!(
            p.check_label("SIPD", "kaltaraprov.go.id"),
            Ok("sipd".into())
        );
        assert_eq!(
            p.check_label("dinkes-2", "kaltaraprov.go.id"),
            Ok("dinkes-2".into())
        );
        for (bad, code) in [
            ("", "invalid_label"),
            ("-x", "invalid_label"),
            ("x-", "invalid_label"),
            ("a.b", "invalid_label"),
            ("a_b", "invalid_label"),
            (&"a".repeat(64), "invalid_label"),
            ("www", "reserved_name"),
            ("NS3", "reserved_name"),
            ("_acme-challenge", "invalid_label"),
            ("autodiscover", "reserved_name"),
        ] {
            assert_eq!(
                p.check_label(bad, "kaltaraprov.go.id").unwrap_err().code,
                code,
                "{bad}"
            );
        }
        // 63 + 1 + 189 = 253 characters is the most a name may have.
        let zone = |n: usize| {
            format!(
                "{}.{}.{}.{}",
                "z".repeat(60),
                "y".repeat(60),
                "x".repeat(60),
                "w".repeat(n)
            )
        };
        assert!(p.check_label(&"a".repeat(63), &zone(6)).is_ok());
        assert!(p.check_label(&"a".repeat(63), &zone(7)).is_err());
    }

    #[test]
    fn addresses() {
        let p = Policy::default();
        for ok in [
            "203.0.113.10",
            "198.51.100.1",
            "192.0.2.1",
            "8.8.8.8",
            "2001:db8::1",
            "2400:cb00::1",
        ] {
            assert_eq!(p.check_address(ok.parse().unwrap()), Ok(()), "{ok}");
        }
        for bad in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:1.2.3.4",
            "2002::1",
            "3fff::1",
            "4000::1",
        ] {
            assert!(p.check_address(bad.parse().unwrap()).is_err(), "{bad}");
        }
        let internal = Policy {
            allow_private_addresses: true,
            ..Policy::default()
        };
        assert_eq!(internal.check_address("10.1.2.3".parse().unwrap()), Ok(()));
        assert_eq!(internal.check_address("fd00::1".parse().unwrap()), Ok(()));
        assert!(
            internal
                .check_address("127.0.0.1".parse().unwrap())
                .is_err()
        );
    }

    const Z: &str = "kaltaraprov.go.id";

    fn rec(t: &str, v: &str, ttl: u32) -> RequestedRecord {
        RequestedRecord {
            rtype: t.into(),
            value: v.into(),
            ttl,
        }
    }

    #[test]
    fn addresses_outside_a_zones_ranges_are_refused_or_reviewed() {
        let ranges = |outside| Policy {
            address_ranges: vec![ZoneRanges {
                zone: Z.into(),
                ranges: vec![
                    "203.0.113.0/25".parse().unwrap(),
                    "2001:db8:10::/48".parse().unwrap(),
                ],
                outside,
            }],
            ..Policy::default()
        };
        let refuse = ranges(Outside::Refuse);
        assert!(
            refuse
                .check_records(&[rec("A", "203.0.113.10", 3600)], Z)
                .is_ok()
        );
        assert!(
            refuse
                .check_records(&[rec("AAAA", "2001:db8:10::5", 3600)], Z)
                .is_ok()
        );
        let errors = refuse
            .check_records(
                &[
                    rec("A", "203.0.113.200", 3600),
                    rec("AAAA", "2001:db8:11::5", 3600),
                ],
                Z,
            )
            .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("records[0].value", "address_outside_ranges"),
                ("records[1].value", "address_outside_ranges")
            ]
        );
        assert!(
            errors[0]
                .message
                .contains("203.0.113.0/25, 2001:db8:10::/48"),
            "{}",
            errors[0].message
        );
        // Another zone has no ranges; a name, not an address, is not concerned.
        assert!(
            refuse
                .check_records(&[rec("A", "198.51.100.7", 3600)], "example.go.id")
                .is_ok()
        );
        // A request made before the ranges were: its reviewers learn the approval will fail.
        let before = refuse.warnings([("A", "203.0.113.200")], Z);
        assert!(
            before[0].message.ends_with("the approval will refuse it"),
            "{before:?}"
        );
        // Reviewed: accepted, and the reviewers are warned.
        let review = ranges(Outside::Review);
        assert!(
            review
                .check_records(&[rec("A", "203.0.113.200", 3600)], Z)
                .is_ok()
        );
        let warnings = review.warnings(
            [
                ("CNAME", "portal"),
                ("A", "203.0.113.200"),
                ("A", "203.0.113.1"),
            ],
            Z,
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            (warnings[0].field.as_str(), warnings[0].code),
            ("records[1].value", "address_outside_ranges")
        );
        assert!(
            review
                .warnings([("A", "203.0.113.200")], "example.go.id")
                .is_empty()
        );
    }

    #[test]
    fn records() {
        let p = Policy::default();
        let ok = p
            .check_records(
                &[
                    rec("A", "203.0.113.10", 3600),
                    rec("AAAA", "2001:db8::10", 3600),
                    rec("MX", "10 Mail.Example.go.id.", 3600),
                    rec("TXT", &"x".repeat(300), 300),
                ],
                Z,
            )
            .unwrap();
        assert_eq!(
            ok[2].0,
            RecordValue::Mx {
                preference: 10,
                exchange: "mail.example.go.id.".into()
            }
        );
        assert!(
            matches!(&ok[3].0, RecordValue::Txt(parts) if parts.len() == 2 && parts[0].len() == 255)
        );

        let codes = |rs: &[RequestedRecord]| -> Vec<&'static str> {
            p.check_records(rs, Z)
                .unwrap_err()
                .into_iter()
                .map(|e| e.code)
                .collect()
        };
        assert_eq!(codes(&[]), ["required"]);
        assert_eq!(
            codes(&[
                rec("CNAME", "x.example.", 300),
                rec("A", "203.0.113.1", 300)
            ]),
            ["cname_not_alone"]
        );
        assert_eq!(
            codes(&[rec("A", "203.0.113.1", 300), rec("A", "203.0.113.2", 600)]),
            ["ttl_mismatch"]
        );
        assert_eq!(
            codes(&[rec("A", "203.0.113.1", 300), rec("A", "203.0.113.1", 300)]),
            ["duplicate"]
        );
        assert_eq!(codes(&[rec("A", "10.0.0.1", 300)]), ["address_not_allowed"]);
        assert_eq!(codes(&[rec("A", "nope", 300)]), ["invalid_address"]);
        assert_eq!(codes(&[rec("SRV", "x", 300)]), ["unsupported_type"]);
        // A delegation: NS, with the DS of a signed child; nothing else at the name.
        let digest = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";
        let ds = format!("12345 13 2 {digest}");
        let ok = p
            .check_records(
                &[rec("NS", "ns1.example.org.", 3600), rec("DS", &ds, 3600)],
                Z,
            )
            .unwrap();
        assert!(matches!(
            &ok[1].0,
            RecordValue::Ds {
                key_tag: 12345,
                digest_type: 2,
                ..
            }
        ));
        assert_eq!(codes(&[rec("DS", &ds, 3600)]), ["ds_without_ns"]);
        assert_eq!(
            codes(&[
                rec("NS", "ns1.example.org.", 3600),
                rec("A", "203.0.113.1", 3600)
            ]),
            ["delegation_not_alone"]
        );
        for bad in [
            format!("12345 13 1 {}", &digest[..40]),
            format!("12345 5 2 {digest}"),
            format!("12345 13 2 {}", &digest[..62]),
            format!("12345 13 2 {}zz", &digest[..62]),
            "12345 13".to_owned(),
            format!("99999 13 2 {digest}"),
        ] {
            assert_eq!(
                codes(&[rec("NS", "ns1.example.org.", 3600), rec("DS", &bad, 3600)]),
                ["invalid_ds"],
                "{bad}"
            );
        }
        assert_eq!(codes(&[rec("A", "203.0.113.1", 5)]), ["invalid_ttl"]);
        assert_eq!(codes(&[rec("MX", "mail", 300)]), ["invalid_mx"]);
        assert_eq!(codes(&[rec("CNAME", "bad..name", 300)]), ["invalid_host"]);
        // Every problem at once, each naming its field.
        let errs = p
            .check_records(&[rec("A", "10.0.0.1", 5), rec("TXT", "", 300)], Z)
            .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["records[0].ttl", "records[0].value", "records[1].value"]
        );
    }

    #[test]
    fn idna_labels() {
        let p = Policy::default();
        let ok = |l: &str| p.check_label(l, Z);
        assert_eq!(ok("bücher"), Ok("xn--bcher-kva".into()));
        assert_eq!(ok("BÜCHER"), Ok("xn--bcher-kva".into()));
        assert_eq!(ok("xn--bcher-kva"), Ok("xn--bcher-kva".into()));
        assert_eq!(ok("XN--BCHER-KVA"), Ok("xn--bcher-kva".into()));
        assert_eq!(ok("pariwisata"), Ok("pariwisata".into()));
        for bad in [
            "xn--zz",  // not Punycode that decodes
            "xn--",    // nothing encoded
            "xn--a",   // decodes to a lone control-range value
            "xn--n3h", // ☃: valid in UTS 46, disallowed in IDNA 2008
            "☃",       // the same as a U-label
            "a☃b",
            "ab--cd", // hyphens in the third and fourth place
            "a b",
            "a\u{0}b", // NUL
            "a\u{7f}", // DEL
            "x\u{85}", // C1
            "dinas.kesehatan",
            "sipd.",
            "sipd..",
            "😀",
            "\u{640}", // Arabic tatweel: RFC 5892 §2.6 disallowed
        ] {
            assert_eq!(ok(bad).unwrap_err().code, "invalid_label", "{bad:?}");
        }
    }

    #[test]
    fn names_take_one_trailing_dot_at_most() {
        assert_eq!(
            normal_name("kaltaraprov.go.id"),
            Ok("kaltaraprov.go.id".into())
        );
        assert_eq!(
            normal_name("Kaltaraprov.GO.id."),
            Ok("kaltaraprov.go.id".into())
        );
        assert_eq!(
            normal_name(" kaltaraprov.go.id. "),
            Ok("kaltaraprov.go.id".into())
        );
        assert_eq!(
            normal_name("bücher.example"),
            Ok("xn--bcher-kva.example".into())
        );
        for bad in [
            "kaltaraprov.go.id..",
            "kaltaraprov..go.id",
            ".kaltaraprov.go.id",
            "",
            ".",
            "..",
            "xn--zz.go.id",
            "a_b.go.id",
        ] {
            assert!(normal_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn targets_relative_to_the_zone_as_in_master_files() {
        let p = Policy::default();
        let mx = |v: &str| -> Result<RecordValue, Vec<&'static str>> {
            p.check_records(&[rec("MX", v, 300)], Z)
                .map(|mut v| v.remove(0).0)
                .map_err(|e| e.into_iter().map(|e| e.code).collect())
        };
        let exchange = |e: &str| RecordValue::Mx {
            preference: 10,
            exchange: e.into(),
        };
        // The attacker's "10 portal" is portal.<zone>., not the root's portal.
        assert_eq!(mx("10 portal"), Ok(exchange("portal.kaltaraprov.go.id.")));
        assert_eq!(
            mx("10 Portal.Dinkes"),
            Ok(exchange("portal.dinkes.kaltaraprov.go.id."))
        );
        assert_eq!(
            mx("10 mail.example.com."),
            Ok(exchange("mail.example.com."))
        );
        assert_eq!(mx("10 @"), Ok(exchange("kaltaraprov.go.id.")));
        assert_eq!(
            mx("10 bücher.example."),
            Ok(exchange("xn--bcher-kva.example."))
        );
        assert_eq!(mx("10 mail.example.com.."), Err(vec!["invalid_host"]));
        assert_eq!(mx("10 xn--zz.example."), Err(vec!["invalid_host"]));
        assert_eq!(mx("10 ."), Err(vec!["invalid_host"]));
        assert_eq!(mx("10"), Err(vec!["invalid_mx"]));
        let cname = p
            .check_records(&[rec("CNAME", "www.dinkes", 300)], Z)
            .unwrap();
        assert_eq!(
            cname[0].0,
            RecordValue::Cname("www.dinkes.kaltaraprov.go.id.".into())
        );
        let cname = p
            .check_records(&[rec("CNAME", "_x.example.com.", 300)], Z)
            .unwrap();
        assert_eq!(cname[0].0, RecordValue::Cname("_x.example.com.".into()));
        let cname = p
            .check_records(&[rec("CNAME", "_Sip._TCP.x1", 300)], Z)
            .unwrap();
        assert_eq!(
            cname[0].0,
            RecordValue::Cname("_sip._tcp.x1.kaltaraprov.go.id.".into())
        );
        // Found by fuzzing (tests/fuzz/corpus/json_body/regression-underscore-inside-label): an
        // underscore inside a label was taken, and the zone's export then failed to import.
        assert_eq!(
            mx("10 mail.kaltaraprov.go.id.incomplete_"),
            Err(vec!["invalid_host"])
        );
        for bad in ["mail_1.example.com.", "a_b", "x._dmarc.a_"] {
            let e = p.check_records(&[rec("CNAME", bad, 300)], Z).unwrap_err();
            assert_eq!(e[0].code, "invalid_host", "{bad}");
        }
        // A relative name that would be longer than 253 characters in the zone.
        let long = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(50)
        );
        assert_eq!(mx(&format!("10 {long}")), Err(vec!["invalid_host"]));
        assert!(mx(&format!("10 {long}.")).is_ok());
    }

    #[test]
    fn control_characters() {
        assert_eq!(control_character("Sistem informasi kesehatan"), None);
        assert_eq!(control_character("Dinas Pariwisata — Tarakan ñ 😀"), None);
        for c in [
            '\u{0}', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}',
        ] {
            assert_eq!(control_character(&format!("a{c}b")), Some(c), "{c:?}");
        }
        // U+00A0 (no-break space) and U+200B are not control characters (Cc).
        assert_eq!(control_character("a\u{a0}b\u{200b}"), None);
        // A PEM document has lines, and nothing else.
        let pem =
            "-----BEGIN CERTIFICATE REQUEST-----\r\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
        assert_eq!(control_character_in_lines(pem), None);
        assert_eq!(control_character_in_lines("MIIB\u{0}"), Some('\u{0}'));
        assert_eq!(control_character_in_lines("MIIB\t"), Some('\t'));
    }

    struct Zone(Vec<(&'static str, usize, usize)>);
    impl Carried for Zone {
        fn addresses(&self, t: &str) -> usize {
            self.0.iter().find(|(n, _, _)| *n == t).map_or(0, |x| x.1)
        }
        fn largest_set(&self, t: &str) -> usize {
            self.0.iter().find(|(n, _, _)| *n == t).map_or(0, |x| x.2)
        }
    }

    #[test]
    fn answer_sizes() {
        let none = Zone(vec![]);
        let owner = "sipd.kaltaraprov.go.id.";
        assert_eq!(wire_len(owner), 24);
        assert_eq!(wire_len("."), 1);
        let a = RecordValue::A("203.0.113.1".parse().unwrap());
        // 12 header + (24 + 4) question + (24 + 10 + 4) record + 11 OPT.
        assert_eq!(answer_size(owner, &[&a], &none), 89);
        // More records of the set point to the first one's owner.
        assert_eq!(answer_size(owner, &[&a, &a, &a], &none), 89 + 2 * 16);
        let txt = RecordValue::Txt(vec!["x".repeat(255), "y".repeat(10)]);
        assert_eq!(txt.rdata_len(), 256 + 11);
        assert_eq!(answer_size(owner, &[&txt], &none), 12 + 28 + 34 + 267 + 11);
        let mx = |e: &str| RecordValue::Mx {
            preference: 10,
            exchange: e.into(),
        };
        let (m1, m2) = (mx("mail.kaltaraprov.go.id."), mx("mail.kaltaraprov.go.id."));
        let zone = Zone(vec![("mail.kaltaraprov.go.id.", 100, 300)]);
        // The same exchange twice carries its addresses once.
        assert_eq!(
            answer_size(owner, &[&m1, &m2], &zone),
            12 + 28 + (24 + 10 + 26) + (2 + 10 + 26) + 100 + 11
        );
        let c = RecordValue::Cname("mail.kaltaraprov.go.id.".into());
        assert_eq!(
            answer_size(owner, &[&c], &zone),
            12 + 28 + 34 + 24 + 300 + 11
        );

        // The attacker's 2 KB TXT and 100 of them: refused, naming the limit and the size.
        let p = Policy::default();
        let big = p
            .check_records(&[rec("TXT", &"x".repeat(2048), 300)], Z)
            .unwrap();
        let errs = p.check_answer_sizes(owner, &big, &none).unwrap_err();
        assert_eq!(errs[0].code, "answer_too_large");
        assert!(
            errs[0].message.contains("1232") && errs[0].message.contains("2142"),
            "{}",
            errs[0].message
        );
        let many: Vec<RequestedRecord> = (0..100)
            .map(|i| rec("TXT", &format!("{i}{}", "x".repeat(20)), 300))
            .collect();
        let codes: Vec<&str> = p
            .check_records(&many, Z)
            .unwrap_err()
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, ["rrset_too_large"]);
        // The largest TXT that fits: 1232 - 12 - 28 - 34 - 11 = 1147 bytes of RDATA, i.e. 4
        // strings of 255 (1024 bytes with their length bytes) and one of 122 (123 bytes).
        let fits = p
            .check_records(&[rec("TXT", &"x".repeat(1142), 300)], Z)
            .unwrap();
        assert_eq!(answer_size(owner, &[&fits[0].0], &none), 1232);
        assert_eq!(p.check_answer_sizes(owner, &fits, &none), Ok(()));
        let over = p
            .check_records(&[rec("TXT", &"x".repeat(1143), 300)], Z)
            .unwrap();
        assert!(p.check_answer_sizes(owner, &over, &none).is_err());
        // Limits are the policy's.
        let strict = Policy {
            max_answer_bytes: 512,
            max_rrset_records: 2,
            ..Policy::default()
        };
        assert!(strict.check_answer_sizes(owner, &fits, &none).is_err());
        let three: Vec<RequestedRecord> = (1..=3)
            .map(|i| rec("A", &format!("203.0.113.{i}"), 300))
            .collect();
        assert!(strict.check_records(&three, Z).is_err());
        assert!(p.check_records(&three, Z).is_ok());
    }
}
