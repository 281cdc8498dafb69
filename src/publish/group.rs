//! The write lock, and group commit under it.
//!
//! Every change is decided and written under one lock, in the order the callers came (the
//! lock is fair), so the store's order and DNS's order stay the same. A commit waits for the
//! disk; a change that finds others waiting behind it does not commit alone: it leaves the
//! transaction open, with the view it made, and the next one writes into the same
//! transaction. When nobody waits any more (or the group is full) a commit task commits the
//! group once, publishes each changed zone's last view, and tells every member. A change is
//! answered by DNS when its caller hears back, as without groups.
//!
//! The commit runs in a task of its own so that a caller who goes away (a closed HTTP
//! connection drops its future) never leaves a group open with others waiting on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Mutex, MutexGuard, oneshot, watch};

use crate::dns::{ZoneHandle, ZoneView};
use crate::store::{StoreError, WriteGroup};

/// At most this many changes share one commit (a bound on how long a member waits).
const MAX_GROUP: usize = 256;

/// What a member hears once its group is committed (or lost).
pub(super) type Outcome = Result<(), Arc<StoreError>>;

/// The lock every writer of zones takes, and the group it may leave open.
pub(super) struct Gate {
    writer: Mutex<Writer>,
    /// Callers waiting for the lock.
    queued: AtomicUsize,
    /// Moves each time a group is committed or lost.
    settled: watch::Sender<u64>,
    /// Groups committed, and the changes they held.
    commits: AtomicU64,
    committed_changes: AtomicU64,
    /// The longest time from a commit's return to its views served, in microseconds.
    slowest_publish_us: AtomicU64,
}

/// How many commits the changes took (see [`crate::publish::Publisher::commit_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitCounts {
    /// Transactions committed for changes.
    pub commits: u64,
    /// Changes (and request decisions) they held.
    pub changes: u64,
    /// The longest time from a commit's return to DNS serving its changes (the views
    /// swapped), in microseconds.
    pub slowest_publish_us: u64,
}

/// What the lock guards.
#[derive(Default)]
pub(super) struct Writer {
    open: Option<OpenGroup>,
}

/// Changes written and not yet committed.
pub(super) struct OpenGroup {
    store: WriteGroup,
    /// Each changed zone with the view it serves once the group commits.
    views: Vec<(Arc<ZoneHandle>, ZoneView)>,
    members: Vec<oneshot::Sender<Outcome>>,
    /// A commit task was started for this group.
    committing: bool,
}

impl Gate {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            writer: Mutex::new(Writer::default()),
            queued: AtomicUsize::new(0),
            settled: watch::Sender::new(0),
            commits: AtomicU64::new(0),
            committed_changes: AtomicU64::new(0),
            slowest_publish_us: AtomicU64::new(0),
        })
    }

    pub(super) fn counts(&self) -> CommitCounts {
        CommitCounts {
            commits: self.commits.load(Ordering::Relaxed),
            changes: self.committed_changes.load(Ordering::Relaxed),
            slowest_publish_us: self.slowest_publish_us.load(Ordering::Relaxed),
        }
    }

    /// The lock, possibly with a group open to join.
    async fn lock(self: &Arc<Self>) -> WriterGuard<'_> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut waiting = Waiting {
            gate: self,
            armed: true,
        };
        let guard = self.writer.lock().await;
        waiting.armed = false;
        drop(waiting);
        WriterGuard { guard, gate: self }
    }

    /// The lock with no group open (for work that writes on its own): an open group is
    /// committed first.
    pub(super) async fn exclusive(self: &Arc<Self>) -> WriterGuard<'_> {
        self.lock_until(|open| open.is_none()).await
    }

    /// The lock to write a change: into the open group unless it is full (then once it is
    /// committed).
    pub(super) async fn for_change(self: &Arc<Self>) -> WriterGuard<'_> {
        self.lock_until(|open| open.is_none_or(|g| g.members.len() < MAX_GROUP))
            .await
    }

    /// The lock once `ready` holds of the open group; until then the group is committed.
    async fn lock_until(
        self: &Arc<Self>,
        ready: impl Fn(Option<&OpenGroup>) -> bool,
    ) -> WriterGuard<'_> {
        loop {
            let mut guard = self.lock().await;
            if ready(guard.guard.open.as_ref()) {
                return guard;
            }
            let mut settled = self.settled.subscribe();
            if let Some(group) = guard.guard.open.as_mut()
                && !group.committing
            {
                group.committing = true;
                tokio::spawn(commit(self.clone()));
            }
            drop(guard);
            let _ = settled.changed().await;
        }
    }

    fn settle(&self) {
        self.settled.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Counts a caller waiting for the lock; one that gives up waiting (its future dropped) may
/// have been the one a group was left open for, so the lock is taken once more on its behalf.
struct Waiting<'a> {
    gate: &'a Arc<Gate>,
    armed: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.gate.queued.fetch_sub(1, Ordering::SeqCst);
        if self.armed {
            let gate = self.gate.clone();
            tokio::spawn(async move {
                drop(gate.lock().await);
            });
        }
    }
}

/// The write lock held. Released, it starts the commit of an open group when nobody else
/// waits to join it (or it is full).
pub(super) struct WriterGuard<'a> {
    guard: MutexGuard<'a, Writer>,
    gate: &'a Arc<Gate>,
}

impl WriterGuard<'_> {
    /// The open group, if any.
    pub(super) fn group(&mut self) -> Option<&mut OpenGroup> {
        self.guard.open.as_mut()
    }

    /// The open group, begun if none is.
    pub(super) async fn join(
        &mut self,
        store: &crate::store::Store,
    ) -> Result<&mut OpenGroup, StoreError> {
        if self.guard.open.is_none() {
            self.guard.open = Some(OpenGroup {
                store: store.begin_group().await?,
                views: Vec::new(),
                members: Vec::new(),
                committing: false,
            });
        }
        match self.guard.open.as_mut() {
            Some(group) => Ok(group),
            None => Err(StoreError::Corrupt("no open group".into())),
        }
    }

    /// A change's failure took the group's transaction with it: every member so far is told,
    /// and the caller gets the same error.
    pub(super) fn fail(&mut self, error: StoreError) -> StoreError {
        let shared = Arc::new(error);
        if let Some(group) = self.guard.open.take() {
            for member in group.members {
                let _ = member.send(Err(shared.clone()));
            }
        }
        self.gate.settle();
        StoreError::Shared(shared)
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        let Some(group) = self.guard.open.as_mut() else {
            return;
        };
        let nobody_waits = self.gate.queued.load(Ordering::SeqCst) == 0;
        if !group.committing && (nobody_waits || group.members.len() >= MAX_GROUP) {
            group.committing = true;
            tokio::spawn(commit(self.gate.clone()));
        }
    }
}

impl OpenGroup {
    /// Whether changes were written into the group (they are not committed yet).
    pub(super) fn has_members(&self) -> bool {
        !self.members.is_empty()
    }

    /// Whether a failure took the group's transaction with it.
    pub(super) fn is_broken(&self) -> bool {
        self.store.is_broken()
    }

    /// The store's side of the group.
    pub(super) fn store(&mut self) -> &mut WriteGroup {
        &mut self.store
    }

    /// The view a zone has in this group (its last change's), if it changed in it.
    pub(super) fn view(&self, handle: &Arc<ZoneHandle>) -> Option<&ZoneView> {
        self.views
            .iter()
            .find(|(h, _)| Arc::ptr_eq(h, handle))
            .map(|(_, v)| v)
    }

    /// Keep the view a change made, to be published with the group, and wait for the commit.
    pub(super) fn enter(
        &mut self,
        handle: &Arc<ZoneHandle>,
        view: ZoneView,
    ) -> oneshot::Receiver<Outcome> {
        match self.views.iter_mut().find(|(h, _)| Arc::ptr_eq(h, handle)) {
            Some((_, v)) => *v = view,
            None => self.views.push((handle.clone(), view)),
        }
        self.wait()
    }

    /// Wait for the commit of what was written (a change that left the zones as they were).
    pub(super) fn wait(&mut self) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.members.push(tx);
        rx
    }
}

/// Commit the open group: publish each changed zone's view, tell the members.
async fn commit(gate: Arc<Gate>) {
    let mut writer = gate.writer.lock().await;
    if let Some(group) = writer.open.take() {
        let outcome = group.store.commit().await.map_err(Arc::new);
        if outcome.is_ok() && !group.members.is_empty() {
            gate.commits.fetch_add(1, Ordering::Relaxed);
            gate.committed_changes
                .fetch_add(group.members.len() as u64, Ordering::Relaxed);
        }
        if outcome.is_ok() {
            let committed = std::time::Instant::now();
            for (handle, view) in group.views {
                handle.publish(view);
            }
            let took = u64::try_from(committed.elapsed().as_micros()).unwrap_or(u64::MAX);
            gate.slowest_publish_us.fetch_max(took, Ordering::Relaxed);
        }
        for member in group.members {
            let _ = member.send(outcome.clone());
        }
    }
    drop(writer);
    gate.settle();
}
