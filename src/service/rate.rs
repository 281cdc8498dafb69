//! A limit of calls per minute for each of a bounded set of callers (update keys, integration
//! tokens): a token bucket each, `per_minute` at most, refilled evenly.

use std::collections::HashMap;
use std::time::Instant;

/// Calls per minute, per caller id.
pub struct PerMinute {
    per_minute: f64,
    /// By caller id: tokens left and when they were counted. The ids are of keys or users
    /// that verified, so the map is bounded by what the store holds.
    buckets: parking_lot::Mutex<HashMap<i64, (f64, Instant)>>,
}

impl PerMinute {
    /// At most `per_minute` calls a minute for each caller.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            buckets: parking_lot::Mutex::default(),
        }
    }

    /// Whether `caller` may make one more call at `now` (and count it).
    pub fn take(&self, caller: i64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock();
        let (tokens, at) = buckets.entry(caller).or_insert((self.per_minute, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.per_minute / 60.0;
        *tokens = (*tokens + refill).min(self.per_minute);
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
    use std::time::Duration;

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
}
