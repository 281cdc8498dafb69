//! ranah's own DNS queries: SOA polls and NOTIFY to secondaries, and the DS of a signed zone
//! at its parent's name servers.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

/// How long one answer is waited for.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Send `bytes` (a query with ID `id`) to `server` over UDP and wait for its answer: the
/// first datagram from `server` that parses as a response with that ID. Returns the message
/// and its bytes (for a TSIG check).
pub async fn udp_exchange(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
) -> Result<(Message, Vec<u8>), String> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket
        .send_to(bytes, server)
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        let (len, from) = match received {
            Err(_) => return Err("no answer (timeout)".into()),
            Ok(Err(e)) => return Err(format!("cannot receive: {e}")),
            Ok(Ok(r)) => r,
        };
        if from != server {
            continue;
        }
        let raw = &buf[..len];
        let Ok(answer) = Message::from_vec(raw) else {
            continue;
        };
        if answer.metadata.id != id || answer.metadata.message_type != MessageType::Response {
            continue;
        }
        return Ok((answer, raw.to_vec()));
    }
}

/// Ask `server` for `name`'s `rtype` set with DO, recursion desired (a resolver answers it;
/// an authoritative server ignores the flag), with EDNS so that a signed answer fits.
pub async fn query(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Message, String> {
    let mut id = [0u8; 2];
    getrandom::fill(&mut id).map_err(|e| e.to_string())?;
    let id = u16::from_be_bytes(id);
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    message.set_edns(edns);
    let bytes = message.to_vec().map_err(|e| e.to_string())?;
    let (answer, _) = udp_exchange(server, &bytes, id).await?;
    Ok(answer)
}

/// The name servers of `/etc/resolv.conf` (port 53), for a zone whose parent servers are not
/// configured.
pub fn system_resolvers() -> Vec<SocketAddr> {
    let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}
