//! A second opinion: the `netflow_parser` crate (an independent decoder) must see
//! the same 5-tuples as octoflow in real exporters' v5/v9/IPFIX datagrams and in
//! octoflow's own encoded output.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::net::IpAddr;

use netflow_parser::NetflowParser;
use octoflow_proto::{Dialect, FlowRecord};

type Tuple = (IpAddr, IpAddr, u16, u16, u8);

fn ours(datagrams: &[Vec<u8>]) -> BTreeMap<Tuple, usize> {
    let mut dec = decoder();
    let mut m = BTreeMap::new();
    for d in datagrams {
        for r in decode_all(&mut dec, d).records {
            let ports = if r.is_icmp() {
                (0, 0)
            } else {
                (r.src_port, r.dst_port)
            };
            *m.entry((r.src_addr, r.dst_addr, ports.0, ports.1, r.proto))
                .or_default() += 1;
        }
    }
    m
}

fn theirs(datagrams: &[Vec<u8>]) -> BTreeMap<Tuple, usize> {
    let mut p = NetflowParser::default();
    let mut m = BTreeMap::new();
    for d in datagrams {
        let (flows, err) = p.parse_bytes_as_netflow_common_flowsets(d);
        assert!(err.is_none(), "netflow_parser: {err:?}");
        for f in flows {
            let proto = f.protocol_number.unwrap_or(0);
            let icmp = proto == 1 || proto == 58;
            let ports = if icmp {
                (0, 0)
            } else {
                (f.src_port.unwrap_or(0), f.dst_port.unwrap_or(0))
            };
            // Options data records (pmacct's sampling/interface tables) have no addresses.
            let (Some(src), Some(dst)) = (f.src_addr, f.dst_addr) else {
                continue;
            };
            let k = (src, dst, ports.0, ports.1, proto);
            *m.entry(k).or_default() += 1;
        }
    }
    m
}

#[test]
fn real_exporter_fixtures_agree_with_netflow_parser() {
    for name in FIXTURES.iter().filter(|n| !n.contains("sflow")) {
        let ds: Vec<Vec<u8>> = pcap_udp_payloads(&fixture(name))
            .into_iter()
            .map(|x| x.1)
            .collect();
        let a = ours(&ds);
        let b = theirs(&ds);
        assert!(!a.is_empty(), "{name}: no flows");
        assert_eq!(a, b, "{name}: octoflow and netflow_parser disagree");
    }
}

#[test]
fn generated_output_agrees_with_netflow_parser() {
    let mut recs = Vec::new();
    for i in 0..60u32 {
        let v6 = i % 3 == 0;
        let src: IpAddr = if v6 {
            format!("2001:db8::{i:x}").parse().unwrap()
        } else {
            format!("10.0.{}.{}", i / 7, i).parse().unwrap()
        };
        let dst: IpAddr = if v6 {
            "2001:db8:ff::1".parse().unwrap()
        } else {
            "198.51.100.9".parse().unwrap()
        };
        recs.push(FlowRecord {
            src_addr: src,
            dst_addr: dst,
            src_port: 1000 + i as u16,
            dst_port: 443,
            proto: if i % 2 == 0 { 6 } else { 17 },
            packets: i as u64 + 1,
            bytes: 100 * (i as u64 + 1),
            first_ms: NOW_MS - 5000,
            last_ms: NOW_MS - 1000,
            ..FlowRecord::default()
        });
    }
    for dialect in [Dialect::V9, Dialect::Ipfix] {
        let ds: Vec<Vec<u8>> = recs
            .chunks(20)
            .enumerate()
            .map(|(i, c)| encode_v9_or_ipfix(dialect, c, i as u32))
            .collect();
        assert_eq!(ours(&ds), theirs(&ds), "{dialect:?}");
        assert_eq!(ours(&ds).values().sum::<usize>(), 60);
    }
    let v4: Vec<FlowRecord> = recs.iter().filter(|r| r.is_ipv4()).copied().collect();
    let ds: Vec<Vec<u8>> = v4.chunks(30).map(|c| encode_v5(c, 0)).collect();
    assert_eq!(ours(&ds), theirs(&ds), "v5");
}
