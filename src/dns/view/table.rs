//! The names of a zone by key: a hash table of stored nodes (see [`super::node`]), cut into
//! pages that versions of the view share.
//!
//! A name's hash picks its page; a page is a short list of (hash, place) slots and one byte
//! buffer holding its nodes one after another. Looking a name up is one hash, one page, a
//! scan of a few 32-bit hashes and one key comparison. The pages are held in directories of
//! [`DIR`] pages: a change clones the list of directories (reference counts only) and copies
//! just the directories and pages it touches, so a new view costs a few kilobytes however
//! large the zone, and a reader of the old view is never disturbed. (With one flat list of
//! pages, a clone and its drop touched the count of every page: at 100,000 names 8,192 cache
//! misses each way, most of a change's time once commits were shared.)
//!
//! Why not a general persistent map: a hash array mapped trie keeps a fixed array per inner
//! node, and measured at 100,000 names most of a zone's memory went to those arrays and to the
//! per-entry allocations. Here a name costs its bytes plus a 12-byte slot.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::node::Node;

/// Average names per page before the table doubles its pages.
const MAX_LOAD: usize = 32;
/// A page rewrites its buffer once this share of it is dead (replaced or removed nodes).
const GARBAGE_SHARE: usize = 2;
/// Pages per directory.
const DIR: usize = 64;

/// The names of a zone.
#[derive(Clone)]
pub struct NameTable {
    dirs: Vec<Arc<Dir>>,
    /// Pages in all (a power of two).
    pages: usize,
    len: usize,
    hasher: foldhash::fast::FixedState,
}

/// Consecutive pages (at most [`DIR`]).
#[derive(Clone, Default)]
struct Dir {
    pages: Vec<Arc<Page>>,
}

#[derive(Clone, Default)]
struct Page {
    slots: Vec<Slot>,
    bytes: Vec<u8>,
    /// Bytes of `bytes` no slot points at.
    garbage: usize,
}

#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
    start: u32,
    len: u32,
}

impl std::fmt::Debug for NameTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameTable")
            .field("len", &self.len)
            .field("pages", &self.pages)
            .finish()
    }
}

impl Default for NameTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Page {
    fn node(&self, slot: &Slot) -> &[u8] {
        let start = slot.start as usize;
        &self.bytes[start..start + slot.len as usize]
    }

    fn find(&self, hash: u32, key: &[u8]) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.hash == hash && Node::new(self.node(s)).key() == key)
    }

    fn push(&mut self, hash: u32, blob: &[u8]) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(blob);
        self.slots.push(Slot {
            hash,
            start,
            len: blob.len() as u32,
        });
    }

    /// Rewrite the buffer without its dead bytes once they are a large share of it.
    fn collect_garbage(&mut self) {
        if self.garbage * GARBAGE_SHARE < self.bytes.len() {
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.garbage);
        for slot in &mut self.slots {
            let start = slot.start as usize;
            let new_start = bytes.len() as u32;
            bytes.extend_from_slice(&self.bytes[start..start + slot.len as usize]);
            slot.start = new_start;
        }
        self.bytes = bytes;
        self.garbage = 0;
    }
}

impl NameTable {
    /// An empty table sized for about `names` names.
    pub fn with_capacity(names: usize) -> Self {
        let pages = (names / (MAX_LOAD / 2)).max(1).next_power_of_two();
        Self {
            dirs: directories((0..pages).map(|_| Page::default())),
            pages,
            len: 0,
            hasher: foldhash::fast::FixedState::default(),
        }
    }

    fn page(&self, index: usize) -> &Page {
        &self.dirs[index / DIR].pages[index % DIR]
    }

    /// A page to change: its directory and itself copied first if another view shares them.
    fn page_mut(&mut self, index: usize) -> &mut Page {
        let dir = Arc::make_mut(&mut self.dirs[index / DIR]);
        Arc::make_mut(&mut dir.pages[index % DIR])
    }

    fn all_pages(&self) -> impl Iterator<Item = &Page> {
        self.dirs.iter().flat_map(|d| d.pages.iter().map(|p| &**p))
    }

    fn hash(&self, key: &[u8]) -> u32 {
        self.hasher.hash_one(key) as u32
    }

    fn page_of(&self, hash: u32) -> usize {
        hash as usize & (self.pages - 1)
    }

    /// Number of names.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The node of this key.
    pub fn get(&self, key: &[u8]) -> Option<Node<'_>> {
        let hash = self.hash(key);
        let page = self.page(self.page_of(hash));
        page.find(hash, key)
            .map(|i| Node::new(page.node(&page.slots[i])))
    }

    /// Whether the key is a name of the table.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Store a node (its key is the node's own), replacing the one of the same key.
    pub fn insert(&mut self, blob: &[u8]) {
        let key = Node::new(blob).key();
        let hash = self.hash(key);
        let index = self.page_of(hash);
        let page = self.page_mut(index);
        match page.find(hash, key) {
            Some(i) => {
                let old = page.slots[i];
                page.garbage += old.len as usize;
                let start = page.bytes.len() as u32;
                page.bytes.extend_from_slice(blob);
                page.slots[i] = Slot {
                    hash,
                    start,
                    len: blob.len() as u32,
                };
                page.collect_garbage();
            }
            None => {
                page.push(hash, blob);
                self.len += 1;
                if self.len > self.pages * MAX_LOAD {
                    self.grow();
                }
            }
        }
    }

    /// Remove the node of this key; whether it was there.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let hash = self.hash(key);
        let index = self.page_of(hash);
        if self.page(index).find(hash, key).is_none() {
            return false;
        }
        let page = self.page_mut(index);
        if let Some(i) = page.find(hash, key) {
            let old = page.slots.swap_remove(i);
            page.garbage += old.len as usize;
            page.collect_garbage();
            self.len -= 1;
        }
        true
    }

    /// Every node, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.all_pages()
            .flat_map(|p| p.slots.iter().map(|s| Node::new(p.node(s))))
    }

    /// Twice the pages: each page's names split between it and its new twin by one more bit
    /// of their hashes.
    fn grow(&mut self) {
        let old = self.pages;
        let mut pages: Vec<Page> = vec![Page::default(); old * 2];
        for page in self.all_pages() {
            for slot in &page.slots {
                let index = slot.hash as usize & (old * 2 - 1);
                pages[index].push(slot.hash, page.node(slot));
            }
        }
        self.dirs = directories(pages);
        self.pages = old * 2;
    }

    /// Bytes held by the pages (slots and node bytes), for the memory gauge and tests.
    pub fn heap_bytes(&self) -> usize {
        self.all_pages()
            .map(|p| {
                std::mem::size_of::<Page>()
                    + p.slots.capacity() * std::mem::size_of::<Slot>()
                    + p.bytes.capacity()
            })
            .sum::<usize>()
            + self
                .dirs
                .iter()
                .map(|d| {
                    std::mem::size_of::<Dir>()
                        + d.pages.capacity() * std::mem::size_of::<Arc<Page>>()
                })
                .sum::<usize>()
            + self.dirs.capacity() * std::mem::size_of::<Arc<Dir>>()
    }
}

/// Pages in directories of [`DIR`].
fn directories(pages: impl IntoIterator<Item = Page>) -> Vec<Arc<Dir>> {
    let mut dirs = Vec::new();
    let mut current = Vec::with_capacity(DIR);
    for page in pages {
        current.push(Arc::new(page));
        if current.len() == DIR {
            dirs.push(Arc::new(Dir {
                pages: std::mem::replace(&mut current, Vec::with_capacity(DIR)),
            }));
        }
    }
    if !current.is_empty() {
        dirs.push(Arc::new(Dir { pages: current }));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::super::node::NodeBuf;
    use super::*;

    fn blob(i: u32, v: u8) -> Vec<u8> {
        let mut n = NodeBuf::empty(format!("\x07n{i:06}\x00").as_bytes());
        n.add(1, 300, &[203, 0, 113, v]);
        n.encode()
    }

    #[test]
    fn insert_replace_remove_grow_and_share() {
        let mut t = NameTable::default();
        for i in 0..5000 {
            t.insert(&blob(i, 1));
        }
        assert_eq!(t.len(), 5000);
        assert!(t.pages >= 5000 / MAX_LOAD);
        let before = t.clone();
        for i in (0..5000).step_by(2) {
            t.insert(&blob(i, 2));
        }
        for i in (1..5000).step_by(4) {
            assert!(t.remove(format!("\x07n{i:06}\x00").as_bytes()));
        }
        assert!(!t.remove(b"\x07nothere\x00"));
        assert_eq!(t.len(), 5000 - 1250);
        for i in 0..5000u32 {
            let key = format!("\x07n{i:06}\x00");
            let data = |t: &NameTable| {
                t.get(key.as_bytes()).map(|n| {
                    n.get(hickory_proto::rr::RecordType::A)
                        .unwrap()
                        .rdatas()
                        .next()
                        .unwrap()[3]
                })
            };
            // The old version is untouched by the new one's edits.
            assert_eq!(data(&before), Some(1));
            let now = match i % 4 {
                1 => None,
                0 | 2 => Some(2),
                _ => Some(1),
            };
            assert_eq!(data(&t), now, "{i}");
        }
        assert_eq!(t.nodes().count(), t.len());
        // Dead bytes are reclaimed: every page holds at most twice its live bytes.
        for p in t.all_pages() {
            let live: usize = p.slots.iter().map(|s| s.len as usize).sum();
            assert!(
                p.bytes.len() <= 2 * live.max(1) + 64,
                "{} {live}",
                p.bytes.len()
            );
        }
    }
}
