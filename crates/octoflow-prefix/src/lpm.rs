//! Longest-prefix match: the one place octoflow maps addresses to the most
//! specific prefix that contains them (tenant filters and their verdicts today;
//! sender allowlists, GeoIP/network files and BGP tables build on it).

use std::net::IpAddr;

use prefix_trie::PrefixMap;

use crate::prefix::Prefix;

/// `a` as IPv4 when it is IPv4 or v4-mapped IPv6 (`::ffff:a.b.c.d`), so an IPv4
/// router or host has one identity whichever socket family reported it.
#[inline]
pub fn v4(a: IpAddr) -> Option<std::net::Ipv4Addr> {
    match a {
        IpAddr::V4(x) => Some(x),
        IpAddr::V6(x) => x.to_ipv4_mapped(),
    }
}

/// Longest-prefix classification: the value of the most specific prefix that
/// contains an address. A `prefix-trie` per address family; IPv4 sets of at most
/// [`SMALL`] prefixes (the usual tenant: a few) are scanned linearly instead, most
/// specific first, which is cheaper than a trie walk.
#[derive(Clone, Default)]
pub struct Lpm<V> {
    v4: PrefixMap<(u32, u8), V>,
    v6: PrefixMap<(u128, u8), V>,
    /// (network, mask, value), most specific first.
    pub(crate) small_v4: Option<Vec<(u32, u32, V)>>,
}

/// Sets with at most this many IPv4 prefixes use the linear scan.
pub(crate) const SMALL: usize = 8;

impl<V: Copy> Lpm<V> {
    /// A later value for the same prefix wins.
    pub fn new(items: &[(Prefix, V)]) -> Lpm<V> {
        let mut l = Lpm {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            small_v4: None,
        };
        for &(p, v) in items {
            match p.addr {
                IpAddr::V4(a) => {
                    l.v4.insert((u32::from(a), p.len), v);
                }
                IpAddr::V6(a) => {
                    l.v6.insert((u128::from(a), p.len), v);
                }
            }
        }
        if l.v4.len() <= SMALL {
            let mut small: Vec<(u32, u32, V, u8)> =
                l.v4.iter()
                    .map(|((n, len), &v)| {
                        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                        (n & mask, mask, v, len)
                    })
                    .collect();
            small.sort_by_key(|e| std::cmp::Reverse(e.3));
            l.small_v4 = Some(small.into_iter().map(|(n, m, v, _)| (n, m, v)).collect());
        }
        l
    }

    #[inline]
    pub fn get(&self, a: IpAddr) -> Option<V> {
        if let Some(x) = v4(a) {
            let x = u32::from(x);
            if let Some(small) = &self.small_v4 {
                return small.iter().find(|(n, m, _)| x & m == *n).map(|e| e.2);
            }
            return self.v4.get_lpm(&(x, 32)).map(|(_, &v)| v);
        }
        match a {
            IpAddr::V6(x) => self.v6.get_lpm(&(u128::from(x), 128)).map(|(_, &v)| v),
            IpAddr::V4(_) => None,
        }
    }

    /// The value of the most specific prefix that contains all of `p`.
    pub fn get_prefix(&self, p: &Prefix) -> Option<V> {
        match p.addr {
            IpAddr::V4(a) => self.v4.get_lpm(&(u32::from(a), p.len)).map(|(_, &v)| v),
            IpAddr::V6(a) => self.v6.get_lpm(&(u128::from(a), p.len)).map(|(_, &v)| v),
        }
    }
}
