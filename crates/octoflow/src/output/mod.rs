//! Outputs: where a tenant's flows go. Each `exporters[]` entry is an output of a
//! kind (`type`, default `netflow`); every kind gets its records from a bounded
//! queue (`crate::fanout::queue`) fed by collectors, and runs as one supervised instance.
//!
//! Kinds:
//! - [`netflow`]: datagrams in the receiver's NetFlow/IPFIX/sFlow version, over
//!   UDP or TCP (encoded by `octoflow-encode`).
//! - [`store`]: Parquet files in a folder, one per interval, with retention.
//! - [`kafka`]: goflow2 messages on a Kafka topic.
//! - [`clickhouse`]: rows of ClickHouse tables (the flow-pipeline's, or every field).
//! - [`postgres`]: rows of the flow-pipeline inserter's PostgreSQL table.
//! - [`redis`]: per-network counters in Redis (netflow.io's layout).
//!
//! The stream and database kinds share [`sink`]: encoding on the output's
//! thread, delivery with reconnects on another, a bounded buffer between.
//!
//! Adding a kind: a module here with its config struct (validated beside it) and
//! a builder that starts its thread from a `QueueRx`, and one entry in
//! [`OutputKind`] with its arms in `OutputKind`'s methods.

pub mod clickhouse;
pub mod instance;
pub mod kafka;
pub mod netflow;
pub mod postgres;
pub mod redis;
pub mod sink;
pub mod store;

use std::sync::Arc;

use octoflow_prefix::Filter;
use octoflow_proto::Version;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::telemetry::metrics::OutputMetrics;
use crate::yaml::check::Validator;
use crate::yaml::raw::RawExporter;
use clickhouse::config::ClickhouseConfig;
use kafka::config::KafkaConfig;
use netflow::config::NetflowConfig;
use postgres::config::PostgresConfig;
use redis::config::RedisConfig;
use store::config::StoreConfig;

/// One `exporters[]` entry: an output of some kind. `id`, `filters` and
/// `queue_datagrams` are every kind's; the rest is the kind's own.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its place in `exporters[]` (for messages that name its keys; not compared:
    /// moving an output in the file does not restart it).
    pub index: usize,
    pub id: String,
    /// The tenant: which flows this output gets (empty: all of them).
    pub filter: Arc<Filter>,
    /// Most datagrams waiting in the output's queue; past it, datagrams are
    /// dropped for this output only, and counted.
    pub queue_datagrams: usize,
    pub kind: OutputKind,
}

/// The output kinds (`exporters[].type`). A new kind is a module here with its
/// config struct, validation and builder, one entry in this enum, and one arm in
/// each of the methods below — nothing elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// NetFlow v5/v9, IPFIX or sFlow datagrams to a receiver (the default).
    Netflow(NetflowConfig),
    /// Parquet files in a folder (`type: store`).
    Store(StoreConfig),
    /// goflow2 messages on a Kafka topic (`type: kafka`).
    Kafka(KafkaConfig),
    /// Rows of ClickHouse tables, over HTTP (`type: clickhouse`).
    Clickhouse(ClickhouseConfig),
    /// Rows of a PostgreSQL table, by binary COPY (`type: postgres`).
    Postgres(PostgresConfig),
    /// Per-network counters in Redis (`type: redis`).
    Redis(RedisConfig),
}

impl OutputKind {
    /// The names `type` takes.
    pub const NAMES: &'static [&'static str] = &[
        "netflow",
        "store",
        "kafka",
        "clickhouse",
        "postgres",
        "redis",
    ];

    /// The kind `type` names (`None`: `netflow`, as in the original files), with
    /// its own keys of `raw` validated at path `p`.
    pub fn validate(
        v: &mut Validator,
        p: &str,
        kind: Option<&str>,
        raw: RawExporter,
        unfiltered: bool,
    ) -> Option<OutputKind> {
        match kind {
            None | Some("netflow") => v.netflow(p, raw, unfiltered).map(OutputKind::Netflow),
            Some("store") => v.store(p, raw).map(OutputKind::Store),
            Some("kafka") => v.kafka(p, raw).map(OutputKind::Kafka),
            Some("clickhouse") => v.clickhouse(p, raw).map(OutputKind::Clickhouse),
            Some("postgres") => v.postgres(p, raw).map(OutputKind::Postgres),
            Some("redis") => v.redis(p, raw).map(OutputKind::Redis),
            Some(k) => {
                v.err(
                    format!("{p}.type"),
                    format!(
                        "{k:?} is not an output kind (known: {})",
                        OutputKind::NAMES.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// Start the output's thread, taking its records from `rx`.
    pub fn build(
        &self,
        out: &Output,
        rx: QueueRx,
        m: Arc<OutputMetrics>,
    ) -> Result<Thread<()>, String> {
        match self {
            OutputKind::Netflow(n) => netflow::build(out, n, rx, m),
            OutputKind::Store(s) => store::build(out, s, rx, m),
            OutputKind::Kafka(k) => kafka::build(out, k, rx, m),
            OutputKind::Clickhouse(c) => clickhouse::build(out, c, rx, m),
            OutputKind::Postgres(p) => postgres::build(out, p, rx, m),
            OutputKind::Redis(r) => redis::build(out, r, rx, m),
        }
    }

    /// Which kind-specific counters it shows.
    pub fn class(&self) -> u8 {
        use crate::telemetry::metrics::Class;
        match self {
            OutputKind::Netflow(_) => Class::RECEIVER,
            OutputKind::Store(_) => Class::STORE,
            OutputKind::Kafka(_)
            | OutputKind::Clickhouse(_)
            | OutputKind::Postgres(_)
            | OutputKind::Redis(_) => Class::SINK,
        }
    }

    /// Where it sends, for `octoflow check` (e.g. `udp 127.0.0.1:9001 as ipfix`).
    pub fn receiver(&self) -> String {
        match self {
            OutputKind::Netflow(n) => n.receiver(),
            OutputKind::Store(s) => s.receiver(),
            OutputKind::Kafka(k) => k.receiver(),
            OutputKind::Clickhouse(c) => c.receiver(),
            OutputKind::Postgres(p) => p.receiver(),
            OutputKind::Redis(r) => r.receiver(),
        }
    }

    /// What it makes of input of version `vin`, for `octoflow check`.
    pub fn path_text(&self, vin: Version, unfiltered: bool) -> String {
        match self {
            OutputKind::Netflow(n) => n.path_text(vin, unfiltered),
            OutputKind::Store(_) => format!(
                "{} flows as rows of the store's files",
                octoflow_encode::version_label(vin)
            ),
            OutputKind::Kafka(k) => format!(
                "{} flows as Kafka messages: {}",
                octoflow_encode::version_label(vin),
                k.describe()
            ),
            OutputKind::Clickhouse(c) => format!(
                "{} flows as ClickHouse rows: {}",
                octoflow_encode::version_label(vin),
                c.describe()
            ),
            OutputKind::Postgres(p) => format!(
                "{} flows as PostgreSQL rows: {}",
                octoflow_encode::version_label(vin),
                p.describe()
            ),
            OutputKind::Redis(r) => format!(
                "{} flows as Redis {}",
                octoflow_encode::version_label(vin),
                r.describe()
            ),
        }
    }
}

impl PartialEq for Output {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
            && self.filter.entries() == o.filter.entries()
            && self.queue_datagrams == o.queue_datagrams
            && self.kind == o.kind
    }
}

impl Output {
    pub fn instance_name(&self) -> String {
        format!("{}_exporter", self.id)
    }

    /// Whether it sends through a raw socket (`preserve_source`), which needs
    /// CAP_NET_RAW whenever it starts.
    pub fn needs_net_raw(&self) -> bool {
        self.netflow().is_some_and(|n| n.preserve_source)
    }

    /// The `netflow` kind's settings, if it is one.
    pub fn netflow(&self) -> Option<&NetflowConfig> {
        match &self.kind {
            OutputKind::Netflow(n) => Some(n),
            _ => None,
        }
    }

    /// The `store` kind's settings, if it is one.
    pub fn store_mut(&mut self) -> Option<&mut StoreConfig> {
        match &mut self.kind {
            OutputKind::Store(s) => Some(s),
            _ => None,
        }
    }

    pub fn store(&self) -> Option<&StoreConfig> {
        match &self.kind {
            OutputKind::Store(s) => Some(s),
            _ => None,
        }
    }
}
