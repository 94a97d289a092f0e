//! Sending UDP datagrams with another host's source address and port (a router's,
//! so the receiver sees the datagram as the router's own), through a raw socket:
//! `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)`, which implies `IP_HDRINCL` (raw(7)),
//! or `socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)`, which Linux treats the same way
//! (the IPv6 header is the caller's). The headers come from [`crate::spoof`];
//! [`RawSender::send_some`] hands the kernel up to [`RAW_BATCH`] datagrams in one
//! `sendmmsg`, each as two pieces (its headers, its payload: not copied).
//!
//! Opening one needs `CAP_NET_RAW`. It receives nothing (an `IPPROTO_RAW` socket
//! is send-only), so nothing accumulates in its receive buffer.
//!
//! The kernel does not fragment what a raw socket sends with its own header, so
//! a datagram whose packet exceeds the MTU the sender was given goes out in
//! fragments made here ([`crate::spoof::fragments`]); one (or a fragment) larger
//! than the route's MTU fails with `EMSGSIZE` ([`RawError::too_big`]) and the
//! caller counts it.

use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    sendmmsg, sendmsg, socket, AddressFamily, MsgFlags, MultiHeaders, SockFlag, SockProtocol,
    SockType, SockaddrIn, SockaddrIn6, SockaddrStorage,
};

use crate::spoof::{
    fragments, write_fragment_header, write_headers, HeaderError, MAX_FRAGMENT_HEADERS,
    MAX_HEADERS, UDP_HEADER,
};

/// Most datagrams [`RawSender::send_some`] hands the kernel in one `sendmmsg`.
pub const RAW_BATCH: usize = 64;

/// A raw socket to one receiver, opened (so a missing privilege shows) before
/// the thread that sends on it, which makes a [`RawSender`] of it.
#[derive(Debug)]
pub struct RawSocket {
    fd: OwnedFd,
    dst: SocketAddr,
}

impl RawSocket {
    /// A raw socket of `dst`'s family. Fails with `EPERM` (`io::ErrorKind::
    /// PermissionDenied`) without `CAP_NET_RAW`.
    pub fn open(dst: SocketAddr) -> io::Result<RawSocket> {
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
        Ok(RawSocket { fd, dst })
    }
}

/// Sends on a [`RawSocket`] from any source of the receiver's family (not `Send`:
/// it lives in the thread that sends).
pub struct RawSender {
    fd: OwnedFd,
    dst: SocketAddr,
    /// Largest packet sent whole; larger ones are fragmented.
    mtu: usize,
    /// The identification of the next fragmented datagram.
    next_id: u32,
    /// A fragment's IP (and IPv6 Fragment) header.
    frag: [u8; MAX_FRAGMENT_HEADERS],
    /// The headers of the datagram being sent (the payload is not copied).
    hdr: [u8; MAX_HEADERS],
    /// The headers of a batch, one slot per datagram, and their lengths.
    hdrs: Vec<[u8; MAX_HEADERS]>,
    lens: Vec<usize>,
    /// `sendmmsg`'s message headers, and the receiver (port 0, see `raw_dst`)
    /// once per message.
    batch: MultiHeaders<SockaddrStorage>,
    to: Vec<Option<SockaddrStorage>>,
}

impl std::fmt::Debug for RawSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSender").field("dst", &self.dst).finish()
    }
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
    /// The packet is larger than the route's MTU (the kernel does not fragment
    /// raw sockets' datagrams: the sender's MTU is larger than the route's).
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

/// The receiver as a raw socket's destination: its port must be 0 (or, for IPv6,
/// the protocol: raw(7), ipv6(7)); the UDP header carries the receiver's port.
fn raw_dst(dst: SocketAddr) -> SocketAddr {
    match dst {
        SocketAddr::V4(d) => SocketAddr::V4(std::net::SocketAddrV4::new(*d.ip(), 0)),
        SocketAddr::V6(d) => {
            SocketAddr::V6(std::net::SocketAddrV6::new(*d.ip(), 0, 0, d.scope_id()))
        }
    }
}

fn libc_emsgsize() -> i32 {
    nix::errno::Errno::EMSGSIZE as i32
}

impl RawSender {
    /// The sender of an open socket; datagrams whose packet would exceed `mtu`
    /// bytes go out in fragments of at most that.
    pub fn new(sock: RawSocket, mtu: usize) -> RawSender {
        let RawSocket { fd, dst } = sock;
        let to = SockaddrStorage::from(raw_dst(dst));
        RawSender {
            fd,
            dst,
            mtu,
            next_id: 1,
            frag: [0; MAX_FRAGMENT_HEADERS],
            hdr: [0; MAX_HEADERS],
            hdrs: vec![[0; MAX_HEADERS]; RAW_BATCH],
            lens: vec![0; RAW_BATCH],
            batch: MultiHeaders::preallocate(RAW_BATCH, None),
            to: vec![Some(to); RAW_BATCH],
        }
    }

    /// Send from the front of `ds` (each a source and a payload) in one
    /// `sendmmsg` of at most [`RAW_BATCH`]; returns how many went (0 only when
    /// `ds` is empty). An error concerns the first datagram: the caller counts it
    /// and goes on after it.
    pub fn send_some(&mut self, ds: &[(SocketAddr, &[u8])]) -> Result<usize, RawError> {
        let n = ds.len().min(RAW_BATCH);
        let mut ok = 0;
        for (i, &(src, payload)) in ds[..n].iter().enumerate() {
            match write_headers(&mut self.hdrs[i], src, self.dst, payload) {
                Ok(len) if len + payload.len() > self.mtu => {
                    if i == 0 {
                        return self.send_fragmented(src, payload).map(|()| 1);
                    }
                    // Alone, next time.
                    break;
                }
                Ok(len) => {
                    self.lens[i] = len;
                    ok += 1;
                }
                Err(e) if i == 0 => return Err(RawError::Header(e)),
                // Send those before it; it comes first next time.
                Err(_) => break,
            }
        }
        if ok == 0 {
            return Ok(0);
        }
        let iovs: Vec<[IoSlice<'_>; 2]> = (0..ok)
            .map(|i| {
                [
                    IoSlice::new(&self.hdrs[i][..self.lens[i]]),
                    IoSlice::new(ds[i].1),
                ]
            })
            .collect();
        let res = sendmmsg(
            self.fd.as_raw_fd(),
            &mut self.batch,
            iovs.iter(),
            &self.to[..ok],
            [],
            MsgFlags::empty(),
        )
        .map_err(|e| RawError::Io(io::Error::from(e)))?;
        Ok(res.count())
    }

    /// The receiver.
    pub fn dst(&self) -> SocketAddr {
        self.dst
    }

    /// Whether datagrams from `src` can be sent (same family as the receiver).
    pub fn can_send_from(&self, src: SocketAddr) -> bool {
        src.ip().to_canonical().is_ipv4() == self.dst.is_ipv4()
    }

    /// Send a datagram larger than the MTU in fragments (RFC 791 §2.3, RFC 8200
    /// §4.5), one `sendmsg` each: the IP header, then the fragment's part of the
    /// UDP header and payload (not copied).
    fn send_fragmented(&mut self, src: SocketAddr, payload: &[u8]) -> Result<(), RawError> {
        let n = write_headers(&mut self.hdr, src, self.dst, payload).map_err(RawError::Header)?;
        let udp = &self.hdr[n - UDP_HEADER..n];
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let to = raw_dst(self.dst);
        for f in fragments(self.dst.is_ipv6(), payload.len() + UDP_HEADER, self.mtu) {
            let h = write_fragment_header(&mut self.frag, src.ip(), self.dst.ip(), f, id)
                .map_err(RawError::Header)?;
            let end = f.offset + f.len;
            // The UDP header is the datagram's first 8 bytes: all in the first
            // fragment (at least 8 bytes long).
            let iov_first;
            let iov_rest;
            let iov: &[IoSlice<'_>] = if f.offset == 0 {
                iov_first = [
                    IoSlice::new(&self.frag[..h]),
                    IoSlice::new(udp),
                    IoSlice::new(&payload[..end - UDP_HEADER]),
                ];
                &iov_first
            } else {
                iov_rest = [
                    IoSlice::new(&self.frag[..h]),
                    IoSlice::new(&payload[f.offset - UDP_HEADER..end - UDP_HEADER]),
                ];
                &iov_rest
            };
            let fd = self.fd.as_raw_fd();
            let res = match to {
                SocketAddr::V4(d) => {
                    sendmsg(fd, iov, &[], MsgFlags::empty(), Some(&SockaddrIn::from(d)))
                }
                SocketAddr::V6(d) => {
                    sendmsg(fd, iov, &[], MsgFlags::empty(), Some(&SockaddrIn6::from(d)))
                }
            };
            res.map_err(|e| RawError::Io(io::Error::from(e)))?;
        }
        Ok(())
    }

    /// Send `payload` to the receiver as a UDP datagram from `src`.
    pub fn send(&mut self, src: SocketAddr, payload: &[u8]) -> Result<(), RawError> {
        self.send_some(&[(src, payload)]).map(|_| ())
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
        roundtrip_with(listen, src, b"flow datagram", 1500)
    }

    /// [`roundtrip`] of `payload`, fragmented above `mtu`.
    fn roundtrip_with(
        listen: &str,
        src: &str,
        payload: &[u8],
        mtu: usize,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        let rx = UdpSocket::bind(listen).expect("bind on loopback");
        rx.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let dst = rx.local_addr().expect("local address");
        let mut tx = match RawSocket::open(dst) {
            Ok(t) => RawSender::new(t, mtu),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("skipped: raw sockets need CAP_NET_RAW ({e})");
                return None;
            }
            Err(e) => panic!("raw socket: {e}"),
        };
        let src: SocketAddr = src.parse().expect("source");
        tx.send(src, payload).expect("sent");
        let mut buf = [0u8; 65536];
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
    fn datagrams_over_the_mtu_are_fragmented_and_reassembled_whole() {
        // The receiving kernel reassembles only fragments that agree: offsets,
        // more-fragments flags, identification, lengths and the UDP checksum.
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        if let Some((d, from)) = roundtrip_with("127.0.0.1:0", "127.0.0.77:40001", &payload, 1500) {
            assert_eq!(d, payload);
            assert_eq!(from, "127.0.0.77:40001".parse().expect("addr"));
        }
        if UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback");
            return;
        }
        if let Some((d, from)) = roundtrip_with("[::1]:0", "[::1]:40002", &payload, 1280) {
            assert_eq!(d, payload);
            assert_eq!(from, "[::1]:40002".parse().expect("addr"));
        }
    }

    #[test]
    fn a_batch_arrives_in_order_each_datagram_from_its_own_source() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind on loopback");
        rx.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let Ok(sock) = RawSocket::open(rx.local_addr().expect("local address")) else {
            eprintln!("skipped: raw sockets need CAP_NET_RAW");
            return;
        };
        let mut tx = RawSender::new(sock, 65535);
        let srcs: Vec<SocketAddr> = (0..RAW_BATCH + 3)
            .map(|i| SocketAddr::from(([127, 0, 0, 70 + (i % 5) as u8], 40000 + i as u16)))
            .collect();
        let payloads: Vec<Vec<u8>> = (0..srcs.len()).map(|i| vec![i as u8; 1 + i]).collect();
        let ds: Vec<(SocketAddr, &[u8])> = srcs
            .iter()
            .zip(&payloads)
            .map(|(s, p)| (*s, p.as_slice()))
            .collect();
        let mut at = 0;
        while at < ds.len() {
            let n = tx.send_some(&ds[at..]).expect("sent");
            assert!(n > 0 && n <= RAW_BATCH);
            at += n;
        }
        let mut buf = [0u8; 256];
        for (src, p) in &ds {
            let (n, from) = rx.recv_from(&mut buf).expect("received");
            assert_eq!((&buf[..n], from), (*p, *src));
        }
    }

    #[test]
    fn a_source_of_the_other_family_is_refused_before_the_kernel() {
        let Ok(sock) = RawSocket::open("127.0.0.1:9".parse().expect("addr")) else {
            eprintln!("skipped: raw sockets need CAP_NET_RAW");
            return;
        };
        let mut tx = RawSender::new(sock, 65535);
        assert!(!tx.can_send_from("[fd00::1]:1".parse().expect("addr")));
        assert!(tx.can_send_from("[::ffff:10.0.0.1]:1".parse().expect("addr")));
        assert!(matches!(
            tx.send("[fd00::1]:1".parse().expect("addr"), b"x"),
            Err(RawError::Header(HeaderError::Families { .. }))
        ));
    }
}
