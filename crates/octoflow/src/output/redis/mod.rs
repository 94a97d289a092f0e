//! The `redis` output kind, netflow.io's job: per network and per interval,
//! counters of flows, packets and bytes in and out, kept in Redis hashes with
//! an expiry, for dashboards and alerting that read Redis.
//!
//! Keys (documented in docs/outputs.md):
//! - `octoflow:<output id>:<network>:<interval start, Unix s>`: a hash with
//!   `flows_in`, `packets_in`, `bytes_in` (flows *to* the network: destination
//!   inside) and `flows_out`, `packets_out`, `bytes_out` (source inside),
//!   incremented with `HINCRBY`, expiring `expire_secs` after its last update;
//! - `octoflow:<output id>:networks`: the set of networks counted.
//!
//! An address counts for the most specific network holding it; a flow inside
//! one network counts both out and in there. Intervals are by the time the
//! collector received the flow (exporter clocks drift; this one does not).
//!
//! [`config`] holds its keys; [`counters`] adds flows up per batch (no I/O);
//! [`client`] writes a batch as one `MULTI`/`EXEC` transaction, so a batch
//! counts entirely or not at all.

pub mod client;
pub mod config;
pub mod counters;

use std::sync::Arc;

use crate::fanout::queue::QueueRx;
use crate::instance::Thread;
use crate::output::{sink, Output};
use crate::telemetry::metrics::OutputMetrics;
use config::RedisConfig;

/// Start a `redis` output.
pub fn build(
    out: &Output,
    r: &RedisConfig,
    rx: QueueRx,
    m: Arc<OutputMetrics>,
) -> Result<Thread<()>, String> {
    let enc = counters::Counters::new(r);
    let dl = client::Writer::new(&out.id, r.clone());
    sink::build(out, r.sink.clone(), enc, dl, rx, m)
}
