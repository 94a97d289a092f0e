//! Batched UDP I/O, like `quinn-udp`: one small API (`RecvBatch::recv`,
//! `SendBatch::send`) over Linux `recvmmsg`/`sendmmsg`, so a busy collector or
//! exporter pays one system call per batch of datagrams, not per datagram.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

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

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_sender() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.connect(rx.local_addr().expect("addr")).expect("connect");
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
