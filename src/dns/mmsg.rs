//! Batched UDP receive and send (`recvmmsg`/`sendmmsg`, Linux): one system call moves up to
//! [`BATCH`] datagrams, where a plain loop pays one call per query each way.
//!
//! The unsafe code is confined here: fixed arrays of buffers, `iovec`s, addresses and message
//! headers that the kernel fills or reads, rebuilt before every call.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Buffers for one batch of queries and the replies to them.
pub struct Batch {
    queries: Vec<Vec<u8>>,
    lens: [usize; BATCH],
    addrs: [libc::sockaddr_storage; BATCH],
    addr_lens: [libc::socklen_t; BATCH],
    /// One reply per query; an empty reply is not sent.
    pub replies: Vec<Vec<u8>>,
    received: usize,
}

impl Batch {
    /// Buffers for queries up to `max_query` bytes.
    pub fn new(max_query: usize, reply_capacity: usize) -> Self {
        Self {
            queries: (0..BATCH).map(|_| vec![0u8; max_query]).collect(),
            lens: [0; BATCH],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            addrs: unsafe { zeroed() },
            addr_lens: [0; BATCH],
            replies: (0..BATCH)
                .map(|_| Vec::with_capacity(reply_capacity))
                .collect(),
            received: 0,
        }
    }

    /// Number of datagrams from the last receive.
    pub fn len(&self) -> usize {
        self.received
    }

    /// Whether the last receive got nothing.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// The `i`-th datagram and its sender (`None` for an address family we do not serve).
    pub fn query(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        (
            &self.queries[i][..self.lens[i]],
            to_socket_addr(&self.addrs[i], self.addr_lens[i]),
        )
    }

    /// Wait for at least one datagram (up to the socket's read timeout), then take what else
    /// is queued, up to [`BATCH`].
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received = 0;
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iovecs[i] = libc::iovec {
                iov_base: self.queries[i].as_mut_ptr().cast(),
                iov_len: self.queries[i].len(),
            };
            msgs[i].msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points into buffers owned by `self` or this frame, which
        // outlive the call; the kernel writes at most the lengths given.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, msg) in msgs.iter().enumerate().take(n) {
            self.lens[i] = (msg.msg_len as usize).min(self.queries[i].len());
            self.addr_lens[i] = msg.msg_hdr.msg_namelen;
        }
        self.received = n;
        Ok(n)
    }

    /// Send every non-empty reply to the sender of its query.
    pub fn send(&mut self, socket: &UdpSocket) {
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut count = 0;
        for i in 0..self.received {
            if self.replies[i].is_empty() {
                continue;
            }
            iovecs[count] = libc::iovec {
                iov_base: self.replies[i].as_mut_ptr().cast(),
                iov_len: self.replies[i].len(),
            };
            msgs[count].msg_hdr.msg_name =
                (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msgs[count].msg_hdr.msg_namelen = self.addr_lens[i];
            msgs[count].msg_hdr.msg_iov = &mut iovecs[count];
            msgs[count].msg_hdr.msg_iovlen = 1;
            count += 1;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: as in `recv`; the kernel only reads the buffers.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    msgs[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    0,
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::debug!(error = %e, "UDP send failed");
                sent += 1; // skip the datagram that failed, send the rest
            } else {
                sent += n as usize;
            }
        }
    }
}

fn to_socket_addr(addr: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says this storage holds a sockaddr_in, and it is large enough.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
