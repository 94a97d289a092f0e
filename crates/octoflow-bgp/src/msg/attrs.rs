//! Path attributes of an UPDATE (RFC 4271 §4.3, §5), with RFC 7606 error
//! handling: a malformed attribute marks the UPDATE "treat-as-withdraw"
//! (or is discarded, for AS4_PATH), and only a broken MP_REACH_NLRI or
//! MP_UNREACH_NLRI (whose prefixes would otherwise be lost) is an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use octoflow_prefix::Prefix;
use octoflow_proto::RouteOrigin;

use super::{nlri, MsgError, IPV4_UNICAST, IPV6_UNICAST};

pub(crate) const ORIGIN: u8 = 1;
pub(crate) const AS_PATH: u8 = 2;
pub(crate) const NEXT_HOP: u8 = 3;
pub(crate) const MED: u8 = 4;
pub(crate) const LOCAL_PREF: u8 = 5;
pub(crate) const COMMUNITIES: u8 = 8;
pub(crate) const MP_REACH: u8 = 14;
pub(crate) const MP_UNREACH: u8 = 15;
pub(crate) const AS4_PATH: u8 = 17;
pub(crate) const LARGE_COMMUNITY: u8 = 32;

/// Flags: optional, transitive, partial, extended length.
pub(crate) const OPTIONAL: u8 = 0x80;
pub(crate) const TRANSITIVE: u8 = 0x40;
pub(crate) const EXTENDED: u8 = 0x10;

pub(crate) const AS_SET: u8 = 1;
pub(crate) const AS_SEQUENCE: u8 = 2;

/// An AS_PATH segment: type and ASNs.
pub(crate) type Segment = (u8, Vec<u32>);

/// What the attributes of one UPDATE said.
#[derive(Default)]
pub(crate) struct Parsed {
    pub(crate) origin: Option<RouteOrigin>,
    pub(crate) as_path: Option<Vec<Segment>>,
    pub(crate) as4_path: Option<Vec<Segment>>,
    pub(crate) next_hop: Option<Ipv4Addr>,
    pub(crate) med: Option<u32>,
    pub(crate) local_pref: Option<u32>,
    pub(crate) communities: Option<Vec<u32>>,
    pub(crate) large: Option<Vec<[u32; 3]>>,
    /// MP_REACH_NLRI of IPv4 or IPv6 unicast: its next hop and prefixes.
    pub(crate) mp_reach: Option<(IpAddr, Vec<Prefix>)>,
    /// MP_UNREACH_NLRI of IPv4 or IPv6 unicast.
    pub(crate) mp_unreach: Option<Vec<Prefix>>,
    /// How many attributes there were (for End-of-RIB).
    pub(crate) count: usize,
    /// An attribute was malformed: treat-as-withdraw (RFC 7606 §2).
    pub(crate) malformed: bool,
}

/// The flags (optional, transitive) each known attribute must have.
fn expected_flags(t: u8) -> Option<u8> {
    match t {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF => Some(TRANSITIVE),
        MED | MP_REACH | MP_UNREACH => Some(OPTIONAL),
        COMMUNITIES | AS4_PATH | LARGE_COMMUNITY => Some(OPTIONAL | TRANSITIVE),
        _ => None,
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn be_u32s(v: &[u8], each: usize) -> Option<Vec<u32>> {
    (v.len() % each == 0).then(|| v.chunks_exact(4).map(|c| u32_at(c, 0)).collect())
}

pub(crate) fn parse(mut b: &[u8], four_byte_as: bool) -> Result<Parsed, MsgError> {
    let mut p = Parsed::default();
    let mut seen = [false; 256];
    while !b.is_empty() {
        // An attribute header or length overrunning the list: RFC 7606 §4.
        let Some(&[flags, t]) = b.get(..2) else {
            p.malformed = true;
            break;
        };
        let (hlen, len) = if flags & EXTENDED != 0 {
            match b.get(2..4) {
                Some(&[x, y]) => (4, usize::from(u16::from_be_bytes([x, y]))),
                _ => {
                    p.malformed = true;
                    break;
                }
            }
        } else {
            match b.get(2) {
                Some(&x) => (3, usize::from(x)),
                None => {
                    p.malformed = true;
                    break;
                }
            }
        };
        let Some(v) = b.get(hlen..hlen + len) else {
            p.malformed = true;
            break;
        };
        b = &b[hlen + len..];
        p.count += 1;
        let dup = std::mem::replace(&mut seen[usize::from(t)], true);
        if dup && (t == MP_REACH || t == MP_UNREACH) {
            return Err(MsgError::update(
                1,
                "MP_REACH_NLRI or MP_UNREACH_NLRI repeated",
            ));
        }
        if dup {
            continue; // RFC 7606 §3 g: all but the first are discarded.
        }
        let flags_ok = expected_flags(t).is_none_or(|f| flags & (OPTIONAL | TRANSITIVE) == f);
        if !flags_ok && t == AS4_PATH {
            continue; // RFC 6793 §6: attribute discard.
        }
        if !flags_ok {
            p.malformed = true;
        }
        let ok = match t {
            ORIGIN => match v {
                [0] => set(&mut p.origin, RouteOrigin::Igp),
                [1] => set(&mut p.origin, RouteOrigin::Egp),
                [2] => set(&mut p.origin, RouteOrigin::Incomplete),
                _ => false,
            },
            AS_PATH => segments(v, four_byte_as)
                .map(|s| p.as_path = Some(s))
                .is_some(),
            AS4_PATH => {
                // Malformed: discarded (RFC 6793 §6), not treat-as-withdraw.
                p.as4_path = segments(v, true);
                true
            }
            NEXT_HOP => match v {
                &[a, b, c, d] => set(&mut p.next_hop, Ipv4Addr::new(a, b, c, d)),
                _ => false,
            },
            MED => v.len() == 4 && set(&mut p.med, u32_at(v, 0)),
            LOCAL_PREF => v.len() == 4 && set(&mut p.local_pref, u32_at(v, 0)),
            COMMUNITIES => be_u32s(v, 4).map(|c| p.communities = Some(c)).is_some(),
            LARGE_COMMUNITY => be_u32s(v, 12)
                .map(|c| {
                    p.large = Some(c.chunks_exact(3).map(|x| [x[0], x[1], x[2]]).collect());
                })
                .is_some(),
            MP_REACH => {
                p.mp_reach = mp_reach(v)?;
                true
            }
            MP_UNREACH => {
                p.mp_unreach = mp_unreach(v)?;
                true
            }
            _ => true,
        };
        if !ok {
            p.malformed = true;
        }
    }
    Ok(p)
}

fn set<T>(slot: &mut Option<T>, v: T) -> bool {
    *slot = Some(v);
    true
}

/// AS_PATH or AS4_PATH segments; `None` when malformed (RFC 7606 §7.2: a
/// segment overrunning the attribute, an empty one, or an unknown type).
pub(crate) fn segments(mut v: &[u8], four: bool) -> Option<Vec<Segment>> {
    let size = if four { 4 } else { 2 };
    let mut out = Vec::new();
    while let [t, n, rest @ ..] = v {
        if !(1..=4).contains(t) || *n == 0 {
            return None;
        }
        let bytes = rest.get(..usize::from(*n) * size)?;
        let asns = if four {
            bytes.chunks_exact(4).map(|c| u32_at(c, 0)).collect()
        } else {
            bytes
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect()
        };
        out.push((*t, asns));
        v = &rest[bytes.len()..];
    }
    v.is_empty().then_some(out)
}

/// RFC 6793 §4.2.3 path length: a sequence counts its ASNs, a set one,
/// confederation segments nothing.
fn count(segs: &[Segment]) -> usize {
    segs.iter()
        .map(|(t, a)| match *t {
            AS_SEQUENCE => a.len(),
            AS_SET => 1,
            _ => 0,
        })
        .sum()
}

/// The AS path of a route from AS_PATH and, on a 2-byte session, AS4_PATH
/// (RFC 6793 §4.2.3): the leading ASNs AS_PATH has beyond AS4_PATH's count,
/// then AS4_PATH; AS4_PATH is ignored when it is the longer. Flattened:
/// AS_SET members in wire order, confederation segments left out.
pub(crate) fn merge_path(as_path: &[Segment], as4: Option<&[Segment]>) -> Vec<u32> {
    let mut segs: Vec<&[u32]> = Vec::new();
    match as4 {
        Some(as4) if count(as4) <= count(as_path) => {
            let mut n = count(as_path) - count(as4);
            for (t, a) in as_path {
                if n == 0 {
                    break;
                }
                match *t {
                    AS_SEQUENCE => {
                        let take = n.min(a.len());
                        segs.push(&a[..take]);
                        n -= take;
                    }
                    AS_SET => {
                        segs.push(a);
                        n -= 1;
                    }
                    _ => {}
                }
            }
            segs.extend(
                as4.iter()
                    .filter(|(t, _)| *t <= AS_SEQUENCE)
                    .map(|(_, a)| a.as_slice()),
            );
        }
        _ => segs.extend(
            as_path
                .iter()
                .filter(|(t, _)| *t <= AS_SEQUENCE)
                .map(|(_, a)| a.as_slice()),
        ),
    }
    segs.concat()
}

fn mp_err(what: &'static str) -> MsgError {
    MsgError::update(9, what)
}

/// MP_REACH_NLRI (RFC 4760 §3): IPv4/IPv6 unicast only, others `None`.
/// The IPv6 next hop is the global one when a link-local follows (RFC 2545).
fn mp_reach(v: &[u8]) -> Result<Option<(IpAddr, Vec<Prefix>)>, MsgError> {
    let [a0, a1, safi, nhl, rest @ ..] = v else {
        return Err(mp_err("MP_REACH_NLRI too short"));
    };
    let fam = (u16::from_be_bytes([*a0, *a1]), *safi);
    let nhl = usize::from(*nhl);
    let Some(nh) = rest.get(..nhl) else {
        return Err(mp_err("MP_REACH_NLRI next hop overruns"));
    };
    let Some(prefixes) = rest.get(nhl + 1..) else {
        return Err(mp_err("MP_REACH_NLRI too short"));
    };
    if fam != IPV4_UNICAST && fam != IPV6_UNICAST {
        return Ok(None);
    }
    let next_hop = match nh.len() {
        4 if fam == IPV4_UNICAST => IpAddr::from([nh[0], nh[1], nh[2], nh[3]]),
        16 | 32 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&nh[..16]);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return Err(mp_err("MP_REACH_NLRI next hop length")),
    };
    let mut out = Vec::new();
    nlri::parse(prefixes, fam == IPV6_UNICAST, &mut out)
        .map_err(|()| mp_err("MP_REACH_NLRI prefixes malformed"))?;
    Ok(Some((next_hop, out)))
}

/// MP_UNREACH_NLRI (RFC 4760 §4): IPv4/IPv6 unicast only, others `None`.
fn mp_unreach(v: &[u8]) -> Result<Option<Vec<Prefix>>, MsgError> {
    let [a0, a1, safi, rest @ ..] = v else {
        return Err(mp_err("MP_UNREACH_NLRI too short"));
    };
    let fam = (u16::from_be_bytes([*a0, *a1]), *safi);
    if fam != IPV4_UNICAST && fam != IPV6_UNICAST {
        return Ok(None);
    }
    let mut out = Vec::new();
    nlri::parse(rest, fam == IPV6_UNICAST, &mut out)
        .map_err(|()| mp_err("MP_UNREACH_NLRI prefixes malformed"))?;
    Ok(Some(out))
}
