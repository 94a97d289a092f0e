//! Decode and encode throughput per version, 25 records per datagram.
//! `cargo bench -p octoflow-proto` prints time per datagram and flows/s (elements).

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octoflow_proto::message::{own_template, MessageHeader, MessageWriter};
use octoflow_proto::netflow_v5::{V5Header, V5Writer};
use octoflow_proto::sflow::{DatagramWriter, SflowHeader};
use octoflow_proto::{Batch, Decoder, Dialect, FlowRecord, Limits};

const N: usize = 25;
const NOW: u64 = 1_767_225_600_000;

fn records() -> Vec<FlowRecord> {
    (0..N as u32)
        .map(|i| FlowRecord {
            src_addr: IpAddr::from([10, 0, 1, i as u8]),
            dst_addr: IpAddr::from([198, 51, 100, 7]),
            src_port: 40000 + i as u16,
            dst_port: 443,
            proto: 6,
            packets: 10 + i as u64,
            bytes: 1500 * (10 + i as u64),
            first_ms: NOW - 10_000,
            last_ms: NOW - 1000,
            input_if: 3,
            output_if: 4,
            ..FlowRecord::default()
        })
        .collect()
}

fn encode(v: &str, recs: &[FlowRecord], buf: &mut [u8]) -> usize {
    encode_with(v, recs, buf, true)
}

fn encode_with(v: &str, recs: &[FlowRecord], buf: &mut [u8], templates: bool) -> usize {
    match v {
        "v5" => {
            let mut w = V5Writer::new(
                buf,
                V5Header {
                    unix_ms: NOW,
                    sys_uptime_ms: 1 << 30,
                    ..Default::default()
                },
            )
            .unwrap();
            for r in recs {
                w.push(r).unwrap();
            }
            w.finish()
        }
        "v9" | "ipfix" => {
            let d = if v == "v9" {
                Dialect::V9
            } else {
                Dialect::Ipfix
            };
            let t = own_template(d, false);
            let mut w = MessageWriter::new(
                buf,
                d,
                MessageHeader {
                    unix_ms: NOW,
                    sys_uptime_ms: 1 << 30,
                    ..Default::default()
                },
            )
            .unwrap();
            if templates {
                w.add_template(&t).unwrap();
            }
            for r in recs {
                w.add_record(&t, r).unwrap();
            }
            w.finish()
        }
        _ => {
            let h = SflowHeader {
                agent: IpAddr::from([127, 0, 0, 1]),
                sub_agent: 0,
                sequence: 1,
                uptime_ms: 1,
                samples: 0,
            };
            let mut w = DatagramWriter::new(buf, &h).unwrap();
            for (i, r) in recs.iter().enumerate() {
                w.add_flow(r, i as u32, 1).unwrap();
            }
            w.finish()
        }
    }
}

fn bench(c: &mut Criterion) {
    let recs = records();
    let exporter = IpAddr::from([192, 0, 2, 1]);
    for v in ["v5", "v9", "ipfix", "sflow"] {
        let mut buf = vec![0u8; 65535];
        // The decoder learns the template from a first datagram; the one measured
        // carries data only, as between periodic template refreshes.
        let n = encode(v, &recs, &mut buf);
        let first = buf[..n].to_vec();
        let n = encode_with(v, &recs, &mut buf, false);
        let d = buf[..n].to_vec();
        let mut g = c.benchmark_group(v);
        g.throughput(Throughput::Elements(N as u64));
        let mut dec = Decoder::new(Limits::default());
        let mut b = Batch::default();
        dec.decode(exporter, &first, NOW, &mut b).unwrap();
        dec.decode(exporter, &d, NOW, &mut b).unwrap();
        assert_eq!(b.records.len(), N);
        g.bench_function("decode", |bn| {
            bn.iter(|| {
                dec.decode(exporter, black_box(&d), NOW, &mut b).unwrap();
                black_box(b.records.len())
            })
        });
        g.bench_function("encode", |bn| {
            bn.iter(|| black_box(encode(v, black_box(&recs), &mut buf)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
