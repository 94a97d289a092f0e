//! The encoder through the path production uses: tenants' verdict words computed
//! with the collector's table ([`octoflow_prefix::Verdicts`]), then
//! [`Encoder::encode`] with the tenant's bit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use octoflow_prefix::{Entry, Filter, Verdicts};
use octoflow_proto::{
    own_template, Batch, Decoder, Dialect, FlowRecord, Limits, MessageHeader, MessageWriter,
    Version,
};

use crate::{EncodeStats, Encoder, EncoderConfig, Out, Select};

mod origins;
mod paths;
mod streams;
mod templates;

pub(super) const NOW: u64 = 1_700_000_000_000;

pub(super) fn flow(src: &str, dst: &str, sport: u16) -> FlowRecord {
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

pub(super) fn flows() -> Vec<FlowRecord> {
    vec![
        flow("10.0.1.1", "198.51.100.1", 1000),
        flow("10.0.1.254", "198.51.100.2", 1001),
        flow("198.51.100.3", "10.0.1.77", 1002),
        flow("172.20.0.1", "198.51.100.4", 1003),
        flow("2001:db8:1::1", "2001:db8:ff::1", 1004),
    ]
}

/// A v9 or IPFIX message from a "router" with its own template ids 300/301.
pub(super) fn message(
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

pub(super) fn cfg(version: Version, filters: &[&str]) -> EncoderConfig {
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
        preserve_source: false,
        receiver_ipv6: false,
    }
}

pub(super) fn filter(entries: &[&str]) -> Arc<Filter> {
    let e: Vec<Entry> = entries.iter().map(|s| s.parse().expect("entry")).collect();
    Arc::new(Filter::new(&e))
}

/// One output as the daemon runs it: its encoder, and its bit in a collector's
/// verdict table (none: unfiltered, it takes everything).
pub(super) struct Output {
    enc: Encoder,
    table: Option<(Arc<Verdicts>, u64)>,
    words: Vec<u64>,
}

impl Output {
    pub(super) fn new(version: Version, filters: &[&str]) -> Output {
        Output::with(cfg(version, filters), filters)
    }

    pub(super) fn with(c: EncoderConfig, filters: &[&str]) -> Output {
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
    pub(super) fn encode(&mut self, d: &[u8], b: &Batch, now: u64, out: &mut Out) -> EncodeStats {
        self.encode_from(router(), d, b, now, out)
    }

    /// [`Output::encode`] of a datagram received from `from`.
    pub(super) fn encode_from(
        &mut self,
        from: SocketAddr,
        d: &[u8],
        b: &Batch,
        now: u64,
        out: &mut Out,
    ) -> EncodeStats {
        let sel = match &self.table {
            Some((t, bit)) => {
                self.words.clear();
                self.words
                    .extend(b.records.iter().map(|r| t.flow(r.src_addr, r.dst_addr)));
                Select::Bit(&self.words, *bit)
            }
            None => Select::All,
        };
        self.enc.encode(from, d, b, sel, now, out)
    }

    pub(super) fn flush(&mut self, now: u64, out: &mut Out) -> EncodeStats {
        self.enc.flush(now, out)
    }

    pub(super) fn has_pending(&self) -> bool {
        self.enc.has_pending()
    }
}

pub(super) fn exporter() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

/// The address and port the router's datagrams come from.
pub(super) fn router() -> SocketAddr {
    SocketAddr::new(exporter(), 40001)
}

/// Decode `d` as a router's datagram, encode it for `enc`, decode what comes out.
pub(super) fn run(
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
pub(super) fn run_fresh(
    enc: &mut Output,
    d: &[u8],
) -> (EncodeStats, Vec<Vec<u8>>, Vec<FlowRecord>) {
    run(
        enc,
        &mut Decoder::new(Limits::default()),
        &mut Decoder::new(Limits::default()),
        d,
    )
}

pub(super) fn key(r: &FlowRecord) -> (IpAddr, IpAddr, u16, u64, u64) {
    (r.src_addr, r.dst_addr, r.src_port, r.packets, r.bytes)
}
