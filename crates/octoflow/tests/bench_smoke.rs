//! The benchmarks' smoke steps: one short, low-rate step per contender that must
//! run and account for everything. `scripts/bench.sh --smoke` (octoflow, nfacctd
//! tee filtered and unfiltered, nfcapd: every flow) and, after it (both raise and
//! restore net.core.rmem_max, so they do not run side by side),
//! `scripts/bench-admission.sh --smoke` (octoflow's allowlist and nfacctd's
//! allow file: every datagram of the allowed router, the flood turned away), then
//! `scripts/bench-query.sh --smoke` (the same flows in nfcapd's files and in a
//! store, one query timed on both), then `scripts/bench-sinks.sh --smoke` (Kafka,
//! ClickHouse and PostgreSQL, each with its peer client: every flow acknowledged),
//! then `scripts/bench-console.sh --smoke` (the console's graphs and top-N against
//! nfdump: the table counts every stored flow). No timing is
//! asserted; the full sweeps are in README "Performance".

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

    let out = Command::new(root().join("scripts/bench-admission.sh"))
        .arg("--smoke")
        .env("OCTOFLOW_BIN", BIN)
        .output()
        .expect("scripts/bench-admission.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "admission bench smoke failed:\n{text}\n{err}"
    );
    for who in ["octoflow", "nfacctd"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{who:<9} ")) && l.contains("5000"))
            .unwrap_or_else(|| panic!("no {who} step in\n{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[3], "0", "{who} lost router datagrams: {line}");
        assert_eq!(cols[4], "0", "{who} kernel drops: {line}");
    }
    let octoflow = text
        .lines()
        .find(|l| l.starts_with("octoflow "))
        .unwrap_or_default();
    let counted = octoflow
        .split_whitespace()
        .find_map(|w| w.strip_prefix("not_allowed="))
        .and_then(|v| v.split_once('/'))
        .unwrap_or_else(|| panic!("no not_allowed count in {octoflow}"));
    assert_eq!(
        counted.0, counted.1,
        "every flood datagram counted: {octoflow}"
    );

    let out = Command::new(root().join("scripts/bench-query.sh"))
        .arg("--smoke")
        .env("OCTOFLOW_BIN", BIN)
        .output()
        .expect("scripts/bench-query.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "query bench smoke failed:\n{text}\n{err}"
    );
    assert!(
        text.contains("gen sent 50000 flows; nfcapd stored 50000; the store 50000;"),
        "{text}"
    );
    assert!(text.contains("bytes/flow: nfcapd"), "{text}");
    assert!(
        text.contains("geometric mean of octoflow / nfdump speed:"),
        "{text}"
    );

    let out = Command::new(root().join("scripts/bench-sinks.sh"))
        .arg("--smoke")
        .env("OCTOFLOW_BIN", BIN)
        .output()
        .expect("scripts/bench-sinks.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sinks bench smoke failed:\n{text}\n{err}"
    );
    for peer in [
        "kcat: 100000 records in",
        "curl RowBinary: ",
        "psql \\copy binary: 100000 rows",
    ] {
        assert!(text.contains(peer), "{peer} in\n{text}");
    }
    for kind in ["kafka", "clickhouse", "postgres"] {
        let step = text
            .lines()
            .find(|l| l.starts_with("gen sent ") && l.contains(&format!(", {kind} acknowledged")))
            .unwrap_or_else(|| panic!("no {kind} step in\n{text}"));
        assert!(step.contains(", lost 0 ("), "{step}");
    }

    // The console's answers: the same flows in nfcapd's files and a store,
    // a year of slots for a graph; the console's top-N must count them all.
    let out = Command::new(root().join("scripts/bench-console.sh"))
        .arg("--smoke")
        .env("OCTOFLOW_BIN", BIN)
        .output()
        .expect("scripts/bench-console.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "console bench smoke failed:\n{text}\n{err}"
    );
    for line in [
        "gen sent 20000 flows; nfcapd stored 20000; the store 20000",
        "24-hour graph: ",
        "console top (API): ",
        "page + script + style: ",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
