//! The webhook: a signed JSON POST (HMAC-SHA256 in `X-Ranah-Signature`) on every transition.

use super::*;

/// Calls of the webhook: a JSON POST signed with HMAC-SHA256 of the body.
pub struct Webhook {
    client: reqwest::Client,
    secret: Vec<u8>,
    pub(super) retry_base: Duration,
    pub(super) retry_max: Duration,
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

    pub(super) async fn send(&self, m: &QueuedMessage) -> Result<(), String> {
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
