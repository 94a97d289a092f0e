//! Sampled packet headers (sFlow raw packet header records): parse Ethernet,
//! 802.1Q/QinQ, IPv4, IPv6 with extension headers, TCP, UDP, ICMP/ICMPv6 into a
//! flow; and build a minimal header from a flow (for sFlow encoding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::record::FlowRecord;
use crate::wire::{u16_at, u32_at};

/// sFlow `header_protocol` values (sFlow v5 spec, "sampled_header").
pub const HEADER_PROTO_ETHERNET: u32 = 1;
pub const HEADER_PROTO_IPV4: u32 = 11;
pub const HEADER_PROTO_IPV6: u32 = 12;

/// Parse an Ethernet frame's start. Returns true when an IP header was found and
/// addresses, protocol, ToS, length and ports (when present) were filled.
pub fn parse_ethernet(b: &[u8], r: &mut FlowRecord) -> bool {
    if b.len() < 14 {
        return false;
    }
    r.dst_mac.copy_from_slice(&b[0..6]);
    r.src_mac.copy_from_slice(&b[6..12]);
    let mut et = u16_at(b, 12);
    let mut p = 14;
    let mut first_tag = true;
    // 802.1Q (0x8100), 802.1ad (0x88a8) and the old QinQ 0x9100: the outer tag is the VLAN.
    while matches!(et, 0x8100 | 0x88a8 | 0x9100) {
        if b.len() < p + 4 {
            return false;
        }
        if first_tag {
            r.src_vlan = u16_at(b, p) & 0x0fff;
            first_tag = false;
        }
        et = u16_at(b, p + 2);
        p += 4;
    }
    match et {
        0x0800 => parse_ipv4(&b[p..], r),
        0x86dd => parse_ipv6(&b[p..], r),
        _ => false,
    }
}

/// Parse an IPv4 header and what follows.
pub fn parse_ipv4(b: &[u8], r: &mut FlowRecord) -> bool {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return false;
    }
    let ihl = ((b[0] & 0x0f) as usize) * 4;
    r.tos = b[1];
    r.bytes = u16_at(b, 2) as u64;
    r.proto = b[9];
    r.src_addr = IpAddr::V4(Ipv4Addr::from(u32_at(b, 12)));
    r.dst_addr = IpAddr::V4(Ipv4Addr::from(u32_at(b, 16)));
    let frag_offset = u16_at(b, 6) & 0x1fff;
    if frag_offset == 0 && ihl >= 20 && b.len() >= ihl {
        parse_l4(&b[ihl..], r.proto, r);
    }
    true
}

/// Parse an IPv6 header, walk its extension headers (RFC 8200 §4), then L4.
pub fn parse_ipv6(b: &[u8], r: &mut FlowRecord) -> bool {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return false;
    }
    r.tos = ((u16_at(b, 0) >> 4) & 0xff) as u8;
    r.bytes = u16_at(b, 4) as u64 + 40;
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[8..24]);
    r.src_addr = IpAddr::V6(Ipv6Addr::from(a));
    a.copy_from_slice(&b[24..40]);
    r.dst_addr = IpAddr::V6(Ipv6Addr::from(a));
    let mut nh = b[6];
    let mut p = 40;
    loop {
        match nh {
            // Hop-by-hop, routing, destination options, mobility: (len + 1) * 8 bytes.
            0 | 43 | 60 | 135 => {
                if b.len() < p + 2 {
                    r.proto = nh;
                    return true;
                }
                nh = b[p];
                p += (b[p + 1] as usize + 1) * 8;
            }
            // Fragment header: 8 bytes; only the first fragment has ports.
            44 => {
                if b.len() < p + 8 {
                    r.proto = nh;
                    return true;
                }
                let off = u16_at(b, p + 2) >> 3;
                nh = b[p];
                p += 8;
                if off != 0 {
                    r.proto = nh;
                    return true;
                }
            }
            // Authentication header: (len + 2) * 4 bytes (RFC 4302 §2.2).
            51 => {
                if b.len() < p + 2 {
                    r.proto = nh;
                    return true;
                }
                nh = b[p];
                p += (b[p + 1] as usize + 2) * 4;
            }
            _ => break,
        }
    }
    r.proto = nh;
    if p <= b.len() {
        parse_l4(&b[p..], nh, r);
    }
    true
}

fn parse_l4(b: &[u8], proto: u8, r: &mut FlowRecord) {
    match proto {
        6 if b.len() >= 14 => {
            r.src_port = u16_at(b, 0);
            r.dst_port = u16_at(b, 2);
            r.tcp_flags = b[13];
        }
        6 | 17 | 132 if b.len() >= 4 => {
            r.src_port = u16_at(b, 0);
            r.dst_port = u16_at(b, 2);
        }
        1 | 58 if b.len() >= 2 => r.set_icmp(b[0], b[1]),
        _ => {}
    }
}

/// Build an Ethernet (+802.1Q when `src_vlan` is set) + IP + L4 header for `r` into
/// `out` (at least 128 bytes); returns its length. The IP length field says
/// `r.bytes`; payload bytes are not included (as a sampled header would cut them).
pub fn build_header(r: &FlowRecord, out: &mut [u8; 128]) -> usize {
    let mut p = 0;
    let mut put = |b: &[u8], p: &mut usize| {
        out[*p..*p + b.len()].copy_from_slice(b);
        *p += b.len();
    };
    put(&r.dst_mac, &mut p);
    put(&r.src_mac, &mut p);
    if r.src_vlan != 0 {
        put(&0x8100u16.to_be_bytes(), &mut p);
        put(&(r.src_vlan & 0x0fff).to_be_bytes(), &mut p);
    }
    let l4 = l4_header(r);
    let l4 = &l4.0[..l4.1];
    match (crate::record::v4(r.src_addr), crate::record::v4(r.dst_addr)) {
        (Some(s), Some(d)) => {
            put(&0x0800u16.to_be_bytes(), &mut p);
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[1] = r.tos;
            ip[2..4].copy_from_slice(&(r.bytes.min(65535) as u16).to_be_bytes());
            ip[8] = 64;
            ip[9] = r.proto;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let ck = checksum(&ip);
            ip[10..12].copy_from_slice(&ck.to_be_bytes());
            put(&ip, &mut p);
        }
        _ => {
            put(&0x86ddu16.to_be_bytes(), &mut p);
            let mut ip = [0u8; 40];
            let vtf = (6u32 << 28) | ((r.tos as u32) << 20);
            ip[0..4].copy_from_slice(&vtf.to_be_bytes());
            ip[4..6].copy_from_slice(&(r.bytes.saturating_sub(40).min(65535) as u16).to_be_bytes());
            ip[6] = r.proto;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&v6_of(r.src_addr).octets());
            ip[24..40].copy_from_slice(&v6_of(r.dst_addr).octets());
            put(&ip, &mut p);
        }
    }
    put(l4, &mut p);
    p
}

fn v6_of(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(x) => x,
        IpAddr::V4(x) => x.to_ipv6_mapped(),
    }
}

fn l4_header(r: &FlowRecord) -> ([u8; 20], usize) {
    let mut h = [0u8; 20];
    match r.proto {
        6 => {
            h[0..2].copy_from_slice(&r.src_port.to_be_bytes());
            h[2..4].copy_from_slice(&r.dst_port.to_be_bytes());
            h[12] = 5 << 4;
            h[13] = r.tcp_flags;
            (h, 20)
        }
        17 => {
            h[0..2].copy_from_slice(&r.src_port.to_be_bytes());
            h[2..4].copy_from_slice(&r.dst_port.to_be_bytes());
            h[4..6].copy_from_slice(&(r.bytes.saturating_sub(20).min(65535) as u16).to_be_bytes());
            (h, 8)
        }
        1 | 58 => {
            h[0] = r.icmp_type;
            h[1] = r.icmp_code;
            (h, 8)
        }
        _ => (h, 0),
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
