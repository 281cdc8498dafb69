//! The write lock, and group commit under it.
//!
//! Every change is decided and written under one lock, in the order the callers came (the
//! lock is fair), so the store's order and DNS's order stay the same. A commit waits for the
//! disk; a change that finds others waiting behind it does not commit alone: it leaves the
//! transaction open, with the view it made, and releases the lock; the next one writes into
//! the same transaction. The last one in (nobody waits any more, or the group is full)
//! commits the group once, publishes each changed zone's last view, and tells every member.
//! A change is answered by DNS when its caller hears back, as without groups.
//!
//! A commit runs in a task of its own that holds the lock it was started under, so that a
//! caller who goes away (a closed HTTP connection drops its future) never leaves a group open
//! with others waiting on it, and work that needs the lock with no group open keeps its
//! place in the queue while the group before it commits. A change dropped in the middle of its
//! writes may have left the transaction in any state: the group is then abandoned whole (its
//! members are told to retry) rather than committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::dns::{ZoneHandle, ZoneView};
use crate::store::{StoreError, WriteGroup};

/// At most this many changes share one commit (a bound on how long a member waits).
const MAX_GROUP: usize = 256;

/// What a member hears once its group is committed (or lost).
pub(super) type Outcome = Result<(), Arc<StoreError>>;

/// The lock every writer of zones takes, and the group it may leave open.
pub(super) struct Gate {
    writer: Arc<Mutex<Writer>>,
    /// Callers waiting for the lock.
    queued: AtomicUsize,
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
    /// A change is being written (set before its first statement, cleared when it is
    /// settled): found set when the lock is released, the change was dropped midway.
    writing: bool,
}

impl Gate {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            writer: Arc::new(Mutex::new(Writer::default())),
            queued: AtomicUsize::new(0),
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
        let guard = self.writer.clone().lock_owned().await;
        waiting.armed = false;
        drop(waiting);
        WriterGuard {
            guard: Some(guard),
            gate: self,
        }
    }

    /// The lock with no group open (for work that writes on its own): an open group is
    /// committed first, without giving the lock up.
    pub(super) async fn exclusive(self: &Arc<Self>) -> WriterGuard<'_> {
        self.lock_until(|open| open.is_none()).await
    }

    /// The lock to write a change: into the open group unless it is full (then once it is
    /// committed).
    pub(super) async fn for_change(self: &Arc<Self>) -> WriterGuard<'_> {
        self.lock_until(|open| open.is_none_or(|g| g.members.len() < MAX_GROUP))
            .await
    }

    /// The lock once `ready` holds of the open group; until then the group is committed by a
    /// task that hands the lock back.
    async fn lock_until(
        self: &Arc<Self>,
        ready: impl Fn(Option<&OpenGroup>) -> bool,
    ) -> WriterGuard<'_> {
        let mut writer = self.lock().await;
        loop {
            let Some(guard) = writer.guard.take() else {
                // Never so: the guard is only taken on drop, or here and put back.
                writer = self.lock().await;
                continue;
            };
            if ready(guard.open.as_ref()) {
                writer.guard = Some(guard);
                return writer;
            }
            let (back, returned) = oneshot::channel();
            let gate = self.clone();
            tokio::spawn(async move {
                let guard = commit(&gate, guard).await;
                // The caller may be gone: then the lock is released here.
                let _ = back.send(guard);
            });
            match returned.await {
                Ok(guard) => writer.guard = Some(guard),
                // The commit task ended without handing the lock back (it panicked):
                // queue again.
                Err(_) => writer = self.lock().await,
            }
        }
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

/// The write lock held. Released, it commits an open group when nobody else waits to join
/// it (or it is full), and abandons one that a dropped change left midway.
pub(super) struct WriterGuard<'a> {
    /// Always held while the guard is in use; taken when it is handed to a commit task.
    guard: Option<OwnedMutexGuard<Writer>>,
    gate: &'a Arc<Gate>,
}

impl WriterGuard<'_> {
    /// The open group, if any.
    pub(super) fn group(&mut self) -> Option<&mut OpenGroup> {
        self.guard.as_mut().and_then(|g| g.open.as_mut())
    }

    /// The open group, begun if none is.
    pub(super) async fn join(
        &mut self,
        store: &crate::store::Store,
    ) -> Result<&mut OpenGroup, StoreError> {
        let Some(writer) = self.guard.as_mut() else {
            return Err(StoreError::Corrupt("the write lock is not held".into()));
        };
        if writer.open.is_none() {
            writer.open = Some(OpenGroup {
                store: store.begin_group().await?,
                views: Vec::new(),
                members: Vec::new(),
                writing: false,
            });
        }
        match writer.open.as_mut() {
            Some(group) => Ok(group),
            None => Err(StoreError::Corrupt("no open group".into())),
        }
    }

    /// A change's failure took the group's transaction with it: every member so far is told,
    /// and the caller gets the same error.
    pub(super) fn fail(&mut self, error: StoreError) -> StoreError {
        let shared = Arc::new(error);
        if let Some(group) = self.guard.as_mut().and_then(|g| g.open.take()) {
            for member in group.members {
                let _ = member.send(Err(shared.clone()));
            }
        }
        StoreError::Shared(shared)
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let Some(group) = guard.open.as_mut() else {
            return;
        };
        if group.writing {
            // A change was dropped between its first statement and its end: the transaction
            // may hold half of it. Nothing of the group is kept (dropping the transaction
            // rolls it back); its members are told to retry.
            if let Some(group) = guard.open.take() {
                let lost = Arc::new(StoreError::Abandoned);
                for member in group.members {
                    let _ = member.send(Err(lost.clone()));
                }
            }
            return;
        }
        let nobody_waits = self.gate.queued.load(Ordering::SeqCst) == 0;
        if nobody_waits || group.members.len() >= MAX_GROUP {
            let gate = self.gate.clone();
            tokio::spawn(async move {
                drop(commit(&gate, guard).await);
            });
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

    /// The store's side of the group, for one change: marked as being written until
    /// [`OpenGroup::written`] (a change dropped before then abandons the group).
    pub(super) fn writing(&mut self) -> &mut WriteGroup {
        self.writing = true;
        &mut self.store
    }

    /// The change being written is settled (kept or undone alone).
    pub(super) fn written(&mut self) {
        self.writing = false;
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

    /// Wait for the commit of what was written (a change that left the zones as they were,
    /// or found them so because of changes of this group).
    pub(super) fn wait(&mut self) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.members.push(tx);
        rx
    }
}

/// Commit the open group under the lock held: publish each changed zone's view, tell the
/// members. Returns the lock.
async fn commit(gate: &Gate, mut writer: OwnedMutexGuard<Writer>) -> OwnedMutexGuard<Writer> {
    let Some(group) = writer.open.take() else {
        return writer;
    };
    let outcome = group.store.commit().await.map_err(Arc::new);
    if outcome.is_ok() {
        if !group.members.is_empty() {
            gate.commits.fetch_add(1, Ordering::Relaxed);
            gate.committed_changes
                .fetch_add(group.members.len() as u64, Ordering::Relaxed);
        }
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
    writer
}
