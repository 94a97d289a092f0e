//! `profiles[]`: each profile's id, its store, how long its slots are kept and
//! its channels, validated with key paths (a channel's filter error names the
//! column).

use std::fmt;
use std::sync::Arc;

use octoflow_filter::Filter;

use crate::yaml::check::Validator;
use crate::yaml::raw::{RawProfile, Scalar};

/// One channel: a name, an nfdump filter, and how nfsen draws it.
#[derive(Clone)]
pub struct Channel {
    pub name: String,
    /// The filter as written.
    pub text: String,
    pub filter: Arc<Filter>,
    /// `#RRGGBB`, for the console's graphs.
    pub colour: Option<String>,
    /// `-`: drawn below the axis (nfsen's sign), for the console.
    pub negative: bool,
}

impl PartialEq for Channel {
    fn eq(&self, o: &Channel) -> bool {
        (&self.name, &self.text, &self.colour, self.negative)
            == (&o.name, &o.text, &o.colour, o.negative)
    }
}

impl Eq for Channel {}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.text)
    }
}

/// A profile: channels counted over one store's flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    /// The id of a `type: store` exporter.
    pub store: String,
    /// Slots older than this are dropped (nfsen keeps a year and more).
    pub keep_days: u32,
    pub channels: Vec<Channel>,
}

/// `keep_days` when not given.
pub const DEFAULT_KEEP_DAYS: u32 = 400;
/// Channels per profile: each is one bit of a verdict word.
pub const MAX_CHANNELS: usize = 64;

impl Validator {
    /// `profiles[i]`; `stores` are the ids of the `type: store` exporters.
    pub fn profile(&mut self, i: usize, p: RawProfile, stores: &[String]) -> Option<Profile> {
        let at = format!("profiles[{i}]");
        let errors = self.errors.len();
        let id = self.id(&format!("{at}.id"), p.id);
        let store = match p.store {
            None => {
                self.err(
                    format!("{at}.store"),
                    "missing; name the store (an exporter of type: store) whose flows it counts",
                );
                None
            }
            Some(Scalar(s)) if stores.contains(&s) => Some(s),
            Some(Scalar(s)) => {
                self.err(
                    format!("{at}.store"),
                    format!(
                        "{s:?} is not a store (exporters of type: store: {})",
                        if stores.is_empty() {
                            "none".to_string()
                        } else {
                            stores.join(", ")
                        }
                    ),
                );
                None
            }
        };
        let keep_days = match p.keep_days {
            None => DEFAULT_KEEP_DAYS,
            Some(d) if (1..=36_500).contains(&d) => d as u32,
            Some(d) => {
                self.err(
                    format!("{at}.keep_days"),
                    format!("{d}: give 1 to 36500 days"),
                );
                DEFAULT_KEEP_DAYS
            }
        };
        let raw = p.channels.unwrap_or_default();
        if raw.is_empty() || raw.len() > MAX_CHANNELS {
            self.err(
                format!("{at}.channels"),
                format!("{} channels: give 1 to {MAX_CHANNELS}", raw.len()),
            );
        }
        let mut channels: Vec<Channel> = Vec::new();
        for (j, c) in raw.into_iter().enumerate() {
            let cp = format!("{at}.channels[{j}]");
            let name = self.id(&format!("{cp}.name"), c.name);
            let text = c.filter.map(|s| s.0).unwrap_or_default();
            let filter = match Filter::parse(&text) {
                Ok(f) => Some(Arc::new(f)),
                Err(e) => {
                    self.err(format!("{cp}.filter"), format!("{text:?}: {e}"));
                    None
                }
            };
            let colour = c.colour.map(|s| s.0);
            if let Some(col) = &colour {
                let ok = col.len() == 7
                    && col.starts_with('#')
                    && col[1..].chars().all(|x| x.is_ascii_hexdigit());
                if !ok {
                    self.err(
                        format!("{cp}.colour"),
                        format!("{col:?} is not a colour: give #RRGGBB"),
                    );
                }
            }
            let negative = match c.sign.as_ref().map(|s| s.0.trim()) {
                None | Some("+") => false,
                Some("-") => true,
                Some(other) => {
                    self.err(format!("{cp}.sign"), format!("{other:?}: give + or -"));
                    false
                }
            };
            if let (Some(name), Some(filter)) = (name, filter) {
                if channels.iter().any(|c| c.name == name) {
                    self.err(format!("{cp}.name"), format!("{name:?} is listed twice"));
                }
                channels.push(Channel {
                    name,
                    text,
                    filter,
                    colour,
                    negative,
                });
            }
        }
        if self.errors.len() > errors {
            return None;
        }
        Some(Profile {
            id: id?,
            store: store?,
            keep_days,
            channels,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "collectors: [{id: c, listen_port: 9995, nf_version: 9, mux_to: [st]}]\nexporters:\n- {id: st, type: store, path: /tmp/octoflow-profile-test}\n- {id: nf, collector_host: 127.0.0.1, collector_port: 1, collector_version: 9}\n";

    #[test]
    fn profiles_load_and_each_mistake_names_its_key() {
        let c = Config::parse(&format!(
            "{BASE}profiles:\n- id: zone1\n  store: st\n  channels:\n  - {{name: icmp, filter: 'proto icmp', colour: '#48C6FF'}}\n  - {{name: https, filter: 'port 443', sign: '-'}}\n"
        ))
        .expect("loads");
        assert_eq!(c.profiles.len(), 1);
        assert_eq!(c.profiles[0].keep_days, 400);
        assert!(c.profiles[0].channels[1].negative);
        let e = Config::parse(&format!(
            "{BASE}profiles:\n- id: z\n  store: nf\n  channels:\n  - {{name: a, filter: 'port > x', colour: 'red', sign: '*'}}\n  - {{name: a, filter: 'any'}}\n"
        ))
        .expect_err("refused");
        let all = e.join("\n");
        for want in [
            "profiles[0].store: \"nf\" is not a store (exporters of type: store: st)",
            "profiles[0].channels[0].filter: \"port > x\": filter error at column 8",
            "profiles[0].channels[0].colour: \"red\" is not a colour",
            "profiles[0].channels[0].sign: \"*\"",
        ] {
            assert!(all.contains(want), "{want} in\n{all}");
        }
        let e = Config::parse(&format!(
            "{BASE}profiles:\n- {{id: z, store: st, channels: []}}\n"
        ))
        .expect_err("no channels");
        assert!(e[0].contains("profiles[0].channels: 0 channels"), "{e:?}");
    }
}
