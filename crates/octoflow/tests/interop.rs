//! The `octoflow` binary against real peers from Debian: `dump --pcap` of real
//! exporters' captures equals the ground truth; `gen`'s output is read by nfcapd/
//! nfdump, sfcapd and tshark as exactly what gen says it sent; `dump --listen`
//! receives it live. Every process started here is killed by PID (see `Child`).
//! All traffic goes to 127.0.0.1.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::*;

/// Run gen; returns (datagrams, flows, packets, bytes) as it reports them.
fn gen(proto: &str, port: u16, count: u32, prefixes: &[&str]) -> (u64, u64, u64, u64) {
    let (target, count) = (format!("127.0.0.1:{port}"), count.to_string());
    let mut args = vec!["--proto", proto, "--target", &target, "--rate", "2000"];
    args.extend(["--count", &count, "--records", "20"]);
    for p in prefixes {
        args.extend(["--prefix", p]);
    }
    let out = run_gen(&args);
    let first = out.lines().next().unwrap_or_default();
    (
        report(first, "datagrams"),
        report(first, "flows"),
        report(first, "packets"),
        report(first, "bytes"),
    )
}

#[test]
fn dump_pcap_of_real_exporters_equals_truth() {
    for name in [
        "softflowd-v5",
        "softflowd-v9",
        "softflowd-ipfix",
        "pmacct-v5",
        "pmacct-v9",
        "pmacct-ipfix",
        "fprobe-v5",
    ] {
        let pcap = root().join(format!("tests/fixtures/exports/{name}.pcap"));
        let out = Command::new(BIN)
            .args(["dump", "--pcap"])
            .arg(&pcap)
            .args(["--output", "csv"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let csv = String::from_utf8(out.stdout).unwrap();
        let mut lines = csv.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
        let (sa, da, sp, dp, pr, pk, by) = (
            col("src_addr"),
            col("dst_addr"),
            col("src_port"),
            col("dst_port"),
            col("proto"),
            col("packets"),
            col("bytes"),
        );
        let mut got: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            let e = got
                .entry([f[sa], f[da], f[sp], f[dp], f[pr]].join(","))
                .or_default();
            e.0 += f[pk].parse::<u64>().unwrap();
            e.1 += f[by].parse::<u64>().unwrap();
        }
        let want = if name == "fprobe-v5" {
            // capture-fprobe.sh's filler flows (127.0.2.1 -> 127.0.2.2) only push
            // fprobe's last real flows out; they are not part of the traffic.
            got.retain(|k, _| !k.starts_with("127.0.2.1,"));
            truth_file("truth-fprobe.csv", true)
        } else {
            truth(name.ends_with("v5"))
        };
        assert_eq!(got, want, "{name}");
        let summary = String::from_utf8(out.stderr).unwrap();
        assert!(summary.contains("errors: 0"), "{name}: {summary}");
    }
}

#[test]
fn dump_json_uses_canonical_field_names() {
    let pcap = root().join("tests/fixtures/exports/softflowd-ipfix.pcap");
    let out = Command::new(BIN)
        .args(["dump", "--output", "json", "--count", "1", "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(line.lines().count(), 1);
    for k in [
        "\"src_addr\":\"",
        "\"dst_addr\":\"",
        "\"src_port\":",
        "\"dst_port\":",
        "\"proto\":",
        "\"packets\":",
        "\"bytes\":",
    ] {
        assert!(line.contains(k), "{k} missing in {line}");
    }
}

/// gen → nfcapd (or sfcapd) → nfdump: every flow, packet and byte arrives, no sequence errors.
fn through_nfcapd(proto: &str) {
    let port = free_port();
    let dir = tmpdir(&format!("nfcapd-{proto}"));
    let daemon = if proto == "sflow" { "sfcapd" } else { "nfcapd" };
    let d = Child::spawn(
        Command::new(daemon)
            .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-w"])
            .arg(&dir),
    );
    wait_udp(port);
    let prefixes: &[&str] = if proto == "v5" {
        &["10.0.1.0/24", "172.16.0.0/12"]
    } else {
        &["10.0.1.0/24", "2001:db8:1::/64"]
    };
    let (_, flows, packets, bytes) = gen(proto, port, 40, prefixes);
    std::thread::sleep(Duration::from_millis(300));
    d.term();
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(&dir)
        .args(["-q", "-N", "-o", "fmt:%pkt,%byt"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut n, mut p, mut b) = (0u64, 0u64, 0u64);
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<u64> = l.split(',').map(|x| x.trim().parse().unwrap()).collect();
        n += 1;
        p += f[0];
        b += f[1];
    }
    assert_eq!(n, flows, "{proto}: flows seen by {daemon}");
    assert_eq!(p, packets, "{proto}: packets");
    // sfcapd counts the sampled frame length: IP length + Ethernet header + FCS.
    let want_bytes = if proto == "sflow" {
        bytes + 18 * flows
    } else {
        bytes
    };
    assert_eq!(b, want_bytes, "{proto}: bytes");
    let stat = Command::new("nfdump")
        .arg("-R")
        .arg(&dir)
        .arg("-I")
        .output()
        .unwrap();
    let stat = String::from_utf8(stat.stdout).unwrap();
    assert!(
        stat.contains("Sequence failures: 0") || !stat.contains("Sequence failures"),
        "{proto}: {stat}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gen_v5_is_read_by_nfcapd() {
    through_nfcapd("v5");
}
#[test]
fn gen_v9_is_read_by_nfcapd() {
    through_nfcapd("v9");
}
#[test]
fn gen_ipfix_is_read_by_nfcapd() {
    through_nfcapd("ipfix");
}
#[test]
fn gen_sflow_is_read_by_sfcapd() {
    through_nfcapd("sflow");
}

/// gen → dumpcap capture → tshark's NetFlow/IPFIX dissector sees every flow; and
/// `dump --pcap` of the same capture agrees with gen.
#[test]
fn gen_output_is_decoded_by_tshark_and_dump() {
    for proto in ["v5", "v9", "ipfix"] {
        let port = free_port();
        let dir = tmpdir(&format!("tshark-{proto}"));
        let cap = dir.join("cap.pcap");
        let log = dir.join("dumpcap.log");
        let d = Child(
            Command::new("dumpcap")
                .args([
                    "-q",
                    "-P",
                    "-i",
                    "lo",
                    "-f",
                    &format!("udp port {port}"),
                    "-w",
                ])
                .arg(&cap)
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("dumpcap (tshark package)"),
        );
        for _ in 0..100 {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Capturing on")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        let (datagrams, flows, _, bytes) = gen(proto, port, 10, &["10.0.1.0/24"]);
        std::thread::sleep(Duration::from_millis(500));
        d.term();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&cap)
            .args([
                "-d",
                &format!("udp.port=={port},cflow"),
                "-T",
                "fields",
                "-e",
                "cflow.srcaddr",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let addrs: Vec<&str> = text.split([',', '\n']).filter(|s| !s.is_empty()).collect();
        assert_eq!(addrs.len() as u64, flows, "{proto}: tshark flows");
        assert!(
            addrs.iter().all(|a| a.starts_with("10.0.1.")),
            "{proto}: {addrs:?}"
        );
        let out = Command::new(BIN)
            .args(["dump", "--format", "%byt", "--pcap"])
            .arg(&cap)
            .output()
            .unwrap();
        let sum: u64 = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.parse::<u64>().unwrap())
            .sum();
        assert_eq!(sum, bytes, "{proto}: dump --pcap bytes");
        assert!(String::from_utf8(out.stderr)
            .unwrap()
            .contains(&format!("datagrams: {datagrams}")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn dump_listen_receives_what_gen_sends() {
    let port = free_port();
    let d = Command::new(BIN)
        .args([
            "dump",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--output",
            "csv",
            "--duration",
            "20",
            "--count",
            "200",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_udp(port);
    let (_, flows, _, _) = gen("ipfix", port, 10, &["10.0.1.0/24", "2001:db8:1::/64"]);
    assert_eq!(flows, 200);
    let out = d.wait_with_output().unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 201, "header + 200 flows");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("flows: 200"));
}

#[test]
fn gen_refuses_ipv6_for_v5_with_a_clear_error() {
    let out = Command::new(BIN)
        .args([
            "gen",
            "--proto",
            "v5",
            "--target",
            "127.0.0.1:9",
            "--count",
            "1",
            "--prefix",
            "2001:db8::/64",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("NetFlow v5 cannot carry IPv6"));
}

#[test]
fn a_reader_that_goes_away_ends_dump_quietly() {
    use std::io::{BufRead, BufReader};
    // 83 KB of CSV, through a pipe shrunk to one page: dump is still writing
    // when the reader goes.
    let pcap = root().join("tests/fixtures/exports/pmacct-sflow.pcap");
    let mut child = Command::new(BIN)
        .args(["dump", "--pcap"])
        .arg(&pcap)
        .args(["--output", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    nix::fcntl::fcntl(&stdout, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    // The reader (like `| head -1`) is gone now.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("version,"), "{first}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE: {:?}",
        out.status
    );
}
