//! The `store` output kind's configuration: where its files go, how often one
//! is finished (`rotate_secs`) and made safe (`flush_secs`), and how long they
//! are kept (`max_age`, `max_bytes`), validated with their key paths.

use std::path::PathBuf;

use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, Scalar};
use crate::yaml::units::{parse_duration_secs, parse_size};

/// A `store` output: the tenant's flows as Parquet files in one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The store's folder (one folder per store).
    pub path: PathBuf,
    /// One file per interval of this many seconds, aligned to midnight UTC.
    pub rotate_secs: u64,
    /// At most this many seconds of flows are only in memory.
    pub flush_secs: u64,
    /// Files whose interval ended longer ago than this are deleted.
    pub max_age_secs: Option<u64>,
    /// The oldest files are deleted while the store holds more than this.
    pub max_bytes: Option<u64>,
    /// Keep only the flows of these sources (`collectors[].sources` names);
    /// empty: every device's.
    pub sources: Vec<String>,
    /// The profiles counted over this store's flows (`profiles[]` naming it).
    pub profiles: Vec<crate::profile::Profile>,
}

impl StoreConfig {
    pub const DEFAULT_ROTATE_SECS: u64 = 300;
    pub const DEFAULT_FLUSH_SECS: u64 = 10;

    /// `store /var/lib/octoflow/flows/noc`, as `octoflow check` prints it.
    pub fn receiver(&self) -> String {
        format!("store {}", self.path.display())
    }

    /// Rotation, flushing and retention in words, for `octoflow check`.
    pub fn describe(&self) -> String {
        let keep = match (self.max_age_secs, self.max_bytes) {
            (None, None) => "kept until deleted by hand".to_string(),
            (age, bytes) => {
                let mut k = Vec::new();
                if let Some(a) = age {
                    k.push(format!("for {}", human_secs(a)));
                }
                if let Some(b) = bytes {
                    k.push(format!("within {}", human_bytes(b)));
                }
                format!("kept {} (oldest deleted first)", k.join(" and "))
            }
        };
        let name = if self.rotate_secs % 60 == 0 {
            "flows-YYYYmmddHHMM.parquet"
        } else {
            "flows-YYYYmmddHHMMSS.parquet"
        };
        let from = if self.sources.is_empty() {
            String::new()
        } else {
            format!("; sources {}", self.sources.join(", "))
        };
        format!(
            "Parquet (zstd), one file per {} ({name}, UTC), flushed every {}; {keep}{from}",
            human_secs(self.rotate_secs),
            human_secs(self.flush_secs)
        )
    }
}

/// `53687091200` → `50G`; bytes when no unit divides it.
fn human_bytes(b: u64) -> String {
    for (shift, unit) in [(50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if b >= 1 << shift && b % (1 << shift) == 0 {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b} bytes")
}

/// `300` → `5m`, `86400` → `1d`.
fn human_secs(s: u64) -> String {
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Validator {
    /// The `store` kind's keys of `exporters[i]` (path `p`).
    pub fn store(&mut self, p: &str, e: RawExporter) -> Option<StoreConfig> {
        let errors = self.errors.len();
        self.foreign_keys(p, "store", &e);
        let path = match e.path {
            None => {
                self.err(
                    format!("{p}.path"),
                    "missing; give the store's folder, e.g. /var/lib/octoflow/flows/noc",
                );
                None
            }
            s => self.path_of(&format!("{p}.path"), s),
        };
        let rotate_secs = e.rotate_secs.unwrap_or(StoreConfig::DEFAULT_ROTATE_SECS);
        if rotate_secs == 0 || rotate_secs > 86400 || 86400 % rotate_secs != 0 {
            self.err(
                format!("{p}.rotate_secs"),
                format!("{rotate_secs} does not divide a day; give e.g. 60, 300, 900, 3600 (files align to midnight UTC)"),
            );
        }
        let flush_secs = e
            .flush_secs
            .unwrap_or(StoreConfig::DEFAULT_FLUSH_SECS.min(rotate_secs));
        if flush_secs == 0 || flush_secs > rotate_secs {
            self.err(
                format!("{p}.flush_secs"),
                format!("{flush_secs} is outside 1..={rotate_secs} (rotate_secs)"),
            );
        }
        let max_age_secs = e.max_age.and_then(|Scalar(s)| {
            match parse_duration_secs(&s) {
                Ok(a) if a >= rotate_secs => Some(a),
                Ok(a) => {
                    self.err(
                        format!("{p}.max_age"),
                        format!("{s:?} ({a} s) is shorter than rotate_secs ({rotate_secs} s): every file would be deleted as it is made"),
                    );
                    None
                }
                Err(m) => {
                    self.err(format!("{p}.max_age"), m);
                    None
                }
            }
        });
        let max_bytes = e.max_bytes.and_then(|Scalar(s)| match parse_size(&s) {
            Ok(0) => {
                self.err(
                    format!("{p}.max_bytes"),
                    "0 would delete every file; leave the key out to keep all",
                );
                None
            }
            Ok(b) => Some(b),
            Err(m) => {
                self.err(format!("{p}.max_bytes"), m);
                None
            }
        });
        let mut sources: Vec<String> = Vec::new();
        for (j, name) in e.sources.unwrap_or_default().into_iter().enumerate() {
            let path = format!("{p}.sources[{j}]");
            if let Some(n) = self.id(&path, Some(name)) {
                if sources.contains(&n) {
                    self.err(&path, format!("{n:?} is listed twice"));
                } else {
                    sources.push(n);
                }
            }
        }
        if self.errors.len() > errors {
            return None;
        }
        Some(StoreConfig {
            path: path?,
            rotate_secs,
            flush_secs,
            max_age_secs,
            max_bytes,
            sources,
            profiles: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn errors(exporter: &str) -> Vec<String> {
        let y = format!(
            "collectors: [{{id: c, listen_port: 2055, nf_version: 10, mux_to: [s]}}]\nexporters: [{{id: s, {exporter}}}]\n"
        );
        match Config::parse(&y) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        }
    }

    #[test]
    fn a_store_takes_its_keys_with_defaults_and_units() {
        let y = "collectors: [{id: c, listen_port: 2055, nf_version: 10, mux_to: [s]}]\n\
                 exporters: [{id: s, type: store, path: /tmp/x, max_age: 30d, max_bytes: 50G}]\n";
        let c = Config::parse(y).expect("loads");
        let s = c.outputs[0].store().expect("a store");
        assert_eq!(s.path.to_str(), Some("/tmp/x"));
        assert_eq!((s.rotate_secs, s.flush_secs), (300, 10));
        assert_eq!(s.max_age_secs, Some(30 * 86400));
        assert_eq!(s.max_bytes, Some(50 << 30));
        assert_eq!(
            s.describe(),
            "Parquet (zstd), one file per 5m (flows-YYYYmmddHHMM.parquet, UTC), flushed every 10s; kept for 30d and within 50G (oldest deleted first)"
        );
    }

    #[test]
    fn store_keys_are_checked_with_their_key_paths() {
        assert_eq!(
            errors("type: store"),
            ["exporters[0].path: missing; give the store's folder, e.g. /var/lib/octoflow/flows/noc"]
        );
        assert_eq!(
            errors("type: store, path: /x, rotate_secs: 7"),
            ["exporters[0].rotate_secs: 7 does not divide a day; give e.g. 60, 300, 900, 3600 (files align to midnight UTC)"]
        );
        assert_eq!(
            errors("type: store, path: /x, rotate_secs: 60, flush_secs: 61"),
            ["exporters[0].flush_secs: 61 is outside 1..=60 (rotate_secs)"]
        );
        assert!(errors("type: store, path: /x, max_age: 3y")[0]
            .starts_with("exporters[0].max_age: \"3y\" is not a duration"));
        assert!(errors("type: store, path: /x, max_bytes: lots")[0]
            .starts_with("exporters[0].max_bytes: \"lots\" does not start with a whole number"));
    }

    #[test]
    fn a_stores_sources_are_names_its_collectors_give() {
        let y = |sources: &str| {
            format!(
                "collectors: [{{id: c, listen_port: 2055, nf_version: 10, mux_to: [s], sources: {{peer1: 192.0.2.1, peer2: 192.0.2.2}}}}]\n\
                 exporters: [{{id: s, type: store, path: /x, sources: {sources}}}]\n"
            )
        };
        let c = Config::parse(&y("[peer2]")).expect("loads");
        assert_eq!(c.outputs[0].store().expect("store").sources, ["peer2"]);
        assert_eq!(
            Config::parse(&y("[peer2, peer9]")).err(),
            Some(vec![
                "exporters[0].sources[1]: \"peer9\" is not a source of collector \"c\" (defined: peer1, peer2)".to_string()
            ])
        );
        assert_eq!(
            Config::parse(&y("[peer1, peer1]")).err(),
            Some(vec![
                "exporters[0].sources[1]: \"peer1\" is listed twice".to_string()
            ])
        );
    }

    #[test]
    fn keys_of_the_other_kind_are_refused_with_their_key_path() {
        assert_eq!(
            errors("type: store, path: /x, collector_port: 9"),
            ["exporters[0].collector_port: is a key of type netflow; this exporter is type store (remove it, or set type: netflow)"]
        );
        let e = errors(
            "collector_host: 127.0.0.1, collector_port: 9, collector_version: 10, rotate_secs: 60",
        );
        assert_eq!(
            e,
            ["exporters[0].rotate_secs: is a key of type store; this exporter is type netflow (remove it, or set type: store)"]
        );
    }
}
