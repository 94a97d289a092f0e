//! The IPv4 or IPv6 header and the UDP header of a datagram sent through a raw
//! socket ([`crate::raw`]) with a source that is not this host's: the router's
//! address and port, as samplicator's `-S` does. Sans-IO: a pure function that
//! writes the headers into the caller's buffer, so the socket code only moves
//! bytes and the headers are tested without a network.
//!
//! What the kernel does with them: an IPv4 raw socket with `IP_HDRINCL` (implied
//! by `IPPROTO_RAW`, raw(7)) fills in the IPv4 header checksum and, when zero, the
//! identification; nothing else. An IPv6 one sends the header as written. Neither
//! touches the UDP header, so its checksum is computed here, over the
//! pseudo-header of RFC 768 (IPv4) or RFC 8200 §8.1 (IPv6).
//!
//! Nor does the kernel fragment them: [`fragments`] cuts a datagram larger than
//! the MTU and [`write_fragment_header`] writes each fragment's IPv4 header (MF
//! and offset, RFC 791 §3.1) or IPv6 header and Fragment header (RFC 8200 §4.5),
//! as the router's own stack would have.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes of an IPv4 header without options (RFC 791 §3.1).
pub const IPV4_HEADER: usize = 20;
/// Bytes of the IPv6 fixed header (RFC 8200 §3).
pub const IPV6_HEADER: usize = 40;
/// Bytes of a UDP header (RFC 768).
pub const UDP_HEADER: usize = 8;
/// Room [`write_headers`] needs: an IPv6 and a UDP header.
pub const MAX_HEADERS: usize = IPV6_HEADER + UDP_HEADER;
/// The TTL (IPv4) or hop limit (IPv6) of the datagrams: Linux's default.
pub const TTL: u8 = 64;
/// IANA protocol number of UDP (the IPv4 protocol / IPv6 next header).
const UDP: u8 = 17;

/// Why headers could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The source and the destination are of different address families: an
    /// IPv4 router's address cannot be the source of an IPv6 datagram.
    Families { src: SocketAddr, dst: SocketAddr },
    /// The payload does not fit the length fields (IPv4 total length, UDP length:
    /// 16 bits; IPv6 jumbograms are not made).
    TooLong(usize),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Families { src, dst } => write!(
                f,
                "the source {src} and the receiver {dst} are of different address families"
            ),
            HeaderError::TooLong(n) => write!(f, "a payload of {n} bytes does not fit a datagram"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Bytes of an IPv6 Fragment header (RFC 8200 §4.5).
pub const FRAGMENT_HEADER: usize = 8;
/// Room [`write_fragment_header`] needs: an IPv6 and a Fragment header.
pub const MAX_FRAGMENT_HEADERS: usize = IPV6_HEADER + FRAGMENT_HEADER;
/// IANA protocol number of the IPv6 Fragment header.
const IPV6_FRAGMENT: u8 = 44;

/// One fragment of a UDP datagram larger than the MTU: `len` bytes from `offset`
/// of the UDP datagram (its header included), and whether more follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub offset: usize,
    pub len: usize,
    pub more: bool,
}

/// How a UDP datagram of `udp_len` bytes (its header included) is cut so each
/// IPv4 or IPv6 packet fits `mtu`: every fragment's data but the last is a
/// multiple of 8 bytes (RFC 791 §3.2 "fragment offset"; RFC 8200 §4.5), the
/// IPv6 ones after a Fragment header. One fragment when it fits whole.
pub fn fragments(v6: bool, udp_len: usize, mtu: usize) -> impl Iterator<Item = Fragment> {
    let room = if v6 {
        mtu.saturating_sub(IPV6_HEADER + FRAGMENT_HEADER)
    } else {
        mtu.saturating_sub(IPV4_HEADER)
    };
    // At least 8 bytes a fragment, whatever the MTU says (the kernel then refuses).
    let step = (room / 8 * 8).max(8);
    (0..udp_len.div_ceil(step)).map(move |i| {
        let offset = i * step;
        let len = step.min(udp_len - offset);
        Fragment {
            offset,
            len,
            more: offset + len < udp_len,
        }
    })
}

/// The IP header of fragment `f` of a UDP datagram from `src` to `dst` (IPv6: and
/// its Fragment header), with the datagram's `id`; returns its length. The
/// fragment's data follows it: bytes `f.offset..f.offset + f.len` of the UDP
/// datagram whose header [`write_headers`] wrote (its checksum covers the
/// whole datagram, so it is the same cut or not).
pub fn write_fragment_header(
    hdr: &mut [u8; MAX_FRAGMENT_HEADERS],
    src: IpAddr,
    dst: IpAddr,
    f: Fragment,
    id: u32,
) -> Result<usize, HeaderError> {
    let offset_field = (f.offset / 8) as u16;
    match (src.to_canonical(), dst.to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = IPV4_HEADER + f.len;
            if total > usize::from(u16::MAX) || f.offset / 8 > 0x1fff {
                return Err(HeaderError::TooLong(f.offset + f.len));
            }
            ipv4(&mut hdr[..IPV4_HEADER], s, d, total as u16);
            // Identification (the kernel fills in only a zero one, per packet,
            // and fragments must share theirs), MF, fragment offset in 8 bytes.
            let id16 = (id as u16).max(1);
            hdr[4..6].copy_from_slice(&id16.to_be_bytes());
            let flags = offset_field | if f.more { 0x2000 } else { 0 };
            hdr[6..8].copy_from_slice(&flags.to_be_bytes());
            hdr[10..12].copy_from_slice(&[0, 0]);
            let c = fold(sum(0, &hdr[..IPV4_HEADER]));
            hdr[10..12].copy_from_slice(&(!c).to_be_bytes());
            Ok(IPV4_HEADER)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let payload = FRAGMENT_HEADER + f.len;
            if payload > usize::from(u16::MAX) || f.offset / 8 > 0x1fff {
                return Err(HeaderError::TooLong(f.offset + f.len));
            }
            ipv6(&mut hdr[..IPV6_HEADER], s, d, payload as u16);
            hdr[6] = IPV6_FRAGMENT;
            let h = &mut hdr[IPV6_HEADER..];
            h[0] = UDP; // next header
            h[1] = 0; // reserved
            let field = (offset_field << 3) | u16::from(f.more);
            h[2..4].copy_from_slice(&field.to_be_bytes());
            h[4..8].copy_from_slice(&id.to_be_bytes());
            Ok(MAX_FRAGMENT_HEADERS)
        }
        _ => Err(HeaderError::Families {
            src: SocketAddr::new(src, 0),
            dst: SocketAddr::new(dst, 0),
        }),
    }
}

/// Write the IP and UDP headers of `payload` sent from `src` to `dst` at the start
/// of `hdr`; returns their length (28 for IPv4, 48 for IPv6). The datagram on the
/// wire is `hdr[..n]` followed by `payload`.
///
/// IPv4: no options, DF clear (a router on the way may fragment), identification
/// 0 (the kernel picks one), TTL [`TTL`]. IPv6: traffic class and flow label 0, hop
/// limit [`TTL`]. A v4-mapped IPv6 address counts as IPv4.
pub fn write_headers(
    hdr: &mut [u8; MAX_HEADERS],
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Result<usize, HeaderError> {
    let udp_len = payload.len() + UDP_HEADER;
    match (src.ip().to_canonical(), dst.ip().to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = udp_len + IPV4_HEADER;
            if total > usize::from(u16::MAX) {
                return Err(HeaderError::TooLong(payload.len()));
            }
            ipv4(&mut hdr[..IPV4_HEADER], s, d, total as u16);
            let sum = pseudo_v4(s, d, udp_len as u16);
            udp(
                &mut hdr[IPV4_HEADER..IPV4_HEADER + UDP_HEADER],
                sum,
                src.port(),
                dst.port(),
                payload,
            );
            Ok(IPV4_HEADER + UDP_HEADER)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            if udp_len > usize::from(u16::MAX) {
                return Err(HeaderError::TooLong(payload.len()));
            }
            ipv6(&mut hdr[..IPV6_HEADER], s, d, udp_len as u16);
            let sum = pseudo_v6(s, d, udp_len as u32);
            udp(
                &mut hdr[IPV6_HEADER..],
                sum,
                src.port(),
                dst.port(),
                payload,
            );
            Ok(MAX_HEADERS)
        }
        _ => Err(HeaderError::Families { src, dst }),
    }
}

/// The IPv4 header (RFC 791 §3.1), its checksum included.
fn ipv4(h: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, total: u16) {
    h[0] = 0x45; // version 4, IHL 5 words
    h[1] = 0; // DSCP / ECN
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&[0, 0]); // identification: the kernel's
    h[6..8].copy_from_slice(&[0, 0]); // flags (DF clear, MF clear), offset 0
    h[8] = TTL;
    h[9] = UDP;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = fold(sum(0, &h[..IPV4_HEADER]));
    h[10..12].copy_from_slice(&(!c).to_be_bytes());
}

/// The IPv6 fixed header (RFC 8200 §3).
fn ipv6(h: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, payload_len: u16) {
    h[0..4].copy_from_slice(&[0x60, 0, 0, 0]); // version 6, class 0, flow label 0
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = UDP;
    h[7] = TTL;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// The IPv4 pseudo-header's sum (RFC 768): source, destination, zero, protocol,
/// UDP length.
fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u64 {
    let s = sum(0, &src.octets());
    let s = sum(s, &dst.octets());
    s + u64::from(UDP) + u64::from(udp_len)
}

/// The IPv6 pseudo-header's sum (RFC 8200 §8.1): source, destination, the
/// upper-layer packet length as 32 bits, three zero bytes, next header.
fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, udp_len: u32) -> u64 {
    let s = sum(0, &src.octets());
    let s = sum(s, &dst.octets());
    s + u64::from(udp_len >> 16) + u64::from(udp_len & 0xffff) + u64::from(UDP)
}

/// The UDP header (RFC 768), its checksum over the pseudo-header's `sum`, the
/// header and the payload.
fn udp(h: &mut [u8], pseudo: u64, sport: u16, dport: u16, payload: &[u8]) {
    let len = (payload.len() + UDP_HEADER) as u16;
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    h[6..8].copy_from_slice(&[0, 0]);
    let s = sum(pseudo, &h[..UDP_HEADER]);
    let c = !fold(sum(s, payload));
    // RFC 768: a computed checksum of zero is sent as all ones (zero means "none",
    // which IPv6 does not allow: RFC 8200 §8.1).
    let c = if c == 0 { 0xffff } else { c };
    h[6..8].copy_from_slice(&c.to_be_bytes());
}

/// Add `b` as big-endian 16-bit words to `acc` (RFC 1071 §4.1); an odd last byte
/// is padded with a zero. Only the last slice summed may have an odd length.
fn sum(mut acc: u64, b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold the carries of a one's complement sum into 16 bits.
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's check, done the receiver's way and byte by byte rather than word
    /// by word: the one's complement sum of everything the checksum covers, the
    /// checksum included, is all ones.
    fn verifies(parts: &[&[u8]]) -> bool {
        let bytes: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let mut acc: u32 = 0;
        for (i, b) in bytes.iter().enumerate() {
            acc += if i % 2 == 0 {
                u32::from(*b) << 8
            } else {
                u32::from(*b)
            };
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc == 0xffff
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn the_ipv4_header_checksum_matches_a_known_header() {
        // A header whose checksum is well known (0xb861): 192.168.0.1 -> .199,
        // total length 0x73, DF set, TTL 64, UDP.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00,
            0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = !fold(sum(0, &h));
        assert_eq!(c, 0xb861);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verifies(&[&h]));
    }

    #[test]
    fn ipv4_headers_carry_the_routers_address_and_port_and_verify() {
        for len in [0usize, 1, 2, 3, 1372, 1473] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut h = [0u8; MAX_HEADERS];
            let (src, dst) = (sa("10.77.1.2:40001"), sa("10.77.2.2:9001"));
            let n = write_headers(&mut h, src, dst, &payload).expect("fits");
            assert_eq!(n, 28);
            let ip = &h[..20];
            assert_eq!(ip[0], 0x45);
            assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, 28 + len);
            assert_eq!(ip[6] & 0x40, 0, "DF is clear");
            assert_eq!((ip[8], ip[9]), (64, 17));
            assert_eq!(&ip[12..16], &[10, 77, 1, 2]);
            assert_eq!(&ip[16..20], &[10, 77, 2, 2]);
            assert!(verifies(&[ip]), "IPv4 header checksum, payload {len}");
            let u = &h[20..28];
            assert_eq!(u16::from_be_bytes([u[0], u[1]]), 40001);
            assert_eq!(u16::from_be_bytes([u[2], u[3]]), 9001);
            assert_eq!(u16::from_be_bytes([u[4], u[5]]) as usize, 8 + len);
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&ip[12..20]);
            pseudo.extend_from_slice(&[0, 17]);
            pseudo.extend_from_slice(&((8 + len) as u16).to_be_bytes());
            assert!(
                verifies(&[&pseudo, u, &payload]),
                "UDP checksum, payload {len}"
            );
        }
    }

    #[test]
    fn ipv6_headers_carry_the_routers_address_and_port_and_verify() {
        for len in [0usize, 1, 2, 1231, 1452] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let mut h = [0u8; MAX_HEADERS];
            let (src, dst) = (sa("[fd77:1::2]:40002"), sa("[fd77:2::2]:9101"));
            let n = write_headers(&mut h, src, dst, &payload).expect("fits");
            assert_eq!(n, 48);
            let ip = &h[..40];
            assert_eq!(ip[0] >> 4, 6);
            assert_eq!(u16::from_be_bytes([ip[4], ip[5]]) as usize, 8 + len);
            assert_eq!((ip[6], ip[7]), (17, 64));
            assert_eq!(
                &ip[8..24],
                &"fd77:1::2".parse::<Ipv6Addr>().expect("v6").octets()
            );
            assert_eq!(
                &ip[24..40],
                &"fd77:2::2".parse::<Ipv6Addr>().expect("v6").octets()
            );
            let u = &h[40..48];
            assert_eq!(u16::from_be_bytes([u[0], u[1]]), 40002);
            assert_eq!(u16::from_be_bytes([u[2], u[3]]), 9101);
            assert_ne!(u16::from_be_bytes([u[6], u[7]]), 0, "mandatory over IPv6");
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&ip[8..40]);
            pseudo.extend_from_slice(&((8 + len) as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
            assert!(
                verifies(&[&pseudo, u, &payload]),
                "UDP checksum, payload {len}"
            );
        }
    }

    #[test]
    fn a_udp_checksum_that_computes_to_zero_is_sent_as_all_ones() {
        // Find a two-byte payload whose checksum computes to zero (RFC 768).
        let (src, dst) = (sa("10.0.0.1:1"), sa("10.0.0.2:2"));
        let mut h = [0u8; MAX_HEADERS];
        let mut found = false;
        for v in 0..=u16::MAX {
            let payload = v.to_be_bytes();
            write_headers(&mut h, src, dst, &payload).expect("fits");
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&h[12..20]);
            pseudo.extend_from_slice(&[0, 17, 0, 10]);
            let mut u = [0u8; 8];
            u.copy_from_slice(&h[20..28]);
            u[6..8].copy_from_slice(&[0, 0]);
            if !fold(sum(sum(sum(0, &pseudo), &u), &payload)) == 0 {
                assert_eq!(&h[26..28], &[0xff, 0xff]);
                assert!(verifies(&[&pseudo, &h[20..28], &payload]));
                found = true;
                break;
            }
        }
        assert!(found, "some payload sums to zero");
    }

    #[test]
    fn fragments_cover_the_datagram_in_multiples_of_eight_within_the_mtu() {
        for (v6, mtu) in [(false, 1500), (false, 576), (true, 1500), (true, 1280)] {
            for udp_len in [8usize, 1472, 1480, 1481, 3000, 65515] {
                let fs: Vec<Fragment> = fragments(v6, udp_len, mtu).collect();
                let hdr = if v6 { 48 } else { 20 };
                let mut at = 0;
                for (i, f) in fs.iter().enumerate() {
                    assert_eq!(f.offset, at);
                    assert!(hdr + f.len <= mtu, "{v6} {mtu} {udp_len}: {f:?}");
                    assert_eq!(f.more, i + 1 < fs.len());
                    if f.more {
                        assert_eq!(f.len % 8, 0);
                    }
                    at += f.len;
                }
                assert_eq!(at, udp_len);
            }
        }
        assert_eq!(fragments(false, 1480, 1500).count(), 1, "fits whole");
        assert_eq!(fragments(false, 1481, 1500).count(), 2);
    }

    #[test]
    fn fragment_headers_say_offset_more_and_id_and_verify() {
        let (s4, d4): (IpAddr, IpAddr) = (
            "10.77.1.2".parse().expect("v4"),
            "10.77.2.2".parse().expect("v4"),
        );
        let mut h = [0u8; MAX_FRAGMENT_HEADERS];
        let f = Fragment {
            offset: 1480,
            len: 1480,
            more: true,
        };
        assert_eq!(
            write_fragment_header(&mut h, s4, d4, f, 0x1234_5678),
            Ok(20)
        );
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 1500);
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 0x5678);
        assert_eq!(
            u16::from_be_bytes([h[6], h[7]]),
            0x2000 | 185,
            "MF, offset 1480/8"
        );
        assert!(verifies(&[&h[..20]]));
        let last = Fragment {
            offset: 2960,
            len: 40,
            more: false,
        };
        write_fragment_header(&mut h, s4, d4, last, 7).expect("v4");
        assert_eq!(u16::from_be_bytes([h[6], h[7]]), 370, "no MF");
        assert!(verifies(&[&h[..20]]));

        let (s6, d6): (IpAddr, IpAddr) = (
            "fd77:1::2".parse().expect("v6"),
            "fd77:2::2".parse().expect("v6"),
        );
        let f = Fragment {
            offset: 1448,
            len: 1448,
            more: true,
        };
        assert_eq!(
            write_fragment_header(&mut h, s6, d6, f, 0xdead_beef),
            Ok(48)
        );
        assert_eq!(
            u16::from_be_bytes([h[4], h[5]]),
            8 + 1448,
            "payload: fragment header and data"
        );
        assert_eq!((h[6], h[40]), (44, 17), "Fragment header, then UDP");
        assert_eq!(u16::from_be_bytes([h[42], h[43]]), (181 << 3) | 1);
        assert_eq!(&h[44..48], &0xdead_beef_u32.to_be_bytes());
        assert!(matches!(
            write_fragment_header(&mut h, s4, d6, f, 1),
            Err(HeaderError::Families { .. })
        ));
    }

    #[test]
    fn mixed_families_and_oversized_payloads_are_refused() {
        let mut h = [0u8; MAX_HEADERS];
        let p = [0u8; 4];
        assert!(matches!(
            write_headers(&mut h, sa("10.0.0.1:1"), sa("[fd00::2]:2"), &p),
            Err(HeaderError::Families { .. })
        ));
        assert!(matches!(
            write_headers(&mut h, sa("[fd00::1]:1"), sa("10.0.0.2:2"), &p),
            Err(HeaderError::Families { .. })
        ));
        // A v4-mapped source counts as IPv4.
        assert_eq!(
            write_headers(&mut h, sa("[::ffff:10.0.0.1]:1"), sa("10.0.0.2:2"), &p),
            Ok(28)
        );
        assert_eq!(&h[12..16], &[10, 0, 0, 1]);
        let big = vec![0u8; 65_508];
        assert_eq!(
            write_headers(&mut h, sa("10.0.0.1:1"), sa("10.0.0.2:2"), &big),
            Err(HeaderError::TooLong(65_508))
        );
        assert_eq!(
            write_headers(&mut h, sa("10.0.0.1:1"), sa("10.0.0.2:2"), &big[..65_507]),
            Ok(28)
        );
        let big6 = vec![0u8; 65_528];
        assert_eq!(
            write_headers(&mut h, sa("[fd00::1]:1"), sa("[fd00::2]:2"), &big6),
            Err(HeaderError::TooLong(65_528))
        );
    }
}
