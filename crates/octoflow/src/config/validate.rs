//! Validation of the whole file: the `general` and `supervisor` sections, what
//! every output has in common, and the checks across instances (duplicate ids,
//! shared ports, impossible conversions, overlapping tenants). Each collector's and
//! output kind's own keys are checked beside its code.

use std::collections::{BTreeMap, HashSet};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use octoflow_prefix::{Entry, Filter, Verdicts};
use octoflow_proto::Version;

use super::{General, Supervisor, DEFAULT_SOCKET};
use crate::collector::config::{Collector, Versions};
use crate::output::{Output, OutputKind};
use crate::telemetry::auth::Token;
use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, RawGeneral, RawSupervisor, Scalar};

/// Where templates are kept by default outside systemd.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/octoflow";

/// `general.metrics_listen`: `HOST:PORT`, or a port alone (`9555`, `:9555`),
/// which means loopback: the endpoints are not reachable from elsewhere unless an
/// address says so.
fn metrics_address(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(port) = s.strip_prefix(':').unwrap_or(s).parse::<u16>() {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().ok()
}

impl Validator {
    pub(super) fn general(&mut self, g: RawGeneral) -> General {
        let metrics_listen = g.metrics_listen.and_then(|m| {
            metrics_address(&m.0)
                .ok_or_else(|| {
                    self.err(
                        "general.metrics_listen",
                        format!(
                            "{:?} is not an address like 127.0.0.1:9555 (or a port alone, on loopback)",
                            m.0
                        ),
                    )
                })
                .ok()
        });
        let metrics_token = self
            .path_of("general.metrics_token_file", g.metrics_token_file)
            .and_then(|p| match Token::read(&p) {
                Ok(t) => Some((p, t)),
                Err(e) => {
                    self.err("general.metrics_token_file", e);
                    None
                }
            });
        General {
            conf_path: self.path_of("general.conf_path", g.conf_path),
            systemd_path: self
                .path_of("general.systemd_path", g.systemd_path)
                .unwrap_or_else(|| "/etc/systemd/system".into()),
            metrics_listen,
            metrics_token,
            template_cache_dir: match g.template_cache_dir {
                Some(d) if d.trim() == "off" => None,
                Some(d) => self.path_of("general.template_cache_dir", Some(d)),
                None => self.default_template_cache_dir(
                    self.env.state_directory(),
                    Path::new(DEFAULT_STATE_DIR),
                ),
            },
            run_as: self.run_as(g.user, g.group),
        }
    }

    /// `general.template_cache_dir` when the key is left out: systemd's
    /// `$STATE_DIRECTORY` (the first, if it lists several), else `fallback`
    /// (`/var/lib/octoflow`) when it can be written, else off, with one warning.
    pub(super) fn default_template_cache_dir(
        &mut self,
        state_directory: Option<std::ffi::OsString>,
        fallback: &Path,
    ) -> Option<PathBuf> {
        if let Some(first) = state_directory
            .as_ref()
            .and_then(|v| std::env::split_paths(v).find(|p| !p.as_os_str().is_empty()))
        {
            return Some(first);
        }
        if self.env.writable(fallback) {
            return Some(fallback.to_path_buf());
        }
        self.warn(format!(
            "general.template_cache_dir: not set, $STATE_DIRECTORY is not set and {} cannot be written: templates are not kept across restarts",
            fallback.display()
        ));
        None
    }

    pub(super) fn supervisor(&mut self, s: RawSupervisor) -> Supervisor {
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

    /// `exporters[i]`: the keys every output has (`id`, `type`, `filters`,
    /// `queue_datagrams`), then the kind's own.
    pub(super) fn output(&mut self, i: usize, mut e: RawExporter) -> Option<Output> {
        let p = format!("exporters[{i}]");
        let errors = self.errors.len();
        let id = self.id(&format!("{p}.id"), e.id.take());
        let mut entries = Vec::new();
        for (j, Scalar(f)) in e.filters.take().unwrap_or_default().into_iter().enumerate() {
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
        if e.queue_datagrams == Some(0) {
            self.err(
                format!("{p}.queue_datagrams"),
                "0 is not a queue length; give ≥ 1",
            );
        }
        let unfiltered = entries.is_empty();
        let queue_datagrams = e.queue_datagrams.unwrap_or(4096) as usize;
        let kind_name = e.kind.as_ref().map(|k| k.0.trim().to_ascii_lowercase());
        let kind = OutputKind::validate(self, &p, kind_name.as_deref(), e, unfiltered);
        if self.errors.len() > errors {
            return None;
        }
        let id = id?;
        if !entries.is_empty() && entries.iter().all(|x| x.negated) {
            self.warn(format!(
                "{p}.filters: exporter {id:?} has only negated entries, so no address belongs to it and it receives nothing"
            ));
        }
        Some(Output {
            index: i,
            id,
            filter: Arc::new(Filter::new(&entries)),
            queue_datagrams,
            kind: kind?,
        })
    }

    /// Cross-instance checks: duplicate ids, shared ports, impossible conversions,
    /// overlapping tenants.
    /// `profiles[]`, each given to its store's configuration.
    pub(super) fn profiles(
        &mut self,
        raw: Vec<crate::yaml::raw::RawProfile>,
        outputs: &mut [Output],
    ) -> Vec<crate::profile::Profile> {
        let stores: Vec<String> = outputs
            .iter()
            .filter(|o| o.store().is_some())
            .map(|o| o.id.clone())
            .collect();
        let mut out: Vec<crate::profile::Profile> = Vec::new();
        for (i, p) in raw.into_iter().enumerate() {
            let Some(p) = self.profile(i, p, &stores) else {
                continue;
            };
            if out.iter().any(|q| q.id == p.id) {
                self.err(
                    format!("profiles[{i}].id"),
                    format!("{:?} is used twice", p.id),
                );
                continue;
            }
            if let Some(st) = outputs
                .iter_mut()
                .find(|o| o.id == p.store)
                .and_then(|o| o.store_mut())
            {
                st.profiles.push(p.clone());
            }
            out.push(p);
        }
        out
    }

    pub(super) fn topology(&mut self, collectors: &[Collector], outputs: &[Output]) {
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
        for (i, e) in outputs.iter().enumerate() {
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
        for (i, e) in outputs.iter().enumerate() {
            let feeders = fed.get(e.id.as_str()).cloned().unwrap_or_default();
            if feeders.is_empty() {
                self.warn(format!(
                    "exporters[{i}]: exporter {:?} is in no collector's mux_to and will receive nothing",
                    e.id
                ));
            }
            if let Some(n) = e.netflow().filter(|n| n.preserve_source) {
                let unfiltered = e.filter.is_empty();
                let any = feeders.iter().any(|c| {
                    c.versions
                        .iter()
                        .any(|v| n.preserves_source_of(v, unfiltered))
                });
                if !feeders.is_empty() && !any {
                    // A warning, not an error: nothing breaks (every datagram goes
                    // out from octoflow's address, as without the key), and a
                    // collector that accepts the output's version may be added.
                    self.warn(format!(
                        "exporters[{i}].preserve_source: every path to {:?} re-encodes (see `octoflow check`), so every datagram goes out from octoflow's own address and the key only costs CAP_NET_RAW",
                        e.id
                    ));
                }
            }
            for (j, name) in e
                .store()
                .map(|st| &st.sources[..])
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                for c in feeders.iter() {
                    if !c.sources.iter().any(|(n, _)| n == name) {
                        let known: Vec<&str> = c.sources.iter().map(|(n, _)| n.as_str()).collect();
                        self.err(
                            format!("exporters[{i}].sources[{j}]"),
                            format!(
                                "{name:?} is not a source of collector {:?} (defined: {})",
                                c.id,
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                }
            }
            if e.netflow().is_some_and(|n| n.version == Version::Sflow) {
                for c in feeders.iter() {
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
        for (i, c) in collectors.iter().enumerate() {
            let filtered = c
                .mux_to
                .iter()
                .filter(|m| outputs.iter().any(|e| &e.id == *m && !e.filter.is_empty()))
                .count();
            if filtered > Verdicts::MAX {
                self.err(
                    format!("collectors[{i}].mux_to"),
                    format!(
                        "feeds {filtered} exporters with filters; one collector serves at most {} (split the tenants over two collectors)",
                        Verdicts::MAX
                    ),
                );
            }
        }
        for (i, a) in outputs.iter().enumerate() {
            for (j, b) in outputs.iter().enumerate().skip(i + 1) {
                // A tenant's store beside its receiver is the point, not a
                // mistake: only outputs of one kind are compared.
                let same_kind = std::mem::discriminant(&a.kind) == std::mem::discriminant(&b.kind);
                if !same_kind {
                    continue;
                }
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
