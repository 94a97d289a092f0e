//! BGP-4 messages (RFC 4271 §4): the header, OPEN with its capabilities
//! (RFC 5492, RFC 4760, RFC 6793), UPDATE (in [`update`] and [`attrs`]),
//! NOTIFICATION, KEEPALIVE and ROUTE-REFRESH, and the encoders a passive
//! speaker needs.
//!
//! Messages are at most 4096 bytes: RFC 8654 extended messages are not
//! negotiated, so a longer one is a header error.

use std::fmt;
use std::net::Ipv4Addr;

mod attrs;
pub(crate) mod nlri;
mod update;

pub use update::{encode_update, Update};

/// The marker (16 × 0xff), length and type.
pub const HEADER_LEN: usize = 19;
/// The largest message without RFC 8654.
pub const MAX_LEN: usize = 4096;
/// The 2-byte stand-in for a 4-byte ASN (RFC 6793 §9).
pub const AS_TRANS: u32 = 23456;

/// Message types (RFC 4271 §4.1, RFC 2918).
pub mod kind {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Address families (AFI, SAFI) this crate decodes: unicast IPv4 and IPv6.
pub const IPV4_UNICAST: (u16, u8) = (1, 1);
pub const IPV6_UNICAST: (u16, u8) = (2, 1);

/// A message that cannot be accepted, with the NOTIFICATION it calls for
/// (RFC 4271 §6). Malformed *attributes* are not errors: RFC 7606 turns them
/// into [`Update::treat_as_withdraw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgError {
    /// Error code: 1 header, 2 OPEN, 3 UPDATE.
    pub code: u8,
    pub subcode: u8,
    pub what: &'static str,
}

impl MsgError {
    pub(crate) const fn header(subcode: u8, what: &'static str) -> MsgError {
        MsgError {
            code: 1,
            subcode,
            what,
        }
    }
    pub(crate) const fn open(subcode: u8, what: &'static str) -> MsgError {
        MsgError {
            code: 2,
            subcode,
            what,
        }
    }
    pub(crate) const fn update(subcode: u8, what: &'static str) -> MsgError {
        MsgError {
            code: 3,
            subcode,
            what,
        }
    }
}

impl fmt::Display for MsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error {}/{})", self.what, self.code, self.subcode)
    }
}

impl std::error::Error for MsgError {}

/// One BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh,
}

/// An OPEN message (RFC 4271 §4.2) with the capabilities octoflow reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// The 4-octet AS capability's value when present, else "My Autonomous System".
    pub asn: u32,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// The 4-octet AS number capability (RFC 6793) was present.
    pub four_byte_as: bool,
    /// Multiprotocol capabilities (RFC 4760): (AFI, SAFI), in wire order.
    pub mp: Vec<(u16, u8)>,
}

/// A NOTIFICATION message (RFC 4271 §4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// The type and total length of the message at the start of `buf`, once its
/// 19-byte header is there (None before). Checks the marker, the length
/// (19..=4096 and the type's minimum) and the type.
pub fn parse_header(buf: &[u8]) -> Result<Option<(u8, usize)>, MsgError> {
    let seen = buf.len().min(16);
    if buf[..seen].iter().any(|&b| b != 0xff) {
        return Err(MsgError::header(1, "marker is not all ones"));
    }
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let t = h[18];
    let min = match t {
        kind::OPEN => 29,
        kind::UPDATE => 23,
        kind::NOTIFICATION => 21,
        kind::KEEPALIVE => 19,
        kind::ROUTE_REFRESH => 23,
        _ => return Err(MsgError::header(3, "bad message type")),
    };
    if len < min || len > MAX_LEN || (t == kind::KEEPALIVE && len != 19) {
        return Err(MsgError::header(2, "bad message length"));
    }
    Ok(Some((t, len)))
}

/// Parses the message at the start of `buf`: `None` while it is incomplete,
/// else the message and the bytes it took. `four_byte_as` is whether the
/// session negotiated 4-byte ASNs (RFC 6793), for AS_PATH.
pub fn parse_message(buf: &[u8], four_byte_as: bool) -> Result<Option<(Message, usize)>, MsgError> {
    let Some((t, len)) = parse_header(buf)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(HEADER_LEN..len) else {
        return Ok(None);
    };
    let m = match t {
        kind::OPEN => Message::Open(parse_open(body)?),
        kind::UPDATE => Message::Update(update::parse_update(body, four_byte_as)?),
        kind::NOTIFICATION => Message::Notification(Notification {
            code: body[0],
            subcode: body[1],
            data: body[2..].to_vec(),
        }),
        kind::KEEPALIVE => Message::Keepalive,
        _ => Message::RouteRefresh,
    };
    Ok(Some((m, len)))
}

/// The body of an OPEN (after the header; at least 10 bytes, checked by
/// [`parse_header`]).
fn parse_open(b: &[u8]) -> Result<Open, MsgError> {
    let short = MsgError::open(0, "OPEN optional parameters overrun the message");
    let my_as = u16::from_be_bytes([b[1], b[2]]);
    let mut o = Open {
        version: b[0],
        asn: u32::from(my_as),
        hold_time: u16::from_be_bytes([b[3], b[4]]),
        bgp_id: Ipv4Addr::new(b[5], b[6], b[7], b[8]),
        four_byte_as: false,
        mp: Vec::new(),
    };
    let opt_len = usize::from(b[9]);
    if b.len() != 10 + opt_len {
        return Err(short);
    }
    let mut p = &b[10..];
    while !p.is_empty() {
        let [t, l, rest @ ..] = p else {
            return Err(short);
        };
        let value = rest.get(..usize::from(*l)).ok_or(short.clone())?;
        p = &rest[usize::from(*l)..];
        if *t != 2 {
            return Err(MsgError::open(4, "unsupported optional parameter"));
        }
        parse_capabilities(value, &mut o)?;
    }
    Ok(o)
}

/// Capabilities (RFC 5492): MP (1) and 4-octet AS (65) are read, others skipped.
fn parse_capabilities(mut c: &[u8], o: &mut Open) -> Result<(), MsgError> {
    let bad = MsgError::open(0, "malformed capability");
    while !c.is_empty() {
        let [code, l, rest @ ..] = c else {
            return Err(bad);
        };
        let v = rest.get(..usize::from(*l)).ok_or(bad.clone())?;
        c = &rest[usize::from(*l)..];
        match (*code, v) {
            (1, [a0, a1, _, safi]) => {
                let f = (u16::from_be_bytes([*a0, *a1]), *safi);
                if !o.mp.contains(&f) {
                    o.mp.push(f);
                }
            }
            (65, [a, b, c, d]) => {
                o.four_byte_as = true;
                o.asn = u32::from_be_bytes([*a, *b, *c, *d]);
            }
            (1 | 65, _) => return Err(bad),
            _ => {}
        }
    }
    Ok(())
}

/// Starts a message of type `t` in `out`; [`finish`] writes its length.
fn start(out: &mut Vec<u8>, t: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0, t]);
    at
}

fn finish(out: &mut [u8], at: usize) {
    let len = u16::try_from(out.len() - at).unwrap_or(u16::MAX);
    out[at + 16..at + 18].copy_from_slice(&len.to_be_bytes());
}

/// Appends an OPEN: "My AS" is [`AS_TRANS`] when the ASN needs 4 bytes; one
/// capabilities parameter with the MP capabilities and, when `four_byte_as`,
/// the 4-octet AS capability.
pub fn encode_open(o: &Open, out: &mut Vec<u8>) {
    let at = start(out, kind::OPEN);
    let my_as = u16::try_from(o.asn).unwrap_or(AS_TRANS as u16);
    out.push(o.version);
    out.extend_from_slice(&my_as.to_be_bytes());
    out.extend_from_slice(&o.hold_time.to_be_bytes());
    out.extend_from_slice(&o.bgp_id.octets());
    let mut caps = Vec::new();
    for &(afi, safi) in &o.mp {
        caps.extend_from_slice(&[1, 4]);
        caps.extend_from_slice(&afi.to_be_bytes());
        caps.extend_from_slice(&[0, safi]);
    }
    if o.four_byte_as {
        caps.extend_from_slice(&[65, 4]);
        caps.extend_from_slice(&o.asn.to_be_bytes());
    }
    if caps.is_empty() {
        out.push(0);
    } else {
        // 6 bytes per capability: always well under 255.
        caps.truncate(253);
        out.push(caps.len() as u8 + 2);
        out.extend_from_slice(&[2, caps.len() as u8]);
        out.extend_from_slice(&caps);
    }
    finish(out, at);
}

/// Appends a KEEPALIVE.
pub fn encode_keepalive(out: &mut Vec<u8>) {
    let at = start(out, kind::KEEPALIVE);
    finish(out, at);
}

/// Appends a NOTIFICATION (data cut to fit 4096 bytes).
pub fn encode_notification(code: u8, subcode: u8, data: &[u8], out: &mut Vec<u8>) {
    let at = start(out, kind::NOTIFICATION);
    out.extend_from_slice(&[code, subcode]);
    out.extend_from_slice(&data[..data.len().min(MAX_LEN - 21)]);
    finish(out, at);
}
