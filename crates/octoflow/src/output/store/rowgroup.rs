//! The row group being filled: one Parquet column writer per column, all open at
//! once, each writing its encoded pages to memory. Records go into every column
//! as they arrive (a shipment at a time), so encoding and compression are spread
//! over the stream instead of falling due at once when a file is finished —
//! a burst of work there would stall the thread while its queue fills. When the
//! row group is closed its column chunks are spliced into a file as they are,
//! without decoding.
//!
//! Parquet's low-level writer is used directly (no Arrow arrays): values go
//! from the records into small reused buffers, and from there into the
//! encoders; nothing is allocated per record.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use octoflow_proto::schema::Value;
use octoflow_proto::{Direction, FlowRecord};
use parquet::column::page::{CompressedPage, PageWriteSpec, PageWriter};
use parquet::column::writer::{get_column_writer, ColumnCloseResult, ColumnWriter};
use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::SchemaDescriptor;

use super::schema::{ColType, Column, From};
use crate::fanout::{Origin, Shipment};

/// A column's encoded pages, in memory until the row group is closed.
#[derive(Clone, Default)]
struct Pages(Arc<Mutex<Vec<u8>>>);

impl Pages {
    fn take(&self) -> Result<Vec<u8>> {
        let mut g = self
            .0
            .lock()
            .map_err(|_| ParquetError::General("page buffer poisoned".into()))?;
        Ok(std::mem::take(&mut *g))
    }
}

impl PageWriter for Pages {
    fn write_page(&mut self, page: CompressedPage) -> Result<PageWriteSpec> {
        let mut buf = self
            .0
            .lock()
            .map_err(|_| ParquetError::General("page buffer poisoned".into()))?;
        let base = buf.len() as u64;
        // Parquet's own page serialisation, onto the end of the buffer; its
        // offsets count from where it started, so they are moved by `base`.
        let mut sink = TrackedWrite::new(&mut *buf);
        let mut spec = SerializedPageWriter::new(&mut sink).write_page(page)?;
        sink.into_inner()?;
        spec.offset += base;
        Ok(spec)
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Buffers reused for every shipment: one column's values at a time.
#[derive(Default)]
pub struct Scratch {
    i32s: Vec<i32>,
    i64s: Vec<i64>,
    defs: Vec<i16>,
    raw: Vec<u8>,
    fixed: Vec<FixedLenByteArray>,
    text: Vec<ByteArray>,
    /// Texts built per record (route attributes), back to back, and where each ends.
    built: String,
    ends: Vec<usize>,
    /// The current origin's names as Parquet values over static bytes
    /// (cloning one copies a pointer), rebuilt when another collector ships.
    origin: Option<(Arc<Origin>, ByteArray, Vec<ByteArray>)>,
}

impl Scratch {
    /// Make `origin` current (its names as Parquet values).
    fn refresh(&mut self, o: &Arc<Origin>) {
        if matches!(&self.origin, Some((cur, ..)) if Arc::ptr_eq(cur, o)) {
            return;
        }
        let text = |s: &str| ByteArray::from(Bytes::from_static(forever(s)));
        self.origin = Some((
            o.clone(),
            text(&o.collector),
            o.sources.iter().map(|s| text(s)).collect(),
        ));
    }
}

/// `s` for the rest of the process, kept once per distinct text: a name's
/// value is then cloned per row without touching a reference count (which
/// showed in profiles at a few per cent). Names come from the configuration,
/// so there are few, and a reload that renames keeps at most the old names.
fn forever(s: &str) -> &'static [u8] {
    static KEPT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut kept = match KEPT.lock() {
        Ok(k) => k,
        Err(p) => p.into_inner(),
    };
    if let Some(k) = kept.iter().find(|k| **k == s) {
        return k.as_bytes();
    }
    let k: &'static str = Box::leak(s.to_string().into_boxed_str());
    kept.push(k);
    k.as_bytes()
}

/// The row group being filled.
pub struct RowGroup {
    writers: Vec<(ColumnWriter<'static>, Pages)>,
    pub rows: u64,
}

impl RowGroup {
    pub fn new(schema: &SchemaDescriptor, props: &Arc<WriterProperties>) -> RowGroup {
        let writers = (0..schema.num_columns())
            .map(|i| {
                let pages = Pages::default();
                let w = get_column_writer(schema.column(i), props.clone(), Box::new(pages.clone()));
                (w, pages)
            })
            .collect();
        RowGroup { writers, rows: 0 }
    }

    /// Add the records of `s` that are the output's, from the datagrams
    /// `keep` marks (all when `None`); returns how many.
    pub fn append(
        &mut self,
        cols: &[Column],
        s: &Shipment,
        keep: Option<&[bool]>,
        sc: &mut Scratch,
    ) -> Result<u64> {
        let mut n = 0u64;
        for (c, (w, _)) in cols.iter().zip(self.writers.iter_mut()) {
            n = write_column(keep, c, w, s, sc)?;
        }
        self.rows += n;
        Ok(n)
    }

    /// Close every column and splice the chunks into `file` as one row group.
    /// Returns, per column, whether it held one value only (see
    /// [`super::schema::properties`]).
    pub fn finish<W: std::io::Write + Send>(
        self,
        file: &mut SerializedFileWriter<W>,
    ) -> Result<Vec<bool>> {
        let mut rg = file.next_row_group()?;
        let mut constant = Vec::with_capacity(self.writers.len());
        for (w, pages) in self.writers {
            let close: ColumnCloseResult = w.close()?;
            constant.push(close.metadata.statistics().is_some_and(|s| {
                s.min_bytes_opt().is_some() && s.min_bytes_opt() == s.max_bytes_opt()
            }));
            let bytes = Bytes::from(pages.take()?);
            rg.append_column(&bytes, close)?;
        }
        rg.close()?;
        Ok(constant)
    }
}

/// The records of `s` that are the output's, from the datagrams `keep` marks.
pub(super) fn records<'a>(
    s: &'a Shipment,
    keep: Option<&'a [bool]>,
) -> impl Iterator<Item = (&'a crate::fanout::Decoded, &'a FlowRecord)> {
    s.records_of(keep)
}

const INGRESS: &[u8] = b"ingress";
const EGRESS: &[u8] = b"egress";
const UNKNOWN: &[u8] = b"unknown";

/// Write one column's values for the records of `s`; returns the row count.
fn write_column(
    keep: Option<&[bool]>,
    c: &Column,
    w: &mut ColumnWriter<'static>,
    s: &Shipment,
    sc: &mut Scratch,
) -> Result<u64> {
    let field = |r: &FlowRecord| match c.from {
        From::Field(f) => f.value(r),
        _ => Value::U64(0),
    };
    let mismatch = || ParquetError::General(format!("column {}: writer of another type", c.name));
    match c.ty {
        ColType::UInt(_) | ColType::V4 => {
            sc.i32s.clear();
            sc.defs.clear();
            let mut rows = 0u64;
            for (_, r) in records(s, keep) {
                rows += 1;
                match (c.ty, field(r)) {
                    (ColType::V4, Value::Addr(std::net::IpAddr::V4(a)))
                    | (ColType::V4, Value::AddrPort(std::net::IpAddr::V4(a), _)) => {
                        sc.i32s.push(u32::from(a) as i32);
                        sc.defs.push(1);
                    }
                    (ColType::V4, _) => sc.defs.push(0),
                    (_, Value::AddrPort(_, p)) => sc.i32s.push(p as i32),
                    // Unsigned values keep their bits (Parquet's UINT_32 convention).
                    (_, v) => sc.i32s.push(v.as_u64().unwrap_or(0) as u32 as i32),
                }
            }
            let ColumnWriter::Int32ColumnWriter(w) = w else {
                return Err(mismatch());
            };
            let defs = (c.ty == ColType::V4).then_some(&sc.defs[..]);
            w.write_batch(&sc.i32s, defs, None)?;
            Ok(rows)
        }
        ColType::U64 | ColType::TimeMs => {
            sc.i64s.clear();
            for (d, r) in records(s, keep) {
                let v = match c.from {
                    From::Received => d.received_ms,
                    _ => field(r).as_u64().unwrap_or(0),
                };
                sc.i64s.push(v as i64);
            }
            let ColumnWriter::Int64ColumnWriter(w) = w else {
                return Err(mismatch());
            };
            w.write_batch(&sc.i64s, None, None)?;
            Ok(sc.i64s.len() as u64)
        }
        ColType::V6 | ColType::Bytes(_) => {
            sc.raw.clear();
            sc.defs.clear();
            let mut rows = 0u64;
            for (_, r) in records(s, keep) {
                rows += 1;
                match field(r) {
                    Value::Addr(std::net::IpAddr::V6(a))
                    | Value::AddrPort(std::net::IpAddr::V6(a), _) => {
                        sc.raw.extend_from_slice(&a.octets());
                        sc.defs.push(1);
                    }
                    Value::Mac(m) => sc.raw.extend_from_slice(&m),
                    _ => sc.defs.push(0),
                }
            }
            let width = match c.ty {
                ColType::Bytes(n) => n as usize,
                _ => 16,
            };
            // One buffer per column and shipment; each value is a slice of it.
            let all = Bytes::copy_from_slice(&sc.raw);
            sc.fixed.clear();
            sc.fixed.extend((0..all.len() / width).map(|i| {
                FixedLenByteArray::from(ByteArray::from(all.slice(i * width..(i + 1) * width)))
            }));
            let ColumnWriter::FixedLenByteArrayColumnWriter(w) = w else {
                return Err(mismatch());
            };
            let defs = (c.ty == ColType::V6).then_some(&sc.defs[..]);
            w.write_batch(&sc.fixed, defs, None)?;
            sc.fixed.clear();
            Ok(rows)
        }
        ColType::Text => {
            sc.refresh(&s.origin);
            let Some((origin, collector, sources)) = sc.origin.take() else {
                return Err(ParquetError::General("no origin names".into()));
            };
            sc.text.clear();
            sc.defs.clear();
            let statics = [
                ByteArray::from(Bytes::from_static(UNKNOWN)),
                ByteArray::from(Bytes::from_static(INGRESS)),
                ByteArray::from(Bytes::from_static(EGRESS)),
            ];
            match c.from {
                From::Route(rf) => {
                    sc.origin = Some((origin, collector, sources));
                    return write_texts(keep, w, s, sc, |d, r, out| {
                        if let Some(a) = d.route_of(r) {
                            (rf.write)(a, out);
                        }
                    })
                    .ok_or_else(mismatch)?;
                }
                From::Net { dst, kind } => {
                    sc.origin = Some((origin, collector, sources));
                    return write_texts(keep, w, s, sc, |d, r, out| {
                        if let Some(l) = d.labels_of(r, dst).and_then(|l| l.get(kind)) {
                            out.push_str(l);
                        }
                    })
                    .ok_or_else(mismatch)?;
                }
                _ => {}
            }
            let mut rows = 0u64;
            for (d, r) in records(s, keep) {
                rows += 1;
                let v = match c.from {
                    From::Collector => Some(collector.clone()),
                    From::Source => d.source.and_then(|i| sources.get(i as usize)).cloned(),
                    _ => match field(r) {
                        Value::Direction(Direction::Ingress) => Some(statics[1].clone()),
                        Value::Direction(Direction::Egress) => Some(statics[2].clone()),
                        Value::Country([0, 0]) => None,
                        Value::Country(cc) => Some(country(cc)),
                        _ => Some(statics[0].clone()),
                    },
                };
                match v {
                    Some(v) => {
                        sc.text.push(v);
                        sc.defs.push(1);
                    }
                    None => sc.defs.push(0),
                }
            }
            sc.origin = Some((origin, collector, sources));
            let ColumnWriter::ByteArrayColumnWriter(w) = w else {
                return Err(mismatch());
            };
            w.write_batch(&sc.text, Some(&sc.defs), None)?;
            sc.text.clear();
            Ok(rows)
        }
    }
}

/// A country code as a Parquet value over static bytes (each code kept once).
fn country(cc: [u8; 2]) -> ByteArray {
    let text = std::str::from_utf8(&cc).unwrap_or("??");
    ByteArray::from(Bytes::from_static(forever(text)))
}

/// A column of text built per record (route attributes, network labels):
/// each record's text written by `text` into one buffer, each value a slice
/// of it (nothing allocated per record); null where `text` writes nothing.
/// `None`: the writer is not a text column's.
fn write_texts(
    keep: Option<&[bool]>,
    w: &mut ColumnWriter<'static>,
    s: &Shipment,
    sc: &mut Scratch,
    text: impl Fn(&crate::fanout::Decoded, &FlowRecord, &mut String),
) -> Option<Result<u64>> {
    sc.built.clear();
    sc.ends.clear();
    sc.defs.clear();
    let mut rows = 0u64;
    for (d, r) in records(s, keep) {
        rows += 1;
        let start = sc.built.len();
        text(d, r, &mut sc.built);
        if sc.built.len() > start {
            sc.ends.push(sc.built.len());
            sc.defs.push(1);
        } else {
            sc.defs.push(0);
        }
    }
    let all = Bytes::copy_from_slice(sc.built.as_bytes());
    sc.text.clear();
    let mut from = 0;
    for &end in &sc.ends {
        sc.text.push(ByteArray::from(all.slice(from..end)));
        from = end;
    }
    let ColumnWriter::ByteArrayColumnWriter(w) = w else {
        return None;
    };
    let written = w.write_batch(&sc.text, Some(&sc.defs), None).map(|_| rows);
    sc.text.clear();
    Some(written)
}
