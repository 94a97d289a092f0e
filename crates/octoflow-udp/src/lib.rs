//! Batched UDP I/O, like `quinn-udp`: one small API (`RecvBatch::recv`,
//! `SendBatch::send`) over Linux `recvmmsg`/`sendmmsg`, so a busy collector or
//! exporter pays one system call per batch of datagrams, not per datagram; and
//! UDP generic segmentation offload (`send_segments`, Linux ≥ 4.18): a run of
//! equal-size datagrams goes down the stack as one buffer that the kernel (or the
//! NIC) cuts into datagrams at the end, so the per-datagram cost of the IP stack is
//! paid once per run.
//!
//! Besides: [`raw`] sends datagrams with a router's source address and port
//! through a raw socket (`exporters[].preserve_source`), with headers from the
//! sans-IO [`spoof`].

pub mod raw;
pub mod spoof;

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
///
/// With [`enable_gro`] on the socket, one received message may hold a run of
/// datagrams that the kernel coalesced (UDP GRO, Linux ≥ 5.0: a sender's GSO run on
/// loopback, or a NIC's burst from one exporter); `recv` cuts it back into the
/// datagrams it was, at the segment size the kernel reports in the `UDP_GRO`
/// control message, so callers only ever see single datagrams.
pub struct RecvBatch {
    /// All slots in one allocation, `stride` bytes apart (see [`RecvBatch::new`]).
    arena: Vec<u8>,
    size: usize,
    stride: usize,
    headers: MultiHeaders<SockaddrStorage>,
    /// The datagrams of the last `recv`: start in `arena`, length, sender.
    got: Vec<(usize, usize, Option<SocketAddr>)>,
    /// Messages to ask for next: about as many datagrams per call as there are
    /// slots, whether messages are single datagrams or GRO runs of dozens (a
    /// call's worth of runs would be megabytes, decoded after the cache lost them).
    want: usize,
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// Ask the kernel to hand this socket coalesced runs of datagrams (UDP GRO).
/// Best effort: false when the kernel cannot (then datagrams come one by one).
pub fn enable_gro(sock: &UdpSocket) -> bool {
    nix::sys::socket::setsockopt(
        &std::os::fd::AsFd::as_fd(sock),
        nix::sys::socket::sockopt::UdpGroSegment,
        &true,
    )
    .is_ok()
}

impl RecvBatch {
    /// Room for `n` messages of up to `size` bytes each (64 KiB takes any UDP
    /// datagram and any GRO run).
    ///
    /// The slots sit in one zeroed allocation (pages the kernel never writes stay
    /// unbacked) a little more than `size` apart: slots exactly 64 KiB apart would
    /// put the start of every datagram in the same few cache sets (a cache's set
    /// index repeats every 64 KiB or less), so a batch of small datagrams would evict
    /// itself before it is decoded. 33 extra cache lines spread them over the sets.
    pub fn new(n: usize, size: usize) -> RecvBatch {
        let stride = size.div_ceil(64) * 64 + 33 * 64;
        RecvBatch {
            arena: vec![0u8; stride * n],
            size,
            stride,
            headers: MultiHeaders::preallocate(n, Some(nix::cmsg_space!(i32))),
            got: Vec::with_capacity(n),
            want: n,
        }
    }

    /// Wait (up to the socket's read timeout) for at least one message and take
    /// all that are queued, up to the batch size. Returns how many datagrams they
    /// hold; 0 when the timeout passed with nothing.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        use nix::sys::socket::ControlMessageOwned;
        self.got.clear();
        // Fresh headers each call: the kernel shrinks each message's control
        // length to what it wrote, and nix's recvmmsg does not restore it, so a
        // slot that once got no control message would never get the UDP_GRO one
        // again (three small allocations per call, not per datagram).
        self.headers =
            MultiHeaders::preallocate(self.arena.len() / self.stride, Some(nix::cmsg_space!(i32)));
        let (size, stride) = (self.size, self.stride);
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .arena
            .chunks_exact_mut(stride)
            .take(self.want)
            .map(|b| [IoSliceMut::new(&mut b[..size])])
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
        let mut messages = 0;
        for (k, m) in res.enumerate() {
            messages += 1;
            let from = m.address.as_ref().and_then(to_std);
            let segment = m.cmsgs().ok().and_then(|mut c| {
                c.find_map(|c| match c {
                    ControlMessageOwned::UdpGroSegments(s) if s > 0 => Some(s as usize),
                    _ => None,
                })
            });
            let (start, len) = (k * stride, m.bytes);
            match segment {
                Some(seg) if seg < len => {
                    let mut at = 0;
                    while at < len {
                        let l = seg.min(len - at);
                        self.got.push((start + at, l, from));
                        at += l;
                    }
                }
                _ => self.got.push((start, len, from)),
            }
        }
        if messages > 0 {
            // Datagrams per message this time sets how many messages to ask for.
            let slots = self.arena.len() / stride;
            let per_message = self.got.len().div_ceil(messages);
            self.want = slots.div_ceil(per_message).clamp(1, slots);
        }
        Ok(self.got.len())
    }

    /// The `i`-th datagram of the last `recv` and its sender.
    pub fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let (at, len, from) = self.got[i];
        (&self.arena[at..at + len], from)
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

/// Sends a connected socket's datagrams in as few system calls as it can: runs of
/// equal-size datagrams with GSO (one `sendmsg` a run), the rest with `sendmmsg`.
/// GSO is given up for good on the first error that says it cannot work here.
pub struct Sender {
    batch: SendBatch,
    gso: bool,
    /// Datagrams larger than this are never sent in GSO runs: a run of them
    /// failed with `EMSGSIZE` (each segment must fit the path MTU, and the kernel
    /// does not fragment segments), so they go one by one and the kernel
    /// fragments each.
    gso_max_segment: usize,
}

/// Why [`Sender::send_some`] sent nothing.
#[derive(Debug)]
pub struct SendFailed {
    pub error: io::Error,
    /// Datagrams at the front of the list the error is about (a GSO run fails whole).
    pub datagrams: usize,
}

impl Sender {
    pub fn new(batch: usize, gso: bool) -> Sender {
        Sender {
            batch: SendBatch::new(batch),
            gso,
            gso_max_segment: usize::MAX,
        }
    }

    /// Whether GSO is (still) in use.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Send from the front of `ds` in one system call: a GSO run, or the datagrams
    /// up to where the next run starts. Returns how many went (0 only when `ds` is
    /// empty or the kernel took none). When GSO turns out to be unsupported,
    /// [`Sender::gso`] becomes false and this sends without it.
    pub fn send_some(&mut self, sock: &UdpSocket, ds: &[&[u8]]) -> Result<usize, SendFailed> {
        if ds.is_empty() {
            return Ok(0);
        }
        let run = if self.gso_for(ds) { gso_run(ds) } else { 1 };
        if run >= 2 {
            match send_segments(sock, &ds[..run]) {
                Ok(()) => return Ok(run),
                Err(e) if gso_unsupported(&e) => self.gso = false,
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EMSGSIZE as i32) => {
                    self.gso_max_segment = ds[0].len() - 1;
                }
                Err(error) => {
                    return Err(SendFailed {
                        error,
                        datagrams: run,
                    })
                }
            }
        }
        let mut end = 1;
        while end < ds.len() && !(self.gso_for(&ds[end..]) && gso_run(&ds[end..]) >= 2) {
            end += 1;
        }
        self.batch
            .send(sock, &ds[..end])
            .map_err(|error| SendFailed {
                error,
                datagrams: 1,
            })
    }

    /// Whether a GSO run may start at the front of `ds`.
    fn gso_for(&self, ds: &[&[u8]]) -> bool {
        self.gso && ds.first().is_some_and(|d| d.len() <= self.gso_max_segment)
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
    fn a_gro_run_is_cut_back_into_its_datagrams() {
        let (tx, rx) = pair();
        let gro = enable_gro(&rx);
        let mut rb = RecvBatch::new(4, 65536);
        let mut got = Vec::new();
        let recv_all = |rb: &mut RecvBatch, want: usize, got: &mut Vec<Vec<u8>>| {
            let mut calls = 0;
            while got.len() < want {
                assert!(calls < 20, "{} of {want} datagrams came", got.len());
                let n = rb.recv(&rx).expect("recv");
                calls += 1;
                for i in 0..n {
                    let (d, from) = rb.get(i);
                    assert_eq!(from, Some(tx.local_addr().expect("addr")));
                    got.push(d.to_vec());
                }
            }
            calls
        };
        // A single datagram first: its slot gets no GRO control message, and
        // must still get one for the runs that follow.
        tx.send(&[7; 50]).expect("send");
        recv_all(&mut rb, 1, &mut got);
        let mut msgs: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i; 1000]).collect();
        msgs.push(vec![42; 10]);
        let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
        for round in 0..2 {
            match send_segments(&tx, &refs) {
                Ok(()) => {}
                Err(e) if gso_unsupported(&e) => return,
                Err(e) => panic!("send: {e}"),
            }
            got.clear();
            let calls = recv_all(&mut rb, msgs.len(), &mut got);
            assert_eq!(got, msgs, "round {round}");
            if gro {
                assert_eq!(calls, 1, "round {round}: the run came as one message");
            }
        }
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
