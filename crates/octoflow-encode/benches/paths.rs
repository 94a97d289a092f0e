//! The encoder's paths on one core, as the throughput benchmark's outputs use
//! them: v9 in (25-record datagrams from four tenants' ranges), one tenant's
//! records selected by its verdict bit, out as v9 (same version, byte for byte),
//! IPFIX and v5 (re-encoded).
//! `cargo bench -p octoflow-encode --bench paths` prints input flows/s (elements).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octoflow_encode::{Encoder, EncoderConfig, Out, Select};
use octoflow_prefix::{Filter, Verdicts};
use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::{Batch, Decoder, Dialect, FlowRecord, Limits, Version};

const NOW: u64 = 1_767_225_600_000;
/// Where the router's datagrams come from.
const ROUTER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 2055);

/// The four tenants of `scripts/bench.sh`, as (network, host bits).
const RANGES: [(u32, u32); 4] = [
    (0x0a00_0100, 8),  // 10.0.1.0/24
    (0x0a00_0200, 8),  // 10.0.2.0/24
    (0xac10_0000, 20), // 172.16.0.0/12
    (0xc0a8_0000, 16), // 192.168.0.0/16
];

/// Flow `i` of datagram `seq`: a source in range `i % 4`, spread by a multiplicative
/// hash so the tenants' records interleave as a router's do.
fn flow(seq: u32, i: u32) -> FlowRecord {
    let h = (seq.wrapping_mul(25).wrapping_add(i)).wrapping_mul(0x9E37_79B1);
    let (net, bits) = RANGES[(i % 4) as usize];
    let packets = 1 + u64::from(h % 200);
    FlowRecord {
        src_addr: IpAddr::from((net | (h >> (32 - bits))).to_be_bytes()),
        dst_addr: IpAddr::from([198, 51, 100, 1 + (h % 254) as u8]),
        src_port: 1024 + (h % 50_000) as u16,
        dst_port: 443,
        proto: 6,
        packets,
        bytes: packets * 800,
        first_ms: NOW - 30_000,
        last_ms: NOW - 1000,
        ..FlowRecord::default()
    }
}

/// A router's v9 datagram; like a router, it sends its template only now and then
/// (here in the first of every 64 datagrams).
fn datagram(seq: u32) -> Vec<u8> {
    let t4 = own_template(Dialect::V9, false);
    let mut buf = vec![0u8; 4096];
    let h = MessageHeader {
        unix_ms: NOW,
        sys_uptime_ms: 3_600_000,
        sequence: seq,
        domain: 0,
    };
    let mut w = MessageWriter::new(&mut buf, Dialect::V9, h).expect("writer");
    if seq % 64 == 0 {
        w.add_template(&t4).expect("template");
    }
    for i in 0..25 {
        w.add_record(&t4, &flow(seq, i)).expect("record");
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

fn paths(c: &mut Criterion) {
    let tenants: Vec<Arc<Filter>> = ["10.0.1.0/24", "10.0.2.0/24", "172.16.0.0/12"]
        .iter()
        .map(|p| Arc::new(Filter::new(&[p.parse().expect("entry")])))
        .collect();
    let table = Verdicts::new(tenants).expect("fits");
    let mut dec = Decoder::new(Limits::default());
    let inputs: Vec<(Vec<u8>, Batch, Vec<u64>)> = (0..256)
        .map(|seq| {
            let d = datagram(seq);
            let mut b = Batch::default();
            dec.decode(IpAddr::from([192, 0, 2, 1]), &d, NOW, &mut b)
                .expect("decodes");
            let words = b
                .records
                .iter()
                .map(|r| table.flow(r.src_addr, r.dst_addr))
                .collect();
            (d, b, words)
        })
        .collect();
    let mut g = c.benchmark_group("encoder");
    g.throughput(Throughput::Elements(inputs.len() as u64 * 25));
    for (name, version, bit) in [
        ("v9_passthrough", Version::V9, 1u64),
        ("v9_to_ipfix", Version::Ipfix, 2),
        ("v9_to_v5", Version::V5, 4),
    ] {
        let cfg = EncoderConfig {
            version,
            unfiltered: false,
            max_datagram: 1472,
            refresh_ms: 20_000,
            refresh_packets: 100,
            sampling_scaling: false,
            forward_counters: false,
            forward_options: true,
            withdrawals: false,
            preserve_source: false,
            receiver_ipv6: false,
        };
        let mut enc = Encoder::new(cfg, NOW);
        let mut out = Out::default();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for (d, batch, words) in &inputs {
                    enc.encode(ROUTER, d, batch, Select::Bit(words, bit), NOW, &mut out);
                }
                enc.flush(NOW, &mut out);
                black_box(out.datagrams.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, paths);
criterion_main!(benches);
