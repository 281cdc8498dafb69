//! The listeners: ranah's own UDP workers (see `udp`) and hickory-server's TCP listeners, on
//! every configured address, both answering through one [`Handler`].

use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::TcpListener;

use super::handler::{Handler, TCP_RESPONSE_QUEUE};
use super::udp::{self, UdpWorkers};

/// Errors starting the DNS server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsServerError {
    /// A listen address could not be bound.
    #[error("cannot listen for DNS on {proto} {addr}: {source}")]
    Bind {
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The running DNS server: ranah's UDP workers and hickory-server's TCP listeners.
pub struct DnsServer {
    tcp: Server<Handler>,
    udp: Vec<UdpWorkers>,
}

impl DnsServer {
    /// The addresses served, UDP and TCP on each (the ports chosen, where port 0 was given).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(UdpWorkers::local_addr).collect()
    }

    /// Stop accepting queries and wait for the workers.
    pub async fn shutdown(mut self) {
        if let Err(e) = self.tcp.shutdown_gracefully().await {
            tracing::warn!(error = %e, "DNS TCP server did not stop cleanly");
        }
        let udp = std::mem::take(&mut self.udp);
        let _ = tokio::task::spawn_blocking(move || {
            for workers in udp {
                workers.stop();
            }
        })
        .await;
    }
}

/// Bind UDP (`udp_workers` sockets per address) and TCP on every address and start serving.
pub async fn start(
    handler: Handler,
    listen: &[SocketAddr],
    tcp_idle_timeout: Duration,
    udp_workers: usize,
) -> Result<DnsServer, DnsServerError> {
    let mut server = Server::new(handler.clone());
    let mut udp = Vec::new();
    for addr in listen {
        // Port 0 (tests, or an operator who lets the kernel choose): UDP takes a free port and
        // TCP the same one; if another program holds that port for TCP, try another.
        let attempts = if addr.port() == 0 { 20 } else { 1 };
        let mut bound = None;
        for attempt in 1..=attempts {
            let workers = udp::start(*addr, udp_workers, handler.clone()).map_err(|source| {
                DnsServerError::Bind {
                    proto: "udp",
                    addr: *addr,
                    source,
                }
            })?;
            let chosen = workers.local_addr();
            match TcpListener::bind(chosen).await {
                Ok(tcp) => {
                    bound = Some((workers, tcp));
                    break;
                }
                Err(source) if attempt == attempts => {
                    workers.stop();
                    return Err(DnsServerError::Bind {
                        proto: "tcp",
                        addr: chosen,
                        source,
                    });
                }
                Err(_) => workers.stop(),
            }
        }
        let Some((workers, tcp)) = bound else {
            continue;
        };
        tracing::info!(addr = %workers.local_addr(), udp_workers, "serving DNS over UDP and TCP");
        udp.push(workers);
        server.register_listener(tcp, tcp_idle_timeout, TCP_RESPONSE_QUEUE);
    }
    Ok(DnsServer { tcp: server, udp })
}
