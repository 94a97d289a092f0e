//! Rows for octoflow's stream and database outputs: each flow record, with what
//! the collector knew of its datagram ([`Meta`]), in the shape a consumer of
//! another project reads.
//!
//! Sans-IO like `octoflow-encode`: every encoder appends bytes to a caller's
//! buffer, allocates nothing per record, keeps no clock and does no I/O; the
//! output kinds in the `octoflow` crate move the bytes.
//!
//! - [`goflow`]: goflow2's `FlowMessage`, as length-delimited protobuf (the
//!   `.proto` is `proto/flow.proto`) or as one JSON object per flow.
//! - [`clickhouse`]: ClickHouse `RowBinary` rows, for the flow-pipeline's
//!   `flows_raw` table or a table of every field.
//! - [`pgcopy`]: PostgreSQL binary `COPY` rows, for the flow-pipeline
//!   inserter's table.
//! - [`resp`]: Redis commands and replies (RESP2).

pub mod clickhouse;
pub mod goflow;
pub mod pgcopy;
pub mod resp;
mod wire;

use std::net::IpAddr;

use octoflow_proto::Version;

/// What a row needs beyond the record: where and when its datagram came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The export protocol of the datagram.
    pub version: Version,
    /// When the collector received the datagram, Unix ms.
    pub received_ms: u64,
    /// The datagram's sequence number (v5/v9/IPFIX header, sFlow datagram).
    pub sequence: u32,
}

/// An address as 16 bytes, IPv4 as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), the
/// form every row format here uses for addresses.
pub fn mapped(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The Ethernet type of a record's addresses: 0x0800 IPv4, 0x86dd IPv6.
pub fn etype(src: IpAddr) -> u16 {
    match src {
        IpAddr::V4(_) => 0x0800,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => 0x0800,
        IpAddr::V6(_) => 0x86dd,
    }
}

/// A MAC address as the low 48 bits of an integer (goflow2's form).
pub fn mac_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b))
}
