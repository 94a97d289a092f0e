//! A full-size AS table, as the collector's enrichment uses one (a GeoLite2-ASN
//! database has about 500 000 IPv4 and 150 000 IPv6 networks): the cost per
//! flow of looking up its source and destination AS. Random /8–/24 IPv4 and
//! /19–/48 IPv6 networks; addresses drawn from the whole space, so most walks
//! go deep. `cargo bench -p octoflow-prefix --bench asn_table` prints flows/s
//! (elements); ns per flow is its inverse.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octoflow_prefix::{Lpm, Prefix};

/// SplitMix64: a fixed-seed source of numbers, so every run measures the same table.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn table(n: &mut Numbers) -> Lpm<u32> {
    let mut items = Vec::with_capacity(650_000);
    for _ in 0..500_000 {
        let len = 8 + (n.next() % 17) as u8;
        let addr = IpAddr::from((n.next() as u32).to_be_bytes());
        items.push((
            Prefix { addr, len }.network(),
            (n.next() % 400_000) as u32 + 1,
        ));
    }
    for _ in 0..150_000 {
        let len = 19 + (n.next() % 30) as u8;
        let addr = IpAddr::from(((0x2u128 << 124) | (n.next() as u128) << 64).to_be_bytes());
        items.push((
            Prefix { addr, len }.network(),
            (n.next() % 400_000) as u32 + 1,
        ));
    }
    Lpm::new(&items)
}

fn lookups(c: &mut Criterion) {
    let mut n = Numbers(11);
    let t = table(&mut n);
    let flows: Vec<(IpAddr, IpAddr)> = (0..10_000)
        .map(|i| {
            let v4 = |n: &mut Numbers| IpAddr::from((n.next() as u32).to_be_bytes());
            let v6 = |n: &mut Numbers| {
                IpAddr::from(((0x2u128 << 124) | (n.next() as u128) << 64).to_be_bytes())
            };
            if i % 5 == 4 {
                (v6(&mut n), v6(&mut n))
            } else {
                (v4(&mut n), v4(&mut n))
            }
        })
        .collect();
    let mut g = c.benchmark_group("asn_table");
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("650k_networks_src_and_dst", |b| {
        b.iter(|| {
            flows
                .iter()
                .map(|(s, d)| {
                    t.get(black_box(*s)).unwrap_or(0) as u64
                        + t.get(black_box(*d)).unwrap_or(0) as u64
                })
                .sum::<u64>()
        })
    });
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
