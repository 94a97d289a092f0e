//! Sequence numbers: the one place an output stream's sequence number advances.
//!
//! Each receiver's numbers are its own and continuous per output stream, whatever
//! other receivers get, so its loss accounting is right. What one step counts
//! differs by version:
//! - NetFlow v9: export packets (RFC 3954 §5.1, "Sequence Number");
//! - IPFIX: data records, options data records included (RFC 7011 §3.1);
//! - NetFlow v5: flows (the header's `flow_sequence`);
//! - sFlow v5: datagrams (the datagram's sequence number, starting at 1).

use octoflow_proto::Dialect;

/// An output stream's sequence counter. Only its methods move it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sequence(u32);

impl Sequence {
    /// The number for the next v9/IPFIX message header or v5 header.
    pub(crate) fn current(self) -> u32 {
        self.0
    }

    /// A v9 or IPFIX message with `data_records` data records was written.
    pub(crate) fn message(&mut self, dialect: Dialect, data_records: u32) {
        self.0 = match dialect {
            Dialect::V9 => self.0.wrapping_add(1),
            Dialect::Ipfix => self.0.wrapping_add(data_records),
        };
    }

    /// A v5 datagram with `flows` records was written.
    pub(crate) fn v5(&mut self, flows: u32) {
        self.0 = self.0.wrapping_add(flows);
    }

    /// The number for the next sFlow datagram (sFlow numbers its datagrams
    /// from 1).
    pub(crate) fn sflow_next(self) -> u32 {
        self.0.wrapping_add(1)
    }

    /// An sFlow datagram numbered [`Sequence::sflow_next`] was written.
    pub(crate) fn sflow_datagram(&mut self) {
        self.0 = self.0.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_counts_its_own_unit() {
        let mut v9 = Sequence::default();
        v9.message(Dialect::V9, 25);
        v9.message(Dialect::V9, 3);
        assert_eq!(v9.current(), 2, "v9 counts packets");
        let mut ipfix = Sequence::default();
        ipfix.message(Dialect::Ipfix, 25);
        ipfix.message(Dialect::Ipfix, 3);
        assert_eq!(ipfix.current(), 28, "IPFIX counts data records");
        let mut v5 = Sequence::default();
        v5.v5(30);
        v5.v5(18);
        assert_eq!(v5.current(), 48, "v5 counts flows");
        let mut sf = Sequence::default();
        assert_eq!(sf.sflow_next(), 1, "sFlow starts at 1");
        sf.sflow_datagram();
        assert_eq!(sf.sflow_next(), 2);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Sequence(u32::MAX);
        s.message(Dialect::Ipfix, 2);
        assert_eq!(s.current(), 1);
    }
}
