//! Helpers shared by the codec's integration tests.
#![allow(dead_code)]

use std::net::IpAddr;

use octoflow_proto::message::{own_direction_template, own_template, MessageHeader, MessageWriter};
use octoflow_proto::netflow_v5::{V5Header, V5Writer};
use octoflow_proto::sflow::{DatagramWriter, SflowHeader};
use octoflow_proto::{Batch, Decoder, Dialect, Direction, FlowRecord, Limits};

pub const EXPORTER: &str = "192.0.2.7";
pub const NOW_MS: u64 = 1_767_225_600_123;

pub fn exporter() -> IpAddr {
    EXPORTER.parse().unwrap()
}

pub fn encode_v9_or_ipfix(dialect: Dialect, recs: &[FlowRecord], seq: u32) -> Vec<u8> {
    encode_message(dialect, recs, seq, true)
}

pub fn encode_message(dialect: Dialect, recs: &[FlowRecord], seq: u32, templates: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    let h = MessageHeader {
        unix_ms: NOW_MS - NOW_MS % 1000,
        sys_uptime_ms: 3_600_000,
        sequence: seq,
        domain: 42,
    };
    let mut w = MessageWriter::new(&mut buf, dialect, h).unwrap();
    // As the encoder does: flowDirection only for flows whose direction is known.
    let own = [false, true].map(|v6| own_template(dialect, v6));
    let dir = [false, true].map(|v6| own_direction_template(dialect, v6));
    if templates {
        for t in own.iter().chain(dir.iter()) {
            w.add_template(t).unwrap();
        }
    }
    for r in recs {
        let ts = if r.direction == Direction::Unknown {
            &own
        } else {
            &dir
        };
        w.add_record(&ts[!r.is_ipv4() as usize], r).unwrap();
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

pub fn encode_v5(recs: &[FlowRecord], seq: u32) -> Vec<u8> {
    let mut buf = vec![0u8; 2000];
    let h = V5Header {
        sys_uptime_ms: 3_600_000,
        unix_ms: NOW_MS,
        flow_sequence: seq,
        engine_type: 1,
        engine_id: 2,
        sampling_interval: 0,
    };
    let mut w = V5Writer::new(&mut buf, h).unwrap();
    for r in recs {
        w.push(r).unwrap();
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

pub fn encode_sflow(recs: &[FlowRecord], seq: u32) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    let h = SflowHeader {
        agent: exporter(),
        sub_agent: 3,
        sequence: seq,
        uptime_ms: 5000,
        samples: 0,
    };
    let mut w = DatagramWriter::new(&mut buf, &h).unwrap();
    for (i, r) in recs.iter().enumerate() {
        w.add_flow(r, i as u32 + 1, 7).unwrap();
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

pub fn decode_all(dec: &mut Decoder, d: &[u8]) -> Batch {
    let mut b = Batch::default();
    dec.decode(exporter(), d, NOW_MS, &mut b).unwrap();
    b
}

pub fn decoder() -> Decoder {
    Decoder::new(Limits::default())
}

/// All datagrams of a classic little-endian pcap fixture (Ethernet/IPv4/UDP), with
/// their capture times — a reader independent of the binary's.
pub fn pcap_udp_payloads(path: &str) -> Vec<(u64, Vec<u8>)> {
    let d = std::fs::read(path).unwrap();
    assert_eq!(
        &d[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "{path}: little-endian pcap expected"
    );
    let link = u32::from_le_bytes(d[20..24].try_into().unwrap());
    assert_eq!(link, 1, "{path}: Ethernet link type expected");
    let mut p = 24;
    let mut out = Vec::new();
    while p + 16 <= d.len() {
        let secs = u32::from_le_bytes(d[p..p + 4].try_into().unwrap()) as u64;
        let us = u32::from_le_bytes(d[p + 4..p + 8].try_into().unwrap()) as u64;
        let incl = u32::from_le_bytes(d[p + 8..p + 12].try_into().unwrap()) as usize;
        let f = &d[p + 16..p + 16 + incl];
        p += 16 + incl;
        if f[12..14] != [0x08, 0x00] || f[14 + 9] != 17 {
            continue;
        }
        let ihl = (f[14] & 0xf) as usize * 4;
        let udp = &f[14 + ihl..];
        let ulen = u16::from_be_bytes([udp[4], udp[5]]) as usize;
        out.push((secs * 1000 + us / 1000, udp[8..ulen].to_vec()));
    }
    out
}

pub fn fixture(name: &str) -> String {
    format!(
        "{}/../../tests/fixtures/exports/{name}.pcap",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub const FIXTURES: &[&str] = &[
    "softflowd-v5",
    "softflowd-v9",
    "softflowd-ipfix",
    "pmacct-v5",
    "pmacct-v9",
    "pmacct-ipfix",
    "pmacct-sflow",
    "fprobe-v5",
];

/// An IPFIX message (export time 2026-01-01) of the given sets.
pub fn ipfix_msg(seq: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 10, 0, 0];
    m.extend_from_slice(&1_767_225_600u32.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&domain.to_be_bytes());
    for s in sets {
        m.extend_from_slice(s);
    }
    let l = m.len() as u16;
    m[2..4].copy_from_slice(&l.to_be_bytes());
    m
}

/// An IPFIX or v9 set: id, length, body.
pub fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = id.to_be_bytes().to_vec();
    s.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}
