//! Templates: refresh, withdrawals, and what a receiver is given or forgotten.

use super::*;

#[test]
fn templates_are_refreshed_every_n_datagrams() {
    let mut c = cfg(Version::Ipfix, &["10.0.1.0/24"]);
    c.refresh_packets = 3;
    let mut enc = Output::with(c, &["10.0.1.0/24"]);
    let (mut dec, mut rx) = (
        Decoder::new(Limits::default()),
        Decoder::new(Limits::default()),
    );
    let mut with = Vec::new();
    for i in 0..7 {
        let d = message(Dialect::V9, i, 1, &flows(), i == 0);
        let (_, dgs, _) = run(&mut enc, &mut rx, &mut dec, &d);
        let mut ob = Batch::default();
        Decoder::new(Limits::default())
            .decode(exporter(), &dgs[0], NOW, &mut ob)
            .expect("decodes");
        with.push(!ob.templates.is_empty());
    }
    assert_eq!(with, vec![true, false, false, true, false, false, true]);
}

/// An IPFIX message of raw sets (id, body) from the router, domain 1.
fn ipfix_sets(sets: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = vec![0, 10, 0, 0];
    m.extend_from_slice(&((NOW / 1000) as u32).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    for (id, body) in sets {
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        m.extend_from_slice(body);
    }
    let l = m.len() as u16;
    m[2..4].copy_from_slice(&l.to_be_bytes());
    m
}

/// What a receiver learns from our datagrams: templates (ids), withdrawals.
fn announced(dgs: &[Vec<u8>]) -> (Vec<u16>, Vec<u16>) {
    let (mut t, mut w) = (Vec::new(), Vec::new());
    let mut rx = Decoder::new(Limits::default());
    for o in dgs {
        let mut ob = Batch::default();
        rx.decode(exporter(), o, NOW, &mut ob).expect("decodes");
        t.extend(ob.templates.iter().map(|x| x.id));
        w.extend(ob.withdrawn.iter().copied());
    }
    (t, w)
}

/// RFC 7011 §8.1: a withdrawal reaches a receiver that was given the template
/// (over TCP; §8.4: never over UDP), an ID the router reuses is withdrawn before
/// its new definition, and an all-withdrawal also ends our refreshes of those
/// templates to that receiver.
#[test]
fn ipfix_withdrawals_reach_receivers_that_were_given_the_template() {
    let tenant = ["10.0.1.0/24", "2001:db8:1::/48"];
    for tcp in [true, false] {
        let mut c = cfg(Version::Ipfix, &tenant);
        c.withdrawals = tcp;
        c.refresh_packets = 1;
        let mut enc = Output::with(c, &tenant);
        let (mut dec, mut rx) = (
            Decoder::new(Limits::default()),
            Decoder::new(Limits::default()),
        );
        let (_, dgs, _) = run(
            &mut enc,
            &mut rx,
            &mut dec,
            &message(Dialect::Ipfix, 0, 1, &flows(), true),
        );
        assert_eq!(announced(&dgs).0, vec![300, 301]);
        // Template 300 withdrawn; 999 was never given.
        let d = ipfix_sets(&[(2, &[1, 44, 0, 0, 3, 231, 0, 0])]);
        let (_, dgs, _) = run(&mut enc, &mut rx, &mut dec, &d);
        let want: &[u16] = if tcp { &[300] } else { &[] };
        assert_eq!(announced(&dgs).1, want, "tcp {tcp}");
        // The router redefines 301 (now an IPv4 template): withdrawn first.
        let mut t = own_template(Dialect::Ipfix, false);
        t.id = 301;
        let mut buf = vec![0u8; 2048];
        let h = MessageHeader {
            unix_ms: NOW,
            sys_uptime_ms: 0,
            sequence: 0,
            domain: 1,
        };
        let mut w = MessageWriter::new(&mut buf, Dialect::Ipfix, h).expect("writer");
        w.add_template(&t).expect("t");
        w.add_record(&t, &flows()[0]).expect("rec");
        let n = w.finish();
        let (_, dgs, got) = run(&mut enc, &mut rx, &mut dec, &buf[..n]);
        assert_eq!(got.len(), 1);
        let (ts, ws) = announced(&dgs);
        assert_eq!(ts, vec![301], "tcp {tcp}");
        let want: &[u16] = if tcp { &[301] } else { &[] };
        assert_eq!(ws, want, "tcp {tcp}");
        // Every data template withdrawn: no more refreshes of them.
        let d = ipfix_sets(&[(2, &[0, 2, 0, 0])]);
        let (_, dgs, _) = run(&mut enc, &mut rx, &mut dec, &d);
        let want: &[u16] = if tcp { &[2] } else { &[] };
        assert_eq!(announced(&dgs).1, want, "tcp {tcp}");
        let d = message(Dialect::Ipfix, 9, 1, &flows()[..1], false);
        let mut b = Batch::default();
        let _ = dec.decode(exporter(), &d, NOW, &mut b);
        let mut out = Out::default();
        enc.encode(&d, &b, NOW + 60_000, &mut out);
        enc.flush(NOW + 60_000, &mut out);
        let dgs: Vec<Vec<u8>> = out.iter().map(|x| x.to_vec()).collect();
        assert_eq!(
            announced(&dgs).0,
            Vec::<u16>::new(),
            "tcp {tcp}: no refresh of withdrawn templates"
        );
    }
}

/// Same version: a router template the receiver does not have reaches it with the
/// first record of it the tenant gets, never alone; templates for data the tenant
/// never gets (and a flood of templates without data) cost the receiver nothing.
#[test]
fn a_template_reaches_a_receiver_only_with_data_of_it() {
    let tenant = ["10.0.1.0/24"];
    let mut enc = Output::new(Version::Ipfix, &tenant);
    let (mut dec, mut rx) = (
        Decoder::new(Limits::default()),
        Decoder::new(Limits::default()),
    );
    // Templates 300 (IPv4) and 301 (IPv6), no records: nothing to send.
    let (_, dgs, _) = run(
        &mut enc,
        &mut rx,
        &mut dec,
        &message(Dialect::Ipfix, 0, 1, &[], true),
    );
    assert!(dgs.is_empty(), "templates alone are not sent");
    // IPv4 records of the tenant: 300 only (301 is for data it does not get).
    let (_, dgs, got) = run(
        &mut enc,
        &mut rx,
        &mut dec,
        &message(Dialect::Ipfix, 0, 1, &flows()[..3], true),
    );
    assert_eq!(got.len(), 3);
    assert_eq!(announced(&dgs).0, vec![300]);
}

/// A template the cache no longer holds (evicted under its byte budget, expired,
/// or the collector restarted) is dropped from the output's state within
/// [`crate::FORGET_EVERY_MS`], so a template flood cannot grow an output past the
/// cache's budget; if the router uses the id again, the receiver is given it again
/// (over TCP withdrawn first: its definition may have changed, RFC 7011 §8.1).
#[test]
fn templates_the_cache_dropped_are_forgotten_and_given_again() {
    let tenant = ["10.0.1.0/24", "2001:db8:1::/48"];
    for tcp in [true, false] {
        let mut c = cfg(Version::Ipfix, &tenant);
        c.withdrawals = tcp;
        let mut enc = Output::with(c, &tenant);
        let d = message(Dialect::Ipfix, 0, 1, &flows(), true);
        {
            let mut cache = Decoder::new(Limits::default());
            let (_, dgs, _) = run(
                &mut enc,
                &mut Decoder::new(Limits::default()),
                &mut cache,
                &d,
            );
            assert_eq!(announced(&dgs).0, vec![300, 301]);
            // Still in the cache: nothing to forget.
            let st = enc.flush(NOW + 1000, &mut Out::default());
            assert_eq!(st.templates_forgotten, 0, "tcp {tcp}");
        }
        // The cache is gone: only the output holds the templates.
        let st = enc.flush(NOW + 2000, &mut Out::default());
        assert_eq!(st.templates_forgotten, 2, "tcp {tcp}");
        // The router's next templates reach the receiver again.
        let mut cache = Decoder::new(Limits::default());
        let d = message(Dialect::Ipfix, 5, 1, &flows(), true);
        let mut b = Batch::default();
        cache.decode(exporter(), &d, NOW, &mut b).expect("decodes");
        let mut out = Out::default();
        enc.encode(&d, &b, NOW + 2000, &mut out);
        enc.flush(NOW + 2000, &mut out);
        let dgs: Vec<Vec<u8>> = out.iter().map(|x| x.to_vec()).collect();
        let (ts, ws) = announced(&dgs);
        assert_eq!(ts, vec![300, 301], "tcp {tcp}");
        let want: &[u16] = if tcp { &[300, 301] } else { &[] };
        let mut ws = ws;
        ws.sort_unstable();
        assert_eq!(ws, want, "tcp {tcp}");
    }
}
