//! The answer cache of a zone view: encoded answers by query shape, so that a repeated
//! question is answered by copying bytes. One cache per view: a change publishes a new view
//! with an empty cache, so no answer outlives the data it was made from.

use std::sync::Arc;

use super::rrl::Class;

/// A cached answer and its class for rate limiting (computed once, when it is cached).
#[derive(Debug, Clone)]
pub(super) struct Cached {
    pub(super) answer: Arc<[u8]>,
    pub(super) class: Class,
}

/// The answers of one zone view, by query shape. Bounded, so that a flood of random names
/// cannot grow it without limit: when full, new answers are computed but not kept.
#[derive(Debug, Default)]
pub struct AnswerCache {
    map: parking_lot::RwLock<AnswerMap>,
}

type AnswerMap = std::collections::HashMap<Box<[u8]>, Cached, rustc_hash::FxBuildHasher>;

/// Most answers kept per zone view.
const CACHE_CAPACITY: usize = 200_000;

impl AnswerCache {
    pub(super) fn get(&self, key: &[u8]) -> Option<Cached> {
        self.map.read().get(key).cloned()
    }

    pub(super) fn insert(&self, key: &[u8], answer: &[u8], class: Class) {
        let mut map = self.map.write();
        if map.len() < CACHE_CAPACITY {
            let answer = Arc::from(answer);
            map.insert(Box::from(key), Cached { answer, class });
        }
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
