//! The store's columns, derived from the shared field schema
//! (`octoflow_proto::schema::FIELDS`): a field added there becomes a column
//! here with no change to this file. Before them come what the store adds:
//! the receive time, the collector and the source name.
//!
//! Types are chosen for size and for readers: integers as Parquet integers with
//! their unsigned logical type, times as UTC millisecond timestamps (delta
//! encoded: they rise slowly), addresses as binary — an IPv4 address as an
//! unsigned 32-bit integer in `<field>_v4` and an IPv6 one as 16 bytes in
//! `<field>_v6`, the other column null — so a v4 flow costs four bytes before
//! compression, not a 16-byte or text form.
//!
//! Compatibility: columns are found by name. New fields add columns; old files
//! lack them (read with `union_by_name`), and no column is ever renamed or
//! retyped — a change of type is a new name.

use std::sync::Arc;

use octoflow_proto::route::{RouteField, ROUTE_FIELDS};
use octoflow_proto::schema::{Field, Kind, FIELDS};
use parquet::basic::{
    Compression, Encoding, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::{ColumnPath, Type};

/// What a column holds, and so how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// Unsigned integers of 8, 16 or 32 bits (Parquet INT32).
    UInt(u8),
    /// Unsigned 64-bit integers.
    U64,
    /// Unix milliseconds (a UTC timestamp).
    TimeMs,
    /// The IPv4 half of an address field: null for IPv6.
    V4,
    /// The IPv6 half of an address field: null for IPv4.
    V6,
    /// Fixed-size bytes (MAC addresses: 6).
    Bytes(u8),
    /// Text, dictionary encoded (few distinct values); nullable.
    Text,
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
pub enum From {
    /// A field of the record.
    Field(&'static Field),
    /// When the collector received the datagram.
    Received,
    /// The collector's id.
    Collector,
    /// The exporting device's name in the collector's `sources` (null if unnamed).
    Source,
    /// An attribute of the flow's destination route (null when not enriched
    /// from BGP/BMP, or when the route has none).
    Route(&'static RouteField),
    /// A network label (`enrichment.networks`) of the source (`dst` false)
    /// or destination: kind `kind` of `enrich::networks::KINDS`.
    Net { dst: bool, kind: usize },
}

/// One column of a store file.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColType,
    pub from: From,
}

/// Every column, in file order: the store's own, then one or two per field of
/// [`FIELDS`], then the route's ([`ROUTE_FIELDS`]), then the network labels
/// (`src_net_name`, …, `dst_net_tenant`).
pub fn columns() -> Vec<Column> {
    let mut cols = columns_of(FIELDS);
    cols.extend(ROUTE_FIELDS.iter().map(|f| Column {
        name: f.name.to_string(),
        ty: ColType::Text,
        from: From::Route(f),
    }));
    for (side, dst) in [("src", false), ("dst", true)] {
        for (kind, k) in crate::enrich::networks::KINDS.iter().enumerate() {
            cols.push(Column {
                name: format!("{side}_net_{k}"),
                ty: ColType::Text,
                from: From::Net { dst, kind },
            });
        }
    }
    cols
}

/// The columns for the field list `fields`.
pub fn columns_of(fields: &'static [Field]) -> Vec<Column> {
    let mut cols = vec![
        Column {
            name: "received".into(),
            ty: ColType::TimeMs,
            from: From::Received,
        },
        Column {
            name: "collector".into(),
            ty: ColType::Text,
            from: From::Collector,
        },
        Column {
            name: "source".into(),
            ty: ColType::Text,
            from: From::Source,
        },
    ];
    for f in fields {
        let one = |ty| Column {
            name: f.name.to_string(),
            ty,
            from: From::Field(f),
        };
        match f.kind {
            Kind::U8 => cols.push(one(ColType::UInt(8))),
            Kind::U16 => cols.push(one(ColType::UInt(16))),
            Kind::U32 => cols.push(one(ColType::UInt(32))),
            Kind::U64 | Kind::DurationMs => cols.push(one(ColType::U64)),
            Kind::TimeMs => cols.push(one(ColType::TimeMs)),
            Kind::Mac => cols.push(one(ColType::Bytes(6))),
            // As text: three values, one dictionary entry each.
            Kind::Direction => cols.push(one(ColType::Text)),
            // As text (`SE`), null when unknown.
            Kind::Country => cols.push(one(ColType::Text)),
            Kind::Addr => {
                for (suffix, ty) in [("_v4", ColType::V4), ("_v6", ColType::V6)] {
                    cols.push(Column {
                        name: format!("{}{suffix}", f.name),
                        ty,
                        from: From::Field(f),
                    });
                }
            }
            // Address and port: stored as the two fields it is made of (only
            // derived fields have this kind; a stored one gets both parts).
            Kind::AddrPort => {
                for (suffix, ty) in [
                    ("_v4", ColType::V4),
                    ("_v6", ColType::V6),
                    ("_port", ColType::UInt(16)),
                ] {
                    cols.push(Column {
                        name: format!("{}{suffix}", f.name),
                        ty,
                        from: From::Field(f),
                    });
                }
            }
        }
    }
    cols
}

/// The Parquet schema of `cols`.
pub fn parquet_schema(cols: &[Column]) -> Result<Arc<Type>, parquet::errors::ParquetError> {
    let mut fields = Vec::with_capacity(cols.len());
    for c in cols {
        let (physical, logical, len, rep) = match c.ty {
            ColType::UInt(bits) => (
                Physical::INT32,
                Some(LogicalType::integer(bits as i8, false)),
                0,
                Repetition::REQUIRED,
            ),
            ColType::U64 => (
                Physical::INT64,
                Some(LogicalType::integer(64, false)),
                0,
                Repetition::REQUIRED,
            ),
            ColType::TimeMs => (
                Physical::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
                0,
                Repetition::REQUIRED,
            ),
            ColType::V4 => (
                Physical::INT32,
                Some(LogicalType::integer(32, false)),
                0,
                Repetition::OPTIONAL,
            ),
            ColType::V6 => (
                Physical::FIXED_LEN_BYTE_ARRAY,
                None,
                16,
                Repetition::OPTIONAL,
            ),
            ColType::Bytes(n) => (
                Physical::FIXED_LEN_BYTE_ARRAY,
                None,
                n as i32,
                Repetition::REQUIRED,
            ),
            ColType::Text => (
                Physical::BYTE_ARRAY,
                Some(LogicalType::String),
                0,
                Repetition::OPTIONAL,
            ),
        };
        let mut b = Type::primitive_type_builder(&c.name, physical)
            .with_repetition(rep)
            .with_logical_type(logical);
        if len > 0 {
            b = b.with_length(len);
        }
        fields.push(Arc::new(b.build()?));
    }
    Ok(Arc::new(
        Type::group_type_builder("flow")
            .with_fields(fields)
            .build()?,
    ))
}

/// Integer fields whose values repeat enough for a dictionary to pay for its
/// cost: a hash lookup per value, the writer's largest cost by far (measured
/// on `octoflow gen` flows: dictionaries everywhere 15.8 bytes and 0.83 M
/// flows per CPU-second; delta everywhere 18.4 bytes and 1.2 M). These are
/// the fields where the dictionary saved the most bytes (protocols and
/// destination ports: a few values in random order; addresses and interfaces:
/// repeating hosts). Other integers are delta encoded, which costs little per
/// value and packs constants and small ranges tightly.
const DICTIONARY: &[&str] = &[
    "proto",
    "dst_port",
    "src_addr",
    "dst_addr",
    "packets",
    "input_if",
    "output_if",
    "tcp_flags",
    "icmp_type",
];

/// How the columns are encoded: zstd pages, statistics per column chunk (so
/// a reader can skip row groups by time or address range) and not per page
/// (cheaper to write); integers as [`DICTIONARY`] says, except that one
/// constant in the previous row group (`constant[i]`) is delta encoded (a
/// constant then packs to nothing, with no lookup per value); text and bytes
/// in dictionaries (few distinct values, or fallen back to plain).
pub fn properties(cols: &[Column], constant: &[bool]) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("octoflow {}", env!("CARGO_PKG_VERSION")));
    for (i, c) in cols.iter().enumerate() {
        let int = matches!(
            c.ty,
            ColType::UInt(_) | ColType::U64 | ColType::V4 | ColType::TimeMs
        );
        let listed = matches!(c.from, From::Field(f) if DICTIONARY.contains(&f.name));
        if int && (!listed || constant.get(i) == Some(&true)) {
            let p = ColumnPath::from(c.name.as_str());
            b = b
                .set_column_dictionary_enabled(p.clone(), false)
                .set_column_encoding(p, Encoding::DELTA_BINARY_PACKED);
        }
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_the_shared_schema_is_a_column() {
        let cols = columns();
        for f in FIELDS {
            let n = cols
                .iter()
                .filter(|c| matches!(c.from, From::Field(g) if g.name == f.name))
                .count();
            assert!(n >= 1, "field {} has no column", f.name);
        }
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        for n in [
            "received",
            "collector",
            "source",
            "src_addr_v4",
            "src_addr_v6",
            "exporter_v4",
            "domain",
            "packets",
            "bytes",
        ] {
            assert!(names.contains(&n), "no column {n}: {names:?}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "two columns share a name");
    }

    #[test]
    fn a_new_field_becomes_new_columns_after_the_old_ones() {
        // Files are read by column name, so position is for people reading
        // the schema: the fields' columns keep theirs.
        let old = columns_of(FIELDS);
        let mut fields = FIELDS.to_vec();
        fields.push(Field {
            name: "new_field",
            kind: Kind::U16,
            token: None,
            ies: &[],
            get: |_| octoflow_proto::schema::Value::U16(0),
        });
        let new = columns_of(Box::leak(fields.into_boxed_slice()));
        let s = parquet_schema(&new).expect("schema");
        assert_eq!(s.get_fields().len(), old.len() + 1);
        for (i, a) in old.iter().enumerate() {
            assert_eq!((a.name.as_str(), a.ty), (new[i].name.as_str(), new[i].ty));
            assert_eq!(a.name, s.get_fields()[i].name());
        }
        assert_eq!(s.get_fields()[old.len()].name(), "new_field");
        assert_eq!(new[old.len()].ty, ColType::UInt(16));
    }

    #[test]
    fn integers_constant_in_the_last_row_group_are_delta_encoded_the_rest_in_dictionaries() {
        let cols = columns();
        let at = |n: &str| cols.iter().position(|c| c.name == n).expect("column");
        let mut constant = vec![false; cols.len()];
        constant[at("tos")] = true;
        constant[at("collector")] = true;
        let p = properties(&cols, &constant);
        let dict = |n: &str| p.dictionary_enabled(&ColumnPath::from(n));
        assert!(!dict("tos") && !dict("first") && !dict("received"));
        assert!(dict("proto") && dict("src_addr_v4"));
        assert!(dict("collector"), "text keeps its dictionary");
        assert_eq!(
            p.encoding(&ColumnPath::from("tos")),
            Some(Encoding::DELTA_BINARY_PACKED)
        );
    }

    #[test]
    fn the_schema_has_one_parquet_column_per_column() {
        let cols = columns();
        let s = parquet_schema(&cols).expect("schema");
        assert_eq!(s.get_fields().len(), cols.len());
        let v6 = s
            .get_fields()
            .iter()
            .find(|f| f.name() == "dst_addr_v6")
            .expect("v6");
        assert_eq!(v6.get_physical_type(), Physical::FIXED_LEN_BYTE_ARRAY);
    }
}
