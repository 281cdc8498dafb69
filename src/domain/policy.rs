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
    "_acme-challenge",
    "_audit",
    "autodiscover",
];

/// Lowest and highest TTL a request may ask for (one minute, one day).
pub const TTL_RANGE: (u32, u32) = (60, 86_400);

/// The policy's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Labels nobody may request.
    pub reserved: Vec<String>,
    /// Accept private ranges (RFC 1918, fc00::/7) for internal applications.
    pub allow_private_addresses: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            reserved: DEFAULT_RESERVED.iter().map(|s| s.to_string()).collect(),
            allow_private_addresses: false,
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
}

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
    /// lower-cased.
    pub fn check_label(&self, label: &str, zone: &str) -> Result<String, FieldError> {
        let label = label.trim().to_ascii_lowercase();
        let bad = |m: &str| FieldError::new("name", "invalid_label", m);
        if label.is_empty() || label.len() > 63 {
            return Err(bad("a label has 1 to 63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad("a label has only letters, digits and hyphens"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label does not start or end with a hyphen"));
        }
        if self.reserved.iter().any(|r| r.eq_ignore_ascii_case(&label)) {
            return Err(FieldError::new(
                "name",
                "reserved_name",
                format!("`{label}` is reserved"),
            ));
        }
        let full = label.len() + 1 + zone.trim_end_matches('.').len();
        if full > 253 {
            return Err(bad("the whole name would be longer than 253 characters"));
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
            AddressClass::Loopback => Err("loopback address"),
            AddressClass::LinkLocal => Err("link-local address"),
            AddressClass::Multicast => Err("multicast address"),
            AddressClass::Unspecified => Err("unspecified address"),
            AddressClass::Shared => Err("shared address space (100.64.0.0/10)"),
            AddressClass::Reserved => Err("reserved special-purpose address"),
        }
    }

    /// Check the records of a request: types, values, TTLs, CNAME alone, one TTL per type.
    /// Returns the parsed values, or every problem found.
    pub fn check_records(
        &self,
        records: &[RequestedRecord],
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
            match self.parse_value(&r.rtype, &r.value) {
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
        for (i, (v, ttl)) in values.iter().enumerate() {
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

    fn parse_value(&self, rtype: &str, value: &str) -> Result<RecordValue, (&'static str, String)> {
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
                Ok(RecordValue::Aaaa(ip))
            }
            "CNAME" => Ok(RecordValue::Cname(host_name(value)?)),
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
                    exchange: host_name(host.trim())?,
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
            other => Err((
                "unsupported_type",
                format!("record type `{other}` cannot be requested (A, AAAA, CNAME, TXT, MX)"),
            )),
        }
    }
}

fn same_type(a: &RecordValue, b: &RecordValue) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// A host name as a record target: absolute, lower-case, with the trailing dot.
fn host_name(value: &str) -> Result<String, (&'static str, String)> {
    let v = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = || ("invalid_host", format!("`{value}` is not a host name"));
    if v.is_empty() || v.len() > 253 {
        return Err(bad());
    }
    for label in v.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad());
        }
    }
    Ok(format!("{v}."))
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

    fn rec(t: &str, v: &str, ttl: u32) -> RequestedRecord {
        RequestedRecord {
            rtype: t.into(),
            value: v.into(),
            ttl,
        }
    }

    #[test]
    fn records() {
        let p = Policy::default();
        let ok = p
            .check_records(&[
                rec("A", "203.0.113.10", 3600),
                rec("AAAA", "2001:db8::10", 3600),
                rec("MX", "10 Mail.Example.go.id", 3600),
                rec("TXT", &"x".repeat(300), 300),
            ])
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
            p.check_records(rs)
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
        assert_eq!(codes(&[rec("A", "203.0.113.1", 5)]), ["invalid_ttl"]);
        assert_eq!(codes(&[rec("MX", "mail", 300)]), ["invalid_mx"]);
        assert_eq!(codes(&[rec("CNAME", "bad..name", 300)]), ["invalid_host"]);
        // Every problem at once, each naming its field.
        let errs = p
            .check_records(&[rec("A", "10.0.0.1", 5), rec("TXT", "", 300)])
            .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["records[0].ttl", "records[0].value", "records[1].value"]
        );
    }
}
