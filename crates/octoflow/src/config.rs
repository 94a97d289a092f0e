//! The configuration: the original octoflow YAML, loaded unchanged, plus octoflow's
//! extensions (README "Configuration").
//!
//! Loading has two steps. Serde reads the file into `Raw*` structs that accept what
//! YAML may reasonably hold (a port as `2055` or `'2055'`, an id as a number), with
//! unknown keys refused and the key path recorded by `serde_path_to_error`. Then
//! [`Config::from_raw`] validates everything at once and builds the typed [`Config`];
//! every error names the key path and the bad value, e.g.
//! `exporters[1].filters[0]: "10.0.2.300" is not an IP address or CIDR prefix`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use octoflow_proto::Version;
use serde::de::{self, IgnoredAny, Visitor};
use serde::Deserialize;

use crate::filter::{Entry, Filter};

/// Where `server`, `client` and `check` look when no `--config-file` is given.
pub const DEFAULT_PATH: &str = "/etc/octoflow/octoflow.yaml";

/// The control socket when `supervisor.unix_socket` is not set.
pub const DEFAULT_SOCKET: &str = "/run/octoflow/octoflow.sock";

/// A configuration that failed to load: every problem found, each with its key path.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration {}:", self.file)?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------
// Raw (as written in YAML)
// ---------------------------------------------------------------------------

/// A YAML scalar kept as text: `2055`, `'2055'` and `2055.0` are all "a port" until
/// validation says otherwise, with the key path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `nf_version: 10`, `nf_version: auto`, or `nf_version: [9, 10]`.
#[derive(Debug, Clone)]
enum OneOrMany {
    One(Scalar),
    Many(Vec<Scalar>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version (5, 9, 10, sflow, auto) or a list of versions")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(Scalar(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(Scalar(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(Scalar(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(Scalar(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = s.next_element::<Scalar>()? {
                    v.push(x);
                }
                Ok(OneOrMany::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    general: Option<RawGeneral>,
    nprobe: Option<IgnoredAny>,
    supervisor: Option<RawSupervisor>,
    collectors: Option<Vec<RawCollector>>,
    exporters: Option<Vec<RawExporter>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeneral {
    conf_path: Option<String>,
    systemd_path: Option<String>,
    /// Extension: HTTP address for `/metrics` and `/status`.
    metrics_listen: Option<Scalar>,
    /// Extension: directory where each collector's template cache is saved (on
    /// shutdown and every minute) and restored from at start.
    template_cache_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupervisor {
    supervisord_bin_path: Option<IgnoredAny>,
    unix_socket: Option<String>,
    logfile: Option<String>,
    #[serde(rename = "log_maxMB")]
    log_max_mb: Option<f64>,
    log_max_backups: Option<u32>,
    loglevel: Option<String>,
    autostart_instances: Option<bool>,
    autorestart_instances: Option<bool>,
    startretries_instances: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollector {
    id: Option<Scalar>,
    listen_host: Option<Scalar>,
    listen_port: Option<Scalar>,
    nf_version: Option<OneOrMany>,
    mux_to: Option<Vec<Scalar>>,
    /// Extension: SO_RCVBUF in bytes.
    receive_buffer: Option<u64>,
    /// Extension: SO_REUSEPORT, so several octoflow processes share the port.
    reuse_port: Option<bool>,
    /// Extension: UDP GRO, coalesced runs of datagrams per receive.
    udp_gro: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExporter {
    id: Option<Scalar>,
    listen_host: Option<Scalar>,
    listen_port: Option<Scalar>,
    collector_host: Option<Scalar>,
    collector_port: Option<Scalar>,
    collector_proto: Option<Scalar>,
    collector_version: Option<Scalar>,
    filters: Option<Vec<Scalar>>,
    // Extensions.
    template_refresh_secs: Option<f64>,
    template_refresh_packets: Option<u32>,
    mtu: Option<u32>,
    sampling_scaling: Option<bool>,
    forward_counters: Option<bool>,
    forward_options: Option<bool>,
    queue_datagrams: Option<u32>,
    udp_gso: Option<bool>,
}

// ---------------------------------------------------------------------------
// Typed
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct General {
    pub conf_path: Option<PathBuf>,
    pub systemd_path: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    pub template_cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Supervisor {
    pub unix_socket: PathBuf,
    pub logfile: Option<PathBuf>,
    /// `log_maxMB` in bytes (fractions of a MB are allowed).
    pub log_max_bytes: u64,
    pub log_max_backups: u32,
    pub loglevel: tracing::Level,
    pub autostart: bool,
    pub autorestart: bool,
    pub startretries: u32,
}

/// The set of versions a collector accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Versions(u8);

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
    fn add(&mut self, v: Version) {
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

/// How a version is written in the config and in `check` output.
pub fn version_label(v: Version) -> &'static str {
    match v {
        Version::V5 => "v5",
        Version::V9 => "v9",
        Version::Ipfix => "ipfix",
        Version::Sflow => "sflow",
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
}

impl Collector {
    pub fn instance_name(&self) -> String {
        format!("{}_collector", self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone)]
pub struct Exporter {
    pub id: String,
    /// The old chain's loopback hop (`listen_host`/`listen_port`): validated, unused.
    pub listen: Option<SocketAddr>,
    /// `collector_host` as written (for messages).
    pub target_host: String,
    pub target: SocketAddr,
    pub transport: Transport,
    pub version: Version,
    pub filter: Arc<Filter>,
    pub template_refresh: Duration,
    pub template_refresh_packets: u32,
    pub mtu: usize,
    pub sampling_scaling: bool,
    pub forward_counters: bool,
    pub forward_options: bool,
    pub queue_datagrams: usize,
    /// Send runs of equal-size UDP datagrams with segmentation offload.
    pub udp_gso: bool,
}

impl PartialEq for Exporter {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
            && self.listen == o.listen
            && self.target_host == o.target_host
            && self.target == o.target
            && self.transport == o.transport
            && self.version == o.version
            && self.filter.entries() == o.filter.entries()
            && self.template_refresh == o.template_refresh
            && self.template_refresh_packets == o.template_refresh_packets
            && self.mtu == o.mtu
            && self.sampling_scaling == o.sampling_scaling
            && self.forward_counters == o.forward_counters
            && self.forward_options == o.forward_options
            && self.queue_datagrams == o.queue_datagrams
            && self.udp_gso == o.udp_gso
    }
}

impl Exporter {
    pub fn instance_name(&self) -> String {
        format!("{}_exporter", self.id)
    }

    /// The largest datagram payload this exporter sends (MTU less IP and UDP headers).
    pub fn max_datagram(&self) -> usize {
        let ip = if self.target.is_ipv6() { 40 } else { 20 };
        match self.transport {
            Transport::Udp => self.mtu - ip - 8,
            // IPFIX messages over TCP may be up to 65535 bytes; keep them MTU-sized
            // anyway so a message never straddles many segments.
            Transport::Tcp => self.mtu - ip - 20,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub general: General,
    pub supervisor: Supervisor,
    pub collectors: Vec<Collector>,
    pub exporters: Vec<Exporter>,
    /// Things that load but deserve an operator's look (overlapping tenants, …).
    pub warnings: Vec<String>,
}

impl Config {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![format!("cannot read the file: {e}")],
        })?;
        let mut c = Config::parse(&text).map_err(|problems| ConfigError {
            file: file.clone(),
            problems,
        })?;
        c.path = path.to_path_buf();
        Ok(c)
    }

    /// The control socket a configuration names, even when the rest of the file
    /// does not validate (a client must reach the server to be told why a reload
    /// was refused).
    pub fn socket_path(path: &Path) -> Result<PathBuf, ConfigError> {
        match Config::load(path) {
            Ok(c) => Ok(c.supervisor.unix_socket),
            Err(full) => {
                #[derive(Deserialize)]
                struct Sup {
                    unix_socket: Option<String>,
                }
                #[derive(Deserialize)]
                struct Only {
                    supervisor: Option<Sup>,
                }
                let text = std::fs::read_to_string(path).map_err(|_| full.clone())?;
                match serde_saphyr::from_str::<Only>(&text) {
                    Ok(Only {
                        supervisor:
                            Some(Sup {
                                unix_socket: Some(s),
                            }),
                    }) if !s.trim().is_empty() => Ok(PathBuf::from(s)),
                    Ok(_) => Ok(PathBuf::from(DEFAULT_SOCKET)),
                    Err(_) => Err(full),
                }
            }
        }
    }

    /// Validate YAML text.
    pub fn parse(text: &str) -> Result<Config, Vec<String>> {
        let raw: RawConfig = serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                // serde-saphyr appends a location; keep the first line, which says what.
                let inner = inner.lines().next().unwrap_or_default().to_string();
                <serde_saphyr::Error as de::Error>::custom(if path == "." {
                    inner
                } else {
                    format!("{path}: {inner}")
                })
            })
        })
        .map_err(|e| vec![e.to_string()])?;
        Config::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Config, Vec<String>> {
        let mut v = Validator::default();
        if raw.nprobe.is_some() {
            v.warn("nprobe: ignored; octoflow's engine is native and needs no nProbe".into());
        }
        let general = v.general(raw.general.unwrap_or_default());
        // Ids as declared, valid or not, so one bad exporter does not also make every
        // mux_to naming it an error.
        let declared: Vec<String> = raw
            .exporters
            .iter()
            .flatten()
            .filter_map(|e| e.id.as_ref().map(|s| s.0.clone()))
            .collect();
        let supervisor = v.supervisor(raw.supervisor.unwrap_or_default());
        let exporters: Vec<Exporter> = raw
            .exporters
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| v.exporter(i, e))
            .collect();
        let collectors: Vec<Collector> = raw
            .collectors
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| v.collector(i, c, &declared))
            .collect();
        v.topology(&collectors, &exporters);
        if !v.errors.is_empty() {
            return Err(v.errors);
        }
        Ok(Config {
            path: PathBuf::new(),
            general,
            supervisor,
            collectors,
            exporters,
            warnings: v.warnings,
        })
    }

    pub fn collector(&self, id: &str) -> Option<&Collector> {
        self.collectors.iter().find(|c| c.id == id)
    }

    pub fn exporter(&self, id: &str) -> Option<&Exporter> {
        self.exporters.iter().find(|e| e.id == id)
    }

    /// The collectors that feed exporter `id`.
    pub fn feeders(&self, id: &str) -> impl Iterator<Item = &Collector> {
        let id = id.to_string();
        self.collectors
            .iter()
            .filter(move |c| c.mux_to.contains(&id))
    }

    /// The topology as `octoflow check` prints it.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "collectors:");
        for c in &self.collectors {
            let _ = writeln!(
                s,
                "  {:<24} udp {:<22} accepts {:<8} -> {}",
                c.instance_name(),
                c.listen.to_string(),
                c.versions.to_string(),
                if c.mux_to.is_empty() {
                    "(nothing)".to_string()
                } else {
                    c.mux_to.join(", ")
                }
            );
        }
        let _ = writeln!(s, "exporters:");
        for e in &self.exporters {
            let proto = match e.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            };
            let _ = writeln!(
                s,
                "  {:<24} {proto} {:<22} as {}",
                e.instance_name(),
                e.target.to_string(),
                version_label(e.version)
            );
            let tenant = if e.filter.is_empty() {
                "everything (no filters)".to_string()
            } else {
                e.filter
                    .entries()
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(s, "      tenant: {tenant}");
            for c in self.feeders(&e.id) {
                for vin in c.versions.iter() {
                    let _ = writeln!(
                        s,
                        "      from {}: {}",
                        c.id,
                        conversion(vin, e.version, e.filter.is_empty())
                    );
                }
            }
        }
        s
    }
}

/// What an exporter does with input of version `vin`, in words.
pub fn conversion(vin: Version, vout: Version, unfiltered: bool) -> String {
    let (i, o) = (version_label(vin), version_label(vout));
    match (vin, vout) {
        (a, b) if a == b && unfiltered => {
            format!("{i} -> {o}: whole datagrams forwarded unchanged")
        }
        (Version::V9 | Version::Ipfix, b) if vin == b => {
            format!("{i} -> {o}: exporter's templates and matching records forwarded byte for byte")
        }
        (Version::V5, Version::V5) => "v5 -> v5: matching records copied byte for byte".into(),
        (Version::Sflow, Version::Sflow) => {
            "sflow -> sflow: matching flow samples copied, agent kept".into()
        }
        (_, Version::V5) => format!("{i} -> v5: re-encoded; IPv6 flows counted as unconvertible"),
        (Version::Sflow, _) => {
            format!("sflow -> {o}: each flow sample becomes a flow, sampling rate carried")
        }
        _ => format!("{i} -> {o}: re-encoded with octoflow's templates"),
    }
}

#[derive(Default)]
struct Validator {
    errors: Vec<String>,
    warnings: Vec<String>,
}

fn parse_version(s: &str) -> Option<Version> {
    match s.trim().to_ascii_lowercase().as_str() {
        "5" | "v5" => Some(Version::V5),
        "9" | "v9" => Some(Version::V9),
        "10" | "ipfix" | "v10" => Some(Version::Ipfix),
        "sflow" | "sflow5" => Some(Version::Sflow),
        _ => None,
    }
}

impl Validator {
    fn err(&mut self, path: impl fmt::Display, msg: impl fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }
    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    fn path_of(&mut self, path: &str, s: Option<String>) -> Option<PathBuf> {
        let s = s?;
        if s.trim().is_empty() {
            self.err(path, "is empty; give a path or leave the key out");
            return None;
        }
        Some(PathBuf::from(s))
    }

    fn general(&mut self, g: RawGeneral) -> General {
        let metrics_listen = g.metrics_listen.and_then(|m| {
            m.0.parse::<SocketAddr>()
                .map_err(|_| {
                    self.err(
                        "general.metrics_listen",
                        format!("{:?} is not an address like 127.0.0.1:9555", m.0),
                    )
                })
                .ok()
        });
        General {
            conf_path: self.path_of("general.conf_path", g.conf_path),
            systemd_path: self
                .path_of("general.systemd_path", g.systemd_path)
                .unwrap_or_else(|| "/etc/systemd/system".into()),
            metrics_listen,
            template_cache_dir: self.path_of("general.template_cache_dir", g.template_cache_dir),
        }
    }

    fn supervisor(&mut self, s: RawSupervisor) -> Supervisor {
        let _ = s.supervisord_bin_path;
        let loglevel = match s.loglevel.as_deref().map(|l| l.trim().to_ascii_lowercase()) {
            None => tracing::Level::INFO,
            Some(l) => match l.as_str() {
                "trace" => tracing::Level::TRACE,
                "debug" => tracing::Level::DEBUG,
                "info" => tracing::Level::INFO,
                "warn" | "warning" => tracing::Level::WARN,
                "error" | "critical" => tracing::Level::ERROR,
                _ => {
                    self.err(
                        "supervisor.loglevel",
                        format!("{l:?} is not one of trace, debug, info, warn, error, critical"),
                    );
                    tracing::Level::INFO
                }
            },
        };
        let log_mb = s.log_max_mb.unwrap_or(50.0);
        if !(log_mb.is_finite() && log_mb > 0.0 && log_mb <= 1e6) {
            self.err(
                "supervisor.log_maxMB",
                format!("{log_mb} is not a size in megabytes (> 0)"),
            );
        }
        Supervisor {
            unix_socket: self
                .path_of("supervisor.unix_socket", s.unix_socket)
                .unwrap_or_else(|| DEFAULT_SOCKET.into()),
            logfile: self.path_of("supervisor.logfile", s.logfile),
            log_max_bytes: (log_mb.clamp(1e-6, 1e6) * 1048576.0) as u64,
            log_max_backups: s.log_max_backups.unwrap_or(10),
            loglevel,
            autostart: s.autostart_instances.unwrap_or(true),
            autorestart: s.autorestart_instances.unwrap_or(true),
            startretries: s.startretries_instances.unwrap_or(3),
        }
    }

    fn id(&mut self, path: &str, id: Option<Scalar>) -> Option<String> {
        match id {
            None => {
                self.err(path, "missing; every instance needs an id");
                None
            }
            Some(Scalar(s)) => {
                let ok = !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if ok {
                    Some(s)
                } else {
                    self.err(
                        path,
                        format!("{s:?} is not a usable id (letters, digits, '-', '_', '.')"),
                    );
                    None
                }
            }
        }
    }

    fn port(&mut self, path: &str, p: Option<Scalar>, required: bool) -> Option<u16> {
        let Some(Scalar(s)) = p else {
            if required {
                self.err(path, "missing");
            }
            return None;
        };
        match s.trim().parse::<u16>() {
            Ok(0) | Err(_) => {
                self.err(path, format!("{s:?} is not a port (1-65535)"));
                None
            }
            Ok(p) => Some(p),
        }
    }

    fn ip(&mut self, path: &str, h: Option<Scalar>) -> Option<IpAddr> {
        let Scalar(s) = h?;
        match s.trim().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("{s:?} is not an IP address"));
                None
            }
        }
    }

    fn collector(&mut self, i: usize, c: RawCollector, exporters: &[String]) -> Option<Collector> {
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
        let mut mux_to = Vec::new();
        for (j, Scalar(m)) in c.mux_to.unwrap_or_default().into_iter().enumerate() {
            if exporters.contains(&m) {
                if mux_to.contains(&m) {
                    self.err(format!("{p}.mux_to[{j}]"), format!("{m:?} is listed twice"));
                } else {
                    mux_to.push(m);
                }
            } else {
                let known: Vec<&str> = exporters.iter().map(|e| e.as_str()).collect();
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
        })
    }

    fn exporter(&mut self, i: usize, e: RawExporter) -> Option<Exporter> {
        let p = format!("exporters[{i}]");
        let errors = self.errors.len();
        let id = self.id(&format!("{p}.id"), e.id);
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
                Err(_) => match (h.as_str(), port).to_socket_addrs() {
                    Ok(mut it) => match it.next() {
                        Some(a) => Some(a),
                        None => {
                            self.err(
                                format!("{p}.collector_host"),
                                format!("{h:?} resolves to no address"),
                            );
                            None
                        }
                    },
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
                    version.map(version_label).unwrap_or_default()
                ),
            );
        }
        let mut entries = Vec::new();
        for (j, Scalar(f)) in e.filters.unwrap_or_default().into_iter().enumerate() {
            match f.parse::<Entry>() {
                Ok(x) => entries.push(x),
                Err(m) => self.err(format!("{p}.filters[{j}]"), m),
            }
        }
        if let Some((a, b)) = Filter::conflict(&entries) {
            self.err(
                format!("{p}.filters[{b}]"),
                format!(
                    "{} contradicts filters[{a}] {} (same prefix, opposite sign)",
                    entries[b], entries[a]
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
        if e.queue_datagrams == Some(0) {
            self.err(
                format!("{p}.queue_datagrams"),
                "0 is not a queue length; give ≥ 1",
            );
        }
        if self.errors.len() > errors {
            return None;
        }
        let id = id?;
        if !entries.is_empty() && entries.iter().all(|x| x.negated) {
            self.warn(format!(
                "{p}.filters: exporter {id:?} has only negated entries, so no address belongs to it and it receives nothing"
            ));
        }
        let unfiltered = entries.is_empty();
        Some(Exporter {
            id,
            listen: lhost.zip(lport).map(|(h, p)| SocketAddr::new(h, p)),
            target_host: target_host?,
            target: target?,
            transport: transport?,
            version: version?,
            filter: Arc::new(Filter::new(&entries)),
            template_refresh: Duration::from_secs_f64(refresh),
            template_refresh_packets: e.template_refresh_packets.unwrap_or(100),
            mtu: mtu as usize,
            sampling_scaling: e.sampling_scaling.unwrap_or(false),
            forward_counters: e.forward_counters.unwrap_or(unfiltered),
            forward_options: e.forward_options.unwrap_or(true),
            queue_datagrams: e.queue_datagrams.unwrap_or(4096) as usize,
            udp_gso: e.udp_gso.unwrap_or(true),
        })
    }

    /// Cross-instance checks: duplicate ids, shared ports, impossible conversions,
    /// overlapping tenants.
    fn topology(&mut self, collectors: &[Collector], exporters: &[Exporter]) {
        let mut seen = HashSet::new();
        for (i, c) in collectors.iter().enumerate() {
            if !seen.insert(&c.id) {
                self.err(
                    format!("collectors[{i}].id"),
                    format!("{:?} is used twice", c.id),
                );
            }
        }
        let mut seen = HashSet::new();
        for (i, e) in exporters.iter().enumerate() {
            if !seen.insert(&e.id) {
                self.err(
                    format!("exporters[{i}].id"),
                    format!("{:?} is used twice", e.id),
                );
            }
        }
        for (i, a) in collectors.iter().enumerate() {
            for (j, b) in collectors.iter().enumerate().skip(i + 1) {
                let clash = a.listen.port() == b.listen.port()
                    && a.listen.is_ipv4() == b.listen.is_ipv4()
                    && (a.listen.ip() == b.listen.ip()
                        || a.listen.ip().is_unspecified()
                        || b.listen.ip().is_unspecified());
                if clash {
                    self.err(
                        format!("collectors[{j}].listen_port"),
                        format!(
                            "{} clashes with collectors[{i}] ({:?} on {}); two collectors cannot share a port",
                            b.listen, a.id, a.listen
                        ),
                    );
                }
            }
        }
        let mut fed: BTreeMap<&str, Vec<&Collector>> = BTreeMap::new();
        for c in collectors {
            for m in &c.mux_to {
                fed.entry(m.as_str()).or_default().push(c);
            }
        }
        for (i, e) in exporters.iter().enumerate() {
            let feeders = fed.get(e.id.as_str()).cloned().unwrap_or_default();
            if feeders.is_empty() {
                self.warn(format!(
                    "exporters[{i}]: exporter {:?} is in no collector's mux_to and will receive nothing",
                    e.id
                ));
            }
            if e.version == Version::Sflow {
                for c in feeders {
                    if c.versions != Versions::one(Version::Sflow) {
                        self.err(
                            format!("exporters[{i}].collector_version"),
                            format!(
                                "\"sflow\" but collector {:?} (nf_version {}) feeds it: sFlow output is only made from sFlow input",
                                c.id, c.versions
                            ),
                        );
                    }
                }
            }
        }
        for (i, a) in exporters.iter().enumerate() {
            for (j, b) in exporters.iter().enumerate().skip(i + 1) {
                if let Some(p) = a.filter.overlap(&b.filter) {
                    self.warn(format!(
                        "exporters[{i}] {:?} and exporters[{j}] {:?} overlap at {p}: both tenants receive flows of those addresses",
                        a.id, b.id
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = include_str!("../../../examples/octoflow-original.yaml");

    fn errors(y: &str) -> Vec<String> {
        Config::parse(y).expect_err("should be refused")
    }

    #[test]
    fn original_file_is_refused_only_for_nf_another() {
        let e = errors(ORIGINAL);
        assert_eq!(
            e,
            vec![
                "collectors[0].mux_to[3]: \"nf-another\" is not an exporter id (defined: foo-cacti, bar-graylog, nf-legacy)"
                    .to_string()
            ]
        );
    }

    #[test]
    fn original_file_without_the_mistake_loads() {
        let fixed = ORIGINAL.replace("    - 'nf-another'\n", "");
        let c = Config::parse(&fixed).expect("loads");
        assert_eq!(c.collectors.len(), 2);
        assert_eq!(c.exporters.len(), 3);
        assert_eq!(c.collectors[0].versions, Versions::one(Version::Ipfix));
        assert_eq!(c.collectors[1].versions, Versions::one(Version::Sflow));
        assert_eq!(c.collectors[0].listen.to_string(), "0.0.0.0:2055");
        let legacy = c.exporter("nf-legacy").expect("legacy");
        assert_eq!(legacy.version, Version::V5);
        assert_eq!(legacy.target.to_string(), "172.18.134.11:2055");
        assert!(legacy.filter.address("172.20.0.1".parse().expect("ip")));
        assert!(!legacy.filter.address("172.17.1.1".parse().expect("ip")));
        assert_eq!(
            c.supervisor.unix_socket,
            PathBuf::from("/tmp/octoflow.sock")
        );
        assert_eq!(c.supervisor.log_max_bytes, 50 << 20);
        assert_eq!(c.supervisor.startretries, 5);
        assert_eq!(c.supervisor.loglevel, tracing::Level::DEBUG);
        assert!(c.warnings.iter().any(|w| w.starts_with("nprobe: ignored")));
        assert_eq!(
            c.warnings.iter().filter(|w| w.contains("overlap")).count(),
            0
        );
        let d = c.describe();
        assert!(d.contains("nf-legacy_exporter"), "{d}");
        assert!(
            d.contains("ipfix -> v5: re-encoded; IPv6 flows counted as unconvertible"),
            "{d}"
        );
        assert!(
            d.contains("sflow -> ipfix: each flow sample becomes a flow"),
            "{d}"
        );
        assert!(d.contains("tenant: 10.0.1.0/24 !10.0.1.254"), "{d}");
    }

    #[test]
    fn sections_may_be_left_out_and_flow_style_works() {
        let c = Config::parse(
            "collectors: [{id: a, listen_host: 127.0.0.1, listen_port: 9995, nf_version: auto, mux_to: [b]}]\n\
             exporters: [{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9}]\n",
        )
        .expect("loads");
        assert_eq!(c.collectors[0].versions, Versions::ALL);
        assert!(c.exporters[0].filter.is_empty());
        assert!(c.exporters[0].forward_counters);
        assert_eq!(c.exporters[0].template_refresh, Duration::from_secs(20));
        assert!(c.supervisor.autostart);
        assert_eq!(c.exporters[0].max_datagram(), 1472);
        assert!(c.exporters[0].udp_gso, "GSO is on unless turned off");
        assert!(c.collectors[0].udp_gro, "GRO is on unless turned off");
        let c = Config::parse(
            "collectors: [{id: a, listen_host: 127.0.0.1, listen_port: 9995, nf_version: 9, mux_to: [b], udp_gro: false}]\n\
             exporters: [{id: b, collector_host: 127.0.0.1, collector_port: 9996, collector_version: 9, udp_gso: false}]\n",
        )
        .expect("loads");
        assert!(!c.exporters[0].udp_gso);
        assert!(!c.collectors[0].udp_gro);
    }

    #[test]
    fn every_error_names_key_path_and_value() {
        let base = |exp: &str| {
            format!(
                "collectors:\n- {{id: a, listen_port: 9995, nf_version: 9, mux_to: [b]}}\nexporters:\n- {{id: x, collector_host: 127.0.0.1, collector_port: 1, collector_version: 9}}\n- {exp}\n"
            )
        };
        let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filters: ['10.0.1.0/24', '10.0.2.300']}"));
        assert_eq!(
            e,
            vec!["exporters[1].filters[1]: \"10.0.2.300\" is not an IP address or CIDR prefix"]
        );
        let e = errors(&base(
            "{id: b, collector_host: 127.0.0.1, collector_port: 70000, collector_version: 9}",
        ));
        assert_eq!(
            e,
            vec!["exporters[1].collector_port: \"70000\" is not a port (1-65535)"]
        );
        let e = errors(&base(
            "{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 7}",
        ));
        assert_eq!(
            e,
            vec!["exporters[1].collector_version: \"7\" is not 5, 9, 10 or sflow"]
        );
        let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, collector_proto: tcp}"));
        assert!(
            e[0].starts_with("exporters[1].collector_proto: \"tcp\" with collector_version v9"),
            "{e:?}"
        );
        let e = errors(&base(
            "{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: sflow}",
        ));
        assert!(
            e[0].starts_with("exporters[1].collector_version: \"sflow\" but collector \"a\""),
            "{e:?}"
        );
        let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filter: []}"));
        assert!(
            e[0].starts_with("exporters[1].filter: unknown field `filter`, expected one of id,"),
            "{e:?}"
        );
        let e = errors(&base("{id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filters: ['10.0.0.0/8', '!10.0.0.0/8']}"));
        assert_eq!(e, vec!["exporters[1].filters[1]: !10.0.0.0/8 contradicts filters[0] 10.0.0.0/8 (same prefix, opposite sign)"]);
        let e = errors(&base(
            "{id: x, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9}",
        ));
        assert!(
            e.contains(&"exporters[1].id: \"x\" is used twice".to_string()),
            "{e:?}"
        );
        let e = errors("supervisor: {log_maxMB: lots}\n");
        assert!(e[0].starts_with("supervisor.log_maxMB: "), "{e:?}");
        let e = errors(
            "collectors:\n- {id: a, listen_port: 2055, nf_version: 9}\n- {id: b, listen_host: 127.0.0.1, listen_port: 2055, nf_version: 5}\n",
        );
        assert!(
            e[0].starts_with(
                "collectors[1].listen_port: 127.0.0.1:2055 clashes with collectors[0]"
            ),
            "{e:?}"
        );
        let e = errors("collectors:\n- {id: a, listen_port: 2055, nf_version: [9, 11]}\n");
        assert_eq!(
            e,
            vec!["collectors[0].nf_version[1]: \"11\" is not 5, 9, 10 or sflow"]
        );
        let e = errors(
            "collectors:\n- {id: a, listen_host: 'my host', listen_port: 2055, nf_version: 9}\n",
        );
        assert_eq!(
            e,
            vec!["collectors[0].listen_host: \"my host\" is not an IP address"]
        );
    }

    #[test]
    fn overlapping_tenants_warn() {
        let c = Config::parse(
            "exporters:\n- {id: a, collector_host: 127.0.0.1, collector_port: 1, collector_version: 9, filters: ['10.0.1.0/24']}\n- {id: b, collector_host: 127.0.0.1, collector_port: 2, collector_version: 9, filters: ['10.0.1.7']}\n",
        )
        .expect("loads");
        assert!(
            c.warnings.iter().any(|w| w
                == "exporters[0] \"a\" and exporters[1] \"b\" overlap at 10.0.1.7/32: both tenants receive flows of those addresses"),
            "{:?}",
            c.warnings
        );
    }
}
