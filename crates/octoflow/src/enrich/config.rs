//! `enrichment:`: what the collectors add to every record, validated with key
//! paths: BGP sessions (`bgp`), a BMP station (`bmp`), GeoIP ASN and country
//! databases (`geoip`), network labels (`networks`, the file read and checked
//! here, so a bad one is refused with its place), and which AS source wins
//! (`as_source`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::yaml::check::Validator;
use crate::yaml::raw::{RawBgp, RawBmp, RawEnrichment, Scalar};

/// Where a flow's AS numbers may come from (`as_source`), first first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsSource {
    /// What the exporter sent (NetFlow/IPFIX src_as/dst_as).
    Device,
    /// The origin AS of the route toward the address, from the device's BGP
    /// peer or its BMP-monitored peers.
    Bgp,
    /// The GeoIP ASN database (`geoip.asn`).
    Geoip,
}

impl AsSource {
    pub fn name(self) -> &'static str {
        match self {
            AsSource::Device => "device",
            AsSource::Bgp => "bgp",
            AsSource::Geoip => "geoip",
        }
    }
}

/// `enrichment.bgp`: a passive BGP speaker, one RIB per peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    pub listen: SocketAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Proposed hold time, seconds (0: no keepalives, or 3 to 65535).
    pub hold_time: u16,
    pub peers: Vec<BgpPeer>,
}

/// One configured BGP neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeer {
    pub address: IpAddr,
    pub asn: u32,
    /// The exporting devices whose flows are looked up in this peer's RIB
    /// (by default the peer's own address).
    pub devices: Vec<IpAddr>,
}

/// `enrichment.bmp`: a BMP station (RFC 7854) routers connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmpConfig {
    pub listen: SocketAddr,
    /// The routers (addresses or prefixes) whose connections are served;
    /// empty: any (a BMP feed decides flows' routes: bind `listen` to a
    /// management address, or list the routers).
    pub routers: Vec<octoflow_prefix::Prefix>,
}

impl BmpConfig {
    /// Whether a connection from `a` is served.
    pub fn admits(&self, a: IpAddr) -> bool {
        self.routers.is_empty() || self.routers.iter().any(|p| p.contains(a))
    }
}

/// The `enrichment` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrichment {
    pub geoip_asn: Option<PathBuf>,
    pub geoip_country: Option<PathBuf>,
    pub as_source: Vec<AsSource>,
    pub bgp: Option<BgpConfig>,
    pub bmp: Option<BmpConfig>,
    /// `networks`: the labels file.
    pub networks: Option<PathBuf>,
}

impl Enrichment {
    /// Whether records carry routes (BGP or BMP configured).
    pub fn routes(&self) -> bool {
        self.bgp.is_some() || self.bmp.is_some()
    }

    /// As `octoflow check` prints it.
    pub fn describe(&self) -> String {
        let order: Vec<&str> = self.as_source.iter().map(|s| s.name()).collect();
        let mut parts = vec![format!(
            "AS numbers: first non-zero of {}",
            order.join(", ")
        )];
        if let Some(p) = &self.geoip_asn {
            parts.push(format!("GeoIP ASN {}", p.display()));
        }
        if let Some(p) = &self.geoip_country {
            parts.push(format!("countries from {}", p.display()));
        }
        if let Some(b) = &self.bgp {
            let peers: Vec<String> = b
                .peers
                .iter()
                .map(|p| format!("{} AS{}", p.address, p.asn))
                .collect();
            parts.push(format!(
                "BGP on {} as AS{} with {}",
                b.listen,
                b.asn,
                peers.join(", ")
            ));
        }
        if let Some(b) = &self.bmp {
            let from = if b.routers.is_empty() {
                "any router".to_string()
            } else {
                b.routers
                    .iter()
                    .map(|p| format!("{}/{}", p.addr, p.len))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            parts.push(format!("BMP station on {} for {from}", b.listen));
        }
        if let Some(p) = &self.networks {
            parts.push(format!("network labels from {}", p.display()));
        }
        parts.join("; ")
    }
}

impl Validator {
    fn socket(
        &mut self,
        path: &str,
        s: Option<Scalar>,
        default: Option<&str>,
    ) -> Option<SocketAddr> {
        let text = match (s, default) {
            (Some(s), _) => s.0,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                self.err(
                    path,
                    "missing: give an address and port, e.g. 0.0.0.0:10179",
                );
                return None;
            }
        };
        match text.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    path,
                    format!("{text:?} is not an address and port like 0.0.0.0:179 or [::]:179"),
                );
                None
            }
        }
    }

    fn asn(&mut self, path: &str, s: Option<Scalar>) -> Option<u32> {
        let Some(s) = s else {
            self.err(path, "missing: give the AS number, e.g. 65000");
            return None;
        };
        let t = s.0.trim().trim_start_matches("AS").trim_start_matches("as");
        match t.parse::<u32>() {
            Ok(a) if a != 0 => Some(a),
            _ => {
                self.err(
                    path,
                    format!("{:?} is not an AS number (1 to 4294967295)", s.0),
                );
                None
            }
        }
    }

    fn bgp(&mut self, b: RawBgp) -> Option<BgpConfig> {
        let errors = self.errors.len();
        let listen = self.socket("enrichment.bgp.listen", b.listen, Some("0.0.0.0:179"));
        let asn = self.asn("enrichment.bgp.asn", b.asn);
        let router_id = match b.router_id.map(|s| s.0) {
            None => {
                self.err(
                    "enrichment.bgp.router_id",
                    "missing: give an IPv4 address, e.g. 192.0.2.1 (the BGP identifier)",
                );
                None
            }
            Some(t) => {
                match t.trim().parse::<Ipv4Addr>() {
                    Ok(a) if !a.is_unspecified() => Some(a),
                    _ => {
                        self.err("enrichment.bgp.router_id", format!("{t:?} is not a non-zero IPv4 address (RFC 4271 §4.2's BGP identifier)"));
                        None
                    }
                }
            }
        };
        let hold_time = match b.hold_time.map(|s| s.0) {
            None => 90,
            Some(t) => {
                match t.trim().parse::<u16>() {
                    Ok(h) if h == 0 || h >= 3 => h,
                    _ => {
                        self.err("enrichment.bgp.hold_time", format!("{t:?}: give 0 (no keepalives) or 3 to 65535 seconds (RFC 4271 §4.2)"));
                        0
                    }
                }
            }
        };
        let raw_peers = b.peers.unwrap_or_default();
        if raw_peers.is_empty() {
            self.err(
                "enrichment.bgp.peers",
                "missing or empty: give each neighbour, e.g. [{address: 192.0.2.10, asn: 65000}]",
            );
        }
        let mut peers: Vec<BgpPeer> = Vec::new();
        for (i, p) in raw_peers.into_iter().enumerate() {
            let at = format!("enrichment.bgp.peers[{i}]");
            let address = self.ip(&format!("{at}.address"), p.address).map(unmap);
            let asn = self.asn(&format!("{at}.asn"), p.asn);
            let mut devices = Vec::new();
            for (j, d) in p.devices.unwrap_or_default().into_iter().enumerate() {
                if let Some(a) = self.ip(&format!("{at}.devices[{j}]"), Some(d)) {
                    devices.push(unmap(a));
                }
            }
            let (Some(address), Some(asn)) = (address, asn) else {
                continue;
            };
            if devices.is_empty() {
                devices.push(address);
            }
            if peers.iter().any(|q| q.address == address) {
                self.err(
                    format!("{at}.address"),
                    format!("{address} is listed twice"),
                );
                continue;
            }
            for d in &devices {
                if let Some(q) = peers.iter().find(|q| q.devices.contains(d)) {
                    self.err(
                        format!("{at}.devices"),
                        format!(
                            "device {d} already uses peer {}'s RIB: a device's flows use one peer",
                            q.address
                        ),
                    );
                }
            }
            peers.push(BgpPeer {
                address,
                asn,
                devices,
            });
        }
        if self.errors.len() > errors {
            return None;
        }
        Some(BgpConfig {
            listen: listen?,
            asn: asn?,
            router_id: router_id?,
            hold_time,
            peers,
        })
    }

    fn bmp(&mut self, b: RawBmp) -> Option<BmpConfig> {
        let mut routers = Vec::new();
        for (i, Scalar(s)) in b.routers.unwrap_or_default().into_iter().enumerate() {
            match s.trim().parse::<octoflow_prefix::Prefix>() {
                Ok(p) => routers.push(p.network()),
                Err(e) => self.err(
                    format!("enrichment.bmp.routers[{i}]"),
                    format!("{e}; give a router's address or a prefix"),
                ),
            }
        }
        Some(BmpConfig {
            listen: self.socket("enrichment.bmp.listen", b.listen, None)?,
            routers,
        })
    }

    fn database(&mut self, key: &str, s: Option<String>, example: &str) -> Option<PathBuf> {
        let p = self.path_of(key, s)?;
        match self.env.readable(&p) {
            Ok(()) => Some(p),
            Err(why) => {
                self.err(
                    key,
                    format!(
                        "cannot read {}: {why}; give a MaxMind database, e.g. {example}",
                        p.display()
                    ),
                );
                None
            }
        }
    }

    /// The `enrichment` section (`None` when it enriches nothing).
    pub fn enrichment(&mut self, e: RawEnrichment) -> Option<Enrichment> {
        let errors = self.errors.len();
        let networks = e.networks.and_then(|s| {
            let p = self.path_of("enrichment.networks", Some(s))?;
            if let Err(why) = self.env.readable(&p) {
                self.err(
                    "enrichment.networks",
                    format!(
                        "cannot read {}: {why}; give a YAML file of prefixes and their labels",
                        p.display()
                    ),
                );
                return None;
            }
            // Read now, so a bad file is refused by `check` and `reload` with
            // what is wrong where (offline validation has no files).
            if let Ok(text) = std::fs::read_to_string(&p) {
                if let Err(e) = super::networks::parse(&text, &p.display().to_string()) {
                    self.errors.push(e);
                    return None;
                }
            }
            Some(p)
        });
        let bgp = e.bgp.and_then(|b| self.bgp(b));
        let bmp = e.bmp.and_then(|b| self.bmp(b));
        if let (Some(b), Some(m)) = (&bgp, &bmp) {
            if b.listen == m.listen {
                self.err(
                    "enrichment.bmp.listen",
                    format!("{} is enrichment.bgp.listen too", m.listen),
                );
            }
        }
        let (asn, country) = match e.geoip {
            Some(g) => (g.asn, g.country),
            None => (None, None),
        };
        let geoip_asn = self.database(
            "enrichment.geoip.asn",
            asn,
            "/var/lib/GeoIP/GeoLite2-ASN.mmdb",
        );
        let geoip_country = self.database(
            "enrichment.geoip.country",
            country,
            "/var/lib/GeoIP/GeoLite2-Country.mmdb",
        );
        let routing = bgp.is_some() || bmp.is_some();
        let mut as_source = Vec::new();
        match e.as_source {
            None => {
                as_source.push(AsSource::Device);
                if routing {
                    as_source.push(AsSource::Bgp);
                }
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
                        "bgp" => AsSource::Bgp,
                        other => {
                            self.err(
                                &path,
                                format!("{other:?} is not an AS source (device, bgp, geoip)"),
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
                    } else if src == AsSource::Bgp && !routing && self.errors.len() == errors {
                        self.err(&path, "\"bgp\" needs enrichment.bgp or enrichment.bmp (where routes come from)");
                    } else {
                        as_source.push(src);
                    }
                }
                if list.is_empty() {
                    self.err(
                        "enrichment.as_source",
                        "is empty; give e.g. [device, bgp, geoip]",
                    );
                }
            }
        }
        if self.errors.len() > errors {
            return None;
        }
        let e = Enrichment {
            geoip_asn,
            geoip_country,
            as_source,
            bgp,
            bmp,
            networks,
        };
        // Only the exporter's own numbers and nothing else: nothing to add.
        let nothing = e.as_source == [AsSource::Device]
            && e.geoip_country.is_none()
            && e.networks.is_none()
            && !e.routes();
        (!nothing).then_some(e)
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (a device or peer has one identity).
fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
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
            "{networks: /nonexistent/n.yaml, bgp: {asn: 0, router_id: 0.0.0.0, hold_time: 2}}",
        )
        .expect_err("refused");
        assert_eq!(
            e,
            [
                "enrichment.networks: cannot read /nonexistent/n.yaml: No such file or directory (os error 2); give a YAML file of prefixes and their labels",
                "enrichment.bgp.asn: \"0\" is not an AS number (1 to 4294967295)",
                "enrichment.bgp.router_id: \"0.0.0.0\" is not a non-zero IPv4 address (RFC 4271 §4.2's BGP identifier)",
                "enrichment.bgp.hold_time: \"2\": give 0 (no keepalives) or 3 to 65535 seconds (RFC 4271 §4.2)",
                "enrichment.bgp.peers: missing or empty: give each neighbour, e.g. [{address: 192.0.2.10, asn: 65000}]",
            ]
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
                "enrichment.as_source[1]: \"bgp\" needs enrichment.bgp or enrichment.bmp (where routes come from)",
                "enrichment.as_source[2]: \"peer\" is not an AS source (device, bgp, geoip)",
                "enrichment.as_source[3]: \"device\" is listed twice",
            ]
        );
        let e = parse("{as_source: [geoip]}").expect_err("refused");
        assert_eq!(
            e,
            ["enrichment.as_source[0]: \"geoip\" needs enrichment.geoip.asn (the ASN database)"]
        );
        let e = parse(
            "{bgp: {asn: 65000, router_id: 192.0.2.1, peers: [{address: 192.0.2.10, asn: 65001}, \
             {address: 192.0.2.11, asn: 65001, devices: [192.0.2.10]}, {address: 192.0.2.10, asn: 1}]}, \
             bmp: {listen: '0.0.0.0:179'}}",
        )
        .expect_err("refused");
        assert_eq!(
            e,
            [
                "enrichment.bgp.peers[1].devices: device 192.0.2.10 already uses peer 192.0.2.10's RIB: a device's flows use one peer",
                "enrichment.bgp.peers[2].address: 192.0.2.10 is listed twice",
            ]
        );
    }

    #[test]
    fn bgp_peers_and_bmp_with_their_defaults() {
        let c = parse(
            "{bgp: {asn: 65000, router_id: 192.0.2.1, peers: [{address: '::ffff:192.0.2.10', asn: 4200000000}]}, \
             bmp: {listen: '127.0.0.1:10179'}}",
        )
        .expect("loads");
        let e = c.collectors[0].enrichment.as_deref().expect("enriched");
        assert_eq!(e.as_source, [AsSource::Device, AsSource::Bgp]);
        let b = e.bgp.as_ref().expect("bgp");
        assert_eq!(b.listen, "0.0.0.0:179".parse().unwrap());
        assert_eq!(b.hold_time, 90);
        let ten: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(
            b.peers,
            [BgpPeer {
                address: ten,
                asn: 4_200_000_000,
                devices: vec![ten]
            }]
        );
        let m = e.bmp.as_ref().expect("bmp");
        assert_eq!(m.listen, "127.0.0.1:10179".parse().unwrap());
        assert!(m.routers.is_empty() && m.admits("203.0.113.9".parse().unwrap()));
        let c = parse("{bmp: {listen: '127.0.0.1:10179', routers: [192.0.2.0/24, '::1']}}")
            .expect("loads");
        let m = c.collectors[0]
            .enrichment
            .as_deref()
            .and_then(|e| e.bmp.as_ref())
            .expect("bmp");
        assert!(m.admits("192.0.2.7".parse().unwrap()) && m.admits("::1".parse().unwrap()));
        assert!(m.admits("::ffff:192.0.2.7".parse().unwrap()));
        assert!(!m.admits("198.51.100.1".parse().unwrap()));
        let e =
            parse("{bmp: {listen: '127.0.0.1:10179', routers: [router1]}}").expect_err("refused");
        assert!(e[0].starts_with("enrichment.bmp.routers[0]: "), "{e:?}");
    }

    #[test]
    fn a_networks_file_is_read_at_validation_and_a_bad_one_refused_with_its_place() {
        let dir = std::env::temp_dir().join(format!("octoflow-networks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.yaml");
        std::fs::write(&good, "10.0.0.0/8: {name: corp, tenant: foo}\n").unwrap();
        let c = parse(&format!("{{networks: '{}'}}", good.display())).expect("loads");
        let e = c.collectors[0].enrichment.as_deref().expect("enriched");
        assert_eq!(e.networks.as_deref(), Some(good.as_path()));
        assert!(
            e.describe().contains("network labels from"),
            "{}",
            e.describe()
        );
        let bad = dir.join("bad.yaml");
        std::fs::write(&bad, "10.0.0.0/8: {name: corp, colour: red}\n").unwrap();
        let e = parse(&format!("{{networks: '{}'}}", bad.display())).expect_err("refused");
        assert!(
            e[0].starts_with(&format!("enrichment.networks: {}: ", bad.display()))
                && e[0].contains("colour"),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
