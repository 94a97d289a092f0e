//! Tenant filters: which flows belong to an exporter's customer.
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

use octoflow_proto::record::v4;
use octoflow_proto::FlowRecord;
use prefix_trie::PrefixMap;

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
    v4: PrefixMap<(u32, u8), bool>,
    v6: PrefixMap<(u128, u8), bool>,
    /// Small IPv4 filters (the usual tenant: a few prefixes): (network, mask,
    /// positive), most specific first, scanned linearly — cheaper than a trie walk.
    small_v4: Option<Vec<(u32, u32, bool)>>,
}

/// Filters with at most this many IPv4 entries use the linear scan.
const SMALL: usize = 8;

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}

impl Filter {
    /// Compile `entries`. Callers reject contradictory duplicates first
    /// ([`Filter::conflict`]); here a later entry for the same prefix wins.
    pub fn new(entries: &[Entry]) -> Filter {
        let mut f = Filter {
            entries: entries.to_vec(),
            ..Filter::default()
        };
        let v4: Vec<&Entry> = entries.iter().filter(|e| e.prefix.addr.is_ipv4()).collect();
        if v4.len() <= SMALL {
            let mut small: Vec<(u32, u32, bool, u8)> = Vec::new();
            for e in &v4 {
                if let IpAddr::V4(a) = e.prefix.addr {
                    let mask = if e.prefix.len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - e.prefix.len)
                    };
                    // A later entry for the same prefix wins, as in the trie.
                    small.retain(|x| !(x.0 == u32::from(a) & mask && x.3 == e.prefix.len));
                    small.push((u32::from(a) & mask, mask, !e.negated, e.prefix.len));
                }
            }
            small.sort_by_key(|e| std::cmp::Reverse(e.3));
            f.small_v4 = Some(small.into_iter().map(|(n, m, p, _)| (n, m, p)).collect());
        }
        for e in entries {
            match e.prefix.addr {
                IpAddr::V4(a) => {
                    f.v4.insert((u32::from(a), e.prefix.len), !e.negated);
                }
                IpAddr::V6(a) => {
                    f.v6.insert((u128::from(a), e.prefix.len), !e.negated);
                }
            }
        }
        f
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
        if let Some(x) = v4(a) {
            if let Some(small) = &self.small_v4 {
                let x = u32::from(x);
                return small
                    .iter()
                    .find(|(n, m, _)| x & m == *n)
                    .is_some_and(|e| e.2);
            }
            return self
                .v4
                .get_lpm(&(u32::from(x), 32))
                .is_some_and(|(_, &pos)| pos);
        }
        match a {
            IpAddr::V6(x) => self
                .v6
                .get_lpm(&(u128::from(x), 128))
                .is_some_and(|(_, &pos)| pos),
            IpAddr::V4(_) => false,
        }
    }

    /// Whether the flow is the tenant's: its source or its destination belongs.
    #[inline]
    pub fn flow(&self, r: &FlowRecord) -> bool {
        self.is_empty() || self.address(r.src_addr) || self.address(r.dst_addr)
    }

    /// The classification of a whole prefix: the most specific entry that contains
    /// all of `p` (not one inside it).
    fn prefix_class(&self, p: &Prefix) -> bool {
        match p.addr {
            IpAddr::V4(a) => self
                .v4
                .get_lpm(&(u32::from(a), p.len))
                .is_some_and(|(_, &pos)| pos),
            IpAddr::V6(a) => self
                .v6
                .get_lpm(&(u128::from(a), p.len))
                .is_some_and(|(_, &pos)| pos),
        }
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
        let mut r = FlowRecord {
            src_addr: a("198.51.100.1"),
            dst_addr: a("10.0.2.139"),
            ..FlowRecord::default()
        };
        assert!(t.flow(&r));
        r.dst_addr = a("10.0.2.140");
        assert!(!t.flow(&r));
        r.src_addr = a("10.0.2.142");
        assert!(t.flow(&r));
        assert!(f(&[]).flow(&r));
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
        assert!(small.small_v4.is_some());
        for i in 0..20u8 {
            entries.push(format!("192.0.2.{i}").parse().expect("entry"));
        }
        let large = Filter::new(&entries);
        assert!(large.small_v4.is_none());
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
}
