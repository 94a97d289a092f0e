//! Output streams: sequence numbers, output domains, header times, expiry.

use super::*;

#[test]
fn ipfix_sequence_counts_data_records_per_receiver() {
    let mut enc = Output::new(Version::Ipfix, &["10.0.1.0/24"]);
    let (mut dec, mut rx) = (
        Decoder::new(Limits::default()),
        Decoder::new(Limits::default()),
    );
    let mut expect = 0u32;
    for i in 0..5 {
        let d = message(Dialect::Ipfix, i * 5, 1, &flows(), i == 0);
        let (st, dgs, _) = run(&mut enc, &mut rx, &mut dec, &d);
        assert_eq!(
            u32::from_be_bytes(dgs[0][8..12].try_into().expect("4")),
            expect
        );
        expect += st.sent as u32;
    }
    assert_eq!(expect, 15);
}

#[test]
fn two_routers_with_one_domain_get_distinct_output_domains() {
    let mut enc = Output::new(Version::Ipfix, &["10.0.1.0/24"]);
    let d = message(Dialect::Ipfix, 0, 5, &flows(), true);
    let mut domains = Vec::new();
    for ex in ["192.0.2.1", "192.0.2.2"] {
        let mut b = Batch::default();
        Decoder::new(Limits::default())
            .decode(ex.parse().expect("ip"), &d, NOW, &mut b)
            .expect("decodes");
        let mut out = Out::default();
        enc.encode(&d, &b, NOW, &mut out);
        enc.flush(NOW, &mut out);
        let o = out.iter().next().expect("one datagram");
        domains.push(u32::from_be_bytes(o[12..16].try_into().expect("4")));
    }
    assert_eq!(domains[0], 5);
    assert_ne!(domains[1], 5);
}

/// (first, last) of each record of a v9 datagram made with octoflow's own IPv4
/// template (256), or of a v5 datagram, computed as nfdump does: boot time =
/// export time − sysUptime, then boot + the record's uptime stamp, unsigned.
fn uptime_times_as_nfdump_reads_them(o: &[u8]) -> Vec<(u64, u64)> {
    let be32 = |at: usize| u32::from_be_bytes(o[at..at + 4].try_into().expect("4")) as u64;
    let boot = (be32(8) * 1000).wrapping_sub(be32(4));
    let mut times = Vec::new();
    if o[1] == 5 {
        for i in 0..be32(0) & 0xffff {
            let at = 24 + 48 * i as usize;
            times.push((boot + be32(at + 24), boot + be32(at + 28)));
        }
        return times;
    }
    let mut pos = 20;
    while pos + 4 <= o.len() {
        let id = u16::from_be_bytes([o[pos], o[pos + 1]]);
        let len = u16::from_be_bytes([o[pos + 2], o[pos + 3]]) as usize;
        if id == 256 {
            let per = own_template(Dialect::V9, false).fixed_len.expect("fixed");
            let mut at = pos + 4;
            while at + per <= pos + len {
                times.push((boot + be32(at + 36), boot + be32(at + 40)));
                at += per;
            }
        }
        pos += len.max(4);
    }
    times
}

/// A flow that ended before the output started must not look 49.7 days in the
/// future: the synthetic sysUptime of re-encoded v9 (and v5) headers starts far
/// enough from 0 that such a flow's uptime stamps do not wrap.
#[test]
fn v9_output_times_of_flows_older_than_the_output_stay_in_the_past() {
    let mut recs = flows();
    for r in &mut recs {
        r.first_ms = NOW - 3 * 3_600_000;
        r.last_ms = NOW - 3_600_000;
    }
    let d = message(Dialect::Ipfix, 0, 1, &recs, true);
    for v in [Version::V9, Version::V5] {
        let mut enc = Output::new(v, &["10.0.1.0/24"]);
        let (_, dgs, _) = run_fresh(&mut enc, &d);
        let times: Vec<_> = dgs
            .iter()
            .flat_map(|o| uptime_times_as_nfdump_reads_them(o))
            .collect();
        assert_eq!(times.len(), 3, "{v:?}");
        for (first, last) in times {
            assert!(
                first.abs_diff(NOW - 3 * 3_600_000) < 1000,
                "{v:?} first {first}"
            );
            assert!(last.abs_diff(NOW - 3_600_000) < 1000, "{v:?} last {last}");
        }
    }
}

/// v5 has 16 bits of engine type and id: two routers whose domains differ only
/// above them must still reach a v5 receiver as two streams.
#[test]
fn v5_output_streams_are_allocated_within_engine_type_and_id() {
    let mut enc = Output::new(Version::V5, &["10.0.1.0/24"]);
    let mut engines = Vec::new();
    for (ex, domain) in [("192.0.2.1", 0x0001_0005), ("192.0.2.2", 0x0002_0005)] {
        let d = message(Dialect::Ipfix, 0, domain, &flows(), true);
        let mut b = Batch::default();
        Decoder::new(Limits::default())
            .decode(ex.parse().expect("ip"), &d, NOW, &mut b)
            .expect("decodes");
        let mut out = Out::default();
        enc.encode(&d, &b, NOW, &mut out);
        enc.flush(NOW, &mut out);
        let o = out.iter().next().expect("one datagram");
        engines.push((o[20], o[21]));
    }
    assert_ne!(engines[0], engines[1]);
}

/// The v5 header has 14 bits of sampling interval: a larger interval cannot be
/// announced, so the counters are scaled and the datagram says "unsampled"
/// rather than understating the traffic 1-in-16383.
#[test]
fn v5_sampling_intervals_beyond_14_bits_are_scaled_not_capped() {
    let mut recs = flows();
    for r in &mut recs {
        r.sampling_interval = 20_000;
    }
    let d = message(Dialect::Ipfix, 0, 1, &recs, true);
    let mut enc = Output::new(Version::V5, &["10.0.1.0/24"]);
    let (_, _, got) = run_fresh(&mut enc, &d);
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.scaled_packets(), 3 * 20_000);
        assert_eq!(r.scaled_bytes(), 300 * 20_000);
    }
}

/// Output streams are per (router, version, domain): one unused for
/// [`crate::STREAM_IDLE_MS`] is dropped at the next flush (its held records sent
/// first) and counted, and its output domain is free again.
#[test]
fn streams_unused_for_an_hour_are_dropped_at_the_next_flush() {
    let mut enc = Output::new(Version::Ipfix, &["10.0.1.0/24"]);
    let d = message(Dialect::Ipfix, 0, 5, &flows(), true);
    let feed = |enc: &mut Output, ex: &str, now: u64| {
        let mut b = Batch::default();
        Decoder::new(Limits::default())
            .decode(ex.parse().expect("ip"), &d, NOW, &mut b)
            .expect("decodes");
        let mut out = Out::default();
        enc.encode(&d, &b, now, &mut out);
        let st = enc.flush(now, &mut out);
        let o = out.iter().next().expect("one datagram");
        (st, u32::from_be_bytes(o[12..16].try_into().expect("4")))
    };
    let (st, dom) = feed(&mut enc, "192.0.2.1", NOW);
    assert_eq!((st.streams_expired, dom), (0, 5));
    // Router 2 keeps its stream busy; router 1 goes quiet.
    let (_, dom2) = feed(&mut enc, "192.0.2.2", NOW + 1000);
    assert_ne!(dom2, 5);
    let (st, _) = feed(&mut enc, "192.0.2.2", NOW + 3_599_000);
    assert_eq!(st.streams_expired, 0, "router 1 idle just under an hour");
    let (st, _) = feed(&mut enc, "192.0.2.2", NOW + 3_600_500);
    assert_eq!(st.streams_expired, 1, "router 1's stream dropped");
    assert_eq!(enc.enc.streams.all.len(), 1);
    // A new router gets the freed domain.
    let (st, dom3) = feed(&mut enc, "192.0.2.3", NOW + 3_600_600);
    assert_eq!((st.streams_expired, dom3), (0, 5));
}
