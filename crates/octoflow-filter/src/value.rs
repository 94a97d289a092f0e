//! The values a primitive takes: numbers with nfdump's scaling suffixes,
//! addresses and networks (nfdump's abbreviated IPv4 `172.16/12` and the
//! `net A.B.C.D M.M.M.M` mask form too), MACs, protocol names, TCP flags.
//! Each returns the text of what it expected on failure; the parser adds the
//! column.

use std::net::{IpAddr, Ipv4Addr};

use octoflow_prefix::Prefix;

/// A number, with an optional scaling suffix: `k` (10³), `m` (10⁶), `g` (10⁹),
/// case-insensitive, as nfdump's `packets > 1k`.
pub(crate) fn number(s: &str) -> Option<u64> {
    let (digits, scale) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale: u64 = match c.to_ascii_lowercase() {
                'k' => 1_000,
                'm' => 1_000_000,
                'g' => 1_000_000_000,
                _ => return None,
            };
            (&s[..i], scale)
        }
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// A plain number that fits `max`.
pub(crate) fn bounded(s: &str, max: u64) -> Option<u64> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&n| n <= max)
}

/// An IPv4 address with 1 to 4 octets, missing ones zero (`10.1` = `10.1.0.0`),
/// as nfdump reads networks.
fn short_v4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        o[i] = bounded(p, 255)? as u8;
    }
    Some(Ipv4Addr::from(o))
}

/// A full address (`ip`, `host`, `next ip`, `router ip`).
pub(crate) fn address(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// A network: `A/len` (IPv4 may be abbreviated: `172.16/12`), or a bare address
/// (a host). The host bits are cleared, as nfdump applies the mask.
pub(crate) fn network(s: &str) -> Option<Prefix> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr = match a.parse::<IpAddr>() {
        Ok(x) => x,
        Err(_) => IpAddr::V4(short_v4(a)?),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => bounded(l, max)? as u8,
        None => max as u8,
    };
    Some(Prefix { addr, len }.network())
}

/// A dotted IPv4 netmask (`255.255.0.0`) as a prefix length; only contiguous
/// masks are networks.
pub(crate) fn netmask(s: &str) -> Option<u8> {
    let m = u32::from(s.parse::<Ipv4Addr>().ok()?);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`).
pub(crate) fn mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        m[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(m)
}

/// A protocol by number or by the names nfdump knows best.
pub(crate) fn protocol(s: &str) -> Option<u8> {
    if let Some(n) = bounded(s, 255) {
        return Some(n as u8);
    }
    Some(match s.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "ggp" => 3,
        "ipip" | "ipencap" => 4,
        "st" => 5,
        "tcp" => 6,
        "egp" => 8,
        "igp" => 9,
        "udp" => 17,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmp6" | "ipv6-icmp" => 58,
        "eigrp" => 88,
        "ospf" => 89,
        "pim" => 103,
        "vrrp" => 112,
        "l2tp" => 115,
        "sctp" => 132,
        _ => return None,
    })
}

/// TCP flags by letter (`F S R P A U E C`, and `X` for all of FSRPAU).
pub(crate) fn tcp_flags(s: &str) -> Option<u8> {
    let mut f = 0u8;
    for c in s.chars() {
        f |= match c.to_ascii_uppercase() {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'C' => 0x80,
            'X' => 0x3f,
            _ => return None,
        };
    }
    (f != 0).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_scale_by_thousands() {
        assert_eq!(number("1k"), Some(1000));
        assert_eq!(number("2M"), Some(2_000_000));
        assert_eq!(number("3g"), Some(3_000_000_000));
        assert_eq!(number("42"), Some(42));
        for bad in ["", "k", "1x", "-1", "1.5k", "99999999999999999999"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn networks_take_abbreviated_ipv4_and_clear_host_bits() {
        let p = network("172.16/12").expect("net");
        assert_eq!(p.to_string(), "172.16.0.0/12");
        assert_eq!(
            network("10.1.2.3/8").expect("net").to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            network("2001:db8::1/32").expect("net").to_string(),
            "2001:db8::/32"
        );
        assert_eq!(network("192.0.2.7").expect("host").len, 32);
        for bad in ["10.0.0.0/33", "300.1/8", "10.0.0.0.0/8", "x/8", "::/129"] {
            assert!(network(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn netmasks_must_be_contiguous() {
        assert_eq!(netmask("255.255.0.0"), Some(16));
        assert_eq!(netmask("255.255.255.255"), Some(32));
        assert_eq!(netmask("0.0.0.0"), Some(0));
        assert_eq!(netmask("255.0.255.0"), None);
    }

    #[test]
    fn macs_protocols_and_flags() {
        assert_eq!(
            mac("00:1b:21:aa:bb:0c"),
            Some([0, 0x1b, 0x21, 0xaa, 0xbb, 0x0c])
        );
        assert_eq!(
            mac("00-1b-21-aa-bb-0c"),
            Some([0, 0x1b, 0x21, 0xaa, 0xbb, 0x0c])
        );
        assert_eq!(mac("00:1b:21:aa:bb"), None);
        assert_eq!(protocol("TCP"), Some(6));
        assert_eq!(protocol("ipv6-icmp"), Some(58));
        assert_eq!(protocol("300"), None);
        assert_eq!(tcp_flags("SA"), Some(0x12));
        assert_eq!(tcp_flags("x"), Some(0x3f));
        assert_eq!(tcp_flags("SQ"), None);
    }
}
