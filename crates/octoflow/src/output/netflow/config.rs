//! The `netflow` output kind's configuration: the original octoflow exporter keys
//! (`collector_host`, `collector_port`, `collector_proto`, `collector_version`, the
//! unused `listen_host`/`listen_port`) and octoflow's extensions, validated with
//! their key paths.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use octoflow_encode::{EncoderConfig, Path};
use octoflow_proto::Version;

use crate::yaml::check::{parse_version, Validator};
use crate::yaml::raw::{RawExporter, Scalar};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A `netflow` output: datagrams in a NetFlow/IPFIX/sFlow version to one receiver
/// over UDP or TCP.
#[derive(Debug, Clone, PartialEq)]
pub struct NetflowConfig {
    /// The old chain's loopback hop (`listen_host`/`listen_port`): validated, unused.
    pub listen: Option<SocketAddr>,
    /// `collector_host` as written (for messages).
    pub target_host: String,
    pub target: SocketAddr,
    pub transport: Transport,
    pub version: Version,
    pub template_refresh: Duration,
    pub template_refresh_packets: u32,
    pub mtu: usize,
    pub sampling_scaling: bool,
    pub forward_counters: bool,
    pub forward_options: bool,
    /// Send runs of equal-size UDP datagrams with segmentation offload.
    pub udp_gso: bool,
    /// Send the router's own datagrams (the paths where
    /// [`Path::preserves_source`]) with the router's address and port as their
    /// source, through a raw socket (`super::preserve`).
    pub preserve_source: bool,
}

impl NetflowConfig {
    /// The largest datagram payload this output sends (MTU less IP and UDP headers).
    pub fn max_datagram(&self) -> usize {
        let ip = if self.target.is_ipv6() { 40 } else { 20 };
        match self.transport {
            Transport::Udp => self.mtu - ip - 8,
            // IPFIX messages over TCP may be up to 65535 bytes; keep them MTU-sized
            // anyway so a message never straddles many segments.
            Transport::Tcp => self.mtu - ip - 20,
        }
    }

    /// What the encoder needs, for an output with or without a tenant filter.
    pub fn encoder_config(&self, unfiltered: bool) -> EncoderConfig {
        EncoderConfig {
            version: self.version,
            unfiltered,
            max_datagram: self.max_datagram(),
            refresh_ms: self.template_refresh.as_millis() as u64,
            refresh_packets: self.template_refresh_packets,
            sampling_scaling: self.sampling_scaling,
            forward_counters: self.forward_counters,
            forward_options: self.forward_options,
            // RFC 7011 §8.4: withdrawals are sent over a session (TCP), never UDP.
            withdrawals: self.transport == Transport::Tcp,
            preserve_source: self.preserve_source,
            receiver_ipv6: !self.target.ip().to_canonical().is_ipv4(),
        }
    }

    /// `udp 127.0.0.1:9001        as ipfix`, as `octoflow check` prints it.
    pub fn receiver(&self) -> String {
        let proto = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        format!(
            "{proto} {:<22} as {}",
            self.target.to_string(),
            octoflow_encode::version_label(self.version)
        )
    }

    /// How input of version `vin` reaches this receiver (the encoder's own
    /// dispatch), in words for `octoflow check`.
    pub fn path_text(&self, vin: Version, unfiltered: bool) -> String {
        let c = self.encoder_config(unfiltered);
        let path = Path::of(vin, &c);
        let text = path.describe(vin, &c);
        match (self.preserve_source, path) {
            (false, _) | (true, Path::Unsupported) => text,
            (true, p) if p.preserves_source() => {
                format!("{text}; sent from the router's address and port (preserve_source)")
            }
            (true, _) => format!(
                "{text}; sent from octoflow's own address (re-encoded datagrams are octoflow's: preserve_source does not apply)"
            ),
        }
    }

    /// Whether input of version `vin` keeps its router's source address here.
    pub fn preserves_source_of(&self, vin: Version, unfiltered: bool) -> bool {
        self.preserve_source && Path::of(vin, &self.encoder_config(unfiltered)).preserves_source()
    }
}

impl Validator {
    /// The `netflow` kind's keys of `exporters[i]` (path `p`).
    pub fn netflow(&mut self, p: &str, e: RawExporter, unfiltered: bool) -> Option<NetflowConfig> {
        let errors = self.errors.len();
        self.foreign_keys(p, "netflow", &e);
        let lhost = self.ip(&format!("{p}.listen_host"), e.listen_host);
        let lport = self.port(&format!("{p}.listen_port"), e.listen_port, false);
        let port = self.port(&format!("{p}.collector_port"), e.collector_port, true);
        let target_host = match e.collector_host {
            None => {
                self.err(format!("{p}.collector_host"), "missing");
                None
            }
            Some(Scalar(h)) => Some(h.trim().to_string()),
        };
        let target = match (&target_host, port) {
            (Some(h), Some(port)) => match h.parse::<IpAddr>() {
                Ok(a) => Some(SocketAddr::new(a, port)),
                Err(_) => match self.env.resolve(h, port) {
                    Ok(Some(a)) => Some(a),
                    Ok(None) => {
                        self.err(
                            format!("{p}.collector_host"),
                            format!("{h:?} resolves to no address"),
                        );
                        None
                    }
                    Err(err) => {
                        self.err(
                            format!("{p}.collector_host"),
                            format!("{h:?} is not an IP address and does not resolve ({err})"),
                        );
                        None
                    }
                },
            },
            _ => None,
        };
        let version = match e.collector_version {
            None => {
                self.err(
                    format!("{p}.collector_version"),
                    "missing; give 5, 9, 10 or sflow",
                );
                None
            }
            Some(Scalar(s)) => {
                let v = parse_version(&s);
                if v.is_none() {
                    self.err(
                        format!("{p}.collector_version"),
                        format!("{s:?} is not 5, 9, 10 or sflow"),
                    );
                }
                v
            }
        };
        let transport = match e
            .collector_proto
            .as_ref()
            .map(|s| s.0.trim().to_ascii_lowercase())
        {
            None => Some(Transport::Udp),
            Some(s) if s == "udp" => Some(Transport::Udp),
            Some(s) if s == "tcp" => Some(Transport::Tcp),
            Some(s) => {
                self.err(
                    format!("{p}.collector_proto"),
                    format!("{s:?} is not udp or tcp"),
                );
                None
            }
        };
        if transport == Some(Transport::Tcp) && version.is_some() && version != Some(Version::Ipfix)
        {
            self.err(
                format!("{p}.collector_proto"),
                format!(
                    "\"tcp\" with collector_version {}: only IPFIX has a standard framing over TCP (RFC 7011 §10.4); use udp, or collector_version 10",
                    version.map(octoflow_encode::version_label).unwrap_or_default()
                ),
            );
        }
        let mtu = e.mtu.unwrap_or(1500);
        if !(576..=65535).contains(&mtu) {
            self.err(format!("{p}.mtu"), format!("{mtu} is outside 576-65535"));
        }
        let refresh = e.template_refresh_secs.unwrap_or(20.0);
        if !(refresh.is_finite() && refresh > 0.0 && refresh <= 86400.0) {
            self.err(
                format!("{p}.template_refresh_secs"),
                format!("{refresh} is not a number of seconds in (0, 86400]"),
            );
        }
        if e.template_refresh_packets == Some(0) {
            self.err(
                format!("{p}.template_refresh_packets"),
                "0 is not a count; give ≥ 1",
            );
        }
        let preserve_source = e.preserve_source.unwrap_or(false);
        if preserve_source && transport == Some(Transport::Tcp) {
            self.err(
                format!("{p}.preserve_source"),
                "true with collector_proto tcp: only UDP datagrams can be sent with the router's address (a TCP session is octoflow's own); use udp, or leave preserve_source out",
            );
        }
        if self.errors.len() > errors {
            return None;
        }
        Some(NetflowConfig {
            listen: lhost.zip(lport).map(|(h, p)| SocketAddr::new(h, p)),
            target_host: target_host?,
            target: target?,
            transport: transport?,
            version: version?,
            template_refresh: Duration::from_secs_f64(refresh),
            template_refresh_packets: e.template_refresh_packets.unwrap_or(100),
            mtu: mtu as usize,
            sampling_scaling: e.sampling_scaling.unwrap_or(false),
            forward_counters: e.forward_counters.unwrap_or(unfiltered),
            forward_options: e.forward_options.unwrap_or(true),
            udp_gso: e.udp_gso.unwrap_or(true),
            preserve_source,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn yaml(exporters: &str) -> String {
        format!(
            "collectors: [{{id: c, listen_port: 2055, nf_version: 9, mux_to: [whole, tenant, conv]}}]\n\
             exporters:\n{exporters}"
        )
    }

    const THREE: &str = "  - {id: whole, collector_host: 127.0.0.1, collector_port: 9001, collector_version: 9, preserve_source: true}\n  \
         - {id: tenant, collector_host: 127.0.0.1, collector_port: 9002, collector_version: 9, preserve_source: true, filters: ['10.0.1.0/24']}\n  \
         - {id: conv, collector_host: 127.0.0.1, collector_port: 9003, collector_version: 10, preserve_source: true}\n";

    #[test]
    fn check_says_which_paths_keep_the_routers_source() {
        let c = Config::parse(&yaml(THREE)).expect("loads");
        let d = c.describe();
        assert!(
            d.contains("v9 -> v9: whole datagrams forwarded unchanged; sent from the router's address and port (preserve_source)"),
            "{d}"
        );
        assert!(
            d.contains("v9 -> v9: exporter's templates and matching records forwarded byte for byte; sent from the router's address and port (preserve_source)"),
            "{d}"
        );
        assert!(
            d.contains("v9 -> ipfix: re-encoded with octoflow's templates; sent from octoflow's own address (re-encoded datagrams are octoflow's: preserve_source does not apply)"),
            "{d}"
        );
        assert!(d.contains("needs: CAP_NET_RAW"), "{d}");
        assert!(c.needs_net_raw());
        assert_eq!(
            c.outputs
                .iter()
                .map(|o| o.needs_net_raw())
                .collect::<Vec<_>>(),
            [true, true, true]
        );
    }

    #[test]
    fn preserve_source_on_an_output_whose_every_path_re_encodes_is_a_warning() {
        let c = Config::parse(&yaml(THREE)).expect("a warning, not an error");
        let w: Vec<&String> = c
            .warnings
            .iter()
            .filter(|w| w.contains("preserve_source"))
            .collect();
        assert_eq!(w.len(), 1, "{:?}", c.warnings);
        assert!(
            w[0].starts_with("exporters[2].preserve_source: every path to \"conv\" re-encodes"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn preserve_source_over_tcp_is_refused_with_its_key_path() {
        let e = Config::parse(&yaml(
            "  - {id: whole, collector_host: 127.0.0.1, collector_port: 9001, collector_version: 10, collector_proto: tcp, preserve_source: true}\n  \
             - {id: tenant, collector_host: 127.0.0.1, collector_port: 9002, collector_version: 9}\n  \
             - {id: conv, collector_host: 127.0.0.1, collector_port: 9003, collector_version: 10}\n",
        ))
        .expect_err("refused");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("exporters[0].preserve_source: true with collector_proto tcp"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn without_preserve_source_no_raw_socket_is_needed() {
        let c = Config::parse(&yaml(
            "  - {id: whole, collector_host: 127.0.0.1, collector_port: 9001, collector_version: 9}\n  \
             - {id: tenant, collector_host: 127.0.0.1, collector_port: 9002, collector_version: 9, preserve_source: false}\n  \
             - {id: conv, collector_host: 127.0.0.1, collector_port: 9003, collector_version: 10}\n",
        ))
        .expect("loads");
        assert!(!c.needs_net_raw());
        assert!(!c.describe().contains("preserve_source"));
    }
}
