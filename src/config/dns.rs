//! `[dns]`: the DNS server.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::rrl::RrlConfig;
use super::{ConfigError, at_least_one};

/// The default of `[dns] answer_cache_bytes`: room for about 40,000 typical answers. At
/// 100,000 names and a mix of 100,000 different questions, 4 MiB answered 5 % fewer queries a
/// second than 16 MiB (1 MiB: 19 % fewer) and kept the memory after the load at 43 MiB,
/// against 55 MiB with 16 MiB (Knot: 41.5 MiB).
pub const DEFAULT_ANSWER_CACHE_BYTES: usize = 4 << 20;

/// `[dns]`: as written (with its defaults) and, once checked, as in force.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Addresses to serve DNS on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// Seconds a TCP connection may wait for its next message before it is closed.
    pub tcp_idle_timeout_secs: u64,
    /// Seconds a TCP message may take to arrive once its first byte has (slow senders are cut).
    pub tcp_message_timeout_secs: u64,
    /// Seconds one response message may take to be sent over TCP (a client that does not read
    /// is cut, also during a zone transfer).
    pub tcp_write_timeout_secs: u64,
    /// TCP connections open at once, over every listen address; beyond it a new connection
    /// is closed at once.
    pub tcp_max_connections: usize,
    /// TCP connections open at once from one source (an IPv4 address, an IPv6 /64).
    pub tcp_max_connections_per_source: usize,
    /// How often (seconds) the daemon looks for zone changes written by other processes.
    pub store_poll_secs: u64,
    /// UDP sockets (and threads) per listen address; 0 in the file means one per CPU, and is
    /// replaced by that number when resolved.
    pub udp_workers: usize,
    /// How many journaled changes an IXFR may span before AXFR is sent instead.
    pub ixfr_journal_depth: usize,
    /// NOTIFY attempts per secondary and serial before giving up.
    pub notify_retries: u32,
    /// Seconds between SOA polls of each secondary.
    pub secondary_poll_secs: u64,
    /// Bytes the encoded answers kept for repeated UDP questions may take, all zones together
    /// (0: none is kept). Only answers about names a zone holds are kept; when the budget is
    /// spent, answers are still made, just not kept.
    pub answer_cache_bytes: usize,
    /// `[dns.rrl]`: response rate limiting over UDP.
    pub rrl: RrlConfig,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5300))],
            tcp_idle_timeout_secs: 10,
            tcp_message_timeout_secs: 5,
            tcp_write_timeout_secs: 10,
            tcp_max_connections: 256,
            tcp_max_connections_per_source: 16,
            store_poll_secs: 2,
            udp_workers: 0,
            ixfr_journal_depth: 1000,
            notify_retries: 5,
            secondary_poll_secs: 30,
            answer_cache_bytes: DEFAULT_ANSWER_CACHE_BYTES,
            rrl: RrlConfig::default(),
        }
    }
}

impl DnsConfig {
    /// Check the values and count the CPUs for `udp_workers = 0`.
    pub(super) fn resolve(mut self) -> Result<Self, ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::Invalid {
                key: "dns.listen".into(),
                message: "at least one address is required".into(),
            });
        }
        at_least_one("dns.tcp_idle_timeout_secs", self.tcp_idle_timeout_secs)?;
        at_least_one(
            "dns.tcp_message_timeout_secs",
            self.tcp_message_timeout_secs,
        )?;
        at_least_one("dns.tcp_write_timeout_secs", self.tcp_write_timeout_secs)?;
        at_least_one("dns.tcp_max_connections", self.tcp_max_connections)?;
        at_least_one(
            "dns.tcp_max_connections_per_source",
            self.tcp_max_connections_per_source,
        )?;
        at_least_one("dns.store_poll_secs", self.store_poll_secs)?;
        at_least_one("dns.secondary_poll_secs", self.secondary_poll_secs)?;
        self.rrl = self.rrl.resolve()?;
        if self.udp_workers == 0 {
            self.udp_workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        Ok(self)
    }
}
