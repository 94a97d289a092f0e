//! The router's hot paths on one core, without sockets: the tenant filter with
//! 1 000 prefixes, the collector's verdicts for all tenants at once, and each exporter path of the throughput benchmark (v9 in; v9
//! pass-through, IPFIX, v5 out) encoding 25-record datagrams.
//! `cargo bench -p octoflow --bench router` prints flows/s (elements).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octoflow::exporter::encode::{Encoder, EncoderConfig, Out};
use octoflow::filter::{Entry, Filter, Verdicts};
use octoflow::gen::{make_flow, Rng};
use octoflow::prefix::Prefix;
use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::{Batch, Decoder, Dialect, FlowRecord, Limits, Version};

const NOW: u64 = 1_767_225_600_000;

/// 1 000 entries: /16 to /32 IPv4 prefixes and some IPv6, one in ten negated.
fn big_filter(rng: &mut Rng) -> Filter {
    let mut entries = Vec::new();
    for i in 0..1000u32 {
        let len = 16 + (rng.below(17) as u8);
        let a = if i % 10 == 9 {
            IpAddr::from([0x2001, 0xdb8, rng.below(65536) as u16, 0, 0, 0, 0, 1])
        } else {
            IpAddr::from((10u32 << 24 | rng.below(1 << 24) as u32).to_be_bytes())
        };
        let len = if a.is_ipv6() { 48 + len } else { len };
        entries.push(Entry {
            prefix: Prefix { addr: a, len }.network(),
            negated: i % 10 == 3,
        });
    }
    Filter::new(&entries)
}

fn flows(rng: &mut Rng, n: usize) -> Vec<FlowRecord> {
    let prefixes: Vec<Prefix> = ["10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32"]
        .iter()
        .map(|p| p.parse().expect("prefix"))
        .collect();
    (0..n as u64)
        .map(|i| make_flow(rng, &prefixes, i, NOW, 0).0)
        .collect()
}

fn filter(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    let f = big_filter(&mut rng);
    let fl = flows(&mut rng, 10_000);
    let mut g = c.benchmark_group("filter");
    g.throughput(Throughput::Elements(fl.len() as u64));
    g.bench_function("1000_prefixes", |b| {
        b.iter(|| fl.iter().filter(|r| f.flow(black_box(r))).count())
    });
    // What a collector computes per record instead: all tenants' verdicts at once.
    // Four tenants as in scripts/bench.sh, then the 1 000-prefix filter among them.
    let tenants = |extra: Option<&Filter>| {
        let mut v: Vec<Arc<Filter>> = [
            "10.0.1.0/24",
            "10.0.2.0/24",
            "172.16.0.0/12",
            "2001:db8::/33",
        ]
        .iter()
        .map(|p| Arc::new(Filter::new(&[p.parse().expect("entry")])))
        .collect();
        v.extend(extra.map(|f| Arc::new(f.clone())));
        Verdicts::new(v).expect("fits")
    };
    for (name, v) in [
        ("verdicts_4_tenants", tenants(None)),
        ("verdicts_4_tenants_and_1000_prefixes", tenants(Some(&f))),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| fl.iter().fold(0u64, |m, r| m ^ v.flow(black_box(r))))
        });
    }
    g.finish();
}

/// A router's v9 datagram of 25 flows from four tenants' ranges; like a router, it
/// sends its template only now and then (here in the first of every 64 datagrams).
fn datagram(rng: &mut Rng, seq: u32) -> Vec<u8> {
    let prefixes: Vec<Prefix> = [
        "10.0.1.0/24",
        "10.0.2.0/24",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ]
    .iter()
    .map(|p| p.parse().expect("prefix"))
    .collect();
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
        w.add_record(&t4, &make_flow(rng, &prefixes, i, NOW, 0).0)
            .expect("record");
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

fn exporters(c: &mut Criterion) {
    let mut rng = Rng::new(9);
    let mut dec = Decoder::new(Limits::default());
    let inputs: Vec<(Vec<u8>, Batch)> = (0..256)
        .map(|i| {
            let d = datagram(&mut rng, i);
            let mut b = Batch::default();
            dec.decode(IpAddr::from([192, 0, 2, 1]), &d, NOW, &mut b)
                .expect("decodes");
            (d, b)
        })
        .collect();
    let mut g = c.benchmark_group("exporter");
    g.throughput(Throughput::Elements(inputs.len() as u64 * 25));
    for (name, version, tenant) in [
        ("v9_passthrough", Version::V9, "10.0.1.0/24"),
        ("v9_to_ipfix", Version::Ipfix, "10.0.2.0/24"),
        ("v9_to_v5", Version::V5, "172.16.0.0/12"),
    ] {
        let e: Entry = tenant.parse().expect("entry");
        let cfg = EncoderConfig {
            version,
            filter: Arc::new(Filter::new(&[e])),
            max_datagram: 1472,
            refresh_ms: 20_000,
            refresh_packets: 100,
            sampling_scaling: false,
            forward_counters: false,
            forward_options: true,
        };
        let mut enc = Encoder::new(cfg, NOW);
        let mut out = Out::default();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for (d, batch) in &inputs {
                    enc.encode(d, batch, NOW, &mut out);
                }
                enc.flush(NOW, &mut out);
                black_box(out.datagrams.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, filter, exporters);
criterion_main!(benches);
