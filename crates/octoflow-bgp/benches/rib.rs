//! Longest-prefix match in a synthetic full table (1,000,000 IPv4 + 200,000
//! IPv6 routes, src/synth.rs): random addresses that hit a route
//! and random ones that miss. `cargo bench -p octoflow-bgp --bench rib`
//! prints the time per lookup; examples/rib_memory.rs measures memory.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use octoflow_bgp::Rib;

use octoflow_bgp::synth::{self, Numbers};

const N4: u32 = 1_000_000;
const N6: u32 = 200_000;

fn lookups(c: &mut Criterion) {
    let t = Instant::now();
    let mut rib = Rib::new();
    synth::load(&mut rib, N4, N6, true);
    eprintln!(
        "loaded {} routes in {:.2} s",
        N4 + N6,
        t.elapsed().as_secs_f64()
    );
    let mut n = Numbers(7);
    // Hits: an address inside a random route. Misses: 172.16.0.0/12 and 2001:db9::/32.
    let hits4: Vec<IpAddr> = (0..4096)
        .map(|_| synth::v4_prefix((n.next_u64() % u64::from(N4)) as u32).nth(n.next_u64().into()))
        .collect();
    let hits6: Vec<IpAddr> = (0..4096)
        .map(|_| synth::v6_prefix((n.next_u64() % u64::from(N6)) as u32).nth(n.next_u64().into()))
        .collect();
    let miss4: Vec<IpAddr> = (0..4096)
        .map(|_| IpAddr::V4((0xac10_0000 | (n.next_u64() as u32 & 0x000f_ffff)).into()))
        .collect();
    let miss6: Vec<IpAddr> = (0..4096)
        .map(|_| IpAddr::V6((0x2001_0db9u128 << 96 | u128::from(n.next_u64())).into()))
        .collect();
    for (name, addrs, hit) in [
        ("lookup/ipv4_hit", &hits4, true),
        ("lookup/ipv6_hit", &hits6, true),
        ("lookup/ipv4_miss", &miss4, false),
        ("lookup/ipv6_miss", &miss6, false),
    ] {
        assert!(
            addrs.iter().all(|&a| rib.lookup(a).is_some() == hit),
            "{name}"
        );
        let mut i = 0;
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(rib.lookup(black_box(addrs[i])).is_some())
            })
        });
    }
}

criterion_group!(benches, lookups);
criterion_main!(benches);
