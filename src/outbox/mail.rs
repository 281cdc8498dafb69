//! Email through SMTP (lettre), in Bahasa Indonesia, with the response letter attached where the
//! notice carries it.

use super::*;

/// The SMTP sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Where attached files are kept.
    files: crate::store::Files,
    from: Mailbox,
    pub(super) retry_base: Duration,
    pub(super) retry_max: Duration,
}

impl Mailer {
    /// A mailer for this server.
    pub fn new(config: &SmtpConfig, files: crate::store::Files) -> Result<Self, MailerError> {
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
            files,
            from,
            retry_base: Duration::from_secs(config.retry_base_secs),
            retry_max: Duration::from_secs(config.retry_max_secs),
        })
    }

    /// The delay before attempt `attempts + 1`.
    pub(super) fn backoff(&self, attempts: u32) -> Duration {
        backoff(self.retry_base, self.retry_max, attempts)
    }

    #[cfg(test)]
    pub(super) fn for_test(base: u64, max: u64) -> Self {
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
        Self::new(
            &config,
            crate::store::Files::new(std::path::Path::new("/nonexistent")),
        )
        .unwrap()
    }

    pub(super) async fn send(&self, m: &QueuedMessage) -> Result<(), String> {
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
                let bytes = self
                    .files
                    .get(sha256)
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
