//! The oversight checker's probes: what a name points to, asked of the world. DNS questions to
//! resolvers and to a delegation's name servers, TCP connections to 80 and 443, the TLS
//! handshake (the certificate served, accepted whatever it is: it is looked at, not trusted),
//! the page at `/`. No judgement here: `service::oversight` judges with `domain::finding`.
//!
//! Every socket is counted against one limit (`[checker] max_connections`), held only while
//! it is open; every exchange has the configured timeout; a page is read up to
//! `max_body_bytes`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use http_body_util::BodyExt as _;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{CheckerPorts, CheckerSettings};
use crate::domain::finding;

/// What a resolver said about a name and type.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The data (the type asked for, at the end of any CNAME chain).
    Found(Vec<RData>),
    /// The name exists without data of that type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// No resolver gave an answer that says either.
    Failed(String),
}

/// Why a server did not answer as it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It did not answer, or answered wrongly: what it did.
    Refused(String),
    /// Our side failed (no route, no socket): nothing is known of the server.
    Local(String),
}

/// A page fetched from `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The URL asked.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The `Location` of a redirect.
    pub location: Option<String>,
    /// The body (lossy UTF-8), up to the limit.
    pub body: String,
}

/// What the web probes of a name saw.
#[derive(Debug, Clone, Default)]
pub struct WebSeen {
    /// One line per connection tried: address, port, outcome.
    pub attempts: Vec<String>,
    /// Whether any address answered on 80 or 443.
    pub reachable: bool,
    /// The leaf certificate served on 443 (DER) and by which address.
    pub certificate: Option<(Vec<u8>, SocketAddr)>,
    /// Why the TLS handshake failed, where 443 answered.
    pub tls_error: Option<String>,
    /// The page, from HTTPS where it answered, else from HTTP.
    pub page: Option<Page>,
}

/// Accepts any certificate (the checker reports on it, never trusts it), while still checking
/// the handshake's signatures, so that what is reported is what the server holds the key of.
#[derive(Debug)]
struct Observe(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Observe {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A socket's place under the limit; the count of open sockets falls when it is dropped.
struct Place<'p> {
    _permit: OwnedSemaphorePermit,
    open: &'p AtomicUsize,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Most addresses of one name probed on the web.
const MAX_ADDRESSES: usize = 4;
/// Most same-host redirects followed for the page.
const MAX_REDIRECTS: usize = 3;

/// The probes, with their limits.
pub struct Prober {
    resolvers: Vec<SocketAddr>,
    ports: CheckerPorts,
    timeout: Duration,
    max_body: usize,
    user_agent: String,
    places: Arc<Semaphore>,
    open: AtomicUsize,
    peak: AtomicUsize,
    tls: tokio_rustls::TlsConnector,
}

impl Prober {
    /// Probes as `[checker]` sets them; without configured resolvers, those of
    /// `/etc/resolv.conf`.
    pub fn new(settings: &CheckerSettings) -> Result<Self, String> {
        let mut resolvers = settings.resolver_addresses();
        if resolvers.is_empty() {
            resolvers = crate::dns::client::system_resolvers();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Observe(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // A resumed session shows the certificate of the session it resumes: each check sees
        // what the server serves now.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            resolvers,
            ports: settings.ports.clone(),
            timeout: Duration::from_secs(settings.timeout_secs),
            max_body: settings.max_body_bytes,
            user_agent: settings.user_agent.clone(),
            places: Arc::new(Semaphore::new(settings.max_connections)),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// The most sockets open at once since the last [`Prober::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Start counting the peak again.
    pub fn reset_peak(&self) {
        self.peak
            .store(self.open.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A place for one socket, waiting for one to be free.
    async fn place(&self) -> Result<Place<'_>, String> {
        let permit = self
            .places
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "the checker is stopping".to_owned())?;
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Ok(Place {
            _permit: permit,
            open: &self.open,
        })
    }

    /// Ask the resolvers for `name`'s `rtype` data, the next one when one fails.
    pub async fn resolve(&self, name: &Name, rtype: RecordType) -> Lookup {
        let mut why = "no resolver is configured".to_owned();
        for server in &self.resolvers {
            let answer = {
                let Ok(_place) = self.place().await else {
                    return Lookup::Failed("the checker is stopping".into());
                };
                tokio::time::timeout(
                    self.timeout,
                    crate::dns::client::query(*server, name, rtype),
                )
                .await
            };
            let message = match answer {
                Err(_) => {
                    why = format!("{server}: no answer in {} s", self.timeout.as_secs());
                    continue;
                }
                Ok(Err(e)) => {
                    why = format!("{server}: {e}");
                    continue;
                }
                Ok(Ok(m)) => m,
            };
            match message.metadata.response_code {
                ResponseCode::NXDomain => return Lookup::NxDomain,
                ResponseCode::NoError => {
                    let data: Vec<RData> = message
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .map(|r| r.data.clone())
                        .collect();
                    return if data.is_empty() {
                        Lookup::NoData
                    } else {
                        Lookup::Found(data)
                    };
                }
                other => why = format!("{server}: {other}"),
            }
        }
        Lookup::Failed(why)
    }

    /// Ask the name server at `ip` for `zone`'s SOA, as a resolver following the delegation
    /// would (a second time when the first gets no answer: one lost datagram is no lame
    /// server): `Ok` when it answers with authority.
    pub async fn authoritative_at(&self, ip: IpAddr, zone: &Name) -> Result<(), Probe> {
        let server = SocketAddr::new(ip, self.ports.dns);
        let mut last = Probe::Refused(format!("{server}: no answer"));
        for _ in 0..2 {
            let answer = {
                let _place = self.place().await.map_err(Probe::Local)?;
                tokio::time::timeout(
                    self.timeout,
                    crate::dns::client::query(server, zone, RecordType::SOA),
                )
                .await
            };
            let message = match answer {
                Err(_) => {
                    last = Probe::Refused(format!("{server}: no answer"));
                    continue;
                }
                // Our side failed (no route for the family, no socket): nothing is known of
                // the server.
                Ok(Err(e)) if e.starts_with("cannot") => {
                    return Err(Probe::Local(format!("{server}: {e}")));
                }
                Ok(Err(e)) => {
                    last = Probe::Refused(format!("{server}: {e}"));
                    continue;
                }
                Ok(Ok(m)) => m,
            };
            let code = message.metadata.response_code;
            if code != ResponseCode::NoError {
                return Err(Probe::Refused(format!("{server}: {code}")));
            }
            if !message.metadata.authoritative {
                return Err(Probe::Refused(format!(
                    "{server}: answers without authority"
                )));
            }
            let soa = message
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::SOA && r.name == *zone);
            if !soa {
                return Err(Probe::Refused(format!("{server}: no SOA for {zone}")));
            }
            return Ok(());
        }
        Err(last)
    }

    /// Connect to `addr`, within the timeout.
    async fn connect(&self, addr: SocketAddr) -> Result<TcpStream, String> {
        match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
            Err(_) => Err("no answer (timeout)".into()),
            Ok(Err(e)) => Err(e.kind().to_string()),
            Ok(Ok(s)) => Ok(s),
        }
    }

    /// Probe the web of `host` at `ips` (the first few): 443 with TLS and the page, else 80
    /// and its page; stop at the first address that gives a page.
    pub async fn web(&self, host: &str, ips: &[IpAddr]) -> WebSeen {
        let mut seen = WebSeen::default();
        for ip in ips.iter().take(MAX_ADDRESSES) {
            let https = SocketAddr::new(*ip, self.ports.https);
            match self.https(host, https, &mut seen).await {
                Ok(()) => return seen,
                Err(e) => seen.attempts.push(format!("{https}: {e}")),
            }
            // HTTPS answered and gave no page: the plain page (most often a redirect to
            // HTTPS) is not what visitors see.
            if seen.certificate.is_some() {
                return seen;
            }
            let http = SocketAddr::new(*ip, self.ports.http);
            match self.http(host, http, &mut seen).await {
                Ok(()) => return seen,
                Err(e) => seen.attempts.push(format!("{http}: {e}")),
            }
        }
        seen
    }

    async fn https(&self, host: &str, addr: SocketAddr, seen: &mut WebSeen) -> Result<(), String> {
        let _place = self.place().await?;
        let tcp = self.connect(addr).await?;
        seen.reachable = true;
        let server_name = rustls_pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host}: {e}"))?;
        let tls = match tokio::time::timeout(self.timeout, self.tls.connect(server_name, tcp)).await
        {
            Err(_) => Err("TLS handshake: no answer (timeout)".to_owned()),
            Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
            Ok(Ok(s)) => Ok(s),
        };
        let tls = match tls {
            Ok(s) => s,
            Err(e) => {
                seen.tls_error = Some(format!("{addr}: {e}"));
                return Err(e);
            }
        };
        if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
            seen.certificate = Some((leaf.to_vec(), addr));
        }
        seen.attempts.push(format!("{addr}: TLS connected"));
        seen.page = Some(self.page(tls, "https", host).await?);
        Ok(())
    }

    async fn http(&self, host: &str, addr: SocketAddr, seen: &mut WebSeen) -> Result<(), String> {
        let _place = self.place().await?;
        let tcp = self.connect(addr).await?;
        seen.reachable = true;
        seen.attempts.push(format!("{addr}: connected"));
        seen.page = Some(self.page(tcp, "http", host).await?);
        Ok(())
    }

    /// GET `/` (and same-host redirects, a few) over `io`, the body up to the limit.
    async fn page<S>(&self, io: S, scheme: &str, host: &str) -> Result<Page, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let work = async {
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                    .await
                    .map_err(|e| format!("HTTP: {e}"))?;
            // The connection is driven here, not in a task of its own: when this returns, the
            // socket is closed, before its place under the limit is given back.
            let mut driver = std::pin::pin!(connection);
            let mut driven = false;
            let exchange = async {
                let mut url = format!("{scheme}://{host}/");
                let mut out: Option<Page> = None;
                for _ in 0..=MAX_REDIRECTS {
                    let Ok(target) = url::Url::parse(&url) else {
                        break;
                    };
                    let path = match target.query() {
                        Some(q) => format!("{}?{q}", target.path()),
                        None => target.path().to_owned(),
                    };
                    let Ok(request) = hyper::Request::get(path.as_str())
                        .header(hyper::header::HOST, host)
                        .header(hyper::header::USER_AGENT, self.user_agent.as_str())
                        .header(hyper::header::ACCEPT, "text/html, */*")
                        .body(http_body_util::Empty::<bytes::Bytes>::new())
                    else {
                        break;
                    };
                    let response = match sender.send_request(request).await {
                        Ok(r) => r,
                        Err(e) if out.is_none() => return Err(format!("HTTP: {e}")),
                        Err(_) => break,
                    };
                    let status = response.status().as_u16();
                    let location = response
                        .headers()
                        .get(hyper::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .map(str::to_owned);
                    let body = self.body(response.into_body()).await;
                    // A redirect within the site (this scheme and host, as a browser reads the
                    // location) is followed on this connection; one elsewhere is what the
                    // checker reports.
                    let next = location
                        .as_deref()
                        .filter(|_| (300..400).contains(&status))
                        .and_then(|l| finding::redirect_target(&url, l))
                        .filter(|t| {
                            t.scheme() == scheme
                                && finding::target_host(t) == host
                                && t.port().is_none()
                        });
                    out = Some(Page {
                        url: url.clone(),
                        status,
                        location,
                        body,
                    });
                    match next {
                        Some(t) if sender.is_ready() => url = t.to_string(),
                        _ => break,
                    }
                }
                out.ok_or_else(|| "HTTP: no answer".to_owned())
            };
            let mut exchange = std::pin::pin!(exchange);
            loop {
                tokio::select! {
                    page = &mut exchange => return page,
                    _ = &mut driver, if !driven => driven = true,
                }
            }
        };
        // The whole page (handshake, redirects, bodies) within a few timeouts, never longer.
        match tokio::time::timeout(self.timeout * 3, work).await {
            Err(_) => Err("HTTP: no page (timeout)".into()),
            Ok(r) => r,
        }
    }

    /// The body, up to the limit, as text.
    async fn body(&self, mut body: hyper::body::Incoming) -> String {
        let mut bytes = Vec::new();
        while bytes.len() < self.max_body {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = self.max_body - bytes.len();
                        bytes.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                _ => break,
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
