//! Who may send to a collector, decided on the sender's address before a
//! datagram is copied or decoded: `allow` (the sender allowlist) and
//! `rate_limit` (datagrams per second per sending address). [`Admission`] is the
//! configuration; [`gate::Gate`] applies it in the collector thread, sans-IO
//! (time is the caller's), and [`gate::Denied`] counts what it turned away per
//! sender.
//!
//! The allowlist's prefixes are matched by `octoflow-prefix`, as tenant filters
//! are: the most specific entry decides, `!` excludes. An `address:port` entry
//! admits that sender on that source port only.

pub mod gate;
pub mod senders;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use octoflow_prefix::{Entry, Filter};

use crate::util::unmap;
use crate::yaml::check::Validator;
use crate::yaml::raw::Scalar;

/// `collectors[].allow` and `collectors[].rate_limit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admission {
    /// `None`: every sender may send. (Shared: the compiled tries are large.)
    pub allow: Option<Arc<Allow>>,
    /// Datagrams per second per sending address; `None`: unlimited.
    pub rate_limit: Option<u32>,
    /// `allow_from`: the senders, and the networks each may report, read from
    /// Redis ([`senders`]).
    pub from_redis: Option<senders::RedisSource>,
}

/// A compiled allowlist.
#[derive(Clone, Default)]
pub struct Allow {
    /// Prefix and address entries (`None` when the list has only pairs, since an
    /// empty filter would admit everybody).
    prefixes: Option<Filter>,
    /// `address:port` entries, addresses unmapped, sorted.
    pairs: Vec<SocketAddr>,
}

impl Allow {
    /// Whether a datagram from `from` is admitted.
    #[inline]
    pub fn admits(&self, from: SocketAddr) -> bool {
        let a = unmap(from.ip());
        if let Some(p) = &self.prefixes {
            if p.address(a) {
                return true;
            }
        }
        !self.pairs.is_empty()
            && self
                .pairs
                .binary_search(&SocketAddr::new(a, from.port()))
                .is_ok()
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .prefixes
            .iter()
            .flat_map(|f| f.entries().iter().map(|e| e.to_string()))
            .collect();
        v.extend(self.pairs.iter().map(|p| p.to_string()));
        v
    }
}

impl PartialEq for Allow {
    fn eq(&self, o: &Allow) -> bool {
        self.entries() == o.entries()
    }
}

impl fmt::Debug for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

impl fmt::Display for Admission {
    /// As `octoflow check` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.allow, &self.from_redis) {
            (_, Some(r)) => write!(
                f,
                "senders: those in Redis {} (set senders, and sender:IP/port for their networks), re-read every {}s",
                r.url, r.refresh_secs
            )?,
            (None, None) => f.write_str("senders: any")?,
            (Some(a), None) => write!(f, "senders: {}", a.entries().join(" "))?,
        }
        match self.rate_limit {
            None => Ok(()),
            Some(r) => write!(f, "; at most {r} datagrams/s per sender"),
        }
    }
}

/// The highest `rate_limit` accepted: far above what one collector thread takes.
const MAX_RATE_LIMIT: u64 = 100_000_000;

impl Validator {
    /// `collectors[i].allow`, `rate_limit`, `allow_from` and `refresh_secs`
    /// (`p` is `collectors[i]`).
    pub fn admission(
        &mut self,
        p: &str,
        allow: Option<Vec<Scalar>>,
        rate_limit: Option<u64>,
        allow_from: Option<&Scalar>,
        refresh_secs: Option<u64>,
    ) -> Admission {
        let rate_limit = match rate_limit {
            None => None,
            Some(r) if (1..=MAX_RATE_LIMIT).contains(&r) => Some(r as u32),
            Some(r) => {
                self.err(
                    format!("{p}.rate_limit"),
                    format!("{r}: give datagrams per second per sender, 1 to {MAX_RATE_LIMIT}, or leave the key out for no limit"),
                );
                None
            }
        };
        if allow.is_some() && allow_from.is_some() {
            self.err(
                format!("{p}.allow_from"),
                "allow and allow_from both given: use one list of senders (allow_from reads it from Redis)",
            );
        }
        if refresh_secs.is_some() && allow_from.is_none() {
            self.err(
                format!("{p}.refresh_secs"),
                "is how often allow_from is re-read; give allow_from too, or remove it",
            );
        }
        let refresh_secs = refresh_secs.unwrap_or(senders::RedisSource::DEFAULT_REFRESH_SECS);
        if !(1..=86400).contains(&refresh_secs) {
            self.err(
                format!("{p}.refresh_secs"),
                format!("{refresh_secs} is out of range; give 1 to 86400 seconds"),
            );
        }
        let from_redis = allow_from
            .and_then(|u| self.redis_url(&format!("{p}.allow_from"), Some(u)))
            .map(|url| senders::RedisSource { url, refresh_secs });
        let allow = allow.map(|list| self.allow(p, list));
        Admission {
            allow: allow.flatten(),
            rate_limit,
            from_redis,
        }
    }

    fn allow(&mut self, p: &str, list: Vec<Scalar>) -> Option<Arc<Allow>> {
        if list.is_empty() {
            self.err(
                format!("{p}.allow"),
                "an empty list admits nobody; list the routers' addresses or prefixes, or leave the key out to admit every sender",
            );
            return None;
        }
        let errors = self.errors.len();
        let mut prefixes: Vec<Entry> = Vec::new();
        let mut pairs: Vec<SocketAddr> = Vec::new();
        for (j, Scalar(s)) in list.iter().enumerate() {
            let path = format!("{p}.allow[{j}]");
            let t = s.trim();
            if let Ok(sa) = t.parse::<SocketAddr>() {
                if sa.port() == 0 {
                    self.err(&path, format!("{s:?}: port 0 is no sender's port"));
                }
                pairs.push(SocketAddr::new(unmap(sa.ip()), sa.port()));
                continue;
            }
            match t.parse::<Entry>() {
                Ok(mut e) => {
                    if let IpAddr::V6(v6) = e.prefix.addr {
                        // A v4-mapped entry means the IPv4 sender (senders are unmapped).
                        if v6.to_ipv4_mapped().is_some() && e.prefix.len >= 96 {
                            e.prefix.addr = unmap(e.prefix.addr);
                            e.prefix.len -= 96;
                        }
                    }
                    prefixes.push(e)
                }
                Err(_) => self.err(
                    &path,
                    format!("{s:?} is not a prefix, an address, or an address:port (e.g. 192.0.2.0/24, 2001:db8::1, 198.51.100.7:2055, [2001:db8::9]:4739)"),
                ),
            }
        }
        if let Some((a, b)) = Filter::conflict(&prefixes) {
            self.err(
                format!("{p}.allow"),
                format!(
                    "{} and {} name the same prefix with opposite signs",
                    prefixes[a], prefixes[b]
                ),
            );
        }
        if prefixes.iter().all(|e| e.negated) && pairs.is_empty() && !prefixes.is_empty() {
            self.err(
                format!("{p}.allow"),
                "only exclusions: this list admits nobody; add the prefixes to admit",
            );
        }
        if self.errors.len() > errors {
            return None;
        }
        pairs.sort();
        pairs.dedup();
        Some(Arc::new(Allow {
            prefixes: (!prefixes.is_empty()).then(|| Filter::new(&prefixes)),
            pairs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(list: &[&str]) -> Result<Admission, Vec<String>> {
        let mut v = Validator::default();
        let a = v.admission(
            "collectors[0]",
            Some(list.iter().map(|s| Scalar(s.to_string())).collect()),
            None,
            None,
            None,
        );
        if v.errors.is_empty() {
            Ok(a)
        } else {
            Err(v.errors)
        }
    }

    fn admits(a: &Admission, from: &str) -> bool {
        a.allow
            .as_ref()
            .expect("a list")
            .admits(from.parse().expect("socket address"))
    }

    #[test]
    fn prefixes_addresses_and_address_port_pairs_admit_what_they_name() {
        let a = allow(&[
            "192.0.2.0/24",
            "!192.0.2.66",
            "2001:db8::1",
            "198.51.100.7:2055",
            "[2001:db8::9]:4739",
        ])
        .expect("valid");
        assert!(admits(&a, "192.0.2.1:9"));
        assert!(admits(&a, "[::ffff:192.0.2.1]:9"), "v4-mapped sender");
        assert!(!admits(&a, "192.0.2.66:9"), "excluded address");
        assert!(!admits(&a, "192.0.3.1:9"));
        assert!(admits(&a, "[2001:db8::1]:1"));
        assert!(!admits(&a, "[2001:db8::2]:1"));
        assert!(admits(&a, "198.51.100.7:2055"));
        assert!(!admits(&a, "198.51.100.7:2056"), "other source port");
        assert!(admits(&a, "[2001:db8::9]:4739"));
        assert!(!admits(&a, "[2001:db8::9]:4740"));
    }

    #[test]
    fn a_list_of_pairs_only_admits_nobody_else() {
        let a = allow(&["127.0.0.3:5000"]).expect("valid");
        assert!(admits(&a, "127.0.0.3:5000"));
        assert!(!admits(&a, "127.0.0.2:5000"));
        assert!(!admits(&a, "127.0.0.3:5001"));
    }

    #[test]
    fn bad_lists_are_refused_with_the_key_path_and_the_value() {
        let e = allow(&["192.0.2.0/24", "10.0.0.300"]).expect_err("bad address");
        assert!(
            e[0].starts_with("collectors[0].allow[1]") && e[0].contains("\"10.0.0.300\""),
            "{e:?}"
        );
        let e = allow(&[]).expect_err("empty");
        assert!(e[0].contains("collectors[0].allow") && e[0].contains("admits nobody"));
        let e = allow(&["!10.0.0.0/8"]).expect_err("only exclusions");
        assert!(e[0].contains("admits nobody"), "{e:?}");
        let e = allow(&["10.0.0.0/8", "!10.0.0.0/8"]).expect_err("conflict");
        assert!(e[0].contains("opposite signs"), "{e:?}");
        let e = allow(&["10.0.0.1:0"]).expect_err("port 0");
        assert!(e[0].starts_with("collectors[0].allow[0]"), "{e:?}");
        let mut v = Validator::default();
        v.admission("collectors[2]", None, Some(0), None, None);
        assert!(v.errors[0].starts_with("collectors[2].rate_limit") && v.errors[0].contains('0'));
    }

    #[test]
    fn equal_lists_compare_equal_so_a_reload_without_change_is_no_change() {
        let a = allow(&["192.0.2.0/24", "198.51.100.7:2055"]).expect("valid");
        let b = allow(&["192.0.2.0/24", "198.51.100.7:2055"]).expect("valid");
        let c = allow(&["192.0.2.0/25", "198.51.100.7:2055"]).expect("valid");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "senders: 192.0.2.0/24 198.51.100.7:2055");
    }
}
