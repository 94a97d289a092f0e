//! Each path (whole datagram, same version, conversions, v5, sFlow) gives each
//! tenant exactly its records, as the receiver expects them.

use super::*;

#[test]
fn each_tenant_gets_exactly_its_records_on_every_path() {
    // Four tenants in one collector table, as the daemon builds it: one with a
    // negated entry, an IPv4 /12, an IPv6 /48 and an unfiltered one.
    let tenants: [&[&str]; 4] = [
        &["10.0.1.0/24", "!10.0.1.254"],
        &["172.16.0.0/12"],
        &["2001:db8:1::/48"],
        &[],
    ];
    let filters: Vec<Arc<Filter>> = tenants.iter().map(|t| filter(t)).collect();
    let table = Verdicts::new(filters.clone()).expect("fits");
    let mut recs = flows();
    recs.extend(flows().iter().map(|r| FlowRecord {
        src_addr: r.dst_addr,
        dst_addr: r.src_addr,
        ..*r
    }));
    for (dialect, vin) in [(Dialect::V9, Version::V9), (Dialect::Ipfix, Version::Ipfix)] {
        let d = message(dialect, 0, 7, &recs, true);
        let mut b = Batch::default();
        Decoder::new(Limits::default())
            .decode(exporter(), &d, NOW, &mut b)
            .expect("input decodes");
        let words: Vec<u64> = b
            .records
            .iter()
            .map(|r| table.flow(r.src_addr, r.dst_addr))
            .collect();
        for vout in [vin, Version::V9, Version::Ipfix, Version::V5] {
            for (i, t) in tenants.iter().enumerate() {
                let mut enc = Encoder::new(cfg(vout, t), NOW);
                let sel = if t.is_empty() {
                    Select::All
                } else {
                    Select::Bit(&words, 1 << i)
                };
                let mut out = Out::default();
                let mut st = enc.encode(router(), &d, &b, sel, NOW, &mut out);
                st.add(enc.flush(NOW, &mut out));
                let mut got = Vec::new();
                let mut rx = Decoder::new(Limits::default());
                for o in out.iter() {
                    let mut ob = Batch::default();
                    rx.decode(exporter(), o, NOW, &mut ob)
                        .expect("output decodes");
                    got.extend(ob.records.iter().map(key));
                }
                let want: Vec<_> = recs
                    .iter()
                    .filter(|r| filters[i].flow(r.src_addr, r.dst_addr))
                    .filter(|r| vout != Version::V5 || r.is_ipv4())
                    .map(key)
                    .collect();
                assert_eq!(got, want, "{vin:?}->{vout:?} tenant {i}");
                assert_eq!(st.sent, want.len() as u64, "{vin:?}->{vout:?} tenant {i}");
                assert!(
                    i == 3 || st.matched < recs.len() as u64,
                    "tenant {i} must not get everything"
                );
            }
        }
    }
}

#[test]
fn unfiltered_same_version_forwards_the_datagram_unchanged() {
    let d = message(Dialect::Ipfix, 0, 7, &flows(), true);
    let mut enc = Output::new(Version::Ipfix, &[]);
    let (st, dgs, got) = run_fresh(&mut enc, &d);
    assert_eq!(dgs, vec![d]);
    assert_eq!(got.len(), 5);
    assert_eq!((st.matched, st.sent), (5, 5));
}

#[test]
fn filtered_v9_keeps_router_templates_and_record_bytes() {
    let d = message(Dialect::V9, 41, 7, &flows(), true);
    let mut enc = Output::new(Version::V9, &["10.0.1.0/24", "!10.0.1.254"]);
    let (mut dec, mut rx) = (
        Decoder::new(Limits::default()),
        Decoder::new(Limits::default()),
    );
    let (st, dgs, got) = run(&mut enc, &mut rx, &mut dec, &d);
    assert_eq!((st.matched, st.sent), (2, 2));
    let want: Vec<_> = [&flows()[0], &flows()[2]].iter().map(|r| key(r)).collect();
    assert_eq!(got.iter().map(key).collect::<Vec<_>>(), want);
    assert_eq!(got[0].first_ms, NOW - 5000, "record times stay right");
    // The router's template id is kept, its domain too, our sequence starts at 0.
    let o = &dgs[0];
    assert_eq!(u32::from_be_bytes(o[12..16].try_into().expect("4")), 0);
    assert_eq!(u32::from_be_bytes(o[16..20].try_into().expect("4")), 7);
    // Each forwarded record is a byte-for-byte copy of the router's.
    let mut b = Batch::default();
    Decoder::new(Limits::default())
        .decode(exporter(), &d, NOW, &mut b)
        .expect("decodes");
    let mut ob = Batch::default();
    Decoder::new(Limits::default())
        .decode(exporter(), o, NOW, &mut ob)
        .expect("decodes");
    assert_eq!(ob.sets[0].template.id, 300);
    for (k, i) in [0usize, 2].iter().enumerate() {
        assert_eq!(ob.bytes(o, ob.raw[k]), b.bytes(&d, b.raw[*i]));
    }
    // Next datagram without templates: no templates again, sequence continues.
    let d2 = message(Dialect::V9, 42, 7, &flows(), false);
    let (_, dgs2, got2) = run(&mut enc, &mut rx, &mut dec, &d2);
    assert_eq!(got2.len(), 2);
    assert_eq!(
        u32::from_be_bytes(dgs2[0][12..16].try_into().expect("4")),
        1
    );
    let mut ob2 = Batch::default();
    Decoder::new(Limits::default())
        .decode(exporter(), &dgs2[0], NOW, &mut ob2)
        .ok();
    assert!(ob2.templates.is_empty());
}

#[test]
fn conversion_to_v5_counts_ipv6_as_unconvertible() {
    let d = message(Dialect::Ipfix, 0, 1, &flows(), true);
    let mut enc = Output::new(Version::V5, &["0.0.0.0/0", "::/0"]);
    let (st, dgs, got) = run_fresh(&mut enc, &d);
    assert_eq!((st.matched, st.sent, st.unconvertible), (5, 4, 1));
    assert_eq!(got.len(), 4);
    assert_eq!(dgs[0][0..2], [0, 5]);
    assert!(got.iter().all(|r| r.first_ms.abs_diff(NOW - 5000) < 1000));
}

#[test]
fn conversion_to_ipfix_uses_own_templates_and_carries_sampling() {
    let mut recs = flows();
    for r in &mut recs {
        r.sampling_interval = 64;
    }
    let d = message(Dialect::V9, 0, 1, &recs, true);
    let mut enc = Output::new(Version::Ipfix, &["10.0.1.0/24", "2001:db8:1::/48"]);
    let mut rx = Decoder::new(Limits::default());
    let (st, dgs, got) = run(&mut enc, &mut rx, &mut Decoder::new(Limits::default()), &d);
    assert_eq!(st.sent, 4);
    assert!(got.iter().all(|r| r.sampling_interval == 64));
    let mut ob = Batch::default();
    Decoder::new(Limits::default())
        .decode(exporter(), &dgs[0], NOW, &mut ob)
        .expect("decodes");
    let ids: Vec<u16> = ob.templates.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![256, 257, 258, 259, 260]);
    assert_eq!(ob.options.len(), 1, "sampling options record sent");
}

#[test]
fn re_encoded_records_fill_datagrams_until_flushed() {
    let mut enc = Output::new(Version::V5, &["10.0.1.0/24"]);
    let mut dec = Decoder::new(Limits::default());
    let d = message(Dialect::Ipfix, 0, 1, &flows(), true);
    let mut out = Out::default();
    for _ in 0..16 {
        let mut b = Batch::default();
        dec.decode(exporter(), &d, NOW, &mut b).expect("decodes");
        enc.encode(&d, &b, NOW, &mut out);
    }
    // 16 × 3 matching flows: one full v5 datagram (30) so far, 18 waiting.
    assert_eq!(out.datagrams.len(), 1);
    assert!(enc.has_pending());
    let st = enc.flush(NOW, &mut out);
    assert_eq!(st.sent, 18);
    assert_eq!(out.datagrams.len(), 2);
    let mut rx = Decoder::new(Limits::default());
    let mut seqs = Vec::new();
    for o in out.iter() {
        let mut ob = Batch::default();
        rx.decode(exporter(), o, NOW, &mut ob).expect("v5 decodes");
        seqs.push((
            u32::from_be_bytes(o[16..20].try_into().expect("4")),
            ob.records.len(),
        ));
    }
    assert_eq!(seqs, vec![(0, 30), (30, 18)]);
}

#[test]
fn same_version_records_share_a_message_only_under_identical_headers() {
    let mut enc = Output::new(Version::V9, &["10.0.1.0/24", "!10.0.1.254"]);
    let mut dec = Decoder::new(Limits::default());
    let mut out = Out::default();
    let mut feed = |d: &[u8], out: &mut Out| {
        let mut b = Batch::default();
        dec.decode(exporter(), d, NOW, &mut b).expect("decodes");
        enc.encode(d, &b, NOW, out);
    };
    let d1 = message(Dialect::V9, 0, 1, &flows(), true);
    let d2 = message(Dialect::V9, 1, 1, &flows(), false);
    let mut d3 = message(Dialect::V9, 2, 1, &flows(), false);
    d3[4..8].copy_from_slice(&3_600_005u32.to_be_bytes()); // 5 ms later
    feed(&d1, &mut out);
    feed(&d2, &mut out);
    assert!(
        out.datagrams.is_empty(),
        "held until the header changes or a flush"
    );
    feed(&d3, &mut out);
    assert_eq!(out.datagrams.len(), 1, "d1 and d2 share a message");
    let st = enc.flush(NOW, &mut out);
    assert_eq!(st.sent, 2);
    let mut rx = Decoder::new(Limits::default());
    let mut per = Vec::new();
    for o in out.iter() {
        let mut ob = Batch::default();
        rx.decode(exporter(), o, NOW, &mut ob).expect("decodes");
        per.push((
            u32::from_be_bytes(o[4..8].try_into().expect("4")),
            u32::from_be_bytes(o[12..16].try_into().expect("4")),
            ob.records.len(),
        ));
    }
    assert_eq!(per, vec![(3_600_000, 0, 4), (3_600_005, 1, 2)]);
}

/// RFC 7011 §3.1: the message is the header's length; anything after it in the
/// datagram is not part of it and must not reach a receiver (over TCP the length
/// frames the stream, RFC 7011 §10.4).
#[test]
fn whole_datagram_forwards_exactly_the_ipfix_message_length() {
    let msg = message(Dialect::Ipfix, 0, 7, &flows(), true);
    let mut d = msg.clone();
    d.extend_from_slice(&[0x00, 0x0a, 0x00, 0x10, 0xde, 0xad, 0xbe, 0xef]);
    let mut enc = Output::new(Version::Ipfix, &[]);
    let (st, dgs, got) = run_fresh(&mut enc, &d);
    assert_eq!(dgs, vec![msg]);
    assert_eq!((got.len(), st.sent), (5, 5));
}

/// `sampling_scaling`: every path gives the receiver counters multiplied by the
/// sampling interval, announced as 1-in-1 — also same-version and unfiltered
/// outputs — and `octoflow check` says so.
#[test]
fn sampling_scaling_scales_counters_on_every_path() {
    let mut recs = flows();
    for r in &mut recs {
        r.sampling_interval = 64;
    }
    for (dialect, v) in [(Dialect::V9, Version::V9), (Dialect::Ipfix, Version::Ipfix)] {
        let d = message(dialect, 0, 1, &recs, true);
        for tenant in [&[][..], &["10.0.1.0/24"][..]] {
            let mut c = cfg(v, tenant);
            c.sampling_scaling = true;
            let path = crate::Path::of(v, &c);
            let text = path.describe(v, &c);
            let mut enc = Output::with(c, tenant);
            let (_, _, got) = run_fresh(&mut enc, &d);
            assert!(!got.is_empty());
            for r in &got {
                assert_eq!((r.packets, r.bytes), (3 * 64, 300 * 64), "{v:?} {tenant:?}");
                assert!(r.sampling_interval <= 1, "{v:?} {tenant:?}");
            }
            assert!(
                text.contains("multiplied by the sampling interval"),
                "{text}"
            );
        }
    }
}

/// flowDirection (IE 61; RFC 3954 §8 DIRECTION) has two values, 0 ingress and 1
/// egress: octoflow's templates give a flow whose direction is unknown no such
/// field, never 0xff; a known one keeps it.
#[test]
fn flow_direction_is_omitted_when_unknown_never_written_as_0xff() {
    use octoflow_proto::{Direction, FieldSpec, Template};
    let mut recs = flows()[..2].to_vec();
    recs[0].src_addr = "10.0.1.2".parse().expect("ip");
    recs[1].direction = Direction::Egress;
    for v in [Version::V9, Version::Ipfix] {
        // Converted (the other version in): the router's template carries
        // flowDirection, its records are the router's business.
        let rd = if v == Version::V9 {
            Dialect::Ipfix
        } else {
            Dialect::V9
        };
        let mut fields = own_template(rd, false).fields;
        if !fields.iter().any(|f| f.id == 61) {
            fields.push(FieldSpec::iana(61, 1));
        }
        let t = Template::new(300, rd, 0, fields).expect("template");
        let mut buf = vec![0u8; 4096];
        let h = MessageHeader {
            unix_ms: NOW,
            sys_uptime_ms: 0,
            sequence: 0,
            domain: 1,
        };
        let mut w = MessageWriter::new(&mut buf, rd, h).expect("writer");
        w.add_template(&t).expect("t");
        for r in &recs {
            w.add_record(&t, r).expect("rec");
        }
        let n = w.finish();
        let mut enc = Output::new(v, &["10.0.1.0/24"]);
        let (_, dgs, got) = run_fresh(&mut enc, &buf[..n]);
        let dirs: Vec<_> = got.iter().map(|r| r.direction).collect();
        assert_eq!(dirs, vec![Direction::Unknown, Direction::Egress], "{v:?}");
        let mut rx = Decoder::new(Limits::default());
        for o in &dgs {
            let mut ob = Batch::default();
            rx.decode(exporter(), o, NOW, &mut ob).expect("decodes");
            for set in &ob.sets {
                let has = set
                    .template
                    .fields
                    .iter()
                    .any(|f| f.id == 61 && f.enterprise == 0);
                for i in set.first..set.first + set.count {
                    let known = ob.records[i].direction != Direction::Unknown;
                    assert_eq!(
                        has, known,
                        "{v:?}: template {} for {:?}",
                        set.template.id, ob.records[i].direction
                    );
                }
            }
        }
    }
}
