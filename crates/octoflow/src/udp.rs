//! Batched UDP I/O, like `quinn-udp`: one small API (`RecvBatch::recv`,
//! `SendBatch::send`) over Linux `recvmmsg`/`sendmmsg`, so a busy collector or
//! exporter pays one system call per batch of datagrams, not per datagram; and
//! UDP generic segmentation offload (`send_segments`, Linux ≥ 4.18): a run of
//! equal-size datagrams goes down the stack as one buffer that the kernel (or the
//! NIC) cuts into datagrams at the end, so the per-datagram cost of the IP stack is
//! paid once per run.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmmsg, sendmmsg, sendmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Most segments in one GSO send (the kernel's UDP_MAX_SEGMENTS).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Most bytes in one GSO send: what fits one IPv4 or IPv6 UDP packet.
pub const GSO_MAX_BYTES: usize = 65_000;

/// How many datagrams from the start of `ds` form one GSO run: all of one size
/// except a shorter last one, within the kernel's limits. A run of 1 is not worth it.
pub fn gso_run(ds: &[&[u8]]) -> usize {
    let Some(first) = ds.first() else { return 0 };
    let seg = first.len();
    if seg == 0 || seg > u16::MAX as usize {
        return 1;
    }
    let (mut k, mut total) = (1, seg);
    while k < ds.len() && k < GSO_MAX_SEGMENTS {
        let l = ds[k].len();
        if l == 0 || l > seg || total + l > GSO_MAX_BYTES {
            break;
        }
        total += l;
        k += 1;
        if l < seg {
            break;
        }
    }
    k
}

/// Send a run of datagrams (see [`gso_run`]) in one `sendmsg` with `UDP_SEGMENT`:
/// the receiver gets them as separate datagrams, exactly as they are.
pub fn send_segments(sock: &UdpSocket, run: &[&[u8]]) -> io::Result<()> {
    let seg = run.first().map_or(0, |d| d.len()) as u16;
    let iov: Vec<IoSlice<'_>> = run.iter().map(|d| IoSlice::new(d)).collect();
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::UdpGsoSegments(&seg)],
        MsgFlags::empty(),
        None,
    )
    .map_err(io::Error::from)?;
    Ok(())
}

/// True for the errors that say GSO cannot be used on this socket or path (old
/// kernel, a device without checksum offload): send datagram by datagram instead.
pub fn gso_unsupported(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP)
    )
}

/// Datagrams received in one call.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    headers: MultiHeaders<SockaddrStorage>,
    lens: Vec<usize>,
    from: Vec<Option<SocketAddr>>,
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

impl RecvBatch {
    /// Room for `n` datagrams of up to `size` bytes each.
    pub fn new(n: usize, size: usize) -> RecvBatch {
        RecvBatch {
            bufs: vec![vec![0u8; size]; n],
            headers: MultiHeaders::preallocate(n, None),
            lens: Vec::with_capacity(n),
            from: Vec::with_capacity(n),
        }
    }

    /// Wait (up to the socket's read timeout) for at least one datagram and take
    /// all that are queued, up to the batch size. Returns how many; 0 when the
    /// timeout passed with nothing.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        self.lens.clear();
        self.from.clear();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..])])
            .collect();
        let res = recvmmsg(
            sock.as_raw_fd(),
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        );
        let res = match res {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN) => return Ok(0),
            Err(e) => return Err(io::Error::from(e)),
        };
        for m in res {
            self.lens.push(m.bytes);
            self.from.push(m.address.as_ref().and_then(to_std));
        }
        Ok(self.lens.len())
    }

    /// The `i`-th datagram of the last `recv` and its sender.
    pub fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        (&self.bufs[i][..self.lens[i]], self.from[i])
    }
}

/// Sends many datagrams on a connected socket in one call.
pub struct SendBatch {
    headers: MultiHeaders<SockaddrStorage>,
    none: Vec<Option<SockaddrStorage>>,
}

impl SendBatch {
    pub fn new(n: usize) -> SendBatch {
        SendBatch {
            headers: MultiHeaders::preallocate(n, None),
            none: vec![None; n],
        }
    }

    /// Send as many of `datagrams` as one call takes (at most the batch size);
    /// returns how many went. An error concerns the first unsent datagram.
    pub fn send(&mut self, sock: &UdpSocket, datagrams: &[&[u8]]) -> io::Result<usize> {
        let n = datagrams.len().min(self.none.len());
        if n == 0 {
            return Ok(0);
        }
        let iovs: Vec<[IoSlice<'_>; 1]> =
            datagrams[..n].iter().map(|d| [IoSlice::new(d)]).collect();
        let res = sendmmsg(
            sock.as_raw_fd(),
            &mut self.headers,
            iovs.iter(),
            &self.none[..n],
            [],
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        Ok(res.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiving socket on 127.0.0.1 and a sender connected to it.
    fn pair() -> (UdpSocket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.connect(rx.local_addr().expect("addr")).expect("connect");
        (tx, rx)
    }

    #[test]
    fn gso_runs_are_equal_sizes_with_a_shorter_last() {
        let (a, b, c) = (vec![0u8; 1000], vec![0u8; 600], vec![0u8; 1200]);
        let r = |v: &[&Vec<u8>]| gso_run(&v.iter().map(|x| &x[..]).collect::<Vec<_>>());
        assert_eq!(r(&[]), 0);
        assert_eq!(r(&[&a]), 1);
        assert_eq!(r(&[&a, &a, &a, &b, &a]), 4, "a shorter one ends the run");
        assert_eq!(r(&[&a, &c]), 1, "a longer one cannot follow");
        assert_eq!(r(&[&b, &b]), 2);
        let big = vec![0u8; 1100];
        let many: Vec<&Vec<u8>> = std::iter::repeat_n(&big, 100).collect();
        assert_eq!(r(&many), 59, "at most 65 000 bytes");
        let small = vec![0u8; 100];
        let many: Vec<&Vec<u8>> = std::iter::repeat_n(&small, 100).collect();
        assert_eq!(r(&many), GSO_MAX_SEGMENTS);
    }

    #[test]
    fn segments_arrive_as_the_datagrams_they_were() {
        let (tx, rx) = pair();
        let mut msgs: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; 1200]).collect();
        msgs.push(vec![9; 300]);
        let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
        assert_eq!(gso_run(&refs), 8);
        match send_segments(&tx, &refs) {
            Ok(()) => {}
            // A kernel without UDP GSO: nothing to test here.
            Err(e) if gso_unsupported(&e) => return,
            Err(e) => panic!("send: {e}"),
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while got.len() < msgs.len() {
            let n = rx.recv(&mut buf).expect("recv");
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, msgs);
    }

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_sender() {
        let (tx, rx) = pair();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 + i as usize]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
        let mut sb = SendBatch::new(8);
        let mut sent = 0;
        while sent < refs.len() {
            sent += sb.send(&tx, &refs[sent..]).expect("send");
        }
        let mut rb = RecvBatch::new(16, 2048);
        let mut got = Vec::new();
        while got.len() < 10 {
            let n = rb.recv(&rx).expect("recv");
            for i in 0..n {
                let (d, from) = rb.get(i);
                assert_eq!(from, Some(tx.local_addr().expect("addr")));
                got.push(d.to_vec());
            }
        }
        assert_eq!(got, msgs);
    }
}
