//! One instance runs the background jobs (ACME orders and renewals, NOTIFY and polls of the
//! secondaries, the outbox, the sweeper, signed checkpoints, DNSSEC maintenance, snapshots):
//! the one that holds the store's leader lock ([`Store::try_lead`]). The others try for it
//! every [`RETRY`]; the leader checks every [`CHECK`] that its session is still there, and
//! stops its jobs the moment it is not. An instance that dies frees the lock with its
//! session, and another takes the jobs over within about a second (about half a minute when
//! its host dies or is cut off: the server gives up a silent session after 30 s, see
//! `store::PG_SESSION`).
//!
//! On SQLite there is one instance, which leads from the start.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{Leadership, Store};
use crate::telemetry::metrics::Metrics;

/// How often a follower tries for the lock.
pub const RETRY: Duration = Duration::from_secs(1);

/// How often the leader checks that it still holds the lock.
pub const CHECK: Duration = Duration::from_secs(1);

/// Whether this instance leads, as it changes.
pub type Role = watch::Receiver<bool>;

/// Run the election until `shutdown`, from the lock `held` if this instance took it already
/// (at start); the returned receiver says whether this instance leads.
pub fn elect(
    store: Store,
    metrics: std::sync::Arc<Metrics>,
    held: Option<Leadership>,
    mut shutdown: watch::Receiver<bool>,
) -> (Role, tokio::task::JoinHandle<()>) {
    let leads = !store.is_shared() || held.is_some();
    let (tx, rx) = watch::channel(leads);
    metrics.instance_leader.set(i64::from(leads));
    let task = tokio::spawn(async move {
        if !store.is_shared() {
            let _ = shutdown.wait_for(|stop| *stop).await;
            return;
        }
        let mut held = held;
        loop {
            // At once at start: the first instance up leads without waiting a round.
            match held.as_mut() {
                Some(lock) => {
                    if let Err(error) = lock.check().await {
                        tracing::warn!(%error, "lost the leader's lock: the background jobs stop here");
                        held = None;
                    }
                }
                None => match store.try_lead().await {
                    Ok(Some(lock)) => {
                        tracing::info!("this instance leads: it runs the background jobs");
                        held = Some(lock);
                    }
                    Ok(None) => {}
                    Err(error) => tracing::debug!(%error, "cannot try for the leader's lock"),
                },
            }
            let leads = held.is_some();
            metrics.instance_leader.set(i64::from(leads));
            tx.send_if_modified(|was| std::mem::replace(was, leads) != leads);
            let wait = if leads { CHECK } else { RETRY };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        // Stopping: the jobs stop with the daemon; the lock goes to the next instance now.
        if let Some(lock) = held {
            lock.release().await;
        }
    });
    (rx, task)
}

/// Why a job's run ended.
enum Ended {
    /// This instance no longer leads.
    NoLonger,
    /// The daemon stops.
    Shutdown,
    /// The job returned.
    ByItself,
}

/// Run a background job while this instance leads: started when it becomes the leader, told
/// to stop (its shutdown signal) when it stops leading or the daemon stops, and started again
/// if it leads again. Returns when the daemon stops and the job has.
pub async fn while_leading<F, Fut>(
    mut role: Role,
    mut shutdown: watch::Receiver<bool>,
    job: &'static str,
    start: F,
) where
    F: Fn(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            r = role.wait_for(|leads| *leads) => if r.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        tracing::debug!(job, "starting the job: this instance leads");
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut running = tokio::spawn(start(stop_rx));
        let ended = tokio::select! {
            _ = role.wait_for(|leads| !*leads) => Ended::NoLonger,
            _ = shutdown.wait_for(|stop| *stop) => Ended::Shutdown,
            _ = &mut running => Ended::ByItself,
        };
        let stopping = match ended {
            Ended::NoLonger => false,
            Ended::Shutdown => true,
            Ended::ByItself => {
                // It is not started again until leadership changes.
                let _ = role.wait_for(|leads| !*leads).await;
                continue;
            }
        };
        let _ = stop_tx.send(true);
        let _ = running.await;
        if stopping {
            return;
        }
        tracing::info!(job, "stopped the job: this instance no longer leads");
    }
}
