//! The encoder through the path production uses: tenants' verdict words computed
//! with the collector's table ([`octoflow_prefix::Verdicts`]), then
//! [`Encoder::encode`] with the tenant's bit.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use octoflow_prefix::{Entry, Filter, Verdicts};
use octoflow_proto::{
    own_template, Batch, Decoder, Dialect, FlowRecord, Limits, MessageHeader, MessageWriter,
    Version,
};

use crate::{EncodeStats, Encoder, EncoderConfig, Out, Select};

const NOW: u64 = 1_700_000_000_000;

fn flow(src: &str, dst: &str, sport: u16) -> FlowRecord {
    FlowRecord {
        src_addr: src.parse().expect("ip"),
        dst_addr: dst.parse().expect("ip"),
        src_port: sport,
        dst_port: 443,
        proto: 6,
        packets: 3,
        bytes: 300,
        first_ms: NOW - 5000,
        last_ms: NOW - 1000,
        ..FlowRecord::default()
    }
}

fn flows() -> Vec<FlowRecord> {
    vec![
        flow("10.0.1.1", "198.51.100.1", 1000),
        flow("10.0.1.254", "198.51.100.2", 1001),
        flow("198.51.100.3", "10.0.1.77", 1002),
        flow("172.20.0.1", "198.51.100.4", 1003),
        flow("2001:db8:1::1", "2001:db8:ff::1", 1004),
    ]
}

/// A v9 or IPFIX message from a "router" with its own template ids 300/301.
fn message(
    dialect: Dialect,
    seq: u32,
    domain: u32,
    recs: &[FlowRecord],
    templates: bool,
) -> Vec<u8> {
    let mut t4 = own_template(dialect, false);
    let mut t6 = own_template(dialect, true);
    t4.id = 300;
    t6.id = 301;
    let mut buf = vec![0u8; 8192];
    let h = MessageHeader {
        unix_ms: NOW,
        sys_uptime_ms: 3_600_000,
        sequence: seq,
        domain,
    };
    let mut w = MessageWriter::new(&mut buf, dialect, h).expect("writer");
    if templates {
        w.add_template(&t4).expect("t4");
        w.add_template(&t6).expect("t6");
    }
    for r in recs {
        w.add_record(if r.is_ipv4() { &t4 } else { &t6 }, r)
            .expect("rec");
    }
    let n = w.finish();
    buf.truncate(n);
    buf
}

fn cfg(version: Version, filters: &[&str]) -> EncoderConfig {
    EncoderConfig {
        version,
        unfiltered: filters.is_empty(),
        max_datagram: 1472,
        refresh_ms: 20_000,
        refresh_packets: 100,
        sampling_scaling: false,
        forward_counters: filters.is_empty(),
        forward_options: true,
        withdrawals: true,
    }
}

fn filter(entries: &[&str]) -> Arc<Filter> {
    let e: Vec<Entry> = entries.iter().map(|s| s.parse().expect("entry")).collect();
    Arc::new(Filter::new(&e))
}

/// One output as the daemon runs it: its encoder, and its bit in a collector's
/// verdict table (none: unfiltered, it takes everything).
struct Output {
    enc: Encoder,
    table: Option<(Arc<Verdicts>, u64)>,
    words: Vec<u64>,
}

impl Output {
    fn new(version: Version, filters: &[&str]) -> Output {
        Output::with(cfg(version, filters), filters)
    }

    fn with(c: EncoderConfig, filters: &[&str]) -> Output {
        let table = (!filters.is_empty()).then(|| {
            (
                Arc::new(Verdicts::new(vec![filter(filters)]).expect("fits")),
                1,
            )
        });
        Output {
            enc: Encoder::new(c, NOW),
            table,
            words: Vec::new(),
        }
    }

    /// As the collector and the output thread do it: verdicts per record, then
    /// the output's bit.
    fn encode(&mut self, d: &[u8], b: &Batch, now: u64, out: &mut Out) -> EncodeStats {
        let sel = match &self.table {
            Some((t, bit)) => {
                self.words.clear();
                self.words
                    .extend(b.records.iter().map(|r| t.flow(r.src_addr, r.dst_addr)));
                Select::Bit(&self.words, *bit)
            }
            None => Select::All,
        };
        self.enc.encode(d, b, sel, now, out)
    }

    fn flush(&mut self, now: u64, out: &mut Out) -> EncodeStats {
        self.enc.flush(now, out)
    }

    fn has_pending(&self) -> bool {
        self.enc.has_pending()
    }
}

fn exporter() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

/// Decode `d` as a router's datagram, encode it for `enc`, decode what comes out.
fn run(
    enc: &mut Output,
    rx: &mut Decoder,
    dec: &mut Decoder,
    d: &[u8],
) -> (EncodeStats, Vec<Vec<u8>>, Vec<FlowRecord>) {
    let mut b = Batch::default();
    dec.decode(exporter(), d, NOW, &mut b)
        .expect("input decodes");
    let mut out = Out::default();
    let mut st = enc.encode(d, &b, NOW, &mut out);
    st.add(enc.flush(NOW, &mut out));
    let mut got = Vec::new();
    let mut dgs = Vec::new();
    for o in out.iter() {
        let mut ob = Batch::default();
        rx.decode("127.0.0.1".parse().expect("ip"), o, NOW, &mut ob)
            .expect("output decodes");
        got.extend(ob.records.iter().copied());
        dgs.push(o.to_vec());
    }
    (st, dgs, got)
}

/// [`run`] with a new router-side decoder and a new receiver.
fn run_fresh(enc: &mut Output, d: &[u8]) -> (EncodeStats, Vec<Vec<u8>>, Vec<FlowRecord>) {
    run(
        enc,
        &mut Decoder::new(Limits::default()),
        &mut Decoder::new(Limits::default()),
        d,
    )
}

fn key(r: &FlowRecord) -> (IpAddr, IpAddr, u16, u64, u64) {
    (r.src_addr, r.dst_addr, r.src_port, r.packets, r.bytes)
}

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
                let mut st = enc.encode(&d, &b, sel, NOW, &mut out);
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
