//! Any bytes as a router's datagrams (split on 0xF5, from three routers), decoded
//! and encoded for outputs of every version — unfiltered and two tenants, several
//! configurations — through the collector's verdict table, as the daemon does.
//! Then, for every output datagram:
//! - it decodes (a receiver can read everything octoflow sends);
//! - its sequence number continues its stream's (v9: packets, IPFIX: data records,
//!   v5: flows, sFlow: datagrams), except whole datagrams (the router's numbers);
//! - each of its flows belongs to the output's tenant (verdict bit set).
#![no_main]
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use octoflow_encode::{Encoder, EncoderConfig, Out, Path, Select};
use octoflow_prefix::{Entry, Filter, Verdicts};
use octoflow_proto::{Batch, Decoder, Limits, Version};

const NOW: u64 = 1_700_000_000_000;
const TENANTS: [&[&str]; 2] = [&["10.0.0.0/8", "!10.0.1.254"], &["::/0", "192.0.2.0/24"]];
/// The routers the datagrams come from, in turn.
const ROUTERS: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
];
/// Where the outputs' datagrams come from, for their receivers' decoders.
const US: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

/// The tenants' filters and the collector's verdict table over them: the same for
/// every input, so built once.
static FILTERS: LazyLock<Vec<Arc<Filter>>> = LazyLock::new(|| {
    TENANTS
        .iter()
        .map(|t| {
            let e: Vec<Entry> = t.iter().map(|s| s.parse().unwrap()).collect();
            Arc::new(Filter::new(&e))
        })
        .collect()
});
static TABLE: LazyLock<Verdicts> = LazyLock::new(|| Verdicts::new(FILTERS.clone()).unwrap());

struct Output {
    enc: Encoder,
    cfg: EncoderConfig,
    /// The tenant (its bit is 1 << tenant), or none: unfiltered.
    tenant: Option<usize>,
    rx: Decoder,
    /// Next sequence number per (version, domain) of this output's streams.
    next: HashMap<(u16, u32, Option<IpAddr>), u32>,
}

fn config(version: Version, unfiltered: bool, flags: u8) -> EncoderConfig {
    EncoderConfig {
        version,
        unfiltered,
        max_datagram: if flags & 1 != 0 { 512 } else { 1472 },
        refresh_ms: 20_000,
        refresh_packets: if flags & 2 != 0 { 2 } else { 100 },
        sampling_scaling: flags & 4 != 0,
        forward_counters: flags & 8 != 0,
        forward_options: flags & 16 != 0,
        withdrawals: flags & 32 != 0,
        // The checker decodes every output datagram as from one address: the
        // domain remapping preserve_source turns off is what keeps that sound.
        preserve_source: false,
        receiver_ipv6: false,
    }
}

/// Check one output datagram `o` (`whole`: it may be a whole input datagram),
/// decoding it into `b`.
fn check(out: &mut Output, b: &mut Batch, o: &[u8], whole: bool) {
    if let Err(e) = out.rx.decode(US, o, NOW, b) {
        panic!("output datagram does not decode: {e:?} {o:02x?}");
    }
    if let Some(t) = out.tenant {
        for r in &b.records {
            assert!(
                FILTERS[t].flow(r.src_addr, r.dst_addr),
                "tenant {t} got {} -> {}",
                r.src_addr,
                r.dst_addr
            );
        }
    }
    // The header's sequence number and how many units this datagram counts.
    let be32 = |at: usize| u32::from_be_bytes(o[at..at + 4].try_into().unwrap());
    let (key, seq, units) = match b.version {
        Version::V5 => ((5, b.domain, None), be32(16), b.records.len() as u32),
        Version::V9 => ((9, b.domain, None), be32(12), 1),
        Version::Ipfix => (
            (10, b.domain, None),
            be32(8),
            (b.records.len() + b.options.len()) as u32,
        ),
        Version::Sflow => {
            let h = b.sflow.as_ref().expect("sFlow header");
            ((0x105, h.sub_agent, Some(h.agent)), h.sequence, 1)
        }
    };
    match out.next.get(&key) {
        // A datagram equal to its input under the whole path may be the router's
        // (its numbers), or a record path's copy that came out byte for byte the
        // same (a stream whose domain was remapped falls back): ours only if it
        // continues the stream.
        Some(&want) if whole && seq != want => return,
        None if whole => return,
        Some(&want) => assert_eq!(seq, want, "sequence of stream {key:?}"),
        None => {}
    }
    out.next.insert(key, seq.wrapping_add(units));
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let table = &*TABLE;
    let mut outputs = Vec::new();
    for v in [Version::V5, Version::V9, Version::Ipfix, Version::Sflow] {
        for tenant in [None, Some(0), Some(1)] {
            let cfg = config(v, tenant.is_none(), flags);
            outputs.push(Output {
                enc: Encoder::new(cfg.clone(), NOW),
                cfg,
                tenant,
                rx: Decoder::new(Limits::default()),
                next: HashMap::new(),
            });
        }
    }
    let mut dec = Decoder::new(Limits::default());
    let mut b = Batch::default();
    let mut rb = Batch::default();
    let mut words = Vec::new();
    let mut out = Out::default();
    let mut now = NOW;
    for (i, d) in data.split(|&x| x == 0xF5).enumerate() {
        now += 1000;
        let router = ROUTERS[i % 3];
        if dec.decode(router, d, now, &mut b).is_err() {
            continue;
        }
        words.clear();
        words.extend(b.records.iter().map(|r| table.flow(r.src_addr, r.dst_addr)));
        for o in outputs.iter_mut() {
            let sel = match o.tenant {
                Some(t) => Select::Bit(&words, 1 << t),
                None => Select::All,
            };
            out.clear();
            o.enc.encode(std::net::SocketAddr::new(router, 2055), d, &b, sel, now, &mut out);
            if i % 4 == 3 {
                o.enc.flush(now, &mut out);
            }
            // Whole datagrams keep the router's sequence numbers. (A record path's
            // datagram may equal its input byte for byte: not a whole one.)
            let whole = Path::of(b.version, &o.cfg) == Path::Whole;
            for x in out.iter() {
                check(o, &mut rb, x, whole && d.starts_with(x));
            }
        }
    }
    for o in outputs.iter_mut() {
        out.clear();
        o.enc.flush(now + 3_600_000, &mut out);
        for x in out.iter() {
            check(o, &mut rb, x, false);
        }
    }
});
