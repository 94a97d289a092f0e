//! The messages read back field by field with a small protobuf reader (the
//! integration tests read them with `protoc --decode` and ClickHouse).

use std::collections::BTreeMap;
use std::net::IpAddr;

use octoflow_proto::{FlowRecord, Version};

use super::{json, protobuf};
use crate::Meta;

#[derive(Debug, PartialEq)]
enum V {
    Int(u64),
    Bytes(Vec<u8>),
}

fn read_varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let x = b[*i];
        *i += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Split length-delimited messages and read each into field → value.
fn read_all(b: &[u8]) -> Vec<BTreeMap<u32, V>> {
    let mut i = 0;
    let mut msgs = Vec::new();
    while i < b.len() {
        let len = read_varint(b, &mut i) as usize;
        let end = i + len;
        let mut m = BTreeMap::new();
        while i < end {
            let tag = read_varint(b, &mut i);
            let (field, wt) = ((tag >> 3) as u32, tag & 7);
            let v = match wt {
                0 => V::Int(read_varint(b, &mut i)),
                2 => {
                    let n = read_varint(b, &mut i) as usize;
                    i += n;
                    V::Bytes(b[i - n..i].to_vec())
                }
                w => panic!("wire type {w}"),
            };
            assert!(m.insert(field, v).is_none(), "field {field} twice");
        }
        assert_eq!(i, end);
        msgs.push(m);
    }
    msgs
}

fn meta() -> Meta {
    Meta {
        version: Version::Ipfix,
        received_ms: 1_767_225_600_500,
        sequence: 77,
    }
}

#[test]
fn every_field_has_goflow2s_number() {
    let r = FlowRecord::example();
    let mut out = Vec::new();
    protobuf(&r, &meta(), None, &mut out);
    let m = &read_all(&out)[0];
    let int = |f: u32| match m.get(&f) {
        Some(V::Int(v)) => *v,
        other => panic!("field {f}: {other:?}"),
    };
    let by = |f: u32| match m.get(&f) {
        Some(V::Bytes(v)) => v.clone(),
        other => panic!("field {f}: {other:?}"),
    };
    let v6 = |a: &str| a.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec();
    assert_eq!(int(1), 4, "type IPFIX");
    assert_eq!(int(3), 1000);
    assert_eq!(int(4), 77);
    assert_eq!(by(6), v6("::ffff:10.0.0.1"));
    assert_eq!(by(7), v6("::ffff:192.0.2.200"));
    assert_eq!(int(9), 9000);
    assert_eq!(int(10), 12);
    assert_eq!(by(11), v6("::ffff:198.51.100.7"));
    assert_eq!(by(12), v6("::ffff:10.0.0.254"));
    assert_eq!(int(14), 64512);
    assert_eq!(int(15), 4_200_000_000);
    assert_eq!((int(16), int(17)), (24, 16));
    assert_eq!((int(18), int(19)), (4, 70000));
    assert_eq!((int(20), int(21), int(22)), (6, 51234, 443));
    assert_eq!((int(23), int(26)), (0x28, 0x1b));
    assert_eq!(int(27), 0x0200_5e10_abcd);
    assert_eq!(int(28), 0xffee_0001_0203);
    assert_eq!(int(30), 0x0800);
    assert_eq!((int(31), int(32)), (7, 9));
    assert_eq!((int(33), int(34)), (10, 4094));
    assert_eq!(int(70), 258);
    assert_eq!(int(110), 1_767_225_600_500_000_000);
    assert_eq!(int(111), 1_767_225_590_123_000_000);
    assert_eq!(int(112), 1_767_225_599_007_000_000);
    assert_eq!(by(100), v6("::ffff:192.0.2.1"));
    assert_eq!(m.len(), 32, "{m:?}");
}

/// Packed repeated varints, as protoc writes `repeated uint32` in proto3.
fn unpack(b: &[u8]) -> Vec<u32> {
    let (mut vs, mut v, mut shift) = (Vec::new(), 0u64, 0);
    for &x in b {
        v |= u64::from(x & 0x7f) << shift;
        shift += 7;
        if x < 0x80 {
            vs.push(v as u32);
            (v, shift) = (0, 0);
        }
    }
    vs
}

#[test]
fn the_route_gives_as_path_and_communities_as_goflow2_numbers_them() {
    let route = octoflow_proto::RouteAttrs::default().with_lists(
        &[65001, 4_200_000_000, 64500],
        &[65001 << 16 | 666, 64500 << 16 | 1],
        &[],
    );
    let mut out = Vec::new();
    protobuf(&FlowRecord::example(), &meta(), Some(&route), &mut out);
    let m = &read_all(&out)[0];
    let list = |f: u32| match m.get(&f) {
        Some(V::Bytes(b)) => unpack(b),
        other => panic!("field {f}: {other:?}"),
    };
    assert_eq!(list(102), [65001, 4_200_000_000, 64500]);
    assert_eq!(list(101), [65001 << 16 | 666, 64500 << 16 | 1]);
    // The longest lists still frame with a two-byte length.
    let long =
        octoflow_proto::RouteAttrs::default().with_lists(&[u32::MAX; 5000], &[u32::MAX; 5000], &[]);
    let mut out = Vec::new();
    protobuf(&FlowRecord::example(), &meta(), Some(&long), &mut out);
    let m = &read_all(&out)[0];
    match m.get(&102) {
        Some(V::Bytes(b)) => assert_eq!(unpack(b).len(), super::MAX_ROUTE_LIST),
        other => panic!("{other:?}"),
    }
}

#[test]
fn zeros_are_left_out_and_lengths_of_one_and_two_bytes_frame() {
    let small = FlowRecord {
        src_addr: IpAddr::from([192, 0, 2, 1]),
        ..FlowRecord::default()
    };
    let big = FlowRecord {
        src_addr: "2001:db8::1".parse().unwrap(),
        dst_addr: "2001:db8::2".parse().unwrap(),
        ..FlowRecord::example()
    };
    let mut out = Vec::new();
    for r in [&small, &big, &small] {
        protobuf(r, &meta(), None, &mut out);
    }
    let msgs = read_all(&out);
    assert_eq!(msgs.len(), 3);
    // Four addresses (always written), type, sequence, etype, time received.
    assert_eq!(msgs[0].len(), 8, "{:?}", msgs[0]);
    assert_eq!(msgs[1].get(&30), Some(&V::Int(0x86dd)));
    assert!(out[0] < 0x80, "a short message has a one-byte length");
    let second = usize::from(out[0]) + 1;
    assert!(out[second] >= 0x80, "a long message has a two-byte length");
}

#[test]
fn json_lines_have_every_key_and_plain_ipv4() {
    let mut out = Vec::new();
    json(&FlowRecord::example(), &meta(), &mut out);
    let line = String::from_utf8(out).unwrap();
    assert!(line.ends_with("}\n"));
    for want in [
        r#""type":"IPFIX""#,
        r#""src_addr":"10.0.0.1""#,
        r#""sampler_address":"198.51.100.7""#,
        r#""src_mac":"02:00:5e:10:ab:cd""#,
        r#""dst_as":4200000000"#,
        r#""time_flow_start_ns":1767225590123000000"#,
        r#""sequence_num":77"#,
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    let mut v6 = Vec::new();
    let r = FlowRecord {
        src_addr: "2001:db8::1".parse().unwrap(),
        ..FlowRecord::default()
    };
    json(&r, &meta(), &mut v6);
    let l = String::from_utf8(v6).unwrap();
    assert!(
        l.contains(r#""src_addr":"2001:db8::1""#) && l.contains(r#""etype":34525"#),
        "{l}"
    );
    assert!(l.contains(r#""dst_addr":"0.0.0.0""#), "{l}");
}
