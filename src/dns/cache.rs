//! The answer cache of a zone view: encoded answers by query shape, so that a repeated
//! question is answered by copying bytes. One cache per view: a view is published with an
//! empty cache, so no answer outlives the data it was made from.
//!
//! The caches of every zone share one budget of bytes ([`CacheBudget`], `[dns]
//! answer_cache_bytes`): when it is spent, new answers are computed but not kept, so a flood
//! cannot grow memory. Only answers about names that exist are kept (see `udp`): a flood of
//! random names is never cached, so it cannot push out the answers real clients ask for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus_client::metrics::counter::Counter;

use super::rrl::Class;

/// Bytes an entry costs beyond its key and answer: the table's slot, the answer's reference
/// count and length, allocator rounding.
const ENTRY_OVERHEAD: usize = 64;

/// A cached answer and its class for rate limiting (computed once, when it is cached).
#[derive(Debug, Clone)]
pub(super) struct Cached {
    pub(super) answer: Arc<[u8]>,
    pub(super) class: Class,
}

/// The byte budget the answer caches share, and their counters for `/metrics`.
#[derive(Debug)]
pub struct CacheBudget {
    limit: usize,
    used: AtomicUsize,
    hits: Counter,
    misses: Counter,
}

impl Default for CacheBudget {
    fn default() -> Self {
        Self::new(crate::config::DEFAULT_ANSWER_CACHE_BYTES)
    }
}

impl CacheBudget {
    /// A budget of `limit` bytes (0: no answer is cached).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    /// This budget, counting hits and misses in these (registered) counters.
    pub fn counting(self, hits: Counter, misses: Counter) -> Self {
        Self {
            hits,
            misses,
            ..self
        }
    }

    /// The budget.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes the caches hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Answers served from a cache.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// Cacheable queries answered by a lookup instead.
    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    /// Add a worker's counts (workers count locally and add in batches: one shared counter
    /// touched per query would make the cores fight over it).
    pub fn count(&self, hits: u64, misses: u64) {
        if hits > 0 {
            self.hits.inc_by(hits);
        }
        if misses > 0 {
            self.misses.inc_by(misses);
        }
    }

    /// Take `bytes` from the budget, if they are left.
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= self.limit).then_some(used + bytes)
            })
            .is_ok()
    }

    /// Whether `bytes` are left now (a hint: [`CacheBudget::take`] decides).
    fn has_room(&self, bytes: usize) -> bool {
        self.used.load(Ordering::Relaxed) + bytes <= self.limit
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The answers of one zone view, by query shape.
#[derive(Debug, Default)]
pub struct AnswerCache {
    map: parking_lot::RwLock<AnswerMap>,
    budget: Arc<CacheBudget>,
    /// Bytes this cache took from the budget, given back when it is dropped.
    bytes: AtomicUsize,
}

type AnswerMap = std::collections::HashMap<Box<[u8]>, Cached, rustc_hash::FxBuildHasher>;

impl Drop for AnswerCache {
    fn drop(&mut self) {
        self.budget.give_back(*self.bytes.get_mut());
    }
}

impl AnswerCache {
    /// An empty cache spending from `budget`.
    pub fn new(budget: Arc<CacheBudget>) -> Self {
        Self {
            map: Default::default(),
            budget,
            bytes: AtomicUsize::new(0),
        }
    }

    /// The budget this cache spends from.
    pub fn budget(&self) -> &Arc<CacheBudget> {
        &self.budget
    }

    pub(super) fn get(&self, key: &[u8]) -> Option<Cached> {
        self.map.read().get(key).cloned()
    }

    pub(super) fn insert(&self, key: &[u8], answer: &[u8], class: Class) {
        let cost = key.len() + answer.len() + ENTRY_OVERHEAD;
        // Once the budget is spent, every miss would still queue on the write lock here, one
        // worker behind the other (a zone much larger than the budget: nearly every query is
        // a miss). The budget is read first, without the lock; `take` below decides.
        if !self.budget.has_room(cost) {
            return;
        }
        let mut map = self.map.write();
        if map.contains_key(key) || !self.budget.take(cost) {
            return;
        }
        self.bytes.fetch_add(cost, Ordering::Relaxed);
        let answer = Arc::from(answer);
        map.insert(Box::from(key), Cached { answer, class });
    }

    /// Number of answers kept.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether no answer is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_keeps_misses_off_the_write_lock() {
        let cache = Arc::new(AnswerCache::new(Arc::new(CacheBudget::new(
            10 + 20 + ENTRY_OVERHEAD,
        ))));
        cache.insert(&[1; 10], &[0; 20], Class::default());
        // A lookup holds the map (as the other worker's do); an insert with the budget spent
        // must return at once instead of waiting for the write lock.
        let reading = cache.map.read();
        let (done, returned) = std::sync::mpsc::channel();
        let inserter = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache.insert(&[2; 10], &[0; 20], Class::default());
                let _ = done.send(());
            })
        };
        let result = returned.recv_timeout(std::time::Duration::from_secs(5));
        drop(reading);
        inserter.join().unwrap();
        assert!(result.is_ok(), "the insert waited for the write lock");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn caches_share_a_budget_and_return_it_when_dropped() {
        let budget = Arc::new(CacheBudget::new(3 * (10 + 20 + ENTRY_OVERHEAD)));
        let a = AnswerCache::new(budget.clone());
        let b = AnswerCache::new(budget.clone());
        a.insert(&[1; 10], &[0; 20], Class::default());
        a.insert(&[1; 10], &[0; 20], Class::default()); // already there: nothing taken
        a.insert(&[2; 10], &[0; 20], Class::default());
        b.insert(&[3; 10], &[0; 20], Class::default());
        b.insert(&[4; 10], &[0; 20], Class::default()); // over the budget: not kept
        assert_eq!((a.len(), b.len()), (2, 1));
        assert_eq!(budget.used(), budget.limit());
        drop(a);
        assert_eq!(budget.used(), budget.limit() / 3);
        b.insert(&[4; 10], &[0; 20], Class::default());
        assert_eq!(b.len(), 2);
        drop(b);
        assert_eq!(budget.used(), 0);
        let none = AnswerCache::new(Arc::new(CacheBudget::new(0)));
        none.insert(&[1], &[2], Class::default());
        assert!(none.is_empty());
    }
}
