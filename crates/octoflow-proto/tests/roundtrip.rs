//! canonical → encode → decode gives the same records, for every version
//! (property-tested), within what each version can express.

mod common;
use common::*;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use octoflow_proto::netflow_v5::V5Writer;
use octoflow_proto::{Dialect, Direction, EncodeError, FlowRecord};
use proptest::prelude::*;

fn addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    if v6 {
        any::<u128>()
            .prop_map(|x| IpAddr::V6(Ipv6Addr::from(x | (1u128 << 127))))
            .boxed()
    } else {
        any::<u32>()
            .prop_map(|x| IpAddr::V4(Ipv4Addr::from(x | 1 << 24)))
            .boxed()
    }
}

prop_compose! {
    fn record(v6: bool)(
        src in addr(v6), dst in addr(v6), nh in addr(v6), bgp_nh in addr(v6),
        sp in any::<u16>(), dp in any::<u16>(), proto in prop_oneof![Just(6u8), Just(17u8), Just(1u8), Just(47u8)],
        tos in any::<u8>(), flags in any::<u8>(), packets in 1u64..u32::MAX as u64, bytes in 1u64..u32::MAX as u64,
        age in 0u64..1_000_000, dur in 0u64..100_000, inp in any::<u16>(), outp in any::<u16>(),
        sas in any::<u16>(), das in any::<u16>(), smask in 0u8..=32, dmask in 0u8..=32,
        svlan in 0u16..4096, dvlan in 0u16..4096, smac in any::<[u8; 6]>(), dmac in any::<[u8; 6]>(),
        dir in prop_oneof![Just(Direction::Ingress), Just(Direction::Egress), Just(Direction::Unknown)],
        sampling in 0u32..100_000, it in any::<u8>(), ic in any::<u8>(),
    ) -> FlowRecord {
        let last = NOW_MS - NOW_MS % 1000 - age;
        let mut r = FlowRecord {
            src_addr: src, dst_addr: dst, next_hop: nh, src_port: sp, dst_port: dp,
            proto: if v6 && proto == 1 { 58 } else { proto }, tos, tcp_flags: flags, packets, bytes,
            first_ms: last - dur, last_ms: last, input_if: inp as u32, output_if: outp as u32,
            src_as: sas as u32, dst_as: das as u32, src_mask: smask, dst_mask: dmask,
            src_vlan: svlan, dst_vlan: dvlan, src_mac: smac, dst_mac: dmac, direction: dir,
            sampling_interval: sampling, exporter: exporter(), domain: 42, bgp_next_hop: bgp_nh, ..FlowRecord::default()
        };
        if r.is_icmp() { r.set_icmp(it, ic); }
        r
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn v9_roundtrip(recs in prop::collection::vec(prop_oneof![record(false), record(true)], 1..30)) {
        let d = encode_v9_or_ipfix(Dialect::V9, &recs, 7);
        let b = decode_all(&mut decoder(), &d);
        prop_assert_eq!(&b.records, &recs);
        prop_assert_eq!(b.templates.len(), 4);
    }

    #[test]
    fn ipfix_roundtrip(recs in prop::collection::vec(prop_oneof![record(false), record(true)], 1..30)) {
        let d = encode_v9_or_ipfix(Dialect::Ipfix, &recs, 7);
        let b = decode_all(&mut decoder(), &d);
        prop_assert_eq!(&b.records, &recs);
    }

    #[test]
    fn v5_roundtrip(recs in prop::collection::vec(record(false), 1..=30)) {
        let d = encode_v5(&recs, 100);
        let b = decode_all(&mut decoder(), &d);
        // What v5 cannot say: VLANs, MACs, direction, 4-byte ifIndex/AS (ours are
        // 16-bit here), per-record sampling, BGP next hop; v5 times have ms precision.
        let want: Vec<FlowRecord> = recs.iter().map(|r| FlowRecord {
            bgp_next_hop: FlowRecord::default().bgp_next_hop,
            src_vlan: 0, dst_vlan: 0, src_mac: [0; 6], dst_mac: [0; 6], direction: Direction::Unknown,
            sampling_interval: 0, domain: 1 << 8 | 2, ..*r
        }).collect();
        prop_assert_eq!(&b.records, &want);
    }

    #[test]
    fn sflow_roundtrip(recs in prop::collection::vec(prop_oneof![record(false), record(true)], 1..20)) {
        // One sample is one packet: bytes is that packet's IP length.
        let recs: Vec<FlowRecord> = recs.into_iter().map(|mut r| {
            r.packets = 1;
            r.bytes = 60 + r.bytes % 1400;
            r.first_ms = NOW_MS; r.last_ms = NOW_MS;
            r.direction = Direction::Unknown;
            r.sampling_interval = r.sampling_interval.max(1);
            r.domain = 3;
            if r.proto == 47 { r.tcp_flags = 0; }
            if r.proto == 17 { r.tcp_flags = 0; }
            if r.is_icmp() { r.tcp_flags = 0; }
            r.input_if &= 0x3fff_ffff; r.output_if &= 0x3fff_ffff;
            r.src_mask = r.src_mask.max(1);
            // The writer sends no extended gateway data (sFlow's BGP next hop).
            r.bgp_next_hop = FlowRecord::default().bgp_next_hop;
            r
        }).collect();
        let d = encode_sflow(&recs, 9);
        let b = decode_all(&mut decoder(), &d);
        let want: Vec<FlowRecord> = recs.iter().map(|r| {
            let mut w = *r;
            if !r.is_icmp() && r.proto != 6 && r.proto != 17 { w.src_port = 0; w.dst_port = 0; }
            w
        }).collect();
        prop_assert_eq!(&b.records, &want);
        prop_assert_eq!(b.sflow.unwrap().agent, exporter());
    }
}

#[test]
fn v5_refuses_ipv6_as_unconvertible() {
    let mut buf = [0u8; 1500];
    let mut w = V5Writer::new(&mut buf, Default::default()).unwrap();
    let r = FlowRecord {
        src_addr: "2001:db8::1".parse().unwrap(),
        dst_addr: "2001:db8::2".parse().unwrap(),
        ..FlowRecord::default()
    };
    assert!(matches!(w.push(&r), Err(EncodeError::Unconvertible(_))));
    assert_eq!(w.count(), 0);
}

#[test]
fn v5_message_holds_at_most_30_records() {
    let mut buf = [0u8; 4000];
    let mut w = V5Writer::new(&mut buf, Default::default()).unwrap();
    let r = FlowRecord {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        ..FlowRecord::default()
    };
    for _ in 0..30 {
        w.push(&r).unwrap();
    }
    assert_eq!(w.push(&r), Err(EncodeError::MessageFull));
}

#[test]
fn message_writer_respects_the_size_limit() {
    use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
    let t = own_template(Dialect::Ipfix, false);
    let mut buf = [0u8; 512];
    let mut w = MessageWriter::new(&mut buf, Dialect::Ipfix, MessageHeader::default()).unwrap();
    w.add_template(&t).unwrap();
    let r = FlowRecord {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        ..FlowRecord::default()
    };
    let mut n = 0;
    while w.add_record(&t, &r).is_ok() {
        n += 1;
    }
    let len = w.finish();
    assert!(len <= 512 && n > 0, "len {len} n {n}");
    let b = decode_all(&mut decoder(), &buf[..len]);
    assert_eq!(b.records.len(), n);
}
