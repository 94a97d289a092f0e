//! Tenant filters on one core: a filter of 1 000 prefixes, and the collector's
//! verdicts for four tenants at once (and with the 1 000-prefix filter among them),
//! over 10 000 flows' source and destination addresses.
//! `cargo bench -p octoflow-prefix --bench filter` prints flows/s (elements).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octoflow_prefix::{Entry, Filter, Prefix, Verdicts};

/// SplitMix64: a fixed-seed source of numbers, so every run measures the same
/// addresses.
struct Numbers(u64);

impl Numbers {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// 1 000 entries: /16 to /32 IPv4 prefixes and some IPv6, one in ten negated.
fn big_filter(n: &mut Numbers) -> Filter {
    let entries: Vec<Entry> = (0..1000u32)
        .map(|i| {
            let len = 16 + n.below(17) as u8;
            let (addr, len) = if i % 10 == 9 {
                let a = [0x2001, 0xdb8, n.below(65536) as u16, 0, 0, 0, 0, 1];
                (IpAddr::from(a), 48 + len)
            } else {
                (
                    IpAddr::from((10u32 << 24 | n.below(1 << 24) as u32).to_be_bytes()),
                    len,
                )
            };
            Entry {
                prefix: Prefix { addr, len }.network(),
                negated: i % 10 == 3,
            }
        })
        .collect();
    Filter::new(&entries)
}

/// Source in 10/8, 172.16/12 or 2001:db8::/32 (in turn), destination in
/// 198.51.100/24 or 2001:db8:ff::/48.
fn addresses(n: &mut Numbers, count: usize) -> Vec<(IpAddr, IpAddr)> {
    (0..count)
        .map(|i| match i % 3 {
            0 => (
                IpAddr::from((10u32 << 24 | n.below(1 << 24) as u32).to_be_bytes()),
                IpAddr::from([198, 51, 100, 1 + n.below(254) as u8]),
            ),
            1 => (
                IpAddr::from((0xac10_0000 | n.below(1 << 20) as u32).to_be_bytes()),
                IpAddr::from([198, 51, 100, 1 + n.below(254) as u8]),
            ),
            _ => (
                IpAddr::from([0x2001, 0xdb8, n.below(65536) as u16, 0, 0, 0, 0, 7]),
                IpAddr::from([0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1 + n.below(0xfffe) as u16]),
            ),
        })
        .collect()
}

fn filter(c: &mut Criterion) {
    let mut n = Numbers(7);
    let f = big_filter(&mut n);
    let flows = addresses(&mut n, 10_000);
    let mut g = c.benchmark_group("filter");
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("1000_prefixes", |b| {
        b.iter(|| {
            flows
                .iter()
                .filter(|(s, d)| f.flow(black_box(*s), *d))
                .count()
        })
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
            b.iter(|| {
                flows
                    .iter()
                    .fold(0u64, |m, (s, d)| m ^ v.flow(black_box(*s), *d))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, filter);
criterion_main!(benches);
