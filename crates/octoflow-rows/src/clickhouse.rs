//! ClickHouse rows in the `RowBinary` format
//! (https://clickhouse.com/docs/en/interfaces/formats#rowbinary), for two
//! table layouts:
//!
//! - [`FLOW_PIPELINE`] / [`flow_pipeline`]: the GoFlow flow-pipeline's
//!   `flows_raw` table, so its `flows_5m` view and its queries work unchanged;
//! - [`octoflow_columns`] / [`octoflow`]: every field of the shared schema
//!   (`octoflow_proto::schema::FIELDS`), so a field added there becomes a
//!   column here, then the route's (`octoflow_proto::route::ROUTE_FIELDS`:
//!   AS path and communities as `String`, empty without a route).
//!
//! Only types ClickHouse 18.16 has (Debian 12's): no `IPv6`, `DateTime64` or
//! `Map`. Addresses are `FixedString(16)`, IPv4 mapped (`::ffff:a.b.c.d`), so
//! `IPv6NumToString` shows them as people write them; times are `DateTime`
//! (UInt32 seconds) with, in the octoflow layout, a `UInt16` millisecond part.
//!
//! RowBinary is the columns' values back to back in the table's column order
//! (or the INSERT's column list), integers little-endian, `Date` as UInt16
//! days since 1970-01-01, `DateTime` as UInt32 seconds, `FixedString(N)` as N
//! raw bytes, `Enum8` as its Int8 value, `String` as a varint length and the
//! bytes.

use std::net::IpAddr;

use octoflow_proto::route::ROUTE_FIELDS;
use octoflow_proto::schema::{Kind, Value, FIELDS};
use octoflow_proto::{Direction, FlowRecord, RouteAttrs};

use crate::{etype, mapped, Meta};

/// One column: its name and its ClickHouse type, as `CREATE TABLE` and
/// `system.columns` write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: &'static str,
}

/// The flow-pipeline's `flows_raw`, in the order [`flow_pipeline`] writes.
pub const FLOW_PIPELINE: &[(&str, &str)] = &[
    ("Date", "Date"),
    ("TimeReceived", "DateTime"),
    ("TimeFlowStart", "DateTime"),
    ("SequenceNum", "UInt32"),
    ("SamplingRate", "UInt64"),
    ("SamplerAddress", "FixedString(16)"),
    ("SrcAddr", "FixedString(16)"),
    ("DstAddr", "FixedString(16)"),
    ("SrcAS", "UInt32"),
    ("DstAS", "UInt32"),
    ("EType", "UInt32"),
    ("Proto", "UInt32"),
    ("SrcPort", "UInt32"),
    ("DstPort", "UInt32"),
    ("Bytes", "UInt64"),
    ("Packets", "UInt64"),
];

/// Append `r` as one row of [`FLOW_PIPELINE`]: `Date` and `TimeReceived` from
/// when the collector received the datagram (what goflow puts there), the
/// sampler the exporting device, counters unscaled (`SamplingRate` beside).
pub fn flow_pipeline(r: &FlowRecord, m: &Meta, out: &mut Vec<u8>) {
    date(out, m.received_ms);
    datetime(out, m.received_ms);
    datetime(out, r.first_ms);
    out.extend_from_slice(&m.sequence.to_le_bytes());
    out.extend_from_slice(&u64::from(r.sampling_interval).to_le_bytes());
    out.extend_from_slice(&mapped(r.exporter));
    out.extend_from_slice(&mapped(r.src_addr));
    out.extend_from_slice(&mapped(r.dst_addr));
    out.extend_from_slice(&r.src_as.to_le_bytes());
    out.extend_from_slice(&r.dst_as.to_le_bytes());
    out.extend_from_slice(&u32::from(etype(r.src_addr)).to_le_bytes());
    out.extend_from_slice(&u32::from(r.proto).to_le_bytes());
    out.extend_from_slice(&u32::from(r.src_port).to_le_bytes());
    out.extend_from_slice(&u32::from(r.dst_port).to_le_bytes());
    out.extend_from_slice(&r.bytes.to_le_bytes());
    out.extend_from_slice(&r.packets.to_le_bytes());
}

/// The `Enum8` a direction is stored as (values as `Direction`'s order).
pub const DIRECTION: &str = "Enum8('unknown' = 0, 'ingress' = 1, 'egress' = 2)";

/// The columns before the fields in the octoflow layout: the day (the
/// partition), and when the collector received the datagram.
const OWN: &[(&str, &str)] = &[
    ("date", "Date"),
    ("received", "DateTime"),
    ("received_ms", "UInt16"),
];

/// The columns a field of kind `k` takes: (suffix of the field's name, type).
fn kind_columns(k: Kind) -> &'static [(&'static str, &'static str)] {
    match k {
        Kind::U8 => &[("", "UInt8")],
        Kind::U16 => &[("", "UInt16")],
        Kind::U32 => &[("", "UInt32")],
        Kind::U64 | Kind::DurationMs => &[("", "UInt64")],
        // Seconds for ClickHouse's time functions, and the rest apart.
        Kind::TimeMs => &[("", "DateTime"), ("_ms", "UInt16")],
        Kind::Addr => &[("", "FixedString(16)")],
        // The low 48 bits, as `MACNumToString` reads them.
        Kind::Mac => &[("", "UInt64")],
        Kind::Direction => &[("", DIRECTION)],
        Kind::AddrPort => &[("", "FixedString(16)"), ("_port", "UInt16")],
        // Two NUL bytes when unknown.
        Kind::Country => &[("", "FixedString(2)")],
    }
}

/// The octoflow layout's columns, in the order [`octoflow`] writes: the own
/// columns, then one or two per field of `FIELDS`. A new field adds columns
/// at the end, and no column is ever renamed or retyped.
pub fn octoflow_columns() -> Vec<Column> {
    let own = OWN.iter().map(|(n, ty)| Column {
        name: n.to_string(),
        ty,
    });
    let fields = FIELDS.iter().flat_map(|f| {
        kind_columns(f.kind).iter().map(|(suffix, ty)| Column {
            name: format!("{}{suffix}", f.name),
            ty,
        })
    });
    let route = ROUTE_FIELDS.iter().map(|f| Column {
        name: f.name.to_string(),
        ty: "String",
    });
    own.chain(fields).chain(route).collect()
}

/// Append `r` as one row of [`octoflow_columns`]; `route` is its destination
/// route when the collector enriched it from BGP or BMP.
pub fn octoflow(r: &FlowRecord, m: &Meta, route: Option<&RouteAttrs>, out: &mut Vec<u8>) {
    date(out, m.received_ms);
    datetime(out, m.received_ms);
    out.extend_from_slice(&((m.received_ms % 1000) as u16).to_le_bytes());
    for f in FIELDS {
        value(out, f.value(r));
    }
    for f in ROUTE_FIELDS {
        string_with(out, |s| {
            if let Some(a) = route {
                (f.write)(a, s);
            }
        });
    }
}

/// A `String` value written by `text`: its length as a varint, then the
/// bytes. The text is built in a buffer kept per thread, so nothing is
/// allocated per row.
fn string_with(out: &mut Vec<u8>, text: impl FnOnce(&mut String)) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.clear();
        text(&mut s);
        crate::wire::varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    });
}

/// One field's value as its [`kind_columns`].
fn value(out: &mut Vec<u8>, v: Value) {
    match v {
        Value::U8(x) => out.push(x),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) | Value::DurationMs(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::TimeMs(ms) => {
            datetime(out, ms);
            out.extend_from_slice(&((ms % 1000) as u16).to_le_bytes());
        }
        Value::Addr(a) => addr(out, a),
        Value::Mac(mac) => out.extend_from_slice(&crate::mac_u64(mac).to_le_bytes()),
        Value::Direction(d) => out.push(match d {
            Direction::Unknown => 0,
            Direction::Ingress => 1,
            Direction::Egress => 2,
        }),
        Value::AddrPort(a, p) => {
            addr(out, a);
            out.extend_from_slice(&p.to_le_bytes());
        }
        Value::Country(c) => out.extend_from_slice(&c),
    }
}

/// `FixedString(16)`: the address, IPv4 mapped.
#[inline]
pub fn addr(out: &mut Vec<u8>, a: IpAddr) {
    out.extend_from_slice(&mapped(a));
}

/// `Date`: UInt16 days since 1970-01-01 of Unix ms `ms` (UTC); days past
/// 2149-06-06, the type's end, are that day.
#[inline]
pub fn date(out: &mut Vec<u8>, ms: u64) {
    let days = (ms / 86_400_000).min(u64::from(u16::MAX)) as u16;
    out.extend_from_slice(&days.to_le_bytes());
}

/// `DateTime`: UInt32 seconds of Unix ms `ms`; times past 2106-02-07, the
/// type's end, are that second.
#[inline]
pub fn datetime(out: &mut Vec<u8>, ms: u64) {
    let secs = (ms / 1000).min(u64::from(u32::MAX)) as u32;
    out.extend_from_slice(&secs.to_le_bytes());
}

/// Bytes one row of a fixed-width type takes (`None`: variable width, or a
/// type this module does not write).
pub fn width(ty: &str) -> Option<usize> {
    Some(match ty {
        "UInt8" => 1,
        "UInt16" | "Date" => 2,
        "UInt32" | "DateTime" => 4,
        "UInt64" => 8,
        "FixedString(16)" => 16,
        "FixedString(2)" => 2,
        t if t.starts_with("Enum8(") => 1,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
