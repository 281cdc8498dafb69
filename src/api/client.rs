//! The client of a request: the peer, or, when the peer is a trusted reverse proxy
//! (`api.trusted_proxies`), the address the proxy names in its header (`api.proxy_header`).
//!
//! The accept loop ([`super::serve`]) works it out once per request and puts it in the
//! request's extensions as [`ClientAddr`]; the audit trail (through [`super::auth`]) and the log
//! of problems read it from there. The connection limits per source never use it: they count
//! connections, which come from the peer.
//!
//! The rule (the one nginx's `real_ip_recursive` and the RFC 7239 examples follow): walk the
//! header's hops from the right, the one the nearest proxy added, past every trusted address;
//! the first address that is not trusted is the client. A hop that is not an address
//! (`unknown`, an obfuscated `_name`, garbage) ends the walk: the client is then the last
//! address known, a trusted proxy, never a value a client could have chosen. At most
//! [`MAX_HOPS`] hops are read, without allocating, whatever the header holds.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::config::{ApiConfig, ProxyHeader};

/// Hops read from the right at most: more proxies than this in a row is not a real chain.
pub const MAX_HOPS: usize = 32;

/// The client of a request, as [`ClientRule`] found it (extract it in a handler, or read it
/// with [`ClientAddr::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client in a request's extensions: the address the accept loop put there, else the
    /// peer (a router served without [`super::serve`]).
    pub fn of(extensions: &Extensions) -> Option<IpAddr> {
        extensions.get::<ClientAddr>().map(|c| c.0).or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_canonical())
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            Self::of(&parts.extensions).unwrap_or(IpAddr::from([0, 0, 0, 0])),
        ))
    }
}

/// Which peers may name the client, and in which header.
#[derive(Debug, Clone)]
pub struct ClientRule {
    trusted: Vec<IpNet>,
    header: HeaderName,
    forwarded: bool,
}

impl ClientRule {
    /// The rule of `[api]`.
    pub fn new(config: &ApiConfig) -> Self {
        Self::with(config.trusted_proxy_prefixes(), config.proxy_header)
    }

    /// Trust `trusted` to name the client in `header`.
    pub fn with(trusted: Vec<IpNet>, header: ProxyHeader) -> Self {
        let forwarded = header == ProxyHeader::Forwarded;
        Self {
            trusted,
            header: if forwarded {
                axum::http::header::FORWARDED
            } else {
                HeaderName::from_static("x-forwarded-for")
            },
            forwarded,
        }
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from `peer` carrying `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let mut read = 0;
        // Several header lines are one list, in order (RFC 9110 §5.3): the last line's last
        // hop is the nearest.
        for line in headers.get_all(&self.header).iter().rev() {
            let Ok(text) = line.to_str() else {
                return client;
            };
            for hop in text.rsplit(',') {
                read += 1;
                if read > MAX_HOPS {
                    return client;
                }
                let address = if self.forwarded {
                    forwarded_for(hop)
                } else {
                    node(hop)
                };
                let Some(address) = address else {
                    return client;
                };
                client = address.to_canonical();
                if !self.trusts(client) {
                    return client;
                }
            }
        }
        client
    }
}

/// The address of an `X-Forwarded-For` hop, or of a `Forwarded` node: `192.0.2.7`,
/// `192.0.2.7:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`; `None` for
/// anything else (`unknown`, `_hidden`, garbage).
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=https;by=…`), its value
/// quoted or not (RFC 7239 §4: an IPv6 node is quoted, with brackets).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value)
    })?;
    let value = value.trim();
    let value = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    node(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn rule(header: ProxyHeader) -> ClientRule {
        ClientRule::with(
            vec![
                "127.0.0.0/8".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8:ffff::/48".parse().unwrap(),
            ],
            header,
        )
    }

    fn client(rule: &ClientRule, peer: &str, lines: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                rule.header.clone(),
                HeaderValue::from_bytes(line.as_bytes()).unwrap(),
            );
        }
        rule.client(peer.parse().unwrap(), &headers).to_string()
    }

    #[test]
    fn x_forwarded_for_gives_the_rightmost_untrusted_hop() {
        let r = rule(ProxyHeader::XForwardedFor);
        // From an untrusted peer the header is ignored.
        assert_eq!(client(&r, "198.51.100.9", &["203.0.113.7"]), "198.51.100.9");
        // From a trusted one, the nearest untrusted hop, whatever the client wrote before it.
        assert_eq!(client(&r, "127.0.0.1", &["203.0.113.7"]), "203.0.113.7");
        assert_eq!(
            client(&r, "127.0.0.1", &["192.0.2.66, 203.0.113.7, 10.1.2.3"]),
            "203.0.113.7"
        );
        // Lines are one list.
        assert_eq!(
            client(&r, "127.0.0.1", &["192.0.2.66", "203.0.113.7", "10.1.2.3"]),
            "203.0.113.7"
        );
        // No header, an empty one: the peer.
        assert_eq!(client(&r, "127.0.0.1", &[]), "127.0.0.1");
        assert_eq!(client(&r, "127.0.0.1", &[""]), "127.0.0.1");
        // Every hop trusted: the farthest one.
        assert_eq!(client(&r, "127.0.0.1", &["10.0.0.1, 10.0.0.2"]), "10.0.0.1");
        // Ports and brackets.
        assert_eq!(
            client(&r, "127.0.0.1", &["203.0.113.7:4711"]),
            "203.0.113.7"
        );
        assert_eq!(
            client(&r, "127.0.0.1", &["[2001:db8::1]:4711"]),
            "2001:db8::1"
        );
        assert_eq!(client(&r, "127.0.0.1", &["[2001:db8::1]"]), "2001:db8::1");
        assert_eq!(client(&r, "127.0.0.1", &[" 2001:db8::1 "]), "2001:db8::1");
        // An IPv4-mapped peer is the IPv4 address it maps.
        assert_eq!(
            client(&r, "::ffff:127.0.0.1", &["203.0.113.7"]),
            "203.0.113.7"
        );
        assert_eq!(
            client(&r, "::ffff:198.51.100.9", &["203.0.113.7"]),
            "198.51.100.9"
        );
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_address_known() {
        let r = rule(ProxyHeader::XForwardedFor);
        for garbage in [
            "unknown",
            "_hidden",
            "not an address",
            "203.0.113.7, ,",
            "[2001:db8::1",
            "1.2.3.4.5",
        ] {
            assert_eq!(
                client(&r, "127.0.0.1", &[garbage]),
                "127.0.0.1",
                "{garbage}"
            );
        }
        // Garbage to the left of the client does not matter.
        assert_eq!(
            client(&r, "127.0.0.1", &["garbage, 203.0.113.7"]),
            "203.0.113.7"
        );
        // Garbage right of a trusted hop: that hop.
        assert_eq!(
            client(&r, "127.0.0.1", &["203.0.113.7, unknown, 10.0.0.9"]),
            "10.0.0.9"
        );
        // Bytes that are not text.
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.7, \xff\xfe").unwrap(),
        );
        assert_eq!(
            r.client("127.0.0.1".parse().unwrap(), &headers).to_string(),
            "127.0.0.1"
        );
    }

    #[test]
    fn a_thousand_hops_are_read_no_further_than_the_limit() {
        let r = rule(ProxyHeader::XForwardedFor);
        // 1,000 trusted hops with a forged client at the far left: never reached.
        let mut hops = vec!["203.0.113.66".to_owned()];
        hops.extend((0..1000).map(|i| format!("10.0.{}.{}", i / 250, i % 250)));
        let line = hops.join(", ");
        let got = client(&r, "127.0.0.1", &[&line]);
        assert_ne!(got, "203.0.113.66");
        assert!(got.starts_with("10.0."), "{got}");
        // 1,000 untrusted hops: the nearest.
        let line = vec!["198.51.100.1"; 1000].join(",");
        assert_eq!(client(&r, "127.0.0.1", &[&line]), "198.51.100.1");
    }

    #[test]
    fn forwarded_gives_the_rightmost_untrusted_for() {
        let r = rule(ProxyHeader::Forwarded);
        assert_eq!(
            client(&r, "127.0.0.1", &["for=203.0.113.7;proto=https"]),
            "203.0.113.7"
        );
        assert_eq!(
            client(&r, "127.0.0.1", &[r#"for="[2001:db8::1]:4711""#]),
            "2001:db8::1"
        );
        assert_eq!(
            client(&r, "127.0.0.1", &[r#"For="[2001:db8::1]""#]),
            "2001:db8::1"
        );
        assert_eq!(
            client(
                &r,
                "127.0.0.1",
                &["for=192.0.2.43, for=203.0.113.7;by=10.0.0.1, for=10.0.0.2"]
            ),
            "203.0.113.7"
        );
        assert_eq!(
            client(&r, "127.0.0.1", &["proto=https;by=203.0.113.43"]),
            "127.0.0.1"
        );
        for garbage in [
            "for=unknown",
            "for=_hidden",
            r#"for="[2001:db8::1"#,
            r#"for="#,
            "for",
            ";;;===",
        ] {
            assert_eq!(
                client(&r, "127.0.0.1", &[garbage]),
                "127.0.0.1",
                "{garbage}"
            );
        }
        // The other header is never read.
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        assert_eq!(
            r.client("127.0.0.1".parse().unwrap(), &headers).to_string(),
            "127.0.0.1"
        );
        // From an untrusted peer it is ignored.
        assert_eq!(
            client(&r, "198.51.100.9", &["for=203.0.113.7"]),
            "198.51.100.9"
        );
    }
}
