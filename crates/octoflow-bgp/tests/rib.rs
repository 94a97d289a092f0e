//! The RIB: longest-prefix match, withdrawals, interning and its sweep.

use std::net::IpAddr;
use std::sync::Arc;

use octoflow_bgp::{Prefix, Rib, RouteAttrs, RouteParts, Update};

fn p(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn attrs(origin_as: u32) -> RouteAttrs {
    RouteAttrs::from(RouteParts {
        as_path: &[65001, origin_as],
        next_hop: ip("192.0.2.1"),
        ..RouteParts::default()
    })
}

fn found(r: &Rib, a: &str) -> Option<(Prefix, u32)> {
    r.lookup(ip(a)).map(|(p, x)| (p, x.origin_as()))
}

#[test]
fn nested_ipv4_prefixes_match_the_most_specific() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.0/24"), attrs(24));
    r.announce(p("10.0.1.128/25"), attrs(25));
    r.announce(p("10.0.1.192/26"), attrs(26));
    assert_eq!(found(&r, "10.0.1.1"), Some((p("10.0.1.0/24"), 24)));
    assert_eq!(found(&r, "10.0.1.130"), Some((p("10.0.1.128/25"), 25)));
    assert_eq!(found(&r, "10.0.1.200"), Some((p("10.0.1.192/26"), 26)));
    assert_eq!(found(&r, "10.0.2.1"), None);
    assert_eq!(found(&r, "2001:db8::1"), None);
}

#[test]
fn nested_ipv6_prefixes_match_the_most_specific() {
    let mut r = Rib::new();
    r.announce(p("2001:db8:1::/48"), attrs(48));
    r.announce(p("2001:db8:1:8000::/49"), attrs(49));
    assert_eq!(found(&r, "2001:db8:1::1"), Some((p("2001:db8:1::/48"), 48)));
    assert_eq!(
        found(&r, "2001:db8:1:8001::1"),
        Some((p("2001:db8:1:8000::/49"), 49))
    );
    assert_eq!(found(&r, "2001:db8:2::1"), None);
    assert_eq!(r.len(), (0, 2));
}

#[test]
fn v4_mapped_address_looks_up_ipv4() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.0/24"), attrs(24));
    assert_eq!(found(&r, "::ffff:10.0.1.9"), Some((p("10.0.1.0/24"), 24)));
}

#[test]
fn withdraw_falls_back_to_the_covering_route() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.0/24"), attrs(24));
    r.announce(p("10.0.1.128/25"), attrs(25));
    assert!(r.withdraw(&p("10.0.1.128/25")));
    assert_eq!(found(&r, "10.0.1.130"), Some((p("10.0.1.0/24"), 24)));
    assert!(!r.withdraw(&p("10.0.1.128/25")), "already gone");
    assert!(!r.withdraw(&p("192.0.2.0/24")), "never there");
    assert_eq!(r.len(), (1, 0));
}

#[test]
fn prefixes_are_stored_with_host_bits_cleared() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.77/24"), attrs(24));
    assert!(r.get(&p("10.0.1.0/24")).is_some());
    assert!(
        r.get(&p("10.0.1.1/24")).is_some(),
        "normalised on lookup too"
    );
    assert!(r.get(&p("10.0.1.0/25")).is_none(), "exact only");
    assert_eq!(r.iter().next().map(|(p, _)| p), Some(p("10.0.1.0/24")));
    assert!(
        !r.withdraw(&Prefix {
            addr: ip("10.0.0.0"),
            len: 40
        }),
        "impossible length"
    );
}

#[test]
fn covering_is_the_longest_match_of_a_prefix() {
    let mut r = Rib::new();
    r.announce(p("10.0.0.0/16"), attrs(16));
    r.announce(p("10.0.1.0/24"), attrs(24));
    let cov = |s: &str| r.covering(&p(s)).map(|(p, a)| (p, a.origin_as()));
    assert_eq!(cov("10.0.1.0/26"), Some((p("10.0.1.0/24"), 24)));
    assert_eq!(cov("10.0.1.0/24"), Some((p("10.0.1.0/24"), 24)));
    assert_eq!(cov("10.0.2.0/24"), Some((p("10.0.0.0/16"), 16)));
    assert_eq!(cov("10.0.0.0/8"), None);
}

#[test]
fn iter_is_sorted_v4_then_v6() {
    let mut r = Rib::new();
    for s in [
        "2001:db8::/32",
        "10.0.1.0/24",
        "10.0.0.0/16",
        "1.0.0.0/8",
        "2001:db8::/48",
    ] {
        r.announce(p(s), attrs(1));
    }
    let got: Vec<String> = r.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        got,
        [
            "1.0.0.0/8",
            "10.0.0.0/16",
            "10.0.1.0/24",
            "2001:db8::/32",
            "2001:db8::/48"
        ]
    );
}

#[test]
fn identical_attributes_share_one_arc() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.0/24"), attrs(1));
    r.announce(p("10.0.2.0/24"), attrs(1));
    r.announce(p("2001:db8::/48"), attrs(1));
    r.announce(p("10.0.3.0/24"), attrs(2));
    let a = r.get(&p("10.0.1.0/24")).expect("route");
    let b = r.get(&p("2001:db8::/48")).expect("route");
    assert!(Arc::ptr_eq(a, b));
    assert_eq!(r.attr_sets(), 2);
}

#[test]
fn sweep_frees_sets_no_route_uses() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.0/24"), attrs(1));
    r.announce(p("10.0.2.0/24"), attrs(2));
    let held = r.get(&p("10.0.2.0/24")).expect("route").clone();
    r.announce(p("10.0.1.0/24"), attrs(3)); // replaces set 1
    r.withdraw(&p("10.0.2.0/24"));
    assert_eq!(r.attr_sets(), 3, "not swept yet");
    assert_eq!(r.sweep(), 1, "set 1; set 2 is still held by a flow record");
    drop(held);
    assert_eq!(r.sweep(), 1);
    assert_eq!(r.attr_sets(), 1);
}

#[test]
fn sweep_runs_by_itself_as_routes_go() {
    let mut r = Rib::new();
    for i in 0..5000u32 {
        let pfx = Prefix {
            addr: IpAddr::V4((0x0a00_0000 + (i << 8)).into()),
            len: 24,
        };
        r.announce(pfx, attrs(i));
        r.withdraw(&pfx);
    }
    assert!(r.attr_sets() <= 1024, "{} sets left", r.attr_sets());
    assert!(r.is_empty());
}

#[test]
fn apply_withdraws_first_then_announces_and_honours_treat_as_withdraw() {
    let mut r = Rib::new();
    r.announce(p("10.0.1.0/24"), attrs(1));
    r.apply(&Update {
        withdrawn: vec![p("10.0.1.0/24"), p("192.0.2.0/24")],
        announced: vec![p("10.0.1.0/24"), p("2001:db8::/48")],
        attrs: Some(attrs(7)),
        ..Update::default()
    });
    assert_eq!(found(&r, "10.0.1.1").map(|x| x.1), Some(7));
    assert_eq!(r.len(), (1, 1));
    r.apply(&Update {
        announced: vec![p("2001:db8::/48")],
        attrs: Some(attrs(8)),
        treat_as_withdraw: true,
        ..Update::default()
    });
    assert_eq!(r.len(), (1, 0));
    r.clear();
    assert_eq!((r.len(), r.attr_sets()), ((0, 0), 0));
}
