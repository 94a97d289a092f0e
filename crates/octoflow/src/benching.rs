//! The benchmarks' way in (`benches/enrich.rs`): the collector's enrichment
//! on its own, against a synthetic full table. Not an API: hidden from the
//! docs, and nothing here is for the daemon itself.

use std::net::IpAddr;
use std::sync::Arc;

use octoflow_bgp::synth::{self, Numbers};
use octoflow_proto::{FlowRecord, RouteAttrs};

use crate::enrich::config::{AsSource, BgpConfig, BgpPeer, Enrichment};
use crate::enrich::routing::ribs;
use crate::enrich::Enricher;

/// One datagram's records from one device, enriched again and again.
pub struct EnrichRun {
    enricher: Enricher,
    device: IpAddr,
    fresh: Vec<FlowRecord>,
    records: Vec<FlowRecord>,
    routes: Vec<Option<Arc<RouteAttrs>>>,
    nets: Vec<[u32; 2]>,
}

impl EnrichRun {
    /// A BGP peer's RIB holding `n4` IPv4 and `n6` IPv6 routes (every
    /// route's attributes distinct), and `flows` records whose sources and
    /// destinations fall in routes of the table (a tenth IPv6). With
    /// `device_sends_as`, the records carry the exporter's own source AS and
    /// masks (as routers with BGP do), so only destinations are looked up.
    pub fn new(n4: u32, n6: u32, flows: usize, device_sends_as: bool) -> EnrichRun {
        let device: IpAddr = "192.0.2.10".parse().expect("literal");
        ribs().set_bgp_peers(&[(device, vec![device])]);
        let peer = ribs().bgp_peer(device).expect("just configured");
        synth::load(&mut peer.write(), n4, n6, true);
        let mut n = Numbers(7);
        let mut pick = |v6: bool| {
            let i = n.next_u64() as u32;
            let p = if v6 {
                synth::v6_prefix(i % n6.max(1))
            } else {
                synth::v4_prefix(i % n4.max(1))
            };
            // An address inside the prefix: its network plus a low bit.
            match p.addr {
                IpAddr::V4(a) => IpAddr::V4((u32::from(a) | 1).into()),
                IpAddr::V6(a) => IpAddr::V6((u128::from(a) | 1).into()),
            }
        };
        let fresh: Vec<FlowRecord> = (0..flows)
            .map(|i| {
                let v6 = i % 10 == 9;
                FlowRecord {
                    src_addr: pick(v6),
                    dst_addr: pick(v6),
                    exporter: device,
                    ..FlowRecord::example()
                }
            })
            .map(|mut r| {
                if !device_sends_as {
                    (r.src_as, r.src_mask) = (0, 0);
                }
                (r.dst_as, r.dst_mask) = (0, 0);
                r.bgp_next_hop = FlowRecord::default().bgp_next_hop;
                r
            })
            .collect();
        let e = Enrichment {
            geoip_asn: None,
            geoip_country: None,
            as_source: vec![AsSource::Device, AsSource::Bgp],
            bgp: Some(BgpConfig {
                listen: "127.0.0.1:0".parse().expect("literal"),
                asn: 65000,
                router_id: "192.0.2.1".parse().expect("literal"),
                hold_time: 90,
                peers: vec![BgpPeer {
                    address: device,
                    asn: 65001,
                    devices: vec![device],
                }],
            }),
            bmp: None,
            networks: None,
        };
        EnrichRun {
            enricher: Enricher::load(&e).expect("nothing to load"),
            device,
            records: fresh.clone(),
            fresh,
            routes: Vec::new(),
            nets: Vec::new(),
        }
    }

    /// Enrich the records once (from their state before enrichment, as a
    /// collector gets them); returns how many got a destination route.
    pub fn run(&mut self) -> usize {
        self.records.copy_from_slice(&self.fresh);
        self.enricher.apply(
            self.device,
            &mut self.records,
            &mut self.routes,
            &mut self.nets,
        );
        self.routes.iter().filter(|r| r.is_some()).count()
    }

    pub fn flows(&self) -> usize {
        self.fresh.len()
    }
}
