//! Rows checked byte by byte against RowBinary's rules (the integration test
//! `crates/octoflow/tests/clickhouse.rs` has ClickHouse 18.16 read them).

use std::net::IpAddr;

use octoflow_proto::{Direction, FlowRecord, Version};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// 2024-03-09T16:00:00.250Z.
const RECEIVED_MS: u64 = 1_710_000_000_250;

fn meta() -> Meta {
    Meta {
        version: Version::Ipfix,
        received_ms: RECEIVED_MS,
        sequence: 0x0102_0304,
    }
}

fn record() -> FlowRecord {
    FlowRecord {
        src_addr: ip("192.168.1.1"),
        dst_addr: ip("2001:db8::1"),
        src_port: 443,
        dst_port: 51000,
        proto: 6,
        packets: 3,
        bytes: 0x0102_0304_0506,
        first_ms: 1_709_999_990_123,
        last_ms: 1_709_999_999_999,
        src_as: 65000,
        dst_as: 4_200_000_000,
        exporter: ip("10.0.0.1"),
        sampling_interval: 100,
        src_mac: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
        direction: Direction::Egress,
        ..FlowRecord::default()
    }
}

fn v4_mapped(a: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0u8; 10];
    v.extend_from_slice(&[0xff, 0xff]);
    v.extend_from_slice(&a);
    v
}

#[test]
fn a_flow_pipeline_row_is_its_columns_little_endian_in_table_order() {
    let mut out = Vec::new();
    flow_pipeline(&record(), &meta(), &mut out);
    let mut want: Vec<u8> = Vec::new();
    want.extend_from_slice(&19_791u16.to_le_bytes()); // Date: 2024-03-09 is day 19791
    want.extend_from_slice(&1_710_000_000u32.to_le_bytes()); // TimeReceived
    want.extend_from_slice(&1_709_999_990u32.to_le_bytes()); // TimeFlowStart
    want.extend_from_slice(&[4, 3, 2, 1]); // SequenceNum
    want.extend_from_slice(&[100, 0, 0, 0, 0, 0, 0, 0]); // SamplingRate UInt64
    want.extend_from_slice(&v4_mapped([10, 0, 0, 1])); // SamplerAddress
    want.extend_from_slice(&v4_mapped([192, 168, 1, 1])); // SrcAddr
    want.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // DstAddr
    want.extend_from_slice(&65000u32.to_le_bytes()); // SrcAS
    want.extend_from_slice(&4_200_000_000u32.to_le_bytes()); // DstAS
    want.extend_from_slice(&[0x00, 0x08, 0, 0]); // EType 0x0800
    want.extend_from_slice(&[6, 0, 0, 0]); // Proto UInt32
    want.extend_from_slice(&[0xbb, 0x01, 0, 0]); // SrcPort 443 as UInt32
    want.extend_from_slice(&[0x38, 0xc7, 0, 0]); // DstPort 51000
    want.extend_from_slice(&[6, 5, 4, 3, 2, 1, 0, 0]); // Bytes
    want.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]); // Packets
    assert_eq!(out, want);
    let widths: usize = FLOW_PIPELINE
        .iter()
        .map(|(_, t)| width(t).expect("fixed width"))
        .sum();
    assert_eq!(out.len(), widths, "one value per column of FLOW_PIPELINE");
}

#[test]
fn ipv4_is_stored_mapped_so_ipv6numtostring_shows_ffff_a_b_c_d() {
    // The flow-pipeline's own schema puts goflow's 4 bytes first, which
    // IPv6NumToString shows as c0a8:101:: for 192.168.1.1.
    let mut out = Vec::new();
    addr(&mut out, ip("192.168.1.1"));
    assert_eq!(
        out,
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 1]
    );
}

#[test]
fn dates_and_times_are_days_and_seconds_and_saturate_at_the_types_end() {
    let mut out = Vec::new();
    date(&mut out, 0);
    date(&mut out, 86_399_999);
    date(&mut out, 86_400_000);
    date(&mut out, u64::MAX);
    assert_eq!(out, [0, 0, 0, 0, 1, 0, 0xff, 0xff]);
    out.clear();
    datetime(&mut out, 1_999);
    datetime(&mut out, u64::MAX);
    assert_eq!(out, [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn the_octoflow_layout_has_a_column_per_field_and_writes_exactly_its_widths() {
    let cols = octoflow_columns();
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    for n in [
        "date",
        "received",
        "received_ms",
        "exporter",
        "first",
        "first_ms",
        "last_ms",
        "src_addr",
        "dst_port",
        "bytes",
        "src_mac",
        "direction",
    ] {
        assert!(names.contains(&n), "no column {n}: {names:?}");
    }
    for f in FIELDS {
        assert!(names.contains(&f.name), "field {} has no column", f.name);
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "two columns share a name");

    let mut out = Vec::new();
    octoflow(&record(), &meta(), None, &mut out);
    // Without a route, each String is empty: one byte, its length 0.
    let total: usize = cols
        .iter()
        .map(|c| match c.ty {
            "String" => 1,
            ty => width(ty).unwrap_or_else(|| panic!("{} {}", c.name, c.ty)),
        })
        .sum();
    assert_eq!(out.len(), total, "the row and the columns agree");
    assert!(
        out.ends_with(&[0, 0, 0]),
        "as_path, communities, large_communities empty"
    );
}

#[test]
fn a_routes_attributes_are_its_last_columns_as_text() {
    let cols = octoflow_columns();
    let tail: Vec<&str> = cols[cols.len() - 3..]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(tail, ["as_path", "communities", "large_communities"]);
    let route = octoflow_proto::RouteAttrs::default().with_lists(
        &[65001, 4_200_000_000, 64500],
        &[65001 << 16 | 666],
        &[[65001, 64500, 1]],
    );
    let (mut without, mut with) = (Vec::new(), Vec::new());
    octoflow(&record(), &meta(), None, &mut without);
    octoflow(&record(), &meta(), Some(&route), &mut with);
    let fixed = without.len() - 3;
    assert_eq!(with[..fixed], without[..fixed]);
    let mut want = Vec::new();
    for t in ["65001 4200000000 64500", "65001:666", "65001:64500:1"] {
        want.push(t.len() as u8);
        want.extend_from_slice(t.as_bytes());
    }
    assert_eq!(with[fixed..], want[..]);
}

#[test]
fn octoflow_columns_hold_their_fields_values() {
    let cols = octoflow_columns();
    let mut out = Vec::new();
    octoflow(&record(), &meta(), None, &mut out);
    // Each column's bytes, found by summing the widths before it.
    let at = |name: &str| {
        let mut off = 0;
        for c in cols.iter().filter(|c| c.ty != "String") {
            let w = width(c.ty).expect("fixed");
            if c.name == name {
                return out[off..off + w].to_vec();
            }
            off += w;
        }
        panic!("no column {name}");
    };
    assert_eq!(at("date"), 19_791u16.to_le_bytes());
    assert_eq!(at("received"), 1_710_000_000u32.to_le_bytes());
    assert_eq!(at("received_ms"), 250u16.to_le_bytes());
    assert_eq!(at("first"), 1_709_999_990u32.to_le_bytes());
    assert_eq!(at("first_ms"), 123u16.to_le_bytes());
    assert_eq!(at("last_ms"), 999u16.to_le_bytes());
    assert_eq!(at("src_addr"), v4_mapped([192, 168, 1, 1]));
    assert_eq!(at("exporter"), v4_mapped([10, 0, 0, 1]));
    assert_eq!(at("src_port"), 443u16.to_le_bytes());
    assert_eq!(at("proto"), [6]);
    assert_eq!(at("bytes"), 0x0102_0304_0506u64.to_le_bytes());
    assert_eq!(at("dst_as"), 4_200_000_000u32.to_le_bytes());
    assert_eq!(at("src_mac"), 0x0011_2233_4455u64.to_le_bytes());
    assert_eq!(at("direction"), [2], "egress is Enum8 value 2");
    assert_eq!(at("sampling_interval"), 100u32.to_le_bytes());
}
