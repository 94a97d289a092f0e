//! Reading a store back (for `octoflow query` and `profile rebuild`): which
//! files a time window needs, and their rows as flow records with their source
//! name. Columns are found by name, so files written before a field existed
//! read with that field zero; a file that cannot be read is an error naming it.
//!
//! Rows are read a row group at a time, column by column, into reused vectors,
//! and handed on one [`FlowRecord`] at a time: nothing is allocated per row.
//! A query names the fields it needs ([`Columns`]); the other columns are not
//! decoded at all, and where each column goes is resolved once per file.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use octoflow_proto::schema::Kind;
use octoflow_proto::{Direction, FlowRecord};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::files;
use super::schema::{self, ColType, From};

/// The complete files of the store in `dir` that may hold flows received
/// between `from_ms` and `to_ms`: interval files by their start (an interval
/// file starting at or after `to_ms` is left out), then parts of the open
/// interval that no merged file already holds.
pub fn files_for(dir: &Path, from_ms: u64, to_ms: u64) -> Result<Vec<PathBuf>, String> {
    let err = |e: std::io::Error| format!("reading the store folder {}: {e}", dir.display());
    let intervals = files::intervals(dir).map_err(err)?;
    let mut out: Vec<PathBuf> = Vec::new();
    let mut merged: Vec<String> = Vec::new();
    for (i, (path, start_s, _)) in intervals.iter().enumerate() {
        merged.extend(files::merged_parts(path));
        let start_ms = start_s.saturating_mul(1000);
        // An interval runs until the next one starts.
        let end_ms = intervals
            .get(i + 1)
            .map_or(u64::MAX, |n| n.1.saturating_mul(1000));
        if start_ms < to_ms && from_ms < end_ms.max(start_ms + 1) {
            out.push(path.clone());
        }
    }
    for (_, _, part) in files::parts(dir).map_err(err)? {
        let name = part
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !merged.contains(&name) {
            out.push(part);
        }
    }
    Ok(out)
}

/// One column as read from a row group.
enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    Fixed(Vec<FixedLenByteArray>),
    Bytes(Vec<ByteArray>),
}

/// Where a column's value goes in a [`FlowRecord`] (or the source name):
/// resolved once per file, so a row costs no lookup by name.
#[derive(Debug, Clone, Copy)]
enum Slot {
    SrcAddr,
    DstAddr,
    NextHop,
    Exporter,
    SrcPort,
    DstPort,
    Proto,
    Tos,
    TcpFlags,
    Packets,
    Bytes,
    First,
    Last,
    InputIf,
    OutputIf,
    SrcAs,
    DstAs,
    SrcMask,
    DstMask,
    SrcVlan,
    DstVlan,
    SrcMac,
    DstMac,
    Direction,
    Sampling,
    IcmpType,
    IcmpCode,
    Domain,
    BgpNextHop,
    SrcCountry,
    DstCountry,
    Source,
    /// The receive time (not a record field; handed to the scan's callback).
    Received,
}

impl Slot {
    /// The slot of a stored column; `None` for what a record does not hold
    /// (the receive time, the collector, derived fields).
    fn of(from: From) -> Option<Slot> {
        let field = match from {
            From::Field(f) => f,
            From::Source => return Some(Slot::Source),
            From::Received => return Some(Slot::Received),
            // Route attributes are not record fields (queries print records).
            From::Collector | From::Route(_) | From::Net { .. } => return None,
        };
        Some(match field.name {
            "src_addr" => Slot::SrcAddr,
            "dst_addr" => Slot::DstAddr,
            "next_hop" => Slot::NextHop,
            "exporter" => Slot::Exporter,
            "src_port" => Slot::SrcPort,
            "dst_port" => Slot::DstPort,
            "proto" => Slot::Proto,
            "tos" => Slot::Tos,
            "tcp_flags" => Slot::TcpFlags,
            "packets" => Slot::Packets,
            "bytes" => Slot::Bytes,
            "first_ms" | "first" => Slot::First,
            "last_ms" | "last" => Slot::Last,
            "input_if" => Slot::InputIf,
            "output_if" => Slot::OutputIf,
            "src_as" => Slot::SrcAs,
            "dst_as" => Slot::DstAs,
            "src_mask" => Slot::SrcMask,
            "dst_mask" => Slot::DstMask,
            "src_vlan" => Slot::SrcVlan,
            "dst_vlan" => Slot::DstVlan,
            "src_mac" => Slot::SrcMac,
            "dst_mac" => Slot::DstMac,
            "direction" => Slot::Direction,
            "sampling_interval" => Slot::Sampling,
            "icmp_type" => Slot::IcmpType,
            "icmp_code" => Slot::IcmpCode,
            "domain" => Slot::Domain,
            "bgp_next_hop" => Slot::BgpNextHop,
            "src_country" => Slot::SrcCountry,
            "dst_country" => Slot::DstCountry,
            _ => {
                debug_assert!(
                    field.kind == Kind::AddrPort,
                    "{} is not read back",
                    field.name
                );
                return None;
            }
        })
    }
}

struct Col {
    ty: ColType,
    slot: Slot,
    index: usize,
    values: Values,
    /// Definition levels of an optional column (1: a value), else empty.
    defs: Vec<i16>,
    /// The next value of an optional column (values skip the nulls).
    at: usize,
}

impl Col {
    /// The next row's value index, `None` for a null.
    #[inline]
    fn next(&mut self, row: usize) -> Option<usize> {
        if self.defs.is_empty() {
            return Some(row);
        }
        if self.defs.get(row).copied().unwrap_or(0) == 0 {
            return None;
        }
        self.at += 1;
        Some(self.at - 1)
    }
}

/// Which of a file's columns to read: every one, or those of these record
/// fields (the schema's names, `source` for the source name). A column not
/// read leaves its field zero.
#[derive(Debug, Clone, Copy)]
pub enum Columns<'a> {
    All,
    Only(&'a [&'a str]),
}

impl Columns<'_> {
    fn wants(&self, from: From) -> bool {
        match (self, from) {
            (Columns::All, _) => true,
            (Columns::Only(names), From::Field(f)) => names.contains(&f.name),
            (Columns::Only(names), From::Source) => names.contains(&"source"),
            (Columns::Only(names), From::Received) => names.contains(&"received"),
            (Columns::Only(_), _) => false,
        }
    }
}

/// Hand every row of the file at `path` to `f` (record, source name, receive
/// time — 0 unless `want` names `received`) until `f` returns false; returns
/// whether to go on with the next file. Only the columns `want` names are
/// decoded.
pub fn scan(
    path: &Path,
    want: Columns,
    f: &mut dyn FnMut(&FlowRecord, &str, u64) -> bool,
) -> Result<bool, String> {
    let bad = |e: parquet::errors::ParquetError| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = SerializedFileReader::new(file).map_err(bad)?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    // Only columns the file has, that a record holds, and that are wanted.
    let mut cols: Vec<Col> = schema::columns()
        .into_iter()
        .filter(|c| want.wants(c.from))
        .filter_map(|c| {
            Some(Col {
                index: names.iter().position(|n| *n == c.name)?,
                slot: Slot::of(c.from)?,
                ty: c.ty,
                values: Values::I32(Vec::new()),
                defs: Vec::new(),
                at: 0,
            })
        })
        .collect();
    let mut source = String::new();
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(bad)?;
        let rows = rg.metadata().num_rows() as usize;
        for c in cols.iter_mut() {
            c.at = 0;
            c.defs.clear();
            let optional = matches!(c.ty, ColType::V4 | ColType::V6 | ColType::Text);
            let defs = optional.then_some(&mut c.defs);
            // The vectors of the previous row group are reused when the
            // column's type is the same (it is, within a file).
            match (rg.get_column_reader(c.index).map_err(bad)?, &mut c.values) {
                (ColumnReader::Int32ColumnReader(mut r), Values::I32(v)) => {
                    v.clear();
                    r.read_records(rows, defs, None, v).map_err(bad)?;
                }
                (ColumnReader::Int32ColumnReader(mut r), values) => {
                    let mut v = Vec::with_capacity(rows);
                    r.read_records(rows, defs, None, &mut v).map_err(bad)?;
                    *values = Values::I32(v);
                }
                (ColumnReader::Int64ColumnReader(mut r), Values::I64(v)) => {
                    v.clear();
                    r.read_records(rows, defs, None, v).map_err(bad)?;
                }
                (ColumnReader::Int64ColumnReader(mut r), values) => {
                    let mut v = Vec::with_capacity(rows);
                    r.read_records(rows, defs, None, &mut v).map_err(bad)?;
                    *values = Values::I64(v);
                }
                (ColumnReader::FixedLenByteArrayColumnReader(mut r), values) => {
                    let mut v = Vec::with_capacity(rows);
                    r.read_records(rows, defs, None, &mut v).map_err(bad)?;
                    *values = Values::Fixed(v);
                }
                (ColumnReader::ByteArrayColumnReader(mut r), values) => {
                    let mut v = Vec::with_capacity(rows);
                    r.read_records(rows, defs, None, &mut v).map_err(bad)?;
                    *values = Values::Bytes(v);
                }
                _ => {
                    return Err(format!(
                        "{}: column {} has a type octoflow does not write",
                        path.display(),
                        names[c.index]
                    ))
                }
            }
        }
        for row in 0..rows {
            let mut r = FlowRecord::default();
            let mut received = 0u64;
            source.clear();
            for c in cols.iter_mut() {
                let Some(v) = c.next(row) else { continue };
                set(&mut r, &mut source, &mut received, c, v);
            }
            if !f(&r, &source, received) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Put value `v` of column `c` into the record (or the source name).
#[inline]
fn set(r: &mut FlowRecord, source: &mut String, received: &mut u64, c: &Col, v: usize) {
    let n: u64 = match &c.values {
        Values::I32(x) => x.get(v).map_or(0, |&i| i as u32 as u64),
        Values::I64(x) => x.get(v).map_or(0, |&i| i as u64),
        _ => 0,
    };
    let bytes: &[u8] = match &c.values {
        Values::Fixed(x) => x.get(v).map_or(&[][..], |b| b.data()),
        Values::Bytes(x) => x.get(v).map_or(&[][..], |b| b.data()),
        _ => &[],
    };
    let addr = || match c.ty {
        ColType::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        _ => <[u8; 16]>::try_from(bytes).map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| {
            IpAddr::V6(Ipv6Addr::from(a))
        }),
    };
    let mac = || <[u8; 6]>::try_from(bytes).unwrap_or_default();
    match c.slot {
        Slot::Source => source.push_str(std::str::from_utf8(bytes).unwrap_or("")),
        Slot::Received => *received = n,
        Slot::SrcAddr => r.src_addr = addr(),
        Slot::DstAddr => r.dst_addr = addr(),
        Slot::NextHop => r.next_hop = addr(),
        Slot::Exporter => r.exporter = addr(),
        Slot::SrcPort => r.src_port = n as u16,
        Slot::DstPort => r.dst_port = n as u16,
        Slot::Proto => r.proto = n as u8,
        Slot::Tos => r.tos = n as u8,
        Slot::TcpFlags => r.tcp_flags = n as u8,
        Slot::Packets => r.packets = n,
        Slot::Bytes => r.bytes = n,
        Slot::First => r.first_ms = n,
        Slot::Last => r.last_ms = n,
        Slot::InputIf => r.input_if = n as u32,
        Slot::OutputIf => r.output_if = n as u32,
        Slot::SrcAs => r.src_as = n as u32,
        Slot::DstAs => r.dst_as = n as u32,
        Slot::SrcMask => r.src_mask = n as u8,
        Slot::DstMask => r.dst_mask = n as u8,
        Slot::SrcVlan => r.src_vlan = n as u16,
        Slot::DstVlan => r.dst_vlan = n as u16,
        Slot::SrcMac => r.src_mac = mac(),
        Slot::DstMac => r.dst_mac = mac(),
        Slot::Direction => {
            r.direction = match bytes {
                b"ingress" => Direction::Ingress,
                b"egress" => Direction::Egress,
                _ => Direction::Unknown,
            }
        }
        Slot::Sampling => r.sampling_interval = n as u32,
        Slot::IcmpType => r.icmp_type = n as u8,
        Slot::IcmpCode => r.icmp_code = n as u8,
        Slot::Domain => r.domain = n as u32,
        Slot::BgpNextHop => r.bgp_next_hop = addr(),
        Slot::SrcCountry => r.src_country = <[u8; 2]>::try_from(bytes).unwrap_or_default(),
        Slot::DstCountry => r.dst_country = <[u8; 2]>::try_from(bytes).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use octoflow_proto::schema::FIELDS;

    use super::*;
    use crate::fanout::{Decoded, Origin, Shipment};
    use crate::output::store::config::StoreConfig;
    use crate::output::store::writer::Store;
    use crate::telemetry::metrics::OutputMetrics;

    const T0: u64 = 1_795_993_200_000;

    /// Every field written comes back: `FlowRecord::example()` sets each one,
    /// so a field added to the schema but not to [`set`] fails here.
    #[test]
    fn every_field_and_the_source_read_back_as_written() {
        let d = std::env::temp_dir().join(format!("octoflow-store-reader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let cfg = StoreConfig {
            path: d.clone(),
            rotate_secs: 60,
            flush_secs: 10,
            max_age_secs: None,
            max_bytes: None,
            sources: Vec::new(),
            profiles: Vec::new(),
        };
        let mut store = Store::open(cfg, OutputMetrics::new("s"), T0).expect("open");
        let v4 = FlowRecord::example();
        let v6 = FlowRecord {
            src_addr: "2001:db8::1".parse().expect("ip"),
            dst_addr: "2001:db8:ff::2".parse().expect("ip"),
            next_hop: "fe80::1".parse().expect("ip"),
            direction: Direction::Egress,
            ..v4
        };
        let mut dg = Decoded {
            received_ms: T0,
            source: Some(0),
            ..Decoded::default()
        };
        dg.batch.records = vec![v4, v6];
        let s = Shipment {
            origin: Arc::new(Origin {
                collector: "edge".into(),
                sources: vec!["peer1".into()],
            }),
            datagrams: Arc::new(vec![Arc::new(dg)]),
            bit: None,
        };
        store.add(&s, T0).expect("add");
        store.close(T0 + 1000).expect("close");
        let files = files_for(&d, 0, u64::MAX).expect("files");
        assert_eq!(files.len(), 1, "{files:?}");
        let mut got = Vec::new();
        scan(&files[0], Columns::All, &mut |r, src, _| {
            got.push((*r, src.to_string()));
            true
        })
        .expect("reads");
        assert_eq!(got.len(), 2);
        for ((r, src), want) in got.iter().zip([v4, v6]) {
            assert_eq!(src, "peer1");
            for f in FIELDS {
                assert_eq!(
                    f.value(r).to_string(),
                    f.value(&want).to_string(),
                    "field {}",
                    f.name
                );
            }
        }
        // Only the columns asked for: the rest read as zero.
        let mut ports = Vec::new();
        scan(
            &files[0],
            Columns::Only(&["dst_port", "received"]),
            &mut |r, src, received| {
                assert_eq!(received, T0, "the receive time when asked for");
                ports.push((r.dst_port, r.src_port, r.bytes, src.is_empty()));
                true
            },
        )
        .expect("reads");
        assert_eq!(ports, [(v4.dst_port, 0, 0, true); 2]);
        assert!(
            files_for(&d, 0, T0 - 60_000).expect("files").is_empty(),
            "an earlier window"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
