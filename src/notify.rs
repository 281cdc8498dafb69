//! Delivery of the outbox: emails through SMTP (lettre) and webhook calls (reqwest), with
//! retries.
//!
//! Messages are queued in the store in the same transaction as the change they announce; this
//! sender delivers what is due, oldest first, and on failure tries again after a delay that
//! doubles from `retry_base_secs` up to `retry_max_secs`. A mail server outage therefore loses
//! nothing and never holds up an approval.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;

use crate::config::{SmtpConfig, SmtpTls, WebhookConfig};
use crate::metrics::Metrics;
use crate::store::{QueuedMessage, Store};

/// How often the outbox is checked for due messages.
const POLL: Duration = Duration::from_secs(1);
/// Messages sent per round.
const BATCH: i64 = 20;

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

/// The SMTP sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Where attached files are kept (the data directory's `attachments/`).
    attachments: std::path::PathBuf,
    from: Mailbox,
    retry_base: Duration,
    retry_max: Duration,
}

impl Mailer {
    /// A mailer for this server.
    pub fn new(config: &SmtpConfig, attachments: std::path::PathBuf) -> Result<Self, MailerError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailerError::From(config.from.clone()))?;
        let transport_error = |e: lettre::transport::smtp::Error| MailerError::Transport {
            host: config.host.clone(),
            message: e.to_string(),
        };
        let builder = match config.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            }
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(transport_error)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(transport_error)?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_secs(15)));
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                config
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            attachments,
            from,
            retry_base: Duration::from_secs(config.retry_base_secs),
            retry_max: Duration::from_secs(config.retry_max_secs),
        })
    }

    /// The delay before attempt `attempts + 1`.
    fn backoff(&self, attempts: u32) -> Duration {
        backoff(self.retry_base, self.retry_max, attempts)
    }

    #[cfg(test)]
    fn for_test(base: u64, max: u64) -> Self {
        let config = SmtpConfig {
            host: "localhost".into(),
            port: 25,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "ranah <ranah@localhost>".into(),
            retry_base_secs: base,
            retry_max_secs: max,
        };
        Self::new(&config, std::path::PathBuf::from("/nonexistent")).unwrap()
    }

    async fn send(&self, m: &QueuedMessage) -> Result<(), String> {
        let to: Mailbox = m
            .recipient
            .parse()
            .map_err(|e| format!("recipient `{}`: {e}", m.recipient))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone());
        let email = match &m.attachment {
            None => builder.header(ContentType::TEXT_PLAIN).body(m.body.clone()),
            Some((sha256, name)) => {
                let bytes = tokio::fs::read(self.attachments.join(sha256))
                    .await
                    .map_err(|e| format!("attachment {name}: {e}"))?;
                let pdf = ContentType::parse("application/pdf").map_err(|e| e.to_string())?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(m.body.clone()))
                        .singlepart(Attachment::new(name.clone()).body(bytes, pdf)),
                )
            }
        }
        .map_err(|e| e.to_string())?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Calls of the webhook: a JSON POST signed with HMAC-SHA256 of the body.
pub struct Webhook {
    client: reqwest::Client,
    secret: Vec<u8>,
    retry_base: Duration,
    retry_max: Duration,
}

/// The header that carries the signature: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Ranah-Signature";

impl Webhook {
    /// A webhook caller.
    pub fn new(config: &WebhookConfig) -> Result<Self, MailerError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| MailerError::Transport {
                host: config.url.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            secret: config.secret.expose().as_bytes().to_vec(),
            retry_base: Duration::from_secs(config.retry_base_secs),
            retry_max: Duration::from_secs(config.retry_max_secs),
        })
    }

    /// The signature header's value for `body`.
    pub fn signature(&self, body: &[u8]) -> String {
        use hmac::Mac as _;
        // HMAC accepts keys of any length.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    async fn send(&self, m: &QueuedMessage) -> Result<(), String> {
        let response = self
            .client
            .post(&m.recipient)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, self.signature(m.body.as_bytes()))
            .header("X-Ranah-Delivery", m.id.to_string())
            .header("X-Ranah-Event", &m.subject)
            .body(m.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }
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
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let due = match store.due_messages(Utc::now(), BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    continue;
                }
            };
            for m in due {
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
