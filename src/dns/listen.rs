//! The listeners: ranah's own UDP workers (see `udp`) and TCP listeners (see `tcp`), on every
//! configured address, both answering through one [`Handler`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::handler::Handler;
use super::tcp::{self, TcpLimits};
use super::udp::{self, UdpWorkers};
use crate::config::DnsConfig;
use crate::telemetry::metrics::Metrics;

/// Errors starting the DNS server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsServerError {
    /// A listen address could not be bound. The reason is part of the message, with what to do
    /// when the port needs a capability (`net::bind_failure`); it is not also the error's source,
    /// so that `{:#}` does not print it twice.
    #[error("cannot listen for DNS on {proto} {addr}: {}", crate::net::bind_failure(*addr, error))]
    Bind {
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// The running DNS server: ranah's UDP workers and TCP listeners.
pub struct DnsServer {
    stop: watch::Sender<bool>,
    tcp: Vec<JoinHandle<()>>,
    udp: Vec<UdpWorkers>,
}

impl DnsServer {
    /// The addresses served, UDP and TCP on each (the ports chosen, where port 0 was given).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(UdpWorkers::local_addr).collect()
    }

    /// Stop accepting queries and wait for the workers (TCP connections in the middle of an
    /// answer get a few seconds to finish it).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tcp) {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "DNS TCP listener did not stop cleanly");
            }
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

impl Drop for DnsServer {
    /// A server dropped without `shutdown` (a test, a start that failed half-way) still stops
    /// its TCP listeners; the UDP workers stop by their own `Drop`.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Bind UDP (`dns.udp_workers` sockets per address) and TCP on every `dns.listen` address and
/// start serving, with the TCP limits of `[dns]`.
pub async fn start(
    handler: Handler,
    config: &DnsConfig,
    metrics: Arc<Metrics>,
) -> Result<DnsServer, DnsServerError> {
    let (stop, stop_rx) = watch::channel(false);
    let shared = tcp::Shared::new(handler.clone(), TcpLimits::of(config), metrics, stop_rx);
    let udp_workers = config.udp_workers;
    let mut server = DnsServer {
        stop,
        tcp: Vec::new(),
        udp: Vec::new(),
    };
    for addr in &config.listen {
        // Port 0 (tests, or an operator who lets the kernel choose): UDP takes a free port and
        // TCP the same one; if another program holds that port for TCP, try another.
        let attempts = if addr.port() == 0 { 20 } else { 1 };
        let mut bound = None;
        for attempt in 1..=attempts {
            let workers = udp::start(*addr, udp_workers, handler.clone()).map_err(|error| {
                DnsServerError::Bind {
                    proto: "udp",
                    addr: *addr,
                    error,
                }
            })?;
            let chosen = workers.local_addr();
            match bind_tcp(chosen) {
                Ok(tcp) => {
                    bound = Some((workers, tcp));
                    break;
                }
                Err(error) if attempt == attempts => {
                    workers.stop();
                    return Err(DnsServerError::Bind {
                        proto: "tcp",
                        addr: chosen,
                        error,
                    });
                }
                Err(_) => workers.stop(),
            }
        }
        let Some((workers, listener)) = bound else {
            continue;
        };
        tracing::info!(addr = %workers.local_addr(), udp_workers, "serving DNS over UDP and TCP");
        server.udp.push(workers);
        server
            .tcp
            .push(tokio::spawn(tcp::serve(listener, shared.clone())));
    }
    Ok(server)
}

/// A TCP listener on `addr`. An IPv6 address is bound IPv6-only, as the UDP sockets are: a
/// dual-stack `[::]:53` would take IPv4's port 53 too, and `listen = ["0.0.0.0:53", "[::]:53"]`
/// would fail with "address in use".
fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As tokio's own `bind`: a restart binds again while old connections are in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
