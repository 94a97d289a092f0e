//! A synthetic full table, after the routing lab's generator: for route i,
//! k = i % 65536, L = i / 65536, a = k >> 8, b = k & 255. IPv4 `F.a.b.0/24`
//! for L = 0 and the more-specific `/24+L` with its top L host bits set for
//! L ≥ 1 (up to /32, 589,824 routes per first octet F = 10, 11, ...); IPv6
//! `2001:db8:k::/48` and the like. Origin AS o = 64500 + (a+L) % 100, path
//! by k % 4, next hop 192.0.2.(1+k%4) / 3fff::(1+k%4), communities
//! `65001:a o:b` (+ `65001:666` when k % 10 == 0), MED (k%5)*10, ORIGIN IGP
//! or INCOMPLETE when k % 10 == 9, and with `large` one large community
//! `65001:o:i` that makes every route's attributes distinct.
//!
//! For benchmarks and examples (this crate's and the daemon's); not an API.

use std::net::IpAddr;

use crate::{Prefix, RouteAttrs, RouteOrigin, RouteParts};

/// IPv4 routes per first octet.
const PER_OCTET: u32 = 9 * 65536;

pub fn attrs(i: u32, v6: bool, large: bool) -> RouteAttrs {
    let k = (i % PER_OCTET) % 65536;
    let l = (i % PER_OCTET) / 65536;
    let (a, b) = (k >> 8, k & 255);
    let o = 64500 + (a + l) % 100;
    let as_path: Vec<u32> = match k % 4 {
        0 => vec![65001, o],
        1 => vec![65001, 4_200_000_000 + a, o],
        2 => vec![65001, 64496, o],
        _ => vec![65001, o, o, o],
    };
    let mut communities = vec![65001 << 16 | a, o << 16 | b];
    if k % 10 == 0 {
        communities.push(65001 << 16 | 666);
    }
    let hop = 1 + (k % 4) as u8;
    let next_hop = if v6 {
        IpAddr::from([0x3f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, hop])
    } else {
        IpAddr::from([192, 0, 2, hop])
    };
    let large: &[[u32; 3]] = if large { &[[65001, o, i]] } else { &[] };
    RouteAttrs::from(RouteParts {
        origin: if k % 10 == 9 {
            RouteOrigin::Incomplete
        } else {
            RouteOrigin::Igp
        },
        as_path: &as_path,
        next_hop,
        med: Some((k % 5) * 10),
        local_pref: None,
        communities: &communities,
        large_communities: large,
    })
}

pub fn v4_prefix(i: u32) -> Prefix {
    let first = 10 + i / PER_OCTET;
    let k = (i % PER_OCTET) % 65536;
    let l = (i % PER_OCTET) / 65536;
    let last = if l == 0 { 0 } else { 256 - (1 << (8 - l)) };
    let a = first << 24 | k << 8 | last;
    Prefix {
        addr: IpAddr::V4(a.into()),
        len: 24 + l as u8,
    }
}

pub fn v6_prefix(i: u32) -> Prefix {
    let k = u128::from(i % 65536);
    let l = i / 65536;
    let fourth: u128 = if l == 0 { 0 } else { 0x10000 - (1 << (16 - l)) };
    let a = 0x2001_0db8u128 << 96 | k << 80 | fourth << 64;
    Prefix {
        addr: IpAddr::V6(a.into()),
        len: 48 + l as u8,
    }
}

/// Loads `n4` IPv4 and `n6` IPv6 routes.
pub fn load(rib: &mut crate::Rib, n4: u32, n6: u32, large: bool) {
    for i in 0..n4 {
        rib.announce(v4_prefix(i), attrs(i, false, large));
    }
    for i in 0..n6 {
        rib.announce(v6_prefix(i), attrs(i, true, large));
    }
}

/// SplitMix64: fixed-seed numbers, so every run looks up the same addresses.
pub struct Numbers(pub u64);

impl Numbers {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
