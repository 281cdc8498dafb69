//! What DNS over TCP and HTTP share at the socket: the limit of connections open at once (in
//! total and per source), the back-off after an accept error, the process's limit of open
//! files, and what to tell the operator when an address cannot be bound.
//!
//! A source is an IPv4 address or an IPv6 /64 (one host or one subscriber's network: an IPv6
//! client has a whole /64 to draw addresses from). The count per source lives in a map with an
//! entry only while that source has a connection open, so the map is never larger than the
//! total limit.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::metrics::gauge::Gauge;

/// Why `addr` could not be bound, for the operator: the system's reason and, when the port is a
/// privileged one (below 1024: DNS's 53, HTTPS's 443) refused for want of the right to bind it,
/// the capability that grants it and the two ways to give it. Said once: the caller's message
/// does not add the `io::Error` again.
pub fn bind_failure(addr: SocketAddr, error: &io::Error) -> String {
    if error.kind() != io::ErrorKind::PermissionDenied || addr.port() >= 1024 {
        return error.to_string();
    }
    let binary = std::env::current_exe()
        .ok()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| "/usr/bin/ranah".to_owned());
    format!(
        "permission denied: port {} is below 1024 and needs the capability \
         CAP_NET_BIND_SERVICE. Run ranah from its systemd unit (deploy/ranah.service, \
         AmbientCapabilities=CAP_NET_BIND_SERVICE), or give the binary the capability: \
         setcap cap_net_bind_service=+ep {binary}",
        addr.port()
    )
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The limit of connections open at once was reached.
    Total,
    /// The limit for this source was reached.
    PerSource,
}

impl Refusal {
    /// For metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Total => "max_connections",
            Self::PerSource => "max_connections_per_source",
        }
    }
}

/// Counts connections open, in total and per source, against two limits, and shows the total
/// in a gauge.
#[derive(Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    max_per_source: usize,
    open: Mutex<Open>,
    gauge: Gauge,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_source: HashMap<IpAddr, usize, rustc_hash::FxBuildHasher>,
}

/// One connection's place under the limits, given back when dropped.
pub struct Slot {
    inner: Arc<Inner>,
    source: IpAddr,
}

impl ConnectionLimiter {
    /// Limits of `max_total` connections, and `max_per_source` from one source; `gauge`
    /// follows the connections open.
    pub fn new(max_total: usize, max_per_source: usize, gauge: Gauge) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total,
                max_per_source,
                open: Mutex::new(Open::default()),
                gauge,
            }),
        }
    }

    /// A place for a connection from `peer`, or why there is none.
    pub fn acquire(&self, peer: IpAddr) -> Result<Slot, Refusal> {
        let source = source_of(peer);
        let mut open = self.inner.open.lock();
        // The source's own limit first: a source at its limit is refused even when the total
        // has room, and is never a reason to make room (see `api::serve`).
        if open.by_source.get(&source).copied().unwrap_or(0) >= self.inner.max_per_source {
            return Err(Refusal::PerSource);
        }
        if open.total >= self.inner.max_total {
            return Err(Refusal::Total);
        }
        *open.by_source.entry(source).or_insert(0) += 1;
        open.total += 1;
        self.inner.gauge.inc();
        Ok(Slot {
            inner: self.inner.clone(),
            source,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.inner.open.lock().total
    }

    /// Sources with a connection open now (the size of the map).
    pub fn sources(&self) -> usize {
        self.inner.open.lock().by_source.len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.inner.open.lock();
        open.total = open.total.saturating_sub(1);
        self.inner.gauge.dec();
        if let Some(n) = open.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

/// The source a peer address counts under: the IPv4 address (also when mapped into IPv6), or
/// the IPv6 /64.
pub fn source_of(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// An accept error that concerns one connection only (it was reset before we took it): accept
/// again at once.
pub fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The wait after an accept error that is not about one connection (out of file descriptors,
/// of memory): 10 ms, doubling to 1 s while the errors go on, so that the accept loop neither
/// spins nor stops. Back to 10 ms after a success.
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// How long to wait after this error.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// An accept succeeded.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Raise the soft limit of open files to the hard limit, log it once, and warn when the
/// connection limits with `reserve` descriptors for everything else (the store, UDP sockets,
/// files) exceed it. Returns the soft limit in force.
pub fn raise_open_files_limit(connections: u64, reserve: u64) -> Option<u64> {
    let before = rlimit::Resource::NOFILE.get().ok();
    let now = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the limit of open files");
            before.map(|(soft, _)| soft)?
        }
    };
    match before {
        Some((soft, hard)) if soft != now => tracing::info!(
            from = soft,
            to = now,
            hard,
            "raised the limit of open files"
        ),
        Some((_, hard)) => tracing::info!(limit = now, hard, "limit of open files"),
        None => tracing::info!(limit = now, "limit of open files"),
    }
    let needed = connections.saturating_add(reserve);
    if needed > now {
        tracing::warn!(
            limit = now,
            connections,
            reserve,
            "the connection limits (dns.tcp_max_connections + api.max_connections) and a reserve \
             exceed the limit of open files: lower them or raise the limit (LimitNOFILE)"
        );
    }
    Some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_total_and_per_source_and_the_map_holds_only_open_sources() {
        let gauge = Gauge::default();
        let l = ConnectionLimiter::new(4, 2, gauge.clone());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = l.acquire(a).unwrap();
        let a2 = l.acquire(a).unwrap();
        assert_eq!(l.acquire(a).err(), Some(Refusal::PerSource));
        let b1 = l.acquire(b).unwrap();
        let b2 = l.acquire(b).unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(l.acquire(c).err(), Some(Refusal::Total));
        assert_eq!(
            l.acquire(a).err(),
            Some(Refusal::PerSource),
            "its own limit first"
        );
        assert_eq!((l.open(), l.sources(), gauge.get()), (4, 2, 4));
        drop(a1);
        assert!(
            l.acquire(c).is_ok(),
            "the slot is given back (and dropped again)"
        );
        drop((a2, b1, b2));
        assert_eq!((l.open(), l.sources(), gauge.get()), (0, 0, 0));
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64() {
        let s = |a: &str| source_of(a.parse().unwrap());
        assert_eq!(s("2001:db8:1:2:aaaa::1"), s("2001:db8:1:2:bbbb::2"));
        assert_ne!(s("2001:db8:1:2::1"), s("2001:db8:1:3::1"));
        assert_eq!(s("::ffff:192.0.2.7"), s("192.0.2.7"));
        assert_ne!(s("192.0.2.7"), s("192.0.2.8"));
    }

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let delays: Vec<u64> = (0..10).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }
}
