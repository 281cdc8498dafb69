//! ranah's own UDP serving loop.
//!
//! hickory-server's UDP path re-encodes every answer, spawns a task and crosses a channel per
//! query (measured in the performance notes); an authoritative server answers the same
//! questions over and over from data that changes rarely. So UDP is served here: one socket
//! per worker thread (`SO_REUSEPORT`, the kernel spreads queries), each query parsed just far
//! enough to know its question and EDNS ([`shape`]), and the answer copied from the current
//! zone view's answer cache with the query's ID, RD and CD flags and the letters of its
//! question (a name asked in any case is one cache entry) patched in.
//!
//! A cache miss is looked up in the view and written by the same functions the handler uses
//! ([`handler::write_answer`]), without parsing the query again; anything unusual (other
//! opcodes, several questions, records in the query other than one OPT, transfers) goes
//! through the whole [`Handler`] that serves TCP; what waits on the store (dynamic updates,
//! requests signed with an update key) is handed to the runtime and answered from there on a
//! handle of the worker's socket, so that a worker never waits. Only answers about names the zone holds are
//! cached: a flood of random names is answered but never kept, so it cannot push out what
//! real clients ask.
//!
//! The cache belongs to one zone view: a change publishes a new view with an empty cache, so a
//! cached answer can never outlive the data it was made from.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;

use super::handler::{self, Asked, EDNS_UDP_SIZE, Handler, Served, Sink};
use super::mmsg::Batch;
use super::rrl;

/// The largest UDP query ranah reads (a query is small; anything longer is cut and fails to
/// parse).
const MAX_QUERY: usize = 4096;

/// How often an idle worker looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(200);

/// Running UDP workers; dropping this does not stop them, [`UdpWorkers::stop`] does.
pub struct UdpWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Drop for UdpWorkers {
    /// Workers dropped without `stop` (a start that failed half-way) still end: they see the
    /// flag at their next poll.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl UdpWorkers {
    /// The address the workers bound (the port the kernel chose, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Signal the workers and wait for them to finish.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

/// Bind `workers` sockets to `addr` with `SO_REUSEPORT` and serve each on its own thread. With
/// port 0, a port no socket holds is chosen first (see [`unused_port`]) and all bind it.
pub fn start(mut addr: SocketAddr, workers: usize, handler: Handler) -> io::Result<UdpWorkers> {
    let stop = Arc::new(AtomicBool::new(false));
    if addr.port() == 0 {
        addr.set_port(unused_port(addr)?);
    }
    let first = bind_reuseport(addr)?;
    let addr = first.local_addr()?;
    let mut sockets = Vec::with_capacity(workers);
    sockets.push(first);
    for _ in 1..workers.max(1) {
        sockets.push(bind_reuseport(addr)?);
    }
    let mut threads = Vec::with_capacity(sockets.len());
    for (i, socket) in sockets.into_iter().enumerate() {
        let handler = handler.clone();
        let stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("ranah-udp-{i}"))
                .spawn(move || serve(socket, handler, stop))?,
        );
    }
    Ok(UdpWorkers {
        stop,
        threads,
        addr,
    })
}

/// A port on `addr`'s address that no socket holds. Asked with `SO_REUSEPORT`, the kernel may
/// choose a port another socket of the same user already shares that way (another server, a
/// `dig`), and the two would then split each other's datagrams; a socket without it is given
/// a port nobody has. That socket is closed before the workers bind the port.
fn unused_port(addr: SocketAddr) -> io::Result<u16> {
    Ok(UdpSocket::bind(addr)?.local_addr()?.port())
}

fn bind_reuseport(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(SockProtocol::UDP),
    )?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket)
}

fn serve(socket: UdpSocket, handler: Handler, stop: Arc<AtomicBool>) {
    let mut batch = Batch::new(MAX_QUERY, usize::from(EDNS_UDP_SIZE));
    let mut worker = handler.udp_worker();
    // Dynamic updates wait on the store: they are answered later, from the runtime, on a
    // handle of this socket.
    worker.replies = socket.try_clone().ok().map(Arc::new);
    while !stop.load(Ordering::Acquire) {
        match batch.recv(&socket) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "UDP receive failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        worker.begin();
        for i in 0..batch.len() {
            let mut reply = std::mem::take(&mut batch.replies[i]);
            reply.clear();
            let (query, src) = batch.query(i);
            // Port 0 cannot be answered (and is a reflection trick).
            if let Some(src) = src.filter(|s| s.port() != 0)
                && !handler.answer_udp(query, src, &mut reply, &mut worker)
            {
                reply.clear();
            }
            batch.replies[i] = reply;
        }
        batch.send(&socket);
        worker.flush(&handler);
    }
}

/// What one UDP worker thread keeps for itself: its handle on the rate limiter and its counts
/// of cache hits and misses, added to the shared counters once per batch.
pub struct UdpWorker {
    rrl: Option<rrl::Worker>,
    /// Where answers made off this thread (dynamic updates) are sent from.
    replies: Option<Arc<UdpSocket>>,
    hits: u64,
    misses: u64,
}

impl UdpWorker {
    /// Its handle on the rate limiter, when it is on.
    pub fn rrl_mut(&mut self) -> Option<&mut rrl::Worker> {
        self.rrl.as_mut()
    }

    fn begin(&mut self) {
        if let Some(rrl) = self.rrl.as_mut() {
            rrl.begin();
        }
    }

    /// Hand the counts over (and the rate limiter's).
    pub fn flush(&mut self, handler: &Handler) {
        if let Some(rrl) = self.rrl.as_mut() {
            rrl.flush();
        }
        handler.zones().cache_budget().count(
            std::mem::take(&mut self.hits),
            std::mem::take(&mut self.misses),
        );
    }
}

/// What makes two UDP queries get the same answer, apart from ID, RD and CD: the question as
/// sent (name in its case, type, class), the EDNS buffer size offered (or none) and the DO
/// bit (signatures and proofs, or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QueryShape<'q> {
    /// The question section's bytes.
    question: &'q [u8],
    /// The question name's bytes (a prefix of `question`).
    name: &'q [u8],
    /// `None` without EDNS, else the buffer size ranah will fill (512..=1232).
    edns_size: Option<u16>,
    /// The DO bit (RFC 3225), in an OPT record only.
    dnssec_ok: bool,
}

/// Parse a query far enough to know whether the cache can answer it. `None` means: let the
/// full handler decide (including for malformed queries).
fn shape(q: &[u8]) -> Option<QueryShape<'_>> {
    let header = q.get(..12)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let qr = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if qr || opcode != 0 || count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    // Question name: plain labels only (no compression pointers in a question).
    let mut i = 12;
    loop {
        let len = usize::from(*q.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        i += 1 + len;
        if i - 12 > 254 {
            // A name is at most 255 bytes with its final zero (RFC 1035 §3.1).
            return None;
        }
    }
    let name = &q[12..i];
    let question = q.get(12..i + 4)?;
    let mut rest = &q[i + 4..];
    let mut dnssec_ok = false;
    let edns_size = if count(10) == 1 {
        // OPT: root name, type 41, class = size, TTL = ext-rcode/version/flags, rdata.
        let opt = rest.get(..11)?;
        if opt[0] != 0 || u16::from_be_bytes([opt[1], opt[2]]) != 41 {
            return None;
        }
        let size = u16::from_be_bytes([opt[3], opt[4]]);
        let version = opt[6];
        if version != 0 {
            return None;
        }
        dnssec_ok = opt[7] & 0x80 != 0;
        let rdlen = usize::from(u16::from_be_bytes([opt[9], opt[10]]));
        if !plain_options(rest.get(11..11 + rdlen)?) {
            return None;
        }
        rest = &rest[11 + rdlen..];
        Some(size.clamp(512, EDNS_UDP_SIZE))
    } else {
        None
    };
    if !rest.is_empty() {
        return None;
    }
    Some(QueryShape {
        question,
        name,
        edns_size,
        dnssec_ok,
    })
}

/// Whether an OPT record's options can be answered from the cache: each a code, a length and
/// that many bytes, filling the RDATA exactly (RFC 6891 §6.1.2), and none whose content hickory
/// checks when it parses the query (client subnet, RFC 7871). Anything else goes to the full
/// handler, which answers as hickory reads it (FORMERR for an option longer than the RDATA or a
/// malformed client subnet): a cached answer must never go to a query the handler refuses.
fn plain_options(mut rdata: &[u8]) -> bool {
    const CLIENT_SUBNET: u16 = 8;
    while !rdata.is_empty() {
        let Some(head) = rdata.get(..4) else {
            return false;
        };
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if code == CLIENT_SUBNET {
            return false;
        }
        let Some(next) = rdata.get(4 + len..) else {
            return false;
        };
        rdata = next;
    }
    true
}

/// The longest cache key: a question (name of at most 255 bytes, type, class) and 3 bytes of
/// EDNS size.
const MAX_KEY: usize = 255 + 4 + 3;

/// Write the cache key of a query into `buf` (on the stack: no allocation per query) and
/// return its length.
fn cache_key(shape: &QueryShape<'_>, buf: &mut [u8; MAX_KEY]) -> usize {
    // `shape` keeps names within 255 bytes, so a question always fits.
    let q = shape.question.len().min(MAX_KEY - 3);
    buf[..q].copy_from_slice(&shape.question[..q]);
    // Names are case-insensitive: one entry serves every spelling (the hit gets the query's
    // letters back, see `patch`). Label lengths (at most 63) are not letters.
    buf[..shape.name.len().min(q)].make_ascii_lowercase();
    match shape.edns_size {
        Some(size) => {
            buf[q] = 1 | (u8::from(shape.dnssec_ok) << 1);
            buf[q + 1..q + 3].copy_from_slice(&size.to_be_bytes());
            q + 3
        }
        None => {
            buf[q] = 0;
            q + 1
        }
    }
}

impl Handler {
    /// A UDP worker's own state.
    pub fn udp_worker(&self) -> UdpWorker {
        UdpWorker {
            rrl: self.rrl_worker(),
            replies: None,
            hits: 0,
            misses: 0,
        }
    }

    /// Answer one UDP query into `out`; `false` when nothing is to be sent. With a rate
    /// limiter, the answer is rate limited: it may come back truncated, or not at all.
    pub fn answer_udp(
        &self,
        query: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
        worker: &mut UdpWorker,
    ) -> bool {
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return false; // not a query: never answer (reflection)
        }
        let Some(shape) = shape(query) else {
            return self.answer_uncached(
                query,
                src,
                out,
                worker.rrl.as_mut(),
                worker.replies.as_ref(),
            );
        };
        // The zone the name falls in, found with a lower-cased copy of the name on the stack.
        let mut lower = [0u8; 256];
        let name_len = shape.name.len();
        for (d, s) in lower.iter_mut().zip(shape.name) {
            *d = s.to_ascii_lowercase();
        }
        let key = &lower[..name_len];
        let Some(zone) = self.zones().find_key(key) else {
            return self.answer_uncached(
                query,
                src,
                out,
                worker.rrl.as_mut(),
                worker.replies.as_ref(),
            );
        };
        let view = zone.view();
        let mut key_buf = [0u8; MAX_KEY];
        let key_len = cache_key(&shape, &mut key_buf);
        let cache_key = &key_buf[..key_len];
        if let Some(hit) = view.answers().get(cache_key) {
            worker.hits += 1;
            out.extend_from_slice(&hit.answer);
            patch(out, query, shape.question.len());
            return match worker.rrl.as_mut() {
                Some(rrl) => rrl.apply(src.ip(), hit.class, out),
                None => true,
            };
        }
        let tail = &shape.question[name_len..];
        let qtype = RecordType::from(u16::from_be_bytes([tail[0], tail[1]]));
        let qclass = DNSClass::from(u16::from_be_bytes([tail[2], tail[3]]));
        let asked = Asked {
            id: u16::from_be_bytes([query[0], query[1]]),
            opcode: 0,
            recursion_desired: query[2] & 0x01 != 0,
            checking_disabled: query[3] & 0x10 != 0,
            question: shape.question,
            questions: 1,
            edns: shape.edns_size.map(|size| (size, shape.dnssec_ok)),
            udp: true,
        };
        match handler::served(qclass, qtype) {
            Served::Transfer => {
                return self.answer_uncached(
                    query,
                    src,
                    out,
                    worker.rrl.as_mut(),
                    worker.replies.as_ref(),
                );
            }
            Served::Error(code) => handler::code_message(&asked, code, None, out),
            Served::Lookup => {
                let answer = view.lookup(key, qtype, shape.dnssec_ok);
                handler::write_answer(&asked, &answer, None, out);
            }
        }
        worker.misses += 1;
        // Classified once, here, for every later answer from the cache.
        let class = match &worker.rrl {
            Some(rrl) => rrl::classify(out, self.zones(), rrl.limiter()),
            None => rrl::Class::default(),
        };
        // Kept: NOERROR answers about a name the zone holds (not a wildcard's, not a name
        // below a delegation that the zone does not hold): what random names never are.
        let rcode = out.get(3).map(|b| b & 0x0f).unwrap_or(0xf);
        if rcode == 0 && view.has_name_key(key) {
            view.answers().insert(cache_key, out, class);
        }
        match worker.rrl.as_mut() {
            Some(rrl) => rrl.apply(src.ip(), class, out),
            None => true,
        }
    }

    /// A query the fast path cannot answer (unusual, or outside our zones): the full
    /// handler, then the rate limit.
    fn answer_uncached(
        &self,
        query: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
        rrl: Option<&mut rrl::Worker>,
        replies: Option<&Arc<UdpSocket>>,
    ) -> bool {
        if !self.answer_slow(query, src, out, replies) {
            return false;
        }
        match rrl {
            Some(rrl) => {
                let class = rrl::classify(out, self.zones(), rrl.limiter());
                rrl.apply(src.ip(), class, out)
            }
            None => true,
        }
    }

    /// A request that waits on the store ([`Handler::needs_store`]: a signed UPDATE, or one
    /// signed with an update key): handed to the runtime with a place of the update limit,
    /// its answer sent from there on `replies`, rate limited as the worker's are. When no
    /// place is free it is dropped: the client asks again after its timeout (an unsigned
    /// SERVFAIL would end a client that expects a signed answer).
    fn defer(&self, request: Request, replies: Option<&Arc<UdpSocket>>) -> bool {
        let (Some(updates), Some(socket)) = (self.updates(), replies.cloned()) else {
            return false;
        };
        let Some(place) = updates.admit() else {
            self.update_dropped(&request);
            return false;
        };
        let handler = self.clone();
        updates.runtime().spawn(async move {
            let mut capture = Capture::default();
            if super::update::is_update(&request) {
                capture.message = handler.update(&request).await;
            } else {
                handler.handle_admitted(&request, &mut capture).await;
            }
            drop(place);
            let src = request.src();
            let mut answer = capture.message;
            if let Some(mut rrl) = handler.rrl_worker() {
                rrl.begin();
                let class = rrl::classify(&answer, handler.zones(), rrl.limiter());
                let send = rrl.apply(src.ip(), class, &mut answer);
                rrl.flush();
                if !send {
                    return;
                }
            }
            if !answer.is_empty()
                && let Err(error) = socket.send_to(&answer, src)
            {
                tracing::debug!(%src, %error, "cannot send an answer made off the UDP thread");
            }
        });
        false
    }

    /// The full handler, run to completion on this thread, its answer captured; or, for a
    /// request that waits on the store, [`Handler::defer`]red.
    fn answer_slow(
        &self,
        query: &[u8],
        src: SocketAddr,
        out: &mut Vec<u8>,
        replies: Option<&Arc<UdpSocket>>,
    ) -> bool {
        let request = match Request::from_bytes(query.to_vec(), src, Protocol::Udp) {
            Ok(r) => r,
            Err(_) => return formerr(query, out),
        };
        if request.metadata.message_type == MessageType::Response {
            return false;
        }
        if self.needs_store(&request) {
            return self.defer(request, replies);
        }
        let mut capture = Capture::default();
        {
            let mut fut = std::pin::pin!(self.handle_request(&request, &mut capture));
            let mut cx = Context::from_waker(Waker::noop());
            // The handler never waits on anything over UDP (lookups are in memory, the capture
            // is synchronous, transfers over UDP send the SOA alone): one poll completes it.
            if fut.as_mut().poll(&mut cx).is_pending() {
                tracing::warn!("DNS handler did not complete synchronously");
                return false;
            }
        }
        if capture.message.is_empty() {
            return false;
        }
        out.extend_from_slice(&capture.message);
        true
    }
}

/// Put the query's ID, RD and CD, and its question as spelled, into a cached answer.
fn patch(answer: &mut [u8], query: &[u8], question_len: usize) {
    answer[0] = query[0];
    answer[1] = query[1];
    answer[2] = (answer[2] & !0x01) | (query[2] & 0x01);
    answer[3] = (answer[3] & !0x10) | (query[3] & 0x10);
    let q = 12..12 + question_len;
    if let (Some(to), Some(from)) = (answer.get_mut(q.clone()), query.get(q)) {
        to.copy_from_slice(from);
    }
}

/// FORMERR for a query whose header reads but whose body does not (also over TCP).
pub(super) fn formerr(query: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(id) = query.get(..2) else {
        return false;
    };
    let opcode = OpCode::from_u8((query[2] >> 3) & 0xf);
    let mut metadata = Metadata::new(
        u16::from_be_bytes([id[0], id[1]]),
        MessageType::Response,
        opcode,
    );
    metadata.response_code = ResponseCode::FormErr;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let mut encoder = BinEncoder::new(out);
    header.emit(&mut encoder).is_ok()
}

/// Keeps the one message of a UDP answer instead of sending it.
#[derive(Default)]
struct Capture {
    message: Vec<u8>,
}

impl Sink for Capture {
    async fn send(&mut self, message: Vec<u8>) -> bool {
        self.message = message;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_never_lands_on_a_port_other_reuseport_sockets_share() {
        // Clients and servers that bind port 0 with SO_REUSEPORT, as dig and delv do.
        let others: Vec<UdpSocket> = (0..400)
            .map(|_| bind_reuseport(([127, 0, 0, 1], 0).into()).unwrap())
            .collect();
        let taken: std::collections::HashSet<u16> = others
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        // Asked with SO_REUSEPORT itself, the kernel hands out some of those ports (about one
        // bind in 70 with 400 held); the port chosen for the workers is never one of them.
        let shared = (0..2000)
            .filter(|_| {
                let port = unused_port(([127, 0, 0, 1], 0).into()).unwrap();
                taken.contains(&port)
            })
            .count();
        assert_eq!(shared, 0);
    }

    #[test]
    fn shapes() {
        // id, flags RD, 1 question, 1 additional; www.a. A IN; OPT 1232
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(b"\x03www\x01a\x00\x00\x01\x00\x01");
        q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
        let s = shape(&q).unwrap();
        assert_eq!(s.name, b"\x03www\x01a\x00");
        assert_eq!(s.edns_size, Some(1232));
        assert!(!s.dnssec_ok);
        // DO set: another shape, another key.
        let mut with_do = q.clone();
        with_do[12 + 11 + 7] = 0x80;
        let d = shape(&with_do).unwrap();
        assert!(d.dnssec_ok);
        let (mut a, mut b) = ([0u8; MAX_KEY], [0u8; MAX_KEY]);
        let (la, lb) = (cache_key(&s, &mut a), cache_key(&d, &mut b));
        assert_ne!(a[..la], b[..lb]);
        // EDNS version 1: not cacheable.
        let mut v1 = q.clone();
        v1[12 + 11 + 6] = 1;
        assert!(shape(&v1).is_none());
        // Trailing garbage, truncated name, pointers: not cacheable, no panic.
        let mut extra = q.clone();
        extra.push(0);
        assert!(shape(&extra).is_none());
        assert!(shape(&q[..15]).is_none());
        let mut ptr = q.clone();
        ptr[12] = 0xc0;
        assert!(shape(&ptr).is_none());
        for n in 0..q.len() {
            let _ = shape(&q[..n]);
        }
    }

    /// Each answer kind is limited in its own bucket, keyed as the module says: the name for
    /// positive and NODATA answers, the zone for NXDOMAIN and wildcards, the delegation for
    /// referrals, the root outside our zones; from the cache as from the handler.
    #[test]
    fn rate_limits_each_kind_in_its_bucket() {
        use super::super::rrl::{Action, Kind, Limiter};
        use super::super::{ZoneView, Zones};
        use hickory_proto::op::{Message, Query};
        use hickory_proto::rr::{Name, RecordType};
        use std::time::Duration;

        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns1 host 1 3600 900 1209600 300\n\
                    @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\nmail A 192.0.2.25\n\
                    *.wild TXT \"w\"\nchild NS ns1.child\nns1.child A 192.0.2.53\n";
        let origin = Name::from_ascii("example.").unwrap();
        let zones = Arc::new(Zones::new());
        zones.insert(ZoneView::new(
            &crate::zone::file::parse(text, "t", Some(&origin)).unwrap(),
        ));
        let config = crate::config::RrlConfig {
            rate: 1,
            slip: 1,
            exempt: vec!["198.51.100.7".into()],
            table_size: 4096,
            ..Default::default()
        };
        let limiter = Arc::new(Limiter::new(&config, &[], None));
        let handler = Handler::new(zones.clone()).with_rrl(limiter.clone());
        let mut w = handler.udp_worker();
        let src: SocketAddr = "192.0.2.99:5353".parse().unwrap();
        // Sent whole (true), truncated (false), or not at all (None).
        let ask = |w: &mut UdpWorker, src: SocketAddr, name: &str, rtype| {
            let mut m = Message::query();
            m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
            let q = m.to_vec().unwrap();
            let mut out = Vec::new();
            if !handler.answer_udp(&q, src, &mut out, w) {
                return None;
            }
            let reply = Message::from_vec(&out).unwrap();
            assert_eq!(reply.metadata.id, m.metadata.id);
            assert_eq!(reply.queries.len(), 1, "{name}");
            if reply.metadata.truncation {
                assert!(reply.answers.is_empty() && reply.authorities.is_empty());
                assert!(reply.additionals.is_empty());
            }
            Some(!reply.metadata.truncation)
        };
        fn rrl(w: &mut UdpWorker) -> &mut super::super::rrl::Worker {
            w.rrl.as_mut().unwrap()
        }
        rrl(&mut w).begin_at(Duration::from_secs(1));
        let cases: [(&str, RecordType, &str, RecordType); 6] = [
            // (first, then the same bucket)
            ("www.example.", RecordType::A, "WWW.example.", RecordType::A),
            (
                "www.example.",
                RecordType::AAAA,
                "www.example.",
                RecordType::TXT,
            ),
            (
                "nx1.example.",
                RecordType::A,
                "nx2.example.",
                RecordType::MX,
            ),
            (
                "a.wild.example.",
                RecordType::TXT,
                "b.wild.example.",
                RecordType::A,
            ),
            (
                "x.child.example.",
                RecordType::A,
                "y.z.child.example.",
                RecordType::A,
            ),
            (
                "www.example.org.",
                RecordType::A,
                "other.example.net.",
                RecordType::A,
            ),
        ];
        for (first, t1, second, t2) in cases {
            assert_eq!(ask(&mut w, src, first, t1), Some(true), "{first}");
            assert_eq!(
                ask(&mut w, src, second, t2),
                Some(false),
                "{second} after {first}"
            );
            // The exempt source is answered whatever the bucket says.
            let exempt: SocketAddr = "198.51.100.7:53".parse().unwrap();
            assert_eq!(ask(&mut w, exempt, second, t2), Some(true), "{second}");
        }
        // Other names have buckets of their own for positive and NODATA answers.
        assert_eq!(ask(&mut w, src, "mail.example.", RecordType::A), Some(true));
        assert_eq!(
            ask(&mut w, src, "mail.example.", RecordType::TXT),
            Some(true)
        );
        // Another /24 too.
        let other: SocketAddr = "192.0.3.1:5353".parse().unwrap();
        assert_eq!(
            ask(&mut w, other, "www.example.", RecordType::A),
            Some(true)
        );
        // A second later the bucket has refilled; the cached answer is whole.
        rrl(&mut w).begin_at(Duration::from_secs(2));
        assert_eq!(ask(&mut w, src, "www.example.", RecordType::A), Some(true));
        rrl(&mut w).flush();
        let count = |k, a| limiter.count(k, a);
        // www, WWW (exempt), mail, www from another /24, www a second later.
        assert_eq!(count(Kind::Positive, Action::Answered), 5);
        assert_eq!(count(Kind::Positive, Action::Slipped), 1);
        for kind in [Kind::Nxdomain, Kind::Wildcard, Kind::Referral, Kind::Error] {
            assert_eq!(count(kind, Action::Answered), 2, "{kind:?}");
            assert_eq!(count(kind, Action::Slipped), 1, "{kind:?}");
        }
        assert_eq!(count(Kind::Nodata, Action::Answered), 3);
        assert_eq!(count(Kind::Nodata, Action::Slipped), 1);
        // slip 0: dropped.
        let limiter = Arc::new(Limiter::new(
            &crate::config::RrlConfig { slip: 0, ..config },
            &[],
            None,
        ));
        let handler2 = Handler::new(zones).with_rrl(limiter);
        let mut w = handler2.udp_worker();
        rrl(&mut w).begin_at(Duration::from_secs(1));
        let mut m = Message::query();
        m.add_query(Query::query(origin, RecordType::SOA));
        let q = m.to_vec().unwrap();
        let mut out = Vec::new();
        assert!(handler2.answer_udp(&q, src, &mut out, &mut w));
        out.clear();
        assert!(!handler2.answer_udp(&q, src, &mut out, &mut w));
    }

    /// Found by fuzzing (tests/fuzz/corpus/dns_udp/regression-cache-malformed-opt): a query
    /// whose OPT holds an option longer than the RDATA was answered from the cache, where the
    /// handler (hickory cannot parse it) answers FORMERR.
    #[test]
    fn queries_with_options_the_handler_refuses_bypass_the_cache() {
        use super::super::{ZoneView, Zones};
        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns1 host 1 3600 900 1209600 300\n\
                    @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n";
        let origin = hickory_proto::rr::Name::from_ascii("example.").unwrap();
        let zones = Arc::new(Zones::new());
        zones.insert(ZoneView::new(
            &crate::zone::file::parse(text, "t", Some(&origin)).unwrap(),
        ));
        let handler = Handler::new(zones);
        let w = &mut handler.udp_worker();
        let src: SocketAddr = "192.0.2.99:5353".parse().unwrap();
        // www.example. A, with an OPT of size 1232 and these options.
        let query = |id: u8, options: &[u8]| {
            let mut q = vec![0x12, id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
            q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
            q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
            q.extend_from_slice(&(options.len() as u16).to_be_bytes());
            q.extend_from_slice(options);
            q
        };
        let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut cached = Vec::new();
        assert!(handler.answer_udp(&query(1, &cookie), src, &mut cached, w));
        assert_eq!(cached[3] & 0x0f, 0, "NOERROR");
        let cases: [&[u8]; 4] = [
            // An option of 0x1c47 bytes in 8 bytes of RDATA: hickory refuses the query.
            &[0, 10, 0, 2, 0x2a, 0xc5, 0xd1, 0x7a, 0x1c, 0x47, 0, 0],
            // An option cut short, and a lone byte: hickory drops the options.
            &[0, 10, 0, 8, 1, 2, 3, 4],
            &[0],
            // A client subnet of family 3: hickory refuses the query.
            &[0, 8, 0, 4, 0, 3, 0, 0],
        ];
        for (i, options) in cases.into_iter().enumerate() {
            let q = query(2 + i as u8, options);
            assert!(shape(&q).is_none(), "case {i}");
            let mut out = Vec::new();
            let sent = handler.answer_udp(&q, src, &mut out, w);
            let mut slow = Vec::new();
            assert_eq!(
                sent,
                handler.answer_slow(&q, src, &mut slow, None),
                "case {i}"
            );
            assert_eq!(out, slow, "case {i}: not the handler's answer");
        }
        // The first and the last: FORMERR, the header only.
        for i in [0, 3] {
            let mut out = Vec::new();
            assert!(handler.answer_udp(&query(20, cases[i]), src, &mut out, w));
            assert_eq!((out.len(), out[3] & 0x0f), (12, 1), "case {i}");
        }
        // Well-formed options are answered from the cache, as before.
        let q = query(30, &[0, 10, 0, 8, 8, 7, 6, 5, 4, 3, 2, 1, 0, 3, 0, 0]);
        assert!(shape(&q).is_some());
        let mut out = Vec::new();
        assert!(handler.answer_udp(&q, src, &mut out, w));
        assert_eq!(out[2..], cached[2..]);
        assert_eq!(w.hits, 1, "from the cache");
    }

    /// Names the zone holds are cached, whatever their spelling; names it does not hold (that
    /// do not exist, that a wildcard answers, below a delegation) never are, so a flood of
    /// random names leaves the cache as it was.
    #[test]
    fn only_names_the_zone_holds_are_cached_and_any_spelling_hits() {
        use super::super::{ZoneView, Zones};
        use hickory_proto::op::{Message, Query};
        use hickory_proto::rr::Name;
        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns1 host 1 3600 900 1209600 300\n\
                    @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n*.wild TXT \"w\"\n\
                    child NS ns1.child\nns1.child A 192.0.2.53\n";
        let origin = Name::from_ascii("example.").unwrap();
        let zones = Arc::new(Zones::new());
        zones.insert(ZoneView::new(
            &crate::zone::file::parse(text, "t", Some(&origin)).unwrap(),
        ));
        let handler = Handler::new(zones.clone());
        let mut w = handler.udp_worker();
        let src: SocketAddr = "192.0.2.99:5353".parse().unwrap();
        let mut ask = |name: &str, rtype: RecordType| {
            let mut m = Message::query();
            m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
            let mut out = Vec::new();
            assert!(handler.answer_udp(&m.to_vec().unwrap(), src, &mut out, &mut w));
            Message::from_vec(&out).unwrap()
        };
        let cached = || {
            zones
                .find_key(b"\x07example\x00")
                .unwrap()
                .view()
                .answers()
                .len()
        };
        for i in 0..50 {
            ask(&format!("nx{i}.example."), RecordType::A);
            ask(&format!("r{i}.wild.example."), RecordType::TXT);
            ask(&format!("h{i}.child.example."), RecordType::A);
        }
        assert_eq!(cached(), 0, "random names were cached");
        let first = ask("www.example.", RecordType::A);
        let again = ask("wWw.ExAmple.", RecordType::A);
        assert_eq!(cached(), 1);
        assert_eq!(again.answers, first.answers);
        assert_eq!(again.queries[0].name().to_ascii(), "wWw.ExAmple.");
        // The referral at the cut itself is about a name the zone holds.
        ask("child.example.", RecordType::A);
        assert_eq!(cached(), 2);
        w.flush(&handler);
        let budget = zones.cache_budget();
        assert_eq!((budget.hits(), budget.misses()), (1, 152));
        assert!(budget.used() > 0);
    }

    #[test]
    fn patch_sets_id_rd_cd_and_the_question_as_spelled() {
        let mut answer = vec![0, 0, 0x84, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        answer.extend_from_slice(b"\x03www\x00\x00\x01\x00\x01");
        let mut query = vec![0xab, 0xcd, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0];
        query.extend_from_slice(b"\x03wWW\x00\x00\x01\x00\x01");
        patch(&mut answer, &query, 9);
        assert_eq!(&answer[..4], &[0xab, 0xcd, 0x85, 0x10]);
        assert_eq!(&answer[12..], &query[12..]);
        let query = [0, 1, 0x00, 0x00];
        patch(&mut answer, &query, 9);
        assert_eq!(&answer[..4], &[0, 1, 0x84, 0x00]);
    }
}
