//! Reading export traffic from captures: classic pcap (µs/ns, either byte order) and
//! pcapng, link types Ethernet, Linux cooked (SLL, SLL2), BSD loopback and raw IP.
//! Yields the UDP datagrams inside, with their source address and capture time.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One UDP datagram found in a capture.
pub struct UdpPacket<'a> {
    pub ts_ms: u64,
    pub src: IpAddr,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

#[derive(Debug)]
pub struct PcapError(pub String);

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PcapError {}

/// Counters of what was not a UDP datagram (or not readable).
#[derive(Debug, Default, Clone, Copy)]
pub struct Skipped {
    pub non_udp: u64,
    pub truncated: u64,
}

/// Walk every UDP datagram of a capture held in memory.
pub fn for_each_udp(data: &[u8], mut f: impl FnMut(UdpPacket<'_>)) -> Result<Skipped, PcapError> {
    let mut sk = Skipped::default();
    if data.len() < 4 {
        return Err(PcapError("not a capture file: shorter than 4 bytes".into()));
    }
    let magic = [data[0], data[1], data[2], data[3]];
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => pcapng(data, &mut f, &mut sk)?,
        _ => classic(data, &mut f, &mut sk)?,
    }
    Ok(sk)
}

fn rd16(b: &[u8], le: bool) -> u16 {
    let a = [b[0], b[1]];
    if le {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    }
}

fn rd32(b: &[u8], le: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

fn classic(d: &[u8], f: &mut impl FnMut(UdpPacket<'_>), sk: &mut Skipped) -> Result<(), PcapError> {
    if d.len() < 24 {
        return Err(PcapError("pcap header truncated".into()));
    }
    let (le, nanos) = match [d[0], d[1], d[2], d[3]] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        m => {
            return Err(PcapError(format!(
                "not a pcap or pcapng file (magic {:02x}{:02x}{:02x}{:02x})",
                m[0], m[1], m[2], m[3]
            )))
        }
    };
    let link = rd32(&d[20..], le) & 0x0fff_ffff;
    let mut p = 24;
    while d.len() >= p + 16 {
        let secs = rd32(&d[p..], le) as u64;
        let frac = rd32(&d[p + 4..], le) as u64;
        let incl = rd32(&d[p + 8..], le) as usize;
        p += 16;
        if d.len() < p + incl {
            sk.truncated += 1;
            break;
        }
        let ts_ms = secs * 1000 + if nanos { frac / 1_000_000 } else { frac / 1000 };
        frame(link, &d[p..p + incl], ts_ms, f, sk);
        p += incl;
    }
    Ok(())
}

fn pcapng(d: &[u8], f: &mut impl FnMut(UdpPacket<'_>), sk: &mut Skipped) -> Result<(), PcapError> {
    let mut p = 0;
    let mut le = true;
    // (link type, timestamp units per second) per interface
    let mut ifaces: Vec<(u32, u64)> = Vec::new();
    while d.len() >= p + 12 {
        let btype_raw = &d[p..p + 4];
        if btype_raw == [0x0a, 0x0d, 0x0d, 0x0a] {
            le = match &d[p + 8..p + 12] {
                [0x4d, 0x3c, 0x2b, 0x1a] => true,
                [0x1a, 0x2b, 0x3c, 0x4d] => false,
                _ => return Err(PcapError("pcapng: bad byte-order magic".into())),
            };
            ifaces.clear();
        }
        let btype = rd32(btype_raw, le);
        let blen = rd32(&d[p + 4..], le) as usize;
        if blen < 12 || d.len() < p + blen {
            sk.truncated += 1;
            break;
        }
        let b = &d[p + 8..p + blen - 4];
        match btype {
            1 if b.len() >= 8 => {
                // Interface description: link type, then options (if_tsresol = 9).
                let link = rd16(b, le) as u32;
                let mut res = 1_000_000u64;
                let mut o = 8;
                while b.len() >= o + 4 {
                    let code = rd16(&b[o..], le);
                    let olen = rd16(&b[o + 2..], le) as usize;
                    if code == 0 {
                        break;
                    }
                    if code == 9 && olen >= 1 && b.len() > o + 4 {
                        let v = b[o + 4];
                        res = if v & 0x80 == 0 {
                            10u64.saturating_pow(v as u32)
                        } else {
                            1u64 << (v & 0x7f).min(63)
                        };
                    }
                    o += 4 + ((olen + 3) & !3);
                }
                ifaces.push((link, res.max(1)));
            }
            6 if b.len() >= 20 => {
                // Enhanced packet block.
                let ifid = rd32(b, le) as usize;
                let ts = ((rd32(&b[4..], le) as u64) << 32) | rd32(&b[8..], le) as u64;
                let caplen = rd32(&b[12..], le) as usize;
                if let Some(&(link, res)) = ifaces.get(ifid) {
                    if b.len() >= 20 + caplen {
                        let ts_ms = (ts as u128 * 1000 / res as u128) as u64;
                        frame(link, &b[20..20 + caplen], ts_ms, f, sk);
                    } else {
                        sk.truncated += 1;
                    }
                }
            }
            3 if b.len() >= 4 => {
                // Simple packet block: interface 0, no timestamp.
                if let Some(&(link, _)) = ifaces.first() {
                    let caplen = (rd32(b, le) as usize).min(b.len() - 4);
                    frame(link, &b[4..4 + caplen], 0, f, sk);
                }
            }
            _ => {}
        }
        p += blen;
    }
    Ok(())
}

fn frame(link: u32, b: &[u8], ts_ms: u64, f: &mut impl FnMut(UdpPacket<'_>), sk: &mut Skipped) {
    let ip = match link {
        1 => ethernet(b),
        113 if b.len() >= 16 => l3(u16::from_be_bytes([b[14], b[15]]), &b[16..]),
        276 if b.len() >= 20 => l3(u16::from_be_bytes([b[0], b[1]]), &b[20..]),
        0 | 109 if b.len() >= 4 => Some(&b[4..]), // BSD loopback: family word, then IP
        12 | 14 | 101 | 228 | 229 => Some(b),
        _ => None,
    };
    match ip.and_then(|ip| udp(ip, ts_ms)) {
        Some(p) => f(p),
        None => sk.non_udp += 1,
    }
}

fn ethernet(b: &[u8]) -> Option<&[u8]> {
    if b.len() < 14 {
        return None;
    }
    let mut et = u16::from_be_bytes([b[12], b[13]]);
    let mut p = 14;
    while matches!(et, 0x8100 | 0x88a8) && b.len() >= p + 4 {
        et = u16::from_be_bytes([b[p + 2], b[p + 3]]);
        p += 4;
    }
    l3(et, &b[p..])
}

fn l3(ethertype: u16, b: &[u8]) -> Option<&[u8]> {
    match ethertype {
        0x0800 | 0x86dd => Some(b),
        _ => None,
    }
}

fn udp(b: &[u8], ts_ms: u64) -> Option<UdpPacket<'_>> {
    let (src, l4) = match b.first()? >> 4 {
        4 if b.len() >= 20 => {
            let ihl = (b[0] & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([b[2], b[3]]) as usize;
            let frag = u16::from_be_bytes([b[6], b[7]]) & 0x3fff;
            if b[9] != 17 || frag != 0 || ihl < 20 || b.len() < ihl {
                return None;
            }
            let end = total.clamp(ihl, b.len());
            (
                IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15])),
                &b[ihl..end],
            )
        }
        6 if b.len() >= 40 => {
            if b[6] != 17 {
                return None;
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let plen = u16::from_be_bytes([b[4], b[5]]) as usize;
            (
                IpAddr::V6(Ipv6Addr::from(a)),
                &b[40..(40 + plen).min(b.len())],
            )
        }
        _ => return None,
    };
    if l4.len() < 8 {
        return None;
    }
    let ulen = (u16::from_be_bytes([l4[4], l4[5]]) as usize).clamp(8, l4.len());
    Some(UdpPacket {
        ts_ms,
        src,
        dst_port: u16::from_be_bytes([l4[2], l4[3]]),
        payload: &l4[8..ulen],
    })
}
