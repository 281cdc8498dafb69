//! Response rate limiting (RRL) of answers over UDP, as NSD and Knot (before 3.4) do it.
//!
//! A source address over UDP can be forged, so an authoritative server can be made to send its
//! answers to a victim (reflection), each larger than the query (amplification). RRL bounds
//! what any one victim can be sent: every UDP answer is counted in a bucket keyed by
//!
//! - the source's prefix (/24 for IPv4 and /56 for IPv6 by default: one network, whatever
//!   address in it the attacker forges),
//! - the answer's [`Kind`] (positive, NODATA, NXDOMAIN, referral, wildcard, error), and
//! - a name: the question's name for positive and NODATA answers; the zone's apex for NXDOMAIN,
//!   wildcard and error answers (so random names do not each get a bucket, as in Knot); the
//!   delegation point for referrals; the root for names outside our zones.
//!
//! A bucket lets `rate` answers a second through, with a burst of one second's worth. Beyond
//! that an answer is *limited*: every `slip`-th limited answer is sent truncated (TC, no
//! records, so a real client retries over TCP, which cannot be forged), the others are
//! dropped. TCP is never limited. Exempt prefixes (monitoring, and the configured secondaries)
//! skip the buckets.
//!
//! # The table
//!
//! Buckets live in one fixed array of `table_size` 64-bit words, allocated at start: memory is
//! the same whatever the traffic. A bucket is found by a keyed hash of its key (a seed drawn at
//! start, so nobody can aim at another's bucket), and holds 16 bits of that hash (to tell keys
//! apart) and the bucket's state in the generic cell rate algorithm (GCRA): the theoretical
//! arrival time (TAT) of the next answer, in nanoseconds. An answer passes when
//! `TAT - now <= burst`, and then moves TAT on by `1/rate` seconds. Two keys that land on one
//! word share it, as in Knot: a bucket at rest (TAT in the past) is taken over by the newcomer,
//! a bucket in use is shared until it comes to rest, so collisions never lift a limit.
//!
//! # Threads
//!
//! The UDP workers share sockets through `SO_REUSEPORT`, and the kernel spreads one source's
//! queries over all of them: a table per thread would multiply the limit by the number of
//! workers. So there is one table, and a bucket is updated with one compare-and-swap on its
//! word: no lock, and two threads contend only when they answer the same bucket at the same
//! moment (a flood from one source, and then most answers are limited, which only reads the
//! word). The clock is read once per received batch. What is per thread: the slip sequence
//! and the counts, added to the metrics once per batch, so the answer path touches no shared
//! counter.

use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::Zones;
use crate::config::{RrlConfig, SecondaryConfig};
use crate::telemetry::metrics::{Metrics, RrlLabels};

/// What an answer is, for rate limiting (Knot's classes, with referrals apart).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Records for the question (also a CNAME chain, and an answer too large for UDP).
    #[default]
    Positive,
    /// The name exists, the type does not (an SOA in the authority section).
    Nodata,
    /// The name does not exist.
    Nxdomain,
    /// Delegated space: NS records in the authority section, AA clear.
    Referral,
    /// Synthesised from a wildcard (positive or NODATA).
    Wildcard,
    /// Any other response code (REFUSED outside our zones, FORMERR, NOTIMP, ...).
    Error,
}

impl Kind {
    /// Every kind, in the order of the counters.
    pub const ALL: [Kind; 6] = [
        Kind::Positive,
        Kind::Nodata,
        Kind::Nxdomain,
        Kind::Referral,
        Kind::Wildcard,
        Kind::Error,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Positive => "positive",
            Kind::Nodata => "nodata",
            Kind::Nxdomain => "nxdomain",
            Kind::Referral => "referral",
            Kind::Wildcard => "wildcard",
            Kind::Error => "error",
        }
    }
}

/// What was done with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sent whole (within the rate, or exempt).
    Answered,
    /// Limited, sent truncated.
    Slipped,
    /// Limited, not sent.
    Dropped,
}

impl Action {
    /// Every action, in the order of the counters.
    pub const ALL: [Action; 3] = [Action::Answered, Action::Slipped, Action::Dropped];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Action::Answered => "answered",
            Action::Slipped => "slipped",
            Action::Dropped => "dropped",
        }
    }
}

/// An answer's class: its kind and the (hashed) name its bucket is keyed by. Computed once
/// per cached answer, so the cache's fast path only combines it with the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Class {
    /// The answer's kind.
    pub kind: Kind,
    name: u64,
}

/// Low 48 bits of a bucket: the TAT, in nanoseconds modulo 2^48 (78 hours; only differences
/// of at most a second or so are ever meaningful, see [`Limiter::admit`]).
const TIME_BITS: u32 = 48;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// How much older than another worker's a worker's clock reading may be (it is read once per
/// batch) while the bucket it finds still counts as in use.
const CLOCK_SLACK: u64 = 1_000_000_000;

/// How long a worker keeps quiet after it has logged that answers are being limited.
const LOG_PERIOD: Duration = Duration::from_secs(60);

/// The shared table and the settings.
pub struct Limiter {
    buckets: Box<[AtomicU64]>,
    mask: u64,
    /// Nanoseconds between answers at the rate.
    interval: u64,
    /// How far TAT may be ahead of now for an answer to pass: `(rate - 1) * interval`.
    burst: u64,
    slip: u64,
    v4_mask: u32,
    v6_mask: u128,
    exempt_v4: Vec<(u32, u32)>,
    exempt_v6: Vec<(u128, u128)>,
    hasher: foldhash::quality::SeedableRandomState,
    epoch: Instant,
    counters: [[Counter; 3]; 6],
    /// When (ns since `epoch`) the next "limiting" line may be logged.
    log_after: AtomicU64,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("buckets", &self.buckets.len())
            .field("interval_ns", &self.interval)
            .field("slip", &self.slip)
            .finish_non_exhaustive()
    }
}

fn v4_mask(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn v6_mask(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

impl Limiter {
    /// A limiter as `config` says (already checked), exempting its `exempt` prefixes and the
    /// addresses of `secondaries` (where they transfer from, and where NOTIFY goes). The counts
    /// go to `metrics`, or to counters of their own (see [`Limiter::count`]).
    pub fn new(
        config: &RrlConfig,
        secondaries: &[SecondaryConfig],
        metrics: Option<&Metrics>,
    ) -> Self {
        let size = config.table_size.clamp(1, 1 << 30).next_power_of_two();
        let rate = u64::from(config.rate.max(1));
        let interval = (1_000_000_000 / rate).max(1);
        let mut exempt = config.exempt_prefixes();
        for s in secondaries {
            exempt.extend(s.allow_transfer.iter().map(|n| n.trunc()));
            exempt.push(ipnet::IpNet::from(s.notify.ip()));
        }
        exempt.sort();
        exempt.dedup();
        let (mut exempt_v4, mut exempt_v6) = (Vec::new(), Vec::new());
        for net in &exempt {
            match net {
                ipnet::IpNet::V4(n) => {
                    let m = v4_mask(n.prefix_len());
                    exempt_v4.push((u32::from(n.network()) & m, m));
                }
                ipnet::IpNet::V6(n) => {
                    let m = v6_mask(n.prefix_len());
                    exempt_v6.push((u128::from(n.network()) & m, m));
                }
            }
            let broad = match net {
                ipnet::IpNet::V4(n) => n.prefix_len() < 16,
                ipnet::IpNet::V6(n) => n.prefix_len() < 32,
            };
            if broad {
                tracing::warn!(prefix = %net, "response rate limiting exempts a large address space");
            }
        }
        let counter = |kind: Kind, action: Action| match metrics {
            Some(m) => m
                .rrl_responses
                .get_or_create(&RrlLabels {
                    kind: kind.label(),
                    action: action.label(),
                })
                .clone(),
            None => Counter::default(),
        };
        let counters = Kind::ALL.map(|k| Action::ALL.map(|a| counter(k, a)));
        Self {
            buckets: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size as u64 - 1,
            interval,
            burst: (rate - 1) * interval,
            slip: u64::from(config.slip),
            v4_mask: v4_mask(config.ipv4_prefix),
            v6_mask: v6_mask(config.ipv6_prefix),
            exempt_v4,
            exempt_v6,
            // The unit tests put a few keys in a small table and count each one's answers:
            // with a seed drawn per run, two of them landed on one word in a few runs in a
            // hundred and shared a limit (as collisions must). They take one fixed seed.
            hasher: if cfg!(test) {
                foldhash::quality::SeedableRandomState::fixed()
            } else {
                foldhash::quality::SeedableRandomState::random()
            },
            epoch: Instant::now(),
            counters,
            log_after: AtomicU64::new(0),
        }
    }

    /// Buckets in the table.
    pub fn table_len(&self) -> usize {
        self.buckets.len()
    }

    /// The exempt prefixes in force, IPv4 then IPv6.
    pub fn exempt_count(&self) -> usize {
        self.exempt_v4.len() + self.exempt_v6.len()
    }

    /// The answers counted for this kind and action since start.
    pub fn count(&self, kind: Kind, action: Action) -> u64 {
        self.counters[kind as usize][action as usize].get()
    }

    /// A worker's handle: its own slip sequence and counts.
    pub fn worker(self: &Arc<Self>) -> Worker {
        Worker {
            limiter: self.clone(),
            now: 0,
            limited: 0,
            tally: [[0; 3]; 6],
            noticed: None,
        }
    }

    /// The class of an answer of `kind` whose bucket is keyed by the name `key` (lower-cased
    /// wire form).
    pub fn class(&self, kind: Kind, key: &[u8]) -> Class {
        Class {
            kind,
            name: self.hasher.hash_one(key),
        }
    }

    /// Nanoseconds since start.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The source's prefix as a number (IPv4 as its IPv6-mapped form).
    fn prefix(&self, ip: IpAddr) -> u128 {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                u128::from(Ipv4Addr::from(u32::from(a) & self.v4_mask).to_ipv6_mapped())
            }
            IpAddr::V6(a) => u128::from(a) & self.v6_mask,
        }
    }

    fn prefix_addr(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & self.v4_mask)),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & self.v6_mask)),
        }
    }

    /// Whether answers to `ip` are never limited.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.exempt_v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.exempt_v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }

    /// Whether an answer of `class` to `ip` at `now` (ns since start) is within the rate; it is
    /// then counted against its bucket. A limited answer does not change the bucket (GCRA), so
    /// a flood only reads its word.
    fn admit(&self, ip: IpAddr, class: Class, now: u64) -> bool {
        let mut h = self.hasher.build_hasher();
        h.write_u128(self.prefix(ip));
        h.write_u64(class.name);
        h.write_u8(class.kind as u8);
        let hash = h.finish();
        // Index from the low bits, the tag from the high 16: independent for any table size.
        let slot = &self.buckets[(hash & self.mask) as usize];
        let tag = hash >> TIME_BITS;
        let now = now & TIME_MASK;
        let mut word = slot.load(Ordering::Relaxed);
        loop {
            let (owner, tat) = (word >> TIME_BITS, word & TIME_MASK);
            // TAT - now, modulo 2^48, as a signed number. A bucket in use is never more than
            // `burst + interval` ahead of the newest clock reading, and a worker's reading is
            // at most a batch old (well under `CLOCK_SLACK`); anything further ahead is a
            // bucket left long ago, at rest like one whose TAT is past.
            let ahead = (((tat.wrapping_sub(now)) << (64 - TIME_BITS)) as i64) >> (64 - TIME_BITS);
            let in_use =
                ahead > 0 && ahead.unsigned_abs() <= self.burst + self.interval + CLOCK_SLACK;
            let (owner, tat, ahead) = if in_use {
                (owner, tat, ahead.unsigned_abs())
            } else {
                (tag, now, 0)
            };
            if ahead > self.burst {
                return false;
            }
            let next = (owner << TIME_BITS) | (tat.wrapping_add(self.interval) & TIME_MASK);
            match slot.compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(current) => word = current,
            }
        }
    }
}

/// One UDP worker's side of the limiter: the time of the batch, its slip sequence and its
/// counts (added to the shared counters by [`Worker::flush`]).
pub struct Worker {
    limiter: Arc<Limiter>,
    now: u64,
    limited: u64,
    tally: [[u64; 3]; 6],
    /// The first limited prefix and kind since the last flush, for the log.
    noticed: Option<(IpAddr, Kind)>,
}

impl Worker {
    /// The shared limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Start a batch of queries: read the clock once for all of them.
    pub fn begin(&mut self) {
        self.now = self.limiter.now();
    }

    /// Start a batch at `at` after the limiter's start (tests: an injected clock).
    pub fn begin_at(&mut self, at: Duration) {
        self.now = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
    }

    /// Decide what to do with an answer of `class` to `ip`, and count it.
    pub fn decide(&mut self, ip: IpAddr, class: Class) -> Action {
        let action = if self.limiter.is_exempt(ip) || self.limiter.admit(ip, class, self.now) {
            Action::Answered
        } else {
            self.limited += 1;
            if self.noticed.is_none() {
                self.noticed = Some((self.limiter.prefix_addr(ip), class.kind));
            }
            // The first limited answer slips, then every `slip`-th: a real client learns at
            // once that it should use TCP.
            if self.limiter.slip != 0 && (self.limited - 1).is_multiple_of(self.limiter.slip) {
                Action::Slipped
            } else {
                Action::Dropped
            }
        };
        self.tally[class.kind as usize][action as usize] += 1;
        action
    }

    /// Apply the decision to the encoded answer in `out`: `false` when nothing is to be sent;
    /// a slipped answer is cut to its header and question, with TC set.
    pub fn apply(&mut self, ip: IpAddr, class: Class, out: &mut Vec<u8>) -> bool {
        match self.decide(ip, class) {
            Action::Answered => true,
            Action::Slipped => {
                truncate(out);
                true
            }
            Action::Dropped => false,
        }
    }

    /// Add this worker's counts to the shared counters (once per batch), and log, at most once
    /// a minute for the whole server, that answers are being limited.
    pub fn flush(&mut self) {
        for (kind, row) in self.tally.iter_mut().enumerate() {
            for (action, n) in row.iter_mut().enumerate() {
                if *n != 0 {
                    self.limiter.counters[kind][action].inc_by(*n);
                    *n = 0;
                }
            }
        }
        let Some((prefix, kind)) = self.noticed.take() else {
            return;
        };
        let now = self.now;
        let after = self.limiter.log_after.load(Ordering::Relaxed);
        if now >= after
            && self
                .limiter
                .log_after
                .compare_exchange(
                    after,
                    now.saturating_add(LOG_PERIOD.as_nanos() as u64),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            let total = |action| {
                Kind::ALL
                    .iter()
                    .map(|&k| self.limiter.count(k, action))
                    .sum::<u64>()
            };
            tracing::info!(
                %prefix,
                kind = kind.label(),
                slipped = total(Action::Slipped),
                dropped = total(Action::Dropped),
                "response rate limiting: answers to a source are limited (logged once a minute at most; totals since start)"
            );
        }
    }
}

/// Cut an encoded response to its header and first question, with TC set and no records (what
/// NSD sends for a slipped answer). Malformed input is cut to the header.
pub fn truncate(out: &mut Vec<u8>) {
    if out.len() < 12 {
        return;
    }
    let mut end = 12;
    if u16::from_be_bytes([out[4], out[5]]) > 0 {
        end = question_end(out).unwrap_or(12);
    }
    out.truncate(end);
    out[2] |= 0x02;
    let qdcount: u16 = if end > 12 { 1 } else { 0 };
    out[4..6].copy_from_slice(&qdcount.to_be_bytes());
    out[6..12].fill(0);
}

/// Where the first question ends (its name is written in full: nothing precedes it that a
/// pointer could refer to).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let len = usize::from(*msg.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        i += 1 + len;
    }
    (i + 4 <= msg.len()).then_some(i + 4)
}

/// Classify an encoded response (as the handler produced it) for rate limiting: its kind from
/// the header, its bucket's name from the question and the zone it falls in.
pub fn classify(answer: &[u8], zones: &Zones, limiter: &Limiter) -> Class {
    const ROOT: &[u8] = &[0];
    let error = |zone: &[u8]| limiter.class(Kind::Error, zone);
    let Some(header) = answer.get(..12) else {
        return error(ROOT);
    };
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    // The question's name, lower-cased, on the stack.
    let mut key = [0u8; 256];
    let key = match (count(4) > 0).then(|| question_end(answer)).flatten() {
        Some(end) if end - 4 - 12 <= key.len() => {
            let name = &answer[12..end - 4];
            for (d, s) in key.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            &key[..name.len()]
        }
        _ => return error(ROOT),
    };
    let Some(zone) = zones.find_key(key) else {
        return error(ROOT);
    };
    let view = zone.view();
    let apex = view.origin_key();
    let rcode = header[3] & 0x0f;
    let authoritative = header[2] & 0x04 != 0;
    let truncated = header[2] & 0x02 != 0;
    let (answers, authorities) = (count(6), count(8));
    match rcode {
        3 => limiter.class(Kind::Nxdomain, apex),
        // An extended code (BADVERS) reads as 0 here, with no records at all.
        0 if truncated => limiter.class(Kind::Positive, key),
        0 if answers > 0 || (authorities > 0 && authoritative) => {
            // NOERROR for a name that is not in the zone: synthesised from a wildcard.
            if authoritative && !view.has_name_key(key) {
                limiter.class(Kind::Wildcard, apex)
            } else if answers > 0 {
                limiter.class(Kind::Positive, key)
            } else {
                limiter.class(Kind::Nodata, key)
            }
        }
        0 if authorities > 0 => {
            limiter.class(Kind::Referral, view.delegation_of(key).unwrap_or(apex))
        }
        _ => error(apex),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: u32, slip: u32) -> RrlConfig {
        RrlConfig {
            rate,
            slip,
            table_size: 1024,
            ..RrlConfig::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const SEC: Duration = Duration::from_secs(1);

    /// Answers of `class` to `src`, `n` of them at `at`: the actions taken.
    fn burst(w: &mut Worker, at: Duration, src: &str, class: Class, n: usize) -> Vec<Action> {
        w.begin_at(at);
        (0..n).map(|_| w.decide(ip(src), class)).collect()
    }

    fn answered(actions: &[Action]) -> usize {
        actions.iter().filter(|a| **a == Action::Answered).count()
    }

    #[test]
    fn a_bucket_passes_its_rate_with_a_burst_of_one_second() {
        let l = Arc::new(Limiter::new(&config(10, 2), &[], None));
        let mut w = l.worker();
        let www = l.class(Kind::Positive, b"\x03www\x07example\x00");
        // A full bucket: one second's worth at once, then nothing.
        let first = burst(&mut w, SEC, "192.0.2.1", www, 50);
        assert_eq!(answered(&first), 10);
        assert!(first[..10].iter().all(|a| *a == Action::Answered));
        // A tenth of a second later: one more token.
        assert_eq!(
            answered(&burst(&mut w, SEC + SEC / 10, "192.0.2.1", www, 5)),
            1
        );
        // Steady flood at 1,000 a second for 3 s: the rate, 10 a second, passes.
        let mut passed = 0;
        for ms in 1..=3000 {
            passed += answered(&burst(
                &mut w,
                SEC * 2 + Duration::from_millis(ms),
                "192.0.2.1",
                www,
                1,
            ));
        }
        // 3 s at 10/s, plus what refilled between 1.1 s and 2 s (9).
        assert!((38..=40).contains(&passed), "{passed}");
        // After a rest, a full burst again.
        assert_eq!(answered(&burst(&mut w, SEC * 10, "192.0.2.1", www, 50)), 10);
        // Counts.
        let total: u64 = Action::ALL
            .iter()
            .map(|&a| w_count(&mut w, Kind::Positive, a))
            .sum();
        assert_eq!(total, 50 + 5 + 3000 + 50);
        assert_eq!(l.count(Kind::Nxdomain, Action::Answered), 0);
    }

    fn w_count(w: &mut Worker, kind: Kind, action: Action) -> u64 {
        w.flush();
        w.limiter().count(kind, action)
    }

    #[test]
    fn slip_sends_every_nth_limited_answer_truncated() {
        for (slip, expect) in [(0, "DDDDDD"), (1, "SSSSSS"), (2, "SDSDSD"), (3, "SDDSDD")] {
            let l = Arc::new(Limiter::new(&config(1, slip), &[], None));
            let mut w = l.worker();
            let c = l.class(Kind::Positive, b"\x01a\x00");
            let actions = burst(&mut w, SEC, "198.51.100.9", c, 7);
            assert_eq!(actions[0], Action::Answered);
            let seq: String = actions[1..]
                .iter()
                .map(|a| match a {
                    Action::Answered => 'A',
                    Action::Slipped => 'S',
                    Action::Dropped => 'D',
                })
                .collect();
            assert_eq!(seq, expect, "slip {slip}");
            w.flush();
            assert_eq!(
                l.count(Kind::Positive, Action::Slipped),
                expect.matches('S').count() as u64
            );
            assert_eq!(
                l.count(Kind::Positive, Action::Dropped),
                expect.matches('D').count() as u64
            );
        }
    }

    #[test]
    fn sources_are_grouped_by_prefix_kinds_and_names_apart() {
        let l = Arc::new(Limiter::new(&config(5, 0), &[], None));
        let mut w = l.worker();
        let www = l.class(Kind::Positive, b"\x03www\x00");
        let mail = l.class(Kind::Positive, b"\x04mail\x00");
        let nx = l.class(Kind::Nxdomain, b"\x03www\x00");
        // Two addresses of one /24 share a bucket.
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.2.1", www, 3)), 3);
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.2.200", www, 3)), 2);
        // Another /24, another name, another kind: buckets of their own.
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.3.1", www, 9)), 5);
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.2.1", mail, 9)), 5);
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.2.1", nx, 9)), 5);
        // IPv6: one /56.
        assert_eq!(answered(&burst(&mut w, SEC, "2001:db8:0:1::1", www, 3)), 3);
        assert_eq!(answered(&burst(&mut w, SEC, "2001:db8:0:ff::2", www, 3)), 2);
        assert_eq!(
            answered(&burst(&mut w, SEC, "2001:db8:0:100::1", www, 9)),
            5
        );
        // An IPv4-mapped source is its IPv4 address.
        assert_eq!(answered(&burst(&mut w, SEC, "::ffff:192.0.2.9", www, 1)), 0);
        // Configured lengths.
        let l = Arc::new(Limiter::new(
            &RrlConfig {
                ipv4_prefix: 32,
                ipv6_prefix: 128,
                ..config(1, 0)
            },
            &[],
            None,
        ));
        let mut w = l.worker();
        let www = l.class(Kind::Positive, b"\x03www\x00");
        for src in ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"] {
            assert_eq!(answered(&burst(&mut w, SEC, src, www, 3)), 1, "{src}");
        }
    }

    #[test]
    fn exempt_prefixes_and_secondaries_are_never_limited() {
        let secondary = SecondaryConfig {
            zone: "example.go.id.".into(),
            notify: "203.0.113.53:53".parse().unwrap(),
            allow_transfer: vec!["198.51.100.0/28".parse().unwrap()],
            tsig_key: None,
        };
        let l = Arc::new(Limiter::new(
            &RrlConfig {
                exempt: vec!["192.0.2.7".into(), "2001:db8:1::/48".into()],
                ..config(1, 1)
            },
            &[secondary],
            None,
        ));
        assert_eq!(l.exempt_count(), 4);
        let mut w = l.worker();
        let c = l.class(Kind::Positive, b"\x03www\x00");
        for src in [
            "192.0.2.7",
            "203.0.113.53",
            "198.51.100.15",
            "2001:db8:1:ff::1",
        ] {
            assert!(l.is_exempt(ip(src)), "{src}");
            assert_eq!(answered(&burst(&mut w, SEC, src, c, 100)), 100, "{src}");
        }
        // Their neighbours are limited.
        for src in [
            "192.0.2.8",
            "203.0.113.54",
            "198.51.100.16",
            "2001:db8:2::1",
        ] {
            assert!(!l.is_exempt(ip(src)), "{src}");
            assert_eq!(answered(&burst(&mut w, SEC, src, c, 100)), 1, "{src}");
        }
        w.flush();
        assert_eq!(l.count(Kind::Positive, Action::Answered), 404);
        assert_eq!(l.count(Kind::Positive, Action::Slipped), 396);
    }

    #[test]
    fn the_table_is_fixed_and_a_busy_bucket_is_not_taken_over() {
        let l = Arc::new(Limiter::new(&config(2, 0), &[], None));
        assert_eq!(l.table_len(), 1024);
        let odd = Limiter::new(
            &RrlConfig {
                table_size: 1000,
                ..config(2, 0)
            },
            &[],
            None,
        );
        assert_eq!(odd.table_len(), 1024);
        let mut w = l.worker();
        let c = l.class(Kind::Positive, b"\x03www\x00");
        // A flood that exhausts its bucket.
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.2.1", c, 10)), 2);
        // 100,000 other sources: the table does not grow, and collisions do not lift the
        // flooding source's limit.
        w.begin_at(SEC);
        for i in 0..100_000u32 {
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i << 8)));
            w.decide(src, c);
        }
        assert_eq!(l.table_len(), 1024);
        assert_eq!(answered(&burst(&mut w, SEC, "192.0.2.1", c, 10)), 0);
        // Once at rest, a bucket serves again.
        assert_eq!(answered(&burst(&mut w, SEC * 3, "192.0.2.1", c, 10)), 2);
    }

    #[test]
    fn a_clock_far_ahead_still_limits() {
        // The TAT is kept modulo 2^48 ns (78 hours): limits hold across the wrap.
        let l = Arc::new(Limiter::new(&config(3, 0), &[], None));
        let mut w = l.worker();
        let c = l.class(Kind::Nxdomain, b"\x07example\x00");
        for hours in [1u64, 78, 79, 1000] {
            let at = Duration::from_secs(hours * 3600);
            assert_eq!(
                answered(&burst(&mut w, at, "192.0.2.1", c, 10)),
                3,
                "{hours} h"
            );
        }
        let wrap = Duration::from_nanos(1 << TIME_BITS);
        let before = wrap - Duration::from_millis(500);
        assert_eq!(answered(&burst(&mut w, before, "192.0.2.9", c, 10)), 3);
        assert_eq!(answered(&burst(&mut w, wrap, "192.0.2.9", c, 10)), 1);
    }

    #[test]
    fn a_worker_with_an_older_clock_reading_does_not_reset_a_bucket() {
        let l = Arc::new(Limiter::new(&config(10, 0), &[], None));
        let (mut fresh, mut stale) = (l.worker(), l.worker());
        let c = l.class(Kind::Positive, b"\x03www\x00");
        // The fresh worker empties the bucket; the other read its clock 5 ms earlier.
        assert_eq!(
            answered(&burst(&mut fresh, SEC * 5, "192.0.2.1", c, 20)),
            10
        );
        let older = SEC * 5 - Duration::from_millis(5);
        assert_eq!(answered(&burst(&mut stale, older, "192.0.2.1", c, 20)), 0);
        assert_eq!(answered(&burst(&mut fresh, SEC * 5, "192.0.2.1", c, 20)), 0);
    }

    #[test]
    fn threads_share_one_limit() {
        let l = Arc::new(Limiter::new(&config(100, 0), &[], None));
        let c = l.class(Kind::Positive, b"\x03www\x00");
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let l = l.clone();
                    s.spawn(move || {
                        let mut w = l.worker();
                        let n = answered(&burst(&mut w, SEC, "192.0.2.1", c, 1000));
                        w.flush();
                        n
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 100);
        assert_eq!(l.count(Kind::Positive, Action::Answered), 100);
        assert_eq!(l.count(Kind::Positive, Action::Dropped), 3900);
    }

    #[test]
    fn truncation_keeps_header_and_question() {
        // id, flags QR AA RD, qd 1, an 1, ns 0, ar 1; www.a. A IN; an A record; OPT.
        let mut m = vec![0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 1];
        m.extend_from_slice(b"\x03www\x01a\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        let mut t = m.clone();
        truncate(&mut t);
        let mut want = vec![0x12, 0x34, 0x87, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x03www\x01a\x00\x00\x01\x00\x01");
        assert_eq!(t, want);
        // No question, or a broken one: the header alone.
        let mut h = vec![0, 1, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        truncate(&mut h);
        assert_eq!(h, [0, 1, 0x83, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut broken = m[..16].to_vec();
        truncate(&mut broken);
        assert_eq!(broken, [0x12, 0x34, 0x87, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        for n in 0..m.len() {
            let mut cut = m[..n].to_vec();
            truncate(&mut cut);
        }
    }
}
