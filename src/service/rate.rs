//! Limits of calls per period for each caller: a token bucket each, `count` calls per `period`
//! at most, refilled evenly. [`PerMinute`] counts the calls of a bounded set of callers (update
//! keys, integration tokens); [`Limit::per`] bounds the callers too, for callers anyone can be
//! (the public's addresses).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Calls per period, per caller.
pub struct Limit<K> {
    count: f64,
    period: Duration,
    /// The most callers remembered at once: beyond it, callers whose bucket filled up again
    /// are forgotten (they are as good as new), and if none has, a new caller is refused
    /// until one has.
    max_callers: usize,
    buckets: parking_lot::Mutex<HashMap<K, (f64, Instant)>>,
}

/// Calls per minute, per caller id. The ids are of keys or users that verified, so the map is
/// bounded by what the store holds.
pub type PerMinute = Limit<i64>;

impl Limit<i64> {
    /// At most `per_minute` calls a minute for each caller.
    pub fn new(per_minute: u32) -> Self {
        Self::per(per_minute, Duration::from_secs(60), usize::MAX)
    }
}

impl<K: Hash + Eq> Limit<K> {
    /// At most `count` calls per `period` for each of at most `max_callers` callers.
    pub fn per(count: u32, period: Duration, max_callers: usize) -> Self {
        Self {
            count: f64::from(count),
            period: period.max(Duration::from_millis(1)),
            max_callers,
            buckets: parking_lot::Mutex::default(),
        }
    }

    fn refilled(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(since).as_secs_f64() * self.count
            / self.period.as_secs_f64();
        (tokens + refill).min(self.count)
    }

    /// Whether `caller` may make one more call at `now` (and count it).
    pub fn take(&self, caller: K, now: Instant) -> bool {
        let mut buckets = self.buckets.lock();
        if !buckets.contains_key(&caller) && buckets.len() >= self.max_callers {
            buckets.retain(|_, (tokens, at)| self.refilled(*tokens, *at, now) < self.count);
            if buckets.len() >= self.max_callers {
                return false;
            }
        }
        let (tokens, at) = buckets.entry(caller).or_insert((self.count, now));
        *tokens = self.refilled(*tokens, *at, now);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_holds_so_many_calls_and_refills_evenly() {
        let limit = PerMinute::new(60);
        let t0 = Instant::now();
        assert!((0..60).all(|_| limit.take(1, t0)));
        assert!(!limit.take(1, t0));
        // Another caller has its own minute.
        assert!(limit.take(2, t0));
        // One call's worth a second comes back.
        assert!(limit.take(1, t0 + Duration::from_millis(1100)));
        assert!(!limit.take(1, t0 + Duration::from_millis(1100)));
    }

    #[test]
    fn the_callers_remembered_are_bounded() {
        let hour = Duration::from_secs(3600);
        let limit = Limit::per(2, hour, 3);
        let t0 = Instant::now();
        for caller in 0..3 {
            assert!(limit.take(caller, t0));
        }
        // Full, and nobody's bucket has filled up again: a fourth caller waits.
        assert!(!limit.take(3, t0));
        assert_eq!(limit.buckets.lock().len(), 3);
        // Half an hour on, every bucket is full again: they are forgotten, the new one counts.
        let later = t0 + hour / 2;
        assert!(limit.take(3, later));
        assert_eq!(limit.buckets.lock().len(), 1);
        assert!(limit.take(3, later));
        assert!(!limit.take(3, later));
    }
}
