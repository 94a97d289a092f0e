//! `enrichment:`: what the collectors add to every record, validated with key
//! paths. The keys of the parts not built yet are refused by name, so a
//! configuration never seems to enrich when it does not.

use std::path::PathBuf;

use crate::yaml::check::Validator;
use crate::yaml::raw::{RawEnrichment, Scalar};

/// Where a flow's AS numbers may come from (`as_source`), first first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsSource {
    /// What the exporter sent (NetFlow/IPFIX src_as/dst_as).
    Device,
    /// The GeoIP ASN database (`geoip.asn`).
    Geoip,
}

/// The `enrichment` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrichment {
    pub geoip_asn: Option<PathBuf>,
    pub as_source: Vec<AsSource>,
}

impl Enrichment {
    /// As `octoflow check` prints it.
    pub fn describe(&self) -> String {
        let order: Vec<&str> = self
            .as_source
            .iter()
            .map(|s| match s {
                AsSource::Device => "device",
                AsSource::Geoip => "geoip",
            })
            .collect();
        match &self.geoip_asn {
            Some(p) => format!(
                "AS numbers from {} (GeoIP ASN), first non-zero of {}",
                p.display(),
                order.join(", ")
            ),
            None => format!("AS numbers: first non-zero of {}", order.join(", ")),
        }
    }
}

impl Validator {
    /// The `enrichment` section (`None` when it enriches nothing).
    pub fn enrichment(&mut self, e: RawEnrichment) -> Option<Enrichment> {
        let errors = self.errors.len();
        for (key, given, what) in [
            ("bgp", e.bgp.is_some(), "BGP sessions"),
            ("bmp", e.bmp.is_some(), "BMP"),
            ("networks", e.networks.is_some(), "network labels"),
            (
                "geoip.country",
                e.geoip.as_ref().is_some_and(|g| g.country.is_some()),
                "GeoIP countries",
            ),
        ] {
            if given {
                self.err(
                    format!("enrichment.{key}"),
                    format!("{what} are not in this version of octoflow (AS numbers from a GeoIP ASN database are: geoip.asn); remove the key"),
                );
            }
        }
        let geoip_asn = e.geoip.and_then(|g| g.asn).and_then(|s| {
            let p = self.path_of("enrichment.geoip.asn", Some(s))?;
            match self.env.readable(&p) {
                Ok(()) => Some(p),
                Err(why) => {
                    self.err(
                        "enrichment.geoip.asn",
                        format!("cannot read {}: {why}; give a MaxMind ASN database, e.g. /var/lib/GeoIP/GeoLite2-ASN.mmdb", p.display()),
                    );
                    None
                }
            }
        });
        let mut as_source = Vec::new();
        match e.as_source {
            None => {
                as_source.push(AsSource::Device);
                if geoip_asn.is_some() {
                    as_source.push(AsSource::Geoip);
                }
            }
            Some(list) => {
                for (i, Scalar(s)) in list.iter().enumerate() {
                    let path = format!("enrichment.as_source[{i}]");
                    let src = match s.trim() {
                        "device" => AsSource::Device,
                        "geoip" => AsSource::Geoip,
                        "bgp" => {
                            self.err(&path, "\"bgp\": BGP sessions are not in this version of octoflow; use device and geoip");
                            continue;
                        }
                        other => {
                            self.err(
                                &path,
                                format!("{other:?} is not an AS source (device, geoip)"),
                            );
                            continue;
                        }
                    };
                    if as_source.contains(&src) {
                        self.err(&path, format!("{s:?} is listed twice"));
                    } else if src == AsSource::Geoip
                        && geoip_asn.is_none()
                        && self.errors.len() == errors
                    {
                        self.err(
                            &path,
                            "\"geoip\" needs enrichment.geoip.asn (the ASN database)",
                        );
                    } else {
                        as_source.push(src);
                    }
                }
                if list.is_empty() {
                    self.err(
                        "enrichment.as_source",
                        "is empty; give e.g. [device, geoip]",
                    );
                }
            }
        }
        if self.errors.len() > errors {
            return None;
        }
        // Only the exporter's own numbers: nothing to add.
        (as_source != [AsSource::Device]).then_some(Enrichment {
            geoip_asn,
            as_source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const DB: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/mmdb/GeoLite2-ASN-Test.mmdb"
    );

    fn parse(section: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!(
            "enrichment: {section}\n\
             collectors: [{{id: c, listen_port: 2055, nf_version: 10, mux_to: [o]}}]\n\
             exporters: [{{id: o, collector_host: 127.0.0.1, collector_port: 9995, collector_version: 9}}]\n"
        ))
    }

    #[test]
    fn an_asn_database_and_the_order_of_sources() {
        let c = parse(&format!("{{geoip: {{asn: '{DB}'}}}}")).expect("loads");
        let e = c.collectors[0].enrichment.as_deref().expect("enriched");
        assert_eq!(e.as_source, [AsSource::Device, AsSource::Geoip]);
        let c = parse(&format!(
            "{{geoip: {{asn: '{DB}'}}, as_source: [geoip, device]}}"
        ))
        .expect("loads");
        let e = c.collectors[0].enrichment.as_deref().expect("enriched");
        assert_eq!(e.as_source, [AsSource::Geoip, AsSource::Device]);
        let c = parse("{as_source: [device]}").expect("loads");
        assert!(c.collectors[0].enrichment.is_none(), "nothing to add");
    }

    #[test]
    fn what_is_not_built_is_refused_by_name_and_bad_values_with_their_paths() {
        let e = parse(
            "{bgp: {listen: '0.0.0.0:179'}, networks: /etc/n.yaml, geoip: {country: /x.mmdb}}",
        )
        .expect_err("refused");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("enrichment.bgp: BGP sessions are not in this version"),
            "{e:?}"
        );
        assert!(
            e[2].starts_with("enrichment.geoip.country: GeoIP countries are not"),
            "{e:?}"
        );
        let e = parse("{geoip: {asn: /nonexistent/GeoLite2-ASN.mmdb}}").expect_err("refused");
        assert!(
            e[0].starts_with("enrichment.geoip.asn: cannot read /nonexistent/GeoLite2-ASN.mmdb"),
            "{e:?}"
        );
        let e = parse(&format!(
            "{{geoip: {{asn: '{DB}'}}, as_source: [device, bgp, peer, device]}}"
        ))
        .expect_err("refused");
        assert_eq!(
            e,
            [
                "enrichment.as_source[1]: \"bgp\": BGP sessions are not in this version of octoflow; use device and geoip",
                "enrichment.as_source[2]: \"peer\" is not an AS source (device, geoip)",
                "enrichment.as_source[3]: \"device\" is listed twice",
            ]
        );
        let e = parse("{as_source: [geoip]}").expect_err("refused");
        assert_eq!(
            e,
            ["enrichment.as_source[0]: \"geoip\" needs enrichment.geoip.asn (the ASN database)"]
        );
    }
}
