//! The configuration as written: serde structs that accept what YAML may
//! reasonably hold (a port as `2055` or `'2055'`, an id as a number), with unknown
//! keys refused. Validation (`crate::config`, and each kind beside its code) turns
//! them into typed values.

use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::Deserialize;

/// A YAML scalar kept as text: `2055`, `'2055'` and `2055.0` are all "a port" until
/// validation says otherwise, with the key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub(crate) String);

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
pub(crate) enum OneOrMany {
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
pub(crate) struct RawConfig {
    pub(crate) general: Option<RawGeneral>,
    pub(crate) nprobe: Option<IgnoredAny>,
    pub(crate) supervisor: Option<RawSupervisor>,
    pub(crate) collectors: Option<Vec<RawCollector>>,
    pub(crate) exporters: Option<Vec<RawExporter>>,
    /// Extension: nfsen's profiles and channels over a store.
    pub(crate) profiles: Option<Vec<RawProfile>>,
    /// Extension: what collectors add to every record (AS numbers, …).
    pub(crate) enrichment: Option<RawEnrichment>,
    /// Extension: the web console (`octoflow console`, or run by the server).
    pub(crate) console: Option<RawConsole>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsole {
    pub(crate) listen: Option<Scalar>,
    pub(crate) tls: Option<RawConsoleTls>,
    pub(crate) users: Option<Vec<RawConsoleUser>>,
    pub(crate) session_hours: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsoleTls {
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsoleUser {
    pub(crate) name: Option<Scalar>,
    pub(crate) password_hash: Option<Scalar>,
    pub(crate) role: Option<Scalar>,
    pub(crate) profiles: Option<Vec<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnrichment {
    pub(crate) bgp: Option<RawBgp>,
    pub(crate) bmp: Option<RawBmp>,
    pub(crate) geoip: Option<RawGeoip>,
    pub(crate) networks: Option<String>,
    pub(crate) as_source: Option<Vec<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBgp {
    pub(crate) listen: Option<Scalar>,
    pub(crate) asn: Option<Scalar>,
    pub(crate) router_id: Option<Scalar>,
    pub(crate) hold_time: Option<Scalar>,
    pub(crate) peers: Option<Vec<RawBgpPeer>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBgpPeer {
    pub(crate) address: Option<Scalar>,
    pub(crate) asn: Option<Scalar>,
    pub(crate) devices: Option<Vec<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBmp {
    pub(crate) listen: Option<Scalar>,
    pub(crate) routers: Option<Vec<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGeoip {
    pub(crate) asn: Option<String>,
    pub(crate) country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub(crate) id: Option<Scalar>,
    pub(crate) store: Option<Scalar>,
    pub(crate) keep_days: Option<u64>,
    pub(crate) channels: Option<Vec<RawChannel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannel {
    pub(crate) name: Option<Scalar>,
    pub(crate) filter: Option<Scalar>,
    pub(crate) colour: Option<Scalar>,
    pub(crate) sign: Option<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGeneral {
    pub(crate) conf_path: Option<String>,
    pub(crate) systemd_path: Option<String>,
    /// Extension: HTTP address for `/metrics` and `/status`.
    pub(crate) metrics_listen: Option<Scalar>,
    /// Extension: directory where each collector's template cache is saved (on
    /// shutdown and every minute) and restored from at start.
    pub(crate) template_cache_dir: Option<String>,
    /// Extension: the user to drop to once sockets and files are open as root.
    pub(crate) user: Option<Scalar>,
    /// Extension: the group to drop to (the user's own group when left out).
    pub(crate) group: Option<Scalar>,
    /// Extension: a file holding the bearer token `/metrics` and `/status` want.
    pub(crate) metrics_token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSupervisor {
    pub(crate) supervisord_bin_path: Option<IgnoredAny>,
    pub(crate) unix_socket: Option<String>,
    pub(crate) logfile: Option<String>,
    #[serde(rename = "log_maxMB")]
    pub(crate) log_max_mb: Option<f64>,
    pub(crate) log_max_backups: Option<u32>,
    pub(crate) loglevel: Option<String>,
    pub(crate) autostart_instances: Option<bool>,
    pub(crate) autorestart_instances: Option<bool>,
    pub(crate) startretries_instances: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCollector {
    pub(crate) id: Option<Scalar>,
    pub(crate) listen_host: Option<Scalar>,
    pub(crate) listen_port: Option<Scalar>,
    pub(crate) nf_version: Option<OneOrMany>,
    pub(crate) mux_to: Option<Vec<Scalar>>,
    /// Extension: SO_RCVBUF in bytes.
    pub(crate) receive_buffer: Option<u64>,
    /// Extension: SO_REUSEPORT, so several octoflow processes share the port.
    pub(crate) reuse_port: Option<bool>,
    /// Extension: UDP GRO, coalesced runs of datagrams per receive.
    pub(crate) udp_gro: Option<bool>,
    /// Extension: bytes the collector's templates may occupy; beyond, the least
    /// recently used are evicted.
    pub(crate) template_memory: Option<u64>,
    /// Extension: the senders admitted (prefixes, addresses, address:port).
    pub(crate) allow: Option<Vec<Scalar>>,
    /// Extension: datagrams per second per sending address.
    pub(crate) rate_limit: Option<u64>,
    /// Extension: the senders (and their networks) are read from Redis.
    pub(crate) allow_from: Option<Scalar>,
    /// Extension: how often `allow_from` is re-read, seconds.
    pub(crate) refresh_secs: Option<u64>,
    /// Extension: names of exporting devices (`{peer1: 172.16.17.18}`), as
    /// nfsen's sources; stores write the name with each flow.
    pub(crate) sources: Option<std::collections::BTreeMap<String, Scalar>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExporter {
    pub(crate) id: Option<Scalar>,
    /// The output kind (`netflow` when left out, as in the original files).
    #[serde(rename = "type")]
    pub(crate) kind: Option<Scalar>,
    pub(crate) listen_host: Option<Scalar>,
    pub(crate) listen_port: Option<Scalar>,
    pub(crate) collector_host: Option<Scalar>,
    pub(crate) collector_port: Option<Scalar>,
    pub(crate) collector_proto: Option<Scalar>,
    pub(crate) collector_version: Option<Scalar>,
    pub(crate) filters: Option<Vec<Scalar>>,
    // Extensions.
    pub(crate) template_refresh_secs: Option<f64>,
    pub(crate) template_refresh_packets: Option<u32>,
    pub(crate) mtu: Option<u32>,
    pub(crate) sampling_scaling: Option<bool>,
    pub(crate) forward_counters: Option<bool>,
    pub(crate) forward_options: Option<bool>,
    pub(crate) queue_datagrams: Option<u32>,
    pub(crate) udp_gso: Option<bool>,
    /// Extension: send the router's own datagrams with its address and port as
    /// their source (a raw socket; needs CAP_NET_RAW).
    pub(crate) preserve_source: Option<bool>,
    // The `store` kind's keys.
    pub(crate) path: Option<String>,
    pub(crate) rotate_secs: Option<u64>,
    pub(crate) flush_secs: Option<u64>,
    pub(crate) max_age: Option<Scalar>,
    pub(crate) max_bytes: Option<Scalar>,
    /// The store keeps only these sources' flows (names in its collectors' `sources`).
    pub(crate) sources: Option<Vec<Scalar>>,
    // The `kafka` kind's keys.
    pub(crate) brokers: Option<Vec<Scalar>>,
    pub(crate) topic: Option<Scalar>,
    pub(crate) format: Option<Scalar>,
    pub(crate) key: Option<Scalar>,
    pub(crate) compression: Option<Scalar>,
    // The `clickhouse` kind's keys (`url` also Redis's).
    pub(crate) url: Option<Scalar>,
    pub(crate) database: Option<Scalar>,
    pub(crate) schema: Option<Scalar>,
    // The `postgres` kind's keys.
    pub(crate) dsn: Option<Scalar>,
    pub(crate) table: Option<Scalar>,
    // The `redis` kind's keys.
    pub(crate) networks: Option<Vec<Scalar>>,
    pub(crate) interval_secs: Option<u64>,
    pub(crate) expire: Option<Scalar>,
    // Every stream and database kind's keys.
    pub(crate) batch_rows: Option<u64>,
    pub(crate) linger_ms: Option<u64>,
    pub(crate) max_buffer_bytes: Option<Scalar>,
}

/// Which output kinds take each kind-specific key of `exporters[]`.
const NETFLOW: &[&str] = &["netflow"];
const STORE: &[&str] = &["store"];
const KAFKA: &[&str] = &["kafka"];
const CLICKHOUSE: &[&str] = &["clickhouse"];
const POSTGRES: &[&str] = &["postgres"];
const REDIS: &[&str] = &["redis"];
const URL: &[&str] = &["clickhouse", "redis"];
const SINKS: &[&str] = &["kafka", "clickhouse", "postgres", "redis"];

impl RawExporter {
    /// The kind-specific keys given, each with the kinds that take it.
    pub(crate) fn kind_keys(&self) -> Vec<(&'static str, &'static [&'static str])> {
        let set: [(&str, bool, &[&str]); 36] = [
            ("listen_host", self.listen_host.is_some(), NETFLOW),
            ("listen_port", self.listen_port.is_some(), NETFLOW),
            ("collector_host", self.collector_host.is_some(), NETFLOW),
            ("collector_port", self.collector_port.is_some(), NETFLOW),
            ("collector_proto", self.collector_proto.is_some(), NETFLOW),
            (
                "collector_version",
                self.collector_version.is_some(),
                NETFLOW,
            ),
            (
                "template_refresh_secs",
                self.template_refresh_secs.is_some(),
                NETFLOW,
            ),
            (
                "template_refresh_packets",
                self.template_refresh_packets.is_some(),
                NETFLOW,
            ),
            ("mtu", self.mtu.is_some(), NETFLOW),
            ("sampling_scaling", self.sampling_scaling.is_some(), NETFLOW),
            ("forward_counters", self.forward_counters.is_some(), NETFLOW),
            ("forward_options", self.forward_options.is_some(), NETFLOW),
            ("udp_gso", self.udp_gso.is_some(), NETFLOW),
            ("preserve_source", self.preserve_source.is_some(), NETFLOW),
            ("path", self.path.is_some(), STORE),
            ("rotate_secs", self.rotate_secs.is_some(), STORE),
            ("flush_secs", self.flush_secs.is_some(), STORE),
            ("max_age", self.max_age.is_some(), STORE),
            ("max_bytes", self.max_bytes.is_some(), STORE),
            ("sources", self.sources.is_some(), STORE),
            ("brokers", self.brokers.is_some(), KAFKA),
            ("topic", self.topic.is_some(), KAFKA),
            ("format", self.format.is_some(), KAFKA),
            ("key", self.key.is_some(), KAFKA),
            ("compression", self.compression.is_some(), KAFKA),
            ("url", self.url.is_some(), URL),
            ("database", self.database.is_some(), CLICKHOUSE),
            ("schema", self.schema.is_some(), CLICKHOUSE),
            ("dsn", self.dsn.is_some(), POSTGRES),
            ("table", self.table.is_some(), POSTGRES),
            ("networks", self.networks.is_some(), REDIS),
            ("interval_secs", self.interval_secs.is_some(), REDIS),
            ("expire", self.expire.is_some(), REDIS),
            ("batch_rows", self.batch_rows.is_some(), SINKS),
            ("linger_ms", self.linger_ms.is_some(), SINKS),
            ("max_buffer_bytes", self.max_buffer_bytes.is_some(), SINKS),
        ];
        set.into_iter()
            .filter(|k| k.1)
            .map(|(k, _, owners)| (k, owners))
            .collect()
    }
}
