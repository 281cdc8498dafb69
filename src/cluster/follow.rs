//! Serving what other instances (and the CLI) commit: woken by the store's change feed
//! (PostgreSQL's `LISTEN`/`NOTIFY`), each served zone follows the journal from its serial
//! ([`Publisher::sync_from_store`]); a periodic pass by serial catches up whatever the feed
//! missed (a lost connection, a restarted server) and is all there is on SQLite.
//!
//! The lag of each change announced by another instance, from its commit to this instance
//! serving it, goes to `ranah_follow_lag_seconds`.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name};
use tokio::sync::{mpsc, watch};

use crate::publish::{PublishError, Publisher, Synced};
use crate::service::dnssec::DnssecService;
use crate::store::Store;
use crate::store::feed::{Committed, FeedEvent, Job};
use crate::telemetry::metrics::Metrics;

/// Announcements read at most before one pass (the rest wait for the next).
const BATCH: usize = 256;

/// The follower of one instance.
pub struct Follower {
    /// The change path whose views follow.
    pub publisher: Arc<Publisher>,
    /// Signs a zone new to this instance.
    pub dnssec: Arc<DnssecService>,
    /// Where the changes are.
    pub store: Store,
    /// Where the lag goes.
    pub metrics: Arc<Metrics>,
    /// How often to catch up by serial without being woken.
    pub poll: Duration,
    /// Wakes the certificate worker (on this instance, if it leads) for an order another
    /// instance took.
    pub certificates: Option<Arc<tokio::sync::Notify>>,
    /// Whether this instance leads: only the leader gives a zone new to the store its keys
    /// (two instances doing it at once would make two sets); the others follow the signed
    /// zone it commits.
    pub role: super::leader::Role,
}

impl Follower {
    /// Follow until `shutdown`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut feed = self.store.change_feed();
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut announced = Vec::new();
        let mut failing = false;
        loop {
            // A tick or a gap in the feed compares every zone with the store; announcements
            // alone only when one is of a change not served here yet (not this instance's
            // own, which it served before answering).
            let mut catch_up = false;
            tokio::select! {
                _ = tick.tick() => catch_up = true,
                event = next(&mut feed) => match event {
                    Some(FeedEvent::Committed(c)) => announced.push(c),
                    Some(FeedEvent::Job(job)) => {
                        self.wake(job);
                        continue;
                    }
                    Some(FeedEvent::Interrupted) => catch_up = true,
                    None => {
                        feed = None;
                        catch_up = true;
                    }
                },
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            // Everything announced meanwhile goes into the same pass.
            while announced.len() < BATCH {
                match feed.as_mut().map(mpsc::Receiver::try_recv) {
                    Some(Ok(FeedEvent::Committed(c))) => announced.push(c),
                    Some(Ok(FeedEvent::Job(job))) => self.wake(job),
                    Some(Ok(FeedEvent::Interrupted)) => catch_up = true,
                    _ => break,
                }
            }
            // Said once when the store cannot be read, once when it can again (DNS answers
            // from memory meanwhile).
            match self.pass(&mut announced, catch_up).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("following the store's zone changes again");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot follow the store's zone changes");
                }
                Err(_) => {}
            }
        }
    }

    /// Tell the job that has new work (it does nothing unless this instance leads).
    fn wake(&self, job: Job) {
        match job {
            Job::Certificates => {
                if let Some(waker) = &self.certificates {
                    waker.notify_one();
                }
            }
        }
    }

    /// Bring every zone up to the store, and measure the lag of the changes announced.
    async fn pass(
        &self,
        announced: &mut Vec<Committed>,
        catch_up: bool,
    ) -> Result<(), PublishError> {
        // Changes served already (this instance's own) are not followed: no lag to tell.
        let served = |zone: &str| -> Option<u32> {
            let name = Name::from_ascii(zone).ok()?;
            Some(
                self.publisher
                    .zones()
                    .get(&LowerName::new(&name))?
                    .view()
                    .serial(),
            )
        };
        let leads = *self.role.borrow();
        self.publisher.set_leading(leads);
        announced.retain(|c| served(&c.zone) != Some(c.serial));
        if announced.is_empty() && !catch_up {
            return Ok(());
        }
        let synced = match self.publisher.sync_from_store(chrono::Utc::now()).await {
            Ok(synced) => synced,
            Err(error) => {
                announced.clear();
                return Err(error);
            }
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        for c in announced.iter() {
            if let Some(serial) = served(&c.zone) {
                // Served once the zone is at that serial or past it (serial arithmetic).
                if serial.wrapping_sub(c.serial) < 1 << 31 {
                    let lag = (now_ms - c.at_ms).max(0) as f64 / 1000.0;
                    self.metrics.follow_lag.observe(lag);
                }
            }
        }
        announced.clear();
        for (zone, how) in synced {
            match how {
                Synced::Followed(changes) => {
                    tracing::debug!(%zone, changes, "followed the zone's journal");
                }
                Synced::Loaded => tracing::info!(%zone, "loaded the zone changed in the store"),
            }
            // The leader gives a zone new to it keys and signatures at once; another
            // instance takes the signer of the keys as stored (the leader may have made,
            // rolled or retired one with the change just followed).
            let looked_after = if leads {
                match how {
                    Synced::Loaded => self.dnssec.look_after(&zone, chrono::Utc::now()).await,
                    Synced::Followed(_) => Ok(()),
                }
            } else {
                self.dnssec.follow_keys(&zone).await
            };
            if let Err(error) = looked_after {
                tracing::warn!(%zone, %error, "cannot look after the zone's DNSSEC keys");
            }
        }
        Ok(())
    }
}

/// The next event of the feed; never, without one (SQLite, or a feed that ended).
async fn next(feed: &mut Option<mpsc::Receiver<FeedEvent>>) -> Option<FeedEvent> {
    match feed {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
