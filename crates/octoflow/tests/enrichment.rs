//! Enrichment end to end: AS numbers from MaxMind's test ASN database
//! (`tests/fixtures/mmdb`) set by the collector on every flow, seen by a
//! converting NetFlow v9 output at nfcapd (nfdump's `%sas`/`%das`) and by a
//! store (`octoflow query -s srcas`), for IPv4 and IPv6 sources the database
//! knows and a private prefix it does not.
//!
//! Traffic stays on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::flows::settle;
use common::*;

/// The test database's answers for gen's source prefixes (whole networks in it).
const KNOWN: &[(&str, u32)] = &[
    ("1.128.0.0/11", 1221),
    ("89.160.0.0/17", 29518),
    ("2001:1700::/27", 6730),
    ("10.0.1.0/24", 0),
];

#[test]
fn as_numbers_from_a_geoip_database_reach_nfcapd_and_a_store() {
    let dir = tmpdir("enrichment");
    let (pm, cp, np) = (free_port(), free_port(), free_port());
    let db = root().join("tests/fixtures/mmdb/GeoLite2-ASN-Test.mmdb");
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\n\
         enrichment:\n  geoip: {{asn: '{}'}}\n  as_source: [device, geoip]\n\
         collectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [nf, st]}}\n\
         exporters:\n  - {{id: nf, collector_host: 127.0.0.1, collector_port: {np}, collector_version: 9}}\n  \
         - {{id: st, type: store, path: {}}}\n",
        db.display(),
        dir.join("store").display()
    );
    let check = Command::new(BIN)
        .args(["check", "--config-file"])
        .arg({
            let f = dir.join("check.yaml");
            std::fs::write(&f, &yaml).unwrap();
            f
        })
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("enrichment: AS numbers: first non-zero of device, geoip; GeoIP ASN "),
        "{text}"
    );
    let nfcapd = start_nfcapd("nfcapd", np, &dir.join("nf"));
    wait_udp(np);
    let s = Server::start(&dir, &yaml, &[cp]);
    let mut args = vec![
        "--proto",
        "ipfix",
        "--count",
        "100",
        "--records",
        "20",
        "--rate",
        "2000",
    ];
    let target = format!("127.0.0.1:{cp}");
    args.extend(["--target", &target]);
    for (p, _) in KNOWN {
        args.extend(["--prefix", p]);
    }
    let out = run_gen(&args);
    settle(&s, "edge", 100);
    s.stop();
    nfcapd.term();
    let per_prefix = |p: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("prefix {p} ")))
            .map(|l| report(l, "flows"))
            .unwrap_or_else(|| panic!("prefix {p} in {out}"))
    };
    let want: BTreeMap<u32, u64> = KNOWN.iter().map(|(p, asn)| (*asn, per_prefix(p))).collect();

    // nfcapd: flows per (source AS, destination AS); gen's destinations are
    // documentation addresses the database does not know.
    let nf = Command::new("nfdump")
        .arg("-R")
        .arg(dir.join("nf"))
        .args(["-q", "-N", "-A", "srcas,dstas", "-o", "fmt:%sas %das %fl"])
        .output()
        .expect("nfdump");
    let mut got: BTreeMap<u32, u64> = BTreeMap::new();
    for l in String::from_utf8_lossy(&nf.stdout).lines() {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() == 3 {
            assert_eq!(f[1], 0, "destination AS: {l}");
            *got.entry(f[0] as u32).or_default() += f[2];
        }
    }
    assert_eq!(
        got,
        want,
        "nfdump:\n{}",
        String::from_utf8_lossy(&nf.stdout)
    );

    // The store: octoflow query's -s srcas table.
    let q = Command::new(BIN)
        .args(["query", "-R"])
        .arg(dir.join("store"))
        .args(["-N", "-s", "srcas/flows", "-o", "csv"])
        .output()
        .expect("octoflow query");
    assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
    let csv = String::from_utf8_lossy(&q.stdout);
    let mut got: BTreeMap<u32, u64> = BTreeMap::new();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("{n} in {csv}"))
    };
    let (a, f) = (col("val"), col("fl"));
    for l in lines {
        let v: Vec<&str> = l.split(',').collect();
        got.insert(v[a].parse().unwrap(), v[f].parse().unwrap());
    }
    assert_eq!(got, want, "octoflow query:\n{csv}");
}
