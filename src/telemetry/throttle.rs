//! Log lines that a client can cause, limited to one per interval and kind.
//!
//! A refused zone transfer, a failed TSIG check, a 401 or any other HTTP error, a refused
//! connection: each is worth a log line, but a client can cause a million of them. So each kind
//! of event (a fixed name from our source, never from a packet) has a window: the first event
//! of a window is logged in full; the others are counted (`ranah_log_lines_suppressed`) and not
//! logged. The line that opens the next window says how many were left out before it; a window
//! that closed with events left out and nothing after it is summed up by [`LogThrottle::flush`],
//! which the daemon calls once per interval. Per kind and interval that is at most one line in
//! full and one summary, however many events arrive.
//!
//! Hand-written: the crates that rate-limit `tracing` output (a `Layer` that drops lines) cannot
//! say how many lines they dropped or count them per kind in our metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// Labels of the suppressed-lines counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// The kind of event (`dns_transfer_refused`, `http_unauthorized`, …).
    pub event: String,
}

struct Window {
    opened: Instant,
    suppressed: u64,
    counter: Counter,
}

/// The windows of every kind of event; the map holds at most one entry per kind, and kinds are
/// `&'static str` written in our source, so it is bounded by construction.
pub struct LogThrottle {
    interval_ms: AtomicU64,
    windows: Mutex<HashMap<&'static str, Window>>,
    suppressed: Family<EventLabels, Counter>,
}

impl LogThrottle {
    /// A throttle with this interval, counting suppressed lines in `suppressed`.
    pub fn new(interval: Duration, suppressed: Family<EventLabels, Counter>) -> Self {
        Self {
            interval_ms: AtomicU64::new(duration_ms(interval)),
            windows: Mutex::new(HashMap::new()),
            suppressed,
        }
    }

    /// Change the interval (from the configuration, at start).
    pub fn set_interval(&self, interval: Duration) {
        self.interval_ms
            .store(duration_ms(interval), Ordering::Relaxed);
    }

    /// The interval.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }

    /// One event of kind `event`: `Some(n)` when it is to be logged, `n` being the events of
    /// this kind left out since the last line; `None` when it is only counted.
    pub fn admit(&self, event: &'static str) -> Option<u64> {
        self.admit_at(event, Instant::now())
    }

    fn admit_at(&self, event: &'static str, now: Instant) -> Option<u64> {
        let interval = self.interval();
        let mut windows = self.windows.lock();
        match windows.get_mut(event) {
            Some(w) if now.saturating_duration_since(w.opened) < interval => {
                w.suppressed += 1;
                w.counter.inc();
                None
            }
            Some(w) => {
                let left_out = w.suppressed;
                w.opened = now;
                w.suppressed = 0;
                Some(left_out)
            }
            None => {
                let counter = self
                    .suppressed
                    .get_or_create(&EventLabels {
                        event: event.to_owned(),
                    })
                    .clone();
                windows.insert(
                    event,
                    Window {
                        opened: now,
                        suppressed: 0,
                        counter,
                    },
                );
                Some(0)
            }
        }
    }

    /// Close the windows whose interval has passed, and log one line for each that left events
    /// out (the next event of its kind is logged in full).
    pub fn flush(&self) {
        for (event, left_out) in self.flush_at(Instant::now()) {
            tracing::warn!(
                event,
                suppressed = left_out,
                interval_secs = self.interval().as_secs(),
                "log lines suppressed: more of this event than one line per interval"
            );
        }
    }

    fn flush_at(&self, now: Instant) -> Vec<(&'static str, u64)> {
        let interval = self.interval();
        let mut closed = Vec::new();
        self.windows.lock().retain(|event, w| {
            if now.saturating_duration_since(w.opened) < interval {
                return true;
            }
            if w.suppressed > 0 {
                closed.push((*event, w.suppressed));
            }
            false
        });
        closed
    }

    /// Call [`Self::flush`] once per interval until `shutdown` turns true.
    pub async fn run(self: std::sync::Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.interval()) => self.flush(),
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.flush_all();
                    return;
                }
            }
        }
    }

    /// At shutdown: sum up every window that left events out, whatever its age.
    fn flush_all(&self) {
        let far = Instant::now() + self.interval();
        for (event, left_out) in self.flush_at(far) {
            tracing::warn!(
                event,
                suppressed = left_out,
                "log lines suppressed: more of this event than one line per interval"
            );
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_kind_and_the_rest_counted() {
        let family = Family::<EventLabels, Counter>::default();
        let t = LogThrottle::new(Duration::from_secs(10), family.clone());
        let t0 = Instant::now();
        assert_eq!(t.admit_at("a", t0), Some(0), "the first is logged in full");
        for i in 1..1000 {
            assert_eq!(t.admit_at("a", t0 + Duration::from_millis(i)), None);
        }
        // Another kind has its own window.
        assert_eq!(t.admit_at("b", t0), Some(0));
        // The first after the interval is logged and says how many were left out.
        assert_eq!(t.admit_at("a", t0 + Duration::from_secs(10)), Some(999));
        assert_eq!(t.admit_at("a", t0 + Duration::from_secs(11)), None);
        let count = |e: &str| {
            family
                .get_or_create(&EventLabels {
                    event: e.to_owned(),
                })
                .get()
        };
        assert_eq!(count("a"), 1000);
        assert_eq!(count("b"), 0);
        // A window that closed with events left out is summed up once, then forgotten.
        assert_eq!(t.flush_at(t0 + Duration::from_secs(15)), vec![]);
        assert_eq!(t.flush_at(t0 + Duration::from_secs(20)), vec![("a", 1)]);
        assert_eq!(t.flush_at(t0 + Duration::from_secs(40)), vec![]);
        assert!(t.windows.lock().is_empty(), "closed windows are removed");
        // After a flush the next event opens a new window, logged in full.
        assert_eq!(t.admit_at("a", t0 + Duration::from_secs(41)), Some(0));
    }
}
