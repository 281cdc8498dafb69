//! Delivery of the outbox: emails through SMTP (lettre) and webhook calls (reqwest), with
//! retries; and the documents the office hands out as PDF (the response letter, the register
//! of subdomains).
//!
//! Messages are queued in the store in the same transaction as the change they announce; this
//! sender delivers what is due, oldest first, and on failure tries again after a delay that
//! doubles from `retry_base_secs` up to `retry_max_secs`. A mail server outage therefore loses
//! nothing and never holds up an approval.

pub mod document;
pub mod letter;
mod mail;
pub mod register;
pub mod sign;
mod webhook;

pub use mail::Mailer;
pub use webhook::{SIGNATURE_HEADER, Webhook};

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;

use crate::config::{SmtpConfig, SmtpTls, WebhookConfig};
use crate::store::{QueuedMessage, Store};
use crate::telemetry::metrics::Metrics;

/// How often the outbox is checked for due messages.
const POLL: Duration = Duration::from_secs(1);
/// Messages sent per round.
const BATCH: i64 = 20;

/// How long a message claimed for an attempt is not due for anyone else: well beyond the
/// SMTP and webhook timeouts, so that only a worker that died mid-attempt lets it lapse.
const CLAIM: chrono::Duration = chrono::Duration::minutes(10);

/// Errors setting up the mailer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailerError {
    /// The `from` address does not parse.
    #[error("smtp.from `{0}` is not an email address")]
    From(String),
    /// The transport cannot be built (TLS setup).
    #[error("cannot set up SMTP to {host}: {message}")]
    Transport {
        /// The server.
        host: String,
        /// Why.
        message: String,
    },
}

/// Delivers the outbox: emails through the mailer, calls through the webhook.
pub struct Courier {
    /// SMTP, if configured.
    pub mailer: Option<Mailer>,
    /// The webhook, if configured.
    pub webhook: Option<Webhook>,
}

impl Courier {
    async fn deliver(&self, m: &QueuedMessage) -> (Result<(), String>, Duration) {
        match (m.channel.as_str(), &self.mailer, &self.webhook) {
            ("email", Some(mailer), _) => (mailer.send(m).await, mailer.backoff(m.attempts)),
            ("webhook", _, Some(webhook)) => {
                let delay = backoff(webhook.retry_base, webhook.retry_max, m.attempts);
                (webhook.send(m).await, delay)
            }
            (channel, _, _) => (
                Err(format!("no {channel} transport is configured")),
                Duration::from_secs(3600),
            ),
        }
    }

    /// Deliver due messages until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        store: Store,
        metrics: Arc<Metrics>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Said once when the store cannot be read, once when it can again (not every second
        // of an outage).
        let mut unreadable = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let due = match store.due_messages(Utc::now(), BATCH).await {
                Ok(due) => {
                    if std::mem::take(&mut unreadable) {
                        tracing::info!("reading the outbox again");
                    }
                    due
                }
                Err(e) => {
                    if !std::mem::replace(&mut unreadable, true) {
                        tracing::warn!(error = %e, "cannot read the outbox");
                    }
                    continue;
                }
            };
            for m in due {
                let now = Utc::now();
                match store.claim_message(m.id, now, now + CLAIM).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim a message of the outbox");
                        continue;
                    }
                }
                let (result, delay) = self.deliver(&m).await;
                let now = Utc::now();
                let saved = match &result {
                    Ok(()) => {
                        metrics.outbox_sent.inc();
                        tracing::info!(id = m.id, channel = %m.channel, to = %m.recipient, "message delivered");
                        store.mark_sent(m.id, now).await
                    }
                    Err(error) => {
                        metrics.outbox_failures.inc();
                        tracing::warn!(
                            id = m.id, channel = %m.channel, to = %m.recipient,
                            attempt = m.attempts + 1, %error,
                            retry_in_secs = delay.as_secs(), "message not delivered"
                        );
                        let next = now
                            + chrono::Duration::from_std(delay)
                                .unwrap_or_else(|_| chrono::Duration::hours(1));
                        store.mark_failed(m.id, error, next).await
                    }
                };
                if let Err(e) = saved {
                    tracing::warn!(error = %e, "cannot update the outbox");
                }
            }
        }
    }
}

/// The delay before attempt `attempts + 1`: `base` doubled per failure, at most `max`.
fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let m = Mailer::for_test(30, 3600);
        let secs: Vec<u64> = (0..9).map(|a| m.backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(m.backoff(u32::MAX).as_secs(), 3600);
    }
}
