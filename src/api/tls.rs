//! HTTPS for the API: the rustls configuration (TLS 1.2 and 1.3, ALPN `http/1.1`, ring), the
//! certificate it serves, and the task that loads a new one when its source changes.
//!
//! The certificate comes from PEM files (`api.tls.cert_file`, `key_file`), read again on SIGHUP
//! and whenever their content changes (checked every `api.tls.reload_check_secs`), or from
//! ranah's own ACME worker (`api.tls.acme_name`), loaded from the store as soon as the worker
//! stores a chain for it and at every check. A new certificate is swapped in for the next
//! handshake; connections open keep theirs. A source that fails to load (a half-written file,
//! a key that does not match) leaves the current certificate served, and says why in the log.
//!
//! Until the first ACME certificate is issued there is nothing to serve: handshakes fail with a
//! TLS alert (counted as `ranah_http_tls_handshake_failures{reason="no_certificate"}`) rather
//! than present a self-signed placeholder that every client would have to be told to accept.
//! Plain HTTP meanwhile still only redirects, so no token ever crosses the network in clear.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;

use crate::acme::x509;
use crate::service::certificates::Certificates;
use crate::telemetry::metrics::Metrics;

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The chain or the key is not usable PEM.
    #[error("{0}")]
    Pem(String),
    /// The key is not one rustls can sign with, or it does not match the certificate.
    #[error("the private key does not fit the certificate: {0}")]
    Key(rustls::Error),
    /// The leaf certificate cannot be read.
    #[error(transparent)]
    Leaf(#[from] x509::X509Error),
    /// The store could not give the ACME certificate.
    #[error("the API's certificate from the store: {0}")]
    Store(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// Where the certificate comes from.
pub enum Source {
    /// PEM files.
    Files {
        /// The chain, the server's certificate first.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
    /// ranah's ACME worker, for this name.
    Acme {
        /// The name (lower case, no trailing dot).
        name: String,
        /// The certificate service.
        certificates: Arc<Certificates>,
    },
}

impl Source {
    /// What the source holds now: the chain and the key, PEM; `None` before an ACME
    /// certificate is issued.
    async fn read(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>, TlsError> {
        match self {
            Self::Files { cert, key } => {
                let read = |path: &PathBuf| {
                    let path = path.clone();
                    async move {
                        tokio::fs::read(&path)
                            .await
                            .map_err(|source| TlsError::Read { path, source })
                    }
                };
                Ok(Some((read(cert).await?, read(key).await?)))
            }
            Self::Acme { name, certificates } => Ok(certificates
                .api_certificate(name)
                .await
                .map_err(|e| TlsError::Store(e.to_string()))?
                .map(|(chain, key)| (chain.into_bytes(), key.into_bytes()))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Files { cert, .. } => cert.display().to_string(),
            Self::Acme { name, .. } => format!("ACME certificate for {name}"),
        }
    }
}

/// A certificate ready to serve, and what the log and the metrics say of it.
struct Loaded {
    key: Arc<CertifiedKey>,
    /// SHA-256 of the chain and the key as read: a source that did not change is not parsed
    /// again.
    digest: [u8; 32],
}

/// The certificate served, swapped whole for the next handshake.
#[derive(Default)]
pub struct CertSlot(ArcSwapOption<Loaded>);

impl std::fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSlot")
            .field("loaded", &self.0.load().is_some())
            .finish()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.load().as_ref().map(|l| l.key.clone())
    }
}

impl CertSlot {
    /// Whether a certificate is loaded.
    pub fn is_loaded(&self) -> bool {
        self.0.load().is_some()
    }
}

/// Parse a chain and its key (PEM) into what rustls serves, checking that they belong together;
/// and the leaf's facts.
fn certified_key(chain: &[u8], key: &[u8]) -> Result<(CertifiedKey, x509::Leaf), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(format!("the certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(
            "the certificate chain holds no CERTIFICATE".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| TlsError::Pem(format!("the private key: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(certs, key, &provider).map_err(TlsError::Key)?;
    let text = std::str::from_utf8(chain)
        .map_err(|_| TlsError::Pem("the certificate chain is not text".into()))?;
    let leaf = x509::leaf_of(text)?;
    Ok((certified, leaf))
}

/// HTTPS for the API: the certificate served and where it comes from.
pub struct Tls {
    slot: Arc<CertSlot>,
    source: Source,
    metrics: Arc<Metrics>,
    /// The last failure logged, so that a source broken for hours is logged once.
    last_error: Mutex<Option<String>>,
}

impl Tls {
    /// Load the certificate from `source`. Files must load now (a daemon that cannot serve
    /// HTTPS does not start); an ACME certificate may not be issued yet.
    pub async fn load(source: Source, metrics: Arc<Metrics>) -> Result<Self, TlsError> {
        let tls = Self {
            slot: Arc::new(CertSlot::default()),
            source,
            metrics,
            last_error: Mutex::new(None),
        };
        match tls.reload().await {
            Ok(_) => {}
            Err(e) if matches!(tls.source, Source::Files { .. }) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "cannot load the API's certificate yet"),
        }
        if !tls.slot.is_loaded() {
            tracing::warn!(source = %tls.source.describe(),
                "no certificate for the API yet: HTTPS handshakes fail until the ACME worker \
                 issues it (plain HTTP only redirects meanwhile)");
        }
        Ok(tls)
    }

    /// The certificate served.
    pub fn slot(&self) -> Arc<CertSlot> {
        self.slot.clone()
    }

    /// The acceptor: TLS 1.3 and 1.2, ALPN `http/1.1` only (HTTP/2 is not served), the
    /// certificate from the slot at each handshake.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(self.slot.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Read the source and serve what it holds if it changed. `Ok(true)`: a new certificate is
    /// served.
    pub async fn reload(&self) -> Result<bool, TlsError> {
        let Some((chain, key)) = self.source.read().await? else {
            return Ok(false);
        };
        let mut hasher = Sha256::new();
        hasher.update(&chain);
        hasher.update([0]);
        hasher.update(&key);
        let digest: [u8; 32] = hasher.finalize().into();
        if self
            .slot
            .0
            .load()
            .as_ref()
            .is_some_and(|l| l.digest == digest)
        {
            return Ok(false);
        }
        let (certified, leaf) = certified_key(&chain, &key)?;
        self.slot.0.store(Some(Arc::new(Loaded {
            key: Arc::new(certified),
            digest,
        })));
        self.metrics
            .api_certificate_expiry
            .set(leaf.not_after.timestamp());
        let expired = leaf.not_after < chrono::Utc::now();
        tracing::info!(source = %self.source.describe(), serial = %leaf.serial,
            names = ?leaf.names, not_after = %leaf.not_after, expired,
            "the API serves a new certificate over HTTPS");
        Ok(true)
    }

    /// Reload on SIGHUP, when the ACME worker stores a chain (`issued`), and every `interval`,
    /// until shutdown. A failure is logged once until it changes or a load succeeds.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        issued: Option<Arc<Notify>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        #[cfg(unix)]
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: certificates reload on change only");
                None
            }
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let hangup_signal = async {
                #[cfg(unix)]
                if let Some(h) = hangup.as_mut() {
                    h.recv().await;
                    return true;
                }
                std::future::pending::<bool>().await
            };
            let issued_signal = async {
                match &issued {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            let reason = tokio::select! {
                _ = tick.tick() => "check",
                _ = hangup_signal => "SIGHUP",
                _ = issued_signal => "issued",
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match self.reload().await {
                Ok(changed) => {
                    *self.last_error.lock() = None;
                    if !changed && reason == "SIGHUP" {
                        tracing::info!("SIGHUP: the API's certificate is unchanged");
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    let mut last = self.last_error.lock();
                    if last.as_deref() != Some(text.as_str()) {
                        tracing::warn!(error = %text, source = %self.source.describe(),
                            "cannot load the API's new certificate: the current one stays served");
                        *last = Some(text);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_chain_loads_with_its_own_key_only() {
        let (chain, key) = self_signed("api.example.go.id");
        let (_, leaf) = certified_key(chain.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(leaf.names, ["api.example.go.id"]);
        let (_, other_key) = self_signed("other.example.go.id");
        assert!(matches!(
            certified_key(chain.as_bytes(), other_key.as_bytes()),
            Err(TlsError::Key(_))
        ));
        assert!(matches!(
            certified_key(b"", key.as_bytes()),
            Err(TlsError::Pem(_))
        ));
        assert!(matches!(
            certified_key(chain.as_bytes(), b"garbage"),
            Err(TlsError::Pem(_))
        ));
    }

    #[tokio::test]
    async fn files_load_at_start_and_again_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let write = |name: &str| {
            let (c, k) = self_signed(name);
            std::fs::write(&cert, c).unwrap();
            std::fs::write(&key, k).unwrap();
        };
        let metrics = Arc::new(Metrics::new());
        let source = || Source::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        // Missing files: the daemon does not start.
        assert!(Tls::load(source(), metrics.clone()).await.is_err());
        write("a.example.go.id");
        let tls = Tls::load(source(), metrics.clone()).await.unwrap();
        assert!(tls.slot().is_loaded());
        assert!(tls.acceptor().is_ok());
        assert!(
            !tls.reload().await.unwrap(),
            "unchanged files are not loaded again"
        );
        write("b.example.go.id");
        assert!(tls.reload().await.unwrap());
        // A broken file keeps the certificate served.
        std::fs::write(&key, "half a key").unwrap();
        assert!(tls.reload().await.is_err());
        assert!(tls.slot().is_loaded());
    }
}
