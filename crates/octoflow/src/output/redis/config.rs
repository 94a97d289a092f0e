//! The `redis` output kind's configuration: the server, the networks counted,
//! the interval and how long counters live, validated with their key paths.

use octoflow_prefix::Prefix;

use crate::output::sink::SinkSettings;
use crate::redis::RedisUrl;
use crate::yaml::check::Validator;
use crate::yaml::raw::{RawExporter, Scalar};
use crate::yaml::units::parse_duration_secs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub url: RedisUrl,
    /// The networks counted, as given (normalised to their network address).
    pub networks: Vec<Prefix>,
    /// Counters are per interval of this many seconds (aligned to the epoch).
    pub interval_secs: u64,
    /// A hash expires this long after its last update.
    pub expire_secs: u64,
    pub sink: SinkSettings,
}

impl RedisConfig {
    pub const DEFAULT_INTERVAL_SECS: u64 = 60;
    pub const DEFAULT_EXPIRE_SECS: u64 = 7 * 86400;

    /// `redis redis://127.0.0.1:6379/0`, as `octoflow check` prints it.
    pub fn receiver(&self) -> String {
        format!("redis {}", self.url)
    }

    pub fn describe(&self) -> String {
        format!(
            "counters in and out per {}s for {} networks, kept {}s; {}",
            self.interval_secs,
            self.networks.len(),
            self.expire_secs,
            self.sink.describe()
        )
    }
}

impl Validator {
    /// The `redis` kind's keys of `exporters[i]` (path `p`).
    pub fn redis(&mut self, p: &str, e: RawExporter) -> Option<RedisConfig> {
        let errors = self.errors.len();
        self.foreign_keys(p, "redis", &e);
        let url = self.redis_url(&format!("{p}.url"), e.url.as_ref());
        let mut networks = Vec::new();
        match &e.networks {
            None => self.err(
                format!("{p}.networks"),
                "missing; list the networks to count, e.g. ['192.0.2.0/24', '2001:db8::/32']",
            ),
            Some(list) if list.is_empty() => self.err(
                format!("{p}.networks"),
                "is empty; list the networks to count, e.g. ['192.0.2.0/24']",
            ),
            Some(list) => {
                for (i, Scalar(n)) in list.iter().enumerate() {
                    match n.trim().parse::<Prefix>() {
                        Ok(pf) if networks.contains(&pf.network()) => self.err(
                            format!("{p}.networks[{i}]"),
                            format!("{n:?} is listed twice"),
                        ),
                        Ok(pf) => networks.push(pf.network()),
                        Err(_) => self.err(
                            format!("{p}.networks[{i}]"),
                            format!("{n:?} is not a prefix (e.g. 192.0.2.0/24, 2001:db8::/32)"),
                        ),
                    }
                }
            }
        }
        let interval_secs = e
            .interval_secs
            .unwrap_or(RedisConfig::DEFAULT_INTERVAL_SECS);
        if interval_secs == 0 || interval_secs > 86400 {
            self.err(
                format!("{p}.interval_secs"),
                format!("{interval_secs} is out of range; give 1 to 86400 seconds"),
            );
        }
        let expire_secs = match &e.expire {
            None => RedisConfig::DEFAULT_EXPIRE_SECS,
            Some(Scalar(s)) => match parse_duration_secs(s) {
                Ok(0) | Err(_) => {
                    self.err(
                        format!("{p}.expire"),
                        format!("{s:?} is not a duration (e.g. 2h, 7d, 3600)"),
                    );
                    0
                }
                Ok(d) => d,
            },
        };
        let sink = self.sink_settings(p, &e);
        (self.errors.len() == errors).then_some(RedisConfig {
            url: url?,
            networks,
            interval_secs,
            expire_secs,
            sink,
        })
    }

    /// A `redis://` URL at `path` (required).
    pub fn redis_url(&mut self, path: &str, url: Option<&Scalar>) -> Option<RedisUrl> {
        match url {
            None => {
                self.err(
                    path,
                    "missing; give the server, e.g. redis://127.0.0.1:6379",
                );
                None
            }
            Some(Scalar(u)) => match u.trim().parse::<RedisUrl>() {
                Ok(r) => Some(r),
                Err(why) => {
                    self.err(path, format!("{u:?}: {why}"));
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(keys: &str) -> Result<Config, Vec<String>> {
        Config::parse_one_output("redis", keys)
    }

    #[test]
    fn a_redis_output_takes_its_keys_with_defaults() {
        let c = parse("url: 'redis://127.0.0.1:6379', networks: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/24']")
            .expect("loads");
        let crate::output::OutputKind::Redis(r) = &c.outputs[0].kind else {
            panic!("a redis output");
        };
        let nets: Vec<String> = r.networks.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.0/24"]);
        assert_eq!((r.interval_secs, r.expire_secs), (60, 7 * 86400));
        assert_eq!(r.receiver(), "redis redis://127.0.0.1:6379/0");
        let c =
            parse("url: 'redis://h/1', networks: ['10.0.0.0/8'], interval_secs: 300, expire: 2h")
                .expect("loads");
        let crate::output::OutputKind::Redis(r) = &c.outputs[0].kind else {
            panic!("a redis output");
        };
        assert_eq!((r.interval_secs, r.expire_secs, r.url.db), (300, 7200, 1));
    }

    #[test]
    fn bad_redis_keys_are_refused_with_their_key_paths() {
        assert_eq!(
            parse("networks: ['10.0.0.0/8']").err().unwrap_or_default(),
            ["exporters[0].url: missing; give the server, e.g. redis://127.0.0.1:6379"]
        );
        let e = parse("url: 'http://x', networks: ['10.0.0.0/33', '10.0.0.0/8', '10.1.2.3/8'], interval_secs: 0, expire: soon")
            .err()
            .unwrap_or_default();
        assert_eq!(
            e,
            [
                "exporters[0].url: \"http://x\": give a redis:// URL, e.g. redis://127.0.0.1:6379 (rediss:// TLS is not supported)",
                "exporters[0].networks[0]: \"10.0.0.0/33\" is not a prefix (e.g. 192.0.2.0/24, 2001:db8::/32)",
                "exporters[0].networks[2]: \"10.1.2.3/8\" is listed twice",
                "exporters[0].interval_secs: 0 is out of range; give 1 to 86400 seconds",
                "exporters[0].expire: \"soon\" is not a duration (e.g. 2h, 7d, 3600)"
            ]
        );
        assert_eq!(
            parse("url: 'redis://h', networks: ['10.0.0.0/8'], topic: t").err().unwrap_or_default(),
            ["exporters[0].topic: is a key of type kafka; this exporter is type redis (remove it, or set type: kafka)"]
        );
    }
}
