//! `[dns.rrl]`: response rate limiting of DNS answers over UDP (see `dns::rrl` and the
//! "Response rate limiting" section of docs/dns.md).

use serde::{Deserialize, Serialize};

use super::{ConfigError, at_least_one};

/// Most answers per second a bucket may be given: the limiter's clock counts nanoseconds, so
/// the interval between answers stays at least 1 µs.
const MAX_RATE: u32 = 1_000_000;
/// Largest slip (Knot's bound): beyond it almost every limited answer is dropped anyway.
const MAX_SLIP: u32 = 100;
/// Largest table: 2^24 buckets of 8 bytes, 128 MiB.
const MAX_TABLE_SIZE: usize = 1 << 24;

/// `[dns.rrl]`: as written (with its defaults) and, once checked, as in force.
///
/// The defaults follow NSD and Knot: NSD limits to 200 answers a second per bucket and slips
/// every second limited answer (`rrl-ratelimit: 200`, `rrl-slip: 2`, as BIND's `slip 2`), Knot
/// (before 3.4) groups sources by /24 and /56. A resolver caches what it is told for the TTL, so
/// no real one asks one name (or, for NXDOMAIN, one zone) 200 times a second from one /24; a
/// reflection attack needs far more.
///
/// The table holds 131,072 buckets (1 MiB). A bucket is in use only for `1/rate` seconds after
/// an answer within the rate (5 ms at 200 a second), or while a flood holds it over the rate;
/// a bucket at rest is taken over. So ordinary traffic keeps about `answers a second / rate`
/// buckets in use: 2,000 at 400,000 answers a second, more than two cores answer. What a
/// larger table buys is fewer innocent keys sharing a flooded bucket: with F buckets held over
/// the rate, a new key lands on one with odds F / 131,072.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RrlConfig {
    /// Whether answers over UDP are rate limited.
    pub enabled: bool,
    /// Answers per second per bucket (source prefix, answer kind, name); a bucket holds one
    /// second's worth, so a burst of `rate` answers passes at once.
    pub rate: u32,
    /// Every `slip`-th limited answer is sent truncated (TC, no records) so that a real client
    /// retries over TCP; the others are dropped. 0 drops all, 1 truncates all.
    pub slip: u32,
    /// Sources are grouped by this IPv4 prefix length.
    pub ipv4_prefix: u8,
    /// Sources are grouped by this IPv6 prefix length.
    pub ipv6_prefix: u8,
    /// Addresses or prefixes never limited (monitoring, for instance). The configured
    /// secondaries' addresses are exempt without being listed.
    pub exempt: Vec<String>,
    /// Buckets in the table (rounded up to a power of two, 8 bytes each): memory is fixed
    /// whatever the traffic; buckets that collide share a limit.
    pub table_size: usize,
}

impl Default for RrlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rate: 200,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: Vec::new(),
            table_size: 131_072,
        }
    }
}

impl RrlConfig {
    /// Check the values (also when disabled, so that switching it on cannot fail later).
    pub(super) fn resolve(self) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: format!("dns.rrl.{key}"),
            message,
        };
        at_least_one("dns.rrl.rate", self.rate)?;
        if self.rate > MAX_RATE {
            return Err(invalid("rate", format!("must be at most {MAX_RATE}")));
        }
        if self.slip > MAX_SLIP {
            return Err(invalid("slip", format!("must be at most {MAX_SLIP}")));
        }
        if self.ipv4_prefix > 32 {
            return Err(invalid("ipv4_prefix", "must be at most 32".into()));
        }
        if self.ipv6_prefix > 128 {
            return Err(invalid("ipv6_prefix", "must be at most 128".into()));
        }
        at_least_one("dns.rrl.table_size", self.table_size)?;
        if self.table_size > MAX_TABLE_SIZE {
            return Err(invalid(
                "table_size",
                format!("must be at most {MAX_TABLE_SIZE}"),
            ));
        }
        for entry in &self.exempt {
            if parse_prefix(entry).is_none() {
                return Err(invalid(
                    "exempt",
                    format!("`{entry}` is not an address or prefix"),
                ));
            }
        }
        Ok(self)
    }

    /// The exempt prefixes (checked by `resolve`).
    pub fn exempt_prefixes(&self) -> Vec<ipnet::IpNet> {
        self.exempt.iter().filter_map(|e| parse_prefix(e)).collect()
    }
}

/// `192.0.2.0/24`, `2001:db8::/48`, or one address (`192.0.2.7`).
pub(super) fn parse_prefix(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(ipnet::IpNet::from)
        })
        .map(|net| net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_resolve_and_bad_values_name_their_key() {
        assert_eq!(
            RrlConfig::default().resolve().unwrap(),
            RrlConfig::default()
        );
        let bad = |f: fn(&mut RrlConfig)| {
            let mut c = RrlConfig::default();
            f(&mut c);
            c.resolve().unwrap_err().to_string()
        };
        assert!(bad(|c| c.rate = 0).contains("dns.rrl.rate"));
        assert!(bad(|c| c.rate = MAX_RATE + 1).contains("dns.rrl.rate"));
        assert!(bad(|c| c.slip = 101).contains("dns.rrl.slip"));
        assert!(bad(|c| c.ipv4_prefix = 33).contains("dns.rrl.ipv4_prefix"));
        assert!(bad(|c| c.ipv6_prefix = 129).contains("dns.rrl.ipv6_prefix"));
        assert!(bad(|c| c.table_size = 0).contains("dns.rrl.table_size"));
        assert!(bad(|c| c.table_size = MAX_TABLE_SIZE + 1).contains("dns.rrl.table_size"));
        let e = bad(|c| c.exempt = vec!["192.0.2.0/24".into(), "not-an-address".into()]);
        assert!(
            e.contains("dns.rrl.exempt") && e.contains("not-an-address"),
            "{e}"
        );
    }

    #[test]
    fn exempt_takes_addresses_and_prefixes() {
        let c = RrlConfig {
            exempt: vec![
                "192.0.2.7".into(),
                "198.51.100.77/24".into(),
                " 2001:db8::/48 ".into(),
            ],
            ..RrlConfig::default()
        };
        let c = c.resolve().unwrap();
        let nets: Vec<String> = c.exempt_prefixes().iter().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            ["192.0.2.7/32", "198.51.100.0/24", "2001:db8::/48"].map(String::from)
        );
    }
}
