//! A collector's configuration: `collectors[]` (the original keys `id`,
//! `listen_host`, `listen_port`, `nf_version`, `mux_to`, and octoflow's
//! extensions), validated with key paths.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use octoflow_encode::version_label;
use octoflow_proto::Version;

use super::admission::Admission;
use crate::yaml::check::{parse_version, Validator};
use crate::yaml::raw::{OneOrMany, RawCollector, Scalar};

/// The set of versions a collector accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Versions(pub(crate) u8);

impl Versions {
    pub const ALL: Versions = Versions(0b1111);
    fn bit(v: Version) -> u8 {
        match v {
            Version::V5 => 1,
            Version::V9 => 2,
            Version::Ipfix => 4,
            Version::Sflow => 8,
        }
    }
    pub fn one(v: Version) -> Versions {
        Versions(Self::bit(v))
    }
    pub fn contains(self, v: Version) -> bool {
        self.0 & Self::bit(v) != 0
    }
    pub(crate) fn add(&mut self, v: Version) {
        self.0 |= Self::bit(v)
    }
    pub fn iter(self) -> impl Iterator<Item = Version> {
        [Version::V5, Version::V9, Version::Ipfix, Version::Sflow]
            .into_iter()
            .filter(move |&v| self.contains(v))
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Versions::ALL {
            return f.write_str("auto");
        }
        let names: Vec<&str> = self.iter().map(version_label).collect();
        f.write_str(&names.join(","))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Collector {
    pub id: String,
    pub listen: SocketAddr,
    pub versions: Versions,
    pub mux_to: Vec<String>,
    pub receive_buffer: usize,
    pub reuse_port: bool,
    pub udp_gro: bool,
    /// `template_memory`: the template cache's byte budget.
    pub template_memory: usize,
    /// `allow` and `rate_limit`: who may send, and how fast.
    pub admission: Admission,
    /// `sources`: names of exporting devices (by name; an address names at
    /// most one source).
    pub sources: Vec<(String, IpAddr)>,
    /// The top-level `enrichment` section (the same for every collector).
    pub enrichment: Option<std::sync::Arc<crate::enrich::Enrichment>>,
}

/// `collectors[].template_memory` when not given.
pub const DEFAULT_TEMPLATE_MEMORY: u64 = 64 << 20;
/// The smallest budget accepted: room for a few hundred large templates.
const MIN_TEMPLATE_MEMORY: u64 = 1 << 20;

impl Collector {
    pub fn instance_name(&self) -> String {
        format!("{}_collector", self.id)
    }

    /// The template cache's bounds under this configuration.
    pub fn limits(&self) -> octoflow_proto::Limits {
        octoflow_proto::Limits {
            max_template_bytes: self.template_memory,
            ..octoflow_proto::Limits::default()
        }
    }
}

impl Validator {
    pub fn collector(
        &mut self,
        i: usize,
        c: RawCollector,
        outputs: &[String],
    ) -> Option<Collector> {
        let p = format!("collectors[{i}]");
        let errors = self.errors.len();
        let id = self.id(&format!("{p}.id"), c.id);
        let host = match c.listen_host {
            None => Some(IpAddr::from([0, 0, 0, 0])),
            h => self.ip(&format!("{p}.listen_host"), h),
        };
        let port = self.port(&format!("{p}.listen_port"), c.listen_port, true);
        let mut versions = Versions(0);
        let vpath = format!("{p}.nf_version");
        match c.nf_version {
            None => self.err(
                &vpath,
                "missing; say which version this collector accepts (5, 9, 10, sflow, or auto)",
            ),
            Some(OneOrMany::One(Scalar(s))) if s.trim().eq_ignore_ascii_case("auto") => {
                versions = Versions::ALL
            }
            Some(OneOrMany::One(Scalar(s))) => match parse_version(&s) {
                Some(v) => versions.add(v),
                None => self.err(&vpath, format!("{s:?} is not 5, 9, 10, sflow or auto")),
            },
            Some(OneOrMany::Many(list)) => {
                if list.is_empty() {
                    self.err(
                        &vpath,
                        "an empty list accepts nothing; name at least one version",
                    );
                }
                for (j, Scalar(s)) in list.iter().enumerate() {
                    match parse_version(s) {
                        Some(v) => versions.add(v),
                        None => self.err(
                            format!("{vpath}[{j}]"),
                            format!("{s:?} is not 5, 9, 10 or sflow"),
                        ),
                    }
                }
            }
        }
        let template_memory = c.template_memory.unwrap_or(DEFAULT_TEMPLATE_MEMORY);
        if !(MIN_TEMPLATE_MEMORY..=1 << 40).contains(&template_memory) {
            self.err(
                format!("{p}.template_memory"),
                format!(
                    "{template_memory} bytes: give between {MIN_TEMPLATE_MEMORY} (1 MiB) and 2^40"
                ),
            );
        }
        let admission = self.admission(
            &p,
            c.allow,
            c.rate_limit,
            c.allow_from.as_ref(),
            c.refresh_secs,
        );
        let sources = self.sources(&p, c.sources.unwrap_or_default());
        let mut mux_to = Vec::new();
        for (j, Scalar(m)) in c.mux_to.unwrap_or_default().into_iter().enumerate() {
            if outputs.contains(&m) {
                if mux_to.contains(&m) {
                    self.err(format!("{p}.mux_to[{j}]"), format!("{m:?} is listed twice"));
                } else {
                    mux_to.push(m);
                }
            } else {
                let known: Vec<&str> = outputs.iter().map(|e| e.as_str()).collect();
                self.err(
                    format!("{p}.mux_to[{j}]"),
                    format!(
                        "{m:?} is not an exporter id (defined: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
        }
        if self.errors.len() > errors {
            return None;
        }
        let (id, host, port) = (id?, host?, port?);
        if mux_to.is_empty() {
            self.warn(format!(
                "{p}.mux_to: collector {id:?} feeds no exporter; what it receives is counted and dropped"
            ));
        }
        Some(Collector {
            id,
            listen: SocketAddr::new(host, port),
            versions,
            mux_to,
            receive_buffer: c.receive_buffer.unwrap_or(8 << 20).min(1 << 30) as usize,
            reuse_port: c.reuse_port.unwrap_or(false),
            udp_gro: c.udp_gro.unwrap_or(true),
            template_memory: template_memory as usize,
            admission,
            sources,
            enrichment: None,
        })
    }

    /// `collectors[i].sources`: name → device address, as nfsen names its
    /// sources. A device is the record's exporter (sFlow: the agent address).
    fn sources(
        &mut self,
        p: &str,
        raw: std::collections::BTreeMap<String, Scalar>,
    ) -> Vec<(String, IpAddr)> {
        let mut out: Vec<(String, IpAddr)> = Vec::new();
        for (name, addr) in raw {
            let path = format!("{p}.sources.{name}");
            if self.id(&path, Some(Scalar(name.clone()))).is_none() {
                continue;
            }
            let Some(a) = self.ip(&path, Some(addr)) else {
                continue;
            };
            let a = crate::util::unmap(a);
            if let Some((other, _)) = out.iter().find(|(_, b)| *b == a) {
                self.err(
                    &path,
                    format!("{a} already names source {other:?}; a device has one name"),
                );
                continue;
            }
            out.push((name, a));
        }
        if out.len() >= u16::MAX as usize {
            self.err(
                format!("{p}.sources"),
                format!(
                    "{} names; at most {} per collector",
                    out.len(),
                    u16::MAX - 1
                ),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(sources: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!(
            "collectors: [{{id: c, listen_port: 2055, nf_version: 10, sources: {sources}}}]\n"
        ))
    }

    #[test]
    fn sources_name_devices_and_each_address_has_one_name() {
        let c = parse("{peer1: 172.16.17.18, peer2: '::ffff:172.16.17.19'}").expect("loads");
        assert_eq!(
            c.collectors[0].sources,
            [
                ("peer1".to_string(), "172.16.17.18".parse().expect("ip")),
                // v4-mapped is the IPv4 device it stands for.
                ("peer2".to_string(), "172.16.17.19".parse().expect("ip")),
            ]
        );
        assert_eq!(
            parse("{peer1: 172.16.17.18, peer2: 172.16.17.18}").err(),
            Some(vec![
                "collectors[0].sources.peer2: 172.16.17.18 already names source \"peer1\"; a device has one name".to_string()
            ])
        );
        assert_eq!(
            parse("{peer1: 172.16.17.300}").err(),
            Some(vec![
                "collectors[0].sources.peer1: \"172.16.17.300\" is not an IP address".to_string()
            ])
        );
        assert!(parse("{'a b': 10.0.0.1}").err().is_some_and(
            |e| e[0].starts_with("collectors[0].sources.a b: \"a b\" is not a usable id")
        ));
    }
}
