//! Enrichment: what the collector adds to every record before the verdicts,
//! so every output carries it (converted NetFlow/IPFIX, stores, streams,
//! databases). Built so far: AS numbers from a GeoIP ASN database
//! (`enrichment.geoip.asn`), chosen per flow with the exporter's own by
//! `enrichment.as_source` (pmacct's `nfacctd_as`: the first source with a
//! non-zero answer wins).
//!
//! Not built yet, and refused with a clear error when configured: BGP and BMP
//! sessions, GeoIP countries, network labels (`enrichment.bgp`, `bmp`,
//! `geoip.country`, `networks`, and `bgp` in `as_source`).
//!
//! [`config`] holds the keys; [`asn`] loads a database into a longest-prefix
//! table (once per file, shared by the collectors); [`Enricher`] applies it.

pub mod asn;
pub mod config;

use std::sync::Arc;

use octoflow_proto::FlowRecord;

pub use config::{AsSource, Enrichment};

/// An [`Enrichment`] with its tables loaded: what a collector thread applies.
pub struct Enricher {
    order: Vec<AsSource>,
    asn: Option<Arc<asn::AsnTable>>,
}

impl Enricher {
    /// Load what `e` names (the ASN database, from the cache when the file
    /// has not changed).
    pub fn load(e: &Enrichment) -> Result<Enricher, String> {
        let asn = match &e.geoip_asn {
            Some(p) => Some(asn::load_cached(p)?),
            None => None,
        };
        Ok(Enricher {
            order: e.as_source.clone(),
            asn,
        })
    }

    /// Set each record's source and destination AS from the first source
    /// in `as_source` that knows it.
    #[inline]
    pub fn apply(&self, records: &mut [FlowRecord]) {
        for r in records {
            r.src_as = self.pick(r.src_as, r.src_addr);
            r.dst_as = self.pick(r.dst_as, r.dst_addr);
        }
    }

    #[inline]
    fn pick(&self, device: u32, a: std::net::IpAddr) -> u32 {
        for s in &self.order {
            let v = match s {
                AsSource::Device => device,
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
            asn: Some(Arc::new(asn::AsnTable::from_items(&[
                ("1.128.0.0/11".parse().unwrap(), 1221),
                ("2001:1700::/27".parse().unwrap(), 6730),
            ]))),
        }
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
        enricher(&[AsSource::Device, AsSource::Geoip]).apply(&mut rs);
        assert_eq!((rs[0].src_as, rs[0].dst_as), (1221, 6730));
        assert_eq!(
            (rs[1].src_as, rs[1].dst_as),
            (64512, 0),
            "the device's own AS stays"
        );
        let mut rs = [flow("1.128.0.1", "192.0.2.1", 64512)];
        enricher(&[AsSource::Geoip, AsSource::Device]).apply(&mut rs);
        assert_eq!(rs[0].src_as, 1221, "geoip first");
        let mut rs = [flow("10.0.0.1", "192.0.2.1", 64512)];
        enricher(&[AsSource::Geoip]).apply(&mut rs);
        assert_eq!(rs[0].src_as, 0, "only geoip, which does not know it");
    }
}
