//! BMP v3 (RFC 7854) messages built by hand, and a real gobgpd capture.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use octoflow_bgp::bmp::PEER_TYPE_LOC_RIB;
use octoflow_bgp::msg::{encode_open, encode_update};
use octoflow_bgp::{
    BmpError, BmpMessage, BmpReader, Open, Prefix, Rib, RouteAttrs, RouteParts, Update,
};

fn common(t: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![3];
    m.extend_from_slice(&(6 + body.len() as u32).to_be_bytes());
    m.push(t);
    m.extend_from_slice(body);
    m
}

/// A per-peer header: flags, address (16 bytes), AS, BGP ID, timestamp.
fn peer(peer_type: u8, flags: u8, addr: IpAddr, asn: u32) -> Vec<u8> {
    let mut h = vec![peer_type, flags];
    h.extend_from_slice(&7u64.to_be_bytes());
    match addr {
        IpAddr::V4(a) => {
            h.extend_from_slice(&[0; 12]);
            h.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => h.extend_from_slice(&a.octets()),
    }
    h.extend_from_slice(&asn.to_be_bytes());
    h.extend_from_slice(&[127, 0, 0, 2]);
    h.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    h.extend_from_slice(&5u32.to_be_bytes());
    h
}

fn tlv(t: u16, v: &[u8]) -> Vec<u8> {
    let mut x = t.to_be_bytes().to_vec();
    x.extend_from_slice(&(v.len() as u16).to_be_bytes());
    x.extend_from_slice(v);
    x
}

fn read_all(r: &mut BmpReader) -> Vec<BmpMessage> {
    let mut out = Vec::new();
    while let Some(m) = r.next().expect("valid BMP") {
        out.push(m);
    }
    out
}

fn p(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

#[test]
fn initiation_tlvs_give_sys_name_and_descr() {
    let mut body = tlv(0, b"free text");
    body.extend(tlv(1, b"gobgp 3.10"));
    body.extend(tlv(2, b"router-1"));
    let mut r = BmpReader::new();
    r.feed(&common(4, &body));
    assert_eq!(
        read_all(&mut r),
        vec![BmpMessage::Initiation {
            sys_name: Some("router-1".into()),
            sys_descr: Some("gobgp 3.10".into()),
        }]
    );
}

fn open(asn: u32, id: [u8; 4]) -> Open {
    Open {
        version: 4,
        asn,
        hold_time: 90,
        bgp_id: id.into(),
        four_byte_as: true,
        mp: vec![(1, 1), (2, 1)],
    }
}

#[test]
fn peer_up_carries_ports_local_address_and_both_opens() {
    let mut body = peer(0, 0, "192.0.2.9".parse().expect("ip"), 65001);
    body.extend_from_slice(&[0; 12]);
    body.extend_from_slice(&[192, 0, 2, 1]);
    body.extend_from_slice(&179u16.to_be_bytes());
    body.extend_from_slice(&40000u16.to_be_bytes());
    encode_open(&open(65000, [192, 0, 2, 1]), &mut body);
    encode_open(&open(4_200_000_000, [127, 0, 0, 2]), &mut body);
    let mut r = BmpReader::new();
    r.feed(&common(3, &body));
    let [BmpMessage::PeerUp {
        peer,
        local_addr,
        local_port,
        remote_port,
        sent_open,
        received_open,
    }] = &read_all(&mut r)[..]
    else {
        panic!("one Peer Up");
    };
    assert_eq!(peer.addr, "192.0.2.9".parse::<IpAddr>().expect("ip"));
    assert_eq!(
        (peer.asn, peer.bgp_id, peer.distinguisher),
        (65001, Ipv4Addr::new(127, 0, 0, 2), 7)
    );
    assert_eq!((peer.ts_secs, peer.ts_usecs), (1_700_000_000, 5));
    assert_eq!(*local_addr, IpAddr::from([192, 0, 2, 1]));
    assert_eq!((*local_port, *remote_port), (179, 40000));
    assert_eq!(sent_open.as_ref().map(|o| o.asn), Some(65000));
    assert_eq!(received_open.as_ref().map(|o| o.asn), Some(4_200_000_000));
}

fn v6_update() -> Update {
    Update {
        announced: vec![p("2001:db8:1::/48"), p("2001:db8:2:8000::/49")],
        attrs: Some(RouteAttrs::from(RouteParts {
            as_path: &[65001, 4_200_000_000, 64500],
            next_hop: "3fff::2".parse().expect("ip"),
            communities: &[65001 << 16 | 1],
            ..RouteParts::default()
        })),
        ..Update::default()
    }
}

#[test]
fn route_monitoring_with_ipv6_mp_reach_update_and_flags() {
    // V and L flags: an IPv6 peer, post-policy; 4-byte AS (no A flag).
    let mut body = peer(0, 0xc0, "2001:db8::9".parse().expect("ip"), 65001);
    encode_update(&v6_update(), true, &mut body);
    let mut r = BmpReader::new();
    r.feed(&common(0, &body));
    let [BmpMessage::RouteMonitoring { peer, update }] = &read_all(&mut r)[..] else {
        panic!("one Route Monitoring");
    };
    assert!(peer.v6 && peer.post_policy && !peer.two_byte_as && !peer.adj_rib_out);
    assert_eq!(peer.addr, "2001:db8::9".parse::<IpAddr>().expect("ip"));
    assert_eq!(update, &v6_update());
}

#[test]
fn route_monitoring_of_a_two_byte_as_peer_reads_2_byte_paths() {
    let mut u = v6_update();
    if let Some(a) = &mut u.attrs {
        let communities = a.communities().to_vec();
        *a = a.clone().with_lists(&[65001, 64500], &communities, &[]);
    }
    let mut body = peer(0, 0xa0, "2001:db8::9".parse().expect("ip"), 65001);
    encode_update(&u, false, &mut body);
    let mut r = BmpReader::new();
    r.feed(&common(0, &body));
    let [BmpMessage::RouteMonitoring { peer, update }] = &read_all(&mut r)[..] else {
        panic!("one Route Monitoring");
    };
    assert!(peer.two_byte_as);
    assert_eq!(update, &u);
}

#[test]
fn peer_down_and_statistics_and_termination() {
    let ph = peer(0, 0x10, "192.0.2.9".parse().expect("ip"), 65001);
    let mut down = ph.clone();
    down.push(2);
    let mut stats = ph.clone();
    stats.extend_from_slice(&0u32.to_be_bytes());
    let mut r = BmpReader::new();
    r.feed(&common(2, &down));
    r.feed(&common(1, &stats));
    r.feed(&common(5, &tlv(1, &[0, 0])));
    r.feed(&common(6, &ph));
    let m = read_all(&mut r);
    let BmpMessage::PeerDown { peer, reason } = &m[0] else {
        panic!("Peer Down first");
    };
    assert_eq!(*reason, 2);
    assert!(peer.adj_rib_out, "O flag, RFC 8671");
    assert!(matches!(m[1], BmpMessage::Statistics { .. }));
    assert_eq!(m[2..], [BmpMessage::Termination, BmpMessage::Other(6)]);
}

#[test]
fn a_message_split_across_two_feeds_waits_for_its_end() {
    let mut body = peer(0, 0, "192.0.2.9".parse().expect("ip"), 65001);
    encode_update(&v6_update(), true, &mut body);
    let m = common(0, &body);
    let mut r = BmpReader::new();
    r.feed(&m[..3]);
    assert_eq!(r.next(), Ok(None));
    r.feed(&m[3..50]);
    assert_eq!(r.next(), Ok(None));
    r.feed(&m[50..]);
    assert!(matches!(
        r.next(),
        Ok(Some(BmpMessage::RouteMonitoring { .. }))
    ));
    assert_eq!((r.next(), r.buffered()), (Ok(None), 0));
}

#[test]
fn bad_version_and_lengths_are_errors() {
    let mut r = BmpReader::new();
    r.feed(&[2, 0, 0, 0, 6, 4]);
    assert_eq!(r.next(), Err(BmpError::Version(2)));
    let mut r = BmpReader::new();
    r.feed(&[3, 0, 0, 0, 5, 4]);
    assert_eq!(r.next(), Err(BmpError::Length(5)));
    let mut r = BmpReader::new();
    r.feed(&[3, 0x7f, 0, 0, 0, 4]);
    assert!(matches!(r.next(), Err(BmpError::Length(_))), "over 16 MiB");
}

#[test]
fn a_truncated_message_is_skipped_and_the_next_one_read() {
    let mut r = BmpReader::new();
    r.feed(&common(2, &[0; 10]));
    r.feed(&common(5, &[]));
    assert_eq!(r.next(), Err(BmpError::Truncated("per-peer header")));
    assert_eq!(r.next(), Ok(Some(BmpMessage::Termination)));
}

#[test]
fn loc_rib_peer_flags_are_not_v_l_a_o() {
    let body = peer(
        PEER_TYPE_LOC_RIB,
        0x80,
        "0.0.0.0".parse().expect("ip"),
        65000,
    );
    let mut r = BmpReader::new();
    r.feed(&common(1, &body));
    let [BmpMessage::Statistics { peer }] = &read_all(&mut r)[..] else {
        panic!("statistics");
    };
    assert!(!peer.v6, "F flag of RFC 9069");
    assert_eq!(peer.addr, IpAddr::from([0, 0, 0, 0]));
}

/// gobgpd 3.10 (tests/fixtures/README.md).
#[test]
fn gobgp_capture_decodes_to_the_expected_counts_and_routes() {
    let data = include_bytes!("fixtures/gobgp-bmp-all-policies-n100.bin");
    let mut r = BmpReader::new();
    let (mut rm, mut stats, mut down, mut withdrawn) = (0, 0, 0, 0);
    let mut ribs: HashMap<_, Rib> = HashMap::new();
    let mut sys_name = None;
    // In odd-sized pieces, as TCP would.
    for chunk in data.chunks(1000) {
        r.feed(chunk);
        while let Some(m) = r.next().expect("valid capture") {
            match m {
                BmpMessage::Initiation { sys_name: n, .. } => sys_name = n,
                BmpMessage::PeerUp { peer, .. } => {
                    assert_eq!(peer.addr, IpAddr::from([127, 0, 0, 1]));
                    assert_eq!(
                        (peer.asn, peer.bgp_id),
                        (65001, Ipv4Addr::new(127, 0, 0, 2))
                    );
                }
                BmpMessage::RouteMonitoring { peer, update } => {
                    rm += 1;
                    withdrawn += update.withdrawn.len();
                    assert!(!update.treat_as_withdraw);
                    ribs.entry(peer.key()).or_default().apply(&update);
                }
                BmpMessage::Statistics { .. } => stats += 1,
                BmpMessage::PeerDown { .. } => down += 1,
                _ => {}
            }
        }
    }
    assert_eq!(sys_name.as_deref(), Some("octoflow-lab-router"));
    assert_eq!((rm, stats, down, withdrawn), (1000, 2, 1, 400));
    // Pre-policy keeps its routes (gobgpd withdraws post-policy and Loc-RIB only).
    let pre = ribs
        .iter()
        .find(|(k, rib)| !k.post_policy && k.peer_type != PEER_TYPE_LOC_RIB && !rib.is_empty())
        .map(|(_, rib)| rib)
        .expect("pre-policy RIB");
    assert_eq!(pre.len(), (100, 100));
    let (pfx, a) = pre.lookup("10.0.1.77".parse().expect("ip")).expect("route");
    assert_eq!(pfx, p("10.0.1.0/24"));
    assert_eq!(a.as_path_text().to_string(), "65001 4200000000 64500");
    assert_eq!(a.communities_text().to_string(), "65001:0 64500:1");
    assert_eq!(a.large_communities_text().to_string(), "65001:64500:1");
    assert_eq!(
        (a.med, a.next_hop),
        (Some(10), IpAddr::from([192, 0, 2, 2]))
    );
    let (pfx, a) = pre
        .lookup("2001:db8:1::1".parse().expect("ip"))
        .expect("route");
    assert_eq!(pfx, p("2001:db8:1::/48"));
    assert_eq!(a.next_hop, "3fff::2".parse::<IpAddr>().expect("ip"));
    assert_eq!(
        ribs.values().map(|r| r.len().0 + r.len().1).sum::<usize>(),
        200
    );
}
