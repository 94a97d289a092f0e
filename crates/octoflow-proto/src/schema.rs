//! The flow fields of [`FlowRecord`], each described once: its name (also its
//! JSON and CSV key), the kind of value it holds, its nfdump-like `--format`
//! token, the NetFlow v9 / IPFIX information elements it is decoded from, and a
//! getter. Outputs iterate over [`FIELDS`] instead of keeping their own lists.
//!
//! - [`FIELDS`]: every field of [`FlowRecord`], in output (CSV column) order;
//! - [`DERIVED`]: values computed from several fields (duration, address:port),
//!   for `--format` and queries, not stored and not output columns;
//! - [`Field::value`] gives a [`Value`] (`Copy`, no allocation) whose `Display` is
//!   the text `octoflow dump` prints; [`Field::render`] appends that to a `String`.
//!
//! ```
//! use octoflow_proto::{schema, FlowRecord};
//! let r = FlowRecord { src_port: 443, ..FlowRecord::default() };
//! let f = schema::by_token("%sp").unwrap();
//! assert_eq!((f.name, f.value(&r).to_string()), ("src_port", "443".to_string()));
//! ```

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use crate::ie::id::*;
use crate::record::{Direction, FlowRecord};

/// The kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    U8,
    U16,
    U32,
    U64,
    /// An IPv4 or IPv6 address.
    Addr,
    /// A MAC address.
    Mac,
    /// Absolute time, Unix milliseconds.
    TimeMs,
    /// A duration in milliseconds.
    DurationMs,
    /// Flow direction.
    Direction,
    /// An address and a port (derived).
    AddrPort,
    /// An ISO 3166 alpha-2 country code (two ASCII letters; zero: unknown).
    Country,
}

impl Kind {
    /// True for unsigned integers (JSON numbers; everything else is a JSON string).
    pub fn is_numeric(self) -> bool {
        matches!(self, Kind::U8 | Kind::U16 | Kind::U32 | Kind::U64)
    }
}

/// One field's value in one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Addr(IpAddr),
    Mac([u8; 6]),
    TimeMs(u64),
    DurationMs(u64),
    Direction(Direction),
    AddrPort(IpAddr, u16),
    Country([u8; 2]),
}

impl Value {
    pub fn kind(&self) -> Kind {
        match self {
            Value::U8(_) => Kind::U8,
            Value::U16(_) => Kind::U16,
            Value::U32(_) => Kind::U32,
            Value::U64(_) => Kind::U64,
            Value::Addr(_) => Kind::Addr,
            Value::Mac(_) => Kind::Mac,
            Value::TimeMs(_) => Kind::TimeMs,
            Value::DurationMs(_) => Kind::DurationMs,
            Value::Direction(_) => Kind::Direction,
            Value::AddrPort(..) => Kind::AddrPort,
            Value::Country(_) => Kind::Country,
        }
    }

    /// The value as an unsigned integer: integers, times and durations (ms).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) | Value::TimeMs(v) | Value::DurationMs(v) => Some(v),
            _ => None,
        }
    }
}

/// As `octoflow dump` prints it: integers in decimal; addresses as `IpAddr` displays
/// them; MACs as `aa:bb:cc:dd:ee:ff`; times as UTC ISO 8601 with milliseconds;
/// durations in seconds with 3 decimals; directions as `ingress`, `egress`,
/// `unknown`; address and port as `a.b.c.d:p` or `[v6]:p`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::U8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::Addr(a) => write!(f, "{a}"),
            Value::Mac(m) => write!(
                f,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Value::TimeMs(ms) => {
                // Computed without a time crate.
                let secs = (ms / 1000) as i64;
                let sod = secs.rem_euclid(86400);
                let (y, m, d) = crate::civil::civil_from_days(secs.div_euclid(86400));
                write!(
                    f,
                    "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                    sod / 3600,
                    sod % 3600 / 60,
                    sod % 60,
                    ms % 1000
                )
            }
            Value::DurationMs(ms) => write!(f, "{:.3}", ms as f64 / 1000.0),
            Value::Direction(d) => f.write_str(match d {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
                Direction::Unknown => "unknown",
            }),
            Value::AddrPort(a @ IpAddr::V4(_), p) => write!(f, "{a}:{p}"),
            Value::AddrPort(a @ IpAddr::V6(_), p) => write!(f, "[{a}]:{p}"),
            Value::Country([0, 0]) => Ok(()),
            Value::Country([a, b]) => write!(f, "{}{}", a as char, b as char),
        }
    }
}

/// One flow field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name: the JSON and CSV key, and the name queries use.
    pub name: &'static str,
    pub kind: Kind,
    /// Its nfdump-like `--format` token, if it has one.
    pub token: Option<&'static str>,
    /// The IANA information elements (NetFlow v9 field types, ids below 128 being
    /// the same) it is decoded from. Empty for fields from the export header (or
    /// derived).
    pub ies: &'static [u16],
    /// Its value in a record.
    pub get: fn(&FlowRecord) -> Value,
}

impl Field {
    /// Its value in `r`.
    #[inline]
    pub fn value(&self, r: &FlowRecord) -> Value {
        (self.get)(r)
    }

    /// Append its text (as [`Value`]'s `Display`) for `r` to `out`.
    #[inline]
    pub fn render(&self, r: &FlowRecord, out: &mut String) {
        let _ = write!(out, "{}", self.value(r));
    }
}

const fn field(
    name: &'static str,
    kind: Kind,
    token: Option<&'static str>,
    ies: &'static [u16],
    get: fn(&FlowRecord) -> Value,
) -> Field {
    Field {
        name,
        kind,
        token,
        ies,
        get,
    }
}

/// Every field of [`FlowRecord`], once, in output order.
pub const FIELDS: &[Field] = &[
    field("exporter", Kind::Addr, Some("%ra"), &[], |r| {
        Value::Addr(r.exporter)
    }),
    field("domain", Kind::U32, Some("%eng"), &[], |r| {
        Value::U32(r.domain)
    }),
    field(
        "first",
        Kind::TimeMs,
        Some("%ts"),
        &[
            FLOW_START_SYS_UP_TIME,
            FLOW_START_SECONDS,
            FLOW_START_MILLISECONDS,
            FLOW_START_MICROSECONDS,
            FLOW_START_NANOSECONDS,
            FLOW_START_DELTA_MICROSECONDS,
        ],
        |r| Value::TimeMs(r.first_ms),
    ),
    field(
        "last",
        Kind::TimeMs,
        Some("%te"),
        &[
            FLOW_END_SYS_UP_TIME,
            FLOW_END_SECONDS,
            FLOW_END_MILLISECONDS,
            FLOW_END_MICROSECONDS,
            FLOW_END_NANOSECONDS,
            FLOW_END_DELTA_MICROSECONDS,
        ],
        |r| Value::TimeMs(r.last_ms),
    ),
    field(
        "src_addr",
        Kind::Addr,
        Some("%sa"),
        &[SOURCE_IPV4_ADDRESS, SOURCE_IPV6_ADDRESS],
        |r| Value::Addr(r.src_addr),
    ),
    field(
        "dst_addr",
        Kind::Addr,
        Some("%da"),
        &[DESTINATION_IPV4_ADDRESS, DESTINATION_IPV6_ADDRESS],
        |r| Value::Addr(r.dst_addr),
    ),
    field(
        "src_port",
        Kind::U16,
        Some("%sp"),
        &[SOURCE_TRANSPORT_PORT],
        |r| Value::U16(r.src_port),
    ),
    field(
        "dst_port",
        Kind::U16,
        Some("%dp"),
        &[DESTINATION_TRANSPORT_PORT],
        |r| Value::U16(r.dst_port),
    ),
    field(
        "proto",
        Kind::U8,
        Some("%pr"),
        &[PROTOCOL_IDENTIFIER],
        |r| Value::U8(r.proto),
    ),
    field("tos", Kind::U8, Some("%tos"), &[IP_CLASS_OF_SERVICE], |r| {
        Value::U8(r.tos)
    }),
    field(
        "tcp_flags",
        Kind::U8,
        Some("%flg"),
        &[TCP_CONTROL_BITS],
        |r| Value::U8(r.tcp_flags),
    ),
    field(
        "packets",
        Kind::U64,
        Some("%pkt"),
        &[PACKET_DELTA_COUNT, PACKET_TOTAL_COUNT],
        |r| Value::U64(r.packets),
    ),
    field(
        "bytes",
        Kind::U64,
        Some("%byt"),
        &[OCTET_DELTA_COUNT, OCTET_TOTAL_COUNT],
        |r| Value::U64(r.bytes),
    ),
    field(
        "input_if",
        Kind::U32,
        Some("%in"),
        &[INGRESS_INTERFACE],
        |r| Value::U32(r.input_if),
    ),
    field(
        "output_if",
        Kind::U32,
        Some("%out"),
        &[EGRESS_INTERFACE],
        |r| Value::U32(r.output_if),
    ),
    field(
        "src_as",
        Kind::U32,
        Some("%sas"),
        &[BGP_SOURCE_AS_NUMBER],
        |r| Value::U32(r.src_as),
    ),
    field(
        "dst_as",
        Kind::U32,
        Some("%das"),
        &[BGP_DESTINATION_AS_NUMBER],
        |r| Value::U32(r.dst_as),
    ),
    field(
        "src_mask",
        Kind::U8,
        Some("%smk"),
        &[SOURCE_IPV4_PREFIX_LENGTH, SOURCE_IPV6_PREFIX_LENGTH],
        |r| Value::U8(r.src_mask),
    ),
    field(
        "dst_mask",
        Kind::U8,
        Some("%dmk"),
        &[
            DESTINATION_IPV4_PREFIX_LENGTH,
            DESTINATION_IPV6_PREFIX_LENGTH,
        ],
        |r| Value::U8(r.dst_mask),
    ),
    field(
        "next_hop",
        Kind::Addr,
        Some("%nh"),
        &[IP_NEXT_HOP_IPV4_ADDRESS, IP_NEXT_HOP_IPV6_ADDRESS],
        |r| Value::Addr(r.next_hop),
    ),
    field(
        "src_vlan",
        Kind::U16,
        Some("%svln"),
        &[VLAN_ID, DOT1Q_VLAN_ID],
        |r| Value::U16(r.src_vlan),
    ),
    field("dst_vlan", Kind::U16, Some("%dvln"), &[POST_VLAN_ID], |r| {
        Value::U16(r.dst_vlan)
    }),
    field(
        "src_mac",
        Kind::Mac,
        Some("%smc"),
        &[SOURCE_MAC_ADDRESS],
        |r| Value::Mac(r.src_mac),
    ),
    field(
        "dst_mac",
        Kind::Mac,
        Some("%dmc"),
        &[DESTINATION_MAC_ADDRESS],
        |r| Value::Mac(r.dst_mac),
    ),
    field(
        "direction",
        Kind::Direction,
        Some("%dir"),
        &[FLOW_DIRECTION],
        |r| Value::Direction(r.direction),
    ),
    field(
        "sampling_interval",
        Kind::U32,
        Some("%sr"),
        // Or, with none of these in the record, the exporter's options data.
        &[
            SAMPLING_INTERVAL,
            SAMPLER_RANDOM_INTERVAL,
            SAMPLING_PACKET_INTERVAL,
            SAMPLING_PACKET_SPACE,
            SAMPLER_ID,
            SELECTOR_ID,
        ],
        |r| Value::U32(r.sampling_interval),
    ),
    field(
        "icmp_type",
        Kind::U8,
        None,
        // Or the destination port (type * 256 + code) when none of these came.
        &[
            ICMP_TYPE_CODE_IPV4,
            ICMP_TYPE_CODE_IPV6,
            ICMP_TYPE_IPV4,
            ICMP_TYPE_IPV6,
        ],
        |r| Value::U8(r.icmp_type),
    ),
    field(
        "icmp_code",
        Kind::U8,
        None,
        &[
            ICMP_TYPE_CODE_IPV4,
            ICMP_TYPE_CODE_IPV6,
            ICMP_CODE_IPV4,
            ICMP_CODE_IPV6,
        ],
        |r| Value::U8(r.icmp_code),
    ),
    field(
        "bgp_next_hop",
        Kind::Addr,
        Some("%nhb"),
        &[BGP_NEXT_HOP_IPV4_ADDRESS, BGP_NEXT_HOP_IPV6_ADDRESS],
        |r| Value::Addr(r.bgp_next_hop),
    ),
    // Countries come from enrichment (GeoIP), not from the wire.
    field("src_country", Kind::Country, Some("%sc"), &[], |r| {
        Value::Country(r.src_country)
    }),
    field("dst_country", Kind::Country, Some("%dc"), &[], |r| {
        Value::Country(r.dst_country)
    }),
];

/// Values derived from several fields: not stored, not output columns.
pub const DERIVED: &[Field] = &[
    field("duration", Kind::DurationMs, Some("%td"), &[], |r| {
        Value::DurationMs(r.last_ms.saturating_sub(r.first_ms))
    }),
    field("src_addr_port", Kind::AddrPort, Some("%sap"), &[], |r| {
        Value::AddrPort(r.src_addr, r.src_port)
    }),
    field("dst_addr_port", Kind::AddrPort, Some("%dap"), &[], |r| {
        Value::AddrPort(r.dst_addr, r.dst_port)
    }),
];

/// [`FIELDS`] then [`DERIVED`].
pub fn all() -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().chain(DERIVED)
}

/// The field (stored or derived) called `name`.
pub fn by_name(name: &str) -> Option<&'static Field> {
    all().find(|f| f.name == name)
}

/// The field whose `--format` token is exactly `token`.
pub fn by_token(token: &str) -> Option<&'static Field> {
    all().find(|f| f.token == Some(token))
}

#[cfg(test)]
mod tests;
