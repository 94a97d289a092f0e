//! Real exporters' captures replayed at a collector, each from its own
//! loopback address (so the device each row names tells the captures apart),
//! what `octoflow dump` reads in them (the oracle for every field a row
//! holds), and waiting on a stream or database output's counters.

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use super::pcap::udp_payloads;
use super::{counter, root, Server, BIN};

fn capture_path(name: &str) -> std::path::PathBuf {
    root().join(format!("tests/fixtures/exports/{name}.pcap"))
}

/// Send every datagram of capture `name` (e.g. `softflowd-ipfix`) from
/// 127.0.0.`host` to 127.0.0.1:`port`, a millisecond apart.
pub fn replay(name: &str, host: u8, port: u16) {
    let pcap = std::fs::read(capture_path(name)).expect("fixture");
    let s = UdpSocket::bind(format!("127.0.0.{host}:0")).expect("sender");
    for d in udp_payloads(&pcap) {
        s.send_to(&d, ("127.0.0.1", port)).expect("send");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `octoflow dump --pcap` of capture `name` as CSV: each flow as column →
/// text, the exporter being `exporter` (the address it is replayed from).
pub fn dump(name: &str, exporter: &str) -> Vec<BTreeMap<String, String>> {
    let out = Command::new(BIN)
        .args(["dump", "--output", "csv", "--pcap"])
        .arg(capture_path(name))
        .output()
        .expect("octoflow dump");
    assert!(out.status.success(), "dump {name}");
    let csv = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    lines
        .map(|l| {
            let mut m: BTreeMap<String, String> = head
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            m.insert("exporter".into(), exporter.into());
            m
        })
        .collect()
}

/// An address as 16 bytes would print it in IPv6 text: IPv4 mapped
/// (`::ffff:10.0.1.10`), IPv6 canonical.
pub fn v6_text(a: &str) -> String {
    match a.parse::<IpAddr>().expect("address") {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// Whether output `id` says it is connected in `/status`.
pub fn connected(status: &str, id: &str) -> bool {
    let at = status
        .find(&format!("\"{id}\":{{"))
        .unwrap_or_else(|| panic!("{id} in {status}"));
    let rest = &status[at..];
    let end = rest.find('}').unwrap_or(rest.len());
    rest[..end].contains("\"connected\":true")
}

/// Wait (at most `secs`) until output `id` has delivered `rows` rows and
/// waits on nothing; its last `/status`. Panics with the status if not.
pub fn wait_delivered(s: &Server, id: &str, rows: u64, secs: u64) -> String {
    let t = Instant::now();
    loop {
        let st = s.status();
        let done = counter(&st, id, "sink_rows_delivered") >= rows
            && counter(&st, id, "sink_buffer_bytes") == 0;
        if done {
            return st;
        }
        if t.elapsed() > Duration::from_secs(secs) {
            panic!("{id} did not deliver {rows} rows within {secs} s: {st}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait (at most `secs`) until `cond` holds of output `id`'s `/status`.
pub fn wait_status(s: &Server, secs: u64, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let t = Instant::now();
    loop {
        let st = s.status();
        if cond(&st) {
            return st;
        }
        if t.elapsed() > Duration::from_secs(secs) {
            panic!("not {what} within {secs} s: {st}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
