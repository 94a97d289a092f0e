//! The encoder's output: ready-to-send datagrams back to back in one buffer, so
//! the sender can hand a run of them to the kernel at once.

/// Datagrams ready to send, back to back in one buffer.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: Vec<u8>,
    /// (start, length) of each datagram in `buf`.
    pub datagrams: Vec<(usize, usize)>,
}

impl Out {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.datagrams.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.datagrams.iter().map(|&(s, n)| &self.buf[s..s + n])
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
    }

    /// Drop the datagram begun at `start`.
    pub(crate) fn abort(&mut self, start: usize) {
        self.buf.truncate(start);
    }
}
