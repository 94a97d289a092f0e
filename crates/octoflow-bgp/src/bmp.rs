//! The station side of BMP v3 (RFC 7854): a byte stream from one router in,
//! messages out. Route Monitoring carries whole BGP UPDATEs, parsed with
//! [`crate::msg`]; Loc-RIB (RFC 9069) and Adj-RIB-Out (RFC 8671) peers are
//! told apart by [`PeerKey`], one RIB each.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::msg::{self, Message, MsgError, Open, Update};

/// Common header: version, length, type.
const COMMON_LEN: usize = 6;
/// Per-peer header.
const PEER_LEN: usize = 42;
/// Longer messages are refused (the stream is then lost).
pub const MAX_MESSAGE: usize = 16 << 20;

/// Message types (RFC 7854 §4.1).
pub mod kind {
    pub const ROUTE_MONITORING: u8 = 0;
    pub const STATISTICS: u8 = 1;
    pub const PEER_DOWN: u8 = 2;
    pub const PEER_UP: u8 = 3;
    pub const INITIATION: u8 = 4;
    pub const TERMINATION: u8 = 5;
}

/// Peer type of the Loc-RIB (RFC 9069), whose flags differ.
pub const PEER_TYPE_LOC_RIB: u8 = 3;

/// The per-peer header (RFC 7854 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHeader {
    pub peer_type: u8,
    /// V flag: the peer address is IPv6.
    pub v6: bool,
    /// L flag: post-policy Adj-RIB-In.
    pub post_policy: bool,
    /// A flag: the peer uses 2-byte ASNs.
    pub two_byte_as: bool,
    /// O flag (RFC 8671): Adj-RIB-Out.
    pub adj_rib_out: bool,
    pub distinguisher: u64,
    pub addr: IpAddr,
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
    pub ts_secs: u32,
    pub ts_usecs: u32,
}

/// Which monitored RIB a message is about: one [`crate::Rib`] per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerKey {
    pub peer_type: u8,
    pub distinguisher: u64,
    pub addr: IpAddr,
    pub post_policy: bool,
    pub adj_rib_out: bool,
}

impl PeerHeader {
    pub fn key(&self) -> PeerKey {
        PeerKey {
            peer_type: self.peer_type,
            distinguisher: self.distinguisher,
            addr: self.addr,
            post_policy: self.post_policy,
            adj_rib_out: self.adj_rib_out,
        }
    }
}

/// One BMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmpMessage {
    Initiation {
        sys_name: Option<String>,
        sys_descr: Option<String>,
    },
    Termination,
    PeerUp {
        peer: PeerHeader,
        local_addr: IpAddr,
        local_port: u16,
        remote_port: u16,
        /// The OPENs the router sent and received (`None` if unparsable).
        sent_open: Option<Open>,
        received_open: Option<Open>,
    },
    PeerDown {
        peer: PeerHeader,
        reason: u8,
    },
    RouteMonitoring {
        peer: PeerHeader,
        update: Update,
    },
    Statistics {
        peer: PeerHeader,
    },
    /// Route Mirroring and unknown types, by type.
    Other(u8),
}

/// Why a message could not be read. [`BmpError::Version`] and
/// [`BmpError::Length`] are about the common header: the stream is lost and
/// [`BmpReader::next`] keeps returning them. The others were inside one
/// message, which is skipped: the next call goes on with the next message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmpError {
    Version(u8),
    Length(u32),
    /// A message shorter than its contents need.
    Truncated(&'static str),
    /// The BGP message inside Route Monitoring (or Peer Up) is malformed.
    Bgp(MsgError),
}

impl fmt::Display for BmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BmpError::Version(v) => write!(f, "BMP version {v}, not 3"),
            BmpError::Length(l) => write!(f, "BMP message length {l} out of range"),
            BmpError::Truncated(w) => write!(f, "BMP {w} truncated"),
            BmpError::Bgp(e) => write!(f, "BMP route monitoring: {e}"),
        }
    }
}

impl std::error::Error for BmpError {}

/// Splits a BMP stream into messages.
#[derive(Debug, Default)]
pub struct BmpReader {
    buf: Vec<u8>,
    at: usize,
}

impl BmpReader {
    pub fn new() -> BmpReader {
        BmpReader::default()
    }

    /// Bytes from the router, in order.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.at > 0 && self.at >= self.buf.len() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed and not yet read.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.at
    }

    /// The next complete message, `None` until one is there.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<BmpMessage>, BmpError> {
        let b = &self.buf[self.at..];
        let Some(h) = b.get(..COMMON_LEN) else {
            return Ok(None);
        };
        if h[0] != 3 {
            return Err(BmpError::Version(h[0]));
        }
        let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
        if (len as usize) < COMMON_LEN || len as usize > MAX_MESSAGE {
            return Err(BmpError::Length(len));
        }
        let Some(m) = b.get(COMMON_LEN..len as usize) else {
            return Ok(None);
        };
        let r = parse_body(h[5], m);
        self.at += len as usize;
        r.map(Some)
    }
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// A 16-byte address field: IPv4 in its last 4 bytes unless `v6`.
fn addr16(b: &[u8], v6: bool) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    if v6 {
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15]))
    }
}

fn parse_peer(b: &[u8]) -> Result<(PeerHeader, &[u8]), BmpError> {
    let Some(h) = b.get(..PEER_LEN) else {
        return Err(BmpError::Truncated("per-peer header"));
    };
    let (peer_type, flags) = (h[0], h[1]);
    // RFC 9069 §4.2: a Loc-RIB's only flag is F (filtered), in V's place.
    let f = |bit: u8| peer_type != PEER_TYPE_LOC_RIB && flags & bit != 0;
    let v6 = f(0x80);
    let peer = PeerHeader {
        peer_type,
        v6,
        post_policy: f(0x40),
        two_byte_as: f(0x20),
        adj_rib_out: f(0x10),
        distinguisher: u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
        addr: addr16(&h[10..26], v6),
        asn: be32(h, 26),
        bgp_id: Ipv4Addr::from(be32(h, 30)),
        ts_secs: be32(h, 34),
        ts_usecs: be32(h, 38),
    };
    Ok((peer, &b[PEER_LEN..]))
}

/// One whole BGP message at the start of `b`: the message and its length.
fn bgp(b: &[u8], four_byte_as: bool) -> Result<(Message, usize), BmpError> {
    match msg::parse_message(b, four_byte_as) {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(BmpError::Truncated("BGP message")),
        Err(e) => Err(BmpError::Bgp(e)),
    }
}

fn parse_body(t: u8, b: &[u8]) -> Result<BmpMessage, BmpError> {
    match t {
        kind::ROUTE_MONITORING => {
            let (peer, rest) = parse_peer(b)?;
            match bgp(rest, !peer.two_byte_as)? {
                (Message::Update(update), _) => Ok(BmpMessage::RouteMonitoring { peer, update }),
                _ => Err(BmpError::Bgp(MsgError {
                    code: 1,
                    subcode: 3,
                    what: "route monitoring without an UPDATE",
                })),
            }
        }
        kind::STATISTICS => Ok(BmpMessage::Statistics {
            peer: parse_peer(b)?.0,
        }),
        kind::PEER_DOWN => {
            let (peer, rest) = parse_peer(b)?;
            let reason = *rest.first().ok_or(BmpError::Truncated("peer down"))?;
            Ok(BmpMessage::PeerDown { peer, reason })
        }
        kind::PEER_UP => {
            let (peer, rest) = parse_peer(b)?;
            let Some(r) = rest.get(..20) else {
                return Err(BmpError::Truncated("peer up"));
            };
            let local_addr = addr16(r, peer.v6);
            let (local_port, remote_port) = (be16(r, 16), be16(r, 18));
            let open = |b: &[u8]| match msg::parse_message(b, true) {
                Ok(Some((Message::Open(o), n))) => (Some(o), n),
                Ok(Some((_, n))) => (None, n),
                _ => (None, b.len()),
            };
            let (sent_open, n) = open(&rest[20..]);
            let (received_open, _) = open(&rest[20 + n..]);
            Ok(BmpMessage::PeerUp {
                peer,
                local_addr,
                local_port,
                remote_port,
                sent_open,
                received_open,
            })
        }
        kind::INITIATION => {
            let (mut sys_name, mut sys_descr) = (None, None);
            let mut b = b;
            while let Some(tl) = b.get(..4) {
                let (t, l) = (be16(tl, 0), usize::from(be16(tl, 2)));
                let Some(v) = b.get(4..4 + l) else {
                    return Err(BmpError::Truncated("initiation TLV"));
                };
                let s = || Some(String::from_utf8_lossy(v).into_owned());
                match t {
                    1 => sys_descr = s(),
                    2 => sys_name = s(),
                    _ => {}
                }
                b = &b[4 + l..];
            }
            Ok(BmpMessage::Initiation {
                sys_name,
                sys_descr,
            })
        }
        kind::TERMINATION => Ok(BmpMessage::Termination),
        t => Ok(BmpMessage::Other(t)),
    }
}
