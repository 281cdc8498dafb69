//! Zone changes as other instances commit them: PostgreSQL's `LISTEN`/`NOTIFY`.
//!
//! Every zone change announces itself on the channel [`CHANNEL`] inside its own transaction,
//! so that the announcement goes out when, and only if, the change commits (a change undone
//! alone in a group, by its savepoint, takes its announcement with it). An instance listens
//! on a connection of its own and follows the journal when woken. An announcement can still be
//! missed (the connection drops, the server restarts): the feed then says so, and its reader
//! catches up by serial, as it also does now and then in any case.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::StoreError;
use super::zones::Tx;

/// The channel zone changes are announced on.
pub const CHANNEL: &str = "ranah_zone_changes";

/// The channel new work for the leader's background jobs is announced on.
pub const JOBS: &str = "ranah_jobs";

/// Work a background job has that it should not wait for its next round to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A certificate order (or revocation) was stored.
    Certificates,
}

impl Job {
    fn as_str(self) -> &'static str {
        match self {
            Self::Certificates => "certificates",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        (s == "certificates").then_some(Self::Certificates)
    }
}

/// How many announcements wait for their reader at most; beyond, they are dropped and the
/// reader is told to catch up (it reads the journal by serial, not the announcements).
const BACKLOG: usize = 1024;

/// How long a lost listening connection waits before it is made again.
const RECONNECT: Duration = Duration::from_secs(1);

/// A zone change committed by some instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The zone's apex, as stored.
    pub zone: String,
    /// The serial the change left it at.
    pub serial: u32,
    /// When it was written (Unix milliseconds, the writer's clock).
    pub at_ms: i64,
}

/// What the feed says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A change was committed.
    Committed(Committed),
    /// Work for a background job was committed.
    Job(Job),
    /// Announcements may have been missed (the connection was lost and made again, or the
    /// reader fell behind): catch up by serial.
    Interrupted,
}

/// Announce a zone change in the caller's transaction (PostgreSQL only: SQLite has no other
/// instance to tell, and the daemon polls for the CLI's changes).
pub(crate) async fn announce(
    tx: &mut Tx<'_>,
    zone: &str,
    serial: u32,
    at_ms: i64,
) -> Result<(), StoreError> {
    notify(tx, CHANNEL, format!("{zone} {serial} {at_ms}")).await
}

/// Announce work for the leader's background job in the caller's transaction (PostgreSQL
/// only: on SQLite the one instance wakes its own jobs).
pub(crate) async fn announce_job(tx: &mut Tx<'_>, job: Job) -> Result<(), StoreError> {
    notify(tx, JOBS, job.as_str().to_owned()).await
}

/// `NOTIFY` on `channel` in the caller's transaction (delivered when it commits), on
/// PostgreSQL; nothing on SQLite.
async fn notify(tx: &mut Tx<'_>, channel: &str, payload: String) -> Result<(), StoreError> {
    if tx.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Read an announcement's payload.
fn parse(payload: &str) -> Option<Committed> {
    let mut parts = payload.split(' ');
    let zone = parts.next()?.to_owned();
    let serial = parts.next()?.parse().ok()?;
    let at_ms = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Committed {
        zone,
        serial,
        at_ms,
    })
}

/// Listen at `url` until the receiver is dropped; a task of its own, so that its reader can
/// wait on it beside other things without losing an announcement half-read.
pub(super) fn spawn(url: String) -> mpsc::Receiver<FeedEvent> {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let mut reader = Reader { tx, missed: false };
    tokio::spawn(async move {
        let tx = reader.tx.clone();
        let mut listener: Option<PgListener> = None;
        loop {
            if tx.is_closed() {
                return;
            }
            let Some(l) = listener.as_mut() else {
                match listen(&url).await {
                    Ok(l) => {
                        listener = Some(l);
                        // Whatever was announced while nobody listened.
                        if !reader.send(FeedEvent::Interrupted) {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "cannot listen for zone changes; trying again");
                        tokio::select! {
                            _ = tokio::time::sleep(RECONNECT) => {}
                            _ = tx.closed() => return,
                        }
                    }
                }
                continue;
            };
            let received = tokio::select! {
                r = l.try_recv() => r,
                _ = tx.closed() => return,
            };
            let event = match received {
                Ok(Some(n)) if n.channel() == JOBS => match Job::parse(n.payload()) {
                    Some(job) => FeedEvent::Job(job),
                    None => continue,
                },
                Ok(Some(n)) => match parse(n.payload()) {
                    Some(c) => FeedEvent::Committed(c),
                    None => {
                        tracing::warn!(
                            payload = n.payload(),
                            "unreadable zone change announcement"
                        );
                        continue;
                    }
                },
                // The connection was lost and made again: announcements may have been missed.
                Ok(None) => FeedEvent::Interrupted,
                Err(error) => {
                    tracing::debug!(%error, "the listening connection failed");
                    listener = None;
                    tokio::select! {
                        _ = tokio::time::sleep(RECONNECT) => {}
                        _ = tx.closed() => return,
                    }
                    continue;
                }
            };
            if !reader.send(event) {
                return;
            }
        }
    });
    rx
}

/// The reader's end as the listening task sees it.
struct Reader {
    tx: mpsc::Sender<FeedEvent>,
    /// Events were dropped since the reader last took one (its backlog was full): it is told
    /// to catch up before anything else.
    missed: bool,
}

impl Reader {
    /// Hand an event to the reader; a full backlog drops it and remembers that one was
    /// missed (the reader catches up by serial, so one `Interrupted` stands for them all).
    /// False once the reader is gone.
    fn send(&mut self, event: FeedEvent) -> bool {
        if self.missed {
            match self.tx.try_send(FeedEvent::Interrupted) {
                Ok(()) => self.missed = false,
                Err(mpsc::error::TrySendError::Full(_)) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.missed = true;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, JOBS]).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_read_back_and_anything_else_is_refused() {
        assert_eq!(
            parse("example.go.id. 2026120401 1764806400000"),
            Some(Committed {
                zone: "example.go.id.".into(),
                serial: 2_026_120_401,
                at_ms: 1_764_806_400_000
            })
        );
        for bad in [
            "",
            "example.go.id.",
            "a 1",
            "a x 1",
            "a 1 2 3",
            "a 4294967296 1",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
