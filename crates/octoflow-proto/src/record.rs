//! The canonical flow record: one shape for every version in and out.

use std::net::{IpAddr, Ipv4Addr};

/// Flow direction as in IPFIX `flowDirection` (IE 61).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Direction {
    #[default]
    Unknown,
    Ingress,
    Egress,
}

/// One unidirectional flow, whatever version it came in.
///
/// Conventions:
/// - a field the exporter did not send is 0 (addresses: `0.0.0.0`; MACs: all zero);
/// - `first_ms`/`last_ms` are absolute Unix milliseconds (NetFlow's sysUptime-relative
///   times are resolved with the export header);
/// - for ICMP and ICMPv6, `dst_port` holds `type * 256 + code` and `src_port` is 0 (the
///   NetFlow v5 convention), and `icmp_type`/`icmp_code` hold the same;
/// - `packets`/`bytes` are as the exporter counted them: *not* scaled by the sampling
///   interval. `bytes` is the layer-3 length (IP header and payload). For sFlow, each
///   flow sample becomes one record with `packets = 1` and `bytes` = the IP total length
///   read from the sampled header (the sampled IPv4/IPv6 record's length field), i.e.
///   without Ethernet header and FCS, so it compares with NetFlow's octet counts;
/// - `sampling_interval` is 1-in-N (0 or 1 = unsampled); for sFlow it is the sample's
///   sampling rate, for v5 the header's interval, for v9/IPFIX the record's own field or
///   the exporter's options data;
/// - `exporter` and `domain` say where the record came from: the exporting device's
///   address (sFlow: the agent address) and the v9 source id / IPFIX observation domain
///   (v5: engine type << 8 | engine id; sFlow: sub-agent id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowRecord {
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub tos: u8,
    pub tcp_flags: u8,
    pub packets: u64,
    pub bytes: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    pub input_if: u32,
    pub output_if: u32,
    pub src_as: u32,
    pub dst_as: u32,
    pub src_mask: u8,
    pub dst_mask: u8,
    pub next_hop: IpAddr,
    pub src_vlan: u16,
    pub dst_vlan: u16,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub direction: Direction,
    pub sampling_interval: u32,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub exporter: IpAddr,
    pub domain: u32,
    /// BGP next hop (IE 18 / 63), from the exporter or from enrichment.
    pub bgp_next_hop: IpAddr,
    /// ISO 3166 country codes of the addresses (`*b"SE"`), from enrichment;
    /// zero when unknown.
    pub src_country: [u8; 2],
    pub dst_country: [u8; 2],
}

const V4_ZERO: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Default for FlowRecord {
    fn default() -> Self {
        FlowRecord {
            src_addr: V4_ZERO,
            dst_addr: V4_ZERO,
            src_port: 0,
            dst_port: 0,
            proto: 0,
            tos: 0,
            tcp_flags: 0,
            packets: 0,
            bytes: 0,
            first_ms: 0,
            last_ms: 0,
            input_if: 0,
            output_if: 0,
            src_as: 0,
            dst_as: 0,
            src_mask: 0,
            dst_mask: 0,
            next_hop: V4_ZERO,
            src_vlan: 0,
            dst_vlan: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            direction: Direction::Unknown,
            sampling_interval: 0,
            icmp_type: 0,
            icmp_code: 0,
            exporter: V4_ZERO,
            domain: 0,
            bgp_next_hop: V4_ZERO,
            src_country: [0; 2],
            dst_country: [0; 2],
        }
    }
}

impl FlowRecord {
    /// A record with every field set to a distinct, plausible value (an ICMP
    /// type and code that a TCP flow would not have, to show both): for tests
    /// and examples that must see every field.
    pub fn example() -> FlowRecord {
        FlowRecord {
            src_addr: IpAddr::from([10, 0, 0, 1]),
            dst_addr: IpAddr::from([192, 0, 2, 200]),
            src_port: 51234,
            dst_port: 443,
            proto: 6,
            tos: 0x28,
            tcp_flags: 0x1b,
            packets: 12,
            bytes: 9000,
            first_ms: 1_767_225_590_123,
            last_ms: 1_767_225_599_007,
            input_if: 4,
            output_if: 70000,
            src_as: 64512,
            dst_as: 4_200_000_000,
            src_mask: 24,
            dst_mask: 16,
            next_hop: IpAddr::from([10, 0, 0, 254]),
            src_vlan: 10,
            dst_vlan: 4094,
            src_mac: [0x02, 0, 0x5e, 0x10, 0xab, 0xcd],
            dst_mac: [0xff, 0xee, 0, 1, 2, 3],
            direction: Direction::Egress,
            sampling_interval: 1000,
            icmp_type: 7,
            icmp_code: 9,
            exporter: IpAddr::from([198, 51, 100, 7]),
            domain: 258,
            bgp_next_hop: IpAddr::from([192, 0, 2, 1]),
            src_country: *b"SE",
            dst_country: *b"JP",
        }
    }

    /// True when both addresses are IPv4 (v4-mapped IPv6 counts as IPv4).
    pub fn is_ipv4(&self) -> bool {
        v4(self.src_addr).is_some() && v4(self.dst_addr).is_some()
    }

    /// True for ICMP and ICMPv6.
    pub fn is_icmp(&self) -> bool {
        self.proto == 1 || self.proto == 58
    }

    /// Set the ICMP type/code and the NetFlow port convention together.
    pub fn set_icmp(&mut self, icmp_type: u8, icmp_code: u8) {
        self.icmp_type = icmp_type;
        self.icmp_code = icmp_code;
        self.src_port = 0;
        self.dst_port = (icmp_type as u16) << 8 | icmp_code as u16;
    }

    /// Packets scaled by the sampling interval (an estimate of the real count).
    pub fn scaled_packets(&self) -> u64 {
        self.packets
            .saturating_mul(self.sampling_interval.max(1) as u64)
    }

    /// Bytes scaled by the sampling interval.
    pub fn scaled_bytes(&self) -> u64 {
        self.bytes
            .saturating_mul(self.sampling_interval.max(1) as u64)
    }
}

/// The IPv4 address behind `a`, if it is IPv4 or v4-mapped IPv6.
pub fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(x) => Some(x),
        IpAddr::V6(x) => x.to_ipv4_mapped(),
    }
}
