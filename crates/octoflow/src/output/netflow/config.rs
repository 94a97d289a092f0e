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
        Path::of(vin, &c).describe(vin, &c)
    }
}

impl Validator {
    /// The `netflow` kind's keys of `exporters[i]` (path `p`).
    pub fn netflow(&mut self, p: &str, e: RawExporter, unfiltered: bool) -> Option<NetflowConfig> {
        let errors = self.errors.len();
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
        })
    }
}
