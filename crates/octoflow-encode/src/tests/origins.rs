//! Whose datagram each output datagram is ([`crate::Origin`]), which
//! `preserve_source` sends from the router's address: the router's exactly where
//! the path says so ([`Path::preserves_source`]), octoflow's own elsewhere.

use super::*;
use crate::{Origin, Path};

#[test]
fn each_datagram_is_the_routers_exactly_where_its_path_preserves_the_source() {
    for (dialect, vin) in [(Dialect::V9, Version::V9), (Dialect::Ipfix, Version::Ipfix)] {
        for vout in [Version::V9, Version::Ipfix, Version::V5] {
            for tenant in [&[][..], &["10.0.1.0/24"][..]] {
                let c = cfg(vout, tenant);
                let path = Path::of(vin, &c);
                let mut enc = Output::with(c, tenant);
                let mut dec = Decoder::new(Limits::default());
                let mut b = Batch::default();
                let d = message(dialect, 0, 1, &flows(), true);
                dec.decode(exporter(), &d, NOW, &mut b).expect("decodes");
                let mut out = Out::default();
                enc.encode(&d, &b, NOW, &mut out);
                enc.flush(NOW, &mut out);
                assert!(!out.datagrams.is_empty(), "{vin:?}->{vout:?} sent nothing");
                assert_eq!(out.origins.len(), out.datagrams.len());
                let want = if path.preserves_source() {
                    Origin::Router(router())
                } else {
                    Origin::Own
                };
                assert!(
                    out.origins.iter().all(|&o| o == want),
                    "{vin:?}->{vout:?} tenant {tenant:?} ({path:?}): {:?}, want {want:?}",
                    out.origins
                );
            }
        }
    }
}

#[test]
fn a_held_message_goes_out_with_the_source_of_the_datagrams_it_holds() {
    // Same header, so d2 would join d1's held message, but the router's socket
    // changed port in between: d1's message goes first, from the old port.
    let mut enc = Output::new(Version::V9, &["10.0.1.0/24"]);
    let mut dec = Decoder::new(Limits::default());
    let (a, b_port) = (router(), SocketAddr::new(exporter(), 40009));
    let mut out = Out::default();
    for (from, d) in [
        (a, message(Dialect::V9, 0, 1, &flows(), true)),
        (b_port, message(Dialect::V9, 1, 1, &flows(), false)),
    ] {
        let mut b = Batch::default();
        dec.decode(exporter(), &d, NOW, &mut b).expect("decodes");
        enc.encode_from(from, &d, &b, NOW, &mut out);
    }
    assert_eq!(out.origins, vec![Origin::Router(a)]);
    enc.flush(NOW, &mut out);
    assert_eq!(out.origins, vec![Origin::Router(a), Origin::Router(b_port)]);
}

#[test]
fn clearing_the_output_clears_the_origins() {
    let mut enc = Output::new(Version::V9, &[]);
    let mut dec = Decoder::new(Limits::default());
    let mut b = Batch::default();
    let d = message(Dialect::V9, 0, 1, &flows(), true);
    dec.decode(exporter(), &d, NOW, &mut b).expect("decodes");
    let mut out = Out::default();
    enc.encode(&d, &b, NOW, &mut out);
    assert_eq!(out.origins.len(), 1);
    out.clear();
    assert!(out.origins.is_empty() && out.datagrams.is_empty());
}

#[test]
fn with_preserve_source_routers_sharing_a_domain_keep_it_and_pass_whole() {
    // Without preserve_source the second router's stream gets a free domain
    // (tests::streams): the receiver sees both from octoflow's address. With it,
    // each comes from its own address, so each keeps its domain, unchanged.
    let d = message(Dialect::Ipfix, 0, 5, &flows(), true);
    for preserve in [false, true] {
        let mut c = cfg(Version::Ipfix, &[]);
        c.preserve_source = preserve;
        let mut enc = Output::with(c, &[]);
        let mut whole = Vec::new();
        for ex in ["192.0.2.1", "192.0.2.2"] {
            let ip: IpAddr = ex.parse().expect("ip");
            let mut b = Batch::default();
            Decoder::new(Limits::default())
                .decode(ip, &d, NOW, &mut b)
                .expect("decodes");
            let mut out = Out::default();
            enc.encode_from(SocketAddr::new(ip, 4739), &d, &b, NOW, &mut out);
            enc.flush(NOW, &mut out);
            let o = out.iter().next().expect("a datagram");
            whole.push(o == &d[..]);
        }
        assert_eq!(whole, [true, preserve], "preserve_source: {preserve}");
    }
    // A router of the other family than the receiver's is sent from octoflow's
    // address: it is remapped as before.
    let mut c = cfg(Version::Ipfix, &[]);
    c.preserve_source = true;
    c.receiver_ipv6 = true;
    let mut enc = Output::with(c, &[]);
    let mut whole = Vec::new();
    for ex in ["192.0.2.1", "192.0.2.2"] {
        let ip: IpAddr = ex.parse().expect("ip");
        let mut b = Batch::default();
        Decoder::new(Limits::default())
            .decode(ip, &d, NOW, &mut b)
            .expect("decodes");
        let mut out = Out::default();
        enc.encode_from(SocketAddr::new(ip, 4739), &d, &b, NOW, &mut out);
        enc.flush(NOW, &mut out);
        whole.push(out.iter().next().expect("a datagram") == &d[..]);
    }
    assert_eq!(whole, [true, false]);
}
