//! Tenant filters: which flows belong to an output's customer, and every
//! tenant's verdict on a flow at once ([`Verdicts`]).
//!
//! Semantics (README "Filters"): each address is classified by the **most specific**
//! matching entry and belongs to the tenant when that entry is positive; a flow is
//! delivered when its source or its destination belongs. No entries = everything.
//! A v4-mapped IPv6 address (`::ffff:a.b.c.d`) is matched as IPv4.
//!
//! Lookups are longest-prefix matches in a `prefix-trie` per address family, so the
//! cost per flow does not grow with the number of entries.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use crate::lpm::Lpm;
use crate::prefix::Prefix;

/// One entry of a `filters` list: a prefix, positive or negated with `!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    pub prefix: Prefix,
    pub negated: bool,
}

impl FromStr for Entry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (negated, rest) = match t.strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, t),
        };
        let prefix: Prefix = rest
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR prefix"))?;
        Ok(Entry {
            prefix: prefix.network(),
            negated,
        })
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("!")?;
        }
        if self.prefix.is_host() {
            write!(f, "{}", self.prefix.addr)
        } else {
            write!(f, "{}", self.prefix)
        }
    }
}

/// A compiled tenant filter.
#[derive(Clone, Default)]
pub struct Filter {
    entries: Vec<Entry>,
    /// Each prefix's sign: true = the tenant's.
    lpm: Lpm<bool>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}

impl Filter {
    /// Compile `entries`. Callers reject contradictory duplicates first
    /// ([`Filter::conflict`]); here a later entry for the same prefix wins.
    pub fn new(entries: &[Entry]) -> Filter {
        let items: Vec<(Prefix, bool)> = entries.iter().map(|e| (e.prefix, !e.negated)).collect();
        Filter {
            entries: entries.to_vec(),
            lpm: Lpm::new(&items),
        }
    }

    /// A filter every address belongs to (`0.0.0.0/0` and `::/0`): for an
    /// output that takes everything but still needs a verdict bit.
    pub fn everything() -> Filter {
        let all = |addr: IpAddr| Entry {
            prefix: Prefix { addr, len: 0 },
            negated: false,
        };
        Filter::new(&[all(IpAddr::from([0u8; 4])), all(IpAddr::from([0u16; 8]))])
    }

    /// The first pair of entries naming the same prefix with opposite signs.
    pub fn conflict(entries: &[Entry]) -> Option<(usize, usize)> {
        for (i, a) in entries.iter().enumerate() {
            for (j, b) in entries.iter().enumerate().skip(i + 1) {
                if a.prefix == b.prefix && a.negated != b.negated {
                    return Some((i, j));
                }
            }
        }
        None
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// True when the filter has no entries and so passes every flow.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `a` belongs to the tenant (most specific entry positive).
    #[inline]
    pub fn address(&self, a: IpAddr) -> bool {
        self.lpm.get(a).unwrap_or(false)
    }

    /// Whether a flow from `src` to `dst` is the tenant's: its source or its
    /// destination belongs.
    #[inline]
    pub fn flow(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.is_empty() || self.address(src) || self.address(dst)
    }

    /// The classification of a whole prefix: the most specific entry that contains
    /// all of `p` (not one inside it).
    fn prefix_class(&self, p: &Prefix) -> bool {
        self.lpm.get_prefix(p).unwrap_or(false)
    }

    /// A prefix whose addresses (at least those not covered by a more specific entry
    /// of either filter) belong to both tenants, if there is one. Empty filters are
    /// "everything" and are not checked here (an unfiltered receiver is deliberate).
    ///
    /// Both classifications are constant on each entry's prefix minus the more
    /// specific entries inside it, so checking every entry of both filters at its own
    /// prefix finds any overlap (it may report a prefix that more specific entries
    /// cover entirely; that case is rare and only costs a warning).
    pub fn overlap(&self, other: &Filter) -> Option<Prefix> {
        if self.is_empty() || other.is_empty() {
            return None;
        }
        self.entries
            .iter()
            .chain(other.entries.iter())
            .map(|e| e.prefix)
            .find(|p| self.prefix_class(p) && other.prefix_class(p))
    }
}

/// Every tenant's verdict on a flow at once: bit `i` of [`Verdicts::flow`] says
/// whether `filters[i]` passes it. A collector computes this once per record, while
/// the record is still in its cache, so that each exporter reads one word per record
/// instead of the record itself and looks up only the records that are its own.
///
/// One longest-prefix match per address serves all filters: for the most specific
/// prefix `p` of *any* filter that contains an address, each filter's own most
/// specific entry containing that address is its most specific entry containing
/// all of `p` (any shorter prefix that contains the address contains `p`). So each
/// prefix of the union is stored with the bits of the filters that classify it
/// positive, and an address no prefix contains belongs to no filtered tenant.
#[derive(Clone, Default)]
pub struct Verdicts {
    filters: Vec<Arc<Filter>>,
    /// The bits of the empty filters (they pass everything).
    always: u64,
    lpm: Lpm<u64>,
}

impl Verdicts {
    /// Most filters one table serves (the bits of a `u64`).
    pub const MAX: usize = 64;

    /// The table for `filters` (bit `i` for `filters[i]`); `None` for more than
    /// [`Verdicts::MAX`].
    pub fn new(filters: Vec<Arc<Filter>>) -> Option<Verdicts> {
        if filters.len() > Self::MAX {
            return None;
        }
        let mut always = 0u64;
        let mut prefixes: Vec<Prefix> = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            if f.is_empty() {
                always |= 1 << i;
            }
            prefixes.extend(f.entries.iter().map(|e| e.prefix));
        }
        prefixes.sort_by_key(|p| (p.addr, p.len));
        prefixes.dedup();
        let items: Vec<(Prefix, u64)> = prefixes
            .iter()
            .map(|p| {
                let bits = filters
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.is_empty() && f.prefix_class(p))
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                (*p, bits)
            })
            .collect();
        Some(Verdicts {
            filters,
            always,
            lpm: Lpm::new(&items),
        })
    }

    /// The filters, in bit order.
    pub fn filters(&self) -> &[Arc<Filter>] {
        &self.filters
    }

    /// The bit of a filter with the same entries as `f`, if the table has one.
    pub fn bit_of(&self, f: &Arc<Filter>) -> Option<u64> {
        self.filters
            .iter()
            .position(|x| Arc::ptr_eq(x, f) || x.entries == f.entries)
            .map(|i| 1 << i)
    }

    /// Which filters pass the flow: its source or its destination belongs.
    #[inline]
    pub fn flow(&self, src: IpAddr, dst: IpAddr) -> u64 {
        self.always | self.lpm.get(src).unwrap_or(0) | self.lpm.get(dst).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(list: &[&str]) -> Filter {
        let e: Vec<Entry> = list.iter().map(|s| s.parse().expect("entry")).collect();
        Filter::new(&e)
    }
    fn a(s: &str) -> IpAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn everything_takes_every_address_and_gets_its_verdict_bit() {
        let e = Filter::everything();
        assert!(!e.is_empty());
        for x in [
            "0.0.0.0",
            "10.1.2.3",
            "255.255.255.255",
            "::",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(e.address(a(x)), "{x}");
        }
        let v = Verdicts::new(vec![Arc::new(f(&["10.0.0.0/8"])), Arc::new(e)]).unwrap();
        assert_eq!(v.flow(a("10.0.0.1"), a("192.0.2.1")), 0b11);
        assert_eq!(v.flow(a("2001:db8::1"), a("192.0.2.1")), 0b10);
    }

    #[test]
    fn most_specific_entry_wins() {
        let t = f(&["10.0.1.0/24", "!10.0.1.254"]);
        assert!(t.address(a("10.0.1.1")));
        assert!(t.address(a("10.0.1.253")));
        assert!(!t.address(a("10.0.1.254")));
        assert!(!t.address(a("10.0.2.1")));
        // Order does not matter.
        let t = f(&["!10.0.1.254", "10.0.1.0/24"]);
        assert!(!t.address(a("10.0.1.254")));
        assert!(t.address(a("10.0.1.7")));
        // A positive inside a negative inside a positive.
        let t = f(&["172.16.0.0/12", "!172.17.1.0/24", "172.17.1.128/25"]);
        assert!(t.address(a("172.31.255.255")));
        assert!(!t.address(a("172.17.1.5")));
        assert!(t.address(a("172.17.1.200")));
        assert!(!t.address(a("172.32.0.1")));
    }

    #[test]
    fn source_or_destination_and_empty_means_everything() {
        let t = f(&["10.0.2.142", "10.0.2.139"]);
        assert!(t.flow(a("198.51.100.1"), a("10.0.2.139")));
        assert!(!t.flow(a("198.51.100.1"), a("10.0.2.140")));
        assert!(t.flow(a("10.0.2.142"), a("10.0.2.140")));
        assert!(f(&[]).flow(a("10.0.2.142"), a("10.0.2.140")));
    }

    #[test]
    fn ipv6_and_v4_mapped() {
        let t = f(&["2001:db8:1::/48", "!2001:db8:1:ff::/64", "10.0.1.0/24"]);
        assert!(t.address(a("2001:db8:1:2::1")));
        assert!(!t.address(a("2001:db8:1:ff::1")));
        assert!(!t.address(a("2001:db8:2::1")));
        assert!(t.address(a("::ffff:10.0.1.9")));
        assert!(!t.address(a("::ffff:10.0.3.9")));
        // An IPv4 filter never matches a native IPv6 address and vice versa.
        assert!(!f(&["0.0.0.0/0"]).address(a("2001:db8::1")));
        assert!(!f(&["::/0"]).address(a("10.0.0.1")));
    }

    #[test]
    fn host_bits_are_masked_and_entries_print_back() {
        let e: Entry = "10.0.1.77/24".parse().expect("entry");
        assert_eq!(e.to_string(), "10.0.1.0/24");
        let e: Entry = " ! 10.0.1.254 ".parse().expect("entry");
        assert_eq!(e.to_string(), "!10.0.1.254");
        let err = "10.0.2.300".parse::<Entry>().expect_err("bad");
        assert_eq!(err, "\"10.0.2.300\" is not an IP address or CIDR prefix");
        assert!("!".parse::<Entry>().is_err());
        assert!("10.0.0.0/33".parse::<Entry>().is_err());
    }

    #[test]
    fn small_and_large_filters_agree() {
        let mut entries: Vec<Entry> = ["10.0.0.0/8", "!10.1.0.0/16", "10.1.2.0/24", "!10.1.2.3"]
            .iter()
            .map(|s| s.parse().expect("entry"))
            .collect();
        let small = Filter::new(&entries);
        assert!(small.lpm.small_v4.is_some());
        for i in 0..20u8 {
            entries.push(format!("192.0.2.{i}").parse().expect("entry"));
        }
        let large = Filter::new(&entries);
        assert!(large.lpm.small_v4.is_none());
        for a in [
            "10.9.9.9",
            "10.1.9.9",
            "10.1.2.9",
            "10.1.2.3",
            "11.0.0.1",
            "::ffff:10.1.2.9",
        ] {
            let a = a.parse().expect("ip");
            assert_eq!(small.address(a), large.address(a), "{a}");
        }
    }

    #[test]
    fn overlap_is_found_and_exclusions_respected() {
        let foo = f(&["10.0.1.0/24", "!10.0.1.254"]);
        let host = f(&["10.0.1.254"]);
        assert_eq!(foo.overlap(&host), None);
        let host2 = f(&["10.0.1.7"]);
        assert_eq!(
            foo.overlap(&host2).map(|p| p.to_string()),
            Some("10.0.1.7/32".into())
        );
        let legacy = f(&["172.16.0.0/12", "!172.17.1.0/24"]);
        assert_eq!(foo.overlap(&legacy), None);
        let inner = f(&["172.17.1.0/25"]);
        assert_eq!(legacy.overlap(&inner), None);
        let wide = f(&["10.0.0.0/8"]);
        assert!(foo.overlap(&wide).is_some());
        assert_eq!(foo.overlap(&f(&[])), None);
    }

    #[test]
    fn verdicts_agree_with_each_filter() {
        // Nested, negated, overlapping, v4 and v6, small and large filters, an
        // empty one; random addresses biased towards the prefixes' edges.
        // A fixed-seed LCG (Knuth's MMIX constants): repeatable, and enough here.
        let mut state = 7u64;
        let mut pick = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut filters: Vec<Arc<Filter>> = vec![
            Arc::new(f(&["10.0.1.0/24", "!10.0.1.254"])),
            Arc::new(f(&["10.0.0.0/8", "!10.0.1.0/24", "10.0.1.128/25"])),
            Arc::new(f(&[])),
            Arc::new(f(&["2001:db8::/32", "!2001:db8:1::/48", "10.0.1.7"])),
            Arc::new(f(&["0.0.0.0/0", "!10.0.0.0/8"])),
        ];
        let mut big = Vec::new();
        for i in 0..40u32 {
            let len = 8 + (i % 25) as u8;
            let addr = std::net::Ipv4Addr::from(0x0a00_0000u32 | (i * 0x0001_3579) & 0x00ff_ffff);
            big.push(Entry {
                prefix: Prefix {
                    addr: IpAddr::V4(addr),
                    len,
                }
                .network(),
                negated: i % 3 == 0,
            });
        }
        big.dedup_by_key(|e| e.prefix);
        filters.push(Arc::new(Filter::new(&big)));
        let v = Verdicts::new(filters.clone()).expect("fits");
        let probes: Vec<IpAddr> = filters
            .iter()
            .flat_map(|f| f.entries().to_vec())
            .flat_map(|e| {
                let p = e.prefix;
                [p.addr, p.nth(1), p.nth(u128::MAX)]
            })
            .chain((0..2000).map(|_| {
                let x = 0x0a00_0000u32 | pick(1 << 24) as u32;
                IpAddr::V4(x.into())
            }))
            .chain(
                [
                    "11.1.1.1",
                    "::ffff:10.0.1.9",
                    "2001:db8:1::5",
                    "2001:db9::1",
                    "::1",
                ]
                .iter()
                .map(|s| a(s)),
            )
            .collect();
        for &s in &probes {
            for d in [a("192.0.2.1"), a("10.0.1.254"), s] {
                let want = filters
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, f)| m | (f.flow(s, d) as u64) << i);
                assert_eq!(v.flow(s, d), want, "{s} -> {d}");
            }
        }
        assert_eq!(v.bit_of(&filters[3]), Some(1 << 3));
        assert_eq!(
            v.bit_of(&Arc::new(f(&["10.0.1.0/24", "!10.0.1.254"]))),
            Some(1)
        );
        assert_eq!(v.bit_of(&Arc::new(f(&["10.9.0.0/16"]))), None);
    }
}
