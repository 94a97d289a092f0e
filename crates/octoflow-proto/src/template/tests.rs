//! The straight-line decoder and encoder agree with the general field walk.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::message::{own_template, MessageHeader, MessageWriter};
use crate::record::FlowRecord;
use crate::wire::Writer;
use crate::{Batch, Decoder, Limits};

/// The straight-line decoder and the field-by-field one agree, for octoflow's
/// own templates (every canonical field, IPv4 and IPv6, v9 and IPFIX).
#[test]
fn fast_layout_decodes_like_the_field_walk() {
    for dialect in [Dialect::V9, Dialect::Ipfix] {
        for v6 in [false, true] {
            let t = own_template(dialect, v6);
            assert!(t.layout.is_some(), "own templates take the fast path");
            let mut slow = t.clone();
            slow.layout = None;
            let r = FlowRecord {
                src_addr: if v6 {
                    "2001:db8::1".parse().expect("ip")
                } else {
                    "10.0.0.1".parse().expect("ip")
                },
                dst_addr: if v6 {
                    "2001:db8::2".parse().expect("ip")
                } else {
                    "10.0.0.2".parse().expect("ip")
                },
                src_port: 1234,
                dst_port: 80,
                proto: 6,
                tos: 3,
                tcp_flags: 0x1b,
                packets: 7,
                bytes: 7000,
                first_ms: 1_767_225_590_000,
                last_ms: 1_767_225_599_000,
                input_if: 4,
                output_if: 5,
                src_as: 64512,
                dst_as: 64513,
                src_mask: 24,
                dst_mask: 16,
                src_vlan: 10,
                dst_vlan: 20,
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                sampling_interval: 100,
                ..FlowRecord::default()
            };
            let mut buf = vec![0u8; 2048];
            let h = MessageHeader {
                unix_ms: 1_767_225_600_000,
                sys_uptime_ms: 3_600_000,
                sequence: 0,
                domain: 1,
            };
            let mut w = MessageWriter::new(&mut buf, dialect, h).expect("writer");
            w.add_template(&t).expect("template");
            w.add_record(&t, &r).expect("record");
            let n = w.finish();
            let mut b = Batch::default();
            Decoder::new(Limits::default())
                .decode(
                    "192.0.2.1".parse().expect("ip"),
                    &buf[..n],
                    h.unix_ms,
                    &mut b,
                )
                .expect("decodes");
            let rec = b.bytes(&buf[..n], b.raw[0]);
            let tb = TimeBase {
                export_ms: h.unix_ms,
                uptime_ms: (dialect == Dialect::V9).then_some(h.sys_uptime_ms),
                system_init_ms: None,
            };
            let (mut a, mut c) = (FlowRecord::default(), FlowRecord::default());
            t.decode_data(rec, &tb, &SamplingState::default(), &mut a);
            slow.decode_data(rec, &tb, &SamplingState::default(), &mut c);
            assert_eq!(a, c, "{dialect:?} v6={v6}");
            assert_eq!(a.src_addr, r.src_addr);
            assert_eq!(a.bytes, r.bytes);
            assert_eq!(a.first_ms, r.first_ms);
            assert_eq!(a.sampling_interval, 100);
        }
    }
}

/// The straight-line encoder of octoflow's own templates writes what the
/// field-by-field encoder writes, for varied records (IPv4 in IPv6 templates and
/// the reverse, every direction, extreme counters and times).
#[test]
fn own_template_encoder_agrees_with_the_field_walk() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for dialect in [Dialect::V9, Dialect::Ipfix] {
        for v6 in [false, true] {
            let t = own_template(dialect, v6);
            assert_eq!(t.own, Some(v6), "own template recognised");
            let len = t.fixed_len.expect("fixed");
            for i in 0..500 {
                let a = |v: u64| -> IpAddr {
                    match v % 3 {
                        0 => IpAddr::from(Ipv4Addr::from((v >> 8) as u32)),
                        1 => IpAddr::from(Ipv6Addr::from(((v as u128) << 64) | v as u128)),
                        _ => IpAddr::from(Ipv4Addr::from((v >> 8) as u32).to_ipv6_mapped()),
                    }
                };
                let r = FlowRecord {
                    src_addr: a(rnd()),
                    dst_addr: a(rnd()),
                    next_hop: if i % 5 == 0 {
                        IpAddr::from([0u8; 4])
                    } else {
                        a(rnd())
                    },
                    src_port: rnd() as u16,
                    dst_port: rnd() as u16,
                    proto: rnd() as u8,
                    tos: rnd() as u8,
                    tcp_flags: rnd() as u8,
                    packets: rnd(),
                    bytes: rnd() >> (i % 64),
                    first_ms: rnd() >> 20,
                    last_ms: rnd() >> 20,
                    input_if: rnd() as u32,
                    output_if: rnd() as u32,
                    src_as: rnd() as u32,
                    dst_as: rnd() as u32,
                    src_mask: rnd() as u8,
                    dst_mask: rnd() as u8,
                    src_vlan: rnd() as u16,
                    dst_vlan: rnd() as u16,
                    src_mac: [rnd() as u8; 6],
                    dst_mac: [rnd() as u8, 1, 2, 3, 4, 5],
                    icmp_type: rnd() as u8,
                    icmp_code: rnd() as u8,
                    sampling_interval: rnd() as u32,
                    direction: match i % 3 {
                        0 => crate::record::Direction::Ingress,
                        1 => crate::record::Direction::Egress,
                        _ => crate::record::Direction::Unknown,
                    },
                    ..FlowRecord::default()
                };
                let tb = TimeBase {
                    export_ms: rnd() >> 20,
                    uptime_ms: (dialect == Dialect::V9).then_some(rnd() as u32),
                    system_init_ms: None,
                };
                let (mut fast, mut slow) = (vec![0u8; len], vec![0u8; len]);
                t.encode_record(&r, &tb, &mut Writer::new(&mut fast))
                    .expect("fast");
                t.encode_fields(&r, &tb, &mut Writer::new(&mut slow))
                    .expect("slow");
                assert_eq!(fast, slow, "{dialect:?} v6={v6} {r:?}");
            }
        }
    }
}

#[test]
fn competing_fields_fall_back_to_the_field_walk() {
    use crate::ie::id::*;
    let t = Template::new(
        300,
        Dialect::Ipfix,
        0,
        vec![
            FieldSpec::iana(OCTET_DELTA_COUNT, 8),
            FieldSpec::iana(FLOW_START_MILLISECONDS, 8),
            FieldSpec::iana(FLOW_START_SYS_UP_TIME, 4),
        ],
    )
    .expect("template");
    assert!(t.layout.is_none());
}

/// Templates with both address families (Cisco MPLS, Procera) take the straight-line
/// path too, and it picks the family the field walk picks, with and without
/// ipVersion, whichever family is zero.
#[test]
fn dual_family_templates_decode_alike_in_both_decoders() {
    use crate::ie::id::*;
    let mut fields = vec![
        FieldSpec::iana(SOURCE_IPV4_ADDRESS, 4),
        FieldSpec::iana(DESTINATION_IPV4_ADDRESS, 4),
        FieldSpec::iana(IP_NEXT_HOP_IPV4_ADDRESS, 4),
        FieldSpec::iana(SOURCE_IPV4_PREFIX_LENGTH, 1),
        FieldSpec::iana(SOURCE_IPV6_ADDRESS, 16),
        FieldSpec::iana(DESTINATION_IPV6_ADDRESS, 16),
        FieldSpec::iana(IP_NEXT_HOP_IPV6_ADDRESS, 16),
        FieldSpec::iana(SOURCE_IPV6_PREFIX_LENGTH, 1),
        FieldSpec::iana(BGP_NEXT_HOP_IPV4_ADDRESS, 4),
    ];
    let tb = TimeBase::default();
    for with_version in [false, true] {
        if with_version {
            fields.push(FieldSpec::iana(IP_VERSION, 1));
        }
        let t = Template::new(300, Dialect::Ipfix, 0, fields.clone()).expect("template");
        assert!(
            t.layout.is_some(),
            "dual-family templates take the fast path"
        );
        let mut slow = t.clone();
        slow.layout = None;
        let len = t.fixed_len.expect("fixed");
        let mut x = 0x0123_4567_89ab_cdefu64;
        for i in 0..400 {
            let mut rec = vec![0u8; len];
            for b in rec.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            // Zero one family (or the next hops, or nothing), as exporters do.
            match i % 5 {
                0 => rec[..13].fill(0),
                1 => rec[13..62].fill(0),
                2 => rec[8..12].fill(0),
                3 => rec[45..61].fill(0),
                _ => {}
            }
            if with_version {
                rec[len - 1] = [4, 6, 0, 5][i % 4];
            }
            let (mut a, mut c) = (FlowRecord::default(), FlowRecord::default());
            t.decode_data(&rec, &tb, &SamplingState::default(), &mut a);
            slow.decode_data(&rec, &tb, &SamplingState::default(), &mut c);
            assert_eq!(a, c, "record {i}: {rec:?}");
        }
    }
}
