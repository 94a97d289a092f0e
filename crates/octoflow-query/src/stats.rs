//! Top-N statistics (`-s FIELD[/ORDER…]`) and aggregation (`-a`, `-A
//! FIELD,…`): flows grouped by a key of one or more fields, summed, and the
//! largest groups listed. A key is a fixed array of parts (no allocation per
//! record); "either side" fields (`ip`, `port`, `as`, …) count a flow under its
//! source and its destination value (once when they are equal).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use octoflow_proto::FlowRecord;

use crate::counters::{Counters, Order};

/// One field a key can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyField {
    SrcIp,
    DstIp,
    NextHop,
    Router,
    SrcPort,
    DstPort,
    Proto,
    Tos,
    SrcAs,
    DstAs,
    InIf,
    OutIf,
    SrcMask,
    DstMask,
    SrcVlan,
    DstVlan,
}

impl KeyField {
    /// nfdump's name for the field (`-s` and `-A`), and its column title.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            KeyField::SrcIp => ("srcip", "Src IP Addr"),
            KeyField::DstIp => ("dstip", "Dst IP Addr"),
            KeyField::NextHop => ("nhip", "Nexthop IP"),
            KeyField::Router => ("router", "Router IP"),
            KeyField::SrcPort => ("srcport", "Src Port"),
            KeyField::DstPort => ("dstport", "Dst Port"),
            KeyField::Proto => ("proto", "Protocol"),
            KeyField::Tos => ("tos", "Tos"),
            KeyField::SrcAs => ("srcas", "Src AS"),
            KeyField::DstAs => ("dstas", "Dst AS"),
            KeyField::InIf => ("inif", "Input If"),
            KeyField::OutIf => ("outif", "Output If"),
            KeyField::SrcMask => ("srcmask", "Src Mask"),
            KeyField::DstMask => ("dstmask", "Dst Mask"),
            KeyField::SrcVlan => ("srcvlan", "Src Vlan"),
            KeyField::DstVlan => ("dstvlan", "Dst Vlan"),
        }
    }

    /// The record field (the schema's name) this key field reads.
    pub fn field(self) -> &'static str {
        match self {
            KeyField::SrcIp => "src_addr",
            KeyField::DstIp => "dst_addr",
            KeyField::NextHop => "next_hop",
            KeyField::Router => "exporter",
            KeyField::SrcPort => "src_port",
            KeyField::DstPort => "dst_port",
            KeyField::Proto => "proto",
            KeyField::Tos => "tos",
            KeyField::SrcAs => "src_as",
            KeyField::DstAs => "dst_as",
            KeyField::InIf => "input_if",
            KeyField::OutIf => "output_if",
            KeyField::SrcMask => "src_mask",
            KeyField::DstMask => "dst_mask",
            KeyField::SrcVlan => "src_vlan",
            KeyField::DstVlan => "dst_vlan",
        }
    }

    const ALL: [KeyField; 16] = [
        KeyField::SrcIp,
        KeyField::DstIp,
        KeyField::NextHop,
        KeyField::Router,
        KeyField::SrcPort,
        KeyField::DstPort,
        KeyField::Proto,
        KeyField::Tos,
        KeyField::SrcAs,
        KeyField::DstAs,
        KeyField::InIf,
        KeyField::OutIf,
        KeyField::SrcMask,
        KeyField::DstMask,
        KeyField::SrcVlan,
        KeyField::DstVlan,
    ];

    fn by_name(s: &str) -> Option<KeyField> {
        let s = s.trim().to_ascii_lowercase();
        let s = match s.as_str() {
            "srcaddr" => "srcip",
            "dstaddr" => "dstip",
            "nexthop" => "nhip",
            "srcip4" | "srcip6" => "srcip",
            "dstip4" | "dstip6" => "dstip",
            other => other,
        };
        KeyField::ALL.into_iter().find(|f| f.names().0 == s)
    }

    #[inline]
    fn part(self, r: &FlowRecord) -> Part {
        match self {
            KeyField::SrcIp => Part::Addr(r.src_addr),
            KeyField::DstIp => Part::Addr(r.dst_addr),
            KeyField::NextHop => Part::Addr(r.next_hop),
            KeyField::Router => Part::Addr(r.exporter),
            KeyField::SrcPort => Part::Num(r.src_port as u64),
            KeyField::DstPort => Part::Num(r.dst_port as u64),
            KeyField::Proto => Part::Proto(r.proto),
            KeyField::Tos => Part::Num(r.tos as u64),
            KeyField::SrcAs => Part::Num(r.src_as as u64),
            KeyField::DstAs => Part::Num(r.dst_as as u64),
            KeyField::InIf => Part::Num(r.input_if as u64),
            KeyField::OutIf => Part::Num(r.output_if as u64),
            KeyField::SrcMask => Part::Num(r.src_mask as u64),
            KeyField::DstMask => Part::Num(r.dst_mask as u64),
            KeyField::SrcVlan => Part::Num(r.src_vlan as u64),
            KeyField::DstVlan => Part::Num(r.dst_vlan as u64),
        }
    }
}

impl KeyField {
    /// Put `p` (a value of this field) into `r`: an aggregated flow printed as
    /// a flow shows its key's fields.
    pub fn set(self, r: &mut FlowRecord, p: Part) {
        let n = match p {
            Part::Num(n) => n,
            Part::Proto(x) => x as u64,
            Part::Addr(_) => 0,
        };
        let a = match p {
            Part::Addr(a) => a,
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        match self {
            KeyField::SrcIp => r.src_addr = a,
            KeyField::DstIp => r.dst_addr = a,
            KeyField::NextHop => r.next_hop = a,
            KeyField::Router => r.exporter = a,
            KeyField::SrcPort => r.src_port = n as u16,
            KeyField::DstPort => r.dst_port = n as u16,
            KeyField::Proto => r.proto = n as u8,
            KeyField::Tos => r.tos = n as u8,
            KeyField::SrcAs => r.src_as = n as u32,
            KeyField::DstAs => r.dst_as = n as u32,
            KeyField::InIf => r.input_if = n as u32,
            KeyField::OutIf => r.output_if = n as u32,
            KeyField::SrcMask => r.src_mask = n as u8,
            KeyField::DstMask => r.dst_mask = n as u8,
            KeyField::SrcVlan => r.src_vlan = n as u16,
            KeyField::DstVlan => r.dst_vlan = n as u16,
        }
    }
}

/// One value of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Addr(IpAddr),
    Num(u64),
    Proto(u8),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Addr(a) => write!(f, "{a}"),
            Part::Num(n) => write!(f, "{n}"),
            Part::Proto(p) => f.write_str(&proto_name(*p)),
        }
    }
}

/// nfdump's protocol names for the common protocols, the number otherwise.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "ICMP6".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

/// The most fields a key holds (`-A` lists, the 5-tuple of `record`).
pub const MAX_KEY: usize = 6;

/// A group's key: up to [`MAX_KEY`] parts.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    parts: [Part; MAX_KEY],
    len: u8,
}

impl Key {
    pub fn parts(&self) -> &[Part] {
        &self.parts[..self.len as usize]
    }
}

// Hashed and compared on the parts in use only: a one-field key (most `-s`
// tables) would otherwise hash and compare six parts, five of them padding —
// most of a table's cost per flow.
impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.parts() == o.parts()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

const NO_PART: Part = Part::Addr(IpAddr::V4(Ipv4Addr::UNSPECIFIED));

/// What `-s` groups by: one field, either side of a pair, or several (`record`,
/// `-A`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    One(KeyField),
    /// Count a flow under both fields' values (once when equal).
    Either(KeyField, KeyField),
    Fields(Vec<KeyField>),
}

/// `-s FIELD[/ORDER…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatSpec {
    pub name: String,
    pub grouping: Grouping,
    pub orders: Vec<Order>,
}

/// The 5-tuple `record` statistics and `-a` group by.
pub const FIVE_TUPLE: [KeyField; 5] = [
    KeyField::SrcIp,
    KeyField::DstIp,
    KeyField::SrcPort,
    KeyField::DstPort,
    KeyField::Proto,
];

impl FromStr for StatSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<StatSpec, String> {
        let mut it = s.split('/');
        let name = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let pair = |a, b| Grouping::Either(a, b);
        let grouping = match name.as_str() {
            "record" => Grouping::Fields(FIVE_TUPLE.to_vec()),
            "ip" => pair(KeyField::SrcIp, KeyField::DstIp),
            "port" => pair(KeyField::SrcPort, KeyField::DstPort),
            "as" => pair(KeyField::SrcAs, KeyField::DstAs),
            "if" => pair(KeyField::InIf, KeyField::OutIf),
            "mask" => pair(KeyField::SrcMask, KeyField::DstMask),
            "vlan" => pair(KeyField::SrcVlan, KeyField::DstVlan),
            other => match KeyField::by_name(other) {
                Some(f) => Grouping::One(f),
                None => {
                    let known: Vec<&str> = KeyField::ALL.iter().map(|f| f.names().0).collect();
                    return Err(format!(
                        "-s {s}: {name:?} is not a statistic (record, ip, port, as, if, mask, vlan, {})",
                        known.join(", ")
                    ));
                }
            },
        };
        let mut orders = Vec::new();
        for o in it {
            orders.push(o.parse::<Order>().map_err(|e| format!("-s {s}: {e}"))?);
        }
        if orders.is_empty() {
            orders.push(Order::Flows);
        }
        Ok(StatSpec {
            name,
            grouping,
            orders,
        })
    }
}

/// `-A FIELD,…` as a grouping.
pub fn aggregation(list: &str) -> Result<Grouping, String> {
    let mut fields = Vec::new();
    for n in list.split(',').filter(|n| !n.trim().is_empty()) {
        let f = KeyField::by_name(n)
            .ok_or_else(|| format!("-A {list}: {n:?} is not a field to aggregate on"))?;
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    if fields.is_empty() || fields.len() > MAX_KEY {
        return Err(format!("-A {list}: give 1 to {MAX_KEY} fields"));
    }
    Ok(Grouping::Fields(fields))
}

/// Groups and their sums.
pub struct TopN {
    grouping: Grouping,
    /// foldhash, not the standard SipHash: hashing the key is most of a
    /// table's cost per flow, and foldhash is several times faster on it while
    /// still seeded per table (keys come from the network).
    groups: HashMap<Key, Counters, foldhash::fast::RandomState>,
    /// One-field tables (most of `-s`) keep their groups here instead: an
    /// entry is a part and its counters, one cache line instead of three, and
    /// a table of 100 000 groups is lookups that mostly miss the cache.
    singles: HashMap<Part, Counters, foldhash::fast::RandomState>,
    /// Every flow added, once.
    pub total: Counters,
}

/// A table's rows, largest (or earliest) first.
pub struct Table {
    pub rows: Vec<(Key, Counters)>,
    /// The sums over every flow (for percentages).
    pub total: Counters,
    /// Groups in all, before cutting to N.
    pub groups: usize,
}

impl Grouping {
    /// The title of a one-field table (nfdump's column name); `None` for keys
    /// of several fields.
    pub fn title(&self) -> Option<&'static str> {
        match self {
            Grouping::One(f) => Some(f.names().1),
            Grouping::Either(a, _) => Some(match a {
                KeyField::SrcIp => "IP Addr",
                KeyField::SrcPort => "Port",
                KeyField::SrcAs => "AS",
                KeyField::InIf => "Interface",
                KeyField::SrcMask => "Mask",
                _ => "Vlan",
            }),
            Grouping::Fields(_) => None,
        }
    }

    /// The record fields (schema names) a table of this grouping reads: its
    /// key's, and the counters' (`packets`, `bytes`, `first`, `last`).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut v = vec!["packets", "bytes", "first", "last"];
        match self {
            Grouping::One(f) => v.push(f.field()),
            Grouping::Either(a, b) => v.extend([a.field(), b.field()]),
            Grouping::Fields(fs) => v.extend(fs.iter().map(|f| f.field())),
        }
        v
    }

    /// A record holding a key's values (the rest zero), for printing an
    /// aggregated flow.
    pub fn record(&self, k: &Key) -> FlowRecord {
        let mut r = FlowRecord::default();
        if let Grouping::Fields(fs) = self {
            for (f, p) in fs.iter().zip(k.parts()) {
                f.set(&mut r, *p);
            }
        }
        r
    }
}

impl TopN {
    pub fn new(grouping: Grouping) -> TopN {
        TopN {
            grouping,
            groups: HashMap::default(),
            singles: HashMap::default(),
            total: Counters::default(),
        }
    }

    #[inline]
    pub fn add(&mut self, r: &FlowRecord) {
        self.total.add(r);
        match &self.grouping {
            Grouping::One(f) => self.singles.entry(f.part(r)).or_default().add(r),
            Grouping::Either(a, b) => {
                let (pa, pb) = (a.part(r), b.part(r));
                self.singles.entry(pa).or_default().add(r);
                if pa != pb {
                    self.singles.entry(pb).or_default().add(r);
                }
            }
            Grouping::Fields(fs) => {
                let mut k = Key {
                    parts: [NO_PART; MAX_KEY],
                    len: fs.len() as u8,
                };
                for (i, f) in fs.iter().enumerate() {
                    k.parts[i] = f.part(r);
                }
                self.groups.entry(k).or_default().add(r);
            }
        }
    }

    /// The top `n` groups by `order` (all when `n` is 0); ties by key, so the
    /// table is the same however the flows arrived.
    pub fn table(&self, order: Order, n: usize) -> Table {
        // References only (24 bytes a group, not a copy of every key and its
        // counters): with millions of groups the copies were most of the RSS.
        // The top n are selected in place, then sorted and copied.
        let mut refs: Vec<(&[Part], &Counters)> = self
            .groups
            .iter()
            .map(|(k, c)| (k.parts(), c))
            .chain(
                self.singles
                    .iter()
                    .map(|(p, c)| (std::slice::from_ref(p), c)),
            )
            .collect();
        let cmp = |a: &(&[Part], &Counters), b: &(&[Part], &Counters)| {
            let (x, y) = (a.1.by(order), b.1.by(order));
            let o = if order.descending() {
                y.cmp(&x)
            } else {
                x.cmp(&y)
            };
            o.then_with(|| a.0.cmp(b.0))
        };
        if n > 0 && n < refs.len() {
            refs.select_nth_unstable_by(n - 1, cmp);
            refs.truncate(n);
        }
        refs.sort_unstable_by(cmp);
        let rows = refs
            .into_iter()
            .map(|(parts, c)| {
                let mut k = Key {
                    parts: [NO_PART; MAX_KEY],
                    len: parts.len() as u8,
                };
                k.parts[..parts.len()].copy_from_slice(parts);
                (k, *c)
            })
            .collect();
        Table {
            rows,
            total: self.total,
            groups: self.groups.len() + self.singles.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, packets: u64) -> FlowRecord {
        FlowRecord {
            src_addr: src.into(),
            dst_addr: dst.into(),
            src_port: sp,
            dst_port: dp,
            proto: 6,
            packets,
            bytes: packets * 100,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn one_field_tables_are_ordered_and_cut() {
        let spec: StatSpec = "srcip/bytes/flows".parse().expect("spec");
        assert_eq!(spec.orders, vec![Order::Bytes, Order::Flows]);
        let mut t = TopN::new(spec.grouping);
        t.add(&flow([10, 0, 0, 1], [1, 1, 1, 1], 1, 80, 5));
        t.add(&flow([10, 0, 0, 2], [1, 1, 1, 1], 1, 80, 50));
        t.add(&flow([10, 0, 0, 1], [1, 1, 1, 1], 1, 80, 1));
        let by_bytes = t.table(Order::Bytes, 1);
        assert_eq!(by_bytes.rows.len(), 1);
        assert_eq!(
            by_bytes.rows[0].0.parts(),
            &[Part::Addr([10, 0, 0, 2].into())]
        );
        assert_eq!(by_bytes.groups, 2);
        let by_flows = t.table(Order::Flows, 0);
        assert_eq!(by_flows.rows[0].1.flows, 2);
        assert_eq!(by_flows.total.flows, 3);
    }

    #[test]
    fn either_side_counts_both_values_once_each() {
        let mut t = TopN::new("ip".parse::<StatSpec>().expect("spec").grouping);
        t.add(&flow([10, 0, 0, 1], [10, 0, 0, 2], 1, 80, 5));
        t.add(&flow([10, 0, 0, 3], [10, 0, 0, 3], 1, 80, 5));
        let tab = t.table(Order::Flows, 0);
        assert_eq!(tab.groups, 3);
        assert!(tab.rows.iter().all(|r| r.1.flows == 1));
        assert_eq!(tab.total.flows, 2);
    }

    #[test]
    fn aggregation_groups_by_the_listed_fields() {
        let g = aggregation("srcip,dstport").expect("fields");
        let mut t = TopN::new(g);
        t.add(&flow([10, 0, 0, 1], [1, 1, 1, 1], 1000, 80, 5));
        t.add(&flow([10, 0, 0, 1], [2, 2, 2, 2], 2000, 80, 5));
        t.add(&flow([10, 0, 0, 1], [2, 2, 2, 2], 2000, 443, 5));
        let tab = t.table(Order::Packets, 0);
        assert_eq!(tab.groups, 2);
        assert_eq!(tab.rows[0].1.packets, 10);
        assert_eq!(
            tab.rows[0].0.parts(),
            &[Part::Addr([10, 0, 0, 1].into()), Part::Num(80)]
        );
        assert!(aggregation("srcip,bogus").is_err());
        assert!("nonsense/bytes".parse::<StatSpec>().is_err());
        assert!("srcip/size".parse::<StatSpec>().is_err());
    }
}
