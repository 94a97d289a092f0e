//! The passive session on injected time, each test named after the RFC 4271
//! (or RFC 6608) rule it checks.

use std::net::Ipv4Addr;

use octoflow_bgp::msg::{
    encode_keepalive, encode_notification, encode_open, encode_update, parse_message, Message,
    Open, Update,
};
use octoflow_bgp::{Event, Prefix, RouteAttrs, RouteParts, Session, SessionConfig, State};

const T0: u64 = 1_000_000;

fn cfg() -> SessionConfig {
    SessionConfig {
        peer_asn: 65001,
        ..SessionConfig::new(4_200_000_000, Ipv4Addr::new(192, 0, 2, 254))
    }
}

fn peer_open(asn: u32, hold_time: u16) -> Vec<u8> {
    let mut b = Vec::new();
    encode_open(
        &Open {
            version: 4,
            asn,
            hold_time,
            bgp_id: Ipv4Addr::new(192, 0, 2, 1),
            four_byte_as: true,
            mp: vec![(1, 1), (2, 1)],
        },
        &mut b,
    );
    b
}

fn keepalive() -> Vec<u8> {
    let mut b = Vec::new();
    encode_keepalive(&mut b);
    b
}

/// The messages the session has to send.
fn sent(s: &mut Session) -> Vec<Message> {
    let mut b = Vec::new();
    s.transmit(&mut b);
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((m, n)) = parse_message(&b[at..], true).expect("valid output") {
        out.push(m);
        at += n;
    }
    assert_eq!(at, b.len());
    out
}

/// Notifications (code, subcode) sent and received.
type Sent = Option<(u8, u8)>;

fn closed_with(s: &mut Session) -> (Sent, Sent) {
    assert!(s.is_closed());
    let mut last = None;
    while let Some(e) = s.poll_event() {
        last = Some(e);
    }
    match last {
        Some(Event::Closed {
            notification_sent,
            notification_received,
            ..
        }) => (notification_sent, notification_received),
        other => panic!("not closed: {other:?}"),
    }
}

fn notification_sent(s: &mut Session) -> (u8, u8) {
    match sent(s).pop() {
        Some(Message::Notification(n)) => (n.code, n.subcode),
        other => panic!("no notification: {other:?}"),
    }
}

fn established(hold: u16) -> Session {
    let mut s = Session::new(cfg(), T0);
    s.receive(&peer_open(65001, hold), T0);
    s.receive(&keepalive(), T0);
    sent(&mut s);
    assert_eq!(s.state(), State::Established);
    s
}

#[test]
fn passive_open_sends_our_open_with_mp_and_four_octet_as_trans() {
    let mut s = Session::new(cfg(), T0);
    assert_eq!(s.state(), State::OpenSent);
    let mut b = Vec::new();
    s.transmit(&mut b);
    assert_eq!(&b[20..22], &23456u16.to_be_bytes(), "AS_TRANS");
    let Some((Message::Open(o), _)) = parse_message(&b, true).expect("valid") else {
        panic!("OPEN");
    };
    assert_eq!(
        (o.asn, o.hold_time, o.four_byte_as),
        (4_200_000_000, 90, true)
    );
    assert_eq!(o.mp, vec![(1, 1), (2, 1)]);
    assert!(sent(&mut s).is_empty(), "transmit drains");
}

#[test]
fn open_is_answered_by_keepalive_and_first_keepalive_establishes() {
    let mut s = Session::new(cfg(), T0);
    sent(&mut s);
    let open = peer_open(65001, 30);
    s.receive(&open[..10], T0);
    assert_eq!(s.state(), State::OpenSent, "partial OPEN waits");
    s.receive(&open[10..], T0);
    assert_eq!(s.state(), State::OpenConfirm);
    assert_eq!(sent(&mut s), vec![Message::Keepalive]);
    assert_eq!(s.poll_event(), None);
    s.receive(&keepalive(), T0 + 5);
    assert_eq!(s.state(), State::Established);
    assert_eq!(
        s.poll_event(),
        Some(Event::Established {
            peer_asn: 65001,
            peer_id: Ipv4Addr::new(192, 0, 2, 1),
            hold_time: 30,
            four_byte_as: true,
            families: vec![(1, 1), (2, 1)],
        })
    );
}

#[test]
fn negotiated_hold_time_is_the_smaller_and_keepalives_come_every_third() {
    let mut s = established(30);
    assert_eq!(s.poll_timeout(), Some(T0 + 10_000), "keepalive at hold/3");
    s.handle_timeout(T0 + 9_999);
    assert!(sent(&mut s).is_empty());
    s.handle_timeout(T0 + 10_000);
    assert_eq!(sent(&mut s), vec![Message::Keepalive]);
    // Hold timer restarted by the peer's messages.
    s.receive(&keepalive(), T0 + 20_000);
    s.handle_timeout(T0 + 45_000);
    assert!(!s.is_closed());
    let s = established(600);
    assert_eq!(s.poll_timeout(), Some(T0 + 30_000), "our 90 s wins");
}

#[test]
fn hold_timer_expiry_sends_notification_4_0() {
    let mut s = established(9);
    s.handle_timeout(T0 + 3_000);
    s.handle_timeout(T0 + 6_000);
    s.handle_timeout(T0 + 9_000);
    let msgs = sent(&mut s);
    assert_eq!(
        msgs.len(),
        3,
        "two keepalives then the notification: {msgs:?}"
    );
    assert!(matches!(msgs.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (4, 0)));
    assert_eq!(closed_with(&mut s), (Some((4, 0)), None));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn hold_timer_before_open_is_four_minutes() {
    let mut s = Session::new(cfg(), T0);
    sent(&mut s);
    assert_eq!(s.poll_timeout(), Some(T0 + 240_000));
    s.handle_timeout(T0 + 240_000);
    assert_eq!(notification_sent(&mut s), (4, 0));
}

#[test]
fn hold_time_zero_means_no_timers() {
    let mut s = established(0);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(u64::MAX);
    assert!(!s.is_closed() && sent(&mut s).is_empty());
}

#[test]
fn unexpected_peer_as_sends_notification_2_2() {
    let mut s = Session::new(cfg(), T0);
    sent(&mut s);
    s.receive(&peer_open(65002, 90), T0);
    assert_eq!(notification_sent(&mut s), (2, 2));
    assert_eq!(closed_with(&mut s), (Some((2, 2)), None));
}

#[test]
fn any_peer_as_is_accepted_when_none_is_expected() {
    let mut s = Session::new(SessionConfig::new(65000, Ipv4Addr::new(1, 1, 1, 1)), T0);
    s.receive(&peer_open(64999, 90), T0);
    assert_eq!(s.state(), State::OpenConfirm);
}

#[test]
fn hold_time_of_one_or_two_seconds_sends_notification_2_6() {
    for hold in [1, 2] {
        let mut s = Session::new(cfg(), T0);
        sent(&mut s);
        s.receive(&peer_open(65001, hold), T0);
        assert_eq!(notification_sent(&mut s), (2, 6));
    }
}

#[test]
fn unsupported_version_sends_notification_2_1() {
    let mut s = Session::new(cfg(), T0);
    sent(&mut s);
    let mut o = peer_open(65001, 90);
    o[19] = 3;
    s.receive(&o, T0);
    match sent(&mut s).pop() {
        Some(Message::Notification(n)) => {
            assert_eq!((n.code, n.subcode, n.data), (2, 1, vec![0, 4]))
        }
        other => panic!("{other:?}"),
    }
}

fn one_route() -> Vec<u8> {
    let u = Update {
        announced: vec!["10.0.1.0/24".parse::<Prefix>().expect("prefix")],
        attrs: Some(RouteAttrs::from(RouteParts {
            as_path: &[65001, 4_200_000_000],
            next_hop: [192, 0, 2, 1].into(),
            ..RouteParts::default()
        })),
        ..Update::default()
    };
    let mut b = Vec::new();
    encode_update(&u, true, &mut b);
    b
}

#[test]
fn update_in_established_is_an_event_with_four_byte_paths() {
    let mut s = established(90);
    while s.poll_event().is_some() {}
    let m = one_route();
    s.receive(&m[..7], T0);
    s.receive(&m[7..], T0);
    let Some(Event::Update(u)) = s.poll_event() else {
        panic!("update");
    };
    assert_eq!(u.attrs.expect("attrs").as_path(), &[65001, 4_200_000_000]);
}

#[test]
fn update_before_established_is_fsm_error_rfc6608() {
    let mut s = Session::new(cfg(), T0);
    sent(&mut s);
    s.receive(&one_route(), T0);
    assert_eq!(notification_sent(&mut s), (5, 1), "in OpenSent");
    let mut s = Session::new(cfg(), T0);
    s.receive(&peer_open(65001, 90), T0);
    sent(&mut s);
    s.receive(&one_route(), T0);
    assert_eq!(notification_sent(&mut s), (5, 2), "in OpenConfirm");
}

#[test]
fn open_in_established_is_fsm_error_5_3() {
    let mut s = established(90);
    s.receive(&peer_open(65001, 90), T0);
    assert_eq!(notification_sent(&mut s), (5, 3));
}

#[test]
fn header_error_sends_notification_1_x_and_ignores_the_rest() {
    let mut s = established(90);
    let mut k = keepalive();
    k[0] = 0;
    s.receive(&k, T0);
    assert_eq!(notification_sent(&mut s), (1, 1));
    s.receive(&keepalive(), T0);
    assert!(sent(&mut s).is_empty());
    let mut s = established(90);
    let mut k = keepalive();
    k[17] = 20;
    s.receive(&k, T0);
    match sent(&mut s).pop() {
        Some(Message::Notification(n)) => {
            assert_eq!((n.code, n.subcode, n.data), (1, 2, vec![0, 20]))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn notification_received_closes_without_answer() {
    let mut s = established(90);
    let mut n = Vec::new();
    encode_notification(6, 2, &[], &mut n);
    s.receive(&n, T0);
    assert!(sent(&mut s).is_empty());
    assert_eq!(closed_with(&mut s), (None, Some((6, 2))));
}

#[test]
fn shutdown_sends_cease_and_connection_loss_sends_nothing() {
    let mut s = established(90);
    s.shutdown("collector stopping");
    assert_eq!(notification_sent(&mut s), (6, 2));
    let mut s = established(90);
    s.connection_lost("EOF");
    assert!(sent(&mut s).is_empty());
    assert_eq!(closed_with(&mut s), (None, None));
}

#[test]
fn peer_without_mp_capability_gets_ipv4_unicast() {
    let mut s = Session::new(cfg(), T0);
    let mut b = Vec::new();
    encode_open(
        &Open {
            version: 4,
            asn: 65001,
            hold_time: 90,
            bgp_id: Ipv4Addr::new(192, 0, 2, 1),
            four_byte_as: false,
            mp: vec![],
        },
        &mut b,
    );
    s.receive(&b, T0);
    s.receive(&keepalive(), T0);
    let Some(Event::Established {
        families,
        four_byte_as,
        ..
    }) = s.poll_event()
    else {
        panic!("established");
    };
    assert_eq!((families, four_byte_as), (vec![(1, 1)], false));
}
