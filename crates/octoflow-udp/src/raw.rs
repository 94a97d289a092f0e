//! Sending UDP datagrams with another host's source address and port (a router's,
//! so the receiver sees the datagram as the router's own), through a raw socket:
//! `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)`, which implies `IP_HDRINCL` (raw(7)),
//! or `socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)`, which Linux treats the same way
//! (the IPv6 header is the caller's). The headers come from [`crate::spoof`].
//!
//! Opening one needs `CAP_NET_RAW`. It receives nothing (an `IPPROTO_RAW` socket
//! is send-only), so nothing accumulates in its receive buffer.
//!
//! The kernel does not fragment what a raw socket sends with its own header: a
//! datagram larger than the route's MTU fails with `EMSGSIZE`
//! ([`RawError::too_big`]); the caller counts it.

use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    sendmsg, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6,
};

use crate::spoof::{write_headers, HeaderError, MAX_HEADERS};

/// A raw socket sending to one receiver from any source of the receiver's family.
#[derive(Debug)]
pub struct RawSender {
    fd: OwnedFd,
    dst: SocketAddr,
    /// The headers of the datagram being sent (the payload is not copied).
    hdr: [u8; MAX_HEADERS],
}

/// Why [`RawSender::send`] did not send.
#[derive(Debug)]
pub enum RawError {
    /// No headers can say it (a source of the other family, or too long).
    Header(HeaderError),
    /// The kernel refused it.
    Io(io::Error),
}

impl RawError {
    /// The datagram is larger than the route's MTU (the kernel does not fragment
    /// raw sockets' datagrams).
    pub fn too_big(&self) -> bool {
        matches!(self, RawError::Io(e) if e.raw_os_error() == Some(libc_emsgsize()))
    }
}

impl std::fmt::Display for RawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawError::Header(e) => e.fmt(f),
            RawError::Io(e) => e.fmt(f),
        }
    }
}

fn libc_emsgsize() -> i32 {
    nix::errno::Errno::EMSGSIZE as i32
}

impl RawSender {
    /// A raw socket of `dst`'s family. Fails with `EPERM` (`io::ErrorKind::
    /// PermissionDenied`) without `CAP_NET_RAW`.
    pub fn open(dst: SocketAddr) -> io::Result<RawSender> {
        let dst = SocketAddr::new(dst.ip().to_canonical(), dst.port());
        let family = match dst.ip() {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        let fd = socket(
            family,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Raw,
        )
        .map_err(io::Error::from)?;
        Ok(RawSender {
            fd,
            dst,
            hdr: [0; MAX_HEADERS],
        })
    }

    /// The receiver.
    pub fn dst(&self) -> SocketAddr {
        self.dst
    }

    /// Whether datagrams from `src` can be sent (same family as the receiver).
    pub fn can_send_from(&self, src: SocketAddr) -> bool {
        src.ip().to_canonical().is_ipv4() == self.dst.is_ipv4()
    }

    /// Send `payload` to the receiver as a UDP datagram from `src`.
    pub fn send(&mut self, src: SocketAddr, payload: &[u8]) -> Result<(), RawError> {
        let n = write_headers(&mut self.hdr, src, self.dst, payload).map_err(RawError::Header)?;
        let iov = [IoSlice::new(&self.hdr[..n]), IoSlice::new(payload)];
        let fd = self.fd.as_raw_fd();
        // The port of a raw socket's destination must be 0 (or, for IPv6, the
        // protocol): the UDP header carries the receiver's port.
        let res = match self.dst {
            SocketAddr::V4(d) => {
                let a = SockaddrIn::from(std::net::SocketAddrV4::new(*d.ip(), 0));
                sendmsg(fd, &iov, &[], MsgFlags::empty(), Some(&a))
            }
            SocketAddr::V6(d) => {
                let a = SockaddrIn6::from(std::net::SocketAddrV6::new(*d.ip(), 0, 0, d.scope_id()));
                sendmsg(fd, &iov, &[], MsgFlags::empty(), Some(&a))
            }
        };
        res.map(|_| ())
            .map_err(|e| RawError::Io(io::Error::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// Send from a made-up source to a socket on loopback; `None` when raw sockets
    /// are not permitted here (no CAP_NET_RAW).
    fn roundtrip(listen: &str, src: &str) -> Option<(Vec<u8>, SocketAddr)> {
        let rx = UdpSocket::bind(listen).expect("bind on loopback");
        rx.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let dst = rx.local_addr().expect("local address");
        let mut tx = match RawSender::open(dst) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("skipped: raw sockets need CAP_NET_RAW ({e})");
                return None;
            }
            Err(e) => panic!("raw socket: {e}"),
        };
        let src: SocketAddr = src.parse().expect("source");
        tx.send(src, b"flow datagram").expect("sent");
        let mut buf = [0u8; 64];
        let (n, from) = rx.recv_from(&mut buf).expect("received");
        Some((buf[..n].to_vec(), from))
    }

    #[test]
    fn an_ipv4_datagram_arrives_from_the_source_it_was_given() {
        if let Some((d, from)) = roundtrip("127.0.0.1:0", "127.0.0.77:40001") {
            assert_eq!(d, b"flow datagram");
            assert_eq!(from, "127.0.0.77:40001".parse().expect("addr"));
        }
    }

    #[test]
    fn an_ipv6_datagram_arrives_from_the_source_it_was_given() {
        if UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback");
            return;
        }
        if let Some((d, from)) = roundtrip("[::1]:0", "[::1]:40002") {
            assert_eq!(d, b"flow datagram");
            assert_eq!(from, "[::1]:40002".parse().expect("addr"));
        }
    }

    #[test]
    fn a_source_of_the_other_family_is_refused_before_the_kernel() {
        let Ok(mut tx) = RawSender::open("127.0.0.1:9".parse().expect("addr")) else {
            eprintln!("skipped: raw sockets need CAP_NET_RAW");
            return;
        };
        assert!(!tx.can_send_from("[fd00::1]:1".parse().expect("addr")));
        assert!(tx.can_send_from("[::ffff:10.0.0.1]:1".parse().expect("addr")));
        assert!(matches!(
            tx.send("[fd00::1]:1".parse().expect("addr"), b"x"),
            Err(RawError::Header(HeaderError::Families { .. }))
        ));
    }
}
