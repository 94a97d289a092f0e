//! Vendor quirks, each from a capture in `tests/fixtures/vendor/` (hand-built from
//! the documented layouts by `make.py` there; see its README). The values asserted
//! are the ones tshark decodes from the same capture
//! (`tshark -r X.pcap -d udp.port==2055,cflow -d udp.port==4739,cflow -V`).

mod common;
use common::*;

use octoflow_proto::{Batch, DecodeError, FlowRecord};

fn vendor(name: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/fixtures/vendor/{name}.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    pcap_udp_payloads(&path)
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

fn decode(name: &str) -> Batch {
    let d = vendor(name);
    assert_eq!(d.len(), 1, "{name}: one datagram");
    let mut b = Batch::default();
    decoder()
        .decode(exporter(), &d[0], NOW_MS, &mut b)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    b
}

fn addrs(r: &FlowRecord) -> [String; 3] {
    [r.src_addr, r.dst_addr, r.next_hop].map(|a| a.to_string())
}

#[test]
fn cisco_dual_family_template_takes_the_family_present() {
    let b = decode("cisco-dual-family-v9");
    assert_eq!(b.records.len(), 2);
    let (a, c) = (&b.records[0], &b.records[1]);
    assert_eq!(addrs(a), ["10.0.0.1", "10.0.0.2", "10.0.0.254"]);
    assert_eq!(
        (a.src_mask, a.dst_mask, a.proto, a.bytes, a.packets),
        (24, 16, 6, 1500, 3)
    );
    assert_eq!(addrs(c), ["2001:db8::1", "2001:db8::2", "2001:db8::fe"]);
    assert_eq!(
        (c.src_mask, c.dst_mask, c.proto, c.bytes, c.packets),
        (48, 64, 17, 800, 2)
    );
}

#[test]
fn juniper_zero_length_fields_are_absent() {
    let b = decode("juniper-zero-length-field-v9");
    assert!(b.sets_skipped.is_empty());
    assert_eq!(b.templates.len(), 2);
    assert_eq!(b.options.len(), 1);
    let r = &b.records[0];
    assert_eq!(r.src_addr.to_string(), "10.0.0.1");
    assert_eq!(r.dst_addr.to_string(), "10.0.0.2");
    assert_eq!(r.bytes, 77);
    assert_eq!(r.sampling_interval, 64, "tshark: Sampling interval: 64");
}

#[test]
fn paloalto_zeros_after_the_last_flowset_are_ignored() {
    let b = decode("paloalto-trailing-zeros-v9");
    assert_eq!(b.records.len(), 1);
    assert!(b.sets_skipped.is_empty());
    assert_eq!(b.records[0].bytes, 9);
}

#[test]
fn h3c_vrf_name_of_length_65535_is_variable_length() {
    let b = decode("h3c-varlen-vrf-name-v9");
    assert_eq!(b.records.len(), 2);
    assert_eq!(b.records[0].src_addr.to_string(), "10.0.0.1");
    assert_eq!(b.records[0].bytes, 1500);
    assert_eq!(b.records[1].src_addr.to_string(), "10.0.0.2");
    assert_eq!(b.records[1].bytes, 40);
    let d = &vendor("h3c-varlen-vrf-name-v9")[0];
    // VRFname "vpn" (short form) and "x" (long form, 255 then a 2-byte length).
    assert_eq!(&b.bytes(d, b.raw[0])[4..8], b"\x03vpn");
    assert_eq!(&b.bytes(d, b.raw[1])[4..8], b"\xff\x00\x01x");
}

#[test]
fn options_templates_in_one_flowset_are_all_learnt() {
    let b = decode("options-templates-in-one-flowset-v9");
    let ids: Vec<u16> = b.templates.iter().map(|t| t.id).collect();
    assert_eq!(ids, [265, 266, 267]);
    assert!(b.sets_skipped.is_empty());
    // tshark: SamplerID 3, SamplerRandomInterval 250; the flow's SamplerID 3.
    assert_eq!(b.records[0].sampling_interval, 250);
}

#[test]
fn cisco_last_switched_after_sys_uptime_is_not_49_days_ago() {
    let b = decode("cisco-last-switched-after-uptime-v9");
    let r = &b.records[0];
    // tshark: StartTime 3599.000 s, EndTime 3600.005 s, SysUptime 3600.000 s.
    let export_ms = 1_767_225_600_000u64;
    assert_eq!((r.first_ms, r.last_ms), (export_ms - 1000, export_ms + 5));
}

#[test]
fn ipfix_reserved_set_is_skipped_and_counted() {
    let b = decode("ipfix-reserved-set-id");
    assert_eq!(b.sets_skipped, [DecodeError::ReservedSetId(100)]);
    assert_eq!(b.records.len(), 1);
    assert_eq!(addrs(&b.records[0])[..2], ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(b.records[0].bytes, 9);
}
