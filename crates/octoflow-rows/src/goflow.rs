//! goflow2's `FlowMessage` (`proto/flow.proto`): the flow-pipeline's message on
//! Kafka, as length-delimited protobuf ([`protobuf`]) or one JSON object per
//! flow ([`json`]).
//!
//! Field numbers and meanings are goflow2's, so its consumers read ours; the
//! differences (addresses always 16 bytes, IPv4 mapped) are in the `.proto`.

use std::io::Write as _;
use std::net::IpAddr;

use octoflow_proto::{FlowRecord, RouteAttrs, Version};

use crate::wire::{bytes, packed, uint, varint_len};
use crate::{etype, mac_u64, mapped, Meta};

/// `FlowMessage.FlowType`.
pub fn flow_type(v: Version) -> u32 {
    match v {
        Version::Sflow => 1,
        Version::V5 => 2,
        Version::V9 => 3,
        Version::Ipfix => 4,
    }
}

/// The `FlowType` name, as goflow2's JSON shows it.
pub fn flow_type_name(v: Version) -> &'static str {
    match v {
        Version::Sflow => "SFLOW_5",
        Version::V5 => "NETFLOW_V5",
        Version::V9 => "NETFLOW_V9",
        Version::Ipfix => "IPFIX",
    }
}

/// Most AS numbers or communities a message carries. A BGP UPDATE of 4096
/// bytes cannot hold more (RFC 4271 §4.3); longer lists, possible only with
/// RFC 8654's extended messages, are cut here.
pub const MAX_ROUTE_LIST: usize = 1023;

/// Longest message [`protobuf`] writes: 5 addresses of 16 bytes, every
/// scalar field at its widest varint, and two packed lists of at most
/// [`MAX_ROUTE_LIST`] 32-bit varints; under 2^14 (a 2-byte length).
const MAX_MESSAGE: usize = 5 * (2 + 16) + 40 * (3 + 10) + 2 * (2 + 2 + MAX_ROUTE_LIST * 5);

/// Append `r` as one length-delimited `FlowMessage` (a varint byte count, then
/// the message), the framing ClickHouse's `Protobuf` format reads. `route`,
/// the record's destination route when it was enriched from BGP or BMP, gives
/// `as_path` and `bgp_communities` (standard communities, `asn << 16 | value`,
/// as goflow2 has them).
pub fn protobuf(r: &FlowRecord, m: &Meta, route: Option<&RouteAttrs>, out: &mut Vec<u8>) {
    // The length comes first but is known last: write the message after a
    // 2-byte gap, then close the gap if the length needs only one byte.
    const _: () = assert!(MAX_MESSAGE < 1 << 14);
    let start = out.len();
    out.extend_from_slice(&[0, 0]);
    let body = out.len();
    uint(out, 1, u64::from(flow_type(m.version)));
    uint(out, 3, u64::from(r.sampling_interval));
    uint(out, 4, u64::from(m.sequence));
    bytes(out, 6, &mapped(r.src_addr));
    bytes(out, 7, &mapped(r.dst_addr));
    uint(out, 9, r.bytes);
    uint(out, 10, r.packets);
    bytes(out, 11, &mapped(r.exporter));
    bytes(out, 12, &mapped(r.next_hop));
    uint(out, 14, u64::from(r.src_as));
    uint(out, 15, u64::from(r.dst_as));
    uint(out, 16, u64::from(r.src_mask));
    uint(out, 17, u64::from(r.dst_mask));
    uint(out, 18, u64::from(r.input_if));
    uint(out, 19, u64::from(r.output_if));
    uint(out, 20, u64::from(r.proto));
    uint(out, 21, u64::from(r.src_port));
    uint(out, 22, u64::from(r.dst_port));
    uint(out, 23, u64::from(r.tos));
    uint(out, 26, u64::from(r.tcp_flags));
    uint(out, 27, mac_u64(r.src_mac));
    uint(out, 28, mac_u64(r.dst_mac));
    uint(out, 30, u64::from(etype(r.src_addr)));
    uint(out, 31, u64::from(r.icmp_type));
    uint(out, 32, u64::from(r.icmp_code));
    uint(out, 33, u64::from(r.src_vlan));
    uint(out, 34, u64::from(r.dst_vlan));
    uint(out, 70, u64::from(r.domain));
    uint(out, 110, m.received_ms.saturating_mul(1_000_000));
    uint(out, 111, r.first_ms.saturating_mul(1_000_000));
    uint(out, 112, r.last_ms.saturating_mul(1_000_000));
    if !r.bgp_next_hop.is_unspecified() {
        bytes(out, 100, &mapped(r.bgp_next_hop));
    }
    if let Some(a) = route {
        let cut = |l: &[u32]| l.len().min(MAX_ROUTE_LIST);
        packed(out, 101, &a.communities()[..cut(a.communities())]);
        packed(out, 102, &a.as_path()[..cut(a.as_path())]);
    }
    let len = out.len() - body;
    debug_assert!(len <= MAX_MESSAGE);
    if varint_len(len as u64) == 1 {
        out[start] = len as u8;
        out.copy_within(body.., start + 1);
        out.truncate(start + 1 + len);
    } else {
        // Two bytes exactly (len < 2^14), in the gap.
        out[start] = (len as u8) | 0x80;
        out[start + 1] = (len >> 7) as u8;
    }
}

/// Append `r` as one line of JSON (and a newline) with goflow2's key names:
/// numbers as numbers, addresses as text (IPv4 plain), `type` by name, MACs as
/// `aa:bb:cc:dd:ee:ff`. Keys whose value is 0 are kept, so every line has the
/// same keys (JSONEachRow readers want that).
pub fn json(r: &FlowRecord, m: &Meta, out: &mut Vec<u8>) {
    let a = |x: IpAddr| Addr(x);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        concat!(
            r#"{{"type":"{}","time_received_ns":{},"sequence_num":{},"sampling_rate":{},"#,
            r#""sampler_address":"{}","time_flow_start_ns":{},"time_flow_end_ns":{},"#,
            r#""bytes":{},"packets":{},"src_addr":"{}","dst_addr":"{}","etype":{},"proto":{},"#,
            r#""src_port":{},"dst_port":{},"in_if":{},"out_if":{},"src_mac":"{}","dst_mac":"{}","#,
            r#""src_vlan":{},"dst_vlan":{},"ip_tos":{},"tcp_flags":{},"icmp_type":{},"icmp_code":{},"#,
            r#""src_as":{},"dst_as":{},"next_hop":"{}","src_net":{},"dst_net":{},"observation_domain_id":{}}}"#,
            "\n"
        ),
        flow_type_name(m.version),
        m.received_ms.saturating_mul(1_000_000),
        m.sequence,
        r.sampling_interval,
        a(r.exporter),
        r.first_ms.saturating_mul(1_000_000),
        r.last_ms.saturating_mul(1_000_000),
        r.bytes,
        r.packets,
        a(r.src_addr),
        a(r.dst_addr),
        etype(r.src_addr),
        r.proto,
        r.src_port,
        r.dst_port,
        r.input_if,
        r.output_if,
        Mac(r.src_mac),
        Mac(r.dst_mac),
        r.src_vlan,
        r.dst_vlan,
        r.tos,
        r.tcp_flags,
        r.icmp_type,
        r.icmp_code,
        r.src_as,
        r.dst_as,
        a(r.next_hop),
        r.src_mask,
        r.dst_mask,
        r.domain,
    );
}

/// An address as text, IPv4-mapped IPv6 shown as IPv4.
struct Addr(IpAddr);

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.fmt(f),
                None => v6.fmt(f),
            },
            v4 => v4.fmt(f),
        }
    }
}

struct Mac([u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[cfg(test)]
mod tests;
