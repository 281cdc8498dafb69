//! Fault and load tests: the daemon killed mid-work, its disk full, DNS under load while
//! approvals stream, the API fuzzed from its own OpenAPI document, and the test command's
//! set-up stage on a clean Debian 12. They are slow and take
//! the machine (peer servers, load generators), so they live in their own test binary, which
//! cargo runs after the integration tests, never beside them, and inside it they run one at a
//! time ([`one_at_a_time`]). Each is bounded in time and runs on loopback; what each proves and
//! the figures of a run are in docs/testing.md.

// The integration tests' harness, OpenAPI checker and CA, shared as they are (this binary uses
// part of each).
#[allow(dead_code)]
#[path = "../it/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "../it/contract.rs"]
mod contract;

#[allow(dead_code)]
#[path = "../it/pebble.rs"]
mod pebble;

mod client;
mod crash;
mod disk_full;
mod load;
mod schema;
mod stock_debian;

/// Serialises the tests of this binary: cargo's test harness runs tests on several threads,
/// and two of these at once would measure each other.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed still releases the lock; the next one starts from its own state.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
