//! The encoder's output: ready-to-send datagrams back to back in one buffer, so
//! the sender can hand a run of them to the kernel at once, each with where it
//! came from ([`Origin`]).

use std::net::SocketAddr;

/// Whose datagram an output datagram is: what `preserve_source` sends it from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// octoflow's own: built from canonical records with octoflow's templates
    /// ([`crate::Path::Convert`]), sent from octoflow's socket.
    #[default]
    Own,
    /// The router's: its datagram unchanged, or its templates and records (v9,
    /// IPFIX), records (v5) or samples (sFlow) copied under its header, from one
    /// router's stream. The address and port are those of the input datagram
    /// it came from (the latest of the stream's, for held messages).
    Router(SocketAddr),
}

/// Datagrams ready to send, back to back in one buffer.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: Vec<u8>,
    /// (start, length) of each datagram in `buf`.
    pub datagrams: Vec<(usize, usize)>,
    /// Where each datagram of `datagrams` came from (same index).
    pub origins: Vec<Origin>,
    /// The origin of datagrams committed from now on (set by each path before it
    /// writes).
    origin: Origin,
}

impl Out {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.datagrams.clear();
        self.origins.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.datagrams.iter().map(|&(s, n)| &self.buf[s..s + n])
    }

    /// Each datagram with its origin.
    pub fn iter_origins(&self) -> impl Iterator<Item = (&[u8], Origin)> {
        self.iter().zip(self.origins.iter().copied())
    }

    /// Datagrams committed from now on come from `o`.
    pub(crate) fn from(&mut self, o: Origin) {
        self.origin = o;
    }

    /// Room for a datagram of up to `max` bytes at the end; returns its start.
    pub(crate) fn begin(&mut self, max: usize) -> usize {
        let start = self.buf.len();
        self.buf.resize(start + max, 0);
        start
    }

    /// The datagram begun at `start` is `len` bytes long and complete.
    pub(crate) fn commit(&mut self, start: usize, len: usize) {
        self.buf.truncate(start + len);
        self.datagrams.push((start, len));
        self.origins.push(self.origin);
    }

    /// Drop the datagram begun at `start`.
    pub(crate) fn abort(&mut self, start: usize) {
        self.buf.truncate(start);
    }
}
