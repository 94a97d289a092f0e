//! Information elements shared by NetFlow v9 (RFC 3954 §8 field types) and IPFIX
//! (IANA "IPFIX Information Elements"; ids 1..=127 are the same in both), and how
//! each maps onto the canonical [`FlowRecord`](crate::FlowRecord).

/// IE ids octoflow reads or writes. Names follow the IANA registry.
pub mod id {
    pub const OCTET_DELTA_COUNT: u16 = 1;
    pub const PACKET_DELTA_COUNT: u16 = 2;
    pub const PROTOCOL_IDENTIFIER: u16 = 4;
    pub const IP_CLASS_OF_SERVICE: u16 = 5;
    pub const TCP_CONTROL_BITS: u16 = 6;
    pub const SOURCE_TRANSPORT_PORT: u16 = 7;
    pub const SOURCE_IPV4_ADDRESS: u16 = 8;
    pub const SOURCE_IPV4_PREFIX_LENGTH: u16 = 9;
    pub const INGRESS_INTERFACE: u16 = 10;
    pub const DESTINATION_TRANSPORT_PORT: u16 = 11;
    pub const DESTINATION_IPV4_ADDRESS: u16 = 12;
    pub const DESTINATION_IPV4_PREFIX_LENGTH: u16 = 13;
    pub const EGRESS_INTERFACE: u16 = 14;
    pub const IP_NEXT_HOP_IPV4_ADDRESS: u16 = 15;
    pub const BGP_SOURCE_AS_NUMBER: u16 = 16;
    pub const BGP_DESTINATION_AS_NUMBER: u16 = 17;
    pub const BGP_NEXT_HOP_IPV4_ADDRESS: u16 = 18;
    pub const FLOW_END_SYS_UP_TIME: u16 = 21;
    pub const FLOW_START_SYS_UP_TIME: u16 = 22;
    pub const SOURCE_IPV6_ADDRESS: u16 = 27;
    pub const DESTINATION_IPV6_ADDRESS: u16 = 28;
    pub const SOURCE_IPV6_PREFIX_LENGTH: u16 = 29;
    pub const DESTINATION_IPV6_PREFIX_LENGTH: u16 = 30;
    pub const ICMP_TYPE_CODE_IPV4: u16 = 32;
    pub const SAMPLING_INTERVAL: u16 = 34;
    pub const SAMPLING_ALGORITHM: u16 = 35;
    pub const SAMPLER_ID: u16 = 48;
    pub const SAMPLER_RANDOM_INTERVAL: u16 = 50;
    pub const SOURCE_MAC_ADDRESS: u16 = 56;
    pub const VLAN_ID: u16 = 58;
    pub const POST_VLAN_ID: u16 = 59;
    pub const IP_VERSION: u16 = 60;
    pub const FLOW_DIRECTION: u16 = 61;
    pub const IP_NEXT_HOP_IPV6_ADDRESS: u16 = 62;
    pub const BGP_NEXT_HOP_IPV6_ADDRESS: u16 = 63;
    pub const DESTINATION_MAC_ADDRESS: u16 = 80;
    pub const OCTET_TOTAL_COUNT: u16 = 85;
    pub const PACKET_TOTAL_COUNT: u16 = 86;
    pub const ICMP_TYPE_CODE_IPV6: u16 = 139;
    pub const METERING_PROCESS_ID: u16 = 143;
    pub const FLOW_START_SECONDS: u16 = 150;
    pub const FLOW_END_SECONDS: u16 = 151;
    pub const FLOW_START_MILLISECONDS: u16 = 152;
    pub const FLOW_END_MILLISECONDS: u16 = 153;
    pub const FLOW_START_MICROSECONDS: u16 = 154;
    pub const FLOW_END_MICROSECONDS: u16 = 155;
    pub const FLOW_START_NANOSECONDS: u16 = 156;
    pub const FLOW_END_NANOSECONDS: u16 = 157;
    pub const FLOW_START_DELTA_MICROSECONDS: u16 = 158;
    pub const FLOW_END_DELTA_MICROSECONDS: u16 = 159;
    pub const SYSTEM_INIT_TIME_MILLISECONDS: u16 = 160;
    pub const ICMP_TYPE_IPV4: u16 = 176;
    pub const ICMP_CODE_IPV4: u16 = 177;
    pub const ICMP_TYPE_IPV6: u16 = 178;
    pub const ICMP_CODE_IPV6: u16 = 179;
    pub const DOT1Q_VLAN_ID: u16 = 243;
    pub const SELECTOR_ID: u16 = 302;
    pub const SAMPLING_PACKET_INTERVAL: u16 = 305;
    pub const SAMPLING_PACKET_SPACE: u16 = 306;
}

/// Number of [`Target`] variants (the size of a decode layout).
pub(crate) const TARGETS: usize = Target::SystemInitMs as usize + 1;

/// What a field feeds in the canonical record (or in the exporter's options state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Ignore,
    Bytes,
    Packets,
    BytesTotal,
    PacketsTotal,
    Proto,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    SrcMask,
    DstMask,
    SrcMask6,
    DstMask6,
    InIf,
    OutIf,
    NextHopV4,
    NextHopV6,
    BgpNextHopV4,
    BgpNextHopV6,
    SrcAs,
    DstAs,
    FirstUptime,
    LastUptime,
    FirstSecs,
    LastSecs,
    FirstMs,
    LastMs,
    FirstNtpUs,
    LastNtpUs,
    FirstDeltaUs,
    LastDeltaUs,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    SamplingInterval,
    SamplerId,
    SamplerRandomInterval,
    SamplingPacketInterval,
    SamplingPacketSpace,
    SrcMac,
    DstMac,
    SrcVlan,
    DstVlan,
    Direction,
    IpVersion,
    SystemInitMs,
}

/// Map an IANA IE (enterprise 0) to its target; `len` guards fields whose
/// meaning depends on their size (addresses, MACs).
pub(crate) fn target(ie: u16, len: u16) -> Target {
    use id::*;
    use Target::*;
    let t = match ie {
        OCTET_DELTA_COUNT => Bytes,
        PACKET_DELTA_COUNT => Packets,
        OCTET_TOTAL_COUNT => BytesTotal,
        PACKET_TOTAL_COUNT => PacketsTotal,
        PROTOCOL_IDENTIFIER => Proto,
        IP_CLASS_OF_SERVICE => Tos,
        TCP_CONTROL_BITS => TcpFlags,
        SOURCE_TRANSPORT_PORT => SrcPort,
        DESTINATION_TRANSPORT_PORT => DstPort,
        SOURCE_IPV4_ADDRESS if len == 4 => SrcV4,
        DESTINATION_IPV4_ADDRESS if len == 4 => DstV4,
        SOURCE_IPV6_ADDRESS if len == 16 => SrcV6,
        DESTINATION_IPV6_ADDRESS if len == 16 => DstV6,
        SOURCE_IPV4_PREFIX_LENGTH => SrcMask,
        DESTINATION_IPV4_PREFIX_LENGTH => DstMask,
        SOURCE_IPV6_PREFIX_LENGTH => SrcMask6,
        DESTINATION_IPV6_PREFIX_LENGTH => DstMask6,
        INGRESS_INTERFACE => InIf,
        EGRESS_INTERFACE => OutIf,
        IP_NEXT_HOP_IPV4_ADDRESS if len == 4 => NextHopV4,
        IP_NEXT_HOP_IPV6_ADDRESS if len == 16 => NextHopV6,
        BGP_NEXT_HOP_IPV4_ADDRESS if len == 4 => BgpNextHopV4,
        BGP_NEXT_HOP_IPV6_ADDRESS if len == 16 => BgpNextHopV6,
        BGP_SOURCE_AS_NUMBER => SrcAs,
        BGP_DESTINATION_AS_NUMBER => DstAs,
        FLOW_START_SYS_UP_TIME => FirstUptime,
        FLOW_END_SYS_UP_TIME => LastUptime,
        FLOW_START_SECONDS => FirstSecs,
        FLOW_END_SECONDS => LastSecs,
        FLOW_START_MILLISECONDS => FirstMs,
        FLOW_END_MILLISECONDS => LastMs,
        FLOW_START_MICROSECONDS | FLOW_START_NANOSECONDS if len == 8 => FirstNtpUs,
        FLOW_END_MICROSECONDS | FLOW_END_NANOSECONDS if len == 8 => LastNtpUs,
        FLOW_START_DELTA_MICROSECONDS => FirstDeltaUs,
        FLOW_END_DELTA_MICROSECONDS => LastDeltaUs,
        ICMP_TYPE_CODE_IPV4 | ICMP_TYPE_CODE_IPV6 => IcmpTypeCode,
        ICMP_TYPE_IPV4 | ICMP_TYPE_IPV6 => IcmpType,
        ICMP_CODE_IPV4 | ICMP_CODE_IPV6 => IcmpCode,
        SAMPLING_INTERVAL => SamplingInterval,
        SAMPLER_ID | SELECTOR_ID => SamplerId,
        SAMPLER_RANDOM_INTERVAL => SamplerRandomInterval,
        SAMPLING_PACKET_INTERVAL => SamplingPacketInterval,
        SAMPLING_PACKET_SPACE => SamplingPacketSpace,
        SOURCE_MAC_ADDRESS if len == 6 => SrcMac,
        DESTINATION_MAC_ADDRESS if len == 6 => DstMac,
        VLAN_ID | DOT1Q_VLAN_ID => SrcVlan,
        POST_VLAN_ID => DstVlan,
        FLOW_DIRECTION => Direction,
        IP_VERSION => IpVersion,
        SYSTEM_INIT_TIME_MILLISECONDS => SystemInitMs,
        _ => Ignore,
    };
    // Counters and numbers above 8 bytes cannot be read as integers.
    if len > 8 && !matches!(t, SrcV6 | DstV6 | NextHopV6 | BgpNextHopV6) {
        Ignore
    } else {
        t
    }
}
