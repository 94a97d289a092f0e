use std::collections::HashSet;

use super::*;
use crate::ie::{self, Target};

fn sample() -> FlowRecord {
    FlowRecord::example()
}

#[test]
fn names_and_tokens_are_unique() {
    let mut names = HashSet::new();
    let mut tokens = HashSet::new();
    for f in all() {
        assert!(names.insert(f.name), "name {} twice", f.name);
        if let Some(t) = f.token {
            assert!(t.starts_with('%') && t.len() > 1, "{t}");
            assert!(tokens.insert(t), "token {t} twice");
        }
        assert_eq!(by_name(f.name).map(|g| g.name), Some(f.name));
    }
    // Exactly the tokens `octoflow dump --format` knew before the schema (but %ver,
    // which is the datagram's, not the record's).
    let known: HashSet<_> = "%ts %te %td %pr %sap %dap %sa %da %sp %dp %pkt %byt %flg %tos \
         %in %out %sas %das %smk %dmk %nh %svln %dvln %smc %dmc %dir %sr %ra %eng %nhb %sc %dc"
        .split(' ')
        .collect();
    assert_eq!(tokens, known);
}

/// The columns `octoflow dump` printed (after `version`), in order: one per field
/// of `FlowRecord`.
#[test]
fn fields_are_the_record_fields_in_output_order() {
    let names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(
        names.join(","),
        "exporter,domain,first,last,src_addr,dst_addr,src_port,dst_port,proto,tos,\
         tcp_flags,packets,bytes,input_if,output_if,src_as,dst_as,src_mask,dst_mask,\
         next_hop,src_vlan,dst_vlan,src_mac,dst_mac,direction,sampling_interval,\
         icmp_type,icmp_code,bgp_next_hop,src_country,dst_country"
    );
    // Every getter reads something the sample sets.
    let s = sample();
    for f in FIELDS {
        assert_ne!(f.value(&FlowRecord::default()), f.value(&s), "{}", f.name);
    }
    // A field added to FlowRecord fails to compile here: add it to FIELDS too.
    let FlowRecord {
        src_addr: _,
        dst_addr: _,
        src_port: _,
        dst_port: _,
        proto: _,
        tos: _,
        tcp_flags: _,
        packets: _,
        bytes: _,
        first_ms: _,
        last_ms: _,
        input_if: _,
        output_if: _,
        src_as: _,
        dst_as: _,
        src_mask: _,
        dst_mask: _,
        next_hop: _,
        src_vlan: _,
        dst_vlan: _,
        src_mac: _,
        dst_mac: _,
        direction: _,
        sampling_interval: _,
        icmp_type: _,
        icmp_code: _,
        exporter: _,
        domain: _,
        bgp_next_hop: _,
        src_country: _,
        dst_country: _,
    } = s;
    assert_eq!(FIELDS.len(), 31);
}

/// Each getter gives its declared kind and prints what `octoflow dump` printed
/// for the same record before the schema.
#[test]
fn getters_render_as_dump_printed() {
    let r = sample();
    let mut printed = Vec::new();
    for f in FIELDS {
        assert_eq!(f.value(&r).kind(), f.kind, "{}", f.name);
        let mut s = String::new();
        f.render(&r, &mut s);
        assert_eq!(s, f.value(&r).to_string());
        printed.push(s);
    }
    assert_eq!(
        printed.join(","),
        "198.51.100.7,258,2025-12-31T23:59:50.123Z,2025-12-31T23:59:59.007Z,10.0.0.1,\
         192.0.2.200,51234,443,6,40,27,12,9000,4,70000,64512,4200000000,24,16,10.0.0.254,\
         10,4094,02:00:5e:10:ab:cd,ff:ee:00:01:02:03,egress,1000,7,9,192.0.2.1,SE,JP"
    );
    let derived: Vec<_> = DERIVED.iter().map(|f| f.value(&r).to_string()).collect();
    assert_eq!(derived, ["8.884", "10.0.0.1:51234", "192.0.2.200:443"]);
    let v6 = FlowRecord {
        src_addr: "2001:db8::1".parse().expect("ip"),
        last_ms: 86_400_000 * 400 + 1,
        direction: Direction::Ingress,
        ..FlowRecord::default()
    };
    let get = |n: &str| by_name(n).expect("field").value(&v6).to_string();
    assert_eq!(get("src_addr_port"), "[2001:db8::1]:0");
    assert_eq!(get("duration"), "34560000.001");
    assert_eq!(get("last"), "1971-02-05T00:00:00.001Z");
    assert_eq!(get("first"), "1970-01-01T00:00:00.000Z");
    assert_eq!(get("direction"), "ingress");
    assert_eq!(
        by_name("direction")
            .expect("field")
            .value(&FlowRecord::default())
            .to_string(),
        "unknown"
    );
}

/// The IEs listed are the ones the decoder maps onto record fields: every IE it
/// reads into a record is listed with some field, and every listed IE is read.
#[test]
fn ies_agree_with_the_decoder() {
    let listed: HashSet<u16> = FIELDS.iter().flat_map(|f| f.ies.iter().copied()).collect();
    for id in 0..=1024u16 {
        let read = [1u16, 2, 4, 6, 8, 16]
            .iter()
            .map(|&len| ie::target(id, len))
            // ipVersion (IE 60) only picks the address family of dual-family templates.
            .any(|t| !matches!(t, Target::Ignore | Target::SystemInitMs | Target::IpVersion));
        assert_eq!(read, listed.contains(&id), "IE {id}");
    }
    for f in all() {
        if f.ies.is_empty() {
            assert!(
                matches!(
                    f.name,
                    "exporter" | "domain" | "src_country" | "dst_country"
                ) || DERIVED.iter().any(|d| d.name == f.name)
            );
        }
    }
}
