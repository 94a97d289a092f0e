//! Profiles end to end: a store with a profile of three channels takes gen's
//! flows; after a stop, `octoflow profile show` has, per channel, exactly the
//! flows, packets and bytes that `octoflow query` finds in the store with the
//! channel's filter (counted as flows arrived, not by rescanning), `profile
//! list` names what the file holds, and `profile rebuild` recounts the same
//! from the stored flows — and fills a channel added afterwards.
//!
//! Every process is started here and killed by PID; traffic stays on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Command;

use common::flows::{gen, settle};
use common::*;

const CHANNELS: [(&str, &str); 3] = [
    ("tenant", "net 10.0.1.0/24"),
    ("udp", "proto udp"),
    ("v6web", "inet6 and dst port in [80 443]"),
];

fn octoflow(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("octoflow");
    assert!(
        out.status.success(),
        "octoflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (flows, packets, bytes) that `octoflow query` finds with `filter`.
fn queried(store: &Path, filter: &str) -> [u64; 3] {
    let csv = octoflow(&[
        "query",
        "-R",
        store.to_str().expect("utf-8"),
        "-o",
        "csv",
        filter,
    ]);
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).expect("column");
    let (pk, by) = (col("packets"), col("bytes"));
    let mut t = [0u64; 3];
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        t[0] += 1;
        t[1] += f[pk].parse::<u64>().expect("packets");
        t[2] += f[by].parse::<u64>().expect("bytes");
    }
    t
}

#[test]
fn channels_count_what_the_store_holds_and_show_lists_it() {
    let dir = tmpdir("profiles");
    let [cp, pm] = [(); 2].map(|_| free_port());
    let store = dir.join("store");
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [st]}}\nexporters:\n  - {{id: st, type: store, path: {}, flush_secs: 1}}\nprofiles:\n  - id: zone1\n    store: st\n    channels:\n",
        store.display()
    );
    for (n, f) in CHANNELS {
        yaml += &format!("      - {{name: {n}, filter: '{f}'}}\n");
    }
    let srv = Server::start(&dir, &yaml, &[cp]);
    gen(
        "ipfix",
        cp,
        300,
        2000,
        &[
            "--prefix",
            "10.0.1.0/24",
            "--prefix",
            "172.16.0.0/12",
            "--prefix",
            "2001:db8:1::/64",
        ],
    );
    settle(&srv, "edge", 300);
    srv.stop();
    let conf = dir.join("octoflow.yaml");
    let conf = conf.to_str().expect("utf-8");
    let show = octoflow(&["profile", "--config-file", conf, "show", "zone1"]);
    let mut sums = [[0u64; 3]; 3];
    for l in show.lines().skip(1).filter(|l| !l.starts_with('(')) {
        let n: Vec<u64> = l
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().expect("number"))
            .collect();
        assert_eq!(n.len(), 9, "{l}");
        for c in 0..3 {
            for k in 0..3 {
                sums[c][k] += n[c * 3 + k];
            }
        }
    }
    for (i, (name, filter)) in CHANNELS.iter().enumerate() {
        let want = queried(&store, filter);
        assert!(want[0] > 0, "{name}: the store has flows for it");
        assert_eq!(
            sums[i], want,
            "channel {name} ({filter}) against the store:\n{show}"
        );
    }
    let json = octoflow(&["profile", "--config-file", conf, "show", "zone1", "--json"]);
    assert!(
        json.starts_with("{\"profile\":\"zone1\",\"store\":\"st\",\"slot_secs\":300"),
        "{json}"
    );
    let list = octoflow(&["profile", "--config-file", conf, "list"]);
    assert!(
        list.contains("zone1  store st  kept 400 days") && list.contains("slots"),
        "{list}"
    );
    assert!(
        list.contains("v6web") && list.contains("inet6 and dst port in [80 443]"),
        "{list}"
    );
    // Recounted from the store's files: the same slots.
    let rebuilt = octoflow(&[
        "profile",
        "--config-file",
        conf,
        "rebuild",
        "zone1",
        "-t",
        "2000/01/01",
    ]);
    assert!(rebuilt.contains("slots recounted from"), "{rebuilt}");
    assert_eq!(
        octoflow(&["profile", "--config-file", conf, "show", "zone1"]),
        show
    );
    // A channel added afterwards: the old file no longer fits; a rebuild fills it.
    let yaml = std::fs::read_to_string(conf).expect("config");
    std::fs::write(conf, yaml + "      - {name: tcp, filter: 'proto tcp'}\n").expect("write");
    octoflow(&[
        "profile",
        "--config-file",
        conf,
        "rebuild",
        "zone1",
        "-t",
        "2000/01/01",
    ]);
    let show = octoflow(&["profile", "--config-file", conf, "show", "zone1"]);
    let mut tcp = [0u64; 3];
    for l in show.lines().skip(1).filter(|l| !l.starts_with('(')) {
        let n: Vec<u64> = l
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().expect("number"))
            .collect();
        for k in 0..3 {
            tcp[k] += n[9 + k];
        }
    }
    assert_eq!(
        tcp,
        queried(&store, "proto tcp"),
        "the new channel, rebuilt:\n{show}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
