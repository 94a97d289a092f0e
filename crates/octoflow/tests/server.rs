//! `octoflow server` end to end, with real peers on both sides: softflowd (v5, v9,
//! IPFIX) and pmacctd sfprobe (sFlow) read `tests/fixtures/traffic.pcap` and export
//! into octoflow, which serves tenants like the original configuration's to nfcapd,
//! nfacctd, sfcapd and tshark. Each receiver's flows must equal the ground truth
//! restricted to its tenant: nothing missing, nothing extra.
//!
//! Also: faults (a receiver with nothing listening, a TCP receiver that stops
//! reading, malformed datagrams) cost the other receivers nothing; IPFIX over TCP
//! is framed so that tshark reads every message; the sampling interval arrives.
//!
//! Every process is started here and killed by PID; all traffic stays on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

type Flows = BTreeMap<String, (u64, u64)>;

// ---------------------------------------------------------------------------
// Tenants, written out independently of octoflow's filter code.
// ---------------------------------------------------------------------------

fn v4(a: &str) -> Option<u32> {
    a.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}
fn within(a: u32, net: &str, len: u32) -> bool {
    let n = v4(net).expect("net");
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == n & mask
}
/// `10.0.1.0/24` but not `10.0.1.254`.
fn foo(a: &str) -> bool {
    v4(a).is_some_and(|x| within(x, "10.0.1.0", 24) && a != "10.0.1.254")
}
/// Two single hosts.
fn bar(a: &str) -> bool {
    a == "10.0.2.142" || a == "10.0.2.139"
}
/// `172.16.0.0/12` but not `172.17.1.0/24`.
fn legacy(a: &str) -> bool {
    v4(a).is_some_and(|x| within(x, "172.16.0.0", 12) && !within(x, "172.17.1.0", 24))
}

/// The flows of `truth` whose source or destination belongs to `tenant`.
fn restrict(truth: &Flows, tenant: fn(&str) -> bool) -> Flows {
    truth
        .iter()
        .filter(|(k, _)| {
            let f: Vec<&str> = k.split(',').collect();
            tenant(f[0]) || tenant(f[1])
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn add(m: &mut Flows, [sa, da, sp, dp, pr]: [&str; 5], pk: u64, by: u64) {
    let pr = match pr.trim() {
        "TCP" => "6",
        "UDP" => "17",
        "ICMP" => "1",
        "ICMP6" => "58",
        p => p,
    };
    let norm = |a: &str| {
        a.trim()
            .parse::<IpAddr>()
            .map(|x| x.to_string())
            .unwrap_or_else(|_| a.trim().to_string())
    };
    let e = m
        .entry(
            [
                norm(sa),
                norm(da),
                sp.trim().into(),
                dp.trim().into(),
                pr.into(),
            ]
            .join(","),
        )
        .or_default();
    e.0 += pk;
    e.1 += by;
}

/// Drop the sfprobe EOF filler flow (192.0.2.1 → 192.0.2.2 udp/9, see capture.sh).
fn without_filler(mut m: Flows) -> Flows {
    m.retain(|k, _| !k.starts_with("192.0.2."));
    m
}

// ---------------------------------------------------------------------------
// Receivers
// ---------------------------------------------------------------------------

enum Kind {
    Nfcapd(PathBuf),
    Nfacctd(PathBuf),
    /// A capture of the port, decoded by tshark; a plain socket listens on the
    /// port so the sender gets no ICMP port-unreachable.
    Dumpcap(PathBuf, u16, #[allow(dead_code)] Option<UdpSocket>),
}

struct Receiver {
    child: Child,
    kind: Kind,
}

/// What a receiver got.
struct Got {
    flows: Flows,
    records: u64,
    seq_failures: u64,
}

impl Receiver {
    fn nfcapd(daemon: &str, port: u16, dir: &Path) -> Receiver {
        Receiver {
            child: start_nfcapd(daemon, port, dir),
            kind: Kind::Nfcapd(dir.to_path_buf()),
        }
    }

    fn nfacctd(port: u16, dir: &Path) -> Receiver {
        let csv = dir.join(format!("nfacctd-{port}.csv"));
        let conf = dir.join(format!("nfacctd-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nnfacctd_pipe_size: 4194304\n\
                 plugins: print[p]\naggregate[p]: src_host, dst_host, src_port, dst_port, proto\n\
                 print_output[p]: csv\nprint_output_file[p]: {}\nprint_output_file_append[p]: true\n\
                 print_refresh_time[p]: 300\nprint_num_protos[p]: true\n",
                csv.display()
            ),
        )
        .expect("conf");
        let child = Child::spawn(Command::new("nfacctd").arg("-f").arg(&conf));
        wait_udp(port);
        Receiver {
            child,
            kind: Kind::Nfacctd(csv),
        }
    }

    fn dumpcap(port: u16, dir: &Path, tcp: bool) -> Receiver {
        let cap = dir.join(format!("cap-{port}.pcap"));
        let log = dir.join(format!("dumpcap-{port}.log"));
        let filter = format!("{} port {port}", if tcp { "tcp" } else { "udp" });
        let child = Child(
            Command::new("dumpcap")
                .args(["-q", "-P", "-i", "lo", "-f", &filter, "-w"])
                .arg(&cap)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .expect("dumpcap (tshark package)"),
        );
        let t = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Capturing on")
        {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "dumpcap did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        let sink = (!tcp).then(|| UdpSocket::bind(("127.0.0.1", port)).expect("sink socket"));
        Receiver {
            child,
            kind: Kind::Dumpcap(cap, port, sink),
        }
    }

    /// Stop the receiver (it flushes) and read its flows; also nfcapd's sequence
    /// failures.
    fn finish(self) -> Got {
        let pid = self.child.0.id().to_string();
        let sig = if matches!(self.kind, Kind::Nfacctd(_)) {
            "-INT"
        } else {
            "-TERM"
        };
        let _ = Command::new("kill").args([sig, &pid]).status();
        let mut child = self.child;
        let _ = child.0.wait();
        let mut m = Flows::new();
        let mut seq_failures = 0;
        let mut records = 0u64;
        match &self.kind {
            Kind::Nfcapd(dir) => {
                let out = Command::new("nfdump")
                    .arg("-R")
                    .arg(dir)
                    .args(["-o", "csv", "-N", "-q"])
                    .output()
                    .expect("nfdump");
                for l in String::from_utf8_lossy(&out.stdout).lines() {
                    let f: Vec<&str> = l.split(',').collect();
                    if f.len() < 13 || f[0] == "ts" {
                        continue;
                    }
                    records += 1;
                    add(
                        &mut m,
                        [f[3], f[4], f[5], f[6], f[7]],
                        f[11].trim().parse().expect("pkts"),
                        f[12].trim().parse().expect("bytes"),
                    );
                }
                let stat = Command::new("nfdump")
                    .arg("-R")
                    .arg(dir)
                    .arg("-I")
                    .output()
                    .expect("nfdump -I");
                for l in String::from_utf8_lossy(&stat.stdout).lines() {
                    if let Some(n) = l.strip_prefix("Sequence failures: ") {
                        seq_failures += n.trim().parse::<u64>().unwrap_or(0);
                    }
                }
            }
            Kind::Nfacctd(csv) => {
                let text = std::fs::read_to_string(csv).unwrap_or_default();
                let mut lines = text.lines();
                let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
                let col = |n: &str| head.iter().position(|h| *h == n);
                if let (Some(sa), Some(da), Some(sp), Some(dp), Some(pr), Some(pk), Some(by)) = (
                    col("SRC_IP"),
                    col("DST_IP"),
                    col("SRC_PORT"),
                    col("DST_PORT"),
                    col("PROTOCOL"),
                    col("PACKETS"),
                    col("BYTES"),
                ) {
                    for l in lines.filter(|l| !l.starts_with("SRC_IP")) {
                        let f: Vec<&str> = l.split(',').collect();
                        records += 1;
                        add(
                            &mut m,
                            [f[sa], f[da], f[sp], f[dp], f[pr]],
                            f[pk].parse().expect("pkts"),
                            f[by].parse().expect("bytes"),
                        );
                    }
                }
            }
            Kind::Dumpcap(cap, port, _) => {
                let fields = [
                    "cflow.srcaddr",
                    "cflow.dstaddr",
                    "cflow.srcport",
                    "cflow.dstport",
                    "cflow.protocol",
                    "cflow.packets",
                    "cflow.octets",
                ];
                for row in tshark_fields(cap, &format!("udp.port=={port}"), &fields) {
                    if row.len() < 7 {
                        continue;
                    }
                    #[allow(clippy::needless_range_loop)]
                    for i in 0..row[0].len() {
                        records += 1;
                        let f = |c: usize| row[c][i].as_str();
                        add(
                            &mut m,
                            [f(0), f(1), f(2), f(3), f(4)],
                            f(5).parse().expect("pkts"),
                            f(6).parse().expect("bytes"),
                        );
                    }
                }
            }
        }
        Got {
            flows: m,
            records,
            seq_failures,
        }
    }
}

/// Decode a capture with tshark (`decode_as` like `udp.port==9995`): one row per
/// packet, one list of values per field.
fn tshark_fields(pcap: &Path, decode_as: &str, fields: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(pcap).args([
        "-d",
        &format!("{decode_as},cflow"),
        "-T",
        "fields",
        "-E",
        "separator=;",
    ]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim_matches(';').is_empty())
        .map(|l| {
            l.split(';')
                .map(|v| {
                    v.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Stop a dumpcap receiver (SIGTERM, wait) and return its capture.
fn stop_capture(rx: Receiver) -> PathBuf {
    let Kind::Dumpcap(pcap, _, _) = rx.kind else {
        panic!("not a capture")
    };
    rx.child.term();
    pcap
}

/// ICMP ports are written differently by each collector (lab README): compare
/// them without, as the lab's compare.py does.
fn no_icmp_ports(m: &Flows) -> Flows {
    let mut o = Flows::new();
    for (k, v) in m {
        let f: Vec<&str> = k.split(',').collect();
        let k = if f[4] == "1" || f[4] == "58" {
            [f[0], f[1], "0", "0", f[4]].join(",")
        } else {
            k.clone()
        };
        let e = o.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
    }
    o
}

// ---------------------------------------------------------------------------
// octoflow
// ---------------------------------------------------------------------------

fn exporter_yaml(id: &str, port: u16, version: &str, filters: &str, proto: &str) -> String {
    format!(
        "  - {{id: {id}, listen_host: 127.0.0.1, listen_port: 40000, collector_host: 127.0.0.1, collector_port: {port}, collector_proto: {proto}, collector_version: {version}{filters}}}\n"
    )
}

const FOO: &str = ", filters: ['10.0.1.0/24', '!10.0.1.254']";
const BAR: &str = ", filters: ['10.0.2.142', '10.0.2.139']";
// The legacy receiver is a capture on lo (dumpcap → tshark). A capture on the sending
// host sees a UDP GSO send as one large packet, before the kernel cuts it into the
// datagrams the receiver gets, so exporters feeding a capture turn GSO off.
const LEGACY: &str = ", filters: ['172.16.0.0/12', '!172.17.1.0/24'], udp_gso: false";

// ---------------------------------------------------------------------------
// Exporters (real ones)
// ---------------------------------------------------------------------------

fn softflowd(version: &str, port: u16, dir: &Path) {
    let mut c = Command::new("softflowd");
    c.arg("-r")
        .arg(root().join("tests/fixtures/traffic.pcap"))
        .args(["-n", &format!("127.0.0.1:{port}"), "-v", version]);
    // Flow times: -a for v5/v9, -A milli for IPFIX (lab README).
    if version == "10" {
        c.args(["-A", "milli"]);
    } else {
        c.arg("-a");
    }
    c.arg("-p").arg(dir.join("softflowd.pid"));
    let out = c
        .output()
        .expect("softflowd (the README test command installs it)");
    assert!(
        out.status.success(),
        "softflowd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pmacctd_sfprobe(port: u16, dir: &Path) {
    let conf = dir.join("pmacctd.conf");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\npcap_savefile: {}\nplugins: sfprobe[x]\nsfprobe_receiver[x]: 127.0.0.1:{port}\n\
             sfprobe_agentip[x]: 127.0.0.1\nsampling_rate[x]: 1\n",
            root().join("tests/fixtures/traffic-sflow.pcap").display()
        ),
    )
    .expect("conf");
    let out = Command::new("timeout")
        .args(["60", "pmacctd", "-f"])
        .arg(&conf)
        .output()
        .expect("pmacctd (the README test command installs pmacct)");
    // pmacctd's exit status at EOF is not reliable: when its plugin shuts down first
    // it may report "connection lost" and exit non-zero after sending everything.
    // Only a hang (timeout's 124) is an error here; the receivers' flows are the test.
    assert_ne!(
        out.status.code(),
        Some(124),
        "pmacctd hung: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait until the collector has decoded `flows` flows (or a few seconds pass), then
/// let the exporters drain.
fn settle(s: &Server, collector: &str, min_datagrams: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if counter(&s.status(), collector, "datagrams") >= min_datagrams {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
}

/// One input version through octoflow to five receivers:
/// A = foo as IPFIX → nfcapd, B = bar as v9 → nfacctd, C = legacy as v5 → tshark,
/// D = everything, same version as the input → nfcapd (sfcapd for sFlow),
/// E (sFlow only) = foo as sFlow → sfcapd.
fn end_to_end(input: &str) {
    let dir = tmpdir(&format!("e2e-{input}"));
    let [cp, pa, pb, pc, pd, pe, pm] = [(); 7].map(|_| free_port());
    let truth_all = truth(input == "5");
    let rx_a = Receiver::nfcapd("nfcapd", pa, &dir.join("a"));
    let rx_b = Receiver::nfacctd(pb, &dir);
    let rx_c = Receiver::dumpcap(pc, &dir, false);
    let sflow = input == "sflow";
    let rx_d = Receiver::nfcapd(if sflow { "sfcapd" } else { "nfcapd" }, pd, &dir.join("d"));
    let rx_e = sflow.then(|| Receiver::nfcapd("sfcapd", pe, &dir.join("e")));
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\nnprobe: {{bin_path: /usr/local/bin}}\nsupervisor: {{unix_socket: {}/octoflow.sock, loglevel: info}}\n\
         collectors:\n  - id: edge\n    listen_host: 127.0.0.1\n    listen_port: {cp}\n    nf_version: {input}\n    mux_to: [foo, bar, legacy, all{}]\nexporters:\n",
        dir.display(),
        if sflow { ", foo-sflow" } else { "" }
    );
    yaml += &exporter_yaml("foo", pa, "10", FOO, "udp");
    yaml += &exporter_yaml("bar", pb, "9", BAR, "udp");
    yaml += &exporter_yaml("legacy", pc, "5", LEGACY, "udp");
    yaml += &exporter_yaml("all", pd, input, "", "udp");
    if sflow {
        yaml += &exporter_yaml("foo-sflow", pe, "sflow", FOO, "udp");
    }
    let srv = Server::start(&dir, &yaml, &[cp]);
    match input {
        "sflow" => pmacctd_sfprobe(cp, &dir),
        v => softflowd(v, cp, &dir),
    }
    settle(&srv, "edge", 1);
    let status = srv.status();
    let log = srv.stop();
    assert_eq!(counter(&status, "edge", "rejected_version"), 0, "{status}");
    assert!(!status.contains("\"decode_errors\":{\""), "{status}");
    for ex in ["foo", "bar", "legacy", "all"] {
        assert_eq!(counter(&status, ex, "queue_drops"), 0, "{ex}: {status}");
        assert_eq!(counter(&status, ex, "send_errors"), 0, "{ex}: {status}");
    }

    let Got {
        flows: a,
        seq_failures: seq_a,
        ..
    } = rx_a.finish();
    let b = rx_b.finish().flows;
    let c = rx_c.finish().flows;
    let Got {
        flows: d,
        seq_failures: seq_d,
        ..
    } = rx_d.finish();
    let ctx = format!("input {input}; octoflow log:\n{log}\nstatus: {status}");
    let a = without_filler(a);
    assert_eq!(
        no_icmp_ports(&a),
        no_icmp_ports(&restrict(&truth_all, foo)),
        "A (foo, IPFIX via nfcapd), {ctx}"
    );
    if input == "10" {
        // softflowd's IPFIX carries an options data record nfcapd does not use, and
        // nfcapd 1.7 leaves such records out of its count, though RFC 7011 §3.1
        // numbers every Data Record, options included (as octoflow does; see
        // encode::tests::ipfix_sequence_counts_data_records_per_receiver). One
        // message with options data = one "failure" in nfcapd's eyes.
        assert!(seq_a <= 1, "A: nfcapd sequence failures {seq_a}, {ctx}");
    } else {
        assert_eq!(seq_a, 0, "A: nfcapd sequence failures, {ctx}");
    }
    let b = without_filler(b);
    assert_eq!(
        no_icmp_ports(&b),
        no_icmp_ports(&restrict(&truth_all, bar)),
        "B (bar, v9 via nfacctd), {ctx}"
    );
    let c = without_filler(c);
    assert_eq!(
        no_icmp_ports(&c),
        no_icmp_ports(&restrict(&truth(true), legacy)),
        "C (legacy, v5 via tshark), {ctx}"
    );
    assert_eq!(
        counter(&status, "legacy", "unconvertible"),
        0,
        "no IPv6 in 172.16/12, {ctx}"
    );
    let d = without_filler(d);
    if sflow {
        // sfcapd counts the sampled frame: compare packets, and bytes as frames.
        let pk: Flows = d.iter().map(|(k, v)| (k.clone(), (v.0, 0))).collect();
        let want: Flows = truth_all
            .iter()
            .map(|(k, v)| (k.clone(), (v.0, 0)))
            .collect();
        assert_eq!(
            no_icmp_ports(&pk),
            no_icmp_ports(&want),
            "D (all, sFlow via sfcapd), {ctx}"
        );
        // ... and bytes as the sampled frame: IP length + Ethernet header (14, or 18
        // with an 802.1Q tag) + FCS (4).
        let dn = no_icmp_ports(&d);
        for (k, w) in &no_icmp_ports(&truth_all) {
            let g = dn.get(k).map_or(0, |g| g.1);
            let l2 = g.saturating_sub(w.1);
            assert!(
                l2 == 18 * w.0 || l2 == 22 * w.0,
                "D bytes of {k}: got {g}, IP bytes {} in {} packets",
                w.1,
                w.0
            );
        }
        let e = rx_e.expect("E").finish().flows;
        let e = without_filler(e);
        let pk: Flows = e.iter().map(|(k, v)| (k.clone(), (v.0, 0))).collect();
        let want: Flows = restrict(&truth_all, foo)
            .iter()
            .map(|(k, v)| (k.clone(), (v.0, 0)))
            .collect();
        assert_eq!(
            no_icmp_ports(&pk),
            no_icmp_ports(&want),
            "E (foo, sFlow via sfcapd), {ctx}"
        );
    } else {
        assert_eq!(
            no_icmp_ports(&d),
            no_icmp_ports(&truth_all),
            "D (all, same version via nfcapd), {ctx}"
        );
        if input != "10" {
            // softflowd's own IPFIX numbering makes nfcapd count errors even without
            // octoflow (lab README); whole datagrams pass unchanged, so do its numbers.
            assert_eq!(seq_d, 0, "D: nfcapd sequence failures, {ctx}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn softflowd_v5_through_octoflow_to_each_tenant() {
    end_to_end("5");
}

#[test]
fn softflowd_v9_through_octoflow_to_each_tenant() {
    end_to_end("9");
}

#[test]
fn softflowd_ipfix_through_octoflow_to_each_tenant() {
    end_to_end("10");
}

#[test]
fn pmacctd_sflow_through_octoflow_to_each_tenant() {
    end_to_end("sflow");
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/// Run `octoflow gen`; returns the flows it reports.
fn gen(proto: &str, port: u16, count: u32, rate: u32, extra: &[&str]) -> u64 {
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

#[test]
fn dead_and_stalled_receivers_and_malformed_input_cost_the_others_nothing() {
    let dir = tmpdir("faults");
    let [cp, good, dead, pm] = [(); 4].map(|_| free_port());
    // A TCP receiver that accepts and then never reads, with a small window.
    let stalled = TcpListener::bind("127.0.0.1:0").expect("listener");
    {
        use std::os::fd::AsFd;
        let _ = nix::sys::socket::setsockopt(
            &stalled.as_fd(),
            nix::sys::socket::sockopt::RcvBuf,
            &4096,
        );
    }
    let tcp_port = stalled.local_addr().expect("addr").port();
    let rx = Receiver::nfcapd("nfcapd", good, &dir.join("good"));
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: auto, mux_to: [good, dead, stalled]}}\nexporters:\n"
    );
    yaml += &exporter_yaml("good", good, "10", FOO, "udp");
    yaml += &exporter_yaml("dead", dead, "9", "", "udp");
    yaml += &format!(
        "  - {{id: stalled, collector_host: 127.0.0.1, collector_port: {tcp_port}, collector_proto: tcp, collector_version: 10, queue_datagrams: 16}}\n"
    );
    let srv = Server::start(&dir, &yaml, &[cp]);
    let (conn, _) = stalled.accept().expect("octoflow connects");
    // Malformed datagrams interleaved with good traffic.
    let bad = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let garbage: [&[u8]; 4] = [
        b"\x00\x0a\x00\x30garbage",                  // IPFIX, length disagrees
        b"\x00\x09\x00\x01\x00\x00",                 // v9, truncated header
        b"\x00\x07\x00\x01abcdefghijklmnopqrstuvwx", // unknown version 7
        &[0u8; 3],                                   // too short for anything
    ];
    let sender = std::thread::spawn(move || {
        gen(
            "ipfix",
            cp,
            4000,
            2000,
            &[
                "--records",
                "25",
                "--prefix",
                "10.0.1.0/24",
                "--prefix",
                "192.168.0.0/16",
            ],
        )
    });
    for _ in 0..10 {
        for g in garbage {
            bad.send_to(g, ("127.0.0.1", cp)).expect("send");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let flows = sender.join().expect("gen thread");
    settle(&srv, "edge", 4040);
    let status = srv.status();
    let log = srv.stop();
    drop(conn);
    let Got {
        records: n,
        seq_failures: seq,
        ..
    } = rx.finish();
    let matched = counter(&status, "good", "flows_matched");
    assert!(matched > flows / 3, "{status}");
    assert_eq!(counter(&status, "good", "flows_sent"), matched, "{status}");
    assert_eq!(
        n, matched,
        "every flow of the good receiver's tenant arrived\n{log}"
    );
    assert_eq!(seq, 0);
    assert_eq!(counter(&status, "edge", "flows"), flows, "{status}");
    assert_eq!(counter(&status, "edge", "datagrams"), 4000 + 40, "{status}");
    let errors: u64 = ["bad_message_length", "truncated", "unknown_version"]
        .iter()
        .map(|r| {
            status
                .split(&format!("\"{r}\":"))
                .nth(1)
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect::<String>()
                        .parse::<u64>()
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(errors, 40, "every malformed datagram counted: {status}");
    assert!(counter(&status, "dead", "send_errors") > 0, "{status}");
    let stalled_lost = counter(&status, "stalled", "queue_drops")
        + counter(&status, "stalled", "send_errors")
        + counter(&status, "stalled", "disconnected_drops");
    assert!(
        stalled_lost > 0,
        "the stalled TCP receiver cannot have taken everything: {status}"
    );
    assert_eq!(counter(&status, "good", "queue_drops"), 0, "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// IPFIX over TCP (RFC 7011 §10.4): tshark reassembles the stream and reads every
/// flow; the sampling interval set by the exporter reaches the receiver.
#[test]
fn ipfix_over_tcp_is_framed_and_sampling_arrives() {
    let dir = tmpdir("tcp");
    let [cp, pm, pu] = [(); 3].map(|_| free_port());
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let tp = listener.local_addr().expect("addr").port();
    let cap = Receiver::dumpcap(tp, &dir, true);
    let capu = Receiver::dumpcap(pu, &dir, false);
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("octoflow connects");
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        sink.len()
    });
    let mut yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: edge, listen_host: 127.0.0.1, listen_port: {cp}, nf_version: 9, mux_to: [tcp, conv]}}\nexporters:\n"
    );
    yaml += &exporter_yaml("tcp", tp, "10", FOO, "tcp");
    yaml += &exporter_yaml("conv", pu, "5", &format!("{FOO}, udp_gso: false"), "udp");
    let srv = Server::start(&dir, &yaml, &[cp]);
    let flows = gen(
        "v9",
        cp,
        50,
        200,
        &[
            "--records",
            "20",
            "--prefix",
            "10.0.1.0/24",
            "--sampling",
            "64",
        ],
    );
    settle(&srv, "edge", 50);
    let status = srv.status();
    srv.stop();
    let bytes = reader.join().expect("reader");
    assert!(bytes > 0);
    let matched = counter(&status, "tcp", "flows_matched");
    assert_eq!(matched, counter(&status, "tcp", "flows_sent"), "{status}");
    assert!(
        matched >= flows * 9 / 10,
        "10.0.1.254 is the only excluded host: {status}"
    );
    // IPFIX over TCP: every flow, each with the sampling interval.
    let rows = tshark_fields(
        &stop_capture(cap),
        &format!("tcp.port=={tp}"),
        &["cflow.srcaddr", "cflow.sampling_interval"],
    );
    let addrs: usize = rows.iter().map(|r| r[0].len()).sum();
    assert_eq!(
        addrs as u64, matched,
        "tshark reads every flow of the TCP stream"
    );
    let intervals: Vec<&String> = rows.iter().flat_map(|r| r[1].iter()).collect();
    assert!(
        !intervals.is_empty() && intervals.iter().all(|v| *v == "64"),
        "sampling interval 64 reaches the IPFIX receiver: {intervals:?}"
    );
    // v9 → v5: the v5 header carries the interval (mode bits 01, 14-bit interval).
    let rows = tshark_fields(
        &stop_capture(capu),
        &format!("udp.port=={pu}"),
        &["cflow.samplerate"],
    );
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r[0] == ["64"]),
        "v5 sampling: {rows:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_the_original_mistake_and_prints_the_topology() {
    let out = Command::new(BIN)
        .args(["check", "--config_file"])
        .arg(root().join("examples/octoflow-original.yaml"))
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collectors[0].mux_to[3]: \"nf-another\" is not an exporter id"),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["check", "--config-file"])
        .arg(root().join("examples/local.yaml"))
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("foo-cacti_exporter"), "{text}");
    assert!(
        text.contains(
            "ipfix -> ipfix: exporter's templates and matching records forwarded byte for byte"
        ),
        "{text}"
    );
    assert!(!text.contains("warning"), "the example loads clean: {text}");
}

/// Collectors and receivers on IPv6 (::1): IPv6 and IPv4 flows alike arrive.
#[test]
fn ipv6_collector_and_receiver() {
    let dir = tmpdir("ipv6");
    let free6 = || {
        UdpSocket::bind("[::1]:0")
            .expect("IPv6 loopback")
            .local_addr()
            .expect("addr")
            .port()
    };
    let (cp, rp, pm) = (free6(), free6(), free_port());
    std::fs::create_dir_all(dir.join("rx")).expect("dir");
    let rx = Receiver {
        child: Child::spawn(
            Command::new("nfcapd")
                .args(["-b", "::1", "-p", &rp.to_string(), "-w"])
                .arg(dir.join("rx")),
        ),
        kind: Kind::Nfcapd(dir.join("rx")),
    };
    wait_udp(rp);
    let yaml = format!(
        "general: {{metrics_listen: 127.0.0.1:{pm}}}\ncollectors:\n  - {{id: v6, listen_host: '::1', listen_port: {cp}, nf_version: 9, mux_to: [t]}}\n\
         exporters:\n  - {{id: t, collector_host: '::1', collector_port: {rp}, collector_version: 10, filters: ['2001:db8:1::/64', '10.0.1.0/24']}}\n"
    );
    let srv = Server::start(&dir, &yaml, &[cp]);
    let out = Command::new(BIN)
        .args(["gen", "--proto", "v9", "--target", &format!("[::1]:{cp}")])
        .args(["--count", "20", "--rate", "500", "--records", "10"])
        .args([
            "--prefix",
            "2001:db8:1::/64",
            "--prefix",
            "10.0.1.0/24",
            "--prefix",
            "192.168.0.0/16",
        ])
        .output()
        .expect("gen");
    assert!(out.status.success());
    settle(&srv, "v6", 20);
    let status = srv.stop_status();
    let got = rx.finish();
    let matched = counter(&status, "t", "flows_matched");
    assert!(matched > 100, "{status}");
    assert_eq!(got.records, matched, "{status}");
    assert!(got.flows.keys().any(|k| k.starts_with("2001:db8:1:")));
    assert!(got.flows.keys().any(|k| k.starts_with("10.0.1.")));
    assert!(!got.flows.keys().any(|k| k.starts_with("192.168.")));
    assert!(
        status.contains("\"::1\":{\"datagrams\":20"),
        "device keyed by its IPv6 address: {status}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
