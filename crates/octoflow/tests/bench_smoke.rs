//! The throughput benchmark's smoke step (`scripts/bench.sh --smoke`): one short,
//! low-rate step per contender (octoflow, nfacctd tee filtered and unfiltered,
//! nfcapd) that must run and account for every flow. No timing is asserted; the
//! full sweep is `scripts/bench.sh` (README "Performance").

mod common;

use std::process::Command;

use common::*;

#[test]
fn bench_smoke_runs_and_counts_add_up() {
    let out = Command::new(root().join("scripts/bench.sh"))
        .arg("--smoke")
        .env("OCTOFLOW_BIN", BIN)
        .output()
        .expect("scripts/bench.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench smoke failed:\n{text}\n{err}");
    for who in ["octoflow", "tee-filtered", "tee", "nfcapd"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{who:<13} ")) && l.contains("2000"))
            .unwrap_or_else(|| panic!("no {who} step in\n{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[3], "0", "{who} lost flows: {line}");
        assert_eq!(cols[4], "0", "{who} kernel drops: {line}");
    }
    assert!(text.contains("highest zero-loss rate (flows/s):"), "{text}");
}
