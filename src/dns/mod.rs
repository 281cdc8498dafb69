//! Authoritative DNS: the zones being served and the server that answers from them.
//!
//! [`Zones`] holds one [`ZoneView`] per zone behind an atomic pointer: lookups load the current
//! view without locking, and a change publishes a new view in one pointer swap, so a query sees
//! a change whole or not at all. [`handler`] answers queries; [`listen`] binds ranah's own UDP
//! workers ([`udp`]) and TCP listeners ([`tcp`], with connection limits and timeouts) on every
//! address; [`rrl`] rate limits the answers sent over UDP.

pub mod cache;
pub mod client;
pub mod handler;
pub mod listen;
pub mod message;
pub mod mmsg;
pub use crate::zone::name_key;
pub mod rrl;
pub mod secondaries;
pub mod tcp;
pub mod transfer;
pub mod tsig;
pub mod udp;
pub mod update;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Record, RecordType};

use cache::{AnswerCache, CacheBudget};
use name_key::Key;

pub use view::{Answer, RRset, RecordSet, ZoneView};

/// One served zone: its current view.
#[derive(Debug)]
pub struct ZoneHandle {
    view: ArcSwap<ZoneView>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
    budget: Arc<CacheBudget>,
}

impl ZoneHandle {
    /// The view as of now.
    pub fn view(&self) -> Arc<ZoneView> {
        self.view.load_full()
    }

    /// Publish a new view (the caller holds the zone's write lock, see `publish`).
    pub fn publish(&self, view: ZoneView) {
        let view = view.with_cache(AnswerCache::new(self.budget.clone()));
        self.view.store(Arc::new(view));
        self.changed.send_modify(|generation| *generation += 1);
    }
}

/// Every zone ranah serves, by apex.
#[derive(Debug)]
pub struct Zones {
    by_origin: ArcSwap<ZoneMap>,
    /// Counts every publication, so that NOTIFY can follow changes without polling.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// What the views' answer caches may hold together.
    budget: Arc<CacheBudget>,
}

impl Default for Zones {
    fn default() -> Self {
        Self::with_budget(CacheBudget::default())
    }
}

/// A query's answer section, decoded: what a resolver would be told.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The response code.
    pub rcode: ResponseCode,
    /// The answer section's records.
    pub answers: Vec<Record>,
}

type ZoneMap = HashMap<Key, Arc<ZoneHandle>, rustc_hash::FxBuildHasher>;

impl Zones {
    /// No zones yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// No zones yet; their answer caches hold at most `bytes` together.
    pub fn with_cache_budget(bytes: usize) -> Self {
        Self::with_budget(CacheBudget::new(bytes))
    }

    /// No zones yet; their answer caches share `budget`.
    pub fn with_budget(budget: CacheBudget) -> Self {
        Self {
            by_origin: ArcSwap::default(),
            changed: Arc::new(tokio::sync::watch::Sender::new(0)),
            budget: Arc::new(budget),
        }
    }

    /// The answer caches' budget and counters.
    pub fn cache_budget(&self) -> &Arc<CacheBudget> {
        &self.budget
    }

    /// A receiver that sees a new value after every zone publication.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Serve a zone, replacing any earlier view of it.
    pub fn insert(&self, view: ZoneView) {
        let origin: Key = view.origin_key().into();
        if let Some(handle) = self.by_origin.load().get(&origin) {
            handle.publish(view);
            return;
        }
        let handle = Arc::new(ZoneHandle {
            view: ArcSwap::from_pointee(view.with_cache(AnswerCache::new(self.budget.clone()))),
            changed: self.changed.clone(),
            budget: self.budget.clone(),
        });
        self.by_origin.rcu(|map| {
            let mut map = ZoneMap::clone(map);
            map.insert(origin.clone(), handle.clone());
            map
        });
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Stop serving a zone (one whose import failed to reach the store).
    pub fn remove(&self, origin: &LowerName) {
        let key = name_key::key_of(origin);
        self.by_origin.rcu(|map| {
            let mut map = ZoneMap::clone(map);
            map.remove(&*key);
            map
        });
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// The zone with exactly this apex.
    pub fn get(&self, origin: &LowerName) -> Option<Arc<ZoneHandle>> {
        self.by_origin
            .load()
            .get(&*name_key::key_of(origin))
            .cloned()
    }

    /// The view served now of every zone, by origin.
    pub fn views(&self) -> Vec<Arc<ZoneView>> {
        self.origins()
            .iter()
            .filter_map(|o| self.get(o))
            .map(|h| h.view())
            .collect()
    }

    /// The apexes served.
    pub fn origins(&self) -> Vec<LowerName> {
        let mut v: Vec<LowerName> = self
            .by_origin
            .load()
            .values()
            .map(|h| h.view.load().origin().clone())
            .collect();
        v.sort();
        v
    }

    /// Number of zones served.
    pub fn len(&self) -> usize {
        self.by_origin.load().len()
    }

    /// Whether no zone is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most specific zone that contains `name`.
    pub fn find(&self, name: &LowerName) -> Option<Arc<ZoneHandle>> {
        self.find_key(&name_key::key_of(name))
    }

    /// The most specific zone that contains the name with this (lower-cased wire) key.
    pub fn find_key(&self, key: &[u8]) -> Option<Arc<ZoneHandle>> {
        find_in(&self.by_origin.load(), key).cloned()
    }

    /// Answer a query as DNS would (REFUSED for names outside every zone), decoded: for
    /// checks of what is served, not for serving.
    pub fn resolve(&self, qname: &LowerName, qtype: RecordType, dnssec: bool) -> Resolved {
        let key = name_key::key_of(qname);
        let Some(zone) = self.find_key(&key) else {
            return Resolved {
                rcode: ResponseCode::Refused,
                answers: Vec::new(),
            };
        };
        let view = zone.view();
        let answer = view.lookup(&key, qtype, dnssec);
        Resolved {
            rcode: answer.rcode,
            answers: Answer::records(&answer.answers),
        }
    }
}

fn find_in<'m>(map: &'m ZoneMap, key: &[u8]) -> Option<&'m Arc<ZoneHandle>> {
    let mut k = key;
    loop {
        if let Some(handle) = map.get(k) {
            return Some(handle);
        }
        k = name_key::parent(k)?;
    }
}
