//! The configuration: the original octoflow YAML, loaded unchanged, plus octoflow's
//! extensions (README "Configuration").
//!
//! Loading has two steps. Serde reads the file into the structs of [`raw`], with
//! unknown keys refused and the key path recorded by `serde_path_to_error`. Then
//! [`validate`] checks everything at once and builds the typed [`Config`]; every
//! error names the key path and the bad value, e.g.
//! `exporters[1].filters[0]: "10.0.2.300" is not an IP address or CIDR prefix`.
//!
//! - [`raw`]: the YAML as written;
//! - [`validate`]: the checks, per instance and across instances;
//! - [`diff`]: what another file changes, instance by instance (`reread`, `reload`);
//! - [`describe`]: the topology `octoflow check` prints;
//! - [`console`]: the web console's section (its address, TLS and users);
//! - [`run_as`]: `general.user` / `general.group` resolved, and the capabilities
//!   the server keeps after dropping to them.
//!
//! Each output kind's own keys are validated beside its code
//! (`crate::output::netflow::config`).

pub mod console;
pub mod describe;
pub mod diff;
pub mod run_as;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de;
use serde::Deserialize;

pub use crate::collector::config::Collector;
pub use crate::output::Output;
use crate::telemetry::auth::Token;
use crate::yaml::check::Validator;
use crate::yaml::env::{Environment, System};
use crate::yaml::raw::RawConfig;
pub use run_as::RunAs;

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

#[derive(Debug, Clone, PartialEq)]
pub struct General {
    pub conf_path: Option<PathBuf>,
    pub systemd_path: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    /// `general.metrics_token_file`, and the token read from it.
    pub metrics_token: Option<(PathBuf, Token)>,
    pub template_cache_dir: Option<PathBuf>,
    /// `general.user` / `general.group`: who the server drops to.
    pub run_as: Option<RunAs>,
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

/// One instance's configuration, of whatever kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Collector(Collector),
    Output(Output),
    /// `enrichment.bgp`: the passive BGP speaker (instance `bgp_session`).
    Bgp(crate::enrich::config::BgpConfig),
    /// `enrichment.bmp`: the BMP station (instance `bmp_session`).
    Bmp(crate::enrich::config::BmpConfig),
}

impl Spec {
    pub fn name(&self) -> String {
        match self {
            Spec::Collector(c) => c.instance_name(),
            Spec::Output(o) => o.instance_name(),
            Spec::Bgp(_) => "bgp_session".into(),
            Spec::Bmp(_) => "bmp_session".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub general: General,
    pub supervisor: Supervisor,
    pub collectors: Vec<Collector>,
    /// `exporters[]`: every output, of whatever kind.
    pub outputs: Vec<Output>,
    /// `profiles[]` (each also in its store's configuration).
    pub profiles: Vec<crate::profile::Profile>,
    /// `console`: the web console's address, TLS and users.
    pub console: Option<console::Console>,
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

    /// Validate YAML text on this machine (its `$STATE_DIRECTORY`, directories and
    /// name resolution).
    pub fn parse(text: &str) -> Result<Config, Vec<String>> {
        Config::parse_in(text, &System)
    }

    /// Validate YAML text against `env`'s answers: with `yaml::env::Offline`,
    /// without touching the file system or the network.
    pub fn parse_in(text: &str, env: &'static dyn Environment) -> Result<Config, Vec<String>> {
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
        Config::from_raw(raw, env)
    }

    fn from_raw(raw: RawConfig, env: &'static dyn Environment) -> Result<Config, Vec<String>> {
        let mut v = Validator::in_env(env);
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
        let outputs: Vec<Output> = raw
            .exporters
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| v.output(i, e))
            .collect();
        let enrichment = raw
            .enrichment
            .and_then(|e| v.enrichment(e))
            .map(std::sync::Arc::new);

        let collectors: Vec<Collector> = raw
            .collectors
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| v.collector(i, c, &declared))
            .map(|mut c| {
                c.enrichment = enrichment.clone();
                c
            })
            .collect();
        v.topology(&collectors, &outputs);
        let mut outputs = outputs;
        let profiles = v.profiles(raw.profiles.unwrap_or_default(), &mut outputs);
        let ids: Vec<String> = profiles.iter().map(|p| p.id.clone()).collect();
        let console = raw.console.and_then(|c| v.console(c, &ids));
        if !v.errors.is_empty() {
            return Err(v.errors);
        }
        Ok(Config {
            path: PathBuf::new(),
            general,
            supervisor,
            collectors,
            outputs,
            profiles,
            console,
            warnings: v.warnings,
        })
    }

    /// Every instance's configuration: collectors, then outputs, in file
    /// order, then the routing sessions.
    pub fn specs(&self) -> Vec<Spec> {
        let e = self.collectors.iter().find_map(|c| c.enrichment.as_deref());
        self.collectors
            .iter()
            .cloned()
            .map(Spec::Collector)
            .chain(self.outputs.iter().cloned().map(Spec::Output))
            .chain(e.and_then(|e| e.bgp.clone()).map(Spec::Bgp))
            .chain(e.and_then(|e| e.bmp.clone()).map(Spec::Bmp))
            .collect()
    }

    /// Whether some output sends the routers' datagrams with the routers' source
    /// addresses (`exporters[].preserve_source`): its raw socket needs
    /// CAP_NET_RAW, so a process that drops privileges must keep that capability
    /// (it is needed each time such an output starts or restarts, not only at
    /// startup).
    pub fn needs_net_raw(&self) -> bool {
        self.outputs.iter().any(Output::needs_net_raw)
    }
}

#[cfg(test)]
impl Config {
    /// A configuration of one collector feeding one output `o` of type
    /// `kind` with the keys `keys` (flow YAML, e.g. `topic: t, brokers: [b:1]`):
    /// for the output kinds' tests of their keys.
    pub fn parse_one_output(kind: &str, keys: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!(
            "collectors: [{{id: c, listen_port: 2055, nf_version: 10, mux_to: [o]}}]\n\
             exporters: [{{id: o, type: {kind}, {keys}}}]\n"
        ))
    }
}

#[cfg(test)]
mod tests;
