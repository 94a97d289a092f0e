//! The `kafka` output kind: every flow of the tenant as one message on a
//! Kafka topic — goflow2's `FlowMessage` in protobuf (length-delimited, as
//! ClickHouse's Kafka engine reads it) or JSON — the first hop of the GoFlow
//! flow-pipeline (collector → Kafka → ClickHouse or an inserter).
//!
//! [`config`] holds its keys; [`encode`] makes the messages (no I/O);
//! [`client`] produces them with `rskafka` (a pure-Rust client: `rdkafka`
//! cannot link Debian 12's librdkafka) on the delivering thread of
//! [`crate::output::sink`], which bounds what waits for a slow or absent broker.

pub mod client;
pub mod config;
pub mod encode;

use std::sync::Arc;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::output::{sink, Output};
use crate::telemetry::metrics::OutputMetrics;
use config::KafkaConfig;

/// Start a `kafka` output.
pub fn build(
    out: &Output,
    k: &KafkaConfig,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String> {
    let dl = client::Producer::new(k.clone())?;
    let enc = encode::Messages::new(k.format, k.key);
    sink::build(out, k.sink.clone(), enc, dl, rx, m)
}
