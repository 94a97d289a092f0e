//! What enrichment costs the collector thread per flow, with a BGP peer's
//! full table (1,000,000 IPv4 + 200,000 IPv6 routes, every route's attributes
//! distinct): for each record of a datagram, the longest-prefix match of its
//! source and destination, the AS numbers by `as_source` (device, bgp), the
//! BGP next hop and prefix lengths, and the destination route kept beside the
//! record. `cargo bench -p octoflow --bench enrich` prints the time per
//! datagram of 30 flows; divide by 30 for a flow (the summary line does).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use octoflow::benching::EnrichRun;

fn enrichment(c: &mut Criterion) {
    for (device_sends_as, what) in [
        (false, "source and destination looked up"),
        (
            true,
            "the exporter sends the source AS: destination looked up",
        ),
    ] {
        let t = Instant::now();
        let mut run = EnrichRun::new(1_000_000, 200_000, 30, device_sends_as);
        eprintln!("full table loaded in {:.2} s", t.elapsed().as_secs_f64());
        assert_eq!(run.run(), run.flows(), "every destination has a route");
        let mut g = c.benchmark_group("enrich");
        g.throughput(Throughput::Elements(run.flows() as u64));
        g.bench_function(format!("bgp full table, 30 flows, {what}"), |b| {
            b.iter(|| black_box(run.run()))
        });
        g.finish();
        // A plain figure per flow, beside criterion's.
        let rounds = 20_000;
        let t = Instant::now();
        for _ in 0..rounds {
            black_box(run.run());
        }
        let ns = t.elapsed().as_nanos() as f64 / (rounds * run.flows()) as f64;
        println!(
            "enrichment with a full table, {what}: {ns:.0} ns per flow ({:.1} M flows/s on one core)",
            1e3 / ns
        );
    }
}

criterion_group!(benches, enrichment);
criterion_main!(benches);
