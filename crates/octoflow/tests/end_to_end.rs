//! `octoflow server` end to end, with real peers on both sides: softflowd (v5, v9,
//! IPFIX) and pmacctd sfprobe (sFlow) read `tests/fixtures/traffic.pcap` and export
//! into octoflow, which serves tenants like the original configuration's to nfcapd,
//! nfacctd, sfcapd and tshark. Each receiver's flows must equal the ground truth
//! restricted to its tenant: nothing missing, nothing extra.
//!
//! Also: the `check` command; IPv6 collectors and receivers.
//!
//! Every process is started here and killed by PID; all traffic stays on 127.0.0.1.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;

use common::flows::*;
use common::receivers::*;
use common::*;

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

/// Drop the sfprobe EOF filler flow (192.0.2.1 → 192.0.2.2 udp/9, see capture.sh).
fn without_filler(mut m: Flows) -> Flows {
    m.retain(|k, _| !k.starts_with("192.0.2."));
    m
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
// octoflow: the tenants' filters (FOO, and exporter_yaml, are in common::flows)
// ---------------------------------------------------------------------------

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
    // From the repository, as the README runs it (the GeoIP path is relative).
    let out = Command::new(BIN)
        .args(["check", "--config-file"])
        .arg(root().join("examples/local.yaml"))
        .current_dir(root())
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
        text.contains("enrichment: AS numbers: first non-zero of device, geoip; GeoIP ASN tests/fixtures/mmdb/GeoLite2-ASN-Test.mmdb"),
        "{text}"
    );
    assert!(
        text.contains("senders: 127.0.0.0/8; at most 50000 datagrams/s per sender"),
        "{text}"
    );
    assert!(
        text.contains(
            "ipfix -> ipfix: exporter's templates and matching records forwarded byte for byte"
        ),
        "{text}"
    );
    assert!(
        text.contains("console: http://127.0.0.1:8080/ for noc (admin), foo (foo)"),
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
