//! Checks of single values, shared by every part of the configuration: each
//! problem is collected with its key path and the value, so all are reported at
//! once.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use octoflow_proto::Version;

use super::env::{Environment, System};
use super::raw::Scalar;

/// Collects every problem of a configuration, each with its key path, and the
/// warnings.
pub struct Validator {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Where state directories, writable paths and host names are looked up.
    pub env: &'static dyn Environment,
}

impl Default for Validator {
    /// Validation on this machine ([`System`]).
    fn default() -> Validator {
        Validator::in_env(&System)
    }
}

pub fn parse_version(s: &str) -> Option<Version> {
    match s.trim().to_ascii_lowercase().as_str() {
        "5" | "v5" => Some(Version::V5),
        "9" | "v9" => Some(Version::V9),
        "10" | "ipfix" | "v10" => Some(Version::Ipfix),
        "sflow" | "sflow5" => Some(Version::Sflow),
        _ => None,
    }
}

impl Validator {
    /// Validation against `env`'s answers.
    pub fn in_env(env: &'static dyn Environment) -> Validator {
        Validator {
            errors: Vec::new(),
            warnings: Vec::new(),
            env,
        }
    }

    pub fn err(&mut self, path: impl fmt::Display, msg: impl fmt::Display) {
        self.errors.push(format!("{path}: {msg}"));
    }
    pub fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    pub fn path_of(&mut self, path: &str, s: Option<String>) -> Option<PathBuf> {
        let s = s?;
        if s.trim().is_empty() {
            self.err(path, "is empty; give a path or leave the key out");
            return None;
        }
        Some(PathBuf::from(s))
    }

    pub fn id(&mut self, path: &str, id: Option<Scalar>) -> Option<String> {
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

    pub fn port(&mut self, path: &str, p: Option<Scalar>, required: bool) -> Option<u16> {
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

    pub fn ip(&mut self, path: &str, h: Option<Scalar>) -> Option<IpAddr> {
        let Scalar(s) = h?;
        match s.trim().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("{s:?} is not an IP address"));
                None
            }
        }
    }
}

impl Validator {
    /// Refuse the keys of other output kinds given to an exporter of kind
    /// `kind` (at path `p`), one error per key with its path.
    pub fn foreign_keys(&mut self, p: &str, kind: &str, e: &crate::yaml::raw::RawExporter) {
        for (k, owners) in e.kind_keys() {
            if !owners.contains(&kind) {
                self.err(
                    format!("{p}.{k}"),
                    format!(
                        "is a key of type {}; this exporter is type {kind} (remove it, or set type: {})",
                        owners.join("/"),
                        owners[0]
                    ),
                );
            }
        }
    }
}
