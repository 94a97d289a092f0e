//! Datagrams captured from real exporters (softflowd, pmacctd nfprobe/sfprobe) decode
//! to exactly the ground truth of the traffic they were made from
//! (`tests/fixtures/truth.csv`; see `tests/fixtures/capture.sh`).

mod common;
use common::*;

use std::collections::BTreeMap;

type Key = (String, String, u16, u16, u8);

fn truth(v4_only: bool) -> BTreeMap<Key, (u64, u64)> {
    truth_file("truth.csv", v4_only)
}

fn truth_file(name: &str, v4_only: bool) -> BTreeMap<Key, (u64, u64)> {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap().lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if v4_only && f[0].contains(':') {
            continue;
        }
        let k = (
            f[0].into(),
            f[1].into(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
        );
        m.insert(k, (f[5].parse().unwrap(), f[6].parse().unwrap()));
    }
    m
}

fn decoded(name: &str) -> BTreeMap<Key, (u64, u64)> {
    let mut dec = decoder();
    let mut m: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
    for (ts, d) in pcap_udp_payloads(&fixture(name)) {
        let mut b = octoflow_proto::Batch::default();
        dec.decode("127.0.0.1".parse().unwrap(), &d, ts, &mut b)
            .unwrap();
        assert_eq!(b.template_misses, 0, "{name}: template misses");
        for r in &b.records {
            let e = m
                .entry((
                    r.src_addr.to_string(),
                    r.dst_addr.to_string(),
                    r.src_port,
                    r.dst_port,
                    r.proto,
                ))
                .or_default();
            e.0 += r.packets;
            e.1 += r.bytes;
        }
    }
    m
}

fn check(name: &str, v4_only: bool) {
    assert_eq!(
        decoded(name),
        truth(v4_only),
        "{name} differs from the ground truth"
    );
}

#[test]
fn softflowd_v5_equals_truth() {
    check("softflowd-v5", true);
}
#[test]
fn softflowd_v9_equals_truth() {
    check("softflowd-v9", false);
}
#[test]
fn softflowd_ipfix_equals_truth() {
    check("softflowd-ipfix", false);
}
#[test]
fn pmacct_nfprobe_v5_equals_truth() {
    check("pmacct-v5", true);
}
#[test]
fn pmacct_nfprobe_v9_equals_truth() {
    check("pmacct-v9", false);
}
#[test]
fn pmacct_nfprobe_ipfix_equals_truth() {
    check("pmacct-ipfix", false);
}

#[test]
fn fprobe_v5_equals_truth() {
    // fprobe can only sniff an interface: capture-fprobe.sh replays traffic.pcap's IPv4
    // packets mapped into 127/8 (truth-fprobe.csv), then 40 filler flows
    // (127.0.2.1:1000.. -> 127.0.2.2:9 udp) that push fprobe's last partial datagram out.
    // fprobe writes ICMP type/code as src_port/dst_port; they must come out as the
    // canonical type * 256 + code all the same.
    let mut got = decoded("fprobe-v5");
    let before = got.len();
    got.retain(|k, _| k.0 != "127.0.2.1");
    assert!(before - got.len() >= 30, "filler flows pushed the tail out");
    assert_eq!(got, truth_file("truth-fprobe.csv", true));
}

#[test]
fn pmacct_sfprobe_sflow_equals_truth() {
    // sfprobe never sends its last partial datagram at EOF; capture.sh appends a
    // filler flow (192.0.2.1 -> 192.0.2.2, 40 packets) so only filler samples are lost.
    let mut got = decoded("pmacct-sflow");
    let filler = got
        .remove(&("192.0.2.1".into(), "192.0.2.2".into(), 9, 9, 17))
        .expect("filler flow");
    assert!(filler.0 > 0 && filler.0 <= 40, "filler samples {filler:?}");
    assert_eq!(got, truth(false));
}

#[test]
fn sflow_samples_carry_sampling_rate_agent_and_vlan() {
    let mut dec = decoder();
    let mut vlans = 0;
    for (ts, d) in pcap_udp_payloads(&fixture("pmacct-sflow")) {
        let mut b = octoflow_proto::Batch::default();
        dec.decode("127.0.0.1".parse().unwrap(), &d, ts, &mut b)
            .unwrap();
        let h = b.sflow.unwrap();
        assert_eq!(h.agent.to_string(), "127.0.0.1");
        for r in &b.records {
            assert_eq!(r.sampling_interval, 1);
            assert_eq!(r.packets, 1);
            vlans += (r.src_vlan != 0) as usize;
        }
    }
    assert!(vlans > 0, "802.1Q-tagged samples decode their VLAN");
}
