//! Encoding a canonical [`FlowRecord`] as a data record of a template: the general
//! field-by-field encoder, and the straight-line one for octoflow's own data
//! template (whose field list, [`own_fields`], lives here too).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Dialect, FieldSpec, Template, TimeBase};
use crate::error::EncodeError;
use crate::ie::Target;
use crate::record::FlowRecord;
use crate::wire::Writer;

impl Template {
    /// Encode a canonical record with this template's fields (any fixed-length
    /// template; octoflow's own in straight-line code). Times go out in the form the
    /// template's fields (or, for octoflow's own, its dialect) ask for; sysUptime ones
    /// relative to `tb.uptime_ms` (0 when unset) at `tb.export_ms`.
    pub(crate) fn encode_record(
        &self,
        r: &FlowRecord,
        tb: &TimeBase,
        w: &mut Writer<'_>,
    ) -> Result<(), EncodeError> {
        let len = self
            .fixed_len
            .ok_or(EncodeError::Unconvertible("variable-length template"))?;
        w.room(len)?;
        if let Some(v6) = self.own {
            encode_own(self.dialect, v6, r, tb, &mut w.buf[w.pos..w.pos + len]);
            w.pos += len;
            return Ok(());
        }
        self.encode_fields(r, tb, w)
    }

    /// The general encoder: field by field, for any fixed-length template.
    pub(super) fn encode_fields(
        &self,
        r: &FlowRecord,
        tb: &TimeBase,
        w: &mut Writer<'_>,
    ) -> Result<(), EncodeError> {
        for (f, &t) in self.fields.iter().zip(&self.targets) {
            let n = f.len as usize;
            use Target::*;
            match t {
                SrcV4 | DstV4 | NextHopV4 | BgpNextHopV4 => {
                    let a = match t {
                        SrcV4 => r.src_addr,
                        DstV4 => r.dst_addr,
                        BgpNextHopV4 => r.bgp_next_hop,
                        _ => r.next_hop,
                    };
                    let v = crate::record::v4(a).unwrap_or(Ipv4Addr::UNSPECIFIED);
                    w.put(&v.octets())?
                }
                SrcV6 | DstV6 | NextHopV6 | BgpNextHopV6 => {
                    let a = match t {
                        SrcV6 => r.src_addr,
                        DstV6 => r.dst_addr,
                        BgpNextHopV6 => r.bgp_next_hop,
                        _ => r.next_hop,
                    };
                    let v = match a {
                        IpAddr::V6(x) => x,
                        IpAddr::V4(x) if x.is_unspecified() => Ipv6Addr::UNSPECIFIED,
                        IpAddr::V4(x) => x.to_ipv6_mapped(),
                    };
                    w.put(&v.octets())?
                }
                SrcMac => w.put(&r.src_mac)?,
                DstMac => w.put(&r.dst_mac)?,
                FirstUptime | LastUptime => {
                    let abs = if t == FirstUptime {
                        r.first_ms
                    } else {
                        r.last_ms
                    };
                    let up = tb.uptime_ms.unwrap_or(0);
                    // uptime at `abs` = uptime now - (now - abs), modulo 2^32.
                    let v = up.wrapping_sub(tb.export_ms.wrapping_sub(abs) as u32);
                    w.uint(v as u64, n)?
                }
                _ => {
                    let v: u64 = match t {
                        Bytes | BytesTotal => r.bytes,
                        Packets | PacketsTotal => r.packets,
                        Proto => r.proto as u64,
                        Tos => r.tos as u64,
                        TcpFlags => r.tcp_flags as u64,
                        SrcPort => r.src_port as u64,
                        DstPort => r.dst_port as u64,
                        SrcMask | SrcMask6 => r.src_mask as u64,
                        DstMask | DstMask6 => r.dst_mask as u64,
                        InIf => r.input_if as u64,
                        OutIf => r.output_if as u64,
                        SrcAs => r.src_as as u64,
                        DstAs => r.dst_as as u64,
                        FirstSecs => r.first_ms / 1000,
                        LastSecs => r.last_ms / 1000,
                        FirstMs => r.first_ms,
                        LastMs => r.last_ms,
                        IcmpTypeCode => ((r.icmp_type as u64) << 8) | r.icmp_code as u64,
                        IcmpType => r.icmp_type as u64,
                        IcmpCode => r.icmp_code as u64,
                        SamplingInterval | SamplerRandomInterval => r.sampling_interval as u64,
                        SrcVlan => r.src_vlan as u64,
                        DstVlan => r.dst_vlan as u64,
                        Direction => match r.direction {
                            crate::record::Direction::Ingress => 0,
                            crate::record::Direction::Egress => 1,
                            crate::record::Direction::Unknown => 0xff,
                        },
                        _ => 0,
                    };
                    w.uint(v, n.min(8))?;
                    if n > 8 {
                        w.zeros(n - 8)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A record in octoflow's own data template ([`own_fields`], in that order),
/// written out field by field into `b` (exactly the record's length). Agrees with
/// [`Template::encode_fields`] byte for byte (tested).
fn encode_own(dialect: Dialect, v6: bool, r: &FlowRecord, tb: &TimeBase, b: &mut [u8]) {
    struct Put<'a>(&'a mut [u8], usize);
    impl Put<'_> {
        #[inline(always)]
        fn n<const N: usize>(&mut self, v: [u8; N]) {
            self.0[self.1..self.1 + N].copy_from_slice(&v);
            self.1 += N;
        }
    }
    let mut p = Put(b, 0);
    let addr = |p: &mut Put<'_>, a: IpAddr| {
        if v6 {
            p.n(match a {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) if x.is_unspecified() => [0; 16],
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            });
        } else {
            p.n(crate::record::v4(a)
                .unwrap_or(Ipv4Addr::UNSPECIFIED)
                .octets());
        }
    };
    for a in [r.src_addr, r.dst_addr, r.next_hop] {
        addr(&mut p, a);
    }
    p.n(r.input_if.to_be_bytes());
    p.n(r.output_if.to_be_bytes());
    p.n(r.packets.to_be_bytes());
    p.n(r.bytes.to_be_bytes());
    match dialect {
        Dialect::V9 => {
            // uptime at `abs` = uptime now - (now - abs), modulo 2^32.
            let up = tb.uptime_ms.unwrap_or(0);
            let at = |abs: u64| up.wrapping_sub(tb.export_ms.wrapping_sub(abs) as u32);
            p.n(at(r.first_ms).to_be_bytes());
            p.n(at(r.last_ms).to_be_bytes());
        }
        Dialect::Ipfix => {
            p.n(r.first_ms.to_be_bytes());
            p.n(r.last_ms.to_be_bytes());
        }
    }
    p.n(r.src_port.to_be_bytes());
    p.n(r.dst_port.to_be_bytes());
    p.n([r.tcp_flags, r.proto, r.tos, r.src_mask, r.dst_mask]);
    // No flowDirection: it has no value for "unknown" (RFC 5102 §5.11.6 defines
    // 0 ingress, 1 egress); flows with a known direction use the template with it
    // (`own_direction_template`).
    p.n(r.src_as.to_be_bytes());
    p.n(r.dst_as.to_be_bytes());
    addr(&mut p, r.bgp_next_hop);
    p.n(r.src_vlan.to_be_bytes());
    p.n(r.dst_vlan.to_be_bytes());
    p.n([r.icmp_type, r.icmp_code]);
    p.n(r.src_mac);
    p.n(r.dst_mac);
    p.n(r.sampling_interval.to_be_bytes());
    debug_assert_eq!(p.1, p.0.len());
}

/// The fields of octoflow's own data template, in order. [`Template::new`] recognises
/// exactly this list and then encodes records in straight-line code.
pub(crate) fn own_fields(dialect: Dialect, ipv6: bool) -> [FieldSpec; 25] {
    use crate::ie::id::*;
    let (src, dst, nh, bgp_nh, smask, dmask, icmp) = if ipv6 {
        (
            FieldSpec::iana(SOURCE_IPV6_ADDRESS, 16),
            FieldSpec::iana(DESTINATION_IPV6_ADDRESS, 16),
            FieldSpec::iana(IP_NEXT_HOP_IPV6_ADDRESS, 16),
            FieldSpec::iana(BGP_NEXT_HOP_IPV6_ADDRESS, 16),
            FieldSpec::iana(SOURCE_IPV6_PREFIX_LENGTH, 1),
            FieldSpec::iana(DESTINATION_IPV6_PREFIX_LENGTH, 1),
            FieldSpec::iana(ICMP_TYPE_CODE_IPV6, 2),
        )
    } else {
        (
            FieldSpec::iana(SOURCE_IPV4_ADDRESS, 4),
            FieldSpec::iana(DESTINATION_IPV4_ADDRESS, 4),
            FieldSpec::iana(IP_NEXT_HOP_IPV4_ADDRESS, 4),
            FieldSpec::iana(BGP_NEXT_HOP_IPV4_ADDRESS, 4),
            FieldSpec::iana(SOURCE_IPV4_PREFIX_LENGTH, 1),
            FieldSpec::iana(DESTINATION_IPV4_PREFIX_LENGTH, 1),
            FieldSpec::iana(ICMP_TYPE_CODE_IPV4, 2),
        )
    };
    let (first, last) = match dialect {
        Dialect::V9 => (
            FieldSpec::iana(FLOW_START_SYS_UP_TIME, 4),
            FieldSpec::iana(FLOW_END_SYS_UP_TIME, 4),
        ),
        Dialect::Ipfix => (
            FieldSpec::iana(FLOW_START_MILLISECONDS, 8),
            FieldSpec::iana(FLOW_END_MILLISECONDS, 8),
        ),
    };
    [
        src,
        dst,
        nh,
        FieldSpec::iana(INGRESS_INTERFACE, 4),
        FieldSpec::iana(EGRESS_INTERFACE, 4),
        FieldSpec::iana(PACKET_DELTA_COUNT, 8),
        FieldSpec::iana(OCTET_DELTA_COUNT, 8),
        first,
        last,
        FieldSpec::iana(SOURCE_TRANSPORT_PORT, 2),
        FieldSpec::iana(DESTINATION_TRANSPORT_PORT, 2),
        FieldSpec::iana(TCP_CONTROL_BITS, 1),
        FieldSpec::iana(PROTOCOL_IDENTIFIER, 1),
        FieldSpec::iana(IP_CLASS_OF_SERVICE, 1),
        smask,
        dmask,
        FieldSpec::iana(BGP_SOURCE_AS_NUMBER, 4),
        FieldSpec::iana(BGP_DESTINATION_AS_NUMBER, 4),
        bgp_nh,
        FieldSpec::iana(VLAN_ID, 2),
        FieldSpec::iana(POST_VLAN_ID, 2),
        icmp,
        FieldSpec::iana(SOURCE_MAC_ADDRESS, 6),
        FieldSpec::iana(DESTINATION_MAC_ADDRESS, 6),
        FieldSpec::iana(SAMPLING_INTERVAL, 4),
    ]
}
