//! UPDATE messages (RFC 4271 §4.3), IPv4 in the classic fields and IPv4/IPv6
//! unicast in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760).

use std::net::IpAddr;

use octoflow_prefix::Prefix;
use octoflow_proto::{RouteAttrs, RouteOrigin, RouteParts};

use super::attrs::{self, merge_path, Parsed, AS_SEQUENCE, EXTENDED, OPTIONAL, TRANSITIVE};
use super::{finish, kind, nlri, start, MsgError, AS_TRANS};

/// One UPDATE: what it withdraws and announces, in both families.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Classic withdrawn routes, then MP_UNREACH_NLRI's (and, when
    /// [`Update::treat_as_withdraw`], the prefixes it announced).
    pub withdrawn: Vec<Prefix>,
    /// Classic NLRI, then MP_REACH_NLRI's.
    pub announced: Vec<Prefix>,
    /// The announced routes' attributes; `None` when nothing is announced.
    /// The next hop is NEXT_HOP when classic NLRI is present, else
    /// MP_REACH_NLRI's (one UPDATE mixing both families gets the IPv4 one).
    pub attrs: Option<RouteAttrs>,
    /// End-of-RIB (RFC 4724 §2): an empty UPDATE (IPv4 unicast) or one whose
    /// only attribute is an empty MP_UNREACH_NLRI of IPv4 or IPv6 unicast.
    pub end_of_rib: bool,
    /// An attribute was malformed (RFC 7606): the announced prefixes were
    /// moved to `withdrawn`.
    pub treat_as_withdraw: bool,
}

/// The body of an UPDATE (after the header; at least 4 bytes).
pub(crate) fn parse_update(b: &[u8], four_byte_as: bool) -> Result<Update, MsgError> {
    let list = MsgError::update(1, "malformed attribute list");
    let wlen = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let wend = 2 + wlen;
    let alen = match b.get(wend..wend + 2) {
        Some(&[x, y]) => usize::from(u16::from_be_bytes([x, y])),
        _ => return Err(list),
    };
    let aend = wend + 2 + alen;
    let Some(attr_bytes) = b.get(wend + 2..aend) else {
        return Err(list);
    };
    let bad_nlri = MsgError::update(10, "invalid network field");
    let mut u = Update::default();
    nlri::parse(&b[2..wend], false, &mut u.withdrawn).map_err(|()| bad_nlri.clone())?;
    nlri::parse(&b[aend..], false, &mut u.announced).map_err(|()| bad_nlri)?;
    let classic = !u.announced.is_empty();
    let mut p = attrs::parse(attr_bytes, four_byte_as)?;
    let mut mp_next_hop = None;
    if let Some((nh, prefixes)) = p.mp_reach.take() {
        mp_next_hop = Some(nh);
        u.announced.extend(prefixes);
    }
    let unreach = p.mp_unreach.take();
    let eor_unreach = matches!(&unreach, Some(v) if v.is_empty()) && p.count == 1;
    if let Some(prefixes) = unreach {
        u.withdrawn.extend(prefixes);
    }
    u.end_of_rib =
        u.withdrawn.is_empty() && u.announced.is_empty() && (b.len() == 4 || eor_unreach);
    if !u.announced.is_empty() {
        let next_hop = if classic {
            p.next_hop.map(IpAddr::V4)
        } else {
            mp_next_hop
        };
        match route_attrs(&p, next_hop, four_byte_as) {
            Some(a) if !p.malformed => u.attrs = Some(a),
            _ => {
                // RFC 7606 §3 d (a missing mandatory attribute) and §2.
                p.malformed = true;
                u.withdrawn.append(&mut u.announced);
            }
        }
    }
    u.treat_as_withdraw = p.malformed;
    Ok(u)
}

/// The attributes of the announced routes; `None` when ORIGIN, AS_PATH or
/// the next hop is missing.
fn route_attrs(p: &Parsed, next_hop: Option<IpAddr>, four_byte_as: bool) -> Option<RouteAttrs> {
    let as4 = if four_byte_as {
        None // RFC 6793 §4.1: a NEW speaker ignores AS4_PATH from a NEW one.
    } else {
        p.as4_path.as_deref()
    };
    let as_path = merge_path(p.as_path.as_deref()?, as4);
    Some(RouteAttrs::from(RouteParts {
        origin: p.origin?,
        as_path: &as_path,
        next_hop: next_hop?,
        med: p.med,
        local_pref: p.local_pref,
        communities: p.communities.as_deref().unwrap_or_default(),
        large_communities: p.large.as_deref().unwrap_or_default(),
    }))
}

/// Appends an attribute, with the extended length when it needs one.
fn attr(out: &mut Vec<u8>, flags: u8, t: u8, value: &[u8]) {
    if value.len() > 255 {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&[flags | EXTENDED, t]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&value[..usize::from(len)]);
    } else {
        out.extend_from_slice(&[flags, t, value.len() as u8]);
        out.extend_from_slice(value);
    }
}

/// AS_SEQUENCE segments of at most 255 ASNs, 2 or 4 bytes each (a 4-byte
/// ASN as [`AS_TRANS`] in 2 bytes).
fn path_value(path: &[u32], four: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for seg in path.chunks(255) {
        v.extend_from_slice(&[AS_SEQUENCE, seg.len() as u8]);
        for &a in seg {
            if four {
                v.extend_from_slice(&a.to_be_bytes());
            } else {
                let a = u16::try_from(a).unwrap_or(AS_TRANS as u16);
                v.extend_from_slice(&a.to_be_bytes());
            }
        }
    }
    v
}

/// Appends `u` as an UPDATE message: IPv4 prefixes in the classic fields,
/// IPv6 ones in MP_REACH_NLRI / MP_UNREACH_NLRI; on a 2-byte session a path
/// with 4-byte ASNs also gets an AS4_PATH. The attributes are written when
/// something is announced; IPv4 routes need an IPv4 next hop (the IPv6 next
/// hop is the attributes' one, or it as a v4-mapped address). The caller
/// keeps the message within 4096 bytes; nothing else is checked.
pub fn encode_update(u: &Update, four_byte_as: bool, out: &mut Vec<u8>) {
    let at = start(out, kind::UPDATE);
    let is_v6 = |p: &&Prefix| p.addr.is_ipv6();
    let is_v4 = |p: &&Prefix| p.addr.is_ipv4();
    let mut w = Vec::new();
    for p in u.withdrawn.iter().filter(is_v4) {
        nlri::encode(p, &mut w);
    }
    out.extend_from_slice(&(w.len() as u16).to_be_bytes());
    out.extend_from_slice(&w);
    let mut a = Vec::new();
    if let Some(r) = u.attrs.as_ref().filter(|_| !u.announced.is_empty()) {
        let origin = match r.origin {
            RouteOrigin::Igp => 0,
            RouteOrigin::Egp => 1,
            RouteOrigin::Incomplete => 2,
        };
        attr(&mut a, TRANSITIVE, attrs::ORIGIN, &[origin]);
        attr(
            &mut a,
            TRANSITIVE,
            attrs::AS_PATH,
            &path_value(r.as_path(), four_byte_as),
        );
        if !four_byte_as && r.as_path().iter().any(|&x| x > 0xffff) {
            let v = path_value(r.as_path(), true);
            attr(&mut a, OPTIONAL | TRANSITIVE, attrs::AS4_PATH, &v);
        }
        if let (IpAddr::V4(nh), true) = (r.next_hop, u.announced.iter().any(|p| p.addr.is_ipv4())) {
            attr(&mut a, TRANSITIVE, attrs::NEXT_HOP, &nh.octets());
        }
        if let Some(m) = r.med {
            attr(&mut a, OPTIONAL, attrs::MED, &m.to_be_bytes());
        }
        if let Some(l) = r.local_pref {
            attr(&mut a, TRANSITIVE, attrs::LOCAL_PREF, &l.to_be_bytes());
        }
        if !r.communities().is_empty() {
            let v: Vec<u8> = r
                .communities()
                .iter()
                .flat_map(|c| c.to_be_bytes())
                .collect();
            attr(&mut a, OPTIONAL | TRANSITIVE, attrs::COMMUNITIES, &v);
        }
        if r.large_communities().len() > 0 {
            let v: Vec<u8> = r
                .large_communities()
                .flatten()
                .flat_map(|c| c.to_be_bytes())
                .collect();
            attr(&mut a, OPTIONAL | TRANSITIVE, attrs::LARGE_COMMUNITY, &v);
        }
        if u.announced.iter().any(|p| p.addr.is_ipv6()) {
            let nh = match r.next_hop {
                IpAddr::V6(x) => x,
                IpAddr::V4(x) => x.to_ipv6_mapped(),
            };
            let mut v = vec![0, 2, 1, 16];
            v.extend_from_slice(&nh.octets());
            v.push(0);
            for p in u.announced.iter().filter(is_v6) {
                nlri::encode(p, &mut v);
            }
            attr(&mut a, OPTIONAL, attrs::MP_REACH, &v);
        }
    }
    if u.withdrawn.iter().any(|p| p.addr.is_ipv6()) {
        let mut v = vec![0, 2, 1];
        for p in u.withdrawn.iter().filter(is_v6) {
            nlri::encode(p, &mut v);
        }
        attr(&mut a, OPTIONAL, attrs::MP_UNREACH, &v);
    }
    out.extend_from_slice(&(a.len() as u16).to_be_bytes());
    out.extend_from_slice(&a);
    if u.attrs.is_some() {
        for p in u.announced.iter().filter(is_v4) {
            nlri::encode(p, out);
        }
    }
    finish(out, at);
}
