//! BGP-4 messages built by hand: every attribute, the RFC 7606 error paths,
//! End-of-RIB, and parse(encode(x)) == x.

use std::net::{IpAddr, Ipv4Addr};

use octoflow_bgp::msg::{
    encode_keepalive, encode_notification, encode_open, encode_update, parse_message, Message,
    MsgError, Notification, Open, Update,
};
use octoflow_bgp::{Prefix, RouteAttrs, RouteOrigin, RouteParts};
use proptest::prelude::*;

fn p(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

/// An UPDATE message from its parts.
fn update_msg(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = 19 + 2 + withdrawn.len() + 2 + attrs.len() + nlri.len();
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    m.extend_from_slice(withdrawn);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    m
}

fn attr(flags: u8, t: u8, v: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, t, v.len() as u8];
    a.extend_from_slice(v);
    a
}

/// ORIGIN IGP, AS_PATH (one AS_SEQUENCE of 4-byte ASNs), NEXT_HOP 192.0.2.1.
fn base_attrs(path: &[u32]) -> Vec<u8> {
    let mut seg = vec![2, path.len() as u8];
    for a in path {
        seg.extend_from_slice(&a.to_be_bytes());
    }
    let mut v = attr(0x40, 1, &[0]);
    v.extend(attr(0x40, 2, &seg));
    v.extend(attr(0x40, 3, &[192, 0, 2, 1]));
    v
}

fn parse_update(m: &[u8], four: bool) -> Result<Update, MsgError> {
    match parse_message(m, four)? {
        Some((Message::Update(u), n)) => {
            assert_eq!(n, m.len());
            Ok(u)
        }
        other => panic!("not an update: {other:?}"),
    }
}

fn attrs_of(m: &[u8]) -> RouteAttrs {
    let u = parse_update(m, true).expect("valid");
    assert!(!u.treat_as_withdraw, "{u:?}");
    u.attrs.expect("attributes")
}

const NLRI: &[u8] = &[24, 10, 0, 1];

#[test]
fn every_attribute_is_read() {
    let mut a = base_attrs(&[65001, 4_200_000_000, 64500]);
    a.extend(attr(0x80, 4, &30u32.to_be_bytes()));
    a.extend(attr(0x40, 5, &200u32.to_be_bytes()));
    a.extend(attr(0xc0, 8, &[0xfd, 0xe9, 0, 1, 0xfb, 0xf4, 0, 2]));
    let mut large = Vec::new();
    for x in [65001u32, 64500, 7] {
        large.extend_from_slice(&x.to_be_bytes());
    }
    a.extend(attr(0xc0, 32, &large));
    a.extend(attr(0xc0, 99, &[1, 2, 3])); // unknown: skipped
    let r = attrs_of(&update_msg(&[], &a, NLRI));
    assert_eq!(
        r,
        RouteAttrs::from(RouteParts {
            origin: RouteOrigin::Igp,
            as_path: &[65001, 4_200_000_000, 64500],
            next_hop: IpAddr::from([192, 0, 2, 1]),
            med: Some(30),
            local_pref: Some(200),
            communities: &[65001 << 16 | 1, 64500 << 16 | 2],
            large_communities: &[[65001, 64500, 7]],
        })
    );
}

#[test]
fn extended_length_attribute_is_read() {
    let mut a = attr(0x40, 1, &[2]);
    let mut seg = vec![2, 100];
    for i in 0..100u32 {
        seg.extend_from_slice(&(64000 + i).to_be_bytes());
    }
    a.extend_from_slice(&[0x50, 2]);
    a.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    a.extend(seg);
    a.extend(attr(0x40, 3, &[192, 0, 2, 1]));
    let r = attrs_of(&update_msg(&[], &a, NLRI));
    assert_eq!(
        (r.as_path().len(), r.origin),
        (100, RouteOrigin::Incomplete)
    );
}

#[test]
fn as_set_members_follow_and_confederation_segments_are_skipped() {
    let mut seg = vec![3, 1, 0, 0, 0xfd, 0xe8]; // AS_CONFED_SEQUENCE 65000
    seg.extend_from_slice(&[2, 1, 0, 0, 0xfd, 0xe9]); // AS_SEQUENCE 65001
    seg.extend_from_slice(&[1, 2, 0, 0, 0xfb, 0xf4, 0, 0, 0xfb, 0xf5]); // AS_SET {64500, 64501}
    let mut a = attr(0x40, 1, &[0]);
    a.extend(attr(0x40, 2, &seg));
    a.extend(attr(0x40, 3, &[192, 0, 2, 1]));
    assert_eq!(
        attrs_of(&update_msg(&[], &a, NLRI)).as_path(),
        &[65001, 64500, 64501]
    );
}

fn two_byte_path_with_as4(path: &[u16], as4: &[u32]) -> Vec<u32> {
    let mut seg = vec![2, path.len() as u8];
    for a in path {
        seg.extend_from_slice(&a.to_be_bytes());
    }
    let mut seg4 = vec![2, as4.len() as u8];
    for a in as4 {
        seg4.extend_from_slice(&a.to_be_bytes());
    }
    let mut a = attr(0x40, 1, &[0]);
    a.extend(attr(0x40, 2, &seg));
    a.extend(attr(0x40, 3, &[192, 0, 2, 1]));
    a.extend(attr(0xc0, 17, &seg4));
    let u = parse_update(&update_msg(&[], &a, NLRI), false).expect("valid");
    u.attrs.expect("attributes").as_path().to_vec()
}

#[test]
fn as4_path_merge_takes_the_leading_asns_as_path_has_beyond_it() {
    // RFC 6793 §4.2.3: AS_PATH 65001 23456 64500, AS4_PATH 4200000000 64500.
    assert_eq!(
        two_byte_path_with_as4(&[65001, 23456, 64500], &[4_200_000_000, 64500]),
        [65001, 4_200_000_000, 64500]
    );
    // Same length: AS4_PATH whole.
    assert_eq!(
        two_byte_path_with_as4(&[23456, 64500], &[4_200_000_000, 64500]),
        [4_200_000_000, 64500]
    );
}

#[test]
fn as4_path_longer_than_as_path_is_ignored() {
    assert_eq!(
        two_byte_path_with_as4(&[65001, 23456], &[65001, 4_200_000_000, 64500]),
        [65001, 23456]
    );
}

#[test]
fn as4_path_on_a_four_byte_session_is_ignored() {
    let mut a = base_attrs(&[65001, 64500]);
    a.extend(attr(0xc0, 17, &[2, 1, 0, 0, 0, 1]));
    assert_eq!(
        attrs_of(&update_msg(&[], &a, NLRI)).as_path(),
        &[65001, 64500]
    );
}

#[test]
fn malformed_as4_path_is_discarded_not_withdrawn() {
    assert_eq!(two_byte_path_with_as4(&[65001, 64500], &[]), [65001, 64500]);
}

fn withdrawn_by_7606(attrs: &[u8]) {
    let u = parse_update(&update_msg(&[], attrs, NLRI), true).expect("not a session error");
    assert!(u.treat_as_withdraw, "{u:?}");
    assert_eq!(
        (u.announced, u.attrs, u.withdrawn),
        (vec![], None, vec![p("10.0.1.0/24")])
    );
}

#[test]
fn truncated_attribute_is_treat_as_withdraw() {
    let mut a = base_attrs(&[65001]);
    a.extend_from_slice(&[0xc0, 8, 8, 0, 0]); // COMMUNITIES says 8 bytes, has 2
    withdrawn_by_7606(&a);
    let mut a = base_attrs(&[65001]);
    a.push(0xc0); // half an attribute header
    withdrawn_by_7606(&a);
}

#[test]
fn bad_flags_are_treat_as_withdraw() {
    let mut a = base_attrs(&[65001]);
    a[0] = 0xc0; // ORIGIN marked optional
    withdrawn_by_7606(&a);
}

#[test]
fn as_path_segment_overrun_is_treat_as_withdraw() {
    let mut a = attr(0x40, 1, &[0]);
    a.extend(attr(0x40, 2, &[2, 3, 0, 0, 0xfd, 0xe9])); // 3 ASNs announced, 1 there
    a.extend(attr(0x40, 3, &[192, 0, 2, 1]));
    withdrawn_by_7606(&a);
}

#[test]
fn bad_attribute_lengths_are_treat_as_withdraw() {
    for (t, v) in [(1u8, &[0u8, 0][..]), (1, &[3]), (3, &[1, 2, 3]), (5, &[1])] {
        let mut a = base_attrs(&[65001]);
        a.extend(attr(if t == 4 { 0x80 } else { 0x40 }, t, v));
        // A repeated ORIGIN/NEXT_HOP is discarded (RFC 7606 §3 g); put the bad one first.
        let mut first = attr(0x40, t, v);
        first.extend(base_attrs(&[65001]));
        withdrawn_by_7606(&first);
    }
    let mut a = base_attrs(&[65001]);
    a.extend(attr(0xc0, 32, &[0; 11]));
    withdrawn_by_7606(&a);
}

#[test]
fn missing_mandatory_attribute_is_treat_as_withdraw() {
    withdrawn_by_7606(&attr(0x40, 1, &[0]));
}

#[test]
fn mp_reach_with_32_byte_next_hop_uses_the_global_address() {
    let mut v = vec![0, 2, 1, 32];
    v.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    v.extend_from_slice(
        &"fe80::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("ip")
            .octets(),
    );
    v.push(0);
    v.extend_from_slice(&[
        48, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 49, 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0xff,
    ]);
    let mut a = attr(0x40, 1, &[0]);
    a.extend(attr(0x40, 2, &[]));
    a.extend(attr(0x80, 14, &v));
    let u = parse_update(&update_msg(&[], &a, &[]), true).expect("valid");
    assert_eq!(
        u.announced,
        vec![p("2001:db8:1::/48"), p("2001:db8:2:8000::/49")],
        "host bits cleared"
    );
    let r = u.attrs.expect("attributes");
    assert_eq!(r.next_hop, "2001:db8::1".parse::<IpAddr>().expect("ip"));
    assert!(r.as_path().is_empty(), "iBGP");
}

#[test]
fn mp_reach_of_another_family_is_ignored() {
    let mut a = base_attrs(&[65001]);
    a.extend(attr(
        0x80,
        14,
        &[0, 1, 128, 4, 1, 2, 3, 4, 0, 88, 0, 0, 0, 0],
    ));
    let u = parse_update(&update_msg(&[], &a, &[]), true).expect("valid");
    assert_eq!((u.announced.len(), u.end_of_rib), (0, false));
}

#[test]
fn broken_mp_reach_is_an_error() {
    let mut a = base_attrs(&[65001]);
    a.extend(attr(0x80, 14, &[0, 2, 1, 16, 0, 0]));
    assert_eq!(
        parse_update(&update_msg(&[], &a, &[]), true).map_err(|e| (e.code, e.subcode)),
        Err((3, 9))
    );
    let mut a = base_attrs(&[65001]);
    a.extend(attr(0x80, 15, &[0, 2, 1, 129]));
    assert_eq!(
        parse_update(&update_msg(&[], &a, &[]), true).map_err(|e| (e.code, e.subcode)),
        Err((3, 9))
    );
}

#[test]
fn end_of_rib_is_an_empty_update_or_a_lone_empty_mp_unreach() {
    assert!(
        parse_update(&update_msg(&[], &[], &[]), true)
            .expect("valid")
            .end_of_rib
    );
    let u = parse_update(&update_msg(&[], &attr(0x80, 15, &[0, 2, 1]), &[]), true).expect("valid");
    assert!(u.end_of_rib);
    let u = parse_update(&update_msg(&[24, 10, 0, 1], &[], &[]), true).expect("valid");
    assert!(!u.end_of_rib);
    assert_eq!(u.withdrawn, vec![p("10.0.1.0/24")]);
}

#[test]
fn malformed_nlri_and_lengths_are_errors() {
    let code = |m: &[u8]| {
        parse_message(m, true)
            .map(|_| ())
            .map_err(|e| (e.code, e.subcode))
    };
    assert_eq!(
        code(&update_msg(&[], &base_attrs(&[1]), &[33, 10, 0, 1, 0, 0])),
        Err((3, 10))
    );
    assert_eq!(
        code(&update_msg(&[], &base_attrs(&[1]), &[24, 10, 0])),
        Err((3, 10))
    );
    let mut m = update_msg(&[], &[], &[]);
    m[20] = 9; // withdrawn length overruns the message
    assert_eq!(code(&m), Err((3, 1)));
    let mut m = update_msg(&[], &[], &[]);
    m[0] = 0;
    assert_eq!(code(&m), Err((1, 1)));
    let mut m = update_msg(&[], &[], &[]);
    m[17] = 18;
    assert_eq!(code(&m), Err((1, 2)));
    m[16..19].copy_from_slice(&[0x10, 1, 2]);
    assert_eq!(code(&m), Err((1, 2)), "over 4096 bytes");
    let mut m = update_msg(&[], &[], &[]);
    m[18] = 7;
    assert_eq!(code(&m), Err((1, 3)));
}

#[test]
fn incomplete_messages_wait() {
    let m = update_msg(&[], &base_attrs(&[65001]), NLRI);
    for i in 0..m.len() {
        assert_eq!(parse_message(&m[..i], true), Ok(None), "{i} bytes");
    }
}

#[test]
fn open_keepalive_and_notification_round_trip() {
    let o = Open {
        version: 4,
        asn: 4_200_000_001,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        four_byte_as: true,
        mp: vec![(1, 1), (2, 1)],
    };
    let mut b = Vec::new();
    encode_open(&o, &mut b);
    assert_eq!(&b[20..22], &23456u16.to_be_bytes(), "AS_TRANS in My AS");
    let n = b.len();
    encode_keepalive(&mut b);
    encode_notification(6, 2, b"bye", &mut b);
    let (m1, l1) = parse_message(&b, true).expect("ok").expect("complete");
    assert_eq!((m1, l1), (Message::Open(o), n));
    let (m2, l2) = parse_message(&b[n..], true).expect("ok").expect("complete");
    assert_eq!((m2, l2), (Message::Keepalive, 19));
    let (m3, _) = parse_message(&b[n + 19..], true)
        .expect("ok")
        .expect("complete");
    let data = b"bye".to_vec();
    assert_eq!(
        m3,
        Message::Notification(Notification {
            code: 6,
            subcode: 2,
            data
        })
    );
}

#[test]
fn open_without_capabilities_is_a_two_byte_ipv4_speaker() {
    let o = Open {
        version: 4,
        asn: 65001,
        hold_time: 0,
        bgp_id: Ipv4Addr::new(1, 1, 1, 1),
        four_byte_as: false,
        mp: vec![],
    };
    let mut b = Vec::new();
    encode_open(&o, &mut b);
    assert_eq!(b.len(), 29);
    assert_eq!(parse_message(&b, false), Ok(Some((Message::Open(o), 29))));
}

fn arb_prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Prefix {
            addr: IpAddr::V4(a.into()),
            len
        }
        .network()),
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| Prefix {
            addr: IpAddr::V6(a.into()),
            len
        }
        .network()),
    ]
}

fn v4_first(mut v: Vec<Prefix>) -> Vec<Prefix> {
    v.sort_by_key(|p| p.addr.is_ipv6());
    v
}

prop_compose! {
    fn arb_update()(
        withdrawn in proptest::collection::vec(arb_prefix(), 0..20),
        announced in proptest::collection::vec(arb_prefix(), 0..20),
        path in proptest::collection::vec(any::<u32>(), 0..300),
        origin in 0..3u8,
        nh4 in any::<u32>(),
        nh6 in any::<u128>(),
        med in any::<Option<u32>>(),
        local_pref in any::<Option<u32>>(),
        communities in proptest::collection::vec(any::<u32>(), 0..80),
        large in proptest::collection::vec(any::<[u32; 3]>(), 0..10),
    ) -> Update {
        let announced = v4_first(announced);
        let next_hop = if announced.iter().any(|p| p.addr.is_ipv4()) {
            IpAddr::V4(nh4.into())
        } else {
            IpAddr::V6(nh6.into())
        };
        let origin = [RouteOrigin::Igp, RouteOrigin::Egp, RouteOrigin::Incomplete][usize::from(origin)];
        let attrs = (!announced.is_empty()).then(|| RouteAttrs::from(RouteParts {
            origin, as_path: &path, next_hop, med, local_pref,
            communities: &communities, large_communities: &large,
        }));
        let withdrawn = v4_first(withdrawn);
        let end_of_rib = withdrawn.is_empty() && announced.is_empty();
        Update { withdrawn, announced, attrs, end_of_rib, treat_as_withdraw: false }
    }
}

proptest! {
    #[test]
    fn update_round_trips(u in arb_update(), four in any::<bool>()) {
        let mut b = Vec::new();
        encode_update(&u, four, &mut b);
        prop_assert_eq!(parse_message(&b, four), Ok(Some((Message::Update(u), b.len()))));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200), four in any::<bool>()) {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + b.len()) as u16).to_be_bytes());
        m.push(2);
        m.extend_from_slice(&b);
        let _ = parse_message(&m, four);
        m[18] = 1;
        let _ = parse_message(&m, four);
    }
}
