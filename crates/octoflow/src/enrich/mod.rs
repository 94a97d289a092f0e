//! Enrichment: what the collector adds to every record before the verdicts,
//! so every output carries it (converted NetFlow/IPFIX, stores, streams,
//! databases):
//!
//! - AS numbers chosen per flow by `enrichment.as_source` (pmacct's
//!   `nfacctd_as`: the first source with a non-zero answer wins) among the
//!   exporter's own, the origin AS of the BGP/BMP route toward the address,
//!   and a GeoIP ASN database;
//! - from the route toward the destination: the BGP next hop, and the AS
//!   path and communities (the route's `Arc`, beside the record in
//!   `Decoded::routes`); the prefix lengths when the exporter sent none;
//! - countries from a GeoIP country database;
//! - network labels (name, role, site, tenant) of the source's and the
//!   destination's most specific prefix in `enrichment.networks`, as indexes
//!   beside the record (`Decoded::nets`) into the table it carries.
//!
//! [`config`] holds the keys; [`geoip`] loads databases into longest-prefix
//! tables (once per file, shared by the collectors); [`routing`] holds the
//! RIBs the BGP and BMP sessions fill; [`Enricher`] applies it all.

pub mod config;
pub mod geoip;
pub mod networks;
pub mod routing;

use std::net::IpAddr;
use std::sync::{Arc, RwLockReadGuard};

use octoflow_bgp::Rib;
use octoflow_prefix::Prefix;
use octoflow_proto::{FlowRecord, RouteAttrs};

pub use config::{AsSource, Enrichment};
use routing::PeerRib;

/// An [`Enrichment`] with its tables loaded: what a collector thread applies.
pub struct Enricher {
    order: Vec<AsSource>,
    asn: Option<Arc<geoip::AsnTable>>,
    country: Option<Arc<geoip::CountryTable>>,
    networks: Option<Arc<networks::Networks>>,
    routes: bool,
    /// The RIBs of each device seen, valid while the registry's generation
    /// is `generation`.
    by_device: Vec<(IpAddr, Vec<Arc<PeerRib>>)>,
    generation: u64,
}

/// What a RIB lookup found for one address.
type Found<'a> = Option<(Prefix, &'a Arc<RouteAttrs>)>;

impl Enricher {
    /// Load what `e` names (the GeoIP databases, from the cache when the
    /// files have not changed).
    pub fn load(e: &Enrichment) -> Result<Enricher, String> {
        let asn = match &e.geoip_asn {
            Some(p) => Some(geoip::asn_cached(p)?),
            None => None,
        };
        let country = match &e.geoip_country {
            Some(p) => Some(geoip::country_cached(p)?),
            None => None,
        };
        let networks = match &e.networks {
            Some(p) => {
                let n = networks::load(p)?;
                tracing::info!(file = %p.display(), prefixes = n.len(), "network labels loaded");
                Some(Arc::new(n))
            }
            None => None,
        };
        Ok(Enricher {
            order: e.as_source.clone(),
            asn,
            country,
            networks,
            routes: e.routes(),
            by_device: Vec::new(),
            generation: u64::MAX,
        })
    }

    /// Where `device`'s RIBs are in `by_device` (found once per device).
    fn ribs_of(&mut self, device: IpAddr) -> usize {
        let reg = routing::ribs();
        let g = reg.generation();
        if g != self.generation {
            self.by_device.clear();
            self.generation = g;
        }
        match self.by_device.iter().position(|(d, _)| *d == device) {
            Some(i) => i,
            None => {
                // Bounded: a collector hears from a bounded set of devices,
                // and the list is rebuilt whenever sessions change.
                if self.by_device.len() >= 4096 {
                    self.by_device.clear();
                }
                self.by_device.push((device, reg.for_device(device)));
                self.by_device.len() - 1
            }
        }
    }

    /// The network labels' table, which records' [`Enricher::apply`] `nets`
    /// index into.
    pub fn networks(&self) -> Option<&Arc<networks::Networks>> {
        self.networks.as_ref()
    }

    /// Enrich the records of one datagram from `device`; `routes` gets each
    /// record's destination route (left empty without BGP/BMP), `nets` its
    /// source's and destination's labels as indexes into
    /// [`Enricher::networks`] (left empty without `networks`).
    #[inline]
    pub fn apply(
        &mut self,
        device: IpAddr,
        records: &mut [FlowRecord],
        routes: &mut Vec<Option<Arc<RouteAttrs>>>,
        nets: &mut Vec<[u32; 2]>,
    ) {
        nets.clear();
        if let Some(n) = &self.networks {
            nets.extend(
                records
                    .iter()
                    .map(|r| [n.index(r.src_addr), n.index(r.dst_addr)]),
            );
        }
        routes.clear();
        if !self.routes {
            self.apply_with(&[], records, routes);
            return;
        }
        // The list is lent out while `self` enriches (no copy per datagram).
        let i = self.ribs_of(device);
        let ribs = std::mem::take(&mut self.by_device[i].1);
        match ribs.len() {
            0 => self.apply_with(&[], records, routes),
            1 => self.apply_with(&[ribs[0].read()], records, routes),
            _ => {
                let guards: Vec<RwLockReadGuard<'_, Rib>> = ribs.iter().map(|r| r.read()).collect();
                self.apply_with(&guards, records, routes)
            }
        }
        self.by_device[i].1 = ribs;
    }

    #[inline]
    fn apply_with(
        &self,
        ribs: &[RwLockReadGuard<'_, Rib>],
        records: &mut [FlowRecord],
        routes: &mut Vec<Option<Arc<RouteAttrs>>>,
    ) {
        for r in records {
            // The destination's route is always wanted (its path, communities
            // and next hop); the source's only when it decides something.
            let (src, dst) = if ribs.is_empty() {
                (None, None)
            } else {
                let src = (r.src_mask == 0 || self.bgp_decides(r.src_as))
                    .then(|| routing::best(ribs, r.src_addr))
                    .flatten();
                (src, routing::best(ribs, r.dst_addr))
            };
            r.src_as = self.pick(r.src_as, r.src_addr, &src);
            r.dst_as = self.pick(r.dst_as, r.dst_addr, &dst);
            if let Some((p, a)) = &dst {
                if r.bgp_next_hop.is_unspecified() {
                    r.bgp_next_hop = a.next_hop;
                }
                if r.dst_mask == 0 {
                    r.dst_mask = p.len;
                }
            }
            if let Some((p, _)) = &src {
                if r.src_mask == 0 {
                    r.src_mask = p.len;
                }
            }
            if let Some(t) = &self.country {
                r.src_country = t.get(r.src_addr).unwrap_or_default();
                r.dst_country = t.get(r.dst_addr).unwrap_or_default();
            }
            if self.routes {
                routes.push(dst.map(|(_, a)| a.clone()));
            }
        }
    }

    /// Whether the BGP source may give the AS of an address whose exporter
    /// said `device` (it does unless a source before it already answers).
    #[inline]
    fn bgp_decides(&self, device: u32) -> bool {
        for s in &self.order {
            match s {
                AsSource::Device if device != 0 => return false,
                AsSource::Bgp => return true,
                _ => {}
            }
        }
        false
    }

    #[inline]
    fn pick(&self, device: u32, a: IpAddr, route: &Found<'_>) -> u32 {
        for s in &self.order {
            let v = match s {
                AsSource::Device => device,
                AsSource::Bgp => route.as_ref().map_or(0, |(_, r)| r.origin_as()),
                AsSource::Geoip => self.asn.as_ref().and_then(|t| t.get(a)).unwrap_or(0),
            };
            if v != 0 {
                return v;
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enricher(order: &[AsSource]) -> Enricher {
        Enricher {
            order: order.to_vec(),
            asn: Some(Arc::new(geoip::AsnTable::from_items(&[
                ("1.128.0.0/11".parse().unwrap(), 1221),
                ("2001:1700::/27".parse().unwrap(), 6730),
            ]))),
            country: None,
            networks: None,
            routes: false,
            by_device: Vec::new(),
            generation: u64::MAX,
        }
    }

    fn apply(e: &mut Enricher, rs: &mut [FlowRecord]) {
        let mut routes = Vec::new();
        e.apply(
            IpAddr::from([192, 0, 2, 99]),
            rs,
            &mut routes,
            &mut Vec::new(),
        );
        assert!(routes.is_empty(), "no routes without BGP/BMP");
    }

    #[test]
    fn the_first_source_that_knows_wins_per_side() {
        let flow = |src: &str, dst: &str, src_as: u32| FlowRecord {
            src_addr: src.parse().unwrap(),
            dst_addr: dst.parse().unwrap(),
            src_as,
            ..FlowRecord::default()
        };
        let mut rs = [
            flow("1.128.0.1", "2001:1700::9", 0),
            flow("1.128.0.1", "192.0.2.1", 64512),
        ];
        apply(&mut enricher(&[AsSource::Device, AsSource::Geoip]), &mut rs);
        assert_eq!((rs[0].src_as, rs[0].dst_as), (1221, 6730));
        assert_eq!(
            (rs[1].src_as, rs[1].dst_as),
            (64512, 0),
            "the device's own AS stays"
        );
        let mut rs = [flow("1.128.0.1", "192.0.2.1", 64512)];
        apply(&mut enricher(&[AsSource::Geoip, AsSource::Device]), &mut rs);
        assert_eq!(rs[0].src_as, 1221, "geoip first");
        let mut rs = [flow("10.0.0.1", "192.0.2.1", 64512)];
        apply(&mut enricher(&[AsSource::Geoip]), &mut rs);
        assert_eq!(rs[0].src_as, 0, "only geoip, which does not know it");
    }
}

#[cfg(test)]
mod route_tests {
    use super::*;
    use octoflow_bgp::bmp::PeerKey;

    /// Flows from a BMP router use the RIBs of the peers it monitors; when
    /// the router goes, so do its routes.
    #[test]
    fn a_bmp_routers_rib_enriches_its_flows_until_it_goes() {
        let router: IpAddr = "127.0.0.77".parse().unwrap();
        let mut e = Enricher {
            order: vec![AsSource::Device, AsSource::Bgp],
            asn: None,
            country: None,
            networks: None,
            routes: true,
            by_device: Vec::new(),
            generation: u64::MAX,
        };
        let flow = || FlowRecord {
            src_addr: "10.9.1.1".parse().unwrap(),
            dst_addr: "198.18.0.9".parse().unwrap(),
            ..FlowRecord::default()
        };
        let mut routes = Vec::new();
        let mut rs = [flow()];
        e.apply(router, &mut rs, &mut routes, &mut Vec::new());
        assert_eq!((rs[0].dst_as, routes.len()), (0, 1), "no RIB yet");
        let key = PeerKey {
            peer_type: 3,
            distinguisher: 0,
            addr: "0.0.0.0".parse().unwrap(),
            post_policy: false,
            adj_rib_out: false,
        };
        let rib = routing::ribs().bmp_peer(router, key);
        rib.write().announce(
            "198.18.0.0/24".parse().unwrap(),
            RouteAttrs::from(octoflow_proto::RouteParts {
                as_path: &[64496],
                next_hop: "192.0.2.3".parse().unwrap(),
                ..Default::default()
            }),
        );
        let mut rs = [flow()];
        e.apply(router, &mut rs, &mut routes, &mut Vec::new());
        assert_eq!(rs[0].dst_as, 64496);
        assert_eq!(rs[0].bgp_next_hop, "192.0.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(rs[0].dst_mask, 24);
        assert_eq!(routes[0].as_deref().map(|a| a.origin_as()), Some(64496));
        routing::ribs().drop_bmp_router(router);
        let mut rs = [flow()];
        e.apply(router, &mut rs, &mut routes, &mut Vec::new());
        assert_eq!((rs[0].dst_as, routes[0].is_none()), (0, true));
    }
}
