//! Configuring and feeding `octoflow server`: an exporter's YAML line, the foo
//! tenant's filters, `octoflow gen` into a collector, waiting for the collector.

use std::time::{Duration, Instant};

use super::{counter, report, run_gen, Server};

pub fn exporter_yaml(id: &str, port: u16, version: &str, filters: &str, proto: &str) -> String {
    format!(
        "  - {{id: {id}, listen_host: 127.0.0.1, listen_port: 40000, collector_host: 127.0.0.1, collector_port: {port}, collector_proto: {proto}, collector_version: {version}{filters}}}\n"
    )
}

/// The foo tenant: `10.0.1.0/24` but not `10.0.1.254`.
pub const FOO: &str = ", filters: ['10.0.1.0/24', '!10.0.1.254']";

/// Wait until the collector has decoded `flows` flows (or a few seconds pass), then
/// let the exporters drain.
pub fn settle(s: &Server, collector: &str, min_datagrams: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if counter(&s.status(), collector, "datagrams") >= min_datagrams {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
}

/// Run `octoflow gen`; returns the flows it reports.
pub fn gen(proto: &str, port: u16, count: u32, rate: u32, extra: &[&str]) -> u64 {
    let (target, count, rate) = (
        format!("127.0.0.1:{port}"),
        count.to_string(),
        rate.to_string(),
    );
    let mut args = vec![
        "--proto", proto, "--target", &target, "--count", &count, "--rate", &rate,
    ];
    args.extend_from_slice(extra);
    report(&run_gen(&args), "flows")
}
